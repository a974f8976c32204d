"""Parameter sweeps with Mesa's own ``batch_run``: the points of a design x seeds.

A factor is a scenario TOML key (``market.carbon_price_cny_per_t``), a ``ModelConfig`` field
(``carbon_price_cny_per_t``), a structural parameter (``datacentre.pue_2023``) or ``scenario``;
each point is validated like a scenario file (``experiments.designs``). Results are the national
summary by year, one row per point, seed and year, with the factor values as columns;
``sensitivity`` turns a Morris or Sobol' design's results into SALib indices of one metric in
one year (averaged over seeds).
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any, Iterable

import mesa
import numpy as np
import pandas as pd

from experiments.designs import Design, DesignError, analyse, grid, make_design, point_config, resolve_factor
from sim.config import ModelConfig
from sim.model import SuanLiModel

SWEEPABLE = tuple(f.name for f in fields(ModelConfig) if f.name not in ("start_year", "end_year", "parameter_overrides"))
RUN_COLUMNS = ("RunId", "iteration", "Step", "config", "seed")


def _key(config: ModelConfig) -> str:
    return json.dumps(asdict(config), sort_keys=True, default=str)


def run_design(design: Design, seeds: Iterable[int], config: ModelConfig | None = None, processes: int = 1,
               progress: bool = False) -> pd.DataFrame:
    """Run every point of ``design`` x ``seeds`` through ``mesa.batch_run``; returns the summaries by year."""
    config = config or ModelConfig()
    seeds = list(seeds)
    factors = {k: resolve_factor(k) for k in design.factors}
    configs = [point_config(config, row, factors) for row in design.points.to_dict("records")]
    unique: dict[str, ModelConfig] = {}
    for c in configs:
        unique.setdefault(_key(c), c)
    n_years = config.end_year - config.start_year + 1
    rows = mesa.batch_run(
        SuanLiModel,
        parameters={"config": list(unique.values()), "seed": seeds},
        number_processes=processes,
        iterations=1,
        data_collection_period=1,
        max_steps=n_years,
        display_progress=progress,
    )
    raw = pd.DataFrame(rows)
    raw["_key"] = [_key(c) for c in raw["config"]]
    metrics = [c for c in raw.columns if c not in RUN_COLUMNS and c not in ("_key", "year")]
    points = design.points.reset_index(drop=True).assign(point=lambda d: np.arange(len(d)), _key=[_key(c) for c in configs])
    out = points.merge(raw[["_key", "seed", "year", *metrics]], on="_key", how="left").drop(columns="_key")
    out = out.sort_values(["point", "seed", "year"], kind="stable").reset_index(drop=True)
    return out[["point", "seed", *design.factors, "year", *metrics]]


def sweep(
    grid_levels: dict[str, Iterable[Any]],
    seeds: Iterable[int],
    config: ModelConfig | None = None,
    processes: int = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Full-factorial sweep of ``grid_levels`` (factor -> values) x ``seeds``; returns the summaries."""
    try:
        design = grid({k: list(v) for k, v in grid_levels.items()})
    except DesignError as err:
        raise ValueError(str(err)) from None
    return run_design(design, seeds, config, processes, progress)


def sensitivity(design: Design, results: pd.DataFrame, metric: str, year: int, method: str, seed: int = 0) -> pd.DataFrame:
    """SALib indices of ``metric`` in ``year`` (mean over seeds per point) against ``design``."""
    if design.levels:
        raise DesignError(f"--analyse {method}: every factor needs a range LO:HI (levels {', '.join(design.levels)} are crossed, not sampled)")
    if metric not in results.columns:
        raise DesignError(f"--metric = {metric!r}: allowed {', '.join(c for c in results.columns if c not in ('point', 'seed', 'year', *design.factors))}")
    at = results[results["year"] == year]
    if at.empty:
        raise DesignError(f"--year = {year}: not simulated (years {int(results['year'].min())}-{int(results['year'].max())})")
    y = at.groupby("point")[metric].mean().reindex(range(len(design))).to_numpy(float)
    table = analyse(design, y, method, seed)
    return table.assign(metric=metric, year=year, method=method, n_points=len(design), n_seeds=at["seed"].nunique())


__all__ = ["SWEEPABLE", "make_design", "run_design", "sensitivity", "sweep"]


