"""Local-first: the pre-programme world with no East–West shifting.

Work is served in its own province first, then in other provinces of the same region
(east, central, west, northeast) by ascending latency; never across regions.
"""

from __future__ import annotations

import numpy as np

from sim.market import Assignment, SchedulingProblem
from sim.policies.base import SchedulingPolicy, register
from sim.policies.greedy import prorata_fill, ranked


def same_region_preference(problem: SchedulingProblem) -> np.ndarray:
    n_o, n_k, n_d, _, _ = problem.shape
    same = problem.region[:, None] == problem.region[None, :]
    eligible = np.broadcast_to(same[:, None, :], (n_o, n_k, n_d))
    scores = np.broadcast_to(problem.latency_ms[:, None, :], (n_o, n_k, n_d))
    return ranked(scores, eligible)


@register
class LocalFirst(SchedulingPolicy):
    name = "local_first"

    def assign(self, problem: SchedulingProblem) -> Assignment:
        return prorata_fill(problem, same_region_preference(problem))
