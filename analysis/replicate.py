"""Replication layer: the studies' tables re-estimated on any panel that uses their variable names.

One function per published table (seed 000: ``p1_table1``..``p1_table8``; seed 001 annex:
``p2_fe``, ``p2_threshold``, ``p2_pivot``; seed 002: ``p3_table2``..``p3_table8``). Each takes a
panel DataFrame (simulated or real) and returns a :class:`ReplicationTable` (or, for the
descriptive tables, a :class:`DescriptiveTable`) printed in the study's layout, with the
underlying :class:`~analysis.results.EstimationResult` objects and a ``compare()`` against
``calibration/targets.csv``. All estimation is delegated to the estimator modules of
``analysis`` (statsmodels OLS for seed 001's cross-sections); this module only assembles
specifications, samples and tables.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.checks import PanelError
from analysis.fixed_effects import TwoWayFE
from analysis.indices import distortion_indices
from analysis.iv import IV2SLS, bartik_instrument
from analysis.mechanism import MechanismTest
from analysis.nvar import NVAR
from analysis.psm import PSM
from analysis.results import EstimationResult, stars
from analysis.sfa import PanelSFA
from analysis.threshold import PanelThreshold
from analysis.published import TARGETS_PATH, load_targets

# ---------------------------------------------------------------------------------------- names
P1_CONTROLS = ("Z0", "Z1", "Z2", "Z3", "Z4", "Z5")
P1_STEPWISE = ("Z0", "Z1", "Z2", "Z4", "Z3", "Z5")  # order in which table 2/3 add the controls
P1_LABELS = {
    "Z0": "Internet penetration (Z0)",
    "Z1": "Digital education (Z1)",
    "Z2": "Digital finance (Z2)",
    "Z3": "Openness (Z3)",
    "Z4": "Government intervention (Z4)",
    "Z5": "Transport infrastructure (Z5)",
}
P2_CONTROLS = ("logpeo", "logfin", "logfou", "loginvest", "logretail", "logagri", "logindus", "loginex")
P3_CONTROLS = ("lnEmployee", "lnFirmAge", "ROA", "Assetturn", "Cashflow", "Dual", "Top1", "Occupy",
               "Mshare", "TobinQ")
P3_MECHANISMS_T5 = ("TS", "MD", "INVEST")
P3_MECHANISMS_T6 = ("IB", "lnCTI", "lnDSI", "Bullwhip")
P3_OWNERSHIP = {
    "Joint venture": ("jv", "joint venture", "joint_venture", "sino-foreign", "foreign", "中外合资"),
    "Private": ("private", "私营", "民营"),
    "State-owned": ("state", "soe", "state-owned", "国有"),
}
SEED_OF = {"p1": "000", "p2": "001", "p3": "002", "p4": "003"}
# the studies' sample years (sim/studies/provinces.py, cities.py, firms.py STUDY_WINDOW)
STUDY_WINDOWS = {"000": (2008, 2022), "001": (2017, 2022), "002": (2017, 2023)}


def default_targets_path() -> Path:
    """The targets shipped with the package (``calibration/targets.csv``)."""
    return TARGETS_PATH


# ---------------------------------------------------------------------------------------- tables
def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    v = float(v)
    return "" if not np.isfinite(v) else f"{v:.{digits}f}"


def _render(title: str, header: list[str], body: list[list[str]], notes: Sequence[str]) -> str:
    widths = [max(len(r[j]) for r in [header, *body]) for j in range(len(header))]
    line = lambda r: "  ".join(  # noqa: E731
        (c.ljust(widths[j]) if j == 0 else c.rjust(widths[j])) for j, c in enumerate(r)).rstrip()
    total = len(line(header))
    out = [title, "=" * total, line(header), "-" * total, *(line(r) for r in body), "=" * total]
    out += list(notes)
    return "\n".join(out)


COMPARE_COLUMNS = ("target", "table", "statistic", "estimate", "se", "published", "published_se", "diff_in_se",
                   "n", "n_published")


def _compare_rows(obj, targets: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for tid in targets.index:
        if tid not in obj.targets:
            continue
        t = targets.loc[tid]
        est, se, n = obj.target_estimate(tid)
        pub, pub_se = float(t["value"]), float(t["se"])
        rows.append(dict(
            target=tid, table=obj.key, statistic=t["statistic"], estimate=est, se=se,
            published=pub, published_se=pub_se,
            diff_in_se=(est - pub) / pub_se if np.isfinite(pub_se) and pub_se > 0 else np.nan,
            n=n, n_published=t["n"],
        ))
    return pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))


@dataclass
class ReplicationTable:
    """A study table re-estimated: one column per specification, one row per variable.

    ``rows`` lists (label, {column: parameter name}); ``flags`` (label -> {column: text}) are
    the "controls / fixed effects" lines; ``stats`` (label -> {column: number or text}) are
    extra statistics (KP tests, thresholds); N and Adj. R² come from the results. ``targets``
    maps target ids of ``targets.csv`` to (column, parameter). ``bracket`` is ``'se'``
    (standard errors in parentheses) or ``'t'`` (t statistics in brackets), as in the study.
    """

    key: str
    title: str
    columns: list[str]
    results: dict[str, EstimationResult]
    rows: list[tuple[str, dict[str, str]]]
    bracket: str = "se"
    flags: dict[str, dict[str, str]] = field(default_factory=dict)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    targets: dict[str, tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    show_r2: str = "Adj. R2"

    @property
    def seed(self) -> str:
        return SEED_OF[self.key[:2]]

    def cell(self, column: str, param: str) -> tuple[str, str]:
        """(coefficient with stars, bracketed SE or t); empty strings if not estimated."""
        res = self.results.get(column)
        if res is None or param not in res.params.index or not np.isfinite(res.params[param]):
            return "", ""
        b = res.params[param]
        p = res.pvalues[param]
        if self.bracket == "t":
            s = f"[{res.tstats[param]:.4f}]"
        else:
            s = f"({res.std_errors[param]:.4f})"
        return f"{b:.4f}{stars(p)}", s

    def stat_rows(self) -> list[tuple[str, dict[str, str]]]:
        out: list[tuple[str, dict[str, str]]] = []
        for lab, vals in self.flags.items():
            out.append((lab, {c: vals.get(c, "") for c in self.columns}))
        out.append(("N", {c: _fmt(self.results[c].nobs) if c in self.results else "" for c in self.columns}))
        if self.show_r2:
            lab = {"Adj. R2": "Adj. R²", "R2": "R²"}.get(self.show_r2, self.show_r2)
            out.append((lab, {c: _fmt(self.results[c].stats.get(self.show_r2)) if c in self.results else ""
                              for c in self.columns}))
        for lab, vals in self.stats.items():
            out.append((lab, {c: _fmt(vals.get(c)) for c in self.columns}))
        return out

    def to_frame(self) -> pd.DataFrame:
        """Display table: MultiIndex (row, line) with line 'coef' / 'se' or 't' / '' for statistics."""
        idx, data = [], []
        br = "t" if self.bracket == "t" else "se"
        for lab, pmap in self.rows:
            cells = [self.cell(c, pmap[c]) if c in pmap else ("", "") for c in self.columns]
            idx += [(lab, "coef"), (lab, br)]
            data += [[a for a, _ in cells], [b for _, b in cells]]
        for lab, vals in self.stat_rows():
            idx.append((lab, ""))
            data.append([vals[c] for c in self.columns])
        return pd.DataFrame(data, index=pd.MultiIndex.from_tuples(idx, names=["row", "line"]),
                            columns=list(self.columns))

    def estimates(self) -> pd.DataFrame:
        """Long numeric table: column, row, param, coef, se, t, p, stars, nobs."""
        recs = []
        for lab, pmap in self.rows:
            for c in self.columns:
                res, p = self.results.get(c), pmap.get(c)
                if res is None or p is None or p not in res.params.index:
                    continue
                recs.append(dict(column=c, row=lab, param=p, coef=res.params[p], se=res.std_errors[p],
                                 t=res.tstats[p], p=res.pvalues[p], stars=stars(res.pvalues[p]), nobs=res.nobs))
        return pd.DataFrame(recs, columns=["column", "row", "param", "coef", "se", "t", "p", "stars", "nobs"])

    def to_string(self) -> str:
        header = ["", *self.columns]
        body: list[list[str]] = []
        for lab, pmap in self.rows:
            cells = [self.cell(c, pmap[c]) if c in pmap else ("", "") for c in self.columns]
            body.append([lab, *(a for a, _ in cells)])
            body.append(["", *(b for _, b in cells)])
        for lab, vals in self.stat_rows():
            body.append([lab, *(vals[c] for c in self.columns)])
        br = "t statistics in brackets" if self.bracket == "t" else "standard errors in parentheses"
        notes = [f"Note: *, **, *** significant at 10%, 5%, 1%; {br}.", *self.notes]
        return _render(f"{self.title}  [{self.key}]", header, body, notes)

    def __str__(self) -> str:
        return self.to_string()

    __repr__ = __str__

    def target_estimate(self, tid: str) -> tuple[float, float, float]:
        col, param = self.targets[tid]
        res = self.results.get(col)
        if res is None or param not in res.params.index:
            return np.nan, np.nan, np.nan
        return float(res.params[param]), float(res.std_errors[param]), float(res.nobs)

    def compare(self, targets_path: str | Path | None = None) -> pd.DataFrame:
        """One row per target of ``targets.csv`` this table covers (see :func:`compare`)."""
        return _compare_rows(self, load_targets(targets_path))


@dataclass
class DescriptiveTable:
    """Descriptive statistics (N, mean, SD, min, max) in the layout of seed 000 table 1 / seed 002 table 2.

    ``targets`` maps target ids to (variable, statistic) with statistic ``'mean'`` or ``'sd'``;
    the SE reported for a mean is SD/sqrt(N), for an SD the normal approximation SD/sqrt(2(N-1)).
    """

    key: str
    title: str
    frame: pd.DataFrame
    targets: dict[str, tuple[str, str]] = field(default_factory=dict)
    results: dict[str, EstimationResult] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.targets = {k: v for k, v in self.targets.items() if v[0] in self.frame.index}

    @property
    def seed(self) -> str:
        return SEED_OF[self.key[:2]]

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def to_string(self) -> str:
        header = ["Variable", *self.frame.columns]
        body = [[str(v), *(_fmt(int(x)) if c == "N" else _fmt(x) for c, x in row.items())]
                for v, row in self.frame.iterrows()]
        return _render(f"{self.title}  [{self.key}]", header, body, [])

    def __str__(self) -> str:
        return self.to_string()

    __repr__ = __str__

    def target_estimate(self, tid: str) -> tuple[float, float, float]:
        var, stat = self.targets[tid]
        if var not in self.frame.index:
            return np.nan, np.nan, np.nan
        r = self.frame.loc[var]
        n = float(r["N"])
        if stat == "mean":
            return float(r["Mean"]), float(r["SD"]) / np.sqrt(n), n
        return float(r["SD"]), float(r["SD"]) / np.sqrt(2 * (n - 1)), n

    def compare(self, targets_path: str | Path | None = None) -> pd.DataFrame:
        return _compare_rows(self, load_targets(targets_path))


def _describe(panel: pd.DataFrame, variables: Sequence[str]) -> pd.DataFrame:
    present = [v for v in variables if v in panel.columns]
    if not present:
        raise KeyError(f"none of the variables {list(variables)} is in the panel")
    X = panel[present].apply(pd.to_numeric, errors="coerce")
    return pd.DataFrame({"N": X.count(), "Mean": X.mean(), "SD": X.std(ddof=1), "Min": X.min(), "Max": X.max()})


# ---------------------------------------------------------------------------------------- helpers
def _frame(panel: pd.DataFrame, entity: str, time: str) -> pd.DataFrame:
    if entity not in panel.columns or time not in panel.columns:
        panel = panel.reset_index()
    return panel


def _require(panel: pd.DataFrame, cols: Iterable[str], table: str, time: str | None = None) -> None:
    """Raise (``PanelError``, a KeyError) naming ``table`` if columns are missing or, given ``time``,
    if the panel does not cover every year of the study's window (``STUDY_WINDOWS``)."""
    missing = [c for c in dict.fromkeys(cols) if c not in panel.columns]
    if missing:
        raise PanelError(f"{table}: columns not in the panel: {missing}")
    window = STUDY_WINDOWS.get(SEED_OF.get(table[:2], ""))
    if time is None or window is None:
        return
    years = pd.to_numeric(panel[time], errors="coerce").dropna()
    have = set(years.astype(int))
    lo, hi = window
    absent = [y for y in range(lo, hi + 1) if y not in have]
    if absent:
        span = f"{int(years.min())}-{int(years.max())}" if len(years) else "no years"
        raise PanelError(f"{table}: the panel covers {time} {span} but seed {SEED_OF[table[:2]]}'s window is "
                         f"{lo}-{hi} (missing {absent[0]}" + (f"..{absent[-1]}" if len(absent) > 1 else "")
                         + "); simulate or load those years")


