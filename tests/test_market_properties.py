"""Property-based tests (hypothesis) of the market checker and of every shipped policy.

Random feasible problems: every policy's assignment serves no more than capacity, serves
plus leaves unserved exactly the demand, uses no forbidden route, and the LP costs no
more than any rule. Adversarial policies (-1 everywhere, NaN, a sliver over capacity,
work on a zero-capacity node or a forbidden route) raise ``AccountingError`` naming the cell.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import accounting
from sim.market import (
    COMPAT,
    DEFERRABLE,
    KINDS,
    AccountingError,
    Assignment,
    SchedulingProblem,
    check_assignment,
    total_cost,
    unserved,
)
from sim.policies import available, make_policy

RULES = ("local_first", "nearest_hub", "east_west_rule", "deferral")
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build_problem(seed: int, n: int, hours: int, tight: float, bound: float, zero_nodes: int, soft: bool) -> SchedulingProblem:
    """A random day on a line of n provinces; ``zero_nodes`` nodes have no capacity at all."""
    rng = np.random.default_rng(seed)
    k, p = len(DEFERRABLE), COMPAT.shape[1]
    pos = np.sort(rng.uniform(0, 40, n))
    latency = 2 * np.abs(pos[:, None] - pos[None, :]) + 1.0
    demand = rng.uniform(0, 10, (n, k, hours)) * (rng.uniform(size=(n, k, 1)) < 0.85)
    capacity = np.repeat(rng.uniform(0, 12, (n, p, 1)) * tight, hours, axis=2)
    capacity[rng.permutation(n)[:zero_nodes]] = 0.0
    region = np.array(["east", "west", "central", "northeast"])[rng.integers(0, 4, n)]
    role = np.array(["demand", "resource", ""])[rng.integers(0, 3, n)]
    return SchedulingProblem(
        year=2030, season=int(rng.integers(0, 4)), codes=[f"N{i}" for i in range(n)], demand=demand, capacity=capacity,
        energy_cost=rng.uniform(1, 5, (n, p, hours)), carbon=rng.uniform(0, 1, (n, p, hours)),
        price=rng.uniform(5, 8, (n, p)), latency_ms=latency,
        transfer_cost=rng.uniform(0, 1, (n, n, k)) * (1 - np.eye(n))[:, :, None],
        latency_bound=np.where(DEFERRABLE, np.inf, bound), value=np.full(k, 50.0), region=region,
        hub_role=role, hubs_active=bool(rng.integers(0, 2)),
        sla_penalty=np.full(k, 20.0) if soft else None,
    )


problems = st.builds(
    build_problem,
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(2, 6),
    hours=st.integers(1, 4),
    tight=st.floats(0.05, 3.0),
    bound=st.floats(1.0, 60.0),
    zero_nodes=st.integers(0, 2),
    soft=st.booleans(),
)


def independent_checks(problem: SchedulingProblem, a: Assignment, u: np.ndarray) -> None:
    """The market's identities, recomputed here from the dense array (not by the checker)."""
    x = a.served
    rel = 1e-9
    assert np.isfinite(x).all() and (x >= 0).all()
    assert (x.sum(axis=(0, 1)) <= problem.capacity * (1 + rel) + 1e-12).all()
    assert (x[problem.capacity[None, None].repeat(x.shape[0], 0).repeat(x.shape[1], 1) == 0] == 0).all()
    assert (x.sum(axis=4)[~problem.allowed()] == 0).all()
    assert np.allclose(x.sum(axis=(2, 3, 4)) + u.sum(axis=2), problem.demand.sum(axis=2), rtol=1e-9, atol=1e-9)
    nd = ~problem.deferrable
    assert (x[:, nd].sum(axis=(2, 3)) <= problem.demand[:, nd] * (1 + rel) + 1e-12).all()
    assert (u >= 0).all()


@pytest.mark.parametrize("name", available())
@SETTINGS
@given(problem=problems)
def test_every_policy_keeps_the_identities(name, problem):
    a = make_policy(name).assign(problem)
    u = check_assignment(problem, a)
    independent_checks(problem, a, u)


