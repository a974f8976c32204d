"""Targets to statistics: every row of ``calibration/targets.csv`` as a function of a simulated run.

A *moment* is one published statistic re-computed on a run's panels with the study's own
estimator (``analysis.replicate``: specification, window, weight matrix, controls,
clustering, winsorising). Moments that share a table are computed together in one *block*
(e.g. ``p1_table2`` gives beta1, beta2 and alpha of eq. 14), so that asking for several
rows of a table estimates it once. Macro facts read the run's ``summary`` panel.

``compute_moments(panels, ids)`` takes the in-memory output of ``sim.outputs.collect_panels``
(or a dict with ``study_provinces``/``study_cities``/``study_firms``/``summary``) and returns
one row per id: estimate, its sampling SE from the estimator, N, the published N and whether
N is within 2 % of it. ``last_year(ids)`` is the last simulated year the ids need (the fast
path simulates no further).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis import replicate as rep
from analysis.fixed_effects import TwoWayFE
from calibration.targets import load_targets
from sim.studies import cities as _cities
from sim.studies import firms as _firms
from sim.studies import provinces as _provinces

N_TOLERANCE = 0.02  # relative gap between simulated and published N that counts as "the study's sample"

# The simulated panels' names where they differ from a table's defaults (as experiments.replication):
# seed 000's innovation measures (table 7's M) are ln of the patent counts (inn_qty, inn_qual), not raw counts.
# Tables 2-3 estimate only column (8), the one their targets read.
TABLE_OPTIONS = {"p1_table7": {"innovation": ("inn_qty", "inn_qual")},
                 "p1_table2": {"last_only": True}, "p1_table3": {"last_only": True}}

SAMPLERS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "provinces": _provinces.study_sample, "cities": _cities.study_sample, "firms": _firms.study_sample,
}
STUDY_OF_SEED = {"000": "provinces", "001": "cities", "002": "firms"}
LAST_YEAR = {"provinces": _provinces.STUDY_WINDOW[1], "cities": _cities.STUDY_WINDOW[1],
             "firms": _firms.STUDY_WINDOW[1]}


@dataclass(frozen=True)
class Block:
    """One computation that yields several moments: ``fn(inputs) -> {id: (estimate, se, n)}``.

    ``needs`` is the input it reads (a study sample name or ``'summary'``); ``last_year`` the
    last simulated year it needs; ``ids`` the targets it produces.
    """

    name: str
    needs: str
    last_year: int
    ids: tuple[str, ...]
    fn: Callable[[pd.DataFrame], dict[str, tuple[float, float, float]]]
    how: str


def _table_block(table: str) -> Block:
    seed, fn = rep.TABLES[table]
    ids = tuple(rep.DEFAULT_TARGETS.get(table, {})) or {
        "p1_table1": ("p1_desc_lntfp_mean", "p1_desc_lntfp_sd", "p1_desc_dfqty_mean", "p1_desc_dfqual_mean"),
        "p3_table2": ("p3_idc_mean", "p3_expy_mean"),
    }[table]
    study = STUDY_OF_SEED[seed]

    def run(sample: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
        t = fn(sample, **TABLE_OPTIONS.get(table, {}))
        return {i: t.target_estimate(i) if i in t.targets else (np.nan, np.nan, np.nan) for i in ids}

    return Block(table, study, LAST_YEAR[study], ids, run, f"analysis.replicate.{fn.__name__}")


def _mechanism_block(tid: str, mediator: str) -> Block:
    """Seed 002 eq. 2 step 1 (mediator on IDC, controls, firm + year FE, firm-clustered) on the common
    sample of ``MechanismTest`` (rows with EXPY, IDC, the mediator and the controls): the number
    ``p3_table5``/``p3_table6`` print, without the table's extra Baron-Kenny regressions."""

    def run(df: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
        cols = ["firm_id", "year", "EXPY", "IDC", mediator, *rep.P3_CONTROLS]
        rep._require(df, cols, tid)
        sub = df[cols].dropna()
        r = TwoWayFE(sub, mediator, ["IDC", *rep.P3_CONTROLS], "firm_id", "year", cluster="entity").fit()
        return {tid: (float(r.params["IDC"]), float(r.std_errors["IDC"]), float(r.nobs))}

    return Block(f"mechanism:{mediator}", "firms", LAST_YEAR["firms"], (tid,), run,
                 "analysis.fixed_effects.TwoWayFE (= MechanismTest step 1)")


def _summary_block(tid: str, column: str, year: int) -> Block:
    """A macro fact: the ``summary`` panel's ``column`` in ``year`` (SE 0: a count, not an estimate)."""

    def run(summary: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
        rep._require(summary, ["year", column], tid)
        row = summary.loc[summary["year"] == year, column]
        if row.empty:
            raise KeyError(f"{tid}: the run's summary has no year {year}")
        return {tid: (float(row.iloc[-1]), 0.0, np.nan)}

    return Block(f"summary:{tid}", "summary", year, (tid,), run, f"summary.{column} in {year}")


def _index_gdp_block(tid: str = "p4_index_gdp") -> Block:
    """Seed 003: GDP per +1 point of the compute development index, by the replication table's own
    specification (``analysis.replicate.p4_index_gdp``: ln GDP on the index, province and year effects,
    2016-2023), so that ``suanli replicate`` and the calibration read the row the same way."""

    def run(prov: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
        return {tid: rep.p4_index_gdp(prov).target_estimate(tid)}

    return Block("summary:index_gdp", "provinces_core", 2023, (tid,), run,
                 "analysis.replicate.p4_index_gdp (two-way FE of ln GDP on the index), provinces panel")


def _blocks() -> dict[str, Block]:
    out: dict[str, Block] = {}
    for table in ("p1_table1", "p1_table2", "p1_table3", "p1_table4", "p1_table6", "p1_table7", "p1_table8",
                  "p2_fe", "p2_threshold", "p2_pivot", "p3_table2", "p3_table3", "p3_table4", "p3_table7",
                  "p3_table8"):
        out[table] = _table_block(table)
    for table in ("p3_table5", "p3_table6"):
        for tid, (col, _) in rep.DEFAULT_TARGETS[table].items():
            b = _mechanism_block(tid, col)
            out[b.name] = b
    for tid, col, year in (("p2_dc_power_2024_twh", "dc_electricity_twh", 2024),
                           ("p2_intelligent_eflops_2025q1", "eflops_intelligent", 2025),
                           ("p2_racks_2025q1_million", "racks_million", 2025),
                           ("p4_dc_power_2023_twh", "dc_electricity_twh", 2023),
                           ("p4_racks_2023_million", "racks_million", 2023),
                           ("p4_intelligent_share", "intelligent_share", 2023)):
        b = _summary_block(tid, col, year)
        out[b.name] = b
    b = _index_gdp_block()
    out[b.name] = b
    return out


BLOCKS: dict[str, Block] = _blocks()
BLOCK_OF: dict[str, str] = {tid: b.name for b in BLOCKS.values() for tid in b.ids}


def check_registry(targets: pd.DataFrame | None = None) -> None:
    """Every row of targets.csv has exactly one moment (raises ``ValueError`` naming the gaps)."""
    targets = load_targets() if targets is None else targets
    missing = [i for i in targets.index if i not in BLOCK_OF]
    extra = [i for i in BLOCK_OF if i not in targets.index]
    if missing or extra:
        raise ValueError(f"moments registry: targets without a moment {missing}; moments without a target {extra}")


def unknown_ids(ids: Iterable[str]) -> list[str]:
    return [i for i in ids if i not in BLOCK_OF]


def last_year(ids: Iterable[str]) -> int:
    """The last simulated year the moments of ``ids`` need."""
    return max(BLOCKS[BLOCK_OF[i]].last_year for i in ids)


def inputs_of(panels: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Study samples (window, winsorising) and summary from ``collect_panels`` output."""
    out: dict[str, pd.DataFrame] = {}
    for name, sample in SAMPLERS.items():
        df = panels.get(f"study_{name}")
        if df is None:
            df = panels.get(name) if name != "provinces" else None
        if df is not None and len(df):
            out[name] = sample(df)
    if panels.get("summary") is not None:
        out["summary"] = panels["summary"]
    if panels.get("provinces") is not None:
        out["provinces_core"] = panels["provinces"]
    return out


def compute_moments(panels: Mapping[str, pd.DataFrame], ids: Sequence[str] | None = None,
                    targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per target id: ``estimate``, ``se`` (the estimator's), ``n``, ``n_published``, ``n_ok``
    (simulated N within 2 % of the published N; NaN where no N is published) and ``note`` (why a
    moment is NaN). ``panels`` is ``collect_panels(model)`` or the same names."""
    targets = load_targets() if targets is None else targets
    ids = list(targets.index) if ids is None else list(ids)
    bad = unknown_ids(ids)
    if bad:
        raise KeyError(f"unknown target ids {bad}")
    inputs = inputs_of(panels)
    values: dict[str, tuple[float, float, float]] = {}
    notes: dict[str, str] = {}
    for name in dict.fromkeys(BLOCK_OF[i] for i in ids):
        b = BLOCKS[name]
        if b.needs not in inputs:
            for i in b.ids:
                notes[i] = f"no {b.needs} panel in the run"
            continue
        try:
            values.update(b.fn(inputs[b.needs]))
        except Exception as err:  # noqa: BLE001 - an estimator that fails on a simulated panel is a NaN moment
            msg = str(err.args[0]).strip().splitlines()[0] if err.args else repr(err)
            for i in b.ids:
                notes[i] = f"{b.name}: {type(err).__name__}: {msg.strip(chr(34))}"
    rows = []
    for i in ids:
        est, se, n = values.get(i, (np.nan, np.nan, np.nan))
        npub = float(targets.loc[i, "n"]) if i in targets.index else np.nan
        ok = abs(n - npub) <= N_TOLERANCE * npub if np.isfinite(npub) and np.isfinite(n) else np.nan
        note = notes.get(i, "")
        if not note and not np.isfinite(est):
            note = "estimate not finite"
        rows.append(dict(id=i, estimate=est, se=se, n=n, n_published=npub, n_ok=ok, note=note))
    return pd.DataFrame(rows).set_index("id")


# -------------------------------------------------------------------------------- structural truth
# an id that states the value (not "p3_idc_fe se 0.0910" or "p3_het_soe N 3477", notes on an SE or N)
_STATED = re.compile(r"\b(p\d_[a-z0-9_]+)\b(?!\s+(?:se|sd|N)\b)")


def structural_parameters(params_table: pd.DataFrame, targets: pd.DataFrame | None = None) -> dict[str, list[str]]:
    """Target id -> the ``section.name`` parameters whose ``measures`` field (comma-separated ids)
    names it: the structural values whose counterpart the row's published estimate is (e.g.
    ``province_economy.beta1_qty`` for ``p1_nvar_qty_beta1``). The field is the parameter file's own
    statement and the fit never rewrites it (it rewrites ``target``, the rows a parameter moves most).
    Raises ``ValueError`` naming the parameter if it names an id that is not in ``targets.csv``."""
    targets = load_targets() if targets is None else targets
    out: dict[str, list[str]] = {}
    for _, r in params_table.iterrows():
        name = f"{r['section']}.{r['name']}"
        for tid in (i.strip() for i in str(r.get("measures", "")).split(",") if i.strip()):
            if tid not in targets.index:
                raise ValueError(f"parameters: {name}.measures = {tid!r}: not a target id of calibration/targets.csv")
            out.setdefault(tid, []).append(name)
    return out
