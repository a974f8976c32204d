"""Tests of analysis.threshold (Hansen 1999 panel threshold) on simulated panels."""

import numpy as np
import pandas as pd
from scipy import stats

from analysis.designs.threshold import threshold_panel as _panel
from analysis.threshold import PanelThreshold, lr_critical_value


def _brute_ssr(df, gammas, xs, controls, time_fe=False):
    """Within-SSR by an explicit OLS refit with entity (and year) dummies."""
    g = np.sort(np.asarray(gammas, dtype=float))
    reg = np.searchsorted(g, df["q"].to_numpy(), side="left")
    cols = [df[v].to_numpy() * (reg == j) for j in range(g.size + 1) for v in xs]
    cols += [df[c].to_numpy() for c in controls]
    dums = [pd.get_dummies(df["id"], dtype=float).to_numpy()]
    if time_fe:
        dums.append(pd.get_dummies(df["year"], drop_first=True, dtype=float).to_numpy())
    X = np.column_stack(cols + dums)
    b, *_ = np.linalg.lstsq(X, df["y"].to_numpy(), rcond=None)
    e = df["y"].to_numpy() - X @ b
    return float(e @ e)


def test_critical_value_matches_hansen_table():
    assert abs(lr_critical_value(0.95) - 7.35) < 5e-3
    assert abs(lr_critical_value(0.90) - 5.94) < 5e-3
    assert abs(lr_critical_value(0.99) - 10.59) < 5e-3


