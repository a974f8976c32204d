"""The calibration report: every target's published and simulated value, in-sample and held out.

``make_report(table, out, ...)`` writes ``out/report.md`` and ``out/targets_fit.png`` from the
table of :meth:`calibration.fit.Objective.table` (one row per target: published value and SE,
simulated mean over the CRN replications and its Monte Carlo SE, difference in published SEs,
within one SE or not, N simulated and published). It adds the published estimate beside the
structural value the study module uses (the parameter file's entry for that row), and the
time per objective evaluation and for the whole fit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from calibration.identification import KNOWN_CONFLICTS
from calibration.moments import N_TOLERANCE, structural_parameters
from calibration.targets import load_targets

SOURCE = ("Published values: calibration/targets.csv (seeds 000-003); simulated: SuanLi runs with common random "
          "numbers, the studies' estimators of analysis/replicate.py")
N_REASONS = {
    "000": "the NVAR's lagged lnTFP drops the first year of each province (2008): 30 x 14 = 420 of the "
           "published 450 (the seed prints 450, the province-years before the lag); the quality rows (published "
           "330 = 2012-2022) use every year in which the run defines DF_qual, 2008-2022 once DF_qual covers the "
           "seed's 450 province-years (issue 8), hence 420; table 7's 330 is not explained by the seed",
    "001": "",
    "002": "IV and PSM samples: the seed's 11,798 (IV) and 652 (PSM, matched) rows come from sample rules the "
           "text does not give; here the IV uses every firm-year with a lagged industry share and the PSM the "
           "matched 1:4 sample; sub-sample Ns follow the model's ownership, industry and platform shares",
}


def _fmt(v: Any, d: int = 4) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "✓" if v else ""
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and abs(v) >= 100 and float(v).is_integer()):
        return f"{int(v):,}"
    return f"{v:.{d}g}"


def _md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        out.append("| " + " | ".join(_fmt(r[c]) if not isinstance(r[c], str) else r[c] for c in cols) + " |")
    return "\n".join(out)


def target_rows(table: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """The report's per-target columns (published, SE, simulated mean, MC SE, diff, ✓, N)."""
    t = table.join(targets[["seed", "table", "statistic"]], how="left")
    n_ok = (t["n"] - t["n_published"]).abs() <= N_TOLERANCE * t["n_published"]
    return pd.DataFrame({
        "target": t.index, "seed": t["seed"], "table": t["table"], "statistic": t["statistic"],
        "published": t["published"], "published SE": t["published_se"],
        "simulated mean": t["sim_mean"], "MC SE": t["mc_se"], "estimator SE": t["estimator_se"],
        "diff (pub. SEs)": t["diff"], "within": t["within"],
        "N sim": t["n"].round(), "N pub": t["n_published"],
        "N within 2 %": np.where(t["n_published"].notna() & t["n"].notna(), np.where(n_ok, "✓", "✗"), ""),
    }).reset_index(drop=True)


