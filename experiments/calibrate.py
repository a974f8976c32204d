"""``suanli calibrate``: fit the structural parameters by indirect inference, or report where each
target stands at the committed parameters (``--report``), or screen identification (``--identify``).

Every request is checked before any simulation: an unknown target id, an unknown or non-free
parameter, a budget below 1 or bounds that exclude the start exit with status 2 and one line.
Results go to ``--out``: ``optuna.db`` and ``evaluations.jsonl`` (the resumable log),
``calibration.json``, ``parameters.toml`` (the parameter file with the fitted values and the
target ids each mainly moves), ``report.md`` and its figure. ``--write-back`` also rewrites the
fitted entries of ``--params`` in place (only their ``value`` and ``target`` fields).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path


def _years(text):
    from experiments.cli import parse_years

    return parse_years(text)


def _usage(msg: str):
    from experiments.cli import UsageError

    return UsageError(msg)


def _parse_bounds(items):
    out = {}
    for item in items or []:
        name, sep, rng = item.partition("=")
        lo, sep2, hi = rng.partition(":")
        try:
            if not (sep and sep2):
                raise ValueError
            out[name.strip()] = (float(lo), float(hi))
        except ValueError:
            raise _usage(f"--bounds {item!r}: must be SECTION.NAME=LOWER:UPPER") from None
    return out


def _setup(args):
    """Everything the run needs, validated (no simulation)."""
    from dataclasses import replace

    from calibration import fit
    from calibration import moments as mom
    from calibration.params import DEFAULT_PATH, load_parameters
    from calibration.targets import load_targets
    from sim.config import ModelConfig

    targets = load_targets()
    params_path = Path(args.params or DEFAULT_PATH)
    if not params_path.is_file():
        raise _usage(f"--params {params_path}: file not found")
    try:
        mom.structural_parameters(load_parameters(params_path).table, targets)
    except ValueError as err:
        raise _usage(str(err)) from None
    if args.reps < 1:
        raise _usage(f"--reps {args.reps}: must be at least 1")
    if args.workers < 1:
        raise _usage(f"--workers {args.workers}: must be at least 1")
    if args.budget is not None and args.budget < 1:
        raise _usage(f"--budget {args.budget}: must be at least 1 evaluation")
    if not 0 < args.span <= 1:
        raise _usage(f"--span {args.span}: must be in (0, 1] (a share of each parameter's bound width)")
    if args.tolerance <= 0:
        raise _usage(f"--tolerance {args.tolerance}: must be positive (a relative tolerance, e.g. 0.10)")
    if args.polish is not None:
        if args.report or args.identify or args.recover:
            raise _usage(f"--polish {args.polish}: only for a fit (not with --report, --identify or --recover)")
        if not 0 < args.polish <= 1:
            raise _usage(f"--polish {args.polish}: must be in (0, 1] (a margin in published SEs, e.g. 0.95)")
    fresh = _fresh_seeds(args)
    hold = fit.parse_ids(args.hold_out, targets.index, "--hold-out")
    hold = list(fit.DEFAULT_HOLD_OUT) if hold is None else hold
    ids = fit.parse_ids(args.targets, targets.index, "--targets")
    ids = [i for i in targets.index if i not in hold] if ids is None else [i for i in ids if i not in hold]
    if not ids:
        raise _usage("--targets: no target left to fit after --hold-out")
    missing = mom.unknown_ids([*ids, *hold])
    if missing:
        raise _usage(f"--targets {missing[0]}: no moment is defined for it")
    if args.free:
        names = [n.strip() for n in args.free.split(",") if n.strip()]
    else:
        names = fit.default_free(params_path, targets)
    free = fit.free_parameters(names, params_path, _parse_bounds(args.bounds))
    config = ModelConfig()
    if args.years:
        start, _ = _years(args.years)
        config = replace(config, start_year=start)
    if args.firm_scale is not None:
        if not 0 < args.firm_scale <= 1:
            raise _usage(f"--firm-scale {args.firm_scale}: must be in (0, 1]")
        config = replace(config, firm_scale=args.firm_scale)
    pool = fit.ReplicationPool(args.backend, args.workers, args.scheduler)
    return dict(targets=targets, params_path=params_path, ids=ids, hold=hold, free=free, config=config, pool=pool,
                fresh=fresh)


def _fresh_seeds(args) -> list[int]:
    """``--fresh-seeds``, checked: only with ``--report``, and none of the report's seeds 1..R."""
    if not args.fresh_seeds:
        return []
    from experiments.cli import UsageError, parse_seeds

    if not args.report:
        raise _usage(f"--fresh-seeds {args.fresh_seeds}: only with --report")
    try:
        seeds = parse_seeds(args.fresh_seeds)
    except UsageError:
        raise _usage(f"--fresh-seeds {args.fresh_seeds}: must be a list like 65-128 or 70,71") from None
    shared = sorted(set(seeds) & set(range(1, args.reps + 1)))
    if shared:
        raise _usage(f"--fresh-seeds {args.fresh_seeds}: seed {shared[0]} is one of the report's seeds 1-{args.reps} "
                     f"(allowed: seeds above {args.reps}, or 0)")
    return seeds


