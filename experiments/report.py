"""The report of a scenario comparison: figures as PNG, ``report.md`` and a self-contained ``report.html``.

``write_report(result)`` turns a ``CompareResult`` into the figures of ``experiments.figures``
(saved under ``OUT/figures``), a Markdown report that links them and an HTML report that embeds
them as base64, so it can be mailed as one file. A figure whose data are absent is skipped with
a note saying which panel or column was missing.
"""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import figures as F

SEED_003_SIGNS = {
    "west_utilisation": (-1, "western data centres sit idle without the programme (east short of power, west idle)"),
    "east_to_west_pflop_h": (-1, "no east-to-west scheduling without the programme"),
    "west_hosted_pflop_h": (-1, "under the programme the west takes on eastern demand; without it western data centres serve local demand only"),
    "energy_cost_bn_cny": (+1, "eastern power is dearer than the west's renewable-rich supply"),
    "dc_carbon_mt": (+1, "the programme's green western power lowers DC carbon"),
}


DESIGNATION_YEAR = 2022


@dataclass
class Panel:
    """One figure of the report, or the note of why it is missing."""

    name: str
    caption: str
    png: bytes | None = None
    note: str = ""


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def _write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _seed_bands(df: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    g = df.groupby(keys, sort=False)[value]
    return pd.DataFrame({"mean": g.mean(), "p05": g.quantile(0.05), "p95": g.quantile(0.95)}).reset_index()


def provinces_table() -> pd.DataFrame:
    """Province code, region and capital coordinates (deg) from the world tables."""
    from sim.world import World

    p = World.load().provinces
    return pd.DataFrame({"code": p["code"].to_numpy(), "region": p["region"].to_numpy(),
                         "lon": p["capital_lon_deg"].to_numpy(float), "lat": p["capital_lat_deg"].to_numpy(float)})


def figure_inputs(result) -> dict[str, pd.DataFrame]:
    """Seed-averaged tables the panel figures take, from the seed-level extracts of a comparison."""
    n = len(result.seeds)
    p = result.panels
    out: dict[str, pd.DataFrame] = {}
    if "flows" in p:
        out["flows"] = (p["flows"].groupby(["scenario", "origin", "destination"], as_index=False)["pflop_h"].sum()
                        .assign(pflop_h=lambda d: d["pflop_h"] / n))
    if "capacity" in p:
        out["capacity"] = p["capacity"].groupby(["scenario", "code"], as_index=False)["capacity_mw"].mean()
    if "prices" in p:
        out["prices"] = p["prices"].groupby(["scenario", "code"], as_index=False)["price_cny_per_pflop_h"].mean()
    if "headroom" in p:
        out["headroom"] = _seed_bands(p["headroom"], ["scenario", "region", "year"], "headroom_cut_mw")
    if "outcomes" in p:
        out["outcomes"] = _seed_bands(p["outcomes"], ["scenario", "outcome", "region", "year"], "value")
    return out


def build_panels(result) -> list[Panel]:
    """Every figure of the report, drawn from the comparison's tables."""
    bands, diffs = result.bands, result.differences
    order = result.scenarios
    year = int(result.runs["year"].max())
    src = result.source()
    inputs = figure_inputs(result)
    prov = provinces_table()
    panels: list[Panel] = []

    def add(name: str, caption: str, draw, wanted=()):
        absent = [m for m in wanted if m not in set(bands["metric"])]
        note = f"not in the summary panel: {', '.join(absent)}" if absent else ""
        try:
            fig = draw()
        except F.MissingData as err:
            panels.append(Panel(name, caption, None, f"skipped: {err}"))
            return
        panels.append(Panel(name, caption, _png(fig), note))

    key = [m for m in ("west_utilisation", "east_to_west_pflop_h", "energy_cost_bn_cny", "dc_carbon_mt",
                       "dc_electricity_twh", "racks_million", "unserved_share", "inference_latency_ms",
                       "west_hub_utilisation", "gdp_bn_cny") if m in set(bands["metric"])]
    add("paths", "Ensemble mean and 5-95 % band across seeds of the headline metrics, by scenario.",
        lambda: F.fig_paths(bands, key, src, "Headline paths by scenario (mean and 5-95 % band across seeds)", order))
    add("differences", f"Scenario minus {result.baseline}, paired by seed, with the 95 % "
        f"{'paired t' if result.ci == 't' else 'BCa bootstrap'} CI of the mean difference.",
        lambda: F.fig_differences(diffs, key, src, f"Paired differences from {result.baseline} with 95 % CI", order[1:]))
    add("flow_map", f"Provinces at their capitals' coordinates, sized by DC capacity (MW) in {year}; "
        "arrows: the largest flows of work between provinces of different regions (mean over seeds).",
        lambda: F.fig_flow_map(prov, inputs.get("capacity"), inputs.get("flows"), src, year, order))
    add("utilisation", "Western-hub, western, eastern and national utilisation of DC capacity.",
        lambda: F.fig_paths(bands, F.UTILISATION, src, "Utilisation of data-centre capacity by region", order, ncols=3),
        F.UTILISATION)
    add("energy_carbon", "DC electricity, its cost and carbon; eastern grid-headroom cuts where the power panel has them.",
        lambda: F.fig_energy(bands, src, inputs.get("headroom"), order), F.ENERGY)
    if "headroom" not in inputs and "east_headroom_cut_mw" not in set(bands["metric"]):
        panels[-1].note = "; ".join(x for x in (panels[-1].note, "no headroom_cut_mw column in the power panel") if x)
    add("prices", f"Compute price by node in {year}, weighted by the work each data centre served.",
        lambda: F.fig_prices(inputs.get("prices"), prov, src, year, order))
    service = F.service_metrics(bands)
    add("service", "Unserved demand, SLA violations (latency-bound work served beyond its bound or not served), "
        "mean inference latency and p99 latency of latency-bound work.",
        lambda: F.fig_paths(bands, service, src, "Unserved demand and latency", order), F.SERVICE)
    if not any(p in m for m in service for p in ("violation", "sla")):
        what = ("latency-bound work is shown as the unserved share of interactive and inference demand (provinces panel); "
                if "latency_bound_unserved_share" in service else "")
        panels[-1].note = "; ".join(x for x in (panels[-1].note, what + "no latency-bound violation (SLA) column in the summary panel yet") if x)
    add("outcomes", "Study outcomes by region: GDP (sum of provinces), lnTFP (province mean), EXPY (firm mean).",
        lambda: F.fig_outcomes(inputs.get("outcomes"), src, order))
    return panels


def sign_check(result) -> pd.DataFrame:
    """no_hubs minus default for the metrics whose signs seed 003 describes, in the last year and over post-designation years."""
    if not {"default", "no_hubs"} <= set(result.scenarios):
        return pd.DataFrame()
    d = result.differences
    if result.baseline == "default":
        rows, flip = d[d["scenario"] == "no_hubs"], 1.0
    elif result.baseline == "no_hubs":
        rows, flip = d[d["scenario"] == "default"], -1.0
    else:
        return pd.DataFrame()
    last = int(rows["year"].max())
    base_cfg = result.configs.get("default")
    first = base_cfg.designation_year if base_cfg is not None else DESIGNATION_YEAR
    years = sorted({y for y in (first, last) if y in set(rows["year"])})
    out = []
    for metric, (sign, why) in SEED_003_SIGNS.items():
        post = rows[(rows["metric"] == metric) & (rows["year"] >= first)].dropna(subset=["diff"])
        share = float((np.sign(flip * post["diff"]) == sign).mean()) if len(post) else np.nan
        for year in years:
            r = rows[(rows["metric"] == metric) & (rows["year"] == year)]
            if r.empty or not np.isfinite(r["diff"].iloc[0]):
                continue
            r = r.iloc[0]
            lo, hi = sorted((flip * r["ci_low"], flip * r["ci_high"]))
            diff = flip * r["diff"]
            out.append({"metric": metric, "year": year, "no_hubs_minus_default": diff, "ci_low": lo, "ci_high": hi,
                        "expected_sign": "+" if sign > 0 else "-", "sign_matches": bool(np.sign(diff) == sign),
                        "ci_excludes_zero": bool(lo > 0 or hi < 0),
                        "share_of_years_from_designation_with_expected_sign": share, "seed_003": why})
    return pd.DataFrame(out)


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}" if np.isfinite(v) else ""
    return str(v)


