"""The compute market of one representative day: the problem a policy solves, and settlement.

Tasks are aggregated into classes (origin province x kind); data centres into nodes
(province x pool). Kinds: AI training (intelligent pool, deferrable within the day), AI
inference (intelligent, latency-bound), interactive general-purpose services (general,
latency-bound) and batch processing (general, deferrable). Work is measured in each
pool's own unit (FP16 PFLOP-h on intelligent, FP32 on general), so a kind runs on one pool. A scheduling policy maps a ``SchedulingProblem`` to an
``Assignment`` of served work ``x[o, k, d, p, h]`` (PFLOP-h in hour h); whatever is
not served is unserved, never dropped. Deferrable kinds (training, batch) may be served
in any hour of the day; inference must be served in its hour within its latency bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

KINDS = ("training", "inference", "interactive", "batch")
POOLS = ("general", "intelligent")
TRAINING, INFERENCE, INTERACTIVE, BATCH = 0, 1, 2, 3
GENERAL, INTELLIGENT = 0, 1
COMPAT = np.array([[False, True], [False, True], [True, False], [True, False]])
DEFERRABLE = np.array([True, False, False, True])


class AccountingError(RuntimeError):
    """An accounting identity of the market or the power side does not hold."""


@dataclass
class SchedulingProblem:
    """One representative day. Shapes: O origins = D nodes = provinces, K kinds, P pools, H hours.

    demand [O,K,H] PFLOP-h arriving per hour; capacity [D,P,H] PFLOP-h per hour;
    energy_cost [D,P,H] CNY per PFLOP-h served (marginal energy x price);
    carbon [D,P,H] tCO2 per PFLOP-h; price [D,P] CNY per PFLOP-h posted by data centres;
    latency_ms [O,D] round trip; transfer_cost [O,D,K] CNY per PFLOP-h;
    latency_bound [K] ms; value [K] CNY per PFLOP-h (the loss when unserved).
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

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        o, k, h = self.demand.shape
        d, p, _ = self.capacity.shape
        return o, k, d, p, h

    def allowed(self) -> np.ndarray:
        """Feasible (origin, kind, node, pool) routes [O,K,D,P]: pool fits the kind, latency within bound."""
        lat_ok = self.latency_ms[:, None, :] <= self.latency_bound[None, :, None]
        return lat_ok[:, :, :, None] & self.compat[None, :, None, :]

    def daily_demand(self) -> np.ndarray:
        return self.demand.sum(axis=2)


@dataclass
class Assignment:
    """Served work x[o,k,d,p,h] (PFLOP-h) and optional nodal prices [D,P,H] (CNY per PFLOP-h)."""

    served: np.ndarray
    prices: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


def unserved(problem: SchedulingProblem, a: Assignment) -> np.ndarray:
    """Unserved work [O,K,H]; for deferrable kinds the day's shortfall is booked in hour 0."""
    got = a.served.sum(axis=(2, 3))
    out = problem.demand - got
    d = problem.deferrable
    day_short = problem.demand[:, d].sum(axis=2) - got[:, d].sum(axis=2)
    short = np.zeros_like(problem.demand[:, d])
    short[:, :, 0] = day_short
    out[:, d] = short
    return out


def check_assignment(problem: SchedulingProblem, a: Assignment, tol: float = 1e-6) -> np.ndarray:
    """Raise ``AccountingError`` unless demand = served + unserved, capacity and latency hold.

    Returns the unserved array. Tolerances are relative to the day's totals.
    """
    x = a.served
    o, k, d, p, h = problem.shape
    if x.shape != (o, k, d, p, h):
        raise AccountingError(f"assignment shape {x.shape} != {(o, k, d, p, h)}")
    scale = max(problem.demand.sum(), 1.0) * tol
    if (x < -scale).any():
        raise AccountingError(f"negative served work: min {x.min():.6g} PFLOP-h")
    u = unserved(problem, a)
    if (u < -scale).any():
        i = np.unravel_index(np.argmin(u), u.shape)
        raise AccountingError(
            f"{problem.year} season {problem.season}: served exceeds demand for origin {problem.codes[i[0]]}, "
            f"kind {KINDS[i[1]]}: demand {problem.demand[i[0], i[1]].sum():.6g}, served "
            f"{x[i[0], i[1]].sum():.6g} PFLOP-h"
        )
    lhs = problem.demand.sum(axis=2)
    rhs = x.sum(axis=(2, 3, 4)) + u.sum(axis=2)
    if not np.allclose(lhs, rhs, atol=scale):
        raise AccountingError(f"demand != served + unserved: max gap {np.abs(lhs - rhs).max():.6g} PFLOP-h")
    used = x.sum(axis=(0, 1))
    over = used - problem.capacity
    if (over > scale).any():
        i = np.unravel_index(np.argmax(over), over.shape)
        raise AccountingError(
            f"{problem.year} season {problem.season}: capacity exceeded at node {problem.codes[i[0]]} pool "
            f"{POOLS[i[1]]} hour {i[2]}: used {used[i]:.6g} > capacity {problem.capacity[i]:.6g} PFLOP-h"
        )
    bad = (x.sum(axis=4) > scale) & ~problem.allowed()
    if bad.any():
        i = np.argwhere(bad)[0]
        raise AccountingError(
            f"infeasible route: origin {problem.codes[i[0]]} kind {KINDS[i[1]]} to {problem.codes[i[2]]} pool "
            f"{POOLS[i[3]]} (latency {problem.latency_ms[i[0], i[2]]:.2f} ms, bound "
            f"{problem.latency_bound[i[1]]:.2f} ms)"
        )
    nd = ~problem.deferrable
    if (x[:, nd].sum(axis=(2, 3)) - problem.demand[:, nd] > scale).any():
        raise AccountingError("non-deferrable work served outside its hour")
    return u


def total_cost(problem: SchedulingProblem, served: np.ndarray, unserved_work: np.ndarray | None = None) -> dict[str, float]:
    """Energy, transfer, carbon-priced and unserved-value cost of an assignment (CNY per day)."""
    energy = float(np.einsum("okdph,dph->", served, problem.energy_cost))
    transfer = float(np.einsum("okdph,odk->", served, problem.transfer_cost))
    carbon_t = float(np.einsum("okdph,dph->", served, problem.carbon))
    out = {"energy": energy, "transfer": transfer, "carbon_t": carbon_t, "carbon_cost": carbon_t * problem.carbon_price}
    if unserved_work is not None:
        out["unserved_value"] = float(np.einsum("okh,k->", unserved_work, problem.value))
    out["total"] = out["energy"] + out["transfer"] + out["carbon_cost"] + out.get("unserved_value", 0.0)
    return out