@SETTINGS
@given(problem=problems)
def test_lp_costs_no_more_than_any_rule(problem):
    lp = make_policy("cost_min_lp").assign(problem)
    c_lp = total_cost(problem, lp, check_assignment(problem, lp))["total"]
    for rule in RULES:
        a = make_policy(rule).assign(problem)
        c = total_cost(problem, a, check_assignment(problem, a))["total"]
        assert c_lp <= c * (1 + 1e-9) + 1e-7, (rule, c_lp, c)


@SETTINGS
@given(problem=problems)
def test_sparse_and_dense_accounts_agree(problem):
    a = make_policy("east_west_rule").assign(problem)
    dense = Assignment(a.served.copy())
    assert check_assignment(problem, a) == pytest.approx(check_assignment(problem, dense))
    ca, cd = total_cost(problem, a), total_cost(problem, dense.served)
    for key in ("energy", "transfer", "carbon_t", "sla_penalty"):
        assert ca[key] == pytest.approx(cd[key], rel=1e-12, abs=1e-12)
    x = dense.served
    assert ca["energy"] == pytest.approx(float(np.einsum("okdph,dph->", x, problem.energy_cost)), rel=1e-12, abs=1e-12)


# ----- adversarial policies ---------------------------------------------------------------------

class MinusOne:
    name = "minus_one"

    def assign(self, problem):
        return Assignment(np.full(problem.shape, -1.0))


class NaNPolicy:
    name = "nan"

    def assign(self, problem):
        x = make_policy("local_first").assign(problem).served.copy()
        x[0, 0, 0, 1, 0] = np.nan
        return Assignment(x)


class SliverOver:
    """Serve exactly the capacity of one node-hour, then a relative 1e-6 more."""

    name = "sliver_over"

    def assign(self, problem):
        x = np.zeros(problem.shape)
        o, k, d, p, h = 0, 0, 0, 1, 0  # training (deferrable) from origin 0 at node 0, intelligent pool
        x[o, k, d, p, h] = problem.capacity[d, p, h] * (1 + 1e-6)
        return Assignment(x)


def roomy_problem(hours: int = 3) -> SchedulingProblem:
    p = build_problem(7, 4, hours, 1.0, 30.0, 0, False)
    p.demand[:] = 5.0
    p.capacity[:] = 4.0
    return p


def test_minus_one_policy_raises_naming_the_cell():
    p = roomy_problem()
    with pytest.raises(AccountingError, match=r"2030 season \d: origin N0 kind training node N0 pool general hour 0: negative"):
        check_assignment(p, MinusOne().assign(p))
    with pytest.raises(AccountingError, match="negative served work"):
        unserved(p, MinusOne().assign(p))


def test_nan_policy_raises_naming_the_cell():
    p = roomy_problem()
    with pytest.raises(AccountingError, match=r"origin N0 kind training node N0 pool intelligent hour 0: served work is nan"):
        check_assignment(p, NaNPolicy().assign(p))


def test_inf_work_raises():
    p = roomy_problem()
    x = np.zeros(p.shape)
    x[1, 1, 1, 1, 2] = np.inf
    with pytest.raises(AccountingError, match="origin N1 kind inference node N1 pool intelligent hour 2: served work is inf"):
        check_assignment(p, Assignment(x))


def test_small_over_capacity_raises_naming_the_cell():
    p = roomy_problem()
    p.demand[0, 0] = 10.0
    with pytest.raises(AccountingError, match=r"origin N0 kind training node N0 pool intelligent hour 0: capacity exceeded"):
        check_assignment(p, SliverOver().assign(p))


def test_exactly_at_capacity_passes():
    p = roomy_problem()
    p.demand[0, 0] = 10.0
    x = np.zeros(p.shape)
    x[0, 0, 0, 1, 0] = p.capacity[0, 1, 0]
    u = check_assignment(p, Assignment(x))
    assert u[0, 0].sum() == pytest.approx(p.demand[0, 0].sum() - p.capacity[0, 1, 0])


def test_zero_capacity_node_accepts_no_work_at_all():
    p = roomy_problem()
    p.capacity[2] = 0.0
    x = np.zeros(p.shape)
    x[2, 0, 2, 1, 1] = 1e-12  # far below any absolute tolerance scaled by the day's demand
    with pytest.raises(AccountingError, match="node N2 pool intelligent hour 1: capacity exceeded"):
        check_assignment(p, Assignment(x))