def _with_lags(df: pd.DataFrame, col: str, lags: Iterable[int], entity: str, time: str) -> pd.DataFrame:
    """Add ``L{k}.{col}`` = value of ``col`` in period time - k of the same entity (numeric time)."""
    base = df[[entity, time, col]]
    for k in lags:
        name = f"L{k}.{col}"
        if name in df.columns:
            continue
        s = base.assign(**{time: base[time] + k}).rename(columns={col: name})
        df = df.merge(s, on=[entity, time], how="left")
    return df


def province_weights(kind: str = "geo", codes: Sequence[str] | None = None,
                     provinces: pd.DataFrame | None = None) -> pd.DataFrame:
    """Seed 000 weight matrix (``geo``, ``econ`` or ``pop``) as a labelled DataFrame.

    Built by :func:`sim.network.weight_matrix` on the provinces named in ``codes`` (default:
    the model's provinces without Tibet, as in the study). ``codes`` may be province codes
    (``BJ``), pinyin or Chinese names; the labels returned are the ones given.
    """
    if provinces is None:
        codes = None if codes is None else tuple(codes)
        return _model_province_weights(kind, codes).copy()
    return _province_weights(kind, codes, provinces)


@functools.lru_cache(maxsize=16)
def _model_province_weights(kind: str, codes: tuple[str, ...] | None) -> pd.DataFrame:
    """:func:`province_weights` on the model's province table, kept per process (the table is static and
    the tables of seed 000 ask for the same matrix on every panel)."""
    from sim.world import World

    return _province_weights(kind, codes, World.load().provinces)


def _province_weights(kind: str, codes: Sequence[str] | None, provinces: pd.DataFrame) -> pd.DataFrame:
    from sim.network import weight_matrix

    if codes is None:
        codes = [c for c in provinces.index if c != "XZ"]
    codes = list(codes)
    lookup: dict[str, str] = {}
    for col in ("code", "name_pinyin", "name_zh"):
        if col in provinces.columns:
            lookup.update({str(v): k for k, v in provinces[col].items()})
    lookup.update({str(k): k for k in provinces.index})
    unknown = [c for c in codes if str(c) not in lookup]
    if unknown:
        raise KeyError(f"provinces not found in the model's province table: {unknown}")
    keys = [lookup[str(c)] for c in codes]
    return pd.DataFrame(weight_matrix(provinces.loc[keys], kind), index=codes, columns=codes)