def cmd_calibrate(args) -> int:
    from calibration import fit

    try:
        s = _setup(args)
    except fit.CalibrationError as err:
        if args.debug:
            raise
        raise _usage(str(err)) from None
    out = Path(args.out or ("suanli_out/calibration_report" if args.report else "suanli_out/calibration"))
    if args.report:
        return _report(args, s, out)
    log = out / "evaluations.jsonl"
    if log.exists() and not args.resume and not (args.identify or args.recover):
        raise _usage(f"--out {out}: already holds a fit (evaluations.jsonl); pass --resume or another --out")
    out.mkdir(parents=True, exist_ok=True)
    with s["pool"] as pool:
        obj = fit.Objective(s["ids"], s["free"], reps=args.reps, base_config=s["config"], targets=s["targets"],
                            tolerance=args.tolerance, pool=pool, log=log, report_ids=s["hold"],
                            params_path=s["params_path"])
        if args.identify:
            return _identify(args, obj, out)
        if args.recover:
            return _recover(args, obj, out)
        t0 = time.perf_counter()
        try:
            res = fit.calibrate(obj, budget=args.budget or 40, refine=args.refine, seed=args.seed, out=out,
                                sampler=args.sampler, progress=not args.quiet, local=args.local, polish=args.polish)
        except KeyboardInterrupt:
            n = len(obj.log.records)
            print(f"suanli calibrate: interrupted; {n} evaluations are logged in {log}; rerun with --resume",
                  file=sys.stderr)
            return 130
        jac = fit.jacobian(obj, res.params)
        se = fit.smm_standard_errors(obj, jac, res.params)
        res.jacobian, res.std_errors = jac, se
        total = time.perf_counter() - t0
    moved = fit.main_targets(jac, obj.scale.reindex(jac.index).fillna(obj.tolerance))
    tgt_text = {p: "fitted to " + ", ".join(v) if v else "fitted (moves no target detectably)" for p, v in moved.items()}
    dst = out / "parameters.toml"
    shutil.copyfile(s["params_path"], out / ".parameters.src.toml")
    os.replace(out / ".parameters.src.toml", dst)
    fit.write_parameters(res.params, dst, dst, tgt_text)
    if args.write_back:
        fit.write_parameters(res.params, s["params_path"], s["params_path"], tgt_text)
    summary = {"params": res.params, "std_errors": se.to_dict(), "distance": res.best.distance,
               "start": {p.name: p.start for p in res.free},
               "bounds": {p.name: [p.lower, p.upper, p.bounds_from] for p in res.free},
               "main_targets": moved, "seconds_fit": total, "seconds_per_evaluation": res.eval_seconds,
               "evaluations": len(res.history), **res.info}
    tmp = out / ".calibration.tmp.json"
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, default=float) + "\n")
    os.replace(tmp, out / "calibration.json")
    res.history.to_csv(out / "history.csv", index=False)
    jac.to_csv(out / "jacobian.csv")
    from calibration.params import load_parameters
    from calibration.report import make_report

    md = make_report(res.best.table, out, params=load_parameters(dst).table, title="SuanLi calibration (fit)",
                     seeds=obj.seeds, fitted=res.params,
                     timings={"per objective evaluation (R replications)": res.eval_seconds,
                              "whole fit incl. Jacobian": total})
    print(res.summary())
    if res.info.get("polish"):
        print(_polish_line(res.info["polish"]))
    print(f"fitted parameter file: {dst}{' (also written back to ' + str(s['params_path']) + ')' if args.write_back else ''}")
    print(f"report: {md}")
    return 0