def test_incompatible_pool_is_forbidden():
    p = roomy_problem()
    x = np.zeros(p.shape)
    x[0, 0, 0, 0, 0] = 1.0  # training on the general pool
    with pytest.raises(AccountingError, match="pool general does not run training work"):
        check_assignment(p, Assignment(x))


def test_latency_bound_is_forbidden_when_hard_and_counted_when_soft():
    p = roomy_problem()
    p.latency_ms[0, 3] = p.latency_ms[3, 0] = 99.0
    x = np.zeros(p.shape)
    x[0, 1, 3, 1, 0] = 1.0
    with pytest.raises(AccountingError, match=r"origin N0 kind inference node N3 pool intelligent hour 0: infeasible route.*99.00 ms"):
        check_assignment(p, Assignment(x))
    p.sla_penalty = np.full(len(KINDS), 7.0)
    u = check_assignment(p, Assignment(x))
    c = total_cost(p, x, u)
    assert c["sla_violation_pflop_h"] == pytest.approx(1.0)
    assert c["sla_penalty"] == pytest.approx(7.0)


def test_latency_bound_work_outside_its_hour_is_caught():
    p = roomy_problem()
    p.demand[0, 1] = [2.0, 0.0, 0.0]
    x = np.zeros(p.shape)
    x[0, 1, 0, 1, 1] = 1.0
    with pytest.raises(AccountingError, match="origin N0 kind inference node N0 hour 1: served exceeds demand"):
        check_assignment(p, Assignment(x))


def test_wrong_shape_is_caught():
    p = roomy_problem()
    with pytest.raises(AccountingError, match="assignment shape"):
        check_assignment(p, Assignment(np.zeros((1, 2, 3, 4, 5))))


@given(rel=st.floats(1e-7, 1e3), cell=st.integers(0, 3))
@settings(max_examples=30, deadline=None)
def test_any_over_capacity_beyond_the_tolerance_raises(rel, cell):
    p = roomy_problem(hours=4)
    p.demand[:] = 1e4
    x = np.zeros(p.shape)
    x[cell, 0, cell, 1, cell] = p.capacity[cell, 1, cell] * (1 + rel)
    with pytest.raises(AccountingError, match=f"node N{cell} pool intelligent hour {cell}: capacity exceeded"):
        check_assignment(p, Assignment(x))


# ----- yearly identities --------------------------------------------------------------------

def test_check_work_fails_on_nan_over_serving_and_negative():
    d = np.array([[10.0, 5.0, 0.0, 2.0]])
    accounting.check_work(2030, d, d * 0.6, d * 0.4, codes=["BJ"])
    with pytest.raises(AccountingError, match="2030: origin BJ kind inference: served is not finite"):
        accounting.check_work(2030, d, np.array([[6.0, np.nan, 0.0, 1.0]]), d * 0.4, codes=["BJ"])
    with pytest.raises(AccountingError, match="origin BJ kind training: demanded != served"):
        accounting.check_work(2030, d, np.array([[11.0, 3.0, 0.0, 1.2]]), np.array([[0.0, 2.0, 0.0, 0.8]]), codes=["BJ"])
    with pytest.raises(AccountingError, match="origin BJ kind training: served is not finite and non-negative"):
        accounting.check_work(2030, d, np.array([[-1.0, 3.0, 0.0, 1.2]]), np.array([[11.0, 2.0, 0.0, 0.8]]), codes=["BJ"])
    with pytest.raises(AccountingError, match="origin BJ kind training: unserved exceeds demanded"):
        accounting.check_work(2030, d, np.array([[0.0, 3.0, 0.0, 1.2]]), np.array([[11.0, 2.0, 0.0, 0.8]]), codes=["BJ"])


def test_every_yearly_check_fails_on_nan():
    nan = float("nan")
    with pytest.raises(AccountingError):
        accounting.check_power(2030, nan, 1.0)
    with pytest.raises(AccountingError):
        accounting.check_power(2030, nan, nan)
    with pytest.raises(AccountingError):
        accounting.check_money(2030, nan, nan, 0.0)
    with pytest.raises(AccountingError):
        accounting.check_energy(2030, np.array([nan]), np.array([1.0]), np.array([1.2]))
    with pytest.raises(AccountingError):
        accounting.check_grid_balance(2030, np.array([[[nan]]]), np.zeros((1, 2, 1, 1)), np.zeros((1, 1, 1)))
    with pytest.raises(AccountingError):
        accounting.check_work(2030, np.array([[nan]]), np.array([[nan]]), np.array([[nan]]))


