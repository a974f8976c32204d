"""DataCentre: a campus of standard racks in one city, serving one compute pool."""

from __future__ import annotations

import numpy as np
from mesa import Agent

DC_TYPES = ("general", "intelligent", "super", "edge")
POOL_OF_TYPE = {"general": 0, "intelligent": 1, "super": 0, "edge": 0}


class DataCentre(Agent):
    """Racks (standard 2.5 kW), compute density (PFLOPS per rack), PUE, build year, hub
    membership and last year's books. ``step`` decides next year's expansion: grow when
    expected utilisation beats the break-even level and the margin covers the capital
    annuity (less any subsidy), the margin priced at what users paid last year (the clearing price
    under a trading market, else the posted price); ``sim.investment`` then applies approvals and
    power headroom."""

    def __init__(self, model, city_id: int, province: int, dc_type: str, racks: float, density: float,
                 pue: float, build_year: int, cluster_city: bool):
        super().__init__(model)
        if dc_type not in DC_TYPES:
            raise ValueError(f"data-centre type {dc_type!r}: allowed {DC_TYPES}")
        self.city_id = int(city_id)
        self.province = int(province)
        self.dc_type = dc_type
        self.pool = POOL_OF_TYPE[dc_type]
        self.racks = float(racks)
        self.density = float(density)
        self.pue = float(pue)
        self.build_year = int(build_year)
        self.cluster_city = bool(cluster_city)
        self.hub = False
        self.subsidy = 0.0
        self.price = 0.0
        self.served = 0.0
        self.utilisation = 0.0
        self.expected_utilisation = 0.0
        self.it_energy_mwh = 0.0
        self.energy_mwh = 0.0
        self.energy_cost = 0.0
        self.revenue = 0.0
        self.planned_racks = 0.0
        self.marginal_cost = 0.0
        self.carbon_t = 0.0

    @property
    def pflops(self) -> float:
        return self.racks * self.density

    def step(self) -> None:
        p = self.model.params.datacentre
        u = self.expected_utilisation
        growth = np.clip(p.invest_speed * (u - p.target_utilisation) / p.target_utilisation, 0.0, p.max_growth)
        annuity = p.capex_cny_per_rack * p.annuity_factor * (1 + p.opex_share) * (1 - self.subsidy)
        realised = self.revenue / self.served if self.served > 0 else self.price
        margin = (realised - self.marginal_cost) * u * 8760.0 * self.density
        front = self.model.frontier_density(self.model.year + 1)[self.pool]
        self.planned_racks = float(growth * self.pflops / front) if margin >= annuity else 0.0

    def grow(self, new_racks: float, frontier_density: float, new_pue: float, refresh: float, retire: float) -> None:
        """Retire a share of racks, refresh old servers, add racks at the frontier density and new-build PUE."""
        self.racks *= 1 - retire
        self.density += refresh * (frontier_density - self.density)
        total = self.racks + new_racks
        if total > 0:
            self.density = (self.racks * self.density + new_racks * frontier_density) / total
            self.pue = (self.racks * self.pue + new_racks * new_pue) / total
        self.racks = total
