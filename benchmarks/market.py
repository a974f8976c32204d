"""Market benchmark: one year's four representative days on a tiled city-scale network, old vs new code.

The problems of one simulated state (``--scenario``, ``--seed``, ``--year``; 31 provinces)
are tiled into a larger network: node ``i`` of tile ``t`` is node ``t * 31 + i``; latency
between tiles grows by ``--tile-ms`` per tile step, transfer cost by one base transfer per
step, energy cost by 1 % per tile; the first N nodes are kept (248 = 8 tiles; 336, the
number of Chinese prefecture-level cities, = 11 tiles cut). For each policy, the market
of each day is timed as the model runs it: ``policy.assign``, ``check_assignment`` and
``total_cost``. The old code (``--old``, default /work/base_7434cd2) and the new code run in
separate processes on the same problem files in the same invocation, one after the other.

    python benchmarks/market.py                          # 248 nodes old vs new, 336 nodes new
    python benchmarks/market.py --nodes 248 --policies east_west_rule,cost_min_lp --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent.parent
FIELDS = ("demand", "capacity", "energy_cost", "carbon", "price", "latency_ms", "transfer_cost", "latency_bound", "value",
          "region", "hub_role")


def tile(problem, n_nodes: int, tile_ms: float) -> dict:
    """Arrays of ``problem`` tiled to ``n_nodes`` nodes (see the module docstring)."""
    n = problem.demand.shape[0]
    tiles = -(-n_nodes // n)
    t_of = np.repeat(np.arange(tiles), n)[:n_nodes]
    i_of = np.tile(np.arange(n), tiles)[:n_nodes]
    step = np.abs(t_of[:, None] - t_of[None, :])
    base_transfer = float(np.median(problem.transfer_cost[problem.transfer_cost > 0])) if (problem.transfer_cost > 0).any() else 1.0
    bump = (1.0 + 0.01 * t_of)[:, None, None]
    out = {
        "year": problem.year, "season": problem.season,
        "codes": [f"{problem.codes[i]}{t}" for t, i in zip(t_of, i_of)],
        "demand": problem.demand[i_of],
        "capacity": problem.capacity[i_of],
        "energy_cost": problem.energy_cost[i_of] * bump,
        "carbon": problem.carbon[i_of],
        "price": problem.price[i_of],
        "latency_ms": problem.latency_ms[np.ix_(i_of, i_of)] + tile_ms * step,
        "transfer_cost": problem.transfer_cost[np.ix_(i_of, i_of)] + base_transfer * step[:, :, None],
        "latency_bound": problem.latency_bound, "value": problem.value,
        "region": np.asarray(problem.region)[i_of], "hub_role": np.asarray(problem.hub_role, dtype=object)[i_of],
        "hubs_active": problem.hubs_active, "carbon_price": problem.carbon_price,
    }
    return out


def worker(path: str, policies: list[str], repeat: int) -> None:
    """Time the market of every day in ``path`` (a pickle of problem dicts) for each policy; print JSON."""
    from sim.market import SchedulingProblem, check_assignment, total_cost
    from sim.policies import make_policy

    with open(path, "rb") as fh:
        days = pickle.load(fh)
    problems = [SchedulingProblem(**d) for d in days]
    result = {}
    for name in policies:
        runs, totals = [], []
        for _ in range(repeat):
            policy = make_policy(name)
            t0 = time.perf_counter()
            total = 0.0
            for p in problems:
                a = policy.assign(p)
                u = check_assignment(p, a)
                total += total_cost(p, a if type(a).__name__ == "Assignment" and hasattr(a, "sparse") else a.served, u)["total"]
            runs.append(time.perf_counter() - t0)
            totals.append(total)
        result[name] = {"seconds": runs, "total_cost": totals[-1]}
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def run_worker(code: Path, path: Path, policies: list[str], repeat: int, timeout: float) -> dict | str:
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(path), "--policies",
                               ",".join(policies), "--repeat", str(repeat)], cwd=code, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return f"failed: {tail}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--year", type=int, default=2030)
    ap.add_argument("--nodes", default="248,336", help="network sizes (default 248,336)")
    ap.add_argument("--old-nodes", default="248", help="sizes also timed with the old code (default 248)")
    ap.add_argument("--policies", default="east_west_rule,local_first,cost_min_lp")
    ap.add_argument("--tile-ms", type=float, default=12.0, help="extra round-trip latency per tile step (ms)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--old", default="/work/base_7434cd2", help="checkout of the previous commit")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per worker process (s)")
    args = ap.parse_args()
    policies = [p.strip() for p in args.policies.split(",")]
    if args.worker:
        worker(args.worker, policies, args.repeat)
        return

    sys.path.insert(0, str(HERE))
    from dataclasses import replace

    from experiments.bench import capture_problems
    from experiments.scenario import load_scenario

    t0 = time.perf_counter()
    cfg = replace(load_scenario(args.scenario).config, studies=())
    base = capture_problems(cfg, args.seed, args.year)
    print(f"state: scenario {args.scenario}, seed {args.seed}, year {args.year}: {len(base)} days of "
          f"{base[0].demand.shape[0]} nodes, captured in {time.perf_counter() - t0:.1f} s")
    costs = len({(p.energy_cost + p.carbon_price * p.carbon).tobytes() for p in base})
    carbon = len({p.carbon.tobytes() for p in base})
    print(f"days with distinct unit costs (energy + carbon price x carbon): {costs}, with distinct carbon: {carbon}; "
          "the LP policies' cache (old and new) solves a repeated day once, so only distinct days show the warm start")
    old_sizes = {int(v) for v in args.old_nodes.split(",") if v}
    with tempfile.TemporaryDirectory(prefix="suanli-bench-market-") as tmp:
        for n_nodes in (int(v) for v in args.nodes.split(",")):
            days = [tile(p, n_nodes, args.tile_ms) for p in base]
            path = Path(tmp) / f"days_{n_nodes}.pkl"
            with open(path, "wb") as fh:
                pickle.dump(days, fh)
            lat = days[0]["latency_ms"]
            within = float((lat <= 20.0).mean())
            print(f"\n{n_nodes} nodes ({within:.1%} of O x D pairs within a 20 ms bound)")
            new = run_worker(HERE, path, policies, args.repeat, args.timeout)
            old = run_worker(Path(args.old), path, policies, args.repeat, args.timeout) if n_nodes in old_sizes else None
            print(f"{'policy':<16}{'old s':>10}{'new s':>10}{'new/old':>9}   total cost old / new (CNY per 4 days)")
            for name in policies:
                n_s = min(new[name]["seconds"]) if isinstance(new, dict) else float("nan")
                if isinstance(old, dict):
                    o_s = min(old[name]["seconds"])
                    costs = f"{old[name]['total_cost']:.6e} / {new[name]['total_cost']:.6e}" if isinstance(new, dict) else ""
                    print(f"{name:<16}{o_s:>10.2f}{n_s:>10.2f}{n_s / o_s:>9.3f}   {costs}")
                else:
                    why = old if isinstance(old, str) else "not run"
                    cost = f"{new[name]['total_cost']:.6e}" if isinstance(new, dict) else str(new)
                    print(f"{name:<16}{why:>10}{n_s:>10.2f}{'':>9}   {cost}")
            peaks = [f"{lab} {res['peak_rss_mib']:.0f} MiB" for lab, res in (("old", old), ("new", new)) if isinstance(res, dict)]
            print("peak memory of the worker: " + ", ".join(peaks))


if __name__ == "__main__":
    main()
