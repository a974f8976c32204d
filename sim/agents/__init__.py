"""The model's agents, one class per concept."""

from sim.agents.datacentre import DataCentre
from sim.agents.firm import Firm
from sim.agents.power_supplier import PowerSupplier
from sim.agents.province import Province

__all__ = ["DataCentre", "Firm", "PowerSupplier", "Province"]
