"""Benchmark of the default run (2008-2035): wall time per simulated year, per LP, peak memory
(and how much of it the imports, the model's set-up and the run's state take).

Also the share of each year spent in the study modules (TFP spillovers, city panel, firm
outcomes); ``--no-studies`` runs the core alone. ``--against DIR`` runs the same measurement on
another checkout of SuanLi (for example ``git worktree add /tmp/base HEAD~1``) in a subprocess in
the same session, and prints both side by side; with ``--cli`` it also times ``suanli run`` end to end
(imports, simulation and writing the run, in a fresh process) for both checkouts, with this
checkout's defaults and, if the other checkout has no ``--formats`` option (it then always wrote
every table as Parquet, CSV and .dta), with the same files. ``--repeat N`` takes the median of N
alternating measurements. Prints figures; asserts nothing.
Usage: python benchmarks/run_default.py [--policy cost_min_lp] [--seed 1] [--no-studies] [--against DIR [--cli] [--repeat N]]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from dataclasses import replace

import numpy as np

# Run as a script, this directory comes first on sys.path, where benchmarks/calibration.py would hide
# the calibration package: drop it (the package comes from the install or PYTHONPATH).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def _rss_mb() -> float:
    """Resident memory now (MB; Linux /proc, else the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


from experiments.scenario import load_scenario  # noqa: E402
from sim.model import SuanLiModel  # noqa: E402

IMPORTS_MB = _rss_mb()  # the interpreter and the modules a run imports (numpy, pandas, pyarrow, scipy, mesa, ...)


def _timed(step, totals: dict[str, float], name: str):
    def wrapped():
        t = time.perf_counter()
        step()
        totals[name] += time.perf_counter() - t

    return wrapped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default=None)
    ap.add_argument("--policy", default=None, help="policy after designation (default: the scenario's)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-studies", action="store_true", help="run the core without the study modules")
    ap.add_argument("--against", help="another SuanLi checkout to measure in the same session (old vs new)")
    ap.add_argument("--cli", action="store_true", help="with --against: also time `suanli run` end to end")
    ap.add_argument("--repeat", type=int, default=1, help="with --against: median of this many alternating runs")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.against:
        compare_with(args)
        return
    cfg = load_scenario(args.scenario).config
    if args.no_studies:
        cfg = replace(cfg, studies=())
    if args.policy:
        cfg = replace(cfg, policy_after=args.policy)
    t0 = time.perf_counter()
    model = SuanLiModel(cfg, seed=args.seed)
    setup = time.perf_counter() - t0
    setup_mb = _rss_mb()
    study_seconds = {name: 0.0 for name in model.studies}
    for name, study in model.studies.items():
        study.step = _timed(study.step, study_seconds, name)
    per_year = []
    for _ in range(cfg.start_year, cfg.end_year + 1):
        t = time.perf_counter()
        model.step()
        per_year.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    lp = np.array(model.lp_seconds)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps({"total_s": total, "per_year_s": float(np.mean(per_year)), "peak_mb": peak_mb,
                          "imports_mb": IMPORTS_MB, "setup_mb": setup_mb - IMPORTS_MB,
                          "run_mb": peak_mb - setup_mb}))
        return
    n_firms, n_dcs = len(model.firms), len(model.dcs)
    print(f"default run {cfg.start_year}-{cfg.end_year}, policy before/after: {cfg.policy_before}/{cfg.policy_after}, seed {args.seed}")
    print(f"  agents at end: {n_firms} firms, {n_dcs} data centres, {len(model.provinces)} provinces; 96 snapshots a year")
    print(f"  set-up            {setup:8.2f} s")
    print(f"  total wall time   {total:8.2f} s   (target < 20 s)")
    print(f"  per year: mean    {np.mean(per_year):8.3f} s   max {np.max(per_year):.3f} s")
    if study_seconds:
        years = len(per_year)
        in_studies = sum(study_seconds.values())
        parts = ", ".join(f"{k} {v / years * 1000:.1f} ms" for k, v in study_seconds.items())
        print(f"  per year in studies {in_studies / years:6.3f} s   ({parts}); core alone "
              f"{(sum(per_year) - in_studies) / years:.3f} s, ratio with studies "
              f"{sum(per_year) / (sum(per_year) - in_studies):.2f}")
    print(f"  per schedule (one per representative day, 4 a year): mean {lp.mean() * 1000:.1f} ms, max {lp.max() * 1000:.1f} ms")
    solves = sum(getattr(getattr(p, "lp", None), "solves", 0) for p in model._policies.values())
    if solves:
        print(f"  LP solves: {solves} distinct (identical representative days reuse a solution); "
              f"{lp.sum() / solves * 1000:.0f} ms per LP solved")
    print(f"  peak memory (RSS) {peak_mb:8.0f} MB   (imports {IMPORTS_MB:.0f} MB, set-up {setup_mb - IMPORTS_MB:.0f} MB, "
          f"the run's state {peak_mb - setup_mb:.0f} MB)")


