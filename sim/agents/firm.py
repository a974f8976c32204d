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


N_INDUSTRIES = len(INDUSTRY_DIGITAL_TIER)
REGULATED_INDUSTRIES = (6, 13, 17, 24)


class Firm(Agent):
    """Province, city, ownership, industry, size (ln employees), age and the deployment
    decision. ``serial`` numbers firms in order of creation, the same in every scenario of a
    seed, and keys the firm's random streams. ``capability`` is a fixed latent trait (standard
    normal) that raises both deployment and export sophistication, so deployment selects on the
    firm effect. The model moves all firms at once each year (``SuanLiModel._firm_year``): a
    firm that has not deployed does so when its yearly uniform falls below the logistic hazard
    of :func:`adoption_logit`; its compute demand (PFLOP-h/yr) rises on deployment."""

    def __init__(self, model, serial: int, province: int, city_id: int, ownership: str, industry: int,
                 regulated: bool, ln_employee: float, age: float, entry_year: int, capability: float):
        super().__init__(model)
        self.serial = int(serial)
        self.province = int(province)
        self.city_id = int(city_id)
        self.ownership = ownership
        self.industry = int(industry)
        self.regulated = bool(regulated)
        self.ln_employee = float(ln_employee)
        self.age = float(age)
        self.entry_year = int(entry_year)
        self.capability = float(capability)
        self.idc = 0
        self.idc_year = 0
        self.adopt_draw = float("nan")
        self.demand = 0.0


def adoption_logit(model, firms: list[Firm]) -> np.ndarray:
    """Log-odds of deploying this year for each firm: size, capability, its industry's digital tier,
    its industry's national adoption share and the industry's own adoption shift (an AR(1) industry-year
    shock, ``SuanLiModel.industry_shift``: industries take up compute in waves, which the Bartik
    instrument's industry shares pick up), the (paid) compute price in its province, the share of
    its province's compute demand that was served last year, vouchers, a city public-data platform
    and a time trend."""
    p = model.params.firm
    prov = np.array([f.province for f in firms], dtype=int)
    ind = np.array([f.industry for f in firms], dtype=int)
    return (
        p.adopt_base
        + p.adopt_size * (np.array([f.ln_employee for f in firms]) - 7.5)
        + p.adopt_capability * np.array([f.capability for f in firms])
        + p.adopt_digital * (INDUSTRY_DIGITAL_TIER[ind] - 1)
        + p.adopt_peers * model.industry_idc_share[ind]
        + model.industry_shift[ind]
        + p.adopt_price * np.log(model.compute_price_index[prov])
        + p.adopt_access * np.log(np.clip(model.served_share[prov], 1e-3, 1.0))
        + p.adopt_voucher * model.voucher_share_now
        + p.adopt_platform * np.array([model.open_data[f.city_id] for f in firms])
        + p.adopt_trend * (model.year - 2017)
    )


def industry_shift(model, previous: np.ndarray | None) -> np.ndarray:
    """This year's adoption shift of each industry (logit): AR(1) with persistence ``adopt_industry_rho`` and
    stationary sd ``adopt_industry_sd``, one keyed draw per (industry, year)."""
    p = model.params.firm
    e = model.streams.normal("industry_shift", np.arange(N_INDUSTRIES), model.year)
    if previous is None:
        return p.adopt_industry_sd * e
    return p.adopt_industry_rho * previous + p.adopt_industry_sd * np.sqrt(1 - p.adopt_industry_rho**2) * e


def choice_cdf(p: np.ndarray) -> np.ndarray:
    """The cumulative distribution ``Generator.choice(len(p), p=p)`` draws from: index
    ``cdf.searchsorted(rng.random(), side="right")`` is the same draw from the same stream state,
    without choice's checks of ``p`` on every call (a tenth of the time per draw)."""
    p = np.asarray(p, dtype=float)
    if (p < 0).any() or not np.isclose(p.sum(), 1.0, rtol=0.0, atol=np.sqrt(np.finfo(float).eps)):
        raise ValueError(f"choice probabilities must be non-negative and sum to 1 (sum {p.sum()!r})")
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return cdf


def spawn_firms(model, count: int, year: int, new: bool) -> None:
    """Create ``count`` firms; each firm's traits come from its own stream (``firm_traits``, serial), so the
    same firms are born in every scenario of a seed."""
    p = model.params.firm
    prov_cdf = choice_cdf(model.province_weights(1.3))
    own_cdf = choice_cdf(np.array([p.share_state, p.share_private, 1 - p.share_state - p.share_private]))
    reg = np.isin(np.arange(N_INDUSTRIES), REGULATED_INDUSTRIES)
    ind_cdf = choice_cdf(np.where(reg, p.share_regulated / reg.sum(), (1 - p.share_regulated) / (~reg).sum()))
    for _ in range(count):
        serial = model.firm_serials
        model.firm_serials += 1
        rng = model.streams.get("firm_traits", serial)
        prov = int(prov_cdf.searchsorted(rng.random(), side="right"))
        owner = OWNERSHIP[int(own_cdf.searchsorted(rng.random(), side="right"))]
        ind = int(ind_cdf.searchsorted(rng.random(), side="right"))
        size = rng.normal(7.6 - (0.6 if new else 0.0), 1.15)
        age = rng.uniform(1, 6) if new else rng.uniform(3, 30)
        capability = rng.standard_normal()
        Firm(model, serial, prov, model.pick_city(prov, rng), owner, ind, reg[ind], size, age, year, capability)
