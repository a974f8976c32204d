"""Scenario comparison with common random numbers: paired differences by seed, with 95 % CIs.

Every scenario runs the same seeds (``experiments.ensemble.run_ensemble``, which reuses
finished replications), so a seed's draws that a scenario does not change are shared and
the scenario-minus-baseline difference of a summary metric is paired by seed. The CI of the
mean difference is the paired t interval (``scipy.stats.ttest_1samp`` on the differences)
or a BCa bootstrap (``scipy.stats.bootstrap``). Tables go to ``OUT/tables``, figures to
``OUT/figures`` and the report to ``OUT/report.md`` / ``OUT/report.html``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from experiments.ensemble import run_ensemble, seed_dir, write_atomic
from experiments.scenario import Scenario, load_scenario

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9999
LATENCY_BOUND_KINDS = ("interactive", "inference")
KEY_METRICS = (
    "west_utilisation",
    "west_hub_utilisation",
    "east_to_west_pflop_h",
    "energy_cost_bn_cny",
    "dc_carbon_mt",
    "dc_electricity_twh",
    "unserved_share",
    "sla_violation_share",
)
OUTCOME_METRICS = ("gdp_bn_cny", "lntfp_west_mean", "loggdp_cluster_cities_mean", "expy_adopters_mean")


@dataclass
class CompareResult:
    """Tables of a comparison: seed-level summaries, ensemble bands and paired differences."""

    scenarios: list[str]
    seeds: list[int]
    runs: pd.DataFrame
    bands: pd.DataFrame
    differences: pd.DataFrame
    ci: str
    out: Path
    panels: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    configs: dict = field(default_factory=dict)

    @property
    def baseline(self) -> str:
        return self.scenarios[0]

    def source(self, scenario: str | None = None) -> str:
        """The source line every figure carries."""
        others = [s for s in self.scenarios[1:]] if scenario is None else [scenario]
        vs = ", ".join(others) if others else self.baseline
        return f"Source: SuanLi simulation, scenario {vs} vs {self.baseline}, {len(self.seeds)} seeds"


def summary_metrics(frame: pd.DataFrame) -> list[str]:
    """Numeric columns of a summary panel other than the year."""
    return [c for c in frame.columns if c != "year" and pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool]


def load_runs(out: Path, scenarios: list[str], seeds: list[int]) -> pd.DataFrame:
    """Long table (scenario, seed, year, metric, value) of every run's summary panel."""
    frames = []
    for name in scenarios:
        for s in seeds:
            df = pd.read_parquet(seed_dir(out / "runs" / name, s) / "summary.parquet")
            long = df.melt(id_vars=["year"], value_vars=summary_metrics(df), var_name="metric", value_name="value")
            frames.append(long.assign(scenario=name, seed=s))
    runs = pd.concat(frames, ignore_index=True)[["scenario", "seed", "year", "metric", "value"]]
    runs["value"] = runs["value"].astype(float)
    return runs


def ensemble_bands(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, 5th and 95th percentile across seeds of each metric by scenario and year."""
    g = runs.groupby(["scenario", "metric", "year"], sort=False)["value"]
    return pd.DataFrame({"mean": g.mean(), "p05": g.quantile(0.05), "p95": g.quantile(0.95), "n": g.size()}).reset_index()


def _stable_seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "little")


def paired_ci(d: np.ndarray, method: str = "t", confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float, float]:
    """Mean of the paired differences ``d`` and its CI; a constant ``d`` has a zero-width CI."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return np.nan, np.nan, np.nan
    mean = float(d.mean())
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0]), float(d[0])
    if d.size < 2:
        return mean, np.nan, np.nan
    if method == "t":
        ci = stats.ttest_1samp(d, 0.0).confidence_interval(confidence)
        return mean, float(ci.low), float(ci.high)
    if method == "bootstrap":
        res = stats.bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                              method="BCa", rng=np.random.default_rng(seed))
        lo, hi = res.confidence_interval
        if not (np.isfinite(lo) and np.isfinite(hi)):
            res = stats.bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                                  method="percentile", rng=np.random.default_rng(seed))
            lo, hi = res.confidence_interval
        return mean, float(lo), float(hi)
    raise ValueError(f"ci {method!r}: allowed t, bootstrap")


