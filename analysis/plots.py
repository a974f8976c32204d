"""Figures of estimation results (matplotlib ``Figure`` objects, no pyplot state): the event study of a
staggered difference-in-differences result."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd


def plot_event_study(result: Any, *, title: str | None = None, unit: str = "outcome units",
                     source: str | None = None, truth: pd.Series | Mapping[int, float] | None = None):
    """Event-study figure of a staggered-DiD result: ATT by event time with 95 % pointwise CIs.

    ``result`` is the :class:`~analysis.results.EstimationResult` of
    :class:`analysis.staggered_did.StaggeredDiD` (its ``extra['event_study']``: ``att``, ``se``,
    ``ci_lower``, ``ci_upper`` by ``event_time``). ``unit`` labels the y axis; ``truth`` (event time
    -> true effect) is drawn as a reference line when known. Returns a matplotlib ``Figure``.
    """
    from matplotlib.figure import Figure

    es = result.extra.get("event_study") if hasattr(result, "extra") else None
    if es is None or len(es) == 0:
        raise ValueError("result has no event study (extra['event_study']): fit StaggeredDiD first")
    es = es.sort_index()
    k = es.index.to_numpy(dtype=float)
    att = es["att"].to_numpy(dtype=float)
    lo, hi = es["ci_lower"].to_numpy(dtype=float), es["ci_upper"].to_numpy(dtype=float)
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.subplots()
    pre = k < 0
    for mask, colour, lab in ((pre, "#7f7f7f", "before adoption"), (~pre, "#1f5fa8", "after adoption")):
        if mask.any():
            ax.errorbar(k[mask], att[mask], yerr=[att[mask] - lo[mask], hi[mask] - att[mask]], fmt="o",
                        color=colour, ecolor=colour, capsize=3, label=f"ATT, 95 % CI ({lab})")
    if truth is not None:
        t = pd.Series(truth, dtype=float).sort_index()
        ax.plot(t.index.to_numpy(dtype=float), t.to_numpy(), color="#c44e52", linestyle="--", marker="x",
                label="true effect")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.axvline(-0.5, color="0.5", linestyle=":", linewidth=1.0)
    ax.set_xlabel("event time (periods since adoption)")
    ax.set_ylabel(f"ATT ({unit})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    name = getattr(result, "model_name", "") or "staggered DiD"
    ax.set_title(title or f"Event study: effect by time since adoption ({name})", fontsize=11)
    src = source or (f"Source: SuanLi analysis, {name}, N = {getattr(result, 'nobs', 0):,} observations; "
                     "pointwise 95 % confidence intervals.")
    fig.get_layout_engine().set(rect=(0, 0.05, 1, 0.95))
    fig.text(0.01, 0.01, src, fontsize=7, color="0.3", ha="left", va="bottom")
    return fig
