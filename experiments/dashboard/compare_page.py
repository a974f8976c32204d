"""The dashboard's second page: two scenarios of a ``suanli compare`` run side by side, read from
its ``--out`` directory (``compare.json`` and ``tables/*.parquet``, as ``experiments.compare``
writes them), drawn with the report's own figures (``experiments.report.build_panels``).

The pair (A, B) is re-paired by seed from the per-seed ``runs`` table, so B - A has its own
paired CI even when neither scenario is the comparison's baseline.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import solara

from experiments.dashboard.cli import ENV_COMPARE as ENV_DIR

log = logging.getLogger(__name__)
PANEL_NAMES = ("flows", "capacity", "prices", "headroom", "outcomes")
KEY_METRICS = ("west_utilisation", "east_to_west_pflop_h", "energy_cost_bn_cny", "dc_carbon_mt", "dc_electricity_twh",
               "racks_million", "unserved_share", "inference_latency_ms", "hub_utilisation", "east_utilisation")


class CompareDirError(ValueError):
    """A directory that does not hold the results of ``suanli compare``."""


def load_compare(out: str | Path):
    """A ``CompareResult`` read back from a ``suanli compare --out`` directory."""
    from experiments.compare import CompareResult

    out = Path(out).expanduser()
    meta_path = out / "compare.json"
    if not meta_path.is_file():
        raise CompareDirError(f"Compare directory = {str(out)!r}: no compare.json there (write one with "
                              "`suanli compare A B --reps R --out DIR`)")
    meta = json.loads(meta_path.read_text())
    tables = out / "tables"
    need = {name: tables / f"{name}.parquet" for name in ("runs", "bands", "differences")}
    absent = [str(p) for p in need.values() if not p.is_file()]
    if absent:
        raise CompareDirError(f"Compare directory = {str(out)!r}: missing {', '.join(absent)}")
    runs, bands, diffs = (pd.read_parquet(p) for p in need.values())
    panels = {k: pd.read_parquet(tables / f"panel_{k}.parquet") for k in PANEL_NAMES if (tables / f"panel_{k}.parquet").is_file()}
    return CompareResult(list(meta["scenarios"]), [int(s) for s in meta["seeds"]], runs, bands, diffs,
                         meta.get("ci", "t"), out, panels)


def pair(result, a: str, b: str):
    """The comparison restricted to scenarios ``a`` (baseline) and ``b``, with B - A paired by seed."""
    from experiments.compare import paired_differences

    keep = [a, b]
    runs = result.runs[result.runs["scenario"].isin(keep)]
    diffs = paired_differences(runs, a, result.ci)
    panels = {k: v[v["scenario"].isin(keep)] for k, v in result.panels.items()}
    return replace(result, scenarios=keep, runs=runs, bands=result.bands[result.bands["scenario"].isin(keep)],
                   differences=diffs, panels=panels)


def side_by_side(sub, year: int | None = None) -> pd.DataFrame:
    """Headline metrics in one year: A mean, B mean, B - A and its 95 % CI (one row per metric)."""
    from experiments import figures as F

    a, b = sub.scenarios
    d = sub.differences
    year = year or int(d["year"].max())
    d = d[(d["year"] == year) & d["metric"].isin(KEY_METRICS)].set_index("metric")
    order = [m for m in KEY_METRICS if m in d.index]
    return pd.DataFrame({
        "metric": [F.label(m) for m in order],
        a: d.loc[order, "baseline_mean"].to_numpy(),
        b: d.loc[order, "scenario_mean"].to_numpy(),
        f"{b} - {a}": d.loc[order, "diff"].to_numpy(),
        "95 % CI low": d.loc[order, "ci_low"].to_numpy(),
        "95 % CI high": d.loc[order, "ci_high"].to_numpy(),
        "metric_id": order,
    })


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:,.4g}" if np.isfinite(v) else "n/a"
    return html.escape(str(v))


def table_html(df: pd.DataFrame, year: int) -> str:
    cols = [c for c in df.columns if c != "metric_id"]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        f'<tr data-metric="{html.escape(str(mid))}">' + "".join(f"<td>{_fmt(row[c])}</td>" for c in cols) + "</tr>"
        for mid, (_, row) in zip(df["metric_id"], df.iterrows()))
    return (f'<h3 class="suanli-compare-year">Year {year}</h3><table class="suanli-compare" style="font-size:13px">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


@solara.component
def ComparePage():
    """Pick a compare directory and two of its scenarios; see their figures and paired differences."""
    directory = solara.use_reactive(os.environ.get(ENV_DIR, "suanli_out/compare"))
    choice_a = solara.use_reactive("")
    choice_b = solara.use_reactive("")

    def load():
        try:
            return load_compare(directory.value), None
        except (CompareDirError, OSError, KeyError, ValueError) as err:
            return None, str(err)

    result, error = solara.use_memo(load, [directory.value])
    names = result.scenarios if result is not None else []
    a = choice_a.value if choice_a.value in names else (names[0] if names else "")
    b = choice_b.value if choice_b.value in names and choice_b.value != a else next((n for n in names if n != a), "")

    def build():
        if result is None or not a or not b:
            return None, None, []
        try:
            from experiments.report import build_panels

            sub = pair(result, a, b)
            year = int(sub.runs["year"].max())
            return sub, table_html(side_by_side(sub, year), year), build_panels(sub)
        except Exception as err:  # noqa: BLE001 - shown in the page; the server keeps serving
            log.error("compare page failed:\n%s", traceback.format_exc())
            return None, f"Could not compare {a} and {b}: {type(err).__name__}: {err}", []

    sub, table, panels = solara.use_memo(build, [id(result), a, b])

    with solara.Sidebar(), solara.Card("Comparison on disk"):
        solara.InputText("Compare directory (suanli compare --out)", value=directory, continuous_update=False)
        if names:
            solara.Select("Scenario A (baseline of the pair)", value=a, values=names, on_value=choice_a.set)
            solara.Select("Scenario B", value=b, values=[n for n in names if n != a], on_value=choice_b.set)
    with solara.Column(classes=["suanli-compare-page"]):
        solara.Markdown("## Two scenarios side by side")
        if error:
            solara.Error(error, classes=["suanli-message"])
            return
        if result is not None and len(names) < 2:
            solara.Error(f"Compare directory = {directory.value!r}: holds {len(names)} scenario; need two")
            return
        if sub is None:
            if table:
                solara.Error(table, classes=["suanli-message"])
            return
        solara.Markdown(f"**{b}** minus **{a}**, paired by seed over {len(result.seeds)} seeds "
                        f"({'paired t' if result.ci == 't' else 'BCa bootstrap'} 95 % CI); from `{result.out}`.")
        solara.HTML(tag="div", unsafe_innerHTML=table)
        for panel in panels:
            with solara.Card(panel.name.replace("_", " "), classes=[f"suanli-compare-{panel.name}"]):
                solara.Text(panel.caption)
                if panel.png is not None:
                    solara.HTML(tag="img", attributes={"src": "data:image/png;base64," + base64.b64encode(panel.png).decode(),
                                                       "style": "max-width:100%"})
                if panel.note:
                    solara.Warning(panel.note)
