"""The model's own panels: each draw is one SuanLi run (``sim.model.SuanLiModel``) with a fresh seed.

A draw runs the default configuration from 2008 to the last year the estimator's study needs (2022
for seed 000's provinces and seed 001's cities, 2023 for seed 002's firms), with only that study
switched on, and cuts the study's sample (``sim.studies.*.study_sample``). Truths come from the run's
truth tables: the parameter rows of ``truth_<study>`` and, for effects of deployment, the realised
average of ``tau_EXPY`` in ``latent_firms``. These are the *structural* values; the estimators fit
the studies' specifications, which do not nest the model's mechanism, so their estimand can differ
from the structural value; each specification's note says how.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from analysis.designs.base import Design, Draw, Estimand, Spec, register_design
from analysis.fixed_effects import TwoWayFE
from analysis.nvar import NVAR
from analysis.sfa import PanelSFA
from analysis.staggered_did import StaggeredDiD
from analysis.threshold import PanelThreshold

STUDY_OF = {"nvar": "provinces", "sfa": "provinces", "threshold": "cities", "twfe": "firms", "iv": "firms",
            "psm": "firms", "csdid": "firms"}
END_YEAR = {"provinces": 2022, "cities": 2022, "firms": 2023}
P1_CONTROLS = ("Z0", "Z1", "Z2", "Z3", "Z4", "Z5")
P2_CONTROLS = ("logpeo", "logfin", "logfou", "loginvest", "logretail", "logagri", "logindus", "loginex")
P3_CONTROLS = ("lnEmployee", "lnFirmAge", "ROA", "Assetturn", "Cashflow", "Dual", "Top1", "Occupy", "Mshare",
               "TobinQ")


def run_study(study: str, seed: int, end_year: int | None = None):
    """One model run with only ``study`` on; returns the run's panels (``sim.outputs.collect_panels``)."""
    from sim.config import ModelConfig
    from sim.model import SuanLiModel
    from sim.outputs import collect_panels

    config = replace(ModelConfig(), end_year=end_year or END_YEAR[study], studies=(study,))
    model = SuanLiModel(config, seed=seed)
    model.run()
    panels = collect_panels(model)
    model.release()
    return panels


def _truth(panels: dict, study: str, name: str) -> float:
    t = panels[f"truth_{study}"].set_index("name")["value"]
    return float(t[name])


def cohort_frame(sample: pd.DataFrame, first: int = 2017) -> pd.DataFrame:
    """Firm sample with ``cohort`` = first year with IDC = 1 (0 = never); firms already deployed in
    ``first`` (always treated in the window) are dropped, as Callaway-Sant'Anna requires."""
    g = sample.loc[sample["IDC"] > 0].groupby("firm_id")["year"].min()
    out = sample.assign(cohort=sample["firm_id"].map(g).fillna(0).astype(int))
    return out[out["cohort"] != first].reset_index(drop=True)


