"""Shared fixtures: small scheduling problems and short model runs."""

from __future__ import annotations

import numpy as np
import pytest

from sim.market import COMPAT, DEFERRABLE, SchedulingProblem


def random_problem(rng: np.random.Generator, n: int = 5, hours: int = 6, tight: float = 1.0, hubs: bool = True) -> SchedulingProblem:
    """A random day: n provinces on a line (latency grows with distance), mixed regions and hub roles."""
    k, p = len(DEFERRABLE), COMPAT.shape[1]
    pos = np.sort(rng.uniform(0, 40, n))
    latency = 2 * np.abs(pos[:, None] - pos[None, :]) + 1.0
    demand = rng.uniform(0, 10, (n, k, hours))
    capacity = rng.uniform(0, 12, (n, p, hours)) * tight
    capacity = np.repeat(capacity[:, :, :1], hours, axis=2)
    region = np.array(["east", "west", "central", "northeast"])[rng.integers(0, 4, n)]
    region[0], region[-1] = "east", "west"
    role = np.array(["demand", "resource", ""])[rng.integers(0, 3, n)]
    role[-1] = "resource"
    return SchedulingProblem(
        year=2023,
        season=0,
        codes=[f"P{i}" for i in range(n)],
        demand=demand,
        capacity=capacity,
        energy_cost=rng.uniform(1, 5, (n, p, hours)),
        carbon=rng.uniform(0, 1, (n, p, hours)),
        price=rng.uniform(5, 8, (n, p)),
        latency_ms=latency,
        transfer_cost=rng.uniform(0, 1, (n, n, k)) * (1 - np.eye(n))[:, :, None],
        latency_bound=np.where(DEFERRABLE, np.inf, 20.0),
        value=np.full(k, 50.0),
        region=region,
        hub_role=role if hubs else np.full(n, "", dtype=object),
        hubs_active=hubs,
    )


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def default_run():
    """The default model 2008-2023 with every study module, seed 3 (shared by the study tests)."""
    from sim.config import ModelConfig
    from sim.model import SuanLiModel

    return SuanLiModel(ModelConfig(end_year=2023), seed=3).run()
