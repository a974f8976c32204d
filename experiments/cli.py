"""The ``suanli`` command line: run a scenario, an ensemble or a sweep, replicate the studies' tables on a
run, list what is built in.

Every input is checked before anything is simulated; an expected error (a bad scenario, option,
parameter, output location, policy file or scheduler) is one line on stderr with exit code 2,
and a traceback only with ``--debug``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from experiments.scenario import builtin_scenarios, load_scenario

HIGHLIGHT_YEARS = (2008, 2015, 2020, 2022, 2023, 2024, 2025, 2030, 2035)


class UsageError(ValueError):
    """A command-line option whose value is not allowed."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line (``suanli: error: ...``) with exit code 2."""

    def error(self, message: str):
        self.exit(2, f"suanli: error: {self.prog}: {message}\n")


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
    """Scenario, config and seed from the common options, all validated (policies loaded)."""
    from experiments.scenario import check_policies

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
        check_policies(config, f"{scenario.source} with --policy")
    seed = args.seed if getattr(args, "seed", None) is not None else (scenario.seed or 0)
    if seed < 0:
        raise UsageError(f"--seed = {seed}: must be a non-negative integer")
    return scenario, config, seed


def _formats(args) -> tuple[str, ...]:
    from sim.outputs import parse_formats

    return parse_formats(args.formats or "parquet")


def _workers(args) -> int:
    if args.workers < 1:
        raise UsageError(f"--workers = {args.workers}: must be an integer of at least 1")
    return args.workers


def cmd_run(args) -> int:
    from experiments.ensemble import deferred_tables
    from sim.model import SuanLiModel
    from sim.outputs import check_outputs, check_run_target, format_summary, write_run

    scenario, config, seed = resolve(args)
    formats = _formats(args)
    outputs = check_outputs(args.outputs or "panels")
    out = check_run_target(Path(args.out or f"suanli_out/{scenario.name}_seed{seed}"))
    t0 = time.perf_counter()
    model = SuanLiModel(config, seed=seed)
    model.run(progress=not args.quiet)
    wall = time.perf_counter() - t0
    meta = {"scenario": scenario.name, "scenario_file": scenario.source, "scenario_description": scenario.description,
            "wall_seconds": round(wall, 3), "command": "run"}
    write_run(model, out, meta=meta, formats=formats, outputs=outputs, derive=deferred_tables, release=True)
    years = [y for y in HIGHLIGHT_YEARS if config.start_year <= y <= config.end_year]
    print(f"SuanLi run: scenario {scenario.name}, seed {seed}, {config.start_year}-{config.end_year}, "
          f"{wall:.1f} s; panels in {out}")
    print(format_summary(model, years))
    return 0


def cmd_ensemble(args) -> int:
    from experiments.ensemble import run_ensemble

    scenario, config, _ = resolve(args)
    seeds = parse_seeds(args.seeds)
    workers = _workers(args)
    backend = args.backend or ("dask" if args.scheduler else "serial")
    if args.scheduler and backend != "dask":
        raise UsageError(f"--scheduler = {args.scheduler!r}: needs --backend dask (got --backend {backend})")
    out = Path(args.out or f"suanli_out/{scenario.name}_ensemble")
    table = run_ensemble(config, seeds, out, scenario=scenario.name, scheduler=args.scheduler,
                         workers=workers, backend=backend, progress=not args.quiet,
                         outputs=args.outputs or "summary", formats=_formats(args), force=args.force,
                         scheduler_timeout=args.scheduler_timeout)
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


