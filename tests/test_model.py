"""Whole-model checks: accounting identities from the panels, the default run's scale,
LP versus local-first on identical problems, and byte-identical determinism."""

from __future__ import annotations

import hashlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sim import reporters
from sim.config import ModelConfig
from sim.market import DEFERRABLE, KINDS, AccountingError, Assignment, check_assignment, total_cost
from sim.model import SuanLiModel
from sim.outputs import collect_panels, write_run
from sim.policies import SchedulingPolicy, make_policy

SHORT = ModelConfig(start_year=2008, end_year=2024, studies=())


@pytest.fixture(scope="module")
def default_run():
    return SuanLiModel(ModelConfig(end_year=2025), seed=1).run()


@pytest.fixture(scope="module")
def panels(default_run):
    return collect_panels(default_run)


def test_work_demanded_equals_served_plus_unserved(panels):
    prov = panels["provinces"]
    for k in KINDS:
        lhs = prov[f"demand_{k}_pflop_h"]
        rhs = prov[f"served_{k}_pflop_h"] + prov[f"unserved_{k}_pflop_h"]
        assert np.allclose(lhs, rhs, rtol=1e-9), k


def test_hosted_work_equals_served_work(panels):
    prov = panels["provinces"].groupby("year")
    served = prov[[f"served_{k}_pflop_h" for k in KINDS]].sum().sum(axis=1)
    hosted = prov["hosted_pflop_h"].sum()
    dc_served = panels["datacentres"].groupby("year")["served_pflop_h"].sum()
    flows = panels["flows"].groupby("year")["pflop_h"].sum()
    assert np.allclose(served, hosted, rtol=1e-9)
    assert np.allclose(served, dc_served, rtol=1e-9)
    assert np.allclose(served, flows, rtol=1e-9)


def test_energy_is_it_load_times_pue(panels):
    dc = panels["datacentres"]
    assert np.allclose(dc["energy_mwh"], dc["it_energy_mwh"] * dc["pue"], rtol=1e-12)


def test_datacentre_energy_equals_power_supplied(panels):
    dc = panels["datacentres"].groupby(["year", "province"])["energy_mwh"].sum() / 1e6
    supplied = panels["power"].set_index(["year", "code"])["dc_supplied_twh"]
    supplied.index = supplied.index.set_names(["year", "province"])
    joined = pd.concat([dc.rename("drawn"), supplied.rename("supplied")], axis=1).fillna(0.0)
    assert np.allclose(joined["drawn"], joined["supplied"], rtol=1e-9, atol=1e-12)


def test_money_paid_equals_revenue_plus_transfer(panels, default_run):
    summary = panels["summary"]
    flows = panels["flows"].groupby("year")["transfer_cny"].sum() / 1e9
    assert np.allclose(summary.set_index("year")["transfer_cost_bn_cny"], flows, rtol=1e-9)
    dc_rev = panels["datacentres"].groupby("year")["revenue_cny"].sum() / 1e9
    assert np.allclose(summary.set_index("year")["dc_revenue_bn_cny"], dc_rev, rtol=1e-9)


def test_latency_bound_kinds_stay_within_bound(panels, default_run):
    flows = panels["flows"]
    bound = default_run.latency_bound
    for k, name in enumerate(KINDS):
        if not DEFERRABLE[k]:
            assert (flows.loc[flows["kind"] == name, "latency_ms"] <= bound[k] + 1e-9).all(), name


def test_default_run_has_the_right_order_of_magnitude(panels):
    s = panels["summary"].set_index("year")
    assert 100 <= s.loc[2023, "dc_electricity_twh"] <= 220, "2023 DC electricity (study: 150 TWh)"
    assert s.loc[2024, "dc_electricity_twh"] > s.loc[2023, "dc_electricity_twh"], "2024 above 2023 (study: 166 TWh)"
    assert 0.005 <= s.loc[2023, "dc_electricity_share"] <= 0.03, "share of national use (study: ~1.6 %)"
    assert s.loc[2017, "intelligent_share"] < 0.25 < s.loc[2024, "intelligent_share"], "intelligent share passes 25 % around 2023"
    assert 4 <= s.loc[2023, "racks_million"] <= 15, "racks in the millions (study: 8.1 M end-2023)"
    assert s.loc[2015, "east_to_west_pflop_h"] == 0 < s.loc[2023, "east_to_west_pflop_h"]


def test_a_broken_policy_is_caught():
    class Greedy(SchedulingPolicy):
        name = "overfill"

        def assign(self, problem):
            x = np.zeros(problem.shape)
            x[:, :, :, :, :] = 0.0
            x[0, 0, 0, 1, 0] = problem.capacity[0, 1, 0] * 2 + 1.0
            return Assignment(x)

    cfg = ModelConfig(start_year=2008, end_year=2008, policy_before="overfill", studies=())
    m = SuanLiModel(cfg, seed=0)
    m._policies["overfill"] = Greedy()
    with pytest.raises(AccountingError):
        m.step()


