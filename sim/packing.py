"""Yearly record arrays kept in the smallest form that gives them back exactly.

A run keeps one array per column and year of its agent tables and study panels until they
are written (~40 MB for the default run, most of a finished model). Integer columns hold
small codes and years, string columns a few distinct labels and some float columns small
integers, 0/1 or a few distinct values: ``pack`` stores such an array as narrower integers,
float32 or codes into its distinct values (strings, or floats by their bits) when the round
trip is bit-for-bit the same, and ``unpack`` gives back an array equal in dtype, values and
bits (string columns: the same string objects), so the panels built from packed records are
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_INTS = (np.int8, np.int16, np.int32)


@dataclass(frozen=True)
class Packed:
    """``values`` (narrower integers or float32), or ``codes`` into ``labels``, standing for an array of ``dtype``."""

    values: np.ndarray
    dtype: np.dtype
    labels: np.ndarray | None = None

    def unpack(self) -> np.ndarray:
        if self.labels is not None:
            return self.labels[self.values]
        return self.values.astype(self.dtype)


def pack(a):
    """``a`` as a ``Packed`` when a narrower form gives it back exactly, else ``a`` itself (also for
    anything that is not a one-dimensional numpy array)."""
    if not isinstance(a, np.ndarray) or a.ndim != 1 or a.size == 0:
        return a
    kind = a.dtype.kind
    if kind in "iu" and a.dtype.itemsize > 1:
        lo, hi = a.min(), a.max()
        for t in _INTS:
            if np.dtype(t).itemsize >= a.dtype.itemsize:
                break
            info = np.iinfo(t)
            if info.min <= lo and hi <= info.max:
                return Packed(a.astype(t), a.dtype)
        return a
    if kind == "f" and a.dtype.itemsize == 8:
        bits = a.view(np.int64)
        if _float32_exact(a[:64]) and _float32_exact(a):
            return Packed(a.astype(np.float32), a.dtype)
        if np.unique(bits[:64]).size <= 32:  # few distinct values (a ramp, a province's access): codes
            labels, codes = np.unique(bits, return_inverse=True)
            if labels.size <= np.iinfo(np.int16).max and 4 * labels.size <= a.size:
                return Packed(_codes(codes, labels.size), a.dtype, labels.view(np.float64))
        return a
    if kind == "O":
        if pd.api.types.infer_dtype(a, skipna=False) != "string":
            return a
        codes, labels = pd.factorize(a)
        if labels.size > np.iinfo(np.int16).max:
            return a
        return Packed(_codes(codes, labels.size), a.dtype, np.asarray(labels, dtype=object))
    return a


def _float32_exact(a: np.ndarray) -> bool:
    with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 just fail the test
        back = a.astype(np.float32).astype(np.float64)
    return np.array_equal(back.view(np.int64), a.view(np.int64))


def _codes(codes: np.ndarray, n_labels: int) -> np.ndarray:
    return codes.astype(np.int8 if n_labels <= np.iinfo(np.int8).max else np.int16)


def unpack(x):
    """The array ``pack`` was given."""
    return x.unpack() if isinstance(x, Packed) else x


def pack_columns(columns: dict) -> dict:
    return {k: pack(v) for k, v in columns.items()}
