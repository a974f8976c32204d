"""The compute market: the problem a policy solves for one representative day, the checker, and the
year's clearing and settlement (end of this module).

Tasks are aggregated into classes (origin province x kind); data centres into nodes
(province x pool). Kinds: AI training (intelligent pool, deferrable within the day), AI
inference (intelligent, latency-bound), interactive general-purpose services (general,
latency-bound) and batch processing (general, deferrable). Work is measured in each
pool's own unit (FP16 PFLOP-h on intelligent, FP32 on general), so a kind runs on one pool. A scheduling policy maps a ``SchedulingProblem`` to an
``Assignment`` of served work ``x[o, k, d, p, h]`` (PFLOP-h in hour h); whatever is
not served is unserved, never dropped. Deferrable kinds (training, batch) may be served
in any hour of the day; inference must be served in its hour within its latency bound.

An assignment may be dense (``x[o,k,d,p,h]``) or sparse (``routes`` [R,4] of (o,k,d,p) and
``flow`` [R,H]); the checker and the cost accounts work on the sparse form, so their cost
grows with the routes used, not with O x D. With ``sla_penalty`` set, latency bounds are
soft: latency-bound work may be served beyond its bound at that penalty and is counted as
an SLA violation.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from sim import snapshots
from sim.measurement import weighted_quantile

KINDS = ("training", "inference", "interactive", "batch")
POOLS = ("general", "intelligent")
TRAINING, INFERENCE, INTERACTIVE, BATCH = 0, 1, 2, 3
GENERAL, INTELLIGENT = 0, 1
COMPAT = np.array([[False, True], [False, True], [True, False], [True, False]])
DEFERRABLE = np.array([True, False, False, True])


class AccountingError(RuntimeError):
    """An accounting identity of the market or the power side does not hold."""


class PolicyError(RuntimeError):
    """A scheduling policy raised while scheduling a day; names the policy, the year and season, and its error."""


def _policy_call(spec: str, problem: "SchedulingProblem", method, *args):
    """``method(*args)`` of the policy named ``spec``; whatever it raises becomes a ``PolicyError``."""
    try:
        return method(*args)
    except Exception as err:
        reason = " ".join(str(err).split())
        raise PolicyError(f"policy {spec!r} failed in {problem.year} season {problem.season} "
                          f"({type(err).__name__}{': ' + reason[:200] if reason else ''})") from err


@dataclass
class SchedulingProblem:
    """One representative day. Shapes: O origins = D nodes = provinces, K kinds, P pools, H hours.

    demand [O,K,H] PFLOP-h arriving per hour; capacity [D,P,H] PFLOP-h per hour;
    energy_cost [D,P,H] CNY per PFLOP-h served (marginal energy x price);
    carbon [D,P,H] tCO2 per PFLOP-h; price [D,P] CNY per PFLOP-h posted by data centres;
    latency_ms [O,D] round trip; transfer_cost [O,D,K] CNY per PFLOP-h;
    latency_bound [K] ms; value [K] CNY per PFLOP-h (the loss when unserved);
    sla_penalty [K] CNY per PFLOP-h served beyond the latency bound (None: bounds are hard);
    energy_kwh [D,P,H] facility kWh per PFLOP-h served (optional, for energy accounts).
    """

    year: int
    season: int
    codes: list[str]
    demand: np.ndarray
    capacity: np.ndarray
    energy_cost: np.ndarray
    carbon: np.ndarray
    price: np.ndarray
    latency_ms: np.ndarray
    transfer_cost: np.ndarray
    latency_bound: np.ndarray
    value: np.ndarray
    region: np.ndarray
    hub_role: np.ndarray
    hubs_active: bool
    carbon_price: float = 0.0
    compat: np.ndarray = field(default_factory=lambda: COMPAT.copy())
    deferrable: np.ndarray = field(default_factory=lambda: DEFERRABLE.copy())
    sla_penalty: np.ndarray | None = None
    energy_kwh: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        o, k, h = self.demand.shape
        d, p, _ = self.capacity.shape
        return o, k, d, p, h

    @property
    def soft_latency(self) -> bool:
        """True when latency bounds are soft (``sla_penalty`` [K] CNY per PFLOP-h served beyond the bound)."""
        return self.sla_penalty is not None

    def within_bound(self) -> np.ndarray:
        """Routes [O,K,D,P] whose pool fits the kind and whose latency is within the kind's bound."""
        lat_ok = self.latency_ms[:, None, :] <= self.latency_bound[None, :, None]
        return lat_ok[:, :, :, None] & self.compat[None, :, None, :]

    def allowed(self) -> np.ndarray:
        """Feasible (origin, kind, node, pool) routes [O,K,D,P]: pool fits the kind, latency within
        bound (or any latency when bounds are soft)."""
        if self.soft_latency:
            o, k, d, _, _ = self.shape
            return np.broadcast_to(self.compat[None, :, None, :], (o, k, d, self.compat.shape[1])).copy()
        return self.within_bound()

    def daily_demand(self) -> np.ndarray:
        return self.demand.sum(axis=2)


