"""SuanLiModel: the computing-power economy as a Mesa model, one step per year.

Each year: provinces grow and demand compute; grids update their fleets and quote
prices; firms decide on deployment; the compute market clears four representative days
(24 hourly snapshots each) under the year's scheduling policy; grids dispatch the
resulting data-centre load; data centres book revenue and energy; the year is recorded;
then data centres invest, and the new capacity serves from the next year. Every accounting identity is checked as it happens (``sim.accounting``).
"""

from __future__ import annotations

from dataclasses import replace

import mesa
import numpy as np
import pandas as pd

from calibration.params import Parameters, load_parameters
from sim import accounting, reporters, snapshots
from sim.agents import DataCentre, Firm, PowerSupplier, Province
from sim.agents.firm import OWNERSHIP
from sim.config import ModelConfig
from sim.market import (
    BATCH,
    COMPAT,
    DEFERRABLE,
    GENERAL,
    INFERENCE,
    INTELLIGENT,
    INTERACTIVE,
    KINDS,
    POOLS,
    TRAINING,
    SchedulingProblem,
    check_assignment,
    total_cost,
    unserved,
)
from sim.network import Backbone, NetworkSettings
from sim.policies import make_policy
from sim.power import dispatch
from sim.world import IMPORT, TECHS, World

N_INDUSTRIES = 30
REGULATED_INDUSTRIES = (6, 13, 17, 24)
COLD_REGIONS = ("west", "northeast")
EDGE_SHARE = 0.15
IDLE_HUB_UTILISATION = 0.25


