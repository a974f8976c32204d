"""Endogenous compute deployment instrumented by a Bartik (shift-share) instrument (seed 002 table 4).

    D_it = 1 + 2 P_k(i),t + 0.5 a_i + l_t + 0.2 w_it + v_it,   P_k,t = expit(c_k + s_k (t - t_mid)),
    y_it = a_i + l_t + beta D_it - 0.3 w_it + u_it,             v_it = 0.6 u_it + 0.8 N(0, 1),

firms in 20 industries with diverging adoption paths P_k,t, a_i ~ N(0, 1), l_t ~ N(0, 0.2^2),
u_it ~ N(0, 1): deployment D (compute per worker, index units) responds to the same shock as the
outcome, so two-way FE OLS is biased upwards. The instrument is seed 002's Bartik variable
(:func:`analysis.iv.bartik_instrument`, growth 'gross'): the leave-one-out industry mean of D at t-1
times the sample growth of D. Peers' lagged D is independent of the firm's current u, so 2SLS with
firm and year effects is consistent for beta = 0.3 (log points per unit of D). Default 2,657 firms x
7 years (18,599 firm-years; the first year only supplies the instrument's lag).
Also here: :func:`iv_panel`, a generic panel with two excluded instruments used by the IV tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from analysis.designs.base import Design, Draw, Estimand, Spec, register_design
from analysis.fixed_effects import TwoWayFE
from analysis.iv import IV2SLS, bartik_instrument

BETA = 0.3
N_INDUSTRIES = 20


def iv_panel(rng, n_ent=200, n_t=6, pi=(0.5, 0.3), beta=0.7, fe=True, hetero=True):
    """Panel with an endogenous d (error correlation 0.6), instruments z1, z2 (first-stage ``pi``),
    an exogenous w, firm and year effects (``fe``) and heteroskedastic errors (``hetero``)."""
    e = np.repeat(np.arange(n_ent), n_t)
    t = np.tile(np.arange(n_t), n_ent)
    n = e.size
    z1, z2, w = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    scale = (1.0 + 0.5 * np.abs(z1)) if hetero else 1.0
    u = (0.5 * rng.normal(size=n_ent)[e] + rng.normal(size=n)) * scale
    v = 0.6 * u + rng.normal(size=n)
    ai = rng.normal(size=n_ent)[e] if fe else 0.0
    lt = rng.normal(size=n_t)[t] if fe else 0.0
    d = pi[0] * z1 + pi[1] * z2 + 0.2 * w + ai + lt + v
    y = 1.0 + beta * d - 0.3 * w + ai + lt + u
    return pd.DataFrame({"firm": e, "year": 2017 + t, "y": y, "d": d, "z1": z1, "z2": z2, "w": w})


def bartik_panel(rng: np.random.Generator, n: int, t: int, beta: float = BETA, first_year: int = 2017) -> pd.DataFrame:
    """Firm-year panel of the module docstring with the Bartik instrument as column ``Bartik``."""
    ind = rng.integers(0, N_INDUSTRIES, n)
    c, s = rng.normal(-0.5, 1.0, N_INDUSTRIES), rng.uniform(0.1, 1.0, N_INDUSTRIES)
    a = rng.normal(size=n)
    lam = rng.normal(0.0, 0.2, t)
    per = np.arange(t) - (t - 1) / 2.0
    P = expit(c[:, None] + s[:, None] * per[None, :])
    u = rng.normal(size=(n, t))
    v = 0.6 * u + 0.8 * rng.normal(size=(n, t))
    w = rng.normal(size=(n, t))
    D = 1.0 + 2.0 * P[ind] + 0.5 * a[:, None] + lam[None, :] + 0.2 * w + v
    y = a[:, None] + lam[None, :] + beta * D - 0.3 * w + u
    df = pd.DataFrame({"firm": np.repeat(np.arange(n), t), "year": np.tile(first_year + np.arange(t), n),
                       "industry": np.repeat(ind, t), "D": D.ravel(), "w": w.ravel(), "y": y.ravel()})
    df["Bartik"] = bartik_instrument(df, "D", "industry", "year", "firm", growth="gross")
    return df


@register_design
class Bartik(Design):
    """Endogenous deployment D with a valid Bartik instrument, 2,657 firms x 7 years (seed 002).
    Estimand: the structural effect beta = 0.3 of D on y, which 2SLS with firm and year effects
    recovers and two-way FE OLS (shown as a contrast) does not."""

    name = "bartik"
    title = "Bartik IV for an endogenous deployment"
    sizes = {"n": 2657, "t": 7}
    estimands = {"beta": Estimand("beta", "log points per unit of D", "structural effect of D on y (0.3)")}
    estimators = ("iv", "twfe")

    def draw(self, rng: np.random.Generator) -> Draw:
        return Draw(bartik_panel(rng, self.size["n"], self.size["t"]), {"beta": BETA})

    def specs(self, estimator: str) -> list[Spec]:
        def iv(d: Draw):
            return IV2SLS(d.data, "y", "D", "Bartik", ["w"], entity="firm", time="year", entity_effects=True,
                          time_effects=True, cluster="firm").fit()

        def ols(d: Draw):
            return TwoWayFE(d.data.dropna(subset=["Bartik"]), "y", ["D", "w"], "firm", "year").fit()

        iv_spec = Spec("iv", "2SLS with firm and year effects, Bartik instrument", "D", "beta", iv,
                       "Strong instrument (first-stage F in the hundreds): 2SLS is consistent and its "
                       "firm-clustered interval should cover at about 0.95.")
        ols_spec = Spec("twfe", "Two-way FE OLS (ignores endogeneity)", "D", "beta", ols,
                        "D responds to the outcome shock (corr 0.6 with v), so OLS is biased upwards and "
                        "its interval misses beta: the reason for the instrument.")
        return [iv_spec, ols_spec] if estimator == "iv" else [ols_spec]
