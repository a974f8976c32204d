"""Time of the calibration objective on this machine: one evaluation with R replications on W worker
processes and serially, a study-only re-evaluation, a Dask LocalCluster against serial, the
reference (slow) path in the same run, and the full-fit time they imply.

    python benchmarks/calibration.py [--reps 8] [--workers 2] [--targets IDS] [--budget 40] [--skip-dask]
                                     [--skip-reference] [--profile]

Every evaluation is at the committed parameters with the default free list (so that the runs record
the firm and city studies' inputs, as a fit does), targets = every row not held out by default.
"Warm" is what a fit pays per evaluation: the pool is up and each worker has imported the code
(the first evaluation, "cold", also starts the workers). A core evaluation moves a core parameter
(every replication re-simulates the economy); a study-only evaluation moves a firm and a city
parameter (each replication replays those studies on its worker's cached core run). The reference
path is the previous way, a full run with every study, year and panel then ``compute_moments``, on
the same pool. ``--profile`` prints one replication's CPU time by part. Wall-clock seconds with
whatever else runs on the machine (the load average is printed), and beside them the CPU seconds of
the busiest worker, about what the wall time would be on idle cores: figures to read, not a test.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and its name would hide the
# ``calibration`` package: put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from calibration import fastpath, fit  # noqa: E402

CORE_STEP = "demand.growth_ai"
STUDY_STEPS = ("firm_outcomes.idc_effect_base", "city_economy.elasticity_low")


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.2f}"


def _moved(free, steps: dict[str, int]) -> dict[str, float]:
    """The start values with each parameter of ``steps`` moved by k x 1 % of its box (distinct points:
    nothing comes from the evaluation log)."""
    return {p.name: min(p.start + 0.01 * steps.get(p.name, 0) * (p.upper - p.lower), p.upper) for p in free}


def _cpu(pids: list[int]) -> list[float]:
    """CPU seconds (user + system) used so far by each process of ``pids`` (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = []
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out.append((int(fields[11]) + int(fields[12])) / tick)
    return out


def evaluations(ids, free, reps: int, backend: str, workers: int, study_only: bool = True) -> dict[str, float]:
    """Seconds of: the cold first evaluation (pool start included), two warm core evaluations (the
    second reported) and, if ``study_only``, a study-only evaluation right after the last core one.
    ``cpu_<label>`` is the CPU time of the busiest process in that evaluation (the worker processes, or
    this one when serial): about the wall time on idle cores, whatever else loads the machine."""
    out = {}
    with fit.ReplicationPool(backend, workers) as pool:
        obj = fit.Objective(ids, free, reps=reps, pool=pool, log=None)
        points = [("cold", {CORE_STEP: 0}), ("warm1", {CORE_STEP: 1}), ("warm", {CORE_STEP: 2})]
        if study_only:
            points.append(("study", {CORE_STEP: 2, **{n: 1 for n in STUDY_STEPS}}))
        pids = [os.getpid()]
        for label, steps in points:
            before = _cpu(pids)
            t0 = time.perf_counter()
            obj.evaluate(_moved(free, steps))
            out[label] = time.perf_counter() - t0
            if label != "cold":
                out[f"cpu_{label}"] = max(b - a for a, b in zip(before, _cpu(pids)))
            pids = _worker_pids(pool) or pids
    return out


def _worker_pids(pool) -> list[int]:
    """Process ids of the pool's workers (none for serial)."""
    if pool.backend == "processes":
        return [pid for p in pool._pools for pid in p._processes]
    if pool.backend == "dask":
        return list(pool._client.run(os.getpid).values())
    return []


def reference_evaluation(ids, reps: int, workers: int) -> tuple[float, float]:
    """(seconds, CPU seconds of the busiest worker) of one evaluation's replications by the reference path
    on warm worker processes."""
    from sim.config import ModelConfig

    cfg = replace(ModelConfig(), end_year=fastpath.mom.last_year(ids))
    with fit.ReplicationPool("processes", workers) as pool:
        pool.map(fastpath.reference_replicate, [(cfg, 100 + s, ids[:1]) for s in range(workers)])  # start + import
        pids = _worker_pids(pool)
        before = _cpu(pids)
        t0 = time.perf_counter()
        pool.map(fastpath.reference_replicate, [(cfg, s, ids) for s in range(1, reps + 1)])
        return time.perf_counter() - t0, max(b - a for a, b in zip(before, _cpu(pids)))


def profile(ids, reps: int, workers: int, seed: int = 3) -> float:
    """Print one replication's CPU seconds by part (after a warm-up replication, BLAS on one thread as in
    the workers) and return the total."""
    from threadpoolctl import threadpool_limits

    from calibration import moments as mom
    from sim.config import ModelConfig

    cfg = ModelConfig()
    plan = fastpath.make_plan(ids, cfg)
    clock = time.process_time
    with threadpool_limits(1):
        fastpath.replicate(cfg, seed + 1, ids)
        t0 = clock()
        panels = fastpath.simulate(cfg, seed, plan)
        t1 = clock()
        inputs = mom.inputs_of(panels)
        parts: dict[str, float] = {f"simulate (lean run, 2008-{plan.end_year})": t1 - t0, "study samples": clock() - t1}
        for name in dict.fromkeys(mom.BLOCK_OF[i] for i in ids):
            b = mom.BLOCKS[name]
            t = clock()
            b.fn(inputs[b.needs])
            group = name.split(":")[0] if name.startswith(("mechanism", "summary")) else name
            parts[group] = parts.get(group, 0.0) + clock() - t
    total = sum(parts.values())
    print(f"one replication, CPU seconds by part (total {total:.2f} s; R = {reps} on {workers} idle cores would "
          f"take about {math.ceil(reps / workers) * total:.1f} s):")
    for k, v in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {k:34s} {v:6.3f}  {100 * v / total:4.1f} %")
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--targets", help="comma-separated ids (default: every row not held out by default)")
    ap.add_argument("--budget", type=int, default=40, help="optuna trials, for the full-fit estimate")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.INFO)
    from calibration.targets import load_targets

    t = load_targets()
    ids = args.targets.split(",") if args.targets else [i for i in t.index if i not in fit.DEFAULT_HOLD_OUT]
    free = fit.free_parameters(fit.default_free())
    n_study = sum(fastpath.study_of_parameter(p.name) is not None for p in free)
    R, W = args.reps, args.workers
    print(f"machine: {os.cpu_count()} cores, {_load()} at start (others share it)")
    print(f"targets: {len(ids)} rows; free parameters: {len(free)} ({n_study} of the firm/city studies)")
    if args.profile:
        profile(ids, R, W)
    proc = evaluations(ids, free, R, "processes", W)
    print(f"R = {R} on {W} worker processes: one evaluation {proc['warm']:.1f} s warm "
          f"({proc['warm1']:.1f} s the one before; {proc['cold']:.1f} s cold, starting the workers), busiest worker "
          f"{proc['cpu_warm']:.1f} CPU s; study-only re-evaluation {proc['study']:.1f} s ({proc['cpu_study']:.1f} "
          f"CPU s)  [{_load()}]", flush=True)
    ser = evaluations(ids, free, R, "serial", 1)
    print(f"R = {R} serial: one evaluation {ser['warm']:.1f} s warm ({ser['cpu_warm']:.1f} CPU s; {ser['cold']:.1f} s "
          f"cold); study-only {ser['study']:.1f} s ({ser['cpu_study']:.1f} CPU s); processes speed-up "
          f"{ser['warm'] / proc['warm']:.2f}x wall, {ser['cpu_warm'] / proc['cpu_warm']:.2f}x by CPU  [{_load()}]",
          flush=True)
    if not args.skip_dask:
        dask = evaluations(ids, free, R, "dask", W, study_only=False)
        print(f"R = {R} on a Dask LocalCluster ({W} workers): one evaluation {dask['warm']:.1f} s warm "
              f"({dask['cpu_warm']:.1f} CPU s busiest worker; {dask['cold']:.1f} s cold); speed-up over serial "
              f"{ser['warm'] / dask['warm']:.2f}x wall, {ser['cpu_warm'] / dask['cpu_warm']:.2f}x by CPU  "
              f"[{_load()}]", flush=True)
    if not args.skip_reference:
        ref, ref_cpu = reference_evaluation(ids, R, W)
        print(f"previous version (reference path: full run, every study, year and panel), R = {R} on {W} "
              f"processes: {ref:.1f} s ({ref_cpu:.1f} CPU s busiest worker); fast path {ref / proc['warm']:.1f}x "
              f"faster wall, {ref_cpu / proc['cpu_warm']:.1f}x by CPU  [{_load()}]", flush=True)
    k, ks = len(free), n_study
    refine = args.budget // 2
    iters = max(2, refine // (k + 1))
    n_core = args.budget + iters * (k + 1 - ks) + 2 * (k - ks) + 1
    n_study_evals = iters * ks + 2 * ks
    hours = (n_core * proc["warm"] + n_study_evals * proc["study"] + proc["cold"]) / 3600
    idle = (n_core * proc["cpu_warm"] + n_study_evals * proc["cpu_study"] + proc["cold"]) / 3600
    print(f"full fit estimate ({args.budget} trials, {iters} least-squares iterations of {k + 1}, Jacobian 2 x {k}, "
          f"best with held-out rows): {n_core} core evaluations x {proc['warm']:.1f} s + {n_study_evals} study-only "
          f"x {proc['study']:.1f} s = {hours:.2f} h on {W} workers at this load ({idle:.2f} h from the busiest "
          f"worker's CPU time, about what {W} idle cores take)")

if __name__ == "__main__":
    main()
