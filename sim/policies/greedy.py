"""Pro-rata preference filling: the allocation engine of the rule-based policies.

Each class (origin, kind) names destinations in order of preference. Round by round,
every class asks its next destination for its remaining work; a node that is asked for
more than it has shares its free capacity pro rata. Latency-bound kinds go first. Deferrable work fills a node's
free hours in proportion to what is free. Vectorised over origins and hours.
"""

from __future__ import annotations

import numpy as np

from sim.market import Assignment, SchedulingProblem
from sim.policies.base import SchedulingPolicy


def prorata_fill(problem: SchedulingProblem, preference: np.ndarray) -> Assignment:
    """Serve work by ``preference`` [O,K,R] (node indices, -1 = none) in rounds; returns the assignment."""
    n_o, n_k, n_d, n_p, n_h = problem.shape
    free = problem.capacity.astype(float).copy()
    x = np.zeros((n_o, n_k, n_d, n_p, n_h))
    allowed = problem.allowed()
    rows = np.arange(n_o)
    kind_order = np.argsort(problem.deferrable, kind="stable")
    for k in kind_order:
        deferrable = bool(problem.deferrable[k])
        rem = problem.demand[:, k].sum(axis=1) if deferrable else problem.demand[:, k].copy()
        for r in range(preference.shape[2]):
            dest = preference[:, k, r]
            d = np.clip(dest, 0, None)
            for p in np.flatnonzero(problem.compat[k]):
                ok = (dest >= 0) & allowed[rows, k, d, p]
                if not ok.any():
                    continue
                if deferrable:
                    day_free = free[:, p].sum(axis=1)
                    req = np.where(ok, rem, 0.0)
                    tot = np.bincount(d[ok], req[ok], minlength=n_d)
                    ratio = np.where(tot > 0, np.minimum(1.0, day_free / np.where(tot > 0, tot, 1.0)), 0.0)
                    grant = req * ratio[d]
                    share = free[d, p] / np.where(day_free[d] > 0, day_free[d], 1.0)[:, None]
                    g = grant[:, None] * share
                else:
                    req = np.where(ok[:, None], rem, 0.0)
                    tot = np.zeros((n_d, n_h))
                    np.add.at(tot, d[ok], req[ok])
                    ratio = np.where(tot > 0, np.minimum(1.0, free[:, p] / np.where(tot > 0, tot, 1.0)), 0.0)
                    g = req * ratio[d]
                    grant = g
                g[~ok] = 0.0
                x[rows, k, d, p] += g
                used = np.zeros((n_d, n_h))
                np.add.at(used, d[ok], g[ok])
                free[:, p] = np.maximum(free[:, p] - used, 0.0)
                rem = np.maximum(rem - (g.sum(axis=1) if deferrable else grant), 0.0)
    return Assignment(served=x)


def ranked(scores: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Destinations [O,K,R] sorted by ascending ``scores`` [O,K,D] among ``eligible`` [O,K,D]; -1 pads."""
    s = np.where(eligible, scores, np.inf)
    order = np.argsort(s, axis=2, kind="stable")
    ok = np.take_along_axis(eligible, order, axis=2)
    return np.where(ok, order, -1)


def same_region_preference(problem: SchedulingProblem) -> np.ndarray:
    """Own province, then the same region by ascending latency; never across regions."""
    n_o, n_k, n_d, _, _ = problem.shape
    same = problem.region[:, None] == problem.region[None, :]
    eligible = np.broadcast_to(same[:, None, :], (n_o, n_k, n_d))
    scores = np.broadcast_to(problem.latency_ms[:, None, :], (n_o, n_k, n_d))
    return ranked(scores, eligible)


class HubRule(SchedulingPolicy):
    """A rule that applies once hubs are designated; before that, local-first serving."""

    def hub_preference(self, problem: SchedulingProblem) -> np.ndarray:
        raise NotImplementedError

    def assign(self, problem: SchedulingProblem) -> Assignment:
        pref = self.hub_preference(problem) if problem.hubs_active else same_region_preference(problem)
        return prorata_fill(problem, pref)