def measure(root: Path, args) -> dict:
    """Run this benchmark on the checkout at ``root`` in a fresh interpreter; its figures as a dict."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--json", "--seed", str(args.seed)]
    cmd += ["--policy", args.policy] if args.policy else []
    cmd += ["--scenario", args.scenario] if args.scenario else []
    cmd += ["--no-studies"] if args.no_studies else []
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


CLI_PROBE = ("import json, resource, sys, time; t = time.perf_counter(); from experiments.cli import main; "
             "rc = main(sys.argv[1:]); print('E2E ' + json.dumps({'wall_s': time.perf_counter() - t, "
             "'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'rc': rc}))")


def measure_cli(root: Path, args, extra: list[str]) -> dict:
    """``suanli run`` of the checkout at ``root`` in a fresh interpreter writing to a temporary
    directory: wall time from the first import to the end of writing, and peak RSS."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="suanli-bench-run-") as tmp:
        cmd = [sys.executable, "-c", CLI_PROBE, "run", "--out", str(Path(tmp) / "run"), "--quiet", "--seed", str(args.seed)]
        cmd += ["--policy", args.policy] if args.policy else []
        cmd += ["--scenario", args.scenario] if args.scenario else []
        env = {**os.environ, "PYTHONPATH": str(root)}
        out = subprocess.run(cmd + extra, cwd=root, env=env, capture_output=True, text=True, check=True).stdout
        size = sum(f.stat().st_size for f in (Path(tmp) / "run").iterdir()) / 2**20
    res = json.loads(next(line[4:] for line in out.splitlines() if line.startswith("E2E ")))
    return {**res, "written_mb": size}


def _median(runs: list[dict]) -> dict:
    return {k: float(np.median([r[k] for r in runs])) for k in runs[0]}


def compare_with(args) -> None:
    here = Path(__file__).resolve().parents[1]
    other = Path(args.against).resolve()
    pairs = [(measure(other, args), measure(here, args)) for _ in range(max(args.repeat, 1))]
    a, b = _median([p[0] for p in pairs]), _median([p[1] for p in pairs])
    print(f"default run, seed {args.seed}, policy {args.policy or 'scenario'}: {other} (old) vs {here} (new)"
          + (f", median of {args.repeat}" if args.repeat > 1 else ""))
    for key, label in (("total_s", "total wall time (s)"), ("per_year_s", "per simulated year (s)"),
                       ("peak_mb", "peak memory RSS (MB)"), ("imports_mb", "  of which imports (MB)"),
                       ("setup_mb", "  set-up (MB)"), ("run_mb", "  the run's state (MB)")):
        print(f"  {label:24s} old {a[key]:9.3f}   new {b[key]:9.3f}   new/old {b[key] / a[key]:.2f}")
    if not args.cli:
        return
    old_has_formats = "--formats" in subprocess.run([sys.executable, "-m", "experiments.cli", "run", "--help"], cwd=other,
                                                    env={**os.environ, "PYTHONPATH": str(other)}, capture_output=True,
                                                    text=True).stdout
    variants = [("defaults", [])]
    if not old_has_formats:
        variants.append(("same files as old: --outputs full --formats parquet,csv,dta",
                         ["--outputs", "full", "--formats", "parquet,csv,dta"]))
    old_runs = []
    new_runs: dict[str, list[dict]] = {name: [] for name, _ in variants}
    for _ in range(max(args.repeat, 1)):
        old_runs.append(measure_cli(other, args, []))
        for name, extra in variants:
            new_runs[name].append(measure_cli(here, args, extra))
    o = _median(old_runs)
    print(f"suanli run end to end (imports + simulation + writing; old writes {o['written_mb']:.0f} MB with its defaults)")
    for name, _ in variants:
        n = _median(new_runs[name])
        print(f"  new with {name}: writes {n['written_mb']:.0f} MB")
        print(f"    {'wall time (s)':22s} old {o['wall_s']:9.3f}   new {n['wall_s']:9.3f}   new/old {n['wall_s'] / o['wall_s']:.2f}")
        print(f"    {'peak memory RSS (MB)':22s} old {o['peak_mb']:9.1f}   new {n['peak_mb']:9.1f}   new/old {n['peak_mb'] / o['peak_mb']:.2f}")


if __name__ == "__main__":
    main()
