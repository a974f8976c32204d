"""Nearest hub: work goes to the lowest-latency hub province with room, own province first.

Before the hubs are designated it behaves as local-first.
"""

from __future__ import annotations

import numpy as np

from sim.market import SchedulingProblem
from sim.policies.base import register
from sim.policies.greedy import HubRule, ranked


@register
class NearestHub(HubRule):
    name = "nearest_hub"

    def hub_preference(self, problem: SchedulingProblem) -> np.ndarray:
        n_o, n_k, n_d, _, _ = problem.shape
        hub = problem.hub_role != ""
        eligible = np.broadcast_to((hub[None, :] | np.eye(n_d, dtype=bool))[:, None, :], (n_o, n_k, n_d))
        lat = problem.latency_ms.copy()
        np.fill_diagonal(lat, -1.0)
        return ranked(np.broadcast_to(lat[:, None, :], (n_o, n_k, n_d)), eligible)
