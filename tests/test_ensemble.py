"""Ensembles: identical outputs serially, in processes and on Dask; resumption only of matching
replications; workers that die with their parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

import experiments.ensemble as ens
from sim.config import ModelConfig

CFG = ModelConfig(start_year=2008, end_year=2010, studies=())
ROOT = Path(__file__).resolve().parent.parent


def _files(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def _results(d):
    """The files of a replication, with run.json's ``git_commit`` dropped: it records the source tree
    each process ran from, which moves if the tree is committed while a test runs."""
    out = _files(d)
    info = json.loads(out["run.json"])
    info.pop("git_commit", None)
    out["run.json"] = json.dumps(info, sort_keys=True).encode()
    return out


def test_dask_and_processes_match_serial(tmp_path):
    ens.run_ensemble(CFG, [1, 2], tmp_path / "serial", backend="serial")
    table = ens.run_ensemble(CFG, [1, 2], tmp_path / "dask", backend="dask", workers=2)
    ens.run_ensemble(CFG, [1, 2], tmp_path / "proc", backend="processes", workers=2)
    for s in (1, 2):
        want = _results(ens.seed_dir(tmp_path / "serial", s))
        assert want == _results(ens.seed_dir(tmp_path / "dask", s)) == _results(ens.seed_dir(tmp_path / "proc", s))
    assert _files(ens.seed_dir(tmp_path / "serial", 1)) != _files(ens.seed_dir(tmp_path / "serial", 2))
    for name in ("ensemble_summary.parquet",):
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes()
    row = table[(table["metric"] == "racks_million") & (table["year"] == 2010)].iloc[0]
    assert row["n"] == 2 and row["p05"] <= row["mean"] <= row["p95"]
    assert sorted(p.name for p in ens.seed_dir(tmp_path / "serial", 1).iterdir()) == ["run.json", "summary.parquet",
                                                                                        "summary.txt"]


def test_interrupted_ensemble_resumes(tmp_path, monkeypatch):
    real = ens.run_replication
    done = []

    def crash_on_third(config, seed, out, *rest):
        if seed == 3 and not done.count("crashed"):
            done.append("crashed")
            raise KeyboardInterrupt
        done.append(seed)
        return real(config, seed, out, *rest)

    monkeypatch.setattr(ens, "run_replication", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        ens.run_ensemble(CFG, [1, 2, 3, 4], tmp_path, backend="serial")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["ensemble.json", "seed=1", "seed=2"]
    first = _files(ens.seed_dir(tmp_path, 1))
    ens.run_ensemble(CFG, [1, 2, 3, 4], tmp_path, backend="serial")
    assert done == [1, 2, "crashed", 3, 4]
    assert _files(ens.seed_dir(tmp_path, 1)) == first
    assert (tmp_path / "ensemble_summary.parquet").exists()


def test_resume_refuses_or_recomputes_mismatching_replications(tmp_path):
    out = tmp_path / "e"
    ens.run_ensemble(CFG, [1], out, scenario="default")
    stored = _files(ens.seed_dir(out, 1))
    cases = [
        (dict(config=CFG, scenario="carbon_price"), "scenario 'default', not 'carbon_price'"),
        (dict(config=replace(CFG, carbon_price_cny_per_t=200.0), scenario="default"), "another config (carbon_price_cny_per_t=0.0 not 200.0)"),
        (dict(config=replace(CFG, parameter_overrides={"datacentre.pue_2023": 1.5}), scenario="default"), "another config"),
        (dict(config=CFG, scenario="default", outputs="panels"), "outputs 'summary', not 'panels'"),
    ]
    for kwargs, words in cases:
        with pytest.raises(ens.EnsembleMismatch) as err:
            ens.run_ensemble(kwargs.pop("config"), [1], out, **kwargs)
        assert words in str(err.value) and "seed=1" in str(err.value) and "--force" in str(err.value)
        assert _files(ens.seed_dir(out, 1)) == stored
    info = json.loads((ens.seed_dir(out, 1) / "run.json").read_text())
    info["package_version"] = "0.0.1"
    (ens.seed_dir(out, 1) / "run.json").write_text(json.dumps(info))
    with pytest.raises(ens.EnsembleMismatch, match="package version '0.0.1'"):
        ens.run_ensemble(CFG, [1], out, scenario="default")
    ens.run_ensemble(CFG, [1], out, scenario="default", force=True)
    assert _files(ens.seed_dir(out, 1)) == stored
    ens.run_ensemble(replace(CFG, carbon_price_cny_per_t=200.0), [1], out, scenario="carbon", force=True)
    info = json.loads((ens.seed_dir(out, 1) / "run.json").read_text())
    assert info["scenario"] == "carbon" and info["config"]["carbon_price_cny_per_t"] == 200.0


def test_params_hash_mismatch_is_refused(tmp_path, monkeypatch):
    out = tmp_path / "e"
    ens.run_ensemble(CFG, [2], out)
    real = ens.expected_record

    def other_params(config, scenario, outputs):
        rec = real(config, scenario, outputs)
        return {**rec, "parameters_sha256": "0" * 64}

    monkeypatch.setattr(ens, "expected_record", other_params)
    with pytest.raises(ens.EnsembleMismatch, match="other structural parameters"):
        ens.run_ensemble(CFG, [2], out)


def test_ensemble_out_never_takes_a_users_directory(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("chapter 1")
    with pytest.raises(ens.OutputError, match="thesis.tex"):
        ens.run_ensemble(CFG, [1], mine)
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]
    with pytest.raises(ens.OutputError, match="at least 1"):
        ens.run_ensemble(CFG, [1], tmp_path / "x", backend="processes", workers=0)
    assert not (tmp_path / "x").exists()


PARENT = textwrap.dedent(
    """
    import sys
    from dataclasses import replace
    import experiments.ensemble as ens
    from sim.config import ModelConfig
    ens.run_ensemble(ModelConfig(start_year=2008, end_year=2035, studies=()), [1, 2, 3, 4], sys.argv[1],
                     backend="processes", workers=2)
    """
)


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_workers_stop_when_the_parent_is_killed(tmp_path):
    out = tmp_path / "e"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(out)], cwd=ROOT)
    workers: list[int] = []
    deadline = time.time() + 120
    while time.time() < deadline and len(workers) < 2:
        workers = [k for k in _children(parent.pid) if _alive(k)]
        time.sleep(0.2)
    assert len(workers) >= 2, "the pool never started"
    time.sleep(2.0)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "workers kept running after the parent died"
    left = [p.name for p in out.iterdir() if p.name.startswith(".suanli-tmp.seed=")]
    assert left == [], left


def test_a_finished_replication_is_freed(tmp_path, monkeypatch):
    """Serial ensembles do not grow: after run_replication nothing keeps the model (Mesa's
    class-level ``Agent._ids`` would, keyed by model) or its agents alive."""
    import gc
    import weakref

    import sim.model

    refs = []
    real = sim.model.SuanLiModel

    class Tracked(real):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            refs.append(weakref.ref(self))
            refs.append(weakref.ref(next(iter(self.agents))))

    monkeypatch.setattr(sim.model, "SuanLiModel", Tracked)
    for s in (1, 2):
        ens.run_replication(replace(CFG, end_year=2008), s, str(tmp_path))
    gc.collect()
    assert len(refs) == 4 and all(r() is None for r in refs)
