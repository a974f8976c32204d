"""Cost-minimising schedule: one linear programme per representative day, solved by HiGHS.

Minimise energy + transfer (+ carbon-priced) cost + value of unserved work subject to
node capacity per hour, latency bounds and deferrability. Deferrable kinds are routed
as daily flows y[o,k,d,p] and served hourly z[k,d,p,h] (flow balance per node), so the
LP stays small: one LP per 24-snapshot batch, never one per task. The duals of the
capacity rows give nodal compute prices (CNY per PFLOP-h) = unit cost + scarcity rent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from sim.market import Assignment, SchedulingProblem
from sim.policies.base import SchedulingPolicy, register


@dataclass
class LPSolution:
    assignment: Assignment
    objective: float
    n_vars: int
    n_rows: int


def solve_schedule_lp(
    problem: SchedulingProblem,
    unit_cost: np.ndarray,
    transfer_cost: np.ndarray,
    tranches: tuple[tuple[float, float], ...] = ((1.0, 1.0),),
    unserved_value: np.ndarray | None = None,
) -> LPSolution:
    """Solve the day's routing LP.

    ``unit_cost`` [D,P,H] CNY per PFLOP-h at the node, ``transfer_cost`` [O,D,K];
    ``tranches`` splits each class's demand into (share, value multiple) blocks so that
    demand can be price-elastic; the default is one block valued at ``problem.value``
    (or ``unserved_value`` [K] when given, in the objective's own units).
    """
    value = problem.value if unserved_value is None else np.asarray(unserved_value, dtype=float)
    n_o, n_k, n_d, n_p, n_h = problem.shape
    allowed = problem.allowed()
    demand = problem.demand
    nd_kinds = np.flatnonzero(~problem.deferrable)
    df_kinds = np.flatnonzero(problem.deferrable)

    costs, cols_rows, n_var = [], [], 0
    eq_r, eq_c, eq_v, b_eq = [], [], [], []
    ub_r, ub_c, ub_v = [], [], []
    upper = []

    def new_vars(cost: np.ndarray, ub: np.ndarray | None = None) -> np.ndarray:
        nonlocal n_var
        idx = np.arange(n_var, n_var + cost.size).reshape(cost.shape)
        n_var += cost.size
        costs.append(cost.ravel())
        upper.append(np.full(cost.size, np.inf) if ub is None else ub.ravel())
        return idx

    # capacity rows: one per (d, p, h)
    cap_row = np.arange(n_d * n_p * n_h).reshape(n_d, n_p, n_h)
    n_eq = 0

    # non-deferrable: x[o,k,d,p,h] over allowed routes, demand row per (o,k,h)
    x_blocks = []
    for k in nd_kinds:
        o_i, d_i, p_i = np.nonzero(allowed[:, k])
        cost = transfer_cost[o_i, d_i, k][:, None] + unit_cost[d_i, p_i]
        idx = new_vars(cost)
        dem_row = n_eq + np.arange(n_o * n_h).reshape(n_o, n_h)
        n_eq += n_o * n_h
        b_eq.append(demand[:, k].ravel())
        eq_r.append(dem_row[o_i].ravel()), eq_c.append(idx.ravel()), eq_v.append(np.ones(idx.size))
        ub_r.append(cap_row[d_i, p_i].ravel()), ub_c.append(idx.ravel()), ub_v.append(np.ones(idx.size))
        for share, mult in tranches:
            u = new_vars(np.full((n_o, n_h), value[k] * mult), demand[:, k] * share)
            eq_r.append(dem_row.ravel()), eq_c.append(u.ravel()), eq_v.append(np.ones(u.size))
        x_blocks.append((k, o_i, d_i, p_i, idx))

    # deferrable: daily flows y[o,k,d,p], hourly service z[k,d,p,h], balance per (k,d,p)
    y_blocks = []
    for k in df_kinds:
        o_i, d_i, p_i = np.nonzero(allowed[:, k])
        y = new_vars(transfer_cost[o_i, d_i, k])
        dem_row = n_eq + np.arange(n_o)
        n_eq += n_o
        day = demand[:, k].sum(axis=1)
        b_eq.append(day)
        eq_r.append(dem_row[o_i]), eq_c.append(y), eq_v.append(np.ones(y.size))
        for share, mult in tranches:
            u = new_vars(np.full(n_o, value[k] * mult), day * share)
            eq_r.append(dem_row), eq_c.append(u), eq_v.append(np.ones(n_o))
        pools = np.flatnonzero(problem.compat[k])
        z = new_vars(unit_cost[:, pools])  # [D, P_k, H]
        bal_row = n_eq + np.arange(n_d * len(pools)).reshape(n_d, len(pools))
        n_eq += n_d * len(pools)
        b_eq.append(np.zeros(n_d * len(pools)))
        pool_pos = np.searchsorted(pools, p_i)
        eq_r.append(bal_row[d_i, pool_pos]), eq_c.append(y), eq_v.append(np.ones(y.size))
        eq_r.append(np.repeat(bal_row[:, :, None], n_h, axis=2).ravel()), eq_c.append(z.ravel()), eq_v.append(-np.ones(z.size))
        ub_r.append(cap_row[:, pools].ravel()), ub_c.append(z.ravel()), ub_v.append(np.ones(z.size))
        y_blocks.append((k, o_i, d_i, p_i, y, pools, z))

    c = np.concatenate(costs)
    a_eq = sp.csr_matrix((np.concatenate(eq_v), (np.concatenate(eq_r), np.concatenate(eq_c))), shape=(n_eq, n_var))
    a_ub = sp.csr_matrix(
        (np.concatenate(ub_v), (np.concatenate(ub_r), np.concatenate(ub_c))), shape=(cap_row.size, n_var)
    )
    bounds = np.column_stack([np.zeros(n_var), np.concatenate(upper)])
    res = linprog(
        c,
        A_ub=a_ub,
        b_ub=problem.capacity.ravel(),
        A_eq=a_eq,
        b_eq=np.concatenate(b_eq),
        bounds=bounds,
        method="highs",
    )
    if res.status != 0:
        raise RuntimeError(f"schedule LP {problem.year} season {problem.season}: {res.message}")
    sol = np.maximum(res.x, 0.0)

    served = np.zeros((n_o, n_k, n_d, n_p, n_h))
    for k, o_i, d_i, p_i, idx in x_blocks:
        served[o_i, k, d_i, p_i] = sol[idx]
    for k, o_i, d_i, p_i, y, pools, z in y_blocks:
        hourly = np.zeros((n_d, n_p, n_h))
        hourly[:, pools] = sol[z]
        tot = hourly.sum(axis=2)
        share = hourly[d_i, p_i] / np.where(tot[d_i, p_i] > 0, tot[d_i, p_i], 1.0)[:, None]
        served[o_i, k, d_i, p_i] = sol[y][:, None] * share
    rent = -res.ineqlin.marginals.reshape(n_d, n_p, n_h)
    prices = unit_cost + rent
    info = {"objective": float(res.fun), "n_vars": n_var, "n_rows": n_eq + cap_row.size, "scarcity_rent": rent}
    return LPSolution(Assignment(served=served, prices=prices, info=info), float(res.fun), n_var, n_eq + cap_row.size)


def lp_key(problem: SchedulingProblem, *arrays: np.ndarray) -> str:
    """Digest of everything an LP depends on, so identical days are solved once."""
    h = hashlib.sha256()
    for a in (problem.demand, problem.capacity, problem.latency_ms, problem.latency_bound, problem.value,
              problem.compat, problem.deferrable, *arrays):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class CachedLP:
    """Remembers the last LP solved; representative days with identical data reuse it."""

    def __init__(self):
        self._key: str | None = None
        self._assignment: Assignment | None = None
        self.solves = 0

    def solve(self, problem: SchedulingProblem, unit_cost, transfer_cost, **kw) -> Assignment:
        key = lp_key(problem, unit_cost, transfer_cost, *(np.asarray(v, dtype=float).ravel() for v in kw.values()))
        if key != self._key:
            self._assignment = solve_schedule_lp(problem, unit_cost, transfer_cost, **kw).assignment
            self._key = key
            self.solves += 1
        return self._assignment


@register
class CostMinLP(SchedulingPolicy):
    """Least-cost routing of all work (energy + transfer + carbon price), HiGHS LP per day."""

    name = "cost_min_lp"

    def __init__(self):
        self.lp = CachedLP()

    def assign(self, problem: SchedulingProblem) -> Assignment:
        unit = problem.energy_cost + problem.carbon_price * problem.carbon
        return self.lp.solve(problem, unit, problem.transfer_cost)
