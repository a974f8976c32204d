"""The scheduling-policy interface and registry.

A policy is any object with ``name`` and ``assign(problem) -> Assignment``. Subclass
``SchedulingPolicy`` and decorate with ``@register`` to make it available by name, or
name it in a scenario as ``"path/to/file.py:ClassName"`` or ``"package.module:ClassName"``
without touching the core.
"""

from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

from sim.market import Assignment, SchedulingProblem

REGISTRY: dict[str, type["SchedulingPolicy"]] = {}


class SchedulingPolicy(ABC):
    """Maps one representative day's tasks to data-centre nodes."""

    name: str = ""

    @abstractmethod
    def assign(self, problem: SchedulingProblem) -> Assignment:
        """Return served work x[o,k,d,p,h]; the market books the rest as unserved."""

    def reads_carbon(self, problem: SchedulingProblem) -> bool:
        """Whether the assignment can depend on ``problem.carbon``. If not, the market schedules days that
        differ only in carbon intensity once (``sim.market.clear_year``). True unless a policy says otherwise."""
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def register(cls: type[SchedulingPolicy]) -> type[SchedulingPolicy]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a class attribute `name`")
    REGISTRY[cls.name] = cls
    return cls


def _load_external(spec: str) -> type[SchedulingPolicy]:
    target, _, cls_name = spec.rpartition(":")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"policy file {target!r} does not exist")
        mod_spec = importlib.util.spec_from_file_location(f"suanli_user_policy_{path.stem}", path)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    cls = getattr(module, cls_name, None)
    if cls is None or not hasattr(cls, "assign"):
        raise ValueError(f"policy {spec!r}: {cls_name!r} is not a class with an assign() method")
    return cls


def make_policy(spec: str | SchedulingPolicy, **kwargs) -> SchedulingPolicy:
    """A policy instance from a registered name, a ``file.py:Class`` / ``module:Class`` spec, or an instance."""
    if not isinstance(spec, str):
        return spec
    if ":" in spec:
        return _load_external(spec)(**kwargs)
    if spec not in REGISTRY:
        raise ValueError(f"policy {spec!r}: allowed {', '.join(sorted(REGISTRY))} or 'file.py:ClassName'")
    return REGISTRY[spec](**kwargs)


def available() -> list[str]:
    return sorted(REGISTRY)


PolicyFactory = Callable[..., SchedulingPolicy]
