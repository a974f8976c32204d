"""Monte Carlo validation of the estimators (``suanli validate``): draw panels with known truth, fit,
report bias, RMSE, coverage and rejection rates against the estimand each estimator targets.

Replication r of a study with seed S draws from ``np.random.SeedSequence(S, spawn_key=(r,))``,
which is child r of ``SeedSequence(S).spawn(R)``; every replication is independent of the others
and of the backend, and BLAS runs single-threaded inside it, so serial, local processes and a Dask
cluster give identical tables. The designs (generators, estimands, the specifications they validate)
live in :mod:`analysis.designs`; this module runs them and writes, atomically, to the output
directory: ``replications.{parquet,csv}`` (one row per replication x specification),
``summary.{parquet,csv}`` (one row per specification), ``report.md`` and
``sampling_distribution.png``.
"""

from __future__ import annotations

import inspect
import os
import sys
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.designs import DEFAULT_DESIGN, DESIGNS, ESTIMATORS, get_design
from analysis.designs.base import Design, Spec
from sim.outputs import ignore_interrupt, local_dask_client, quiet_cancelled_tasks, stop_pool

LEVEL = 0.95
BACKENDS = ("serial", "processes", "dask")
REPLICATION_COLUMNS = ("rep", "estimator", "spec", "param", "estimand", "truth", "structural", "estimate", "se",
                       "ci_lower", "ci_upper", "covered", "reject_zero", "error", "warning")


class ValidationError(ValueError):
    """An option of a validation study that is not allowed (one line, names the field and value)."""


@dataclass
class Validation:
    """Result of a Monte Carlo study: per-replication rows, per-specification summary, and the design."""

    design: Design
    estimators: tuple[str, ...]
    reps: int
    seed: int
    replications: pd.DataFrame
    summary: pd.DataFrame
    notes: dict[tuple[str, str, str], str]

    def report(self) -> str:
        return render_report(self)

    def figure(self):
        return sampling_figure(self)


# ----------------------------------------------------------------------------------------- options
def parse_estimators(text: str | Sequence[str]) -> tuple[str, ...]:
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    bad = [n for n in names if n not in ESTIMATORS]
    if not names or bad:
        raise ValidationError(f"--estimator = {','.join(names) or text!r}: allowed {', '.join(ESTIMATORS)} "
                              "(comma-separated for several)")
    return tuple(dict.fromkeys(names))


def parse_size(text: str | None, design: str) -> dict[str, int]:
    """``--n N`` or ``--n NxT`` into the design's size keys."""
    if text is None:
        return {}
    keys = list(DESIGNS[design].sizes)
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        vals = []
    if not keys:
        raise ValidationError(f"--n = {text!r}: design {design} has fixed sample sizes (the model's)")
    if not vals or len(vals) > len(keys) or min(vals) < 2:
        shape = "x".join(k.upper() for k in keys)
        raise ValidationError(f"--n = {text!r}: must be {shape} (integers of at least 2) for design {design}, "
                              f"default {'x'.join(str(v) for v in DESIGNS[design].sizes.values())}")
    return dict(zip(keys, vals))


def check_options(estimators: tuple[str, ...], design: str | None, reps: int, seed: int, backend: str,
                  workers: int) -> str:
    design = design or DEFAULT_DESIGN[estimators[0]]
    if design not in DESIGNS:
        raise ValidationError(f"--design = {design!r}: allowed {', '.join(sorted(DESIGNS))}")
    supported = DESIGNS[design].estimators
    bad = [e for e in estimators if e not in supported]
    if bad:
        raise ValidationError(f"--estimator = {','.join(bad)}: design {design} validates {', '.join(supported)}")
    if design == "model":
        from analysis.designs.model import STUDY_OF

        studies = {STUDY_OF[e] for e in estimators}
        if len(studies) > 1:
            raise ValidationError(f"--estimator = {','.join(estimators)}: with --design model all estimators must "
                                  f"use one study's panel (they use {', '.join(sorted(studies))})")
    if reps < 2:
        raise ValidationError(f"--reps = {reps}: must be an integer of at least 2")
    if seed < 0:
        raise ValidationError(f"--seed = {seed}: must be a non-negative integer")
    if backend not in BACKENDS:
        raise ValidationError(f"--backend = {backend!r}: allowed {', '.join(BACKENDS)}")
    if workers < 1:
        raise ValidationError(f"--workers = {workers}: must be an integer of at least 1")
    return design


