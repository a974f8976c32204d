"""Comparison tables of several results (analysis.tables) and the event-study figure (analysis.plots)."""

import re

import numpy as np
import pandas as pd
import pytest
from linearmodels import PanelOLS

from analysis.designs.fe_panel import fe_panel
from analysis.designs.staggered_cohort_effects import cohort_tau, staggered_panel
from analysis.fixed_effects import TwoWayFE
from analysis.plots import plot_event_study
from analysis.results import EstimationResult, stars
from analysis.staggered_did import StaggeredDiD
from analysis.tables import compare

CELL = re.compile(r"^(-?\d+\.\d+)(\**)$")


@pytest.fixture(scope="module")
def results():
    df = fe_panel(np.random.default_rng(3), n_ent=80, n_t=6)
    return {
        "Pooled": TwoWayFE.pooled(df, "y", ["x1", "x2"], "firm", "year").fit(),
        "Firm FE": TwoWayFE(df, "y", ["x1"], "firm", "year", time_effects=False).fit(),
        "Two-way FE": TwoWayFE(df, "y", ["x1", "x2"], "firm", "year").fit(),
    }


def test_numbers_equal_the_results(results):
    t = compare(results, stats=["N clusters"])
    assert t.models == list(results)
    assert list(t.params.index) == ["const", "x1", "x2"]
    for m, r in results.items():
        for p in t.params.index:
            if p in r.params.index:
                assert t.params.at[p, m] == r.params[p]
                assert t.std_errors.at[p, m] == r.std_errors[p]
                assert t.pvalues.at[p, m] == r.pvalues[p]
            else:
                assert np.isnan(t.params.at[p, m])
        assert t.nobs[m] == r.nobs
        assert t.rsquared[m] == r.stats["R2"]
        assert t.stats.at["N clusters", m] == r.stats["N clusters"]


def test_cells_carry_coefficient_stars_and_bracketed_se(results):
    t = compare(results, digits=4)
    f = t.to_frame()
    rows = list(f.index)
    checked = 0
    for m, r in results.items():
        for p in t.params.index:
            i = rows.index(p)
            coef, se = f.iloc[i][m], f.iloc[i + 1][m]
            if p not in r.params.index:
                assert coef == "" and se == ""
                continue
            mm = CELL.match(coef)
            assert mm, coef
            assert abs(float(mm.group(1)) - r.params[p]) <= 5e-5
            assert mm.group(2) == stars(r.pvalues[p])
            assert se.startswith("(") and abs(float(se[1:-1]) - r.std_errors[p]) <= 5e-5
            checked += 1
        assert f.loc["N", m] == f"{r.nobs:,}"
        assert abs(float(f.loc["R²", m]) - r.stats["R2"]) <= 5e-5
    assert checked == 8
    tt = compare(results, bracket="t").to_frame()
    i = list(tt.index).index("x1")
    assert abs(float(tt.iloc[i + 1]["Two-way FE"][1:-1]) - results["Two-way FE"].tstats["x1"]) <= 5e-5


def test_exports_contain_every_cell(results):
    t = compare(results, drop=["const"], labels={"x1": "Compute use (x1)"}, title="Table 1 & friends")
    assert "const" not in t.params.index
    cells = [c for _, cs in t.rows() for c in cs if c]
    md, tex, html = t.to_markdown(), t.to_latex(), t.to_html()
    for c in cells:
        assert c.replace("*", r"\*") in md
        assert c.rstrip("*") in tex and c in html.replace("&amp;", "&")
    assert md.count("\n|") == len(t.rows()) + 2  # header, separator and one line per row
    assert "Compute use (x1)" in md and "Table 1 \\& friends" not in md
    assert tex.startswith("\\begin{tabular}{lccc}") and "$^{***}$" in tex and "\\toprule" in tex
    assert html.count("<tr>") == len(t.rows()) + 2 and "<caption>Table 1 &amp; friends</caption>" in html


def test_accepts_linearmodels_results_and_lists():
    df = fe_panel(np.random.default_rng(4), n_ent=50, n_t=5)
    d = df.assign(firm=pd.factorize(df.firm)[0]).set_index(["firm", "year"])
    lm = PanelOLS(d["y"], d[["x1", "x2"]], entity_effects=True).fit(cov_type="clustered", cluster_entity=True)
    ours = TwoWayFE(df, "y", ["x1", "x2"], "firm", "year", time_effects=False, constant=False).fit()
    t = compare([lm, ours])
    assert t.models == ["(1)", "(2)"]
    np.testing.assert_array_equal(t.params["(1)"].to_numpy(), lm.params.to_numpy())
    np.testing.assert_array_equal(t.std_errors["(1)"].to_numpy(), lm.std_errors.to_numpy())
    assert t.rsquared["(1)"] == lm.rsquared
    with pytest.raises(ValueError, match="bracket"):
        compare([lm], bracket="z")
    with pytest.raises(TypeError, match="not an estimation result"):
        compare([object()])


def test_event_study_plot_shows_the_result_event_time_estimates():
    rng = np.random.default_rng(8)
    df, tau, G, t = staggered_panel(rng, 600)
    res = StaggeredDiD(df, "y", "id", "year", "cohort").fit()
    es = res.extra["event_study"].sort_index()
    truth = pd.Series({k: tau[(G > 0) & (t - G == k)].mean() if k >= 0 else 0.0 for k in es.index})
    fig = plot_event_study(res, unit="log points", truth=truth)
    ax = fig.axes[0]
    xs, ys, lo, hi = [], [], [], []
    for cont in ax.containers:
        xy = cont.lines[0].get_xydata()
        xs += list(xy[:, 0])
        ys += list(xy[:, 1])
        seg = cont.lines[2][0].get_segments()
        lo += [s[0][1] for s in seg]
        hi += [s[1][1] for s in seg]
    order = np.argsort(xs)
    np.testing.assert_array_equal(np.asarray(xs)[order], es.index.to_numpy(dtype=float))
    np.testing.assert_allclose(np.asarray(ys)[order], es["att"].to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(lo)[order], es["ci_lower"].to_numpy(), atol=1e-12)
    np.testing.assert_allclose(np.asarray(hi)[order], es["ci_upper"].to_numpy(), atol=1e-12)
    ref = [ln for ln in ax.get_lines() if ln.get_label() == "true effect"][0]
    np.testing.assert_allclose(ref.get_ydata(), truth.to_numpy())
    assert "log points" in ax.get_ylabel() and ax.get_title() and fig.texts[0].get_text().startswith("Source:")
    assert cohort_tau(np.array([3]), np.array([4]))[0] == pytest.approx(1.3)
    with pytest.raises(ValueError, match="event study"):
        plot_event_study(EstimationResult(params=pd.Series({"a": 1.0}), std_errors=pd.Series({"a": 0.1}), nobs=10))
