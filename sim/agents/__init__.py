"""The model's agents, one class per concept."""

import sim._mesa  # noqa: F401  (mesa, imported without scipy.spatial)
from sim.agents.datacentre import DataCentre
from sim.agents.firm import Firm
from sim.agents.power_supplier import PowerSupplier
from sim.agents.province import Province

__all__ = ["DataCentre", "Firm", "PowerSupplier", "Province"]
