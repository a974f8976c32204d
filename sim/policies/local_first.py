"""Local-first: the pre-programme world with no East–West shifting.

Work is served in its own province first, then in other provinces of the same region
(east, central, west, northeast) by ascending latency; never across regions.
"""

from __future__ import annotations

import numpy as np

from sim.market import SchedulingProblem
from sim.policies.base import register
from sim.policies.greedy import RulePolicy, same_region_preference


@register
class LocalFirst(RulePolicy):
    name = "local_first"

    def preference(self, problem: SchedulingProblem) -> np.ndarray:
        return same_region_preference(problem)
