"""SuanLiModel: the computing-power economy as a Mesa model, one step per year.

Each year (``step``, the order of docs/MODEL.md): the hub programme starts in its designation
year; provinces produce GDP from last year's TFP and their capital; grids update their fleets
and quote prices; firms enter, exit and decide on deployment; compute demand follows GDP; the
compute market clears four representative days under the year's policy and data centres are
settled (``sim.market``); grids dispatch the resulting load (``sim.power``); the studies
measure the year and update TFP; data centres plan next year's capacity under approvals and grid
headroom (``sim.investment``); the year is recorded; new capacity is built and entrants arrive. Every draw comes from a stream keyed by (purpose, agent, year) (``sim.streams``).
"""

from __future__ import annotations

from dataclasses import replace

from sim._mesa import mesa
import numpy as np
import pandas as pd

from sim.parameters import Parameters, load_parameters
from sim import economy, investment, market, measurement, power, reporters, snapshots
from sim.agents import DataCentre, Firm, PowerSupplier, Province
from sim.agents.firm import N_INDUSTRIES, adoption_logit, industry_shift, spawn_firms
from sim.config import ModelConfig
from sim.market import COMPAT, DEFERRABLE, INTELLIGENT, KINDS
from sim.network import Backbone, NetworkSettings
from sim.policies import make_policy
from sim.streams import Streams
from sim.world import IMPORT, TECHS, World

COLD_REGIONS = ("west", "northeast")


