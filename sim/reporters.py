"""DataCollector reporters (plain functions) and the national summary of a year."""

from __future__ import annotations

import operator

from sim._mesa import mesa
import numpy as np
import pandas as pd

from sim import snapshots
from sim.agents import DataCentre, Firm, PowerSupplier, Province
from sim.market import INTELLIGENT, KINDS, POOLS, SLA_KEYS
from sim.packing import pack, pack_columns, unpack


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
        **books["sla"],
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
    *SLA_KEYS,
)
MODEL_REPORTERS = {"year": lambda m: m.year, **{k: summary_value(k) for k in SUMMARY_KEYS}}


def _outcome(key: str, index: int | None = None):
    """Column of ``agent.outcomes[key]`` (element ``index`` of it when given), NaN where unset."""
    def column(model, get):
        values = [o.get(key, np.nan) for o in get("outcomes")]
        return np.array([float(v[index]) for v in values] if index is not None else values)

    return column


def _code_of(attr: str):
    """Column of province codes for an agent attribute holding a province index."""
    def column(model, get):
        return np.asarray(model.codes, dtype=object)[np.asarray(get(attr), dtype=np.int64)]

    return column


def _model_array(name: str):
    """Column of the model's per-province array ``name`` at each agent's ``idx``."""
    def column(model, get):
        return getattr(model, name)[np.asarray(get("idx"), dtype=np.int64)]

    return column


def _demand(i: int):
    def column(model, get):
        return np.array([float(d[i]) for d in get("demand")])

    return column


# Agent-type tables: column name -> agent attribute (str) or a function (model, get) -> one value per agent,
# where get(attribute) is that attribute of every agent, read once a year (``YearCollector``).
PROVINCE_REPORTERS = {
    "code": "code",
    "region": "region",
    "gdp_bn_cny": "gdp",
    "gdp_hist_bn_cny": "gdp_hist",
    "capital_bn_cny": "capital",
    "tfp_gap": "tfp_gap",
    "compute_index": _model_array("compute_index"),
    "pop_mn": "pop",
    **{f"demand_{k}_pflop_h": _demand(i) for i, k in enumerate(KINDS)},
    **{f"served_{k}_pflop_h": _outcome("served", i) for i, k in enumerate(KINDS)},
    **{f"unserved_{k}_pflop_h": _outcome("unserved", i) for i, k in enumerate(KINDS)},
    "hosted_pflop_h": _outcome("hosted_pflop_h"),
    **{f"pflops_{p}": _outcome("pflops", i) for i, p in enumerate(POOLS)},
}
DATACENTRE_REPORTERS = {
    "city_id": "city_id",
    "province": _code_of("province"),
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
SUPPLIER_REPORTERS = {"code": "code", "tariff_cny_per_kwh": "tariff", **{k: _outcome(k) for k in SUPPLIER_KEYS},
                      "headroom_cut_mw": _model_array("headroom_cut_mw")}
FIRM_REPORTERS = {
    "province": _code_of("province"),
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


def _column(values) -> np.ndarray:
    """One column as an array: numbers as numpy numbers, strings as an object array of the agents' own
    string objects (shared, not copied)."""
    if isinstance(values, np.ndarray):
        return values
    return np.array(values, dtype=object) if len(values) and isinstance(values[0], str) else np.asarray(values)


class YearCollector(mesa.DataCollector):
    """A Mesa DataCollector whose agent-type tables are read as arrays once a year.

    Mesa calls every agent-type reporter once per agent and keeps a tuple of Python objects per
    agent and year (81k reporter calls a year, ~3x the memory of the values). Here each table
    reads the attributes it needs from all agents of the type at once (one ``attrgetter`` call per
    agent), derives the other columns with array operations, and stores one array per column and
    year. Model reporters are Mesa's own. ``get_agenttype_vars_dataframe`` returns the frame Mesa
    would return (same index, columns, dtypes and values), so panels and users' code are unchanged.
    """

    def __init__(self, model_reporters: dict, agenttype_tables: dict[type, dict]):
        super().__init__(model_reporters=model_reporters)
        self.agenttype_reporters = {t: dict(cols) for t, cols in agenttype_tables.items()}
        self._year_tables: dict[int, dict[type, tuple[np.ndarray, dict[str, np.ndarray]]]] = {}

    def collect(self, model) -> None:
        tables, self.agenttype_reporters = self.agenttype_reporters, {}
        try:
            super().collect(model)
        finally:
            self.agenttype_reporters = tables
        self._year_tables[model.steps] = {t: self._read(model, t, cols) for t, cols in tables.items()}

    @staticmethod
    def _read(model, agent_type: type, columns: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        agents = list(model.agents_by_type.get(agent_type, ()))
        attrs = ["unique_id", *dict.fromkeys(c for c in columns.values() if isinstance(c, str))]
        values: dict[str, list | tuple] = dict.fromkeys(attrs, ())
        if agents and len(attrs) > 1:
            values.update(zip(attrs, zip(*map(operator.attrgetter(*attrs), agents))))

        def get(attr: str):
            if attr not in values or len(values[attr]) != len(agents):
                values[attr] = [getattr(a, attr) for a in agents]
            return values[attr]

        out = {name: _column(get(c) if isinstance(c, str) else c(model, get)) for name, c in columns.items()}
        # kept until the run is written: in their smallest exact form (sim.packing)
        return pack(np.asarray(get("unique_id"), dtype=np.int64)), pack_columns(out)

    def drop_agent_tables(self) -> None:
        """Free the agent-type tables (the model variables, the national summary, stay)."""
        self._year_tables = {}

    def get_agenttype_vars_dataframe(self, agent_type):
        if agent_type not in self.agenttype_reporters:
            return super().get_agenttype_vars_dataframe(agent_type)
        names = list(self.agenttype_reporters[agent_type])
        years = [(step, (unpack(t[agent_type][0]), t[agent_type][1])) for step, t in self._year_tables.items()
                 if agent_type in t]
        years = [(step, (ids, cols)) for step, (ids, cols) in years if len(ids)]
        if not years:
            return pd.DataFrame.from_records(data=[], columns=["Step", "AgentID", *names], index=["Step", "AgentID"])
        steps = np.concatenate([np.full(len(ids), step, dtype=np.int64) for step, (ids, _) in years])
        ids = np.concatenate([ids for _, (ids, _) in years])
        index = pd.MultiIndex.from_arrays([steps, ids], names=["Step", "AgentID"])
        data = {name: np.concatenate([unpack(cols[name]) for _, (_, cols) in years]) for name in names}
        return pd.DataFrame(data, index=index)
