"""Experiment designs over scenario fields and structural parameters, and sensitivity indices.

A design is a table of points, one row per run setting and one column per factor. Designs:
``grid`` (every combination of listed levels), ``lhs`` (Latin hypercube, ``scipy.stats.qmc``),
``sobol`` (Saltelli/Sobol' sequence, ``SALib.sample.sobol``) and ``morris`` (elementary-effect
trajectories, ``SALib.sample.morris``). Sensitivity indices of one output against the design come
from SALib's ``morris.analyze`` and ``sobol.analyze``, returned as tables (one row per factor).

Factor names are those of the scenario TOML (``market.carbon_price_cny_per_t``), the bare
``ModelConfig`` field (``carbon_price_cny_per_t``), a structural parameter (``datacentre.pue_2023``,
or ``parameters.datacentre.pue_2023``) or ``scenario`` (a built-in scenario name or TOML file).
Each point becomes a ``ModelConfig`` through ``experiments.scenario.parse_scenario``, so every
value meets the same checks and ranges as a scenario file.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import qmc

from calibration.params import load_parameters
from experiments.scenario import ScenarioError, _schema, load_scenario, parse_scenario
from sim.config import ModelConfig

METHODS = ("grid", "lhs", "sobol", "morris")
INTEGER_FIELDS = {f.name for f in fields(ModelConfig) if f.type in ("int", int)}


class DesignError(ValueError):
    """A factor name, level or range that the design does not allow."""


@dataclass(frozen=True)
class Factor:
    """One design factor: its name as the user wrote it and where it lands in the scenario TOML."""

    name: str
    section: str
    key: str
    integer: bool = False

    @property
    def numeric_only(self) -> bool:
        return self.section not in ("scenario_name",)


def _field_targets() -> dict[str, tuple[str, str]]:
    """ModelConfig field -> (TOML section, key), from the scenario schema."""
    out = {}
    for section, body in _schema().items():
        for key, (target, _) in body.items():
            if target and target not in out:
                out[target] = (section, key)
    return out


def resolve_factor(name: str) -> Factor:
    """Where a factor name lands: a scenario TOML key, a structural parameter, or the scenario itself."""
    schema = _schema()
    if name == "scenario":
        return Factor(name, "scenario_name", "")
    targets = _field_targets()
    if name in targets:
        section, key = targets[name]
        return Factor(name, section, key, name in INTEGER_FIELDS)
    section, dot, key = name.partition(".")
    if dot and section in schema and key in schema[section]:
        if section == "scenario" and key in ("name", "description", "seed"):
            raise DesignError(f"sweep factor {name!r}: cannot be swept (use --seeds for seeds)")
        target = schema[section][key][0]
        return Factor(name, section, key, target in INTEGER_FIELDS)
    pname = name[len("parameters."):] if name.startswith("parameters.") else name
    params = load_parameters()
    if pname in params.names():
        integer = params.bounds(pname)[2] if hasattr(params, "bounds") else isinstance(params[pname], (int, np.integer))
        return Factor(name, "parameters", pname, bool(integer))
    toml_names = [f"{s}.{k}" for s, body in schema.items() for k in body if s != "scenario" or k in ("start_year", "end_year")]
    raise DesignError(
        f"sweep factor {name!r}: allowed 'scenario', a scenario TOML key ({', '.join(toml_names[:6])}, ...), "
        f"a ModelConfig field (e.g. carbon_price_cny_per_t) or a structural parameter section.name from "
        f"calibration/parameters.toml (e.g. {params.names()[0]})"
    )


def config_to_raw(config: ModelConfig) -> dict[str, dict[str, Any]]:
    """A ``ModelConfig`` as the scenario-TOML mapping that ``parse_scenario`` turns back into it."""
    raw: dict[str, dict[str, Any]] = {}
    for fname, (section, key) in _field_targets().items():
        value = getattr(config, fname)
        if value is None:
            continue
        if isinstance(value, tuple):
            value = list(value)
        raw.setdefault(section, {})[key] = copy.deepcopy(value)
    if config.parameter_overrides:
        raw["parameters"] = dict(config.parameter_overrides)
    return raw


def point_config(base: ModelConfig, point: Mapping[str, Any], factors: Mapping[str, Factor] | None = None) -> ModelConfig:
    """The validated ``ModelConfig`` of one design point on top of ``base`` (same checks as a scenario file)."""
    factors = factors or {k: resolve_factor(k) for k in point}
    raw = config_to_raw(base)
    if "scenario" in point:
        sc = load_scenario(str(point["scenario"]))
        raw = config_to_raw(sc.config)
        raw["scenario"]["start_year"], raw["scenario"]["end_year"] = base.start_year, base.end_year
    for name, value in point.items():
        f = factors[name]
        if f.section == "scenario_name":
            continue
        if isinstance(value, (np.integer,)):
            value = int(value)
        elif isinstance(value, np.floating):
            value = float(value)
        if f.integer and isinstance(value, float) and value.is_integer():
            value = int(value)
        if f.section == "policy" and f.key in ("before", "after", "all"):
            raw.setdefault("policy", {}).pop("all", None)
        raw.setdefault(f.section, {})[f.key] = value
    try:
        return parse_scenario(raw, "<sweep>").config
    except ScenarioError as err:
        raise DesignError(str(err).replace("scenario <sweep>: ", "sweep: ")) from None


@dataclass
class Design:
    """Points of an experiment design (``points``: one row per setting) and SALib's problem for analysis."""

    method: str
    points: pd.DataFrame
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    levels: dict[str, list] = field(default_factory=dict)
    samples: np.ndarray | None = None
    seed: int = 0
    num_levels: int = 4
    second_order: bool = False

    @property
    def factors(self) -> list[str]:
        return list(self.points.columns)

    def problem(self) -> dict:
        """SALib's problem dictionary over the continuous factors."""
        names = list(self.bounds)
        return {"num_vars": len(names), "names": names, "bounds": [list(self.bounds[n]) for n in names]}

    def __len__(self) -> int:
        return len(self.points)


