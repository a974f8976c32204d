"""East-data-west-computing rule: training and batch west, inference east.

After designation, deferrable work (training, batch) goes first to the western
resource hubs in order of energy cost, then home; latency-bound work (inference,
interactive) stays home, then goes to the eastern demand hubs by latency, then anywhere
within its latency bound. Before
designation it behaves as local-first.
"""

from __future__ import annotations

import numpy as np

from sim.market import SchedulingProblem
from sim.policies.base import register
from sim.policies.greedy import HubRule, ranked


@register
class EastWestRule(HubRule):
    name = "east_west_rule"

    def hub_preference(self, problem: SchedulingProblem) -> np.ndarray:
        n_o, n_k, n_d, _, _ = problem.shape
        own = np.eye(n_d, dtype=bool)
        resource = problem.hub_role == "resource"
        demand_hub = problem.hub_role == "demand"
        cost = problem.energy_cost.mean(axis=(1, 2))
        big = 1e6
        scores = np.empty((n_o, n_k, n_d))
        eligible = np.empty((n_o, n_k, n_d), dtype=bool)
        for k in range(n_k):
            if not problem.deferrable[k]:
                scores[:, k] = np.where(own, 0.0, np.where(demand_hub[None, :], 1.0, 2.0)) * big + problem.latency_ms
                eligible[:, k] = True
            else:
                scores[:, k] = np.where(resource[None, :], 0.0, np.where(own, 1.0, 2.0)) * big + cost[None, :]
                eligible[:, k] = resource[None, :] | own
        return ranked(scores, eligible)
