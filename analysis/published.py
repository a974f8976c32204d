"""The published numbers: ``calibration/targets.csv``, what replication tables compare with and the
calibration reproduces (read here, in the analysis layer, so that both can use it).

A copy of the design's ``shared/design/targets.csv`` (one row per statistic of the studies:
id, seed, table, spec, statistic, value, se, n, note), shipped with the package so that a
fresh install can compare simulated estimates with the published ones.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TARGETS_PATH = Path(__file__).resolve().parents[1] / "calibration" / "targets.csv"


def load_targets(path: str | Path | None = None) -> pd.DataFrame:
    """The targets indexed by id; ``value``, ``se`` and ``n`` numeric (NaN where not published)."""
    path = Path(path) if path is not None else TARGETS_PATH
    if not path.is_file():
        raise FileNotFoundError(f"targets file not found: {path} (pass the path of a targets.csv)")
    t = pd.read_csv(path, dtype={"id": str, "seed": str, "table": str})
    for c in ("value", "se", "n"):
        t[c] = pd.to_numeric(t[c], errors="coerce")
    return t.set_index("id")
