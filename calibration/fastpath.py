"""The fast path of one calibration replication: the moments of ``calibration.moments`` from a run
that does only what those moments read, and, when only study parameters change, no run at all.

A replication (:func:`replicate`) at configuration ``config`` and CRN seed ``seed``:

* **Plan** (:func:`make_plan`): the run stops at the last year the targets need; it runs the studies
  whose panels the targets read plus every study that is not replayable (seed 000's provinces feed
  TFP into GDP, so they are part of the economy); it collects only the model's summary reporters (and
  the province reporters when a target reads the provinces panel); it builds only the panels the
  moments read and writes no files. Dropping a replayable study changes nothing else: each study
  draws from its own stream and writes nothing back into the model (``StudyModule.replayable``).
* **Core cache** (:class:`CoreCache`, one per process): when a free parameter belongs to a replayable
  study's section (``city_economy.*``, ``firm_outcomes.*``), the run records, for each such study,
  what it read from the model each year (``StudyModule.inputs``) and is kept, keyed by the hash of
  the configuration without those parameters, the parameter file and the seed. A later replication
  that differs only in those parameters re-runs just the studies whose values changed on the recorded
  inputs (``StudyModule.advance``) and rewrites their headline columns of the summary.
  Moments whose inputs the replay leaves unchanged (seed 000's and the province panel's always,
  seed 001's when only firm parameters move) are taken from the cached run.
* **Shared set-up**: the world tables and the parameter file are read once per process; BLAS is held
  to one thread (replications are the parallel unit).

Every moment equals the one of the reference path (:func:`reference_run`: a full run with every
study, every panel, then ``compute_moments``) to 1e-10; ``tests/test_calibration.py`` checks both the
plain fast path and a replay against it.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from calibration import moments as mom
from calibration.params import DEFAULT_PATH


def _studies():
    from sim.studies import STUDIES

    return STUDIES


def replayable_sections() -> dict[str, str]:
    """Parameter section -> the replayable study that alone reads it."""
    return {cls.section: name for name, cls in _studies().items() if cls.replayable and cls.section}


def study_of_parameter(name: str) -> str | None:
    """The replayable study whose own parameter ``section.name`` is, or None (a core parameter)."""
    return replayable_sections().get(name.partition(".")[0])


# ------------------------------------------------------------------------------------ plan
@dataclass(frozen=True)
class Plan:
    """What one replication simulates: the last year, the studies run, the moment inputs built
    (``calibration.moments`` names: study names, ``summary``, ``provinces_core``) and the studies whose
    inputs are recorded for replays."""

    end_year: int
    studies: tuple[str, ...]
    needs: frozenset[str]
    record: tuple[str, ...]

    def panels(self) -> tuple[str, ...]:
        """The ``collect_panels`` names the moments read."""
        out = ["summary"] + [f"study_{s}" for s in self.studies if s in self.needs]
        if "provinces_core" in self.needs:
            out.append("provinces")
        return tuple(out)


def make_plan(ids: Sequence[str], config, free: Sequence[str] = (), end_year: int | None = None) -> Plan:
    """The plan for the moments ``ids`` under ``config`` with free parameters ``free`` (``end_year``
    overrides the last year the ids need, for short test spans)."""
    studies = _studies()
    needs = frozenset(mom.BLOCKS[mom.BLOCK_OF[i]].needs for i in ids)
    run = tuple(s for s in config.studies if s in studies and (s in needs or not studies[s].replayable))
    moved = {study_of_parameter(f) for f in free}
    record = tuple(s for s in run if s in moved and s in needs)
    end = mom.last_year(ids) if end_year is None else end_year
    return Plan(max(config.start_year, end), run, needs, record)


# ------------------------------------------------------------------------------------ per-process state
class _Shared:
    """The world tables and the parsed parameter file, read once per process (keyed by the file's bytes)."""

    def __init__(self):
        self._world = None
        self._params: dict[str, Any] = {}

    def world(self):
        if self._world is None:
            from sim.world import World

            self._world = World.load()
        return self._world

    def params(self, path: str | Path = DEFAULT_PATH):
        from calibration.params import load_parameters

        digest = hashlib.sha1(Path(path).read_bytes()).hexdigest()
        if digest not in self._params:
            self._params = {digest: load_parameters(path)}
        return digest, self._params[digest]


_SHARED = _Shared()


class _StudyHost:
    """What a replayable study reads from its model besides ``inputs()``: the seed's stream root, the
    world, the parameters and the run configuration."""

    def __init__(self, rng: np.random.Generator, world, params, config):
        self.rng, self.world, self.params, self.config = rng, world, params, config


def _record(study, log: list) -> None:
    """Make ``study.step`` keep each year's inputs in ``log`` (and step as before)."""

    def step() -> None:
        inputs = study.inputs()
        log.append(inputs)
        study.advance(inputs)

    study.step = step


@dataclass
class CoreRun:
    """A finished run kept for replays: its panels, each recorded study's yearly inputs, the study
    parameter values it ran with, and how to rebuild a study's stream."""

    panels: dict[str, pd.DataFrame]
    inputs: dict[str, list[dict]]
    values: dict[str, dict[str, float]]
    bit_generator: type
    seed_seq: np.random.SeedSequence
    config: Any = None
    moments: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class CoreCache:
    """Runs kept by (configuration without the recorded studies' parameters, parameter file, seed, plan),
    at most ``size`` of them (least recently used dropped; a default run with the firm and city studies
    recorded keeps about 16 MB). ``full``/``replays``/``hits`` count what the replications did."""

    size: int = 8
    runs: OrderedDict = field(default_factory=OrderedDict)
    full: int = 0
    replays: int = 0
    hits: int = 0

    @staticmethod
    def key(config, seed: int, plan: Plan, digest: str) -> str:
        core = {k: v for k, v in config.parameter_overrides.items() if study_of_parameter(k) not in plan.record}
        d = asdict(replace(config, parameter_overrides=core, end_year=plan.end_year, studies=plan.studies))
        payload = [d, int(seed), sorted(plan.needs), plan.record, digest]
        return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def get(self, key: str) -> CoreRun | None:
        hit = self.runs.get(key)
        if hit is not None:
            self.runs.move_to_end(key)
        return hit

    def put(self, key: str, run: CoreRun) -> None:
        self.runs[key] = run
        self.runs.move_to_end(key)
        while len(self.runs) > self.size:
            self.runs.popitem(last=False)


_CACHE = CoreCache()


def _section_values(overrides: Mapping[str, float], study: str) -> dict[str, float]:
    return {k: float(v) for k, v in overrides.items() if study_of_parameter(k) == study}


# ------------------------------------------------------------------------------------ one replication
def _lookup(config, seed: int, plan: Plan, cache: CoreCache, params_path: str | Path = DEFAULT_PATH):
    """(base parameters of the file ``params_path``, cache key or None, cached run or None)."""
    digest, base = _SHARED.params(params_path)
    key = CoreCache.key(config, seed, plan, digest) if plan.record else None
    return base, key, (cache.get(key) if key else None)


def simulate(config, seed: int, plan: Plan, cache: CoreCache | None = None,
             params_path: str | Path = DEFAULT_PATH) -> dict[str, pd.DataFrame]:
    """The panels ``plan.panels()`` of the run at ``config`` and ``seed``: from the cache (replaying the
    recorded studies whose parameters changed) or from a lean run."""
    cache = _CACHE if cache is None else cache
    base, key, hit = _lookup(config, seed, plan, cache, params_path)
    if hit is not None:
        return _replay(hit, config, base, cache)[0]
    return _run(config, seed, plan, base, cache, key)[0]


def _run(config, seed, plan: Plan, base, cache: CoreCache, key: str | None):
    """A lean run: (panels, the CoreRun kept in the cache or None)."""
    from sim import reporters
    from sim.agents import Province
    from sim.model import SuanLiModel
    from sim.outputs import collect_panels

    cfg = replace(config, end_year=plan.end_year, studies=plan.studies)
    model = SuanLiModel(cfg, seed=seed, params=base, world=_SHARED.world())
    agents = {Province: reporters.AGENTTYPE_REPORTERS[Province]} if "provinces_core" in plan.needs else {}
    model.datacollector = reporters.YearCollector(reporters.MODEL_REPORTERS, agents)
    logs: dict[str, list] = {}
    for name in plan.record:
        logs[name] = []
        _record(model.studies[name], logs[name])
    model.run()
    cache.full += 1
    panels = collect_panels(model, only=plan.panels())
    run = None
    if key is not None:
        bg = model.rng.bit_generator
        run = CoreRun(panels, logs, {s: _section_values(cfg.parameter_overrides, s) for s in plan.record},
                      type(bg), bg.seed_seq, cfg)
        cache.put(key, run)
    model.release()
    return panels, run


def _replay(run: CoreRun, config, base, cache: CoreCache):
    """(the run's panels with each recorded study whose own parameters differ re-run on its inputs,
    the names of those studies)."""
    cache.hits += 1
    panels = dict(run.panels)
    changed = [s for s in run.inputs if _section_values(config.parameter_overrides, s) != run.values[s]]
    if not changed:
        return panels, set()
    cache.replays += 1
    cfg = replace(run.config, parameter_overrides=dict(config.parameter_overrides))
    params = base.with_overrides(cfg.parameter_overrides)
    summary = panels["summary"].copy()
    rows = {int(y): j for j, y in zip(summary.index, summary["year"])}
    for name in changed:
        host = _StudyHost(np.random.Generator(run.bit_generator(run.seed_seq)), _SHARED.world(), params, cfg)
        study = _studies()[name](host)
        for inputs in run.inputs[name]:
            study.advance(inputs)
            for k, v in study.year_outcomes().items():
                if k in summary.columns:
                    summary.at[rows[int(inputs["year"])], k] = v
        panels[f"study_{name}"] = study.panel()
    panels["summary"] = summary
    return panels, set(changed)


def replicate(config, seed: int, ids: Sequence[str], free: Sequence[str] = (), end_year: int | None = None,
              cache: CoreCache | None = None, params_path: str | Path = DEFAULT_PATH) -> dict[str, list[float]]:
    """One replication's ``{id: [estimate, se, n]}`` by the fast path (module docstring); top level, so
    that worker processes can call it. On a replay, the moments whose inputs did not change (blocks
    reading neither a replayed study nor the summary) are those of the cached run."""
    from threadpoolctl import threadpool_limits

    plan = make_plan(ids, config, free, end_year)
    cache = _CACHE if cache is None else cache
    with threadpool_limits(1):
        base, key, hit = _lookup(config, seed, plan, cache, params_path)
        if hit is None:
            panels, run = _run(config, seed, plan, base, cache, key)
            known: dict[str, list[float]] = {}
        else:
            panels, changed = _replay(hit, config, base, cache)
            run, redo = None, changed | {"summary"}
            known = {i: v for i, v in hit.moments.items() if mom.BLOCKS[mom.BLOCK_OF[i]].needs not in redo}
        todo = [i for i in ids if i not in known]
        m = mom.compute_moments(panels, todo) if todo else None
    out = {i: known[i] if i in known else [float(m.at[i, "estimate"]), float(m.at[i, "se"]), float(m.at[i, "n"])]
           for i in ids}
    if run is not None:
        run.moments.update(out)
    return out


def reference_run(config, seed: int, ids: Sequence[str]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The slow path the fast one must equal: a full run of ``config`` (every study, every year of the
    configuration, every panel), then ``compute_moments``; returns the moments and the panels."""
    from threadpoolctl import threadpool_limits

    from sim.model import SuanLiModel
    from sim.outputs import collect_panels

    with threadpool_limits(1):
        model = SuanLiModel(config, seed=seed).run()
        panels = collect_panels(model)
        model.release()
        return mom.compute_moments(panels, ids), panels


def reference_replicate(config, seed: int, ids: Sequence[str]) -> dict[str, list[float]]:
    """:func:`replicate`'s result by the reference path (for comparisons and benchmarks)."""
    m = reference_run(config, seed, ids)[0]
    return {i: [float(m.at[i, "estimate"]), float(m.at[i, "se"]), float(m.at[i, "n"])] for i in ids}
