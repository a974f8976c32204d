"""Minimum-carbon schedule: serve as much work as possible, then emit the fewest tonnes of CO2.

The ``min_carbon`` form of ``carbon_aware`` under its own name, so that a bench of every
registered policy shows both forms (cost plus carbon price, and minimum carbon).
"""

from __future__ import annotations

from sim.policies.base import register
from sim.policies.carbon_aware import CarbonAware


@register
class CarbonAwareMin(CarbonAware):
    name = "carbon_aware_min"

    def __init__(self):
        super().__init__(mode="min_carbon")
