"""Tests of the seed-000 index builders (analysis/indices.py)."""

import numpy as np
import pandas as pd
import pytest

from analysis.indices import df_quality, distortion_indices, factor_elasticities, pca_index


# ---------------------------------------------------------------- distortions
def test_distortion_hand_computed():
    # one year, alpha = 0.4 everywhere: s = (1/6, 1/3, 1/2), beta_K = 0.4, so the efficient
    # capital share equals s; actual shares 50/400, 100/400, 250/400 -> gamma = 0.75, 0.75, 1.25
    df = pd.DataFrame({"p": ["a", "b", "c"], "year": 2020, "Y": [100.0, 200, 300],
                       "K": [50.0, 100, 250], "L": [10.0, 10, 10]})
    out = distortion_indices(df, "Y", "K", "L", alpha=0.4, entity="p", time="year")
    assert np.allclose(out["gamma_K"], [0.75, 0.75, 1.25])
    assert np.allclose(out["tau_K"], [1 / 0.75 - 1, 1 / 0.75 - 1, 1 / 1.25 - 1])
    # labour: equal L, beta_L = 0.6 -> gamma_L = (1/3) / s = 2, 1, 2/3
    assert np.allclose(out["gamma_L"], [2.0, 1.0, 2 / 3])
    assert np.allclose(out["beta_L"], 0.6)
    # output-weighted factor shares: sum_i s_i beta_i gamma_i / beta = sum_i K_i / K = 1
    s = np.array([1, 2, 3]) / 6
    assert np.isclose(np.sum(s * out["gamma_K"]), 1.0)


def _wedge_economy(rng, N=30, T=8, hetero=True, normalise=True):
    """Regions choose K, L from FOCs alpha_i Y_i / K_i = (1 + tau_K) r_t, beta_i Y_i / L_i = (1 + tau_L) w_t.

    Any positive Y_i is consistent with Y = A K^alpha L^beta for A_i = Y_i / (K^alpha L^beta).
    With ``normalise`` the wedges are scaled so that the factor-share-weighted harmonic mean
    of 1 + tau is one, i.e. the market rental equals the undistorted one.
    """
    alpha = pd.Series(rng.uniform(0.3, 0.5, N) if hetero else np.full(N, 0.4), index=range(N))
    beta = pd.Series(rng.uniform(0.4, 0.6, N), index=range(N))
    rows = []
    for year in range(2015, 2015 + T):
        Y = np.exp(rng.normal(5, 1, N))
        tK = np.exp(rng.normal(0, 0.3, N)) - 1
        tL = np.exp(rng.normal(0, 0.3, N)) - 1
        if normalise:
            wK = alpha * Y / np.sum(alpha * Y)
            wL = beta * Y / np.sum(beta * Y)
            tK = (1 + tK) / np.sum(wK / (1 + tK)) ** -1 - 1
            tL = (1 + tL) / np.sum(wL / (1 + tL)) ** -1 - 1
        r, w = rng.uniform(0.05, 0.2), rng.uniform(1, 3)
        K = alpha * Y / ((1 + tK) * r)
        L = beta * Y / ((1 + tL) * w)
        rows.append(pd.DataFrame({"prov": range(N), "year": year, "Y": Y, "K": K, "L": L,
                                  "tauK": tK, "tauL": tL}))
    return pd.concat(rows, ignore_index=True), alpha, beta


def test_distortion_recovers_known_wedges():
    rng = np.random.default_rng(3)
    df, alpha, beta = _wedge_economy(rng)
    out = distortion_indices(df, "Y", "K", "L", alpha=alpha, beta=beta, entity="prov", time="year")
    truth = df.set_index(["prov", "year"]).loc[out.index]
    assert np.allclose(out["tau_K"], truth["tauK"], rtol=1e-10, atol=1e-12)
    assert np.allclose(out["tau_L"], truth["tauL"], rtol=1e-10, atol=1e-12)


def test_distortion_relative_wedges_without_normalisation():
    rng = np.random.default_rng(4)
    df, alpha, beta = _wedge_economy(rng, normalise=False)
    out = distortion_indices(df, "Y", "K", "L", alpha=alpha, beta=beta, entity="prov", time="year")
    truth = df.set_index(["prov", "year"]).loc[out.index]
    # only relative wedges are identified: (1 + tau_i) / (1 + tau_j) is recovered within each year
    for _, g in out.groupby(level="year"):
        t = truth.loc[g.index]
        ratio_hat = (1 + g["tau_K"]) / (1 + g["tau_K"].iloc[0])
        ratio = (1 + t["tauK"]) / (1 + t["tauK"].iloc[0])
        assert np.allclose(ratio_hat, ratio, rtol=1e-10)


def test_no_wedges_gives_unit_gamma():
    rng = np.random.default_rng(5)
    N = 12
    Y = np.exp(rng.normal(3, 1, N))
    a = rng.uniform(0.2, 0.6, N)
    df = pd.DataFrame({"prov": range(N), "year": 2020, "Y": Y, "K": a * Y / 0.1, "L": (1 - a) * Y / 2.0,
                       "a": a})
    out = distortion_indices(df, "Y", "K", "L", alpha="a", entity="prov", time="year")
    assert np.allclose(out[["gamma_K", "gamma_L"]], 1.0) and np.allclose(out[["tau_K", "tau_L"]], 0.0, atol=1e-12)


