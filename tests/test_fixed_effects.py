"""Two-way FE (analysis.fixed_effects) and the two-step mechanism test (analysis.mechanism)."""

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from linearmodels import PanelOLS

from analysis.designs.fe_panel import fe_panel as _panel
from analysis.fixed_effects import TwoWayFE
from analysis.mechanism import MechanismTest

ROOT = Path(__file__).resolve().parents[1]


def _dummy_ols(df, entity=True, time=True):
    parts = [df[["x1", "x2"]]]
    if entity:
        parts.append(pd.get_dummies(df["firm"], prefix="e", drop_first=True, dtype=float))
    if time:
        parts.append(pd.get_dummies(df["year"], prefix="t", drop_first=True, dtype=float))
    X = sm.add_constant(pd.concat(parts, axis=1))
    return sm.OLS(df["y"], X).fit()


@pytest.mark.parametrize("cluster", ["entity", "time", "both", None])
def test_equals_linearmodels_panelols(cluster):
    rng = np.random.default_rng(11)
    df = _panel(rng, drop=0.1)
    res = TwoWayFE(df, "y", ["x1", "x2"], "firm", "year", cluster=cluster, small_sample="linearmodels").fit()
    p = df.assign(firm=pd.factorize(df.firm, sort=True)[0]).set_index(["firm", "year"])
    mod = PanelOLS(p["y"], sm.add_constant(p[["x1", "x2"]]), entity_effects=True, time_effects=True)
    kw = {"cov_type": "robust"} if cluster is None else {
        "cov_type": "clustered", "group_debias": True,
        "cluster_entity": cluster in ("entity", "both"), "cluster_time": cluster in ("time", "both")}
    ref = mod.fit(debiased=True, **kw)
    np.testing.assert_allclose(res.params.values, ref.params.values, rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.std_errors[["x1", "x2"]].values, ref.std_errors[["x1", "x2"]].values,
                               rtol=1e-8, atol=0)
    assert res.nobs == ref.nobs


@pytest.mark.parametrize("drop", [0.0, 0.15])
def test_equals_dummy_variable_ols_with_cluster_robust_se(drop):
    """Within estimator = OLS with entity and year dummies (FWL); CRV1 SEs as statsmodels'.

    statsmodels' cluster covariance with use_correction=True scales by
    G/(G-1)·(N-1)/(N-K) with K counting every dummy; linearmodels counts both absorbed
    effects too when there are two of them, so the SEs agree exactly.
    """
    rng = np.random.default_rng(12)
    df = _panel(rng, drop=drop)
    res = TwoWayFE(df, "y", ["x1", "x2"], "firm", "year", cluster="entity", small_sample="linearmodels").fit()
    ols = _dummy_ols(df)
    groups = pd.factorize(df.firm)[0]
    rob = ols.get_robustcov_results(cov_type="cluster", groups=groups, use_correction=True)
    bse = pd.Series(rob.bse, index=ols.params.index)
    np.testing.assert_allclose(res.params[["x1", "x2"]], ols.params[["x1", "x2"]], rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.std_errors[["x1", "x2"]], bse[["x1", "x2"]], rtol=1e-8)
    assert res.stats["N clusters"] == df.firm.nunique()
    assert res.df_resid == df.firm.nunique() - 1
    np.testing.assert_allclose(res.stats["R2 inclusive"], ols.rsquared, rtol=1e-10)

    groups_t = pd.factorize(df.year)[0]
    res_t = TwoWayFE(df, "y", ["x1", "x2"], "firm", "year", cluster="time", small_sample="linearmodels").fit()
    rob_t = ols.get_robustcov_results(cov_type="cluster", groups=groups_t, use_correction=True)
    np.testing.assert_allclose(res_t.std_errors[["x1", "x2"]],
                               pd.Series(rob_t.bse, index=ols.params.index)[["x1", "x2"]], rtol=1e-8)


def test_one_way_nested_effect_not_counted():
    """Entity FE nested in entity clusters: linearmodels (like Stata xtreg) leaves the N_e-1
    dummies out of K, so SE = statsmodels dummy-OLS SE · sqrt((N-K_dummies)/(N-K))."""
    rng = np.random.default_rng(13)
    df = _panel(rng)
    res = TwoWayFE(df, "y", ["x1", "x2"], "firm", "year", time_effects=False).fit()
    ols = _dummy_ols(df, time=False)
    rob = ols.get_robustcov_results(cov_type="cluster", groups=pd.factorize(df.firm)[0], use_correction=True)
    n, k_all, k = len(df), ols.params.size, 3
    expected = pd.Series(rob.bse, index=ols.params.index)[["x1", "x2"]] * np.sqrt((n - k_all) / (n - k))
    np.testing.assert_allclose(res.std_errors[["x1", "x2"]], expected, rtol=1e-8)
    res_c = TwoWayFE(df, "y", ["x1", "x2"], "firm", "year", time_effects=False, count_effects=True).fit()
    np.testing.assert_allclose(res_c.std_errors[["x1", "x2"]],
                               pd.Series(rob.bse, index=ols.params.index)[["x1", "x2"]], rtol=1e-8)


