"""Parameter sweeps with Mesa's own ``batch_run``: every combination of scenario fields x seeds.

Any ``ModelConfig`` field can be swept (``carbon_price_cny_per_t``, ``policy_after``,
``designation_year``, ``link_speedup``, ...); results are the national summary by year,
one row per run and year, with the swept values as columns.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Iterable

import mesa
import pandas as pd

from sim.config import ModelConfig
from sim.model import SuanLiModel
from sim.reporters import SUMMARY_KEYS

SWEEPABLE = tuple(f.name for f in fields(ModelConfig) if f.name not in ("start_year", "end_year", "parameter_overrides"))


def sweep(
    grid: dict[str, Iterable[Any]],
    seeds: Iterable[int],
    config: ModelConfig | None = None,
    processes: int = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Run ``mesa.batch_run`` over ``grid`` (field -> values) and ``seeds``; returns the summaries."""
    config = config or ModelConfig()
    for key in grid:
        if key not in SWEEPABLE:
            raise ValueError(f"sweep field {key!r}: allowed {', '.join(SWEEPABLE)}")
    params: dict[str, Any] = {"config": [config], "seed": list(seeds), **{k: list(v) for k, v in grid.items()}}
    n_years = config.end_year - config.start_year + 1
    rows = mesa.batch_run(
        SuanLiModel,
        parameters=params,
        number_processes=processes,
        iterations=1,
        data_collection_period=1,
        max_steps=n_years,
        display_progress=progress,
    )
    df = pd.DataFrame(rows).drop(columns=["config"])
    keep = ["RunId", "seed", *grid.keys(), "year", *SUMMARY_KEYS]
    return df[keep].sort_values(["RunId", "year"]).reset_index(drop=True)
