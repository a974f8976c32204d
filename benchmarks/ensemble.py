"""Wall time of an ensemble run serially, in local processes and on a Dask LocalCluster.

    python benchmarks/ensemble.py [--reps 20] [--workers 2] [--years 2019-2024] [--scenario default]

Each backend runs the same seeds into its own temporary directory (``outputs="summary"``), so
nothing is reused between them; the script prints the wall times, the speed-ups over serial,
the load average (other jobs on the machine slow every backend) and whether the three
ensembles' summaries are identical.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from experiments.cli import parse_years  # noqa: E402
from experiments.ensemble import run_ensemble, seed_dir  # noqa: E402
from experiments.scenario import load_scenario  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--years", default="2019-2024", help="simulated span (default 2019-2024: short, the machine is shared)")
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--backends", default="serial,processes,dask")
    a = ap.parse_args()
    start, end = parse_years(a.years)
    sc = load_scenario(a.scenario)
    config = replace(sc.config, start_year=start, end_year=end)
    seeds = list(range(1, a.reps + 1))
    print(f"ensemble benchmark: scenario {sc.name}, {start}-{end}, {a.reps} replications, outputs=summary, "
          f"{a.workers} workers for processes/dask, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    times, tables = {}, {}
    with tempfile.TemporaryDirectory(prefix="suanli-bench-") as tmp:
        for backend in a.backends.split(","):
            out = Path(tmp) / backend
            t0 = time.perf_counter()
            run_ensemble(config, seeds, out, scenario=sc.name, backend=backend, workers=a.workers, outputs="summary")
            times[backend] = time.perf_counter() - t0
            tables[backend] = pd.concat([pd.read_parquet(seed_dir(out, s) / "summary.parquet").assign(seed=s) for s in seeds])
            print(f"  {backend:<10} {times[backend]:7.1f} s  ({times[backend] / a.reps:.2f} s per replication, "
                  f"load average {os.getloadavg()[0]:.1f})", flush=True)
    if "serial" in times:
        for backend, t in times.items():
            if backend != "serial":
                print(f"  speed-up of {backend} over serial: {times['serial'] / t:.2f}x")
    ref_name, ref = next(iter(tables.items()))
    ref = ref.reset_index(drop=True)
    same = True
    for name, t in tables.items():
        t = t.reset_index(drop=True)
        if t.equals(ref):
            continue
        same = False
        num = [c for c in ref.columns if c in t.columns and pd.api.types.is_numeric_dtype(ref[c])]
        diff = (t[num] - ref[num]).abs().max()
        print(f"  {name} differs from {ref_name}: columns {sorted(set(t.columns) ^ set(ref.columns)) or 'same'}, "
              f"largest differences {diff[diff > 0].sort_values(ascending=False).head(3).to_dict()}")
    print(f"  summaries identical across backends: {same}"
          + ("" if same else " (if the code or parameters changed while the benchmark ran, run it again)"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