@register_design
class ModelPanels(Design):
    """SuanLi's own simulated panels (one model run per draw, default scenario, studies' samples:
    30 provinces x 2008-2022, 336 cities x 2017-2022, about 2,650 firms x 2017-2023). Estimands are the
    run's truth-table values; see each specification's note for what the studies' estimator targets."""

    name = "model"
    title = "The model's own panels"
    sizes = {}
    estimands = {
        "province_economy.beta1_qty": Estimand("province_economy.beta1_qty", "log TFP per DF unit",
                                               "structural network spillover of DF_qty on TFP"),
        "province_economy.beta2": Estimand("province_economy.beta2", "coefficient", "TFP persistence"),
        "province_economy.alpha_qty": Estimand("province_economy.alpha_qty", "log TFP per DF unit",
                                               "own-province effect of DF_qty"),
        "province_economy.elasticity_k": Estimand("province_economy.elasticity_k", "elasticity",
                                                  "output elasticity of capital in the frontier"),
        "province_economy.elasticity_l": Estimand("province_economy.elasticity_l", "elasticity",
                                                  "output elasticity of labour in the frontier"),
        "city_economy.elasticity_low": Estimand("city_economy.elasticity_low", "elasticity",
                                                "GDP elasticity of compute, low-GDP regime"),
        "city_economy.elasticity_mid": Estimand("city_economy.elasticity_mid", "elasticity",
                                                "GDP elasticity of compute, middle regime"),
        "city_economy.elasticity_high": Estimand("city_economy.elasticity_high", "elasticity",
                                                 "GDP elasticity of compute, high-GDP regime"),
        "att_EXPY_2017_2023": Estimand("att_EXPY_2017_2023", "log points",
                                       "realised ATT of deployment on EXPY over deployed firm-years 2017-2023"),
        "att_EXPY_cohorts": Estimand("att_EXPY_cohorts", "log points",
                                     "realised ATT over deployed firm-years of firms adopting 2018-2023"),
    }
    estimators = ("nvar", "sfa", "twfe", "csdid", "iv", "psm", "threshold")
    replication_seconds = 5.0

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
        from sim.studies import cities, firms, provinces

        seed = int(rng.integers(0, 2**31 - 1))
        panels = run_study(self.study, seed)
        raw = panels[f"study_{self.study}"]
        truth: dict[str, float] = {}
        extra: dict = {"seed": seed}
        if self.study == "provinces":
            data = provinces.study_sample(raw)
            for k in ("beta1_qty", "beta2", "alpha_qty", "elasticity_k", "elasticity_l"):
                truth[f"province_economy.{k}"] = _truth(panels, "provinces", f"province_economy.{k}")
        elif self.study == "cities":
            data = cities.study_sample(raw)
            for k in ("elasticity_low", "elasticity_mid", "elasticity_high"):
                truth[f"city_economy.{k}"] = _truth(panels, "cities", f"city_economy.{k}")
        else:
            data = firms.study_sample(raw)
            truth["att_EXPY_2017_2023"] = _truth(panels, "firms", "att_EXPY_2017_2023")
            lat = panels["latent_firms"].merge(raw[["firm_id", "year", "IDC"]], on=["firm_id", "year"])
            lat = lat[(lat["year"] >= 2017) & (lat["year"] <= 2023)]
            coh = cohort_frame(lat)
            adopted = coh[(coh["cohort"] > 0) & (coh["IDC"] > 0)]
            truth["att_EXPY_cohorts"] = float(adopted["tau_EXPY"].mean()) if len(adopted) else np.nan
        return Draw(data, truth, extra)

    def specs(self, estimator: str) -> list[Spec]:
        from analysis.replicate import p3_table4, province_weights

        common = ("The model's DGP is richer than the study's equation (common national paths, "
                  "interactions, measurement through indices), so the structural value need not be the "
                  "estimator's probability limit; read bias against that, and coverage accordingly.")

        def nvar(d: Draw, effects: str | None = None):
            df = d.data
            W = province_weights("geo", sorted(df["province"].unique()))
            return NVAR(df, "lnTFP", "DF_qty", W, "province", "year", controls=list(P1_CONTROLS),
                        effects=effects, cov="cluster" if effects else "robust").fit()

        def nvar_fe(d: Draw):
            return nvar(d, "two-way")

        def sfa(d: Draw):
            return PanelSFA(d.data, "Y", ["K", "L"], "province", "year", form="cobb-douglas",
                            inefficiency="bc92").fit()

        def thr(d: Draw):
            return PanelThreshold(d.data, "loggdp", ["logcomputing"], "pGDP", "city_id", "year",
                                  list(P2_CONTROLS), n_thresholds=2, time_effects=True).fit()

        def twfe(d: Draw):
            return TwoWayFE(d.data, "EXPY", ["IDC", *P3_CONTROLS], "firm_id", "year").fit()

        def table4(d: Draw):
            t = p3_table4(d.data)
            res = t.results["IV second stage"]
            res.extra["psm_fe"] = t.results["PSM"]
            return res

        def psm(d: Draw):
            return p3_table4(d.data).results["PSM"]

        def cs(d: Draw):
            return StaggeredDiD(cohort_frame(d.data), "EXPY", "firm_id", "year", "cohort").fit()

        firm_note = ("The effect ramps in over a year and differs by ownership, industry and data platform; "
                     "adoption is selected on capability, which also enters EXPY. ")
        table = {
            "nvar": [Spec("nvar", "NVAR eq. 14 (seed 000 table 2 col. 8)", p, f"province_economy.{k}", nvar,
                          "In the model DF_qty and TFP share national trends and TFP also loads on the quality "
                          "network, distortions and innovation; pooled NVAR absorbs the common component into "
                          "W·DF, so coverage of the structural beta1 is low. " + common)
                     for p, k in (("beta1", "beta1_qty"), ("beta2", "beta2"), ("alpha", "alpha_qty"))]
                    + [Spec("nvar", "NVAR eq. 14 with province and year effects (diagnostic)", "beta1",
                            "province_economy.beta1_qty", nvar_fe,
                            "Year effects absorb the national paths and province effects mu_i, province-"
                            "clustered errors; with a lagged outcome and T = 15 the within estimator carries "
                            "Nickell bias in beta2, which spills into beta1. " + common)],
            "sfa": [Spec("sfa", "Cobb-Douglas SFA, BC92", p, f"province_economy.elasticity_{p[0].lower()}", sfa,
                         "The model's frontier shifts with max_i lnTFP_t, not a linear trend, and TFP is "
                         "correlated with capital accumulated from output, so the input elasticities are "
                         "confounded. " + common) for p in ("K", "L")],
            "threshold": [Spec("threshold", "Hansen threshold, 2 thresholds, year FE", f"logcomputing_r{j + 1}",
                               f"city_economy.elasticity_{r}", thr,
                               "The hub-city increment (elasticity_pivot) is omitted and the regimes are "
                               "defined on pGDP as in the model. " + common)
                          for j, r in enumerate(("low", "mid", "high"))],
            "twfe": [Spec("twfe", "Two-way FE (seed 002 table 3 col. 2)", "IDC", "att_EXPY_2017_2023", twfe,
                          firm_note + "TWFE weights cells unevenly and uses already-deployed firms as controls. "
                          + common)],
            "iv": [Spec("iv", "Bartik 2SLS (seed 002 table 4)", "IDC", "att_EXPY_2017_2023", table4,
                        firm_note + "2SLS estimates a LATE of instrument compliers, not the ATT. " + common)],
            "psm": [Spec("psm", "PSM matched-sample two-way FE (seed 002 table 4)", "IDC", "att_EXPY_2017_2023",
                         psm, firm_note + common)],
            "csdid": [Spec("csdid", "Callaway-Sant'Anna, never-treated controls", "ATT", "att_EXPY_cohorts", cs,
                           firm_note + "CS without covariates assumes parallel trends unconditionally; firms "
                           "enter and exit, so the panel is unbalanced. " + common)],
        }
        return table[estimator]