class Assignment:
    """Served work (PFLOP-h) and optional nodal prices [D,P,H] (CNY per PFLOP-h).

    Give either the dense ``served`` x[o,k,d,p,h], or the sparse ``routes`` [R,4] (origin,
    kind, node, pool) with ``flow`` [R,H] and the problem's ``shape``. Either form is
    available from the other: ``served`` densifies on first use, ``sparse()`` finds the
    routes of a dense array (any non-zero element, NaN included, makes a route).
    """

    def __init__(self, served: np.ndarray | None = None, prices: np.ndarray | None = None,
                 info: dict[str, Any] | None = None, *, routes: np.ndarray | None = None,
                 flow: np.ndarray | None = None, shape: tuple[int, ...] | None = None):
        if served is None and (routes is None or flow is None or shape is None):
            raise ValueError("Assignment needs served=x[o,k,d,p,h], or routes=, flow= and shape=")
        self._served = None if served is None else np.asarray(served, dtype=float)
        self._routes = None if routes is None else np.asarray(routes, dtype=np.int64).reshape(-1, 4)
        self._flow = None if flow is None else np.asarray(flow, dtype=float)
        self._shape = tuple(shape) if shape is not None else self._served.shape
        self.prices = prices
        self.info = {} if info is None else info

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def served(self) -> np.ndarray:
        """Dense served work x[o,k,d,p,h] (PFLOP-h), built from the routes on first use."""
        if self._served is None:
            r, f = self.sparse()
            x = np.zeros(self._shape)
            x[r[:, 0], r[:, 1], r[:, 2], r[:, 3]] = f
            self._served = x
        return self._served

    @served.setter
    def served(self, value: np.ndarray) -> None:
        self._served = np.asarray(value, dtype=float)
        self._shape = self._served.shape
        self._routes = self._flow = None

    def sparse(self) -> tuple[np.ndarray, np.ndarray]:
        """Unique routes [R,4] (o,k,d,p) and their hourly flow [R,H] (PFLOP-h)."""
        if self._routes is None:
            x = self._served
            if x.ndim != 5:
                return np.zeros((0, 4), dtype=np.int64), np.zeros((0, x.shape[-1] if x.ndim else 0))
            mask = (x != 0).any(axis=4)
            self._routes = np.argwhere(mask).astype(np.int64)
            self._flow = x[mask]
        elif len(self._routes) and self._flow.ndim == 2 and self._flow.shape[0] == len(self._routes):
            o, k, d, p = (self._routes[:, i] for i in range(4))
            lin = ((o * self._shape[1] + k) * self._shape[2] + d) * self._shape[3] + p
            uniq, inv = np.unique(lin, return_inverse=True)
            if len(uniq) < len(lin):
                flow = np.zeros((len(uniq), self._flow.shape[1]))
                np.add.at(flow, inv, self._flow)
                self._routes = np.column_stack(np.unravel_index(uniq, self._shape[:4])).astype(np.int64)
                self._flow = flow
        return self._routes, self._flow

    def __repr__(self) -> str:
        r, _ = self.sparse()
        return f"Assignment(shape={self._shape}, routes={len(r)})"


def _cell(problem: SchedulingProblem, o=None, k=None, d=None, p=None, h=None) -> str:
    """``year Y season S: origin O kind K node D pool P hour H`` for an error message."""
    parts = [f"{problem.year} season {problem.season}:"]
    if o is not None:
        parts.append(f"origin {problem.codes[int(o)]}")
    if k is not None:
        parts.append(f"kind {KINDS[int(k)] if int(k) < len(KINDS) else int(k)}")
    if d is not None:
        parts.append(f"node {problem.codes[int(d)]}")
    if p is not None:
        parts.append(f"pool {POOLS[int(p)] if int(p) < len(POOLS) else int(p)}")
    if h is not None:
        parts.append(f"hour {int(h)}")
    return " ".join(parts)


