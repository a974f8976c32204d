"""Network VAR of seed 000 (eq. 14) on a panel drawn from the model it estimates: 30 provinces x 15 years.

    y_it = beta0 + beta1 sum_j w_ij x_jt + beta2 y_i,t-1 + alpha x_it + gamma z_it + e_it,   e ~ N(0, 1),

x and z i.i.d. N(0, 1), W the row-normalised inverse-distance matrix of the 30 provinces of seed 000
(``sim.network.weight_matrix(..., 'geo')``, as ``analysis.replicate.province_weights``) at the default size, or a random geometric graph
(:func:`geometric_W`) for other sizes. The process starts at zero and runs a burn-in of 20 periods;
the first kept period only supplies the lag, so the default sample is 30 x 15 = 450 observations
as in seed 000 table 2. The model is correctly specified: pooled OLS with HC1 errors is consistent
for every coefficient, and the estimand of each is its structural value.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from analysis.designs.base import Design, Draw, Estimand, Spec, register_design
from analysis.nvar import NVAR

TRUTH = {"beta0": 0.5, "beta1": 0.8, "beta2": 0.4, "alpha": 0.3, "z": -0.5}


def geometric_W(rng, n, radius):
    """Random geometric graph in the unit square, inverse-distance weights, row-normalised."""
    pts = rng.uniform(size=(n, 2))
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    W = np.where((d < radius) & (d > 0), 1.0 / np.where(d > 0, d, 1.0), 0.0)
    rs = W.sum(axis=1, keepdims=True)
    return np.divide(W, rs, out=np.zeros_like(W), where=rs > 0)


def simulate(rng, W, T, p=TRUTH, fe_e=None, fe_t=None, lag=True, burn=20):
    """A (prov, year) panel of T periods from eq. 14 with weight matrix W (``fe_e``/``fe_t``: entity and
    period effects added to y, ``fe_e`` also shifts x by half its value; ``lag=False`` drops beta2)."""
    n = W.shape[0]
    fe_e = np.zeros(n) if fe_e is None else fe_e
    fe_t = np.zeros(T + burn) if fe_t is None else np.concatenate([np.zeros(burn), fe_t])
    x = rng.normal(size=(T + burn, n)) + 0.5 * fe_e
    z = rng.normal(size=(T + burn, n))
    y = np.zeros((T + burn, n))
    for t in range(1, T + burn):
        y[t] = (p["beta0"] + p["beta1"] * x[t] @ W.T + (p["beta2"] * y[t - 1] if lag else 0.0)
                + p["alpha"] * x[t] + p["z"] * z[t] + fe_e + fe_t[t] + rng.normal(size=n))
    s = slice(burn, None)
    return pd.DataFrame({"prov": np.tile([f"p{i:03d}" for i in range(n)], T),
                         "year": np.repeat(2008 + np.arange(T), n),
                         "y": y[s].ravel(), "x": x[s].ravel(), "z": z[s].ravel()})


@lru_cache(maxsize=1)
def province_W() -> np.ndarray:
    """Seed 000's geographic weights on its 30 provinces (Tibet excluded), row-normalised."""
    from sim.network import weight_matrix
    from sim.world import World

    provinces = World.load().provinces
    return weight_matrix(provinces.loc[[c for c in provinces.index if c != "XZ"]], "geo")


def design_W(rng: np.random.Generator, n: int) -> np.ndarray:
    """The provinces' W when n = 30, else a random geometric graph with about six neighbours each."""
    if n == 30:
        return province_W()
    return geometric_W(rng, n, min(0.9, np.sqrt(6.0 / (np.pi * n))))


ESTIMANDS = {
    "beta1": Estimand("beta1", "y per unit of W·x", "network spillover: effect of the neighbours' x on y"),
    "beta2": Estimand("beta2", "coefficient", "persistence: coefficient of y_i,t-1"),
    "alpha": Estimand("alpha", "y per unit of x", "effect of the unit's own x"),
}


@register_design
class NVARSpillover(Design):
    """NVAR eq. 14 with known coefficients beta1 = 0.8, beta2 = 0.4, alpha = 0.3 (seed 000 layout:
    30 provinces x 15 years = 450 observations after the lag). Correctly specified: every estimand is
    the structural coefficient."""

    name = "nvar_spillover"
    title = "NVAR network spillover, correctly specified"
    sizes = {"n": 30, "t": 15}
    estimands = ESTIMANDS
    estimators = ("nvar",)

    def draw(self, rng: np.random.Generator) -> Draw:
        n, t = self.size["n"], self.size["t"]
        W = design_W(rng, n)
        df = simulate(rng, W, t + 1)
        return Draw(df, {k: TRUTH[k] for k in ESTIMANDS}, {"W": W})

    def specs(self, estimator: str) -> list[Spec]:
        def fit(d: Draw):
            return NVAR(d.data, "y", "x", d.extra["W"], "prov", "year", controls=["z"]).fit()

        note = ("Pooled OLS, HC1 errors, t with N-K df. Consistent; the lag coefficient beta2 carries the "
                "small-sample bias of OLS with a lagged outcome, about -(1 + 3 beta2)/(NT) = -0.005 at 30 x 15, "
                "which is small against its SD but detectable with a few hundred replications.")
        return [Spec("nvar", "NVAR pooled OLS (seed 000 eq. 14)", p, p, fit, note) for p in ESTIMANDS]
