"""The planner's bench: every scheduling policy on the identical, fixed problems of one year.

Run the model of a scenario to year Y and capture the ``SchedulingProblem``s it builds
for that year (one per representative day) with a recording policy that wraps the
scenario's own policy, so the simulated state is exactly that of the scenario. Capacity,
demand, prices and network are then held fixed and each policy (every registered one, or
those named, including ``file.py:Class``) schedules the same days. Latency bounds are soft
by default (``sla_penalty`` = a share of the value of the work), so a policy may serve
beyond a bound at a penalty, and the bench counts it as an SLA violation.

Per policy (yearly, days weighted by ``snapshots.DAYS_PER_SEASON``): total, energy,
transfer, carbon-priced, SLA-penalty and unserved-value cost (CNY), carbon (t), energy
(MWh, when the problems carry ``energy_kwh``), mean and p99 latency of latency-bound work
(ms), SLA violations (PFLOP-h and share), utilisation of the east, the west and the hubs,
and the unserved share of each kind.

    suanli policies --year 2030 --scenario default --seed 1 --out bench_2030
"""

from __future__ import annotations

import copy
import json
import shutil
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from sim import snapshots
from sim.market import KINDS, POOLS, AccountingError, Assignment, SchedulingProblem, check_assignment, node_use, total_cost
from sim.measurement import weighted_quantile
from sim.policies import REGISTRY, SchedulingPolicy, make_policy

RECORDER = "experiments.bench:Recorder"
_SINKS: dict[str, dict] = {}
DEFAULT_SLA_SHARE = 0.5


class BenchError(ValueError):
    """A bad bench request (year, policy spec, output directory); the message names the field."""


class Recorder(SchedulingPolicy):
    """Wraps a policy and keeps a deep copy of every problem of ``year`` it is given (used by
    the model as the policy spec ``experiments.bench:Recorder``, so it is not registered)."""

    name = "bench_recorder"

    def __init__(self, inner: str = "local_first", inner_options: dict | None = None, year: int = 0, sink: str = ""):
        self.inner = make_policy(inner, **(inner_options or {}))
        self.year = int(year)
        self.sink = _SINKS.setdefault(sink, {"problems": [], "model": None})

    def assign(self, problem: SchedulingProblem) -> Assignment:
        if problem.year == self.year:
            ci = getattr(self.sink.get("model"), "carbon_intensity", None)
            ci = None if ci is None else np.array(ci[:, problem.season, :], dtype=float)
            self.sink["problems"].append((copy.deepcopy(problem), ci))
        return self.inner.assign(problem)


def _energy_kwh(recorded: list[tuple[SchedulingProblem, np.ndarray | None]]) -> np.ndarray | None:
    """Facility energy per PFLOP-h [D,P] (kWh) of one year's problems: carbon [t/PFLOP-h]
    divided by the grid's carbon intensity [t/kWh] of the same season and hour, which is
    how the model builds ``carbon`` (its kWh per PFLOP-h is the same in every hour and
    season of a year). None when a node with capacity has no hour of positive intensity."""
    kwh = np.full(recorded[0][0].capacity.shape[:2], -np.inf)
    for p, ci in recorded:
        if ci is None:
            return None
        pos = ci > 0
        ratio = np.where(pos[:, None, :], p.carbon / np.where(pos, ci, 1.0)[:, None, :], -np.inf)
        kwh = np.maximum(kwh, ratio.max(axis=2))
    has_cap = np.any([p.capacity.sum(axis=2) > 0 for p, _ in recorded], axis=0)
    if np.isinf(kwh[has_cap]).any():
        return None
    return np.where(np.isinf(kwh), 0.0, kwh)


