"""The SolaraViz app of ``suanli dashboard``: the live run (``/``) and two scenarios compared (``/compare``).

Run it with ``solara run experiments.dashboard.app``; ``suanli dashboard`` does that and passes
its options through the environment (``SUANLI_DASHBOARD_SCENARIO``, ``SUANLI_DASHBOARD_SEED``,
``SUANLI_DASHBOARD_COMPARE``), since solara imports this module in its own server process.
"""

from __future__ import annotations

import gc
import os

import solara
import solara.lab
from mesa.visualization.solara_viz import ComponentsView, ModelController, ModelCreator, ShowSteps

from experiments.dashboard.cli import ENV_SCENARIO, ENV_SEED
from experiments.dashboard.compare_page import ComparePage
from experiments.dashboard.session import DashboardModel, model_params
from experiments.dashboard.views import COMPONENTS, CommittedControls

TITLE = "SuanLi: the East-West compute economy"
PLAY_INTERVAL_MS = 300
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
    """Mesa's SolaraViz page over one ``DashboardModel`` per browser session, assembled from the parts
    ``SolaraViz`` is made of (``mesa.visualization.solara_viz``: ModelController for Reset/Play/Step,
    ModelCreator for the controls, ComponentsView for the tabs) so that the page can also show the
    control values the server holds for the next Reset (``CommittedControls``), which SolaraViz keeps
    to itself. Years advance one per Step (or per ``PLAY_INTERVAL_MS`` while playing)."""
    params = solara.use_memo(page_params, [])
    first = solara.use_memo(lambda: initial_model(params), [])
    model = solara.use_reactive(first)
    committed = solara.use_reactive({})  # ModelCreator writes the controls here; Reset builds the model from them
    play_interval = solara.use_reactive(PLAY_INTERVAL_MS)
    render_interval = solara.use_reactive(1)
    use_threads = solara.use_reactive(False)
    solara.Style(CSS)
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
        solara.lab.ThemeToggle()
    with solara.Sidebar(), solara.Column():
        with solara.Card("Controls"):
            ModelController(model, model_parameters=committed, play_interval=play_interval,
                            render_interval=render_interval, use_threads=use_threads)
        with solara.Card("Model Parameters"):
            ModelCreator(model, params, model_parameters=committed)
            CommittedControls(committed, model.value)
        with solara.Card("Information"):
            ShowSteps(model.value)
    ComponentsView(COMPONENTS, model.value)


routes = [
    solara.Route(path="/", component=LivePage, label="Live run"),
    solara.Route(path="compare", component=ComparePage, label="Compare scenarios"),
]

# The libraries' objects live as long as the server: keep them out of the collector's full passes, which
# otherwise stop a year's drawing for 0.1-0.2 s every few steps (matplotlib's figures leave many cycles).
gc.freeze()
