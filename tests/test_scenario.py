"""Scenario files: every built-in one parses; bad keys and values fail with one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from experiments.cli import main
from experiments.scenario import ScenarioError, builtin_scenarios, load_scenario, parse_scenario


@pytest.mark.parametrize("name", builtin_scenarios())
def test_builtin_scenarios_parse(name):
    s = load_scenario(name)
    assert s.config.start_year <= s.config.end_year


def test_policy_all_sets_both():
    s = parse_scenario({"policy": {"all": "cost_min_lp"}})
    assert s.config.policy_before == s.config.policy_after == "cost_min_lp"


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"hubs": {"designation_yr": 2022}}, "unknown key 'hubs.designation_yr' (allowed in [hubs]: enabled, designation_year"),
        ({"hub": {"enabled": True}}, "unknown section [hub]"),
        ({"hubs": {"designation_year": 1990}}, "hubs.designation_year = 1990: must be an integer from 2008 to 2060"),
        ({"hubs": {"enabled": "yes"}}, "hubs.enabled = 'yes': must be true or false"),
        ({"policy": {"after": "cheapest"}}, "policy.after = 'cheapest': must be one of carbon_aware, "),
        ({"market": {"voucher_share": 1.5}}, "market.voucher_share = 1.5: must be a number from 0 to 1"),
        ({"power": {"pricing": "spot"}}, "power.pricing = 'spot': must be one of tariff, merit_order"),
        ({"scenario": {"start_year": 2020, "end_year": 2010}}, "scenario.end_year = 2010: must be at least scenario.start_year (2020)"),
        ({"parameters": {"datacentre.rack_kwh": 3.0}}, "unknown parameter 'datacentre.rack_kwh'"),
        ({"parameters": {"datacentre.rack_kw": "big"}}, "parameters.datacentre.rack_kw = 'big': must be a number"),
    ],
)
def test_bad_scenarios_name_key_value_and_allowed(raw, message):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(raw, "bad.toml")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_rejects_bad_file_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[market]\ncarbon_price_cny_per_t = -5\n")
    out = tmp_path / "out"
    code = main(["run", "--scenario", str(bad), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "market.carbon_price_cny_per_t = -5: must be a number from 0 to 5000" in err[0]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad]


def test_cli_rejects_invalid_toml_and_years(tmp_path, capsys):
    bad = tmp_path / "broken.toml"
    bad.write_text("[market\n")
    assert main(["run", "--scenario", str(bad), "--quiet"]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["run", "--years", "2035-2008", "--quiet"]) == 2
    assert "--years = '2035-2008'" in capsys.readouterr().err


def test_console_script_exit_code(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy]\nbefore = 3\n")
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", "run", "--scenario", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"suanli: error: scenario {bad}: policy.before = 3: must be one of " + proc.stderr.split("must be one of ")[1].strip()
