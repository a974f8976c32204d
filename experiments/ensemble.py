"""Seeded replications of a scenario: serial, in local processes, or on a Dask cluster.

Each replication writes its panels atomically to ``OUT/seed=N``; a replication whose
directory exists is complete and is skipped, so an interrupted ensemble resumes where it
stopped. The ensemble table (mean, sd, 5th and 95th percentiles of the national summary
by year) is written atomically to ``OUT/ensemble_summary.{parquet,csv}``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from sim.config import ModelConfig
from sim.outputs import write_table

METRICS = (
    "racks_million",
    "intelligent_share",
    "dc_electricity_twh",
    "east_to_west_pflop_h",
    "west_utilisation",
    "unserved_share",
    "inference_latency_ms",
    "dc_carbon_mt",
    "energy_cost_bn_cny",
)


def seed_dir(out: Path, seed: int) -> Path:
    return Path(out) / f"seed={seed}"


def run_replication(config: ModelConfig, seed: int, out: str, scenario: str = "") -> str:
    """Run one seed and write its panels; a no-op when its directory already exists."""
    from sim.model import SuanLiModel
    from sim.outputs import write_run

    target = seed_dir(Path(out), seed)
    if (target / "run.json").exists():
        return str(target)
    model = SuanLiModel(config, seed=seed)
    model.run()
    write_run(model, target, meta={"scenario": scenario, "config": asdict(config)})
    return str(target)


def _progress(iterable, total: int, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc="replications", unit="run", leave=False)


def run_ensemble(
    config: ModelConfig,
    seeds: list[int],
    out: str | Path,
    scenario: str = "",
    backend: str = "serial",
    workers: int = 2,
    scheduler: str | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Run every seed not yet done, then aggregate; returns the ensemble table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = [s for s in seeds if not (seed_dir(out, s) / "run.json").exists()]
    if backend == "serial":
        for s in _progress(todo, len(todo), progress):
            run_replication(config, s, str(out), scenario)
    elif backend == "processes":
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_replication, config, s, str(out), scenario) for s in todo]
            for f in _progress(as_completed(futures), len(futures), progress):
                f.result()
    elif backend == "dask":
        _run_dask(config, todo, out, scenario, workers, scheduler, progress)
    else:
        raise ValueError(f"backend {backend!r}: allowed serial, processes, dask")
    table = aggregate(out, seeds)
    write_atomic(table, out / "ensemble_summary")
    return table


def _run_dask(config, seeds, out, scenario, workers, scheduler, progress) -> None:
    from distributed import Client, LocalCluster, as_completed as dask_completed

    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = client.map(run_replication, [config] * len(seeds), seeds, [str(out)] * len(seeds),
                             [scenario] * len(seeds), pure=False)
        for f in _progress(dask_completed(futures), len(futures), progress):
            f.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def aggregate(out: Path, seeds: list[int]) -> pd.DataFrame:
    """Mean, sd, 5th and 95th percentile of each summary metric by year across seeds."""
    frames = [pd.read_parquet(seed_dir(out, s) / "summary.parquet").assign(seed=s) for s in seeds]
    panel = pd.concat(frames, ignore_index=True)
    long = panel.melt(id_vars=["seed", "year"], value_vars=list(METRICS), var_name="metric")
    g = long.groupby(["metric", "year"], sort=True)["value"]
    table = pd.DataFrame(
        {"mean": g.mean(), "sd": g.std(ddof=1), "p05": g.quantile(0.05), "p95": g.quantile(0.95), "n": g.size()}
    ).reset_index()
    return table


def write_atomic(df: pd.DataFrame, base: Path) -> None:
    """``base``.parquet and ``base``.csv, each written beside and renamed into place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{base.name}.", dir=base.parent))
    try:
        for path in write_table(df, tmp / base.name, ("parquet", "csv")):
            os.replace(path, base.with_suffix(path.suffix))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
