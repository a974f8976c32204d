"""Cost-minimising schedule: one linear programme per representative day, solved by HiGHS.

Minimise energy + transfer (+ carbon-priced) cost + value of unserved work subject to
node capacity per hour, latency bounds and deferrability. Deferrable kinds are routed
as daily flows y[o,k,d,p] and served hourly z[k,d,p,h] (flow balance per node), so the
LP stays small: one LP per 24-snapshot batch, never one per task. Variables exist only
on allowed routes (sparse matrices throughout), so the LP grows with the routes, not
with O x D x H. The HiGHS model (highspy) is built once per problem structure (shape and
allowed routes) and re-solved with new costs and bounds from the previous optimal
basis. The duals of the capacity rows give nodal compute prices (CNY per PFLOP-h) =
unit cost + scarcity rent. With soft latency bounds, routes beyond a kind's bound carry
the problem's SLA penalty.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from sim.market import Assignment, SchedulingProblem, node_use
from sim.policies.base import SchedulingPolicy, register


@dataclass
class LPSolution:
    assignment: Assignment
    objective: float
    n_vars: int
    n_rows: int


class _Layout:
    """Variables and rows of the day's LP for one problem structure (fixed index arithmetic)."""

    def __init__(self, problem: SchedulingProblem, n_tranches: int, keep: dict[int, np.ndarray] | None = None):
        n_o, n_k, n_d, n_p, n_h = problem.shape
        self.shape = problem.shape
        allowed = problem.allowed()
        self.keep = keep
        self.n_tranches = n_tranches
        n_var = 0
        rows_r, rows_c, rows_v = [], [], []
        self.cap_row = np.arange(n_d * n_p * n_h).reshape(n_d, n_p, n_h)
        n_row = self.cap_row.size
        self.nd, self.df = [], []

        def take(n: int) -> np.ndarray:
            nonlocal n_var
            idx = np.arange(n_var, n_var + n)
            n_var += n
            return idx

        for k in np.flatnonzero(~problem.deferrable):
            o_i, d_i, p_i = np.nonzero(allowed[:, k])
            x = take(o_i.size * n_h).reshape(o_i.size, n_h)
            dem_row = n_row + np.arange(n_o * n_h).reshape(n_o, n_h)
            n_row += n_o * n_h
            u = take(n_tranches * n_o * n_h).reshape(n_tranches, n_o, n_h)
            rows_r += [dem_row[o_i].ravel(), self.cap_row[d_i, p_i].ravel(), np.broadcast_to(dem_row, u.shape).ravel()]
            rows_c += [x.ravel(), x.ravel(), u.ravel()]
            rows_v += [np.ones(x.size), np.ones(x.size), np.ones(u.size)]
            self.nd.append((k, o_i, d_i, p_i, x, u, dem_row))
        for k in np.flatnonzero(problem.deferrable):
            o_i, d_i, p_i = np.nonzero(allowed[:, k] & keep[k] if keep is not None else allowed[:, k])
            pools = np.flatnonzero(problem.compat[k])
            y = take(o_i.size)
            dem_row = n_row + np.arange(n_o)
            n_row += n_o
            u = take(n_tranches * n_o).reshape(n_tranches, n_o)
            z = take(n_d * len(pools) * n_h).reshape(n_d, len(pools), n_h)
            bal_row = n_row + np.arange(n_d * len(pools)).reshape(n_d, len(pools))
            n_row += n_d * len(pools)
            pool_pos = np.searchsorted(pools, p_i)
            rows_r += [dem_row[o_i], np.broadcast_to(dem_row, u.shape).ravel(), bal_row[d_i, pool_pos],
                       np.repeat(bal_row[:, :, None], n_h, axis=2).ravel(), self.cap_row[:, pools].ravel()]
            rows_c += [y, u.ravel(), y, z.ravel(), z.ravel()]
            rows_v += [np.ones(y.size), np.ones(u.size), np.ones(y.size), -np.ones(z.size), np.ones(z.size)]
            self.df.append((k, o_i, d_i, p_i, y, u, dem_row, pools, z, bal_row))
        r, c, v = np.concatenate(rows_r), np.concatenate(rows_c), np.concatenate(rows_v)
        self.n_var, self.n_row = n_var, n_row
        self.matrix = sp.csc_matrix((v, (r, c)), shape=(n_row, n_var))
        self.matrix.sum_duplicates()

    def vectors(self, problem: SchedulingProblem, unit_cost, transfer_cost, tranches, value, sla_penalty):
        """Objective, column bounds and row bounds for this day's data."""
        n_o, n_k, n_d, n_p, n_h = self.shape
        cost = np.zeros(self.n_var)
        col_up = np.full(self.n_var, np.inf)
        row_lo = np.zeros(self.n_row)
        row_up = np.zeros(self.n_row)
        row_lo[self.cap_row.ravel()] = -np.inf
        row_up[self.cap_row.ravel()] = problem.capacity.ravel()
        demand = problem.demand
        mult = np.array([m for _, m in tranches])
        share = np.array([s for s, _ in tranches])
        for k, o_i, d_i, p_i, x, u, dem_row in self.nd:
            c = transfer_cost[o_i, d_i, k][:, None] + unit_cost[d_i, p_i]
            if sla_penalty is not None:
                late = problem.latency_ms[o_i, d_i] > problem.latency_bound[k]
                c = c + np.where(late, sla_penalty[k], 0.0)[:, None]
            cost[x] = c
            cost[u] = value[k] * mult[:, None, None]
            col_up[u] = demand[:, k][None] * share[:, None, None]
            row_lo[dem_row] = row_up[dem_row] = demand[:, k]
        for k, o_i, d_i, p_i, y, u, dem_row, pools, z, bal_row in self.df:
            day = demand[:, k].sum(axis=1)
            c = transfer_cost[o_i, d_i, k]
            if sla_penalty is not None:
                late = problem.latency_ms[o_i, d_i] > problem.latency_bound[k]
                c = c + np.where(late, sla_penalty[k], 0.0)
            cost[y] = c
            cost[u] = value[k] * mult[:, None]
            col_up[u] = day[None] * share[:, None]
            cost[z] = unit_cost[:, pools]
            row_lo[dem_row] = row_up[dem_row] = day
        return cost, col_up, row_lo, row_up

    def assignment(self, problem: SchedulingProblem, sol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sparse routes [R,4] and flows [R,H] from the LP's column values."""
        n_o, n_k, n_d, n_p, n_h = self.shape
        routes, flows = [], []
        for k, o_i, d_i, p_i, x, u, dem_row in self.nd:
            f = sol[x]
            keep = f.max(axis=1) > 0
            routes.append(np.column_stack([o_i[keep], np.full(keep.sum(), k), d_i[keep], p_i[keep]]))
            flows.append(f[keep])
        for k, o_i, d_i, p_i, y, u, dem_row, pools, z, bal_row in self.df:
            hourly = np.zeros((n_d, n_p, n_h))
            hourly[:, pools] = sol[z]
            tot = hourly.sum(axis=2)
            yv = sol[y]
            keep = yv > 0
            o_k, d_k, p_k = o_i[keep], d_i[keep], p_i[keep]
            share = hourly[d_k, p_k] / np.where(tot[d_k, p_k] > 0, tot[d_k, p_k], 1.0)[:, None]
            routes.append(np.column_stack([o_k, np.full(o_k.size, k), d_k, p_k]))
            flows.append(yv[keep][:, None] * share)
        return np.concatenate(routes).astype(np.int64), np.concatenate(flows)


def structure_key(problem: SchedulingProblem, n_tranches: int) -> str:
    """Digest of what fixes the LP's rows and columns: shape, allowed routes, kinds' pools."""
    h = hashlib.sha256(repr((problem.shape, n_tranches)).encode())
    for a in (np.packbits(problem.allowed()), problem.compat, problem.deferrable):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def useful_routes(problem: SchedulingProblem, unit_cost: np.ndarray, transfer_cost: np.ndarray,
                  sla_penalty: np.ndarray | None = None) -> dict[int, np.ndarray]:
    """Routes [O,D,P] of each deferrable kind that some optimal schedule may use (exact pruning).

    For origin o, let S be its cheapest nodes by worst-hour cost (route cost + the node's
    highest hourly unit cost) whose daily capacity covers the whole day's demand on the
    kind's pools, and tau the worst-hour cost of the last of them. A route whose best-hour
    cost exceeds tau is never used at an optimum: S always has a free slot (it can hold
    all the work), and moving work there lowers the cost. Routes to nodes without
    capacity are dropped too. All other allowed routes are kept.
    """
    n_o, n_k, n_d, n_p, n_h = problem.shape
    allowed = problem.allowed()
    cap_day = problem.capacity.sum(axis=2)  # [D,P]
    keep = {}
    for k in np.flatnonzero(problem.deferrable):
        pools = problem.compat[k]
        users = (problem.compat[:, pools]).any(axis=1)
        need = float(problem.demand[:, users].sum())
        route = transfer_cost[:, :, k][:, :, None]
        if sla_penalty is not None:
            late = problem.latency_ms > problem.latency_bound[k]
            route = route + np.where(late, sla_penalty[k], 0.0)[:, :, None]
        c_max = route + unit_cost.max(axis=2)[None]  # [O,D,P]
        c_min = route + unit_cost.min(axis=2)[None]
        ok = allowed[:, k] & (cap_day[None] > 0)
        flat_max = np.where(ok, c_max, np.inf).reshape(n_o, -1)
        order = np.argsort(flat_max, axis=1, kind="stable")
        cum = np.cumsum(np.broadcast_to(np.where(ok, cap_day[None], 0.0).reshape(n_o, -1), flat_max.shape)
                        [np.arange(n_o)[:, None], order], axis=1)
        enough = cum >= need * (1 + 1e-9) + 1e-12
        reach = enough.any(axis=1)
        pos = np.argmax(enough, axis=1)
        tau = np.where(reach, np.take_along_axis(flat_max, order, axis=1)[np.arange(n_o), pos], np.inf)
        tol = 1e-9 * np.maximum(np.abs(tau), 1.0)
        keep[k] = ok & (c_min <= (tau + tol)[:, None, None])
    return keep


def repair(problem: SchedulingProblem, routes: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Remove solver round-off (HiGHS's absolute feasibility tolerance): no negative work, used
    <= capacity in every node-hour and service <= demand per class, by scaling the offending
    flows down. Changes are of the order of the solver tolerance."""
    flow = np.maximum(flow, 0.0)
    if not len(routes):
        return flow
    n_o, n_k, n_d, n_p, n_h = problem.shape
    a = Assignment(routes=routes, flow=flow, shape=problem.shape)
    used = node_use(problem, a)
    factor = np.where(used > problem.capacity, problem.capacity / np.where(used > 0, used, 1.0), 1.0)
    flow = flow * factor[routes[:, 2], routes[:, 3]]
    cls = routes[:, 0] * n_k + routes[:, 1]
    got = np.zeros((n_o * n_k, n_h))
    np.add.at(got, cls, flow)
    got = got.reshape(n_o, n_k, n_h)
    dem = problem.demand
    dfr = problem.deferrable
    lim = np.where(got > dem, dem / np.where(got > 0, got, 1.0), 1.0)
    day_got, day_dem = got.sum(axis=2), dem.sum(axis=2)
    day_lim = np.where(day_got > day_dem, day_dem / np.where(day_got > 0, day_got, 1.0), 1.0)
    lim[:, dfr] = day_lim[:, dfr][:, :, None]
    return flow * lim[routes[:, 0], routes[:, 1]]


class ScheduleLP:
    """A HiGHS model kept between solves: rebuilt only when the problem's structure changes,
    otherwise updated in place (costs, bounds, right-hand sides) and re-solved from the
    previous basis (warm start)."""

    def __init__(self, warm_start: bool = True, prune: bool = True):
        self.warm_start = warm_start
        self.prune = prune
        self._key: str | None = None
        self._layout: _Layout | None = None
        self._highs: highspy.Highs | None = None
        self.builds = 0
        self.iterations: list[int] = []

    def _new_highs(self) -> highspy.Highs:
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", 0)
        h.setOptionValue("threads", 1)
        return h

    def solve(self, problem: SchedulingProblem, unit_cost, transfer_cost, tranches=((1.0, 1.0),),
              value=None, sla_penalty=None) -> LPSolution:
        value = problem.value if value is None else np.asarray(value, dtype=float)
        key = structure_key(problem, len(tranches))
        keep = useful_routes(problem, unit_cost, transfer_cost, sla_penalty) if self.prune else None
        same = key == self._key and self.warm_start
        if same and keep is not None:
            held = self._layout.keep
            if not all((held[k] | ~keep[k]).all() for k in keep):  # a needed route is missing
                same = False
                keep = {k: keep[k] | held[k] for k in keep}  # the union: stable over similar days
        rebuild = not same
        if rebuild:
            self._layout = _Layout(problem, len(tranches), keep)
            self._key = key
        lay = self._layout
        cost, col_up, row_lo, row_up = lay.vectors(problem, unit_cost, transfer_cost, tranches, value, sla_penalty)
        if rebuild:
            self.builds += 1
            lp = highspy.HighsLp()
            lp.num_col_, lp.num_row_ = lay.n_var, lay.n_row
            lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, np.zeros(lay.n_var), col_up
            lp.row_lower_, lp.row_upper_ = row_lo, row_up
            lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
            lp.a_matrix_.start_ = lay.matrix.indptr.astype(np.int32)
            lp.a_matrix_.index_ = lay.matrix.indices.astype(np.int32)
            lp.a_matrix_.value_ = lay.matrix.data
            self._highs = self._new_highs()
            self._highs.passModel(lp)
        else:
            h = self._highs
            cols = np.arange(lay.n_var, dtype=np.int32)
            rows = np.arange(lay.n_row, dtype=np.int32)
            h.changeColsCost(lay.n_var, cols, cost)
            h.changeColsBounds(lay.n_var, cols, np.zeros(lay.n_var), col_up)
            h.changeRowsBounds(lay.n_row, rows, row_lo, row_up)
        h = self._highs
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"schedule LP {problem.year} season {problem.season}: {h.modelStatusToString(status)}")
        self.iterations.append(int(h.getInfo().simplex_iteration_count))
        sol = h.getSolution()
        x = np.asarray(sol.col_value)
        routes, flow = lay.assignment(problem, x)
        flow = repair(problem, routes, flow)
        rent = np.maximum(-np.asarray(sol.row_dual)[lay.cap_row.ravel()].reshape(problem.capacity.shape), 0.0)
        prices = unit_cost + rent
        objective = float(h.getInfo().objective_function_value)
        info = {"objective": objective, "n_vars": lay.n_var, "n_rows": lay.n_row, "scarcity_rent": rent,
                "warm": not rebuild}
        a = Assignment(routes=routes, flow=flow, shape=problem.shape, prices=prices, info=info)
        return LPSolution(a, objective, lay.n_var, lay.n_row)


def solve_schedule_lp(
    problem: SchedulingProblem,
    unit_cost: np.ndarray,
    transfer_cost: np.ndarray,
    tranches: tuple[tuple[float, float], ...] = ((1.0, 1.0),),
    unserved_value: np.ndarray | None = None,
    sla_penalty: np.ndarray | None = None,
) -> LPSolution:
    """Solve the day's routing LP once (cold).

    ``unit_cost`` [D,P,H] CNY per PFLOP-h at the node, ``transfer_cost`` [O,D,K];
    ``tranches`` splits each class's demand into (share, value multiple) blocks so that
    demand can be price-elastic; the default is one block valued at ``problem.value``
    (or ``unserved_value`` [K] when given, in the objective's own units). ``sla_penalty``
    [K] (default: the problem's) is charged per PFLOP-h served beyond the latency bound.
    """
    pen = problem.sla_penalty if sla_penalty is None else sla_penalty
    return ScheduleLP(warm_start=False).solve(problem, unit_cost, transfer_cost, tranches, unserved_value, pen)


def lp_key(problem: SchedulingProblem, *arrays: np.ndarray) -> str:
    """Digest of everything an LP depends on, so identical days are solved once."""
    h = hashlib.sha256()
    for a in (problem.demand, problem.capacity, problem.latency_ms, problem.latency_bound, problem.value,
              problem.compat, problem.deferrable, *arrays):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(b"soft" if problem.soft_latency else b"hard")
    if problem.soft_latency:
        h.update(np.ascontiguousarray(problem.sla_penalty, dtype=float).tobytes())
    return h.hexdigest()


class CachedLP:
    """A warm-started LP that also remembers the last day solved: identical days reuse it."""

    def __init__(self, warm_start: bool = True):
        self.lp = ScheduleLP(warm_start=warm_start)
        self._key: str | None = None
        self._assignment: Assignment | None = None
        self.solves = 0

    def solve(self, problem: SchedulingProblem, unit_cost, transfer_cost, tranches=((1.0, 1.0),),
              unserved_value=None, sla_penalty=None) -> Assignment:
        pen = problem.sla_penalty if sla_penalty is None else np.asarray(sla_penalty, dtype=float)
        extra = [np.asarray(t, dtype=float).ravel() for t in (tranches, unserved_value if unserved_value is not None else [],
                                                              pen if pen is not None else [])]
        key = lp_key(problem, unit_cost, transfer_cost, *extra)
        if key != self._key:
            self._assignment = self.lp.solve(problem, unit_cost, transfer_cost, tranches, unserved_value, pen).assignment
            self._key = key
            self.solves += 1
        return self._assignment


@register
class CostMinLP(SchedulingPolicy):
    """Least-cost routing of all work (energy + transfer + carbon price), HiGHS LP per day."""

    name = "cost_min_lp"

    def __init__(self, warm_start: bool = True):
        self.lp = CachedLP(warm_start=warm_start)

    def assign(self, problem: SchedulingProblem) -> Assignment:
        unit = problem.energy_cost + problem.carbon_price * problem.carbon
        return self.lp.solve(problem, unit, problem.transfer_cost)

    def reads_carbon(self, problem: SchedulingProblem) -> bool:
        return problem.carbon_price > 0