def _node_hour_matrix(problem: SchedulingProblem, routes: np.ndarray) -> sp.csr_matrix:
    """[D*P, R] incidence matrix that sums route flows into node-pool cells."""
    _, _, n_d, n_p, _ = problem.shape
    lin = routes[:, 2] * n_p + routes[:, 3]
    return sp.csr_matrix((np.ones(len(routes)), (lin, np.arange(len(routes)))), shape=(n_d * n_p, len(routes)))


def _class_matrix(problem: SchedulingProblem, routes: np.ndarray) -> sp.csr_matrix:
    """[O*K, R] incidence matrix that sums route flows into (origin, kind) classes."""
    _, n_k, _, _, _ = problem.shape
    lin = routes[:, 0] * n_k + routes[:, 1]
    return sp.csr_matrix((np.ones(len(routes)), (lin, np.arange(len(routes)))), shape=(problem.demand.shape[0] * n_k, len(routes)))


def served_by_class(problem: SchedulingProblem, a: Assignment) -> np.ndarray:
    """Served work [O,K,H] (PFLOP-h) by origin, kind and hour of service."""
    r, f = a.sparse()
    o, k, _, _, h = problem.shape
    if not len(r):
        return np.zeros((o, k, h))
    return np.asarray(_class_matrix(problem, r) @ f).reshape(o, k, h)


def node_use(problem: SchedulingProblem, a: Assignment) -> np.ndarray:
    """Work served at each node, pool and hour [D,P,H] (PFLOP-h)."""
    r, f = a.sparse()
    _, _, d, p, h = problem.shape
    if not len(r):
        return np.zeros((d, p, h))
    return np.asarray(_node_hour_matrix(problem, r) @ f).reshape(d, p, h)


def class_node(problem: SchedulingProblem, a: Assignment) -> np.ndarray:
    """Daily work of each class at each node [O,K,D,P] (PFLOP-h)."""
    r, f = a.sparse()
    out = np.zeros(problem.shape[:4])
    np.add.at(out, (r[:, 0], r[:, 1], r[:, 2], r[:, 3]), f.sum(axis=1))
    return out


def beyond_bound(problem: SchedulingProblem, routes: np.ndarray) -> np.ndarray:
    """Mask [R] of routes whose latency exceeds their kind's bound (SLA violations when soft)."""
    return problem.latency_ms[routes[:, 0], routes[:, 2]] > problem.latency_bound[routes[:, 1]]


def unserved(problem: SchedulingProblem, a: Assignment, rel: float = 1e-9) -> np.ndarray:
    """Unserved work [O,K,H] = shortfall of service below demand; for deferrable kinds the day's
    shortfall is booked in hour 0. Runs every per-element check of ``check_assignment`` first
    (they are cheap), so a broken assignment never reaches the books."""
    return check_assignment(problem, a, rel=rel)


