"""DataCollector reporters (plain functions) and the national summary of a year."""

from __future__ import annotations

import numpy as np

from sim import snapshots
from sim.agents import DataCentre, Firm, PowerSupplier, Province
from sim.market import INTELLIGENT, KINDS, POOLS


def year_summary(model, books: dict, post) -> dict[str, float]:
    """National figures of the year: capacity, energy, flows, utilisation, latency, carbon, cost."""
    a = books["dc"]
    cap = books["cap"]
    region = model.region
    west = region == "west"
    east = region == "east"
    flows = books["flows"]
    dc_twh = books["dc_drawn_mwh"] / 1e6
    hosted_west = books["node_used"][west].sum() * snapshots.DAYS_PER_SEASON
    cap_west = cap[west].sum() * snapshots.HOURS_PER_YEAR
    demand = books["demand"].sum()
    total_pflops = cap.sum()
    served_dc, dc_pflops = books["served_dc"], a["racks"] * a["density"]
    dc_region = region[a["prov"]]

    def utilisation(mask: np.ndarray) -> float:
        c = dc_pflops[mask].sum() * snapshots.HOURS_PER_YEAR
        return float(served_dc[mask].sum() / c) if c > 0 else float("nan")

    racks = a["racks"]
    racks_used = racks * np.minimum(served_dc / np.maximum(dc_pflops * snapshots.HOURS_PER_YEAR, 1e-12), 1.0)

    def rack_utilisation(mask) -> float:
        r = racks[mask].sum()
        return float(racks_used[mask].sum() / r) if r > 0 else float("nan")

    gdp = np.array([pr.gdp for pr in model.provinces])
    return {
        "year": model.year,
        "policy": model.config.policy_for(model.year),
        "racks_million": float(a["racks"].sum() / 1e6),
        "data_centres": len(a["agents"]),
        "eflops_general": float(cap[:, 0].sum() / 1000),
        "eflops_intelligent": float(cap[:, INTELLIGENT].sum() / 1000 * model.params.datacentre.fp16_per_model_unit_ai),
        "intelligent_share": float(cap[:, INTELLIGENT].sum() / total_pflops) if total_pflops else 0.0,
        "dc_electricity_twh": float(dc_twh),
        "dc_electricity_share": float(dc_twh / books["national_load_twh"]),
        "demand_pflop_h": float(demand),
        "unserved_share": max(float(books["unserved"].sum() / demand), 0.0) if demand else 0.0,
        "east_to_west_pflop_h": float(flows[np.ix_(east, west)].sum()),
        "west_utilisation": float(hosted_west / cap_west) if cap_west else 0.0,
        "west_hosted_pflop_h": float(hosted_west),
        "mean_utilisation": float(books["served_dc"].sum() / max(total_pflops * snapshots.HOURS_PER_YEAR, 1e-9)),
        "east_utilisation": utilisation(dc_region == "east"),
        "hub_utilisation": utilisation(a["hub"]),
        "west_hub_utilisation": utilisation(a["hub"] & (model.hub_role_static[a["prov"]] == "resource")),
        "national_rack_utilisation": rack_utilisation(slice(None)),
        "hub_rack_utilisation": rack_utilisation(a["hub"]),
        "gdp_bn_cny": float(gdp.sum()),
        "gdp_hist_bn_cny": float(model.gdp_hist.sum()),
        "headroom_cut_mw": float(model.headroom_cut_mw.sum()),
        "east_headroom_cut_mw": float(model.headroom_cut_mw[east].sum()),
        "west_headroom_cut_mw": float(model.headroom_cut_mw[west].sum()),
        "inference_latency_ms": float(books["inference_latency_ms"]),
        "dc_carbon_mt": float(books["dc_carbon_mt"]),
        "energy_cost_bn_cny": float(books["energy_cost"] / 1e9),
        "transfer_cost_bn_cny": float(books["transfer_paid"] / 1e9),
        "dc_revenue_bn_cny": float(books["revenue"] / 1e9),
        "routing_energy_cost_bn_cny": float(books["costs"]["energy"] / 1e9),
        "routing_transfer_cost_bn_cny": float(books["costs"]["transfer"] / 1e9),
        **study_outcomes(model),
        **{f"served_{k}_pflop_h": float(books["served"][:, i].sum()) for i, k in enumerate(KINDS)},
        **{f"unserved_{k}_pflop_h": float(books["unserved"][:, i].sum()) for i, k in enumerate(KINDS)},
    }


STUDY_OUTCOMES = ("lntfp_mean", "lntfp_east_mean", "lntfp_west_mean", "loggdp_cluster_cities_mean",
                  "loggdp_other_cities_mean", "expy_adopters_mean", "expy_mean", "idc_rate")


