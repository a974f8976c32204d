"""The studies' tables re-estimated on a finished run: study samples from a run directory.

A run writes each study's panel over all simulated years (``study_provinces``,
``study_cities``, ``study_firms``); the published tables use the studies' windows
(provinces 2008-2022, cities 2017-2022, firms 2017-2023 winsorized at 1 %). This module cuts
those samples with each study module's ``study_sample`` and hands them to
:func:`analysis.replicate.replicate_all`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from analysis.replicate import Replications, replicate_all
from sim.studies import cities, firms, provinces

SAMPLERS = {"provinces": provinces.study_sample, "cities": cities.study_sample, "firms": firms.study_sample}

# The simulated panels' names where they differ from a table's defaults: seed 000's innovation
# measures (table 7's M) are ln of the patent counts (``inn_qty``, ``inn_qual``), not raw counts.
SIM_OPTIONS = {"p1_table7": {"innovation": ("inn_qty", "inn_qual")}}


def load_study_samples(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Each study's sample from the run's ``study_<name>.parquet`` files (studies not run are absent)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    out = {}
    for name, sample in SAMPLERS.items():
        path = run_dir / f"study_{name}.parquet"
        if path.is_file():
            out[name] = sample(pd.read_parquet(path))
    if (run_dir / "provinces.parquet").is_file():
        out["economy"] = pd.read_parquet(run_dir / "provinces.parquet")
    if not out:
        raise FileNotFoundError(f"{run_dir} has no study panels (study_provinces/cities/firms.parquet)")
    return out


def replicate_run(run_dir: str | Path, tables: Sequence[str] | None = None) -> Replications:
    """The studies' tables (all, or those named) on the run's study samples."""
    return replicate_all(load_study_samples(run_dir), options=SIM_OPTIONS, tables=tables)
