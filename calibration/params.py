"""Load the committed structural parameters (``parameters.toml``) with units and targets.

Each entry in the TOML file is ``name = {value, unit, meaning, target}``. A run may
override values with a flat mapping ``{"section.name": value}``; unknown names are
rejected so that a typo in a scenario cannot pass silently.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping

import pandas as pd

DEFAULT_PATH = Path(__file__).with_name("parameters.toml")


class ParameterError(ValueError):
    """A parameter name or value that the parameter file does not allow."""


@dataclass(frozen=True)
class Parameters:
    """Structural parameters by section; ``p.datacentre.rack_kw`` or ``p["datacentre.rack_kw"]``."""

    table: pd.DataFrame

    def __post_init__(self) -> None:
        for section, rows in self.table.groupby("section", sort=False):
            object.__setattr__(self, section, SimpleNamespace(**dict(zip(rows["name"], rows["value"]))))

    def __getitem__(self, key: str) -> Any:
        section, _, name = key.partition(".")
        try:
            return getattr(getattr(self, section), name)
        except AttributeError:
            raise KeyError(key) from None

    def names(self) -> list[str]:
        return list(self.table["section"] + "." + self.table["name"])

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Parameters":
        if not overrides:
            return self
        table = self.table.copy()
        keys = table["section"] + "." + table["name"]
        for key, value in overrides.items():
            hit = keys == key
            if not hit.any():
                raise ParameterError(
                    f"parameters: unknown parameter '{key}' (allowed: section.name from calibration/parameters.toml, e.g. {keys.iloc[0]})"
                )
            old = table.loc[hit, "value"].iloc[0]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParameterError(f"parameters.{key} = {value!r}: must be a number (default {old})")
            table.loc[hit, "value"] = type(old)(value) if isinstance(old, int) and float(value).is_integer() else float(value)
        return Parameters(table)

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


def load_parameters(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Parameters:
    """Read a parameter TOML file (default: the committed calibration) and apply overrides."""
    with open(path or DEFAULT_PATH, "rb") as fh:
        raw = tomllib.load(fh)
    rows = []
    for section, entries in raw.items():
        for name, entry in entries.items():
            if not isinstance(entry, dict) or "value" not in entry:
                raise ParameterError(f"parameters: {section}.{name} needs a table with value, unit, meaning, target")
            rows.append(
                {
                    "section": section,
                    "name": name,
                    "value": entry["value"],
                    "unit": entry.get("unit", ""),
                    "meaning": entry.get("meaning", ""),
                    "target": entry.get("target", ""),
                }
            )
    table = pd.DataFrame(rows)
    table["value"] = pd.Series([r["value"] for r in rows], dtype=object)
    return Parameters(table).with_overrides(overrides or {})
