"""Load the committed structural parameters (``calibration/parameters.toml``) with units, ranges and targets.

The loader lives in ``sim`` because the model reads its parameters; the file itself is the
calibration's product and stays in ``calibration/`` (``calibration.params`` re-exports this module).

Each entry in the TOML file is ``name = {value, min, max, unit, meaning, target}`` (plus
``integer = true`` for counts and years, and ``measures = "ids"`` where a published estimate is the
study estimator's counterpart of the entry's structural value: the row the report sets beside it).
``min``/``max`` are the one place where a parameter's allowed range is stated: the file's own
values, scenario ``[parameters]``, sweep and calibration overrides are all checked against them,
and an entry without them is refused when the file is loaded. A run may override values with a flat mapping
``{"section.name": value}``; unknown names are rejected so that a typo cannot pass silently.

How the ranges were set (documented rule, see the entries): shares in [0, 1]; AR(1)
persistences in [-0.99, 0.99]; standard deviations in [0, max(1, 10 x default)] rounded up
to 1, 2 or 5 x 10^k; strictly positive scales and divisors (rack power, densities,
costs per rack, link capacity, GDP thresholds, Beta concentrations) in
[default / 100, default x 100] rounded outward; rates in [0, 1] (Poisson entry rates wider);
growth rates (1/yr, log) in [-1, 2]; elasticities in [-5, 5]; signed coefficients in
+-max(1, 10 x |default|) rounded up; levels and centrings within +-10 of the default;
physical limits where they exist (PUE in [1, 3], fibre detour >= 1, latency factors <= 1).
A few relations between entries are checked too (``RELATIONS``).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping

import pandas as pd

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "calibration" / "parameters.toml"

# (left, relation, right, why): checked after every override; values by "section.name".
RELATIONS = (
    ("city_economy.threshold_low_yi", "<", "city_economy.threshold_high_yi", "the low GDP threshold must lie below the high one"),
    ("datacentre.pue_floor", "<=", "datacentre.pue_2023", "new data centres cannot beat the PUE floor"),
    ("province_economy.elasticity_k+province_economy.elasticity_l", "<", "1", "a_K + a_L < 1 (decreasing returns)"),
    ("firm.share_state+firm.share_private", "<=", "1", "ownership shares cannot sum above 1"),
    ("province_economy.lte_start", "<=", "province_economy.nr_start", "4G comes before 5G"),
)


class ParameterError(ValueError):
    """A parameter name or value that the parameter file does not allow."""


def _fmt(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


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

    def bounds(self, key: str) -> tuple[float, float, bool]:
        """(min, max, integer) of ``section.name``."""
        row = self._row(key)
        return float(row["min"]), float(row["max"]), bool(row["integer"])

    def _row(self, key: str) -> pd.Series:
        keys = self.table["section"] + "." + self.table["name"]
        hit = self.table[keys == key]
        if hit.empty:
            raise ParameterError(
                f"parameters: unknown parameter '{key}' (allowed: section.name from calibration/parameters.toml, e.g. {keys.iloc[0]})"
            )
        return hit.iloc[0]

    def check(self, key: str, value: Any) -> float | int:
        """``value`` as the type ``key`` takes, or ``ParameterError`` naming the key, value and range."""
        row = self._row(key)
        lo, hi, integer = row["min"], row["max"], bool(row["integer"])
        allowed = f"{'an integer' if integer else 'a number'} from {_fmt(lo)} to {_fmt(hi)}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"parameters.{key} = {value!r}: must be {allowed} (default {_fmt(row['value'])})")
        if not math.isfinite(value) or not (lo <= value <= hi) or (integer and not float(value).is_integer()):
            raise ParameterError(f"parameters.{key} = {value!r}: must be {allowed} (default {_fmt(row['value'])}; "
                                 f"range from calibration/parameters.toml)")
        return int(value) if integer else float(value)

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Parameters":
        """A copy with ``{"section.name": value}`` applied, each value checked against its range."""
        if not overrides:
            return self
        table = self.table.copy()
        keys = table["section"] + "." + table["name"]
        for key, value in overrides.items():
            checked = self.check(key, value)
            table.loc[keys == key, "value"] = checked
        out = Parameters(table)
        out.check_relations()
        return out

    def check_relations(self) -> None:
        """Raise ``ParameterError`` if a relation of ``RELATIONS`` fails."""
        def value(expr: str) -> float:
            return sum(float(self[t]) if "." in t else float(t) for t in expr.split("+"))

        known = set(self.names())
        for left, op, right, why in RELATIONS:
            terms = [t for t in (left + "+" + right).split("+") if "." in t]
            if not all(t in known for t in terms):
                continue
            a, b = value(left), value(right)
            if not (a < b if op == "<" else a <= b):
                raise ParameterError(f"parameters: {left} = {_fmt(a)} must be {op} {right} = {_fmt(b)} ({why})")

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


def load_parameters(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Parameters:
    """Read a parameter TOML file (default: the committed calibration), check every entry's value
    against its ``min``/``max``, and apply ``overrides``."""
    source = Path(path or DEFAULT_PATH)
    try:
        with open(source, "rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ParameterError(f"parameters file {source}: cannot be read ({err})") from None
    rows = []
    for section, entries in raw.items():
        if not isinstance(entries, dict):
            raise ParameterError(f"parameters file {source}: [{section}] must be a table of entries")
        for name, entry in entries.items():
            key = f"{section}.{name}"
            if not isinstance(entry, dict) or "value" not in entry:
                raise ParameterError(f"parameters: {key} needs a table with value, min, max, unit, meaning, target")
            missing = [k for k in ("min", "max") if k not in entry]
            if missing:
                raise ParameterError(f"parameters: {key} has no {' or '.join(missing)} in {source.name} "
                                     "(every entry states its allowed range)")
            v, lo, hi = entry["value"], entry["min"], entry["max"]
            integer = bool(entry.get("integer", False))
            for what, x in (("value", v), ("min", lo), ("max", hi)):
                if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                    raise ParameterError(f"parameters: {key}.{what} = {x!r}: must be a finite number")
            if not lo <= v <= hi or (integer and not float(v).is_integer()):
                raise ParameterError(f"parameters: {key} = {v!r}: outside its own range [{_fmt(lo)}, {_fmt(hi)}]"
                                     + (" or not an integer" if integer else ""))
            rows.append(
                {
                    "section": section,
                    "name": name,
                    "value": int(v) if integer else v,
                    "unit": entry.get("unit", ""),
                    "meaning": entry.get("meaning", ""),
                    "target": entry.get("target", ""),
                    "measures": str(entry.get("measures", "")),
                    "min": float(lo),
                    "max": float(hi),
                    "integer": integer,
                }
            )
    table = pd.DataFrame(rows)
    table["value"] = pd.Series([r["value"] for r in rows], dtype=object)
    params = Parameters(table)
    params.check_relations()
    return params.with_overrides(overrides or {})