class SuanLiModel(mesa.Model):
    """The East–West compute economy. ``seed`` feeds the one numpy Generator (``self.rng``)."""

    def __init__(
        self,
        config: ModelConfig | None = None,
        seed: int = 0,
        params: Parameters | None = None,
        world: World | None = None,
        **overrides,
    ):
        """``overrides`` replace ``ModelConfig`` fields, so that ``mesa.batch_run`` can sweep them."""
        super().__init__(rng=seed)
        self.config = replace(config or ModelConfig(), **overrides)
        self.seed_value = seed
        self.params = (params or load_parameters()).with_overrides(self.config.parameter_overrides)
        self.world = world or World.load()
        self.year = self.config.start_year - 1
        p = self.params
        w = self.world
        self.n = w.n
        self.codes = w.codes
        self.region = w.region_of
        self.hub_role_static = w.hub_province_role.to_numpy()
        self.hubs_active = False
        self._policies: dict[str, object] = {}

        self.techs = tuple(TECHS) + (IMPORT,)
        tech = w.technologies
        flat = {t: float(tech.loc[t, "availability"]) for t in self.techs if tech.loc[t, "availability"] != "profile"}
        self.availability = snapshots.availability(self.techs, flat)
        self.marginal_cost = tech["marginal_cost_cny_per_mwh"].to_numpy(float)
        self.tech_carbon = tech["carbon_t_per_mwh"].to_numpy(float)
        self.load_profile = snapshots.load_profile()
        self.compute_profile = snapshots.compute_profiles()
        self.tou = snapshots.tou_multiplier(p.power.tariff_tou_peak, p.power.tariff_tou_valley)

        speed = self.config.link_speedup
        self.net_settings = NetworkSettings.from_params(
            p,
            speed_km_per_ms=p.network.speed_km_per_ms * speed,
            hop_delay_ms=p.network.hop_delay_ms / speed,
        )
        self.backbone = Backbone(w.provinces, self.net_settings)
        bound = self.config.latency_bound_ms or p.market.inference_latency_ms
        self.latency_bound = np.where(DEFERRABLE, np.inf, bound)
        self.data_gb = np.array([getattr(p.market, f"data_gb_per_pflop_h_{k}") for k in KINDS])

        cities = w.cities
        self.city_province = dict(zip(cities["city_id"], pd.Index(w.codes).get_indexer(cities["province"])))
        self.open_data = dict(zip(cities["city_id"], cities["open_data_platform_2020"].astype(int)))
        self.cluster_city = dict(zip(cities["city_id"], cities["is_cluster_city"].astype(bool)))
        self._city_ids = cities["city_id"].to_numpy()
        self._city_prov = pd.Index(w.codes).get_indexer(cities["province"])
        self._city_pop = cities["pop_2020_mn"].to_numpy(float)

        self.provinces = [Province(self, i, row) for i, (_, row) in enumerate(w.provinces.iterrows())]
        tariffs = w.provinces["industrial_power_price_cny_per_kwh"].to_numpy(float)
        self.suppliers = [PowerSupplier(self, i, c, tariffs[i]) for i, c in enumerate(w.codes)]
        self.last_dc_load_mw = np.zeros((self.n, snapshots.N_SEASONS, snapshots.N_HOURS))
        self.industry_idc_share = np.zeros(N_INDUSTRIES)
        self.compute_price_index = np.ones(self.n)
        self.voucher_share_now = 0.0
        self.firm_demand_unit = 0.0
        self.flow_records: list[pd.DataFrame] = []
        self.snapshot_records: list[pd.DataFrame] = []
        self.link_records: list[pd.DataFrame] = []
        self.summary: dict[str, float] = {}
        self.lp_seconds: list[float] = []

        self._init_firms()
        self._init_datacentres()
        from sim.studies import STUDIES

        self.studies = {name: STUDIES[name](self) for name in self.config.studies if name in STUDIES}
        self.datacollector = mesa.DataCollector(
            model_reporters=reporters.MODEL_REPORTERS,
            agenttype_reporters=reporters.AGENTTYPE_REPORTERS,
        )

    # ----- set-up ---------------------------------------------------------------------------
    def _province_weights(self, exponent: float) -> np.ndarray:
        gdp = np.array([pr.gdp for pr in self.provinces])
        w = gdp**exponent
        return w / w.sum()

    def _pick_city(self, prov: int) -> int:
        mask = self._city_prov == prov
        pop = self._city_pop[mask]
        return int(self.rng.choice(self._city_ids[mask], p=pop / pop.sum()))

    def _init_firms(self) -> None:
        p = self.params.firm
        n0 = int(round(p.count_2017 * self.config.firm_scale * np.exp(-(p.entry_rate - p.exit_rate) * (2017 - self.config.start_year))))
        self._spawn_firms(max(n0, 1), self.config.start_year, new=False)

    def _spawn_firms(self, count: int, year: int, new: bool) -> None:
        p = self.params.firm
        weights = self._province_weights(1.3)
        provs = self.rng.choice(self.n, size=count, p=weights)
        own_p = np.array([p.share_state, p.share_private, 1 - p.share_state - p.share_private])
        owners = self.rng.choice(len(OWNERSHIP), size=count, p=own_p)
        ind_w = np.ones(N_INDUSTRIES)
        reg = np.isin(np.arange(N_INDUSTRIES), REGULATED_INDUSTRIES)
        ind_w[reg] = p.share_regulated / reg.sum()
        ind_w[~reg] = (1 - p.share_regulated) / (~reg).sum()
        inds = self.rng.choice(N_INDUSTRIES, size=count, p=ind_w)
        size = self.rng.normal(7.6 - (0.6 if new else 0.0), 1.15, size=count)
        age = self.rng.uniform(1, 6, size=count) if new else self.rng.uniform(3, 30, size=count)
        for i in range(count):
            Firm(self, provs[i], self._pick_city(provs[i]), OWNERSHIP[owners[i]], inds[i], reg[inds[i]], size[i], age[i], year)

    def _init_datacentres(self) -> None:
        p = self.params.datacentre
        y0 = self.config.start_year
        national = self.national_demand(y0)
        pool_work = national @ COMPAT
        dens = self.frontier_density(y0)
        racks_pool = pool_work / (p.target_utilisation * snapshots.HOURS_PER_YEAR) / dens
        n_int = max(2, int(round(p.initial_dcs * 0.08)))
        counts = (int(p.initial_dcs) - n_int, n_int)
        weights = self._province_weights(self.params.demand.gdp_elasticity)
        for pool, n_dc in enumerate(counts):
            provs = np.sort(self.rng.choice(self.n, size=n_dc, p=weights))
            size = self.rng.lognormal(0.0, 0.8, size=n_dc)
            size = size / size.sum() * racks_pool[pool]
            for i, prov in enumerate(provs):
                kind = "intelligent" if pool == INTELLIGENT else ("super" if i % 25 == 0 else "general")
                city = self._pick_city(prov)
                DataCentre(self, city, prov, kind, size[i], dens[pool] * 0.8, self.new_pue(y0 - 3, prov),
                           int(y0 - self.rng.integers(0, 6)), self.cluster_city.get(city, False))

    # ----- paths -------------------------------------------------------------------------------
    def frontier_density(self, year: int) -> np.ndarray:
        """Frontier PFLOPS per standard rack by pool in ``year``."""
        p = self.params.datacentre
        t = year - 2023
        return np.array(
            [p.density_general_2023 * np.exp(p.density_growth_general * t), p.density_ai_2023 * np.exp(p.density_growth_ai * t)]
        )

    def new_pue(self, year: int, prov: int) -> float:
        """PUE of a data centre built in ``year`` in province ``prov``."""
        p = self.params.datacentre
        w = np.clip((year - 2008) / 15.0, 0.0, None)
        pue = p.pue_2008 * (p.pue_2023 / p.pue_2008) ** w
        if self.region[prov] in COLD_REGIONS:
            pue -= p.pue_cold_bonus
        return float(max(pue, p.pue_floor))

    def national_demand(self, year: int) -> np.ndarray:
        """National compute demand by kind (PFLOP-h/yr): training, inference, interactive, batch."""
        d = self.params.demand
        t = year - 2023

        def path(g: float) -> float:
            return g * t if t <= 0 else g * (1 - np.exp(-d.growth_decay * t)) / d.growth_decay

        ai = d.national_2023_pflop_h * d.ai_share_2023 * np.exp(path(d.growth_ai))
        gen = d.national_2023_pflop_h * (1 - d.ai_share_2023) * np.exp(path(d.growth_general))
        return np.array(
            [
                ai * d.training_share_ai,
                ai * (1 - d.training_share_ai),
                gen * d.interactive_share_general,
                gen * (1 - d.interactive_share_general),
            ]
        )

    # ----- agent sets ----------------------------------------------------------------------------
    @property
    def dcs(self) -> mesa.agent.AgentSet:
        return self.agents_by_type.get(DataCentre, mesa.agent.AgentSet([], random=self.random))

    @property
    def firms(self) -> mesa.agent.AgentSet:
        return self.agents_by_type.get(Firm, mesa.agent.AgentSet([], random=self.random))

    def policy(self, year: int):
        name = self.config.policy_for(year)
        if name not in self._policies:
            self._policies[name] = make_policy(name, **self.config.policy_options.get(name, {}))
        return self._policies[name]

    # ----- the year ---------------------------------------------------------------------------------
    def step(self) -> None:
        self.year += 1
        y = self.year
        cfg = self.config
        if cfg.hubs_enabled and y >= cfg.designation_year and not self.hubs_active:
            self._designate_hubs()
        for pr in self.provinces:
            pr.step()
        self.world_capacity_gw = self.world.capacity_gw(y)
        self.base_load_mw = (
            self.world.consumption_twh(y)[:, None, None] * 1e6 / snapshots.HOURS_PER_YEAR * self.load_profile[None]
        )
        for s in self.suppliers:
            s.step()
        pre = self._dispatch(self.base_load_mw + self.last_dc_load_mw)
        self.elec_price = self._electricity_price(pre)  # CNY/kWh [P,S,H]
        self.carbon_intensity = pre.carbon_t_per_mwh / 1000.0  # t per kWh
        self.voucher_share_now = cfg.voucher_share if y >= cfg.voucher_from else 0.0
        self.carbon_price_now = cfg.carbon_price_cny_per_t if y >= cfg.carbon_price_from else 0.0

        self._firm_year()
        demand = self._province_demand()
        self._price_datacentres()
        books = self._clear_market(demand)
        post = self._dispatch(self.base_load_mw + books["dc_load_mw"])
        self._book_power(post, books)
        self.last_dc_load_mw = books["dc_load_mw"]
        self.books = books
        self.summary = reporters.year_summary(self, books, post)
        for study in self.studies.values():
            study.step()
        self.datacollector.collect(self)
        self._invest(pre)
        self.running = self.year < self.config.end_year

    def _designate_hubs(self) -> None:
        self.hubs_active = True
        subsidy = self.config.west_capex_subsidy
        for dc in self.dcs:
            if dc.cluster_city:
                dc.hub = True
                dc.subsidy = subsidy if self.hub_role_static[dc.province] == "resource" else 0.0
        if self.config.direct_links:
            hubs = self.world.hubs
            first = [str(h).split(";")[0].strip() for h in hubs["provinces"]]
            demand = [c for c, r in zip(first, hubs["role"]) if r == "demand"]
            resource = [c for c, r in zip(first, hubs["role"]) if r == "resource"]
            links = [(a, b) for a in demand for b in resource] + [
                (a, b) for i, a in enumerate(demand) for b in demand[i + 1 :]
            ]
            self.backbone = Backbone(self.world.provinces, self.net_settings, links)

    def _dispatch(self, load_mw: np.ndarray):
        cap = self.world_capacity_gw
        local_avail = np.einsum("pt,tsh->psh", cap, self.availability[: len(TECHS)]) * 1000.0
        imports_gw = np.maximum(1.05 * self.base_load_mw - local_avail, 0.0).max(axis=(1, 2)) / 1000.0
        full = np.column_stack([cap, imports_gw])
        return dispatch(full, self.availability, load_mw, self.marginal_cost, self.tech_carbon, self.params.power.price_cap_cny_per_mwh)

    def _electricity_price(self, d) -> np.ndarray:
        if self.config.pricing == "merit_order":
            return d.price_cny_per_mwh / 1000.0
        tariff = np.array([s.tariff for s in self.suppliers])
        return np.broadcast_to(tariff[:, None, None] * self.tou[None, None, :], d.price_cny_per_mwh.shape).copy()

    def _firm_year(self) -> None:
        p = self.params.firm
        firms = self.firms
        y = self.year
        if len(firms):
            inds = np.array(firms.get("industry"))
            idc = np.array(firms.get("idc"), dtype=float)
            tot = np.bincount(inds, minlength=N_INDUSTRIES)
            self.industry_idc_share = np.bincount(inds, idc, minlength=N_INDUSTRIES) / np.maximum(tot, 1)
        nat = self.national_demand(y).sum() * self.params.demand.listed_firm_share
        expected = p.count_2017 * self.config.firm_scale * np.exp((p.entry_rate - p.exit_rate) * (y - 2017))
        self.firm_demand_unit = nat / max(expected, 1.0) / (1 + (p.demand_adopter_multiple - 1) * 0.05)
        firms.do("step")
        if y > self.config.start_year:
            exits = [f for f in firms if self.rng.random() < p.exit_rate]
            for f in exits:
                f.remove()
            n_new = int(self.rng.poisson(p.entry_rate * len(self.firms)))
            self._spawn_firms(n_new, y, new=True)
            for f in list(self.firms)[-n_new:] if n_new else []:
                f.step()

    def _province_demand(self) -> np.ndarray:
        """Compute demand by origin province and kind (PFLOP-h/yr): non-listed sector + listed firms."""
        d = self.params.demand
        nat = self.national_demand(self.year)
        w = self._province_weights(d.gdp_elasticity) * np.exp(self.rng.normal(0.0, d.day_noise_sd, self.n))
        w /= w.sum()
        non_listed = (1 - d.listed_firm_share) * np.outer(w, nat)
        firms = self.firms
        firm_dem = np.bincount(np.array(firms.get("province"), dtype=int), np.array(firms.get("demand")), minlength=self.n) if len(firms) else np.zeros(self.n)
        demand = non_listed + np.outer(firm_dem, nat / nat.sum())
        for pr in self.provinces:
            pr.demand = demand[pr.idx]
        return demand

    # ----- data centres and the market -----------------------------------------------------------------
    def _dc_arrays(self) -> dict[str, np.ndarray]:
        dcs = list(self.dcs)
        arr = {
            "agents": dcs,
            "prov": np.array([d.province for d in dcs], dtype=int),
            "pool": np.array([d.pool for d in dcs], dtype=int),
            "racks": np.array([d.racks for d in dcs]),
            "density": np.array([d.density for d in dcs]),
            "pue": np.array([d.pue for d in dcs]),
            "hub": np.array([d.hub for d in dcs], dtype=bool),
            "price": np.array([d.price for d in dcs]),
        }
        arr["node"] = arr["prov"] * len(POOLS) + arr["pool"]
        return arr

    def _dc_elec_factor(self, prov: np.ndarray, hub: np.ndarray) -> np.ndarray:
        green = self.config.green_contracts and self.hubs_active
        resource = self.hub_role_static[prov] == "resource"
        return np.where(green & hub & resource, 1 - self.params.power.green_contract_discount, 1.0)

    def _price_datacentres(self) -> None:
        """Posted price (CNY per PFLOP-h) = full unit cost at the break-even utilisation x (1 + markup)."""
        p = self.params.datacentre
        a = self._dc_arrays()
        if not a["agents"]:
            return
        elec = self.elec_price.mean(axis=(1, 2))[a["prov"]] * self._dc_elec_factor(a["prov"], a["hub"])
        kwh_full = p.rack_kw * p.full_load_share / a["density"] * a["pue"]
        u = p.target_utilisation
        energy = kwh_full * ((1 - p.idle_power_share) + p.idle_power_share / u) * elec
        capital = p.capex_cny_per_rack * p.annuity_factor * (1 + p.opex_share) / (u * snapshots.HOURS_PER_YEAR * a["density"])
        price = (energy + capital) * (1 + p.markup)
        marg = (1 - p.idle_power_share) * kwh_full * elec
        for dc, pr, mc in zip(a["agents"], price, marg):
            dc.price, dc.marginal_cost = float(pr), float(mc)

    def _clear_market(self, demand: np.ndarray) -> dict:
        p = self.params
        a = self._dc_arrays()
        n, npool = self.n, len(POOLS)
        n_nodes = n * npool
        pflops = a["racks"] * a["density"]
        cap = np.bincount(a["node"], pflops, minlength=n_nodes).reshape(n, npool)
        full_kw = p.datacentre.rack_kw * p.datacentre.full_load_share * a["racks"] * a["pue"]
        elec_factor = self._dc_elec_factor(a["prov"], a["hub"])
        node_kw = np.bincount(a["node"], full_kw, minlength=n_nodes).reshape(n, npool)
        node_kw_green = np.bincount(a["node"], full_kw * elec_factor, minlength=n_nodes).reshape(n, npool)
        safe_cap = np.where(cap > 0, cap, 1.0)
        marg_kwh = (1 - p.datacentre.idle_power_share) * node_kw / safe_cap
        green_factor = np.where(node_kw > 0, node_kw_green / np.where(node_kw > 0, node_kw, 1.0), 1.0)
        node_price = np.bincount(a["node"], pflops * a["price"], minlength=n_nodes).reshape(n, npool) / safe_cap
        pool_price = np.array(
            [np.average(node_price[:, q], weights=cap[:, q]) if cap[:, q].sum() > 0 else np.nan for q in range(npool)]
        )
        fallback = np.nanmax(pool_price)
        pool_price = np.where(np.isnan(pool_price), fallback, pool_price)
        value = p.market.value_multiple * np.array([pool_price[COMPAT[k]].min() for k in range(len(KINDS))])
        transfer = self.backbone.cost_per_gb[:, :, None] * self.data_gb[None, None, :]
        idx = np.arange(n)
        transfer[idx, idx, :] = 0.0
        self.compute_price_index = np.maximum(node_price.mean(axis=1) / max(np.nanmean(pool_price), 1e-9), 0.05)
        self.compute_price_index = np.where(cap.sum(axis=1) > 0, self.compute_price_index, 2.0)

        days = snapshots.DAYS_PER_SEASON
        H = snapshots.N_HOURS
        profile = self.compute_profile
        policy = self.policy(self.year)
        served_ok = np.zeros((n, len(KINDS)))
        unserved_ok = np.zeros((n, len(KINDS)))
        flows = np.zeros((n, n, len(KINDS)))
        node_used = np.zeros((n, npool, snapshots.N_SEASONS, H))
        paid = transfer_paid = 0.0
        costs = {"energy": 0.0, "transfer": 0.0, "carbon_t": 0.0}
        lat_num = lat_den = 0.0
        snap_rows = []
        import time

        for s in range(snapshots.N_SEASONS):
            elec = self.elec_price[:, s, :]
            problem = SchedulingProblem(
                year=self.year,
                season=s,
                codes=self.codes,
                demand=demand[:, :, None] / snapshots.HOURS_PER_YEAR * profile[None, :, :],
                capacity=np.repeat(cap[:, :, None], H, axis=2),
                energy_cost=marg_kwh[:, :, None] * green_factor[:, :, None] * elec[:, None, :],
                carbon=marg_kwh[:, :, None] * self.carbon_intensity[:, None, s, :],
                price=node_price,
                latency_ms=self.backbone.latency_ms,
                transfer_cost=transfer,
                latency_bound=self.latency_bound,
                value=value,
                region=self.region,
                hub_role=self.hub_role_static if self.hubs_active else np.full(n, "", dtype=object),
                hubs_active=self.hubs_active,
                carbon_price=self.carbon_price_now,
            )
            t0 = time.perf_counter()
            assignment = policy.assign(problem)
            self.lp_seconds.append(time.perf_counter() - t0)
            x = assignment.served
            u = check_assignment(problem, assignment) if self.config.check_invariants else unserved(problem, assignment)
            c = total_cost(problem, x)
            for key in costs:
                costs[key] += c[key] * days
            served_ok += x.sum(axis=(2, 3, 4)) * days
            unserved_ok += u.sum(axis=2) * days
            flows += x.sum(axis=(3, 4)).transpose(0, 2, 1) * days
            used = x.sum(axis=(0, 1))
            node_used[:, :, s, :] = used
            per_class_node = x.sum(axis=4)
            paid += days * (
                np.einsum("okdp,dp->", per_class_node, node_price) + np.einsum("okdp,odk->", per_class_node, transfer)
            )
            transfer_paid += days * np.einsum("okdp,odk->", per_class_node, transfer)
            xi = x[:, ~DEFERRABLE].sum(axis=(1, 3, 4))
            lat_num += days * float((xi * self.backbone.latency_ms).sum())
            lat_den += days * float(xi.sum())
            prices = assignment.prices if assignment.prices is not None else problem.energy_cost
            snap_rows.append(
                pd.DataFrame(
                    {
                        "year": self.year,
                        "season": s,
                        "hour": np.tile(np.arange(H), n * npool),
                        "node": np.repeat(np.repeat(self.codes, npool), H),
                        "pool": np.tile(np.repeat(list(POOLS), H), n),
                        "capacity_pflop_h": problem.capacity.ravel(),
                        "used_pflop_h": used.ravel(),
                        "price_cny_per_pflop_h": prices.ravel(),
                        "energy_cost_cny_per_pflop_h": problem.energy_cost.ravel(),
                    }
                )
            )

        accounting.check_work(self.year, demand, served_ok, unserved_ok)
        util_node = node_used / np.where(cap > 0, cap, 1.0)[:, :, None, None]  # [D,P,S,H]
        return self._settle_datacentres(a, cap, util_node, node_used, flows, served_ok, unserved_ok, demand,
                                        paid, transfer_paid, costs, lat_num / max(lat_den, 1e-12), value, snap_rows)

    def _settle_datacentres(self, a, cap, util_node, node_used, flows, served_ok, unserved_ok, demand,
                            paid, transfer_paid, costs, inference_latency, value, snap_rows) -> dict:
        p = self.params.datacentre
        days = snapshots.DAYS_PER_SEASON
        pflops = a["racks"] * a["density"]
        share = pflops / np.where(cap[a["prov"], a["pool"]] > 0, cap[a["prov"], a["pool"]], 1.0)
        u_dc = util_node[a["prov"], a["pool"]]  # [N,S,H]
        served_dc = share * node_used[a["prov"], a["pool"]].sum(axis=(1, 2)) * days
        it_kw_full = p.rack_kw * p.full_load_share * a["racks"]
        it_kwh_h = it_kw_full[:, None, None] * (p.idle_power_share + (1 - p.idle_power_share) * u_dc)
        fac_kwh_h = it_kwh_h * a["pue"][:, None, None]
        it_mwh = it_kwh_h.sum(axis=(1, 2)) * days / 1000.0
        fac_mwh = fac_kwh_h.sum(axis=(1, 2)) * days / 1000.0
        elec = self.elec_price[a["prov"]] * self._dc_elec_factor(a["prov"], a["hub"])[:, None, None]
        energy_cost = (fac_kwh_h * elec).sum(axis=(1, 2)) * days
        revenue = served_dc * a["price"]
        dc_load = np.zeros((self.n, snapshots.N_SEASONS, snapshots.N_HOURS))
        np.add.at(dc_load, a["prov"], fac_kwh_h / 1000.0)  # MW (kWh per hour / 1000)
        if self.config.check_invariants:
            accounting.check_energy(self.year, fac_mwh, it_mwh, a["pue"])
            accounting.check_money(self.year, paid, float(revenue.sum()), transfer_paid)
        hours = snapshots.HOURS_PER_YEAR
        util = served_dc / np.maximum(pflops * hours, 1e-12)
        for i, dc in enumerate(a["agents"]):
            dc.served, dc.utilisation = float(served_dc[i]), float(util[i])
            dc.it_energy_mwh, dc.energy_mwh = float(it_mwh[i]), float(fac_mwh[i])
            dc.energy_cost, dc.revenue = float(energy_cost[i]), float(revenue[i])
        flows_df = self._flow_frame(flows)
        self.flow_records.append(flows_df)
        self.snapshot_records.append(pd.concat(snap_rows, ignore_index=True))
        data_gb = (flows * self.data_gb[None, None, :]).sum(axis=2)
        np.fill_diagonal(data_gb, 0.0)
        links = self.backbone.link_loads(data_gb)
        links.insert(0, "year", self.year)
        self.link_records.append(links)
        for pr in self.provinces:
            i = pr.idx
            pr.outcomes = {
                "served": served_ok[i],
                "unserved": unserved_ok[i],
                "hosted_pflop_h": float(node_used[i].sum() * days),
                "pflops": cap[i],
            }
        return {
            "dc": a,
            "cap": cap,
            "served_dc": served_dc,
            "fac_mwh": fac_mwh,
            "dc_load_mw": dc_load,
            "dc_drawn_mwh": float(fac_mwh.sum()),
            "energy_cost": float(energy_cost.sum()),
            "revenue": float(revenue.sum()),
            "paid": paid,
            "transfer_paid": transfer_paid,
            "costs": costs,
            "served": served_ok,
            "unserved": unserved_ok,
            "demand": demand,
            "flows": flows,
            "inference_latency_ms": inference_latency,
            "value": value,
            "node_used": node_used,
        }

    def _flow_frame(self, flows: np.ndarray) -> pd.DataFrame:
        o, d, k = np.nonzero(flows > 0)
        vol = flows[o, d, k]
        return pd.DataFrame(
            {
                "year": self.year,
                "origin": np.array(self.codes, dtype=object)[o],
                "destination": np.array(self.codes, dtype=object)[d],
                "kind": np.array(KINDS, dtype=object)[k],
                "pflop_h": vol,
                "data_gb": np.where(o != d, vol * self.data_gb[k], 0.0),
                "transfer_cny": vol * np.where(o != d, self.backbone.cost_per_gb[o, d] * self.data_gb[k], 0.0),
                "latency_ms": self.backbone.latency_ms[o, d],
            }
        )

    def _book_power(self, post, books) -> None:
        w = snapshots.SNAPSHOT_WEIGHT_H
        supplied_to_dc = float(books["dc_load_mw"].sum() * w)
        if self.config.check_invariants:
            accounting.check_power(self.year, books["dc_drawn_mwh"], supplied_to_dc)
            accounting.check_grid_balance(self.year, post.load_mw, post.generation_mw, post.shortage_mw)
        a = books["dc"]
        fac_hourly_mw = np.zeros((len(a["agents"]), snapshots.N_SEASONS, snapshots.N_HOURS))
        dc_load = books["dc_load_mw"]
        ci = post.carbon_t_per_mwh
        dc_carbon_by_prov = (dc_load * ci).sum(axis=(1, 2)) * w
        prov_dc_mwh = dc_load.sum(axis=(1, 2)) * w
        share = np.divide(books["fac_mwh"], prov_dc_mwh[a["prov"]], out=np.zeros_like(books["fac_mwh"]), where=prov_dc_mwh[a["prov"]] > 0)
        for dc, sh in zip(a["agents"], share):
            dc.carbon_t = float(sh * dc_carbon_by_prov[dc.province])
        del fac_hourly_mw
        gen_twh = post.generation_mw.sum(axis=(2, 3)) * w / 1e6
        for s in self.suppliers:
            i = s.idx
            s.book(
                generation_twh=float(gen_twh[i].sum()),
                **{f"gen_{t}_twh": float(gen_twh[i, j]) for j, t in enumerate(self.techs)},
                load_twh=float(post.load_mw[i].sum() * w / 1e6),
                dc_supplied_twh=float(prov_dc_mwh[i] / 1e6),
                shortage_twh=float(post.shortage_mw[i].sum() * w / 1e6),
                price_cny_per_mwh=float(post.price_cny_per_mwh[i].mean()),
                carbon_t_per_mwh=float(np.average(ci[i], weights=np.maximum(post.load_mw[i], 1e-9))),
                dc_carbon_mt=float(dc_carbon_by_prov[i] / 1e6),
                spare_peak_mw=float(post.spare_peak_mw[i]),
            )
        books["dc_carbon_mt"] = float(dc_carbon_by_prov.sum() / 1e6)
        books["national_load_twh"] = float(post.load_mw.sum() * w / 1e6)

    def _invest(self, pre) -> None:
        """Data centres plan expansion; approvals and grid headroom cut it; new data centres enter."""
        p = self.params.datacentre
        y = self.year
        cfg = self.config
        dcs = list(self.dcs)
        served = np.array([pr.outcomes["unserved"] for pr in self.provinces])  # [P,K] unserved
        cap = np.array([pr.outcomes["pflops"] for pr in self.provinces])  # [P,pool]
        pool_unserved = served @ COMPAT
        excess = pool_unserved / np.maximum(cap * snapshots.HOURS_PER_YEAR, 1e-9)
        for dc in dcs:
            dc.expected_utilisation = dc.utilisation + min(excess[dc.province, dc.pool], 1.0)
        self.dcs.do("step")
        if self.hubs_active and cfg.hub_only_approval:
            for dc in dcs:
                if not dc.hub:
                    dc.planned_racks = min(dc.planned_racks, cfg.non_hub_growth_cap * dc.racks)
        front = self.frontier_density(y + 1)
        kw = p.rack_kw * p.full_load_share
        want_mw = np.zeros(self.n)
        for dc in dcs:
            want_mw[dc.province] += dc.planned_racks * kw * self.new_pue(y, dc.province) / 1000.0
        headroom = p.power_headroom_share * np.maximum(pre.spare_peak_mw, 0.0) + 10.0
        scale = np.minimum(1.0, headroom / np.maximum(want_mw, 1e-9))
        for dc in dcs:
            dc.grow(dc.planned_racks * scale[dc.province], front[dc.pool], self.new_pue(y, dc.province), p.refresh_rate,
                    p.retirement_rate)
        self._entry(front, excess, pool_unserved)

    def _entry(self, front: np.ndarray, excess: np.ndarray, pool_unserved: np.ndarray) -> None:
        p = self.params.datacentre
        y = self.year
        nat = self.national_demand(y)
        ai_share = (nat @ COMPAT)[INTELLIGENT] / nat.sum()
        size_scale = np.exp(0.05 * (y - 2023))
        n_new = int(self.rng.poisson(p.entry_rate))
        if n_new:
            pull = pool_unserved.sum(axis=1) + self._province_weights(1.0) * max(pool_unserved.sum(), 1.0)
            provs = self.rng.choice(self.n, size=n_new, p=pull / pull.sum())
            for prov in provs:
                pool = INTELLIGENT if self.rng.random() < max(ai_share, 0.02) else GENERAL
                restricted = self.hubs_active and self.config.hub_only_approval
                if restricted:
                    mask = np.array([self.cluster_city.get(c, False) for c in self._city_ids])
                    cand = self._city_ids[mask]
                    city = int(self.rng.choice(cand)) if self.rng.random() > EDGE_SHARE else self._pick_city(prov)
                    kind = "edge" if not self.cluster_city.get(city, False) else ("intelligent" if pool else "general")
                else:
                    city, kind = self._pick_city(prov), ("intelligent" if pool else "general")
                prov_c = self.city_province[city]
                racks = p.new_dc_racks * size_scale * (0.2 if kind == "edge" else 1.0)
                self._new_dc(city, prov_c, kind, racks, front)
        if self.hubs_active:
            hub_dcs = [dc for dc in self.dcs if dc.hub]
            cap_h = sum(dc.pflops for dc in hub_dcs)
            u_hub = sum(dc.utilisation * dc.pflops for dc in hub_dcs) / cap_h if cap_h > 0 else p.target_utilisation
            appetite = float(np.clip((u_hub - IDLE_HUB_UTILISATION) / (p.target_utilisation - IDLE_HUB_UTILISATION), 0.0, 2.0))
            for city in self.world.cluster_city_ids:
                for _ in range(int(self.rng.poisson(p.hub_entry_per_cluster * appetite))):
                    kind = "intelligent" if self.rng.random() < 0.5 else "general"
                    self._new_dc(int(city), self.city_province[int(city)], kind, p.hub_new_racks * size_scale, front)

    def _new_dc(self, city: int, prov: int, kind: str, racks: float, front: np.ndarray) -> None:
        dc = DataCentre(self, city, prov, kind, racks, front[0 if kind != "intelligent" else 1],
                        self.new_pue(self.year, prov), self.year + 1, self.cluster_city.get(city, False))
        if self.hubs_active and dc.cluster_city:
            dc.hub = True
            dc.subsidy = self.config.west_capex_subsidy if self.hub_role_static[prov] == "resource" else 0.0

    # ----- running ----------------------------------------------------------------------------------------
    def run(self, progress: bool = False) -> "SuanLiModel":
        years = range(self.year + 1, self.config.end_year + 1)
        if progress:
            from tqdm import tqdm

            years = tqdm(years, desc="suanli", unit="yr", leave=False)
        for _ in years:
            self.step()
        return self

    @property
    def n_years(self) -> int:
        return self.config.end_year - self.config.start_year + 1