def check_assignment(problem: SchedulingProblem, a: Assignment, tol: float | None = None, rel: float = 1e-9) -> np.ndarray:
    """Raise ``AccountingError`` naming the cell unless every element of the assignment is valid.

    Checked per element with relative tolerances ``rel``: the shape; finite, non-negative
    work (to ``rel`` of the class's daily demand); no work on a route whose pool does not
    run the kind or (hard bounds) whose latency exceeds the bound; used <= capacity x (1 +
    rel) in every node-pool-hour, so a zero-capacity node accepts no work at all; service
    <= demand x (1 + rel) per class and hour (per day for deferrable kinds). Returns the
    unserved array [O,K,H] (PFLOP-h), computed as the shortfall, and checks demand =
    served + unserved per class. ``tol`` is accepted for compatibility and overrides ``rel``.
    """
    if tol is not None:
        rel = tol
    o_n, k_n, d_n, p_n, h_n = problem.shape
    if not isinstance(a, Assignment):
        raise AccountingError(f"{problem.year} season {problem.season}: policy returned {type(a).__name__}, not an Assignment")
    if tuple(a.shape) != (o_n, k_n, d_n, p_n, h_n):
        raise AccountingError(
            f"{problem.year} season {problem.season}: assignment shape {tuple(a.shape)} != {(o_n, k_n, d_n, p_n, h_n)} (O,K,D,P,H)"
        )
    r, f = a.sparse()
    if f.shape != (len(r), h_n):
        raise AccountingError(f"{problem.year} season {problem.season}: flow shape {f.shape} != ({len(r)}, {h_n}) (routes, hours)")
    if len(r):
        lo, hi = r.min(axis=0), r.max(axis=0)
        if (lo < 0).any() or (hi >= np.array([o_n, k_n, d_n, p_n])).any():
            raise AccountingError(f"{problem.year} season {problem.season}: route index out of range (min {lo}, max {hi})")
    day_demand = problem.demand.sum(axis=2)

    bad = ~np.isfinite(f)
    if bad.any():
        i, h = np.argwhere(bad)[0]
        raise AccountingError(f"{_cell(problem, *r[i], h)}: served work is {f[i, h]} PFLOP-h (must be finite)")
    floor = -rel * day_demand[r[:, 0], r[:, 1]]
    neg = f < floor[:, None]
    if neg.any():
        i, h = np.argwhere(neg)[0]
        raise AccountingError(f"{_cell(problem, *r[i], h)}: negative served work {f[i, h]:.6g} PFLOP-h")
    ok = problem.compat[r[:, 1], r[:, 3]]
    if not problem.soft_latency:
        ok &= problem.latency_ms[r[:, 0], r[:, 2]] <= problem.latency_bound[r[:, 1]]
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        o, k, d, p = r[i]
        h = int(np.argmax(np.abs(f[i])))
        if not problem.compat[k, p]:
            why = f"pool {POOLS[p]} does not run {KINDS[k]} work"
        else:
            why = f"latency {problem.latency_ms[o, d]:.2f} ms exceeds the bound {problem.latency_bound[k]:.2f} ms"
        raise AccountingError(f"{_cell(problem, o, k, d, p, h)}: infeasible route: origin {problem.codes[o]} kind {KINDS[k]} to "
                              f"{problem.codes[d]} pool {POOLS[p]} carries {f[i, h]:.6g} PFLOP-h ({why})")

    used = node_use(problem, a)
    over = used > problem.capacity * (1 + rel)
    if over.any():
        d, p, h = np.argwhere(over)[0]
        at = np.flatnonzero((r[:, 2] == d) & (r[:, 3] == p))
        top = r[at[np.argmax(f[at, h])]]
        raise AccountingError(
            f"{_cell(problem, top[0], top[1], d, p, h)}: capacity exceeded at node {problem.codes[d]} pool {POOLS[p]} hour {h}: "
            f"used {used[d, p, h]:.9g} > capacity {problem.capacity[d, p, h]:.9g} PFLOP-h "
            f"(over by {used[d, p, h] - problem.capacity[d, p, h]:.3g}; relative tolerance {rel:g})"
        )

    got = served_by_class(problem, a)
    nd = ~problem.deferrable
    dfr = problem.deferrable
    hourly_over = (got > problem.demand * (1 + rel)) & nd[None, :, None]
    day_got = got.sum(axis=2)
    daily_over = (day_got > day_demand * (1 + rel)) & dfr[None, :]
    if hourly_over.any() or daily_over.any():
        if hourly_over.any():
            o, k, h = np.argwhere(hourly_over)[0]
            dem, srv, when = problem.demand[o, k, h], got[o, k, h], f"in hour {h}"
        else:
            o, k = np.argwhere(daily_over)[0]
            h, dem, srv, when = None, day_demand[o, k], day_got[o, k], "over the day"
        at = np.flatnonzero((r[:, 0] == o) & (r[:, 1] == k))
        d = r[at[np.argmax(np.abs(f[at]).sum(axis=1))], 2] if len(at) else None
        raise AccountingError(
            f"{_cell(problem, o, k, d, None, h)}: served exceeds demand for origin {problem.codes[o]}, kind {KINDS[k]} {when}: "
            f"demand {dem:.6g}, served {srv:.6g} PFLOP-h"
        )

    u = np.maximum(problem.demand - got, 0.0)
    u[:, dfr] = 0.0
    u[:, dfr, 0] = np.maximum(day_demand[:, dfr] - day_got[:, dfr], 0.0)
    gap = np.abs(day_demand - day_got - u.sum(axis=2))
    bad = ~(gap <= rel * day_demand)
    if bad.any():
        o, k = np.argwhere(bad)[0]
        raise AccountingError(
            f"{_cell(problem, o, k)}: demand {day_demand[o, k]:.9g} != served {day_got[o, k]:.9g} + unserved "
            f"{u[o, k].sum():.9g} PFLOP-h"
        )
    return u


