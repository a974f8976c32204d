"""Run configuration of the model: years, hub programme, policies, prices, scale.

A scenario file (``experiments/scenario.py``) is validated into one of these; the
structural parameters themselves live in ``calibration/parameters.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


MIN_YEAR, MAX_YEAR = 2008, 2060
PRICING = ("tariff", "merit_order")


class ConfigError(ValueError):
    """A run-configuration value the model cannot run with."""


@dataclass
class ModelConfig:
    start_year: int = 2008
    end_year: int = 2035
    hubs_enabled: bool = True
    designation_year: int = 2022
    hub_only_approval: bool = True
    non_hub_growth_cap: float = 0.10
    west_capex_subsidy: float = 0.20
    direct_links: bool = True
    green_contracts: bool = True
    policy_before: str = "local_first"
    policy_after: str = "east_west_rule"
    policy_options: dict[str, Any] = field(default_factory=dict)
    carbon_price_cny_per_t: float = 0.0
    carbon_price_from: int = 2025
    voucher_share: float = 0.0
    voucher_from: int = 2023
    pricing: str = "tariff"
    latency_bound_ms: float | None = None
    link_speedup: float = 1.0
    firm_scale: float = 1.0
    check_invariants: bool = True
    reuse_identical_days: bool = True
    studies: tuple[str, ...] = ("provinces", "cities", "firms")
    parameter_overrides: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ConfigError`` for values the model cannot run with (the scenario schema in
        ``experiments/scenario.py`` gives the full ranges; this guards the Python API)."""
        def bad(name: str, allowed: str) -> None:
            raise ConfigError(f"ModelConfig.{name} = {getattr(self, name)!r}: must be {allowed}")

        for name in ("start_year", "end_year", "designation_year", "carbon_price_from", "voucher_from"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not MIN_YEAR <= v <= MAX_YEAR:
                bad(name, f"an integer year from {MIN_YEAR} to {MAX_YEAR}")
        if self.end_year < self.start_year:
            bad("end_year", f"at least start_year ({self.start_year})")
        for name, lo, hi in (("non_hub_growth_cap", 0.0, 2.0), ("west_capex_subsidy", 0.0, 1.0), ("voucher_share", 0.0, 1.0),
                             ("carbon_price_cny_per_t", 0.0, 5000.0), ("link_speedup", 0.1, 10.0), ("firm_scale", 0.01, 10.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                bad(name, f"a number from {lo:g} to {hi:g}")
        if self.latency_bound_ms is not None and (isinstance(self.latency_bound_ms, bool)
                                                  or not isinstance(self.latency_bound_ms, (int, float))
                                                  or not 0.5 <= self.latency_bound_ms <= 1000.0):
            bad("latency_bound_ms", "None or a number from 0.5 to 1000")
        if self.pricing not in PRICING:
            bad("pricing", "one of " + ", ".join(PRICING))
        if not isinstance(self.policy_options, dict):
            bad("policy_options", "a mapping of policy name to options")

    def policy_for(self, year: int) -> str:
        active = self.hubs_enabled and year >= self.designation_year
        return self.policy_after if active else self.policy_before
