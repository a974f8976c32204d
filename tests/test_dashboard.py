"""The dashboard in a real headless browser (Debian's Chromium driven by Playwright).

The server is started as a user would (``suanli dashboard --port P --scenario FILE``) on a free
localhost port. One test moves the carbon-price slider and the post-designation policy, resets,
steps three years and checks the page's summary against a direct ``SuanLiModel`` run with the
same settings (exactly: the model is deterministic) and against the unchanged run (it must
differ). The other gives a designation year after the end year and a bad seed, and checks
that the page says so in one line, that the server keeps serving, and that a good value runs.
The browser waits only on conditions the page shows (the server's echo of each committed control,
the year drawn, Step greyed out), never for a fixed time.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("solara")

from experiments.dashboard import browser as B

SCENARIO = """
[scenario]
name = "dashboard_test"
description = "A short span for the browser test: hubs in 2020, carbon priced from 2019"
seed = 7
start_year = 2019
end_year = 2024

[hubs]
designation_year = 2020

[policy]
before = "local_first"
after = "east_west_rule"

[market]
carbon_price_cny_per_t = 0.0
carbon_price_from = 2019

[firms]
scale = 0.25

[run]
studies = ["provinces"]
"""
CARBON_PRICE = 300.0
POLICY = "cost_min_lp"


def _need_chromium():
    if not (os.path.exists(B.CHROMIUM) and os.access(B.CHROMIUM, os.X_OK)):
        if os.environ.get("CI"):
            pytest.fail(f"{B.CHROMIUM} missing: .ci/run installs Debian's chromium before the tests")
        pytest.skip(f"{B.CHROMIUM} not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dashboard") / "dashboard_test.toml"
    path.write_text(SCENARIO)
    return path


@pytest.fixture(scope="module")
def server(scenario_file, tmp_path_factory):
    _need_chromium()
    from experiments.dashboard.assets import AssetError, ensure_assets

    try:
        ensure_assets()
    except AssetError as err:
        if os.environ.get("CI") or shutil.which("npm"):
            raise
        pytest.skip(str(err))
    log = tmp_path_factory.mktemp("dashboard_log") / "server.log"
    with B.dashboard_server(scenario=str(scenario_file), log_path=log) as (url, proc):
        yield url, proc, log


def _direct(scenario_file: Path, years: int, **changes) -> dict:
    from experiments.scenario import load_scenario
    from sim.model import SuanLiModel

    sc = load_scenario(scenario_file)
    model = SuanLiModel(replace(sc.config, **changes), seed=sc.seed)
    for _ in range(years):
        model.step()
    return dict(model.summary)


def test_controls_and_three_steps_match_a_direct_model_run(server, scenario_file):
    url, proc, _ = server
    with B.browser() as page:
        B.open_live(page, url)
        assert B.set_slider(page, "Carbon price (CNY/t CO2)", CARBON_PRICE) == CARBON_PRICE
        B.choose(page, "Policy after designation", POLICY)
        B.reset(page)
        B.wait_selector(page, ".suanli-settings td", POLICY)
        for year in (2019, 2020, 2021):
            B.step(page, year)
        shown = B.read_summary(page)
        policy = page.locator(".suanli-policy").inner_text()
        settings = page.locator(".suanli-settings").inner_text()
    assert proc.poll() is None
    assert policy == POLICY
    assert "300" in settings and "control" in settings

    expected = _direct(scenario_file, 3, carbon_price_cny_per_t=CARBON_PRICE, policy_after=POLICY)
    unchanged = _direct(scenario_file, 3)
    assert expected["year"] == 2021 and expected["policy"] == POLICY
    assert len(shown) >= 15
    for metric, text in shown.items():
        assert float(text) == float(expected[metric]), metric
    moved = [m for m in shown if float(shown[m]) != float(unchanged[m])]
    assert {"dc_carbon_mt", "energy_cost_bn_cny"} & set(moved), moved


def test_bad_control_values_show_a_message_and_the_server_survives(server):
    url, proc, _ = server
    with B.browser() as page:
        B.open_live(page, url)
        year = B.slider_to_end(page, "Hub designation year")
        assert year > 2024
        B.reset(page)
        B.wait_selector(page, ".suanli-message")
        text = B.message(page)
        assert f"Hub designation year = {year:g}" in text and "end year 2024" in text
        B.press(page, "Step")
        B.wait_step_disabled(page)  # the server has tried the step
        assert page.locator(".suanli-year").count() == 0 and "Hub designation year" in B.message(page)

        B.set_slider(page, "Hub designation year", 2020)
        B.type_text(page, "Seed", "seven")
        B.reset(page)
        B.wait_selector(page, ".suanli-message", "Seed")
        assert "Seed = 'seven'" in B.message(page) and "non-negative whole number" in B.message(page)
        assert proc.poll() is None

        B.type_text(page, "Seed", "7")
        B.reset(page)
        B.wait_selector(page, ".suanli-message", present=False)
        B.step(page, 2019)
        assert float(B.read_summary(page)["racks_million"]) > 0
    with B.browser() as fresh:
        B.open_live(fresh, url)
        assert B.message(fresh) is None
    assert proc.poll() is None


def _values(params: dict) -> dict:
    return {k: v["value"] if isinstance(v, dict) and "type" in v else v for k, v in params.items()}


def test_controls_left_alone_follow_the_chosen_scenario_and_moved_ones_override_it():
    from experiments.dashboard.session import DashboardModel, model_params
    from experiments.scenario import load_scenario

    params = model_params("default")
    values = _values(params)
    other = DashboardModel(**{**values, "scenario": "carbon_price"})
    assert other.message is None
    assert other.scenario.config == load_scenario("carbon_price").config
    moved = DashboardModel(**{**values, "scenario": "carbon_price", "voucher_share": 0.35, "seed": "11"})
    assert moved.scenario.config == replace(load_scenario("carbon_price").config, voucher_share=0.35)
    assert moved.seed_value == 11 and moved.sim.seed_value == 11
    origin = dict(zip(moved.settings["setting"], moved.settings["from"]))
    assert origin["Compute-voucher share"] == "control" and origin["Carbon price (CNY/t CO2)"] == "scenario carbon_price"


@pytest.mark.parametrize(("change", "words"), [
    ({"designation_year": 2040}, ["Hub designation year = 2040", "no later than the end year 2035"]),
    ({"carbon_price_cny_per_t": 9000.0}, ["Carbon price (CNY/t CO2) = 9000.0", "from 0 to 5000"]),
    ({"start_year": 2030, "end_year": 2025}, ["End year = 2025", "at least"]),
    ({"seed": "-3"}, ["Seed = '-3'", "non-negative whole number"]),
    ({"scenario": "atlantis"}, ["Scenario = 'atlantis'", "must be one of"]),
])
def test_a_bad_control_value_becomes_one_line_and_no_model(change, words):
    from experiments.dashboard.session import DashboardModel, model_params

    m = DashboardModel(**{**_values(model_params("default")), **change})
    assert m.sim is None and m.running is False
    assert "\n" not in m.message and all(w in m.message for w in words), m.message
    m.step()
    assert m.year is None and m.running is False


def test_the_page_echoes_the_committed_controls_and_names_what_reset_would_change():
    from experiments.dashboard.session import model_params
    from experiments.dashboard.views import committed_html

    running = _values(model_params("default"))
    committed = {**running, "carbon_price_cny_per_t": 300.00000000000006, "seed": "seven", "green_contracts": False}
    page = committed_html(committed, running)
    assert 'data-control="carbon_price_cny_per_t" data-value="300"' in page
    assert 'data-control="seed" data-value="seven"' in page and 'data-control="green_contracts" data-value="false"' in page
    assert "Carbon price (CNY/t CO2) = 300" in page and "Seed = seven" in page and "Link speed-up" not in page
    assert "The run uses these controls." in committed_html(running, running)
