"""Tests of the panel stochastic frontier (analysis/sfa.py) on simulated panels."""

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from analysis.designs.sfa_bc92 import TL, TL_NAMES, panel, translog
from analysis.sfa import PanelSFA


def test_loglik_equals_numerical_integration():
    rng = np.random.default_rng(11)
    df, _ = panel(rng, 40, 5, lambda k, l, t: 1.0 + 0.6 * k + 0.3 * l, su=0.5, sv=0.25)
    df = df.sample(frac=0.85, random_state=1)  # unbalanced, unsorted
    res = PanelSFA(df, "y", ["K", "L"], "id", "year", form="cobb-douglas", trend=False,
                   inefficiency="half-normal", take_logs=False).fit()
    p = res.params
    su2, sv2 = p["gamma"] * p["sigma2"], (1 - p["gamma"]) * p["sigma2"]
    su, sv = np.sqrt(su2), np.sqrt(sv2)
    e = df["y"] - p["const"] - p["K"] * df["K"] - p["L"] * df["L"]
    total = 0.0
    for _, ei in e.groupby(df["id"]):
        ei = ei.to_numpy()

        def logf(u):
            return (stats.norm.logpdf(ei + u, scale=sv).sum()
                    + np.log(2.0) + stats.norm.logpdf(u, scale=su))

        mode = optimize.minimize_scalar(lambda u: -logf(u), bounds=(0, 20 * su), method="bounded").x
        c = logf(mode)
        val, _ = integrate.quad(lambda u: np.exp(logf(u) - c), 0, 40 * su, points=[mode],
                                epsabs=0, epsrel=1e-12, limit=200)
        total += c + np.log(val)
    assert abs(res.stats["Log-likelihood"] - total) < 1e-6, (res.stats["Log-likelihood"], total)


def test_translog_bc92_recovery():
    rng = np.random.default_rng(2024)
    eta, su, sv = 0.05, 0.4, 0.2
    df, u = panel(rng, 300, 12, lambda k, l, t: translog(TL, k, l, t), eta=eta, su=su, sv=sv)
    res = PanelSFA(df, "y", ["K", "L"], "id", "year", form="translog", inefficiency="bc92",
                   take_logs=False).fit()
    truth = {TL_NAMES[k]: v for k, v in TL.items()}
    truth.update(eta=eta, sigma2=su**2 + sv**2, gamma=su**2 / (su**2 + sv**2))
    for name, val in truth.items():
        z = (res.params[name] - val) / res.std_errors[name]
        assert abs(z) < 3, f"{name}: estimate {res.params[name]:.4f}, truth {val}, {z:.2f} SE away (tol 3 SE)"
    te = res.efficiency()
    # E[E(exp(-u)|e)] = E[exp(-u)]: the predictor's mean matches the true mean efficiency
    true_te = np.exp(-u)
    sd_mean = true_te.reshape(300, 12).mean(1).std() / np.sqrt(300)
    assert abs(te.mean() - true_te.mean()) < 4 * sd_mean, (te.mean(), true_te.mean(), sd_mean)
    assert np.corrcoef(te, true_te)[0, 1] > 0.9


def test_efficiency_predictor_matches_quadrature():
    rng = np.random.default_rng(5)
    df, _ = panel(rng, 60, 6, lambda k, l, t: 1.0 + 0.5 * k + 0.4 * l + 0.02 * t,
                  eta=0.08, su=0.5, sv=0.2, mu=0.2)
    res = PanelSFA(df, "y", ["K", "L"], "id", "year", form="cobb-douglas", inefficiency="bc92",
                   mu=True, take_logs=False).fit()
    p = res.params
    su2, sv2 = p["gamma"] * p["sigma2"], (1 - p["gamma"]) * p["sigma2"]
    su, sv = np.sqrt(su2), np.sqrt(sv2)
    te = res.efficiency()
    for i in (0, 17, 42):
        d = df[df["id"] == i]
        e = (d["y"] - p["const"] - p["K"] * d["K"] - p["L"] * d["L"] - p["t"] * (d["year"] - 2007)).to_numpy()
        g = np.exp(-p["eta"] * ((d["year"] - 2007).to_numpy() - 6))

        def dens(ui):
            return np.exp(stats.norm.logpdf(e + g * ui, scale=sv).sum()
                          + stats.norm.logpdf(ui, loc=p["mu"], scale=su))

        den = integrate.quad(dens, 0, 30 * su, epsabs=0, epsrel=1e-11, limit=200)[0]
        for j in range(len(d)):
            num = integrate.quad(lambda ui: np.exp(-g[j] * ui) * dens(ui), 0, 30 * su,
                                 epsabs=0, epsrel=1e-11, limit=200)[0]
            assert abs(te[(i, d["year"].iloc[j])] - num / den) < 1e-8


@pytest.mark.parametrize(
    "ineff,mu,z", [("bc92", False, None), ("bc92", True, None), ("scaling", True, ["z"]),
                   ("scaling", False, ["z"]), ("half-normal", False, None), ("half-normal", True, None)],
)
def test_analytic_gradient(ineff, mu, z):
    rng = np.random.default_rng(7)
    df, _ = panel(rng, 50, 6, lambda k, l, t: translog(TL, k, l, t), eta=0.05, mu=0.1)
    mdl = PanelSFA(df, "y", ["K", "L"], "id", "year", inefficiency=ineff, z=z, mu=mu, take_logs=False)
    for _ in range(3):
        th = mdl.start_params() + rng.normal(0, 0.05, len(mdl.param_names))
        err = optimize.check_grad(mdl.loglike, mdl.score, th)
        rel = err / np.linalg.norm(mdl.score(th))
        assert rel < 1e-5, f"{ineff}, mu={mu}: relative gradient error {rel:.2e}"


