"""Sweeps through mesa.batch_run give the same numbers as direct runs, for scenario fields, TOML names,
structural parameters and scenario names; Morris indices through the CLI find a factor with no effect."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from experiments.cli import main
from experiments.scenario import load_scenario
from experiments.sweep import sweep
from sim.config import ModelConfig
from sim.model import SuanLiModel

CFG = ModelConfig(start_year=2008, end_year=2010, studies=())
METRICS = ("dc_electricity_twh", "racks_million", "dc_carbon_mt", "energy_cost_bn_cny")


def _direct(config: ModelConfig, seed: int) -> pd.DataFrame:
    return SuanLiModel(config, seed=seed).run().datacollector.get_model_vars_dataframe()


def _same(got: pd.DataFrame, ref: pd.DataFrame) -> bool:
    got = got.sort_values("year")
    return all(np.array_equal(got[m].to_numpy(), ref[m].to_numpy()) for m in METRICS)


def test_sweep_equals_direct_runs():
    df = sweep({"designation_year": [2009, 2010]}, seeds=[4], config=CFG)
    assert len(df) == 2 * 3
    for year in (2009, 2010):
        ref = _direct(replace(CFG, designation_year=year), 4)
        assert _same(df[df["designation_year"] == year], ref)


def test_toml_names_and_structural_parameters_equal_direct_runs():
    df = sweep({"hubs.designation_year": [2009], "datacentre.pue_2023": [1.25, 1.65]}, seeds=[2], config=CFG)
    assert len(df) == 2 * 3
    for pue in (1.25, 1.65):
        ref = _direct(replace(CFG, designation_year=2009, parameter_overrides={"datacentre.pue_2023": pue}), 2)
        assert _same(df[df["datacentre.pue_2023"] == pue], ref)
    last = df[df["year"] == 2010].set_index("datacentre.pue_2023")["dc_electricity_twh"]
    assert last[1.65] > last[1.25]


def test_scenario_names_are_a_factor():
    df = sweep({"scenario": ["no_hubs"], "run.studies": [[]]}, seeds=[3], config=CFG)
    cfg = replace(load_scenario("no_hubs").config, start_year=2008, end_year=2010, studies=())
    assert _same(df, _direct(cfg, 3))


def test_sweep_rejects_unknown_field():
    with pytest.raises(ValueError, match="sweep factor 'carbon': allowed"):
        sweep({"carbon": [1]}, seeds=[1], config=CFG)


def test_cli_sweep_bad_field_is_one_line(capsys):
    assert main(["sweep", "--set", "carbon=1,2", "--years", "2008-2009", "--quiet"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_out_of_range_value_names_field_and_range(capsys):
    assert main(["sweep", "--set", "market.carbon_price_cny_per_t=-5,0", "--years", "2008-2009", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "market.carbon_price_cny_per_t = -5" in err and "from 0 to 5000" in err


def test_cli_morris_finds_the_factor_without_effect(tmp_path, capsys):
    scen = tmp_path / "fast.toml"
    scen.write_text('[scenario]\nname = "fast"\nstart_year = 2008\nend_year = 2010\n\n[hubs]\ndesignation_year = 2009\n'
                    '\n[run]\nstudies = []\n')
    out = tmp_path / "morris"
    # the carbon price starts in 2025, so in 2008-2010 it cannot change anything; PUE raises DC electricity
    rc = main(["sweep", "--scenario", str(scen), "--set", "datacentre.pue_2023=1.2:1.7",
               "--set", "market.carbon_price_cny_per_t=0:400", "--analyse", "morris", "--samples", "2",
               "--metric", "dc_electricity_twh", "--year", "2010", "--seeds", "1", "--quiet", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    ind = pd.read_parquet(out / "sensitivity.parquet").set_index("factor")
    assert ind.loc["market.carbon_price_cny_per_t", "mu_star"] == 0.0
    assert ind.loc["datacentre.pue_2023", "mu"] > 0
    design = pd.read_parquet(out / "design.parquet")
    assert len(design) == 2 * (2 + 1)
    summary = pd.read_parquet(out / "sweep_summary.parquet")
    assert summary["point"].nunique() == len(design) and set(summary["year"]) == {2008, 2009, 2010}
