"""The live page's views: each a function of the ``DashboardModel`` that SolaraViz re-renders after
every simulated year. Figures come from ``experiments.figures`` (the report's functions), fed
with the same table layouts that ``experiments.compare`` writes, built here from the one live run.
"""

from __future__ import annotations

import functools
import html
import io
import logging
import math
import traceback
from collections.abc import Callable

import numpy as np
import pandas as pd
import solara

from experiments import figures as F
from experiments.dashboard import timing

log = logging.getLogger(__name__)
DPI = 72
NATIONAL = ("racks_million", "eflops_general", "eflops_intelligent", "dc_electricity_twh", "dc_carbon_mt",
            "unserved_share", "inference_latency_ms")
SUMMARY_ORDER = ("racks_million", "data_centres", "eflops_general", "eflops_intelligent", "intelligent_share",
                 "dc_electricity_twh", "dc_electricity_share", "dc_carbon_mt", "demand_pflop_h", "unserved_share",
                 "east_to_west_pflop_h", "west_utilisation", "mean_utilisation", "inference_latency_ms",
                 "energy_cost_bn_cny", "transfer_cost_bn_cny", "dc_revenue_bn_cny")
MACRO_TARGETS = {  # calibration/targets.csv id -> (summary metric, year it refers to)
    "p4_dc_power_2023_twh": ("dc_electricity_twh", 2023),
    "p2_dc_power_2024_twh": ("dc_electricity_twh", 2024),
    "p4_racks_2023_million": ("racks_million", 2023),
    "p2_racks_2025q1_million": ("racks_million", 2025),
    "p2_intelligent_eflops_2025q1": ("eflops_intelligent", 2025),
    "p4_intelligent_share": ("intelligent_share", 2023),
}


@functools.lru_cache(maxsize=1)
def macro_targets() -> pd.DataFrame:
    """The published national figures as (metric, year, value, label), from ``calibration/targets.csv``."""
    from calibration.targets import load_targets

    t = load_targets()
    rows = [{"metric": metric, "year": year, "value": float(t.loc[tid, "value"]), "label": str(t.loc[tid, "statistic"]),
             "id": tid} for tid, (metric, year) in MACRO_TARGETS.items() if tid in t.index]
    return pd.DataFrame(rows, columns=["metric", "year", "value", "label", "id"])


# ----- the live run as the tables of experiments.compare ------------------------------------------------
def run_label(model) -> str:
    return f"{model.scenario.name}, seed {model.seed_value}"


def _hours() -> float:
    from sim import snapshots

    return float(snapshots.HOURS_PER_YEAR)


def live_bands(model) -> pd.DataFrame:
    """The summary panel so far in the ``bands`` layout (scenario, metric, year, mean, p05, p95, n) of one run
    (built once per year: the national and utilisation views share it)."""
    return model.cached("live_bands", lambda: _live_bands(model))


def _live_bands(model) -> pd.DataFrame:
    s = model.summary()
    metrics = [c for c in s.columns if c != "year" and pd.api.types.is_numeric_dtype(s[c])]
    long = s.melt(id_vars=["year"], value_vars=metrics, var_name="metric", value_name="value")
    long["value"] = long["value"].astype(float)
    return long.assign(scenario=run_label(model), mean=long["value"], p05=long["value"], p95=long["value"], n=1)[
        ["scenario", "metric", "year", "mean", "p05", "p95", "n"]]


def live_capacity(model) -> pd.DataFrame:
    """DC capacity by province in the last year (MW at full load of the standard rack), ``capacity`` layout."""
    dc = model.datacentres()
    y = dc[dc["year"] == model.year]
    cap = y.groupby("province", as_index=False)["racks"].sum()
    cap["capacity_mw"] = cap.pop("racks") * float(model.sim.params.datacentre.rack_kw) / 1000.0
    return cap.rename(columns={"province": "code"}).assign(scenario=run_label(model))


def live_flows(model) -> pd.DataFrame:
    """Origin-destination work of the last year summed over kinds (PFLOP-h), ``flows`` layout."""
    fl = model.flows()
    out = fl.groupby(["origin", "destination"], as_index=False)["pflop_h"].sum()
    return out.assign(scenario=run_label(model))


