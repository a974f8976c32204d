"""Seed 001 inside the model: city GDP and compute scale, 336 prefecture cities.

Compute scale of city c in year t (PFLOPS) is the capacity of the model's data centres
in the city that served the year's market, plus a non-data-centre local stock
(enterprise server rooms, edge) L_ct = l0 (GDP2020_c)^eta exp((g + d_c)(t - 2017) + z_ct),
z AR(1), so every city has a positive ``logcomputing``. GDP (100 mn CNY, 亿元) is

    loggdp_ct = logpot_ct + C_ct + beta_pivot pivot_ct logcomputing_ct - k_c,
    C_ct = C_c,t-1 + beta(r_ct) (logcomputing_ct - logcomputing_c,t-1),   C_c0 = beta(r_c0) logcomputing_c0,
    logpot_ct = ln(share_c x GDP of the city's province in the model) + v_ct,   v AR(1),

with regime r_ct = low / middle / high as last year's GDP (``pGDP``, rescaled by national
nominal growth to the 2020 level so that regimes do not drift with inflation) is <=
gamma_low, in (gamma_low, gamma_high] or > gamma_high (Hansen's threshold model, three
groups as in the annex), pivot_ct = 1 in cluster cities from ``designation_year - pivot_lead_years``
(when the hub programme is on) and k_c a city constant: the compute term at the city's
expected local stock in 2020 and its regime by 2020 GDP, so that GDP around 2020 is near
the data unless data centres add to it. The regime's elasticity applies to the year's
*growth* of compute (C accumulates it), so a city is the annex's level equation
beta(r) logcomputing + constant while it stays in a regime, and crossing a threshold changes
the slope from then on, not the level: in the level form a city near a threshold would jump
by (beta_mid - beta_high) logcomputing, fall back below it the next year and cycle, and one
that fell into the low regime (beta < 0) with a large stock would lose most of its GDP.
The controls of the annex (logpeo in 10k persons; logfin, logfou, loginvest, logretail,
logagri, logindus, loginex in 亿元) co-move with potential GDP: X_k = ln(ratio_k) + logpot + (e_k - 1)(logpot - ln ref)
+ r_kc + trend_k (t - 2017) + w_kct; they do not respond to compute, so they are not bad
controls. Sansha (4603) is dropped: a 2,000-person island prefecture founded in 2012
with no city statistics, which is how the annex's 336 cities arise from the 337 rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.studies.base import StudyModule, in_window, register_study, stack_years

SECTION = "city_economy"
STUDY_WINDOW = (2017, 2022)
DROPPED_CITIES = (4603,)
CONTROLS = ("logpeo", "logfin", "logfou", "loginvest", "logretail", "logagri", "logindus", "loginex")
MONEY_CONTROLS = CONTROLS[1:]
PANEL_COLUMNS = (
    "city_id", "province", "year", "gdp", "loggdp", "computing", "logcomputing", "dc_pflops", *CONTROLS,
    "pGDP", "pivot", "pivotcomputing",
)
REGIMES = ("low", "middle", "high")


def regime_of(q: np.ndarray, gamma_low: float, gamma_high: float) -> np.ndarray:
    """0 if q <= gamma_low, 1 if gamma_low < q <= gamma_high, 2 if q > gamma_high."""
    return (q > gamma_low).astype(int) + (q > gamma_high).astype(int)


def elasticity(par, regime: np.ndarray, pivot_active: np.ndarray) -> np.ndarray:
    """True GDP elasticity of compute scale by regime, plus the hub-cluster increment."""
    betas = np.array([par.elasticity_low, par.elasticity_mid, par.elasticity_high], dtype=float)
    return betas[regime] + par.elasticity_pivot * pivot_active


class CityProcess:
    """State of N cities; ``step`` makes one year's city rows from data-centre capacity and
    province paths. Works on the model's cities or on synthetic ones (tests); every draw
    comes from ``rng`` in a fixed order."""

    def __init__(self, par, rng: np.random.Generator, gdp_share: np.ndarray, pop_share: np.ndarray,
                 gdp_2020: np.ndarray, start_year: int = STUDY_WINDOW[0]):
        self.par, self.rng = par, rng
        self.gdp_share = np.asarray(gdp_share, dtype=float)
        self.pop_share = np.asarray(pop_share, dtype=float)
        n = self.n = self.gdp_share.size
        p = par
        z = rng.standard_normal((n, 3 + 2 * len(MONEY_CONTROLS) + 1))
        self.d = p.local_growth_sd * z[:, 0]
        self.local_base = p.local_pflops_per_yi * np.asarray(gdp_2020, dtype=float) ** p.local_size_elasticity
        self.zl = p.local_shock_sd * z[:, 1]
        self.v = p.potential_shock_sd * z[:, 2]
        self.r = {k: getattr(p, f"{k}_city_sd") * z[:, 3 + j] for j, k in enumerate(MONEY_CONTROLS)}
        m = len(MONEY_CONTROLS)
        self.w = {k: getattr(p, f"{k}_shock_sd") * z[:, 3 + m + j] for j, k in enumerate(MONEY_CONTROLS)}
        self.w["logpeo"] = p.logpeo_shock_sd * z[:, 3 + 2 * m]
        self.prev_gdp: np.ndarray | None = None
        self.accumulated: np.ndarray | None = None
        self.prev_logc: np.ndarray | None = None
        r2020 = regime_of(np.asarray(gdp_2020, dtype=float), p.threshold_low_yi, p.threshold_high_yi)
        expected_logc_2020 = np.log(self.local_base) + (p.local_growth + self.d) * (2020 - STUDY_WINDOW[0])
        self.k = elasticity(p, r2020, np.zeros(n)) * expected_logc_2020

    @staticmethod
    def _ar(x: np.ndarray, rho: float, sd: float, e: np.ndarray) -> np.ndarray:
        return rho * x + np.sqrt(1.0 - rho * rho) * sd * e

    def step(self, year: int, dc_pflops: np.ndarray, prov_gdp: np.ndarray, prov_pop: np.ndarray,
             pivot_active: np.ndarray, scale_2020: float = 1.0, scale_2020_now: float = 1.0,
             group: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Observed and latent columns for ``year``. ``prov_gdp`` (亿元) and ``prov_pop`` (10k persons)
        are each city's province totals; ``dc_pflops`` the data-centre capacity in the city;
        ``scale_2020`` (``_now``) is national GDP in 2020 over national GDP last year (this year),
        which puts the threshold variable at the 2020 scale. With ``group`` (each city's province index) city
        GDP is scaled within each province so that the cities add up to their share of the province's GDP:
        compute moves GDP between a province's cities and the province economy moves the total."""
        p, n = self.par, self.n
        e = self.rng.standard_normal((n, 3 + len(CONTROLS)))
        self.v = self._ar(self.v, p.potential_shock_rho, p.potential_shock_sd, e[:, 0])
        self.zl = self._ar(self.zl, p.local_shock_rho, p.local_shock_sd, e[:, 1])
        for j, k in enumerate(CONTROLS):
            self.w[k] = self._ar(self.w[k], p.control_shock_rho, getattr(p, f"{k}_shock_sd"), e[:, 3 + j])
        t = year - STUDY_WINDOW[0]
        logpot = np.log(self.gdp_share * np.asarray(prov_gdp, dtype=float)) + self.v
        local = self.local_base * np.exp((p.local_growth + self.d) * t + self.zl)
        dc = np.asarray(dc_pflops, dtype=float)
        computing = dc + local
        logc = np.log(computing)
        q = self.prev_gdp * scale_2020 if self.prev_gdp is not None else np.exp(logpot) * scale_2020_now
        regime = regime_of(q, p.threshold_low_yi, p.threshold_high_yi)
        pivot_active = np.asarray(pivot_active, dtype=float)
        beta_r = elasticity(p, regime, np.zeros(n))
        if self.accumulated is None:
            self.accumulated = beta_r * logc
        else:
            self.accumulated = self.accumulated + beta_r * (logc - self.prev_logc)
        self.prev_logc = logc
        beta = beta_r + p.elasticity_pivot * pivot_active
        term = self.accumulated + p.elasticity_pivot * pivot_active * logc
        loggdp = logpot + term - self.k
        if group is not None:
            target = np.bincount(group, self.gdp_share * np.asarray(prov_gdp, dtype=float))
            raw = np.bincount(group, np.exp(loggdp))
            loggdp = loggdp + (np.log(target) - np.log(raw))[group]
        self.prev_gdp = np.exp(loggdp)

        ref = np.log(p.control_reference_yi)
        x = {"logpeo": np.log(self.pop_share * np.asarray(prov_pop, dtype=float)) + self.w["logpeo"]}
        for k in MONEY_CONTROLS:
            x[k] = (np.log(getattr(p, f"{k}_ratio")) + logpot + (getattr(p, f"{k}_elasticity") - 1.0) * (logpot - ref)
                    + self.r[k] + getattr(p, f"{k}_trend") * t + self.w[k])
        obs = {"gdp": np.exp(loggdp), "loggdp": loggdp, "computing": computing, "logcomputing": logc,
               "dc_pflops": dc, **x, "pGDP": q}
        lat = {"regime": regime, "elasticity": beta, "pivot_active": pivot_active.astype(int), "logpot": logpot,
               "compute_term": term - self.k, "local_pflops": local, "v": self.v.copy()}
        return obs, lat