def _md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def key_table(result, year: int | None = None) -> pd.DataFrame:
    """Difference [CI] of the headline metrics in one year, one row per scenario and metric."""
    d = result.differences
    year = year or int(d["year"].max())
    d = d[(d["year"] == year) & d["metric"].isin(F.UNITS)]
    return pd.DataFrame({"scenario": d["scenario"], "metric": d["metric"].map(F.label), "baseline": d["baseline_mean"],
                         "difference": d["diff"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
                         "CI excludes 0": d["significant"]}).reset_index(drop=True)


def _sections(result, panels: list[Panel]) -> list[tuple[str, str, object]]:
    """Report content as (kind, heading or text, payload) items shared by the Markdown and HTML writers."""
    years = result.runs["year"]
    items: list[tuple[str, str, object]] = [
        ("h1", f"SuanLi scenario comparison: {', '.join(result.scenarios[1:])} vs {result.baseline}", None),
        ("p", f"Baseline {result.baseline}; {len(result.seeds)} seeds ({', '.join(map(str, result.seeds))}) shared by every "
              f"scenario (common random numbers); years {int(years.min())}-{int(years.max())}. Differences are "
              f"scenario minus baseline, paired by seed; CIs are 95 % "
              f"{'paired t intervals' if result.ci == 't' else 'BCa bootstrap intervals (9999 resamples)'} of the mean difference.", None),
    ]
    checks = sign_check(result)
    if not checks.empty:
        items.append(("h2", "Seed 003's facts: no_hubs minus default", None))
        items.append(("p", "Signs that seed 003 describes for the East-Data-West-Computing programme, read as what "
                           "its absence changes, in the designation year and the last year; `sign_matches` compares the mean "
                           "paired difference with the expected sign, and the share column counts the years from designation on "
                           "whose mean difference has the expected sign. Hub utilisation is undefined without hubs, so it is not in the table.", None))
        items.append(("table", "", checks))
    last = int(years.max())
    items.append(("h2", f"Differences in {last}", None))
    items.append(("table", "", key_table(result, last)))
    items.append(("h2", "Figures", None))
    for p in panels:
        items.append(("h3", p.name.replace("_", " "), None))
        if p.png is not None:
            items.append(("figure", p.caption, p))
        if p.note:
            items.append(("p", f"Note: {p.note}.", None))
    if result.notes:
        items.append(("h2", "Notes on the data", None))
        for n in result.notes:
            items.append(("p", n, None))
    items.append(("h2", "Tables", None))
    items.append(("p", "tables/differences.{parquet,csv}: every metric's paired difference by scenario and year with its CI; "
                       "tables/bands.*: mean and 5-95 % band by scenario; tables/runs.*: every seed's summary (long); "
                       "tables/panel_*.*: the seed-level extracts behind the map, prices and outcomes.", None))
    return items


def to_markdown(items) -> str:
    out = []
    for kind, text, payload in items:
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + text)
        elif kind == "p":
            out.append(text)
        elif kind == "table":
            out.append(_md_table(payload))
        elif kind == "figure":
            out.append(f"![{payload.name}](figures/{payload.name}.png)\n\n*{text}*")
    return "\n\n".join(out) + "\n"


