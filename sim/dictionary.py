"""The data dictionary: every column SuanLi writes, with its unit and meaning, in one table.

``COLUMNS[panel][column] = (unit, meaning)``; entries in ``COMMON`` apply to every panel that
has the column and does not define it itself. Stata variable labels (``sim.outputs``) and
``docs/outputs.md`` (``python -m sim.dictionary > docs/outputs.md``) are generated from
this table, and a test checks that every column of every written file is in it, so the
documentation cannot drift from the outputs. Units: PFLOP-h = 10^15 floating-point
operations per second for one hour; money in nominal CNY unless stated; "share" a fraction.
"""

from __future__ import annotations

import re
import sys

KINDS = ("training", "inference", "interactive", "batch")
KIND_TEXT = {"training": "AI training", "inference": "AI inference", "interactive": "latency-bound interactive general",
             "batch": "deferrable batch general"}

COMMON: dict[str, tuple[str, str]] = {
    "year": ("year", "calendar year of the observation"),
    "agent_id": ("id", "Mesa unique_id of the agent"),
    "province": ("code", "province code (two letters, e.g. BJ)"),
    "city_id": ("code", "prefecture-city code (four digits)"),
    "region": ("label", "region of the province: east, central, west or northeast"),
    "code": ("code", "province code (two letters)"),
    "gdp_bn_cny": ("bn CNY", "province GDP (nominal)"),
    "pop_mn": ("million persons", "resident population of the province"),
    "seed": ("integer", "random seed of the replication"),
}

_KIND_COLS = {
    **{f"demand_{k}_pflop_h": ("PFLOP-h/yr", f"{KIND_TEXT[k]} compute demand originating in the province") for k in KINDS},
    **{f"served_{k}_pflop_h": ("PFLOP-h/yr", f"{KIND_TEXT[k]} demand of the province served (anywhere)") for k in KINDS},
    **{f"unserved_{k}_pflop_h": ("PFLOP-h/yr", f"{KIND_TEXT[k]} demand of the province not served") for k in KINDS},
}

