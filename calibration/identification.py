"""Which free parameters move which targets: a SALib Morris screen, the local Jacobian, and a note.

``morris_screen(objective)`` runs Morris' elementary-effects design (SALib) over the free
parameters' boxes; every design point is one objective evaluation (R CRN replications, logged
and cached like the fit's). Effects are expressed in *published SEs* of each target (10 % of the
value without an SE) per full width of the parameter's screened box (its bounds, or with ``span`` a
share of their width around the committed value), so one table compares rows with
different units. A parameter is **identified** when it moves some fitted target by at least
``IDENTIFIED_SE`` published SE across its box (mu*).

``write_identification`` saves ``morris_mu_star.csv``, ``morris_sigma.csv``, the heat map
``morris_heatmap.png`` and ``identification.md``: per parameter the targets it moves, the
targets no free parameter moves, and the rows that cannot be met jointly in the linear
approximation (least-squares step on the Jacobian, or on Morris' signed mean effects when no
Jacobian is given), with the known reasons from the seeds' texts and from the fits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

IDENTIFIED_SE = 1.0
SOURCE = "SuanLi Morris screen (SALib); targets: calibration/targets.csv; scale: published SE or 10 % of the value"
# Reasons why some rows pull against each other: from the seeds' texts, and from the fits that tried
# (docs/calibration/README.md).
KNOWN_CONFLICTS = {
    "p2_fe_computing": "seed 001's text says 0.426 % while its fitted equation gives 0.0426; the row uses 0.0426, "
                       "and the threshold regimes (-0.3609 low, 0.0286 high) must average to it on the same cities",
    "p1_desc_dfqual_mean": "seed 000 table 1 gives DF_qual on 450 rows with mean 4.45, sd 1.71, min 0.27, max 6.30; eq. "
                           "23-25 fall as the (unstated) unit of the user counts grows, and the largest unit that "
                           "keeps all 450 rows at or above table 1's minimum (about 23,000 users, the smallest row "
                           "Qinghai's first 4G year) gives the lowest mean eq. 23-25 allow: 6.13 and 6.11 on seeds "
                           "1-2 (sd 0.96-0.98, max 8.0), above the row's 10 % band (4.01-4.90), so no unit and no "
                           "free parameter meets it on the model's 3G/4G/5G users (MIIT's subscriptions); "
                           "``dfqual_table1_floor`` computes it",
    "p3_iv_2sls": "the Bartik IV and PSM rows come from samples (11,798 and 652 rows) whose rules the seed does "
                  "not state; the published IV SE (0.0384) is below the published FE SE (0.0910), although a 2SLS "
                  "uses only the instrument's part of IDC's variation (with the published first-stage F of 34 on "
                  "11,798 rows that part is about 0.3 %): the simulated IV, with a first stage as strong (KP F "
                  "41-44 on seeds 1-2), has an estimator SE of 0.42-0.49, so its Monte Carlo SE stays above the "
                  "published SE until R is in the hundreds (0.06 at R = 64)",
    "p3_psm": "the seed's rule (logit score on the controls, 1:4 nearest neighbours, unmatched rows dropped, the "
              "FE re-run) is followed, with replacement; its 652 matched rows are few for 1:4 matching of the "
              "treated among 11,798 rows (IDC mean 0.0179: about 211 treated, so about 441 distinct controls for "
              "844 matches; on table 3's 18,599 rows 319 for 1,332), a reuse of controls the model's selection on the controls does not give (1,514 "
              "rows); the firm-effect step that meets the row pushes p3_iv_2sls and p3_het_private out "
              "(eleventh session)",
    "p1_nvar_qual_beta1": "met with tables 2, 3 and 6 alone; with table 7's two rows in the fit (13 of 14 met) it is "
                          "the row the fit gives up (-1.1 SE): the quality spillover truth serves both tables",
    "p1_nvar_qty_pop": "held out: spillovers travel on the geographic W in the model; the population-distance "
                       "estimate is what that spillover projects onto another W, and no parameter is fitted to it",
    "p4_index_gdp": "moved by where compute demand sits, which moves every province's capacity, DF_qty and the "
                    "city block with it: demand.gdp_elasticity 1.15 -> 1.31 meets it (R = 64: -1.19 -> -0.74 SE) but "
                    "pushes p2_pivot_2021 to +2.2 and p2_fe_computing to -3.4; the city elasticities refitted there "
                    "bring the pivot back and leave p2_fe_computing at -2.2, p2_thr_high at +1.6 and "
                    "p1_nvar_qty_beta1 at +1.0 (34 of 40 fitted rows against 35, distance 33.9 against 30.1), and "
                    "a joint least squares of demand and the four city elasticities stays at the committed point "
                    "(sixteenth session)",
    "p2_thr_low": "the low regime and the pooled FE row pull the low-regime truth apart: -0.38 meets this row "
                  "but pulls p2_fe_computing to 0.022, and no middle-regime value restores it (global and R = 16 "
                  "city fits, ninth session, stop with both missed)",
}

TABLE8_REASON = ("seed 000's table 8 regresses eq. 20's growth components on the network; OLS is linear in the outcome, "
                 'and the published component betas add up to 0.0293 (quantity) and 0.0714 (quality), 88 % and 89 % of '
                 "tables 2-3's beta1 (0.0333, 0.0801): the seed's lnTFP behaves as the growth sum TC + TE + TS. The "
                 "model's lnTFP is a level (tables 1-3 fit it as one) on which the network acts; growth components of a "
                 'level effect add up to about 0 (seeds 1-2: -0.0004 and -0.0046 quantity, -0.003 and -0.011 quality, '
                 "while tables 2-3's beta1 is 0.03-0.07 on the same runs), and so do the model's true components. Meeting "
                 'table 8 needs the network to act on TFP growth, a TFP -> GDP growth effect instead of a level effect: a '
                 'change of structure, not of a parameter')
KNOWN_CONFLICTS.update({f"p1_het_{c}_{n}": TABLE8_REASON for n in ("qty", "qual") for c in ("tc", "te", "ts")})


# Seed 000 table 1: the range of DF_qual (its N and mean are row p1_desc_dfqual_mean of targets.csv).
TABLE1_DFQUAL_RANGE = {"min": 0.2745, "max": 6.2978}


def dfqual_table1_floor(panel: pd.DataFrame, table1_min: float = TABLE1_DFQUAL_RANGE["min"]) -> dict[str, float]:
    """Eq. 23-25's DF_qual on seed 000's sample with the user unit at which its smallest row equals ``table1_min``.

    The index falls in every row as the unit of the user counts grows, so this largest unit keeping
    every row defined and at or above table 1's minimum gives the lowest mean the equations allow
    with table 1's N and minimum. ``panel`` is a province panel (users in 10k); returns the unit in
    users and the index's n, mean, sd, min and max there."""
    from sim.measurement import df_quality
    from sim.studies.provinces import broadband_users, study_sample

    s = study_sample(panel)
    lte = int(s.loc[s["users_4g"] > 0, "year"].min())
    g = broadband_users(s["year"], s["users_3g"], s["users_4g"], lte)
    base = df_quality(g, s["users_5g"].to_numpy(), s["year"].to_numpy())
    unit = g[np.nanargmin(base)] / np.exp(np.exp(table1_min) / 55.0)
    d = pd.Series(df_quality(g / unit, s["users_5g"].to_numpy() / unit, s["year"].to_numpy()))
    return {"unit_users": float(unit * 1e4), "n": int(d.notna().sum()), "mean": float(d.mean()),
            "sd": float(d.std()), "min": float(d.min()), "max": float(d.max())}


