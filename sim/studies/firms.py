"""Seed 002 inside the model: listed manufacturing firms' compute deployment (IDC) and
export technological sophistication (EXPY), 2017-2023, with the mechanism variables of
tables 5-6 and the controls of table 1.

The firms are the model's ``Firm`` agents (entry, exit, staggered IDC adoption by the
logistic hazard in ``sim/agents/firm.py``). This module keeps each firm's own traits and
shocks in arrays keyed by ``Firm.serial`` and, at the end of every model year, writes
the firm-year observation:

    EXPY_it = a + trend (t-2017) + d_t + g_ind + s_tier + u_i + theta' X_it + e_it
              + IDC_it * tau_i * ramp_it * access_it,           e_it AR(1),
    tau_i   = base + shift_SOE + shift_JV + shift_regulated + shift_no_open_data,
    ramp_it = min(1, (t - idc_year + 1) / (ramp_years + 1)),
    access_it = served share of the province's compute demand x (relative paid price)^-access_price_elasticity
                x exp(-access_latency_penalty x latency of its latency-bound work / the latency bound),

with theta = table 3 column 2's control coefficients and u_i loading on the firm's
``capability`` (which also raises adoption: selection on the firm effect). Each
mechanism M (TS, MD, INVEST, IB, lnCTI, lnDSI, Bullwhip) has a latent index
z = m + f_i + b lnEmployee + d_t + e_it + IDC * gamma_M * ramp, observed through its
natural bounds (shares clipped to [0, 1], CTI a count, Bullwhip > 0) and missing at
random at the rates that give table 2's N. ``latent()`` holds the potential outcomes
without deployment and the exact effect of deployment on every observed variable.
Units: EXPY in log 2010 US$ (the PRODY scale); shares as fractions; DSI in days.
"""

from __future__ import annotations

from operator import attrgetter

import numpy as np
import pandas as pd

from sim.agents.firm import INDUSTRY_DIGITAL_TIER, OWNERSHIP
from sim.packing import pack_columns, unpack
from sim.studies.base import StudyModule, in_window, register_study, stack_years

SECTION = "firm_outcomes"
STUDY_WINDOW = (2017, 2023)
CONTROLS = ("lnEmployee", "lnFirmAge", "ROA", "Assetturn", "Cashflow", "Dual", "Top1", "Occupy", "Mshare", "TobinQ")
MECHANISMS = ("TS", "MD", "INVEST", "IB", "lnCTI", "lnDSI", "Bullwhip")
OWNERSHIP_LABEL = {"state": "SOE", "private": "private", "jv": "JV"}
PANEL_COLUMNS = (
    "firm_id", "year", "province", "city_id", "industry", "ownership", "regulated", "open_data", "IDC", "EXPY",
    *MECHANISMS, *CONTROLS,
)
WINSORIZED = ("EXPY", *MECHANISMS, "lnEmployee", "lnFirmAge", "ROA", "Assetturn", "Cashflow", "Top1", "Occupy",
              "Mshare", "TobinQ")
_BOUNDS = {"TS": (0.0, 1.0), "MD": (0.0, 1.0), "IB": (0.0, 1.0), "Bullwhip": (0.02, np.inf)}


def observe_mechanism(name: str, z: np.ndarray) -> np.ndarray:
    """Observed mechanism variable from its latent index ``z`` (lnCTI: CTI = round(e^z - 1) >= 0)."""
    if name == "lnCTI":
        return np.log1p(np.maximum(np.rint(np.expm1(z)), 0.0))
    lo, hi = _BOUNDS.get(name, (-np.inf, np.inf))
    return np.clip(z, lo, hi)


def idc_effect(par, ownership: np.ndarray, regulated: np.ndarray, open_data: np.ndarray) -> np.ndarray:
    """Long-run effect of deployment on EXPY by ownership (0 SOE, 1 private, 2 JV), industry and platform."""
    return (
        par.idc_effect_base
        + par.idc_shift_soe * (ownership == 0)
        + par.idc_shift_jv * (ownership == 2)
        + par.idc_shift_regulated * regulated
        + par.idc_shift_no_open_data * (1 - open_data)
    )


