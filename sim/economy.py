"""The province economy's link to the rest of the model: the reference paths that the exogenous part
of output is fitted to, and national compute demand that follows simulated GDP.

Output of a province is produced by the Province agent (``sim/agents/province.py``). Its
exogenous part is fitted once so that, at the reference paths, the default run reproduces
history: the reference capital path is computed in the run (capital accumulated out of
historical GDP), and lnTFP's gap to its reference is its response to the province's
infrastructure and network beyond their reference paths (``ProvinceEconomy.tfp_gap``). The
reference infrastructure is the mean over seeds of default runs with the TFP feedback switched
off (GDP then equals history exactly); ``fit_reference`` makes that table
(``calibration/infrastructure_reference.csv``); recalibrating the infrastructure process means refitting it.
A scenario then departs from history only through behaviour: infrastructure changes TFP, TFP
changes GDP, GDP changes compute demand and so investment.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from sim.parameters import DEFAULT_PATH

REFERENCE_PATH = Path(DEFAULT_PATH).with_name("infrastructure_reference.csv")
REFERENCE_COLUMNS = ("DF_qty", "net_qty", "DF_qual_struct", "net_qual")


def load_reference(codes: list[str], path: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Reference infrastructure paths, one year x province frame per column of ``REFERENCE_COLUMNS``
    (empty when the table is absent: then there is no gap and GDP is history)."""
    path = Path(path) if path is not None else REFERENCE_PATH
    if not path.is_file():
        return {}
    t = pd.read_csv(path, comment="#")
    return {c: t.pivot(index="year", columns="code", values=c).reindex(columns=codes) for c in REFERENCE_COLUMNS}


def reference_row(reference: dict[str, pd.DataFrame], year: int, codes: list[str]) -> dict[str, np.ndarray]:
    """The reference values of ``year`` by column (years past the table take its last row; NaN if absent)."""
    if not reference:
        return {c: np.full(len(codes), np.nan) for c in REFERENCE_COLUMNS}
    out = {}
    for c, frame in reference.items():
        y = min(max(year, frame.index.min()), frame.index.max())
        out[c] = frame.loc[y].to_numpy(float)
    return out


def tfp_gap(codes: list[str], gaps: dict[str, float]) -> np.ndarray:
    """The study's TFP gaps by province code as an array in model order (0 where absent, e.g. Tibet)."""
    return np.array([gaps.get(c, 0.0) for c in codes], dtype=float)


def national_demand(params, year: int, gdp_ratio: float = 1.0) -> np.ndarray:
    """National compute demand by kind (PFLOP-h/yr): training, inference, interactive, batch.

    The historical path (growth of AI and general demand to 2023, decaying growth after) is scaled by
    (simulated / historical national GDP) ** ``economy.compute_demand_gdp_elasticity``."""
    d = params.demand
    t = year - 2023

    def path(g: float) -> float:
        return g * t if t <= 0 else g * (1 - np.exp(-d.growth_decay * t)) / d.growth_decay

    scale = float(gdp_ratio) ** params.economy.compute_demand_gdp_elasticity
    ai = d.national_2023_pflop_h * d.ai_share_2023 * np.exp(path(d.growth_ai)) * scale
    gen = d.national_2023_pflop_h * (1 - d.ai_share_2023) * np.exp(path(d.growth_general)) * scale
    return np.array([ai * d.training_share_ai, ai * (1 - d.training_share_ai),
                     gen * d.interactive_share_general, gen * (1 - d.interactive_share_general)])


def fit_reference(seeds, config=None, path: str | Path | None = None) -> pd.DataFrame:
    """Fit the reference infrastructure paths: the mean over ``seeds`` of default runs without the TFP
    feedback (GDP = history), written atomically to ``path`` (default ``calibration/infrastructure_reference.csv``)."""
    from dataclasses import replace

    from sim.config import ModelConfig
    from sim.model import SuanLiModel

    base = config or ModelConfig()
    cfg = replace(base, end_year=max(base.end_year, 2035), studies=tuple(dict.fromkeys(("provinces", *base.studies))),
                  parameter_overrides={**base.parameter_overrides, "economy.tfp_gdp_elasticity": 0.0})
    frames = []
    for s in seeds:
        m = SuanLiModel(cfg, seed=int(s)).run()
        lat = m.studies["provinces"].latent()
        pan = m.studies["provinces"].panel()
        frames.append(lat[["province", "year", "net_qty", "DF_qual_struct", "net_qual"]].merge(
            pan[["province", "year", "DF_qty"]], on=["province", "year"]))
    mean = pd.concat(frames).groupby(["province", "year"], as_index=False)[list(REFERENCE_COLUMNS)].mean()
    out = mean.rename(columns={"province": "code"})
    out[list(REFERENCE_COLUMNS)] = out[list(REFERENCE_COLUMNS)].round(10)
    path = Path(path) if path is not None else REFERENCE_PATH
    header = (f"# Reference infrastructure of the default run: mean over seeds {list(seeds)} with the TFP feedback off,\n"
              "# fitted by sim.economy.fit_reference so that the default run reproduces province GDP 2008-2023.\n"
              "# DF_qty, DF_qual_struct in seed 000 index units; net_* = W x index (inverse-distance W).\n")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".infrastructure_reference.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(header)
        out.to_csv(fh, index=False)
    os.replace(tmp, path)
    return out