SUMMARY = {
    "policy": ("name", "scheduling policy in force that year"),
    "racks_million": ("million standard racks", "installed data-centre capacity (2.5 kW standard racks)"),
    "data_centres": ("count", "data-centre agents operating"),
    "eflops_general": ("EFLOPS (FP32)", "general-purpose compute capacity"),
    "eflops_intelligent": ("EFLOPS (FP16)", "intelligent (AI) compute capacity"),
    "intelligent_share": ("share", "intelligent share of compute capacity (PFLOPS)"),
    "dc_electricity_twh": ("TWh/yr", "electricity drawn by data centres incl. cooling (PUE)"),
    "dc_electricity_share": ("share", "data-centre share of national electricity load"),
    "demand_pflop_h": ("PFLOP-h/yr", "national compute demand, all kinds"),
    "unserved_share": ("share", "share of national compute demand not served"),
    "east_to_west_pflop_h": ("PFLOP-h/yr", "work originating in eastern provinces served in western ones"),
    "west_utilisation": ("share", "hosted work over capacity of western data centres"),
    "west_hosted_pflop_h": ("PFLOP-h/yr", "work served by data centres in western provinces, whatever its origin"),
    "mean_utilisation": ("share", "served work over capacity of all data centres"),
    "east_utilisation": ("share", "served work over capacity of data centres in eastern provinces"),
    "hub_utilisation": ("share", "served work over capacity of hub data centres"),
    "west_hub_utilisation": ("share", "served work over capacity of hub data centres in western (resource) hubs"),
    "national_rack_utilisation": ("share", "rack-weighted mean utilisation of data centres (each capped at 1)"),
    "hub_rack_utilisation": ("share", "rack-weighted mean utilisation of the hub-cluster data centres (each capped at 1)"),
    "gdp_bn_cny": ("bn CNY", "national GDP simulated (sum of provinces)"),
    "gdp_hist_bn_cny": ("bn CNY", "national GDP of the historical/projected path the simulation starts from"),
    "headroom_cut_mw": ("MW", "data-centre expansion refused for lack of grid headroom"),
    "east_headroom_cut_mw": ("MW", "expansion refused for lack of grid headroom in eastern provinces"),
    "west_headroom_cut_mw": ("MW", "expansion refused for lack of grid headroom in western provinces"),
    "inference_latency_ms": ("ms round trip", "served-work-weighted mean latency of inference work"),
    "sla_violation_pflop_h": ("PFLOP-h/yr", "SLA violations: latency-bound (interactive and inference) work served "
                                            "beyond its latency bound (soft bounds only) or not served"),
    "sla_violation_share": ("share", "SLA violations over latency-bound demand (as the policies bench counts them)"),
    "latency_bound_p99_ms": ("ms round trip", "99th percentile latency of the latency-bound work served, "
                                              "weighted by work"),
    "dc_carbon_mt": ("Mt CO2/yr", "carbon emitted for data-centre electricity"),
    "energy_cost_bn_cny": ("bn CNY/yr", "data centres' electricity bill"),
    "transfer_cost_bn_cny": ("bn CNY/yr", "network transfer charges paid for moved work"),
    "dc_revenue_bn_cny": ("bn CNY/yr", "data centres' revenue from served work"),
    "routing_energy_cost_bn_cny": ("bn CNY/yr", "energy cost of the market's assignments (scheduling objective)"),
    "routing_transfer_cost_bn_cny": ("bn CNY/yr", "transfer cost of the market's assignments (scheduling objective)"),
    "lntfp_mean": ("log", "mean lnTFP of the study provinces (seed 000)"),
    "lntfp_east_mean": ("log", "mean lnTFP of eastern study provinces"),
    "lntfp_west_mean": ("log", "mean lnTFP of western study provinces"),
    "loggdp_cluster_cities_mean": ("ln 100 mn CNY", "mean log GDP of hub-cluster cities (seed 001)"),
    "loggdp_other_cities_mean": ("ln 100 mn CNY", "mean log GDP of the other cities"),
    "expy_adopters_mean": ("log 2010 US$", "mean EXPY of firms that have deployed IDC (seed 002)"),
    "expy_mean": ("log 2010 US$", "mean EXPY of all listed firms"),
    "idc_rate": ("share", "share of listed firms that have deployed IDC"),
    **{f"served_{k}_pflop_h": ("PFLOP-h/yr", f"national {KIND_TEXT[k]} work served") for k in KINDS},
    **{f"unserved_{k}_pflop_h": ("PFLOP-h/yr", f"national {KIND_TEXT[k]} work not served") for k in KINDS},
}

COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "summary": SUMMARY,
    "provinces": {
        **_KIND_COLS,
        "hosted_pflop_h": ("PFLOP-h/yr", "work served by data centres located in the province"),
        "pflops_general": ("PFLOPS (FP32)", "general compute capacity located in the province"),
        "pflops_intelligent": ("PFLOPS (FP16)", "intelligent compute capacity located in the province"),
        "gdp_hist_bn_cny": ("bn CNY", "province GDP on the historical/projected path"),
        "capital_bn_cny": ("bn CNY", "province capital stock"),
        "tfp_gap": ("log points", "province TFP relative to its reference path (A - A*)"),
        "compute_index": ("points (nation = 100)", "compute development index of the province (capacity, use and access per person)"),
    },
    "datacentres": {
        "dc_type": ("label", "general or intelligent pool"),
        "hub": ("0/1", "1 if the data centre is in a designated hub cluster"),
        "build_year": ("year", "year the data centre entered"),
        "racks": ("standard racks", "installed racks (2.5 kW each)"),
        "pflops": ("PFLOPS", "compute capacity"),
        "pue": ("ratio", "power usage effectiveness (facility over IT power)"),
        "price_cny_per_pflop_h": ("CNY/PFLOP-h", "price quoted for one PFLOP-h of work"),
        "served_pflop_h": ("PFLOP-h/yr", "work served"),
        "utilisation": ("share", "served work over capacity x 8760 h"),
        "it_energy_mwh": ("MWh/yr", "electricity drawn by IT equipment"),
        "energy_mwh": ("MWh/yr", "electricity drawn incl. cooling (IT x PUE)"),
        "energy_cost_cny": ("CNY/yr", "electricity bill"),
        "revenue_cny": ("CNY/yr", "revenue from served work"),
        "carbon_t": ("t CO2/yr", "carbon emitted for the data centre's electricity"),
    },
    "power": {
        "tariff_cny_per_kwh": ("CNY/kWh", "large-industry electricity tariff of the province"),
        "generation_twh": ("TWh/yr", "electricity generated in the province"),
        "load_twh": ("TWh/yr", "electricity load of the province incl. data centres"),
        "dc_supplied_twh": ("TWh/yr", "electricity supplied to data centres"),
        "shortage_twh": ("TWh/yr", "load not met by generation or imports"),
        "price_cny_per_mwh": ("CNY/MWh", "load-weighted wholesale price"),
        "carbon_t_per_mwh": ("t CO2/MWh", "average carbon intensity of supply"),
        "dc_carbon_mt": ("Mt CO2/yr", "carbon emitted for data-centre electricity in the province"),
        "spare_peak_mw": ("MW", "peak generating capacity not needed at peak load"),
        "local_reserve_at_peak_mw": ("MW", "local generating reserve at the hour of peak load"),
        "headroom_cut_mw": ("MW", "data-centre expansion refused for lack of grid headroom in the province"),
    },
    "firms_core": {
        "ownership": ("label", "ownership: state, private or jv"),
        "industry": ("code", "industry index (0-29)"),
        "regulated": ("0/1", "1 if in a regulated industry"),
        "lnEmployee": ("ln persons", "log employees"),
        "age": ("years", "years since founding"),
        "IDC": ("0/1", "1 if the firm has deployed data-centre compute (IDC)"),
        "idc_year": ("year", "year of IDC deployment (0 if none)"),
        "compute_demand_pflop_h": ("PFLOP-h/yr", "the firm's compute demand"),
        "firm_serial": ("integer", "order in which the firm was created (stable across studies on/off)"),
        "adopt_uniform": ("U(0,1)", "the firm's uniform draw compared with its adoption hazard this year"),
    },
    "flows": {
        "origin": ("code", "province where the work originates"),
        "destination": ("code", "province where it is served"),
        "kind": ("label", "task kind: training, inference, interactive or batch"),
        "pflop_h": ("PFLOP-h/yr", "work moved from origin to destination"),
        "data_gb": ("GB/yr", "data moved with that work"),
        "transfer_cny": ("CNY/yr", "transfer charges for that work"),
        "latency_ms": ("ms round trip", "latency from origin to destination"),
    },
    "snapshots": {
        "season": ("index", "representative day (0-3: winter, spring, summer, autumn)"),
        "hour": ("hour", "hour of the representative day (0-23)"),
        "node": ("code", "province (market node)"),
        "pool": ("label", "compute pool: general or intelligent"),
        "capacity_pflop_h": ("PFLOP-h per hour", "available capacity in the hour"),
        "used_pflop_h": ("PFLOP-h per hour", "capacity used in the hour"),
        "price_cny_per_pflop_h": ("CNY/PFLOP-h", "capacity-weighted compute price at the node"),
        "energy_cost_cny_per_pflop_h": ("CNY/PFLOP-h", "electricity cost of one PFLOP-h at the node in the hour"),
    },
    "links": {
        "a": ("code", "one end of the backbone link"),
        "b": ("code", "other end of the backbone link"),
        "data_gb": ("GB/yr", "data carried by the link"),
        "utilisation": ("share", "data carried over link capacity"),
    },
    "parameters": {
        "section": ("name", "section of calibration/parameters.toml"),
        "name": ("name", "parameter name in the section"),
        "value": ("see unit", "value used by the run (after overrides)"),
        "unit": ("text", "unit of the value"),
        "meaning": ("text", "what the parameter means"),
        "target": ("text", "calibration target or source"),
        "measures": ("text", "target ids whose published estimate is the counterpart of this structural value"),
        "min": ("see unit", "lowest allowed value"),
        "max": ("see unit", "highest allowed value"),
        "integer": ("true/false", "whether the value must be an integer"),
    },
    "ensemble_summary": {
        "metric": ("name", "summary column (see the summary panel)"),
        "mean": ("unit of the metric", "mean across seeds"),
        "sd": ("unit of the metric", "standard deviation across seeds (ddof 1)"),
        "p05": ("unit of the metric", "5th percentile across seeds"),
        "p95": ("unit of the metric", "95th percentile across seeds"),
        "n": ("count", "seeds aggregated"),
    },
}
_TRUTH = {
    "name": ("name", "true parameter or derived quantity"),
    "value": ("see unit", "its value"),
    "unit": ("text", "unit of the value"),
    "meaning": ("text", "what it means"),
}
for _s in ("provinces", "cities", "firms"):
    COLUMNS[f"truth_{_s}"] = dict(_TRUTH)