def capture_problems(config, seed: int, year: int) -> list[SchedulingProblem]:
    """The representative days' problems of ``year`` in a run of ``config`` (run up to ``year``).

    The policy scheduling ``year`` is wrapped by a ``Recorder``; the run is otherwise the
    scenario's own, so the state (capacity, demand, prices, network) is the scenario's.
    """
    from sim.model import SuanLiModel

    if not (config.start_year <= year):
        raise BenchError(f"--year = {year}: must be at least the scenario's start year {config.start_year}")
    cfg = replace(config, end_year=year)
    inner = cfg.policy_for(year)
    key = f"{seed}-{year}-{time.perf_counter_ns()}"
    opts = dict(cfg.policy_options)
    opts[RECORDER] = {"inner": inner, "inner_options": cfg.policy_options.get(inner, {}), "year": year, "sink": key}
    after = cfg.hubs_enabled and year >= cfg.designation_year
    cfg = replace(cfg, policy_options=opts, reuse_identical_days=False,
                  **({"policy_after": RECORDER} if after else {"policy_before": RECORDER}))
    sink = _SINKS.setdefault(key, {"problems": [], "model": None})
    try:
        model = SuanLiModel(cfg, seed=seed)
        sink["model"] = model
        model.run()
        recorded = list(sink["problems"])
    finally:
        _SINKS.pop(key, None)
    if not recorded:
        raise BenchError(f"--year = {year}: the run scheduled no day of that year")
    problems = [p for p, _ in recorded]
    if any(getattr(p, "energy_kwh", None) is None for p in problems):
        kwh = _energy_kwh(recorded)
        for p in problems:
            if getattr(p, "energy_kwh", None) is None and kwh is not None:
                p.energy_kwh = np.repeat(kwh[:, :, None], p.capacity.shape[2], axis=2)
    return problems


def east_balance(problems: list[SchedulingProblem]) -> dict[str, float]:
    """Eastern demand over eastern capacity per pool, summed over the days (PFLOP-h / PFLOP-h): above 1,
    the east cannot serve its own work of that pool and a policy that keeps work at home leaves some unserved."""
    out = {}
    for j, pool in enumerate(POOLS):
        dem = sum(float(p.demand[p.region == "east"][:, p.compat[:, j]].sum()) for p in problems)
        cap = sum(float(p.capacity[p.region == "east", j].sum()) for p in problems)
        out[pool] = dem / cap if cap > 0 else float("inf")
    return out


def orderings(table: pd.DataFrame) -> dict[str, str]:
    """The bench's three findings: the policy with the lowest total cost; the lowest carbon among those
    serving the most work; the most unserved plus SLA-violating work among the price-inelastic policies."""
    t = table.set_index("policy")
    full = t[t["served_pflop_h"] >= t["served_pflop_h"].max() * (1 - 1e-9)]
    inelastic = t[~t["price_elastic"].astype(bool)]
    return {"lowest total cost": str(t["total_cost_cny"].idxmin()),
            "lowest carbon among those serving the most work": str(full["carbon_t"].idxmin()),
            "most unserved + SLA-violating work (price-inelastic)":
                str((inelastic["unserved_share"] + inelastic["sla_violation_share"]).idxmax())}


def soften(problem: SchedulingProblem, share: float | None) -> SchedulingProblem:
    """A copy with soft latency bounds: ``sla_penalty`` = ``share`` x value (None keeps bounds hard)."""
    p = copy.copy(problem)
    p.sla_penalty = None if share is None else share * np.asarray(problem.value, dtype=float)
    return p


