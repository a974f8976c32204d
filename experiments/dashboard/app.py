"""The SolaraViz app of ``suanli dashboard``: the live run (``/``) and two scenarios compared (``/compare``).

Run it with ``solara run experiments.dashboard.app``; ``suanli dashboard`` does that and passes
its options through the environment (``SUANLI_DASHBOARD_SCENARIO``, ``SUANLI_DASHBOARD_SEED``,
``SUANLI_DASHBOARD_COMPARE``), since solara imports this module in its own server process.
"""

from __future__ import annotations

import os

import solara
from mesa.visualization import SolaraViz

from experiments.dashboard.cli import ENV_SCENARIO, ENV_SEED
from experiments.dashboard.compare_page import ComparePage
from experiments.dashboard.session import DashboardModel, model_params
from experiments.dashboard.views import COMPONENTS

CSS = (".vue-grid-item { overflow-y: auto; overflow-x: hidden; } .suanli-summary td { padding: 0 6px; } "
       ".suanli-fig img { max-height: 360px; max-width: 100%; width: auto !important; object-fit: contain; }")


def page_params() -> dict:
    seed = os.environ.get(ENV_SEED)
    return model_params(os.environ.get(ENV_SCENARIO) or None, int(seed) if seed else None)


def initial_model(params: dict) -> DashboardModel:
    values = {k: v["value"] if isinstance(v, dict) and "type" in v else v for k, v in params.items()}
    return DashboardModel(**values)


@solara.component
def LivePage():
    """SolaraViz over one ``DashboardModel``, built per browser session."""
    params = solara.use_memo(page_params, [])
    model = solara.use_memo(lambda: initial_model(params), [])
    solara.Style(CSS)
    SolaraViz(model, components=COMPONENTS, model_params=params, name="SuanLi: the East-West compute economy",
              play_interval=300)


routes = [
    solara.Route(path="/", component=LivePage, label="Live run"),
    solara.Route(path="compare", component=ComparePage, label="Compare scenarios"),
]