def paired_differences(runs: pd.DataFrame, baseline: str, method: str = "t") -> pd.DataFrame:
    """Scenario-minus-baseline difference of every metric by year, paired by seed, with its CI."""
    base = runs[runs["scenario"] == baseline].set_index(["seed", "year", "metric"])["value"]
    rows = []
    for name, grp in runs[runs["scenario"] != baseline].groupby("scenario", sort=False):
        other = grp.set_index(["seed", "year", "metric"])["value"]
        joined = pd.concat({"x": other, "b": base}, axis=1, join="inner").reset_index()
        joined["d"] = joined["x"] - joined["b"]
        for (metric, year), g in joined.groupby(["metric", "year"], sort=True):
            d = g.sort_values("seed")["d"].to_numpy()
            d = d[np.isfinite(d)]
            mean, lo, hi = paired_ci(d, method, seed=_stable_seed(name, metric, year))
            sd = float(np.std(d, ddof=1)) if d.size > 1 else np.nan
            b = float(g["b"].mean())
            rows.append({
                "scenario": name, "baseline": baseline, "metric": metric, "year": int(year),
                "baseline_mean": b, "scenario_mean": float(g["x"].mean()),
                "diff": mean, "ci_low": lo, "ci_high": hi, "sd": sd, "n": int(d.size),
                "rel_diff": mean / b if b else np.nan,
                "significant": bool(np.isfinite(lo) and (lo > 0 or hi < 0)),
            })
    return pd.DataFrame(rows)