@dataclass
class MorrisResult:
    """Elementary effects per target (rows) and parameter (columns), in published SEs per bound width."""

    mu_star: pd.DataFrame
    mu: pd.DataFrame
    sigma: pd.DataFrame
    n_evaluations: int
    problem: dict[str, Any]
    roles: pd.Series

    def identified(self, threshold: float = IDENTIFIED_SE) -> pd.Series:
        fit = self.roles[self.roles == "fit"].index
        return self.mu_star.loc[fit].max(axis=0) >= threshold


def screen_box(p, span: float = 1.0) -> list[float]:
    """The interval a screen varies ``p`` over: its bounds (``span`` = 1), or ``span`` of their width
    centred on its start value and cut to the bounds (a screen of the neighbourhood of the fit)."""
    if span >= 1.0:
        return [p.lower, p.upper]
    half = 0.5 * span * (p.upper - p.lower)
    return [max(p.lower, p.start - half), min(p.upper, p.start + half)]


def morris_screen(objective, trajectories: int = 4, levels: int = 4, seed: int = 0, span: float = 1.0) -> MorrisResult:
    """SALib Morris screen of ``objective.free`` on every target of ``objective`` ((k+1) x trajectories
    evaluations) over each parameter's ``screen_box``."""
    from SALib.analyze import morris as morris_analyze
    from SALib.sample import morris as morris_sample

    free = objective.free
    if not free:
        raise ValueError("morris_screen: no free parameters")
    if not 0.0 < span <= 1.0:
        raise ValueError(f"span = {span}: must be in (0, 1]")
    problem = {"num_vars": len(free), "names": [p.name for p in free], "bounds": [screen_box(p, span) for p in free],
               "span": span}
    X = morris_sample.sample(problem, N=trajectories, num_levels=levels, seed=seed)
    tables = [objective.evaluate(dict(zip(problem["names"], map(float, x))), "morris", with_report=True,
                                 check_start=False).table
              for x in X]
    problem["broken"] = int(sum(not np.isfinite(t["sim_mean"].to_numpy(float)).any() for t in tables))
    ids = list(tables[0].index)
    scale = tables[0]["scale"]
    Y = np.array([(t["sim_mean"] / scale).to_numpy(float) for t in tables])
    mu_star, mu, sigma = {}, {}, {}
    for j, tid in enumerate(ids):
        y = Y[:, j]
        if not np.isfinite(y).all():  # some design points broke down: the effects of the steps that did not
            mu_star[tid], mu[tid], sigma[tid] = _partial_effects(problem, X, y)
            continue
        si = morris_analyze.analyze(problem, X, y, num_levels=levels, seed=seed, print_to_console=False)
        # SALib's effects are per unit of the parameter scaled to [0, 1]: per full bound width.
        mu_star[tid] = np.asarray(si["mu_star"])
        mu[tid] = np.asarray(si["mu"])
        sigma[tid] = np.asarray(si["sigma"])
    frame = lambda d: pd.DataFrame(d, index=problem["names"]).T  # noqa: E731
    return MorrisResult(frame(mu_star), frame(mu), frame(sigma), len(X), problem, tables[0]["role"])