def live_utilisation(model) -> pd.DataFrame:
    """DC utilisation by province in the last year: work hosted over capacity x hours (share)."""
    pv = model.provinces()
    y = pv[pv["year"] == model.year]
    cap = (y["pflops_general"] + y["pflops_intelligent"]) * _hours()
    return pd.DataFrame({"code": y["code"].to_numpy(),
                         "utilisation": np.where(cap > 0, y["hosted_pflop_h"] / cap.where(cap > 0, 1.0), np.nan)})


def live_prices(model) -> pd.DataFrame:
    """Served-weighted compute price by province in the last year (CNY per PFLOP-h), ``prices`` layout."""
    dc = model.datacentres()
    y = dc[dc["year"] == model.year]
    w = y.assign(pv=y["price_cny_per_pflop_h"] * y["served_pflop_h"])
    pr = w.groupby("province", as_index=False)[["pv", "served_pflop_h"]].sum()
    pr = pr[pr["served_pflop_h"] > 0]
    pr["price_cny_per_pflop_h"] = pr["pv"] / pr["served_pflop_h"]
    return pr.rename(columns={"province": "code"})[["code", "price_cny_per_pflop_h"]].assign(scenario=run_label(model))


def live_outcomes(model) -> pd.DataFrame:
    """GDP (sum) and lnTFP (mean) by region and year, ``outcomes`` layout (mean = p05 = p95 for one run)."""
    pv = model.provinces()
    parts = [pv.groupby(["year", "region"], as_index=False)["gdp_bn_cny"].sum()
             .rename(columns={"gdp_bn_cny": "value"}).assign(outcome="GDP (bn CNY)")]
    sp = model.study_provinces()
    if not sp.empty and "lnTFP" in sp.columns:
        parts.append(sp.groupby(["year", "region"], as_index=False)["lnTFP"].mean()
                     .rename(columns={"lnTFP": "value"}).assign(outcome="lnTFP (log points)"))
    out = pd.concat(parts, ignore_index=True)
    return out.assign(scenario=run_label(model), mean=out["value"], p05=out["value"], p95=out["value"])


UTILISATION_LINES = {"hub_utilisation": "western hubs", "west_utilisation": "west", "east_utilisation": "east",
                     "mean_utilisation": "national"}


def utilisation_lines(model) -> pd.DataFrame:
    """Utilisation paths of one run as lines of one panel: ``bands`` with scenario = which capacity."""
    b = live_bands(model)
    b = b[b["metric"].isin(UTILISATION_LINES)]
    return b.assign(scenario=b["metric"].map(UTILISATION_LINES), metric="dc_utilisation")


def region_lines(model) -> pd.DataFrame:
    """GDP and lnTFP by region as ``bands`` with scenario = region, one panel per outcome."""
    o = live_outcomes(model)
    names = {"GDP (bn CNY)": "gdp_bn_cny", "lnTFP (log points)": "lnTFP"}
    return o.assign(scenario=o["region"], metric=o["outcome"].map(names))[["scenario", "metric", "year", "mean", "p05", "p95"]]


@functools.lru_cache(maxsize=1)
def provinces_table() -> pd.DataFrame:
    """The report's province table (code, region, lon, lat), read once per server."""
    from experiments.report import provinces_table as table

    return table()


def source(model) -> str:
    return f"Source: SuanLi simulation (live dashboard), scenario {model.scenario.name}, seed {model.seed_value}"


# ----- components -------------------------------------------------------------------------------------
# Inches kept free around each view's grid of panels (left, right, bottom, top) and between its panels
# (columns, rows): fixed margins instead of the report's constrained layout, which costs one more draw.
MARGINS = {
    "map": (0.75, 1.3, 0.75, 0.75, 0.0, 0.0),
    "national": (0.95, 0.2, 0.85, 0.95, 1.05, 1.25),
    "utilisation": (0.75, 0.2, 0.85, 0.8, 0.0, 0.0),
    "prices": (0.85, 0.2, 1.05, 0.65, 0.0, 0.0),
    "outcomes": (0.95, 0.2, 0.85, 0.8, 1.0, 0.0),
}


