"""Nearest hub: work goes to the lowest-latency hub province with room, own province first.

Before the hubs are designated it behaves as local-first.
"""

from __future__ import annotations

import numpy as np

from sim.market import Assignment, SchedulingProblem
from sim.policies.base import SchedulingPolicy, register
from sim.policies.greedy import prorata_fill, ranked
from sim.policies.local_first import same_region_preference


@register
class NearestHub(SchedulingPolicy):
    name = "nearest_hub"

    def assign(self, problem: SchedulingProblem) -> Assignment:
        if not problem.hubs_active:
            return prorata_fill(problem, same_region_preference(problem))
        n_o, n_k, n_d, _, _ = problem.shape
        hub = problem.hub_role != ""
        eligible = np.broadcast_to((hub[None, :] | np.eye(n_d, dtype=bool))[:, None, :], (n_o, n_k, n_d))
        lat = problem.latency_ms.copy()
        np.fill_diagonal(lat, -1.0)
        return prorata_fill(problem, ranked(np.broadcast_to(lat[:, None, :], (n_o, n_k, n_d)), eligible))
