"""Experiment designs: Latin hypercube strata, Sobol' indices of the Ishigami function, exact Morris effects,
and factor names validated like scenario files."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.designs import (
    DesignError,
    config_to_raw,
    grid,
    lhs,
    make_design,
    morris,
    morris_indices,
    point_config,
    resolve_factor,
    sobol,
    sobol_indices,
)
from experiments.scenario import builtin_scenarios, load_scenario, parse_scenario


def test_latin_hypercube_puts_one_point_in_every_stratum():
    bounds = {"a": (0.0, 1.0), "datacentre.pue_2023": (1.2, 1.6), "market.carbon_price_cny_per_t": (0.0, 500.0)}
    d = lhs(bounds, 12, seed=7)
    for name, (lo, hi) in bounds.items():
        x = d.points[name].to_numpy()
        assert (x >= lo).all() and (x <= hi).all()
        strata = np.floor((x - lo) / (hi - lo) * 12).astype(int)
        assert sorted(strata) == list(range(12))
    assert d.points.equals(lhs(bounds, 12, seed=7).points)
    assert not d.points.equals(lhs(bounds, 12, seed=8).points)


def _ishigami(x, a=7.0, b=0.1):
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_indices_recover_the_ishigami_function():
    a, b = 7.0, 0.1
    v1 = 0.5 * (1 + b * np.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * np.pi**8 * (1 / 18 - 1 / 50)
    var = v1 + v2 + v13
    truth_s1 = np.array([v1, v2, 0.0]) / var
    truth_st = np.array([v1 + v13, v2, v13]) / var
    pi = (-np.pi, np.pi)
    d = sobol({"x1": pi, "x2": pi, "x3": pi}, 4096, seed=1)
    assert len(d) == 4096 * (3 + 2)
    ind = sobol_indices(d, _ishigami(d.samples), seed=2)
    assert np.allclose(ind["S1"], truth_s1, atol=0.03)
    assert np.allclose(ind["ST"], truth_st, atol=0.03)


def test_morris_elementary_effects_of_a_linear_function_are_exact():
    bounds = {"a": (0.0, 2.0), "b": (10.0, 20.0), "c": (5.0, 6.0)}
    d = morris(bounds, 10, seed=3)
    x = d.samples
    y = 3.0 * x[:, 0] - 2.0 * x[:, 1]
    ind = morris_indices(d, y).set_index("factor")
    # SALib's elementary effects are per unit of the factor's range: coefficient x (hi - lo)
    assert ind.loc["a", "mu"] == pytest.approx(6.0)
    assert ind.loc["b", "mu"] == pytest.approx(-20.0)
    assert ind.loc["c", "mu_star"] == 0.0
    assert np.allclose(ind["sigma"], 0.0, atol=1e-9)


def test_analysis_needs_the_matching_design():
    d = lhs({"a": (0, 1)}, 4)
    with pytest.raises(DesignError, match="--design morris"):
        morris_indices(d, np.zeros(4))
    with pytest.raises(DesignError, match="power of 2"):
        sobol({"a": (0, 1)}, 6)


def test_factor_names_resolve_like_the_scenario_toml():
    assert resolve_factor("market.carbon_price_cny_per_t").key == "carbon_price_cny_per_t"
    assert resolve_factor("carbon_price_cny_per_t").section == "market"
    assert resolve_factor("hubs.designation_year").integer
    assert resolve_factor("datacentre.pue_2023").section == "parameters"
    assert resolve_factor("parameters.datacentre.pue_2023").key == "datacentre.pue_2023"
    assert resolve_factor("network.link_speedup").section == "network"
    assert resolve_factor("network.detour").section == "parameters"
    with pytest.raises(DesignError, match="sweep factor 'carbon': allowed"):
        resolve_factor("carbon")


@pytest.mark.parametrize("name", builtin_scenarios())
def test_config_round_trips_through_the_toml_mapping(name):
    cfg = load_scenario(name).config
    assert parse_scenario(config_to_raw(cfg)).config == cfg


def test_points_are_validated_with_the_scenario_ranges():
    base = load_scenario("default").config
    cfg = point_config(base, {"market.carbon_price_cny_per_t": 250.0, "datacentre.pue_2023": 1.3, "hubs.designation_year": 2021.0})
    assert cfg.carbon_price_cny_per_t == 250.0 and cfg.designation_year == 2021
    assert cfg.parameter_overrides == {"datacentre.pue_2023": 1.3}
    with pytest.raises(DesignError, match=r"market.carbon_price_cny_per_t = 6000.0: must be a number from 0 to 5000"):
        point_config(base, {"market.carbon_price_cny_per_t": 6000.0})
    with pytest.raises(DesignError, match="datacentre.pue_2023"):
        point_config(base, {"datacentre.pue_2023": "high"})
    nohubs = point_config(base, {"scenario": "no_hubs"})
    assert not nohubs.hubs_enabled and nohubs.policy_after == "local_first"


def test_integer_factors_are_rounded_and_levels_crossed():
    d = make_design("lhs", {"hubs.designation_year": (2015, 2025), "scenario": ["default", "no_hubs"]}, 5, seed=1)
    assert len(d) == 10 and d.points["hubs.designation_year"].map(lambda v: isinstance(v, (int, np.integer))).all()
    assert sorted(d.points["scenario"].unique()) == ["default", "no_hubs"]
    g = grid({"a": [1, 2, 3], "b": ["x", "y"]})
    assert len(g) == 6 and set(map(tuple, g.points.to_numpy())) == {(i, j) for i in (1, 2, 3) for j in "xy"}


def test_structural_parameters_take_the_ranges_of_the_parameter_file():
    from calibration.params import load_parameters
    from experiments.designs import default_bounds

    lo, hi, _ = load_parameters().bounds("datacentre.pue_2023")
    assert default_bounds("datacentre.pue_2023") == (lo, hi)
    assert resolve_factor("datacentre.initial_dcs").integer
    with pytest.raises(DesignError, match=r"datacentre.pue_2023 = 5.0: must be a number from 1 to 3"):
        point_config(load_scenario("default").config, {"datacentre.pue_2023": 5.0})
    d = make_design("lhs", {"datacentre.pue_2023": (lo, hi)}, 6, seed=2)
    assert d.points["datacentre.pue_2023"].between(lo, hi).all()
