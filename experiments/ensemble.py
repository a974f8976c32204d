"""Seeded replications of a scenario: serial, in local processes, or on a Dask cluster.

Each replication writes its outputs atomically to ``OUT/seed=N`` (by default only the
national summary: ``outputs="summary"``). A replication whose directory holds a finished
run made with the same scenario, config, structural parameters, package version and
outputs level is reused, so an interrupted ensemble resumes where it stopped; one made
otherwise is refused (``EnsembleMismatch``) or, with ``force=True``, recomputed. The
ensemble table (mean, sd, 5th and 95th percentiles of the national summary by year) is
written atomically to ``OUT/ensemble_summary.parquet`` and the ensemble's provenance to
``OUT/ensemble.json``. Results are byte-identical whichever backend ran them.

Worker processes stop when the parent dies: each runs a watchdog thread that compares
``os.getppid()`` with the parent's pid (and asks Linux for ``PR_SET_PDEATHSIG``), and a
SIGTERM lets the replication being written remove its temporary directory.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd

from sim.config import ModelConfig
from sim.outputs import (
    OUTPUT_LEVELS,
    OutputError,
    Terminated,
    check_outputs,
    clean_stale_temporaries,
    config_dict,
    foreign_entries,
    ignore_interrupt,
    install_sigterm_handler,
    local_dask_client,
    package_version,
    parameters_hash,
    parse_formats,
    quiet_cancelled_tasks,
    read_run_info,
    stop_pool,
    temp_sibling,
    writable_location,
    write_table,
)

METRICS = (
    "racks_million",
    "intelligent_share",
    "dc_electricity_twh",
    "east_to_west_pflop_h",
    "west_utilisation",
    "unserved_share",
    "sla_violation_share",
    "inference_latency_ms",
    "latency_bound_p99_ms",
    "dc_carbon_mt",
    "energy_cost_bn_cny",
)
BACKENDS = ("serial", "processes", "dask")
ENSEMBLE_FILE = "ensemble.json"
SCHEDULER_TIMEOUT_S = 10.0


class EnsembleMismatch(OutputError):
    """A stored replication made with another scenario, config, parameters or package version."""


class SchedulerError(ValueError):
    """A Dask scheduler that does not answer."""


def seed_dir(out: Path, seed: int) -> Path:
    return Path(out) / f"seed={seed}"


def expected_record(config: ModelConfig, scenario: str, outputs: str) -> dict:
    """What a reusable replication's ``run.json`` must say (besides its seed)."""
    from calibration.params import load_parameters

    params = load_parameters().with_overrides(config.parameter_overrides)
    return {
        "scenario": scenario,
        "config": config_dict(config),
        "parameters_sha256": parameters_hash(params),
        "package_version": package_version(),
        "outputs": outputs,
    }


def mismatch(info: dict | None, seed: int, expected: dict) -> str | None:
    """Why a stored replication cannot be reused (None if it can)."""
    if info is None:
        return "has no readable run.json"
    if info.get("seed") != seed:
        return f"records seed {info.get('seed')!r}"
    for key, want in expected.items():
        got = info.get(key)
        if key == "outputs":
            if got not in OUTPUT_LEVELS or OUTPUT_LEVELS.index(got) < OUTPUT_LEVELS.index(want):
                return f"was written with outputs {got!r}, not {want!r}"
        elif got != want:
            if key == "config" and isinstance(got, dict):
                diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
                shown = ", ".join(f"{k}={got[k]!r} not {want.get(k)!r}" if k in got else f"{k} unset not {want.get(k)!r}"
                                  for k in diff[:3])
                return f"was made with another config ({shown})"
            if key == "parameters_sha256":
                return "was made with other structural parameters (hash differs)"
            return f"was made with {key.replace('_', ' ')} {got!r}, not {want!r}"
    return None


def derived_tables(model, outputs: str) -> dict[str, pd.DataFrame]:
    """Tables the analysis layer computes from a finished run, written beside its panels at the
    ``panels`` and ``full`` levels: ``estimands``, what each study estimator targets on this run's
    panels (``analysis.estimands``; sim cannot compute it, as it must not import the estimators)."""
    return deferred_tables(model, outputs)()


