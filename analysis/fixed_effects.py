"""Two-way fixed-effects (and pooled) panel regression with clustered errors (seed 002 eq. 1).

Wraps linearmodels ``PanelOLS``; nothing is estimated by hand. Defaults follow Stata's
``xtreg, fe vce(cluster)``/``reghdfe`` small-sample convention: the clustered covariance is
scaled by G/(G-1)·(N-1)/(N-K) (linearmodels ``debiased=True, group_debias=True``; K counts
the absorbed effects as linearmodels does, see ``count_effects``), and t-tests use G-1
degrees of freedom with clustering, N-K otherwise.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from linearmodels import PanelOLS

from analysis.results import EstimationResult, from_linearmodels

_CLUSTER_KEYWORDS = ("entity", "time", "both")


def _codes(s: pd.Series) -> np.ndarray:
    return pd.factorize(s, sort=True)[0].astype(np.int64)


class TwoWayFE:
    """Panel OLS with optional entity and time effects and clustered standard errors.

    ``data`` holds ``entity`` and ``time`` as columns (or as index levels). ``cluster`` is
    ``'entity'``, ``'time'``, ``'both'`` (two-way), ``None`` (heteroskedasticity-robust, or
    homoskedastic when ``robust=False``), or the name of a column (or a list of at most two
    columns) of ``data``. A constant is included (with effects it is linearmodels'/Stata's
    grand-mean constant). ``count_effects=None`` lets linearmodels decide whether absorbed
    effects enter the small-sample factor (not counted only for a single effect nested in
    the clusters); True/False forces it.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        y: str,
        x: Sequence[str],
        entity: str,
        time: str,
        *,
        entity_effects: bool = True,
        time_effects: bool = True,
        cluster: str | Sequence[str] | None = "entity",
        robust: bool = True,
        drop_absorbed: bool = False,
        constant: bool = True,
        debiased: bool = True,
        group_debias: bool = True,
        count_effects: bool | None = None,
    ) -> None:
        if isinstance(x, str):
            x = [x]
        self.data, self.y, self.x = data, y, list(x)
        self.entity, self.time = entity, time
        self.entity_effects, self.time_effects = bool(entity_effects), bool(time_effects)
        self.cluster = cluster
        self.robust, self.drop_absorbed, self.constant = robust, drop_absorbed, constant
        self.debiased, self.group_debias, self.count_effects = debiased, group_debias, count_effects
        if not self.x:
            raise ValueError("x must name at least one regressor")
        if isinstance(cluster, str) and cluster not in _CLUSTER_KEYWORDS and cluster not in self._frame_columns():
            raise ValueError(f"cluster column {cluster!r} not in data")

    @classmethod
    def pooled(cls, data: pd.DataFrame, y: str, x: Sequence[str], entity: str, time: str, **kw) -> "TwoWayFE":
        """Pooled OLS on the panel (no effects), e.g. seed 002 table 3 column (1)."""
        return cls(data, y, x, entity, time, entity_effects=False, time_effects=False, **kw)

    def _frame_columns(self) -> set[str]:
        return set(self.data.columns) | {n for n in self.data.index.names if n is not None}

    def _cluster_columns(self) -> list[str]:
        c = self.cluster
        if c is None or (isinstance(c, str) and c in _CLUSTER_KEYWORDS):
            return []
        cols = [c] if isinstance(c, str) else list(c)
        if not 1 <= len(cols) <= 2:
            raise ValueError("cluster may name one or two columns")
        return cols

    def _panel(self) -> pd.DataFrame:
        df = self.data
        if self.entity not in df.columns or self.time not in df.columns:
            df = df.reset_index()
        ccols = self._cluster_columns()
        cols = list(dict.fromkeys([self.entity, self.time, self.y, *self.x, *ccols]))
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise KeyError(f"columns not in data: {missing}")
        df = df[cols].dropna()
        if df.duplicated([self.entity, self.time]).any():
            raise ValueError("duplicate (entity, time) pairs in data")
        out = pd.DataFrame(
            {c: pd.to_numeric(df[c]).astype(float) for c in [self.y, *self.x]}
        )
        for i, c in enumerate(ccols):
            out[f"_cl{i}"] = _codes(df[c])
        out.index = pd.MultiIndex.from_arrays(
            [_codes(df[self.entity]), _codes(df[self.time])], names=[self.entity, self.time]
        )
        return out.sort_index()

    def fit(self) -> EstimationResult:
        panel = self._panel()
        exog = panel[self.x].copy()
        if self.constant:
            exog.insert(0, "const", 1.0)
        mod = PanelOLS(
            panel[self.y], exog,
            entity_effects=self.entity_effects, time_effects=self.time_effects,
            drop_absorbed=self.drop_absorbed,
        )
        kw: dict = {"debiased": self.debiased}
        if self.count_effects is not None:
            kw.update(auto_df=False, count_effects=self.count_effects)
        c = self.cluster
        n_clusters: list[int] = []
        if c is None:
            kw["cov_type"] = "robust" if self.robust else "unadjusted"
        else:
            kw.update(cov_type="clustered", group_debias=self.group_debias)
            ent = panel.index.get_level_values(0)
            tim = panel.index.get_level_values(1)
            if c in ("entity", "both"):
                kw["cluster_entity"] = True
                n_clusters.append(int(ent.nunique()))
            if c in ("time", "both"):
                kw["cluster_time"] = True
                n_clusters.append(int(tim.nunique()))
            ccols = [k for k in panel.columns if k.startswith("_cl")]
            if ccols:
                kw["clusters"] = panel[ccols]
                n_clusters += [int(panel[k].nunique()) for k in ccols]
        res = mod.fit(**kw)

        out = from_linearmodels(res, "Two-way FE" if (self.entity_effects or self.time_effects) else "Pooled OLS")
        n = int(res.nobs)
        k = int(len(res.params))
        d = int(res.df_model) - k
        df_r = float(res.df_resid)
        r2 = float(res.rsquared)
        r2_incl = float(res.rsquared_inclusive)
        out.stats = {
            "R2": r2,
            "Adj. R2": 1.0 - (1.0 - r2) * (n - d - int(self.constant)) / df_r,
            "R2 within": float(res.rsquared_within),
            "R2 inclusive": r2_incl,
            "Adj. R2 inclusive": 1.0 - (1.0 - r2_incl) * (n - 1) / df_r,
            "N entities": int(res.entity_info["total"]),
            "N periods": int(res.time_info["total"]),
        }
        if n_clusters:
            out.stats["N clusters"] = min(n_clusters)
        if self.debiased:
            out.dist = "t"
            out.df_resid = float(min(n_clusters) - 1) if n_clusters else df_r
        out.extra.update(
            linearmodels=res, entity_effects=self.entity_effects, time_effects=self.time_effects,
            cluster=self.cluster, df_absorbed=d,
        )
        return out
