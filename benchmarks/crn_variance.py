"""Variance of paired scenario differences (same seed: common random numbers) against unpaired ones
(different seeds), for the one-economy outcomes of a year. Prints figures; asserts nothing.

    python benchmarks/crn_variance.py [--scenarios no_hubs,national_market] [--seeds 1-5] [--year 2030]
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from experiments.scenario import load_scenario  # noqa: E402
from sim.model import SuanLiModel  # noqa: E402

METRICS = ("gdp_bn_cny", "lntfp_west_mean", "loggdp_cluster_cities_mean", "expy_adopters_mean")


def summary_row(job: tuple[str, int, int]) -> dict:
    name, seed, year = job
    model = SuanLiModel(replace(load_scenario(name).config, end_year=year), seed=seed).run()
    row = {"scenario": name, "seed": seed, **{m: model.summary[m] for m in METRICS}}
    model.release()
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", default="no_hubs,national_market")
    ap.add_argument("--seeds", default="1-5")
    ap.add_argument("--year", type=int, default=2030)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    a, _, b = args.seeds.partition("-")
    seeds = list(range(int(a), int(b or a) + 1))
    scenarios = ["default", *args.scenarios.split(",")]
    jobs = [(s, k, args.year) for s in scenarios for k in seeds]
    with ProcessPoolExecutor(args.workers) as ex:
        rows = pd.DataFrame(list(ex.map(summary_row, jobs))).set_index(["scenario", "seed"])
    base = rows.loc["default"]
    print(f"{args.year}, seeds {seeds}: variance of scenario - default, paired by seed vs unpaired (other seeds)")
    print(f"{'scenario':16s}{'metric':28s}{'mean diff':>12s}{'var paired':>12s}{'var unpaired':>14s}{'ratio':>8s}")
    for sc in scenarios[1:]:
        for m in METRICS:
            x, y = rows.loc[sc][m].to_numpy(), base[m].to_numpy()
            paired = np.var(x - y, ddof=1)
            unpaired = np.mean([np.var(x - np.roll(y, k), ddof=1) for k in range(1, len(y))])
            print(f"{sc:16s}{m:28s}{np.mean(x - y):12.4g}{paired:12.3g}{unpaired:14.3g}{paired / unpaired:8.3f}")


if __name__ == "__main__":
    main()
