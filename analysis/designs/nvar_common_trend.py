"""NVAR of seed 000 when x and y share a common trend the regression leaves out (as DF and TFP in the model).

    x_it = 0.1 (t - t_mid) + N(0, 1),   y_it = eq. 14 + lambda_t,   lambda_t = 0.05 (t - t_mid),

with W, sizes and coefficients of :mod:`analysis.designs.nvar_spillover`. With row-normalised W the
network term W·x_t carries the same trend as x_t, so pooled OLS (seed 000's specification) loads the
omitted lambda_t on W·x, x and the lag. It estimates beta1 + b, where b is the coefficient of lambda_t
in the regression of lambda_t on the NVAR design (computed exactly on every draw and reported as the
estimand ``beta1_pooled``); adding year effects removes lambda_t and restores beta1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.designs.base import Design, Draw, Estimand, Spec, register_design
from analysis.designs.nvar_spillover import TRUTH, design_W
from analysis.nvar import NVAR

TREND_X, TREND_Y, BURN = 0.1, 0.05, 20


def simulate_trend(rng: np.random.Generator, W: np.ndarray, T: int, p=TRUTH) -> pd.DataFrame:
    """Eq. 14 with the common trends of the module docstring; column ``lam`` is the omitted lambda_t."""
    n = W.shape[0]
    steps = np.arange(-BURN, T) - (T - 1) / 2.0
    x = rng.normal(size=(T + BURN, n)) + TREND_X * steps[:, None]
    z = rng.normal(size=(T + BURN, n))
    lam = TREND_Y * steps
    y = np.zeros((T + BURN, n))
    for t in range(1, T + BURN):
        y[t] = (p["beta0"] + p["beta1"] * x[t] @ W.T + p["beta2"] * y[t - 1] + p["alpha"] * x[t]
                + p["z"] * z[t] + lam[t] + rng.normal(size=n))
    s = slice(BURN, None)
    return pd.DataFrame({"prov": np.tile([f"p{i:03d}" for i in range(n)], T),
                         "year": np.repeat(2008 + np.arange(T), n), "y": y[s].ravel(), "x": x[s].ravel(),
                         "z": z[s].ravel(), "lam": np.repeat(lam[s], n)})


def pooled_pseudo_truth(df: pd.DataFrame, W: np.ndarray) -> float:
    """beta1 plus the beta1 coefficient of the omitted lambda_t projected on the pooled NVAR design."""
    mod = NVAR(df, "y", "x", W, "prov", "year", controls=["z"])
    _, X, _, tc, _ = mod.design()
    lam = df.groupby("year")["lam"].first().sort_index().to_numpy()[tc]
    b = np.linalg.lstsq(X.to_numpy(), lam, rcond=None)[0]
    return TRUTH["beta1"] + float(b[list(X.columns).index("beta1")])


@register_design
class NVARCommonTrend(Design):
    """NVAR eq. 14 with a common trend in x (0.1 per year) and an omitted common trend in y (0.05 log
    points per year), 30 provinces x 15 years. Pooled NVAR (seed 000) estimates beta1 plus the projection
    of the trend on W·x (``beta1_pooled``, computed per draw); NVAR with year effects estimates beta1."""

    name = "nvar_common_trend"
    title = "NVAR with an omitted common trend"
    sizes = {"n": 30, "t": 15}
    estimands = {
        "beta1": Estimand("beta1", "y per unit of W·x", "structural network spillover (0.8)"),
        "beta1_pooled": Estimand("beta1_pooled", "y per unit of W·x",
                                 "what pooled NVAR estimates: beta1 + coefficient of the omitted trend "
                                 "lambda_t on W·x in the NVAR design (exact, per draw)"),
    }
    estimators = ("nvar",)

    def draw(self, rng: np.random.Generator) -> Draw:
        W = design_W(rng, self.size["n"])
        df = simulate_trend(rng, W, self.size["t"] + 1)
        return Draw(df, {"beta1": TRUTH["beta1"], "beta1_pooled": pooled_pseudo_truth(df, W)}, {"W": W})

    def specs(self, estimator: str) -> list[Spec]:
        def pooled(d: Draw):
            return NVAR(d.data, "y", "x", d.extra["W"], "prov", "year", controls=["z"]).fit()

        def with_years(d: Draw):
            return NVAR(d.data, "y", "x", d.extra["W"], "prov", "year", controls=["z"], effects="time").fit()

        why = ("The omitted common trend lambda_t is correlated with W·x (which trends with x), so pooled OLS "
               "is biased for the structural beta1 and its CI misses it; against beta1_pooled it is centred.")
        return [
            Spec("nvar", "NVAR pooled (seed 000) vs structural beta1", "beta1", "beta1", pooled, why),
            Spec("nvar", "NVAR pooled (seed 000) vs its pseudo-true value", "beta1", "beta1_pooled", pooled,
                 "The estimand pooled OLS actually targets here; coverage near 0.95 is expected."),
            Spec("nvar", "NVAR with year effects vs structural beta1", "beta1", "beta1", with_years,
                 "Year effects absorb lambda_t; consistent for beta1."),
        ]
