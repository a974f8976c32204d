"""Sweeps through mesa.batch_run give the same numbers as direct runs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from experiments.cli import main
from experiments.sweep import sweep
from sim.config import ModelConfig
from sim.model import SuanLiModel

CFG = ModelConfig(start_year=2008, end_year=2010, studies=())


def test_sweep_equals_direct_runs():
    df = sweep({"designation_year": [2009, 2010]}, seeds=[4], config=CFG)
    assert len(df) == 2 * 3
    for year in (2009, 2010):
        direct = SuanLiModel(replace(CFG, designation_year=year), seed=4).run()
        ref = direct.datacollector.get_model_vars_dataframe()
        got = df[df["designation_year"] == year].sort_values("year")
        assert np.allclose(got["dc_electricity_twh"].to_numpy(), ref["dc_electricity_twh"].to_numpy(), rtol=0, atol=0)
        assert np.allclose(got["racks_million"].to_numpy(), ref["racks_million"].to_numpy(), rtol=0, atol=0)


def test_sweep_rejects_unknown_field():
    with pytest.raises(ValueError, match="sweep field 'carbon': allowed"):
        sweep({"carbon": [1]}, seeds=[1], config=CFG)


def test_cli_sweep_bad_field_is_one_line(capsys):
    assert main(["sweep", "--set", "carbon=1,2", "--years", "2008-2009", "--quiet"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
