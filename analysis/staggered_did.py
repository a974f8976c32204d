"""Callaway & Sant'Anna (2021) difference-in-differences under staggered adoption.

A wrapper around ``diff_diff.CallawaySantAnna`` (PyPI ``diff-diff``; numpy/pandas/scipy
only, works with pandas 3), which computes the group-time ATT(g,t) with never-treated
or not-yet-treated controls, unconditional or covariate-adjusted (outcome regression,
inverse probability weighting, or the doubly-robust Sant'Anna–Zhao estimator, the
default here), their influence functions, and the simple, event-study and by-cohort
aggregations with analytic influence-function standard errors clustered by unit (or a
multiplier bootstrap). ``csdid`` was also importable but pulls plotting and packaging
tools in as runtime dependencies, so diff-diff is the one wrapped. ``overall_att`` gives the
simple aggregate ATT without covariates by the same cell means and weights, without diff-diff
(whose import, with scipy.stats, costs about 0.9 s), for callers that read only the point estimate.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from analysis.checks import PanelError, enough, fmt, missing_keys, no_duplicates, numeric_columns, require_columns
from analysis.results import EstimationResult

_CONTROL = {"never": "never_treated", "notyet": "not_yet_treated"}


def _tidy(df: pd.DataFrame, key: str | list[str]) -> pd.DataFrame:
    out = df.rename(columns={"effect": "att", "t_stat": "t", "p_value": "p",
                             "conf_int_lower": "ci_lower", "conf_int_upper": "ci_upper"})
    keep = [c for c in ("att", "se", "t", "p", "ci_lower", "ci_upper", "cband_lower", "cband_upper", "n")
            if c in out.columns]
    return out.set_index(key)[keep]


class StaggeredDiD:
    """Group-time ATTs and their aggregations for staggered treatment adoption.

    ``cohort`` holds each unit's first treated period (0 or inf for never treated; a NaN
    cohort is missing data and raises :class:`~analysis.checks.PanelError`) and must be
    constant within a unit. ``control_group`` is ``'never'`` or ``'notyet'``.
    With ``covariates`` (taken at each comparison's base period) ``est_method`` selects
    ``'dr'`` (doubly robust), ``'reg'`` (outcome regression) or ``'ipw'``; without
    covariates all three are the unconditional 2x2 DiD of means. ``bootstrap`` > 0 replaces
    analytic SEs by a unit-level multiplier bootstrap with that many draws.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        y: str,
        entity: str,
        time: str,
        cohort: str,
        control_group: str = "never",
        covariates: Sequence[str] | None = None,
        est_method: str = "dr",
        anticipation: int = 0,
        base_period: str = "varying",
        bootstrap: int = 0,
        seed: int | None = None,
        alpha: float = 0.05,
    ) -> None:
        who = "StaggeredDiD"
        if control_group not in _CONTROL:
            raise PanelError(f"{who}: control_group={control_group!r}; allowed: 'never', 'notyet'")
        if est_method not in ("dr", "reg", "ipw"):
            raise PanelError(f"{who}: est_method={est_method!r}; allowed: 'dr', 'reg', 'ipw'")
        self.y, self.entity, self.time, self.cohort = y, entity, time, cohort
        self.control_group, self.est_method = control_group, est_method
        self.covariates = list(covariates) if covariates else None
        self.anticipation, self.base_period = anticipation, base_period
        self.bootstrap, self.seed, self.alpha = int(bootstrap), seed, alpha
        cols = list(dict.fromkeys([entity, time, y, cohort, *(self.covariates or [])]))
        require_columns(data, cols, who)
        missing_keys(data, [entity, time], who)
        no_duplicates(data, [entity, time], who)
        tnum = numeric_columns(data, [time], who, [entity, time], allow_nan=False)[time]
        if (tnum != np.round(tnum)).any():
            raise PanelError(f"{who}: column {time!r} must hold integer periods (e.g. years)")
        df = data[cols].copy()
        raw = df[cohort]
        g = pd.to_numeric(raw, errors="coerce").astype(float)
        bad_str = g.isna() & raw.notna()
        if bad_str.any():
            raise PanelError(f"{who}: cohort column {cohort!r} is not numeric: value {raw[bad_str].iloc[0]!r}")
        nan = g.isna().to_numpy()
        if nan.any():
            first = df.loc[nan, entity].iloc[0]
            raise PanelError(f"{who}: cohort column {cohort!r} is NaN in {int(nan.sum())} rows (first at "
                             f"{entity}={fmt(first)}); give each unit's first treated period, or 0 (or inf) for "
                             "never treated; a missing cohort is not read as never treated")
        if (g == -np.inf).any() or ((g < 0) & np.isfinite(g)).any():
            raise PanelError(f"{who}: cohort column {cohort!r} has negative values; periods are >= 1, 0 or inf "
                             "mean never treated")
        df[cohort] = g.where(np.isfinite(g) & (g > 0), 0.0).astype(np.int64)
        if (df.groupby(entity)[cohort].nunique() > 1).any():
            e0 = df.groupby(entity)[cohort].nunique().pipe(lambda s_: s_[s_ > 1]).index[0]
            raise PanelError(f"{who}: cohort column {cohort!r} must be constant within each {entity} "
                             f"(it varies for {entity}={fmt(e0)})")
        need = [y, *(self.covariates or [])]
        num = numeric_columns(df, need, who, [entity, time])
        df[need] = num
        self.data = df.loc[num.notna().all(axis=1).to_numpy()].reset_index(drop=True)
        n_units = int(self.data[entity].nunique())
        n_never = int(self.data.loc[self.data[cohort] == 0, entity].nunique())
        enough(who, len(self.data), 1, n_entities=n_units, min_entities=2,
               n_periods=int(self.data[time].nunique()), min_periods=2, entity=entity, time=time)
        if control_group == "never" and n_never == 0:
            raise PanelError(f"{who}: no never-treated unit (cohort 0 or inf in {cohort!r}) for "
                             "control_group='never'; use control_group='notyet'")

    def overall_att(self) -> tuple[float, int]:
        """``fit().params["ATT"]`` (to rounding) and the number of rows, without covariates only: each
        post-adoption cell (g, t >= g - anticipation) is the difference of the mean outcome changes,
        from the last observed period before g - anticipation to t, of the cohort's units and of the
        control units observed in both periods; the aggregate weights the cells by their treated counts
        (diff-diff's no-covariate path and simple aggregation). Raises ``PanelError`` with covariates."""
        if self.covariates:
            raise PanelError("StaggeredDiD.overall_att: defined without covariates; use fit()")
        d = self.data
        units, ui = np.unique(d[self.entity].to_numpy(), return_inverse=True)
        periods, pi = np.unique(d[self.time].to_numpy(), return_inverse=True)
        Y = np.full((units.size, periods.size), np.nan)
        Y[ui, pi] = d[self.y].to_numpy(dtype=float)
        coh = np.zeros(units.size, dtype=np.int64)
        coh[ui] = d[self.cohort].to_numpy()
        num = den = 0.0
        for g in np.unique(coh[coh > 0]):
            b = int(np.searchsorted(periods, g - self.anticipation)) - 1
            if b < 0:
                continue
            for t in np.flatnonzero(periods >= g - self.anticipation):
                change = Y[:, t] - Y[:, b]
                ok = ~np.isnan(change)
                control = coh == 0
                if self.control_group == "notyet":
                    control |= (coh > max(periods[t], periods[b]) + self.anticipation) & (coh != g)
                treated, control = (coh == g) & ok, control & ok
                n_t = int(treated.sum())
                if n_t == 0 or not control.any():
                    continue
                num += n_t * (change[treated].mean() - change[control].mean())
                den += n_t
        return (float(num / den) if den else np.nan), len(d)

    def fit(self) -> EstimationResult:
        from analysis._imports import submodule

        cs = submodule("diff_diff.staggered").CallawaySantAnna(
            control_group=_CONTROL[self.control_group],
            anticipation=self.anticipation,
            estimation_method=self.est_method,
            alpha=self.alpha,
            n_bootstrap=self.bootstrap,
            seed=self.seed,
            base_period=self.base_period,
            cband=self.bootstrap > 0,
        )
        res = cs.fit(self.data, outcome=self.y, unit=self.entity, time=self.time,
                     first_treat=self.cohort, covariates=self.covariates)
        es = _tidy(res.aggregate("event_study").to_dataframe(), "event_time")
        es = es.dropna(axis=1, how="all").rename(columns={"n": "n_cohorts"})
        grp = res.aggregate("group").to_dataframe()
        grp["cohort"] = grp["label"].astype(np.int64)
        by_cohort = _tidy(grp, "cohort").rename(columns={"n": "n_periods"})
        gt = res.to_dataframe("group_time").rename(columns={"group": "cohort"})
        att_gt = _tidy(gt, ["cohort", "time"]).sort_index()
        att_gt["event_time"] = att_gt.index.get_level_values("time") - att_gt.index.get_level_values("cohort")
        st = {
            "N units": float(self.data[self.entity].nunique()),
            "N treated units": float(res.n_treated_units),
            "N control units": float(res.n_control_units),
            "control group": self.control_group,
            "estimation": {"dr": "doubly robust", "reg": "outcome regression", "ipw": "IPW"}[self.est_method],
            "inference": f"multiplier bootstrap ({self.bootstrap})" if self.bootstrap else "analytic IF, clustered by unit",
        }
        return EstimationResult(
            params=pd.Series({"ATT": float(res.overall_att)}),
            std_errors=pd.Series({"ATT": float(res.overall_se)}),
            nobs=int(res.n_obs),
            model_name="Callaway-Sant'Anna staggered DiD",
            dist="normal",
            stats=st,
            extra=dict(event_study=es, by_cohort=by_cohort, att_gt=att_gt, native=res),
        )
