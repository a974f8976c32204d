"""Input checks shared by every SuanLi estimator, and the one error they raise.

Each estimator validates its panel before estimating: the columns exist and are numeric,
values are finite (NaN is a missing value where the estimator allows it, never inf), N and
T are large enough, the (entity, time) index has no duplicates, and no regressor is constant
or collinear where that breaks identification. Every failure is a :class:`PanelError` whose
message is one line naming the estimator, the column and the problem.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

SMALL_FIT_CELLS = 200_000  # rows x columns below which BLAS runs single-threaded (thread start-up dominates)


class PanelError(ValueError, KeyError):
    """Bad estimator input: one line naming the estimator, the column and what is wrong.

    A ValueError (bad values) and a KeyError (missing columns), so code that skips tables
    whose inputs are missing (``analysis.replicate.replicate_all``) keeps working.
    """

    def __str__(self) -> str:
        return Exception.__str__(self)


def fmt(v) -> str:
    """A label or value for a message: numpy scalars as Python values, integral floats as ints."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return repr(v) if isinstance(v, str) else str(v)


def _where(df: pd.DataFrame, mask: np.ndarray, keys: Sequence[str]) -> str:
    """' (3 rows, first at entity=a, time=2010)' for the rows flagged by ``mask``."""
    idx = np.flatnonzero(mask)
    n = idx.size
    head = f"{n} row{'s' if n != 1 else ''}"
    ks = [k for k in keys if k in df.columns]
    if n and ks:
        head += ", first at " + ", ".join(f"{k}={fmt(df[k].iloc[idx[0]])}" for k in ks)
    return f" ({head})"


def require_columns(df: pd.DataFrame, cols: Iterable[str], who: str) -> None:
    """Raise unless every column of ``cols`` is in ``df``."""
    missing = [c for c in dict.fromkeys(cols) if c is not None and c not in df.columns]
    if missing:
        raise PanelError(f"{who}: columns not in data: {missing}; available: {list(map(str, df.columns))[:30]}")


def numeric_columns(df: pd.DataFrame, cols: Iterable[str], who: str, keys: Sequence[str] = (),
                    allow_nan: bool = True) -> pd.DataFrame:
    """``df[cols]`` as float64, raising on non-numeric values, on inf, and on NaN unless ``allow_nan``.

    Booleans count as 0/1. A string that is not a number names its column and first row.
    """
    out = {}
    for c in dict.fromkeys(cols):
        s = df[c]
        if pd.api.types.is_bool_dtype(s):
            v = s.astype(float).to_numpy()
        elif pd.api.types.is_numeric_dtype(s):
            v = s.to_numpy(dtype=float, na_value=np.nan)
        else:
            conv = pd.to_numeric(s, errors="coerce")
            bad = conv.isna().to_numpy() & s.notna().to_numpy()
            if bad.any():
                first = s[bad].iloc[0]
                raise PanelError(f"{who}: column {c!r} is not numeric: value {fmt(first)}{_where(df, bad, keys)}")
            v = conv.to_numpy(dtype=float, na_value=np.nan)
        inf = np.isinf(v)
        if inf.any():
            raise PanelError(f"{who}: column {c!r} has infinite values{_where(df, inf, keys)}; "
                             "only finite numbers are allowed")
        if not allow_nan:
            nan = np.isnan(v)
            if nan.any():
                raise PanelError(f"{who}: column {c!r} has NaN values{_where(df, nan, keys)}; "
                                 "this estimator needs complete data")
        out[c] = v
    return pd.DataFrame(out, index=df.index)


def no_duplicates(df: pd.DataFrame, keys: Sequence[str], who: str) -> None:
    """Raise if two rows share the same values of ``keys`` (e.g. entity and time)."""
    keys = [k for k in keys if k is not None]
    if not keys:
        return
    dup = df.duplicated(keys, keep=False).to_numpy()
    if dup.any():
        raise PanelError(f"{who}: duplicate ({', '.join(keys)}) rows{_where(df, dup, keys)}; "
                         "each (entity, time) pair may appear once")


def duplicate_codes(df: pd.DataFrame, ecode: np.ndarray, tcode: np.ndarray, keys: Sequence[str], who: str) -> None:
    """As :func:`no_duplicates` from integer entity and time codes (O(n), for large panels)."""
    n_t = int(tcode.max()) + 1 if tcode.size else 1
    key = ecode.astype(np.int64) * n_t + tcode
    cnt = np.bincount(key)
    if cnt.size and cnt.max() > 1:
        dup = cnt[key] > 1
        raise PanelError(f"{who}: duplicate ({', '.join(keys)}) rows{_where(df, dup, keys)}; "
                         "each (entity, time) pair may appear once")


