"""Province: a provincial economy that produces GDP, demands compute and hosts data centres and a grid."""

from __future__ import annotations

import numpy as np
from mesa import Agent


class Province(Agent):
    """GDP (bn CNY, current prices) from Y = exp(c_t + kappa lnTFP) K^a L^b with capital K (bn CNY)
    accumulating out of output and labour from population. The exogenous part c_t is fitted once so
    that at the reference paths of TFP and capital the province reproduces its historical GDP
    (``World.gdp_history``): Y_t = hist_t exp(kappa G_t-1 + a (ln K_t - ln K*_t)), where G is last year's
    gap of lnTFP to its reference path (its response to infrastructure beyond the reference
    infrastructure, ``ProvinceEconomy.tfp_gap``) and K* the reference capital path (``sim.economy``). ``demand`` [kind] is the non-listed sector's compute demand (PFLOP-h/yr)."""

    def __init__(self, model, idx: int, row, gdp_hist: float):
        super().__init__(model)
        self.idx = idx
        self.code = row["code"]
        self.name = row["name_pinyin"]
        self.region = row["region"]
        self.pop_growth0 = float(np.log(row["pop_2023_mn"] / row["pop_2008_mn"]) / 15.0)
        self.pop = float(row["pop_2008_mn"]) * float(np.exp(self.pop_growth0 * (model.config.start_year - 2008)))
        self.capital = self.capital_ref = float(row["capital_stock_2008_bn_cny"]) * gdp_hist / float(row["gdp_2008_bn_cny"])
        self.gdp = self.gdp_hist = float(gdp_hist)
        self.tfp_gap = 0.0
        self.demand = np.zeros(4)
        self.outcomes: dict[str, float] = {}

    def step(self) -> None:
        """Produce this year's GDP, then accumulate capital for the next."""
        m = self.model
        p = m.params.province_economy
        if m.year > m.config.start_year:
            self.pop *= np.exp(self.pop_growth0 * (np.exp(-0.15 * max(m.year - 2023, 0))))
            self.capital = (1 - p.depreciation) * self.capital + p.investment_rate * self.gdp
            self.capital_ref = (1 - p.depreciation) * self.capital_ref + p.investment_rate * self.gdp_hist
        self.gdp_hist = float(m.gdp_hist[self.idx])
        self.tfp_gap = float(m.tfp_gap[self.idx])
        ln_gap = m.params.economy.tfp_gdp_elasticity * self.tfp_gap + p.elasticity_k * np.log(self.capital / self.capital_ref)
        self.gdp = self.gdp_hist * float(np.exp(ln_gap))