def _partial_effects(problem: dict, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Morris mu*, mu and sigma from the elementary effects whose two design points both gave a
    finite statistic (SALib's analyser needs every point): within each trajectory of ``X`` (k + 1 rows,
    one parameter changed per step), EE = dy / dx with x scaled to [0, 1] by the bounds."""
    k = problem["num_vars"]
    lo, hi = np.array(problem["bounds"], float).T
    U = (X - lo) / (hi - lo)
    effects: list[list[float]] = [[] for _ in range(k)]
    for start in range(0, len(X) - k, k + 1):
        for r in range(start, start + k):
            d = U[r + 1] - U[r]
            i = int(np.argmax(np.abs(d)))
            if d[i] != 0 and np.isfinite(y[r]) and np.isfinite(y[r + 1]):
                effects[i].append((y[r + 1] - y[r]) / d[i])
    stat = lambda f: np.array([f(np.array(e)) if e else np.nan for e in effects])  # noqa: E731
    return (stat(lambda e: np.abs(e).mean()), stat(np.mean),
            stat(lambda e: e.std(ddof=1) if e.size > 1 else np.nan))


def heatmap(res: MorrisResult, path: Path) -> Path:
    """Heat map of mu* (targets x parameters), log colour scale, in published SEs per bound width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    m = res.mu_star
    vals = m.to_numpy(float)
    fin = vals[np.isfinite(vals) & (vals > 0)]
    lo = max(1e-2, float(fin.min()) / 2) if fin.size else 1e-2
    hi = max(lo * 10, float(fin.max())) if fin.size else 1.0
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_under("white")  # no effect (mu* below the smallest positive effect / 2, e.g. exactly 0)
    cmap.set_bad("lightgrey")  # the target could not be computed
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * m.shape[1] + 3.5), max(4.0, 0.18 * m.shape[0] + 2.0)))
    shown = np.where(np.isfinite(vals) & (vals < lo), lo / 10, vals)
    im = ax.imshow(np.ma.masked_invalid(shown), aspect="auto", cmap=cmap, norm=LogNorm(vmin=lo, vmax=hi))
    if vals.size <= 400:
        for (r, c), v in np.ndenumerate(vals):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.2g}", ha="center", va="center", fontsize=6,
                        color="white" if v >= lo and v < np.sqrt(lo * hi) else "black")
    ax.set_xticks(range(m.shape[1]), [c.split(".", 1)[-1] for c in m.columns], rotation=70, ha="right", fontsize=7)
    ax.set_yticks(range(m.shape[0]), [f"{i}{' (held out)' if res.roles.get(i) != 'fit' else ''}" for i in m.index],
                  fontsize=6)
    ax.set_title("Morris screen: |effect| of each free parameter on each target\n"
                 f"mu* in published SEs per full width of {_box_text(res.problem, short=True)} (log scale)\n"
                 "white = no effect, grey = not computed", fontsize=8)
    cb = fig.colorbar(im, ax=ax, fraction=0.04)
    cb.set_label(f"mu* [published SE (10 % of value without SE) per width of {_box_text(res.problem, short=True)}]", fontsize=7)
    fig.text(0.01, 0.005, SOURCE + f"; {res.n_evaluations} design points", fontsize=5.5, color="0.3")
    from calibration.report import save_png

    return save_png(fig, path)


