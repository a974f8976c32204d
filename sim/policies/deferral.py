"""Deferral within the day: a rule's routing, with training and batch moved to cheap or green hours.

Latency-bound work is served as the base rule serves it (``east_west_rule`` by default).
Deferrable work (training, batch) goes to the same destinations, but fills each node's
free hours in order of the hour's energy cost (``follow='price'``) or carbon per
PFLOP-h (``follow='carbon'``) instead of spreading over the day, so it follows cheap or
green power.
"""

from __future__ import annotations

import numpy as np

from sim.market import SchedulingProblem
from sim.policies.base import make_policy, register
from sim.policies.greedy import RulePolicy

FOLLOW = ("price", "carbon")


@register
class Deferral(RulePolicy):
    name = "deferral"

    def __init__(self, follow: str = "price", base: str = "east_west_rule"):
        if follow not in FOLLOW:
            raise ValueError(f"deferral follow {follow!r}: allowed {', '.join(FOLLOW)}")
        self.follow = follow
        self.base = make_policy(base)
        if not isinstance(self.base, RulePolicy):
            raise ValueError(f"deferral base {base!r}: must be a rule policy (local_first, nearest_hub, east_west_rule)")

    def preference(self, problem: SchedulingProblem) -> np.ndarray:
        return self.base.preference(problem)

    def hour_score(self, problem: SchedulingProblem) -> np.ndarray:
        return problem.energy_cost if self.follow == "price" else problem.carbon

    def reads_carbon(self, problem: SchedulingProblem) -> bool:
        return self.follow == "carbon"
