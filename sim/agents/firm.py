"""Firm: a listed manufacturing firm that may deploy compute (IDC) and buys compute."""

from __future__ import annotations

import numpy as np
from mesa import Agent

OWNERSHIP = ("state", "private", "jv")

# Digital intensity tier (0 low, 1 medium, 2 high) of the model's 30 manufacturing
# industries, index i = CSRC 2012 division C(13+i): C13-C24 food, drink, tobacco,
# textiles, apparel, leather, wood, furniture, paper, printing, stationery (low);
# C25-C26, C28-C33 petroleum, chemicals, fibres, rubber and plastics, minerals, metals
# (medium); C27 pharmaceuticals and C34-C40 machinery, vehicles, transport and electrical
# equipment, computers and electronics, instruments (high); C41 other (medium), C42
# recycling (low).
INDUSTRY_DIGITAL_TIER = np.array(
    [0] * 12 + [1, 1, 2, 1, 1, 1, 1, 1, 1] + [2] * 7 + [1, 0], dtype=int
)


class Firm(Agent):
    """Province, city, ownership, industry, size (ln employees), age and the deployment
    decision. ``capability`` is a fixed latent trait (standard normal) that raises both
    deployment and export sophistication, so deployment selects on the firm effect. Each
    year a firm that has not deployed does so with a logistic hazard in size, capability,
    its industry's digital tier and peers' deployment, the local compute price, vouchers,
    a city public-data platform and a time trend; its compute demand (PFLOP-h/yr) rises
    on deployment."""

    def __init__(self, model, province: int, city_id: int, ownership: str, industry: int, regulated: bool,
                 ln_employee: float, age: float, entry_year: int):
        super().__init__(model)
        self.province = int(province)
        self.city_id = int(city_id)
        self.ownership = ownership
        self.industry = int(industry)
        self.regulated = bool(regulated)
        self.ln_employee = float(ln_employee)
        self.age = float(age)
        self.entry_year = int(entry_year)
        self.capability = float(model.rng.normal())
        self.idc = 0
        self.idc_year = 0
        self.demand = 0.0

    def adoption_logit(self) -> float:
        m, p = self.model, self.model.params.firm
        return (
            p.adopt_base
            + p.adopt_size * (self.ln_employee - 7.5)
            + p.adopt_capability * self.capability
            + p.adopt_digital * (INDUSTRY_DIGITAL_TIER[self.industry] - 1)
            + p.adopt_peers * m.industry_idc_share[self.industry]
            + p.adopt_price * np.log(m.compute_price_index[self.province])
            + p.adopt_voucher * m.voucher_share_now
            + p.adopt_platform * m.open_data[self.city_id]
            + p.adopt_trend * (m.year - 2017)
        )

    def step(self) -> None:
        m = self.model
        self.age += 1
        self.ln_employee += m.rng.normal(0.02, 0.08)
        if not self.idc:
            hazard = 1.0 / (1.0 + np.exp(-self.adoption_logit()))
            if m.rng.random() < hazard:
                self.idc, self.idc_year = 1, m.year
        mult = m.params.firm.demand_adopter_multiple
        self.demand = m.firm_demand_unit * np.exp(self.ln_employee - 7.5) * (1 + (mult - 1) * self.idc)