def deferred_tables(model, outputs: str):
    """``derived_tables`` in two steps, for ``write_run(derive=...)``: takes from the run now what the
    tables read (``analysis.estimands.estimand_inputs``: the study samples and the latent truths'
    signal columns, a few MB) and returns the function that computes them, which imports the
    estimators; ``write_run`` calls it once the model's logs are freed."""
    if outputs == "summary" or not model.studies:
        return dict
    from analysis.estimands import estimand_inputs
    from sim.outputs import study_tables

    inputs = estimand_inputs(study_tables(model))

    def compute() -> dict[str, pd.DataFrame]:
        from analysis.estimands import estimand_table

        return {"estimands": estimand_table(inputs)}

    return compute


def run_replication(config: ModelConfig, seed: int, out: str, scenario: str = "", outputs: str = "summary",
                    formats: tuple[str, ...] = ("parquet",), force: bool = False) -> str:
    """Run one seed and write its outputs; a no-op when a matching replication is already stored."""
    from sim.model import SuanLiModel
    from sim.outputs import write_run

    target = seed_dir(Path(out), seed)
    if not force and (target / "run.json").exists():
        if mismatch(read_run_info(target), seed, expected_record(config, scenario, outputs)) is None:
            return str(target)
    model = SuanLiModel(config, seed=seed)
    model.run()
    write_run(model, target, meta={"scenario": scenario}, formats=formats, outputs=outputs, derive=deferred_tables,
              release=True)
    model.release()
    del model
    gc.collect()
    return str(target)


def _progress(iterable, total: int, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc="replications", unit="run", leave=False)


def check_ensemble_target(out: Path) -> None:
    """Refuse an ``out`` that is a file, not writable, or a non-empty directory that is not a SuanLi ensemble."""
    writable_location(out)
    if not out.is_dir():
        return
    entries = sorted(out.iterdir())
    if not entries or (out / ENSEMBLE_FILE).is_file():
        return
    foreign = []
    for p in entries:
        if p.name.startswith(".suanli-"):
            continue
        if p.name.startswith("seed=") and p.is_dir() and read_run_info(p) is not None and not foreign_entries(p):
            continue
        if p.name.startswith("ensemble_summary.") and p.is_file():
            continue
        foreign.append(p.name)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputError(f"--out = {str(out)!r}: directory holds files SuanLi did not write ({shown}); "
                          "choose a new or empty directory")


def check_workers(workers: int) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise OutputError(f"--workers = {workers!r}: must be an integer of at least 1")
    return workers


