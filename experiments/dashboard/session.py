"""One interactive run behind the dashboard: the page's controls resolved onto a scenario, the
``SuanLiModel`` they build, and the tables the views draw, refreshed after every simulated year.

``DashboardModel`` is the model class SolaraViz re-instantiates on *Reset* with the control
values as keyword arguments. Its constructor never raises: a control value that the scenario
rules refuse (or a designation year after the end year) becomes ``message``, the model is not
built and ``running`` is False, so the page shows one line and the server keeps going.

A control left at the value it had when the page opened follows the chosen scenario; a control
that has been moved overrides that scenario field (``settings`` says which is which).
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd

from experiments.dashboard import timing
from experiments.scenario import (
    MAX_YEAR,
    MIN_YEAR,
    Scenario,
    ScenarioError,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Control:
    """One control of the page: the ``DashboardModel`` argument, its label, its scenario-TOML key."""

    name: str
    label: str
    toml: tuple[str, str] | None
    widget: str


CONTROLS: tuple[Control, ...] = (
    Control("scenario", "Scenario", None, "Select"),
    Control("seed", "Seed", None, "InputText"),
    Control("start_year", "Start year", ("scenario", "start_year"), "SliderInt"),
    Control("end_year", "End year", ("scenario", "end_year"), "SliderInt"),
    Control("policy_before", "Policy before designation", ("policy", "before"), "Select"),
    Control("policy_after", "Policy after designation", ("policy", "after"), "Select"),
    Control("designation_year", "Hub designation year", ("hubs", "designation_year"), "SliderInt"),
    Control("carbon_price_cny_per_t", "Carbon price (CNY/t CO2)", ("market", "carbon_price_cny_per_t"), "SliderFloat"),
    Control("link_speedup", "Link speed-up (x)", ("network", "link_speedup"), "SliderFloat"),
    Control("voucher_share", "Compute-voucher share", ("market", "voucher_share"), "SliderFloat"),
    Control("green_contracts", "Green power contracts", ("hubs", "green_contracts"), "Checkbox"),
    Control("pricing", "Electricity pricing", ("power", "pricing"), "Select"),
)
CONTROL_BY_NAME = {c.name: c for c in CONTROLS}
CONFIG_FIELD = {
    "start_year": "start_year", "end_year": "end_year", "policy_before": "policy_before", "policy_after": "policy_after",
    "designation_year": "designation_year", "carbon_price_cny_per_t": "carbon_price_cny_per_t",
    "link_speedup": "link_speedup", "voucher_share": "voucher_share", "green_contracts": "green_contracts",
    "pricing": "pricing",
}
SLIDERS = {  # min, max, step
    "start_year": (MIN_YEAR, MAX_YEAR, 1),
    "end_year": (MIN_YEAR, MAX_YEAR, 1),
    "designation_year": (MIN_YEAR, MAX_YEAR, 1),
    "carbon_price_cny_per_t": (0.0, 1000.0, 10.0),
    "link_speedup": (0.1, 5.0, 0.1),
    "voucher_share": (0.0, 1.0, 0.05),
}
PRICING = ("tariff", "merit_order")


class ControlError(ValueError):
    """A control value the dashboard cannot use; the message names the control, the value and what is allowed."""


def scenario_choices(extra: str | Path | None = None) -> dict[str, str]:
    """Scenario name -> what ``load_scenario`` takes: the built-ins, plus a scenario file if given."""
    choices = {name: name for name in builtin_scenarios()}
    if extra is not None:
        sc = load_scenario(extra)
        choices[sc.name] = str(extra) if Path(str(extra)).exists() else sc.name
    return choices


def control_values(scenario: Scenario, seed: int | None = None) -> dict[str, Any]:
    """The value of every control that reproduces ``scenario`` (and its seed)."""
    cfg = scenario.config
    values: dict[str, Any] = {"scenario": scenario.name, "seed": str(seed if seed is not None else (scenario.seed or 0))}
    for name, fieldname in CONFIG_FIELD.items():
        v = getattr(cfg, fieldname)
        values[name] = float(v) if CONTROL_BY_NAME[name].widget == "SliderFloat" else v
    return values


def model_params(scenario: str | Path | None = None, seed: int | None = None) -> dict[str, Any]:
    """SolaraViz ``model_params`` for ``DashboardModel``: one widget per control, initialised from ``scenario``."""
    from sim.policies import available

    choices = scenario_choices(scenario)
    sc = load_scenario(scenario)
    values = control_values(sc, seed)
    policies = available()
    params: dict[str, Any] = {}
    for c in CONTROLS:
        v = values[c.name]
        if c.widget == "Select":
            options = {"scenario": list(choices), "pricing": list(PRICING)}.get(c.name, policies)
            if v not in options:
                options = [*options, v]
            params[c.name] = {"type": "Select", "value": v, "values": options, "label": c.label}
        elif c.widget in ("SliderInt", "SliderFloat"):
            lo, hi, step = SLIDERS[c.name]
            params[c.name] = {"type": c.widget, "value": v, "min": min(lo, v), "max": max(hi, v), "step": step, "label": c.label}
        else:
            params[c.name] = {"type": c.widget, "value": v, "label": c.label}
    params["control_defaults"] = values
    params["scenario_files"] = choices
    return params


def clean_value(name: str, value: Any) -> Any:
    """A widget's value as the scenario rules expect it (sliders give floats with binary noise)."""
    widget = CONTROL_BY_NAME[name].widget
    if widget == "SliderFloat" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(float(value), 6)
    if widget == "SliderInt" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def control_text(value: Any) -> str:
    """A control value as the page echoes it (``data-value`` of ``.suanli-committed``): numbers in ``%g``
    (a slider's 0.35000000000000003 is 0.35), booleans as true/false, text as typed."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return f"{float(value):g}"
    return str(value)


def resolve_controls(values: dict[str, Any], control_defaults: dict[str, Any] | None = None,
                     scenario_files: dict[str, str] | None = None) -> tuple[Scenario, int, pd.DataFrame]:
    """Scenario (with the moved controls applied), seed and a table of the settings in force.

    Raises ``ControlError`` / ``ScenarioError`` with one line naming the control, value and what is allowed.
    """
    defaults = control_defaults or {}
    files = scenario_files or {n: n for n in builtin_scenarios()}
    name = values.get("scenario", "default")
    if name not in files:
        raise ControlError(f"Scenario = {name!r}: must be one of {', '.join(files)}")
    base = load_scenario(files[name])
    seed_text = str(values.get("seed", "0")).strip()
    if not seed_text.isdigit():
        raise ControlError(f"Seed = {seed_text!r}: must be a non-negative whole number, e.g. 0 or 42")
    seed = int(seed_text)
    raw = {section: dict(body) if isinstance(body, dict) else body for section, body in base.raw.items()}
    pol = raw.get("policy")
    if isinstance(pol, dict) and "all" in pol:
        del pol["all"]
        pol["before"], pol["after"] = base.config.policy_before, base.config.policy_after
    moved = {}
    for c in CONTROLS:
        if c.toml is None or c.name not in values:
            continue
        v = clean_value(c.name, values[c.name])
        if c.name in defaults and v == clean_value(c.name, defaults[c.name]):
            continue
        moved[c.name] = v
        section, key = c.toml
        raw.setdefault(section, {})[key] = v
    try:
        sc = parse_scenario(raw, f"'{base.name}' with the page's controls")
    except ScenarioError as err:
        raise ControlError(_control_message(str(err))) from None
    sc.name = base.name
    cfg = sc.config
    if cfg.hubs_enabled and cfg.designation_year > cfg.end_year:
        raise ControlError(
            f"Hub designation year = {cfg.designation_year}: must be no later than the end year {cfg.end_year} "
            f"(or choose a scenario without hubs)")
    rows = [{"setting": c.label, "value": getattr(cfg, CONFIG_FIELD[c.name]),
             "from": "control" if c.name in moved else f"scenario {base.name}"}
            for c in CONTROLS if c.name in CONFIG_FIELD]
    rows.insert(0, {"setting": "Seed", "value": seed, "from": "control"})
    return sc, seed, pd.DataFrame(rows)


def _control_message(text: str) -> str:
    """Rewrite a scenario error's TOML key into the control's label."""
    for c in CONTROLS:
        if c.toml and f"{c.toml[0]}.{c.toml[1]} =" in text:
            return c.label + " =" + text.split(f"{c.toml[0]}.{c.toml[1]} =", 1)[1]
    return text


class DashboardModel(mesa.Model):
    """The dashboard's model: resolves the controls, owns one ``SuanLiModel`` and steps it one year at a time."""

    def __init__(
        self,
        scenario: str = "default",
        seed: str = "0",
        start_year: int | None = None,
        end_year: int | None = None,
        policy_before: str | None = None,
        policy_after: str | None = None,
        designation_year: int | None = None,
        carbon_price_cny_per_t: float | None = None,
        link_speedup: float | None = None,
        voucher_share: float | None = None,
        green_contracts: bool | None = None,
        pricing: str | None = None,
        control_defaults: dict[str, Any] | None = None,
        scenario_files: dict[str, str] | None = None,
    ):
        super().__init__(rng=0)
        given = {"scenario": scenario, "seed": seed, "start_year": start_year, "end_year": end_year,
                 "policy_before": policy_before, "policy_after": policy_after, "designation_year": designation_year,
                 "carbon_price_cny_per_t": carbon_price_cny_per_t, "link_speedup": link_speedup,
                 "voucher_share": voucher_share, "green_contracts": green_contracts, "pricing": pricing}
        self.controls = {k: v for k, v in given.items() if v is not None}
        self.message: str | None = None
        self.sim = None
        self.scenario: Scenario | None = None
        self.seed_value: int | None = None
        self.settings = pd.DataFrame(columns=["setting", "value", "from"])
        self._cache: dict[Any, Any] = {}
        try:
            self.scenario, self.seed_value, self.settings = resolve_controls(self.controls, control_defaults, scenario_files)
        except (ControlError, ScenarioError) as err:
            self.message = str(err)
            self.running = False
            return
        from sim.model import SuanLiModel

        try:
            self.sim = SuanLiModel(self.scenario.config, seed=self.seed_value)
        except Exception as err:  # noqa: BLE001 - the page must survive a model that cannot be built
            log.error("model construction failed:\n%s", traceback.format_exc())
            self.message = f"The model could not be built with these settings: {type(err).__name__}: {err}"
            self.running = False

    @property
    def year(self) -> int | None:
        """The last simulated year, or None before the first step."""
        if self.sim is None or self.sim.year < self.sim.config.start_year:
            return None
        return int(self.sim.year)

    def step(self) -> None:
        """Simulate one more year (SolaraViz's Step button)."""
        if self.sim is None or not self.sim.running:
            self.running = False
            return
        try:
            with timing.phase("model", year=self.sim.year + 1):
                self.sim.step()
        except Exception as err:  # noqa: BLE001 - a failing year is reported in the page, the server keeps serving
            log.error("year %s failed:\n%s", self.sim.year, traceback.format_exc())
            self.message = f"Year {self.sim.year} stopped: {type(err).__name__}: {err}"
            self.running = False
            return
        self._cache.clear()
        self.running = bool(self.sim.running)

    # ----- tables for the views ------------------------------------------------------------------------
    def cached(self, key, build):
        """``build()`` once per simulated year (the cache is emptied by ``step``)."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def summary_row(self) -> dict[str, Any]:
        """The national summary of the last simulated year (``SuanLiModel.summary``)."""
        return dict(self.sim.summary) if self.sim is not None and self.year is not None else {}

    def summary(self) -> pd.DataFrame:
        """Summary panel so far, one row per year (the DataCollector's model variables)."""
        return self.cached("summary", lambda: self.sim.datacollector.get_model_vars_dataframe().reset_index(drop=True))

    def _agent_panel(self, agent_type) -> pd.DataFrame:
        df = self.sim.datacollector.get_agenttype_vars_dataframe(agent_type)
        if df.empty:
            return df
        df = df.reset_index()
        df.insert(0, "year", df.pop("Step").astype(int) + self.sim.config.start_year - 1)
        return df.rename(columns={"AgentID": "agent_id"})

    def provinces(self) -> pd.DataFrame:
        """Province panel so far (DataCollector): GDP, demand, served, hosted work, capacity by pool."""
        from sim.agents import Province

        return self.cached("provinces", lambda: self._agent_panel(Province))

    def datacentres(self) -> pd.DataFrame:
        """Data-centre panel so far (DataCollector): capacity, hub flag, price, served work, utilisation."""
        from sim.agents import DataCentre

        return self.cached("datacentres", lambda: self._agent_panel(DataCentre))

    def flows(self) -> pd.DataFrame:
        """Origin-destination compute flows of the last year (PFLOP-h by kind)."""
        def build():
            records = getattr(self.sim, "flow_records", None) or []
            return records[-1] if records else pd.DataFrame(columns=["year", "origin", "destination", "kind", "pflop_h"])

        return self.cached("flows", build)

    def study_provinces(self) -> pd.DataFrame:
        """Seed-000 province panel so far (lnTFP by province and year), empty if the study is off."""
        def build():
            study = getattr(self.sim, "studies", {}).get("provinces")
            return study.panel() if study is not None else pd.DataFrame(columns=["province", "year", "region", "lnTFP"])

        return self.cached("study_provinces", build)