def _weights(W, kind: str, panel: pd.DataFrame, entity: str):
    if W is None:
        return province_weights(kind, sorted(pd.unique(panel[entity])))
    return W


def _p1_args(panel, entity, time, W, kind, cols, table):
    df = _frame(panel, entity, time)
    _require(df, [entity, time, *cols], table, time)
    return df, _weights(W, kind, df, entity)


def _nvar(df, y, x, W, entity, time, controls, *, own=True, interact=None, cov="robust", effects=None):
    return NVAR(df, y, x, W, entity, time, controls, own=own, interact=interact, cov=cov, effects=effects).fit()


def _ctrl_flag(columns: Sequence[str], controls: Sequence[str], label: str = "Node controls (Z0-Z5)"):
    return {label: {c: ("Yes" if controls else "No") for c in columns}}


# ---------------------------------------------------------------------------------------- seed 000
def p1_table1(panel: pd.DataFrame, variables: Sequence[str] | None = None) -> DescriptiveTable:
    """Seed 000 table 1: descriptive statistics of the province panel."""
    v = variables or ("lnTFP", "lnTC", "lnTE", "lnTS", "DF_qty", "DF_qual", *P1_CONTROLS)
    return DescriptiveTable(
        "p1_table1", "Seed 000 table 1: descriptive statistics", _describe(panel, v),
        targets={"p1_desc_lntfp_mean": ("lnTFP", "mean"), "p1_desc_lntfp_sd": ("lnTFP", "sd"),
                 "p1_desc_dfqty_mean": ("DF_qty", "mean"), "p1_desc_dfqual_mean": ("DF_qual", "mean")},
    )


def _p1_stepwise(key, title, panel, W, x, y, entity, time, controls, cov, effects, which, last_only=False):
    df, Wm = _p1_args(panel, entity, time, W, "geo", [y, x, *controls], key)
    cols = [f"({j})" for j in range(1, len(controls) + 3)]
    results = {}
    for j, c in enumerate(cols):
        if last_only and j < len(cols) - 1:
            continue
        ctrl = list(controls[: min(j, len(controls))])
        results[c] = _nvar(df, y, x, Wm, entity, time, ctrl, own=(j == len(cols) - 1), cov=cov, effects=effects)
    last = cols[-1]
    cols = list(results)
    rows = [(f"Network W·{x}", {c: "beta1" for c in cols}), (f"{y}(t-1)", {c: "beta2" for c in cols})]
    rows += [(P1_LABELS.get(z, z), {c: z for c in cols}) for z in controls]
    rows.append((f"Own {x}", {c: "alpha" for c in cols}))
    tg = {f"p1_nvar_{which}_beta1": (last, "beta1"), f"p1_nvar_{which}_beta2": (last, "beta2"),
          f"p1_nvar_{which}_alpha": (last, "alpha")}
    return ReplicationTable(key, title, cols, results, rows, "se", targets=tg,
                            notes=[f"NVAR eq. {'14' if which == 'qty' else '15'}, pooled OLS, {cov} SE; "
                                   "columns add the node controls one at a time, (8) adds the own index."],
                            details={"W": Wm})


def p1_table2(panel: pd.DataFrame, W: np.ndarray | pd.DataFrame | None = None, *, y: str = "lnTFP",
              x: str = "DF_qty", entity: str = "province", time: str = "year",
              controls: Sequence[str] = P1_STEPWISE, cov: str = "robust", effects: str | None = None,
              last_only: bool = False) -> ReplicationTable:
    """Seed 000 table 2: NVAR eq. 14, quantity network, columns (1)-(8).

    ``W`` defaults to the inverse-distance matrix of the panel's provinces (:func:`province_weights`).
    Column (1) has the network term and the lagged outcome, (2)-(7) add Z0, Z1, Z2, Z4, Z3, Z5
    in the table's order and (8) adds the own index. ``last_only`` estimates column (8) alone, the
    full specification the targets read (each column is its own regression, so it is the same number).
    """
    return _p1_stepwise("p1_table2", "Seed 000 table 2: network spillover of compute quantity on TFP",
                        panel, W, x, y, entity, time, list(controls), cov, effects, "qty", last_only)


def p1_table3(panel: pd.DataFrame, W: np.ndarray | pd.DataFrame | None = None, *, y: str = "lnTFP",
              x: str = "DF_qual", entity: str = "province", time: str = "year",
              controls: Sequence[str] = P1_STEPWISE, cov: str = "robust", effects: str | None = None,
              last_only: bool = False) -> ReplicationTable:
    """Seed 000 table 3: NVAR eq. 15, quality network, columns (1)-(8) (as table 2, ``last_only`` too)."""
    return _p1_stepwise("p1_table3", "Seed 000 table 3: network spillover of compute quality on TFP",
                        panel, W, x, y, entity, time, list(controls), cov, effects, "qual", last_only)


def p1_table4(panel: pd.DataFrame, W: Mapping[str, Any] | None = None, *, y: str = "lnTFP",
              x_qty: str = "DF_qty", x_qual: str = "DF_qual", entity: str = "province", time: str = "year",
              controls: Sequence[str] = P1_CONTROLS, cov: str = "robust", effects: str | None = None,
              ) -> ReplicationTable:
    """Seed 000 table 4: eq. 14-15 (all controls, own index) with economic- and population-distance W.

    ``W`` maps ``'econ'`` and ``'pop'`` to matrices; missing ones come from :func:`province_weights`.
    """
    df = _frame(panel, entity, time)
    _require(df, [entity, time, y, x_qty, x_qual, *controls], "p1_table4", time)
    W = dict(W or {})
    Ws = {k: _weights(W.get(k), k, df, entity) for k in ("econ", "pop")}
    spec = {"Quantity: econ": (x_qty, "econ"), "Quantity: pop": (x_qty, "pop"),
            "Quality: econ": (x_qual, "econ"), "Quality: pop": (x_qual, "pop")}
    cols = list(spec)
    results = {c: _nvar(df, y, xx, Ws[k], entity, time, list(controls), cov=cov, effects=effects)
               for c, (xx, k) in spec.items()}
    rows = [("Network W·DF", {c: "beta1" for c in cols}), (f"{y}(t-1)", {c: "beta2" for c in cols})]
    tg = {"p1_nvar_qty_econ": ("Quantity: econ", "beta1"), "p1_nvar_qty_pop": ("Quantity: pop", "beta1"),
          "p1_nvar_qual_econ": ("Quality: econ", "beta1"), "p1_nvar_qual_pop": ("Quality: pop", "beta1")}
    return ReplicationTable("p1_table4", "Seed 000 table 4: network spillover under other distances", cols,
                            results, rows, "se", flags=_ctrl_flag(cols, controls), targets=tg,
                            notes=["W: inverse |GDP difference| (econ), inverse |population difference| (pop)."],
                            details={"W": Ws})


def p1_table5(panel: pd.DataFrame, *, y: str = "lnTFP", x: str = "DF_qty", entity: str = "province",
              time: str = "year", lags: Sequence[Sequence[int]] = ((1,), (3,), (1, 3)),
              controls: Sequence[str] = (), robust: bool = True) -> ReplicationTable:
    """Seed 000 table 5 (endogeneity): 2SLS of ``y`` on ``x`` instrumented by its own lags.

    The text names lag-1 and lag-3 instruments; columns (1)-(3) use lag 1, lag 3 and both
    (the published table prints only the coefficient, the constant, N and R²).
    """
    df = _frame(panel, entity, time)
    _require(df, [entity, time, y, x, *controls], "p1_table5", time)
    all_lags = sorted({k for ls in lags for k in ls})
    df = _with_lags(df, x, all_lags, entity, time)
    cols, results, stats = [], {}, {"First-stage F": {}, "KP rk LM": {}}
    for j, ls in enumerate(lags, start=1):
        c = f"({j}) IV: " + "+".join(f"L{k}" for k in ls)
        cols.append(c)
        r = IV2SLS(df, y, x, [f"L{k}.{x}" for k in ls], list(controls), robust=robust).fit()
        results[c] = r
        stats["First-stage F"][c] = r.stats.get("First-stage F")
        stats["KP rk LM"][c] = r.stats.get("KP rk LM")
    rows = [(x, {c: x for c in cols}), ("Constant", {c: "const" for c in cols})]
    return ReplicationTable("p1_table5", "Seed 000 table 5: endogeneity (2SLS with lagged index)", cols,
                            results, rows, "se", stats=stats, show_r2="R2")