def _parse_factor(item: str, method: str) -> tuple[str, Any]:
    """``FIELD=V1,V2`` (levels) or ``FIELD=LO:HI`` (a range); a bare ``section.name`` takes the parameter's bounds."""
    from experiments.cli import UsageError, _scalar
    from experiments.designs import default_bounds

    key, sep, values = item.partition("=")
    key = key.strip()
    if not sep:
        bounds = default_bounds(key) if method != "grid" else None
        if bounds is None:
            raise UsageError(f"--set {item!r}: must be FIELD=V1,V2,... or FIELD=LO:HI")
        return key, bounds
    if not values:
        raise UsageError(f"--set {item!r}: must be FIELD=V1,V2,... or FIELD=LO:HI")
    lo, colon, hi = values.partition(":")
    if colon and "," not in values:
        a, b = _scalar(lo.strip()), _scalar(hi.strip())
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
            if method == "grid":
                raise UsageError(f"--set {item!r}: a range LO:HI needs --design lhs, sobol or morris (grid takes V1,V2,...)")
            return key, (a, b)
    return key, [_scalar(v.strip()) for v in values.split(",")]


def cmd_sweep(args) -> int:
    from pathlib import Path

    from experiments.cli import UsageError, parse_seeds, resolve
    from experiments.ensemble import write_atomic

    method = args.design or {"morris": "morris", "sobol": "sobol"}.get(args.analyse or "", "grid")
    if args.analyse and args.analyse != method:
        raise UsageError(f"--analyse {args.analyse} needs --design {args.analyse}, not --design {method}")
    if method != "grid" and not args.samples:
        raise UsageError(f"--design {method}: needs --samples N")
    if args.analyse and not args.metric:
        raise UsageError(f"--analyse {args.analyse}: needs --metric (a summary column, e.g. dc_carbon_mt)")
    _, config, _ = resolve(args)
    try:
        factors = dict(_parse_factor(item, method) for item in (args.set or []))
        if not factors:
            raise DesignError("sweep: needs at least one --set FIELD=V1,V2 or FIELD=LO:HI")
        design = make_design(method, factors, args.samples or 0, seed=args.design_seed)
        df = run_design(design, parse_seeds(args.seeds), config, processes=args.processes, progress=not args.quiet)
        year = args.year or config.end_year
        table = sensitivity(design, df, args.metric, year, args.analyse, seed=args.design_seed) if args.analyse else None
    except ValueError as err:
        raise UsageError(str(err)) from None
    out = Path(args.out or "suanli_out/sweep")
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(design.points.assign(point=range(len(design))), out / "design")
    write_atomic(df, out / "sweep_summary")
    last = df[df["year"] == config.end_year]
    shown = [c for c in ("racks_million", "dc_electricity_twh", "west_utilisation", "unserved_share", "dc_carbon_mt") if c in df]
    mean = last.groupby(["point", *design.factors], sort=False, dropna=False)[shown].mean().reset_index()
    print(f"SuanLi sweep ({method} design, {len(design)} points x {df['seed'].nunique()} seeds, mesa.batch_run); results in {out}")
    print(f"{config.end_year}, mean over seeds:")
    print(mean.head(40).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if len(mean) > 40:
        print(f"... {len(mean) - 40} more points in {out / 'sweep_summary.csv'}")
    if table is not None:
        write_atomic(table, out / "sensitivity")
        print(f"\n{args.analyse} sensitivity of {args.metric} in {year} (SALib):")
        print(table.drop(columns=["metric", "year", "method"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def add_parser(subparsers) -> None:
    """The ``suanli sweep`` subcommand."""
    p = subparsers.add_parser("sweep", help="sweep scenario fields, structural parameters and scenarios x seeds (grid, LHS, Sobol, Morris)")
    p.add_argument("--scenario", help="base scenario TOML file or built-in name (default: default)")
    p.add_argument("--years", help="simulated years START-END")
    p.add_argument("--policy", help="override the policy after hub designation")
    p.add_argument("--out", help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--set", action="append", metavar="FACTOR=V1,V2|LO:HI",
                   help="a factor (repeatable): scenario TOML key (market.carbon_price_cny_per_t), ModelConfig field, "
                        "structural parameter (datacentre.pue_2023) or 'scenario'; levels V1,V2 or a range LO:HI")
    p.add_argument("--design", choices=("grid", "lhs", "sobol", "morris"), help="experiment design (default grid)")
    p.add_argument("--samples", type=int, help="LHS points, Sobol base samples (power of 2) or Morris trajectories")
    p.add_argument("--design-seed", type=int, default=0, help="seed of the design's sampler (default 0)")
    p.add_argument("--analyse", choices=("morris", "sobol"), help="sensitivity indices through SALib")
    p.add_argument("--metric", help="output metric (summary column) for --analyse")
    p.add_argument("--year", type=int, help="year of the metric for --analyse (default: the last)")
    p.add_argument("--seeds", default="1-3", help="seeds (default 1-3)")
    p.add_argument("--processes", type=int, default=1)
    p.set_defaults(func=cmd_sweep)