def _read(run: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    path = run / f"{name}.parquet"
    if not path.exists():
        return None
    try:
        return pd.read_parquet(path, columns=columns)
    except (KeyError, ValueError):
        return pd.read_parquet(path)


def _rack_kw(run: Path) -> float:
    par = _read(run, "parameters")
    if par is not None and {"section", "name"} <= set(par.columns):
        hit = par[(par["section"] == "datacentre") & (par["name"] == "rack_kw")]
        if len(hit):
            return float(hit["value"].iloc[0])
    from calibration.params import load_parameters

    return float(load_parameters()["datacentre.rack_kw"])


def collect_panels(out: Path, scenarios: list[str], seeds: list[int], map_year: int) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Seed-level extracts of the per-run panels that the figures need, with notes on what is missing."""
    from sim.world import World

    region = World.load().provinces["region"]
    parts: dict[str, list[pd.DataFrame]] = {k: [] for k in ("flows", "capacity", "prices", "headroom", "outcomes", "derived")}
    missing: dict[str, set[str]] = {}
    for name in scenarios:
        for s in seeds:
            run = seed_dir(out / "runs" / name, s)
            tag = {"scenario": name, "seed": s}
            fl = _read(run, "flows")
            if fl is not None and not fl.empty:
                fl = fl[fl["year"] == map_year]
                parts["flows"].append(fl.groupby(["origin", "destination"], as_index=False)["pflop_h"].sum().assign(**tag))
            else:
                missing.setdefault("flows", set()).add(name)
            dc = _read(run, "datacentres")
            if dc is not None and not dc.empty:
                y = dc[dc["year"] == map_year]
                cap = y.groupby("province", as_index=False)["racks"].sum()
                cap["capacity_mw"] = cap.pop("racks") * _rack_kw(run) / 1000.0
                parts["capacity"].append(cap.rename(columns={"province": "code"}).assign(**tag))
                w = y.assign(pv=y["price_cny_per_pflop_h"] * y["served_pflop_h"])
                pr = w.groupby("province", as_index=False)[["pv", "served_pflop_h"]].sum()
                pr = pr[pr["served_pflop_h"] > 0]
                pr["price_cny_per_pflop_h"] = pr["pv"] / pr["served_pflop_h"]
                parts["prices"].append(pr.rename(columns={"province": "code"})[["code", "price_cny_per_pflop_h"]].assign(**tag))
            else:
                missing.setdefault("datacentres", set()).add(name)
            pw = _read(run, "power")
            if pw is not None and "headroom_cut_mw" in pw.columns:
                h = pw.assign(region=pw["code"].map(region)).groupby(["year", "region"], as_index=False)["headroom_cut_mw"].sum()
                parts["headroom"].append(h.assign(**tag))
            else:
                missing.setdefault("power.headroom_cut_mw", set()).add(name)
            pv = _read(run, "provinces")
            bound = [f"{w}_{k}_pflop_h" for w in ("unserved", "demand") for k in LATENCY_BOUND_KINDS]
            if pv is not None and set(bound) <= set(pv.columns):
                g = pv.groupby("year")[bound].sum()
                share = g[bound[: len(LATENCY_BOUND_KINDS)]].sum(axis=1) / g[bound[len(LATENCY_BOUND_KINDS):]].sum(axis=1)
                parts["derived"].append(pd.DataFrame({"year": share.index, "metric": "latency_bound_unserved_share",
                                                      "value": share.clip(lower=0.0).to_numpy(), **tag}))
            if pv is not None and "gdp_bn_cny" in pv.columns:
                g = pv.assign(region=pv["code"].map(region)).groupby(["year", "region"], as_index=False)["gdp_bn_cny"].sum()
                parts["outcomes"].append(g.rename(columns={"gdp_bn_cny": "value"}).assign(outcome="GDP (bn CNY)", **tag))
            else:
                missing.setdefault("provinces.gdp_bn_cny", set()).add(name)
            sp = _read(run, "study_provinces")
            if sp is not None and "lnTFP" in sp.columns:
                t = sp.groupby(["year", "region"], as_index=False)["lnTFP"].mean()
                parts["outcomes"].append(t.rename(columns={"lnTFP": "value"}).assign(outcome="lnTFP (log points)", **tag))
            else:
                missing.setdefault("study_provinces.lnTFP", set()).add(name)
            sf = _read(run, "study_firms", ["year", "province", "EXPY"])
            if sf is not None and "EXPY" in sf.columns:
                e = sf.assign(region=sf["province"].map(region)).groupby(["year", "region"], as_index=False)["EXPY"].mean()
                parts["outcomes"].append(e.rename(columns={"EXPY": "value"}).assign(outcome="EXPY (log export sophistication)", **tag))
            else:
                missing.setdefault("study_firms.EXPY", set()).add(name)
    panels = {k: pd.concat(v, ignore_index=True) for k, v in parts.items() if v}
    notes = [f"panel {k} not in the runs of {', '.join(sorted(v))} (run with panels, or the column is not yet produced)"
             for k, v in sorted(missing.items())]
    return panels, notes


def compare(
    scenarios: list[Scenario | str],
    seeds: list[int],
    out: str | Path,
    backend: str = "serial",
    workers: int = 2,
    years: tuple[int, int] | None = None,
    ci: str = "t",
    outputs: str = "panels",
    map_year: int | None = None,
    progress: bool = False,
    force: bool = False,
) -> CompareResult:
    """Run (or reuse) every scenario's ensemble on the same ``seeds`` and pair them; the first is the baseline.

    ``outputs`` is what each replication stores (``summary`` keeps only the national summary,
    so the map, price and outcome figures are skipped; ``panels`` keeps what they need).
    """
    if len(scenarios) < 2:
        raise ValueError(f"scenarios = {len(scenarios)}: need a baseline and at least one more")
    if ci not in ("t", "bootstrap"):
        raise ValueError(f"--ci = {ci!r}: allowed t, bootstrap")
    loaded = [s if isinstance(s, Scenario) else load_scenario(s) for s in scenarios]
    names = [s.name for s in loaded]
    if len(set(names)) != len(names):
        raise ValueError(f"scenarios = {names}: names must differ (each gets its own ensemble directory)")
    out = Path(out)
    configs = {}
    for sc in loaded:
        cfg = sc.config
        if years:
            cfg = replace(cfg, start_year=years[0], end_year=years[1])
            if cfg.hubs_enabled and cfg.designation_year < cfg.start_year:
                raise ValueError(f"--years = {years[0]}-{years[1]}: starts after scenario {sc.name}'s hub designation year {cfg.designation_year}")
        configs[sc.name] = cfg
        t0 = time.perf_counter()
        run_ensemble(cfg, list(seeds), out / "runs" / sc.name, scenario=sc.name, backend=backend, workers=workers,
                     progress=progress, outputs=outputs, force=force)
        if progress:
            print(f"  {sc.name}: {len(seeds)} seeds ready ({time.perf_counter() - t0:.1f} s)")
    runs = load_runs(out, names, list(seeds))
    end_year = int(runs["year"].max())
    panels, notes = collect_panels(out, names, list(seeds), map_year or end_year)
    derived = panels.pop("derived", None)
    if derived is not None:
        runs = pd.concat([runs, derived[list(runs.columns)]], ignore_index=True)
    bands = ensemble_bands(runs)
    diffs = paired_differences(runs, names[0], ci)
    tables = out / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    write_atomic(diffs, tables / "differences")
    write_atomic(bands, tables / "bands")
    write_atomic(runs, tables / "runs")
    for key, df in panels.items():
        write_atomic(df, tables / f"panel_{key}")
    meta = {"scenarios": names, "baseline": names[0], "seeds": list(seeds), "ci": ci, "confidence": CONFIDENCE,
            "configs": {k: asdict(v) for k, v in configs.items()}}
    (out / "compare.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    return CompareResult(names, list(seeds), runs, bands, diffs, ci, out, panels, notes, configs)


def format_key_differences(result: CompareResult, year: int | None = None, metrics=KEY_METRICS) -> str:
    """Key differences in one year as text: diff [CI low, CI high] per scenario and metric."""
    d = result.differences
    year = year or int(d["year"].max())
    d = d[(d["year"] == year) & d["metric"].isin(metrics)]
    cells = d.assign(cell=[f"{m:+.4g} [{a:+.4g}, {b:+.4g}]" for m, a, b in zip(d["diff"], d["ci_low"], d["ci_high"])])
    return cells.pivot(index="metric", columns="scenario", values="cell").to_string()


def cmd_compare(args) -> int:
    from experiments.cli import UsageError, parse_seeds, parse_years
    from experiments.report import write_report

    if args.reps is not None and args.reps < 1:
        raise UsageError(f"--reps = {args.reps}: must be a positive integer")
    seeds = parse_seeds(args.seeds) if args.seeds else list(range(1, (args.reps or 8) + 1))
    if args.seeds and args.reps is not None and len(seeds) != args.reps:
        raise UsageError(f"--seeds = {args.seeds!r}: names {len(seeds)} seeds but --reps = {args.reps}")
    years = parse_years(args.years) if args.years else None
    out = Path(args.out or "suanli_out/compare_" + "_".join(Path(s).stem for s in args.scenarios))
    try:
        result = compare(args.scenarios, seeds, out, backend=args.backend, workers=args.workers, years=years,
                         ci=args.ci, outputs=args.outputs, map_year=args.map_year, progress=not args.quiet,
                         force=args.force)
    except ValueError as err:
        raise UsageError(str(err)) from None
    report = write_report(result)
    print(f"SuanLi compare: {', '.join(result.scenarios)} (baseline {result.baseline}), {len(seeds)} seeds, "
          f"{'paired t' if args.ci == 't' else 'bootstrap'} 95 % CI; report {report}")
    print(format_key_differences(result))
    print("study outcomes (national GDP; means of the western provinces' lnTFP, the cluster cities' log GDP, adopters' EXPY):")
    print(format_key_differences(result, metrics=OUTCOME_METRICS))
    for note in result.notes:
        print(f"note: {note}")
    return 0


def add_parser(subparsers) -> None:
    """The ``suanli compare`` subcommand."""
    p = subparsers.add_parser("compare", help="compare scenarios with common random numbers: paired differences, CIs, figures, report")
    p.add_argument("scenarios", nargs="+", help="scenario names or TOML files; the first is the baseline")
    p.add_argument("--reps", type=int, help="replications per scenario, seeds 1..R (default 8)")
    p.add_argument("--seeds", help="explicit seeds, e.g. 1-20 or 1,3,5 (same for every scenario)")
    p.add_argument("--backend", choices=("serial", "processes", "dask"), default="serial")
    p.add_argument("--workers", type=int, default=2, help="worker processes for processes/dask (default 2)")
    p.add_argument("--years", help="simulated years START-END for every scenario")
    p.add_argument("--ci", choices=("t", "bootstrap"), default="t", help="paired t (default) or BCa bootstrap CI")
    p.add_argument("--outputs", choices=("summary", "panels", "full"), default="panels",
                   help="what each replication stores (default panels: the map, prices and outcomes need them)")
    p.add_argument("--force", action="store_true", help="recompute stored replications made with another config")
    p.add_argument("--map-year", type=int, help="year of the flow map and price figure (default: the last year)")
    p.add_argument("--out", help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_compare)
