"""Run directories: written atomically, never at the cost of a user's files, with a data dictionary
that covers every column written, and provenance in run.json."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

import sim.outputs as outputs
from sim.config import ModelConfig
from sim.dictionary import lookup, to_markdown
from sim.model import SuanLiModel

ROOT = Path(__file__).resolve().parent.parent
SMALL = ModelConfig(start_year=2008, end_year=2009, studies=())


@pytest.fixture(scope="module")
def small_model():
    return SuanLiModel(SMALL, seed=0).run()


@pytest.fixture(scope="module")
def study_model():
    return SuanLiModel(ModelConfig(start_year=2008, end_year=2010), seed=3).run()


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_failure_midway_leaves_previous_output_intact(tmp_path, small_model, monkeypatch):
    out = tmp_path / "run"
    outputs.write_run(small_model, out)
    before = _files(out)
    calls = {"n": 0}
    real = outputs.write_table

    def flaky(df, base, formats):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(df, base, formats)

    monkeypatch.setattr(outputs, "write_table", flaky)
    with pytest.raises(OSError, match="disk full"):
        outputs.write_run(small_model, out)
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_panels_round_trip_with_stata_labels(tmp_path, small_model):
    out = outputs.write_run(small_model, tmp_path / "r", formats=("parquet", "csv", "dta"))
    a = pd.read_parquet(out / "provinces.parquet")
    b = pd.read_csv(out / "provinces.csv")
    c = pd.read_stata(out / "provinces.dta")
    assert len(a) == len(b) == len(c) == 31 * 2
    assert (a["year"].unique() == [2008, 2009]).all()
    assert abs(a["gdp_bn_cny"] - c["gdp_bn_cny"]).max() < 1e-9
    with pd.io.stata.StataReader(out / "provinces.dta") as reader:
        labels = reader.variable_labels()
    unit, meaning = lookup("provinces", "gdp_bn_cny")
    assert labels["gdp_bn_cny"] == f"{meaning} [{unit}]"
    assert all(labels[c] for c in a.columns)


def test_parquet_only_unless_asked(tmp_path, small_model):
    out = outputs.write_run(small_model, tmp_path / "r")
    suffixes = {p.suffix for p in out.iterdir()}
    assert suffixes == {".parquet", ".json", ".txt"}


def test_outputs_levels(tmp_path, study_model):
    from experiments.ensemble import derived_tables

    names = {}
    for level in outputs.OUTPUT_LEVELS:
        d = outputs.write_run(study_model, tmp_path / level, outputs=level, tables=derived_tables(study_model, level))
        names[level] = {p.stem for p in d.glob("*.parquet")}
        info = json.loads((d / "run.json").read_text())
        assert info["outputs"] == level
        assert sorted(info["files"]) == sorted(p.name for p in d.iterdir() if p.name != "run.json")
    assert names["summary"] == {"summary"}
    assert {"provinces", "study_firms", "truth_cities", "flows", "estimands"} <= names["panels"]
    assert not any(n.startswith("latent_") or n in ("snapshots", "links") for n in names["panels"])
    assert names["panels"] < names["full"]
    assert {"snapshots", "links", "latent_firms"} <= names["full"]
    size = {lvl: sum(p.stat().st_size for p in (tmp_path / lvl).iterdir()) for lvl in names}
    assert size["summary"] < size["panels"] < size["full"]


def test_every_written_column_is_in_the_data_dictionary(tmp_path, study_model):
    from experiments.ensemble import derived_tables

    d = outputs.write_run(study_model, tmp_path / "full", outputs="full", formats=("parquet", "csv", "dta"),
                          tables=derived_tables(study_model, "full"))
    assert (d / "estimands.dta").exists()
    missing = []
    for f in sorted(d.iterdir()):
        if f.suffix == ".parquet":
            cols = pd.read_parquet(f).columns
        elif f.suffix == ".csv":
            cols = pd.read_csv(f, nrows=1).columns
        elif f.suffix == ".dta":
            cols = pd.read_stata(f).columns
        else:
            continue
        missing += [f"{f.name}:{c}" for c in cols if lookup(f.stem, c) is None]
    assert missing == []
    ens = pd.DataFrame(columns=["metric", "year", "mean", "sd", "p05", "p95", "n"])
    assert all(lookup("ensemble_summary", c) is not None for c in ens.columns)


def test_docs_outputs_md_is_generated_from_the_dictionary():
    assert (ROOT / "docs" / "outputs.md").read_text(encoding="utf-8") == to_markdown()


def test_run_json_records_provenance(tmp_path, small_model):
    d = outputs.write_run(small_model, tmp_path / "r", meta={"scenario": "mine", "wall_seconds": 1.25})
    info = json.loads((d / "run.json").read_text())
    assert info["seed"] == 0 and info["start_year"] == 2008 and info["end_year"] == 2009
    assert info["scenario"] == "mine" and info["wall_seconds"] == 1.25
    assert info["config"]["studies"] == [] and info["config"]["policy_after"] == SMALL.policy_after
    assert info["policy"] == {"before": SMALL.policy_before, "after": SMALL.policy_after, "options": {}}
    from importlib.metadata import version

    assert info["package_version"] == version("suanli")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert info["git_commit"].split("+")[0] == head.stdout.strip()
    assert info["parameters_sha256"] == outputs.parameters_hash(small_model.params)
    other = SuanLiModel(replace(SMALL, parameter_overrides={"datacentre.pue_2023": 1.5}), seed=0)
    assert outputs.parameters_hash(other.params) != info["parameters_sha256"]


def test_cli_run_json_has_scenario_policy_wall_time(tmp_path):
    from experiments.cli import main

    scen = tmp_path / "s.toml"
    scen.write_text('[scenario]\nname = "mine"\ndescription = "test"\n[run]\nstudies = []\n')
    assert main(["run", "--scenario", str(scen), "--years", "2008-2009", "--policy", "nearest_hub", "--seed", "7",
                 "--out", str(tmp_path / "o"), "--quiet"]) == 0
    info = json.loads((tmp_path / "o" / "run.json").read_text())
    assert info["scenario"] == "mine" and info["scenario_file"] == str(scen) and info["seed"] == 7
    assert info["policy"]["after"] == "nearest_hub" and info["wall_seconds"] > 0


def test_run_and_ensemble_write_the_same_estimands_beside_the_truths(tmp_path):
    """``suanli run`` and an ensemble replication at the panels level both write the ``estimands`` table,
    byte-identical for the same scenario and seed, with every study estimator's estimand computed."""
    from experiments.cli import main
    from experiments.ensemble import run_replication, seed_dir

    assert main(["run", "--years", "2008-2023", "--seed", "5", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    run_replication(ModelConfig(end_year=2023), 5, str(tmp_path / "ens"), scenario="default", outputs="panels")
    a, b = tmp_path / "run" / "estimands.parquet", seed_dir(tmp_path / "ens", 5) / "estimands.parquet"
    assert a.read_bytes() == b.read_bytes()
    t = pd.read_parquet(a)
    assert set(t["estimator"]) == {"nvar", "sfa", "threshold", "twfe", "iv", "psm", "csdid"}
    assert t["value"].notna().all() and (t["n_obs"] > 0).all(), t.loc[t["value"].isna(), "computed"].tolist()
    assert "estimands.parquet" in json.loads((tmp_path / "run" / "run.json").read_text())["files"]


def test_replaces_a_previous_run_atomically_but_never_a_users_files(tmp_path, small_model):
    out = tmp_path / "run"
    outputs.write_run(small_model, out, outputs="summary")
    outputs.write_run(small_model, out, outputs="panels")
    assert (out / "provinces.parquet").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    (out / "my_notes.txt").write_text("mine")
    before = _files(out)
    with pytest.raises(outputs.OutputError, match="my_notes.txt"):
        outputs.write_run(small_model, out)
    assert _files(out) == before
    user_file = tmp_path / "results"
    user_file.write_text("precious")
    with pytest.raises(outputs.OutputError, match="is a file"):
        outputs.write_run(small_model, user_file)
    assert user_file.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "run"]
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "data.parquet").write_bytes(b"not ours")
    with pytest.raises(outputs.OutputError, match="SuanLi did not write"):
        outputs.write_run(small_model, folder)
    assert (folder / "data.parquet").read_bytes() == b"not ours"


