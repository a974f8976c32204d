"""The ``suanli`` command line: run a scenario, an ensemble or a sweep, replicate the studies' tables on a
run, list what is built in."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from experiments.scenario import ScenarioError, builtin_scenarios, load_scenario

HIGHLIGHT_YEARS = (2008, 2015, 2020, 2022, 2023, 2024, 2025, 2030, 2035)


class UsageError(ValueError):
    pass


def parse_years(text: str) -> tuple[int, int]:
    try:
        a, _, b = text.partition("-")
        start, end = int(a), int(b or a)
    except ValueError:
        raise UsageError(f"--years = {text!r}: must be START-END, e.g. 2008-2035") from None
    if not (2008 <= start <= end <= 2060):
        raise UsageError(f"--years = {text!r}: must be START-END with 2008 <= START <= END <= 2060")
    return start, end


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    try:
        for part in text.split(","):
            a, _, b = part.partition("-")
            seeds.extend(range(int(a), int(b or a) + 1))
    except ValueError:
        raise UsageError(f"--seeds = {text!r}: must be a list like 1-20 or 1,2,5") from None
    if not seeds or min(seeds) < 0:
        raise UsageError(f"--seeds = {text!r}: must name at least one non-negative seed")
    return seeds


def resolve(args) -> tuple:
    """Scenario, config and seed from the common options."""
    scenario = load_scenario(args.scenario)
    config = scenario.config
    if args.years:
        start, end = parse_years(args.years)
        config = replace(config, start_year=start, end_year=end)
        if config.hubs_enabled and config.designation_year < start:
            raise UsageError(f"--years = {args.years!r}: starts after the hub designation year {config.designation_year}")
    if getattr(args, "policy", None):
        from sim.policies import REGISTRY

        if args.policy not in REGISTRY and ":" not in args.policy:
            raise UsageError(f"--policy = {args.policy!r}: must be one of {', '.join(sorted(REGISTRY))} or 'file.py:ClassName'")
        config = replace(config, policy_after=args.policy)
    seed = args.seed if getattr(args, "seed", None) is not None else (scenario.seed or 0)
    return scenario, config, seed


def cmd_run(args) -> int:
    from sim.model import SuanLiModel
    from sim.outputs import format_summary, write_run

    scenario, config, seed = resolve(args)
    out = Path(args.out or f"suanli_out/{scenario.name}_seed{seed}")
    t0 = time.perf_counter()
    model = SuanLiModel(config, seed=seed)
    model.run(progress=not args.quiet)
    wall = time.perf_counter() - t0
    write_run(model, out, meta={"scenario": scenario.name, "scenario_file": scenario.source, "wall_seconds": None})
    years = [y for y in HIGHLIGHT_YEARS if config.start_year <= y <= config.end_year]
    print(f"SuanLi run: scenario {scenario.name}, seed {seed}, {config.start_year}-{config.end_year}, "
          f"{wall:.1f} s; panels in {out}")
    print(format_summary(model, years))
    return 0


def cmd_ensemble(args) -> int:
    from experiments.ensemble import run_ensemble

    scenario, config, _ = resolve(args)
    seeds = parse_seeds(args.seeds)
    out = Path(args.out or f"suanli_out/{scenario.name}_ensemble")
    table = run_ensemble(config, seeds, out, scenario=scenario.name, scheduler=args.scheduler,
                         workers=args.workers, backend=args.backend, progress=not args.quiet)
    print(f"SuanLi ensemble: scenario {scenario.name}, {len(seeds)} seeds; results in {out}")
    years = [y for y in HIGHLIGHT_YEARS if config.start_year <= y <= config.end_year]
    shown = table[table["year"].isin(years)].copy()
    shown["cell"] = [f"{m:.4g} [{a:.4g}, {b:.4g}]" for m, a, b in zip(shown["mean"], shown["p05"], shown["p95"])]
    print("mean [5th, 95th percentile] across seeds")
    print(shown.pivot(index="year", columns="metric", values="cell").to_string())
    return 0


def _scalar(text: str):
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_grid(items: list[str]) -> dict[str, list]:
    """``--set field=v1,v2`` pairs into a sweep grid: numbers, true/false, or names."""
    grid = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise UsageError(f"--set {item!r}: must be FIELD=V1,V2,...")
        grid[key] = [_scalar(v.strip()) for v in values.split(",")]
    return grid


def cmd_sweep(args) -> int:
    from experiments.sweep import sweep

    _, config, _ = resolve(args)
    grid = parse_grid(args.set or [])
    try:
        df = sweep(grid, parse_seeds(args.seeds), config, processes=args.processes, progress=not args.quiet)
    except ValueError as err:
        raise UsageError(str(err)) from None
    out = Path(args.out or "suanli_out/sweep")
    out.mkdir(parents=True, exist_ok=True)
    from experiments.ensemble import write_atomic

    write_atomic(df, out / "sweep_summary")
    last = df[df["year"] == config.end_year]
    cols = ["seed", *grid.keys(), "racks_million", "dc_electricity_twh", "west_utilisation", "unserved_share", "dc_carbon_mt"]
    print(f"SuanLi sweep with mesa.batch_run: {df['RunId'].nunique()} runs; results in {out}")
    print(last[cols].to_string(index=False))
    return 0


def cmd_replicate(args) -> int:
    from experiments.ensemble import write_atomic
    from experiments.replication import replicate_run

    tables = [t.strip() for t in args.tables.split(",")] if args.tables else None
    try:
        reps = replicate_run(args.run_dir, tables)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None
    comparison = reps.compare()
    for col in ("n", "n_published"):
        comparison[col] = comparison[col].round().astype("Int64")
    if not args.compare_only:
        print(reps.to_string())
        print()
    print("Our estimates against the published ones (diff_in_se = (estimate - published) / published se)")
    print(comparison.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.out:
        write_atomic(comparison, Path(args.out))
    return 0


def cmd_list(args) -> int:
    from sim.policies import available

    print("scenarios: " + ", ".join(builtin_scenarios()))
    print("policies:  " + ", ".join(available()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="suanli", description="SuanLi: the East-West computing-power economy.")
    sub = parser.add_subparsers(dest="command")

    def common(p):
        p.add_argument("--scenario", help="scenario TOML file or built-in name (default: default)")
        p.add_argument("--years", help="simulated years START-END (default from the scenario, 2008-2035)")
        p.add_argument("--policy", help="override the policy after hub designation")
        p.add_argument("--out", help="output directory")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    run = sub.add_parser("run", help="run one scenario and write its panels")
    common(run)
    run.add_argument("--seed", type=int, help="random seed (default: the scenario's, else 0)")
    run.set_defaults(func=cmd_run)

    ens = sub.add_parser("ensemble", help="run seeded replications (serial, processes or Dask)")
    common(ens)
    ens.add_argument("--seeds", default="1-10", help="seeds, e.g. 1-20 or 1,3,5 (default 1-10)")
    ens.add_argument("--backend", choices=("serial", "processes", "dask"), default="serial")
    ens.add_argument("--workers", type=int, default=2, help="worker processes for processes/dask (default 2)")
    ens.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    ens.set_defaults(func=cmd_ensemble)

    swp = sub.add_parser("sweep", help="sweep scenario fields x seeds with mesa.batch_run")
    common(swp)
    swp.add_argument("--set", action="append", help="FIELD=V1,V2 to sweep (repeatable), e.g. carbon_price_cny_per_t=0,200")
    swp.add_argument("--seeds", default="1-3", help="seeds (default 1-3)")
    swp.add_argument("--processes", type=int, default=1)
    swp.set_defaults(func=cmd_sweep)

    rep = sub.add_parser("replicate", help="re-estimate the studies' tables on a run's panels")
    rep.add_argument("run_dir", help="output directory of `suanli run`")
    rep.add_argument("--tables", help="comma-separated tables, e.g. p1_table2,p3_table3 (default: all)")
    rep.add_argument("--compare-only", action="store_true", help="print only the comparison with the published values")
    rep.add_argument("--out", help="write the comparison here (Parquet and CSV, base name without suffix)")
    rep.set_defaults(func=cmd_replicate)

    lst = sub.add_parser("list", help="list built-in scenarios and policies")
    lst.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if not args.command:
        args = parser.parse_args(["run", *(argv or [])])
    try:
        return args.func(args)
    except (ScenarioError, UsageError) as err:
        print(f"suanli: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
