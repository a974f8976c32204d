"""Run directories are written atomically: a failure leaves no half-written output behind."""

from __future__ import annotations

import pandas as pd
import pytest

import sim.outputs as outputs
from sim.config import ModelConfig
from sim.model import SuanLiModel


@pytest.fixture(scope="module")
def small_model():
    return SuanLiModel(ModelConfig(start_year=2008, end_year=2009, studies=()), seed=0).run()


def test_failure_midway_leaves_previous_output_intact(tmp_path, small_model, monkeypatch):
    out = tmp_path / "run"
    outputs.write_run(small_model, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
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
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_panels_round_trip(tmp_path, small_model):
    out = outputs.write_run(small_model, tmp_path / "r")
    a = pd.read_parquet(out / "provinces.parquet")
    b = pd.read_csv(out / "provinces.csv")
    c = pd.read_stata(out / "provinces.dta")
    assert len(a) == len(b) == len(c) == 31 * 2
    assert (a["year"].unique() == [2008, 2009]).all()
    assert abs(a["gdp_bn_cny"] - c["gdp_bn_cny"]).max() < 1e-9