def missing_keys(df: pd.DataFrame, keys: Sequence[str], who: str) -> None:
    """Raise if an entity, time or cluster identifier is missing."""
    for k in keys:
        if k is None:
            continue
        nan = df[k].isna().to_numpy()
        if nan.any():
            raise PanelError(f"{who}: identifier column {k!r} has missing values{_where(df, nan, keys)}")


def enough(who: str, n_obs: int, n_params: int, *, n_entities: int | None = None, min_entities: int = 1,
           n_periods: int | None = None, min_periods: int = 1, entity: str = "entity",
           time: str = "time") -> None:
    """Raise unless the sample has more observations than parameters and enough entities and periods."""
    if n_entities is not None and n_entities < min_entities:
        raise PanelError(f"{who}: {n_entities} distinct values of {entity!r}; at least {min_entities} needed")
    if n_periods is not None and n_periods < min_periods:
        raise PanelError(f"{who}: {n_periods} distinct value{'s' if n_periods != 1 else ''} of {time!r}; "
                         f"at least {min_periods} periods needed")
    if n_obs <= n_params:
        raise PanelError(f"{who}: {n_obs} usable observations for {n_params} parameters; more observations "
                         "are needed (check NaNs and the sample)")


def constant_columns(X: np.ndarray, names: Sequence[str], who: str, why: str = "") -> None:
    """Raise naming the first column of ``X`` that takes a single value."""
    if X.shape[0] == 0:
        return
    ptp = np.ptp(X, axis=0)
    for j in np.flatnonzero(ptp == 0):
        raise PanelError(f"{who}: regressor {names[j]!r} is constant (= {X[0, j]:.6g}){why}; "
                         "it is not identified, drop it")


def collinear_columns(X: np.ndarray, names: Sequence[str], who: str, tol: float = 1e-9, why: str = "") -> None:
    """Raise naming the first column of ``X`` that is (numerically) a combination of the earlier ones.

    Columns are scaled to unit length; column j fails when its distance from the span of
    columns 0..j-1 (|R_jj| of the QR factorisation) is below ``tol``. The message lists the
    earlier columns it depends on. Fast path: a Cholesky factor of the scaled Gram matrix with
    every pivot above 1e-6 proves full rank without the QR.
    """
    n, k = X.shape
    if k == 0:
        return
    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    for j in np.flatnonzero(norms == 0):
        raise PanelError(f"{who}: regressor {names[j]!r} is identically zero{why}; it is not identified")
    G = X.T @ X
    C = G / np.outer(norms, norms)
    try:
        L = np.linalg.cholesky(C)
        if np.min(np.abs(np.diag(L))) > 1e-6:
            return
    except np.linalg.LinAlgError:
        pass
    Xs = X / norms
    R = np.linalg.qr(Xs, mode="r")
    d = np.abs(np.diag(R))
    bad = np.flatnonzero(d < tol)
    if bad.size == 0:
        return
    j = int(bad[0])
    coef = np.linalg.lstsq(Xs[:, :j], Xs[:, j], rcond=None)[0] if j else np.zeros(0)
    on = [names[i] for i in np.flatnonzero(np.abs(coef) > 1e-6)]
    raise PanelError(f"{who}: regressor {names[j]!r} is collinear with {on}{why}; "
                     "drop one of them (the coefficients are not identified)")


def absorbed_columns(raw: np.ndarray, within: np.ndarray, names: Sequence[str], who: str,
                     effects: str, tol: float = 1e-8) -> list[int]:
    """Indices of columns that the fixed effects absorb (within variation < ``tol`` of the raw variation)."""
    raw_c = raw - raw.mean(axis=0)
    s_raw = np.sqrt(np.einsum("ij,ij->j", raw_c, raw_c))
    s_w = np.sqrt(np.einsum("ij,ij->j", within, within))
    return [j for j in range(raw.shape[1]) if s_w[j] <= tol * max(s_raw[j], 1e-300) or s_raw[j] == 0]


@contextmanager
def blas_threads(n_cells: int, limit: int = 1, threshold: int = SMALL_FIT_CELLS) -> Iterator[None]:
    """Run a small fit with ``limit`` BLAS threads (threadpoolctl); large fits keep the default.

    On a few hundred rows, thread start-up and synchronisation cost more than the matrix
    work, so single-threaded BLAS is several times faster.
    """
    if n_cells >= threshold:
        with nullcontext():
            yield
        return
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=limit, user_api="blas"):
        yield


_CONTROLLER = None
