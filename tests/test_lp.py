"""The cost-minimising LP: optimal against brute force, never worse than the rule policies, duals as prices."""

import itertools

import numpy as np
import pytest

from sim.market import DEFERRABLE, INFERENCE, INTELLIGENT, TRAINING, SchedulingProblem, check_assignment, total_cost
from sim.policies import make_policy
from sim.policies.cost_min_lp import solve_schedule_lp
from tests.conftest import random_problem


def tiny_problem(rng):
    n, h, k = 2, 2, len(DEFERRABLE)
    demand = np.zeros((n, k, h))
    demand[0, TRAINING, 0] = 2
    demand[0, INFERENCE] = [1, 1]
    demand[1, TRAINING, 1] = 1
    demand[1, INFERENCE, 0] = 1
    capacity = np.zeros((n, 2, h))
    capacity[0, INTELLIGENT] = 2
    capacity[1, INTELLIGENT] = 1
    return SchedulingProblem(
        year=2023, season=0, codes=["A", "B"], demand=demand, capacity=capacity,
        energy_cost=rng.uniform(1, 6, (n, 2, h)), carbon=np.zeros((n, 2, h)), price=np.ones((n, 2)),
        latency_ms=np.array([[1.0, 25.0], [25.0, 1.0]]), transfer_cost=rng.uniform(0.5, 3, (n, n, k)) * (1 - np.eye(n))[:, :, None],
        latency_bound=np.where(DEFERRABLE, np.inf, 20.0), value=np.full(k, 9.0), region=np.array(["east", "west"]),
        hub_role=np.array(["demand", "resource"]), hubs_active=True,
    )


def brute_force_min(problem):
    """Enumerate every integral placement of every unit of work (or leave it unserved)."""
    units = []
    for o, k, h in zip(*np.nonzero(problem.demand)):
        units += [(o, k, h)] * int(problem.demand[o, k, h])
    n_d, n_h = problem.capacity.shape[0], problem.capacity.shape[2]
    best = np.inf
    for choice in itertools.product(range(n_d * n_h + 1), repeat=len(units)):
        used = np.zeros((n_d, n_h))
        cost = 0.0
        ok = True
        for (o, k, h), c in zip(units, choice):
            if c == n_d * n_h:
                cost += problem.value[k]
                continue
            d, hh = divmod(c, n_h)
            if (not DEFERRABLE[k] and hh != h) or problem.latency_ms[o, d] > problem.latency_bound[k]:
                ok = False
                break
            used[d, hh] += 1
            cost += problem.energy_cost[d, INTELLIGENT, hh] + problem.transfer_cost[o, d, k]
        if ok and (used <= problem.capacity[:, INTELLIGENT] + 1e-9).all():
            best = min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(5))
def test_lp_matches_brute_force(seed):
    problem = tiny_problem(np.random.default_rng(seed))
    sol = solve_schedule_lp(problem, problem.energy_cost, problem.transfer_cost)
    u = check_assignment(problem, sol.assignment)
    cost = total_cost(problem, sol.assignment.served, u)
    assert sol.objective == pytest.approx(brute_force_min(problem), abs=1e-7)
    assert cost["total"] == pytest.approx(sol.objective, abs=1e-7)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("rule", ["local_first", "nearest_hub", "east_west_rule"])
def test_lp_never_costs_more_than_rules(seed, rule):
    problem = random_problem(np.random.default_rng(seed), n=6, hours=8, tight=0.6)
    lp = make_policy("cost_min_lp").assign(problem)
    other = make_policy(rule).assign(problem)
    c_lp = total_cost(problem, lp.served, check_assignment(problem, lp))["total"]
    c_rule = total_cost(problem, other.served, check_assignment(problem, other))["total"]
    assert c_lp <= c_rule * (1 + 1e-9) + 1e-7, (c_lp, c_rule)


def test_capacity_duals_price_scarcity():
    rng = np.random.default_rng(1)
    problem = random_problem(rng, n=4, hours=4, tight=0.3)
    a = make_policy("cost_min_lp").assign(problem)
    used = a.served.sum(axis=(0, 1))
    rent = a.info["scarcity_rent"]
    slack = used < problem.capacity - 1e-6
    assert np.allclose(rent[slack], 0.0, atol=1e-7)
    assert (rent >= -1e-9).all()
    assert (rent[~slack & (problem.capacity > 0)] > 0).any()
    assert np.allclose(a.prices, problem.energy_cost + rent)


