"""Merit-order dispatch of every provincial grid over all snapshots at once.

Each grid meets its own load from its fleet in merit order (cheapest marginal cost
first); load beyond the fleet is met by emergency imports at the price cap. Outputs
per province x season x hour: generation by technology (MW), marginal price (CNY/MWh)
and average carbon intensity (tCO2/MWh).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Dispatch:
    generation_mw: np.ndarray  # [province, tech, season, hour]
    shortage_mw: np.ndarray  # [province, season, hour]
    price_cny_per_mwh: np.ndarray  # [province, season, hour]
    carbon_t_per_mwh: np.ndarray  # [province, season, hour]
    load_mw: np.ndarray  # [province, season, hour]
    spare_peak_mw: np.ndarray  # [province]: smallest hourly margin of available capacity over load


def dispatch(
    capacity_gw: np.ndarray,
    availability: np.ndarray,
    load_mw: np.ndarray,
    marginal_cost: np.ndarray,
    carbon: np.ndarray,
    price_cap: float,
) -> Dispatch:
    """Dispatch ``load_mw`` [P,S,H] on ``capacity_gw`` [P,T] x ``availability`` [T,S,H].

    Technologies must be passed in merit order (non-decreasing ``marginal_cost``).
    """
    avail = capacity_gw[:, :, None, None] * 1000.0 * availability[None]  # MW [P,T,S,H]
    before = np.cumsum(avail, axis=1) - avail
    gen = np.clip(load_mw[:, None] - before, 0.0, avail)
    supplied = gen.sum(axis=1)
    shortage = np.maximum(load_mw - supplied, 0.0)
    running = gen > 1e-9
    last = np.where(running.any(axis=1), avail.shape[1] - 1 - np.argmax(running[:, ::-1], axis=1), 0)
    price = np.where(shortage > 1e-6, price_cap, marginal_cost[last])
    emissions = np.einsum("ptsh,t->psh", gen, carbon)
    intensity = np.where(supplied > 0, emissions / np.maximum(supplied, 1e-12), 0.0)
    spare = (avail.sum(axis=1) - load_mw).min(axis=(1, 2))
    return Dispatch(gen, shortage, price, intensity, load_mw, spare)