def total_cost(problem: SchedulingProblem, served: np.ndarray | Assignment, unserved_work: np.ndarray | None = None) -> dict[str, float]:
    """Energy, transfer, carbon-priced, SLA-penalty and unserved-value cost of an assignment (CNY per day).

    ``served`` is a dense x[o,k,d,p,h] or an ``Assignment``; ``carbon_t`` is tonnes of CO2 per day.
    """
    a = served if isinstance(served, Assignment) else Assignment(served)
    r, f = a.sparse()
    o, k, d, p = (r[:, i] for i in range(4))
    day = f.sum(axis=1)
    energy = float((f * problem.energy_cost[d, p]).sum())
    transfer = float((day * problem.transfer_cost[o, d, k]).sum())
    carbon_t = float((f * problem.carbon[d, p]).sum())
    out = {"energy": energy, "transfer": transfer, "carbon_t": carbon_t, "carbon_cost": carbon_t * problem.carbon_price}
    late = beyond_bound(problem, r)
    out["sla_violation_pflop_h"] = float(day[late].sum())
    out["sla_penalty"] = float((day[late] * problem.sla_penalty[k[late]]).sum()) if problem.soft_latency else 0.0
    if unserved_work is not None:
        out["unserved_value"] = float(np.einsum("okh,k->", unserved_work, problem.value))
    out["total"] = out["energy"] + out["transfer"] + out["carbon_cost"] + out["sla_penalty"] + out.get("unserved_value", 0.0)
    return out


# ===== clearing and settlement of the year's market =========================================================
# The model calls ``price_datacentres`` and ``clear_year`` once a year: the four representative days are
# scheduled by the year's policy (a day whose problem equals an earlier one is scheduled once unless
# ``ModelConfig.reuse_identical_days`` is off), users pay the clearing price (posted price plus the scarcity
# rent of the capacity dual) when an LP policy clears the market and posted prices otherwise, and each data
# centre is credited with its capacity share of its node's work, energy and revenue, so revenue equals what
# users paid less transfer charges every year. The day's accounts use the assignment's sparse routes.


def dc_arrays(model) -> dict[str, np.ndarray]:
    """The data centres' state as arrays (one entry per agent, in AgentSet order)."""
    dcs = list(model.dcs)
    arr = {
        "agents": dcs,
        "prov": np.array([d.province for d in dcs], dtype=int),
        "pool": np.array([d.pool for d in dcs], dtype=int),
        "racks": np.array([d.racks for d in dcs], dtype=float),
        "density": np.array([d.density for d in dcs], dtype=float),
        "pue": np.array([d.pue for d in dcs], dtype=float),
        "hub": np.array([d.hub for d in dcs], dtype=bool),
        "price": np.array([d.price for d in dcs], dtype=float),
    }
    arr["node"] = arr["prov"] * len(POOLS) + arr["pool"]
    return arr


def dc_elec_factor(model, prov: np.ndarray, hub: np.ndarray) -> np.ndarray:
    """Electricity price factor of each data centre: the green-contract discount for resource-hub campuses."""
    green = model.config.green_contracts and model.hubs_active
    resource = model.hub_role_static[prov] == "resource"
    return np.where(green & hub & resource, 1 - model.params.power.green_contract_discount, 1.0)


def price_datacentres(model) -> None:
    """Posted price (CNY per PFLOP-h) = full unit cost at the break-even utilisation x (1 + markup)."""
    p = model.params.datacentre
    a = dc_arrays(model)
    if not a["agents"]:
        return
    elec = model.elec_price.mean(axis=(1, 2))[a["prov"]] * dc_elec_factor(model, a["prov"], a["hub"])
    kwh_full = p.rack_kw * p.full_load_share / a["density"] * a["pue"]
    u = p.target_utilisation
    energy = kwh_full * ((1 - p.idle_power_share) + p.idle_power_share / u) * elec
    capital = p.capex_cny_per_rack * p.annuity_factor * (1 + p.opex_share) / (u * snapshots.HOURS_PER_YEAR * a["density"])
    price = (energy + capital) * (1 + p.markup)
    marg = (1 - p.idle_power_share) * kwh_full * elec
    for dc, pr, mc in zip(a["agents"], price, marg):
        dc.price, dc.marginal_cost = float(pr), float(mc)


def paid_price(posted: np.ndarray, assignment: Assignment, shape: tuple[int, ...]) -> np.ndarray:
    """What users pay per PFLOP-h at each node and hour [D,P,H]: the posted price plus the scarcity rent
    (the capacity constraint's dual) when the policy clears a market with an LP (cost_min_lp,
    national_market), so congested nodes earn their rent; the posted price otherwise."""
    rent = assignment.info.get("scarcity_rent") if assignment.info else None
    base = np.broadcast_to(posted[:, :, None], shape)
    return base + np.asarray(rent, dtype=float) if rent is not None else base


def same_problem(a: SchedulingProblem, b: SchedulingProblem, carbon: bool = True) -> bool:
    """True when two days pose the same problem to a policy: demand, capacity, energy cost and, for a
    policy that reads it, carbon intensity."""
    fields = ("demand", "capacity", "energy_cost", "carbon") if carbon else ("demand", "capacity", "energy_cost")
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields)


