"""One economy: province GDP is produced and reproduces history, counterfactuals move GDP, TFP and
EXPY, every draw is keyed by (purpose, agent, year), and seed 003's East-West facts emerge."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
import sim.investment as investment
from experiments.scenario import load_scenario
from sim.config import ModelConfig
from sim.model import SuanLiModel
from sim.outputs import collect_panels
from sim.streams import Streams
from sim.world import World


@pytest.fixture(scope="module")
def default_2030():
    return SuanLiModel(ModelConfig(end_year=2030), seed=0).run()


@pytest.fixture(scope="module")
def summary(default_2030):
    return collect_panels(default_2030, outputs="panels")["summary"].set_index("year")


def test_history_holds(default_2030):
    """Province GDP 2023 within 5 % of the statistic for at least 28 of 31 provinces; national GDP
    2008-2023 within 3 % of NBS every year."""
    panels = collect_panels(default_2030, outputs="panels")
    prov = panels["provinces"]
    w = World.load()
    g23 = prov[prov["year"] == 2023].set_index("code")["gdp_bn_cny"].reindex(w.codes)
    stat = w.provinces["gdp_2023_bn_cny"]
    within = (g23 / stat - 1).abs() <= 0.05
    assert within.sum() >= 28, (g23 / stat - 1).round(3).to_dict()
    nat = prov.groupby("year")["gdp_bn_cny"].sum().loc[2008:2023]
    nbs = w.national_gdp["gdp_bn_cny"].loc[2008:2023]
    assert ((nat / nbs - 1).abs() <= 0.03).all(), (nat / nbs - 1).round(4).to_dict()


def test_gdp_responds_to_tfp(default_2030):
    """GDP is produced from TFP: the TFP gap to the reference moves GDP with elasticity kappa, on top of
    capital; with kappa = 0 GDP is history exactly."""
    flat = SuanLiModel(ModelConfig(end_year=2012, parameter_overrides={"economy.tfp_gdp_elasticity": 0.0}), seed=0).run()
    g = np.array([pr.gdp for pr in flat.provinces])
    assert np.allclose(g, flat.gdp_hist, rtol=1e-12)
    m = default_2030
    p = m.params.province_economy
    for pr in m.provinces:
        expected = pr.gdp_hist * np.exp(m.params.economy.tfp_gdp_elasticity * pr.tfp_gap
                                        + p.elasticity_k * np.log(pr.capital / pr.capital_ref))
        assert pr.gdp == pytest.approx(expected, rel=1e-12)
    assert np.abs([pr.tfp_gap for pr in m.provinces]).max() > 0


def test_east_short_of_power_west_not(summary):
    """Eastern grids refuse planned data-centre load in some year of 2018-2023; western grids never."""
    years = summary.loc[2018:2023]
    assert (years["east_headroom_cut_mw"] > 0).any()
    assert (years["west_headroom_cut_mw"] == 0).all()


def test_hubs_underused_after_designation(summary):
    """Hub campuses, built ahead of demand, are less used than eastern data centres in 2024-2030."""
    s = summary.loc[2024:2030]
    assert (s["hub_utilisation"] < s["east_utilisation"]).all(), s[["hub_utilisation", "east_utilisation"]]


def test_macro_facts(summary):
    """Rack utilisation 2023 in 0.50-0.70 and hub clusters' 2024 within 0.10 of the public figures;
    intelligent FP16 EFLOPS 2025 within 10 % of 748; DC electricity 2023/2024 within 10 % of
    150/166 TWh; racks 2023 within 10 % of 8.1 million."""
    facts = pd.read_csv(Path(sim.__file__).with_name("data") / "utilisation_facts.csv").set_index("fact")
    assert 0.50 <= summary.loc[2023, "national_rack_utilisation"] <= 0.70
    assert summary.loc[2023, "national_rack_utilisation"] == pytest.approx(
        facts.loc["national_rack_utilisation", "value"], abs=0.10)
    assert summary.loc[2024, "hub_rack_utilisation"] == pytest.approx(
        facts.loc["hub_cluster_rack_utilisation", "value"], abs=0.10)
    assert summary.loc[2025, "eflops_intelligent"] == pytest.approx(748, rel=0.10)
    assert summary.loc[2023, "dc_electricity_twh"] == pytest.approx(150, rel=0.10)
    assert summary.loc[2024, "dc_electricity_twh"] == pytest.approx(166, rel=0.10)
    assert summary.loc[2023, "racks_million"] == pytest.approx(8.1, rel=0.10)


def _race(m, pool_work, hub_util=(1.0, 1.0)):
    """Run this year's hub race of a finished model again with the given national pool work (busy
    PFLOPS) and hub utilisation by pool; return the new hub campuses, which are then removed."""
    m.hub_builds = 0
    before = {dc.unique_id for dc in m.dcs}
    investment.enter(m, m.frontier_density(m.year + 1), np.zeros_like(m.pool_unserved),
                     (np.asarray(hub_util, float), np.ones(2)), np.asarray(pool_work, float))
    new = [dc for dc in m.dcs if dc.unique_id not in before and dc.hub]
    for dc in new:
        dc.remove()
    return new


@pytest.fixture(scope="module")
def race_model():
    return SuanLiModel(ModelConfig(end_year=2023, studies=(), parameter_overrides={"datacentre.entry_rate": 0.0}), seed=0).run()


def _pool_capacity(m):
    return np.bincount([dc.pool for dc in m.dcs], weights=[dc.pflops for dc in m.dcs], minlength=2)


def test_hub_race_stops_for_an_idle_pool(race_model):
    """Local governments open no campus of a pool with no work to fill it and keep opening campuses
    of a pool whose projected work far exceeds its capacity (demand-led entry switched off)."""
    m = race_model
    busy = 100.0 * _pool_capacity(m)
    for idle in (0, 1):
        work = busy.copy()
        work[idle] = 0.0
        n_new = np.bincount([dc.pool for dc in _race(m, work)], minlength=2)
        assert n_new[idle] == 0 and n_new[1 - idle] > 0, n_new


def test_hub_race_reads_the_pipeline(race_model):
    """No campus takes its pool's projected utilisation (work grown over the look-ahead, over next
    year's capacity with the campuses rivals opened this year) below half the idle floor, and a pool
    near that point gets fewer campuses than a busy one from the same draws."""
    m = race_model
    p = m.params.datacentre
    cap = _pool_capacity(m)
    growth = investment.pool_demand_growth(m) ** p.hub_lookahead_years
    work = 0.6 * p.hub_idle_floor * cap / growth
    near = _race(m, work)
    busy = _race(m, 100.0 * cap)
    added = np.bincount([dc.pool for dc in near], weights=[dc.pflops for dc in near], minlength=2)
    assert np.all(work * growth / (cap + added) >= 0.5 * p.hub_idle_floor - 1e-12)
    assert 0 < len(near) < len(busy)


def test_hub_campuses_follow_the_better_used_pool(race_model):
    """Where the race does not slow, a campus is intelligent in proportion to that pool's hub
    utilisation: the same draws give the same number of campuses and fewer intelligent ones when the
    intelligent hubs are less used."""
    m = race_model
    busy = 100.0 * _pool_capacity(m)
    counts = [np.bincount([dc.pool for dc in _race(m, busy, (1.0, u_ai))], minlength=2) for u_ai in (1.0, 0.5)]
    assert counts[0].sum() == counts[1].sum() > 0
    assert counts[1][1] < counts[0][1]


def test_pipeline_caps_next_years_capacity():
    """Where a pool's plans would take next year's capacity past its expected work over the pipeline
    utilisation, plans (then server refresh) are scaled so that capacity meets that level exactly, or
    what survives retirement where that alone exceeds it; plans below it pass."""
    m = SuanLiModel(ModelConfig(end_year=2030, studies=()), seed=0).run()
    p = m.params.datacentre
    dcs = list(m.dcs)
    y = m.year
    front = m.frontier_density(y + 1)
    growth = (m.national_demand(y + 1) @ investment.COMPAT) / (m.national_demand(y) @ investment.COMPAT)
    for dc in dcs:
        dc.planned_racks = p.max_growth * dc.racks
    unserved = m.pool_unserved.sum(axis=0)
    asked = np.bincount([dc.pool for dc in dcs], [dc.planned_racks for dc in dcs], minlength=2)
    investment.limit_to_pipeline(m, dcs, unserved)
    cap_next, served, survives = np.zeros((3, 2))
    for dc in dcs:
        survives[dc.pool] += dc.racks * (1 - p.retirement_rate) * dc.density
        refresh = investment.refresh_share(dc, m.refresh_scale[dc.pool])
        density = dc.density + refresh * (front[dc.pool] - dc.density)
        cap_next[dc.pool] += dc.racks * (1 - p.retirement_rate) * density + dc.planned_racks * front[dc.pool]
        served[dc.pool] += dc.served
    wanted = (served + unserved) * growth / (p.pipeline_utilisation * 8760.0)
    kept = np.bincount([dc.pool for dc in dcs], [dc.planned_racks for dc in dcs], minlength=2)
    cut = kept < asked * (1 - 1e-9)
    assert cut.any()
    np.testing.assert_allclose(cap_next[cut], np.maximum(wanted, survives)[cut], rtol=1e-9)
    assert (cap_next[~cut] <= wanted[~cut] * (1 + 1e-9)).all()


def test_pipeline_keeps_the_long_run_used():
    """Investors who read the pipeline keep national rack utilisation in 2035 above a myopic
    industry's (pipeline utilisation near zero never binds)."""
    util = []
    for u in (0.01, 0.5):
        cfg = ModelConfig(end_year=2035, studies=(), parameter_overrides={"datacentre.pipeline_utilisation": u})
        util.append(SuanLiModel(cfg, seed=1).run().summary["national_rack_utilisation"])
    assert util[1] > util[0] + 0.05, util


