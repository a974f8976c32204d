"""Time of the calibration objective: one evaluation with R replications on W workers, serial vs a
Dask LocalCluster, and the core-reuse replay of a measurement-only parameter vs a full run.

    python benchmarks/calibration.py [--reps 8] [--workers 2] [--compare-reps 4] [--targets IDS]

Prints wall-clock seconds measured on this machine (with whatever else runs on it) and the
full-fit time they imply for a given budget. No assertions: figures to read, not a test.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and its name would hide the
# ``calibration`` package: put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from calibration import fit  # noqa: E402


def one_evaluation(ids, reps: int, backend: str, workers: int) -> float:
    """Seconds for one objective evaluation at the committed parameters (nothing cached)."""
    with fit.ReplicationPool(backend, workers) as pool:
        obj = fit.Objective(ids, [], reps=reps, pool=pool, log=None)
        t0 = time.perf_counter()
        obj.evaluate({})
        return time.perf_counter() - t0


def replay_vs_full(seed: int = 1) -> tuple[float, float, float]:
    """(full run with recording, replay of the firm study with new missing rates, plain full run) in s,
    2008-2023 with all studies."""
    from dataclasses import replace

    from sim.config import ModelConfig

    cfg = ModelConfig(end_year=2023)
    cache = fit.CoreCache()
    t0 = time.perf_counter()
    cache.panels(cfg, seed, record=True)
    t1 = time.perf_counter()
    cache.panels(replace(cfg, parameter_overrides={"firm_outcomes.TS_missing": 0.3}), seed, record=True)
    t2 = time.perf_counter()
    fit.CoreCache().panels(replace(cfg, parameter_overrides={"firm_outcomes.TS_missing": 0.3}), seed, record=False)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--compare-reps", type=int, default=4, help="replications for the serial vs Dask comparison")
    ap.add_argument("--targets", help="comma-separated ids (default: every row not held out by default)")
    ap.add_argument("--budget", type=int, default=40, help="trials, for the full-fit estimate")
    ap.add_argument("--free", type=int, default=0, help="free parameters, for the full-fit estimate "
                                                         "(default: the default free list)")
    ap.add_argument("--skip-replay", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.INFO)
    from calibration.targets import load_targets

    t = load_targets()
    ids = args.targets.split(",") if args.targets else [i for i in t.index if i not in fit.DEFAULT_HOLD_OUT]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (others share it)")
    print(f"targets: {len(ids)} rows")
    t_proc = one_evaluation(ids, args.reps, "processes", args.workers)
    print(f"one objective evaluation, R = {args.reps} on {args.workers} worker processes: {t_proc:.1f} s")
    r = args.compare_reps
    t_ser = one_evaluation(ids, r, "serial", 1)
    t_dask = one_evaluation(ids, r, "dask", args.workers)
    print(f"R = {r}: serial {t_ser:.1f} s, Dask LocalCluster ({args.workers} workers) {t_dask:.1f} s, "
          f"speed-up {t_ser / t_dask:.2f}x")
    k = args.free or len(fit.default_free())
    n_eval = args.budget + args.budget // 2 + 2 * k
    print(f"full fit estimate ({args.budget} trials + {args.budget // 2} local + Jacobian 2 x {k}): "
          f"{n_eval} evaluations x {t_proc:.1f} s = {n_eval * t_proc / 3600:.2f} h")
    if not args.skip_replay:
        rec, rep, full = replay_vs_full()
        print(f"measurement-only reuse (2008-2023): first run with recording {rec:.1f} s, replay of the firm "
              f"study {rep:.1f} s, plain full run {full:.1f} s (replay / full = {rep / full:.2f})")


if __name__ == "__main__":
    main()