def _interaction_table(key, title, df, Wm, y, x_qty, x_qual, mediators, labels, entity, time, controls,
                       cov, effects, targets):
    spec = {}
    for xn, xx in (("Quantity", x_qty), ("Quality", x_qual)):
        for m in mediators:
            spec[f"{xn}: {m}"] = (xx, m)
    cols = list(spec)
    results = {c: _nvar(df, y, xx, Wm, entity, time, list(controls), interact=m, cov=cov, effects=effects)
               for c, (xx, m) in spec.items()}
    rows = [("M × network W·DF", {c: f"{m}:network" for c, (_, m) in spec.items()}),
            ("M", {c: m for c, (_, m) in spec.items()}),
            (f"{y}(t-1)", {c: "beta2" for c in cols})]
    tg = {tid: (cols[j], f"{spec[cols[j]][1]}:network") for tid, j in targets.items()}
    names = "; ".join(f"{m}: {labels[m]}" for m in mediators)
    return ReplicationTable(key, title, cols, results, rows, "se", flags=_ctrl_flag(cols, controls), targets=tg,
                            notes=["Columns: network (quantity/quality) and mechanism variable M (" + names + ").",
                                   "Eq. 16-17: M × W·DF, M, lagged outcome, own index and node controls."],
                            details={"W": Wm})


def p1_table6(panel: pd.DataFrame, W: np.ndarray | pd.DataFrame | None = None, *, y: str = "lnTFP",
              x_qty: str = "DF_qty", x_qual: str = "DF_qual", distortions: Sequence[str] = ("tau_K", "tau_L"),
              output: str = "Y", capital: str = "K", labour: str = "L", entity: str = "province",
              time: str = "year", controls: Sequence[str] = P1_CONTROLS, cov: str = "robust",
              effects: str | None = None) -> ReplicationTable:
    """Seed 000 table 6: misallocation mechanism, eq. 16-17 with M = capital / labour distortion.

    ``distortions`` name the capital and labour indices; if they are missing and ``output``,
    ``capital``, ``labour`` are present, eq. 18's indices (``tau_*`` or ``gamma_*``) are
    computed by :func:`analysis.indices.distortion_indices` with elasticities estimated from
    a CRS Cobb-Douglas.
    """
    df = _frame(panel, entity, time)
    dist = list(distortions)
    computed = None
    if any(d not in df.columns for d in dist):
        known = {"tau_K", "tau_L", "gamma_K", "gamma_L"}
        if set(dist) <= known and all(c in df.columns for c in (output, capital, labour)):
            computed = distortion_indices(df, output, capital, labour, entity=entity, time=time)
            add = computed[[d for d in dist if d not in df.columns]].reset_index()
            df = df.merge(add, on=[entity, time], how="left")
    _require(df, [entity, time, y, x_qty, x_qual, *dist, *controls], "p1_table6", time)
    Wm = _weights(W, "geo", df, entity)
    labels = {dist[0]: "capital distortion", dist[1]: "labour distortion"}
    t = _interaction_table("p1_table6", "Seed 000 table 6: network spillover and misallocation", df, Wm, y,
                           x_qty, x_qual, dist, labels, entity, time, controls, cov, effects,
                           {"p1_mis_k_qty": 0, "p1_mis_l_qty": 1, "p1_mis_k_qual": 2, "p1_mis_l_qual": 3})
    if computed is not None:
        t.details["distortions"] = computed
    return t


def p1_table7(panel: pd.DataFrame, W: np.ndarray | pd.DataFrame | None = None, *, y: str = "lnTFP",
              x_qty: str = "DF_qty", x_qual: str = "DF_qual",
              innovation: Sequence[str] = ("patents_qty", "patents_qual"), entity: str = "province",
              time: str = "year", controls: Sequence[str] = P1_CONTROLS, cov: str = "robust",
              effects: str | None = None) -> ReplicationTable:
    """Seed 000 table 7: innovation mechanism, eq. 16-17 with M = innovation quantity / quality."""
    inn = list(innovation)
    df, Wm = _p1_args(panel, entity, time, W, "geo", [y, x_qty, x_qual, *inn, *controls], "p1_table7")
    labels = {inn[0]: "innovation quantity", inn[1]: "innovation quality"}
    return _interaction_table("p1_table7", "Seed 000 table 7: network spillover and innovation", df, Wm, y,
                              x_qty, x_qual, inn, labels, entity, time, controls, cov, effects,
                              {"p1_inn_qty_qty": 0, "p1_inn_qual_qty": 1})


def p1_table8(panel: pd.DataFrame, W: np.ndarray | pd.DataFrame | None = None, *,
              x_qty: str = "DF_qty", x_qual: str = "DF_qual", output: str = "Y",
              inputs: Sequence[str] = ("K", "L"), components: Sequence[str] = ("TC", "TE", "TS"),
              inefficiency: str = "scaling", z: Sequence[str] = ("DF_qty",), take_logs: bool = True,
              entity: str = "province", time: str = "year", controls: Sequence[str] = P1_CONTROLS,
              cov: str = "robust", effects: str | None = None) -> ReplicationTable:
    """Seed 000 table 8: NVAR of TC, TE and TS on the quantity and quality networks.

    If ``output`` and ``inputs`` are in the panel, a translog panel SFA (eq. 21,
    :class:`~analysis.sfa.PanelSFA`) is fitted and its TC + TE + TS decomposition (log points
    per year) is used; otherwise the panel must hold the ``components`` columns. The
    inefficiency follows the seed's eq. 19, u_it = h(z_it) u_i* (the scaling model), with the
    province's own infrastructure quantity as ``z`` (the seed does not list its z; DF_qual is not
    used by default because real panels lack it before 4G; ``bc92`` is the alternative). Each NVAR has the component's own lag (eq. 14 with the component as outcome).
    """
    df = _frame(panel, entity, time)
    comps = list(components)
    sfa = None
    if output in df.columns and all(c in df.columns for c in inputs):
        sfa = PanelSFA(df, output, list(inputs), entity, time, form="translog", inefficiency=inefficiency,
                       z=list(z) if inefficiency == "scaling" else None, take_logs=take_logs).fit()
        dec = sfa.decompose()[["TC", "TE", "TS"]].rename(columns=dict(zip(("TC", "TE", "TS"), comps)))
        dec = dec.reset_index()
        df = df.drop(columns=[c for c in comps if c in df.columns]).merge(dec, on=[entity, time], how="left")
    _require(df, [entity, time, x_qty, x_qual, *comps, *controls], "p1_table8", time)
    Wm = _weights(W, "geo", df, entity)
    spec = {f"{xn}: {c}": (xx, c) for xn, xx in (("Quantity", x_qty), ("Quality", x_qual)) for c in comps}
    cols = list(spec)
    results = {c: _nvar(df, comp, xx, Wm, entity, time, list(controls), cov=cov, effects=effects)
               for c, (xx, comp) in spec.items()}
    rows = [("Network W·DF", {c: "beta1" for c in cols}), ("Outcome(t-1)", {c: "beta2" for c in cols})]
    names = dict(zip(comps, ("tc", "te", "ts")))
    tg = {f"p1_het_{names[comp]}_{'qty' if xx == x_qty else 'qual'}": (c, "beta1")
          for c, (xx, comp) in spec.items()}
    return ReplicationTable("p1_table8", "Seed 000 table 8: network spillover on TC, TE and TS", cols, results,
                            rows, "se", flags=_ctrl_flag(cols, controls), targets=tg,
                            notes=["TC, TE, TS from a translog panel SFA (eq. 21-22)" if sfa is not None
                                   else "TC, TE, TS taken from the panel."],
                            details={"W": Wm, "sfa": sfa, "components": df[[entity, time, *comps]]})


