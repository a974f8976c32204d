"""Ensembles: identical panels serially and on Dask, resumption after interruption."""

from __future__ import annotations

from dataclasses import replace

import pytest

import experiments.ensemble as ens
from sim.config import ModelConfig

CFG = ModelConfig(start_year=2008, end_year=2010, studies=())


def _files(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_dask_local_cluster_matches_serial(tmp_path):
    ens.run_ensemble(CFG, [1, 2], tmp_path / "serial", backend="serial")
    table = ens.run_ensemble(CFG, [1, 2], tmp_path / "dask", backend="dask", workers=2)
    for s in (1, 2):
        assert _files(ens.seed_dir(tmp_path / "serial", s)) == _files(ens.seed_dir(tmp_path / "dask", s))
    assert _files(ens.seed_dir(tmp_path / "serial", 1)) != _files(ens.seed_dir(tmp_path / "serial", 2))
    row = table[(table["metric"] == "racks_million") & (table["year"] == 2010)].iloc[0]
    assert row["n"] == 2 and row["p05"] <= row["mean"] <= row["p95"]


def test_interrupted_ensemble_resumes(tmp_path, monkeypatch):
    real = ens.run_replication
    done = []

    def crash_on_third(config, seed, out, scenario=""):
        if seed == 3 and not done.count("crashed"):
            done.append("crashed")
            raise KeyboardInterrupt
        done.append(seed)
        return real(config, seed, out, scenario)

    monkeypatch.setattr(ens, "run_replication", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        ens.run_ensemble(CFG, [1, 2, 3, 4], tmp_path, backend="serial")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["seed=1", "seed=2"]
    first = _files(ens.seed_dir(tmp_path, 1))
    ens.run_ensemble(CFG, [1, 2, 3, 4], tmp_path, backend="serial")
    assert done == [1, 2, "crashed", 3, 4]
    assert _files(ens.seed_dir(tmp_path, 1)) == first
    assert (tmp_path / "ensemble_summary.parquet").exists()
