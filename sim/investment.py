"""Data-centre investment and entry, once a year after the market has settled: ``plan`` before the
year is recorded (so the year's panels show the headroom cuts), ``build`` after it.

Existing data centres plan expansion from expected utilisation and margins (``DataCentre.step``);
after designation the programme caps non-hub growth; investors then scale each pool's plans to
the national pipeline (``limit_to_pipeline``); each grid then admits new data-centre
load only up to its headroom (a share of its local spare peak capacity plus a floor), so
import-dependent eastern grids refuse planned load as data-centre demand grows (the refused MW
are booked as ``headroom_cut_mw``). New data centres enter where demand goes unserved and, after
designation, local governments of hub cluster cities compete for subsidised hub campuses at a
rate that does not wait for demand and rises with the campuses their rivals opened last year (up to
one per cluster city: the race saturates) (duplicate building), so hub capacity runs ahead of use
until the pool's national utilisation, projected ``hub_lookahead_years`` ahead and counting the
campuses rivals open the same year, falls below ``hub_idle_floor``, when local budgets slow that
pool's race, to a stop at half the floor; a campus is general or intelligent in proportion to its
pool's hub utilisation (local governments bid for the kind of campus the clusters fill).
"""

from __future__ import annotations

import numpy as np

from sim import snapshots
from sim.agents import DataCentre
from sim.market import COMPAT, GENERAL, INTELLIGENT

EDGE_SHARE = 0.15


def plan(model, pre) -> np.ndarray:
    """Plan next year's expansion, cut by approvals and grid headroom (``DataCentre.planned_racks``).
    Returns the planned data-centre load (MW) that grid headroom refused, by province."""
    p = model.params.datacentre
    y = model.year
    cfg = model.config
    dcs = list(model.dcs)
    unserved = np.array([pr.outcomes["unserved"] for pr in model.provinces])
    cap = np.array([pr.outcomes["pflops"] for pr in model.provinces])
    pool_unserved = unserved @ COMPAT
    excess = pool_unserved / np.maximum(cap * snapshots.HOURS_PER_YEAR, 1e-9)
    for dc in dcs:
        dc.expected_utilisation = dc.utilisation + min(excess[dc.province, dc.pool], 1.0)
    model.dcs.do("step")
    if model.hubs_active and cfg.hub_only_approval:
        for dc in dcs:
            if not dc.hub:
                dc.planned_racks = min(dc.planned_racks, cfg.non_hub_growth_cap * dc.racks)
    limit_to_pipeline(model, dcs, pool_unserved.sum(axis=0))
    kw = p.rack_kw * p.full_load_share
    new_pue = np.array([model.new_pue(y, i) for i in range(model.n)])
    want_mw = np.zeros(model.n)
    for dc in dcs:
        want_mw[dc.province] += dc.planned_racks * kw * new_pue[dc.province] / 1000.0
    headroom = grid_headroom_mw(model, pre)
    scale = np.minimum(1.0, headroom / np.maximum(want_mw, 1e-9))
    for dc in dcs:
        dc.planned_racks *= scale[dc.province]
    model.pool_unserved = pool_unserved
    return np.maximum(want_mw - headroom, 0.0)


def limit_to_pipeline(model, dcs, unserved: np.ndarray) -> None:
    """Scale each pool's planned expansion, then its server refresh, so that next year's capacity does
    not exceed the pool's expected work (served plus unserved this year, grown at the national demand
    path's rate) over ``pipeline_utilisation``: investors read the national pipeline and do not buy
    racks or servers the pool will not use (``model.refresh_scale``)."""
    p = model.params.datacentre
    y = model.year
    front = model.frontier_density(y + 1)
    growth = pool_demand_growth(model)
    served, kept, gain, planned = np.zeros((4, 2))
    for dc in dcs:
        served[dc.pool] += dc.served
        kept[dc.pool] += dc.racks * (1 - p.retirement_rate) * dc.density
        gain[dc.pool] += dc.racks * (1 - p.retirement_rate) * refresh_share(dc) * (front[dc.pool] - dc.density)
        planned[dc.pool] += dc.planned_racks * front[dc.pool]
    wanted = (served + unserved) * growth / (p.pipeline_utilisation * snapshots.HOURS_PER_YEAR)
    scale = np.clip((wanted - kept - gain) / np.maximum(planned, 1e-12), 0.0, 1.0)
    model.refresh_scale = np.clip((wanted - kept) / np.maximum(gain, 1e-12), 0.0, 1.0)
    for dc in dcs:
        dc.planned_racks *= scale[dc.pool]