def clear_year(model, demand: np.ndarray) -> dict:
    """Schedule the year's four representative days and settle data centres; returns the year's books."""
    from sim.accounting import check_work
    p = model.params
    a = dc_arrays(model)
    n, npool = model.n, len(POOLS)
    n_nodes = n * npool
    pflops = a["racks"] * a["density"]
    cap = np.bincount(a["node"], pflops, minlength=n_nodes).reshape(n, npool)
    full_kw = p.datacentre.rack_kw * p.datacentre.full_load_share * a["racks"] * a["pue"]
    elec_factor = dc_elec_factor(model, a["prov"], a["hub"])
    node_kw = np.bincount(a["node"], full_kw, minlength=n_nodes).reshape(n, npool)
    node_kw_green = np.bincount(a["node"], full_kw * elec_factor, minlength=n_nodes).reshape(n, npool)
    safe_cap = np.where(cap > 0, cap, 1.0)
    marg_kwh = (1 - p.datacentre.idle_power_share) * node_kw / safe_cap
    green_factor = np.where(node_kw > 0, node_kw_green / np.where(node_kw > 0, node_kw, 1.0), 1.0)
    node_price = np.bincount(a["node"], pflops * a["price"], minlength=n_nodes).reshape(n, npool) / safe_cap
    pool_price = np.array(
        [np.average(node_price[:, q], weights=cap[:, q]) if cap[:, q].sum() > 0 else np.nan for q in range(npool)]
    )
    pool_price = np.where(np.isnan(pool_price), np.nanmax(pool_price), pool_price)
    value = p.market.value_multiple * np.array([pool_price[COMPAT[k]].min() for k in range(len(KINDS))])
    transfer = model.backbone.cost_per_gb[:, :, None] * model.data_gb[None, None, :]
    idx = np.arange(n)
    transfer[idx, idx, :] = 0.0

    days = snapshots.DAYS_PER_SEASON
    H = snapshots.N_HOURS
    policy = model.policy(model.year)
    spec = model.config.policy_for(model.year)
    served_ok = np.zeros((n, len(KINDS)))
    unserved_ok = np.zeros((n, len(KINDS)))
    flows = np.zeros((n, n, len(KINDS)))
    node_used = np.zeros((n, npool, snapshots.N_SEASONS, H))
    node_paid = np.zeros((n, npool))
    paid = transfer_paid = 0.0
    costs = {"energy": 0.0, "transfer": 0.0, "carbon_t": 0.0}
    lat_num = lat_den = 0.0
    sla = {"demand": 0.0, "late": 0.0, "unserved": 0.0}
    bound_od = np.zeros((n, n))
    snap_rows = []
    solved: list[tuple[SchedulingProblem, Assignment, np.ndarray]] = []
    for s in range(snapshots.N_SEASONS):
        elec = model.elec_price[:, s, :]
        problem = SchedulingProblem(
            year=model.year, season=s, codes=model.codes,
            demand=demand[:, :, None] / snapshots.HOURS_PER_YEAR * model.compute_profile[None, :, :],
            capacity=np.repeat(cap[:, :, None], H, axis=2),
            energy_cost=marg_kwh[:, :, None] * green_factor[:, :, None] * elec[:, None, :],
            carbon=marg_kwh[:, :, None] * model.carbon_intensity[:, None, s, :],
            price=node_price, latency_ms=model.backbone.latency_ms, transfer_cost=transfer,
            latency_bound=model.latency_bound, value=value, region=model.region,
            hub_role=model.hub_role_static if model.hubs_active else np.full(n, "", dtype=object),
            hubs_active=model.hubs_active, carbon_price=model.carbon_price_now,
            energy_kwh=np.repeat(marg_kwh[:, :, None], H, axis=2),
        )
        carbon = _policy_call(spec, problem, policy.reads_carbon, problem) if hasattr(policy, "reads_carbon") else True
        hit = (next((r for r in solved if same_problem(r[0], problem, carbon)), None)
               if model.config.reuse_identical_days else None)
        if hit is None:
            t0 = time.perf_counter()
            assignment = _policy_call(spec, problem, policy.assign, problem)
            model.lp_seconds.append(time.perf_counter() - t0)
            u = check_assignment(problem, assignment) if model.config.check_invariants else unserved(problem, assignment)
            solved.append((problem, assignment, u))
        else:
            assignment, u = hit[1], hit[2]
        c = total_cost(problem, assignment)
        for key in costs:
            costs[key] += c[key] * days
        sla["late"] += days * c["sla_violation_pflop_h"]
        sla["unserved"] += days * float(u[:, ~DEFERRABLE].sum())
        sla["demand"] += days * float(problem.demand[:, ~DEFERRABLE].sum())
        per_class_node = class_node(problem, assignment)
        served_ok += per_class_node.sum(axis=(2, 3)) * days
        unserved_ok += u.sum(axis=2) * days
        flows += per_class_node.sum(axis=3).transpose(0, 2, 1) * days
        used = node_use(problem, assignment)
        node_used[:, :, s, :] = used
        unit_price = paid_price(node_price, assignment, used.shape)
        node_paid += days * (used * unit_price).sum(axis=2)
        day_transfer = days * np.einsum("okdp,odk->", per_class_node, transfer)
        paid += days * float((used * unit_price).sum()) + day_transfer
        transfer_paid += day_transfer
        xi = per_class_node[:, ~DEFERRABLE].sum(axis=(1, 3))
        lat_num += days * float((xi * model.backbone.latency_ms).sum())
        lat_den += days * float(xi.sum())
        bound_od += days * xi
        prices = assignment.prices if assignment.prices is not None else problem.energy_cost
        snap_rows.append((problem.capacity.ravel(), used.ravel(), np.asarray(prices).ravel(),
                          problem.energy_cost.ravel()))
    check_work(model.year, demand, served_ok, unserved_ok, codes=model.codes)
    util_node = node_used / np.where(cap > 0, cap, 1.0)[:, :, None, None]
    books = settle(model, a, cap, util_node, node_used, node_paid, flows, served_ok, unserved_ok, demand,
                   paid, transfer_paid, costs, lat_num / max(lat_den, 1e-12), value)
    books["snapshots"] = (model.year, snap_rows)  # the arrays; the frame is built when the panel is written
    books["sla"] = sla_summary(sla, bound_od, model.backbone.latency_ms)
    return books


