"""National compute-trading market: uniform-price clearing at every node, prices = LP duals.

Buyers anywhere bid for compute at any data-centre node within their latency bound and
pay the node's clearing price plus the transfer charge; sellers offer capacity at their
posted prices. Demand is price-elastic in value tranches, so the market serves the work
worth more than its price and leaves the rest unserved. One welfare-maximising LP per day;
the capacity duals plus the offer price are the market's clearing prices.
"""

from __future__ import annotations

import numpy as np

from sim.market import Assignment, SchedulingProblem
from sim.policies.base import SchedulingPolicy, register
from sim.policies.cost_min_lp import CachedLP

DEFAULT_TRANCHES = ((0.5, 1.5), (0.3, 0.6), (0.2, 0.25))


@register
class NationalMarket(SchedulingPolicy):
    name = "national_market"
    price_elastic = True  # leaves work unserved by choice when it is worth less than its price

    def __init__(self, tranches: tuple[tuple[float, float], ...] = DEFAULT_TRANCHES):
        if abs(sum(s for s, _ in tranches) - 1.0) > 1e-9:
            raise ValueError("national_market tranches: shares must sum to 1")
        self.tranches = tuple(tranches)
        self.lp = CachedLP()

    def assign(self, problem: SchedulingProblem) -> Assignment:
        offer = np.repeat(problem.price[:, :, None], problem.shape[4], axis=2)
        unit = offer + problem.carbon_price * problem.carbon
        return self.lp.solve(problem, unit, problem.transfer_cost, tranches=self.tranches)

    def reads_carbon(self, problem: SchedulingProblem) -> bool:
        return problem.carbon_price > 0