def _interp_2020(a2008: pd.Series, a2023: pd.Series) -> pd.Series:
    return a2008 * np.exp(12.0 / 15.0 * np.log(a2023 / a2008))


def study_sample(panel: pd.DataFrame, start: int = STUDY_WINDOW[0], end: int = STUDY_WINDOW[1]) -> pd.DataFrame:
    """Seed 001's sample from a city panel: city-years ``start``..``end``."""
    return in_window(panel, start, end)


@register_study
class CityEconomy(StudyModule):
    """City-year panel of seed 001 (all simulated years; ``sample()`` is 2017-2022)."""

    name = "cities"
    replayable = True
    section = SECTION

    def __init__(self, model):
        super().__init__(model)
        self.par = getattr(model.params, SECTION)
        w = model.world
        c = w.cities[~w.cities["city_id"].isin(DROPPED_CITIES)].sort_values("city_id").reset_index(drop=True)
        self.cities = c
        prov = w.provinces
        gdp20 = _interp_2020(prov["gdp_2008_bn_cny"], prov["gdp_2023_bn_cny"])
        pop20 = _interp_2020(prov["pop_2008_mn"], prov["pop_2023_mn"])
        self.city_prov = pd.Index(w.codes).get_indexer(c["province"])
        self.national_2020 = float(gdp20.sum()) * 10.0
        self._national_last: float | None = None
        gdp_c = c["gdp_2020_bn_cny"].to_numpy(float)
        self.process = CityProcess(
            self.par,
            self.rng,
            gdp_share=gdp_c / gdp20.reindex(c["province"]).to_numpy(float),
            pop_share=c["pop_2020_mn"].to_numpy(float) / pop20.reindex(c["province"]).to_numpy(float),
            gdp_2020=gdp_c * 10.0,
        )
        self.ids = c["city_id"].to_numpy(np.int64)
        self.cluster = c["is_cluster_city"].to_numpy(int)
        self._province = c["province"].to_numpy(object)
        self._obs: list[dict[str, np.ndarray]] = []
        self._lat: list[dict[str, np.ndarray]] = []

    def _dc_pflops(self) -> np.ndarray:
        a = self.model.books["dc"]
        if not len(a["agents"]):
            return np.zeros(self.ids.size)
        city = np.array([d.city_id for d in a["agents"]], dtype=np.int64)
        pf = a["racks"] * a["density"]
        pos = np.searchsorted(self.ids, city)
        ok = (pos < self.ids.size) & (self.ids[np.minimum(pos, self.ids.size - 1)] == city)
        return np.bincount(pos[ok], pf[ok], minlength=self.ids.size)

    def pivot_active(self, year: int) -> np.ndarray:
        cfg = self.model.config
        on = cfg.hubs_enabled and year >= cfg.designation_year - self.par.pivot_lead_years
        return self.cluster * int(on)

    def step(self) -> None:
        self.advance(self.inputs())

    def inputs(self) -> dict:
        """The year, province GDP (100 mn CNY) and population (10k persons), data-centre PFLOPS by city."""
        m = self.model
        return {"year": m.year, "gdp": np.array([pr.gdp for pr in m.provinces]) * 10.0,
                "pop": np.array([pr.pop for pr in m.provinces]) * 100.0, "dc_pflops": self._dc_pflops()}

    def advance(self, inputs: dict) -> None:
        year, gdp, pop = inputs["year"], inputs["gdp"], inputs["pop"]
        national = gdp.sum()
        last = self._national_last if self._national_last is not None else national
        obs, lat = self.process.step(
            year, inputs["dc_pflops"], gdp[self.city_prov], pop[self.city_prov], self.pivot_active(year),
            scale_2020=self.national_2020 / last, scale_2020_now=self.national_2020 / national,
            group=self.city_prov,
        )
        self._national_last = national
        year = np.full(self.ids.size, year, dtype=np.int64)
        pivot = self.cluster.astype(np.int64)
        self._obs.append({"city_id": self.ids, "province": self._province, "year": year, **obs, "pivot": pivot,
                          "pivotcomputing": pivot * obs["logcomputing"]})
        self._lat.append({"city_id": self.ids, "year": year, **lat})

    def year_outcomes(self) -> dict[str, float]:
        """Mean loggdp (ln 100 mn CNY) of the hub cluster cities and of the other cities this year."""
        if not self._obs:
            return {}
        g = self._obs[-1]["loggdp"]
        hub = self.cluster.astype(bool)
        return {"loggdp_cluster_cities_mean": float(g[hub].mean()), "loggdp_other_cities_mean": float(g[~hub].mean())}

    def drop_records(self) -> None:
        self._obs, self._lat = [], []

    def panel(self) -> pd.DataFrame:
        """City-years of every simulated year with the annex's variable names (money in 亿元,
        population in 10k persons, compute in PFLOPS; ``pGDP`` = last year's GDP, the threshold
        variable at the 2020 national scale; ``pivot`` = hub-cluster city, ``pivotcomputing`` = pivot x logcomputing)."""
        return stack_years(self._obs, "city_id", PANEL_COLUMNS)

    def sample(self, start: int = STUDY_WINDOW[0], end: int = STUDY_WINDOW[1]) -> pd.DataFrame:
        """The annex's sample: city-years ``start``..``end``."""
        return study_sample(self.panel(), start, end)

    def latent(self) -> pd.DataFrame:
        """Per city-year: regime (0 low, 1 middle, 2 high), true elasticity incl. the pivot increment,
        pivot_active, log potential GDP, the compute term of loggdp, local non-DC PFLOPS and the shock v."""
        return stack_years(self._lat, "city_id")

    def truth(self) -> pd.DataFrame:
        out = self.parameter_rows(SECTION)
        lat = self.latent()
        if len(lat):
            w = lat[(lat["year"] >= STUDY_WINDOW[0]) & (lat["year"] <= STUDY_WINDOW[1])]
            shares = w["regime"].value_counts(normalize=True).reindex(range(3), fill_value=0.0)
            extra = pd.DataFrame({
                "name": [f"share_{r}_2017_2022" for r in REGIMES],
                "value": shares.to_numpy(float),
                "unit": ["share of city-years"] * 3,
                "meaning": [f"city-years 2017-2022 in the {r}-GDP regime" for r in REGIMES],
            })
            out = pd.concat([out, extra], ignore_index=True)
        return out.reset_index(drop=True)