def fix_layout(fig, left: float, right: float, bottom: float, top: float, wspace: float = 0.0, hspace: float = 0.0) -> None:
    """Place the figure's grid of panels with the given margins and gaps (inches) and switch its layout engine off."""
    width, height = fig.get_size_inches()
    fig.set_layout_engine(None)
    panels = [ax for ax in fig.axes if ax.get_subplotspec() is not None]  # insets (the map's colour bar) follow theirs
    for grid in {ax.get_subplotspec().get_gridspec() for ax in panels}:
        nrows, ncols = grid.get_geometry()
        panel_w = (width - left - right - (ncols - 1) * wspace) / ncols
        panel_h = (height - bottom - top - (nrows - 1) * hspace) / nrows
        grid.update(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                    wspace=wspace / panel_w, hspace=hspace / panel_h)
    for ax in panels:  # GridSpec.update moves the axes of pyplot's figures only
        ax.set_position(ax.get_subplotspec().get_position(fig))


def png(fig, margins: tuple[float, ...] | None = None) -> bytes:
    """A figure as PNG bytes (Agg, no pyplot state), laid out with ``margins`` (see ``MARGINS``) if given."""
    if margins is not None:
        fix_layout(fig, *margins)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def figure_png(model, name: str, build: Callable) -> tuple[bytes | None, str | None]:
    """(PNG, None) of view ``name`` for the model's last year, or (None, note) if it cannot be drawn.

    Drawn once per simulated year and kept on the model, so a tab opened again shows it at once.
    """
    def render():
        if model.sim is None or model.year is None:
            return None, None
        try:
            with timing.phase("figure", view=name, year=model.year):
                fig = build(model)
            with timing.phase("png", view=name, year=model.year):
                return png(fig, MARGINS.get(name)), None
        except F.MissingData as err:
            return None, f"{name}: {err}"
        except Exception as err:  # noqa: BLE001 - a failing figure must not take the page down
            log.error("figure %s failed:\n%s", name, traceback.format_exc())
            return None, f"{name} could not be drawn: {type(err).__name__}: {err}"

    return model.cached(("png", name), render)


@solara.component
def FigureView(model, build: Callable, name: str, steps: int = 0):
    """One figure of the live run; ``steps`` (the model's step count) makes it re-render after every year."""
    image, note = figure_png(model, name, build)
    with solara.Column(classes=["suanli-fig", f"suanli-view-{name}", f"suanli-fig-{model.year}"]):
        if image is not None:
            solara.Image(image, width="100%", classes=[f"suanli-img-{model.year}"])
        elif note:
            solara.Warning(note)
        else:
            solara.Info(f"{name}: press Step to simulate the first year.")


def _figure_component(name: str, build: Callable):
    def view(model):
        return FigureView(model, build, name, steps=model.steps)

    view.__name__ = f"{name}_view"
    return view


def _map(model):
    return F.fig_utilisation_map(provinces_table(), live_capacity(model), live_utilisation(model), live_flows(model),
                                 source(model), model.year)


def _national(model):
    return F.fig_paths(live_bands(model), NATIONAL, source(model), "National paths (published figures marked)",
                       ncols=4, targets=macro_targets())


def _utilisation(model):
    return F.fig_paths(utilisation_lines(model), ["dc_utilisation"], source(model),
                       "Utilisation of DC capacity by region", ncols=1)


def _prices(model):
    return F.fig_prices(live_prices(model), provinces_table(), source(model), model.year)


def _outcomes(model):
    return F.fig_paths(region_lines(model), ["gdp_bn_cny", "lnTFP"], source(model),
                       "GDP (sum of provinces) and lnTFP (province mean) by region", scenarios=F.REGIONS, ncols=2)


MapView = _figure_component("map", _map)
NationalView = _figure_component("national", _national)
UtilisationView = _figure_component("utilisation", _utilisation)
PricesView = _figure_component("prices", _prices)
OutcomesView = _figure_component("outcomes", _outcomes)


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return f"{v:,.4g}" if math.isfinite(v) else "n/a"
    return str(v)