def _polish_line(p: dict) -> str:
    if not p["step"]:
        return f"polish (margin {p['margin']:g} SE): no point within the bounds meets every row in the linearisation"
    kept = "kept" if p["accepted"] else "not kept"
    return (f"polish (margin {p['margin']:g} SE): fitted rows met {p['rows_met_before']} -> {p['rows_met_after']} "
            f"(distance {p['distance_after']:.4g}), {kept}")


def _report(args, s, out: Path) -> int:
    """Simulate the committed parameters (R CRN replications) and write the report."""
    from calibration import fit
    from calibration.params import load_parameters
    from calibration.report import make_report

    seeds = list(range(1, args.reps + 1))
    with s["pool"] as pool:
        def at(seeds, log: str, stage: str):
            obj = fit.Objective(s["ids"], [], base_config=s["config"], targets=s["targets"], seeds=seeds,
                                tolerance=args.tolerance, pool=pool, log=out / log, report_ids=s["hold"],
                                params_path=s["params_path"])
            return obj.evaluate({}, stage, with_report=True)

        ev = at(seeds, "report_evaluations.jsonl", "report")
        fresh = at(s["fresh"], "report_fresh_evaluations.jsonl", "fresh seeds").table if s["fresh"] else None
    timings = {"objective evaluation at the committed parameters (R replications)": ev.seconds}
    fit_json = Path(args.fit_dir or out) / "calibration.json"
    if fit_json.is_file():
        info = json.loads(fit_json.read_text())
        timings["fit: per objective evaluation"] = info.get("seconds_per_evaluation")
        timings["fit: whole fit"] = info.get("seconds_fit")
    else:
        timings["fit"] = f"no calibration.json in {fit_json.parent} (no fit recorded)"
    params = load_parameters(s["params_path"]).table
    md = make_report(ev.table, out, params=params, title="SuanLi calibration report (committed parameters)",
                     seeds=seeds, timings=timings, targets=s["targets"], fresh=fresh, fresh_seeds=s["fresh"])
    print(f"{_met_line(ev.table)}; SMM distance {ev.distance:.4g}; {ev.seconds:.1f} s")
    if fresh is not None:
        print(f"on the fresh seeds {args.fresh_seeds}: {_met_line(fresh)}")
    print(f"report: {md}")
    return 0


def _met_line(t) -> str:
    from calibration.report import met_counts

    c = met_counts(t)
    return (f"{c['met']} of {c['rows']} rows within one published SE (10 % without SE): in-sample "
            f"{c['fit_met']}/{c['fit_rows']}, held out {c['held_met']}/{c['held_rows']}")


def _recover(args, obj, out: Path) -> int:
    """Parameter recovery at full size: truth = the file's values, start a quarter of each box away."""
    from experiments.cli import parse_seeds

    from calibration import fit

    truth = {p.name: p.start for p in obj.free}
    start = {p.name: p.start + 0.25 * (p.upper - p.lower) * (1 if p.upper - p.start >= p.start - p.lower else -1)
             for p in obj.free}
    free = [fit.FreeParameter(p.name, start[p.name], p.lower, p.upper, p.bounds_from) for p in obj.free]
    obj.free = free
    seeds = parse_seeds(args.pseudo_seeds) if args.pseudo_seeds else None
    t0 = time.perf_counter()
    res = fit.recover(obj, truth, pseudo_seeds=seeds, budget=args.budget or 20, refine=args.refine or 24,
                      seed=args.seed, out=out / "recovery")
    res.table.to_csv(out / "recovery.csv")
    res.covariance.to_csv(out / "recovery_covariance.csv")
    print(f"Parameter recovery: pseudo-targets at the file's values (seeds {seeds or obj.seeds}), fit from "
          f"a quarter-box away, R = {len(obj.seeds)}; {time.perf_counter() - t0:.0f} s")
    print(res.summary())
    return 0