def test_streams_are_keyed_not_ordered():
    """A draw depends on (seed, purpose, agent, year) only: other agents and other purposes do not shift it."""
    s = Streams(11)
    a = s.uniform("firm_adopt", np.array([3, 7]), 2020)
    b = s.uniform("firm_adopt", np.array([7, 3, 900]), 2020)
    assert a[0] == b[1] and a[1] == b[0]
    assert s.uniform("firm_adopt", np.array([3]), 2021)[0] != a[0]
    assert s.uniform("firm_exit", np.array([3]), 2020)[0] != a[0]
    assert Streams(12).uniform("firm_adopt", np.array([3]), 2020)[0] != a[0]


def _firms(config, seed=4):
    return collect_panels(SuanLiModel(config, seed=seed).run(), outputs="panels")["firms_core"]


def test_common_random_numbers_across_scenarios():
    """A change that changes nothing gives identical panels; default and no_hubs share every firm's
    births, traits and yearly adoption draws, whatever each firm decides."""
    base = ModelConfig(start_year=2016, end_year=2024, studies=())
    same = replace(base, voucher_share=0.0, voucher_from=2030)
    a, b = _firms(base), _firms(same)
    pd.testing.assert_frame_equal(a, b)
    no_hubs = replace(load_scenario("no_hubs").config, start_year=2016, end_year=2024, studies=())
    c = _firms(no_hubs)
    key = ["year", "firm_serial"]
    cols = key + ["adopt_uniform", "lnEmployee", "province", "industry"]
    pd.testing.assert_frame_equal(a[cols].sort_values(key).reset_index(drop=True),
                                  c[cols].sort_values(key).reset_index(drop=True))