def to_html(items, title: str) -> str:
    css = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
           "table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
           "th{background:#f0f0f0}img{max-width:100%}figcaption{font-style:italic;font-size:0.9em}")
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{css}</style></head><body>"]
    for kind, text, payload in items:
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{html.escape(text)}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{html.escape(text)}</p>")
        elif kind == "table":
            df = payload.copy()
            for c in df.columns:
                df[c] = df[c].map(_fmt)
            out.append(df.to_html(index=False, escape=True, border=0))
        elif kind == "figure":
            b64 = base64.b64encode(payload.png).decode("ascii")
            out.append(f"<figure><img alt='{payload.name}' src='data:image/png;base64,{b64}'>"
                       f"<figcaption>{html.escape(text)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(result) -> Path:
    """Figures, ``report.md`` and ``report.html`` under ``result.out``; returns the HTML path."""
    out = Path(result.out)
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    panels = build_panels(result)
    for p in panels:
        if p.png is not None:
            _write_bytes(figdir / f"{p.name}.png", p.png)
    items = _sections(result, panels)
    checks = sign_check(result)
    if not checks.empty:
        from experiments.ensemble import write_atomic

        write_atomic(checks, out / "tables" / "seed003_signs")
    _write_bytes(out / "report.md", to_markdown(items).encode("utf-8"))
    _write_bytes(out / "report.html", to_html(items, items[0][1]).encode("utf-8"))
    return out / "report.html"
