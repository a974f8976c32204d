"""Hansen (1999) fixed-effect panel threshold with two thresholds (seed 001: 336 cities x 6 years).

    y_it = mu_i + beta_r(q_it) x_it + 0.5 z_it + e_it,   r = 1, 2, 3 as q <= g1 < q <= g2 < q,

mu_i ~ N(0, 1), q_it = N(0, 1) + 0.3 mu_i (the threshold variable), x_it = N(0, 1) + mu_i, z, e i.i.d.
N(0, 1); slopes (0.5, 1.0, 1.5) and thresholds (g1, g2) = (-0.5, 0.5). Default 336 x 6 = 2,016
city-years. Correctly specified: each regime slope's estimand is its structural value, and the
thresholds' are g1 and g2 (their intervals are Hansen's LR confidence sets on the candidate grid,
whose 95 % is asymptotic, so their finite-sample coverage is an empirical question answered here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.designs.base import Design, Draw, Estimand, Spec, register_design
from analysis.threshold import PanelThreshold

SLOPES = (0.5, 1.0, 1.5)
GAMMAS = (-0.5, 0.5)


def threshold_panel(rng, N, T, slopes, gammas, extra_x=False, time_fe=False):
    """Panel of N x T with regime slopes ``slopes`` switching at ``gammas`` in q; ``extra_x`` adds a
    second regime regressor x2, ``time_fe`` adds year effects to y."""
    ent, tt = np.repeat(np.arange(N), T), np.tile(np.arange(2017, 2017 + T), N)
    mu = np.repeat(rng.normal(size=N), T)
    q = rng.normal(size=N * T) + 0.3 * mu
    x = rng.normal(size=N * T) + mu
    z = rng.normal(size=N * T)
    reg = np.searchsorted(np.asarray(gammas, dtype=float), q, side="left")
    y = mu + np.asarray(slopes)[reg] * x + 0.5 * z + rng.normal(size=N * T)
    df = pd.DataFrame(dict(id=ent, year=tt, y=y, x=x, q=q, z=z))
    if extra_x:
        df["x2"] = rng.normal(size=N * T)
        df["y"] += np.array([-1.0, 0.5, 1.0, 0.0])[reg] * df["x2"]
    if time_fe:
        df["y"] += np.tile(rng.normal(size=T), N)
    return df


def _gamma(j: int):
    def extract(res):
        ci = res.extra["ci"].iloc[j]
        return float(res.extra["thresholds"][j]), np.nan, float(ci["lower"]), float(ci["upper"])
    return extract


@register_design
class Threshold(Design):
    """Two-threshold fixed-effect panel, 336 cities x 6 years (seed 001); estimands: the three regime
    slopes (0.5, 1.0, 1.5) and the thresholds (-0.5, 0.5)."""

    name = "threshold"
    title = "Panel threshold regression, two thresholds"
    sizes = {"n": 336, "t": 6}
    estimands = {
        **{f"x_r{j + 1}": Estimand(f"x_r{j + 1}", "y per unit of x", f"slope of x in regime {j + 1} ({s})")
           for j, s in enumerate(SLOPES)},
        **{f"gamma{j + 1}": Estimand(f"gamma{j + 1}", "units of q", f"threshold {j + 1} ({g})")
           for j, g in enumerate(GAMMAS)},
    }
    estimators = ("threshold",)

    def draw(self, rng: np.random.Generator) -> Draw:
        df = threshold_panel(rng, self.size["n"], self.size["t"], SLOPES, GAMMAS)
        truth = {f"x_r{j + 1}": s for j, s in enumerate(SLOPES)}
        truth.update({f"gamma{j + 1}": g for j, g in enumerate(GAMMAS)})
        return Draw(df, truth)

    def specs(self, estimator: str) -> list[Spec]:
        def fit(d: Draw):
            return PanelThreshold(d.data, "y", ["x"], "q", "id", "year", controls=["z"], n_thresholds=2).fit()

        slope = ("Regime slopes at the estimated thresholds, entity-clustered errors that treat the thresholds "
                 "as known (asymptotically valid since the threshold estimate converges at rate n).")
        lr = ("Hansen's LR confidence set for the threshold, evaluated on the candidate grid (300 quantiles of q), "
              "so its end points are discretised; its 95 % is asymptotic (derived under shrinking threshold "
              "effects, Hansen 2000), so finite-sample coverage can differ in either direction.")
        specs = [Spec("threshold", "Hansen panel threshold (2 thresholds)", f"x_r{j + 1}", f"x_r{j + 1}", fit, slope)
                 for j in range(3)]
        specs += [Spec("threshold", "Hansen panel threshold (2 thresholds)", f"gamma{j + 1}", f"gamma{j + 1}", fit,
                       lr, extract=_gamma(j)) for j in range(2)]
        return specs