SLA_KEYS = ("sla_violation_pflop_h", "sla_violation_share", "latency_bound_p99_ms")


def sla_summary(sla: dict[str, float], bound_od: np.ndarray, latency_ms: np.ndarray) -> dict[str, float]:
    """The year's service of latency-bound work (interactive and inference): PFLOP-h served beyond the
    latency bound (soft bounds) or not served, its share of latency-bound demand, and the p99 round-trip
    latency of the latency-bound work served (``bound_od`` [O,D] PFLOP-h/yr), as the bench counts them."""
    viol = max(sla["late"] + sla["unserved"], 0.0)
    return {"sla_violation_pflop_h": viol,
            "sla_violation_share": viol / sla["demand"] if sla["demand"] > 0 else float("nan"),
            "latency_bound_p99_ms": weighted_quantile(latency_ms, bound_od, 0.99)}


@functools.lru_cache(maxsize=8)
def _snapshot_labels(codes: tuple[str, ...], n_hours: int, n_seasons: int):
    """Node and pool label columns of a year's snapshot log as pandas string arrays, built once: each
    year's frame copies the array (its Arrow buffers are shared) instead of converting Python strings."""
    node = np.repeat(np.repeat(np.asarray(codes, dtype=object), len(POOLS)), n_hours)
    pool = np.tile(np.repeat(np.asarray(POOLS, dtype=object), n_hours), len(codes))
    return pd.Series(np.tile(node, n_seasons)).array, pd.Series(np.tile(pool, n_seasons)).array


def snapshot_frame(year: int, codes, seasons: list[tuple[np.ndarray, ...]], n_hours: int) -> pd.DataFrame:
    """The year's hourly node-pool log: one row per (season, node, pool, hour) with capacity and use
    (PFLOP-h), paid price and energy cost (CNY per PFLOP-h); ``seasons`` holds those four arrays
    [D*P*H] per season, built into one frame for the year."""
    cells = len(codes) * len(POOLS) * n_hours
    n_s = len(seasons)
    node, pool = _snapshot_labels(tuple(codes), n_hours, n_s)
    cols = [np.concatenate(c) for c in zip(*seasons)] if seasons else [np.zeros(0)] * 4
    return pd.DataFrame({
        "year": np.full(cells * n_s, year, dtype=np.int64),
        "season": np.repeat(np.arange(n_s, dtype=np.int64), cells),
        "hour": np.tile(np.arange(n_hours, dtype=np.int64), len(codes) * len(POOLS) * n_s),
        "node": node,
        "pool": pool,
        "capacity_pflop_h": cols[0],
        "used_pflop_h": cols[1],
        "price_cny_per_pflop_h": cols[2],
        "energy_cost_cny_per_pflop_h": cols[3],
    })


