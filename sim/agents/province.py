"""Province: a provincial economy that demands compute and hosts data centres and a grid."""

from __future__ import annotations

import numpy as np
from mesa import Agent

LONG_RUN_GROWTH = 0.045
CONVERGENCE = 0.15


class Province(Agent):
    """GDP (bn CNY, nominal) and population (million) follow the province's 2008-2023
    growth, converging to a 4.5 %/yr long-run rate afterwards; ``demand`` [kind] is the
    non-listed sector's compute demand (PFLOP-h/yr), set by the model each year."""

    def __init__(self, model, idx: int, row):
        super().__init__(model)
        self.idx = idx
        self.code = row["code"]
        self.name = row["name_pinyin"]
        self.region = row["region"]
        self.gdp = float(row["gdp_2008_bn_cny"])
        self.pop = float(row["pop_2008_mn"])
        self.gdp_growth0 = float(np.log(row["gdp_2023_bn_cny"] / row["gdp_2008_bn_cny"]) / 15.0)
        self.pop_growth0 = float(np.log(row["pop_2023_mn"] / row["pop_2008_mn"]) / 15.0)
        self.demand = np.zeros(3)
        self.outcomes: dict[str, float] = {}

    def growth(self, year: int) -> tuple[float, float]:
        if year <= 2023:
            return self.gdp_growth0, self.pop_growth0
        w = np.exp(-CONVERGENCE * (year - 2023))
        return w * self.gdp_growth0 + (1 - w) * LONG_RUN_GROWTH, w * self.pop_growth0

    def step(self) -> None:
        g, n = self.growth(self.model.year)
        self.gdp *= np.exp(g)
        self.pop *= np.exp(n)
