"""Two-step mechanism (mediation) test with two-way fixed effects (seed 002 eq. 2).

Seed 002 follows Jiang (2022)'s two-step method: eq. (2) regresses the mechanism
variable M on the treatment D with the eq. (1) controls and firm and year effects
(step 1, coefficient a = phi_1). Step 2 (Y on D and M, coefficient b on M) and the
indirect effect a·b with its Sobel (1982) first-order delta-method standard error
sqrt(b²·se(a)² + a²·se(b)²) are the classic Baron–Kenny extension, added here because
no library provides it on top of a panel FE estimator; Jiang (2022) warns that step 2
is open to M's own endogeneity, so read a·b as descriptive. Every regression is a
:class:`analysis.fixed_effects.TwoWayFE` on one common sample, so that the OLS identity
total = direct + a·b holds exactly.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr

from analysis.checks import PanelError, numeric_columns, require_columns
from analysis.fixed_effects import TwoWayFE
from analysis.results import EstimationResult


class MechanismTest:
    """Step 1 ``M ~ D + X + FE``, step 2 ``Y ~ D + M + X + FE`` and the total ``Y ~ D + X + FE``.

    Keyword arguments other than those named are passed to every
    :class:`~analysis.fixed_effects.TwoWayFE` (``entity_effects``, ``time_effects``,
    ``cluster``, ``robust``, ...).
    """

    def __init__(
        self,
        data: pd.DataFrame,
        y: str,
        treatment: str,
        mediator: str,
        entity: str,
        time: str,
        controls: Sequence[str] = (),
        **fe_kwargs,
    ) -> None:
        self.data, self.y, self.treatment, self.mediator = data, y, treatment, mediator
        self.entity, self.time = entity, time
        self.controls = [controls] if isinstance(controls, str) else list(controls)
        self.fe_kwargs = fe_kwargs
        if len({y, treatment, mediator}) != 3:
            raise PanelError(f"MechanismTest: y={y!r}, treatment={treatment!r} and mediator={mediator!r} must be "
                             "distinct columns")

    def _sample(self) -> pd.DataFrame:
        df = self.data
        if self.entity not in df.columns or self.time not in df.columns:
            df = df.reset_index()
        c = self.fe_kwargs.get("cluster", "entity")
        extra = [] if c is None or c in ("entity", "time", "both") else ([c] if isinstance(c, str) else list(c))
        cols = list(dict.fromkeys([self.entity, self.time, self.y, self.treatment, self.mediator,
                                   *self.controls, *extra]))
        require_columns(df, cols, "MechanismTest")
        num = numeric_columns(df, [self.y, self.treatment, self.mediator, *self.controls], "MechanismTest",
                              [self.entity, self.time])
        out = df[cols].copy()
        out[num.columns] = num
        return out.dropna()

    def _fe(self, df: pd.DataFrame, dep: str, regs: list[str]) -> EstimationResult:
        return TwoWayFE(df, dep, regs, self.entity, self.time, **self.fe_kwargs).fit()

    def fit(self) -> EstimationResult:
        df = self._sample()
        d, m = self.treatment, self.mediator
        step1 = self._fe(df, m, [d, *self.controls])
        step2 = self._fe(df, self.y, [d, m, *self.controls])
        total = self._fe(df, self.y, [d, *self.controls])
        a, se_a = step1.params[d], step1.std_errors[d]
        b, se_b = step2.params[m], step2.std_errors[m]
        ab = a * b
        se_ab = float(np.sqrt(b**2 * se_a**2 + a**2 * se_b**2))
        z = ab / se_ab if se_ab > 0 else np.nan
        params = pd.Series({"a": a, "b": b, "direct": step2.params[d], "indirect": ab, "total": total.params[d]})
        ses = pd.Series({"a": se_a, "b": se_b, "direct": step2.std_errors[d], "indirect": se_ab,
                         "total": total.std_errors[d]})
        out = EstimationResult(
            params=params,
            std_errors=ses,
            nobs=step1.nobs,
            model_name=f"Mechanism test ({d} -> {m} -> {self.y})",
            dist="normal",
            stats={
                "Sobel z": float(z),
                "Sobel p": float(2 * ndtr(-abs(z))),
                "Share mediated": float(ab / total.params[d]) if total.params[d] != 0 else np.nan,
                "Step 1 Adj. R2": step1.stats["Adj. R2"],
                "Step 2 Adj. R2": step2.stats["Adj. R2"],
            },
            extra={"step1": step1, "step2": step2, "total": total},
        )
        return out