def snapshot_table(model) -> pd.DataFrame:
    """The ``snapshots`` panel: every year's hourly node-pool log (``snapshot_frame``) from the arrays
    ``clear_year`` keeps in ``model.snapshot_records``, (year, per-season arrays) pairs; a frame a
    year would hold its labels and the year, season and hour columns too, 2.5 times the memory."""
    frames = [snapshot_frame(year, model.codes, rows, snapshots.N_HOURS) for year, rows in model.snapshot_records]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def settle(model, a, cap, util_node, node_used, node_paid, flows, served_ok, unserved_ok, demand,
           paid, transfer_paid, costs, inference_latency, value) -> dict:
    """Credit each data centre with its capacity share of its node's work, revenue and energy."""
    from sim.accounting import check_energy, check_money
    p = model.params.datacentre
    days = snapshots.DAYS_PER_SEASON
    pflops = a["racks"] * a["density"]
    node_cap = cap[a["prov"], a["pool"]]
    share = pflops / np.where(node_cap > 0, node_cap, 1.0)
    u_dc = util_node[a["prov"], a["pool"]]
    served_dc = share * node_used[a["prov"], a["pool"]].sum(axis=(1, 2)) * days
    it_kw_full = p.rack_kw * p.full_load_share * a["racks"]
    it_kwh_h = it_kw_full[:, None, None] * (p.idle_power_share + (1 - p.idle_power_share) * u_dc)
    fac_kwh_h = it_kwh_h * a["pue"][:, None, None]
    it_mwh = it_kwh_h.sum(axis=(1, 2)) * days / 1000.0
    fac_mwh = fac_kwh_h.sum(axis=(1, 2)) * days / 1000.0
    elec = model.elec_price[a["prov"]] * dc_elec_factor(model, a["prov"], a["hub"])[:, None, None]
    energy_cost = (fac_kwh_h * elec).sum(axis=(1, 2)) * days
    revenue = share * node_paid[a["prov"], a["pool"]]
    dc_load = np.zeros((model.n, snapshots.N_SEASONS, snapshots.N_HOURS))
    np.add.at(dc_load, a["prov"], fac_kwh_h / 1000.0)
    if model.config.check_invariants:
        check_energy(model.year, fac_mwh, it_mwh, a["pue"])
        check_money(model.year, paid, float(revenue.sum()), transfer_paid)
    util = served_dc / np.maximum(pflops * snapshots.HOURS_PER_YEAR, 1e-12)
    for i, dc in enumerate(a["agents"]):
        dc.served, dc.utilisation = float(served_dc[i]), float(util[i])
        dc.it_energy_mwh, dc.energy_mwh = float(it_mwh[i]), float(fac_mwh[i])
        dc.energy_cost, dc.revenue = float(energy_cost[i]), float(revenue[i])
    used_node = node_used.sum(axis=(2, 3)) * days
    paid_price = np.divide(node_paid, used_node, out=np.full_like(node_paid, np.nan), where=used_node > 0)
    for pr in model.provinces:
        i = pr.idx
        pr.outcomes = {"served": served_ok[i], "unserved": unserved_ok[i],
                       "hosted_pflop_h": float(node_used[i].sum() * days), "pflops": cap[i]}
    return {
        "dc": a, "cap": cap, "served_dc": served_dc, "fac_mwh": fac_mwh, "dc_load_mw": dc_load,
        "dc_drawn_mwh": float(fac_mwh.sum()), "energy_cost": float(energy_cost.sum()),
        "revenue": float(revenue.sum()), "paid": paid, "transfer_paid": transfer_paid, "costs": costs,
        "served": served_ok, "unserved": unserved_ok, "demand": demand, "flows": flows,
        "inference_latency_ms": inference_latency, "value": value, "node_used": node_used,
        "paid_price": paid_price,
    }


def flow_frame(model, flows: np.ndarray):
    """Origin-destination-kind flows of the year (PFLOP-h), with data moved, transfer paid and latency."""
    o, d, k = np.nonzero(flows > 0)
    vol = flows[o, d, k]
    return pd.DataFrame({
        "year": model.year,
        "origin": np.array(model.codes, dtype=object)[o],
        "destination": np.array(model.codes, dtype=object)[d],
        "kind": np.array(KINDS, dtype=object)[k],
        "pflop_h": vol,
        "data_gb": np.where(o != d, vol * model.data_gb[k], 0.0),
        "transfer_cny": vol * np.where(o != d, model.backbone.cost_per_gb[o, d] * model.data_gb[k], 0.0),
        "latency_ms": model.backbone.latency_ms[o, d],
    })