def joint_misfit(G: pd.DataFrame, diff: pd.Series, fit_ids) -> pd.Series:
    """Rows still off by more than 1 SE after the least-squares parameter step on the linear model
    diff + G d (G in published SEs per unit of the parameter step; fitted rows only)."""
    Gf = G.loc[fit_ids].to_numpy(float)
    r = diff.loc[fit_ids].to_numpy(float)
    ok = np.isfinite(r) & np.isfinite(Gf).all(axis=1)
    step, *_ = np.linalg.lstsq(Gf[ok], -r[ok], rcond=None)
    after = pd.Series(np.nan, index=list(fit_ids))
    after[np.array(fit_ids)[ok]] = r[ok] + Gf[ok] @ step
    return after


def _box_text(problem: Mapping[str, Any], short: bool = False) -> str:
    """What a screen varied its parameters over, for the note (``short`` for the figure)."""
    span = float(problem.get("span", 1.0))
    if span >= 1.0:
        return "the bounds" if short else "the parameters' bounds"
    if short:
        return f"the box (value ± {50 * span:g} % of the bound width)"
    return (f"a box around the committed values (each parameter's value ± {50 * span:g} % of its bound width, "
            "cut to the bounds)")


def known_reasons() -> list[str]:
    """The note's section of ``KNOWN_CONFLICTS``, rows that share a reason on one line."""
    rows: dict[str, list[str]] = {}
    for k, v in KNOWN_CONFLICTS.items():
        rows.setdefault(v, []).append(f"`{k}`")
    return ["", "## Known reasons (the seeds' texts and the fits)", "", *(f"- {', '.join(ks)}: {v}" for v, ks in rows.items())]