def evaluate(problems: list[SchedulingProblem], policy: SchedulingPolicy, days: float = snapshots.DAYS_PER_SEASON) -> dict:
    """Yearly metrics of ``policy`` on ``problems`` (one representative day each, ``days`` days each)."""
    acc: dict[str, float] = {}
    lat_v, lat_w = [], []
    dem_k = np.zeros(len(KINDS))
    uns_k = np.zeros(len(KINDS))
    used_east = cap_east = used_west = cap_west = used_hub = cap_hub = 0.0
    bound_work = 0.0
    energy_mwh = 0.0 if all(getattr(p, "energy_kwh", None) is not None for p in problems) else float("nan")
    t0 = time.perf_counter()
    for p in problems:
        a = policy.assign(p)
        u = check_assignment(p, a)
        c = total_cost(p, a, u)
        for key, v in c.items():
            acc[key] = acc.get(key, 0.0) + days * v
        r, f = a.sparse()
        day = f.sum(axis=1)
        nd = ~p.deferrable[r[:, 1]]
        lat_v.append(p.latency_ms[r[nd, 0], r[nd, 2]])
        lat_w.append(day[nd] * days)
        bound_work += days * float(p.demand[:, ~p.deferrable].sum())
        dem_k += days * p.demand.sum(axis=(0, 2))
        uns_k += days * u.sum(axis=(0, 2))
        used = node_use(p, a).sum(axis=(1, 2))
        cap = p.capacity.sum(axis=(1, 2))
        east, west = p.region == "east", p.region == "west"
        hub = np.asarray(p.hub_role) != ""
        used_east += days * used[east].sum()
        cap_east += days * cap[east].sum()
        used_west += days * used[west].sum()
        cap_west += days * cap[west].sum()
        used_hub += days * used[hub].sum()
        cap_hub += days * cap[hub].sum()
        if not np.isnan(energy_mwh):
            energy_mwh += days * float((f * p.energy_kwh[r[:, 2], r[:, 3]]).sum()) / 1e3
    seconds = time.perf_counter() - t0
    lv, lw = np.concatenate(lat_v), np.concatenate(lat_w)
    served = dem_k.sum() - uns_k.sum()

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else float("nan")

    row = {
        "total_cost_cny": acc["total"],
        "energy_cost_cny": acc["energy"],
        "transfer_cost_cny": acc["transfer"],
        "carbon_cost_cny": acc["carbon_cost"],
        "sla_penalty_cny": acc["sla_penalty"],
        "unserved_value_cny": acc["unserved_value"],
        "carbon_t": acc["carbon_t"],
        "carbon_t_per_pflop_h": ratio(acc["carbon_t"], served),
        "energy_mwh": energy_mwh,
        "served_pflop_h": served,
        "latency_mean_ms": ratio(float((lv * lw).sum()), float(lw.sum())),
        "latency_p99_ms": weighted_quantile(lv, lw, 0.99),
        "sla_violation_pflop_h": acc["sla_violation_pflop_h"],
        "sla_violation_share": ratio(acc["sla_violation_pflop_h"], bound_work),
        "utilisation_east": ratio(used_east, cap_east),
        "utilisation_west": ratio(used_west, cap_west),
        "utilisation_hubs": ratio(used_hub, cap_hub),
        "unserved_share": ratio(uns_k.sum(), dem_k.sum()),
        **{f"unserved_share_{k}": ratio(uns_k[i], dem_k[i]) for i, k in enumerate(KINDS)},
        "seconds": seconds,
    }
    return row


def bench_policies() -> list[str]:
    """Every registered policy."""
    return sorted(REGISTRY)


def run_bench(problems: list[SchedulingProblem], policies: list[str] | None = None, sla_share: float | None = DEFAULT_SLA_SHARE,
              options: dict[str, dict] | None = None) -> pd.DataFrame:
    """One row per policy of ``evaluate`` on the same problems (softened by ``sla_share``)."""
    names = policies or bench_policies()
    fixed = [soften(p, sla_share) for p in problems]
    rows = []
    for name in names:
        try:
            policy = make_policy(name, **(options or {}).get(name, {}))
        except (ValueError, TypeError, ImportError, OSError, SyntaxError) as err:
            raise BenchError(f"--policies: {name!r}: {err}") from None
        rows.append({"policy": name, "price_elastic": bool(getattr(policy, "price_elastic", False)), **evaluate(fixed, policy)})
    return pd.DataFrame(rows)


