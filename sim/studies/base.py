"""Interface of a study module: state of its own, a yearly step, a panel and its truth."""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod

import numpy as np
import pandas as pd

from sim.packing import unpack

STUDIES: dict[str, type["StudyModule"]] = {}


class StudyModule(ABC):
    """One study's mechanism. ``step`` runs at the end of each model year (``model.year``)."""

    name: str = ""
    #: True for a study that reads the model only through ``inputs()`` and writes nothing back into it:
    #: it can then be re-run on recorded inputs under other values of its own parameters without
    #: re-simulating the economy (the calibration's study-only replays). Its parameters are the
    #: ``section`` of the parameter file.
    replayable: bool = False
    section: str = ""

    def __init__(self, model):
        self.model = model
        self.rng = study_rng(model, self.name)

    @abstractmethod
    def step(self) -> None:
        """Advance the mechanism one year, reading the model's agents and market outcomes."""

    def inputs(self) -> dict:
        """A replayable study's reading of the model this year (copies, not views)."""
        raise NotImplementedError(f"study {self.name!r} is not replayable")

    def advance(self, inputs: dict) -> None:
        """A replayable study's year from ``inputs()`` alone (``step`` is ``advance(inputs())``)."""
        raise NotImplementedError(f"study {self.name!r} is not replayable")

    @abstractmethod
    def panel(self) -> pd.DataFrame:
        """The simulated panel in the study's form (its variable names), all years so far."""

    def year_outcomes(self) -> dict[str, float]:
        """This year's headline outcomes of the study for the national summary (name -> value)."""
        return {}

    def truth(self) -> pd.DataFrame:
        """True structural parameters (name, value, unit, meaning); latent states go in ``latent``."""
        return pd.DataFrame(columns=["name", "value", "unit", "meaning"])

    def latent(self) -> pd.DataFrame:
        """Latent truths per unit-year (true TE, true effects, ...)."""
        return pd.DataFrame()

    def drop_records(self) -> None:
        """Free the yearly records that ``panel``, ``latent`` and ``truth`` are built from, once they are
        written (``SuanLiModel.drop_logs``); the study then neither steps on nor gives its panel again."""

    def parameter_rows(self, *sections: str) -> pd.DataFrame:
        """The parameter file's entries of ``sections`` as truth rows named ``section.name``."""
        t = self.model.params.table
        rows = t[t["section"].isin(sections)]
        return pd.DataFrame({"name": rows["section"] + "." + rows["name"], "value": rows["value"].astype(float),
                             "unit": rows["unit"], "meaning": rows["meaning"]}).reset_index(drop=True)


def stack_years(parts: list[dict[str, np.ndarray]], key: str, columns=None) -> pd.DataFrame:
    """One frame from yearly dicts of column arrays (or their ``sim.packing.pack``), sorted by ``key`` and year."""
    if not parts:
        return pd.DataFrame(columns=list(columns or ()))
    cols = list(columns or parts[0])

    def stacked(c: str) -> np.ndarray:
        return np.concatenate([unpack(p[c]) for p in parts])

    order = np.lexsort((stacked("year"), stacked(key)))
    # each column is stacked and put in order on its own, so the frame is built without a sorted copy of it
    return pd.DataFrame({c: stacked(c)[order] for c in cols}, copy=False)


def in_window(panel: pd.DataFrame, start: int, end: int) -> pd.DataFrame:
    """Rows of ``panel`` with ``start <= year <= end``, renumbered."""
    return panel[(panel["year"] >= start) & (panel["year"] <= end)].reset_index(drop=True)


def study_rng(model, name: str) -> np.random.Generator:
    """The study's own stream, a child of the model's seed keyed by the study's name: switching
    other studies on or off changes neither this stream nor the core's."""
    ss = model.rng.bit_generator.seed_seq
    child = np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, zlib.crc32(name.encode())),
                                   pool_size=ss.pool_size)
    return np.random.Generator(type(model.rng.bit_generator)(child))


def register_study(cls: type[StudyModule]) -> type[StudyModule]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a class attribute `name`")
    STUDIES[cls.name] = cls
    return cls