def test_province_shocks_are_common_across_scenarios():
    """The province study's shocks (TFP, output noise, patent draws' uniforms) are the same in default and
    no_hubs every year, although the scenarios' patent rates differ: counts are drawn by inversion, one
    uniform each (numpy's Poisson sampler would reject a rate-dependent number of uniforms and put the
    stream out of step, on seed 3 from 2029), so paired differences carry no shock noise."""
    lat = {}
    for name in ("default", "no_hubs"):
        cfg = replace(load_scenario(name).config, end_year=2031, studies=("provinces",))
        lat[name] = SuanLiModel(cfg, seed=3).run().studies["provinces"].latent().set_index(["province", "year"])
    a, b = lat["default"], lat["no_hubs"]
    assert not np.allclose(a["lambda"], b["lambda"], rtol=1e-9, atol=0)
    for col in ("eps", "v", "zeta"):
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)


def test_count_draws_by_inversion_match_scipy_and_rise_with_the_rate():
    """poisson_quantile / binomial_quantile are scipy.stats' ppf at the same uniforms, and a higher rate never
    gives fewer events for the same uniform (the monotone coupling behind common random numbers)."""
    from scipy import stats

    from sim.studies.provinces import binomial_quantile, poisson_quantile

    rng = np.random.default_rng(8)
    u, lam = rng.random(20_000), np.exp(rng.uniform(-3.0, 12.0, 20_000))
    n = poisson_quantile(u, lam)
    np.testing.assert_array_equal(n, stats.poisson.ppf(u, lam))
    assert (poisson_quantile(u, lam * 1.001) >= n).all()
    prob, u2 = rng.uniform(0.05, 0.95, u.size), rng.random(u.size)
    np.testing.assert_array_equal(binomial_quantile(u2, n, prob), stats.binom.ppf(u2, n, prob))
    big = poisson_quantile(rng.random(200_000), np.full(200_000, 40.0))
    assert abs(big.mean() - 40.0) < 4 * np.sqrt(40.0 / big.size) and abs(big.var() / 40.0 - 1.0) < 0.02


