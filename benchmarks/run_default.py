"""Benchmark of the default run (2008-2035): wall time per simulated year, per LP, peak memory.

Also the share of each year spent in the study modules (TFP spillovers, city panel, firm
outcomes); ``--no-studies`` runs the core alone. Prints figures; asserts nothing.
Usage: python benchmarks/run_default.py [--policy cost_min_lp] [--seed 1] [--no-studies]
"""

from __future__ import annotations

import argparse
import resource
import time
from dataclasses import replace

import numpy as np

from experiments.scenario import load_scenario
from sim.model import SuanLiModel


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
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
