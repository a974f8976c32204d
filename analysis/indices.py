"""Index builders of seed 000: factor-price distortion indices (eq. 18), the first
principal component index (DF quantity) and the 4G/5G quality index (eq. 23–25).

Hand-written small numerics (a few lines of numpy each); no library provides the
seed's index definitions. The CRS Cobb–Douglas elasticities behind eq. 18 are
estimated with linearmodels' PanelOLS.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from analysis.results import EstimationResult, from_linearmodels
from sim.measurement import PCAIndexResult, df_quality, pca_index  # noqa: F401  (defined where sim can use them)


def factor_elasticities(
    df: pd.DataFrame,
    output: str,
    capital: str,
    labour: str,
    entity: str = "province",
    time: str = "year",
    heterogeneous: bool = False,
) -> EstimationResult:
    """Capital elasticity of a CRS Cobb–Douglas: ln(Y/L) = a_i + d_t + alpha ln(K/L) + e.

    Two-way fixed effects (PanelOLS), errors clustered by entity. With
    ``heterogeneous=True`` alpha differs by entity (params ``alpha[<entity>]``,
    heteroskedasticity-robust errors), else one ``alpha``. The labour elasticity is 1 - alpha (seed 000: Solow residual
    under constant returns).
    """
    from linearmodels.panel import PanelOLS

    d = df[[entity, time, output, capital, labour]].dropna().copy()
    y = np.log(d[output] / d[labour])
    kl = np.log(d[capital] / d[labour])
    idx = pd.MultiIndex.from_arrays([d[entity], d[time]])
    if heterogeneous:
        ents = pd.unique(d[entity])
        X = pd.DataFrame(
            {f"alpha[{e}]": np.where(d[entity].to_numpy() == e, kl.to_numpy(), 0.0) for e in ents},
            index=idx,
        )
    else:
        X = pd.DataFrame({"alpha": kl.to_numpy()}, index=idx)
    y = pd.Series(y.to_numpy(), index=idx, name="ln_y_per_l")
    mod = PanelOLS(y, X, entity_effects=True, time_effects=True)
    # an entity's own slope is identified from one cluster only: use White errors there
    res = mod.fit(cov_type="robust") if heterogeneous else mod.fit(cov_type="clustered", cluster_entity=True)
    return from_linearmodels(res, "CRS Cobb-Douglas elasticities (two-way FE)")


def _per_obs(value, d: pd.DataFrame, entity: str, name: str) -> np.ndarray:
    if isinstance(value, str):
        return d[value].to_numpy(float)
    if isinstance(value, pd.Series):
        out = d[entity].map(value).to_numpy(float)
        if np.isnan(out).any():
            raise ValueError(f"{name} missing for some entities")
        return out
    return np.full(len(d), float(value))


def distortion_indices(
    df: pd.DataFrame,
    output: str,
    capital: str,
    labour: str,
    alpha: float | str | pd.Series | None = None,
    beta: float | str | pd.Series | None = None,
    entity: str = "province",
    time: str = "year",
    heterogeneous: bool = False,
) -> pd.DataFrame:
    """Factor-price distortion indices of seed 000 eq. (18), per entity-year.

    Within each year, with s_i = Y_i / sum_j Y_j and beta_K = sum_i s_i beta_Ki,

        gamma_Ki = (K_i / K) / (s_i beta_Ki / beta_K),
        gamma_Li = (L_i / L) / (s_i beta_Li / beta_L),

    the actual factor share over the share an efficient allocation would give.
    The absolute distortions are tau = 1 / gamma - 1 (tau > 0: the entity pays an
    implicit tax on the factor and uses too little of it). ``alpha`` / ``beta`` are
    the capital / labour output elasticities: a number, a column name or a Series
    indexed by entity; ``beta`` defaults to 1 - alpha (CRS); if ``alpha`` is None it
    is estimated by :func:`factor_elasticities`. ``output`` should be in prices
    common across entities (the seed uses 2015 constant prices).
    """
    d = df[[entity, time, output, capital, labour]
           + [c for c in (alpha, beta) if isinstance(c, str)]].dropna().copy()
    d = d.loc[:, ~d.columns.duplicated()].sort_values([entity, time]).reset_index(drop=True)
    if alpha is None:
        fit = factor_elasticities(d, output, capital, labour, entity, time, heterogeneous)
        if heterogeneous:
            alpha = pd.Series(
                fit.params.to_numpy(), index=[s[len("alpha["):-1] for s in fit.params.index]
            )
            keys = d[entity].astype(str)
            aK = keys.map(alpha).to_numpy(float)
        else:
            aK = np.full(len(d), float(fit.params["alpha"]))
    else:
        aK = _per_obs(alpha, d, entity, "alpha")
    aL = 1.0 - aK if beta is None else _per_obs(beta, d, entity, "beta")

    Y, K, L = (d[c].to_numpy(float) for c in (output, capital, labour))
    grp = d.groupby(time, sort=False)
    tot = lambda v: grp[v.name].transform("sum").to_numpy()  # noqa: E731
    d["_sK"], d["_sL"] = Y * aK, Y * aL
    s = Y / tot(d[output])
    bK = tot(d["_sK"]) / tot(d[output])
    bL = tot(d["_sL"]) / tot(d[output])
    gK = (K / tot(d[capital])) / (s * aK / bK)
    gL = (L / tot(d[labour])) / (s * aL / bL)
    out = pd.DataFrame(
        {"beta_K": aK, "beta_L": aL, "gamma_K": gK, "gamma_L": gL,
         "tau_K": 1.0 / gK - 1.0, "tau_L": 1.0 / gL - 1.0},
        index=pd.MultiIndex.from_frame(d[[entity, time]]),
    )
    return out


