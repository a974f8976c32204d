"""Memory and disk of a serial ensemble: resident memory after each of N replications, old code
against new in the same run, and the size of what the ensemble stores.

Run from the repository root::

    python benchmarks/ensemble_memory.py [--reps 20] [--years 2008-2020] [--old /work/base_7434cd2]

Each code version runs in its own Python process (``PYTHONPATH`` pointing at its tree), calling
``experiments.ensemble.run_replication`` serially as ``suanli ensemble --backend serial`` does;
RSS is read from ``/proc/self/statm`` after every replication. "Growth" is the least-squares
slope of RSS over replications 5..N (MB per replication) and last minus fifth. The new code
stores ``--outputs summary`` (its ensemble default); the old code stores what it always stored.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, os, sys, time
from pathlib import Path
import experiments.ensemble as ens
from sim.config import ModelConfig
start, end, reps, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
page = os.sysconf("SC_PAGE_SIZE")
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * page / 2**20
cfg = ModelConfig(start_year=start, end_year=end)
Path(out).mkdir(parents=True, exist_ok=True)
rows = [{"rep": 0, "rss_mb": rss_mb(), "seconds": 0.0}]
for s in range(1, reps + 1):
    t0 = time.perf_counter()
    ens.run_replication(cfg, s, out, "default")
    rows.append({"rep": s, "rss_mb": rss_mb(), "seconds": time.perf_counter() - t0})
print(json.dumps(rows))
"""


def measure(tree: Path, years: tuple[int, int], reps: int, out: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(years[0]), str(years[1]), str(reps), str(out)],
                          cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def slope(rows: list[dict], first: int = 5) -> float:
    pts = [(r["rep"], r["rss_mb"]) for r in rows if r["rep"] >= first]
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--years", default="2008-2020")
    ap.add_argument("--old", default="/work/base_7434cd2", help="tree of the previous commit ('' to skip)")
    args = ap.parse_args()
    years = tuple(int(x) for x in args.years.split("-"))
    trees = {"new": Path(__file__).resolve().parent.parent}
    if args.old and Path(args.old).is_dir():
        trees["old"] = Path(args.old)
    tmp = Path(tempfile.mkdtemp(prefix="suanli-bench-mem-"))
    results = {}
    try:
        for label, tree in trees.items():
            t0 = time.perf_counter()
            rows = measure(tree, years, args.reps, tmp / label)
            results[label] = {"rows": rows, "wall": time.perf_counter() - t0, "disk_mb": du_mb(tmp / label)}
            shutil.rmtree(tmp / label, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Serial ensemble, {args.reps} replications of {args.years}, RSS after each replication (MB)")
    print("rep  " + "  ".join(f"{k:>8}" for k in results))
    for i in range(args.reps + 1):
        print(f"{i:>3}  " + "  ".join(f"{results[k]['rows'][i]['rss_mb']:8.0f}" for k in results))
    print()
    print(f"{'':>6} {'growth MB/rep':>14} {'rep N - rep 5':>14} {'peak MB':>8} {'s/rep':>6} {'stored MB':>10}")
    for k, r in results.items():
        rows = r["rows"]
        rss = [x["rss_mb"] for x in rows]
        per = sum(x["seconds"] for x in rows[1:]) / args.reps
        print(f"{k:>6} {slope(rows):14.2f} {rss[-1] - rss[5]:14.0f} {max(rss):8.0f} {per:6.1f} {r['disk_mb']:10.1f}")
    if "old" in results:
        print(f"\nstored size new/old: {results['new']['disk_mb'] / results['old']['disk_mb']:.4f}")


if __name__ == "__main__":
    main()