class Compare(SchedulingPolicy):
    """Solve every day with the LP and with local-first; keep both costs; act as the LP."""

    name = "compare"

    def __init__(self):
        self.lp, self.local = make_policy("cost_min_lp"), make_policy("local_first")
        self.rows = []

    def assign(self, problem):
        a, b = self.lp.assign(problem), self.local.assign(problem)
        ca = total_cost(problem, a.served, check_assignment(problem, a))
        cb = total_cost(problem, b.served, check_assignment(problem, b))
        west = problem.region == "west"
        east = problem.region == "east"
        train = [x.served[:, 0][np.ix_(east, west)].sum() for x in (a, b)]
        self.rows.append((problem.year, ca["total"], cb["total"], ca["energy"], cb["energy"], *train,
                          problem.daily_demand()[east, 0].sum()))
        return a


def test_lp_beats_local_first_on_every_day_after_designation():
    cfg = replace(SHORT, end_year=2023, policy_after="compare")
    m = SuanLiModel(cfg, seed=3)
    cmp = Compare()
    m._policies["compare"] = cmp
    m.run()
    rows = pd.DataFrame(cmp.rows, columns=["year", "lp", "local", "lp_energy", "local_energy", "lp_west", "local_west", "east_training"])
    assert len(rows) == 8
    assert (rows["lp"] <= rows["local"] * (1 + 1e-9)).all()
    assert (rows["lp_energy"] < rows["local_energy"]).all(), "LP lowers energy cost"
    assert (rows["local_west"] == 0).all() and (rows["lp_west"] > 0).all(), "LP moves training west"


def test_lp_run_moves_training_west_and_cuts_energy_cost():
    base = SuanLiModel(replace(SHORT, end_year=2022, policy_after="local_first"), seed=2).run()
    lp = SuanLiModel(replace(SHORT, end_year=2022, policy_after="cost_min_lp"), seed=2).run()
    fb, fl = base.flow_records[-1], lp.flow_records[-1]
    east = set(base.world.provinces.query("region == 'east'").index)
    west = set(base.world.provinces.query("region == 'west'").index)

    def east_west_training(f):
        sel = f["origin"].isin(east) & f["destination"].isin(west) & (f["kind"] == "training")
        return f.loc[sel, "pflop_h"].sum()

    assert east_west_training(fl) > east_west_training(fb) == 0
    unit = lambda m: m.summary["routing_energy_cost_bn_cny"] / (m.books["served"].sum())
    assert unit(lp) < unit(base)


def _digest(seed: int) -> str:
    m = SuanLiModel(replace(SHORT, end_year=2012), seed=seed).run()
    h = hashlib.sha256()
    for name, df in sorted(collect_panels(m).items()):
        h.update(name.encode())
        h.update(df.to_csv(index=False).encode())
    return h.hexdigest()


def test_same_seed_same_bytes_serial_and_processes():
    here = _digest(11)
    with ProcessPoolExecutor(max_workers=2) as pool:
        there = list(pool.map(_digest, [11, 12]))
    assert here == there[0]
    assert here != there[1]


def test_written_panels_are_byte_identical(tmp_path):
    cfg = replace(SHORT, end_year=2010)
    for d in ("a", "b"):
        write_run(SuanLiModel(cfg, seed=5).run(), tmp_path / d, formats=("parquet", "csv", "dta"), outputs="full")
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "provinces.parquet" in files and "provinces.dta" in files
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_studies_draw_from_their_own_streams():
    """Each study has its own child stream of the model's seed: with the TFP feedback off, switching
    studies on or off leaves the core panels and the other studies' panels unchanged (with it on,
    the provinces study moves GDP: ``tests/test_economy.py``)."""
    off = {"economy.tfp_gdp_elasticity": 0.0}
    runs = {st: collect_panels(SuanLiModel(replace(SHORT, end_year=2018, studies=st, parameter_overrides=off), seed=9).run())
            for st in ((), ("cities",), ("provinces", "cities", "firms"))}
    none, one, every = runs.values()
    study_columns = {"tfp_gap", *reporters.STUDY_OUTCOMES}
    for name in ("provinces", "datacentres", "power", "firms_core", "summary", "flows"):
        keep = [c for c in every[name].columns if c not in study_columns]
        pd.testing.assert_frame_equal(none[name][keep], every[name][keep], obj=name)
    pd.testing.assert_frame_equal(one["study_cities"], every["study_cities"])


@pytest.mark.parametrize("study", ["provinces", "cities", "firms"])
def test_study_panels_deterministic(study):
    """Same seed, same bytes of the study's panel and latent truths; another seed differs."""

    def digest(seed: int) -> bytes:
        m = SuanLiModel(ModelConfig(start_year=2016, end_year=2019, studies=(study,)), seed=seed).run()
        st = m.studies[study]
        return st.panel().to_csv(index=False).encode() + st.latent().to_csv(index=False).encode()

    a, b, c = digest(7), digest(7), digest(8)
    assert a == b
    assert a != c


def test_mesa_is_imported_without_scipy_spatial():
    """``sim._mesa``: the model imports mesa without scipy.spatial (mesa's continuous space needs it only
    for ``cdist``, which still works and then imports the real module)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, sim.model; assert 'scipy.spatial' not in sys.modules, 'imported'; "
            "from mesa.experimental.continuous_space import continuous_space as cs; "
            "d = cs.cdist(np.zeros((1, 2)), np.array([[3.0, 4.0]])); assert d.tolist() == [[5.0]]; "
            "import scipy.spatial, scipy.spatial.distance as real; assert scipy.spatial.distance is real; "
            "assert sys.modules['scipy.spatial.distance'] is real")
    from pathlib import Path

    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
