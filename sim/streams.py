"""Common random numbers: one numpy stream per (purpose, agent, year), spawned from the run's seed.

Two runs with the same seed draw identical numbers for every (purpose, agent, year) that both
reach, whatever else differs between them, so a scenario changes only the draws it must
change and paired scenario differences carry no noise from the order of draws. A stream is a
``numpy.random.Generator`` on a ``SeedSequence`` whose spawn key is (purpose hash, agent, year).
"""

from __future__ import annotations

import zlib

import numpy as np

PURPOSES = (
    "firm_traits",
    "firm_size",
    "firm_adopt",
    "firm_exit",
    "firm_entry",
    "industry_shift",
    "dc_init",
    "dc_entry",
    "hub_entry",
    "demand",
)


def purpose_key(purpose: str) -> int:
    """Stable 32-bit key of a purpose name (the same on every platform and Python version)."""
    return zlib.crc32(purpose.encode())


class Streams:
    """Seeded streams keyed by (purpose, agent, year); ``agent`` and ``year`` are non-negative ints."""

    def __init__(self, seed: int | np.random.SeedSequence):
        self.root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))

    def get(self, purpose: str, agent: int = 0, year: int = 0) -> np.random.Generator:
        if purpose not in PURPOSES:
            raise KeyError(f"stream purpose {purpose!r}: allowed {', '.join(PURPOSES)}")
        ss = np.random.SeedSequence(
            self.root.entropy, spawn_key=(*self.root.spawn_key, purpose_key(purpose), int(agent), int(year)),
            pool_size=self.root.pool_size,
        )
        return np.random.Generator(np.random.PCG64(ss))

    def _block(self, purpose: str, agents: np.ndarray, year: int, draw) -> np.ndarray:
        agents = np.asarray(agents, dtype=np.int64)
        if agents.size == 0:
            return np.zeros(0)
        if agents.min() < 0:
            raise ValueError(f"stream {purpose!r}: agent numbers must be >= 0")
        return draw(self.get(purpose, 0, year), int(agents.max()) + 1)[agents]

    def uniform(self, purpose: str, agents: np.ndarray, year: int) -> np.ndarray:
        """One U(0,1) per agent number for ``year``: element a of the (purpose, year) stream, so agent a's
        draw depends only on (seed, purpose, a, year), not on which other agents exist."""
        return self._block(purpose, agents, year, lambda g, n: g.random(n))

    def normal(self, purpose: str, agents: np.ndarray, year: int) -> np.ndarray:
        """One N(0,1) per agent number for ``year``, keyed like :meth:`uniform`."""
        return self._block(purpose, agents, year, lambda g, n: g.standard_normal(n))
