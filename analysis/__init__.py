"""SuanLi analysis layer: the studies' estimators and the replication of their tables."""

from analysis.checks import PanelError
from analysis.fixed_effects import TwoWayFE
from analysis.indices import (
    PCAIndexResult,
    df_quality,
    distortion_indices,
    factor_elasticities,
    pca_index,
)
from analysis.iv import IV2SLS, absorb_effects, bartik_instrument, kleibergen_paap
from analysis.mechanism import MechanismTest
from analysis.nvar import NVAR, network_lag, validate_weights
from analysis.psm import PSM
from analysis.replicate import (
    DescriptiveTable,
    ReplicationTable,
    Replications,
    compare,
    compare_all,
    load_targets,
    province_weights,
    replicate_all,
)
from analysis.results import EstimationResult, from_linearmodels, stars
from analysis.sfa import PanelSFA, SFAResult
from analysis.staggered_did import StaggeredDiD
from analysis.threshold import PanelThreshold, lr_critical_value
from analysis.plots import plot_event_study
from analysis.tables import ResultsTable
from analysis.tables import compare as compare_results

__all__ = [
    "DescriptiveTable",
    "EstimationResult",
    "IV2SLS",
    "MechanismTest",
    "NVAR",
    "PanelError",
    "PCAIndexResult",
    "PSM",
    "PanelSFA",
    "PanelThreshold",
    "ReplicationTable",
    "Replications",
    "SFAResult",
    "StaggeredDiD",
    "TwoWayFE",
    "absorb_effects",
    "bartik_instrument",
    "compare",
    "compare_all",
    "df_quality",
    "distortion_indices",
    "factor_elasticities",
    "from_linearmodels",
    "kleibergen_paap",
    "load_targets",
    "lr_critical_value",
    "network_lag",
    "pca_index",
    "province_weights",
    "replicate_all",
    "stars",
    "validate_weights",
    "ResultsTable",
    "compare_results",
    "plot_event_study",
]
