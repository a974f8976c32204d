"""Calibration machinery: moments registry, objective log and resume, write-back, bad calls, replays."""

from __future__ import annotations

import json
import math
import shutil
import tomllib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from calibration import fit, moments
from calibration.params import DEFAULT_PATH
from calibration.targets import load_targets

FREE = ("firm_outcomes.idc_effect_base", "firm_outcomes.TS_effect")
IDS = ("p3_idc_fe", "p3_mech_ts")


# --------------------------------------------------------------------- a known analytic "model"
#: The linear model's Jacobian and the loadings of its one noise draw on the two rows.
_G = np.array([[0.5, 0.0], [1.0, -0.5]])
_C = np.array([0.02, 0.01])


def fake_task(calls):
    """Replication r at theta=(a, b): p3_idc_fe = 0.5 a + 0.02 e_r, p3_mech_ts = a - 0.5 b + 0.01 e_r,
    e_r fixed per seed (common random numbers); counts each simulated replication in ``calls``."""

    def task(config, seed, ids, free, reuse, params_path):
        o = config.parameter_overrides
        a, b = o.get(FREE[0], 0.62), o.get(FREE[1], 0.175)
        e = np.random.default_rng(seed).standard_normal()
        calls.append((round(a, 12), round(b, 12), seed))
        vals = {"p3_idc_fe": 0.5 * a + _C[0] * e, "p3_mech_ts": a - 0.5 * b + _C[1] * e}
        return {i: [vals.get(i, 0.0), 0.05, 100.0] for i in ids}

    return task


def _targets(a=0.7, b=0.2):
    t = load_targets().copy()
    t.loc["p3_idc_fe", ["value", "se"]] = [0.5 * a, 0.01]
    t.loc["p3_mech_ts", ["value", "se"]] = [a - 0.5 * b, 0.01]
    return t


def _mean_noise_cov(seeds) -> np.ndarray:
    """Covariance of the two rows' means over ``seeds`` of ``fake_task``'s draws: c c' var(e) / R."""
    e = np.array([np.random.default_rng(s).standard_normal() for s in seeds])
    return np.outer(_C, _C) * e.var(ddof=1) / len(seeds)


def _sandwich(S: np.ndarray) -> np.ndarray:
    """G^-1 S G^-T: the exactly identified linear model's parameter covariance."""
    Ginv = np.linalg.inv(_G)
    return Ginv @ S @ Ginv.T


def _objective(tmp_path, targets=None, log=True, reps=3):
    free = fit.free_parameters(FREE, bounds={FREE[0]: (0.3, 1.2), FREE[1]: (0.05, 0.4)})
    return fit.Objective(IDS, free, reps=reps, targets=targets if targets is not None else _targets(),
                         log=tmp_path / "evaluations.jsonl" if log else None)


def test_every_target_row_has_one_moment():
    moments.check_registry()
    t = load_targets()
    assert set(moments.BLOCK_OF) == set(t.index)
    assert moments.last_year(["p3_idc_fe"]) == 2023 and moments.last_year(["p1_nvar_qty_beta1"]) == 2022
    assert moments.last_year(["p2_intelligent_eflops_2025q1"]) == 2025