def test_stale_temporaries_of_dead_processes_are_cleaned_at_next_start(tmp_path, small_model):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = outputs._host()
    stale = tmp_path / f".suanli-tmp.run.{host}-{dead.pid}.0123abcd"
    live = tmp_path / f".suanli-tmp.other.{host}-{os.getpid()}.0123abcd"
    remote = tmp_path / f".suanli-tmp.run.elsewhere-{dead.pid}.0123abcd"
    users = tmp_path / ".suanli-tmp.notes"
    for d in (stale, live, remote, users):
        d.mkdir()
        (d / "x.parquet").write_bytes(b"1")
    outputs.write_run(small_model, tmp_path / "run", outputs="summary")
    assert not stale.exists()
    assert live.exists() and remote.exists() and users.exists()


SIGTERM_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import sim.outputs as o
    from sim.config import ModelConfig
    from sim.model import SuanLiModel
    o.install_sigterm_handler()
    m = SuanLiModel(ModelConfig(start_year=2008, end_year=2009, studies=()), seed=0).run()
    real = o.write_table
    def slow(df, base, formats):
        out = real(df, base, formats)
        print("writing", flush=True)
        time.sleep(30)
        return out
    o.write_table = slow
    try:
        o.write_run(m, sys.argv[1])
    except o.Terminated:
        sys.exit(143)
    """
)


def test_sigterm_while_writing_removes_the_temporary_directory(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT, str(tmp_path / "run")], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    assert any(p.name.startswith(".suanli-tmp.run.") for p in tmp_path.iterdir())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert list(tmp_path.iterdir()) == []


def test_bad_outputs_and_formats_are_refused(tmp_path, small_model):
    with pytest.raises(outputs.OutputError, match="--outputs = 'most'"):
        outputs.write_run(small_model, tmp_path / "r", outputs="most")
    with pytest.raises(outputs.OutputError, match="--formats = 'xlsx'"):
        outputs.write_run(small_model, tmp_path / "r", formats="xlsx")
    assert list(tmp_path.iterdir()) == []


def test_estimands_computed_after_the_model_is_released_are_the_same(tmp_path):
    """``write_run(derive=deferred_tables, release=True)`` (``suanli run``, ensemble replications) writes the
    same files as the estimands computed up front; the released model keeps its national summary."""
    from experiments.ensemble import deferred_tables, derived_tables

    cfg = ModelConfig(start_year=2008, end_year=2010)
    eager = SuanLiModel(cfg, seed=3).run()
    outputs.write_run(eager, tmp_path / "eager", outputs="full", tables=derived_tables(eager, "full"))
    late = SuanLiModel(cfg, seed=3).run()
    summary = outputs.format_summary(late)
    outputs.write_run(late, tmp_path / "late", outputs="full", derive=deferred_tables, release=True)
    assert _files(tmp_path / "eager") == _files(tmp_path / "late")
    assert "estimands.parquet" in _files(tmp_path / "late")
    assert outputs.format_summary(late) == summary
    assert late.flow_records == [] and not late.running
