"""Common result object for every SuanLi estimator.

Modelled on linearmodels/statsmodels results: ``params``, ``std_errors``,
``tstats``, ``pvalues``, ``conf_int()``, ``nobs`` and ``summary``. Estimators that
wrap linearmodels or statsmodels convert their native results into this object so
that the replication layer can treat all estimators alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd


def stars(pvalue: float) -> str:
    """Significance stars in the studies' convention: *** 1 %, ** 5 %, * 10 %."""
    if not np.isfinite(pvalue):
        return ""
    if pvalue < 0.01:
        return "***"
    if pvalue < 0.05:
        return "**"
    if pvalue < 0.10:
        return "*"
    return ""


@dataclass
class EstimationResult:
    """Point estimates, standard errors and fit statistics of one estimation.

    ``dist`` is "normal" for asymptotic z-tests or "t" for t-tests with
    ``df_resid`` degrees of freedom. ``extra`` holds estimator-specific output
    (first stages, efficiency scores, thresholds, ...); ``stats`` holds scalar fit
    statistics (R², log-likelihood, KP statistics, ...) shown in ``summary``.
    """

    params: pd.Series
    std_errors: pd.Series
    nobs: int
    model_name: str = ""
    cov: pd.DataFrame | None = None
    dist: str = "normal"
    df_resid: float | None = None
    stats: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params = pd.Series(self.params, dtype=float)
        self.std_errors = pd.Series(self.std_errors, dtype=float).reindex(self.params.index)

    @property
    def tstats(self) -> pd.Series:
        return (self.params / self.std_errors).rename("tstat")

    @property
    def pvalues(self) -> pd.Series:
        from scipy import stats

        t = np.abs(self.tstats.to_numpy())
        if self.dist == "t" and self.df_resid is not None:
            p = 2 * stats.t.sf(t, self.df_resid)
        else:
            p = 2 * stats.norm.sf(t)
        return pd.Series(p, index=self.params.index, name="pvalue")

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        from scipy import stats

        if self.dist == "t" and self.df_resid is not None:
            q = stats.t.ppf(0.5 + level / 2, self.df_resid)
        else:
            q = stats.norm.ppf(0.5 + level / 2)
        return pd.DataFrame(
            {"lower": self.params - q * self.std_errors, "upper": self.params + q * self.std_errors}
        )

    @property
    def rsquared(self) -> float:
        return float(self.stats.get("R2", np.nan))

    def table(self) -> pd.DataFrame:
        ci = self.conf_int()
        return pd.DataFrame(
            {
                "coef": self.params,
                "std_err": self.std_errors,
                "t": self.tstats,
                "p": self.pvalues,
                "ci_lower": ci["lower"],
                "ci_upper": ci["upper"],
            }
        )

    @property
    def summary(self) -> str:
        head = f"{self.model_name or 'Estimation'} results   N = {self.nobs}"
        lines = [head, "=" * max(len(head), 60)]
        for k, v in self.stats.items():
            lines.append(f"{k:<24}{v: .6g}" if isinstance(v, (int, float, np.floating)) else f"{k:<24}{v}")
        lines.append("-" * 60)
        with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 120):
            lines.append(self.table().to_string())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary

    __repr__ = __str__

    def cell(self, name: str, bracket: str = "se") -> str:
        """One coefficient in the studies' layout: ``0.0333***`` over ``(0.0100)``."""
        b = self.params[name]
        s = self.std_errors[name] if bracket == "se" else self.tstats[name]
        return f"{b:.4f}{stars(self.pvalues[name])}\n({s:.4f})"


def from_linearmodels(res: Any, model_name: str, extra: Mapping[str, Any] | None = None) -> EstimationResult:
    """Convert a linearmodels result (PanelOLS, IV2SLS, ...) into an EstimationResult."""
    st: dict[str, float] = {}
    for attr, label in (("rsquared", "R2"), ("rsquared_within", "R2 within"), ("f_statistic", None)):
        if label and hasattr(res, attr):
            try:
                st[label] = float(getattr(res, attr))
            except (TypeError, ValueError):
                pass
    return EstimationResult(
        params=res.params,
        std_errors=res.std_errors,
        nobs=int(res.nobs),
        model_name=model_name,
        cov=res.cov,
        dist="normal",
        stats=st,
        extra=dict(extra or {}),
    )
