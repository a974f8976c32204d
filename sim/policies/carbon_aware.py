"""Carbon-aware schedule: least cost with a carbon price, or least carbon outright.

``mode='price'`` adds ``carbon_price_cny_per_t`` (default: the scenario's carbon price,
or 200 CNY/t if that is zero) to the cost LP; ``mode='min_carbon'`` serves as much work as it
can, then minimises tonnes of CO2, with cost only as a tie-breaker. The minimum-carbon
form is also registered on its own as ``carbon_aware_min`` (sim/policies/carbon_aware_min.py).
"""

from __future__ import annotations

import numpy as np

from sim.market import Assignment, SchedulingProblem
from sim.policies.base import SchedulingPolicy, register
from sim.policies.cost_min_lp import CachedLP

DEFAULT_CARBON_PRICE = 200.0
TIE_BREAK = 1e-6
UNSERVED_WEIGHT = 1e3


@register
class CarbonAware(SchedulingPolicy):
    name = "carbon_aware"

    def __init__(self, mode: str = "price", carbon_price_cny_per_t: float | None = None):
        if mode not in ("price", "min_carbon"):
            raise ValueError(f"carbon_aware mode {mode!r}: allowed price, min_carbon")
        self.mode = mode
        self.carbon_price = carbon_price_cny_per_t
        self.lp = CachedLP()

    def assign(self, problem: SchedulingProblem) -> Assignment:
        if self.mode == "min_carbon":
            unit = problem.carbon + TIE_BREAK * problem.energy_cost
            serve_first = np.full(problem.shape[1], UNSERVED_WEIGHT * (float(problem.carbon.max()) + 1.0))
            pen = None
            if problem.soft_latency:
                # an SLA violation weighs against unserved work as it does in CNY: a share of the value
                pen = serve_first * np.asarray(problem.sla_penalty, dtype=float) / np.maximum(problem.value, 1e-12)
            return self.lp.solve(problem, unit, TIE_BREAK * problem.transfer_cost, unserved_value=serve_first,
                                 sla_penalty=pen)
        cp = self.carbon_price if self.carbon_price is not None else (problem.carbon_price or DEFAULT_CARBON_PRICE)
        unit = problem.energy_cost + cp * problem.carbon
        return self.lp.solve(problem, unit, problem.transfer_cost)
