"""Panels of a finished run, and writing them atomically as Parquet, CSV and Stata .dta.

Core panels come from the Mesa DataCollector (one per agent type) and the market logs;
each study module adds its panel, its true parameters and its latent truths. A run's
directory appears complete or not at all: files go to a temporary sibling that is
renamed into place at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from sim.agents import DataCentre, Firm, PowerSupplier, Province

STATA_TIMESTAMP = datetime(2000, 1, 1)
AGENT_PANELS = {"provinces": Province, "datacentres": DataCentre, "power": PowerSupplier, "firms_core": Firm}
DTA_PANELS = ("provinces", "firms_core")


def _agent_panel(model, agent_type, name: str) -> pd.DataFrame:
    df = model.datacollector.get_agenttype_vars_dataframe(agent_type)
    if df.empty:
        return df
    df = df.reset_index()
    df.insert(0, "year", df.pop("Step").astype(int) + model.config.start_year - 1)
    df = df.rename(columns={"AgentID": "agent_id"})
    return df.sort_values(["year", "agent_id"], kind="stable").reset_index(drop=True)


def collect_panels(model) -> dict[str, pd.DataFrame]:
    """All output tables of a run, by name."""
    panels = {name: _agent_panel(model, t, name) for name, t in AGENT_PANELS.items()}
    panels["summary"] = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    panels["flows"] = pd.concat(model.flow_records, ignore_index=True) if model.flow_records else pd.DataFrame()
    panels["snapshots"] = pd.concat(model.snapshot_records, ignore_index=True) if model.snapshot_records else pd.DataFrame()
    panels["links"] = pd.concat(model.link_records, ignore_index=True) if model.link_records else pd.DataFrame()
    panels["parameters"] = model.params.to_frame().assign(value=lambda d: d["value"].astype(float))
    for name, study in model.studies.items():
        panels[f"study_{name}"] = study.panel()
        panels[f"truth_{name}"] = study.truth()
        latent = study.latent()
        if not latent.empty:
            panels[f"latent_{name}"] = latent
    return panels


def _stata_ready(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].astype(np.int8)
        elif not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].astype(str)
    return out


def write_table(df: pd.DataFrame, base: Path, formats: tuple[str, ...]) -> list[Path]:
    written = []
    if "parquet" in formats:
        df.to_parquet(base.with_suffix(".parquet"), index=False, engine="pyarrow", compression="zstd")
        written.append(base.with_suffix(".parquet"))
    if "csv" in formats:
        pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), base.with_suffix(".csv"))
        written.append(base.with_suffix(".csv"))
    if "dta" in formats:
        _stata_ready(df).to_stata(base.with_suffix(".dta"), write_index=False, time_stamp=STATA_TIMESTAMP, version=118)
        written.append(base.with_suffix(".dta"))
    return written


def write_run(model, out_dir: str | Path, meta: dict | None = None, formats: tuple[str, ...] = ("parquet", "csv")) -> Path:
    """Write every panel of ``model`` to ``out_dir`` atomically; returns the directory."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, df in collect_panels(model).items():
            fmts = formats + (("dta",) if (name in DTA_PANELS or name.startswith("study_")) and not df.empty else ())
            write_table(df, tmp / name, fmts)
        info = {
            "seed": model.seed_value,
            "start_year": model.config.start_year,
            "end_year": model.config.end_year,
            **(meta or {}),
        }
        (tmp / "run.json").write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
        (tmp / "summary.txt").write_text(format_summary(model) + "\n")
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def replace_dir(src: Path, dst: Path) -> None:
    """Move a finished directory into place, replacing ``dst`` if it exists."""
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


SUMMARY_COLUMNS = {
    "racks_million": ("racks (M)", "{:.2f}"),
    "eflops_general": ("general EFLOPS", "{:.1f}"),
    "eflops_intelligent": ("intel. EFLOPS", "{:.1f}"),
    "intelligent_share": ("intel. share", "{:.1%}"),
    "dc_electricity_twh": ("DC TWh", "{:.1f}"),
    "dc_electricity_share": ("DC share", "{:.2%}"),
    "east_to_west_pflop_h": ("E->W PFLOP-h", "{:.3g}"),
    "west_utilisation": ("west util.", "{:.1%}"),
    "unserved_share": ("unserved", "{:.2%}"),
    "inference_latency_ms": ("latency ms", "{:.2f}"),
    "dc_carbon_mt": ("DC MtCO2", "{:.1f}"),
}


def format_summary(model, years: list[int] | None = None) -> str:
    """The run summary as a fixed-width table of national figures by year."""
    df = model.datacollector.get_model_vars_dataframe()
    if years:
        df = df[df["year"].isin(years)]
    rows = {"year": df["year"].astype(int).astype(str)}
    for col, (label, fmt) in SUMMARY_COLUMNS.items():
        rows[label] = df[col].map(lambda v, f=fmt: f.format(v))
    return pd.DataFrame(rows).to_string(index=False)
