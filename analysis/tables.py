"""Several estimation results side by side in one table, exported as text, Markdown, LaTeX or HTML.

The SuanLi counterpart of ``linearmodels.panel.compare`` and pyfixest's ``etable``: one column per
result, for each parameter the coefficient with significance stars (*** 1 %, ** 5 %, * 10 %, the
studies' convention, :func:`analysis.results.stars`) over its standard error (or t statistic) in
parentheses, then N, R² where the result has one, and any fit statistics asked for. Works with
:class:`~analysis.results.EstimationResult` and with any object exposing ``params``, ``std_errors``
(or ``bse``), ``pvalues`` and ``nobs`` (linearmodels and statsmodels results).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.results import stars as _stars

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _series(res: Any, *names: str) -> pd.Series:
    for n in names:
        v = getattr(res, n, None)
        if v is not None:
            return pd.Series(v, dtype=float)
    raise TypeError(f"{type(res).__name__} has none of {names}: not an estimation result")


def _rsquared(res: Any) -> float:
    st = getattr(res, "stats", None)
    if isinstance(st, Mapping) and "R2" in st:
        return float(st["R2"])
    try:
        return float(getattr(res, "rsquared"))
    except (AttributeError, TypeError, ValueError):
        return np.nan


def _latex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


@dataclass
class ResultsTable:
    """Numbers and formatted cells of a comparison of results (see :func:`compare`).

    ``params``, ``std_errors``, ``tstats`` and ``pvalues`` are parameter x model DataFrames (NaN where a
    model lacks the parameter); ``nobs`` and ``rsquared`` are Series by model; ``stats`` holds the
    requested fit statistics (statistic x model).
    """

    params: pd.DataFrame
    std_errors: pd.DataFrame
    tstats: pd.DataFrame
    pvalues: pd.DataFrame
    nobs: pd.Series
    rsquared: pd.Series
    stats: pd.DataFrame
    digits: int = 4
    bracket: str = "se"
    show_stars: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    title: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return list(self.params.columns)

    def _num(self, v: float) -> str:
        return "" if not np.isfinite(v) else f"{v:.{self.digits}f}"

    def _stat(self, v: Any) -> str:
        if not isinstance(v, (int, float, np.integer, np.floating)):
            return str(v)
        v = float(v)
        if np.isfinite(v) and v == round(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        return self._num(v)

    def rows(self) -> list[tuple[str, list[str]]]:
        """The table body as (row label, cells) pairs: coefficient rows, bracket rows, N, R², statistics."""
        out = []
        inner = self.std_errors if self.bracket == "se" else self.tstats
        for p in self.params.index:
            coef, brk = [], []
            for m in self.models:
                b = self.params.at[p, m]
                if not np.isfinite(b):
                    coef.append("")
                    brk.append("")
                    continue
                s = _stars(self.pvalues.at[p, m]) if self.show_stars else ""
                coef.append(f"{self._num(b)}{s}")
                v = inner.at[p, m]
                brk.append(f"({self._num(v)})" if np.isfinite(v) else "")
            out.append((self.labels.get(p, p), coef))
            out.append(("", brk))
        out.append(("N", [f"{int(n):,}" if np.isfinite(n) else "" for n in self.nobs]))
        if np.isfinite(self.rsquared.to_numpy(dtype=float)).any():
            out.append(("R²", [self._num(r) for r in self.rsquared]))
        for s in self.stats.index:
            out.append((s, [self._stat(v) for v in self.stats.loc[s]]))
        return out

    def to_frame(self) -> pd.DataFrame:
        """Formatted cells as a DataFrame (rows as :meth:`rows`, one column per model)."""
        r = self.rows()
        return pd.DataFrame([c for _, c in r], index=[lab for lab, _ in r], columns=self.models)

    def _footer(self) -> str:
        what = "Standard errors" if self.bracket == "se" else "t statistics"
        base = f"{what} in parentheses." + (" * p<0.10, ** p<0.05, *** p<0.01." if self.show_stars else "")
        return " ".join([base, *self.notes])

    def to_string(self) -> str:
        r = self.rows()
        head = ["", *self.models]
        body = [[lab, *cells] for lab, cells in r]
        widths = [max(len(row[j]) for row in [head, *body]) for j in range(len(head))]

        def line(row):
            return "  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(row)).rstrip()

        total = len(line(head))
        n_coef = 2 * len(self.params.index)
        out = ([self.title] if self.title else []) + ["=" * total, line(head), "-" * total]
        out += [line(b) for b in body[:n_coef]] + ["-" * total] + [line(b) for b in body[n_coef:]]
        out += ["=" * total, self._footer()]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_string()

    __repr__ = __str__

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown table (title as a bold line, footer as a note)."""
        def esc(s: str) -> str:
            return s.replace("|", r"\|").replace("*", r"\*")

        lines = [f"**{self.title}**", ""] if self.title else []
        lines.append("| | " + " | ".join(esc(m) for m in self.models) + " |")
        lines.append("|---|" + "|".join("---:" for _ in self.models) + "|")
        for lab, cells in self.rows():
            lines.append(f"| {esc(lab)} | " + " | ".join(esc(c) for c in cells) + " |")
        lines += ["", esc(self._footer())]
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        """A booktabs ``tabular`` (no float environment), stars as superscripts."""
        def cell(c: str) -> str:
            core = c.rstrip("*")
            st = c[len(core):]
            return _latex(core) + (f"$^{{{st}}}$" if st else "")

        cols = "l" + "c" * len(self.models)
        lines = [f"\\begin{{tabular}}{{{cols}}}", r"\toprule",
                 " & " + " & ".join(_latex(m) for m in self.models) + r" \\", r"\midrule"]
        n_coef = 2 * len(self.params.index)
        for j, (lab, cells) in enumerate(self.rows()):
            if j == n_coef:
                lines.append(r"\midrule")
            lines.append(_latex(lab).replace("R²", r"$R^2$") + " & " + " & ".join(cell(c) for c in cells) + r" \\")
        lines += [r"\bottomrule", f"\\multicolumn{{{len(self.models) + 1}}}{{l}}{{\\footnotesize "
                  f"{_latex(self._footer())}}} \\\\", r"\end{tabular}"]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """A self-contained HTML ``<table>`` with a caption (title) and a footer row."""
        n = len(self.models) + 1
        parts = ["<table class=\"suanli-compare\">"]
        if self.title:
            parts.append(f"<caption>{html.escape(self.title)}</caption>")
        parts.append("<thead><tr><th></th>" + "".join(f"<th>{html.escape(m)}</th>" for m in self.models)
                     + "</tr></thead><tbody>")
        for lab, cells in self.rows():
            parts.append(f"<tr><th>{html.escape(lab)}</th>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                         + "</tr>")
        parts.append(f"</tbody><tfoot><tr><td colspan=\"{n}\">{html.escape(self._footer())}</td></tr></tfoot>")
        parts.append("</table>")
        return "\n".join(parts) + "\n"

    def _repr_html_(self) -> str:
        return self.to_html()


def compare(
    results: Mapping[str, Any] | Sequence[Any],
    *,
    params: Sequence[str] | None = None,
    drop: Sequence[str] = (),
    stats: Sequence[str] = (),
    bracket: str = "se",
    digits: int = 4,
    show_stars: bool = True,
    labels: Mapping[str, str] | None = None,
    title: str = "",
    notes: Sequence[str] = (),
) -> ResultsTable:
    """One table of several results: a dict (model name -> result) or a list (named (1), (2), ...).

    ``params`` fixes which parameters appear and in what order (default: the union in order of
    first appearance), ``drop`` removes some (e.g. ``const``); ``stats`` names entries of each
    result's ``stats`` to add below N and R² (blank where a result lacks one); ``bracket`` is
    ``'se'`` or ``'t'``; ``labels`` renames parameters for display.
    """
    if bracket not in ("se", "t"):
        raise ValueError(f"bracket = {bracket!r}: allowed 'se' or 't'")
    if isinstance(results, Mapping):
        items = [(str(k), v) for k, v in results.items()]
    else:
        items = [(f"({j + 1})", v) for j, v in enumerate(results)]
    if not items:
        raise ValueError("results is empty: give at least one estimation result")
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    b = {n: _series(r, "params") for n, r in items}
    se = {n: _series(r, "std_errors", "bse").reindex(b[n].index) for n, r in items}
    pv = {n: _series(r, "pvalues").reindex(b[n].index) for n, r in items}
    order = list(params) if params is not None else list(dict.fromkeys(p for n in names for p in b[n].index))
    order = [p for p in order if p not in set(drop)]
    P = pd.DataFrame({n: b[n].reindex(order) for n in names}, index=order)
    S = pd.DataFrame({n: se[n].reindex(order) for n in names}, index=order)
    pvals = pd.DataFrame({n: pv[n].reindex(order) for n in names}, index=order)
    nobs = pd.Series({n: float(getattr(r, "nobs", np.nan)) for n, r in items})
    r2 = pd.Series({n: _rsquared(r) for n, r in items})
    st = pd.DataFrame({n: [(getattr(r, "stats", {}) or {}).get(s, np.nan) for s in stats] for n, r in items},
                      index=list(stats), dtype=object)
    return ResultsTable(P, S, P / S, pvals, nobs, r2, st, digits, bracket, show_stars, dict(labels or {}), title,
                        list(notes))
