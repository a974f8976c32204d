"""Monte Carlo designs: panels with known truth for validating the estimators, one module per design.

Each module holds its generator (the studies' sample sizes as defaults) and a registered
:class:`~analysis.designs.base.Design` that says which estimand each estimator targets on it:

* ``nvar_spillover``: NVAR eq. 14, correctly specified (30 provinces x 15 years)
* ``nvar_common_trend``: NVAR with an omitted common trend (what pooled NVAR then estimates)
* ``sfa_bc92``: translog SFA with BC92 inefficiency (30 x 15)
* ``cohort_effects``: staggered adoption with cohort-specific effects, TWFE vs Callaway-Sant'Anna
  (2,657 firms x 7 years = 18,599)
* ``bartik``: endogenous deployment with a Bartik instrument (2,657 x 7)
* ``psm_selection``: selection on observables with heterogeneous effects (n = 18,599)
* ``threshold``: two-threshold panel (336 cities x 6 years)
* ``fe_panel``: correctly specified two-way FE with AR(1) errors (2,657 x 7)
* ``model``: the model's own panels, one SuanLi run per draw

``experiments.validate`` runs them (``suanli validate``).
"""

from analysis.designs import (  # noqa: F401  (registration)
    bartik,
    fe_panel,
    model,
    nvar_common_trend,
    nvar_spillover,
    psm_selection,
    sfa_bc92,
    staggered_cohort_effects,
    threshold,
)
from analysis.designs.base import DESIGNS, Design, Draw, Estimand, Spec, get_design, register_design

DEFAULT_DESIGN = {"nvar": "nvar_spillover", "sfa": "sfa_bc92", "twfe": "fe_panel", "csdid": "cohort_effects",
                  "iv": "bartik", "psm": "psm_selection", "threshold": "threshold"}
ESTIMATORS = tuple(DEFAULT_DESIGN)

__all__ = ["DEFAULT_DESIGN", "DESIGNS", "ESTIMATORS", "Design", "Draw", "Estimand", "Spec", "get_design",
           "register_design"]
