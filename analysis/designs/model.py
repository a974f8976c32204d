"""The model's own panels: each draw is one SuanLi run (``sim.model.SuanLiModel``) with a fresh seed.

A draw runs the default configuration from 2008 to the last year the estimator's study needs (2022
for seed 000's provinces and seed 001's cities, 2023 for seed 002's firms), with only that study
switched on, and cuts the study's sample (``sim.studies.*.study_sample``). Each specification is
compared with its **estimand** on that draw, the value the run's ``estimands`` table gives
(:mod:`analysis.estimands`): the estimator applied to the outcome without the study equation's error
term, computed from the run's latent truths. The studies' specifications do not nest the model's
mechanism, so the estimand differs from the structural parameter of the truth tables; both are
reported (``truth`` = estimand, ``structural`` = the truth-table value), and each specification's
note says why they differ.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from analysis.designs.base import Design, Draw, Estimand, Spec, register_design
from analysis.estimands import SPECS, StudySpec, estimand_table, specs_of

STUDY_OF = {s.estimator: s.study for s in SPECS}
END_YEAR = {"provinces": 2022, "cities": 2022, "firms": 2023}
COMPARED = {"nvar_two_way": ("beta1", "beta2")}


def run_study(study: str, seed: int, end_year: int | None = None):
    """One model run with only ``study`` on; returns the run's panels (``sim.outputs.collect_panels``,
    all levels) and its ``estimands`` table."""
    from sim.config import ModelConfig
    from sim.model import SuanLiModel
    from sim.outputs import collect_panels

    config = replace(ModelConfig(), end_year=end_year or END_YEAR[study], studies=(study,))
    model = SuanLiModel(config, seed=seed)
    model.run()
    panels = collect_panels(model)
    model.release()
    panels["estimands"] = estimand_table(panels)
    return panels


def _on_data(spec: StudySpec):
    return lambda d: spec.fit(d.data)


@register_design
class ModelPanels(Design):
    """SuanLi's own simulated panels (one model run per draw, default scenario, studies' samples:
    30 provinces x 2008-2022, 336 cities x 2017-2022, about 2,650 firms x 2017-2023). Estimands are the
    run's ``estimands`` table (what each estimator targets on that panel); the structural truth-table
    value each relates to is reported beside them."""

    name = "model"
    title = "The model's own panels"
    sizes = {}
    estimands = {s.key(p): Estimand(s.key(p), unit, s.definition) for s in SPECS for p, (_, unit) in s.params.items()}
    estimators = tuple(dict.fromkeys(s.estimator for s in SPECS))
    replication_seconds = 6.0

    def __init__(self, estimator: str | None = "twfe", **sizes: int) -> None:
        estimator = estimator or "twfe"
        super().__init__(estimator, **sizes)
        if estimator not in STUDY_OF:
            raise ValueError(f"design model: estimator {estimator!r}; allowed {', '.join(STUDY_OF)}")
        self.study = STUDY_OF[estimator]

    def sample_label(self) -> str:
        return {"provinces": "30 provinces x 2008-2022", "cities": "336 cities x 2017-2022",
                "firms": "model firms x 2017-2023"}[self.study]

    def draw(self, rng: np.random.Generator) -> Draw:
        import importlib

        seed = int(rng.integers(0, 2**31 - 1))
        panels = run_study(self.study, seed)
        data = importlib.import_module(f"sim.studies.{self.study}").study_sample(panels[f"study_{self.study}"])
        est = panels["estimands"]
        truth = dict(zip(est["estimand"], est["value"].astype(float)))
        structural = dict(zip(est["estimand"], est["structural_value"].astype(float)))
        return Draw(data, truth, {"seed": seed, "structural": structural})

    def specs(self, estimator: str) -> list[Spec]:
        out = []
        for s in specs_of(estimator):
            fit = _on_data(s)
            for p in COMPARED.get(s.spec, tuple(s.params)):
                out.append(Spec(s.estimator, s.label, p, s.key(p), fit, s.note))
        return out