def write_identification(res: MorrisResult, out: str | Path, jacobian: pd.DataFrame | None = None,
                         objective=None, table: pd.DataFrame | None = None) -> dict[str, Path]:
    """Tables, heat map and the note (``identification.md``) in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"mu_star": out / "morris_mu_star.csv", "sigma": out / "morris_sigma.csv",
             "heatmap": out / "morris_heatmap.png", "note": out / "identification.md"}
    res.mu_star.to_csv(paths["mu_star"])
    res.sigma.to_csv(paths["sigma"])
    heatmap(res, paths["heatmap"])
    fit_ids = list(res.roles[res.roles == "fit"].index)
    ident = res.identified()
    lines = ["# Identification of the free parameters", "",
             f"Morris screen (SALib), {res.n_evaluations} design points over {_box_text(res.problem)}. Effects in "
             "published SEs of the target (10 % of the value without SE) per full width of that box; a parameter is "
             f"identified when it moves some fitted target by at least {IDENTIFIED_SE:g} SE."
             + (f" {res.problem['broken']} of the {res.n_evaluations} points broke down (the run stopped there, "
                "e.g. on an explosive economy); their steps are left out of the "
                "effects." if res.problem.get("broken") else ""), "",
             f"![Morris heat map]({paths['heatmap'].name})", "", "## Which parameters move which targets", ""]
    for p in res.mu_star.columns:
        col = res.mu_star[p].dropna().sort_values(ascending=False)
        if col.empty:
            lines.append(f"- `{p}`: **not screened**: each of its steps touched a point that broke down")
            continue
        top = col[col >= IDENTIFIED_SE]
        moved = ", ".join(f"`{i}` ({v:.1f})" for i, v in top.head(6).items()) or "no target by 1 SE"
        gaps = int(res.mu_star[p].isna().sum())
        gap = f" (not screened on {gaps} targets: their steps touched a point that broke down)" if gaps else ""
        lines.append(f"- `{p}`: {'identified' if ident[p] else '**not identified**'}; moves {moved}{gap}")
    lines += ["", "## Targets no free parameter moves by 1 SE", ""]
    unmoved = [i for i in res.mu_star.index if not (res.mu_star.loc[i] >= IDENTIFIED_SE).any()]
    lines += [f"- `{i}`" + (f": {KNOWN_CONFLICTS[i]}" if i in KNOWN_CONFLICTS else "") for i in unmoved] or ["- none"]
    if objective is not None:
        ev = table if table is not None else objective.evaluate({p.name: p.start for p in objective.free},
                                                                 "identification", with_report=True).table
        if jacobian is not None:
            width = pd.Series({p.name: p.upper - p.lower for p in objective.free})
            G = jacobian.mul(width, axis=1).div(ev["scale"], axis=0)
            src = "the local Jacobian at the optimum (central differences, CRN)"
        else:
            G = res.mu
            src = "Morris' signed mean effects (a global linear proxy)"
        after = joint_misfit(G, ev["diff"], [i for i in fit_ids if i in G.index])
        stuck = after[after.abs() > 1].sort_values(key=np.abs, ascending=False)
        lines += ["", "## Rows that cannot be met jointly", "",
                  f"Linear approximation from {src}: the least-squares step of all free parameters leaves these "
                  "fitted rows more than 1 SE off (the parameters that would move them are needed elsewhere, or "
                  "none moves them):", ""]
        for i, v in stuck.items():
            lines.append(f"- `{i}`: {ev.at[i, 'diff']:+.1f} SE now, {v:+.1f} SE after the joint step"
                         + (f"; {KNOWN_CONFLICTS[i]}" if i in KNOWN_CONFLICTS else ""))
        if stuck.empty:
            lines.append("- none in the linear approximation")
    lines += known_reasons()
    tmp = out / ".identification.tmp.md"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, paths["note"])
    if jacobian is not None:
        jacobian.to_csv(out / "jacobian_optimum.csv")
    return paths