def structural_table(table: pd.DataFrame, params: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """Published estimate beside the structural value whose counterpart it is (the ``measures`` field)."""
    where = structural_parameters(params, targets)
    vals = dict(zip(params["section"] + "." + params["name"], params["value"]))
    rows = []
    for tid in table.index:
        for name in where.get(tid, []):
            v = float(vals[name])
            pub = float(table.at[tid, "published"])
            rows.append({"target": tid, "published": pub, "simulated mean": table.at[tid, "sim_mean"],
                         "structural parameter": name, "structural value": v,
                         "truth - published": v - pub})
    return pd.DataFrame(rows)


def _seed_text(seeds: Sequence[int]) -> str:
    s = sorted(seeds)
    return f"{s[0]}-{s[-1]}" if s == list(range(s[0], s[-1] + 1)) and len(s) > 2 else ", ".join(map(str, s))


def met_counts(table: pd.DataFrame) -> dict[str, int]:
    """Rows met (``within``) of an evaluation table: all, in-sample (role ``fit``) and held out, with their totals."""
    fit = table["role"] == "fit"
    met = table["within"].astype(bool)
    return {"met": int(met.sum()), "rows": len(table), "fit_met": int(met[fit].sum()), "fit_rows": int(fit.sum()),
            "held_met": int(met[~fit].sum()), "held_rows": int((~fit).sum())}


def fresh_section(table: pd.DataFrame, fresh: pd.DataFrame, seeds: Sequence[int], fresh_seeds: Sequence[int]) -> list[str]:
    """Markdown lines: the rows met on the report's seeds against the same parameters on other seeds. A fit on
    R seeds can meet a row with those seeds' draws; a row met on both holds for the parameters."""
    fresh = fresh.reindex(table.index)
    here, there = table["within"].astype(bool), fresh["within"].fillna(False).astype(bool)
    cols = {"target": table.index, "role": table["role"].to_numpy(),
            f"diff, seeds {_seed_text(seeds)}": table["diff"].map(_fmt).to_numpy(),
            "within": np.where(here, "✓", ""),
            f"diff, seeds {_seed_text(fresh_seeds)}": fresh["diff"].map(_fmt).to_numpy(),
            "within (fresh)": np.where(there, "✓", ""),
            "MC SE (fresh)": fresh["mc_se"].map(_fmt).to_numpy()}
    only, gained = list(table.index[here & ~there]), list(table.index[there & ~here])
    c = met_counts(fresh.assign(within=there))
    lines = [f"## On fresh seeds ({_seed_text(fresh_seeds)}, not used by the fit)", "",
             f"The same parameters on {len(fresh_seeds)} other seeds meet **{c['met']} of {c['rows']} rows** "
             f"(in-sample {c['fit_met']}/{c['fit_rows']}); {int((here & there).sum())} rows are met on both sets "
             "of seeds.", ""]
    if only:
        lines += ["Met on the report's seeds only: " + ", ".join(f"`{t}`" for t in only) + ".", ""]
    if gained:
        lines += ["Met on the fresh seeds only: " + ", ".join(f"`{t}`" for t in gained) + ".", ""]
    return lines + [_md_table(pd.DataFrame(cols)), ""]


def figure(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Simulated minus published, in published SEs (10 % of the value without SE), with 2 MC SE bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = table.iloc[::-1]
    y = np.arange(len(t))
    scale = t["scale"].to_numpy(float)
    d = np.clip(t["diff"].to_numpy(float), -12, 12)
    err = 2 * t["mc_se"].to_numpy(float) / scale
    colours = np.where(t["role"].to_numpy() == "fit", "tab:blue", "tab:orange")
    fig, ax = plt.subplots(figsize=(8.5, max(4.0, 0.19 * len(t) + 1.5)))
    ax.axvspan(-1, 1, color="0.9", zorder=0, label="within one published SE (10 % without SE)")
    for c, lab in (("tab:blue", "in-sample"), ("tab:orange", "held out")):
        m = colours == c
        if m.any():
            ax.errorbar(d[m], y[m], xerr=np.nan_to_num(err[m]), fmt="o", ms=3.5, color=c, capsize=2, label=lab)
    miss = ~np.isfinite(t["diff"].to_numpy(float))
    if miss.any():
        ax.plot(np.zeros(miss.sum()), y[miss], "x", color="red", label="not computed")
    raw = t["diff"].to_numpy(float)
    out_of_range = np.isfinite(raw) & (np.abs(raw) > 12)
    if out_of_range.any():
        ax.plot(d[out_of_range], y[out_of_range], "k>", ms=5, mfc="none", label="beyond ±12 SE (clipped)")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, t.index, fontsize=6.5)
    ax.set_xlim(-12.5, 12.5)
    ax.set_xlabel("(simulated mean - published) / published SE  [SE units; clipped at ±12; bars: 2 MC SE]")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.text(0.01, 0.005, SOURCE, fontsize=5.5, color="0.3")
    return save_png(fig, path)


def save_png(fig, path: Path) -> Path:
    """Lay out ``fig``, write it to ``path`` as PNG atomically (temporary file, then rename) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout(rect=(0, 0.02, 1, 1))
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=130)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def make_report(table: pd.DataFrame, out: str | Path, *, params: pd.DataFrame, title: str = "SuanLi calibration",
                seeds: Sequence[int] = (), timings: Mapping[str, float] | None = None,
                fitted: Mapping[str, float] | None = None, notes: Sequence[str] = (),
                targets: pd.DataFrame | None = None, fresh: pd.DataFrame | None = None,
                fresh_seeds: Sequence[int] = ()) -> Path:
    """Write ``out/report.md`` (+ ``targets_fit.png``, ``targets_fit.csv``); returns the Markdown path.
    ``fresh`` is the same evaluation on ``fresh_seeds`` (none of ``seeds``): its section says which rows hold there."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    targets = load_targets() if targets is None else targets
    rows = target_rows(table, targets)
    fig = figure(table, out / "targets_fit.png",
                 f"{title}\nsimulated vs published statistics (R = {len(seeds)} CRN replications)")
    tmp_csv = out / ".targets_fit.tmp.csv"
    rows.to_csv(tmp_csv, index=False)
    os.replace(tmp_csv, out / "targets_fit.csv")
    fit = table["role"] == "fit"
    c = met_counts(table)
    lines = [f"# {title}", "",
             f"Replications: seeds {', '.join(map(str, seeds))} (common random numbers). A row is met (✓) when the "
             "simulated mean is within one published SE of the published value (within 10 % where no SE is "
             "published). Diff = (simulated mean - published) / published SE (or / 10 % of the value).", "",
             f"**Met: {c['met']} of {c['rows']} rows** (in-sample {c['fit_met']}/{c['fit_rows']}, held out "
             f"{c['held_met']}/{c['held_rows']}).", ""]
    for lab, mask in (("In-sample rows (in the objective)", fit), ("Held-out rows (not fitted)", ~fit)):
        if mask.any():
            lines += [f"## {lab}", "", _md_table(rows[mask.to_numpy()]), ""]
    missed = table[~table["within"]]
    noisy = table.index[table["mc_se"].to_numpy(float) >= table["scale"].to_numpy(float)]
    if len(missed):
        lines += ["## Rows not met", "", "Each with its known reason from the identification note "
                  "(`calibration/identification.py`), where there is one.", ""]
        told: dict[str, str] = {}
        for tid, r in missed.iterrows():
            why = "not computed by this run" if not np.isfinite(r["diff"]) else f"{r['diff']:+.1f} SE"
            if tid in noisy:
                why += f" (MC SE {_fmt(r['mc_se'])} at least the row's scale: R = {len(seeds)} cannot tell)"
            reason = KNOWN_CONFLICTS.get(tid)
            if reason is not None:
                why += f". Same reason as `{told[reason]}`" if reason in told else f". Why: {reason}"
                told.setdefault(reason, tid)
            lines.append(f"- `{tid}` ({r['role']}): published {_fmt(r['published'])}, simulated "
                         f"{_fmt(r['sim_mean'])}: {why}")
        lines.append("")
    if len(noisy):
        lines += [f"{len(noisy)} rows have a Monte Carlo SE of the simulated mean at least their scale (the published "
                  "SE, or the tolerance): other draws of the same parameters would move them by a scale or more, so "
                  "whether they are met says little at this R: " + ", ".join(f"`{t}`" for t in noisy) + ".", ""]
    if fresh is not None:
        lines += fresh_section(table, fresh, seeds, fresh_seeds)
    st = structural_table(table, params, targets)
    if len(st):
        lines += ["## Published estimate beside the structural truth", "",
                  "The structural value is the parameter-file entry the study module uses for that statistic "
                  "(the entry whose `measures` field names the row); the difference is the estimator's bias on "
                  "this economy plus the fit's error.", "", _md_table(st), ""]
    bad_n = rows[rows["N within 2 %"] == "✗"]
    if len(bad_n):
        lines += ["## Sample sizes not within 2 % of the published N", ""]
        lines += [f"- `{r['target']}`: simulated {_fmt(r['N sim'])} vs published {_fmt(r['N pub'])}"
                  for _, r in bad_n.iterrows()]
        lines += [""] + [f"- seed {s}: {why}" for s, why in N_REASONS.items()
                         if why and (bad_n["seed"] == s).any()] + [""]
    if fitted:
        lines += ["## Fitted values", "", _md_table(pd.DataFrame(
            {"parameter": list(fitted), "value": [float(v) for v in fitted.values()]})), ""]
    if timings:
        lines += ["## Time", ""] + [f"- {k}: {v:.2f} s" if isinstance(v, (int, float)) else f"- {k}: {v}"
                                    for k, v in timings.items()] + [""]
    lines += ["## Figure", "", f"![simulated vs published]({fig.name})", "", f"Source: {SOURCE}.", ""]
    lines += list(notes)
    md = out / "report.md"
    tmp = out / ".report.tmp.md"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, md)
    return md
