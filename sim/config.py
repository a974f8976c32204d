"""Run configuration of the model: years, hub programme, policies, prices, scale.

A scenario file (``experiments/scenario.py``) is validated into one of these; the
structural parameters themselves live in ``calibration/parameters.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    studies: tuple[str, ...] = ("provinces", "cities", "firms")
    parameter_overrides: dict[str, float] = field(default_factory=dict)

    def policy_for(self, year: int) -> str:
        active = self.hubs_enabled and year >= self.designation_year
        return self.policy_after if active else self.policy_before