def _round_integers(df: pd.DataFrame, integer: Sequence[str]) -> pd.DataFrame:
    for name in integer:
        df[name] = np.rint(df[name]).astype(int)
    return df


def _check_bounds(bounds: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    out = {}
    for name, b in bounds.items():
        try:
            lo, hi = (float(b[0]), float(b[1]))
        except (TypeError, ValueError, IndexError):
            raise DesignError(f"sweep factor {name!r} = {b!r}: must be a range LO:HI of two numbers") from None
        if not lo < hi:
            raise DesignError(f"sweep factor {name!r} = {lo:g}:{hi:g}: must have LO < HI")
        out[name] = (lo, hi)
    if not out:
        raise DesignError("sweep design: needs at least one factor with a range LO:HI")
    return out


def grid(levels: Mapping[str, Sequence[Any]]) -> Design:
    """Every combination of the listed levels (full factorial)."""
    if not levels:
        raise DesignError("sweep design grid: needs at least one factor FIELD=V1,V2,...")
    names = list(levels)
    rows = list(itertools.product(*[list(levels[n]) for n in names]))
    return Design("grid", pd.DataFrame(rows, columns=names), levels={k: list(v) for k, v in levels.items()})


def lhs(bounds: Mapping[str, tuple[float, float]], n: int, seed: int = 0, integer: Sequence[str] = ()) -> Design:
    """``n`` points of a Latin hypercube over ``bounds`` (one point in each of n strata per factor)."""
    b = _check_bounds(bounds)
    if n < 2:
        raise DesignError(f"--samples = {n}: a Latin hypercube needs at least 2")
    unit = qmc.LatinHypercube(d=len(b), rng=np.random.default_rng(seed)).random(n)
    x = qmc.scale(unit, [v[0] for v in b.values()], [v[1] for v in b.values()])
    pts = _round_integers(pd.DataFrame(x, columns=list(b)), integer)
    return Design("lhs", pts, bounds=b, samples=x, seed=seed)


def sobol(bounds: Mapping[str, tuple[float, float]], n: int, seed: int = 0, integer: Sequence[str] = (),
          second_order: bool = False) -> Design:
    """Saltelli's extension of a Sobol' sequence: ``n * (D + 2)`` points (``n * (2D + 2)`` with second order)."""
    from SALib.sample import sobol as sampler

    b = _check_bounds(bounds)
    if n < 2 or n & (n - 1):
        raise DesignError(f"--samples = {n}: a Sobol' design needs a power of 2 (e.g. 8, 16, 64)")
    d = Design("sobol", pd.DataFrame(), bounds=b, seed=seed, second_order=second_order)
    x = sampler.sample(d.problem(), n, calc_second_order=second_order, seed=seed)
    d.samples, d.points = x, _round_integers(pd.DataFrame(x, columns=list(b)), integer)
    return d


def morris(bounds: Mapping[str, tuple[float, float]], n: int, seed: int = 0, integer: Sequence[str] = (),
           num_levels: int = 4) -> Design:
    """``n`` Morris trajectories of ``D + 1`` points each on a ``num_levels`` grid."""
    from SALib.sample import morris as sampler

    b = _check_bounds(bounds)
    if n < 2:
        raise DesignError(f"--samples = {n}: Morris needs at least 2 trajectories")
    d = Design("morris", pd.DataFrame(), bounds=b, seed=seed, num_levels=num_levels)
    x = sampler.sample(d.problem(), n, num_levels=num_levels, seed=seed)
    d.samples, d.points = x, _round_integers(pd.DataFrame(x, columns=list(b)), integer)
    return d


def default_bounds(name: str) -> tuple[float, float] | None:
    """A structural parameter's allowed range from calibration/parameters.toml, when the file gives one."""
    f = resolve_factor(name)
    if f.section != "parameters":
        return None
    params = load_parameters()
    if hasattr(params, "bounds"):
        lo, hi, _ = params.bounds(f.key)
        return lo, hi
    t = params.to_frame()
    row = t[(t["section"] + "." + t["name"]) == f.key]
    for lo_col, hi_col in (("min", "max"), ("lower", "upper")):
        if lo_col in row.columns and hi_col in row.columns:
            lo, hi = row[lo_col].iloc[0], row[hi_col].iloc[0]
            if pd.notna(lo) and pd.notna(hi) and lo != "" and hi != "":
                return float(lo), float(hi)
    return None


def make_design(method: str, factors: Mapping[str, Any], samples: int = 0, seed: int = 0) -> Design:
    """A design of ``method`` over ``factors``: lists of levels for grid, (lo, hi) ranges otherwise.

    For lhs/sobol/morris a factor given as a list of levels (a scenario name, a policy, a switch)
    is crossed with the sampled points, so every level sees the same continuous design.
    """
    if method not in METHODS:
        raise DesignError(f"--design = {method!r}: allowed {', '.join(METHODS)}")
    resolved = {k: resolve_factor(k) for k in factors}
    if method == "grid":
        levels = {}
        for k, v in factors.items():
            if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v) and samples:
                raise DesignError(f"sweep factor {k!r}: the grid design takes levels V1,V2,..., not a range")
            levels[k] = list(v)
        return grid(levels)
    ranges = {k: v for k, v in factors.items() if isinstance(v, tuple)}
    fixed = {k: list(v) for k, v in factors.items() if not isinstance(v, tuple)}
    integer = [k for k in ranges if resolved[k].integer]
    build = {"lhs": lhs, "sobol": sobol, "morris": morris}[method]
    design = build(ranges, samples, seed=seed, integer=integer)
    if fixed:
        cross = grid(fixed).points
        design.points = design.points.merge(cross, how="cross")
        design.levels = fixed
    return design


