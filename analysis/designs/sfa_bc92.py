"""Translog stochastic frontier with Battese-Coelli (1992) time-varying inefficiency (seed 000 eq. 19-22).

    ln y_it = translog(ln K_it, ln L_it, t) + v_it - u_it,   u_it = exp(-eta (t - T)) u_i,
    u_i ~ N+(0, sigma_u^2), v_it ~ N(0, sigma_v^2),

with the translog coefficients ``TL`` (first-order K 0.45, L 0.5, t 0.03), eta = 0.05, sigma_u = 0.4,
sigma_v = 0.2 (gamma = sigma_u^2 / sigma^2 = 0.8). Inputs are entity-correlated normals with trends.
Default size 30 provinces x 15 years = 450, seed 000's sample. The model is correctly specified and
estimated by maximum likelihood (:class:`analysis.sfa.PanelSFA`), so each estimand is the structural
parameter; but sigma_u^2, gamma and eta are identified from the N = 30 draws of u_i, so they carry
the small-N bias of ML variance estimates and their Hessian intervals are asymptotic in N.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.designs.base import Design, Draw, Estimand, Spec, register_design
from analysis.sfa import PanelSFA

TL = dict(const=1.0, K=0.45, L=0.5, t=0.03, KK=-0.05, KL=0.02, Kt=0.004, LL=-0.04, Lt=-0.003, tt=-0.002)
TL_NAMES = {"const": "const", "K": "K", "L": "L", "t": "t", "KK": "0.5*K^2", "KL": "K*L",
            "Kt": "K*t", "LL": "0.5*L^2", "Lt": "L*t", "tt": "0.5*t^2"}
ETA, SU, SV = 0.05, 0.4, 0.2


def translog(b, lk, ll, t):
    """Translog frontier in logs with coefficients ``b`` (keys of ``TL``)."""
    return (b["const"] + b["K"] * lk + b["L"] * ll + b["t"] * t + 0.5 * b["KK"] * lk**2
            + b["KL"] * lk * ll + b["Kt"] * lk * t + 0.5 * b["LL"] * ll**2 + b["Lt"] * ll * t
            + 0.5 * b["tt"] * t**2)


def panel(rng, N, T, frontier, eta=0.0, su=0.4, sv=0.2, mu=0.0, scale=None, xnoise=0.3):
    """Simulated log panel; returns DataFrame (logs) and true u_it."""
    ent = np.repeat(np.arange(N), T)
    t = np.tile(np.arange(1, T + 1), N).astype(float)
    lk = rng.normal(0, 1, N)[ent] + rng.normal(0, xnoise, N * T) + 0.05 * t
    ll = rng.normal(0, 1, N)[ent] + rng.normal(0, xnoise, N * T) + 0.02 * t
    z = rng.normal(0, 1, N * T)
    ui = stats.truncnorm.rvs((0 - mu) / su, np.inf, loc=mu, scale=su, size=N, random_state=rng)
    g = np.exp(-eta * (t - T)) if scale is None else np.exp(scale * z)
    u = g * ui[ent]
    y = frontier(lk, ll, t) + rng.normal(0, sv, N * T) - u
    df = pd.DataFrame({"id": ent, "year": 2007 + t.astype(int), "y": y, "K": lk, "L": ll, "z": z})
    return df, u


TRUTH = {"K": TL["K"], "L": TL["L"], "t": TL["t"], "eta": ETA, "gamma": SU**2 / (SU**2 + SV**2),
         "mean_TE": np.nan}


@register_design
class SFABC92(Design):
    """Translog panel SFA with BC92 inefficiency, 30 entities x 15 years (seed 000); estimands: the
    first-order frontier coefficients of ln K, ln L and t (at the log-input origin and t = 0), eta,
    gamma, and the sample mean technical efficiency exp(-u_it) (realised, per draw)."""

    name = "sfa_bc92"
    title = "Translog SFA with BC92 time-varying inefficiency"
    sizes = {"n": 30, "t": 15}
    estimands = {
        "K": Estimand("K", "elasticity", "first-order translog coefficient of ln K (0.45)"),
        "L": Estimand("L", "elasticity", "first-order translog coefficient of ln L (0.5)"),
        "t": Estimand("t", "log points per year", "first-order coefficient of the trend (technical change, 0.03)"),
        "eta": Estimand("eta", "1/yr", "BC92 decay of inefficiency (0.05)"),
        "gamma": Estimand("gamma", "share", "sigma_u^2 / (sigma_u^2 + sigma_v^2) (0.8)"),
        "mean_TE": Estimand("mean_TE", "share", "sample mean of the true technical efficiency exp(-u_it)"),
    }
    estimators = ("sfa",)
    replication_seconds = 0.3

    def draw(self, rng: np.random.Generator) -> Draw:
        n, t = self.size["n"], self.size["t"]
        df, u = panel(rng, n, t, lambda k, l, s: translog(TL, k, l, s), eta=ETA, su=SU, sv=SV)
        return Draw(df, {**TRUTH, "mean_TE": float(np.exp(-u).mean())})

    def specs(self, estimator: str) -> list[Spec]:
        def fit(d: Draw):
            res = PanelSFA(d.data, "y", ["K", "L"], "id", "year", form="translog", inefficiency="bc92",
                           take_logs=False).fit()
            te = res.efficiency()
            res.params["mean_TE"] = float(te.mean())
            res.std_errors["mean_TE"] = np.nan
            return res

        slope = ("ML with Hessian standard errors. The frontier coefficients are identified from all N x T "
                 "observations; coverage near 0.95 is expected, a little below at N = 30 because the "
                 "information matrix is estimated from 30 entities' likelihood contributions.")
        ineff = ("eta and gamma are identified from the N draws of u_i (30 here). Like any ML variance "
                 "estimate, sigma_u^2 is biased downward in small N, which pulls gamma below its truth (and "
                 "the predicted efficiency above it); the Hessian intervals are asymptotic in N, so their "
                 "coverage at N = 30 is an empirical question this design answers.")
        return [
            Spec("sfa", "Panel SFA translog BC92", "K", "K", fit, slope),
            Spec("sfa", "Panel SFA translog BC92", "L", "L", fit, slope),
            Spec("sfa", "Panel SFA translog BC92", "t", "t", fit, slope),
            Spec("sfa", "Panel SFA translog BC92", "eta", "eta", fit, ineff),
            Spec("sfa", "Panel SFA translog BC92", "gamma", "gamma", fit, ineff),
            Spec("sfa", "Panel SFA translog BC92 (BC predictor)", "mean_TE", "mean_TE", fit,
                 "Mean of the Battese-Coelli predictor E[exp(-u)|e]; no standard error, bias and RMSE only."),
        ]