def _pyfixest_fe(*names):
    """Fixed-effects part of a pyfixest formula in the order pyfixest 0.60 itself uses.

    pyfixest 0.60 builds the effect columns from a ``set`` of the names but labels them in
    formula order, so with the Python hash seed its nesting check can test the wrong
    effect (seen as K = 3 instead of 9 here). Writing the names in the set's own iteration
    order makes labels and columns agree whatever the hash seed.
    """
    return " + ".join(set(names))


@pytest.mark.parametrize("effects", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("cluster", ["entity", "time", "both", "ind", None])
def test_default_se_equal_pyfixest_default(effects, cluster):
    """Default small_sample='fixest': coefficients, SEs and t df equal pyfixest's feols defaults
    (CRV1 with G/(G-1)(N-1)/(N-K), K without the effects nested in the clusters; HC1 otherwise)."""
    import pyfixest as pf

    rng = np.random.default_rng(18)
    df = _panel(rng, drop=0.1)
    df["e"] = pd.factorize(df["firm"])[0]
    ee, te = effects
    fes = [v for v, on in (("e", ee), ("year", te)) if on]
    fml = "y ~ x1 + x2" + (f" | {_pyfixest_fe(*fes)}" if fes else "")
    vcov = {"entity": {"CRV1": "e"}, "time": {"CRV1": "year"}, "both": {"CRV1": "e+year"},
            "ind": {"CRV1": "ind"}, None: "hetero"}[cluster]
    ref = pf.feols(fml, df, vcov=vcov)
    res = TwoWayFE(df, "y", ["x1", "x2"], "firm", "year", entity_effects=ee, time_effects=te, cluster=cluster).fit()
    names = ["x1", "x2"]
    np.testing.assert_allclose(res.params[names].to_numpy(), ref.coef()[names].to_numpy(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.std_errors[names].to_numpy(), ref.se()[names].to_numpy(), rtol=1e-6)
    assert res.df_resid == float(ref._df_t)
    if cluster == "entity" and ee:
        lm = TwoWayFE(df, "y", ["x1", "x2"], "firm", "year", entity_effects=ee, time_effects=te,
                      small_sample="linearmodels").fit()
        if te:
            assert (lm.std_errors[names] > res.std_errors[names] * 1.01).all(), "linearmodels' rule counts the nested effects"


def test_small_sample_none_is_cr0():
    import pyfixest as pf

    rng = np.random.default_rng(19)
    df = _panel(rng, drop=0.1)
    df["e"] = pd.factorize(df["firm"])[0]
    ref = pf.feols(f"y ~ x1 + x2 | {_pyfixest_fe('e', 'year')}", df, vcov={"CRV1": "e"},
                   ssc=pf.ssc(k_adj=False, G_adj=False))
    res = TwoWayFE(df, "y", ["x1", "x2"], "firm", "year", small_sample="none").fit()
    np.testing.assert_allclose(res.std_errors[["x1", "x2"]].to_numpy(), ref.se().to_numpy(), rtol=1e-6)


def test_pooled_equals_statsmodels_hc1():
    rng = np.random.default_rng(14)
    df = _panel(rng)
    res = TwoWayFE.pooled(df, "y", ["x1", "x2"], "firm", "year", cluster=None).fit()
    ols = sm.OLS(df["y"], sm.add_constant(df[["x1", "x2"]])).fit(cov_type="HC1")
    np.testing.assert_allclose(res.params.values, ols.params.values, atol=1e-8)
    np.testing.assert_allclose(res.std_errors.values, ols.bse.values, rtol=1e-8)
    np.testing.assert_allclose(res.stats["Adj. R2"], ols.rsquared_adj, rtol=1e-10)


def test_cluster_column_and_drop_absorbed():
    rng = np.random.default_rng(15)
    df = _panel(rng)
    df["size"] = df.groupby("firm")["x1"].transform("mean")
    res = TwoWayFE(df, "y", ["x1", "x2", "size"], "firm", "year", cluster="ind", drop_absorbed=True,
                   small_sample="linearmodels").fit()
    assert "size" not in res.params.index
    ols = _dummy_ols(df)
    rob = ols.get_robustcov_results(cov_type="cluster", groups=df["ind"].to_numpy(), use_correction=True)
    np.testing.assert_allclose(res.std_errors[["x1", "x2"]],
                               pd.Series(rob.bse, index=ols.params.index)[["x1", "x2"]], rtol=1e-8)
    assert res.stats["N clusters"] == 5


def test_known_truth_recovery():
    rng = np.random.default_rng(16)
    beta = (0.5, -0.3)
    df = _panel(rng, n_ent=400, n_t=7, beta=beta)
    res = TwoWayFE(df, "y", ["x1", "x2"], "firm", "year").fit()
    for name, b in zip(["x1", "x2"], beta):
        z = (res.params[name] - b) / res.std_errors[name]
        assert abs(z) < 2, f"{name}: estimate {res.params[name]:.4f} vs truth {b} is {z:.2f} SE away (tol 2 SE)"
    pooled = TwoWayFE.pooled(df, "y", ["x1", "x2"], "firm", "year").fit()
    assert abs(pooled.params["x1"] - beta[0]) / pooled.std_errors["x1"] > 2, "pooled OLS should be biased here"


def test_cluster_ci_coverage():
    rng = np.random.default_rng(17)
    reps, hits = 200, 0
    for _ in range(reps):
        df = _panel(rng, n_ent=40, n_t=6, rho=0.7)
        ci = TwoWayFE(df, "y", ["x1", "x2"], "firm", "year").fit().conf_int().loc["x1"]
        hits += ci["lower"] <= 0.5 <= ci["upper"]
    cov = hits / reps
    assert 0.90 <= cov <= 0.99, f"95% CI coverage {cov:.3f} outside [0.90, 0.99] over {reps} draws"


# ----------------------------------------------------------------------------- mechanism

def _mediation(rng, n_ent=150, n_t=6, a=0.6, b=0.4, c=0.3):
    e = np.repeat(np.arange(n_ent), n_t)
    t = np.tile(np.arange(n_t), n_ent)
    fe_e, fe_t = rng.normal(size=n_ent), rng.normal(size=n_t)
    x = rng.normal(size=e.size)
    d = 0.7 * fe_e[e] + 0.3 * fe_t[t] + rng.normal(size=e.size)
    m = a * d + 0.2 * x + fe_e[e] - fe_t[t] + rng.normal(size=e.size)
    y = c * d + b * m - 0.1 * x + 0.5 * fe_e[e] + fe_t[t] + rng.normal(size=e.size)
    return pd.DataFrame({"firm": e, "year": t, "D": d, "M": m, "Y": y, "X": x})


def test_mechanism_recovers_paths_and_identity():
    rng = np.random.default_rng(21)
    a, b, c = 0.6, 0.4, 0.3
    df = _mediation(rng, n_ent=300, a=a, b=b, c=c)
    df.loc[rng.choice(len(df), 40, replace=False), "M"] = np.nan
    res = MechanismTest(df, "Y", "D", "M", "firm", "year", controls=["X"]).fit()
    for name, truth in {"a": a, "b": b, "direct": c, "indirect": a * b, "total": c + a * b}.items():
        z = (res.params[name] - truth) / res.std_errors[name]
        assert abs(z) < 2, f"{name}: {res.params[name]:.4f} vs truth {truth} is {z:.2f} SE away (tol 2 SE)"
    np.testing.assert_allclose(res.params["total"], res.params["direct"] + res.params["indirect"], atol=1e-10)
    step1 = TwoWayFE(df.dropna(), "M", ["D", "X"], "firm", "year").fit()
    np.testing.assert_allclose(res.extra["step1"].params.values, step1.params.values, atol=1e-12)
    se = np.hypot(res.params["b"] * res.std_errors["a"], res.params["a"] * res.std_errors["b"])
    np.testing.assert_allclose(res.std_errors["indirect"], se, rtol=1e-12)
    assert res.stats["Sobel p"] < 0.01


def test_sobel_se_matches_monte_carlo_spread():
    rng = np.random.default_rng(22)
    ab, se = [], []
    for _ in range(30):
        r = MechanismTest(_mediation(rng, n_ent=60), "Y", "D", "M", "firm", "year", controls=["X"]).fit()
        ab.append(r.params["indirect"])
        se.append(r.std_errors["indirect"])
    ratio = np.mean(se) / np.std(ab, ddof=1)
    assert 0.75 < ratio < 1.33, f"mean Sobel SE / Monte Carlo SD of a*b = {ratio:.3f}, outside [0.75, 1.33]"
    z = (np.mean(ab) - 0.24) / (np.std(ab, ddof=1) / np.sqrt(len(ab)))
    assert abs(z) < 3, f"mean a*b {np.mean(ab):.4f} vs 0.24 is {z:.2f} MC SE away (tol 3)"


def test_unbalanced_demeaning_leaves_the_root_logger_alone():
    """pyfixest configures the root logger at INFO when imported; the engine undoes it, so a simulation
    in the same process does not print every Mesa step."""
    code = ("import logging; import numpy as np; from analysis.fixed_effects import group_demean; "
            "e = np.array([0, 0, 1, 1, 1]); t = np.array([0, 1, 0, 1, 2]); "
            "out = group_demean(np.arange(5.0)[:, None], [e, t]); "
            "r = logging.getLogger(); print(r.level, len(r.handlers), abs(out).sum() > 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert res.stdout.split() == [str(logging.WARNING), "0", "True"]