def test_fast_ssr_equals_brute_force_refit():
    rng = np.random.default_rng(21)
    df = _panel(rng, 60, 6, [0.5, 1.5, 2.5, 3.0], [-0.6, 0.2, 0.9], extra_x=True, time_fe=True)
    df = df.sample(frac=0.9, random_state=3)
    mod = PanelThreshold(df, "y", ["x", "x2"], "q", "id", "year", controls=["z"],
                         n_thresholds=3, grid=80, time_effects=True)
    res = mod.fit()
    paths = res.extra["ssr_path"]
    ci = res.extra["ci"].set_index("stage")["gamma"]
    fixed = {"th1": [], "th2": [], "th1_refined": [ci["th2"]], "th3": [ci["th1_refined"], ci["th2"]]}
    fixed["th2"] = [paths["th1"]["gamma"][paths["th1"]["ssr"].idxmin()]]
    for stage, fx in fixed.items():
        p = paths[stage]
        finite = np.flatnonzero(np.isfinite(p["ssr"].to_numpy()))
        for i in finite[:: max(1, finite.size // 5)]:
            ref = _brute_ssr(mod.data, [*fx, p["gamma"][i]], ["x", "x2"], ["z"], time_fe=True)
            assert abs(p["ssr"][i] - ref) <= 1e-8 * ref, (stage, i, p["ssr"][i], ref)
    assert abs(res.stats["SSR"] - res.extra["linearmodels"].resid_ss) <= 1e-8 * res.stats["SSR"]


def test_single_threshold_and_regime_slopes_recovered():
    rng = np.random.default_rng(22)
    gamma0 = 0.25
    df = _panel(rng, 300, 6, [1.0, 2.0], [gamma0])
    res = PanelThreshold(df, "y", ["x"], "q", "id", "year", controls=["z"], grid=100).fit()
    cand = res.extra["ssr_path"]["th1"]["gamma"].to_numpy()
    i = int(np.searchsorted(cand, res.extra["thresholds"][0]))
    lo, hi = cand[max(i - 1, 0)], cand[min(i + 1, cand.size - 1)]
    assert lo <= gamma0 <= hi, f"threshold {cand[i]:.3f} more than one grid step from {gamma0}"
    ci = res.extra["ci"].iloc[0]
    j_lo, j_hi = np.searchsorted(cand, ci["lower"]), np.searchsorted(cand, ci["upper"])
    assert cand[max(j_lo - 1, 0)] <= gamma0 <= cand[min(j_hi + 1, cand.size - 1)], "gamma0 outside the LR set"
    assert ci["upper"] - ci["lower"] < 0.5, "LR set implausibly wide for a large threshold effect"
    for name, truth in (("x_r1", 1.0), ("x_r2", 2.0), ("z", 0.5)):
        se = res.std_errors[name]
        assert abs(res.params[name] - truth) < 3 * se, f"{name}: {res.params[name]:.3f} vs {truth}, 3 SE = {3 * se:.3f}"


def test_double_threshold_recovered_with_refinement():
    rng = np.random.default_rng(23)
    df = _panel(rng, 300, 6, [1.0, 2.0, 0.5], [-0.4, 0.6])
    mod = PanelThreshold(df, "y", ["x"], "q", "id", "year", controls=["z"], n_thresholds=2, grid=100)
    res = mod.fit()
    cand = res.extra["ssr_path"]["th1"]["gamma"].to_numpy()
    for est, truth in zip(res.extra["thresholds"], (-0.4, 0.6)):
        i = int(np.searchsorted(cand, est))
        assert cand[max(i - 1, 0)] <= truth <= cand[min(i + 1, cand.size - 1)], (est, truth)
    for name, truth in (("x_r1", 1.0), ("x_r2", 2.0), ("x_r3", 0.5)):
        se = res.std_errors[name]
        assert abs(res.params[name] - truth) < 3 * se, f"{name}: {res.params[name]:.3f} vs {truth}, 3 SE = {3 * se:.3f}"
    tests = mod.test_thresholds(B=49, rng=np.random.default_rng(1))
    assert tests.loc["single", "p_value"] < 0.05 and tests.loc["double", "p_value"] < 0.05
    at = mod.slopes_at(res.extra["thresholds"])  # the slopes at given thresholds are the fit's at its own
    np.testing.assert_allclose(at[["x_r1", "x_r2", "x_r3", "z"]], res.params[["x_r1", "x_r2", "x_r3", "z"]], atol=1e-9)
    cols = [df["x"].to_numpy() * (df["q"].to_numpy() > g) for g in (-np.inf, -0.4, 0.6)]
    X = np.column_stack([cols[0] - cols[1], cols[1] - cols[2], cols[2], df["z"], pd.get_dummies(df["id"], dtype=float)])
    b = np.linalg.lstsq(X, df["y"].to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(mod.slopes_at([0.6, -0.4])[["x_r1", "x_r2", "x_r3", "z"]], b[:4], atol=1e-9)


def test_bootstrap_size_of_threshold_tests():
    """F1 under no threshold and F2 under one threshold, 60 reps each, B = 49, 10 % level.

    With p = share of F* >= F and B = 49, the exact-null rejection probability of
    p < 0.10 is 5/50 = 0.10, so the count is Binomial(60, 0.10); the band [1, 13] holds
    it with probability 0.997 (P(X = 0) = 0.0018, P(X >= 14) = 0.0013).
    """
    rng = np.random.default_rng(24)
    rej1 = rej2 = power = 0
    reps = 60
    for _ in range(reps):
        df = _panel(rng, 50, 5, [1.0], [])
        t1 = PanelThreshold(df, "y", ["x"], "q", "id", "year", grid=60).test_thresholds(B=49, rng=rng)
        rej1 += t1.loc["single", "p_value"] < 0.10
        df = _panel(rng, 50, 5, [1.0, 2.0], [0.0])
        t2 = PanelThreshold(df, "y", ["x"], "q", "id", "year", n_thresholds=2, grid=60).test_thresholds(B=49, rng=rng)
        rej2 += t2.loc["double", "p_value"] < 0.10
        power += t2.loc["single", "p_value"] < 0.10
    lo, hi = 1, 13
    assert stats.binom.cdf(lo - 1, reps, 0.1) + stats.binom.sf(hi, reps, 0.1) < 0.005
    assert lo <= rej1 <= hi, f"F1 rejected {rej1}/{reps} under the null"
    assert lo <= rej2 <= hi, f"F2 rejected {rej2}/{reps} under a single threshold"
    assert power >= 0.95 * reps, f"F1 rejected only {power}/{reps} with a true threshold"
