"""Benchmark of the default run (2008-2035): wall time per simulated year, per LP, peak memory.

Also the share of each year spent in the study modules (TFP spillovers, city panel, firm
outcomes); ``--no-studies`` runs the core alone. ``--against DIR`` runs the same measurement on
another checkout of SuanLi (for example ``git worktree add /tmp/base HEAD~1``) in a subprocess in
the same session, and prints both side by side. Prints figures; asserts nothing.
Usage: python benchmarks/run_default.py [--policy cost_min_lp] [--seed 1] [--no-studies] [--against DIR]
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

from experiments.scenario import load_scenario  # noqa: E402
from sim.model import SuanLiModel  # noqa: E402


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
        print(json.dumps({"total_s": total, "per_year_s": float(np.mean(per_year)), "peak_mb": peak_mb}))
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
    print(f"  peak memory (RSS) {peak_mb:8.0f} MB")


def measure(root: Path, args) -> dict:
    """Run this benchmark on the checkout at ``root`` in a fresh interpreter; its figures as a dict."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--json", "--seed", str(args.seed)]
    cmd += ["--policy", args.policy] if args.policy else []
    cmd += ["--scenario", args.scenario] if args.scenario else []
    cmd += ["--no-studies"] if args.no_studies else []
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def compare_with(args) -> None:
    here = Path(__file__).resolve().parents[1]
    other = Path(args.against).resolve()
    a, b = measure(other, args), measure(here, args)
    print(f"default run, seed {args.seed}, policy {args.policy or 'scenario'}: {other} (old) vs {here} (new)")
    for key, label in (("total_s", "total wall time (s)"), ("per_year_s", "per simulated year (s)"),
                       ("peak_mb", "peak memory RSS (MB)")):
        print(f"  {label:24s} old {a[key]:9.3f}   new {b[key]:9.3f}   new/old {b[key] / a[key]:.2f}")


if __name__ == "__main__":
    main()
