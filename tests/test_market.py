"""Every policy's assignment keeps the market identities; violations are caught with numbers."""

import textwrap

import numpy as np
import pytest

from sim.market import AccountingError, Assignment, check_assignment, unserved
from sim.policies import available, make_policy
from tests.conftest import random_problem


@pytest.mark.parametrize("name", available())
@pytest.mark.parametrize("seed", range(4))
def test_policies_conserve_work(name, seed):
    problem = random_problem(np.random.default_rng(seed), n=7, hours=6, tight=0.5 + seed * 0.3)
    a = make_policy(name).assign(problem)
    u = check_assignment(problem, a)
    assert np.allclose(a.served.sum(axis=(2, 3, 4)) + u.sum(axis=2), problem.demand.sum(axis=2))
    assert (u >= -1e-6).all()


def test_local_first_never_crosses_regions():
    problem = random_problem(np.random.default_rng(2), n=8, hours=4, tight=0.3)
    x = make_policy("local_first").assign(problem).served.sum(axis=(1, 3, 4))
    cross = problem.region[:, None] != problem.region[None, :]
    assert x[cross].sum() == 0


def test_east_west_rule_sends_deferrable_work_to_resource_hubs():
    problem = random_problem(np.random.default_rng(4), n=6, hours=6, tight=3.0)
    x = make_policy("east_west_rule").assign(problem).served
    resource = problem.hub_role == "resource"
    deferrable = x[:, problem.deferrable].sum(axis=(0, 1, 3, 4))
    assert deferrable[resource].sum() > 0.5 * deferrable.sum()


def test_over_capacity_is_caught():
    problem = random_problem(np.random.default_rng(0), n=3, hours=2)
    x = np.zeros((3, 4, 3, 2, 2))
    x[0, 2, 0, 0, 0] = problem.capacity[0, 0, 0] + 1.0
    problem.demand[0, 2, 0] = problem.capacity[0, 0, 0] + 1.0
    with pytest.raises(AccountingError, match="capacity exceeded at node P0 pool general hour 0"):
        check_assignment(problem, Assignment(x))


def test_latency_violation_is_caught():
    problem = random_problem(np.random.default_rng(0), n=3, hours=2)
    problem.latency_ms[0, 2] = problem.latency_ms[2, 0] = 99.0
    problem.capacity[:] = 100.0
    x = np.zeros((3, 4, 3, 2, 2))
    x[0, 1, 2, 1, 0] = min(problem.demand[0, 1, 0], 1.0)
    with pytest.raises(AccountingError, match="infeasible route: origin P0 kind inference to P2"):
        check_assignment(problem, Assignment(x))


def test_over_serving_is_caught():
    problem = random_problem(np.random.default_rng(0), n=3, hours=2)
    problem.capacity[:] = 1e6
    x = np.zeros((3, 4, 3, 2, 2))
    x[1, 0, 1, 1, 0] = problem.demand[1, 0].sum() + 5.0
    with pytest.raises(AccountingError, match="served exceeds demand for origin P1, kind training"):
        check_assignment(problem, Assignment(x))


def test_unserved_books_deferrable_shortfall_once():
    problem = random_problem(np.random.default_rng(0), n=3, hours=4)
    u = unserved(problem, Assignment(np.zeros((3, 4, 3, 2, 4))))
    assert np.allclose(u.sum(axis=2), problem.demand.sum(axis=2))


def test_user_policy_from_a_file(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text(textwrap.dedent('''
        import numpy as np
        from sim.market import Assignment
        from sim.policies import SchedulingPolicy

        class Nothing(SchedulingPolicy):
            name = "nothing"
            def assign(self, problem):
                return Assignment(np.zeros(problem.shape))
    '''))
    policy = make_policy(f"{f}:Nothing")
    problem = random_problem(np.random.default_rng(0), n=3, hours=2)
    u = check_assignment(problem, policy.assign(problem))
    assert np.allclose(u.sum(), problem.demand.sum())


def test_unknown_policy_names_the_allowed():
    with pytest.raises(ValueError, match="allowed .*cost_min_lp"):
        make_policy("cheapest")


def test_sparse_assignment_sums_duplicate_routes_and_densifies():
    problem = random_problem(np.random.default_rng(3), n=3, hours=2)
    routes = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 0, 0]])
    flow = np.array([[0.5, 0.0], [0.25, 0.5], [1.0, 2.0]])
    a = Assignment(routes=routes, flow=flow, shape=problem.shape)
    r, f = a.sparse()
    assert len(r) == 2 and np.allclose(f.sum(), flow.sum())
    x = a.served
    assert x[0, 0, 1, 1].tolist() == [0.75, 0.5] and x[2, 2, 0, 0].tolist() == [1.0, 2.0] and x.sum() == flow.sum()
    back = Assignment(x)
    r2, f2 = back.sparse()
    assert np.array_equal(r2, r) and np.allclose(f2, f)


def test_rule_and_lp_assignments_are_sparse():
    problem = random_problem(np.random.default_rng(5), n=12, hours=4, tight=2.0)
    for name in ("east_west_rule", "cost_min_lp"):
        a = make_policy(name).assign(problem)
        r, f = a.sparse()
        assert len(r) < problem.allowed().sum()
        assert (f.sum(axis=1) > 0).all()