# ---------------------------------------------------------------------------------------- seed 001
def _pick(df: pd.DataFrame, name: str | None, candidates: Sequence[str]) -> str:
    if name is not None:
        return name
    for c in candidates:
        if c in df.columns or c in (df.index.names or []):
            return c
    return candidates[0]


def p2_fe(panel: pd.DataFrame, *, y: str = "loggdp", x: str = "logcomputing",
          controls: Sequence[str] = P2_CONTROLS, entity: str | None = None, time: str = "year",
          cluster: str | None = "entity") -> ReplicationTable:
    """Seed 001 annex, fixed-effects equation: loggdp on logcomputing and eight controls.

    Column (1) has city and year effects (the target 0.0426), column (2) year effects only
    (the equation as printed, with mu_t alone). Errors clustered by city.
    """
    entity = _pick(panel, entity, ("city_id", "city"))
    df = _frame(panel, entity, time)
    _require(df, [entity, time, y, x, *controls], "p2_fe", time)
    cols = ["(1) City + year FE", "(2) Year FE"]
    results = {
        cols[0]: TwoWayFE(df, y, [x, *controls], entity, time, cluster=cluster).fit(),
        cols[1]: TwoWayFE(df, y, [x, *controls], entity, time, entity_effects=False, cluster=cluster).fit(),
    }
    rows = [(v, {c: v for c in cols}) for v in (x, *controls)] + [("Constant", {c: "const" for c in cols})]
    flags = {"City FE": {cols[0]: "Yes", cols[1]: "No"}, "Year FE": {c: "Yes" for c in cols}}
    return ReplicationTable("p2_fe", "Seed 001 annex: city fixed-effects equation", cols, results, rows, "se",
                            flags=flags, targets={"p2_fe_computing": (cols[0], x)})


def p2_threshold(panel: pd.DataFrame, *, y: str = "loggdp", x: str = "logcomputing", q: str | None = None,
                 controls: Sequence[str] = P2_CONTROLS, entity: str | None = None, time: str = "year",
                 n_thresholds: int = 2, time_effects: bool = True, trim: float = 0.05, grid: int | None = 300,
                 bootstrap: int = 0, rng: np.random.Generator | int | None = None) -> ReplicationTable:
    """Seed 001 annex: Hansen panel threshold of the logcomputing slope by city GDP.

    Three GDP groups (two thresholds), city and year effects. ``q`` is the threshold
    variable: by default the first of ``pGDP``, ``pgdp``, ``gdp``, ``loggdp`` in the panel.
    ``bootstrap`` > 0 adds Hansen's bootstrap F tests with that many draws.
    """
    entity = _pick(panel, entity, ("city_id", "city"))
    df = _frame(panel, entity, time)
    q = q or next((c for c in ("pGDP", "pgdp", "gdp", "loggdp") if c in df.columns), "gdp")
    _require(df, [entity, time, y, x, q, *controls], "p2_threshold", time)
    mod = PanelThreshold(df, y, [x], q, entity, time, list(controls), n_thresholds=n_thresholds, trim=trim,
                         grid=grid, time_effects=time_effects)
    res = mod.fit()
    col = "Threshold FE"
    k = n_thresholds
    gl = [f"γ{j}" for j in range(1, k + 1)]
    bounds = ["-inf", *gl, "inf"]
    rows = []
    for j in range(k + 1):
        lo, hi = bounds[j], bounds[j + 1]
        cond = f"{q} ≤ {hi}" if j == 0 else (f"{q} > {lo}" if j == k else f"{lo} < {q} ≤ {hi}")
        rows.append((f"{x} × I({cond})", {col: f"{x}_r{j + 1}"}))
    rows += [(v, {col: v}) for v in controls]
    ci = res.extra["ci"]
    stats: dict[str, dict[str, Any]] = {}
    for j, g in enumerate(gl):
        stats[g] = {col: res.stats[f"gamma{j + 1}"]}
        stats[f"{g} 95% CI"] = {col: f"[{ci['lower'].iloc[j]:.4f}, {ci['upper'].iloc[j]:.4f}]"}
    tests = None
    if bootstrap:
        tests = mod.test_thresholds(B=bootstrap, rng=rng)
        for name, r in tests.iterrows():
            stats[f"F {name}"] = {col: float(r["F"])}
            stats[f"F {name} p (bootstrap)"] = {col: float(r["p_value"])}
    flags = {"City FE": {col: "Yes"}, "Year FE": {col: "Yes" if time_effects else "No"}}
    return ReplicationTable("p2_threshold", "Seed 001 annex: panel threshold by city GDP", [col], {col: res},
                            rows, "se", flags=flags, stats=stats, show_r2="R2",
                            targets={"p2_thr_low": (col, f"{x}_r1"), "p2_thr_high": (col, f"{x}_r{k + 1}")},
                            notes=[f"Threshold variable: {q}; regimes by Hansen (1999)."],
                            details={"model": mod, "tests": tests, "regimes": res.extra["regimes"]})


def _ols_robust(df: pd.DataFrame, y: str, xs: list[str], cov: str) -> EstimationResult:
    from statsmodels.regression.linear_model import OLS
    from statsmodels.tools.tools import add_constant

    X = add_constant(df[xs].astype(float), has_constant="add").rename(columns={"const": "const"})
    r = OLS(df[y].astype(float), X).fit(cov_type=cov, use_t=True)
    return EstimationResult(params=r.params, std_errors=r.bse, nobs=int(r.nobs), model_name=f"OLS ({cov})",
                            cov=r.cov_params(), dist="t", df_resid=float(r.df_resid),
                            stats={"R2": float(r.rsquared), "Adj. R2": float(r.rsquared_adj)},
                            extra={"statsmodels": r})


def p2_pivot(panel: pd.DataFrame, *, y: str = "loggdp", x: str = "logcomputing", pivot: str = "pivot",
             interaction: str = "pivotcomputing", controls: Sequence[str] = P2_CONTROLS,
             years: Sequence[int] = (2020, 2021, 2022), time: str = "year", pivot_main: bool = False,
             cov: str = "HC1") -> ReplicationTable:
    """Seed 001 annex: robust OLS on each year's city cross-section with pivot × logcomputing.

    As in the printed 2021 equation the hub dummy enters only through ``pivotcomputing``
    (= pivot × logcomputing, built if absent); ``pivot_main`` adds the dummy itself.
    HC1 errors (Stata ``regress, robust``).
    """
    df = panel if time in panel.columns else panel.reset_index()
    if interaction not in df.columns:
        _require(df, [pivot, x], "p2_pivot")
        df = df.assign(**{interaction: df[pivot].astype(float) * df[x].astype(float)})
    xs = [x, *controls, interaction] + ([pivot] if pivot_main else [])
    _require(df, [time, y, *xs], "p2_pivot", time)
    cols, results = [], {}
    for yr in years:
        sub = df.loc[df[time] == yr, [y, *xs]].dropna()
        if len(sub) <= len(xs) + 1:
            continue
        cols.append(str(yr))
        results[str(yr)] = _ols_robust(sub, y, xs, cov)
    if not cols:
        raise KeyError(f"p2_pivot: no cross-section for years {list(years)}")
    rows = [(v, {c: v for c in cols}) for v in xs] + [("Constant", {c: "const" for c in cols})]
    tg = {"p2_pivot_2021": ("2021", interaction)} if "2021" in cols else {}
    return ReplicationTable("p2_pivot", "Seed 001 annex: hub-node interaction, yearly robust OLS", cols, results,
                            rows, "se", targets=tg)


