"""Tests of analysis.psm on data simulated with selection on observables."""

import numpy as np
import pytest
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf

from analysis.designs.psm_selection import selection_sample as _dgp
from analysis.psm import PSM


def test_logit_scores_equal_statsmodels_logit():
    rng = np.random.default_rng(11)
    df, _ = _dgp(rng, 800)
    df.index = pd.RangeIndex(1000, 1800)
    res = PSM(df, "d", ["x1", "x2"], "y").fit()
    ref = smf.logit("d ~ x1 + x2", data=df).fit(disp=0)
    np.testing.assert_allclose(res.extra["pscore"].to_numpy(), ref.predict(df).to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(res.extra["logit"].to_numpy(), ref.params.to_numpy(), rtol=1e-8)
    assert list(res.extra["logit"].index) == ["const", "x1", "x2"]
    assert (res.extra["pscore"].index == df.index).all()
    assert res.stats["Logit pseudo R2"] == pytest.approx(ref.prsquared, rel=1e-9)


def test_att_equals_brute_force_nearest_neighbour_matching():
    rng = np.random.default_rng(12)
    df, _ = _dgp(rng, 600)
    res = PSM(df, "d", ["x1", "x2"], "y", k=4).fit()
    lin = smf.logit("d ~ x1 + x2", data=df).fit(disp=0).fittedvalues.to_numpy()
    d, y = df["d"].to_numpy() == 1, df["y"].to_numpy()
    dist = np.abs(lin[d][:, None] - lin[~d][None, :])
    nn = np.argsort(dist, axis=1)[:, :4]
    att = np.mean(y[d] - y[~d][nn].mean(axis=1))
    assert abs(res.params["ATT"] - att) < 1e-10


def test_greedy_matching_without_replacement_equals_naive_greedy():
    rng = np.random.default_rng(13)
    df, _ = _dgp(rng, 300, a=-1.2)
    res = PSM(df, "d", ["x1", "x2"], "y", k=2, replace=False).fit()
    lin = smf.logit("d ~ x1 + x2", data=df).fit(disp=0).fittedvalues.to_numpy()
    d, y = df["d"].to_numpy() == 1, df["y"].to_numpy()
    lt, lc, yt, yc = lin[d], lin[~d], y[d], y[~d]
    free = np.ones(lc.size, bool)
    effects = np.empty(lt.size)
    for t in np.argsort(-lt, kind="stable"):
        picks = []
        for _ in range(2):
            c = int(np.argmin(np.where(free, np.abs(lc - lt[t]), np.inf)))
            free[c] = False
            picks.append(c)
        effects[t] = yt[t] - yc[picks].mean()
    assert abs(res.params["ATT"] - effects.mean()) < 1e-10
    assert res.extra["matched"]["_weight"].max() <= 1.0 + 1e-12


def test_att_recovers_known_effect_under_selection_on_observables():
    rng = np.random.default_rng(14)
    df, tau = _dgp(rng, 3000, a=-0.8, b1=1.2, b2=-1.0)
    d = df["d"].to_numpy() == 1
    truth = tau[d].mean()
    res = PSM(df, "d", ["x1", "x2"], "y", k=4).fit()
    se = res.std_errors["ATT"]
    naive = sm.OLS(df["y"], sm.add_constant(df["d"].astype(float))).fit()
    assert abs(naive.params["d"] - truth) > 5 * naive.bse["d"], "DGP should bias the naive difference"
    assert abs(res.params["ATT"] - truth) < 3 * se, f"ATT {res.params['ATT']:.3f} vs truth {truth:.3f}, 3 SE = {3 * se:.3f}"
    ate = PSM(df, "d", ["x1", "x2"], "y", k=4, estimand="ATE").fit()
    se_ate = ate.std_errors["ATE"]
    assert abs(ate.params["ATE"] - tau.mean()) < 3 * se_ate, f"ATE off by more than 3 SE ({3 * se_ate:.3f})"


def test_abadie_imbens_se_coverage():
    """Population ATT E[tau(X)|D=1] from 4e6 draws; coverage of 150 95 % intervals."""
    big = np.random.default_rng(0).normal(size=(2, 4_000_000))
    p = 1 / (1 + np.exp(-(-0.5 + 0.8 * big[0] - 0.6 * big[1])))
    truth = 1 + 0.5 * np.sum(p * big[0]) / p.sum()
    rng = np.random.default_rng(15)
    cover = []
    for _ in range(150):
        df, _ = _dgp(rng, 400)
        ci = PSM(df, "d", ["x1", "x2"], "y", k=4).fit().conf_int().loc["ATT"]
        cover.append(ci["lower"] <= truth <= ci["upper"])
    rate = float(np.mean(cover))
    assert 0.90 <= rate <= 0.99, f"coverage {rate:.3f} outside [0.90, 0.99]"


def test_caliper_drops_treated_units_outside_common_support():
    rng = np.random.default_rng(16)
    n = 2000
    x = rng.normal(size=n)
    d = rng.random(n) < 1 / (1 + np.exp(-0.5 * x))
    x[:8], d[:8] = 6.0 + rng.random(8), True
    y = 1 + x + 2.0 * d + rng.normal(size=n)
    y[:8] += 100.0
    df = pd.DataFrame(dict(d=d.astype(int), x=x, y=y))
    res = PSM(df, "d", ["x"], "y", k=4, caliper=0.05).fit()
    matched = res.extra["matched"]
    treated_kept = set(matched.index[matched["_target"]])
    assert not treated_kept & set(range(8)), "out-of-support treated units were matched"
    assert res.stats["N off support"] >= 8
    assert len(treated_kept) >= 0.9 * (d.sum() - 8), "caliper dropped too many on-support units"
    se = res.std_errors["ATT"]
    assert abs(res.params["ATT"] - 2.0) < 3 * se, f"ATT off by more than 3 SE ({3 * se:.3f})"
    loose = PSM(df, "d", ["x"], "y", k=4).fit()
    assert loose.params["ATT"] > 2.0 + 0.3, "without a caliper the extreme units should bias the ATT"


def test_balance_improves_and_matched_sample_reproduces_att():
    rng = np.random.default_rng(17)
    df, _ = _dgp(rng, 3000, a=-0.8, b1=1.0, b2=-0.8)
    res = PSM(df, "d", ["x1", "x2"], "y", k=4).fit()
    bal = res.extra["balance"]
    assert (bal.loc[["x1", "x2"], "bias_before"].abs() > 30).all()
    assert (bal["bias_after"].abs() < 10).all(), bal["bias_after"].to_dict()
    assert (bal.loc[["x1", "x2"], "p_after"] > 0.01).all()
    m = res.extra["matched"]
    assert abs(m.loc[m["d"] == 0, "_weight"].sum() - m["_target"].sum()) < 1e-9
    wls = sm.WLS(m["y"], sm.add_constant(m["d"].astype(float)), weights=m["_weight"]).fit()
    assert abs(wls.params["d"] - res.params["ATT"]) < 1e-10


def _ai2006_direct(lin, d, y, M, J, estimand):
    """Abadie & Imbens (2006) estimator and variances by loops over units (tie-free sample)."""
    n = len(y)
    idx = np.arange(n)
    targets = {"ATT": idx[d], "ATC": idx[~d], "ATE": idx}[estimand]
    K = np.zeros(n)
    yhat = {1: y.astype(float).copy(), 0: y.astype(float).copy()}
    for i in idx:
        if i not in set(targets):
            continue
        other = idx[d != d[i]]
        nn = other[np.argsort(np.abs(lin[other] - lin[i]))[:M]]
        yhat[0 if d[i] else 1][i] = y[nn].mean()
        K[nn] += 1
    sig = np.empty(n)
    for i in idx:
        same = idx[(d == d[i]) & (idx != i)]
        nn = same[np.argsort(np.abs(lin[same] - lin[i]))[:J]]
        sig[i] = J / (J + 1) * (y[i] - y[nn].mean()) ** 2
    tau_i = (yhat[1] - yhat[0])[targets]
    tau = tau_i.mean()
    N = len(targets)
    if estimand == "ATE":
        v_pop = (np.sum((tau_i - tau) ** 2) + np.sum(((K / M) ** 2 + (2 * M - 1) / M * K / M) * sig)) / N**2
        v_cond = np.sum((1 + K / M) ** 2 * sig) / N**2
    else:
        tgt = d if estimand == "ATT" else ~d
        v_pop = (np.sum((tau_i - tau) ** 2) + np.sum((K * (K - 1) / M**2 * sig)[~tgt])) / N**2
        v_cond = np.sum((tgt - (~tgt) * K / M) ** 2 * sig) / N**2
    return tau, np.sqrt(v_pop), np.sqrt(v_cond)


@pytest.mark.parametrize("estimand", ["ATT", "ATC", "ATE"])
@pytest.mark.parametrize("k,J", [(1, 1), (4, 4), (3, 2)])
def test_abadie_imbens_variance_equals_direct_formula(estimand, k, J):
    rng = np.random.default_rng(17)
    df, _ = _dgp(rng, 160)
    res = PSM(df, "d", ["x1", "x2"], "y", k=k, estimand=estimand, var_matches=J).fit()
    lin = smf.logit("d ~ x1 + x2", data=df).fit(disp=0).fittedvalues.to_numpy()
    assert np.unique(lin).size == lin.size, "sample must be tie-free"
    tau, se, se_cond = _ai2006_direct(lin, df["d"].to_numpy() == 1, df["y"].to_numpy(), k, J, estimand)
    np.testing.assert_allclose(res.params[estimand], tau, rtol=1e-12)
    np.testing.assert_allclose(res.std_errors[estimand], se, rtol=1e-10)
    np.testing.assert_allclose(res.stats[f"{estimand} SE (conditional on X)"], se_cond, rtol=1e-10)


def test_logit_of_perfectly_separated_treatment_raises_naming_the_logit():
    from analysis.checks import PanelError

    x = np.linspace(-1, 1, 40)
    df = pd.DataFrame({"d": (x > 0).astype(float), "x": x, "y": x})
    with pytest.raises(PanelError, match="propensity-score logit did not converge"):
        PSM(df, "d", ["x"], "y").fit()
