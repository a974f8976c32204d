"""Tests of analysis.staggered_did (Callaway–Sant'Anna) on simulated staggered panels."""

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis.designs.staggered_cohort_effects import staggered_panel as _panel
from analysis.staggered_did import StaggeredDiD


def _twfe(df):
    """Plain two-way within regression of y on the treatment dummy (balanced panel)."""
    d = ((df["cohort"].fillna(np.inf) <= df["year"])).astype(float)
    tw = pd.DataFrame({"y": df["y"], "d": d})
    for c in tw:
        v = tw[c]
        tw[c] = v - v.groupby(df["id"]).transform("mean") - v.groupby(df["year"]).transform("mean") + v.mean()
    return sm.OLS(tw["y"], tw[["d"]]).fit(cov_type="cluster", cov_kwds={"groups": df["id"]})


def test_cs_recovers_att_and_event_path_where_twfe_is_biased():
    rng = np.random.default_rng(31)
    df, tau, G, t = _panel(rng, 1500)
    post = (G > 0) & (t >= G)
    truth = tau[post].mean()
    tw = _twfe(df)
    assert abs(tw.params["d"] - truth) > 5 * tw.bse["d"], f"TWFE {tw.params['d']:.3f} should be biased vs {truth:.3f}"
    for cg in ("never", "notyet"):
        res = StaggeredDiD(df, "y", "id", "year", "cohort", control_group=cg).fit()
        se = res.std_errors["ATT"]
        assert abs(res.params["ATT"] - truth) < 3 * se, f"{cg}: ATT {res.params['ATT']:.3f} vs {truth:.3f}, 3 SE = {3 * se:.3f}"
    es = StaggeredDiD(df, "y", "id", "year", "cohort").fit().extra["event_study"]
    e = t - G
    for k, row in es.iterrows():
        true_k = tau[(G > 0) & (e == k)].mean() if k >= 0 else 0.0
        assert abs(row["att"] - true_k) < 3 * row["se"], f"event time {k}: {row['att']:.3f} vs {true_k:.3f}, 3 SE = {3 * row['se']:.3f}"
    by = StaggeredDiD(df, "y", "id", "year", "cohort").fit().extra["by_cohort"]
    for g, row in by.iterrows():
        true_g = tau[(G == g) & post].mean()
        assert abs(row["att"] - true_g) < 3 * row["se"], f"cohort {g}: {row['att']:.3f} vs {true_g:.3f}"


def test_covariate_adjustment_removes_bias_from_x_specific_trends():
    rng = np.random.default_rng(32)
    df, tau, G, t = _panel(rng, 2000, x_trend=0.3)
    truth = tau[(G > 0) & (t >= G)].mean()
    raw = StaggeredDiD(df, "y", "id", "year", "cohort").fit()
    assert abs(raw.params["ATT"] - truth) > 4 * raw.std_errors["ATT"], "unconditional CS should be biased here"
    for method in ("dr", "reg"):
        res = StaggeredDiD(df, "y", "id", "year", "cohort", covariates=["x"], est_method=method).fit()
        se = res.std_errors["ATT"]
        assert abs(res.params["ATT"] - truth) < 3 * se, f"{method}: {res.params['ATT']:.3f} vs {truth:.3f}, 3 SE = {3 * se:.3f}"


def test_single_cohort_two_periods_is_the_2x2_did_of_means():
    rng = np.random.default_rng(33)
    N = 301
    g = np.where(rng.random(N) < 0.4, 2, 0)
    ids, t, G = np.repeat(np.arange(N), 2), np.tile([1, 2], N), np.repeat(g, 2)
    y = np.repeat(rng.normal(size=N), 2) + 0.5 * t + 1.5 * ((G == 2) & (t == 2)) + rng.normal(size=2 * N) * np.where(G == 2, 2, 1)
    df = pd.DataFrame(dict(id=ids, t=t, g=G, y=y))
    res = StaggeredDiD(df, "y", "id", "t", "g").fit()
    m = df.groupby(["g", "t"])["y"].mean()
    did = (m[2, 2] - m[2, 1]) - (m[0, 2] - m[0, 1])
    assert abs(res.params["ATT"] - did) < 1e-12
    assert abs(res.extra["att_gt"].loc[(2, 2), "att"] - did) < 1e-12
    wide = df.pivot(index="id", columns="t", values="y")
    ols = sm.OLS((wide[2] - wide[1]).to_numpy(), sm.add_constant((g == 2).astype(float))).fit(cov_type="HC0")
    assert abs(res.std_errors["ATT"] - ols.bse[1]) < 1e-8 * ols.bse[1]


