"""Cost-minimising schedule: one linear programme per representative day, solved by HiGHS.

Minimise energy + transfer (+ carbon-priced) cost + value of unserved work subject to
node capacity per hour, latency bounds and deferrability. Deferrable kinds are routed
as daily flows y[o,k,d,p] and served hourly z[k,d,p,h] (flow balance per node), so the
LP stays small: one LP per 24-snapshot batch, never one per task. Variables exist only
on allowed routes (sparse matrices throughout), so the LP grows with the routes, not
with O x D x H.

The route columns are generated, not all passed to the solver: HiGHS starts from each
class's few cheapest routes (and every unserved and hourly-service column), and after each
solve every route left out is priced with the row duals (reduced cost = cost - A'y, one
sparse product); the routes that would lower the cost are added and the model is re-solved
from its basis, until none is left. The result is an optimum of the full LP (to the
reduced-cost tolerance), while HiGHS sees a few per cent of its columns. The HiGHS model
(highspy) is built once per problem structure (shape and allowed routes) and re-solved
with new costs and bounds from the previous basis and columns (warm start). The duals of
the capacity rows give nodal compute prices (CNY per PFLOP-h) = unit cost + scarcity rent.
With soft latency bounds, routes beyond a kind's bound carry the problem's SLA penalty.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import highspy
import numpy as np
import scipy.sparse as sp

from sim.market import Assignment, SchedulingProblem, node_use
from sim.policies.base import SchedulingPolicy, register
from sim.policies.greedy import prorata_fill, ranked


@dataclass
class LPSolution:
    assignment: Assignment
    objective: float
    n_vars: int
    n_rows: int


class _Layout:
    """Variables and rows of the day's LP for one problem structure (fixed index arithmetic).

    ``route_col`` marks the route columns (x of latency-bound kinds, y of deferrable ones), which
    are generated, and ``demand_row`` gives each one's demand row (its class, and hour for
    latency-bound kinds); unserved (u) and hourly-service (z) columns are always in the model.
    """

    def __init__(self, problem: SchedulingProblem, n_tranches: int):
        n_o, n_k, n_d, n_p, n_h = problem.shape
        self.shape = problem.shape
        allowed = problem.allowed()
        self.n_tranches = n_tranches
        n_var = 0
        rows_r, rows_c, rows_v = [], [], []
        self.cap_row = np.arange(n_d * n_p * n_h).reshape(n_d, n_p, n_h)
        n_row = self.cap_row.size
        self.nd, self.df = [], []
        routes = []

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
            routes.append((x.ravel(), dem_row[o_i].ravel()))
        for k in np.flatnonzero(problem.deferrable):
            o_i, d_i, p_i = np.nonzero(allowed[:, k])
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
            routes.append((y, dem_row[o_i]))
        r, c, v = np.concatenate(rows_r), np.concatenate(rows_c), np.concatenate(rows_v)
        self.n_var, self.n_row = n_var, n_row
        self.matrix = sp.csc_matrix((v, (r, c)), shape=(n_row, n_var))
        self.matrix.sum_duplicates()
        self.matrix_t = self.matrix.T.tocsr()
        self.route_col = np.zeros(n_var, dtype=bool)
        self.demand_row = np.full(n_var, -1)
        for cols, dem in routes:
            self.route_col[cols] = True
            self.demand_row[cols] = dem

    def columns_of(self, routes: np.ndarray) -> np.ndarray:
        """Route columns (all hours of an x route) of the routes [R,4] (o,k,d,p) that the layout holds."""
        _, _, n_d, n_p, _ = self.shape
        out = []
        groups = [(k, o_i, d_i, p_i, x) for k, o_i, d_i, p_i, x, *_ in self.nd]
        groups += [(k, o_i, d_i, p_i, y) for k, o_i, d_i, p_i, y, *_ in self.df]
        for k, o_i, d_i, p_i, cols in groups:
            key = (o_i * n_d + d_i) * n_p + p_i  # ascending: the routes come from np.nonzero
            r = routes[routes[:, 1] == k]
            want = (r[:, 0] * n_d + r[:, 2]) * n_p + r[:, 3]
            pos = np.minimum(np.searchsorted(key, want), max(key.size - 1, 0))
            hit = pos[key[pos] == want] if key.size else pos[:0]
            out.append(cols[hit].ravel())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def initial_columns(self, problem: SchedulingProblem, unit_cost: np.ndarray, transfer_cost: np.ndarray,
                        cost: np.ndarray, per_row: int = 1) -> np.ndarray:
        """Columns to start from (sorted full-layout indices): every non-route column, the
        ``per_row`` cheapest routes of each demand row, and the routes of a greedy schedule
        (each class fills its cheapest routes in turn, pro rata where nodes are short), which
        come close to the optimum's routes and save most of the generation rounds."""
        take = ~self.route_col
        routes = np.flatnonzero(self.route_col)
        take[routes[_cheapest(self.demand_row[routes], cost[routes], per_row)]] = True
        mean_unit = np.where(problem.capacity.sum(axis=2) > 0, unit_cost.mean(axis=2), np.inf)  # [D,P]
        by_kind = np.where(problem.compat[:, None, :], mean_unit[None], np.inf).min(axis=2)  # [K,D]
        score = transfer_cost.transpose(0, 2, 1) + by_kind[None]  # [O,K,D]
        eligible = problem.within_bound().any(axis=3) & np.isfinite(score)
        greedy = prorata_fill(problem, ranked(score, eligible), unit_cost)
        take[self.columns_of(greedy.sparse()[0])] = True
        return np.flatnonzero(take)

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