def compute_access(par, served_share: np.ndarray, price_index: np.ndarray, latency_ms: np.ndarray,
                   latency_bound_ms: float) -> np.ndarray:
    """Share of the full gain from deployment that a firm realises: the served share of its province's
    compute demand, times its relative paid compute price to the power -``access_price_elasticity``,
    times exp(-``access_latency_penalty`` x latency / bound) for the mean round trip of its province's
    latency-bound work."""
    lat = np.asarray(latency_ms, dtype=float) / latency_bound_ms
    return (np.clip(served_share, 0.0, 1.0) * np.asarray(price_index, dtype=float) ** (-par.access_price_elasticity)
            * np.exp(-par.access_latency_penalty * lat))


def idc_ramp(par, idc: np.ndarray, idc_year: np.ndarray, year: int) -> np.ndarray:
    """Share of the long-run effect realised: deployed firms by years since adoption; others as if deploying now."""
    r = float(par.idc_ramp_years)
    since = np.where(idc > 0, year - idc_year, 0)
    return np.minimum(1.0, (since + 1.0) / (r + 1.0))


class FirmProcess:
    """Traits and shocks of firms keyed by integer id; ``observe`` makes one year's firm-year rows.

    Works on any set of firms (the model's agents or synthetic ones in tests); every draw
    comes from ``rng`` in a fixed order (new firms by ascending id, then the year's shocks).
    """

    _STATIC = ("u", "roa_i", "at_i", "cf_i", "top1_i", "occ_i", "msh_i", "tq_i", "dual",
               *(f"f_{m}" for m in MECHANISMS))
    _DYNAMIC = ("e_expy", "e_roa", *(f"e_{m}" for m in MECHANISMS))

    def __init__(self, par, rng: np.random.Generator, n_industries: int = len(INDUSTRY_DIGITAL_TIER)):
        self.par = par
        self.rng = rng
        self.tier = INDUSTRY_DIGITAL_TIER if n_industries == len(INDUSTRY_DIGITAL_TIER) else np.ones(n_industries, int)
        self.industry_effect = rng.normal(0.0, par.expy_industry_sd, n_industries)
        self.known = np.zeros(0, dtype=bool)
        self.state = {k: np.zeros(0) for k in (*self._STATIC, *self._DYNAMIC)}

    def _grow(self, n: int) -> None:
        if n <= self.known.size:
            return
        size = max(n, 2 * self.known.size)
        self.known = np.concatenate([self.known, np.zeros(size - self.known.size, dtype=bool)])
        for k, v in self.state.items():
            self.state[k] = np.concatenate([v, np.zeros(size - v.size)])

    def _new_firms(self, ids: np.ndarray, ownership: np.ndarray, capability: np.ndarray) -> None:
        p, rng, s = self.par, self.rng, self.state
        n = ids.size
        z = rng.standard_normal((n, 8 + 2 * len(MECHANISMS)))
        cap_w = p.expy_capability
        s["u"][ids] = cap_w * capability + p.expy_firm_sd * z[:, 0]
        s["roa_i"][ids] = p.roa_mean + p.roa_firm_sd * z[:, 1]
        s["at_i"][ids] = p.assetturn_logmean + p.assetturn_firm_sd * z[:, 2]
        s["cf_i"][ids] = p.cashflow_mean + p.cashflow_firm_sd * z[:, 3]
        s["occ_i"][ids] = p.occupy_logmean + p.occupy_firm_sd * z[:, 4]
        s["tq_i"][ids] = p.tobinq_logmean + p.tobinq_firm_sd * z[:, 5]
        s["e_expy"][ids] = p.expy_shock_sd * z[:, 6]
        s["e_roa"][ids] = p.roa_shock_sd * z[:, 7]
        w = p.mech_capability
        for j, m in enumerate(MECHANISMS):
            sd = getattr(p, f"{m}_firm_sd")
            s[f"f_{m}"][ids] = sd * (w * capability + np.sqrt(1 - w * w) * z[:, 8 + j])
            s[f"e_{m}"][ids] = getattr(p, f"{m}_shock_sd") * z[:, 8 + len(MECHANISMS) + j]
        k = p.top1_concentration
        s["top1_i"][ids] = rng.beta(p.top1_mean * k, (1 - p.top1_mean) * k, n)
        msh_mean = np.choose(ownership, [p.mshare_soe, p.mshare_private, p.mshare_jv])
        k = p.mshare_concentration
        s["msh_i"][ids] = rng.beta(msh_mean * k, (1 - msh_mean) * k)
        s["dual"][ids] = rng.random(n) < np.where(ownership == 0, p.dual_share_soe, p.dual_share)
        self.known[ids] = True

    def observe(self, year: int, ids, ownership, industry, regulated, open_data, ln_employee, age, capability,
                idc, idc_year, access=None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Observed columns and latent columns for the firms alive in ``year`` (arrays sorted by ``ids``).

        ``ownership`` codes 0 SOE, 1 private, 2 JV; ``age`` in years since founding; ``access`` the
        share of the full deployment gain the firm realises given the compute it obtains (1 = full access).
        """
        access = np.ones(len(ids)) if access is None else np.asarray(access, dtype=float)
        p, rng, s = self.par, self.rng, self.state
        ids = np.asarray(ids, dtype=np.int64)
        ownership = np.asarray(ownership, dtype=int)
        industry = np.asarray(industry, dtype=int)
        regulated = np.asarray(regulated, dtype=int)
        open_data = np.asarray(open_data, dtype=int)
        idc = np.asarray(idc, dtype=int)
        idc_year = np.asarray(idc_year, dtype=int)
        ln_employee = np.asarray(ln_employee, dtype=float)
        capability = np.asarray(capability, dtype=float)
        n = ids.size
        self._grow(int(ids.max()) + 1 if n else 0)
        new = ~self.known[ids]
        if new.any():
            self._new_firms(ids[new], ownership[new], capability[new])

        yr = rng.standard_normal(2 + len(MECHANISMS))
        d_expy = p.expy_year_sd * yr[0]
        d_tq = p.tobinq_year_sd * yr[1]
        d_mech = {m: getattr(p, f"{m}_year_sd") * yr[2 + j] for j, m in enumerate(MECHANISMS)}
        z = rng.standard_normal((n, 8 + len(MECHANISMS)))
        old = ~new

        def ar(key: str, rho: float, sd: float, col: int) -> np.ndarray:
            e = s[key][ids]
            e = np.where(old, rho * e + np.sqrt(1 - rho * rho) * sd * z[:, col], e)
            s[key][ids] = e
            return e

        e_expy = ar("e_expy", p.expy_shock_rho, p.expy_shock_sd, 0)
        e_roa = ar("e_roa", p.roa_shock_rho, p.roa_shock_sd, 1)
        t = year - STUDY_WINDOW[0]

        x = {
            "lnEmployee": ln_employee,
            "lnFirmAge": np.log(np.asarray(age, dtype=float) + 1.0),
            "ROA": s["roa_i"][ids] + e_roa,
        }
        x["Assetturn"] = np.exp(s["at_i"][ids] + p.assetturn_shock_sd * z[:, 2])
        x["Cashflow"] = s["cf_i"][ids] + p.cashflow_roa_loading * e_roa + p.cashflow_shock_sd * z[:, 3]
        switch = rng.random(n) < p.dual_switch
        share = np.where(ownership == 0, p.dual_share_soe, p.dual_share)
        dual = np.where(switch & old, rng.random(n) < share, s["dual"][ids] > 0.5)
        s["dual"][ids] = dual
        x["Dual"] = dual.astype(float)
        x["Top1"] = np.clip(s["top1_i"][ids] + p.top1_drift * t + p.top1_shock_sd * z[:, 4], 0.03, 0.9)
        x["Occupy"] = np.exp(s["occ_i"][ids] + p.occupy_shock_sd * z[:, 5])
        x["Mshare"] = np.clip(s["msh_i"][ids] + p.mshare_shock_sd * z[:, 6], 0.0, 0.8)
        x["TobinQ"] = np.maximum(
            np.exp(s["tq_i"][ids] + d_tq + p.tobinq_roa_loading * e_roa + p.tobinq_shock_sd * z[:, 7]), 0.6
        )

        tier = self.tier[industry]
        firm_effect = self.industry_effect[industry] + p.expy_tier_shift * (tier - 1) + s["u"][ids]
        xb = sum(getattr(p, f"theta_{c}") * x[c] for c in CONTROLS)
        expy0 = p.expy_intercept + p.expy_trend * t + d_expy + firm_effect + xb + e_expy
        tau_full = idc_effect(p, ownership, regulated, open_data)
        ramp = idc_ramp(p, idc, idc_year, year)
        tau = tau_full * ramp * access
        obs = {"IDC": idc, "EXPY": expy0 + idc * tau, **x}
        lat = {"capability": capability, "firm_effect_EXPY": firm_effect, "EXPY0": expy0, "tau_EXPY": tau,
               "tau_full_EXPY": tau_full, "ramp": ramp, "access": access,
               "years_since_idc": np.where(idc > 0, year - idc_year, -1)}

        ln_emp_c = ln_employee - p.mech_size_centre
        miss = rng.random((n, len(MECHANISMS)))
        for j, m in enumerate(MECHANISMS):
            e = ar(f"e_{m}", p.mech_shock_rho, getattr(p, f"{m}_shock_sd"), 8 + j)
            z0 = getattr(p, f"{m}_mean") + s[f"f_{m}"][ids] + getattr(p, f"{m}_size") * ln_emp_c + d_mech[m] + e
            gamma = getattr(p, f"{m}_effect") * ramp * access
            m0 = observe_mechanism(m, z0)
            m1 = observe_mechanism(m, z0 + gamma)
            val = np.where(idc > 0, m1, m0)
            obs[m] = np.where(miss[:, j] < getattr(p, f"{m}_missing"), np.nan, val)
            lat[f"{m}0"] = m0
            lat[f"tau_{m}"] = m1 - m0
        return obs, lat


def winsorize(df: pd.DataFrame, columns, lower: float = 0.01, upper: float = 0.99) -> pd.DataFrame:
    """Clip ``columns`` at their ``lower`` and ``upper`` quantiles (NaN ignored), as the study did at 1 %."""
    out = df.copy()
    for c in columns:
        lo, hi = out[c].quantile([lower, upper])
        out[c] = out[c].clip(lo, hi)
    return out


def study_sample(panel: pd.DataFrame, start: int = STUDY_WINDOW[0], end: int = STUDY_WINDOW[1],
                 winsor: float = 0.01) -> pd.DataFrame:
    """Seed 002's sample from a firm panel: firm-years ``start``..``end``, continuous variables
    winsorized at ``winsor`` and ``1 - winsor`` (the study winsorizes at 1 %)."""
    df = in_window(panel, start, end)
    return winsorize(df, WINSORIZED, winsor, 1 - winsor) if winsor > 0 else df


@register_study
class FirmOutcomes(StudyModule):
    """Firm-year panel of seed 002 from the model's Firm agents (all simulated years)."""

    name = "firms"
    replayable = True
    section = SECTION

    def __init__(self, model):
        super().__init__(model)
        self.par = getattr(model.params, SECTION)
        self._codes = np.asarray(model.world.codes, dtype=object)
        self.process = FirmProcess(self.par, self.rng)
        cities = model.world.cities
        self._city_ids = cities["city_id"].to_numpy()
        self._city_open = cities["open_data_platform_2020"].to_numpy(int)
        self._city_order = np.argsort(self._city_ids)
        self._obs: list[dict[str, np.ndarray]] = []
        self._lat: list[dict[str, np.ndarray]] = []

    _ATTRS = ("serial", "province", "city_id", "industry", "regulated", "ln_employee", "age", "capability", "idc",
              "idc_year")
    _OWN_CODE = {k: i for i, k in enumerate(OWNERSHIP)}

    def step(self) -> None:
        self.advance(self.inputs())

    def inputs(self) -> dict:
        """The year, the alive firms' traits (rows sorted by serial) and their provinces' compute access."""
        m = self.model
        firms = list(m.firms)
        if not firms:
            return {"year": m.year, "num": np.zeros((0, len(self._ATTRS))), "own": np.zeros(0, dtype=int)}
        num = np.array(list(map(attrgetter(*self._ATTRS), firms)), dtype=float)
        own = np.array([self._OWN_CODE[f.ownership] for f in firms], dtype=int)
        o = np.argsort(num[:, 0].astype(np.int64))
        return {"year": m.year, "num": num[o], "own": own[o], "served_share": m.served_share.copy(),
                "price_index": m.compute_price_index.copy(), "latency_ms": m.user_latency_ms.copy(),
                "latency_bound_ms": float(np.nanmin(m.latency_bound))}

    def advance(self, inputs: dict) -> None:
        num, own, year = inputs["num"], inputs["own"], inputs["year"]
        if not len(num):
            return
        ids = num[:, 0].astype(np.int64)
        prov, city, industry, regulated = (num[:, j].astype(np.int64) for j in (1, 2, 3, 4))
        pos = self._city_order[np.searchsorted(self._city_ids, city, sorter=self._city_order)]
        open_data = self._city_open[pos].astype(np.int64)
        access = compute_access(self.par, inputs["served_share"][prov], inputs["price_index"][prov],
                                inputs["latency_ms"][prov], inputs["latency_bound_ms"])
        ln_employee, age, capability = (np.ascontiguousarray(num[:, j]) for j in (5, 6, 7))  # not views that keep num alive
        obs, lat = self.process.observe(year, ids, own, industry, regulated, open_data, ln_employee, age,
                                        capability, num[:, 8].astype(int), num[:, 9].astype(int), access=access)
        head = {"firm_id": ids, "year": np.full(ids.size, year, dtype=np.int64),
                "province": self._codes[prov], "city_id": city, "industry": industry,
                "ownership": np.array([OWNERSHIP_LABEL[k] for k in OWNERSHIP], dtype=object)[own],
                "regulated": regulated, "open_data": open_data}
        obs["IDC"] = np.asarray(obs["IDC"], dtype=np.int64)
        head = pack_columns(head)  # kept until the run is written: in their smallest exact form (sim.packing)
        self._obs.append({**head, **pack_columns(obs)})
        self._lat.append({"firm_id": head["firm_id"], "year": head["year"], **pack_columns(lat)})

    def year_outcomes(self) -> dict[str, float]:
        """Mean EXPY (log 2010 US$) of deployed firms and of all firms, and the deployment rate, this year."""
        if not self._obs:
            return {}
        expy = unpack(self._obs[-1]["EXPY"])
        adopted = unpack(self._obs[-1]["IDC"]) > 0
        return {"expy_adopters_mean": float(expy[adopted].mean()) if adopted.any() else float("nan"),
                "expy_mean": float(expy.mean()), "idc_rate": float(adopted.mean())}

    def drop_records(self) -> None:
        self._obs, self._lat = [], []

    def panel(self) -> pd.DataFrame:
        """Firm-years of every simulated year, the study's variable names, raw (not winsorized)."""
        return stack_years(self._obs, "firm_id", PANEL_COLUMNS)

    def sample(self, start: int = STUDY_WINDOW[0], end: int = STUDY_WINDOW[1], winsor: float = 0.01) -> pd.DataFrame:
        """The study's sample: firm-years ``start``..``end`` with continuous variables winsorized at ``winsor``."""
        return study_sample(self.panel(), start, end, winsor)

    def latent(self) -> pd.DataFrame:
        """Per firm-year: capability, EXPY firm effect, EXPY0 (no deployment), tau_EXPY (effect of deploying,
        given years since adoption; for non-adopters as if deploying this year), its long-run value and ramp,
        and for each mechanism M its value without deployment (M0) and the effect on observed M (tau_M)."""
        return stack_years(self._lat, "firm_id")

    def truth(self) -> pd.DataFrame:
        out = self.parameter_rows(SECTION, "firm")
        lat = stack_years(self._lat, "firm_id", ("firm_id", "year", "tau_EXPY"))  # the columns needed, not the whole latent table
        if len(lat):
            obs = stack_years(self._obs, "firm_id", ("firm_id", "year", "IDC"))
            w = lat.merge(obs, on=["firm_id", "year"])
            w = w[(w["year"] >= STUDY_WINDOW[0]) & (w["year"] <= STUDY_WINDOW[1]) & (w["IDC"] == 1)]
            extra = pd.DataFrame(
                {
                    "name": ["att_EXPY_2017_2023", "n_treated_2017_2023"],
                    "value": [float(w["tau_EXPY"].mean()) if len(w) else np.nan, float(len(w))],
                    "unit": ["log points", "firm-years"],
                    "meaning": ["realised average effect of deployment on EXPY over deployed firm-years 2017-2023",
                                "deployed firm-years 2017-2023"],
                }
            )
            out = pd.concat([out, extra], ignore_index=True)
        return out.reset_index(drop=True)
