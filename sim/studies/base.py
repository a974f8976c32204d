"""Interface of a study module: state of its own, a yearly step, a panel and its truth."""

from __future__ import annotations

from abc import ABC, abstractmethod

import pandas as pd

STUDIES: dict[str, type["StudyModule"]] = {}


class StudyModule(ABC):
    """One study's mechanism. ``step`` runs at the end of each model year (``model.year``)."""

    name: str = ""

    def __init__(self, model):
        self.model = model

    @abstractmethod
    def step(self) -> None:
        """Advance the mechanism one year, reading the model's agents and market outcomes."""

    @abstractmethod
    def panel(self) -> pd.DataFrame:
        """The simulated panel in the study's form (its variable names), all years so far."""

    def truth(self) -> pd.DataFrame:
        """True structural parameters (name, value, unit, meaning); latent states go in ``latent``."""
        return pd.DataFrame(columns=["name", "value", "unit", "meaning"])

    def latent(self) -> pd.DataFrame:
        """Latent truths per unit-year (true TE, true effects, ...)."""
        return pd.DataFrame()


def register_study(cls: type[StudyModule]) -> type[StudyModule]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a class attribute `name`")
    STUDIES[cls.name] = cls
    return cls