def test_scaling_model_recovery():
    rng = np.random.default_rng(99)
    delta, su, sv = 0.4, 0.35, 0.15
    df, _ = panel(rng, 300, 8, lambda k, l, t: 1.0 + 0.5 * k + 0.4 * l + 0.02 * t,
                  su=su, sv=sv, scale=delta)
    res = PanelSFA(df, "y", ["K", "L"], "id", "year", form="cobb-douglas", inefficiency="scaling",
                   z=["z"], take_logs=False).fit()
    truth = {"K": 0.5, "L": 0.4, "t": 0.02, "delta_z": delta, "sigma2": su**2 + sv**2,
             "gamma": su**2 / (su**2 + sv**2)}
    for name, val in truth.items():
        zs = (res.params[name] - val) / res.std_errors[name]
        assert abs(zs) < 3, f"{name}: {res.params[name]:.4f} vs {val}, {zs:.2f} SE (tol 3 SE)"


def test_slope_ci_coverage():
    rng = np.random.default_rng(314)
    reps, bK = 100, 0.6
    hits = 0
    for _ in range(reps):
        df, _ = panel(rng, 100, 5, lambda k, l, t: 1.0 + bK * k + 0.3 * l, su=0.4, sv=0.2)
        res = PanelSFA(df, "y", ["K", "L"], "id", "year", form="cobb-douglas", trend=False,
                       inefficiency="half-normal", take_logs=False).fit()
        ci = res.conf_int().loc["K"]
        hits += ci["lower"] <= bK <= ci["upper"]
    assert 0.90 <= hits / reps <= 0.99, f"coverage {hits / reps:.2f} of nominal 0.95 CIs"


def test_decomposition_known_dgp():
    rng = np.random.default_rng(8)
    # CRS translog (bK + bL = 1, bKK + bKL = bLL + bKL = bKt + bLt = 0), no inefficiency change
    b = dict(const=1.0, K=0.4, L=0.6, t=0.03, KK=-0.03, KL=0.03, Kt=0.004, LL=-0.03, Lt=-0.004, tt=-0.002)
    df, _ = panel(rng, 300, 10, lambda k, l, t: translog(b, k, l, t), eta=0.0, su=0.35, sv=0.15,
                  xnoise=0.1)
    res = PanelSFA(df, "y", ["K", "L"], "id", "year", form="translog", inefficiency="bc92",
                   take_logs=False).fit()
    dec = res.decompose()
    ok = dec["TFP"].notna()
    assert np.allclose(dec.loc[ok, "TC"] + dec.loc[ok, "TE"] + dec.loc[ok, "TS"], dec.loc[ok, "TFP"],
                       atol=1e-14)
    lnte = np.log(res.efficiency())
    assert np.allclose(dec["TE"].dropna(), lnte.groupby(level=0).diff().dropna(), atol=1e-12)

    t = (df["year"] - 2007).to_numpy(float)
    tc_true = b["t"] + b["tt"] * t + b["Kt"] * df["K"].to_numpy() + b["Lt"] * df["L"].to_numpy()
    names = ["t", "0.5*t^2", "K*t", "L*t"]
    w = np.column_stack([np.ones_like(t), t, df["K"], df["L"]])
    V = res.cov.loc[names, names].to_numpy()
    se_tc = np.sqrt(np.einsum("ij,jk,ik->i", w, V, w))
    zmax = np.max(np.abs(dec["TC"].to_numpy() - tc_true) / se_tc)
    assert zmax < 4, f"TC path off by {zmax:.2f} SE at worst (tol 4 SE)"
    # eta = 0: dlnTE_it ~ -eta_hat E[u_i|e_i], so |TE| is bounded by 3 SE(eta) x max E[u|e] (10 % slack)
    assert abs(res.params["eta"]) < 3 * res.std_errors["eta"]
    te_tol = 1.1 * 3 * res.std_errors["eta"] * res.inefficiency().max()
    assert dec["TE"].abs().max() < te_tol, f"TE change {dec['TE'].abs().max():.4f} > {te_tol:.4f}"
    # CRS: true TS = 0; estimated TS = (RTS_hat - 1) x share-weighted input growth, RTS_hat within 4 SE of 1
    lk, ll = df["K"].to_numpy(), df["L"].to_numpy()
    rnames = ["K", "L", "0.5*K^2", "K*L", "0.5*L^2", "K*t", "L*t"]
    wr = np.column_stack([np.ones_like(t), np.ones_like(t), lk, lk + ll, ll, t, t])
    se_rts = np.sqrt(np.einsum("ij,jk,ik->i", wr, res.cov.loc[rnames, rnames].to_numpy(), wr))
    el = res.elasticities()
    assert np.allclose(el["RTS"], wr @ res.params[rnames].to_numpy())
    zr = np.abs(el["RTS"].to_numpy() - 1) / se_rts
    assert zr.max() < 4, f"RTS off 1 by {zr.max():.2f} SE at worst (tol 4 SE)"
    dx = df[["K", "L"]].groupby(df["id"]).diff().to_numpy()
    ts_hand = (el["RTS"] - 1).to_numpy() * (
        el["e_K"].to_numpy() * dx[:, 0] + el["e_L"].to_numpy() * dx[:, 1]) / el["RTS"].to_numpy()
    assert np.allclose(dec["TS"].to_numpy(), ts_hand, equal_nan=True, atol=1e-14)
    assert dec["TS"].abs().max() < 0.01, "TS should be ~0 (|.| < 0.01 log points) under CRS"