COLUMNS["estimands"] = {
    "study": ("name", "study module whose panel the estimator is run on: provinces, cities or firms"),
    "estimator": ("name", "estimator (suanli validate names): nvar, sfa, threshold, twfe, iv, psm, csdid"),
    "spec": ("id", "specification, named after the study table it reproduces (e.g. p1_table2_col8)"),
    "param": ("name", "parameter of the estimator's result compared with the estimand"),
    "estimand": ("id", "estimand name spec.param (the key suanli validate --design model compares with)"),
    "value": ("see unit", "what the estimator targets on this run's panel: the estimator applied to the outcome "
                          "without the study equation's error term (analysis/estimands.py)"),
    "unit": ("text", "unit of the value"),
    "n_obs": ("count", "observations the estimand was computed on (0 if not computed)"),
    "definition": ("text", "what the estimand is"),
    "computed": ("text", "how it was computed from the run's panel and latent truths, or why it could not be"),
    "structural": ("name", "truth-table row of the structural value the estimand relates to"),
    "structural_value": ("see unit", "that structural value (estimand minus it = the specification's distance "
                                     "from the model's mechanism)"),
}

COLUMNS["study_provinces"] = {
    "lnTFP": ("log", "log total factor productivity (seed 000)"),
    "DF_qty": ("index", "digital infrastructure quantity: first principal component of the five indicators"),
    "DF_qual": ("index", "digital infrastructure quality from 4G/5G users (NaN before 4G)"),
    "Y": ("bn CNY (base-year prices)", "digital-economy output"),
    "K": ("bn CNY (base-year prices)", "capital stock (perpetual inventory)"),
    "L": ("thousand persons", "digital labour"),
    "ipv4_10k": ("10k addresses", "IPv4 addresses"),
    "domains_per_10k": ("per 10k persons", "internet domains"),
    "fibre_km": ("km", "long-haul optical fibre"),
    "websites_per_entity": ("per legal entity", "websites"),
    "broadband_ports_10k": ("10k ports", "broadband access ports"),
    "users_3g": ("10k users", "3G mobile users"),
    "users_4g": ("10k users", "4G mobile users"),
    "users_5g": ("10k users", "5G mobile users"),
    **{f"Z{i}": ("standardised", f"control Z{i} (N(0,1) AR(1))") for i in range(5)},
    "Z5": ("km", "control Z5 (10^4 x (1 + AR(1)) km)"),
    "tau_K": ("ratio", "capital price distortion tau_K"),
    "tau_L": ("ratio", "labour price distortion tau_L"),
    "patents_qty": ("count", "utility and design patents granted (quantity)"),
    "patents_qual": ("count", "invention patents granted (quality)"),
    "inn_qty": ("ln(count)", "innovation quantity (seed 000 table 7's M): ln of utility and design patents granted"),
    "inn_qual": ("ln(count)", "innovation quality (seed 000 table 7's M): ln of invention patents granted"),
}
COLUMNS["latent_provinces"] = {
    "TE": ("share", "true technical efficiency exp(-u)"),
    "u": ("log points", "true inefficiency u >= 0"),
    "lnF": ("log", "true frontier ln F of the year"),
    "TC": ("log points/yr", "technical change (growth of ln F)"),
    "TS": ("log points/yr", "scale effect (RTS-1)/RTS x input growth"),
    "lnZ": ("log", "latent technology level"),
    "lntfp_systematic": ("log", "systematic part of lnTFP (without the year's shock)"),
    "lnK_centred": ("log", "log capital stock centred on its sample reference"),
    "tfp_gap": ("log points", "systematic lnTFP relative to the province's reference path (fed back to GDP)"),
    "S": ("index", "latent infrastructure scale exp(s)"),
    "s": ("log", "latent infrastructure scale"),
    "chi": ("Mbps", "mean mobile connection speed"),
    "DF_qual_struct": ("index", "DF_qual used by the mechanism (qual_pre before 4G)"),
    "net_qty": ("index", "network DF_qty: W x DF_qty"),
    "net_qual": ("index", "network DF_qual: W x DF_qual"),
    "lambda": ("events/yr", "Poisson intensity of innovation events"),
    "pat_intensity_qty": ("ln(patents per bn CNY)", "quantity patents per bn CNY of GDP, logged: the TFP equation's innovation measure"),
    "pat_intensity_qual": ("ln(patents per bn CNY)", "invention patents per bn CNY of GDP, logged: the TFP equation's innovation measure"),
    "innovations": ("count", "innovation events"),
    "invention_share": ("share", "probability that an event is an invention patent"),
    "zeta": ("log", "province innovation-size shock"),
    "mu": ("log", "province TFP fixed effect"),
    "eps": ("log", "TFP shock"),
    "v": ("log", "output noise"),
}
COLUMNS["study_cities"] = {
    "gdp": ("100 mn CNY", "city GDP"),
    "loggdp": ("ln 100 mn CNY", "log city GDP"),
    "computing": ("PFLOPS", "compute scale: data-centre capacity serving the market plus the local stock"),
    "logcomputing": ("ln PFLOPS", "log compute scale"),
    "dc_pflops": ("PFLOPS", "data-centre capacity located in the city"),
    "logpeo": ("ln 10k persons", "log resident population"),
    "logfin": ("ln 100 mn CNY", "log general budget revenue"),
    "logfou": ("ln 100 mn CNY", "log general budget expenditure"),
    "loginvest": ("ln 100 mn CNY", "log fixed-asset investment"),
    "logretail": ("ln 100 mn CNY", "log retail sales"),
    "logagri": ("ln 100 mn CNY", "log primary-industry value added"),
    "logindus": ("ln 100 mn CNY", "log secondary-industry value added"),
    "loginex": ("ln 100 mn CNY", "log imports and exports"),
    "pGDP": ("100 mn CNY (2020 scale)", "threshold variable: last year's GDP at the 2020 national scale"),
    "pivot": ("0/1", "1 in hub-cluster cities once the programme starts"),
    "pivotcomputing": ("ln PFLOPS", "pivot x logcomputing"),
}
COLUMNS["latent_cities"] = {
    "regime": ("index", "threshold regime: 0 low, 1 middle, 2 high"),
    "elasticity": ("elasticity", "true GDP elasticity of compute scale (regime plus pivot)"),
    "pivot_active": ("0/1", "1 if the pivot increment applies"),
    "logpot": ("ln 100 mn CNY", "log potential GDP"),
    "compute_term": ("log points", "contribution of compute to log GDP"),
    "local_pflops": ("PFLOPS", "non-data-centre local compute stock"),
    "v": ("log", "AR(1) shock to potential GDP"),
}
_MECH = {
    "TS": ("share", "technical staff share"),
    "MD": ("share", "share of staff with a university degree"),
    "INVEST": ("ratio", "patient capital: long-term institutional holding over its sd of three years"),
    "IB": ("share", "innovation breadth"),
    "lnCTI": ("ln(count+1)", "log core-technology patents"),
    "lnDSI": ("ln days", "log inventory days"),
    "Bullwhip": ("ratio", "bullwhip ratio: production over demand volatility"),
}
COLUMNS["study_firms"] = {
    "firm_id": ("id", "firm id (Firm agent unique_id)"),
    "industry": ("code", "industry index (0-29)"),
    "ownership": ("label", "ownership: SOE, private or JV"),
    "regulated": ("0/1", "1 if in a regulated industry"),
    "open_data": ("0/1", "1 if the firm's city has a public data platform"),
    "IDC": ("0/1", "1 if the firm has deployed data-centre compute (IDC)"),
    "EXPY": ("log 2010 US$", "export technological sophistication (PRODY scale)"),
    **_MECH,
    "lnEmployee": ("ln persons", "log employees"),
    "lnFirmAge": ("ln(years+1)", "log firm age"),
    "ROA": ("ratio", "return on assets"),
    "Assetturn": ("ratio", "asset turnover"),
    "Cashflow": ("ratio", "operating cash flow over assets"),
    "Dual": ("0/1", "1 if chair and CEO are the same person"),
    "Top1": ("share", "largest shareholder's stake"),
    "Occupy": ("ratio", "funds occupied by the largest shareholder over assets"),
    "Mshare": ("share", "management shareholding"),
    "TobinQ": ("ratio", "Tobin's Q"),
}
COLUMNS["latent_firms"] = {
    "firm_id": ("id", "firm id (Firm agent unique_id)"),
    "capability": ("sd", "latent firm capability"),
    "firm_effect_EXPY": ("log 2010 US$", "firm effect in EXPY"),
    "EXPY0": ("log 2010 US$", "EXPY without deployment (potential outcome)"),
    "tau_EXPY": ("log 2010 US$", "effect of deploying on EXPY this year (as if deploying now for non-adopters)"),
    "tau_full_EXPY": ("log 2010 US$", "long-run effect of deploying on EXPY"),
    "ramp": ("share", "share of the long-run effect realised"),
    "years_since_idc": ("years", "years since deployment (0 if none)"),
    "access": ("share", "share of the full deployment gain realised given the compute obtained (1 = full access)"),
    **{f"{m}0": (u, f"{t} without deployment") for m, (u, t) in _MECH.items()},
    **{f"tau_{m}": (u, f"effect of deployment on the observed {t}") for m, (u, t) in _MECH.items()},
}