# ----- sensitivity --------------------------------------------------------------------------------------
def morris_indices(design: Design, y: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Morris elementary effects of ``y`` (one value per design point): mu, mu*, sigma and mu*'s CI."""
    from SALib.analyze import morris as analyser

    if design.method != "morris":
        raise DesignError(f"--analyse morris needs a Morris design, not {design.method!r} (use --design morris)")
    res = analyser.analyze(design.problem(), design.samples, np.asarray(y, float), num_levels=design.num_levels, seed=seed)
    return pd.DataFrame({"factor": res["names"], "mu": res["mu"], "mu_star": res["mu_star"], "sigma": res["sigma"],
                         "mu_star_conf": res["mu_star_conf"]})


def sobol_indices(design: Design, y: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """First-order and total Sobol' indices of ``y`` with their 95 % bootstrap CIs."""
    from SALib.analyze import sobol as analyser

    if design.method != "sobol":
        raise DesignError(f"--analyse sobol needs a Sobol' design, not {design.method!r} (use --design sobol)")
    res = analyser.analyze(design.problem(), np.asarray(y, float), calc_second_order=design.second_order, seed=seed)
    return pd.DataFrame({"factor": design.problem()["names"], "S1": res["S1"], "S1_conf": res["S1_conf"],
                         "ST": res["ST"], "ST_conf": res["ST_conf"]})


def analyse(design: Design, y: np.ndarray, method: str, seed: int = 0) -> pd.DataFrame:
    """Sensitivity indices by ``method`` (morris or sobol)."""
    if method == "morris":
        return morris_indices(design, y, seed)
    if method == "sobol":
        return sobol_indices(design, y, seed)
    raise DesignError(f"--analyse = {method!r}: allowed morris, sobol")
