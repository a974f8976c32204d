"""Shared helpers of the known-truth recovery tests: two-way FE and the within-k-SE check."""

from __future__ import annotations

import pandas as pd
from linearmodels.panel import PanelOLS


def two_way_fe(df: pd.DataFrame, y: str, x: list[str], entity: str):
    """PanelOLS of ``y`` on ``x`` with entity and year effects, entity-clustered errors (rows with ``y`` missing dropped)."""
    d = df.dropna(subset=[y]).set_index([entity, "year"])
    return PanelOLS(d[y], d[x], entity_effects=True, time_effects=True).fit(cov_type="clustered", cluster_entity=True)


def assert_within(res, name: str, truth: float, k: float = 2.0) -> None:
    b, se = float(res.params[name]), float(res.std_errors[name])
    assert abs(b - truth) <= k * se, f"{name}: estimate {b:.5f}, truth {truth:.5f}, se {se:.5f}, |z| = {abs(b - truth) / se:.2f} > {k}"