# ----------------------------------------------------------------------------------------- replications
@lru_cache(maxsize=8)
def _design(name: str, estimator: str, sizes: tuple[tuple[str, int], ...]) -> Design:
    return get_design(name, estimator, **dict(sizes))


@lru_cache(maxsize=1)
def _threads():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _specs(design: Design, estimators: Sequence[str]) -> list[Spec]:
    out, seen = [], set()
    for est in estimators:
        for s in design.specs(est):
            key = (s.label, s.param, s.estimand)
            if key not in seen:
                seen.add(key)
                out.append(s)
    return out


def replicate(design: str, estimators: tuple[str, ...], sizes: tuple[tuple[str, int], ...], seed: int,
              rep: int) -> list[dict]:
    """Draw replication ``rep`` of ``design`` and fit every specification of ``estimators``; one row each."""
    d = _design(design, estimators[0], sizes)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(rep,)))
    rows = []
    with _threads().limit(limits=1):
        draw = d.draw(rng)
        fits: dict[int, tuple] = {}
        for s in _specs(d, estimators):
            if id(s.fit) not in fits:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        fits[id(s.fit)] = (s.fit(draw), "")
                    except Exception as err:  # a failed fit is a result of the study, not a crash
                        fits[id(s.fit)] = (None, f"{type(err).__name__}: {err}"[:200])
                fits[id(s.fit)] += (str(caught[0].message)[:200] if caught else "",)
            res, error, warning = fits[id(s.fit)]
            truth = float(draw.truth[s.estimand])
            structural = float(draw.extra.get("structural", {}).get(s.estimand, np.nan))
            b = se = lo = hi = np.nan
            if res is not None:
                try:
                    b, se, lo, hi = s.values(res, LEVEL)
                except Exception as err:
                    error = f"{type(err).__name__}: {err}"[:200]
            has_ci = np.isfinite(lo) and np.isfinite(hi)
            rows.append(dict(
                rep=rep, estimator=s.estimator, spec=s.label, param=s.param, estimand=s.estimand, truth=truth,
                structural=structural, estimate=b, se=se, ci_lower=lo, ci_upper=hi,
                covered=float(lo <= truth <= hi) if has_ci else np.nan,
                reject_zero=float(not (lo <= 0.0 <= hi)) if has_ci else np.nan,
                error=error, warning=warning,
            ))
    return rows