def test_no_hubs_moves_western_tfp_and_carbon():
    """Counterfactuals move the economy through behaviour: without the hub programme less capacity is
    built in the west, so western provinces' TFP is lower in 2030, and more work runs on eastern coal
    power, so data-centre carbon is higher, and western data centres, serving local demand only, are
    less used (seed 1, same seed in both: common random numbers)."""
    runs = {}
    for name in ("default", "no_hubs"):
        cfg = replace(load_scenario(name).config, end_year=2030, studies=("provinces",))
        runs[name] = SuanLiModel(cfg, seed=1).run().summary
    assert runs["no_hubs"]["lntfp_west_mean"] < runs["default"]["lntfp_west_mean"]
    assert runs["no_hubs"]["dc_carbon_mt"] > runs["default"]["dc_carbon_mt"]
    assert runs["no_hubs"]["west_utilisation"] < runs["default"]["west_utilisation"]
    assert runs["no_hubs"]["gdp_bn_cny"] != runs["default"]["gdp_bn_cny"]


def test_clearing_prices_are_paid():
    """Under the national market users pay posted prices plus the capacity rent at congested nodes: data
    centres earn more than at posted prices, and what users pay equals revenue plus transfer charges."""
    cfg = replace(load_scenario("national_market").config, start_year=2019, end_year=2023, studies=())
    m = SuanLiModel(cfg, seed=3).run()
    b = m.books
    at_posted = float((b["served_dc"] * b["dc"]["price"]).sum())
    assert b["revenue"] > at_posted * (1 + 1e-6)
    assert b["paid"] == pytest.approx(b["revenue"] + b["transfer_paid"], rel=1e-9)
    paid_index = m.compute_price_index
    assert np.isfinite(paid_index).all() and paid_index.std() > 0
