"""Network VAR (analysis.nvar): recovery, coverage and agreement with a hand-built statsmodels design."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis.designs.nvar_spillover import TRUTH, geometric_W, simulate
from analysis.nvar import NVAR, network_lag, validate_weights


def hand_design(df, W, effects=None, interact=None):
    """Network term, lag and dummies built observation by observation (independent of analysis.nvar)."""
    ents = sorted(df.prov.unique())
    pos = {e: i for i, e in enumerate(ents)}
    xv = {(r.prov, r.year): r.x for r in df.itertuples()}
    yv = {(r.prov, r.year): r.y for r in df.itertuples()}
    net, lag = [], []
    for r in df.itertuples():
        i = pos[r.prov]
        tot, ok = 0.0, True
        for j, e in enumerate(ents):
            if W[i, j] != 0:
                if (e, r.year) not in xv:
                    ok = False
                    break
                tot += W[i, j] * xv[(e, r.year)]
        net.append(tot if ok else np.nan)
        lag.append(yv.get((r.prov, r.year - 1), np.nan))
    X = pd.DataFrame({"const": 1.0, "net": net, "lag": lag, "x": df.x.to_numpy(), "z": df.z.to_numpy()})
    if interact:
        X["Mnet"] = df[interact].to_numpy() * X["net"]
        X["M"] = df[interact].to_numpy()
        X = X.drop(columns="net")
    keep = X.notna().all(axis=1).to_numpy()
    X, kept = X.loc[keep].reset_index(drop=True), df.loc[keep].reset_index(drop=True)
    if effects in ("entity", "two-way"):
        X = pd.concat([X, pd.get_dummies(kept.prov, drop_first=True, dtype=float)], axis=1)
    if effects in ("time", "two-way"):
        X = pd.concat([X, pd.get_dummies(kept.year, prefix="y", drop_first=True, dtype=float)], axis=1)
    return kept.y.to_numpy(), X, pd.factorize(kept.prov)[0]


@pytest.mark.parametrize("effects", [None, "entity", "two-way"])
@pytest.mark.parametrize("cov", ["robust", "cluster"])
def test_agrees_with_statsmodels_on_hand_built_design(effects, cov):
    rng = np.random.default_rng(1)
    W = geometric_W(rng, 30, 0.4)
    df = simulate(rng, W, 15).sample(frac=1.0, random_state=3)
    res = NVAR(df, "y", "x", W, "prov", "year", controls=["z"], cov=cov, effects=effects, small_sample="full").fit()
    y, X, g = hand_design(df.reset_index(drop=True), W, effects)
    if cov == "robust":
        ref = sm.OLS(y, X).fit(cov_type="HC1")
    else:
        ref = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": g})
    names = {"beta1": "net", "beta2": "lag", "alpha": "x", "z": "z"}
    if effects is None:
        names["beta0"] = "const"
    for ours, theirs in names.items():
        np.testing.assert_allclose(res.params[ours], ref.params[theirs], rtol=0, atol=1e-10, err_msg=ours)
        np.testing.assert_allclose(res.std_errors[ours], ref.bse[theirs], rtol=1e-9, err_msg=ours)
    assert res.nobs == len(y) == 30 * 14
    np.testing.assert_allclose(res.stats["R2"], ref.rsquared, rtol=1e-10)


def test_interaction_form_and_unbalanced_panel():
    rng = np.random.default_rng(2)
    W = geometric_W(rng, 30, 0.4)
    df = simulate(rng, W, 15)
    df["M"] = rng.normal(size=len(df))
    df = df.drop(index=[5, 77, 200]).reset_index(drop=True)
    res = NVAR(df, "y", "x", W, "prov", "year", controls=["z"], interact="M", effects="time").fit()
    y, X, _ = hand_design(df, W, "time", interact="M")
    ref = sm.OLS(y, X).fit(cov_type="HC1")
    for ours, theirs in {"M:network": "Mnet", "M": "M", "beta2": "lag", "alpha": "x", "z": "z"}.items():
        np.testing.assert_allclose(res.params[ours], ref.params[theirs], atol=1e-10, err_msg=ours)
        np.testing.assert_allclose(res.std_errors[ours], ref.bse[theirs], rtol=1e-9, err_msg=ours)
    assert "beta1" not in res.params.index
    assert res.nobs == len(y)


def test_recovery_of_known_parameters():
    rng = np.random.default_rng(3)
    W = geometric_W(rng, 300, 0.12)
    df = simulate(rng, W, 15)
    res = NVAR(df, "y", "x", W, "prov", "year", controls=["z"]).fit()
    for name in ("beta1", "beta2", "alpha"):
        z = (res.params[name] - TRUTH[name]) / res.std_errors[name]
        assert abs(z) < 2, f"{name}: {res.params[name]:.4f} vs truth {TRUTH[name]} is {z:.2f} SE away (tol 2 SE)"


def test_recovery_with_two_way_effects_static():
    rng = np.random.default_rng(4)
    W = geometric_W(rng, 150, 0.15)
    df = simulate(rng, W, 10, fe_e=rng.normal(size=150), fe_t=rng.normal(size=10), lag=False)
    res = NVAR(df, "y", "x", W, "prov", "year", controls=["z"], lag=False, effects="two-way",
               cov="cluster").fit()
    for name in ("beta1", "alpha", "z"):
        z = (res.params[name] - TRUTH[name]) / res.std_errors[name]
        assert abs(z) < 2, f"{name}: {res.params[name]:.4f} vs truth {TRUTH[name]} is {z:.2f} SE away (tol 2 SE)"


def test_beta1_interval_coverage():
    rng = np.random.default_rng(5)
    W = geometric_W(rng, 30, 0.4)
    reps, hits = 200, 0
    for _ in range(reps):
        ci = NVAR(simulate(rng, W, 15), "y", "x", W, "prov", "year", controls=["z"]).fit().conf_int()
        hits += ci.loc["beta1", "lower"] <= TRUTH["beta1"] <= ci.loc["beta1", "upper"]
    assert 0.90 <= hits / reps <= 0.99, f"beta1 95% CI coverage {hits / reps:.3f} outside [0.90, 0.99]"


def test_network_lag_and_labelled_weights():
    rng = np.random.default_rng(6)
    W = geometric_W(rng, 12, 0.5)
    df = simulate(rng, W, 5)
    ents = sorted(df.prov.unique())
    Wdf = pd.DataFrame(W, index=ents, columns=ents)
    perm = rng.permutation(12)
    Wshuf = Wdf.iloc[perm, perm[::-1]]
    nl = network_lag(df.set_index(["prov", "year"]), Wshuf, "x")
    for (p, t), v in nl.sample(10, random_state=0).items():
        i = ents.index(p)
        xt = df[df.year == t].set_index("prov").loc[ents, "x"].to_numpy()
        np.testing.assert_allclose(v, W[i] @ xt, atol=1e-12)
    a = NVAR(df, "y", "x", W, "prov", "year", controls=["z"]).fit()
    b = NVAR(df, "y", "x", Wshuf, "prov", "year", controls=["z"]).fit()
    np.testing.assert_allclose(a.params.values, b.params.values, atol=1e-12)
    gap = df.drop(index=df.index[(df.prov == ents[int(np.argmax(W[0]))]) & (df.year == 2010)])
    nl2 = network_lag(gap, W, "x", entity="prov", time="year")
    assert np.isnan(nl2[(gap.prov == ents[0]) & (gap.year == 2010)]).all()
    raw = np.where(W > 0, 2.0, 0.0)
    np.testing.assert_allclose(validate_weights(raw, ents, row_normalize=True).sum(axis=1)[W.sum(1) > 0], 1.0)


def test_weight_validation():
    ents = ["a", "b", "c"]
    good = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], float)
    with pytest.raises(ValueError, match="square"):
        validate_weights(np.ones((3, 2)), ents)
    with pytest.raises(ValueError, match="entities"):
        validate_weights(np.zeros((4, 4)), ents)
    with pytest.raises(ValueError, match="diagonal"):
        validate_weights(good + np.eye(3), ents)
    with pytest.raises(ValueError, match="negative"):
        validate_weights(-good, ents)
    with pytest.raises(ValueError, match="index and columns"):
        validate_weights(pd.DataFrame(good, index=["a", "b", "d"], columns=ents), ents)


def _effects_coded(codes):
    """Sum-to-zero dummies built independently of analysis.nvar: level k -> e_k, last level -> -1."""
    levels = np.unique(codes)
    D = np.zeros((len(codes), len(levels) - 1))
    for j, lv in enumerate(levels[:-1]):
        D[codes == lv, j] = 1.0
    D[codes == levels[-1], :] = -1.0
    return D


def _kept_rows(df, W):
    """Rows hand_design keeps (every linked neighbour observed at t and the own lag observed)."""
    ents = sorted(df.prov.unique())
    obs = {(r.prov, r.year) for r in df.itertuples()}
    keep = []
    for r in df.itertuples():
        i = ents.index(r.prov)
        ok = (r.prov, r.year - 1) in obs and all((e, r.year) in obs for j, e in enumerate(ents) if W[i, j] != 0)
        keep.append(ok)
    return df.loc[np.array(keep)].reset_index(drop=True)


@pytest.mark.parametrize("effects", ["entity", "time", "two-way"])
@pytest.mark.parametrize("cov", ["robust", "cluster", "nonrobust"])
def test_effects_coded_constant_on_unbalanced_panel(effects, cov):
    """beta0 (and every SE, with the full-K rule) equal statsmodels OLS on an effects-coded design,
    also on an unbalanced panel, where beta0 is not the grand mean."""
    rng = np.random.default_rng(7)
    W = geometric_W(rng, 25, 0.45)
    df = simulate(rng, W, 12, fe_e=rng.normal(size=25), fe_t=rng.normal(size=12))
    df = df.drop(index=rng.choice(len(df), 25, replace=False)).reset_index(drop=True)
    res = NVAR(df, "y", "x", W, "prov", "year", controls=["z"], cov=cov, effects=effects, small_sample="full").fit()
    y, X, _ = hand_design(df, W)
    kept = _kept_rows(df, W)
    assert len(kept) == len(y)
    blocks = [X]
    if effects in ("entity", "two-way"):
        blocks.append(pd.DataFrame(_effects_coded(kept.prov.to_numpy())).add_prefix("e"))
    if effects in ("time", "two-way"):
        blocks.append(pd.DataFrame(_effects_coded(kept.year.to_numpy())).add_prefix("t"))
    Z = pd.concat(blocks, axis=1)
    if cov == "robust":
        ref = sm.OLS(y, Z).fit(cov_type="HC1")
    elif cov == "cluster":
        ref = sm.OLS(y, Z).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(kept.prov)[0]})
    else:
        ref = sm.OLS(y, Z).fit()
    for ours, theirs in {"beta0": "const", "beta1": "net", "beta2": "lag", "alpha": "x", "z": "z"}.items():
        np.testing.assert_allclose(res.params[ours], ref.params[theirs], rtol=0, atol=1e-9, err_msg=ours)
        np.testing.assert_allclose(res.std_errors[ours], ref.bse[theirs], rtol=1e-8, err_msg=ours)
    cov_ref = pd.DataFrame(np.asarray(ref.cov_params()), index=Z.columns, columns=Z.columns)
    np.testing.assert_allclose(res.cov.loc["beta0", "beta1"], cov_ref.loc["const", "net"], rtol=1e-7)
    np.testing.assert_allclose(res.stats["R2"], ref.rsquared, rtol=1e-10)


@pytest.mark.parametrize("effects", [None, "entity", "two-way"])
def test_cluster_se_default_equals_pyfixest(effects):
    """Default small_sample='fixest' = pyfixest's default CRV1 (entity effects nested in the clusters)."""
    import pyfixest as pf

    rng = np.random.default_rng(8)
    W = geometric_W(rng, 40, 0.35)
    df = simulate(rng, W, 12, fe_e=rng.normal(size=40), fe_t=rng.normal(size=12))
    res = NVAR(df, "y", "x", W, "prov", "year", controls=["z"], cov="cluster", effects=effects).fit()
    y, X, g = hand_design(df, W)
    kept = _kept_rows(df, W)
    d = X.drop(columns="const").assign(y=y, e=g, t=pd.factorize(kept.year)[0])
    # effect names in pyfixest 0.60's own (set) order, see tests/test_fixed_effects.py::_pyfixest_fe
    fe = {None: "", "entity": " | e", "two-way": " | " + " + ".join(set(["e", "t"]))}[effects]
    ref = pf.feols("y ~ net + lag + x + z" + fe, d, vcov={"CRV1": "e"})
    for ours, theirs in {"beta1": "net", "beta2": "lag", "alpha": "x", "z": "z"}.items():
        np.testing.assert_allclose(res.params[ours], ref.coef()[theirs], rtol=0, atol=1e-8, err_msg=ours)
        np.testing.assert_allclose(res.std_errors[ours], ref.se()[theirs], rtol=1e-6, err_msg=ours)
    assert res.df_resid == float(ref._df_t) == 39