# ---------------------------------------------------------------------------------------- seed 002
def _fe_flags(columns: Sequence[str], fe: Mapping[str, bool] | None = None) -> dict[str, dict[str, str]]:
    fe = fe or {c: True for c in columns}
    yes = {c: ("Yes" if fe[c] else "No") for c in columns}
    return {"Controls": {c: "Yes" for c in columns}, "Firm FE": yes, "Year FE": dict(yes)}


def _p3_frame(panel, entity, time, cols, table):
    df = _frame(panel, entity, time)
    _require(df, [entity, time, *cols], table, time)
    return df


def p3_table2(panel: pd.DataFrame, variables: Sequence[str] | None = None) -> DescriptiveTable:
    """Seed 002 table 2: descriptive statistics of the firm panel."""
    v = variables or ("EXPY", "IDC", *P3_MECHANISMS_T5, *P3_MECHANISMS_T6, *P3_CONTROLS)
    return DescriptiveTable("p3_table2", "Seed 002 table 2: descriptive statistics", _describe(panel, v),
                            targets={"p3_idc_mean": ("IDC", "mean"), "p3_expy_mean": ("EXPY", "mean")})


def p3_table3(panel: pd.DataFrame, *, y: str = "EXPY", d: str = "IDC", controls: Sequence[str] = P3_CONTROLS,
              entity: str = "firm_id", time: str = "year", cluster: str | None = "entity") -> ReplicationTable:
    """Seed 002 table 3: pooled OLS (1) and firm + year fixed effects (2), firm-clustered, t in brackets."""
    df = _p3_frame(panel, entity, time, [y, d, *controls], "p3_table3")
    cols = ["(1)", "(2)"]
    xs = [d, *controls]
    results = {"(1)": TwoWayFE.pooled(df, y, xs, entity, time, cluster=cluster).fit(),
               "(2)": TwoWayFE(df, y, xs, entity, time, cluster=cluster).fit()}
    rows = [(v, {c: v for c in cols}) for v in xs] + [("Constant", {c: "const" for c in cols})]
    flags = {"Firm FE": {"(1)": "No", "(2)": "Yes"}, "Year FE": {"(1)": "No", "(2)": "Yes"}}
    return ReplicationTable("p3_table3", "Seed 002 table 3: baseline regression", cols, results, rows, "t",
                            flags=flags, targets={"p3_idc_ols": ("(1)", d), "p3_idc_fe": ("(2)", d)})


def _p3_table4_frame(panel, y, d, controls, entity, time, industry, instrument) -> pd.DataFrame:
    df = _p3_frame(panel, entity, time, [y, d, *controls], "p3_table4")
    if instrument not in df.columns:
        _require(df, [industry], "p3_table4")
        df = df.assign(**{instrument: bartik_instrument(df, d, industry, time, entity)})
    return df


def _p3_table4_models(panel, y, d, controls, entity, time, industry, instrument, k, caliper, cluster):
    """Table 4's two estimators on its sample: the Bartik 2SLS with firm and year effects, and the PSM."""
    df = _p3_table4_frame(panel, y, d, controls, entity, time, industry, instrument)
    iv = IV2SLS(df, y, d, instrument, list(controls), entity=entity, time=time, entity_effects=True,
                time_effects=True, cluster=cluster)
    return iv, PSM(df, d, list(controls), y, k=k, caliper=caliper)


def p3_table4_coefficients(panel: pd.DataFrame, *, y: str = "EXPY", d: str = "IDC",
                           controls: Sequence[str] = P3_CONTROLS, entity: str = "firm_id", time: str = "year",
                           industry: str = "industry", instrument: str = "Bartik", k: int = 4,
                           caliper: float | None = None) -> dict[str, tuple[pd.Series, int]]:
    """The coefficients and row counts of the "IV second stage" and "PSM" columns of :func:`p3_table4`
    (the same fits' point estimates, to rounding) without their errors: the 2SLS by
    ``IV2SLS.coefficients`` (no linearmodels) and the two-way FE on the same matched sample. What the
    estimands read (``analysis.estimands``), which must not import the libraries behind the errors."""
    iv, psm = _p3_table4_models(panel, y, d, controls, entity, time, industry, instrument, k, caliper, None)
    fe = TwoWayFE(psm.matched_sample(), y, [d, *controls], entity, time).fit()
    return {"IV second stage": iv.coefficients(), "PSM": (fe.params, int(fe.nobs))}


def p3_table4(panel: pd.DataFrame, *, y: str = "EXPY", d: str = "IDC", controls: Sequence[str] = P3_CONTROLS,
              entity: str = "firm_id", time: str = "year", industry: str = "industry",
              instrument: str = "Bartik", k: int = 4, caliper: float | None = None,
              cluster: str | None = "entity") -> ReplicationTable:
    """Seed 002 table 4: Bartik 2SLS (first and second stage, KP statistics) and PSM.

    The Bartik instrument (:func:`~analysis.iv.bartik_instrument`: leave-one-out industry
    mean of ``d`` at t-1 times the sample growth of ``d``) is built unless ``instrument`` is
    a column. The PSM column matches 1:``k`` on a logit of the controls (nearest neighbour,
    with replacement), drops unmatched rows and re-runs the two-way FE on the matched sample.
    """
    iv_model, psm = _p3_table4_models(panel, y, d, controls, entity, time, industry, instrument, k, caliper, cluster)
    iv, att = iv_model.fit(), psm.fit()
    matched = att.extra["matched"]
    psm_fe = TwoWayFE(matched, y, [d, *controls], entity, time, cluster=cluster).fit()
    first = iv.extra["first_stage"]
    cols = ["IV first stage", "IV second stage", "PSM"]
    results = {cols[0]: first, cols[1]: iv, cols[2]: psm_fe}
    rows = [(instrument, {cols[0]: instrument}), (d, {cols[1]: d, cols[2]: d})]
    rows += [(v, {c: v for c in cols}) for v in controls]
    stats = {"KP rk LM": {cols[0]: iv.stats["KP rk LM"]}, "KP rk LM p": {cols[0]: iv.stats["KP rk LM p"]},
             "KP rk Wald F": {cols[0]: iv.stats["KP rk Wald F"]},
             f"PSM ATT (1:{k})": {cols[2]: att.params.iloc[0]},
             "PSM ATT SE (Abadie-Imbens)": {cols[2]: att.std_errors.iloc[0]}}
    return ReplicationTable("p3_table4", "Seed 002 table 4: endogeneity (Bartik IV and PSM)", cols, results, rows,
                            "t", flags=_fe_flags(cols), stats=stats,
                            targets={"p3_iv_2sls": (cols[1], d), "p3_psm": (cols[2], d)},
                            notes=["Effects absorbed (no constant reported); errors clustered by firm."],
                            details={"psm": att, "matched": matched, "iv": iv})


