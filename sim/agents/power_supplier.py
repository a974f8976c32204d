"""PowerSupplier: one provincial grid with its generation fleet, tariff and dispatch record."""

from __future__ import annotations

import numpy as np
from mesa import Agent


class PowerSupplier(Agent):
    """Holds installed capacity (GW by technology) for the current year, the industrial
    tariff (CNY/kWh) and the last dispatch's yearly outcomes; the model dispatches all
    grids at once (``sim.power.dispatch``) and books the results here."""

    def __init__(self, model, idx: int, code: str, tariff_cny_per_kwh: float):
        super().__init__(model)
        self.idx = idx
        self.code = code
        self.tariff = float(tariff_cny_per_kwh)
        self.capacity_gw = np.zeros(len(model.world.technologies))
        self.outcomes: dict[str, float] = {}

    def step(self) -> None:
        self.capacity_gw = self.model.world_capacity_gw[self.idx]

    def book(self, **outcomes: float) -> None:
        self.outcomes = outcomes
