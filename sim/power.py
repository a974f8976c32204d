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


def book(model, post: Dispatch, books: dict) -> None:
    """Book the year's dispatch: each grid's generation, load, shortage, price and carbon, and each data
    centre's carbon (its share of its grid's data-centre load times the grid's hourly intensity)."""
    from sim import accounting, snapshots
    from sim.investment import peak_reserve_mw

    w = snapshots.SNAPSHOT_WEIGHT_H
    dc_load = books["dc_load_mw"]
    if model.config.check_invariants:
        accounting.check_power(model.year, books["dc_drawn_mwh"], float(dc_load.sum() * w))
        accounting.check_grid_balance(model.year, post.load_mw, post.generation_mw, post.shortage_mw)
    a = books["dc"]
    ci = post.carbon_t_per_mwh
    dc_carbon_by_prov = (dc_load * ci).sum(axis=(1, 2)) * w
    prov_dc_mwh = dc_load.sum(axis=(1, 2)) * w
    denom = prov_dc_mwh[a["prov"]]
    share = np.divide(books["fac_mwh"], denom, out=np.zeros_like(books["fac_mwh"]), where=denom > 0)
    for dc, sh in zip(a["agents"], share):
        dc.carbon_t = float(sh * dc_carbon_by_prov[dc.province])
    gen_twh = post.generation_mw.sum(axis=(2, 3)) * w / 1e6
    reserve = peak_reserve_mw(model.local_avail_mw, post.load_mw)
    for s in model.suppliers:
        i = s.idx
        s.book(
            generation_twh=float(gen_twh[i].sum()),
            **{f"gen_{t}_twh": float(gen_twh[i, j]) for j, t in enumerate(model.techs)},
            load_twh=float(post.load_mw[i].sum() * w / 1e6),
            dc_supplied_twh=float(prov_dc_mwh[i] / 1e6),
            shortage_twh=float(post.shortage_mw[i].sum() * w / 1e6),
            price_cny_per_mwh=float(post.price_cny_per_mwh[i].mean()),
            carbon_t_per_mwh=float(np.average(ci[i], weights=np.maximum(post.load_mw[i], 1e-9))),
            dc_carbon_mt=float(dc_carbon_by_prov[i] / 1e6),
            spare_peak_mw=float(post.spare_peak_mw[i]),
            local_reserve_at_peak_mw=float(reserve[i]),
        )
    books["dc_carbon_mt"] = float(dc_carbon_by_prov.sum() / 1e6)
    books["national_load_twh"] = float(post.load_mw.sum() * w / 1e6)