def _identify(args, obj, out: Path) -> int:
    from calibration import identification as ident

    res = ident.morris_screen(obj, trajectories=args.trajectories, seed=args.seed, span=args.span)
    jac = None
    if args.at_optimum:
        info = json.loads((out / "calibration.json").read_text()) if (out / "calibration.json").is_file() else None
        if info is None:
            raise _usage(f"--at-optimum: no calibration.json in {out}")
        from calibration import fit

        jac = fit.jacobian(obj, {p.name: float(info["params"][p.name]) for p in obj.free})
    paths = ident.write_identification(res, out, jacobian=jac, objective=obj)
    print(f"Morris screen: {len(obj.free)} parameters x {len(obj.ids) + len(obj.report_ids)} targets, "
          f"{res.n_evaluations} evaluations; note: {paths['note']}")
    broken = res.problem.get("broken", 0)
    if broken > 0.25 * res.n_evaluations:
        print(f"note: {broken} of the {res.n_evaluations} points broke down, so few steps were screened; "
              f"--span {args.span / 5:g} screens a box around the committed values instead")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="fit the parameters to the studies' published statistics "
                                                "(indirect inference), or --report where each target stands")
    p.add_argument("--reps", type=int, default=4, help="CRN replications per evaluation, seeds 1..R (default 4)")
    p.add_argument("--budget", type=int, help="optuna trials (default 40)")
    p.add_argument("--refine", type=int, help="evaluations of the local refinement after the search (default budget/2)")
    p.add_argument("--targets", help="comma-separated target ids to fit (default: all not held out)")
    p.add_argument("--hold-out", help="comma-separated target ids reported but not fitted "
                                      "(default: seed 000 tables 4 and 8, seed 002 tables 7 and 8)")
    p.add_argument("--free", help="comma-separated SECTION.NAME parameters to fit (default: every continuous "
                                  "parameter whose target field names a row of targets.csv)")
    p.add_argument("--bounds", action="append", help="SECTION.NAME=LOWER:UPPER, overrides the file's min/max")
    p.add_argument("--tolerance", type=float, default=0.10, help="relative tolerance for rows without SE (0.10)")
    p.add_argument("--workers", type=int, default=2, help="worker processes for processes/dask (default 2)")
    p.add_argument("--backend", choices=("serial", "processes", "dask"), default="processes")
    p.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    p.add_argument("--sampler", choices=("tpe", "cmaes"), default="tpe", help="optuna sampler (cmaes needs cmaes)")
    p.add_argument("--resume", action="store_true", help="continue the fit in --out (nothing is repeated)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    p.add_argument("--out", help="output directory (default suanli_out/calibration)")
    p.add_argument("--params", help="parameter file (default calibration/parameters.toml)")
    p.add_argument("--write-back", action="store_true", help="rewrite the fitted entries of --params in place")
    p.add_argument("--report", action="store_true", help="report where each target stands at --params")
    p.add_argument("--fit-dir", help="with --report: directory of the fit whose times to show")
    p.add_argument("--fresh-seeds", help="with --report: also evaluate on these seeds (none of 1..R, e.g. 65-128) "
                                         "and report which rows hold there, a check that the fit is not one of "
                                         "its seeds' draws")
    p.add_argument("--identify", action="store_true", help="Morris screen of the free parameters on every target")
    p.add_argument("--trajectories", type=int, default=4, help="Morris trajectories (default 4)")
    p.add_argument("--span", type=float, default=1.0,
                   help="with --identify: screen each parameter over this share of its bound width centred on its "
                        "committed value (default 1: the whole bounds)")
    p.add_argument("--at-optimum", action="store_true", help="with --identify: also the Jacobian at the fit in --out")
    p.add_argument("--recover", action="store_true", help="parameter recovery: pseudo-targets at the file's "
                                                          "values, fit from another start, compare")
    p.add_argument("--pseudo-seeds", help="with --recover: seeds of the pseudo-data (default: the fit's seeds)")
    p.add_argument("--local", choices=("least-squares", "nelder-mead"), default="least-squares",
                   help="local refinement after the search (default least-squares)")
    p.add_argument("--polish", type=float, metavar="MARGIN",
                   help="after the local refinement, step to the nearest point that the Jacobian says meets every "
                        "fitted row within MARGIN published SEs (e.g. 0.95), kept if the model meets more rows there")
    p.add_argument("--years", help="simulate from START (END is set by the targets), e.g. 2008-2025")
    p.add_argument("--firm-scale", type=float, help="share of the firm population simulated (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=cmd_calibrate)