def _run_all(design, estimators, sizes, seed, reps, backend, workers, scheduler, progress) -> list[list[dict]]:
    args = [(design, estimators, sizes, seed, r) for r in range(reps)]
    if backend == "serial":
        it = (replicate(*a) for a in args)
        return list(_progress(it, reps, progress))
    if backend == "processes":
        pool = ProcessPoolExecutor(max_workers=workers, initializer=ignore_interrupt)
        try:
            it = pool.map(replicate, *zip(*args), chunksize=max(1, reps // (8 * workers)))
            out = list(_progress(it, reps, progress))
        except BaseException:
            stop_pool(pool)
            raise
        pool.shutdown(wait=True)
        return out
    from distributed import Client

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        client, cluster = local_dask_client(workers)
    try:
        futures = client.map(replicate, *zip(*args), pure=False)
        return client.gather(futures)
    except KeyboardInterrupt:
        quiet_cancelled_tasks(client if cluster is not None else None)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _progress(iterable, total: int, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc="replications", unit="rep", leave=False)


# ----------------------------------------------------------------------------------------- summary
def coverage_band(reps: int, level: float = LEVEL, prob: float = 0.95) -> tuple[float, float]:
    """Central ``prob`` interval of the coverage rate of ``reps`` intervals whose true coverage is ``level``."""
    lo, hi = stats.binom.interval(prob, reps, level)
    return float(lo) / reps, float(hi) / reps


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Per specification: bias (with its Monte Carlo SE), RMSE, SD of the estimate, mean SE, coverage of
    the 95 % interval (with its binomial band under exact 95 %), rejection rate of H0: parameter = 0."""
    out = []
    keys = ["estimator", "spec", "param", "estimand"]
    for key, g in rows.groupby(keys, sort=False):
        ok = g[np.isfinite(g["estimate"])]
        n = len(ok)
        err = (ok["estimate"] - ok["truth"]).to_numpy()
        cov = ok["covered"].dropna()
        rej = ok["reject_zero"].dropna()
        sd = float(ok["estimate"].std(ddof=1)) if n > 1 else np.nan
        bias = float(err.mean()) if n else np.nan
        bias_se = float(err.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        se = ok["se"].to_numpy()
        mean_se = float(np.mean(se)) if n and np.isfinite(se).all() else np.nan
        band = coverage_band(len(cov)) if len(cov) else (np.nan, np.nan)
        c = float(cov.mean()) if len(cov) else np.nan
        out.append(dict(zip(keys, key)) | dict(
            reps=len(g), failed=int(len(g) - n), warned=int((g["warning"] != "").sum()),
            truth=float(ok["truth"].mean()) if n else np.nan,
            structural=float(ok["structural"].mean()) if n and ok["structural"].notna().any() else np.nan,
            mean_estimate=float(ok["estimate"].mean()) if n else np.nan,
            bias=bias, bias_mc_se=bias_se, bias_z=bias / bias_se if bias_se and np.isfinite(bias_se) else np.nan,
            rmse=float(np.sqrt(np.mean(err**2))) if n else np.nan, sd_estimate=sd, mean_se=mean_se,
            se_ratio=mean_se / sd if sd and np.isfinite(mean_se) else np.nan,
            coverage=c, coverage_mc_se=float(np.sqrt(c * (1 - c) / len(cov))) if len(cov) else np.nan,
            coverage_band_lo=band[0], coverage_band_hi=band[1],
            reject_rate=float(rej.mean()) if len(rej) else np.nan,
        ))
    return pd.DataFrame(out)


def verdicts(r: pd.Series) -> tuple[str, str]:
    """Plain-language reading of one summary row: (bias, coverage)."""
    if not np.isfinite(r["bias_z"]):
        b = "bias not assessed"
    elif abs(r["bias_z"]) <= 2:
        b = f"unbiased within 2 MC SE (bias {r['bias']:+.4g}, {r['bias_z']:+.1f} MC SE)"
    elif abs(r["bias_z"]) <= 3:
        b = (f"borderline bias {r['bias']:+.4g} = {r['bias_z']:+.1f} MC SE (significant at 5 %, not at 0.3 %; "
             f"{r['bias'] / r['sd_estimate']:+.2f} SD of the estimate)")
    else:
        b = f"BIASED: {r['bias']:+.4g} = {r['bias_z']:+.1f} MC SE ({r['bias'] / r['sd_estimate']:+.2f} SD of the estimate)"
    if not np.isfinite(r["coverage"]):
        c = "no interval"
    elif r["coverage_band_lo"] <= r["coverage"] <= r["coverage_band_hi"]:
        c = f"coverage {r['coverage']:.3f} within the binomial band [{r['coverage_band_lo']:.3f}, {r['coverage_band_hi']:.3f}]"
    else:
        side = "BELOW" if r["coverage"] < r["coverage_band_lo"] else "ABOVE"
        c = (f"coverage {r['coverage']:.3f} {side} the binomial band [{r['coverage_band_lo']:.3f}, "
             f"{r['coverage_band_hi']:.3f}]")
    return b, c


def diagnose(r: pd.Series) -> str:
    """Why coverage is off 95 %, from the summary: bias relative to the SD, and SE relative to the SD."""
    if not np.isfinite(r["coverage"]) or r["coverage_band_lo"] <= r["coverage"] <= r["coverage_band_hi"]:
        return ""
    parts = []
    if np.isfinite(r["sd_estimate"]) and r["sd_estimate"] > 0:
        shift = abs(r["bias"]) / r["sd_estimate"]
        if abs(r["bias_z"]) > 2 and shift > 0.1:
            parts.append(f"the estimator is centred {shift:.2f} sampling SDs away from the estimand, so "
                         "intervals of correct width still miss it")
    below = r["coverage"] < r["coverage_band_lo"]
    if np.isfinite(r["se_ratio"]):
        if r["se_ratio"] < 0.9 and below:
            parts.append(f"the reported standard errors average {r['se_ratio']:.2f} of the Monte Carlo SD of the "
                         "estimate, so intervals are too narrow")
        elif r["se_ratio"] > 1.1 and not below:
            parts.append(f"the reported standard errors average {r['se_ratio']:.2f} of the Monte Carlo SD, so "
                         "intervals are too wide (conservative)")
    if not parts and not np.isfinite(r["se_ratio"]):
        parts.append("the interval is not estimate +- 1.96 SE (no standard error is reported, e.g. an LR "
                     "confidence set on a grid), and its nominal 95 % holds only asymptotically")
    elif not parts:
        parts.append("neither the bias nor the average SE explains it alone: the estimator's sampling "
                     "distribution is not normal (skewed or heavy-tailed) at this sample size")
    return "; ".join(parts) + "."


# ----------------------------------------------------------------------------------------- study
def validate(estimators: str | Sequence[str], reps: int = 200, design: str | None = None,
             sizes: dict[str, int] | None = None, seed: int = 0, backend: str = "serial", workers: int = 2,
             scheduler: str | None = None, progress: bool = False) -> Validation:
    """Run the Monte Carlo study and return its tables (nothing written; see :func:`write`)."""
    ests = parse_estimators(estimators)
    design = check_options(ests, design, int(reps), int(seed), backend, int(workers))
    size_key = tuple(sorted((sizes or {}).items()))
    try:
        d = get_design(design, ests[0], **dict(size_key))
    except ValueError as err:
        raise ValidationError(str(err)) from None
    parts = _run_all(design, ests, size_key, int(seed), int(reps), backend, int(workers), scheduler, progress)
    rows = pd.DataFrame([row for part in parts for row in part], columns=list(REPLICATION_COLUMNS))
    rows = rows.sort_values(["rep"], kind="stable").reset_index(drop=True)
    notes = {(s.estimator, s.label, s.param): s.note for s in _specs(d, ests)}
    summary = summarise(rows)
    summary.insert(4, "unit", [d.estimands[e].unit if e in d.estimands else "" for e in summary["estimand"]])
    return Validation(d, ests, int(reps), int(seed), rows, summary, notes)


# ----------------------------------------------------------------------------------------- outputs
def _fmt(v, digits: int = 4) -> str:
    if isinstance(v, str):
        return v
    return "" if v is None or not np.isfinite(v) else f"{v:.{digits}g}"


def _md_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def command_line(v: Validation) -> str:
    sizes = "x".join(str(x) for x in v.design.size.values())
    n = f" --n {sizes}" if v.design.size and v.design.size != v.design.sizes else ""
    return (f"suanli validate --estimator {','.join(v.estimators)} --design {v.design.name} --reps {v.reps}"
            f"{n} --seed {v.seed}")


def source_line(v: Validation) -> str:
    module = type(v.design).__module__
    return (f"Source: SuanLi Monte Carlo, `{command_line(v)}`; design and truth: {module}. "
            f"{v.reps} replications, SeedSequence({v.seed}) children.")


def render_report(v: Validation) -> str:
    s = v.summary
    d = v.design
    others = [e for e in dict.fromkeys(s["estimator"]) if e not in v.estimators]
    beside = f" (beside {', '.join(others)} for comparison)" if others else ""
    lines = [f"# Monte Carlo validation: {', '.join(v.estimators)}{beside} on design `{d.name}`", "",
             f"Command: `{command_line(v)}`", "",
             f"**Design.** {d.title}; sample {d.sample_label()}; {v.reps} replications, seed {v.seed} "
             f"(replication r draws from `SeedSequence({v.seed}, spawn_key=(r,))`).", "",
             inspect.cleandoc(sys.modules[type(d).__module__].__doc__ or ""), "",
             inspect.cleandoc(d.description), "", "**Estimands** (what each row is compared with):", ""]
    for key in dict.fromkeys(s["estimand"]):
        e = d.estimands.get(key)
        if e is not None:
            lines.append(f"- `{key}` ({e.unit}): {e.meaning}")
    lines += ["", "## Results", "",
              "bias = mean(estimate - estimand), its Monte Carlo SE, RMSE; coverage = share of 95 % intervals "
              "containing the estimand (binomial 95 % band under exact coverage); rejection = share of "
              "intervals excluding 0 (power when the estimand is not 0).", ""]
    structural = has_structural(s)
    if structural:
        lines += ["`truth` is the mean estimand over the draws; `structural` the mean structural value of the run's "
                  "truth tables that it relates to (estimand minus structural is the specification's distance from "
                  "the model's mechanism, not an error of the estimator).", ""]
    tab = s[["estimator", "spec", "param", "estimand", "truth", *(["structural"] if structural else []),
             "mean_estimate", "bias", "bias_mc_se", "rmse", "sd_estimate", "mean_se", "coverage", "coverage_band_lo",
             "coverage_band_hi", "reject_rate", "failed"]].copy()
    tab["failed"] = tab["failed"].astype(str)
    lines += [_md_table(tab), "", "## Reading", ""]
    for _, r in s.iterrows():
        b, c = verdicts(r)
        lines.append(f"- **{r['spec']}**, `{r['param']}` vs `{r['estimand']}`: {b}; {c}.")
        if structural and np.isfinite(r["structural"]):
            lines.append(f"  - Against the structural value {r['structural']:.4g} the mean estimate is off by "
                         f"{r['mean_estimate'] - r['structural']:+.4g}, of which {r['truth'] - r['structural']:+.4g} "
                         "is the estimand's distance from it (the specification) and "
                         f"{r['mean_estimate'] - r['truth']:+.4g} the estimator's bias.")
        why = diagnose(r)
        note = v.notes.get((r["estimator"], r["spec"], r["param"]), "")
        if why:
            lines.append(f"  - Why coverage is off 0.95: {why}")
        if note:
            lines.append(f"  - What this estimator targets here: {note}")
        if r["failed"]:
            errs = v.replications.loc[(v.replications["spec"] == r["spec"]) & (v.replications["error"] != ""), "error"]
            lines.append(f"  - {int(r['failed'])} of {int(r['reps'])} fits failed, e.g. `{errs.iloc[0]}`"
                         if len(errs) else f"  - {int(r['failed'])} fits gave no estimate")
        if r["warned"]:
            lines.append(f"  - {int(r['warned'])} fits raised a warning (kept).")
    lines += ["", "![Sampling distribution](sampling_distribution.png)", "", source_line(v), ""]
    return "\n".join(lines)


def has_structural(summary: pd.DataFrame) -> bool:
    """Whether the design reports structural values beside its estimands (the model's panels do)."""
    return "structural" in summary and bool(np.isfinite(summary["structural"]).any())


def sampling_figure(v: Validation):
    """Histogram of the estimates of each specification with the estimand (dashed) and the mean (solid)."""
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    s = v.summary
    n = len(s)
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(4.6 * ncols, 3.3 * nrows + 1.0))
    fig.set_layout_engine(ConstrainedLayoutEngine(rect=(0, 0.06, 1, 0.93)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    rows = v.replications
    for ax, (_, r) in zip(axes, s.iterrows()):
        g = rows[(rows["spec"] == r["spec"]) & (rows["param"] == r["param"]) & (rows["estimand"] == r["estimand"])]
        est = g["estimate"].to_numpy()
        est = est[np.isfinite(est)]
        if est.size:
            ax.hist(est, bins=min(40, max(8, est.size // 5)), color="#4c72b0", alpha=0.75, edgecolor="white")
        varies = g["truth"].nunique() > 1
        ax.axvline(r["truth"], color="#c44e52", linestyle="--", linewidth=1.8,
                   label=f"estimand{' (mean over draws)' if varies else ''} {r['truth']:.4g}")
        ax.axvline(r["mean_estimate"], color="black", linewidth=1.4, label=f"mean {r['mean_estimate']:.4g}")
        if np.isfinite(r.get("structural", np.nan)):
            ax.axvline(r["structural"], color="#55a868", linestyle=":", linewidth=1.8,
                       label=f"structural (not the estimand) {r['structural']:.4g}")
        unit = v.design.estimands[r["estimand"]].unit if r["estimand"] in v.design.estimands else ""
        ax.set_xlabel(f"{r['param']} estimate ({unit})" if unit else f"{r['param']} estimate")
        ax.set_ylabel("replications")
        cov = "" if not np.isfinite(r["coverage"]) else f", coverage {r['coverage']:.2f}"
        second = f"{r['param']} vs {r['estimand']}: bias {r['bias']:+.3g}{cov}"
        ax.set_title(f"{r['spec']}\n{second}", fontsize=9 if max(len(second), len(r["spec"])) <= 52 else 7.5)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    shown = ", ".join(dict.fromkeys(s["estimator"]))
    fig.suptitle(f"Sampling distribution of {shown} on design {v.design.name} "
                 f"({v.reps} replications, {v.design.sample_label()})", fontsize=11, fontweight="bold")
    fig.text(0.01, 0.01, source_line(v), fontsize=7, color="0.3", ha="left", va="bottom", wrap=True)
    return fig


def _replace_into(data: bytes, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(v: Validation, out: str | Path) -> Path:
    """Write the study's tables, report and figure into ``out``, each file atomically."""
    import io

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in (("replications", v.replications), ("summary", v.summary)):
        buf = io.BytesIO()
        df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
        _replace_into(buf.getvalue(), out / f"{name}.parquet")
        _replace_into(df.to_csv(index=False, float_format="%.10g").encode(), out / f"{name}.csv")
    buf = io.BytesIO()
    v.figure().savefig(buf, format="png", dpi=100, metadata={"Software": None})
    _replace_into(buf.getvalue(), out / "sampling_distribution.png")
    _replace_into(v.report().encode(), out / "report.md")
    return out


# ----------------------------------------------------------------------------------------- CLI
def cmd_validate(args) -> int:
    from experiments.cli import UsageError

    backend = args.backend or ("dask" if args.scheduler else "serial")
    try:
        if args.scheduler and backend != "dask":
            raise ValidationError(f"--scheduler = {args.scheduler!r}: needs --backend dask (got {backend})")
        ests = parse_estimators(args.estimator)
        design = check_options(ests, args.design, args.reps, args.seed, backend, args.workers)
        sizes = parse_size(args.n, design)
        out = Path(args.out or f"suanli_out/validate_{'_'.join(ests)}_{design}")
        if out.exists() and not out.is_dir():
            raise ValidationError(f"--out = {str(out)!r}: exists and is not a directory")
        v = validate(ests, args.reps, design, sizes, args.seed, backend, args.workers, args.scheduler,
                     progress=not args.quiet)
    except ValidationError as err:
        raise UsageError(str(err)) from None
    write(v, out)
    cols = ["spec", "param", "estimand", "truth", *(["structural"] if has_structural(v.summary) else []),
            "mean_estimate", "bias", "bias_mc_se", "rmse", "coverage", "reject_rate"]
    print(f"SuanLi validate: {', '.join(ests)} on {design} ({v.design.sample_label()}), {v.reps} replications, "
          f"seed {v.seed}, backend {backend}; results in {out}")
    with pd.option_context("display.width", 200, "display.max_colwidth", 48):
        print(v.summary[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    for _, r in v.summary.iterrows():
        b, c = verdicts(r)
        print(f"  {r['spec']} [{r['param']} vs {r['estimand']}]: {b}; {c}")
        why = diagnose(r)
        if why:
            print(f"    why: {why}")
    return 0


def add_parser(subparsers) -> None:
    """``suanli validate``: Monte Carlo bias, RMSE and coverage of an estimator on a design."""
    p = subparsers.add_parser("validate", help="Monte Carlo validation of an estimator on panels with known truth",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--estimator", required=True,
                   help=f"estimator(s), comma-separated: {', '.join(ESTIMATORS)}")
    p.add_argument("--design", help="design: " + ", ".join(sorted(DESIGNS)) + " (default: the estimator's: "
                   + ", ".join(f"{k}->{v}" for k, v in DEFAULT_DESIGN.items()) + ")")
    p.add_argument("--reps", type=int, default=200, help="replications (default 200)")
    p.add_argument("--n", help="sample size N or NxT (default: the study's, e.g. 30x15 for nvar_spillover)")
    p.add_argument("--seed", type=int, default=0, help="root seed of the SeedSequence (default 0)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="serial (default), processes or dask (implied by --scheduler); results are identical")
    p.add_argument("--workers", type=int, default=2, help="workers for processes/dask (default 2)")
    p.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    p.add_argument("--out", help="output directory (default suanli_out/validate_<estimator>_<design>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_validate)