class SuanLiModel(mesa.Model):
    """The East–West compute economy. ``seed`` roots every random stream (``self.streams``)."""

    def __init__(self, config: ModelConfig | None = None, seed: int = 0, params: Parameters | None = None,
                 world: World | None = None, **overrides):
        """``overrides`` replace ``ModelConfig`` fields, so that ``mesa.batch_run`` can sweep them."""
        super().__init__(rng=seed)
        self.config = replace(config or ModelConfig(), **overrides)
        self.seed_value = seed
        self.streams = Streams(seed)
        self.params = (params or load_parameters()).with_overrides(self.config.parameter_overrides)
        self.world = world or World.load()
        self.year = self.config.start_year - 1
        p, w = self.params, self.world
        self.n, self.codes, self.region = w.n, w.codes, w.region_of
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
            p, speed_km_per_ms=p.network.speed_km_per_ms * speed, hop_delay_ms=p.network.hop_delay_ms / speed)
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

        self.gdp_hist = w.gdp_history(self.config.start_year)
        self.tfp_gap = np.zeros(self.n)
        self.provinces = [Province(self, i, row, self.gdp_hist[i]) for i, (_, row) in enumerate(w.provinces.iterrows())]
        tariffs = w.provinces["industrial_power_price_cny_per_kwh"].to_numpy(float)
        self.suppliers = [PowerSupplier(self, i, c, tariffs[i]) for i, c in enumerate(w.codes)]
        self.last_dc_load_mw = np.zeros((self.n, snapshots.N_SEASONS, snapshots.N_HOURS))
        self.industry_idc_share = np.zeros(N_INDUSTRIES)
        self.industry_shift = None
        self.compute_price_index = np.ones(self.n)
        self.served_share = np.ones(self.n)
        self.user_latency_ms = np.zeros(self.n)
        self.voucher_share_now = 0.0
        self.firm_demand_unit = 0.0
        self.firm_serials = 0
        self.headroom_cut_mw = np.zeros(self.n)
        self.compute_index = np.full(self.n, np.nan)
        self.pool_unserved = np.zeros((self.n, 2))
        self.hub_builds = 0
        self.refresh_scale = np.ones(2)
        self.flow_records: list[pd.DataFrame] = []
        self.snapshot_records: list[tuple[int, list]] = []  # (year, arrays): market.snapshot_table
        self.link_records: list[pd.DataFrame] = []
        self.summary: dict[str, float] = {}
        self.lp_seconds: list[float] = []

        n0 = p.firm.count_2017 * self.config.firm_scale * np.exp(-(p.firm.entry_rate - p.firm.exit_rate) * (2017 - self.config.start_year))
        spawn_firms(self, max(int(round(n0)), 1), self.config.start_year, new=False)
        self._init_datacentres()
        from sim.studies import STUDIES

        self.studies = {name: STUDIES[name](self) for name in self.config.studies if name in STUDIES}
        self.datacollector = reporters.YearCollector(reporters.MODEL_REPORTERS, reporters.AGENTTYPE_REPORTERS)

    # ----- the year ---------------------------------------------------------------------------------
    def step(self) -> None:
        self.year += 1
        cfg = self.config
        if cfg.hubs_enabled and self.year >= cfg.designation_year and not self.hubs_active:
            self._designate_hubs()
        self._produce()
        pre = self._prepare_grids()
        self.voucher_share_now = cfg.voucher_share if self.year >= cfg.voucher_from else 0.0
        self.carbon_price_now = cfg.carbon_price_cny_per_t if self.year >= cfg.carbon_price_from else 0.0
        self._firm_year()
        demand = self._compute_demand()
        market.price_datacentres(self)
        books = market.clear_year(self, demand)
        post = self.dispatch(self.base_load_mw + books["dc_load_mw"])
        power.book(self, post, books)
        self._record_market(books)
        self.books, self.last_dc_load_mw = books, books["dc_load_mw"]
        for study in self.studies.values():
            study.step()
        self.headroom_cut_mw = investment.plan(self, pre)
        self.summary = reporters.year_summary(self, books, post)
        self.datacollector.collect(self)
        investment.build(self)
        self.running = self.year < cfg.end_year

    def _produce(self) -> None:
        """Province GDP this year from last year's TFP gap and capital (``Province.step``)."""
        self.gdp_hist = self.world.gdp_history(self.year)
        study = self.studies.get("provinces")
        self.tfp_gap = economy.tfp_gap(self.codes, study.tfp_gap() if study is not None else {})
        for pr in self.provinces:
            pr.step()

    def _prepare_grids(self):
        """Fleets and base load of the year, and the dispatch before this year's data-centre load changes."""
        y = self.year
        self.world_capacity_gw = self.world.capacity_gw(y)
        self.base_load_mw = self.world.consumption_twh(y)[:, None, None] * 1e6 / snapshots.HOURS_PER_YEAR * self.load_profile[None]
        self.local_avail_mw = np.einsum("pt,tsh->psh", self.world_capacity_gw, self.availability[: len(TECHS)]) * 1000.0
        for s in self.suppliers:
            s.step()
        pre = self.dispatch(self.base_load_mw + self.last_dc_load_mw)
        self.elec_price = self._electricity_price(pre)
        self.carbon_intensity = pre.carbon_t_per_mwh / 1000.0
        return pre

    def _firm_year(self) -> None:
        """Firms exit, enter, grow and decide on deployment; every firm draws its adoption uniform each year."""
        p = self.params.firm
        y = self.year
        if y > self.config.start_year:
            firms = list(self.firms)
            u_exit = self.streams.uniform("firm_exit", np.array([f.serial for f in firms]), y)
            for f, u in zip(firms, u_exit):
                if u < p.exit_rate:
                    f.remove()
            n_new = int(self.streams.get("firm_entry", 0, y).poisson(p.entry_rate * len(self.firms)))
            spawn_firms(self, n_new, y, new=True)
        firms = list(self.firms)
        if not firms:
            return
        serial = np.array([f.serial for f in firms])
        inds = np.array([f.industry for f in firms])
        idc = np.array([f.idc for f in firms], dtype=float)
        tot = np.bincount(inds, minlength=N_INDUSTRIES)
        self.industry_idc_share = np.bincount(inds, idc, minlength=N_INDUSTRIES) / np.maximum(tot, 1)
        self.industry_shift = industry_shift(self, self.industry_shift)
        nat = self.national_demand(y).sum() * self.params.demand.listed_firm_share
        expected = p.count_2017 * self.config.firm_scale * np.exp((p.entry_rate - p.exit_rate) * (y - 2017))
        self.firm_demand_unit = nat / max(expected, 1.0) / (1 + (p.demand_adopter_multiple - 1) * 0.05)
        growth = 0.02 + 0.08 * self.streams.normal("firm_size", serial, y)
        u_adopt = self.streams.uniform("firm_adopt", serial, y)
        for f, g in zip(firms, growth):
            f.age += 1
            f.ln_employee += float(g)
        hazard = 1.0 / (1.0 + np.exp(-adoption_logit(self, firms)))
        mult = p.demand_adopter_multiple
        for f, h, u in zip(firms, hazard, u_adopt):
            f.adopt_draw = float(u)
            if not f.idc and u < h:
                f.idc, f.idc_year = 1, y
            f.demand = self.firm_demand_unit * float(np.exp(f.ln_employee - 7.5)) * (1 + (mult - 1) * f.idc)

    def _compute_demand(self) -> np.ndarray:
        """Compute demand by origin province and kind (PFLOP-h/yr): non-listed sector + listed firms."""
        d = self.params.demand
        nat = self.national_demand(self.year)
        shock = np.exp(d.day_noise_sd * self.streams.normal("demand", np.arange(self.n), self.year))
        w = self.province_weights(d.gdp_elasticity) * shock
        w /= w.sum()
        firms = self.firms
        firm_dem = (np.bincount(np.array(firms.get("province"), dtype=int), np.array(firms.get("demand")), minlength=self.n)
                    if len(firms) else np.zeros(self.n))
        demand = (1 - d.listed_firm_share) * np.outer(w, nat) + np.outer(firm_dem, nat / nat.sum())
        for pr in self.provinces:
            pr.demand = demand[pr.idx]
        return demand

    def _record_market(self, books: dict) -> None:
        """Logs of the year's flows, snapshots and link loads; prices and access that firms read next year."""
        flows = books["flows"]
        self.flow_records.append(market.flow_frame(self, flows))
        self.snapshot_records.append(books.pop("snapshots"))
        data_gb = (flows * self.data_gb[None, None, :]).sum(axis=2)
        np.fill_diagonal(data_gb, 0.0)
        links = self.backbone.link_loads(data_gb)
        links.insert(0, "year", self.year)
        self.link_records.append(links)
        paid, used = books["paid_price"], books["node_used"].sum(axis=(2, 3))
        ok = np.isfinite(paid) & (used > 0)
        node_paid = np.where(ok, paid * used, 0.0).sum(axis=1)
        node_used = np.where(ok, used, 0.0).sum(axis=1)
        mean_paid = node_paid.sum() / max(node_used.sum(), 1e-12)
        index = node_paid / np.maximum(node_used, 1e-12) / max(mean_paid, 1e-12)
        self.compute_price_index = np.where(node_used > 0, np.maximum(index, 0.05), 2.0)
        dem = books["demand"].sum(axis=1)
        self.served_share = np.where(dem > 0, books["served"].sum(axis=1) / np.maximum(dem, 1e-12), 1.0)
        bound_work = flows[:, :, ~DEFERRABLE].sum(axis=2)
        got = bound_work.sum(axis=1)
        self.user_latency_ms = np.where(got > 0, (bound_work * self.backbone.latency_ms).sum(axis=1) / np.maximum(got, 1e-12),
                                        np.diag(self.backbone.latency_ms))
        self._compute_index(books)

    def _compute_index(self, books: dict) -> None:
        """Each province's compute development index (points, ``sim.measurement.compute_index``) against
        the year's national values (population-weighted), so the nation is 100 every year."""
        pop = np.array([pr.pop for pr in self.provinces])
        cap_pc = books["cap"].sum(axis=1) / pop
        used_pc = books["served"].sum(axis=1) / pop
        lat = self.backbone.latency_ms.copy()
        np.fill_diagonal(lat, np.nan)
        access = np.nanmean(lat, axis=1)
        w = pop / pop.sum()
        ref = (float(cap_pc @ w), float(used_pc @ w), float(access @ w))
        self.compute_index = measurement.compute_index(cap_pc, used_pc, access, ref)

    # ----- programme, paths and helpers -----------------------------------------------------------------
    def _designate_hubs(self) -> None:
        self.hubs_active = True
        for dc in self.dcs:
            if dc.cluster_city:
                self.make_hub(dc)
        if self.config.direct_links:
            hubs = self.world.hubs
            first = [str(h).split(";")[0].strip() for h in hubs["provinces"]]
            demand = [c for c, r in zip(first, hubs["role"]) if r == "demand"]
            resource = [c for c, r in zip(first, hubs["role"]) if r == "resource"]
            links = [(a, b) for a in demand for b in resource] + [(a, b) for i, a in enumerate(demand) for b in demand[i + 1:]]
            self.backbone = Backbone(self.world.provinces, self.net_settings, links)

    def make_hub(self, dc: DataCentre) -> None:
        """Enrol a cluster-city data centre in the programme: hub status and, in resource hubs, the capex subsidy."""
        dc.hub = True
        dc.subsidy = self.config.west_capex_subsidy if self.hub_role_static[dc.province] == "resource" else 0.0

    def dispatch(self, load_mw: np.ndarray):
        cap = self.world_capacity_gw
        imports_gw = np.maximum(1.05 * self.base_load_mw - self.local_avail_mw, 0.0).max(axis=(1, 2)) / 1000.0
        full = np.column_stack([cap, imports_gw])
        return power.dispatch(full, self.availability, load_mw, self.marginal_cost, self.tech_carbon,
                              self.params.power.price_cap_cny_per_mwh)

    def _electricity_price(self, d) -> np.ndarray:
        """CNY/kWh by province, season and hour: merit-order prices or the tariff with time-of-use."""
        if self.config.pricing == "merit_order":
            return d.price_cny_per_mwh / 1000.0
        tariff = np.array([s.tariff for s in self.suppliers])
        return np.broadcast_to(tariff[:, None, None] * self.tou[None, None, :], d.price_cny_per_mwh.shape).copy()

    def _init_datacentres(self) -> None:
        p = self.params.datacentre
        y0 = self.config.start_year
        rng = self.streams.get("dc_init")
        pool_work = self.national_demand(y0) @ COMPAT
        dens = self.frontier_density(y0)
        racks_pool = pool_work / (p.target_utilisation * snapshots.HOURS_PER_YEAR) / dens
        n_int = max(2, int(round(p.initial_dcs * 0.08)))
        weights = self.province_weights(self.params.demand.gdp_elasticity)
        for pool, n_dc in enumerate((int(p.initial_dcs) - n_int, n_int)):
            provs = np.sort(rng.choice(self.n, size=n_dc, p=weights))
            size = rng.lognormal(0.0, 0.8, size=n_dc)
            size = size / size.sum() * racks_pool[pool]
            for i, prov in enumerate(provs):
                kind = "intelligent" if pool == INTELLIGENT else ("super" if i % 25 == 0 else "general")
                city = self.pick_city(prov, rng)
                DataCentre(self, city, prov, kind, size[i], dens[pool] * 0.8, self.new_pue(y0 - 3, prov),
                           int(y0 - rng.integers(0, 6)), self.cluster_city.get(city, False))

    def province_weights(self, exponent: float) -> np.ndarray:
        gdp = np.array([pr.gdp for pr in self.provinces])
        w = gdp**exponent
        return w / w.sum()

    def pick_city(self, prov: int, rng: np.random.Generator) -> int:
        """A city of province ``prov``, drawn by population."""
        mask = self._city_prov == prov
        pop = self._city_pop[mask]
        return int(rng.choice(self._city_ids[mask], p=pop / pop.sum()))

    def frontier_density(self, year: int) -> np.ndarray:
        """Frontier PFLOPS per standard rack by pool in ``year``."""
        p = self.params.datacentre
        t = year - 2023
        return np.array([p.density_general_2023 * np.exp(p.density_growth_general * t),
                         p.density_ai_2023 * np.exp(p.density_growth_ai * t)])

    def new_pue(self, year: int, prov: int) -> float:
        """PUE of a data centre built in ``year`` in province ``prov``."""
        p = self.params.datacentre
        w = np.clip((year - 2008) / 15.0, 0.0, None)
        pue = p.pue_2008 * (p.pue_2023 / p.pue_2008) ** w
        if self.region[prov] in COLD_REGIONS:
            pue -= p.pue_cold_bonus
        return float(max(pue, p.pue_floor))

    def national_demand(self, year: int) -> np.ndarray:
        """National compute demand by kind (PFLOP-h/yr), following simulated national GDP (``sim.economy``)."""
        ratio = sum(pr.gdp for pr in self.provinces) / max(float(self.gdp_hist.sum()), 1e-9)
        return economy.national_demand(self.params, year, ratio)

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

    # ----- running ----------------------------------------------------------------------------------------
    def run(self, progress: bool = False) -> "SuanLiModel":
        years = range(self.year + 1, self.config.end_year + 1)
        if progress:
            from tqdm import tqdm

            years = tqdm(years, desc="suanli", unit="yr", leave=False)
        for _ in years:
            self.step()
        return self

    def drop_logs(self) -> None:
        """Free what the run logged for its panels once they are written (``sim.outputs.write_run`` with
        ``release=True``): the market logs, the agent-type tables and the studies' records, most of a finished
        model's memory. The national summary (the datacollector's model variables) stays; the model then
        writes no other panel and does not step on."""
        self.flow_records, self.snapshot_records, self.link_records = [], [], []
        self.datacollector.drop_agent_tables()
        for study in self.studies.values():
            study.drop_records()
        self._policies = {}  # a solver's state (the LP's matrices and HiGHS instances)
        self.books = {}
        self.remove_all_agents()
        self.running = False
        self.release()

    def release(self) -> None:
        """Let a finished model be freed: drop the reference Mesa keeps to every model it has seen
        (``Agent._ids``, a class-level dict keyed by model that hands out unique ids). Without it a
        process that runs many models (ensembles, calibration, Monte Carlo) grows by a whole model
        (~40 MB) each time. Call it when the model will not step again."""
        stack = [mesa.Agent]
        while stack:
            cls = stack.pop()
            ids = cls.__dict__.get("_ids")
            if isinstance(ids, dict):
                ids.pop(self, None)
            stack.extend(cls.__subclasses__())

    @property
    def n_years(self) -> int:
        return self.config.end_year - self.config.start_year + 1