def lookup(panel: str, column: str) -> tuple[str, str] | None:
    """(unit, meaning) of ``column`` in ``panel`` (``panel`` may carry a path or a suffix), or None."""
    panel = re.sub(r"\.(parquet|csv|dta)$", "", panel.rsplit("/", 1)[-1])
    own = COLUMNS.get(panel, {})
    if column in own:
        return own[column]
    return COMMON.get(column)


def to_markdown() -> str:
    """``docs/outputs.md``: one table per panel (the generated data dictionary)."""
    lines = [
        "# SuanLi outputs: the data dictionary",
        "",
        "Generated by `python -m sim.dictionary > docs/outputs.md` from `sim/dictionary.py`; do not edit by hand.",
        "",
        "What a run writes depends on `--outputs`: `summary` (the default for ensembles) writes only",
        "`summary`; `panels` (the default for `suanli run`) adds the agent, flow, parameter, study and",
        "truth panels and the `estimands` (what each study estimator targets on the run's panels, computed",
        "from the latent truths); `full` adds `snapshots`, `links` and the `latent_*` truths. Every table is",
        "Parquet; `--formats parquet,csv,dta` adds CSV and Stata 118 files (with these meanings as",
        "variable labels). `run.json` records the seed, years, resolved config and policy, the",
        "structural parameters' SHA-256, package version, git commit, wall time and the files written.",
        "Columns listed under *all panels* have the same meaning wherever they appear.",
        "",
        "## All panels",
        "",
        "| column | unit | meaning |",
        "|---|---|---|",
        *[f"| `{c}` | {u} | {m} |" for c, (u, m) in COMMON.items()],
    ]
    for panel, cols in COLUMNS.items():
        lines += ["", f"## {panel}", "", "| column | unit | meaning |", "|---|---|---|"]
        lines += [f"| `{c}` | {u} | {m} |" for c, (u, m) in cols.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(to_markdown())