def _cheapest(group: np.ndarray, cost: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` lowest costs within each group (ties by position)."""
    if not group.size:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((cost, group))
    g = group[order]
    first = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    rank = np.arange(g.size) - np.repeat(first, np.diff(np.r_[first, g.size]))
    return order[rank < n]


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


class _QuietHighs(highspy.Highs):
    """A ``highspy.Highs`` that logs nothing. HiGHS prints its banner once per process when an
    instance installs its callbacks, inside ``highspy.Highs()`` before any option can be set;
    switching ``output_flag`` off first keeps the banner out of every (worker) process."""

    def enableCallbacks(self):
        self.setOptionValue("output_flag", False)
        super().enableCallbacks()


def pool_groups(compat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kinds, pools) of each group of kinds linked by shared pools: groups share no row of the
    LP, so each is solved as its own, smaller LP."""
    n_k, n_p = compat.shape
    group = np.arange(n_k)
    for q in range(n_p):
        ks = np.flatnonzero(compat[:, q])
        if ks.size:
            group[np.isin(group, group[ks])] = group[ks].min()
    out = []
    for g in np.unique(group):
        kinds = np.flatnonzero(group == g)
        out.append((kinds, np.flatnonzero(compat[kinds].any(axis=0))))
    return out


def _restrict(problem: SchedulingProblem, kinds: np.ndarray, pools: np.ndarray) -> SchedulingProblem:
    """The day's problem for ``kinds`` on ``pools`` alone (the other kinds and pools left out)."""
    def pool_cut(a):
        return None if a is None else a[:, pools]

    return replace(problem, demand=problem.demand[:, kinds], capacity=problem.capacity[:, pools],
                   energy_cost=problem.energy_cost[:, pools], carbon=problem.carbon[:, pools], price=problem.price[:, pools],
                   transfer_cost=problem.transfer_cost[:, :, kinds], latency_bound=problem.latency_bound[kinds],
                   value=problem.value[kinds], compat=problem.compat[np.ix_(kinds, pools)],
                   deferrable=problem.deferrable[kinds], energy_kwh=pool_cut(problem.energy_kwh),
                   sla_penalty=None if problem.sla_penalty is None else problem.sla_penalty[kinds])


class _GroupLP:
    """The HiGHS model of one group of kinds and pools, with its generated columns."""

    def __init__(self, problem: SchedulingProblem, n_tranches: int, generate: bool, start_per_row: int, add_per_row: int):
        self.layout = _Layout(problem, n_tranches)
        self.generate = generate
        self.start_per_row, self.add_per_row = start_per_row, add_per_row
        self.highs: highspy.Highs | None = None
        self.cols = np.zeros(0, dtype=np.int64)

    def _add_columns(self, cols: np.ndarray, cost: np.ndarray, col_up: np.ndarray) -> None:
        """Add full-layout columns ``cols`` to the HiGHS model (sparse, one call)."""
        sub = self.layout.matrix[:, cols]
        self.highs.addCols(len(cols), cost[cols], np.zeros(len(cols)), col_up[cols], sub.nnz,
                           sub.indptr[:-1].astype(np.int32), sub.indices.astype(np.int32), sub.data)
        self.cols = np.concatenate([self.cols, cols])

    def solve(self, problem, unit_cost, transfer_cost, tranches, value, sla_penalty) -> tuple:
        """Solve (from the previous basis and columns when there are some); returns the column
        values over the full layout, the capacity rows' duals [D,P,H], the objective, the simplex
        iterations and the generation rounds."""
        lay = self.layout
        cost, col_up, row_lo, row_up = lay.vectors(problem, unit_cost, transfer_cost, tranches, value, sla_penalty)
        if self.highs is None:
            self.highs = ScheduleLP.new_highs(lay.n_row)
            lp = highspy.HighsLp()
            lp.num_row_ = lay.n_row
            lp.row_lower_, lp.row_upper_ = row_lo, row_up
            self.highs.passModel(lp)
            start = (lay.initial_columns(problem, unit_cost, transfer_cost, cost, self.start_per_row) if self.generate
                     else np.arange(lay.n_var))
            self._add_columns(start, cost, col_up)
        else:
            h, cols = self.highs, self.cols
            idx = np.arange(len(cols), dtype=np.int32)
            h.changeColsCost(len(cols), idx, cost[cols])
            h.changeColsBounds(len(cols), idx, np.zeros(len(cols)), col_up[cols])
            h.changeRowsBounds(lay.n_row, np.arange(lay.n_row, dtype=np.int32), row_lo, row_up)
        h = self.highs
        iterations = rounds = 0
        while True:
            h.run()
            rounds += 1
            status = h.getModelStatus()
            if status != highspy.HighsModelStatus.kOptimal:
                raise RuntimeError(f"schedule LP {problem.year} season {problem.season}: {h.modelStatusToString(status)}")
            iterations += int(h.getInfo().simplex_iteration_count)
            sol = h.getSolution()
            if not self.generate:
                break
            reduced = cost - lay.matrix_t @ np.asarray(sol.row_dual)
            improving = reduced < -1e-9 * (1.0 + np.abs(cost))
            improving[self.cols] = False
            new = np.flatnonzero(improving)
            if not new.size:
                break
            self._add_columns(np.sort(new[_cheapest(lay.demand_row[new], reduced[new], self.add_per_row)]), cost, col_up)
        x = np.zeros(lay.n_var)
        x[self.cols] = np.asarray(sol.col_value)
        duals = np.asarray(sol.row_dual)[lay.cap_row.ravel()].reshape(lay.cap_row.shape)
        return x, duals, float(h.getInfo().objective_function_value), iterations, rounds


class ScheduleLP:
    """The day's LP kept between solves: rebuilt only when the problem's structure changes,
    otherwise updated in place (costs, bounds, right-hand sides) and re-solved from the
    previous basis and columns (warm start). Kinds that share no pool (latency-bound and
    deferrable AI work on the intelligent pool; services and batch on the general pool) are
    separate LPs (``pool_groups``). Route columns are generated (module docstring): the model
    starts from ``start_per_row`` cheapest routes per demand row plus a greedy schedule's
    routes, and each round adds the ``add_per_row`` most improving routes of each demand row;
    ``generate=False`` passes every column (the plain LP, for comparison)."""

    def __init__(self, warm_start: bool = True, generate: bool = True, start_per_row: int = 1, add_per_row: int = 2):
        self.warm_start = warm_start
        self.generate = generate
        self.start_per_row, self.add_per_row = start_per_row, add_per_row
        self._key: str | None = None
        self._groups: list[tuple[np.ndarray, np.ndarray, _GroupLP]] = []
        self.builds = 0
        self.iterations: list[int] = []
        self.rounds: list[int] = []

    #: From this many rows on, steepest-edge pricing in the dual simplex; below, Devex. Measured on one
    #: year's four days tiled to 31-248 nodes (``benchmarks/market.py``'s problems, cold solves, medians of
    #: 6-8 alternating runs): Devex is 2 % faster at 1,550 rows (31 nodes; 10-20 % over a whole run, whose
    #: solves are mostly warm), the two are even at 3,100, steepest edge is 5 % faster at 6,200 rows
    #: (124 nodes) and 11 % at 12,400 (248 nodes).
    STEEPEST_EDGE_ROWS = 6000

    @staticmethod
    def new_highs(n_rows: int = 0) -> highspy.Highs:
        """A silent, single-threaded, seeded HiGHS for an LP of ``n_rows`` rows, with the dual simplex's
        pricing chosen by size (``STEEPEST_EDGE_ROWS``)."""
        h = _QuietHighs()
        h.setOptionValue("random_seed", 0)
        h.setOptionValue("threads", 1)
        h.setOptionValue("simplex_dual_edge_weight_strategy", 2 if n_rows >= ScheduleLP.STEEPEST_EDGE_ROWS else 1)
        return h

    def solve(self, problem: SchedulingProblem, unit_cost, transfer_cost, tranches=((1.0, 1.0),),
              value=None, sla_penalty=None) -> LPSolution:
        value = problem.value if value is None else np.asarray(value, dtype=float)
        key = structure_key(problem, len(tranches))
        rebuild = not (self.warm_start and key == self._key)
        if rebuild:
            self.builds += 1
            self._key = key
            self._groups = [(kinds, pools, _GroupLP(_restrict(problem, kinds, pools), len(tranches), self.generate,
                                                    self.start_per_row, self.add_per_row))
                            for kinds, pools in pool_groups(problem.compat)]
        rent = np.zeros(problem.capacity.shape)
        routes, flows = [], []
        objective = 0.0
        iterations = rounds = 0
        n_vars = n_rows = n_cols = 0
        for kinds, pools, group in self._groups:
            sub = _restrict(problem, kinds, pools)
            x, duals, obj, it, rd = group.solve(sub, unit_cost[:, pools], transfer_cost[:, :, kinds], tranches,
                                                value[kinds], None if sla_penalty is None else np.asarray(sla_penalty)[kinds])
            r, f = group.layout.assignment(sub, x)
            routes.append(np.column_stack([r[:, 0], kinds[r[:, 1]], r[:, 2], pools[r[:, 3]]]))
            flows.append(f)
            rent[:, pools] = np.maximum(-duals, 0.0)
            objective += obj
            iterations, rounds = iterations + it, max(rounds, rd)
            n_vars, n_rows, n_cols = n_vars + group.layout.n_var, n_rows + group.layout.n_row, n_cols + len(group.cols)
        self.iterations.append(iterations)
        self.rounds.append(rounds)
        routes = np.concatenate(routes).astype(np.int64) if routes else np.zeros((0, 4), dtype=np.int64)
        flow = np.concatenate(flows) if flows else np.zeros((0, problem.shape[4]))
        flow = repair(problem, routes, flow)
        info = {"objective": objective, "n_vars": n_vars, "n_rows": n_rows, "n_columns_solved": n_cols,
                "generation_rounds": rounds, "scarcity_rent": rent, "warm": not rebuild}
        a = Assignment(routes=routes, flow=flow, shape=problem.shape, prices=unit_cost + rent, info=info)
        return LPSolution(a, objective, n_vars, n_rows)


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
