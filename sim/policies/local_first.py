"""Local-first: the pre-programme world with no East–West shifting.

Work is served in its own province first, then in other provinces of the same region
(east, central, west, northeast) by ascending latency; never across regions.
"""

from __future__ import annotations

from sim.market import Assignment, SchedulingProblem
from sim.policies.base import SchedulingPolicy, register
from sim.policies.greedy import prorata_fill, same_region_preference


@register
class LocalFirst(SchedulingPolicy):
    name = "local_first"

    def assign(self, problem: SchedulingProblem) -> Assignment:
        return prorata_fill(problem, same_region_preference(problem))