def test_carbon_price_lowers_carbon():
    problem = random_problem(np.random.default_rng(5), n=6, hours=8, tight=3.0)
    base = make_policy("cost_min_lp").assign(problem)
    green = make_policy("carbon_aware", carbon_price_cny_per_t=5.0).assign(problem)
    least = make_policy("carbon_aware", mode="min_carbon").assign(problem)
    c = [total_cost(problem, a.served)["carbon_t"] for a in (base, green, least)]
    assert c[1] <= c[0] + 1e-9 and c[2] <= c[1] + 1e-9 and c[2] < c[0]
    for a in (base, green, least):
        u = check_assignment(problem, a)
        assert np.allclose(u, 0.0, atol=1e-7)


def test_national_market_serves_only_work_worth_its_price():
    problem = random_problem(np.random.default_rng(7), n=5, hours=6, tight=2.0)
    problem.value[:] = 6.0
    a = make_policy("national_market").assign(problem)
    u = check_assignment(problem, a)
    # tranche values are 1.5x, 0.6x and 0.25x of 6 CNY: posted prices 5-8 CNY price out the two lower tranches
    assert u.sum() >= 0.5 * problem.demand.sum() - 1e-6
    assert (a.served.sum() > 0)


def test_warm_start_reaches_the_cold_optimum_with_one_model():
    from sim.policies.cost_min_lp import ScheduleLP

    rng = np.random.default_rng(11)
    base = random_problem(rng, n=7, hours=6, tight=0.7)
    warm = ScheduleLP()
    for step in range(5):
        p = random_problem(np.random.default_rng(11), n=7, hours=6, tight=0.7)
        p.energy_cost = base.energy_cost * rng.uniform(0.8, 1.2, base.energy_cost.shape)
        p.demand = base.demand * rng.uniform(0.7, 1.3, base.demand.shape)
        p.capacity = base.capacity * rng.uniform(0.8, 1.2, (1, 1, 1))
        w = warm.solve(p, p.energy_cost, p.transfer_cost)
        c = solve_schedule_lp(p, p.energy_cost, p.transfer_cost)
        assert w.objective == pytest.approx(c.objective, rel=1e-9)
        assert w.assignment.info["warm"] == (step > 0)
        check_assignment(p, w.assignment)
    assert warm.builds == 1
    assert sum(warm.iterations[1:]) < 4 * warm.iterations[0]


def test_a_new_route_pattern_rebuilds_the_model():
    from sim.policies.cost_min_lp import ScheduleLP

    p = random_problem(np.random.default_rng(2), n=5, hours=3)
    lp = ScheduleLP()
    lp.solve(p, p.energy_cost, p.transfer_cost)
    p.latency_bound = p.latency_bound * 0.5
    sol = lp.solve(p, p.energy_cost, p.transfer_cost)
    assert lp.builds == 2
    assert sol.objective == pytest.approx(solve_schedule_lp(p, p.energy_cost, p.transfer_cost).objective, rel=1e-9)