# ----- deferral within the day ----------------------------------------------------------------

@SETTINGS
@given(problem=problems, base=st.sampled_from(["local_first", "nearest_hub", "east_west_rule"]))
def test_deferral_moves_work_to_cheaper_or_greener_hours_and_serves_as_much(problem, base):
    ref = make_policy(base).assign(problem)
    cheap = make_policy("deferral", base=base, follow="price").assign(problem)
    green = make_policy("deferral", base=base, follow="carbon").assign(problem)
    c_ref, c_cheap, c_green = (total_cost(problem, a) for a in (ref, cheap, green))
    served = [a.served.sum(axis=(2, 3, 4)) for a in (ref, cheap, green)]
    assert np.allclose(served[0], served[1], rtol=1e-9, atol=1e-9) and np.allclose(served[0], served[2], rtol=1e-9, atol=1e-9)
    assert c_cheap["energy"] <= c_ref["energy"] * (1 + 1e-9) + 1e-9
    assert c_green["carbon_t"] <= c_ref["carbon_t"] * (1 + 1e-9) + 1e-9
    # latency-bound work is routed exactly as the base rule routes it
    nd = ~problem.deferrable
    assert np.allclose(ref.served[:, nd], cheap.served[:, nd], rtol=0, atol=1e-12)


def test_deferral_fills_the_cheapest_hours_first():
    p = build_problem(3, 2, 4, 1.0, 30.0, 0, False)
    p.demand[:] = 0.0
    p.demand[0, 0] = [1.0, 1.0, 1.0, 1.0]  # 4 PFLOP-h of training from node 0
    p.capacity[:] = 0.0
    p.capacity[0, 1] = 3.0
    p.energy_cost[0, 1] = [4.0, 1.0, 3.0, 2.0]
    p.hubs_active = False
    p.region[:] = "east"
    x = make_policy("deferral", base="local_first").assign(p).served
    assert np.allclose(x[0, 0, 0, 1], [0.0, 3.0, 0.0, 1.0])


# ----- through the model, whatever check_invariants says -------------------------------------

ADVERSARIES = '''
import numpy as np
from sim.market import Assignment
from sim.policies import SchedulingPolicy, make_policy

class MinusOne(SchedulingPolicy):
    name = "minus_one"
    def assign(self, problem):
        return Assignment(np.full(problem.shape, -1.0))

class NaNWork(SchedulingPolicy):
    name = "nan_work"
    def assign(self, problem):
        x = make_policy("local_first").assign(problem).served.copy()
        i = np.argwhere(x > 0)[0]
        x[tuple(i)] = np.nan
        return Assignment(x)

class Sliver(SchedulingPolicy):
    name = "sliver"
    def assign(self, problem):
        a = make_policy("local_first").assign(problem)
        x = a.served.copy()
        used = x.sum(axis=(0, 1))
        d, p, h = np.unravel_index(np.argmax(used / np.maximum(problem.capacity, 1e-300)), used.shape)
        o, k = np.unravel_index(np.argmax(x[:, :, d, p, h]), x.shape[:2])
        x[o, k, d, p, h] += problem.capacity[d, p, h] * 1e-6
        return Assignment(x)
'''


@pytest.mark.parametrize("cls, message", [
    ("MinusOne", r"2008 season 0: origin \w+ kind training node \w+ pool general hour 0: negative served work -1"),
    ("NaNWork", r"2008 season 0: origin \w+ kind \w+ node \w+ pool \w+ hour \d+: served work is nan"),
    ("Sliver", r"2008 season 0: origin \w+ kind \w+ node \w+ pool \w+ hour \d+: (capacity exceeded|served exceeds demand)"),
])
def test_a_bad_policy_stops_the_model_even_without_invariant_checks(tmp_path, cls, message):
    from sim.config import ModelConfig
    from sim.model import SuanLiModel

    f = tmp_path / "adversaries.py"
    f.write_text(ADVERSARIES)
    cfg = ModelConfig(start_year=2008, end_year=2008, policy_before=f"{f}:{cls}", studies=(), check_invariants=False)
    with pytest.raises(AccountingError, match=message):
        SuanLiModel(cfg, seed=0).run()