def cmd_replicate(args) -> int:
    from experiments.ensemble import write_atomic
    from experiments.replication import replicate_run

    tables = [t.strip() for t in args.tables.split(",")] if args.tables else None
    if args.out:
        import os

        parent = Path(args.out).parent
        if not parent.is_dir():
            raise UsageError(f"--out = {args.out!r}: folder {str(parent)!r} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(f"--out = {args.out!r}: folder {str(parent)!r} is not writable")
        if Path(args.out).with_suffix(".parquet").is_dir():
            raise UsageError(f"--out = {args.out!r}: {args.out}.parquet is a directory")
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

    print("scenarios:")
    names = builtin_scenarios()
    width = max(len(n) for n in names)
    for name in names:
        print(f"  {name:<{width}}  {load_scenario(name).description}")
    print("policies:  " + ", ".join(available()))
    return 0


# Subcommands defined in their own modules (name -> module with add_parser). A module is imported only
# when its subcommand runs or the full help is shown: together they import the estimators, the design
# and sensitivity machinery and the dashboard, over a second before `suanli run` would simulate anything.
SUBCOMMAND_MODULES = {"sweep": "experiments.sweep", "compare": "experiments.compare", "policies": "experiments.bench",
                      "calibrate": "experiments.calibrate", "validate": "experiments.validate",
                      "dashboard": "experiments.dashboard"}
OWN_COMMANDS = ("run", "ensemble", "replicate", "list")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``suanli`` parser; given the subcommand about to run, the other modules' subcommands are left out."""
    import importlib

    def external(*names):
        for name in names:
            if command is None or command == name or command not in (*OWN_COMMANDS, *SUBCOMMAND_MODULES):
                importlib.import_module(SUBCOMMAND_MODULES[name]).add_parser(sub)

    parser = OneLineParser(prog="suanli", description="SuanLi: the East-West computing-power economy.")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors (also accepted after the subcommand)")
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
    run.add_argument("--outputs", choices=("summary", "panels", "full"), default="panels",
                     help="what to write: summary, panels (default: what replicate needs) or full (adds hourly snapshots, links, latent truths)")
    run.add_argument("--formats", default="parquet", help="comma-separated: parquet (always), csv, dta (default parquet)")
    run.set_defaults(func=cmd_run)

    ens = sub.add_parser("ensemble", help="run seeded replications (serial, processes or Dask)")
    common(ens)
    ens.add_argument("--seeds", default="1-10", help="seeds, e.g. 1-20 or 1,3,5 (default 1-10)")
    ens.add_argument("--backend", choices=("serial", "processes", "dask"), default=None,
                     help="serial (default), processes or dask (implied by --scheduler)")
    ens.add_argument("--workers", type=int, default=2, help="worker processes for processes/dask (default 2)")
    ens.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786 (default: a LocalCluster)")
    ens.add_argument("--scheduler-timeout", type=float, default=10.0, help="seconds to wait for the scheduler (default 10)")
    ens.add_argument("--outputs", choices=("summary", "panels", "full"), default="summary",
                     help="what each replication stores (default summary)")
    ens.add_argument("--formats", default="parquet", help="comma-separated: parquet (always), csv, dta (default parquet)")
    ens.add_argument("--force", action="store_true", help="recompute stored replications made with another scenario, config or version")
    ens.set_defaults(func=cmd_ensemble)

    external("sweep")

    rep = sub.add_parser("replicate", help="re-estimate the studies' tables on a run's panels")
    rep.add_argument("run_dir", help="output directory of `suanli run`")
    rep.add_argument("--tables", help="comma-separated tables, e.g. p1_table2,p3_table3 (default: all)")
    rep.add_argument("--compare-only", action="store_true", help="print only the comparison with the published values")
    rep.add_argument("--out", help="write the comparison here (Parquet and CSV, base name without suffix)")
    rep.set_defaults(func=cmd_replicate)

    lst = sub.add_parser("list", help="list built-in scenarios and policies")
    lst.set_defaults(func=cmd_list)
    external("compare", "policies", "calibrate", "validate", "dashboard")
    return parser


PROJECT_PACKAGES = ("sim", "experiments", "calibration", "analysis")


def expected_error(err: BaseException) -> bool:
    """An error the user can fix from its one-line message: the project's own error classes
    (bad scenario, option, parameter, output, policy, scheduler, accounting, a policy that
    raised mid-run) and OS errors."""
    from sim.market import AccountingError, PolicyError

    own = type(err).__module__.split(".")[0] in PROJECT_PACKAGES or isinstance(err, UsageError)
    return isinstance(err, OSError) or (own and isinstance(err, (ValueError, AccountingError, PolicyError)))


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, OSError) and err.filename and str(err.filename) not in text:
        text += f": {err.filename}"
    return text


def main(argv: list[str] | None = None) -> int:
    from sim.outputs import Terminated, install_sigterm_handler

    argv = list(argv if argv is not None else sys.argv[1:])
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser(argv[0] if argv and not argv[0].startswith("-") else None)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    install_sigterm_handler()
    try:
        return args.func(args)
    except Terminated:
        print("suanli: stopped by SIGTERM; temporary files removed", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("suanli: interrupted; temporary files removed", file=sys.stderr)
        return 130
    except Exception as err:
        if debug or not expected_error(err):
            raise
        print(f"suanli: error: {_one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from experiments.cli import main as _main  # the package's classes, so that its errors are recognised

    sys.exit(_main())