def _mechanism_table(key, title, panel, mediators, y, d, controls, entity, time, cluster, targets):
    df = _p3_frame(panel, entity, time, [y, d, *controls], key)
    _require(df, mediators, key)
    cols = list(mediators)
    mech = {m: MechanismTest(df, y, d, m, entity, time, list(controls), cluster=cluster).fit() for m in cols}
    results = {m: mech[m].extra["step1"] for m in cols}
    rows = [(d, {c: d for c in cols}), ("Constant", {c: "const" for c in cols})]
    stats = {"Indirect a·b (Sobel z)": {m: mech[m].stats["Sobel z"] for m in cols}}
    return ReplicationTable(key, title, cols, results, rows, "t", flags=_fe_flags(cols), stats=stats,
                            targets={tid: (m, d) for tid, m in targets.items() if m in cols},
                            notes=["Eq. 2 (Jiang 2022 two-step): mechanism variable on IDC, controls, firm "
                                   "and year FE; Sobel z of the Baron-Kenny step is extra."],
                            details={"mechanism": mech})


def p3_table5(panel: pd.DataFrame, *, mediators: Sequence[str] = P3_MECHANISMS_T5, y: str = "EXPY",
              d: str = "IDC", controls: Sequence[str] = P3_CONTROLS, entity: str = "firm_id", time: str = "year",
              cluster: str | None = "entity") -> ReplicationTable:
    """Seed 002 table 5: basic-support mechanisms TS, MD, INVEST (eq. 2)."""
    return _mechanism_table("p3_table5", "Seed 002 table 5: labour and patient-capital mechanisms", panel,
                            list(mediators), y, d, controls, entity, time, cluster,
                            {"p3_mech_ts": mediators[0], "p3_mech_md": mediators[1],
                             "p3_mech_invest": mediators[2]})


def p3_table6(panel: pd.DataFrame, *, mediators: Sequence[str] = P3_MECHANISMS_T6, y: str = "EXPY",
              d: str = "IDC", controls: Sequence[str] = P3_CONTROLS, entity: str = "firm_id", time: str = "year",
              cluster: str | None = "entity") -> ReplicationTable:
    """Seed 002 table 6: innovation and information mechanisms IB, lnCTI, lnDSI, Bullwhip (eq. 2)."""
    return _mechanism_table("p3_table6", "Seed 002 table 6: innovation and information mechanisms", panel,
                            list(mediators), y, d, controls, entity, time, cluster,
                            {"p3_mech_ib": mediators[0], "p3_mech_cti": mediators[1],
                             "p3_mech_dsi": mediators[2], "p3_mech_bullwhip": mediators[3]})


def _subsample_table(key, title, df, groups, y, d, controls, entity, time, cluster, targets):
    cols, results = [], {}
    for name, mask in groups.items():
        sub = df.loc[mask]
        if sub.empty:
            continue
        cols.append(name)
        results[name] = TwoWayFE(sub, y, [d, *controls], entity, time, cluster=cluster).fit()
    rows = [(d, {c: d for c in cols}), ("Constant", {c: "const" for c in cols})]
    return ReplicationTable(key, title, cols, results, rows, "t", flags=_fe_flags(cols),
                            targets={tid: (c, d) for tid, c in targets.items() if c in cols})


def p3_table7(panel: pd.DataFrame, *, ownership: str = "ownership",
              labels: Mapping[str, Sequence[str]] = P3_OWNERSHIP, y: str = "EXPY", d: str = "IDC",
              controls: Sequence[str] = P3_CONTROLS, entity: str = "firm_id", time: str = "year",
              cluster: str | None = "entity") -> ReplicationTable:
    """Seed 002 table 7: two-way FE by ownership (joint venture, private, state-owned).

    ``labels`` maps each column to the ``ownership`` codes it covers (case-insensitive).
    """
    df = _p3_frame(panel, entity, time, [y, d, ownership, *controls], "p3_table7")
    own = df[ownership].astype(str).str.strip().str.lower()
    groups = {c: own.isin([v.lower() for v in vals]).to_numpy() for c, vals in labels.items()}
    names = list(labels)
    return _subsample_table("p3_table7", "Seed 002 table 7: heterogeneity by ownership", df, groups, y, d,
                            controls, entity, time, cluster,
                            {"p3_het_jv": names[0], "p3_het_private": names[1], "p3_het_soe": names[2]})


def p3_table8(panel: pd.DataFrame, *, regulated: str = "regulated", open_data: str = "open_data",
              y: str = "EXPY", d: str = "IDC", controls: Sequence[str] = P3_CONTROLS, entity: str = "firm_id",
              time: str = "year", cluster: str | None = "entity") -> ReplicationTable:
    """Seed 002 table 8: two-way FE in regulated / competitive industries and with / without a data platform."""
    df = _p3_frame(panel, entity, time, [y, d, regulated, open_data, *controls], "p3_table8")
    reg = df[regulated].astype(float).to_numpy()
    od = df[open_data].astype(float).to_numpy()
    groups = {"Regulated": reg == 1, "Competitive": reg == 0, "Data platform": od == 1, "No data platform": od == 0}
    return _subsample_table("p3_table8", "Seed 002 table 8: heterogeneity by industry type and data platform", df,
                            groups, y, d, controls, entity, time, cluster,
                            {"p3_het_regulated": "Regulated", "p3_het_competitive": "Competitive",
                             "p3_het_open_data": "Data platform", "p3_het_no_open_data": "No data platform"})


# ---------------------------------------------------------------------------------------- seed 003
def p4_index_gdp(panel: pd.DataFrame, *, y: str = "gdp_bn_cny", x: str = "compute_index", entity: str = "code",
                 time: str = "year", window: tuple[int, int] = (2016, 2023), cluster: str | None = "entity") -> ReplicationTable:
    """Seed 003's "compute index +1 point, GDP +0.18 %": ln GDP on the compute development index (points)
    with province and year effects over ``window``, errors clustered by province (the seed cites the
    number without its regression; this is the two-way FE reading of it)."""
    df = _frame(panel, entity, time)
    _require(df, [entity, time, y, x], "p4_index_gdp")
    df = df[(df[time] >= window[0]) & (df[time] <= window[1])].copy()
    if df.empty:
        raise KeyError(f"p4_index_gdp: the panel has no years in the window {window[0]}-{window[1]}")
    df["lnGDP"] = np.log(df[y].astype(float))
    col = "Two-way FE"
    results = {col: TwoWayFE(df, "lnGDP", [x], entity, time, cluster=cluster).fit()}
    return ReplicationTable("p4_index_gdp", "Seed 003: GDP and the compute development index", [col], results,
                            [(x, {col: x})], "se", flags={"Province FE": {col: "Yes"}, "Year FE": {col: "Yes"}},
                            targets={"p4_index_gdp": (col, x)})


# ---------------------------------------------------------------------------------------- registry
TABLES: dict[str, tuple[str, Callable[..., Any]]] = {
    "p1_table1": ("000", p1_table1), "p1_table2": ("000", p1_table2), "p1_table3": ("000", p1_table3),
    "p1_table4": ("000", p1_table4), "p1_table5": ("000", p1_table5), "p1_table6": ("000", p1_table6),
    "p1_table7": ("000", p1_table7), "p1_table8": ("000", p1_table8),
    "p2_fe": ("001", p2_fe), "p2_threshold": ("001", p2_threshold), "p2_pivot": ("001", p2_pivot),
    "p3_table2": ("002", p3_table2), "p3_table3": ("002", p3_table3), "p3_table4": ("002", p3_table4),
    "p3_table5": ("002", p3_table5), "p3_table6": ("002", p3_table6), "p3_table7": ("002", p3_table7),
    "p3_table8": ("002", p3_table8),
    "p4_index_gdp": ("003", p4_index_gdp),
}

