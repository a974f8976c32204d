"""The planner's bench: identical fixed problems for every policy, and the orderings it must show.

The state is the ``cost_min`` scenario in 2030 at a quarter of the firms and without the
study modules (fast), where eastern general-purpose capacity is short of eastern demand.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from experiments.bench import capture_problems, east_balance, evaluate, orderings, run_bench, soften
from experiments.cli import main
from experiments.scenario import load_scenario
from sim.market import DEFERRABLE, GENERAL, INFERENCE, INTELLIGENT, TRAINING, Assignment, SchedulingProblem
from sim.policies import available
from sim.policies.base import SchedulingPolicy

YEAR = 2030


@pytest.fixture(scope="module")
def state():
    cfg = replace(load_scenario("cost_min").config, studies=(), firm_scale=0.25)
    problems = capture_problems(cfg, 1, YEAR)
    return cfg, problems


@pytest.fixture(scope="module")
def table(state):
    return run_bench(state[1]).set_index("policy")


def test_problems_are_the_years_days(state):
    _, problems = state
    assert [p.season for p in problems] == [0, 1, 2, 3]
    assert all(p.year == YEAR and p.hubs_active for p in problems)
    e = problems[0].region == "east"
    general_demand = problems[0].demand[e][:, problems[0].compat[:, GENERAL]].sum()
    assert problems[0].capacity[e, GENERAL].sum() < general_demand, "premise: eastern general capacity is short"


def test_every_policy_gets_the_same_problems_and_books_all_work(state, table):
    _, problems = state
    assert set(table.index) == set(available())
    demand = sum(p.demand.sum() for p in problems) * 365.0 / 4
    served = table["served_pflop_h"]
    unserved = table["unserved_share"] * demand
    assert np.allclose(served + unserved, demand, rtol=1e-9)
    parts = table["energy_cost_cny"] + table["transfer_cost_cny"]
    assert (table["total_cost_cny"] >= parts * (1 - 1e-12)).all()  # floating sums in another order
    assert table["energy_mwh"].notna().all() and (table["energy_mwh"] > 0).all()


def test_cost_min_lp_has_the_lowest_total_cost(table):
    best = table.loc["cost_min_lp", "total_cost_cny"]
    assert (best <= table["total_cost_cny"] * (1 + 1e-9)).all(), table["total_cost_cny"].sort_values()


def test_min_carbon_form_has_the_lowest_carbon(table):
    """Least carbon among every policy that serves as much work (it serves the most, then emits the least);
    a policy that leaves work unserved may emit less in total, so it is compared per PFLOP-h elsewhere."""
    c = table.loc["carbon_aware_min", "carbon_t"]
    served = table.loc["carbon_aware_min", "served_pflop_h"]
    assert (table["served_pflop_h"] <= served * (1 + 1e-9)).all(), "the min-carbon form serves the most work"
    peers = table[table["served_pflop_h"] >= served * (1 - 1e-9)]
    assert {"cost_min_lp", "carbon_aware"} <= set(peers.index)
    assert (c <= peers["carbon_t"] * (1 + 1e-9)).all(), peers["carbon_t"].sort_values()
    assert c < table.loc["carbon_aware", "carbon_t"] < table.loc["cost_min_lp", "carbon_t"]


def test_the_printed_findings_are_the_orderings(state, table):
    """What ``suanli policies`` prints and records: the east short of its own general work, and the three names."""
    assert east_balance(state[1])["general"] > 1
    assert orderings(table.reset_index()) == {
        "lowest total cost": "cost_min_lp",
        "lowest carbon among those serving the most work": "carbon_aware_min",
        "most unserved + SLA-violating work (price-inelastic)": "local_first"}


def test_local_first_leaves_the_most_work_unserved_or_late(table):
    inelastic = table[~table["price_elastic"]]
    bad = inelastic["unserved_share"] + inelastic["sla_violation_share"]
    assert bad.idxmax() == "local_first", bad.sort_values()
    assert bad["local_first"] > 0.05


def test_deferral_follows_cheap_power(table):
    assert table.loc["deferral", "energy_cost_cny"] < table.loc["east_west_rule", "energy_cost_cny"]
    assert table.loc["deferral", "served_pflop_h"] == pytest.approx(table.loc["east_west_rule", "served_pflop_h"], rel=1e-9)


# ----- metrics against hand computation --------------------------------------------------------

def two_node_problem(soft: bool) -> SchedulingProblem:
    k = len(DEFERRABLE)
    demand = np.zeros((2, k, 2))
    demand[0, INFERENCE] = [3.0, 1.0]
    demand[0, TRAINING, 0] = 2.0
    capacity = np.zeros((2, 2, 2))
    capacity[0, INTELLIGENT] = [1.0, 1.0]
    capacity[1, INTELLIGENT] = [5.0, 5.0]
    return SchedulingProblem(
        year=YEAR, season=0, codes=["E", "W"], demand=demand, capacity=capacity,
        energy_cost=np.full((2, 2, 2), 2.0), carbon=np.full((2, 2, 2), 0.5), price=np.ones((2, 2)),
        latency_ms=np.array([[2.0, 30.0], [30.0, 2.0]]), transfer_cost=np.zeros((2, 2, k)),
        latency_bound=np.where(DEFERRABLE, np.inf, 20.0), value=np.full(k, 100.0), region=np.array(["east", "west"]),
        hub_role=np.array(["demand", "resource"]), hubs_active=True, sla_penalty=np.full(k, 10.0) if soft else None,
        energy_kwh=np.full((2, 2, 2), 4.0),
    )


class Fixed(SchedulingPolicy):
    name = "fixed"

    def assign(self, problem):
        x = np.zeros(problem.shape)
        x[0, INFERENCE, 0, INTELLIGENT] = [1.0, 1.0]  # 2 ms
        x[0, INFERENCE, 1, INTELLIGENT, 0] = 2.0  # 30 ms, beyond the 20 ms bound
        x[0, TRAINING, 1, INTELLIGENT, 1] = 2.0
        return Assignment(x)


def test_evaluate_matches_hand_computation():
    p = two_node_problem(soft=True)
    row = evaluate([p], Fixed(), days=1.0)
    assert row["latency_mean_ms"] == pytest.approx((2 * 2.0 + 2 * 30.0) / 4)
    assert row["latency_p99_ms"] == 30.0
    assert row["sla_violation_pflop_h"] == pytest.approx(2.0)
    assert row["sla_violation_share"] == pytest.approx(0.5)
    assert row["sla_penalty_cny"] == pytest.approx(20.0)
    assert row["energy_cost_cny"] == pytest.approx(6 * 2.0)
    assert row["carbon_t"] == pytest.approx(3.0)
    assert row["energy_mwh"] == pytest.approx(6 * 4.0 / 1e3)
    assert row["utilisation_east"] == pytest.approx(2 / 2)
    assert row["utilisation_west"] == pytest.approx(4 / 10)
    assert row["unserved_share"] == 0.0


def test_soft_latency_lets_the_lp_serve_beyond_the_bound_at_a_penalty():
    hard = run_bench([two_node_problem(soft=False)], ["cost_min_lp"], sla_share=None).iloc[0]
    soft = run_bench([two_node_problem(soft=False)], ["cost_min_lp"], sla_share=0.1).iloc[0]
    # east serves 2 of 4 inference PFLOP-h within 20 ms; the rest is unserved (hard) or sent west (soft)
    assert hard["unserved_share_inference"] == pytest.approx(0.5)
    assert hard["sla_violation_pflop_h"] == 0.0
    assert soft["unserved_share_inference"] == pytest.approx(0.0, abs=1e-12)
    assert soft["sla_violation_pflop_h"] * 4 == pytest.approx(2.0 * 365.0)
    assert soft["total_cost_cny"] < hard["total_cost_cny"]


def test_soften_does_not_touch_the_original():
    p = two_node_problem(soft=False)
    q = soften(p, 0.5)
    assert p.sla_penalty is None and np.allclose(q.sla_penalty, 50.0)


# ----- command line ---------------------------------------------------------------------------

def test_bad_year_and_policy_are_one_line_errors(tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["policies", "--year", "1999", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--year = 1999" in err
    assert main(["policies", "--policies", "cost_min_lp,cheapest", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'cheapest'" in err
    bad = tmp_path / "p.py"
    bad.write_text("def broken(:\n")
    assert main(["policies", "--policies", f"{bad}:X", "--out", str(out)]) == 2
    assert "SyntaxError" in capsys.readouterr().err
    assert not out.exists()


def test_a_user_directory_is_refused(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["policies", "--out", str(tmp_path)]) == 2
    assert "did not write" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_summary_sla_columns_are_the_benchs_count_on_the_same_state():
    """The run's summary counts latency-bound violations (served beyond the bound, or unserved) and the
    p99 latency of latency-bound work exactly as the bench does on that year's problems with the
    scenario's own policy and the model's hard bounds; a tighter latency bound raises the share.
    The state: the default scenario in 2011 (local serving, before the hubs), where some eastern
    latency-bound work goes unserved."""
    from sim.market import KINDS
    from sim.model import SuanLiModel
    from sim.policies import make_policy

    year = 2011
    cfg = replace(load_scenario("default").config, studies=(), firm_scale=0.25, end_year=year)
    problems = capture_problems(cfg, 1, year)
    loose = SuanLiModel(cfg, seed=1).run().datacollector.get_model_vars_dataframe()
    got = loose.set_index("year").loc[year]
    policy = cfg.policy_for(year)
    row = evaluate([soften(p, None) for p in problems], make_policy(policy, **cfg.policy_options.get(policy, {})))
    demand_k = 365.0 / 4 * sum(p.demand.sum(axis=(0, 2)) for p in problems)
    bound = ~DEFERRABLE
    unserved_bound = sum(row[f"unserved_share_{k}"] * demand_k[i] for i, k in enumerate(KINDS) if bound[i])
    expected = row["sla_violation_pflop_h"] + unserved_bound
    assert expected > 1e-4 * demand_k[bound].sum(), "premise: some latency-bound work goes unserved in the state"
    assert got["sla_violation_pflop_h"] == pytest.approx(expected, rel=1e-9)
    assert got["sla_violation_share"] == pytest.approx(expected / demand_k[bound].sum(), rel=1e-9)
    assert got["latency_bound_p99_ms"] == pytest.approx(row["latency_p99_ms"], rel=1e-12)
    tight = SuanLiModel(replace(cfg, latency_bound_ms=2.0), seed=1).run().datacollector.get_model_vars_dataframe()
    assert (tight["sla_violation_share"] > loose["sla_violation_share"] + 0.01).all(), \
        (loose["sla_violation_share"].tolist(), tight["sla_violation_share"].tolist())
    assert (tight["latency_bound_p99_ms"] <= 2.0).all() and (loose["latency_bound_p99_ms"] > 2.0).all()