def pool_demand_growth(model) -> np.ndarray:
    """Next year's national demand over this year's, by pool (general, intelligent)."""
    y = model.year
    return (model.national_demand(y + 1) @ COMPAT) / np.maximum(model.national_demand(y) @ COMPAT, 1e-12)


def refresh_share(dc, scale: float = 1.0) -> float:
    """Share of a data centre's servers refreshed to the frontier this year: ``refresh_rate`` scaled by
    expected over break-even utilisation (capped at 1), so an idle campus does not buy new servers, and
    by ``scale`` (its pool's ``model.refresh_scale`` from ``limit_to_pipeline``)."""
    p = dc.model.params.datacentre
    return scale * p.refresh_rate * min(1.0, dc.expected_utilisation / p.target_utilisation)


def build(model) -> None:
    """Grow every data centre by its approved plan at the frontier density (servers refreshed by
    ``refresh_share``), then let new ones enter."""
    p = model.params.datacentre
    y = model.year
    front = model.frontier_density(y + 1)
    hub_load, (pool_work, _) = pool_load(model, hubs_only=True), pool_load(model)
    for dc in list(model.dcs):
        refresh = refresh_share(dc, model.refresh_scale[dc.pool])
        dc.grow(dc.planned_racks, front[dc.pool], model.new_pue(y, dc.province), refresh, p.retirement_rate)
    enter(model, front, model.pool_unserved, hub_load, pool_work)


def grid_headroom_mw(model, pre) -> np.ndarray:
    """New data-centre load (MW) each grid admits this year: ``power_headroom_share`` of its reserve at
    peak load (local available capacity less load in the grid's peak-load snapshot, imports excluded),
    plus a floor."""
    p = model.params.datacentre
    local_spare = peak_reserve_mw(model.local_avail_mw, pre.load_mw)
    return p.power_headroom_share * np.maximum(local_spare, 0.0) + p.headroom_floor_mw


def peak_reserve_mw(avail_mw: np.ndarray, load_mw: np.ndarray) -> np.ndarray:
    """Local available capacity minus load (MW) in each grid's peak-load snapshot [P,S,H] -> [P]."""
    flat_load = load_mw.reshape(load_mw.shape[0], -1)
    peak = flat_load.argmax(axis=1)
    rows = np.arange(load_mw.shape[0])
    return avail_mw.reshape(avail_mw.shape[0], -1)[rows, peak] - flat_load[rows, peak]


