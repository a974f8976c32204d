"""Scheduling policies: plug-ins mapping a day's tasks to data-centre nodes.

Shipped: local_first, nearest_hub, east_west_rule, deferral, cost_min_lp, carbon_aware,
carbon_aware_min, national_market. Add one by subclassing ``SchedulingPolicy`` in a file of your own.
"""

from sim.policies import (  # noqa: F401
    carbon_aware, carbon_aware_min, cost_min_lp, deferral, east_west_rule, local_first, national_market, nearest_hub,
)
from sim.policies.base import REGISTRY, SchedulingPolicy, available, make_policy, register

__all__ = ["REGISTRY", "SchedulingPolicy", "available", "make_policy", "register"]