# Targets covered by each table with the default variable names: id -> (column, parameter).
DEFAULT_TARGETS: dict[str, dict[str, tuple[str, str]]] = {
    "p1_table2": {"p1_nvar_qty_beta1": ("(8)", "beta1"), "p1_nvar_qty_beta2": ("(8)", "beta2"),
                  "p1_nvar_qty_alpha": ("(8)", "alpha")},
    "p1_table3": {"p1_nvar_qual_beta1": ("(8)", "beta1"), "p1_nvar_qual_beta2": ("(8)", "beta2"),
                  "p1_nvar_qual_alpha": ("(8)", "alpha")},
    "p1_table4": {"p1_nvar_qty_econ": ("Quantity: econ", "beta1"), "p1_nvar_qty_pop": ("Quantity: pop", "beta1"),
                  "p1_nvar_qual_econ": ("Quality: econ", "beta1"), "p1_nvar_qual_pop": ("Quality: pop", "beta1")},
    "p1_table6": {
        "p1_mis_k_qty": ("Quantity: tau_K", "tau_K:network"), "p1_mis_l_qty": ("Quantity: tau_L", "tau_L:network"),
        "p1_mis_k_qual": ("Quality: tau_K", "tau_K:network"), "p1_mis_l_qual": ("Quality: tau_L", "tau_L:network")},
    "p1_table7": {
        "p1_inn_qty_qty": ("Quantity: patents_qty", "patents_qty:network"),
        "p1_inn_qual_qty": ("Quantity: patents_qual", "patents_qual:network")},
    "p1_table8": {f"p1_het_{c.lower()}_{n}": (f"{x}: {c}", "beta1") for x, n in (("Quantity", "qty"),
                  ("Quality", "qual")) for c in ("TC", "TE", "TS")},
    "p2_fe": {"p2_fe_computing": ("(1) City + year FE", "logcomputing")},
    "p2_threshold": {"p2_thr_low": ("Threshold FE", "logcomputing_r1"),
                     "p2_thr_high": ("Threshold FE", "logcomputing_r3")},
    "p2_pivot": {"p2_pivot_2021": ("2021", "pivotcomputing")},
    "p3_table3": {"p3_idc_ols": ("(1)", "IDC"), "p3_idc_fe": ("(2)", "IDC")},
    "p3_table4": {"p3_iv_2sls": ("IV second stage", "IDC"), "p3_psm": ("PSM", "IDC")},
    "p3_table5": {"p3_mech_ts": ("TS", "IDC"), "p3_mech_md": ("MD", "IDC"), "p3_mech_invest": ("INVEST", "IDC")},
    "p3_table6": {"p3_mech_ib": ("IB", "IDC"), "p3_mech_cti": ("lnCTI", "IDC"), "p3_mech_dsi": ("lnDSI", "IDC"),
                  "p3_mech_bullwhip": ("Bullwhip", "IDC")},
    "p3_table7": {"p3_het_jv": ("Joint venture", "IDC"), "p3_het_private": ("Private", "IDC"),
                  "p3_het_soe": ("State-owned", "IDC")},
    "p3_table8": {"p3_het_regulated": ("Regulated", "IDC"), "p3_het_competitive": ("Competitive", "IDC"),
                  "p3_het_open_data": ("Data platform", "IDC"), "p3_het_no_open_data": ("No data platform", "IDC")},
    "p4_index_gdp": {"p4_index_gdp": ("Two-way FE", "compute_index")},
}

_PANEL_KEYS = {"000": ("000", "p1", "province", "provinces"), "001": ("001", "p2", "city", "cities"),
               "002": ("002", "p3", "firm", "firms"), "003": ("003", "p4", "economy")}


class Replications(dict):
    """Tables keyed by table name (``p1_table2``, ...); ``skipped`` maps tables not run to the reason."""

    def __init__(self, *args, skipped: Mapping[str, str] | None = None, **kw):
        super().__init__(*args, **kw)
        self.skipped = dict(skipped or {})

    def compare(self, study: str | None = None, targets_path: str | Path | None = None) -> pd.DataFrame:
        return compare(self, study, targets_path)

    def to_string(self) -> str:
        parts = [t.to_string() for t in self.values()]
        parts += [f"[{k}] not run: {v}" for k, v in self.skipped.items()]
        return "\n\n".join(parts)

    def __str__(self) -> str:
        return self.to_string()


def _panel_for(panels: Mapping[str, pd.DataFrame], seed: str) -> pd.DataFrame | None:
    for k in _PANEL_KEYS[seed]:
        if k in panels and panels[k] is not None:
            return panels[k]
    return None


def replicate_all(panels: Mapping[str, pd.DataFrame], options: Mapping[str, Mapping[str, Any]] | None = None,
                  errors: str = "skip", tables: Sequence[str] | None = None) -> Replications:
    """Run every table (or those named in ``tables``) whose panel and columns are present.

    ``panels`` maps a study (``'000'``/``'province'``, ``'001'``/``'city'``, ``'002'``/``'firm'``) to
    its panel; ``options`` maps a table name to keyword arguments of its function. Tables whose
    inputs are missing (a ``KeyError``) are listed in ``.skipped`` (``errors='raise'`` re-raises).
    """
    if errors not in ("skip", "raise"):
        raise ValueError("errors must be 'skip' or 'raise'")
    options = dict(options or {})
    wanted = list(TABLES) if tables is None else list(tables)
    unknown = (set(options) | set(wanted)) - set(TABLES)
    if unknown:
        raise ValueError(f"unknown tables: {sorted(unknown)}; known: {', '.join(TABLES)}")
    out, skipped = {}, {}
    for name in wanted:
        seed, fn = TABLES[name]
        panel = _panel_for(panels, seed)
        if panel is None:
            skipped[name] = f"no panel for seed {seed}"
            continue
        try:
            out[name] = fn(panel, **options.get(name, {}))
        except KeyError as e:
            if errors == "raise":
                raise
            skipped[name] = str(e.args[0]) if e.args else repr(e)
    return Replications(out, skipped=skipped)


def compare(obj: Any, study: str | None = None, targets_path: str | Path | None = None) -> pd.DataFrame:
    """Our estimates against the published targets, one row per covered target of ``targets.csv``.

    ``obj`` is a :class:`ReplicationTable`/:class:`DescriptiveTable`, an iterable or mapping of
    them (e.g. :func:`replicate_all`'s result), or a mapping column -> EstimationResult of one
    table, in which case ``study`` names the table (``'p3_table3'``) and the default column and
    parameter names of :data:`DEFAULT_TARGETS` are used. Otherwise ``study`` (``'000'``,
    ``'001'``, ``'002'``) keeps only that seed's targets. Columns: target, table, statistic,
    estimate, se, published, published_se, diff_in_se = (estimate - published) / published_se
    (NaN without a published SE), n, n_published.
    """
    targets = load_targets(targets_path)
    if isinstance(obj, (ReplicationTable, DescriptiveTable)):
        out = _compare_rows(obj, targets)
    elif isinstance(obj, Mapping) and obj and all(isinstance(v, EstimationResult) for v in obj.values()):
        if study not in DEFAULT_TARGETS:
            raise ValueError(f"with a dict of results, study must name a table: {sorted(DEFAULT_TARGETS)}")
        t = ReplicationTable(study, study, list(obj), dict(obj), [], targets=DEFAULT_TARGETS[study])
        return _compare_rows(t, targets)
    else:
        items = obj.values() if isinstance(obj, Mapping) else obj
        frames = [_compare_rows(t, targets) for t in items]
        out = (pd.concat(frames, ignore_index=True) if frames
               else pd.DataFrame(columns=list(COMPARE_COLUMNS)))
    if study is not None:
        seed = {"p1": "000", "p2": "001", "p3": "002"}.get(study, study)
        out = out.loc[out["target"].map(targets["seed"]).eq(seed).to_numpy()].reset_index(drop=True)
    return out


def compare_all(obj: Mapping[str, Any], study: str | None = None, targets_path: str | Path | None = None,
                options: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """:func:`compare` over all tables: ``obj`` is a :class:`Replications` or a dict of panels."""
    if not isinstance(obj, Replications):
        obj = replicate_all(obj, options)
    return compare(obj, study, targets_path)
