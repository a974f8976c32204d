"""Measurement definitions that the simulation and the analysis layer share: the first principal
component index (seed 000's DF quantity) and the 4G/5G quality index (seed 000 eq. 23-25).

They live in ``sim`` so that the province study can build its indices with them while
``analysis.indices`` re-exports them for users: layers import downward only. A few lines of
numpy each; no library provides the seed's definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd


@dataclass
class PCAIndexResult:
    """First principal component: loadings (unit length), explained variance share."""

    loadings: pd.Series
    explained_variance_ratio: float
    eigenvalues: np.ndarray
    mean: pd.Series
    scale: pd.Series
    nobs: int


def pca_index(
    df: pd.DataFrame, columns: Sequence[str], standardise: bool = True
) -> tuple[pd.Series, PCAIndexResult]:
    """First principal component score of ``columns`` (seed 000 DF quantity).

    Columns are centred and, with ``standardise``, divided by their standard
    deviation (ddof = 1), i.e. PCA of the correlation matrix. The sign is fixed
    so that the loadings sum to a positive number. Rows with missing values get
    a missing score.
    """
    cols = list(columns)
    X = df[cols].astype(float)
    ok = X.notna().all(axis=1).to_numpy()
    A = X.to_numpy()[ok]
    mean = A.mean(0)
    scale = A.std(0, ddof=1) if standardise else np.ones(A.shape[1])
    Z = (A - mean) / scale
    _, sv, vt = np.linalg.svd(Z, full_matrices=False)
    v = vt[0]
    if v.sum() < 0:
        v = -v
    eig = sv**2 / (len(Z) - 1)
    scores = np.full(len(X), np.nan)
    scores[ok] = Z @ v
    res = PCAIndexResult(
        loadings=pd.Series(v, index=cols, name="loading"),
        explained_variance_ratio=float(eig[0] / eig.sum()),
        eigenvalues=eig,
        mean=pd.Series(mean, index=cols),
        scale=pd.Series(scale, index=cols),
        nobs=int(ok.sum()),
    )
    return pd.Series(scores, index=df.index, name="pc1"), res


def df_quality(users_4g, users_5g, year, switch_year: int = 2019):
    """Compute-infrastructure quality index of seed 000 eq. (23)–(25).

    ln(55 ln 4G) before ``switch_year`` and ln(55 ln 4G + 334 ln 5G) from it, where
    55 and 334 are the average 4G and 5G speeds in Mbps and 4G, 5G are user counts.
    The seed does not state the unit of the counts; the index depends on it, so use
    one unit throughout (provincial yearbooks report 10k users, 万户). 5G users are
    ignored before the switch; non-positive logarithm arguments give NaN.
    Vectorised; returns a Series when any input is a Series, else an ndarray.
    """
    idx = next((v.index for v in (users_4g, users_5g, year) if isinstance(v, pd.Series)), None)
    g4 = np.asarray(users_4g, dtype=float)
    g5 = np.asarray(users_5g, dtype=float)
    yr = np.asarray(year, dtype=float)
    g4, g5, yr = np.broadcast_arrays(g4, g5, yr)
    with np.errstate(divide="ignore", invalid="ignore"):
        l4 = np.where(g4 > 0, np.log(np.where(g4 > 0, g4, 1.0)), np.nan)
        l5 = np.where(g5 > 0, np.log(np.where(g5 > 0, g5, 1.0)), np.nan)
        inner = np.where(yr >= switch_year, 55.0 * l4 + 334.0 * l5, 55.0 * l4)
        out = np.where(inner > 0, np.log(np.where(inner > 0, inner, 1.0)), np.nan)
    out = np.where(np.isnan(yr), np.nan, out)
    return pd.Series(out, index=idx, name="DF_quality") if idx is not None else out


def compute_index(capacity_pc: np.ndarray, used_pc: np.ndarray, access_ms: np.ndarray,
                  reference: tuple[float, float, float]) -> np.ndarray:
    """Compute development index of provinces (points; 100 = the national reference values).

    The geometric mean of three components, each relative to its national reference value:
    data-centre capacity per person (PFLOPS per million people), compute used by the province's
    users per person (PFLOP-h per person) and network access (the inverse of the mean round-trip
    latency to the other provinces). A stand-in for CAICT's compute development index, which
    seed 003 cites for "index +1 point, GDP +0.18 %"; its components are capacity, use and
    transmission in the same spirit. ``reference`` is (capacity_pc, used_pc, access_ms) nationally.
    """
    cap = np.maximum(np.asarray(capacity_pc, dtype=float), 1e-9) / reference[0]
    use = np.maximum(np.asarray(used_pc, dtype=float), 1e-9) / reference[1]
    acc = reference[2] / np.maximum(np.asarray(access_ms, dtype=float), 1e-9)
    return 100.0 * np.exp((np.log(cap) + np.log(use) + np.log(acc)) / 3.0)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` weighted by ``weights`` (the smallest value whose cumulative weight
    reaches q of the total; NaN without weight): e.g. the p99 latency of work served, weighted by volume.
    The bench and the model's yearly summary use it, so their p99 latencies are the same number."""
    values, weights = np.asarray(values, dtype=float).ravel(), np.asarray(weights, dtype=float).ravel()
    if weights.sum() <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, q * cum[-1], side="left").clip(0, len(v) - 1)])
