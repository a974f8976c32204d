"""Seed 001 inside the model (sim/studies/cities.py): known-truth recovery and shapes
(determinism of every study panel: tests/test_model.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from calibration.params import load_parameters
from recovery import assert_within
from recovery import two_way_fe as fe
from sim.config import ModelConfig
from sim.model import SuanLiModel
from sim.studies.cities import CONTROLS, DROPPED_CITIES, PANEL_COLUMNS, CityProcess, regime_of


def city_par(**values) -> SimpleNamespace:
    d = dict(vars(load_parameters().city_economy))
    d.update(values)
    return SimpleNamespace(**d)


def synthetic_cities(par, n: int = 2500, seed: int = 0) -> pd.DataFrame:
    """Many synthetic cities through CityProcess: data centres enter at random years and grow,
    5 % are hub-cluster cities with the programme from 2020; years 2012-2022, kept 2017-2022."""
    rng = np.random.default_rng(seed)
    size = np.exp(rng.normal(np.log(1600.0), 1.1, n))
    proc = CityProcess(par, rng, np.ones(n), np.ones(n), size)
    entry = np.where(rng.random(n) < 0.5, rng.integers(2012, 2024, n), 10_000)
    dc_size = np.exp(rng.normal(3.0, 1.5, n))
    growth = rng.normal(0.25, 0.15, n)
    cluster = rng.random(n) < 0.05
    parts = []
    for y in range(2012, 2023):
        age = np.maximum(y - entry, 0)
        dc = np.where(y >= entry, dc_size * np.exp(growth * age + rng.normal(0.0, 0.3, n)), 0.0)
        pot = size * np.exp(0.07 * (y - 2020))
        obs, lat = proc.step(y, dc, pot, size / 40.0, cluster & (y >= 2020))
        parts.append(pd.DataFrame({"city_id": np.arange(n), "year": y, **obs, **lat}))
    df = pd.concat(parts, ignore_index=True)
    return df[df["year"] >= 2017].reset_index(drop=True)


def two_way_fe(df: pd.DataFrame, y: str, x: list[str]):
    return fe(df, y, x, "city_id")


@pytest.mark.parametrize("beta", [0.0, 0.0426])
def test_city_elasticity_recovered(beta):
    par = city_par(elasticity_low=beta, elasticity_mid=beta, elasticity_high=beta, elasticity_pivot=0.0)
    df = synthetic_cities(par, seed=11)
    assert_within(two_way_fe(df, "loggdp", ["logcomputing", *CONTROLS]), "logcomputing", beta)


@pytest.mark.parametrize("slopes", [(0.0, 0.0, 0.0), (-0.3609, 0.12, 0.0286)])
def test_regime_elasticity_applies_to_compute_growth(slopes):
    """A regime's elasticity applies to the year's growth of compute: the compute part of GDP changes by
    exactly beta(this year's regime) x the change in logcomputing, also in the year a city crosses a
    threshold (the level form would jump by the change of slope x the whole stock there)."""
    par = city_par(elasticity_low=slopes[0], elasticity_mid=slopes[1], elasticity_high=slopes[2], elasticity_pivot=0.0)
    df = synthetic_cities(par, seed=12).sort_values(["city_id", "year"]).reset_index(drop=True)
    reg = regime_of(df["pGDP"].to_numpy(), par.threshold_low_yi, par.threshold_high_yi)
    assert np.array_equal(reg, df["regime"].to_numpy())
    assert np.bincount(reg, minlength=3).min() > 0.05 * len(df)
    g = df.groupby("city_id")
    d = df.assign(dc=g["logcomputing"].diff(), dterm=g["compute_term"].diff(), dpot=g["logpot"].diff(),
                  dy=g["loggdp"].diff(), before=g["regime"].shift()).dropna(subset=["dc"])
    crossed = d["regime"] != d["before"]
    assert crossed.mean() > 0.005, "no city crosses a threshold: the test would not bite"
    np.testing.assert_allclose(d["dterm"], np.array(slopes)[d["regime"]] * d["dc"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(d["dy"], d["dpot"] + d["dterm"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("pivot", [0.0, 0.0109])
def test_pivot_interaction_recovered(pivot):
    par = city_par(elasticity_low=0.0426, elasticity_mid=0.0426, elasticity_high=0.0426, elasticity_pivot=pivot)
    df = synthetic_cities(par, seed=13)
    df["pivot_logc"] = df["pivot_active"] * df["logcomputing"]
    res = two_way_fe(df, "loggdp", ["logcomputing", "pivot_logc", *CONTROLS])
    assert_within(res, "pivot_logc", pivot)
    assert_within(res, "logcomputing", 0.0426)


def test_default_panel_shape(default_run):
    st = default_run.studies["cities"]
    panel, sample, lat = st.panel(), st.sample(), st.latent()
    assert list(panel.columns) == list(PANEL_COLUMNS)
    assert len(panel) == 336 * (default_run.year - 2008 + 1)
    assert len(sample) == 336 * 6 and sample["city_id"].nunique() == 336
    assert not set(DROPPED_CITIES) & set(sample["city_id"])
    assert sample[list(PANEL_COLUMNS[3:])].notna().all().all()
    assert (sample["computing"] > 0).all() and (sample["computing"] >= sample["dc_pflops"]).all()
    assert sample.groupby("city_id")["pivot"].first().sum() == 13
    w = sample.merge(lat, on=["city_id", "year"])
    shares = np.bincount(w["regime"], minlength=3) / len(w)
    assert shares.min() > 0.03, f"regime shares {shares}"
    data = default_run.world.cities.set_index("city_id")["gdp_2020_bn_cny"] * 10.0
    ratio = (w[w["year"] == 2020].set_index("city_id")["gdp"] / data).dropna()
    assert 0.8 < ratio.median() < 1.3, f"median simulated/data GDP 2020 {ratio.median():.3f}"
    assert np.corrcoef(sample["loggdp"], sample["logretail"])[0, 1] > 0.8


def test_model_panel_recovers_pooled_elasticity():
    """On the model's own 336-city panel (data centres placed by the model), the pooled FE
    recovers a common elasticity: no confounding from where capacity is built."""
    beta = 0.0426
    ov = {f"city_economy.elasticity_{k}": beta for k in ("low", "mid", "high")}
    ov["city_economy.elasticity_pivot"] = 0.0
    m = SuanLiModel(ModelConfig(end_year=2022, studies=("cities",), parameter_overrides=ov), seed=5)
    m.run()
    res = two_way_fe(m.studies["cities"].sample(), "loggdp", ["logcomputing", *CONTROLS])
    assert_within(res, "logcomputing", beta)