def test_distance_weights_by_published_se_and_tolerance(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(fit, "_task", fake_task(calls))
    obj = _objective(tmp_path, log=False)
    ev = obj.evaluate({FREE[0]: 0.9, FREE[1]: 0.1})
    e = np.array([np.random.default_rng(s).standard_normal() for s in (1, 2, 3)])
    m1 = (0.45 + 0.02 * e).mean()
    m2 = (0.9 - 0.05 + 0.01 * e).mean()
    want = ((m1 - 0.35) / 0.01) ** 2 + ((m2 - 0.6) / 0.01) ** 2
    assert ev.distance == pytest.approx(want, rel=1e-12)
    assert ev.table.at["p3_idc_fe", "mc_se"] == pytest.approx(0.02 * e.std(ddof=1) / math.sqrt(3))
    # a row without a published SE is scaled by 10 % of its value
    t = _targets()
    t.loc["p3_mech_ts", "se"] = np.nan
    obj2 = fit.Objective(IDS, obj.free, reps=3, targets=t)
    assert obj2.scale["p3_mech_ts"] == pytest.approx(0.1 * 0.6)
    assert len(calls) == 3  # one evaluation = R replications with seeds 1..R
    assert sorted(c[2] for c in calls) == [1, 2, 3]


def test_report_says_which_rows_the_replications_cannot_decide(tmp_path, monkeypatch):
    """A row whose Monte Carlo SE of the simulated mean is at least its scale is named as one that R
    replications cannot decide; a row measured more precisely than its scale is not."""
    from calibration.params import load_parameters
    from calibration.report import make_report

    monkeypatch.setattr(fit, "_task", fake_task([]))
    t = _targets()
    t.loc["p3_idc_fe", "se"] = 0.001  # MC SE of 0.5 a + 0.02 e over 3 seeds is about 0.01: undecidable
    t.loc["p3_mech_ts", "se"] = 0.5  # ... and of a - 0.5 b + 0.01 e about 0.005: decided
    ev = _objective(tmp_path, targets=t, log=False).evaluate({FREE[0]: 0.9, FREE[1]: 0.1})
    assert ev.table.at["p3_idc_fe", "mc_se"] >= 0.001 and ev.table.at["p3_mech_ts", "mc_se"] < 0.5
    md = make_report(ev.table, tmp_path / "rep", params=load_parameters().table, seeds=(1, 2, 3), targets=t).read_text()
    noisy = [line for line in md.splitlines() if "at least their scale" in line]
    assert len(noisy) == 1 and "`p3_idc_fe`" in noisy[0] and "p3_mech_ts" not in noisy[0]
    assert "R = 3 cannot tell" in next(line for line in md.splitlines() if line.startswith("- `p3_idc_fe`"))


def test_rows_not_met_carry_their_known_reason_once(tmp_path, monkeypatch):
    """A missed row with a known reason gives it; a later row with the same reason points back to the
    first; a row without one gives none."""
    from calibration import report
    from calibration.params import load_parameters

    monkeypatch.setattr(fit, "_task", fake_task([]))
    t = _targets(a=2.0, b=0.0)  # both rows far from what theta = (0.9, 0.1) gives
    ev = _objective(tmp_path, targets=t, log=False).evaluate({FREE[0]: 0.9, FREE[1]: 0.1})
    assert not ev.table["within"].any()

    def missed(reasons):
        monkeypatch.setattr(report, "KNOWN_CONFLICTS", reasons)
        md = report.make_report(ev.table, tmp_path / "rep", params=load_parameters().table, seeds=(1, 2, 3),
                                targets=t).read_text()
        return {i: next(ln for ln in md.splitlines() if ln.startswith(f"- `{i}`")) for i in IDS}

    one = missed({IDS[0]: "the seed says so", IDS[1]: "the seed says so"})
    assert one[IDS[0]].endswith("Why: the seed says so") and one[IDS[1]].endswith(f"Same reason as `{IDS[0]}`")
    none = missed({})
    assert not any("Why:" in v or "Same reason" in v for v in none.values())


def test_logged_evaluation_is_not_repeated(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(fit, "_task", fake_task(calls))
    obj = _objective(tmp_path)
    a = obj.evaluate({FREE[0]: 0.8, FREE[1]: 0.3})
    assert len(calls) == 3 and not a.cached
    again = _objective(tmp_path)  # a new process reading the same log
    b = again.evaluate({FREE[0]: 0.8, FREE[1]: 0.3})
    assert b.cached and len(calls) == 3
    assert b.distance == a.distance


def test_logged_evaluation_gives_the_same_table_to_the_last_bit(tmp_path, monkeypatch):
    """With 12 seeds the log's sorted keys ("1", "10", "11", ..., "2") differ from the seeds' order; the MC SE
    must not depend on it (the report read from the log must equal the report simulated)."""
    monkeypatch.setattr(fit, "_task", fake_task([]))
    a = _objective(tmp_path, reps=12).evaluate({FREE[0]: 0.8, FREE[1]: 0.3})
    b = _objective(tmp_path, reps=12).evaluate({FREE[0]: 0.8, FREE[1]: 0.3})
    assert b.cached and list(b.reps) == list(range(1, 13))
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)


def test_fit_recovers_truth_of_a_linear_model_and_reproduces(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(fit, "_task", fake_task(calls))
    res1 = fit.calibrate(_objective(tmp_path / "a"), budget=12, refine=60, seed=3, out=tmp_path / "a")
    res2 = fit.calibrate(_objective(tmp_path / "b"), budget=12, refine=60, seed=3, out=tmp_path / "b")
    assert res1.params == res2.params  # same seed, fresh directories: same fit
    e = np.array([np.random.default_rng(s).standard_normal() for s in (1, 2, 3)]).mean()
    a_star = (0.35 - 0.02 * e) / 0.5  # exact minimiser of the CRN objective
    b_star = (a_star + 0.01 * e - 0.6) / 0.5
    assert res1.params[FREE[0]] == pytest.approx(a_star, abs=2e-3)
    assert res1.params[FREE[1]] == pytest.approx(b_star, abs=4e-3)
    assert (tmp_path / "a" / "optuna.db").is_file()
    lines = (tmp_path / "a" / "evaluations.jsonl").read_text().splitlines()
    assert len(lines) == len({json.loads(x)["key"] for x in lines})  # nothing evaluated twice


def test_interrupted_fit_resumes_without_repeating(tmp_path, monkeypatch):
    calls = []
    task = fake_task(calls)
    state = {"n": 0}

    def dying(*a):
        state["n"] += 1
        if state["n"] == 3 * 5 + 1:  # the 6th evaluation's first replication
            raise KeyboardInterrupt
        return task(*a)

    monkeypatch.setattr(fit, "_task", dying)
    with pytest.raises(KeyboardInterrupt):
        fit.calibrate(_objective(tmp_path), budget=10, refine=0, seed=1, out=tmp_path)
    done = len((tmp_path / "evaluations.jsonl").read_text().splitlines())
    assert done == 5
    monkeypatch.setattr(fit, "_task", task)
    before = len(calls)
    res = fit.calibrate(_objective(tmp_path), budget=10, refine=0, seed=1, out=tmp_path)
    import optuna

    study = optuna.load_study(study_name="calibration", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 10
    assert res.info["simulated"] == 5  # only the 5 trials not yet finished were simulated
    assert len(calls) - before == 3 * 5  # R replications for each of them, none for the finished ones
    keys = [json.loads(x)["key"] for x in (tmp_path / "evaluations.jsonl").read_text().splitlines()]
    assert len(keys) == 10 and len(set(keys)) == 10


def _two_rows_one_parameter(tmp_path, gap: float) -> tuple[fit.Objective, float, float]:
    """``FREE[0]`` alone (b stays 0.175): on seeds 1-3 p3_idc_fe (SE 0.01, 50 SEs per unit of a) is met
    exactly at a1 and p3_mech_ts (SE 0.05, 20 SEs per unit) at a1 + ``gap``; returns the objective, a1, a2."""
    e = np.array([np.random.default_rng(s).standard_normal() for s in (1, 2, 3)]).mean()
    a1 = 0.7 - 0.04 * e
    a2 = a1 + gap
    t = load_targets().copy()
    t.loc["p3_idc_fe", ["value", "se"]] = [0.35, 0.01]
    t.loc["p3_mech_ts", ["value", "se"]] = [a2 - 0.0875 + 0.01 * e, 0.05]
    free = fit.free_parameters([FREE[0]], bounds={FREE[0]: (0.3, 1.2)})
    return fit.Objective(IDS, free, reps=3, targets=t, log=tmp_path / "evaluations.jsonl"), a1, a2


def test_polish_steps_from_the_least_squares_fit_to_the_nearest_point_meeting_every_row(tmp_path, monkeypatch):
    """Least squares weighs the precise row 6.25 times as much and leaves the other at -1.07 SE; the rows
    can both be within 0.95 SE, and the nearest such point (the other row at exactly -0.95) is the fit."""
    monkeypatch.setattr(fit, "_task", fake_task([]))
    obj, a1, a2 = _two_rows_one_parameter(tmp_path, gap=0.062)
    plain = fit.calibrate(_two_rows_one_parameter(tmp_path / "ls", gap=0.062)[0], budget=3, refine=30, seed=0)
    assert fit.fit_rows_met(obj, plain.best) == 1
    assert plain.params[FREE[0]] == pytest.approx(a1 + 400 / 2900 * 0.062, abs=1e-4)
    res = fit.calibrate(obj, budget=3, refine=30, seed=0, polish=0.95)
    assert res.params[FREE[0]] == pytest.approx(a2 - 0.95 / 20, abs=1e-8)
    assert res.best.table.at["p3_mech_ts", "diff"] == pytest.approx(-0.95, abs=1e-6)
    assert res.info["polish"] == {"margin": 0.95, "rows_met_before": 1, "step": True, "left_out": [], "rows_met_after": 2,
                                  "distance_after": res.best.distance, "accepted": True}
    assert res.best.distance > plain.best.distance  # fewer squares is not more rows


def test_polish_keeps_the_fit_when_no_point_meets_every_row(tmp_path, monkeypatch):
    monkeypatch.setattr(fit, "_task", fake_task([]))
    obj, a1, a2 = _two_rows_one_parameter(tmp_path, gap=0.08)  # 0.95 / 50 + 0.95 / 20 = 0.0665 < 0.08
    res = fit.calibrate(obj, budget=3, refine=30, seed=0, polish=0.95)
    assert res.info["polish"] == {"margin": 0.95, "rows_met_before": 1, "step": False, "accepted": False}
    assert res.params[FREE[0]] == pytest.approx(a1 + 400 / 2900 * 0.08, abs=1e-4)


def test_write_parameters_rewrites_only_value_and_target(tmp_path):
    src = tmp_path / "parameters.toml"
    shutil.copyfile(DEFAULT_PATH, src)
    before = src.read_text().splitlines()
    fit.write_parameters({"firm_outcomes.TS_effect": 0.1234567, "province_economy.beta2": 0.7},
                         src, targets={"firm_outcomes.TS_effect": "p3_mech_ts, p3_mech_md"})
    after = src.read_text().splitlines()
    assert len(before) == len(after)
    changed = [j for j, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(changed) == 2
    raw = tomllib.loads(src.read_text())
    old = tomllib.loads("\n".join(before))
    assert raw["firm_outcomes"]["TS_effect"]["value"] == 0.1234567
    assert raw["firm_outcomes"]["TS_effect"]["target"] == "p3_mech_ts, p3_mech_md"
    assert raw["province_economy"]["beta2"]["value"] == 0.7
    assert raw["province_economy"]["beta2"]["target"] == old["province_economy"]["beta2"]["target"]
    for sec in raw:
        for k, e in raw[sec].items():
            if (sec, k) not in (("firm_outcomes", "TS_effect"), ("province_economy", "beta2")):
                assert e == old[sec][k]
            else:
                assert {f: v for f, v in e.items() if f not in ("value", "target")} == \
                       {f: v for f, v in old[sec][k].items() if f not in ("value", "target")}
    with pytest.raises(fit.CalibrationError, match="not found"):
        fit.write_parameters({"firm_outcomes.nope": 1.0}, src)


def _refuse_simulation(monkeypatch) -> None:
    """Make any model construction fail: the call under test must stop before simulating."""
    import sim.model

    def boom(*a, **k):
        raise AssertionError("simulated")

    monkeypatch.setattr(sim.model.SuanLiModel, "__init__", boom)


def test_structural_counterparts_are_coefficient_rows_and_survive_a_write_back(tmp_path):
    from calibration.params import load_parameters

    targets = load_targets()
    where = moments.structural_parameters(load_parameters().table, targets)
    spec = targets.loc[list(where), "spec"].astype(str)
    assert not spec.str.contains("descriptive|macro fact", regex=True).any()
    src = tmp_path / "parameters.toml"
    shutil.copyfile(DEFAULT_PATH, src)
    fit.write_parameters({"province_economy.beta1_qty": -0.05}, src,
                         targets={"province_economy.beta1_qty": "fitted to p1_desc_lntfp_mean, p1_nvar_qty_beta1"})
    after = moments.structural_parameters(load_parameters(src).table, targets)
    assert after == where
    assert after["p1_nvar_qty_beta1"] == ["province_economy.beta1_qty"]
    assert "p1_desc_lntfp_mean" not in after


def test_parameter_file_naming_an_unknown_counterpart_is_refused_before_simulating(tmp_path, capsys, monkeypatch):
    from experiments.cli import main

    _refuse_simulation(monkeypatch)
    src = tmp_path / "parameters.toml"
    src.write_text(DEFAULT_PATH.read_text().replace('measures = "p1_nvar_qty_beta1"', 'measures = "p1_nvar_qty_beta9"'))
    rc = main(["calibrate", "--report", "--backend", "serial", "--params", str(src), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "province_economy.beta1_qty.measures" in err[0] and "p1_nvar_qty_beta9" in err[0]


def test_report_on_fresh_seeds_counts_the_rows_an_evaluation_on_those_seeds_meets(tmp_path, capsys, monkeypatch):
    """--fresh-seeds evaluates the same parameters on other seeds; its count is that evaluation's, its log
    is its own, and the seeds the fake model saw are exactly the report's and the fresh ones."""
    from experiments.cli import main

    calls = []
    monkeypatch.setattr(fit, "_task", fake_task(calls))
    ids, hold = "p3_idc_fe,p3_mech_ts", "p3_mech_md"
    rc = main(["calibrate", "--report", "--backend", "serial", "--reps", "3", "--targets", ids, "--hold-out", hold,
               "--fresh-seeds", "7-12", "--out", str(tmp_path / "o")])
    assert rc == 0
    assert sorted({c[2] for c in calls}) == [1, 2, 3, 7, 8, 9, 10, 11, 12]
    direct = fit.Objective(ids.split(","), [], seeds=range(7, 13), report_ids=[hold]).evaluate({}, with_report=True)
    want = int(direct.table["within"].sum())
    out = capsys.readouterr().out
    assert f"on the fresh seeds 7-12: {want} of 3 rows" in out
    md = (tmp_path / "o" / "report.md").read_text()
    assert f"## On fresh seeds (7-12, not used by the fit)" in md and f"meet **{want} of 3 rows**" in md
    logged = [json.loads(x) for x in (tmp_path / "o" / "report_fresh_evaluations.jsonl").read_text().splitlines()]
    assert len(logged) == 1 and sorted(map(int, logged[0]["reps"])) == list(range(7, 13))


def test_fresh_section_lists_rows_met_on_one_set_of_seeds_only():
    from calibration.report import fresh_section

    idx = pd.Index(["a", "b", "c"])
    here = pd.DataFrame({"role": ["fit", "fit", "hold-out"], "diff": [0.5, 1.5, -0.2], "within": [True, False, True],
                         "mc_se": 0.1}, index=idx)
    there = here.assign(diff=[1.4, 0.9, 0.1], within=[False, True, True])
    text = "\n".join(fresh_section(here, there, range(1, 5), range(5, 9)))
    assert "meet **2 of 3 rows** (in-sample 1/2); 1 rows are met on both" in text
    assert "Met on the report's seeds only: `a`." in text and "Met on the fresh seeds only: `b`." in text
    assert "diff, seeds 1-4" in text and "diff, seeds 5-8" in text


@pytest.mark.parametrize("argv, needle", [
    (["--targets", "p3_idc_fe,p9_nothing"], "p9_nothing"),
    (["--free", "firm_outcomes.no_such"], "firm_outcomes.no_such"),
    (["--free", "datacentre.initial_dcs"], "datacentre.initial_dcs"),
    (["--free", "datacentre.rack_kw"], "datacentre.rack_kw"),
    (["--budget", "0"], "--budget"),
    (["--free", "firm_outcomes.TS_effect", "--bounds", "firm_outcomes.TS_effect=0.5:0.9"], "exclude the start"),
    (["--hold-out", "p3_zzz"], "p3_zzz"),
    (["--polish", "0"], "--polish 0.0: must be in (0, 1]"),
    (["--polish", "1.5"], "--polish 1.5"),
    (["--report", "--polish", "0.9"], "only for a fit"),
    (["--report", "--reps", "16", "--fresh-seeds", "10-20"], "seed 10 is one of the report's seeds 1-16"),
    (["--fresh-seeds", "20-30"], "only with --report"),
    (["--report", "--fresh-seeds", "x-3"], "--fresh-seeds x-3"),
])
def test_bad_call_exits_2_with_one_line_before_simulating(argv, needle, capsys, monkeypatch, tmp_path):
    from experiments.cli import main

    _refuse_simulation(monkeypatch)
    rc = main(["calibrate", "--backend", "serial", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and needle in err[0]
    assert not (tmp_path / "o").exists()


def test_identify_command_screens_a_box_and_says_when_the_bounds_break_the_model(tmp_path, monkeypatch, capsys):
    """``suanli calibrate --identify`` writes the note; over bounds where most points break down it points
    to ``--span``, and with ``--span`` the note names the box it screened."""
    from experiments.cli import main

    inner = fake_task([])

    def breaks_at_the_edges(config, seed, ids, free, reuse, params_path):
        if not 0.5 < config.parameter_overrides.get(FREE[0], 0.818) < 1.0:  # as fit._task returns a breakdown
            return {**{i: [np.nan, np.nan, np.nan] for i in ids}, "_error": "ValueError: lam value too large"}
        return inner(config, seed, ids, free, reuse, params_path)

    monkeypatch.setattr(fit, "_task", breaks_at_the_edges)
    argv = ["calibrate", "--identify", "--backend", "serial", "--reps", "1", "--trajectories", "3", "--free", ",".join(FREE),
            "--targets", ",".join(IDS), "--bounds", f"{FREE[0]}=0.3:1.2", "--bounds", f"{FREE[1]}=0.05:0.4"]
    assert main([*argv, "--out", str(tmp_path / "wide")]) == 0
    out = capsys.readouterr().out
    assert "points broke down" in out and "--span 0.2 screens" in out
    assert main([*argv, "--span", "0.2", "--out", str(tmp_path / "box")]) == 0
    note = (tmp_path / "box" / "identification.md").read_text()
    assert "± 10 % of its bound width" in note and "broke down" not in capsys.readouterr().out


def test_fallback_bounds_rule():
    assert fit.fallback_bounds(0.4)[:2] == (0.2, 0.8)
    assert fit.fallback_bounds(-0.2)[:2] == (-0.4, -0.1)
    assert fit.fallback_bounds(0.0)[:2] == (-0.1, 0.1)
    assert fit.fallback_bounds(0.7, "share")[:2] == (0.35, 1.0)


# --------------------------------------------------------------------- on the model
@pytest.fixture(scope="module")
def short_config():
    from sim.config import ModelConfig

    return ModelConfig(start_year=2016, end_year=2019, firm_scale=0.25)


def _same(fast, ref, ids):
    """Ids whose [estimate, se, n] differ between the fast path and the reference by more than 1e-10
    (relative above 1; NaN equals NaN)."""
    bad = []
    for i in ids:
        r, f = ref.loc[i, ["estimate", "se", "n"]].to_numpy(float), np.array(fast[i], float)
        ok = (np.isnan(r) & np.isnan(f)) | (np.abs(r - f) <= 1e-10 * np.maximum(1.0, np.abs(r)))
        if not ok.all():
            bad.append((i, r, f))
    return bad


@pytest.fixture(scope="module")
def full_run_reference():
    """Every target on a full run (2008-2025, a quarter of the firms): the slow path's moments and panels
    at the committed values and at new values of one firm, one firm-measurement and one city parameter."""
    from calibration import fastpath
    from sim.config import ModelConfig

    ids = list(load_targets().index)
    cfg = ModelConfig(end_year=moments.last_year(ids), firm_scale=0.25)
    moved = replace(cfg, parameter_overrides={"firm_outcomes.TS_effect": 0.3, "firm_outcomes.TS_missing": 0.3,
                                              "city_economy.elasticity_low": -0.2})
    out = {"ids": ids, "config": cfg, "moved": moved}
    for name, c in (("base", cfg), ("new", moved)):
        out[name] = fastpath.reference_run(c, 5, ids)
    return out


def test_fast_path_equals_reference_and_replays_study_parameters(full_run_reference):
    """The fast path (plan, lean run, study-only replay, cached moments) gives every target's estimate, SE
    and N of the full run to 1e-10; the replay re-simulates no economy and changes what it should."""
    from calibration import fastpath

    r = full_run_reference
    ids, free = r["ids"], tuple(r["moved"].parameter_overrides)
    cache = fastpath.CoreCache()
    fast = fastpath.replicate(r["config"], 5, ids, free, cache=cache)
    assert _same(fast, r["base"][0], ids) == []
    assert (cache.full, cache.hits) == (1, 1 - 1)
    again = fastpath.replicate(r["moved"], 5, ids, free, cache=cache)
    assert (cache.full, cache.hits, cache.replays) == (1, 1, 1)
    assert _same(again, r["new"][0], ids) == []
    assert again["p3_mech_ts"][2] < 0.9 * fast["p3_mech_ts"][2]  # TS missing in 30 % of firm-years, not 18 %
    assert again["p3_mech_ts"][0] != fast["p3_mech_ts"][0] and again["p2_thr_low"][0] != fast["p2_thr_low"][0]
    assert again["p1_nvar_qty_beta1"] == fast["p1_nvar_qty_beta1"]
    plan = fastpath.make_plan(ids, r["moved"], free)
    replayed = fastpath.simulate(r["moved"], 5, plan, cache=cache)
    pd.testing.assert_frame_equal(replayed["summary"], r["new"][1]["summary"])
    pd.testing.assert_frame_equal(replayed["study_firms"], r["new"][1]["study_firms"])


def test_fast_path_runs_only_the_studies_and_years_the_targets_need(full_run_reference):
    from calibration import fastpath

    r = full_run_reference
    firm_ids = ["p3_idc_fe", "p3_iv_2sls", "p3_mech_cti", "p4_racks_2023_million"]
    plan = fastpath.make_plan(firm_ids, r["config"])
    assert plan.end_year == 2023 and plan.studies == ("provinces", "firms") and plan.record == ()
    assert fastpath.make_plan(["p2_fe_computing"], r["config"], ["firm_outcomes.TS_effect"]).record == ()
    assert fastpath.make_plan(["p3_idc_fe"], r["config"], ["firm_outcomes.TS_effect"]).record == ("firms",)
    assert fastpath.study_of_parameter("province_economy.beta2") is None  # seed 000 feeds the economy
    # without the cities study and stopped in 2023, the firms' and the macro moments are unchanged
    assert _same(fastpath.replicate(r["config"], 5, firm_ids), r["base"][0], firm_ids) == []


def test_moment_shortcuts_equal_the_full_tables(full_run_reference):
    """Seed 000 tables 2-3 estimated at column (8) alone, and every geo-W table with the weight matrix kept
    per process, give the targets of the full tables with a freshly built matrix."""
    from analysis import replicate as rep
    from sim.world import World

    r = full_run_reference
    sample = moments.SAMPLERS["provinces"](r["base"][1]["study_provinces"])
    W = rep.province_weights("geo", sorted(pd.unique(sample["province"])), provinces=World.load().provinces)
    for table in ("p1_table2", "p1_table3", "p1_table6", "p1_table7"):
        t = rep.TABLES[table][1](sample, W=W, **{k: v for k, v in moments.TABLE_OPTIONS.get(table, {}).items()
                                                  if k != "last_only"})
        assert len(t.columns) > 1
        for tid in moments.BLOCKS[table].ids:
            assert tuple(r["base"][0].loc[tid, ["estimate", "se", "n"]]) == pytest.approx(t.target_estimate(tid),
                                                                                           rel=1e-12), tid


def test_mechanism_moment_equals_table(short_config):
    from analysis.replicate import p3_table5
    from sim.model import SuanLiModel
    from sim.outputs import collect_panels

    cfg = replace(short_config, end_year=2023)  # the tables insist on seed 002's full window 2017-2023
    m = SuanLiModel(cfg, seed=2)
    m.run()
    panels = collect_panels(m)
    got = moments.compute_moments(panels, ["p3_mech_ts", "p3_mech_md", "p3_idc_mean", "p2_dc_power_2024_twh",
                                           "p4_racks_2023_million"])
    sample = moments.SAMPLERS["firms"](panels["study_firms"])
    t = p3_table5(sample)
    for tid in ("p3_mech_ts", "p3_mech_md"):
        est, se, n = t.target_estimate(tid)
        assert got.at[tid, "estimate"] == pytest.approx(est, rel=1e-10)
        assert got.at[tid, "se"] == pytest.approx(se, rel=1e-10)
        assert got.at[tid, "n"] == n
    assert got.at["p3_idc_mean", "estimate"] == pytest.approx(sample["IDC"].mean())
    racks = panels["summary"].set_index("year").at[2023, "racks_million"]
    assert got.at["p4_racks_2023_million", "estimate"] == racks
    assert np.isnan(got.at["p2_dc_power_2024_twh", "estimate"])  # the run stops in 2023
    assert "2024" in got.at["p2_dc_power_2024_twh", "note"]


def test_morris_screen_finds_the_known_structure(tmp_path, monkeypatch):
    """On the linear model, elementary effects are exact: p3_idc_fe = 0.5 a moves with a only,
    p3_mech_ts = a - 0.5 b with both; effects in published SEs (0.01) per bound width."""
    from calibration import identification as ident

    calls = []
    monkeypatch.setattr(fit, "_task", fake_task(calls))
    obj = _objective(tmp_path, log=False)
    res = ident.morris_screen(obj, trajectories=3, levels=4, seed=1)
    assert res.n_evaluations == 3 * (len(obj.free) + 1)
    wa, wb = 1.2 - 0.3, 0.4 - 0.05
    assert res.mu_star.at["p3_idc_fe", FREE[0]] == pytest.approx(0.5 * wa / 0.01, rel=1e-9)
    assert res.mu_star.at["p3_idc_fe", FREE[1]] == pytest.approx(0.0, abs=1e-9)
    assert res.mu_star.at["p3_mech_ts", FREE[0]] == pytest.approx(wa / 0.01, rel=1e-9)
    assert res.mu.at["p3_mech_ts", FREE[1]] == pytest.approx(-0.5 * wb / 0.01, rel=1e-9)
    assert res.identified().all()
    paths = ident.write_identification(res, tmp_path / "id", objective=obj)
    note = paths["note"].read_text()
    assert f"`{FREE[1]}`: identified; moves `p3_mech_ts`" in note
    assert paths["heatmap"].stat().st_size > 10_000
    # two free parameters, two rows, full rank: the linear joint step meets both rows
    assert "- none in the linear approximation" in note


def test_morris_screen_of_a_neighbourhood_reports_effects_per_box_width(tmp_path, monkeypatch):
    """``span`` screens value +- span/2 of each bound width (cut to the bounds): on the linear model the
    effects scale with the box, and the note says which box was screened."""
    from calibration import identification as ident

    monkeypatch.setattr(fit, "_task", fake_task([]))
    obj = _objective(tmp_path, log=False)
    a, b = obj.free
    assert ident.screen_box(a, 0.2) == pytest.approx([a.start - 0.09, a.start + 0.09])
    assert ident.screen_box(b, 0.8)[0] == b.lower  # cut to the bound
    res = ident.morris_screen(obj, trajectories=3, levels=4, seed=1, span=0.2)
    box = np.diff(ident.screen_box(a, 0.2))[0]
    assert res.mu_star.at["p3_idc_fe", FREE[0]] == pytest.approx(0.5 * box / 0.01, rel=1e-9)
    X = np.array(res.problem["bounds"])
    assert (X[:, 1] - X[:, 0] < np.array([a.upper - a.lower, b.upper - b.lower])).all()
    note = ident.write_identification(res, tmp_path / "id", objective=obj)["note"].read_text()
    assert "± 10 % of its bound width" in note and res.problem["broken"] == 0
    with pytest.raises(ValueError, match="span"):
        ident.morris_screen(obj, span=0.0)


def test_joint_misfit_names_rows_one_parameter_cannot_meet_together():
    from calibration import identification as ident

    G = pd.DataFrame({"x": [1.0, 1.0]}, index=["r1", "r2"])
    after = ident.joint_misfit(G, pd.Series({"r1": 3.0, "r2": -3.0}), ["r1", "r2"])
    assert after.abs().min() > 1  # one parameter, opposite demands: neither row can be met
    after2 = ident.joint_misfit(G, pd.Series({"r1": 3.0, "r2": 3.0}), ["r1", "r2"])
    assert after2.abs().max() < 1e-12


def test_a_point_where_the_model_breaks_down_is_penalised_not_fatal(monkeypatch):
    """A replication that raises a numerical error gives NaN statistics (penalised distance) once the
    fit is under way; at the very first point of a search it is a one-line CalibrationError, and for a
    screen over the bounds (``check_start=False``) a penalised point like any other."""
    import calibration.fastpath as fp

    calls = {"n": 0}

    def broken(config, seed, ids, free, end_year=None, params_path=None):
        calls["n"] += 1
        raise ValueError("lam value too large")

    monkeypatch.setattr(fp, "replicate", broken)
    obj = fit.Objective(["p4_racks_2023_million"], [], reps=1)
    with pytest.raises(fit.CalibrationError, match="breaks down at the first point"):
        obj.evaluate({"datacentre.invest_speed": 1.0})
    obj.log.records["seen"] = {}
    ev = obj.evaluate({"datacentre.invest_speed": 1.1})
    assert calls["n"] == 2 and ev.distance == fit.MISSING_PENALTY
    assert np.isnan(ev.table.loc["p4_racks_2023_million", "sim_mean"])
    screen = fit.Objective(["p4_racks_2023_million"], [], reps=1)
    first = screen.evaluate({"datacentre.invest_speed": 0.0}, "morris", check_start=False)  # a corner of the bounds
    assert calls["n"] == 3 and first.distance == fit.MISSING_PENALTY
    assert np.isnan(first.table.loc["p4_racks_2023_million", "sim_mean"])


def test_morris_effects_skip_broken_points_and_stay_exact():
    """When a design point breaks down (NaN), the screen keeps the elementary effects of the other
    steps: on a linear function they equal the slopes per full bound width."""
    from SALib.sample import morris as morris_sample

    from calibration import identification as ident

    problem = {"num_vars": 3, "names": ["a", "b", "c"], "bounds": [[0.0, 2.0], [10.0, 20.0], [-1.0, 1.0]]}
    X = morris_sample.sample(problem, N=4, num_levels=4, seed=3)
    lo, hi = np.array(problem["bounds"]).T
    U = (X - lo) / (hi - lo)
    y = 2.0 * U[:, 0] + 0.0 * U[:, 1] - 3.0 * U[:, 2]
    y[5] = np.nan
    mu_star, mu, sigma = ident._partial_effects(problem, X, y)
    assert np.allclose(mu, [2.0, 0.0, -3.0]) and np.allclose(mu_star, [2.0, 0.0, 3.0])
    assert np.allclose(sigma, 0.0, atol=1e-12)


def test_standard_errors_count_the_noise_of_the_targets_and_of_the_simulated_means(tmp_path, monkeypatch):
    """On the linear model (exactly identified: theta_hat = G^-1 (targets - CRN noise)), the sandwich SE is
    sqrt(diag(G^-1 S G^-T)) with S = the targets' covariance + the covariance of the simulated means over
    the replications; pseudo-targets from other seeds carry their own covariance, so a recovery's SE counts
    both draws and exceeds the SE of the simulation alone."""
    monkeypatch.setattr(fit, "_task", fake_task([]))
    obj = _objective(tmp_path, log=False)
    values = {FREE[0]: 0.8, FREE[1]: 0.2}
    jac = fit.jacobian(obj, values)
    np.testing.assert_allclose(jac.loc[list(IDS)].to_numpy(), _G, atol=1e-9)
    pub = np.diag([0.01**2, 0.01**2])
    want = np.sqrt(np.diag(_sandwich(pub + _mean_noise_cov((1, 2, 3)))))
    np.testing.assert_allclose(fit.smm_standard_errors(obj, jac, values).to_numpy(), want, rtol=1e-9)
    pseudo = fit.pseudo_targets(obj, values, seeds=[11, 12, 13, 14])
    np.testing.assert_allclose(pseudo.attrs["covariance"].loc[list(IDS), list(IDS)].to_numpy(),
                               _mean_noise_cov((11, 12, 13, 14)), rtol=1e-9)
    both = fit.smm_standard_errors(obj, jac, values, data_cov=pseudo.attrs["covariance"]).to_numpy()
    np.testing.assert_allclose(both, np.sqrt(np.diag(_sandwich(_mean_noise_cov((11, 12, 13, 14))
                                                               + _mean_noise_cov((1, 2, 3))))), rtol=1e-9)
    zero = pd.DataFrame(0.0, index=list(IDS), columns=list(IDS))
    assert (both > fit.smm_standard_errors(obj, jac, values, data_cov=zero).to_numpy()).all()


def test_recovery_names_parameters_identified_only_jointly(tmp_path, monkeypatch):
    """On the linear model with one common noise draw per replication and pseudo-data on the fit's own seeds,
    the estimates' error is -G^-1 c e_bar for both parameters: their sandwich correlation is +1, and the
    recovery reports the pair as identified only jointly; with independent published noise added, the
    correlation is that of G^-1 (diag(0.01^2) + sim) G^-T."""
    monkeypatch.setattr(fit, "_task", fake_task([]))
    obj = _objective(tmp_path, log=False)
    res = fit.recover(obj, {FREE[0]: 0.8, FREE[1]: 0.2}, budget=4, refine=40, seed=0)
    (a, b, corr), = res.joint()
    assert (a, b) == FREE and corr == pytest.approx(1.0, abs=1e-6)
    assert f"{FREE[0]} and {FREE[1]} (+1.000)" in res.summary()
    values = {FREE[0]: 0.8, FREE[1]: 0.2}
    V = fit.smm_covariance(obj, fit.jacobian(obj, values), values).to_numpy()  # published SEs 0.01 on both rows
    np.testing.assert_allclose(V, _sandwich(np.diag([0.01**2, 0.01**2]) + _mean_noise_cov((1, 2, 3))), rtol=1e-9)


def test_parameter_file_decides_every_parameter_not_free(tmp_path):
    """An objective on another parameter file (``--params``) simulates that file's values: a file that
    changes one non-free entry gives, to the bit, what the default file gives with that entry fixed,
    and not what the default file gives."""
    from calibration.params import DEFAULT_PATH, load_parameters

    name, ids = "datacentre.invest_speed", ["p4_racks_2023_million"]
    t = load_parameters().table
    value = 1.3 * float(t.loc[(t.section == "datacentre") & (t.name == "invest_speed"), "value"].iloc[0])
    other = fit.write_parameters({name: value}, DEFAULT_PATH, tmp_path / "other.toml")
    on_file = fit.Objective(ids, [], reps=1, params_path=other).evaluate({}).table.at[ids[0], "sim_mean"]
    fixed = fit.Objective(ids, [], reps=1, fixed={name: value}).evaluate({}).table.at[ids[0], "sim_mean"]
    default = fit.Objective(ids, [], reps=1).evaluate({}).table.at[ids[0], "sim_mean"]
    assert on_file == fixed and on_file != default
