"""suanli compare: common random numbers, paired CIs against scipy, and a self-contained report."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments.cli import main
from experiments.compare import compare, paired_ci
from experiments.ensemble import seed_dir
from experiments.report import write_report

SEEDS = [1, 2, 3]
YEARS = (2021, 2023)
FAST = "\n[run]\nstudies = []\n\n[firms]\nscale = 0.05\n"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    base = tmp_path_factory.mktemp("compare")
    src = base / "src"
    src.mkdir()
    from experiments.scenario import SCENARIO_DIR

    for name, copy in (("default", "base"), ("default", "twin"), ("no_hubs", "nohubs")):
        text = (SCENARIO_DIR / f"{name}.toml").read_text()
        text = re.sub(r'name = "[^"]+"', f'name = "{copy}"', text, count=1)
        (src / f"{copy}.toml").write_text(text + FAST)
    res = compare([str(src / "base.toml"), str(src / "twin.toml"), str(src / "nohubs.toml")], SEEDS, base / "out",
                  years=YEARS, outputs="panels")
    return res


def test_difference_of_a_scenario_with_itself_is_exactly_zero(result):
    d = result.differences[result.differences["scenario"] == "twin"]
    # a metric undefined in a year (hub utilisation before designation) has no pairs at all
    undefined = d["n"] == 0
    assert d.loc[undefined, "baseline_mean"].isna().all() and d.loc[undefined, "diff"].isna().all()
    d = d[~undefined]
    assert len(d) > 50 and d["n"].eq(len(SEEDS)).all()
    assert (d["diff"] == 0).all()
    assert (d["ci_low"] == 0).all() and (d["ci_high"] == 0).all()


def test_paired_ci_equals_scipy_t_interval_on_the_stored_runs(result):
    d = result.differences[result.differences["scenario"] == "nohubs"]
    runs = {name: pd.concat([pd.read_parquet(seed_dir(result.out / "runs" / name, s) / "summary.parquet").assign(seed=s)
                             for s in SEEDS]) for name in ("base", "nohubs")}
    checked = 0
    for row in d[d["metric"].isin(runs["base"].columns)].itertuples():
        x = runs["nohubs"].query("year == @row.year").sort_values("seed")[row.metric].to_numpy(float)
        b = runs["base"].query("year == @row.year").sort_values("seed")[row.metric].to_numpy(float)
        ok = np.isfinite(x - b)
        assert row.n == ok.sum()
        if not ok.any():
            assert np.isnan(row.diff)
            continue
        x, b = x[ok], b[ok]
        assert row.diff == pytest.approx(np.mean(x - b), rel=1e-12, abs=1e-12)
        if np.ptp(x - b) == 0:
            assert row.ci_low == row.ci_high == row.diff
            continue
        ci = stats.ttest_rel(x, b).confidence_interval(0.95)
        assert row.ci_low == pytest.approx(ci.low, rel=1e-10, abs=1e-12)
        assert row.ci_high == pytest.approx(ci.high, rel=1e-10, abs=1e-12)
        checked += 1
    assert checked > 20
    # the latency-bound unserved share comes from the provinces panel: check it against the panel
    prov = {name: pd.read_parquet(seed_dir(result.out / "runs" / name, 1) / "provinces.parquet") for name in ("base", "nohubs")}
    lb = {}
    for name, pv in prov.items():
        y = pv[pv["year"] == YEARS[1]]
        lb[name] = (y["unserved_interactive_pflop_h"].sum() + y["unserved_inference_pflop_h"].sum()) / (
            y["demand_interactive_pflop_h"].sum() + y["demand_inference_pflop_h"].sum())
    got = result.runs.query("metric == 'latency_bound_unserved_share' and seed == 1 and year == @YEARS[1]")
    assert got.set_index("scenario").loc["nohubs", "value"] == pytest.approx(max(lb["nohubs"], 0.0), abs=1e-12)
    assert got.set_index("scenario").loc["base", "value"] == pytest.approx(max(lb["base"], 0.0), abs=1e-12)
    # after designation the two programmes differ: the east->west flow is zero without hubs
    e2w = d[(d["metric"] == "east_to_west_pflop_h") & (d["year"] == YEARS[1])].iloc[0]
    assert e2w["scenario_mean"] == 0 and e2w["diff"] < 0


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    rng = np.random.default_rng(5)
    d = rng.normal(1.0, 0.5, 12)
    mean, lo, hi = paired_ci(d, "bootstrap", seed=3)
    assert lo < mean < hi and mean == pytest.approx(d.mean())
    assert paired_ci(d, "bootstrap", seed=3) == (mean, lo, hi)
    assert paired_ci(np.full(5, 2.5), "bootstrap") == (2.5, 2.5, 2.5)
    # the percentile bootstrap of the mean is close to the t interval for a normal sample
    t = stats.ttest_1samp(d, 0).confidence_interval()
    assert abs(lo - t.low) < 0.15 and abs(hi - t.high) < 0.15


def test_report_embeds_every_figure_it_writes(result):
    html_path = write_report(result)
    html = html_path.read_text()
    pngs = sorted((result.out / "figures").glob("*.png"))
    assert {p.stem for p in pngs} >= {"paths", "differences", "flow_map", "energy_carbon", "prices", "service"}
    embedded = re.findall(r"alt='([a-z_]+)' src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert {name for name, _ in embedded} == {p.stem for p in pngs}
    for name, b64 in embedded:
        assert base64.b64decode(b64) == (result.out / "figures" / f"{name}.png").read_bytes()
    md = (result.out / "report.md").read_text()
    assert md.count("](figures/") == len(pngs)
    # studies were switched off: TFP and EXPY are missing and the report says so
    assert "study_provinces.lnTFP not in the runs" in md and "study_firms.EXPY not in the runs" in md


def test_cli_rejects_one_scenario_in_one_line(capsys, tmp_path):
    assert main(["compare", "default", "--reps", "2", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "baseline" in err
