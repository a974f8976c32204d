"""Figures of scenario comparisons: plain functions from tables to matplotlib ``Figure``s.

Each function takes DataFrames (the tables of ``experiments.compare``) and a ``source`` line,
and returns a ``matplotlib.figure.Figure`` with a title, axis units and the source line at the
bottom. No file I/O and no pyplot state, so a report, a notebook or a dashboard can reuse them.
A figure whose data are absent raises ``MissingData`` naming the columns; one with some of its
metrics absent draws the others (``missing(...)`` lists what was left out).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

UNITS = {
    "racks_million": ("Standard racks", "million racks"),
    "data_centres": ("Data centres", "count"),
    "eflops_general": ("General compute capacity", "EFLOPS"),
    "eflops_intelligent": ("Intelligent compute capacity", "EFLOPS"),
    "intelligent_share": ("Intelligent share of capacity", "share"),
    "dc_electricity_twh": ("DC electricity", "TWh/yr"),
    "dc_electricity_share": ("DC share of national electricity", "share"),
    "demand_pflop_h": ("Compute demand", "PFLOP-h/yr"),
    "unserved_share": ("Unserved demand", "share of demand"),
    "east_to_west_pflop_h": ("East->west flow", "PFLOP-h/yr"),
    "west_utilisation": ("Western utilisation", "share of capacity"),
    "east_utilisation": ("Eastern utilisation", "share of capacity"),
    "hub_utilisation": ("Hub utilisation", "share of capacity"),
    "west_hub_utilisation": ("Western-hub utilisation", "share of capacity"),
    "national_rack_utilisation": ("National rack utilisation", "share of capacity"),
    "hub_rack_utilisation": ("Hub-cluster rack utilisation", "share of capacity"),
    "mean_utilisation": ("Mean utilisation", "share of capacity"),
    "inference_latency_ms": ("Mean inference latency", "ms"),
    "latency_bound_unserved_share": ("Latency-bound work unserved", "share of interactive+inference demand"),
    "sla_violation_share": ("SLA violations: latency-bound work late or unserved", "share of its demand"),
    "sla_violation_pflop_h": ("SLA violations", "PFLOP-h/yr"),
    "latency_bound_p99_ms": ("p99 latency of latency-bound work", "ms"),
    "dc_carbon_mt": ("DC carbon", "Mt CO2/yr"),
    "energy_cost_bn_cny": ("DC electricity cost", "bn CNY/yr"),
    "transfer_cost_bn_cny": ("Transfer cost", "bn CNY/yr"),
    "dc_revenue_bn_cny": ("DC revenue", "bn CNY/yr"),
    "gdp_bn_cny": ("GDP", "bn CNY/yr"),
    "gdp_hist_bn_cny": ("GDP on the historical path", "bn CNY/yr"),
    "headroom_cut_mw": ("Grid-headroom cuts", "MW of DC load refused"),
    "east_headroom_cut_mw": ("Eastern grid-headroom cuts", "MW of DC load refused"),
    "west_headroom_cut_mw": ("Western grid-headroom cuts", "MW of DC load refused"),
}
SUFFIX_UNITS = (
    ("_pflop_h", "PFLOP-h/yr"), ("_bn_cny", "bn CNY/yr"), ("_twh", "TWh/yr"), ("_mt", "Mt CO2/yr"),
    ("_ms", "ms"), ("_mw", "MW"), ("_share", "share"), ("_utilisation", "share of capacity"), ("_million", "million"),
)
REGIONS = ("east", "central", "northeast", "west")
UTILISATION = ("west_hub_utilisation", "hub_utilisation", "west_utilisation", "east_utilisation", "national_rack_utilisation")
ENERGY = ("dc_electricity_twh", "energy_cost_bn_cny", "dc_carbon_mt")
SERVICE = ("unserved_share", "sla_violation_share", "inference_latency_ms", "latency_bound_p99_ms")
SERVICE_PATTERNS = ("violation", "sla", "p99", "latency_bound", "unserved_interactive", "unserved_inference")


class MissingData(KeyError):
    """The tables lack every column or panel a figure needs."""

    def __str__(self) -> str:
        return str(self.args[0])


def label(metric: str) -> str:
    """'Name (unit)' of a metric, from the table above or the column's unit suffix."""
    if metric in UNITS:
        name, unit = UNITS[metric]
        return f"{name} ({unit})"
    for suffix, unit in SUFFIX_UNITS:
        if metric.endswith(suffix):
            return f"{metric.replace('_', ' ')} ({unit})"
    return metric.replace("_", " ")


