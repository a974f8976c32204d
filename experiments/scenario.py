"""Scenario files: TOML, validated field by field into a ``ModelConfig``.

A scenario names what differs from the default world: the hub programme, the scheduling
policies, carbon price, vouchers, power pricing, link speed, scale and any structural
parameter. A wrong key or value raises ``ScenarioError`` naming the key, the value and
what is allowed. Built-in scenarios live in ``experiments/scenarios/``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from calibration.params import ParameterError, load_parameters
from sim.config import ModelConfig
from sim.policies import available as available_policies

SCENARIO_DIR = Path(__file__).with_name("scenarios")
MIN_YEAR, MAX_YEAR = 2008, 2060


class ScenarioError(ValueError):
    """A scenario file whose key or value is not allowed."""


@dataclass
class Scenario:
    name: str
    description: str
    config: ModelConfig
    seed: int | None = None
    source: str = "<built-in>"
    raw: dict[str, Any] = field(default_factory=dict)


def _int_range(lo: int, hi: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi), f"an integer from {lo} to {hi}"


def _num_range(lo: float, hi: float) -> tuple[Callable[[Any], bool], str]:
    return (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi
    ), f"a number from {lo:g} to {hi:g}"


def _choice(options: list[str]) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: isinstance(v, str) and (v in options or ":" in v)), "one of " + ", ".join(options) + " or 'file.py:ClassName'"


BOOL = ((lambda v: isinstance(v, bool)), "true or false")
TEXT = ((lambda v: isinstance(v, str)), "a string")
YEAR = _int_range(MIN_YEAR, MAX_YEAR)
SHARE = _num_range(0.0, 1.0)


def _schema() -> dict[str, dict[str, tuple[str | None, tuple]]]:
    policies = available_policies()
    pol = _choice(policies)
    return {
        "scenario": {
            "name": (None, TEXT),
            "description": (None, TEXT),
            "seed": (None, _int_range(0, 2**63 - 1)),
            "start_year": ("start_year", YEAR),
            "end_year": ("end_year", YEAR),
        },
        "hubs": {
            "enabled": ("hubs_enabled", BOOL),
            "designation_year": ("designation_year", YEAR),
            "hub_only_approval": ("hub_only_approval", BOOL),
            "non_hub_growth_cap": ("non_hub_growth_cap", _num_range(0.0, 2.0)),
            "west_capex_subsidy": ("west_capex_subsidy", SHARE),
            "direct_links": ("direct_links", BOOL),
            "green_contracts": ("green_contracts", BOOL),
        },
        "policy": {
            "all": (None, pol),
            "before": ("policy_before", pol),
            "after": ("policy_after", pol),
            "options": ("policy_options", ((lambda v: isinstance(v, dict) and all(isinstance(x, dict) for x in v.values())), "a table of tables, one per policy name")),
        },
        "market": {
            "carbon_price_cny_per_t": ("carbon_price_cny_per_t", _num_range(0.0, 5000.0)),
            "carbon_price_from": ("carbon_price_from", YEAR),
            "voucher_share": ("voucher_share", SHARE),
            "voucher_from": ("voucher_from", YEAR),
            "inference_latency_ms": ("latency_bound_ms", _num_range(0.5, 1000.0)),
        },
        "power": {"pricing": ("pricing", ((lambda v: v in ("tariff", "merit_order")), "one of tariff, merit_order"))},
        "network": {"link_speedup": ("link_speedup", _num_range(0.1, 10.0))},
        "firms": {"scale": ("firm_scale", _num_range(0.01, 10.0))},
        "run": {
            "check_invariants": ("check_invariants", BOOL),
            "studies": ("studies", ((lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)), "a list of study names")),
        },
    }


def parse_scenario(raw: dict[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a scenario mapping (as read from TOML) into a ``Scenario``."""
    schema = _schema()
    cfg: dict[str, Any] = {}
    seed = None
    meta = {"name": Path(source).stem if source not in ("<dict>", "<built-in>") else "scenario", "description": ""}

    def fail(key: str, value: Any, allowed: str) -> None:
        raise ScenarioError(f"scenario {source}: {key} = {value!r}: must be {allowed}")

    for section, body in raw.items():
        if section == "parameters":
            if not isinstance(body, dict):
                fail("parameters", body, "a table of 'section.name' = number")
            try:
                load_parameters(overrides=body)
            except ParameterError as err:
                raise ScenarioError(f"scenario {source}: {err}") from None
            cfg["parameter_overrides"] = dict(body)
            continue
        if section not in schema:
            raise ScenarioError(
                f"scenario {source}: unknown section [{section}] (allowed: {', '.join(sorted(schema) + ['parameters'])})"
            )
        if not isinstance(body, dict):
            fail(section, body, "a table")
        for key, value in body.items():
            if key not in schema[section]:
                raise ScenarioError(
                    f"scenario {source}: unknown key '{section}.{key}' (allowed in [{section}]: {', '.join(schema[section])})"
                )
            target, (check, allowed) = schema[section][key]
            if not check(value):
                fail(f"{section}.{key}", value, allowed)
            if section == "scenario" and key in ("name", "description"):
                meta[key] = value
            elif section == "scenario" and key == "seed":
                seed = value
            elif section == "policy" and key == "all":
                cfg["policy_before"] = cfg["policy_after"] = value
            elif section == "run" and key == "studies":
                cfg[target] = tuple(value)
            else:
                cfg[target] = value
    if not raw:
        raise ScenarioError(f"scenario {source}: is empty; must have at least a [scenario] table (see experiments/scenarios/default.toml)")
    start, end = cfg.get("start_year", ModelConfig.start_year), cfg.get("end_year", ModelConfig.end_year)
    if end < start:
        fail("scenario.end_year", end, f"at least scenario.start_year ({start})")
    try:
        config = ModelConfig(**cfg)
    except ValueError as err:
        raise ScenarioError(f"scenario {source}: {err}") from None
    if config.hubs_enabled and not (config.start_year <= config.designation_year):
        fail("hubs.designation_year", config.designation_year, f"no earlier than the start year {config.start_year}")
    check_studies(config, source)
    check_policy_options(config, source)
    check_policies(config, source)
    return Scenario(meta["name"], meta["description"], config, seed, source, raw)


