"""What a Monte Carlo design is: a generator of panels with known truth and the estimators it validates.

A design draws one data set from a numpy ``Generator`` (:meth:`Design.draw`), returning the
data and the value of every estimand on that draw, and says for each estimator it supports
which parameters to compare with which estimand (:meth:`Design.specs`). ``experiments.validate``
repeats draw -> fit -> compare and reports bias, RMSE, coverage and rejection rates. A user adds a
design as one module under ``analysis/designs/`` with a class decorated by :func:`register_design`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import numpy as np
import pandas as pd

from analysis.results import EstimationResult

DESIGNS: dict[str, type["Design"]] = {}


@dataclass
class Draw:
    """One simulated data set: ``data`` (a panel or cross-section), ``truth`` (estimand key -> value on
    this draw) and ``extra`` (anything the fit needs besides the data, e.g. the weight matrix W)."""

    data: pd.DataFrame
    truth: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Estimand:
    """A quantity an estimator is meant to recover: its key, unit and a sentence saying what it is."""

    key: str
    unit: str
    meaning: str


@dataclass(frozen=True)
class Spec:
    """One estimator specification on a design: ``fit(draw)`` gives a result whose ``param`` is
    compared with ``estimand``. ``note`` says what the estimator targets here and, when its
    coverage is not expected to be 95 %, why. ``extract`` replaces the default reading of the
    estimate, SE and interval (e.g. a threshold's LR confidence set)."""

    estimator: str
    label: str
    param: str
    estimand: str
    fit: Callable[[Draw], EstimationResult]
    note: str = ""
    extract: Callable[[EstimationResult], tuple[float, float, float, float]] | None = None

    def values(self, res: EstimationResult, level: float = 0.95) -> tuple[float, float, float, float]:
        """(estimate, standard error, CI lower, CI upper) of ``param`` in ``res``."""
        if self.extract is not None:
            return self.extract(res)
        b, se = float(res.params[self.param]), float(res.std_errors[self.param])
        if not np.isfinite(se):
            return b, se, np.nan, np.nan
        ci = res.conf_int(level).loc[self.param]
        return b, se, float(ci["lower"]), float(ci["upper"])


class Design:
    """Base class of a design. Subclasses set the class attributes and implement ``draw`` and ``specs``.

    ``sizes`` are the default sample dimensions (the studies' sample sizes), e.g. ``{"n": 30, "t": 15}``;
    ``estimands`` documents every key of ``Draw.truth``; ``estimators`` lists the estimators the design
    validates (names of ``experiments.validate``: nvar, sfa, twfe, csdid, iv, psm, threshold).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    sizes: ClassVar[dict[str, int]] = {}
    estimands: ClassVar[dict[str, Estimand]] = {}
    estimators: ClassVar[tuple[str, ...]] = ()
    replication_seconds: ClassVar[float] = 0.1

    def __init__(self, estimator: str | None = None, **sizes: int) -> None:
        self.estimator = estimator
        unknown = set(sizes) - set(self.sizes)
        if unknown:
            raise ValueError(f"design {self.name}: unknown size {sorted(unknown)}; allowed {sorted(self.sizes)}")
        self.size = {**self.sizes, **{k: int(v) for k, v in sizes.items() if v is not None}}
        for k, v in self.size.items():
            if v < 2:
                raise ValueError(f"design {self.name}: size {k} = {v}; must be at least 2")

    def draw(self, rng: np.random.Generator) -> Draw:  # pragma: no cover - abstract
        raise NotImplementedError

    def specs(self, estimator: str) -> list[Spec]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def description(self) -> str:
        return (type(self).__doc__ or "").strip()

    def sample_label(self) -> str:
        return " x ".join(f"{k} = {v:,}" for k, v in self.size.items())


def register_design(cls: type[Design]) -> type[Design]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a class attribute `name`")
    DESIGNS[cls.name] = cls
    return cls


def get_design(name: str, estimator: str | None = None, **sizes: int) -> Design:
    """An instance of the registered design ``name`` with ``sizes`` overriding its defaults
    (``estimator`` tells designs that draw different data per estimator, such as ``model``, which)."""
    if name not in DESIGNS:
        raise KeyError(f"design {name!r}: allowed {', '.join(sorted(DESIGNS))}")
    return DESIGNS[name](estimator, **sizes)


def balanced_index(n: int, t: int, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Entity codes 0..n-1 repeated over periods and calendar years start..start+t-1 (entity-major)."""
    return np.repeat(np.arange(n), t), np.tile(np.arange(start, start + t), n)


def ar1(rng: np.random.Generator, n: int, t: int, rho: float, sd: float = 1.0) -> np.ndarray:
    """(n, t) stationary AR(1) paths with innovation variance chosen so that the marginal sd is ``sd``."""
    out = np.empty((n, t))
    out[:, 0] = rng.normal(0.0, sd, n)
    inno = sd * np.sqrt(1.0 - rho * rho)
    for s in range(1, t):
        out[:, s] = rho * out[:, s - 1] + rng.normal(0.0, inno, n)
    return out


def mapping_str(m: Mapping[str, float]) -> str:
    return ", ".join(f"{k} = {v:g}" for k, v in m.items())