def unit(metric: str) -> str:
    text = label(metric)
    return text[text.rfind("(") + 1 : -1] if text.endswith(")") else ""


def missing(table: pd.DataFrame, metrics: Iterable[str]) -> list[str]:
    """Metrics absent from a long table with a ``metric`` column."""
    have = set(table["metric"]) if "metric" in table.columns else set()
    return [m for m in metrics if m not in have]


SUPERSEDED = {"sla_violation_pflop_h": "sla_violation_share", "latency_bound_unserved_share": "sla_violation_share"}


def service_metrics(table: pd.DataFrame) -> list[str]:
    """Unserved and latency metrics of a long table, including latency-bound violation columns when present
    (a volume or the provinces-panel share of unserved latency-bound work only without the summary's share)."""
    have = list(dict.fromkeys(table["metric"]))
    extra = [m for m in have if any(p in m for p in SERVICE_PATTERNS) and m not in SERVICE
             and SUPERSEDED.get(m) not in have]
    return [m for m in SERVICE if m in have] + extra


def _figure(n_panels: int, ncols: int = 3, panel_size=(4.2, 3.0)) -> tuple[Figure, list]:
    ncols = max(1, min(ncols, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows + 0.9))
    _layout(fig)
    grid = fig.add_gridspec(nrows, ncols)
    return fig, [fig.add_subplot(grid[i // ncols, i % ncols]) for i in range(n_panels)]


def _layout(fig: Figure, source_in: float = 0.3) -> None:
    """Constrained layout leaving ``source_in`` inches at the bottom for the source line."""
    bottom = min(source_in / fig.get_figheight(), 0.2)
    fig.set_layout_engine(ConstrainedLayoutEngine(rect=(0, bottom, 1, 1 - bottom)))


def _finish(fig: Figure, title: str, source: str) -> Figure:
    fig.suptitle(title, fontsize=12, fontweight="bold")
    fig.text(0.01, 0.012, source, fontsize=8, color="0.3", ha="left", va="bottom")
    return fig


def _colours(scenarios: Sequence[str]) -> dict[str, str]:
    cycle = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    return {s: cycle[i % len(cycle)] for i, s in enumerate(scenarios)}


def _order(table: pd.DataFrame, scenarios: Sequence[str] | None) -> list[str]:
    return list(scenarios) if scenarios else list(dict.fromkeys(table["scenario"]))


def _path_panel(ax, bands: pd.DataFrame, metric: str, order: Sequence[str], col: dict[str, str]) -> None:
    """One metric's paths by year; a band of zero width (one seed, or seeds that agree) is not drawn."""
    from matplotlib.ticker import MaxNLocator

    for s in order:
        d = bands[(bands["scenario"] == s) & (bands["metric"] == metric)].sort_values("year")
        if d.empty:
            continue
        if (d["p95"] > d["p05"]).any():
            ax.fill_between(d["year"], d["p05"], d["p95"], color=col[s], alpha=0.18, linewidth=0)
        ax.plot(d["year"], d["mean"], color=col[s], label=s, linewidth=1.6)
    ax.xaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True))
    ax.set_title(UNITS.get(metric, (metric.replace("_", " "),))[0], fontsize=10)
    ax.set_ylabel(unit(metric))
    ax.set_xlabel("year")
    ax.grid(alpha=0.3)


def fig_paths(bands: pd.DataFrame, metrics: Sequence[str], source: str, title: str = "Paths by scenario",
              scenarios: Sequence[str] | None = None, ncols: int = 3, targets: pd.DataFrame | None = None) -> Figure:
    """Ensemble mean (line) and 5-95 % band across seeds of each metric, one line per scenario.

    With ``targets`` (metric, year, value in the metric's unit, label; e.g. the macro rows of
    ``calibration/targets.csv``: 150 TWh DC electricity in 2023, 8.1 million racks in 2023) the
    published figures are marked as black diamonds with their values. Years are ticked as whole years.
    """
    metrics = [m for m in metrics if m not in missing(bands, metrics)]
    if not metrics:
        raise MissingData("none of the metrics of this figure is in the summary")
    order = _order(bands, scenarios)
    col = _colours(order)
    fig, axes = _figure(len(metrics), ncols)
    marked = False
    for ax, metric in zip(axes, metrics):
        _path_panel(ax, bands, metric, order, col)
        if targets is None:
            continue
        t = targets[targets["metric"] == metric] if not targets.empty else targets
        if t.empty:
            continue
        ax.scatter(t["year"], t["value"], marker="D", s=28, color="black", zorder=5,
                   label=None if marked else "published figure")
        for _, r in t.iterrows():
            ax.annotate(f"{r['value']:.4g}", (r["year"], r["value"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        marked = True
    if targets is None:
        axes[0].legend(fontsize=8, title="mean, 5-95 % band", title_fontsize=8)
    else:
        handles, labels = [], []
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        axes[0].legend(handles, labels, fontsize=7)
    return _finish(fig, title, source)


def fig_differences(diffs: pd.DataFrame, metrics: Sequence[str], source: str,
                    title: str = "Paired difference from the baseline, with 95 % CI",
                    scenarios: Sequence[str] | None = None, ncols: int = 3) -> Figure:
    """Scenario-minus-baseline mean difference by year with its CI band, one line per scenario."""
    metrics = [m for m in metrics if m not in missing(diffs, metrics)]
    if not metrics:
        raise MissingData("none of the metrics of this figure is in the differences table")
    order = _order(diffs, scenarios)
    col = _colours([diffs["baseline"].iloc[0], *order]) if "baseline" in diffs else _colours(order)
    fig, axes = _figure(len(metrics), ncols)
    for ax, metric in zip(axes, metrics):
        for s in order:
            d = diffs[(diffs["scenario"] == s) & (diffs["metric"] == metric)].sort_values("year")
            if d.empty:
                continue
            ax.fill_between(d["year"], d["ci_low"], d["ci_high"], color=col[s], alpha=0.22, linewidth=0)
            ax.plot(d["year"], d["diff"], color=col[s], marker="o", markersize=2.5, linewidth=1.4, label=f"{s} - {d['baseline'].iloc[0]}")
        ax.axhline(0.0, color="0.2", linewidth=0.8)
        ax.set_title(UNITS.get(metric, (metric,))[0], fontsize=10)
        ax.set_ylabel(f"difference ({unit(metric)})")
        ax.set_xlabel("year")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _finish(fig, title, source)


def fig_flow_map(provinces: pd.DataFrame, capacity: pd.DataFrame, flows: pd.DataFrame, source: str, year: int,
                 scenarios: Sequence[str] | None = None, top: int = 30) -> Figure:
    """Provinces on lon/lat as points sized by DC capacity (MW), arrows for inter-region flows (PFLOP-h/yr).

    ``provinces``: code, lon, lat, region. ``capacity``: scenario, code, capacity_mw (mean over seeds).
    ``flows``: scenario, origin, destination, pflop_h (mean over seeds). The ``top`` largest
    flows between provinces of different regions are drawn, width proportional to volume.
    """
    if capacity is None or capacity.empty or flows is None or flows.empty:
        raise MissingData("the flow map needs the datacentres and flows panels")
    order = _order(capacity, scenarios)
    fig, axes = _figure(len(order), ncols=min(3, len(order)), panel_size=(5.2, 4.4))
    pos = provinces.set_index("code")
    region = pos["region"]
    rcol = {"east": "#1f77b4", "central": "#ff7f0e", "northeast": "#9467bd", "west": "#2ca02c"}
    inter = flows[flows["origin"].map(region).ne(flows["destination"].map(region))]
    inter = inter[inter["origin"] != inter["destination"]]
    vmax = max(inter["pflop_h"].max() if not inter.empty else 0.0, 1e-9)
    cmax = max(capacity["capacity_mw"].max(), 1e-9)
    for ax, s in zip(axes, order):
        cap = capacity[capacity["scenario"] == s].set_index("code")["capacity_mw"].reindex(pos.index).fillna(0.0)
        ax.scatter(pos["lon"], pos["lat"], s=8 + 600 * cap / cmax, c=[rcol.get(r, "0.5") for r in region],
                   alpha=0.55, edgecolors="0.2", linewidths=0.4, zorder=2)
        for code, row in pos.iterrows():
            ax.annotate(code, (row["lon"], row["lat"]), fontsize=6, ha="center", va="center", zorder=4)
        f = inter[inter["scenario"] == s].nlargest(top, "pflop_h")
        for _, r in f.iterrows():
            a, b = pos.loc[r["origin"]], pos.loc[r["destination"]]
            ax.annotate("", xy=(b["lon"], b["lat"]), xytext=(a["lon"], a["lat"]), zorder=3,
                        arrowprops=dict(arrowstyle="-|>", color="#c0392b", alpha=0.65,
                                        lw=0.4 + 4.0 * r["pflop_h"] / vmax, shrinkA=3, shrinkB=3,
                                        connectionstyle="arc3,rad=0.12", mutation_scale=8))
        total = inter.loc[inter["scenario"] == s, "pflop_h"].sum()
        ax.set_title(f"{s}: inter-region flow {total:.3g} PFLOP-h", fontsize=10)
        ax.set_xlabel("longitude (deg E)")
        ax.set_ylabel("latitude (deg N)")
        ax.set_aspect(1.0 / np.cos(np.deg2rad(32.0)))
        ax.grid(alpha=0.25)
    handles = [axes[0].scatter([], [], s=40, c=c, alpha=0.55, label=r) for r, c in rcol.items()]
    handles.append(axes[0].scatter([], [], s=8 + 600 * 0.5, c="none", edgecolors="0.2", label=f"{cmax / 2:.3g} MW"))
    axes[0].legend(handles=handles, fontsize=7, loc="lower left", title="region / DC capacity", title_fontsize=7)
    return _finish(fig, f"Inter-region compute flows and DC capacity, {year} (arrows: PFLOP-h/yr, points: MW)", source)


def fig_prices(prices: pd.DataFrame, provinces: pd.DataFrame, source: str, year: int,
               scenarios: Sequence[str] | None = None) -> Figure:
    """Served-weighted compute price by province (node), grouped by region, one bar per scenario."""
    if prices is None or prices.empty:
        raise MissingData("the price figure needs the datacentres panel")
    order = _order(prices, scenarios)
    col = _colours(order)
    region = provinces.set_index("code")["region"]
    codes = sorted(prices["code"].unique(), key=lambda c: (REGIONS.index(region.get(c, "west")) if region.get(c) in REGIONS else 9, c))
    fig, (ax,) = _figure(1, 1, panel_size=(13.0, 4.2))
    x = np.arange(len(codes))
    w = 0.8 / len(order)
    for i, s in enumerate(order):
        v = prices[prices["scenario"] == s].set_index("code")["price_cny_per_pflop_h"].reindex(codes)
        ax.bar(x + (i - (len(order) - 1) / 2) * w, v, width=w, color=col[s], label=s)
    ax.set_xticks(x, [f"{c}\n{region.get(c, '')[:1].upper()}" for c in codes], fontsize=7)
    ax.set_ylabel("price (CNY per PFLOP-h)")
    ax.set_xlabel("province (E east, C central, N northeast, W west)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _finish(fig, f"Compute price by node, {year} (served-weighted mean over data centres and seeds)", source)


def fig_energy(bands: pd.DataFrame, source: str, headroom: pd.DataFrame | None = None,
               scenarios: Sequence[str] | None = None) -> Figure:
    """DC electricity, its cost and carbon by scenario (mean and 5-95 % band); eastern grid-headroom cuts when given.

    ``headroom``: scenario, region, year, mean, p05, p95 of the MW of data-centre load the grid refused.
    """
    metrics = [m for m in ENERGY if m not in missing(bands, ENERGY)]
    if not metrics:
        raise MissingData("none of dc_electricity_twh, energy_cost_bn_cny, dc_carbon_mt is in the summary")
    order = _order(bands, scenarios)
    col = _colours(order)
    if "east_headroom_cut_mw" in set(bands["metric"]):
        metrics.append("east_headroom_cut_mw")
        headroom = None
    with_cuts = headroom is not None and not headroom.empty
    fig, axes = _figure(len(metrics) + with_cuts, ncols=4)
    for ax, metric in zip(axes, metrics):
        _path_panel(ax, bands, metric, order, col)
    if with_cuts:
        east = headroom[headroom["region"] == "east"].assign(metric="headroom_cut_mw")
        _path_panel(axes[-1], east, "headroom_cut_mw", order, col)
        axes[-1].set_title("Eastern grid-headroom cuts", fontsize=10)
        axes[-1].set_ylabel("DC load refused (MW)")
    axes[0].legend(fontsize=8, title="mean, 5-95 % band", title_fontsize=8)
    return _finish(fig, "DC electricity, electricity cost and carbon", source)


def fig_outcomes(outcomes: pd.DataFrame, source: str, scenarios: Sequence[str] | None = None) -> Figure:
    """Study outcomes (GDP, TFP, EXPY) by region: ensemble mean by year, one line per scenario.

    ``outcomes``: scenario, outcome, region, year, mean, p05, p95.
    """
    if outcomes is None or outcomes.empty:
        raise MissingData("the outcome figure needs the provinces, study_provinces or study_firms panels")
    order = _order(outcomes, scenarios)
    col = _colours(order)
    names = list(dict.fromkeys(outcomes["outcome"]))
    regions = [r for r in REGIONS if r in set(outcomes["region"])]
    fig = Figure(figsize=(3.4 * len(regions), 2.6 * len(names) + 0.9))
    _layout(fig)
    axes = fig.subplots(len(names), len(regions), squeeze=False)
    for i, name in enumerate(names):
        for j, r in enumerate(regions):
            ax = axes[i][j]
            for s in order:
                d = outcomes[(outcomes["scenario"] == s) & (outcomes["outcome"] == name) & (outcomes["region"] == r)].sort_values("year")
                ax.fill_between(d["year"], d["p05"], d["p95"], color=col[s], alpha=0.15, linewidth=0)
                ax.plot(d["year"], d["mean"], color=col[s], linewidth=1.4, label=s)
            ax.set_title(f"{r}", fontsize=9)
            if j == 0:
                ax.set_ylabel(name, fontsize=8)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    return _finish(fig, "Study outcomes by region: GDP (sum), lnTFP and EXPY (means); band 5-95 % across seeds", source)


def fig_utilisation_map(provinces: pd.DataFrame, capacity: pd.DataFrame, utilisation: pd.DataFrame,
                        flows: pd.DataFrame, source: str, year: int, top: int = 25) -> Figure:
    """One state of the system on the map: provinces on lon/lat sized by DC capacity (MW), coloured by
    utilisation (share of capacity), and arrows for the largest east->west flows (PFLOP-h/yr).

    ``provinces``: code, lon, lat, region. ``capacity``: code, capacity_mw. ``utilisation``: code,
    utilisation. ``flows``: origin, destination, pflop_h (one scenario, one year).
    """
    if capacity is None or capacity.empty:
        raise MissingData("the map needs the datacentres panel")
    pos = provinces.set_index("code")
    region = pos["region"]
    cap = capacity.set_index("code")["capacity_mw"].reindex(pos.index).fillna(0.0)
    util = (utilisation.set_index("code")["utilisation"].reindex(pos.index) if utilisation is not None and not utilisation.empty
            else pd.Series(np.nan, index=pos.index))
    cmax = max(float(cap.max()), 1e-9)
    fig, (ax,) = _figure(1, 1, panel_size=(7.0, 5.2))
    sc = ax.scatter(pos["lon"], pos["lat"], s=10 + 700 * cap / cmax, c=util.to_numpy(float), cmap="viridis", vmin=0.0, vmax=1.0,
                    alpha=0.8, edgecolors="0.2", linewidths=0.4, zorder=2, plotnonfinite=True)
    for code, row in pos.iterrows():
        ax.annotate(code, (row["lon"], row["lat"]), fontsize=6, ha="center", va="center", zorder=4)
    ew = pd.DataFrame(columns=["origin", "destination", "pflop_h"]) if flows is None else flows
    ew = ew[(ew["origin"].map(region) == "east") & (ew["destination"].map(region) == "west")]
    ew = ew.groupby(["origin", "destination"], as_index=False)["pflop_h"].sum().nlargest(top, "pflop_h")
    vmax = max(float(ew["pflop_h"].max()) if not ew.empty else 0.0, 1e-9)
    for _, r in ew.iterrows():
        a, b = pos.loc[r["origin"]], pos.loc[r["destination"]]
        ax.annotate("", xy=(b["lon"], b["lat"]), xytext=(a["lon"], a["lat"]), zorder=3,
                    arrowprops={"arrowstyle": "-|>", "color": "#c0392b", "alpha": 0.7, "lw": 0.4 + 4.0 * r["pflop_h"] / vmax,
                                "shrinkA": 3, "shrinkB": 3, "connectionstyle": "arc3,rad=0.12", "mutation_scale": 8})
    # the colour bar sits in an inset of the map, so it follows the map under any layout (constrained or fixed margins)
    fig.colorbar(sc, cax=ax.inset_axes((1.04, 0.1, 0.04, 0.8)), label="DC utilisation (share of capacity)")
    ax.scatter([], [], s=10 + 700 * 0.5, c="none", edgecolors="0.2", label=f"{cmax / 2:.3g} MW")
    ax.legend(fontsize=7, loc="lower left", title="DC capacity", title_fontsize=7)
    ax.set_title(f"east->west flow {ew['pflop_h'].sum():.3g} PFLOP-h (largest {len(ew)} pairs drawn)", fontsize=9)
    ax.set_xlabel("longitude (deg E)")
    ax.set_ylabel("latitude (deg N)")
    ax.set_aspect(1.0 / np.cos(np.deg2rad(32.0)))
    ax.grid(alpha=0.25)
    return _finish(fig, f"Data-centre capacity, utilisation and east->west flows, {year}", source)