def enter(model, front: np.ndarray, pool_unserved: np.ndarray, hub_load: tuple[np.ndarray, np.ndarray],
          pool_work: np.ndarray) -> None:
    """New data centres: where demand goes unserved (restricted to cluster cities after designation
    under hub-only approval), and subsidised hub campuses in every cluster city after designation.
    A campus is built with a probability that falls linearly from 1 to 0 as its pool's projected
    utilisation falls from ``hub_idle_floor`` to half of it: this year's work of the pool nationally
    (``pool_work``, busy PFLOPS, plus unserved demand) grown with demand, over next year's pool
    capacity with the campuses rivals opened so far this year and the campus itself, so budgets see
    the pipeline and one another. A campus's pool is drawn in proportion to the pools' hub
    utilisation this year (``hub_load`` = busy and installed hub PFLOPS by pool)."""
    p = model.params.datacentre
    y = model.year
    nat = model.national_demand(y)
    ai_share = (nat @ COMPAT)[INTELLIGENT] / nat.sum()
    size_scale = np.exp(0.05 * (y - 2023))
    rng = model.streams.get("dc_entry", 0, y)
    n_new = int(rng.poisson(p.entry_rate))
    if n_new:
        pull = pool_unserved.sum(axis=1) + model.province_weights(1.0) * max(pool_unserved.sum(), 1.0)
        provs = rng.choice(model.n, size=n_new, p=pull / pull.sum())
        restricted = model.hubs_active and model.config.hub_only_approval
        for prov in provs:
            pool = INTELLIGENT if rng.random() < max(ai_share, 0.02) else GENERAL
            if restricted and rng.random() > EDGE_SHARE:
                city = int(rng.choice(model.world.cluster_city_ids))
                kind = "intelligent" if pool else "general"
            else:
                city = model.pick_city(prov, rng)
                kind = "edge" if restricted else ("intelligent" if pool else "general")
            racks = p.new_dc_racks * size_scale * (0.2 if kind == "edge" else 1.0)
            new_dc(model, city, model.city_province[city], kind, racks, front)
    if model.hubs_active:
        clusters = model.world.cluster_city_ids
        race = 1.0 + p.hub_race * min(model.hub_builds / len(clusters), 1.0)
        hub_work, hub_cap = hub_load
        u_hub = np.where(hub_cap > 0, hub_work / np.maximum(hub_cap, 1e-12), 1.0)
        ai_odds = u_hub[INTELLIGENT] / max(u_hub.sum(), 1e-12)
        expected = ((pool_work + pool_unserved.sum(axis=0) / snapshots.HOURS_PER_YEAR)
                    * pool_demand_growth(model) ** p.hub_lookahead_years)
        cap_next = np.zeros(2)
        for dc in model.dcs:
            cap_next[dc.pool] += dc.pflops
        built = 0
        for city in clusters:
            city = int(city)
            prov = model.city_province[city]
            resource = model.hub_role_static[prov] == "resource"
            h = model.streams.get("hub_entry", city, y)
            rate = p.hub_entry_per_cluster * (1.0 + p.hub_subsidy_entry_boost * model.config.west_capex_subsidy * resource) * race
            for _ in range(int(h.poisson(rate))):
                pool = INTELLIGENT if h.random() < ai_odds else GENERAL
                racks = p.hub_new_racks * size_scale
                u_next = expected[pool] / (cap_next[pool] + racks * front[pool])
                if h.random() < np.clip(2.0 * u_next / p.hub_idle_floor - 1.0, 0.0, 1.0):
                    new_dc(model, city, prov, ("general", "intelligent")[pool], racks, front)
                    cap_next[pool] += racks * front[pool]
                    built += 1
        model.hub_builds = built


def pool_load(model, hubs_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """This year's busy capacity (utilisation x PFLOPS) and installed capacity (PFLOPS) by pool, of
    every serving data centre or of hub campuses only."""
    work = np.zeros(2)
    cap = np.zeros(2)
    for dc in model.dcs:
        if (dc.hub or not hubs_only) and dc.build_year <= model.year:
            work[dc.pool] += dc.utilisation * dc.pflops
            cap[dc.pool] += dc.pflops
    return work, cap


def new_dc(model, city: int, prov: int, kind: str, racks: float, front: np.ndarray) -> DataCentre:
    """A data centre that serves from next year, at the frontier density and the new-build PUE."""
    dc = DataCentre(model, city, prov, kind, racks, front[INTELLIGENT if kind == "intelligent" else GENERAL],
                    model.new_pue(model.year, prov), model.year + 1, model.cluster_city.get(city, False))
    if model.hubs_active and dc.cluster_city:
        model.make_hub(dc)
    return dc
