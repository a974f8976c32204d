"""Indirect inference: choose structural parameters so that the studies' estimators, run on
simulated panels, give back the published statistics.

* **Objective** (:class:`Objective`): for parameter values theta, run R replications with
  common random numbers (seeds 1..R, the same for every theta, so the objective is smooth in
  theta), compute every target's statistic with ``calibration.moments`` on each run's
  in-memory panels, average over replications and return the SMM distance

      J(theta) = sum_k ((m_k(theta) - m_k^pub) / s_k)^2,   s_k = published SE, or
                 ``tolerance`` x |m_k^pub| for rows without one (10 % by default).

  Runs stop at the last year the targets need and write no files. A row the run cannot
  produce (NaN) adds ``MISSING_PENALTY``.
* **Fast path** (``calibration.fastpath``): each replication simulates only the years, studies and
  panels the targets read, writes no files, and, when only parameters of a replayable study
  (``city_economy.*``, ``firm_outcomes.*``) change, re-runs just that study on the recorded core
  run (a per-process cache keyed by the core configuration and the CRN seed).
* **Search** (:func:`calibrate`): optuna TPE (seeded; SQLite storage in the output directory, so
  the log is resumable and several workers can share one study), then scipy Nelder-Mead
  within the bounds on the same CRN objective. Every evaluation is appended to
  ``evaluations.jsonl`` as it finishes; an evaluation found there (same values, seeds,
  targets and configuration) is never repeated, so an interrupted fit resumes where it stopped.
* **Replications in parallel** (:class:`ReplicationPool`): serial, local processes or a Dask
  ``LocalCluster``; replication r always goes to worker r mod W so that each worker's core
  cache is hit.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import threading
import time
import tomllib
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from calibration import moments as mom
from calibration.params import DEFAULT_PATH
from calibration.targets import load_targets
from sim.outputs import ignore_interrupt, local_dask_client, quiet_cancelled_tasks, stop_pool

DEFAULT_TOLERANCE = 0.10
MISSING_PENALTY = 1.0e4
# Rows kept out of the objective by default and reported as a test of the fit (issue 9):
# seed 000 table 4 (other distance matrices) and table 8 (SFA components), seed 002 tables 7-8.
DEFAULT_HOLD_OUT = (
    "p1_nvar_qty_econ", "p1_nvar_qty_pop", "p1_nvar_qual_econ", "p1_nvar_qual_pop",
    "p1_het_tc_qty", "p1_het_te_qty", "p1_het_ts_qty", "p1_het_tc_qual", "p1_het_te_qual", "p1_het_ts_qual",
    "p3_het_jv", "p3_het_private", "p3_het_soe", "p3_het_regulated", "p3_het_competitive",
    "p3_het_open_data", "p3_het_no_open_data",
)

# Definitions and physical constants: never free.
FIXED = ("datacentre.rack_kw", "network.speed_km_per_ms")


class CalibrationError(ValueError):
    """A calibration request the files do not allow (unknown target or parameter, bad bounds, budget)."""


# ------------------------------------------------------------------------------------ parameters
@dataclass(frozen=True)
class FreeParameter:
    """A parameter the fit moves, with its box: ``lower <= value <= upper`` (the file's units)."""

    name: str
    start: float
    lower: float
    upper: float
    bounds_from: str  # "file" or the fallback rule used

    def to_unit(self, v: float) -> float:
        return (v - self.lower) / (self.upper - self.lower)

    def from_unit(self, u: float) -> float:
        return self.lower + float(np.clip(u, 0.0, 1.0)) * (self.upper - self.lower)


def raw_entries(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """``section.name`` -> the entry's table as written in the TOML file (value, unit, min, max, ...)."""
    with open(path or DEFAULT_PATH, "rb") as fh:
        raw = tomllib.load(fh)
    return {f"{s}.{n}": e for s, entries in raw.items() for n, e in entries.items() if isinstance(e, dict)}


def fallback_bounds(value: float, unit: str = "") -> tuple[float, float, str]:
    """Bounds for an entry without ``min``/``max``: a factor of 2 either side of the value (|v|/2 to 2|v|,
    sign kept), +-0.1 around zero; shares and ratios in [0, 1] stay inside [0, 1]."""
    v = float(value)
    if v == 0.0:
        lo, hi = -0.1, 0.1
    elif v > 0:
        lo, hi = v / 2.0, 2.0 * v
    else:
        lo, hi = 2.0 * v, v / 2.0
    if unit.strip() in ("share", "correlation") and 0.0 <= v <= 1.0:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    return lo, hi, "fallback: value/2 .. 2 x value"


def default_free(path: str | Path | None = None, targets: pd.DataFrame | None = None) -> list[str]:
    """Parameters whose ``target`` field names a row of targets.csv as the statistic the value is set to
    (not a note on that row's SE or N, see :data:`calibration.moments._STATED`), continuous and not fixed."""
    targets = load_targets() if targets is None else targets
    out = []
    for key, e in raw_entries(path).items():
        if key in FIXED or isinstance(e.get("value"), (bool, int)):
            continue
        if any(m in targets.index for m in mom._STATED.findall(str(e.get("target", "")))):
            out.append(key)
    return out


def free_parameters(names: Sequence[str], path: str | Path | None = None,
                    bounds: Mapping[str, tuple[float, float]] | None = None,
                    start: Mapping[str, float] | None = None) -> list[FreeParameter]:
    """The free parameters with bounds from the file (``min``/``max``), ``bounds`` overriding; raises
    :class:`CalibrationError` naming an unknown or non-free parameter or bounds that exclude the start."""
    entries = raw_entries(path)
    bounds, start = dict(bounds or {}), dict(start or {})
    for k in [*bounds, *start]:
        if k not in names:
            raise CalibrationError(f"--bounds/--start {k}: not among the free parameters {list(names)}")
    out = []
    for name in names:
        if name not in entries:
            close = [k for k in entries if k.split(".")[-1] == name.split(".")[-1]][:3]
            raise CalibrationError(f"--free {name}: unknown parameter (allowed: section.name from "
                                   f"calibration/parameters.toml{', e.g. ' + ', '.join(close) if close else ''})")
        e = entries[name]
        v = e["value"]
        if name in FIXED or isinstance(v, (bool, int)):
            why = "a definition or physical constant" if name in FIXED else f"integer-valued ({v})"
            raise CalibrationError(f"--free {name}: not a free parameter ({why}); free parameters are continuous")
        x0 = float(start.get(name, v))
        if name in bounds:
            lo, hi, src = *map(float, bounds[name]), "command line"
        elif "min" in e and "max" in e:
            lo, hi, src = float(e["min"]), float(e["max"]), "file"
        else:
            lo, hi, src = fallback_bounds(v, str(e.get("unit", "")))
        if not lo < hi:
            raise CalibrationError(f"bounds of {name} = [{lo}, {hi}]: lower must be below upper")
        if not lo <= x0 <= hi:
            raise CalibrationError(f"bounds of {name} = [{lo}, {hi}] exclude the start {x0}")
        out.append(FreeParameter(name, x0, lo, hi, src))
    return out


# ------------------------------------------------------------------------------------ one run
def _task(config, seed, ids, free, reuse_core, params_path):
    """One replication by the fast path (``calibration.fastpath``); the core run is recorded for
    study-only replays when ``reuse_core`` and a free parameter belongs to a replayable study.
    A run that breaks down at these values (a numerical error such as a Poisson rate overflowing at
    the edge of a box) gives NaN statistics, which the objective penalises, and its error under
    ``"_error"``: one point of the search must not end an hour's fit."""
    from calibration.fastpath import replicate

    try:
        return replicate(config, seed, ids, free if reuse_core else (), end_year=config.end_year,
                         params_path=params_path)
    except (ArithmeticError, ValueError) as err:
        return {**{i: [math.nan, math.nan, math.nan] for i in ids}, "_error": f"{type(err).__name__}: {err}"}


# ------------------------------------------------------------------------------------ executors
class ReplicationPool:
    """Runs replications serially, on W local processes, or on a Dask LocalCluster (or a scheduler
    address); replication j goes to worker j mod W (its core cache stays warm)."""

    def __init__(self, backend: str = "serial", workers: int = 1, scheduler: str | None = None):
        if backend not in ("serial", "processes", "dask"):
            raise CalibrationError(f"--backend {backend}: allowed serial, processes, dask")
        if workers < 1:
            raise CalibrationError(f"--workers {workers}: must be at least 1")
        self.backend, self.workers, self.scheduler = backend, workers, scheduler
        self._pools: list = []
        self._client = self._cluster = None

    def __enter__(self) -> "ReplicationPool":
        if self.backend == "processes":
            from concurrent.futures import ProcessPoolExecutor

            self._pools = [ProcessPoolExecutor(max_workers=1, initializer=ignore_interrupt)
                           for _ in range(self.workers)]
        elif self.backend == "dask":
            from distributed import Client

            if self.scheduler:
                self._client = Client(self.scheduler)  # a scheduler's workers are not ours to change
            else:
                self._client, self._cluster = local_dask_client(self.workers)
        return self

    def __exit__(self, *exc) -> None:
        for p in self._pools:
            p.shutdown(cancel_futures=True)
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._pools, self._client, self._cluster = [], None, None

    def map(self, fn, argsets: Sequence[tuple]) -> list:
        if self.backend == "serial" or (not self._pools and self._client is None):
            return [fn(*a) for a in argsets]
        if self.backend == "processes":
            futs = [self._pools[j % len(self._pools)].submit(fn, *a) for j, a in enumerate(argsets)]
            try:
                return [f.result() for f in futs]
            except KeyboardInterrupt:
                for p in self._pools:
                    stop_pool(p)
                raise
        addrs = sorted(self._client.scheduler_info()["workers"])
        futs = [self._client.submit(fn, *a, workers=[addrs[j % len(addrs)]], pure=False)
                for j, a in enumerate(argsets)]
        try:
            return self._client.gather(futs)
        except KeyboardInterrupt:
            quiet_cancelled_tasks(self._client if self._cluster is not None else None)
            raise


class _HoldInterrupts:
    """Ctrl-C while optuna writes its study (between trials, in its SQLite storage) is held until the next
    trial starts or optuna returns, so that an interrupt never cuts a storage write (optuna 4-5 then fails
    with an error of its own); during a trial's simulation, or at a second Ctrl-C, it stops the fit at once."""

    def __init__(self):
        self.holding = self.pending = self._installed = False

    def __enter__(self) -> "_HoldInterrupts":
        # only over Python's own Ctrl-C handler: an ignored SIGINT (a job started with &) or a caller's
        # handler is left as it is
        self._installed = (threading.current_thread() is threading.main_thread()
                           and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        if self._installed:
            signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._installed = False

    def _on_sigint(self, signum, frame) -> None:
        if self.holding and not self.pending:
            self.pending = True
        else:  # outside optuna's writes, or a second Ctrl-C while one hangs
            raise KeyboardInterrupt

    @contextmanager
    def held(self):
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.pending:
            raise KeyboardInterrupt

    @contextmanager
    def hold(self):
        """The guard installed and optuna's writes held, for one block."""
        with self, self.held():
            yield

    @contextmanager
    def released(self):
        self.holding = False
        try:
            if self.pending:
                raise KeyboardInterrupt
            yield
        finally:
            self.holding = True


# ------------------------------------------------------------------------------------ objective
@dataclass
class Evaluation:
    """One objective evaluation: values, per-target simulated mean and MC SE, distance, wall time (s)."""

    values: dict[str, float]
    table: pd.DataFrame
    distance: float
    seconds: float
    cached: bool = False
    stage: str = ""
    reps: dict | None = None  # seed -> target id -> [statistic, estimator SE, N]


class EvaluationLog:
    """Append-only JSONL log of evaluations; its records are the cache a resumed fit reads first."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self.records: dict[str, dict] = {}
        if self.path and self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interruption
                self.records[r["key"]] = r

    def append(self, record: dict) -> None:
        self.records[record["key"]] = record
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as fh:
                fh.write(json.dumps(record, sort_keys=True, default=float) + "\n")
                fh.flush()
                os.fsync(fh.fileno())


class Objective:
    """SMM distance between simulated and published statistics (see the module docstring).

    ``evaluate(values)`` takes ``{section.name: value}`` for the free parameters and returns an
    :class:`Evaluation`; ``__call__(x)`` takes the vector in the order of ``free``.
    """

    def __init__(self, target_ids: Sequence[str], free: Sequence[FreeParameter], reps: int = 4,
                 base_config=None, targets: pd.DataFrame | None = None, tolerance: float = DEFAULT_TOLERANCE,
                 pool: ReplicationPool | None = None, log: EvaluationLog | str | Path | None = None,
                 fixed: Mapping[str, float] | None = None, seeds: Sequence[int] | None = None,
                 report_ids: Sequence[str] = (), reuse_core: bool = True, end_year: int | None = None,
                 params_path: str | Path | None = None):
        from sim.config import ModelConfig

        self.targets = load_targets() if targets is None else targets
        bad = mom.unknown_ids([*target_ids, *report_ids])
        if bad:
            raise CalibrationError(f"--targets {bad[0]}: unknown target id (allowed: the ids of calibration/targets.csv)")
        if reps < 1:
            raise CalibrationError(f"--reps {reps}: must be at least 1")
        if not 0 < tolerance:
            raise CalibrationError(f"tolerance {tolerance}: must be positive")
        self.ids = list(target_ids)
        self.report_ids = [i for i in report_ids if i not in self.ids]
        self.free = list(free)
        self.seeds = list(seeds) if seeds is not None else list(range(1, reps + 1))
        self.tolerance = tolerance
        self.fixed = dict(fixed or {})
        self.config = base_config or ModelConfig()
        self.end_year = end_year  # None: the last year the targets need; earlier only for short test spans
        self.pool = pool or ReplicationPool()
        self.log = log if isinstance(log, EvaluationLog) else EvaluationLog(log)
        self.reuse_core = reuse_core
        self.scale = self._scales()
        # Every parameter not free or fixed comes from this file; the log is keyed on its bytes, so a
        # changed file never reuses old evaluations.
        self.params_path = str(params_path or DEFAULT_PATH)
        self.digest = hashlib.sha1(Path(self.params_path).read_bytes()).hexdigest()

    def variant(self, *, targets: pd.DataFrame | None = None, seeds: Sequence[int] | None = None,
                log: EvaluationLog | None = None) -> "Objective":
        """The same objective (fitted ids, free parameters, settings, pool, parameter file) with other
        targets, seeds or log; no report ids, and no log unless given."""
        return Objective(self.ids, self.free, targets=self.targets if targets is None else targets,
                         base_config=self.config, tolerance=self.tolerance, pool=self.pool,
                         seeds=self.seeds if seeds is None else seeds, fixed=self.fixed, log=log,
                         reuse_core=self.reuse_core, end_year=self.end_year, params_path=self.params_path)

    def _scales(self) -> pd.Series:
        t = self.targets.loc[self.ids]
        se = t["se"].astype(float)
        tol = self.tolerance * t["value"].astype(float).abs()
        return se.where(se > 0, tol).where(lambda s: s > 0, self.tolerance)

    def _ids(self, with_report: bool) -> list[str]:
        return self.ids + (self.report_ids if with_report else [])

    def _config(self, ids: Sequence[str]):
        """The base configuration stopped at the last year the ids need (the fast path)."""
        end = self.end_year if self.end_year is not None else mom.last_year(ids)
        return replace(self.config, end_year=max(self.config.start_year, end))

    def _key(self, values: Mapping[str, float], with_report: bool = False) -> str:
        payload = [sorted((k, repr(float(v))) for k, v in values.items()), sorted(self.fixed.items()), self.seeds,
                   self._ids(with_report), asdict(self._config(self._ids(with_report))), self.digest]
        return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def vector_to_values(self, x: Sequence[float]) -> dict[str, float]:
        return {p.name: float(v) for p, v in zip(self.free, x)}

    def __call__(self, x: Sequence[float]) -> float:
        return self.evaluate(self.vector_to_values(x)).distance

    def simulate(self, values: Mapping[str, float], with_report: bool = False) -> dict[int, dict[str, list[float]]]:
        ids = tuple(self._ids(with_report))
        base = self._config(ids)
        cfg = replace(base, parameter_overrides={**base.parameter_overrides, **self.fixed, **values})
        free_names = tuple(p.name for p in self.free)
        out = self.pool.map(_task, [(cfg, s, ids, free_names, self.reuse_core, self.params_path)
                                     for s in self.seeds])
        return dict(zip(self.seeds, out))

    def table(self, reps: Mapping[int, Mapping[str, Sequence[float]]]) -> pd.DataFrame:
        """Per target: published value and SE, simulated mean, MC SE (sd over replications / sqrt R),
        mean estimator SE, mean N, difference in published SEs (or tolerance units), within one SE."""
        rows = []
        first = next(iter(reps.values()))
        for i in [j for j in [*self.ids, *self.report_ids] if j in first]:
            est = np.array([reps[s][i][0] for s in reps], float)
            se = np.array([reps[s][i][1] for s in reps], float)
            n = np.array([reps[s][i][2] for s in reps], float)
            t = self.targets.loc[i]
            pub, pub_se = float(t["value"]), float(t["se"])
            scale = pub_se if pub_se > 0 else self.tolerance * abs(pub)
            ok = np.isfinite(est)
            mean = float(est[ok].mean()) if ok.any() else np.nan
            mc = float(est[ok].std(ddof=1) / math.sqrt(ok.sum())) if ok.sum() > 1 else np.nan
            diff = (mean - pub) / scale if scale > 0 else np.nan
            rows.append(dict(id=i, role="fit" if i in self.ids else "held out", published=pub, published_se=pub_se,
                             scale=scale, sim_mean=mean, mc_se=mc, estimator_se=float(np.nanmean(se)) if ok.any() else np.nan,
                             n=float(np.nanmean(n)) if np.isfinite(n).any() else np.nan, n_published=float(t["n"]),
                             diff=diff, within=bool(np.isfinite(diff) and abs(diff) <= 1.0), reps=int(ok.sum())))
        return pd.DataFrame(rows).set_index("id")

    def distance(self, table: pd.DataFrame) -> float:
        fit = table[table["role"] == "fit"]
        d = fit["diff"].to_numpy(float)
        return float(np.sum(np.where(np.isfinite(d), d * d, MISSING_PENALTY)))

    def evaluate(self, values: Mapping[str, float], stage: str = "", with_report: bool = False,
                 check_start: bool = True) -> Evaluation:
        """The objective at ``values``; ``with_report`` also computes the held-out rows (not in the distance).
        With ``check_start``, a breakdown at the first point of an empty log is an error (a search must start
        where the model runs); a design that spans the bounds (a screen) passes False and gets NaN rows."""
        values = {k: float(v) for k, v in values.items()}
        key = self._key(values, with_report)
        hit = self.log.records.get(key)
        if hit is not None:
            reps = {s: hit["reps"][str(s)] for s in self.seeds}  # the seeds' order, not the log's sorted keys
            tab = self.table(reps)
            return Evaluation(values, tab, self.distance(tab), float(hit["seconds"]), cached=True, stage=stage,
                              reps=reps)
        t0 = time.perf_counter()
        first = not self.log.records
        reps = self.simulate(values, with_report)
        secs = time.perf_counter() - t0
        errors = sorted({r["_error"] for r in reps.values() if "_error" in r})
        if errors and first and check_start:
            raise CalibrationError(f"the model breaks down at the first point evaluated ({errors[0]}); "
                                   "check the start values and bounds")
        tab = self.table(reps)
        dist = self.distance(tab)
        self.log.append(dict(key=key, stage=stage, values=values, distance=dist, seconds=secs,
                             reps={str(s): v for s, v in reps.items()}, time=time.strftime("%Y-%m-%dT%H:%M:%S")))
        return Evaluation(values, tab, dist, secs, stage=stage, reps=reps)


# ------------------------------------------------------------------------------------ the fit
@dataclass
class CalibrationResult:
    """Best values, their table, the search history and timings (seconds)."""

    params: dict[str, float]
    free: list[FreeParameter]
    best: Evaluation
    history: pd.DataFrame
    seconds: float
    eval_seconds: float
    jacobian: pd.DataFrame | None = None
    std_errors: pd.Series | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"SMM distance {self.best.distance:.4g} after {len(self.history)} evaluations "
                 f"({self.info.get('simulated', 0)} simulated, {self.seconds:.1f} s; "
                 f"{self.eval_seconds:.2f} s per simulated evaluation)"]
        for p in self.free:
            se = "" if self.std_errors is None else f"  se {self.std_errors.get(p.name, np.nan):.4g}"
            lines.append(f"  {p.name:45s} {self.params[p.name]:.6g}  (start {p.start:.6g}, bounds "
                         f"[{p.lower:.4g}, {p.upper:.4g}] {p.bounds_from}){se}")
        t = self.best.table
        lines.append(f"  rows within one SE (10 % without SE): fit {int(t.loc[t.role == 'fit', 'within'].sum())}/"
                     f"{int((t.role == 'fit').sum())}, held out {int(t.loc[t.role != 'fit', 'within'].sum())}/"
                     f"{int((t.role != 'fit').sum())}")
        return "\n".join(lines)


def fit_rows_met(objective: Objective, ev: Evaluation) -> int:
    """How many of the fitted rows ``ev`` meets (within one published SE, 10 % without an SE)."""
    return int(ev.table.loc[list(objective.ids), "within"].astype(bool).sum())


def polish_step(objective: Objective, ev: Evaluation, jac: pd.DataFrame,
                margin: float = 0.95) -> tuple[dict[str, float], list[str]] | None:
    """A move from ``ev``'s values that, in the linear approximation ``jac`` (d simulated mean / d
    parameter), brings as many fitted rows as it can within ``margin`` published SEs, inside the bounds,
    and is the smallest such move (sum of squares in shares of each bound width). First the least
    squared excess beyond the margin over all rows tells which rows the linearisation can bring in;
    then the nearest point that has all of those within the margin (scipy SLSQP both times).
    Returns the values and the rows it leaves out, or None when it would not meet more rows than
    ``ev`` does. The distance minimum trades rows off in squares; this asks for the nearest point
    that meets them, which the model must then confirm."""
    from scipy.optimize import minimize

    free = objective.free
    names = [p.name for p in free]
    ids = [i for i in objective.ids if np.isfinite(ev.table.at[i, "diff"]) and np.isfinite(jac.loc[i, names]).all()]
    if not ids or not free:
        return None
    d = ev.table.loc[ids, "diff"].to_numpy(float)
    width = np.array([p.upper - p.lower for p in free])
    x = np.array([ev.values[n] for n in names])
    G = jac.loc[ids, names].to_numpy(float) / objective.scale.loc[ids].to_numpy(float)[:, None] * width
    k, n = len(free), len(ids)
    box = [((p.lower - xi) / w, (p.upper - xi) / w) for p, xi, w in zip(free, x, width)]
    opts = {"maxiter": 1000, "ftol": 1e-14}

    def band(rows, slack: bool):
        """|d + G z| <= margin (+ s, one slack per row) on ``rows``, as SLSQP inequalities on (z, s)."""
        Gr, dr = G[rows], d[rows]
        S = np.eye(len(rows)) if slack else np.zeros((len(rows), 0))
        A = np.vstack([np.hstack([-Gr, S]), np.hstack([Gr, S])])
        return {"type": "ineq", "fun": lambda v: margin + np.concatenate([-dr, dr]) + A @ v, "jac": lambda v: A}

    excess = minimize(lambda v: v[k:] @ v[k:] + 1e-10 * v[:k] @ v[:k],
                      np.concatenate([np.zeros(k), np.maximum(np.abs(d) - margin, 0)]),
                      jac=lambda v: np.concatenate([2e-10 * v[:k], 2 * v[k:]]), method="SLSQP",
                      bounds=box + [(0, None)] * n, constraints=[band(list(range(n)), True)], options=opts)
    reach = [r for r in range(n) if np.abs(d[r] + G[r] @ excess.x[:k]) <= margin + 1e-6]
    if len(reach) <= fit_rows_met(objective, ev):
        return None
    near = minimize(lambda z: z @ z, excess.x[:k], jac=lambda z: 2 * z, method="SLSQP", bounds=box,
                    constraints=[band(reach, False)], options=opts)
    z = near.x if near.success and np.all(np.abs(d[reach] + G[reach] @ near.x) <= margin + 1e-6) else excess.x[:k]
    step = {p.name: float(np.clip(xi + zi * w, p.lower, p.upper)) for p, xi, zi, w in zip(free, x, z, width)}
    return step, [ids[r] for r in range(n) if r not in reach]


def calibrate(objective: Objective, budget: int = 40, refine: int | None = None, seed: int = 0,
              out: str | Path | None = None, sampler: str = "tpe", progress: bool = False,
              local: str = "least-squares", polish: float | None = None) -> CalibrationResult:
    """Global search (optuna, ``budget`` trials, the start enqueued first) then a local refinement from
    the best point within the bounds, on the same CRN objective: ``least-squares`` (scipy trust-region
    reflective on the SE-scaled residuals, finite differences of 2 % of each box; ``refine`` is its
    evaluation budget, each iteration costing k + 1) or ``nelder-mead``. Default ``refine`` =
    ``budget``//2. With ``polish`` (a margin in published SEs, e.g. 0.95), the Jacobian at the best
    point gives :func:`polish_step`; its point is simulated and replaces the best when it meets more
    fitted rows. Resumable from ``out`` (optuna.db + evaluations.jsonl)."""
    import optuna
    from scipy.optimize import minimize

    if budget < 1:
        raise CalibrationError(f"--budget {budget}: must be at least 1 evaluation")
    refine = budget // 2 if refine is None else refine
    free = objective.free
    t_start = time.perf_counter()
    hist: list[dict] = []
    best: list[Evaluation] = []

    def record(ev: Evaluation) -> float:
        hist.append({**ev.values, "distance": ev.distance, "seconds": ev.seconds, "cached": ev.cached,
                     "stage": ev.stage})
        if not best or ev.distance < best[0].distance:
            best[:] = [ev]
        return ev.distance

    # A trial's error reaches the caller (optuna re-raises it) and distances are never NaN (MISSING_PENALTY),
    # so optuna's own warnings would only repeat it, or an interrupt, a second time.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = None
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{Path(out).resolve() / 'optuna.db'}"
    if sampler == "cmaes":
        smp = optuna.samplers.CmaEsSampler(seed=seed, x0={p.name: p.start for p in free})
    elif sampler == "tpe":
        smp = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(4, min(10, budget // 3)))
    else:
        raise CalibrationError(f"--sampler {sampler}: allowed tpe, cmaes")
    guard = _HoldInterrupts()
    with guard.hold():
        study = optuna.create_study(study_name="calibration", storage=storage, sampler=smp, direction="minimize",
                                    load_if_exists=True)
        from optuna.trial import TrialState

        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study.tell(t.number, state=TrialState.FAIL)  # interrupted: its point is asked again below
            study.enqueue_trial(t.params)
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    for t in done:  # finished trials: their evaluations are in the log (no simulation)
        record(objective.evaluate({p.name: t.params[p.name] for p in free}, "optuna"))
    with guard.hold():
        if not done:
            study.enqueue_trial({p.name: p.start for p in free})

    def trial_fn(trial) -> float:
        vals = {p.name: trial.suggest_float(p.name, p.lower, p.upper) for p in free}  # held: a storage write
        with guard.released():
            return record(objective.evaluate(vals, "optuna"))

    todo = budget - len(done)
    if todo > 0:
        with guard.hold():
            study.optimize(trial_fn, n_trials=todo, show_progress_bar=progress)

    if refine > 0 and best and free:
        x0 = np.array([p.to_unit(best[0].values[p.name]) for p in free])

        def at(u) -> Evaluation:
            return objective.evaluate({p.name: p.from_unit(v) for p, v in zip(free, u)}, local)

        if local == "nelder-mead":
            simplex = np.vstack([x0] + [np.clip(x0 + 0.1 * np.eye(len(free))[j] * (1 if x0[j] < 0.9 else -1), 0, 1)
                                        for j in range(len(free))])
            minimize(lambda u: record(at(u)), x0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * len(free),
                     options={"maxfev": refine, "initial_simplex": simplex, "xatol": 1e-4, "fatol": 1e-3})
        elif local == "least-squares":
            from scipy.optimize import least_squares

            from calibration.fastpath import study_of_parameter

            fit_ids = list(objective.ids)
            # finite differences go column by column: study-only parameters first, so that each of their
            # steps replays the studies on the cached core run of the current point (fastpath)
            order = sorted(range(len(free)), key=lambda j: study_of_parameter(free[j].name) is None)
            back = np.argsort(order)

            def resid(v):
                ev = at(np.asarray(v)[back])
                record(ev)
                d = ev.table.loc[fit_ids, "diff"].to_numpy(float)
                return np.where(np.isfinite(d), d, math.sqrt(MISSING_PENALTY))

            least_squares(resid, np.clip(x0[order], 1e-6, 1 - 1e-6), bounds=(0.0, 1.0), method="trf",
                          diff_step=0.02, max_nfev=max(2, refine // (len(free) + 1)), x_scale=1.0, verbose=0)
        else:
            raise CalibrationError(f"--local {local}: allowed least-squares, nelder-mead")
    polished = None
    if polish is not None and best and free:
        start = best[0]
        step = polish_step(objective, start, jacobian(objective, start.values), polish)
        polished = {"margin": polish, "rows_met_before": fit_rows_met(objective, start), "step": step is not None}
        if step is not None:
            polished["left_out"] = step[1]
            cand = objective.evaluate(step[0], "polish")
            record(cand)
            polished.update(rows_met_after=fit_rows_met(objective, cand), distance_after=cand.distance)
            if polished["rows_met_after"] > polished["rows_met_before"]:
                best[:] = [cand]
        polished["accepted"] = best[0] is not start
    final = objective.evaluate(best[0].values, "best", with_report=True) if objective.report_ids else best[0]
    best[:] = [final]
    history = pd.DataFrame(hist)
    sim = history[~history["cached"]] if len(history) else history
    eval_s = float(sim["seconds"].mean()) if len(sim) else float(history["seconds"].mean()) if len(history) else np.nan
    b = best[0]
    return CalibrationResult(dict(b.values), free, b, history, time.perf_counter() - t_start, eval_s,
                             info={"simulated": int(len(sim)), "budget": budget, "refine": refine, "seed": seed,
                                   "local": local, "polish": polished,
                                   "sampler": sampler, "reps": len(objective.seeds), "targets": objective.ids,
                                   "hold_out": objective.report_ids})


def jacobian(objective: Objective, values: Mapping[str, float], rel_step: float = 0.02) -> pd.DataFrame:
    """d(simulated mean)/d(parameter) at ``values`` by central differences with common random numbers
    (step ``rel_step`` of the parameter's bound width); rows targets, columns parameters, in the
    targets' units per parameter unit."""
    centre: list[pd.Series] = []  # evaluated only if a side breaks down
    cols = {}
    for p in objective.free:
        h = rel_step * (p.upper - p.lower)
        up = dict(values, **{p.name: min(values[p.name] + h, p.upper)})
        dn = dict(values, **{p.name: max(values[p.name] - h, p.lower)})
        a = objective.evaluate(up, "jacobian").table["sim_mean"]
        b = objective.evaluate(dn, "jacobian").table["sim_mean"]
        if a.notna().all() and b.notna().all():
            cols[p.name] = (a - b) / (up[p.name] - dn[p.name])
            continue
        # one-sided where a side's run broke down (NaN statistics)
        if not centre:
            centre.append(objective.evaluate(values, "jacobian").table["sim_mean"])
        hi, x_hi = a.where(a.notna(), centre[0]), np.where(a.notna(), up[p.name], values[p.name])
        lo, x_lo = b.where(b.notna(), centre[0]), np.where(b.notna(), dn[p.name], values[p.name])
        step = pd.Series(x_hi - x_lo, index=a.index)
        cols[p.name] = ((hi - lo) / step.where(step > 0)).astype(float)
    return pd.DataFrame(cols)


def mean_covariance(reps: Mapping, ids: Sequence[str]) -> np.ndarray:
    """Covariance matrix of the mean over replications of the statistics ``ids`` (sample covariance of
    the replications' values over their number; replications with a NaN statistic left out)."""
    X = np.array([[float(reps[s][i][0]) for i in ids] for s in reps], float)
    X = X[np.isfinite(X).all(axis=1)]
    if len(X) < 2:
        return np.full((len(ids), len(ids)), np.nan)
    return np.atleast_2d(np.cov(X, rowvar=False, ddof=1)) / len(X)


def smm_standard_errors(objective: Objective, jac: pd.DataFrame, values: Mapping[str, float] | None = None,
                        data_cov: pd.DataFrame | None = None) -> pd.Series:
    """Sandwich SEs of the fitted parameters: the square roots of :func:`smm_covariance`'s diagonal."""
    return _sqrt_diagonal(smm_covariance(objective, jac, values, data_cov))


def _sqrt_diagonal(V: pd.DataFrame) -> pd.Series:
    return pd.Series(np.sqrt(np.clip(np.diag(V.to_numpy(float)), 0, None)), index=V.index)


def smm_covariance(objective: Objective, jac: pd.DataFrame, values: Mapping[str, float] | None = None,
                   data_cov: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sandwich covariance of the fitted parameters, (G'WG)^-1 G'W S W G (G'WG)^-1 with W = diag(1/s^2) and S
    the covariance of (targets - simulated mean): ``data_cov`` (the targets' covariance, e.g. of pseudo-targets
    that are themselves means over replications) or diag(published SE^2), plus the simulated mean's
    covariance over the replications at ``values`` (their sample covariance / R). Without ``values`` (or
    with fewer than two replications), the simulated mean counts s^2 / R: a simulated sample as noisy as
    the published one."""
    rows = [i for i in objective.ids if np.isfinite(jac.loc[i].to_numpy(float)).all()]
    if not rows:
        return pd.DataFrame(np.nan, index=jac.columns, columns=jac.columns)
    G = jac.loc[rows].to_numpy(float)
    s = objective.scale.loc[rows].to_numpy(float)
    W = np.diag(1 / s**2)
    if values is None:
        S = np.diag(s**2 * (1 + 1 / len(objective.seeds)))
    else:
        sim = mean_covariance(objective.evaluate(values, "standard errors").reps, rows)
        if not np.isfinite(sim).all():  # fewer than two usable replications: a sample as noisy as the published
            sim = np.diag(s**2 / len(objective.seeds))
        data = np.diag(s**2) if data_cov is None else data_cov.loc[rows, rows].to_numpy(float)
        S = data + sim
    A = np.linalg.pinv(G.T @ W @ G)
    return pd.DataFrame(A @ G.T @ W @ S @ W @ G @ A, index=jac.columns, columns=jac.columns)


# ------------------------------------------------------------------------------------ write-back
_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9_]+)\s*=\s*\{")


def _toml_number(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{float(v):.1f}"
    return repr(float(v))


def write_parameters(values: Mapping[str, float], src: str | Path, dst: str | Path | None = None,
                     targets: Mapping[str, str] | None = None) -> Path:
    """Rewrite only the ``value`` (and, where given, ``target``) field of each fitted entry of the
    parameter file ``src`` into ``dst`` (default: in place), atomically; every other byte is kept.
    Raises :class:`CalibrationError` if an entry is not found as a one-line inline table."""
    src, dst = Path(src), Path(dst or src)
    lines = src.read_text().splitlines(keepends=True)
    section, todo = None, dict(values)
    targets = dict(targets or {})
    for j, line in enumerate(lines):
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            section = s.strip("[]").strip()
            continue
        m = _ENTRY.match(s)
        if not m or section is None:
            continue
        key = f"{section}.{m.group('name')}"
        if key not in todo:
            continue
        new, k = re.subn(r"(\bvalue\s*=\s*)([-+0-9.eE_]+|inf|nan)", lambda g: g.group(1) + _toml_number(todo[key]),
                         line, count=1)
        if k != 1:
            raise CalibrationError(f"{src}: cannot find the value of {key} on its line")
        if key in targets:
            tgt = json.dumps(targets[key], ensure_ascii=False)
            new, k = re.subn(r'(\btarget\s*=\s*)"(?:[^"\\]|\\.)*"', lambda g: g.group(1) + tgt, new, count=1)
            if k != 1:
                new = re.sub(r"\}\s*$", lambda g: f", target = {tgt} }}" + line[len(line.rstrip()):], new.rstrip("\n"))
                new += "\n" if line.endswith("\n") else ""
        lines[j] = new
        todo.pop(key)
    if todo:
        raise CalibrationError(f"{src}: entries not found: {sorted(todo)}")
    text = "".join(lines)
    tomllib.loads(text)
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, dst)
    return dst


def main_targets(jac: pd.DataFrame, scale: pd.Series, k: int = 3, share: float = 0.1) -> dict[str, list[str]]:
    """Per parameter, the target ids it mainly moves: the largest |d moment / d theta| x bound width in
    target scale units, up to ``k`` ids with at least ``share`` of the largest."""
    out = {}
    for p in jac.columns:
        e = (jac[p].abs() / scale.reindex(jac.index)).dropna().sort_values(ascending=False)
        e = e[e >= share * e.iloc[0]] if len(e) and e.iloc[0] > 0 else e.iloc[:0]
        out[p] = list(e.index[:k])
    return out


def parse_ids(text: str | None, allowed: Iterable[str], what: str) -> list[str] | None:
    if text is None:
        return None
    ids = [t.strip() for t in text.split(",") if t.strip()]
    allowed = set(allowed)
    for i in ids:
        if i not in allowed:
            raise CalibrationError(f"{what} {i}: unknown target id (allowed: the ids of calibration/targets.csv)")
    return ids


# ------------------------------------------------------------------------------------ recovery
#: Fitted parameters whose sandwich correlation is at least this large in absolute value are reported as
#: identified only jointly: the rows pin down a combination of them, not each one.
JOINT_CORRELATION = 0.9


@dataclass
class RecoveryResult:
    """Known truth theta*, the start, the fitted value, its SMM SE and whether |fit - truth| <= 2 SE;
    ``covariance`` is the fitted parameters' sandwich covariance."""

    table: pd.DataFrame
    fit: CalibrationResult
    pseudo_targets: pd.DataFrame
    covariance: pd.DataFrame

    def joint(self, threshold: float = JOINT_CORRELATION) -> list[tuple[str, str, float]]:
        """Pairs of parameters whose estimates' correlation is at least ``threshold`` in absolute value."""
        V = self.covariance.to_numpy(float)
        sd = _sqrt_diagonal(self.covariance).to_numpy()
        names = list(self.covariance.index)
        with np.errstate(invalid="ignore", divide="ignore"):
            C = V / np.outer(sd, sd)
        return [(names[i], names[j], float(C[i, j])) for i in range(len(names)) for j in range(i + 1, len(names))
                if np.isfinite(C[i, j]) and abs(C[i, j]) >= threshold]

    def summary(self) -> str:
        out = self.table.to_string(float_format=lambda v: f"{v:.5g}")
        pairs = "; ".join(f"{a} and {b} ({c:+.3f})" for a, b, c in self.joint())
        if pairs:
            out += f"\nidentified only jointly (|correlation of the estimates| >= {JOINT_CORRELATION:g}): {pairs}"
        return out


def pseudo_targets(objective: Objective, truth: Mapping[str, float], seeds: Sequence[int]) -> pd.DataFrame:
    """targets.csv with each fitted row's value replaced by the model's statistic at ``truth`` on
    ``seeds`` (mean over them) and its SE by max(estimator SE, sd across the seeds) / sqrt(len(seeds))
    (the estimator's SE alone understates the spread across seeds on small samples; rows without a
    published SE keep the relative tolerance); ``attrs["covariance"]`` is the covariance of those means
    (:func:`mean_covariance` over the seeds), what the recovery's standard errors count as the pseudo-data's noise."""
    pseudo = objective.variant(seeds=seeds)
    reps = pseudo.simulate(truth)
    tab = pseudo.table(reps)
    t = objective.targets.copy()
    t.loc[tab.index, "value"] = tab["sim_mean"]
    has_se = t.loc[tab.index, "se"].notna().to_numpy()
    spread = (tab["mc_se"] * math.sqrt(len(seeds))).fillna(0.0) if len(seeds) > 1 else 0.0
    se = np.maximum(tab["estimator_se"], spread) / math.sqrt(len(seeds))
    t.loc[tab.index[has_se], "se"] = se[has_se]
    ids = [i for i in objective.ids if i in tab.index]
    t.attrs["covariance"] = pd.DataFrame(mean_covariance(reps, ids), index=ids, columns=ids)
    return t


def recover(objective: Objective, truth: Mapping[str, float], pseudo_seeds: Sequence[int] | None = None,
            budget: int = 6, refine: int = 12, seed: int = 0, out: str | Path | None = None) -> RecoveryResult:
    """Parameter recovery: pseudo-targets from the model at known ``truth`` on ``pseudo_seeds`` (default:
    the fit's own CRN seeds, so that J(truth) = 0 and the test is whether the search finds it; other
    seeds make it a test with sampling noise), then the fit from ``objective``'s start values; SEs
    from the Jacobian (:func:`smm_standard_errors`), counting the noise of both the pseudo-targets (means
    over ``pseudo_seeds``) and the fit's simulated means (over its seeds); on the fit's own seeds the two
    are the same draws and only the simulation's is counted."""
    pseudo_seeds = list(objective.seeds) if pseudo_seeds is None else list(pseudo_seeds)
    for p in objective.free:
        if not p.lower <= truth[p.name] <= p.upper:
            raise CalibrationError(f"recovery: truth {p.name} = {truth[p.name]} outside [{p.lower}, {p.upper}]")
    targets = pseudo_targets(objective, truth, pseudo_seeds)
    obj = objective.variant(targets=targets, log=objective.log)
    res = calibrate(obj, budget=budget, refine=refine, seed=seed, out=out)
    jac = jacobian(obj, res.params)
    own = sorted(pseudo_seeds) == sorted(objective.seeds)
    cov = targets.attrs["covariance"]
    data_cov = pd.DataFrame(0.0, index=cov.index, columns=cov.columns) if own else cov
    V = smm_covariance(obj, jac, res.params, data_cov=data_cov)
    se = _sqrt_diagonal(V)
    res.jacobian, res.std_errors = jac, se
    rows = []
    for p in obj.free:
        d = res.params[p.name] - truth[p.name]
        rows.append(dict(parameter=p.name, truth=truth[p.name], start=p.start, fitted=res.params[p.name],
                         se=se[p.name], z=d / se[p.name] if se[p.name] > 0 else np.inf,
                         recovered=bool(abs(d) <= 2 * se[p.name])))
    return RecoveryResult(pd.DataFrame(rows).set_index("parameter"), res, targets, V)