def test_lp_matches_scipy_highs_on_the_same_problem():
    """The highspy model against scipy's linprog on a dense restatement of the day's LP."""
    from scipy.optimize import linprog

    p = random_problem(np.random.default_rng(9), n=4, hours=3, tight=0.5)
    n_o, n_k, n_d, n_p, n_h = p.shape
    allowed = p.allowed()
    # variables x[o,k,d,p,h] for every cell (forbidden and wrong-hour cells bounded to 0) and u[o,k,h]
    nx = n_o * n_k * n_d * n_p * n_h
    idx = np.arange(nx).reshape(p.shape)
    cost = (p.transfer_cost.transpose(0, 2, 1)[:, :, :, None, None] + p.energy_cost[None, None]).ravel()
    c = np.concatenate([cost, np.repeat(p.value, n_h)[None, :].repeat(n_o, 0).ravel()])
    ub = np.where(np.broadcast_to(allowed[..., None], p.shape), np.inf, 0.0).ravel()
    rows, b = [], []
    for o in range(n_o):
        for k in range(n_k):
            hours = [None] if p.deferrable[k] else range(n_h)
            for h in hours:
                row = np.zeros(nx + n_o * n_k * n_h)
                if h is None:
                    row[idx[o, k].ravel()] = 1.0
                    row[nx + (o * n_k + k) * n_h:nx + (o * n_k + k + 1) * n_h] = 1.0
                    b.append(p.demand[o, k].sum())
                else:
                    row[idx[o, k, :, :, h].ravel()] = 1.0
                    row[nx + (o * n_k + k) * n_h + h] = 1.0
                    b.append(p.demand[o, k, h])
                rows.append(row)
    cap = np.zeros((n_d * n_p * n_h, nx + n_o * n_k * n_h))
    for d in range(n_d):
        for q in range(n_p):
            for h in range(n_h):
                cap[(d * n_p + q) * n_h + h, idx[:, :, d, q, h].ravel()] = 1.0
    bounds = np.column_stack([np.zeros(c.size), np.concatenate([ub, np.full(n_o * n_k * n_h, np.inf)])])
    ref = linprog(c, A_ub=cap, b_ub=p.capacity.ravel(), A_eq=np.array(rows), b_eq=np.array(b), bounds=bounds, method="highs")
    ours = solve_schedule_lp(p, p.energy_cost, p.transfer_cost)
    assert ours.objective == pytest.approx(ref.fun, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("soft", [False, True])
def test_generated_columns_reach_the_full_lp_optimum(seed, soft):
    """Column generation against the LP with every column: the same optimum (soft and hard latency
    bounds, one or two demand tranches), a valid schedule costing that optimum, fewer columns."""
    from sim.policies.cost_min_lp import ScheduleLP

    p = random_problem(np.random.default_rng(seed), n=12, hours=6, tight=0.5 + 0.2 * seed)
    if soft:
        p.sla_penalty = np.full(len(DEFERRABLE), 4.0)
    tranches = ((0.6, 1.5), (0.4, 0.3)) if seed % 2 else ((1.0, 1.0),)
    gen = ScheduleLP().solve(p, p.energy_cost, p.transfer_cost, tranches, sla_penalty=p.sla_penalty)
    full = ScheduleLP(generate=False).solve(p, p.energy_cost, p.transfer_cost, tranches, sla_penalty=p.sla_penalty)
    assert gen.objective == pytest.approx(full.objective, rel=1e-9, abs=1e-7)
    assert gen.assignment.info["n_columns_solved"] < full.assignment.info["n_columns_solved"] == full.n_vars
    check_assignment(p, gen.assignment)
    if len(tranches) == 1:
        cost = total_cost(p, gen.assignment, check_assignment(p, gen.assignment))
        assert cost["total"] == pytest.approx(gen.objective, rel=1e-7)


def test_final_duals_price_every_route_left_out():
    """At the end of generation no route left out of the HiGHS model has a negative reduced cost,
    so the restricted optimum is an optimum of the full LP."""
    from sim.policies.cost_min_lp import ScheduleLP, _restrict

    p = random_problem(np.random.default_rng(4), n=15, hours=8, tight=0.4)
    lp = ScheduleLP()
    lp.solve(p, p.energy_cost, p.transfer_cost)
    for kinds, pools, group in lp._groups:
        lay = group.layout
        left_out = np.setdiff1d(np.arange(lay.n_var), group.cols)
        assert left_out.size > 0
        sub = _restrict(p, kinds, pools)
        cost = lay.vectors(sub, p.energy_cost[:, pools], p.transfer_cost[:, :, kinds], ((1.0, 1.0),), p.value[kinds], None)[0]
        reduced = cost - lay.matrix_t @ np.asarray(group.highs.getSolution().row_dual)
        assert (reduced[left_out] >= -1e-9 * (1 + np.abs(cost[left_out]))).all()


def test_pool_groups_split_kinds_that_share_no_pool():
    from sim.market import COMPAT
    from sim.policies.cost_min_lp import pool_groups

    groups = [(list(k), list(q)) for k, q in pool_groups(COMPAT)]
    assert groups == [([0, 1], [1]), ([2, 3], [0])]
    shared = COMPAT.copy()
    shared[3, 1] = True  # batch may also run on the intelligent pool: one LP
    assert [(list(k), list(q)) for k, q in pool_groups(shared)] == [([0, 1, 2, 3], [0, 1])]


def test_no_highs_banner_in_a_fresh_process():
    import subprocess
    import sys

    code = ("import numpy as np; from tests.conftest import random_problem; from sim.policies import make_policy; "
            "p = random_problem(np.random.default_rng(0)); make_policy('cost_min_lp').assign(p)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout == "" and "HiGHS" not in proc.stderr