def check_studies(config: ModelConfig, source: str = "<config>") -> None:
    """Every name in ``[run] studies`` must be a registered study module."""
    from sim.studies import STUDIES

    unknown = [s for s in config.studies if s not in STUDIES]
    if unknown:
        raise ScenarioError(f"scenario {source}: run.studies = {list(config.studies)!r}: unknown study {unknown[0]!r} "
                            f"(allowed: {', '.join(sorted(STUDIES))})")


def check_policy_options(config: ModelConfig, source: str = "<config>") -> None:
    """``[policy.options.NAME]`` only for a registered policy or a ``file.py:Class`` spec."""
    known = set(available_policies())
    for name, opts in config.policy_options.items():
        if name not in known and ":" not in name:
            raise ScenarioError(f"scenario {source}: policy.options.{name}: unknown policy {name!r} "
                                f"(allowed: {', '.join(sorted(known))} or 'file.py:ClassName')")
        if not isinstance(opts, dict):
            raise ScenarioError(f"scenario {source}: policy.options.{name} = {opts!r}: must be a table of options")


def check_policies(config: ModelConfig, source: str = "<config>") -> None:
    """Load and instantiate each policy the run may use (before and after designation) with its
    options, and check that it has ``assign(problem)``: a bad ``file.py:Class`` fails before simulating."""
    import inspect

    from sim.policies import make_policy

    for key, spec in (("policy.before", config.policy_before), ("policy.after", config.policy_after)):
        if not isinstance(spec, str):
            continue
        opts = config.policy_options.get(spec, {})
        try:
            policy = make_policy(spec, **opts)
        except Exception as err:  # user code may raise anything while importing or constructing
            reason = str(err).splitlines()[0] if str(err) else ""
            raise ScenarioError(f"scenario {source}: {key} = {spec!r}: cannot be loaded "
                                f"({type(err).__name__}{': ' + reason[:160] if reason else ''})") from None
        assign = getattr(policy, "assign", None)
        if not callable(assign):
            raise ScenarioError(f"scenario {source}: {key} = {spec!r}: is not a policy (needs a method assign(problem))")
        try:
            inspect.signature(assign).bind(object())
        except TypeError:
            raise ScenarioError(f"scenario {source}: {key} = {spec!r}: assign() must take one argument, the "
                                "SchedulingProblem") from None
        except ValueError:
            pass


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read and validate a scenario file; ``None`` or a built-in name gives the built-in one."""
    if path is None:
        path = SCENARIO_DIR / "default.toml"
    p = Path(path)
    if not p.exists() and (SCENARIO_DIR / f"{path}.toml").exists():
        p = SCENARIO_DIR / f"{path}.toml"
    if not p.exists():
        raise ScenarioError(f"scenario {path}: no such file (built-in: {', '.join(builtin_scenarios())})")
    if p.is_dir():
        raise ScenarioError(f"scenario {p}: is a directory; must be a TOML file or a built-in name ({', '.join(builtin_scenarios())})")
    try:
        with open(p, "rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"scenario {p}: not valid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise ScenarioError(f"scenario {p}: not a UTF-8 text file (byte {err.start}); must be TOML in UTF-8") from None
    except OSError as err:
        raise ScenarioError(f"scenario {p}: cannot be read ({err.strerror or err})") from None
    return parse_scenario(raw, str(p))


def builtin_scenarios() -> list[str]:
    return sorted(f.stem for f in SCENARIO_DIR.glob("*.toml"))