def _crs_panel(rng, N=30, T=15, alpha=0.35, hetero=False):
    ent = np.repeat(np.arange(N), T)
    yr = np.tile(np.arange(2008, 2008 + T), N)
    a = rng.uniform(0.25, 0.5, N)[ent] if hetero else np.full(N * T, alpha)
    lnL = rng.normal(4, 1, N)[ent] + rng.normal(0, 0.1, N * T)
    lnk = rng.normal(1, 0.5, N)[ent] + 0.08 * (yr - 2008) + rng.normal(0, 0.3, N * T)
    lnA = rng.normal(0, 0.3, N)[ent] + 0.02 * (yr - 2008) + rng.normal(0, 0.05, N * T)
    lnY = lnA + lnL + a * lnk
    df = pd.DataFrame({"prov": ent, "year": yr, "Y": np.exp(lnY), "K": np.exp(lnL + lnk), "L": np.exp(lnL)})
    return df, a


def test_elasticity_estimation_and_estimated_alpha():
    rng = np.random.default_rng(6)
    df, _ = _crs_panel(rng)
    fit = factor_elasticities(df, "Y", "K", "L", entity="prov", time="year")
    z = (fit.params["alpha"] - 0.35) / fit.std_errors["alpha"]
    assert abs(z) < 3, f"alpha {fit.params['alpha']:.4f} is {z:.2f} SE from 0.35 (tol 3 SE)"
    out = distortion_indices(df, "Y", "K", "L", entity="prov", time="year")
    ref = distortion_indices(df, "Y", "K", "L", alpha=float(fit.params["alpha"]), entity="prov", time="year")
    assert np.allclose(out, ref)
    assert np.allclose(out["beta_L"], 1 - out["beta_K"])


def test_heterogeneous_elasticities():
    rng = np.random.default_rng(7)
    df, a = _crs_panel(rng, hetero=True)
    fit = factor_elasticities(df, "Y", "K", "L", entity="prov", time="year", heterogeneous=True)
    truth = a[::15]
    z = (fit.params.to_numpy() - truth) / fit.std_errors.to_numpy()
    assert np.mean(np.abs(z) < 1.96) >= 0.8, f"only {np.mean(np.abs(z) < 1.96):.2f} of alpha_i within 1.96 SE"
    assert np.max(np.abs(z)) < 4.5
    out = distortion_indices(df, "Y", "K", "L", entity="prov", time="year", heterogeneous=True)
    est = out["beta_K"].groupby(level="prov").first().to_numpy()
    assert np.allclose(est, fit.params.to_numpy())


# ---------------------------------------------------------------- PCA
def test_pca_matches_eigendecomposition():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5)) + rng.normal(0, 3, 5)
    df = pd.DataFrame(X, columns=list("abcde"))
    for std in (True, False):
        scores, res = pca_index(df, list("abcde"), standardise=std)
        C = np.corrcoef(X, rowvar=False) if std else np.cov(X, rowvar=False)
        lam, V = np.linalg.eigh(C)
        v = V[:, -1] * np.sign(V[:, -1].sum())
        assert np.allclose(res.loadings.to_numpy(), v, atol=1e-10)
        assert res.loadings.sum() > 0 and np.isclose(np.linalg.norm(res.loadings), 1.0)
        assert np.isclose(res.explained_variance_ratio, lam[-1] / lam.sum())
        Z = (X - X.mean(0)) / (X.std(0, ddof=1) if std else 1.0)
        assert np.allclose(scores.to_numpy(), Z @ v)
        assert np.isclose(scores.var(ddof=1), lam[-1]) and abs(scores.mean()) < 1e-10


def test_pca_recovers_latent_factor_and_handles_missing():
    rng = np.random.default_rng(9)
    n = 450
    f = rng.normal(size=n)
    load = np.array([1.0, 0.8, 1.2, 0.6, -0.9])
    X = 10 + 3 * rng.uniform(0.5, 2, 5) * (f[:, None] * load + rng.normal(0, 0.5, (n, 5)))
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(5)])
    df.iloc[[3, 10], 2] = np.nan
    scores, res = pca_index(df, df.columns)
    ok = scores.notna()
    assert scores.isna().sum() == 2 and res.nobs == n - 2
    assert np.corrcoef(scores[ok], f[ok.to_numpy()])[0, 1] > 0.95
    assert res.loadings["x4"] < 0 < res.loadings["x0"]


# ---------------------------------------------------------------- DF quality
def test_df_quality_formula_and_switch():
    g4 = np.array([3000.0, 3000.0, 3000.0, 5000.0])
    g5 = np.array([500.0, 500.0, np.nan, 2000.0])
    yr = np.array([2018, 2019, 2017, 2022])
    out = df_quality(g4, g5, yr)
    expected = [
        np.log(55 * np.log(3000)),
        np.log(55 * np.log(3000) + 334 * np.log(500)),
        np.log(55 * np.log(3000)),
        np.log(55 * np.log(5000) + 334 * np.log(2000)),
    ]
    assert np.allclose(out, expected)
    assert out[1] > out[0]


def test_df_quality_series_and_invalid():
    idx = pd.MultiIndex.from_tuples([("bj", 2018), ("bj", 2019), ("sh", 2019)])
    g4 = pd.Series([1.0, 200.0, 300.0], index=idx)
    g5 = pd.Series([0.0, 0.0, 50.0], index=idx)
    yr = pd.Series([2018, 2019, 2019], index=idx)
    out = df_quality(g4, g5, yr)
    assert isinstance(out, pd.Series) and out.index.equals(idx)
    assert np.isnan(out.iloc[0])  # 55 ln 1 = 0 has no logarithm
    assert np.isnan(out.iloc[1])  # ln 0 5G users from 2019
    assert out.iloc[2] == pytest.approx(np.log(55 * np.log(300) + 334 * np.log(50)))
    assert np.allclose(df_quality(300.0, 50.0, [2018, 2019]),
                       [np.log(55 * np.log(300)), np.log(55 * np.log(300) + 334 * np.log(50))])