def figure(table: pd.DataFrame, path: Path, source: str) -> None:
    """Six panels: total cost, carbon, carbon intensity, p99 latency, SLA/unserved, utilisation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = table.set_index("policy")
    elastic = t["price_elastic"] if "price_elastic" in t else pd.Series(False, index=t.index)
    names = [f"{n}*" if elastic[n] else n for n in t.index]
    y = np.arange(len(names))
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), sharey=True)
    panels = [
        ("Total cost", t["total_cost_cny"] / 1e9, "bn CNY per year"),
        ("Carbon", t["carbon_t"] / 1e6, "Mt CO2 per year"),
        ("Carbon intensity of served work", t["carbon_t_per_pflop_h"] * 1e3, "kg CO2 per PFLOP-h"),
        ("p99 latency of latency-bound work", t["latency_p99_ms"], "ms (round trip)"),
    ]
    for ax, (title, v, unit) in zip(axes.flat, panels):
        ax.barh(y, v.to_numpy(), color="#4477aa")
        best = int(np.nanargmin(v.to_numpy()))
        ax.barh(y[best], v.iloc[best], color="#ee6677")
        ax.set_title(title)
        ax.set_xlabel(unit)
    ax = axes.flat[4]
    h = 0.2
    for i, k in enumerate(KINDS):
        ax.barh(y + (i - 1.5) * h, 100 * t[f"unserved_share_{k}"], height=h, label=f"unserved {k}")
    ax.barh(y, 100 * t["sla_violation_share"], height=0.8, color="none", edgecolor="black", label="SLA violations")
    ax.set_title("Unserved work by kind, SLA violations")
    ax.set_xlabel("% of the kind's demand (violations: % of latency-bound demand)")
    ax.legend(fontsize=7, loc="lower right")
    ax = axes.flat[5]
    for i, (col, lab) in enumerate((("utilisation_east", "east"), ("utilisation_west", "west"), ("utilisation_hubs", "hubs"))):
        ax.barh(y + (i - 1) * 0.27, 100 * t[col], height=0.27, label=lab)
    ax.set_title("Utilisation of capacity")
    ax.set_xlabel("% of capacity-hours")
    ax.legend(fontsize=8, loc="lower right")
    for ax in axes[:, 0]:
        ax.set_yticks(y, names)
    fig.suptitle("Scheduling policies on identical fixed problems (red: lowest)", fontsize=14)
    if elastic.any():
        source += "  * price-elastic: leaves work unserved by choice when it is worth less than its price."
    lines = textwrap.wrap(source, 210)
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=8, color="#555555")
    fig.tight_layout(rect=(0, 0.02 * len(lines), 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_bench(table: pd.DataFrame, out: str | Path, meta: dict) -> Path:
    """Write ``policies.parquet``, ``policies.csv``, ``policies.png`` and ``run.json`` atomically to ``out``."""
    from sim.outputs import OutputError, check_run_target, clean_stale_temporaries, replace_dir, temp_sibling

    try:
        target = check_run_target(out)
    except OutputError as err:
        raise BenchError(str(err)) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(target.parent)
    tmp = temp_sibling(target)
    try:
        table.to_parquet(tmp / "policies.parquet", index=False)
        table.to_csv(tmp / "policies.csv", index=False, float_format="%.10g")
        balance = ", ".join(f"{k} {v:.2f}" for k, v in meta.get("east_demand_to_capacity", {}).items())
        source = (f"Source: SuanLi policies bench, scenario {meta['scenario']}, seed {meta['seed']}, year {meta['year']}; "
                  f"{meta['days']} representative days held fixed; latency bounds {meta['latency']}"
                  + (f"; eastern demand / eastern capacity: {balance}." if balance else "."))
        figure(table, tmp / "policies.png", source)
        files = ["policies.parquet", "policies.csv", "policies.png"]
        info = {**meta, "files": sorted(files)}
        (tmp / "run.json").write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def cmd_policies(args) -> int:
    from experiments.cli import UsageError
    from experiments.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    config = scenario.config
    seed = args.seed if args.seed is not None else (scenario.seed or 0)
    if seed < 0:
        raise UsageError(f"--seed = {seed}: must be a non-negative integer")
    if not (config.start_year <= args.year <= 2060):
        raise UsageError(f"--year = {args.year}: must be between the scenario's start year {config.start_year} and 2060")
    if args.sla_penalty_share is not None and not (args.sla_penalty_share >= 0):
        raise UsageError(f"--sla-penalty-share = {args.sla_penalty_share}: must be >= 0")
    names = [n.strip() for n in args.policies.split(",")] if args.policies else bench_policies()
    for n in names:
        if n not in REGISTRY and ":" not in n:
            raise UsageError(f"--policies: {n!r}: must be one of {', '.join(bench_policies())} or 'file.py:ClassName'")
        if ":" in n:
            try:
                make_policy(n)
            except Exception as err:  # a user's file: any failure to load is a bad input
                raise UsageError(f"--policies: {n!r}: {type(err).__name__}: {err}") from None
    out = Path(args.out or f"suanli_out/policies_{scenario.name}_{args.year}_seed{seed}")
    from sim.outputs import OutputError, check_run_target

    try:
        check_run_target(out)
    except OutputError as err:
        raise UsageError(str(err)) from None
    share = None if args.latency == "hard" else args.sla_penalty_share
    t0 = time.perf_counter()
    try:
        problems = capture_problems(config, seed, args.year)
        table = run_bench(problems, names, share)
    except (BenchError, AccountingError) as err:
        raise UsageError(str(err)) from None
    meta = {"scenario": scenario.name, "scenario_file": scenario.source, "seed": seed, "year": args.year,
            "days": len(problems), "latency": "hard" if share is None else f"soft, penalty {share:g} x value",
            "policies": names, "east_demand_to_capacity": east_balance(problems), "findings": orderings(table),
            "wall_seconds": round(time.perf_counter() - t0, 3)}
    try:
        write_bench(table, out, meta)
    except BenchError as err:
        raise UsageError(str(err)) from None
    shown = table.set_index("policy")
    cols = ["price_elastic", "total_cost_cny", "energy_cost_cny", "transfer_cost_cny", "carbon_t", "carbon_t_per_pflop_h", "latency_mean_ms",
            "latency_p99_ms", "sla_violation_share", "unserved_share", "utilisation_east", "utilisation_west",
            "utilisation_hubs"]
    print(f"SuanLi policies bench: scenario {scenario.name}, seed {seed}, year {args.year}, {len(problems)} fixed days, "
          f"latency {meta['latency']}; results in {out}")
    print(shown[cols].to_string(float_format=lambda v: f"{v:.4g}" if abs(v) >= 1e-12 else "0"))
    print("price_elastic: the policy leaves work unserved by choice when it is worth less than its price")
    bal = meta["east_demand_to_capacity"]
    print("eastern demand / eastern capacity over the days: " + ", ".join(f"{k} {v:.3f}" for k, v in bal.items())
          + ("  (the east is short of its own demand)" if max(bal.values()) > 1 else
             "  (the east can serve its own demand: keeping work at home costs little unserved work)"))
    for what, name in meta["findings"].items():
        print(f"{what}: {name}")
    return 0


def add_parser(subparsers) -> None:
    """The ``suanli policies`` subcommand."""
    p = subparsers.add_parser("policies", help="bench every scheduling policy on one year's fixed problems")
    p.add_argument("--year", type=int, default=2030, help="simulated year whose problems are benched (default 2030)")
    p.add_argument("--scenario", help="scenario TOML file or built-in name (default: default)")
    p.add_argument("--seed", type=int, help="random seed (default: the scenario's, else 0)")
    p.add_argument("--policies", help="comma-separated policies (default: every registered one); 'file.py:Class' allowed")
    p.add_argument("--latency", choices=("soft", "hard"), default="soft",
                   help="soft: serve beyond the bound at a penalty and count it (default); hard: never")
    p.add_argument("--sla-penalty-share", type=float, default=DEFAULT_SLA_SHARE,
                   help=f"SLA penalty as a share of the work's value (default {DEFAULT_SLA_SHARE})")
    p.add_argument("--out", help="output directory")
    p.set_defaults(func=cmd_policies)