def test_overall_att_confidence_interval_coverage():
    """Population simple ATT with random cohort membership; 100 reps of N = 200, T = 5."""
    cohorts, probs, TT = np.array([0, 3, 4]), np.array([0.4, 0.3, 0.3]), 5

    def tau(G, t):
        return np.where((G > 0) & (t >= G), np.select([G == 3, G == 4], [1.0, 0.4]) + 0.5 * (t - G), 0.0)

    periods = np.arange(1, TT + 1)
    num = sum(p * tau(np.full(TT, g), periods).sum() for g, p in zip(cohorts, probs) if g)
    truth = num / sum(p * (TT - g + 1) for g, p in zip(cohorts, probs) if g)
    rng = np.random.default_rng(34)
    cover = []
    for _ in range(100):
        N = 200
        g = rng.choice(cohorts, N, p=probs)
        ids, t, G = np.repeat(np.arange(N), TT), np.tile(periods, N), np.repeat(g, TT)
        y = np.repeat(rng.normal(size=N), TT) + 0.2 * t + tau(G, t) + rng.normal(size=N * TT)
        ci = StaggeredDiD(pd.DataFrame(dict(id=ids, t=t, g=G, y=y)), "y", "id", "t", "g").fit().conf_int().loc["ATT"]
        cover.append(ci["lower"] <= truth <= ci["upper"])
    rate = float(np.mean(cover))
    assert 0.90 <= rate <= 0.99, f"coverage {rate:.2f} outside [0.90, 0.99]"


def test_fit_imports_diff_diff_estimator_module_only():
    """``fit`` imports ``diff_diff.staggered`` without the package's ``__init__``, which runs on the first
    attribute asked of ``diff_diff`` and gives the whole package with the same classes."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, types, pandas as pd; from analysis.staggered_did import StaggeredDiD; "
            "assert 'diff_diff' not in sys.modules; "
            "df = pd.DataFrame(dict(id=[1, 1, 2, 2, 3, 3], t=[1, 2] * 3, g=[2, 2, 0, 0, 0, 0], "
            "y=[0.0, 1.0, 0.1, 0.2, 0.3, 0.1])); StaggeredDiD(df, 'y', 'id', 't', 'g').fit(); "
            "assert 'diff_diff.bacon' not in sys.modules and 'diff_diff.staggered' in sys.modules; "
            "import diff_diff, diff_diff.staggered as st; "
            "assert diff_diff.CallawaySantAnna is st.CallawaySantAnna and diff_diff.staggered is st; "
            "assert 'diff_diff.bacon' in sys.modules and diff_diff.Bacon is diff_diff.BaconDecomposition; "
            "assert type(diff_diff) is types.ModuleType")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_overall_att_without_diff_diff_equals_the_fit_on_an_unbalanced_panel():
    """The point-estimate path (no diff-diff) gives the fitted aggregate ATT with never- and not-yet-treated
    controls and with anticipation, on a panel with missing unit-years and an always-treated cohort."""
    import pytest

    from analysis.checks import PanelError

    rng = np.random.default_rng(3)
    rows = []
    for i in range(300):
        g = int(rng.choice([0, 0, 2010, 2012, 2014, 2015, 2017]))
        for t in range(2010, 2019):
            if rng.random() < 0.15:
                continue
            y = rng.normal() + 0.1 * (t - 2010) * (g % 3) + (0.5 + 0.1 * (t - g) if g and t >= g else 0.0)
            rows.append((i, t, g, y, rng.normal()))
    df = pd.DataFrame(rows, columns=["id", "t", "g", "y", "x"])
    for control in ("never", "notyet"):
        for ant in (0, 1):
            m = StaggeredDiD(df, "y", "id", "t", "g", control_group=control, anticipation=ant)
            att, n = m.overall_att()
            res = m.fit()
            assert att == pytest.approx(float(res.params["ATT"]), abs=1e-12), (control, ant)
            assert n == res.nobs
    with pytest.raises(PanelError, match="without covariates"):
        StaggeredDiD(df, "y", "id", "t", "g", covariates=["x"]).overall_att()
