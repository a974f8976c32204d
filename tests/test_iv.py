"""2SLS, Bartik instrument and Kleibergen–Paap statistics (analysis.iv)."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from linearmodels import IV2SLS as LMIV2SLS
from scipy import linalg

from analysis.designs.bartik import iv_panel as _data
from analysis.iv import IV2SLS, bartik_instrument, kleibergen_paap


def _lm_fit(df, exog_cols, cluster=None, robust=True, dummies=()):
    X = sm.add_constant(df[exog_cols])
    for c in dummies:
        X = pd.concat([X, pd.get_dummies(df[c], prefix=c, drop_first=True, dtype=float)], axis=1)
    mod = LMIV2SLS(df["y"], X, df[["d"]], df[["z1", "z2"]])
    if cluster:
        return mod.fit(cov_type="clustered", clusters=pd.factorize(df[cluster])[0], debiased=True), X
    return mod.fit(cov_type="robust" if robust else "unadjusted", debiased=True), X


@pytest.mark.parametrize("cov", ["cluster", "robust", "unadjusted"])
def test_second_stage_equals_linearmodels(cov):
    rng = np.random.default_rng(1)
    df = _data(rng, fe=False)
    kw = {"cluster": "firm"} if cov == "cluster" else {"robust": cov == "robust"}
    res = IV2SLS(df, "y", "d", ["z1", "z2"], ["w"], **kw).fit()
    ref, _ = _lm_fit(df, ["w"], cluster="firm" if cov == "cluster" else None, robust=cov == "robust")
    np.testing.assert_allclose(res.params[ref.params.index], ref.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.std_errors[ref.params.index], ref.std_errors, rtol=1e-8)
    fs = res.extra["first_stage"]
    fref = sm.OLS(df["d"], sm.add_constant(df[["w", "z1", "z2"]])).fit()
    np.testing.assert_allclose(fs.params[fref.params.index], fref.params, atol=1e-8)


def test_absorbed_two_way_effects_equal_dummy_2sls():
    """Within-transformed 2SLS = 2SLS with firm and year dummies (FWL). With firm clusters the
    firm effects are nested and not counted (as ivreghdfe), so our SE = reference SE ·
    sqrt((N - K_ref) / (N - K - a)), K_ref counting every dummy, a = 1 + (T - 1)."""
    rng = np.random.default_rng(2)
    df = _data(rng)
    df = df.drop(index=rng.choice(len(df), 60, replace=False)).reset_index(drop=True)
    res = IV2SLS(df, "y", "d", ["z1", "z2"], ["w"], entity="firm", time="year",
                 entity_effects=True, time_effects=True, cluster="firm").fit()
    ref, X = _lm_fit(df, ["w"], cluster="firm", dummies=("firm", "year"))
    names = ["d", "w"]
    np.testing.assert_allclose(res.params[names], ref.params[names], rtol=0, atol=1e-8)
    n, k_ref, k, a = len(df), X.shape[1] + 1, 2, 1 + df.year.nunique() - 1
    np.testing.assert_allclose(res.std_errors[names], ref.std_errors[names] * np.sqrt((n - k_ref) / (n - k - a)),
                               rtol=1e-8)
    dm = IV2SLS(df, "y", "d", ["z1", "z2"], ["w"], entity="firm", time="year", entity_effects=True,
                time_effects=True, cluster="firm", absorb="dummies").fit()
    np.testing.assert_allclose(dm.std_errors[names], ref.std_errors[names], rtol=1e-8)


def _cragg_donald_anderson(df, endog, instr, exog):
    """Stock–Yogo / Anderson definitions from the partialled matrices (independent of analysis.iv)."""
    X2 = sm.add_constant(df[exog]).to_numpy()
    M = lambda A: A - X2 @ np.linalg.lstsq(X2, A, rcond=None)[0]  # noqa: E731
    Xt, Zt = M(df[endog].to_numpy()), M(df[instr].to_numpy())
    N, L1, L = len(df), len(instr), len(instr) + X2.shape[1]
    PX = Zt @ np.linalg.solve(Zt.T @ Zt, Zt.T @ Xt)
    Svv = (Xt - PX).T @ (Xt - PX) / (N - L)
    Si = linalg.inv(linalg.sqrtm(Svv)).real
    cd = np.linalg.eigvalsh(Si @ (Xt.T @ PX) @ Si).min() / L1
    anderson = N * np.linalg.eigvals(np.linalg.solve(Xt.T @ Xt, Xt.T @ PX)).real.min()
    return cd, anderson


@pytest.mark.parametrize("k1", [1, 2])
def test_homoskedastic_kp_equals_cragg_donald_and_anderson(k1):
    """Homoskedastic VCE: rk Wald F = Cragg–Donald F with ivreg2's (N - L)/L1 scaling
    (L = all instruments incl. constant) and rk LM = Anderson N·min eigenvalue, exactly."""
    rng = np.random.default_rng(3)
    df = _data(rng, fe=False, hetero=False)
    df["d2"] = 0.4 * df.z2 - 0.3 * df.z1 + rng.normal(size=len(df)) + 0.3 * df.y
    df["z3"] = rng.normal(size=len(df))
    df["d2"] += 0.5 * df.z3
    endog = ["d", "d2"][:k1]
    instr = ["z1", "z2", "z3"]
    res = IV2SLS(df, "y", endog, instr, ["w"], robust=False).fit()
    cd, anderson = _cragg_donald_anderson(df, endog, instr, ["w"])
    np.testing.assert_allclose(res.stats["KP rk Wald F"], cd, rtol=1e-8)
    np.testing.assert_allclose(res.stats["KP rk LM"], anderson, rtol=1e-8)
    assert res.stats["KP rk LM df"] == len(instr) - k1 + 1
    if k1 == 1:
        np.testing.assert_allclose(res.stats["First-stage F"], cd, rtol=1e-8)


def test_robust_kp_close_to_cd_under_homoskedasticity():
    rng = np.random.default_rng(4)
    df = _data(rng, n_ent=4000, n_t=5, pi=(0.05, 0.03), fe=False, hetero=False)
    res = IV2SLS(df, "y", "d", ["z1", "z2"], ["w"]).fit()
    cd, anderson = _cragg_donald_anderson(df, ["d"], ["z1", "z2"], ["w"])
    assert abs(res.stats["KP rk Wald F"] / cd - 1) < 0.05, (res.stats["KP rk Wald F"], cd)
    assert abs(res.stats["KP rk LM"] / anderson - 1) < 0.05, (res.stats["KP rk LM"], anderson)


@pytest.mark.parametrize("absorb", [None, "dummies", "demean"])
def test_cluster_kp_equals_first_stage_f_and_score_formula(absorb):
    """One endogenous regressor: rk Wald F = cluster-robust first-stage F on the excluded
    instruments (statsmodels CRV1, G/(G-1)·(N-1)/(N-K); with demeaned effects K excludes the
    firm effects nested in the clusters, so F = F_sm·(N-L-a)/(N-K_sm)); rk LM = the cluster score statistic
    (Z'x)' [sum_g s_g s_g']^-1 (Z'x), s_g = sum_(i in g) z_i x_i, on partialled data."""
    rng = np.random.default_rng(5)
    df = _data(rng, n_ent=80, pi=(0.15, 0.1))
    fe = {} if absorb is None else dict(entity="firm", time="year", entity_effects=True, time_effects=True,
                                        absorb=absorb)
    res = IV2SLS(df, "y", "d", ["z1", "z2"], ["w"], cluster="firm", **fe).fit()
    X = sm.add_constant(df[["w"]])
    if absorb is not None:
        X = pd.concat([X] + [pd.get_dummies(df[c], prefix=c, drop_first=True, dtype=float)
                             for c in ("firm", "year")], axis=1)
    g = pd.factorize(df.firm)[0]
    fs = sm.OLS(df["d"], pd.concat([X, df[["z1", "z2"]]], axis=1)).fit(
        cov_type="cluster", cov_kwds={"groups": g, "use_correction": True})
    F = float(fs.f_test("z1 = 0, z2 = 0").fvalue)
    n, G = len(df), df.firm.nunique()
    if absorb == "demean":
        F *= (n - 3 - (1 + df.year.nunique() - 1)) / (n - X.shape[1] - 2)
    np.testing.assert_allclose(res.stats["KP rk Wald F"], F, rtol=1e-7)
    np.testing.assert_allclose(res.stats["First-stage F"], res.stats["KP rk Wald F"], rtol=1e-10)
    Xn = X.to_numpy()
    part = lambda A: A - Xn @ np.linalg.lstsq(Xn, A, rcond=None)[0]  # noqa: E731
    xt, Zt = part(df[["d"]].to_numpy()), part(df[["z1", "z2"]].to_numpy())
    s = np.zeros((G, 2))
    np.add.at(s, g, Zt * xt)
    score = Zt.T @ xt[:, 0]
    lm = score @ np.linalg.solve(s.T @ s, score)
    np.testing.assert_allclose(res.stats["KP rk LM"], lm, rtol=1e-7)


def test_kp_invariance_two_endogenous():
    """The rk statistics are invariant to reordering the endogenous variables and to
    non-singular linear transformations of the instruments."""
    rng = np.random.default_rng(6)
    n = 600
    Z = rng.normal(size=(n, 3))
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Y = Z @ np.array([[0.3, 0.1], [0.0, 0.2], [0.1, -0.1]]) + rng.normal(size=(n, 2)) * (1 + np.abs(Z[:, :1]))
    cl = np.repeat(np.arange(100), 6)
    A = rng.normal(size=(3, 3)) + 3 * np.eye(3)
    for cov in ("robust", "cluster"):
        k0 = kleibergen_paap(Y, Z, X, cov=cov, clusters=cl)
        k1 = kleibergen_paap(Y[:, ::-1] * [2.0, -0.5], Z @ A, X, cov=cov, clusters=cl)
        for key in ("rk LM", "rk Wald F"):
            np.testing.assert_allclose(k0[key], k1[key], rtol=1e-8, err_msg=f"{cov} {key}")


def test_known_truth_recovery_strong_instrument():
    rng = np.random.default_rng(7)
    df = _data(rng, n_ent=500)
    res = IV2SLS(df, "y", "d", ["z1", "z2"], ["w"], entity="firm", time="year",
                 entity_effects=True, time_effects=True, cluster="firm").fit()
    z = (res.params["d"] - 0.7) / res.std_errors["d"]
    assert abs(z) < 2, f"2SLS {res.params['d']:.4f} vs truth 0.7 is {z:.2f} SE away (tol 2 SE)"
    zw = (res.params["w"] + 0.3) / res.std_errors["w"]
    assert abs(zw) < 2, f"w: {res.params['w']:.4f} vs truth -0.3 is {zw:.2f} SE away (tol 2 SE)"
    assert res.stats["KP rk LM p"] < 1e-6 and res.stats["KP rk Wald F"] > 100


def test_kp_lm_rejection_rates():
    rng = np.random.default_rng(8)
    strong, null, reps = 0, 0, 200
    for r in range(reps):
        df = _data(rng, n_ent=100, n_t=4, pi=(0.0, 0.0) if r % 2 else (0.5, 0.3))
        p = IV2SLS(df, "y", "d", ["z1", "z2"], ["w"], entity="firm", time="year",
                   entity_effects=True, time_effects=True, cluster="firm").fit().stats["KP rk LM p"]
        if r % 2:
            null += p < 0.05
        else:
            strong += p < 0.05
    half = reps // 2
    assert strong / half >= 0.95, f"KP LM rejects a relevant instrument in only {strong / half:.2f} of draws"
    assert 0.01 <= null / half <= 0.10, f"KP LM rejection rate {null / half:.3f} under H0 (nominal 0.05)"


def _bartik_loop(df, treat, industry, time, entity, growth):
    years = sorted(df[time].unique())
    prev = {y: years[i - 1] for i, y in enumerate(years) if i > 0}
    agg = df.groupby(time)[treat].mean()
    out = []
    for r in df.itertuples():
        t = getattr(r, time)
        if t not in prev:
            out.append(np.nan)
            continue
        lag = df[(df[time] == prev[t]) & (df[industry] == getattr(r, industry)) & (df[entity] != getattr(r, entity))]
        g = agg[t] / agg[prev[t]] - 1
        out.append(lag[treat].mean() * (g if growth == "rate" else 1 + g) if len(lag) else np.nan)
    return np.array(out)


@pytest.mark.parametrize("growth", ["rate", "gross"])
def test_bartik_matches_brute_force(growth):
    rng = np.random.default_rng(9)
    n_f, years = 60, np.arange(2017, 2024)
    df = pd.DataFrame({"firm": np.repeat(np.arange(n_f), len(years)), "year": np.tile(years, n_f)})
    df["ind"] = np.repeat(rng.integers(0, 6, n_f), len(years))
    p = 0.1 + 0.08 * (df.year - 2017) + 0.05 * df.ind
    df["IDC"] = (rng.uniform(size=len(df)) < p).astype(float)
    df = df.drop(index=rng.choice(len(df), 30, replace=False)).sample(frac=1.0, random_state=1)
    z = bartik_instrument(df, "IDC", "ind", "year", "firm", growth=growth)
    ref = _bartik_loop(df, "IDC", "ind", "year", "firm", growth)
    np.testing.assert_allclose(z.to_numpy(), ref, rtol=1e-12, equal_nan=True)
    assert z.index.equals(df.index)
    assert z[df.year == 2017].isna().all() and z[df.year > 2017].notna().all()


@pytest.mark.parametrize("fe", [False, True])
def test_coefficients_without_linearmodels_equal_the_fit(fe):
    """``coefficients`` (least squares on the instrument-fitted regressors) gives the fit's point estimates,
    with absorbed two-way effects or a constant, and the rows used."""
    rng = np.random.default_rng(4)
    df = _data(rng, fe=fe)
    kw = dict(entity="firm", time="year", entity_effects=True, time_effects=True) if fe else {}
    m = IV2SLS(df, "y", "d", ["z1", "z2"], ["w"], cluster="firm", **kw)
    params, n = m.coefficients()
    res = m.fit()
    pd.testing.assert_series_equal(params, res.params, check_exact=False, rtol=1e-10, atol=1e-12,
                                   check_names=False)
    assert n == res.nobs