def connect_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT_S):
    """A ``distributed.Client`` on ``address``, or ``SchedulerError`` after ``timeout`` seconds."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SchedulerError(f"--scheduler = {address!r}: no Dask scheduler answered within {timeout:g} s ({reason[:120]})") from None


def run_ensemble(
    config: ModelConfig,
    seeds: list[int],
    out: str | Path,
    scenario: str = "",
    backend: str = "serial",
    workers: int = 2,
    scheduler: str | None = None,
    progress: bool = False,
    outputs: str = "summary",
    formats: tuple[str, ...] = ("parquet",),
    force: bool = False,
    scheduler_timeout: float = SCHEDULER_TIMEOUT_S,
) -> pd.DataFrame:
    """Run every seed not yet stored (or, with ``force``, every mismatching one), then aggregate;
    returns the ensemble table."""
    out = Path(out)
    if backend not in BACKENDS:
        raise OutputError(f"--backend = {backend!r}: must be one of {', '.join(BACKENDS)}")
    check_outputs(outputs)
    formats = parse_formats(formats)
    check_workers(workers)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise OutputError(f"seeds = {seeds!r}: must be non-negative integers")
    check_ensemble_target(out)
    expected = expected_record(config, scenario, outputs)
    todo = []
    for s in seeds:
        if not (seed_dir(out, s) / "run.json").exists() and not seed_dir(out, s).exists():
            todo.append(s)
            continue
        why = mismatch(read_run_info(seed_dir(out, s)), s, expected)
        if why is None:
            continue
        if not force:
            raise EnsembleMismatch(f"--out = {str(out)!r}: stored replication seed={s} {why}; "
                                   "use --force to recompute it or choose another --out")
        todo.append(s)
    client = connect_scheduler(scheduler, scheduler_timeout) if backend == "dask" and scheduler else None
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out)
    _write_json(out / ENSEMBLE_FILE, {**expected, "seeds": sorted(seeds), "backend": backend, "state": "running"})
    t0 = time.perf_counter()
    args = (str(out), scenario, outputs, formats, force)
    if backend == "serial":
        for s in _progress(todo, len(todo), progress):
            run_replication(config, s, *args)
    elif backend == "processes":
        _run_processes(config, todo, args, workers, progress)
    else:
        _run_dask(config, todo, args, workers, client, progress)
    table = aggregate(out, seeds)
    write_atomic(table, out / "ensemble_summary", formats)
    _write_json(out / ENSEMBLE_FILE, {**expected, "seeds": sorted(seeds), "backend": backend, "state": "done",
                                      "computed": sorted(todo), "wall_seconds": round(time.perf_counter() - t0, 3)})
    return table


# ----- local processes ------------------------------------------------------------------------------------
def _watch_parent(parent: int, interval: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10.0)
    os._exit(1)


def _worker_init(parent: int) -> None:
    """In each pool worker: SIGTERM -> ``Terminated`` (temporaries removed), Ctrl-C left to the parent, and
    exit when the parent dies."""
    install_sigterm_handler()
    ignore_interrupt()
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="suanli-parent-watch").start()


def _run_processes(config, seeds, args, workers, progress) -> None:
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(os.getpid(),))
    try:
        futures = [pool.submit(run_replication, config, s, *args) for s in seeds]
        for f in _progress(as_completed(futures), len(futures), progress):
            f.result()
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)


# ----- Dask ------------------------------------------------------------------------------------------------
def _run_dask(config, seeds, args, workers, client, progress) -> None:
    from distributed import as_completed as dask_completed

    cluster = None
    if client is None:
        client, cluster = local_dask_client(workers)
    try:
        n = len(seeds)
        futures = client.map(run_replication, [config] * n, seeds, *[[a] * n for a in args], pure=False)
        for f in _progress(dask_completed(futures), len(futures), progress):
            f.result()
    except KeyboardInterrupt:
        quiet_cancelled_tasks(client if cluster is not None else None)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ----- aggregation --------------------------------------------------------------------------------------------
def aggregate(out: Path, seeds: list[int]) -> pd.DataFrame:
    """Mean, sd, 5th and 95th percentile of each summary metric by year across seeds."""
    frames = [pd.read_parquet(seed_dir(out, s) / "summary.parquet").assign(seed=s) for s in seeds]
    panel = pd.concat(frames, ignore_index=True)
    metrics = [m for m in METRICS if m in panel.columns]
    long = panel.melt(id_vars=["seed", "year"], value_vars=metrics, var_name="metric")
    g = long.groupby(["metric", "year"], sort=True)["value"]
    table = pd.DataFrame(
        {"mean": g.mean(), "sd": g.std(ddof=1), "p05": g.quantile(0.05), "p95": g.quantile(0.95), "n": g.size()}
    ).reset_index()
    return table


def _write_json(path: Path, info: dict) -> None:
    tmp = path.with_name(f".suanli-tmp.{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_atomic(df: pd.DataFrame, base: Path, formats: tuple[str, ...] = ("parquet", "csv")) -> list[Path]:
    """``base``.parquet (and .csv/.dta if listed), each written in a temporary sibling folder and
    renamed into place; the folder of ``base`` must exist."""
    base = Path(base)
    if not base.parent.is_dir():
        raise OutputError(f"--out = {str(base)!r}: folder {str(base.parent)!r} does not exist")
    if not os.access(base.parent, os.W_OK | os.X_OK):
        raise OutputError(f"--out = {str(base)!r}: folder {str(base.parent)!r} is not writable")
    tmp = temp_sibling(base)
    written = []
    try:
        for path in write_table(df, tmp / base.name, parse_formats(formats)):
            target = base.with_suffix(path.suffix)
            if target.is_dir():
                raise OutputError(f"--out = {str(base)!r}: {target} is a directory")
            os.replace(path, target)
            written.append(target)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return written


__all__ = ["run_ensemble", "run_replication", "aggregate", "write_atomic", "seed_dir", "EnsembleMismatch",
           "SchedulerError", "Terminated"]