def summary_html(row: dict) -> str:
    """The year's summary as an HTML table; each value cell carries its exact value in ``data-value``."""
    keys = [k for k in SUMMARY_ORDER if k in row] + [k for k in row if k not in SUMMARY_ORDER and k not in ("year", "policy")]
    cells = []
    for k in keys:
        v = row[k]
        exact = repr(float(v)) if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) else str(v)
        cells.append(f'<tr><td>{html.escape(F.label(k))}</td><td class="value" data-metric="{html.escape(k)}" '
                     f'data-value="{html.escape(exact)}" style="text-align:right">{html.escape(_fmt(v))}</td></tr>')
    return ('<table class="suanli-summary" style="border-collapse:collapse;font-size:13px">'
            '<thead><tr><th style="text-align:left">metric (unit)</th><th style="text-align:right">value</th></tr></thead>'
            f'<tbody>{"".join(cells)}</tbody></table>')


def settings_html(settings: pd.DataFrame) -> str:
    rows = "".join(f'<tr><td>{html.escape(str(name))}</td><td data-setting="{html.escape(str(name))}">'
                   f'{html.escape(_fmt(value))}</td><td style="color:#666">{html.escape(str(origin))}</td></tr>'
                   for name, value, origin in zip(settings["setting"], settings["value"], settings["from"]))
    return ('<table class="suanli-settings" style="font-size:12px"><thead><tr><th>setting</th><th>value</th><th>from</th>'
            f'</tr></thead><tbody>{rows}</tbody></table>')


def committed_html(values: dict, running: dict) -> str:
    """The control values the server holds for the next Reset (``values``), against those of the running model.

    Each control is echoed as ``<span data-control=NAME data-value=TEXT>`` (``session.control_text``), so a
    browser can wait until a moved control has reached the server; the text lists what Reset would change.
    """
    from experiments.dashboard.session import CONTROLS, clean_value, control_text

    spans, changes = [], []
    for c in CONTROLS:
        if c.name not in values:
            continue
        text = control_text(clean_value(c.name, values[c.name]))
        spans.append(f'<span data-control="{c.name}" data-value="{html.escape(text)}"></span>')
        if c.name in running and text != control_text(clean_value(c.name, running[c.name])):
            changes.append(f"{html.escape(c.label)} = {html.escape(text)}")
    note = ("Reset applies: " + "; ".join(changes)) if changes else "The run uses these controls."
    return f'<div class="suanli-committed" style="font-size:12px;color:#555">{"".join(spans)}{note}</div>'


@solara.component
def CommittedControls(committed: solara.Reactive, model):
    """``committed_html`` of the controls ModelCreator has committed (``committed``, the values Reset
    will use), under the controls; only this re-renders when a control moves."""
    solara.HTML(tag="div", unsafe_innerHTML=committed_html(committed.value, getattr(model, "controls", {})))


def SummaryView(model):
    """Messages, the year's national summary and the settings in force."""
    with solara.Column(classes=["suanli-view-summary"]) as main:
        if model.message:
            solara.Error(model.message, classes=["suanli-message"])
        if model.sim is not None:
            year = model.year
            row = model.summary_row()
            if year is None:
                solara.Info(f"{run_label(model)}: {model.sim.config.start_year}-{model.sim.config.end_year}, "
                            "nothing simulated yet; press Step.")
            else:
                solara.HTML(tag="div", unsafe_innerHTML=f'<h3 class="suanli-year" data-year="{year}">Year {year} · '
                            f'policy <span class="suanli-policy">{html.escape(str(row.get("policy", "")))}</span></h3>')
                main_keys = [k for k in SUMMARY_ORDER if k in row]
                solara.HTML(tag="div", unsafe_innerHTML=summary_html({k: row[k] for k in main_keys}))
                rest = {k: v for k, v in row.items() if k not in main_keys and k not in ("year", "policy")}
                if rest:
                    solara.Details("Served and unserved work by kind, routing costs",
                                   children=[solara.HTML(tag="div", unsafe_innerHTML=summary_html(rest))])
        if not model.settings.empty:
            solara.Details("Settings in force", expand=True,
                           children=[solara.HTML(tag="div", unsafe_innerHTML=settings_html(model.settings))])
    return main


# (view, tab): SolaraViz draws only the open tab, so a year costs the model plus two views
TABS = ("year and map", "national paths and utilisation", "prices and outcomes")
COMPONENTS = [(SummaryView, 0), (MapView, 0), (NationalView, 1), (UtilisationView, 1), (PricesView, 2), (OutcomesView, 2)]
VIEWS_BY_TAB = {0: ("map",), 1: ("national", "utilisation"), 2: ("prices", "outcomes")}
