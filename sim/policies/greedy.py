"""Pro-rata preference filling: the allocation engine of the rule-based policies.

Each class (origin, kind) names destinations in order of preference. Round by round,
every class asks its next destination for its remaining work; a node that is asked for
more than it has shares its free capacity pro rata. Latency-bound kinds go first.
Deferrable work fills a node's free hours in proportion to what is free, or, given an
hourly score (price or carbon), the node's best hours first. Rules never serve beyond a
latency bound, even when bounds are soft. Vectorised over origins and hours; the result
is sparse (one route per class and destination served).
"""

from __future__ import annotations

import numpy as np

from sim.market import Assignment, SchedulingProblem
from sim.policies.base import SchedulingPolicy


def _sum_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sums of the rows of ``values`` [M,H] grouped by ``index`` [M] into ``n`` groups: [n,H]."""
    h = values.shape[1]
    lin = (index[:, None] * h + np.arange(h)[None, :]).ravel()
    return np.bincount(lin, values.ravel(), minlength=n * h).reshape(n, h)


def fill_best_hours(free: np.ndarray, amount: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Place ``amount`` [D] of work in each node's free hours ``free`` [D,H], lowest ``score``
    [D,H] first; returns the placement [D,H] (PFLOP-h), never above ``free``."""
    order = np.argsort(score, axis=1, kind="stable")
    f = np.take_along_axis(free, order, axis=1)
    before = np.cumsum(f, axis=1) - f
    placed_sorted = np.clip(amount[:, None] - before, 0.0, f)
    placed = np.empty_like(placed_sorted)
    np.put_along_axis(placed, order, placed_sorted, axis=1)
    return placed


def prorata_fill(problem: SchedulingProblem, preference: np.ndarray, hour_score: np.ndarray | None = None) -> Assignment:
    """Serve work by ``preference`` [O,K,R] (node indices, -1 = none) in rounds; returns the assignment.

    ``hour_score`` [D,P,H], when given, makes deferrable work fill each node's lowest-score
    hours first instead of spreading it over the free hours.
    """
    n_o, n_k, n_d, n_p, n_h = problem.shape
    free = problem.capacity.astype(float).copy()
    rows = np.arange(n_o)
    kind_order = np.argsort(problem.deferrable, kind="stable")
    routes, flows = [], []
    for k in kind_order:
        deferrable = bool(problem.deferrable[k])
        rem = problem.demand[:, k].sum(axis=1) if deferrable else problem.demand[:, k].copy()
        for r in range(preference.shape[2]):
            dest = preference[:, k, r]
            live = (dest >= 0) & ((rem > 0) if deferrable else (rem > 0).any(axis=1))
            if not live.any():
                if (dest < 0).all() or not (rem > 0).any():
                    break
                continue
            d = np.clip(dest, 0, None)
            in_bound = problem.latency_ms[rows, d] <= problem.latency_bound[k]
            for p in np.flatnonzero(problem.compat[k]):
                ok = live & in_bound
                if not ok.any():
                    continue
                o_ok, d_ok = rows[ok], d[ok]
                if deferrable:
                    day_free = free[:, p].sum(axis=1)
                    req = rem[ok]
                    tot = np.bincount(d_ok, req, minlength=n_d)
                    ratio = np.where(tot > 0, np.minimum(1.0, day_free / np.where(tot > 0, tot, 1.0)), 0.0)
                    grant = req * ratio[d_ok]
                    if hour_score is None:
                        share_node = free[:, p] / np.where(day_free > 0, day_free, 1.0)[:, None]
                    else:
                        given = tot * ratio
                        placed = fill_best_hours(free[:, p], given, hour_score[:, p])
                        share_node = placed / np.where(given > 0, given, 1.0)[:, None]
                    g = grant[:, None] * share_node[d_ok]
                    rem[ok] = np.maximum(rem[ok] - g.sum(axis=1), 0.0)
                else:
                    req = rem[ok]
                    tot = _sum_by(d_ok, req, n_d)
                    ratio = np.where(tot > 0, np.minimum(1.0, free[:, p] / np.where(tot > 0, tot, 1.0)), 0.0)
                    g = req * ratio[d_ok]
                    rem[ok] = np.maximum(rem[ok] - g, 0.0)
                keep = g.sum(axis=1) > 0
                if keep.any():
                    routes.append(np.column_stack([o_ok[keep], np.full(keep.sum(), k), d_ok[keep], np.full(keep.sum(), p)]))
                    flows.append(g[keep])
                    free[:, p] = np.maximum(free[:, p] - _sum_by(d_ok[keep], g[keep], n_d), 0.0)
    if routes:
        r_all, f_all = np.concatenate(routes).astype(np.int64), np.concatenate(flows)
    else:
        r_all, f_all = np.zeros((0, 4), dtype=np.int64), np.zeros((0, n_h))
    return Assignment(routes=r_all, flow=f_all, shape=problem.shape)


def ranked(scores: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Destinations [O,K,R] sorted by ascending ``scores`` [O,K,D] among ``eligible`` [O,K,D]; -1 pads."""
    out = np.empty(scores.shape, dtype=np.int64)
    done: list[int] = []
    for k in range(scores.shape[1]):
        same = next((j for j in done if np.array_equal(scores[:, j], scores[:, k])
                     and np.array_equal(eligible[:, j], eligible[:, k])), None)
        if same is not None:
            out[:, k] = out[:, same]
            continue
        s = np.where(eligible[:, k], scores[:, k], np.inf)
        order = np.argsort(s, axis=1, kind="stable")
        ok = np.take_along_axis(eligible[:, k], order, axis=1)
        out[:, k] = np.where(ok, order, -1)
        done.append(k)
    return out


def same_region_preference(problem: SchedulingProblem) -> np.ndarray:
    """Own province, then the same region by ascending latency; never across regions."""
    n_o, n_k, n_d, _, _ = problem.shape
    same = problem.region[:, None] == problem.region[None, :]
    eligible = np.broadcast_to(same[:, None, :], (n_o, n_k, n_d))
    scores = np.broadcast_to(problem.latency_ms[:, None, :], (n_o, n_k, n_d))
    return ranked(scores, eligible)


class RulePolicy(SchedulingPolicy):
    """A rule: an order of preferred destinations per class, filled pro rata."""

    def preference(self, problem: SchedulingProblem) -> np.ndarray:
        """Destinations [O,K,R] in order of preference (-1 pads)."""
        raise NotImplementedError

    def hour_score(self, problem: SchedulingProblem) -> np.ndarray | None:
        """Hourly score [D,P,H] whose lowest hours deferrable work fills first; None spreads it."""
        return None

    def assign(self, problem: SchedulingProblem) -> Assignment:
        return prorata_fill(problem, self.preference(problem), self.hour_score(problem))

    def reads_carbon(self, problem: SchedulingProblem) -> bool:
        """Rules rank by latency, region and hub role and fill hours by ``hour_score``: carbon only if that uses it."""
        return False


class HubRule(RulePolicy):
    """A rule that applies once hubs are designated; before that, local-first serving."""

    def hub_preference(self, problem: SchedulingProblem) -> np.ndarray:
        raise NotImplementedError

    def preference(self, problem: SchedulingProblem) -> np.ndarray:
        return self.hub_preference(problem) if problem.hubs_active else same_region_preference(problem)