def study_outcomes(model) -> dict[str, float]:
    """The studies' headline outcomes of the year (NaN for a study that is not run)."""
    out = dict.fromkeys(STUDY_OUTCOMES, float("nan"))
    for study in model.studies.values():
        out.update(study.year_outcomes())
    return out


def summary_value(key: str):
    def reporter(model):
        return model.summary.get(key, np.nan)

    reporter.__name__ = f"summary_{key}"
    return reporter


SUMMARY_KEYS = (
    "racks_million",
    "data_centres",
    "eflops_general",
    "eflops_intelligent",
    "intelligent_share",
    "dc_electricity_twh",
    "dc_electricity_share",
    "demand_pflop_h",
    "unserved_share",
    "east_to_west_pflop_h",
    "west_utilisation",
    "west_hosted_pflop_h",
    "mean_utilisation",
    "east_utilisation",
    "hub_utilisation",
    "west_hub_utilisation",
    "national_rack_utilisation",
    "hub_rack_utilisation",
    "gdp_bn_cny",
    "gdp_hist_bn_cny",
    "headroom_cut_mw",
    "east_headroom_cut_mw",
    "west_headroom_cut_mw",
    "inference_latency_ms",
    "dc_carbon_mt",
    "energy_cost_bn_cny",
    "transfer_cost_bn_cny",
    "dc_revenue_bn_cny",
    *STUDY_OUTCOMES,
)
MODEL_REPORTERS = {"year": lambda m: m.year, **{k: summary_value(k) for k in SUMMARY_KEYS}}


def _province_outcome(key: str, index: int | None = None):
    def reporter(agent):
        v = agent.outcomes.get(key, np.nan)
        return float(v[index]) if index is not None else float(v)

    return reporter


def _supplier_outcome(key: str):
    def reporter(agent):
        return agent.outcomes.get(key, np.nan)

    return reporter


PROVINCE_REPORTERS = {
    "code": "code",
    "region": "region",
    "gdp_bn_cny": "gdp",
    "gdp_hist_bn_cny": "gdp_hist",
    "capital_bn_cny": "capital",
    "tfp_gap": "tfp_gap",
    "compute_index": lambda a: float(a.model.compute_index[a.idx]),
    "pop_mn": "pop",
    **{f"demand_{k}_pflop_h": (lambda i: (lambda a: float(a.demand[i])))(i) for i, k in enumerate(KINDS)},
    **{f"served_{k}_pflop_h": _province_outcome("served", i) for i, k in enumerate(KINDS)},
    **{f"unserved_{k}_pflop_h": _province_outcome("unserved", i) for i, k in enumerate(KINDS)},
    "hosted_pflop_h": _province_outcome("hosted_pflop_h"),
    **{f"pflops_{p}": _province_outcome("pflops", i) for i, p in enumerate(POOLS)},
}
DATACENTRE_REPORTERS = {
    "city_id": "city_id",
    "province": lambda a: a.model.codes[a.province],
    "dc_type": "dc_type",
    "hub": "hub",
    "build_year": "build_year",
    "racks": "racks",
    "pflops": "pflops",
    "pue": "pue",
    "price_cny_per_pflop_h": "price",
    "served_pflop_h": "served",
    "utilisation": "utilisation",
    "it_energy_mwh": "it_energy_mwh",
    "energy_mwh": "energy_mwh",
    "energy_cost_cny": "energy_cost",
    "revenue_cny": "revenue",
    "carbon_t": "carbon_t",
}
SUPPLIER_KEYS = (
    "generation_twh",
    "load_twh",
    "dc_supplied_twh",
    "shortage_twh",
    "price_cny_per_mwh",
    "carbon_t_per_mwh",
    "dc_carbon_mt",
    "spare_peak_mw",
    "local_reserve_at_peak_mw",
)
SUPPLIER_REPORTERS = {"code": "code", "tariff_cny_per_kwh": "tariff", **{k: _supplier_outcome(k) for k in SUPPLIER_KEYS},
                      "headroom_cut_mw": lambda a: float(a.model.headroom_cut_mw[a.idx])}
FIRM_REPORTERS = {
    "province": lambda a: a.model.codes[a.province],
    "city_id": "city_id",
    "ownership": "ownership",
    "industry": "industry",
    "regulated": "regulated",
    "lnEmployee": "ln_employee",
    "age": "age",
    "firm_serial": "serial",
    "IDC": "idc",
    "idc_year": "idc_year",
    "adopt_uniform": "adopt_draw",
    "compute_demand_pflop_h": "demand",
}
AGENTTYPE_REPORTERS = {
    Province: PROVINCE_REPORTERS,
    DataCentre: DATACENTRE_REPORTERS,
    PowerSupplier: SUPPLIER_REPORTERS,
    Firm: FIRM_REPORTERS,
}
