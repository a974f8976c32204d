"""SuanLi analysis layer: the studies' estimators and the replication of their tables.

Names are imported on first use (PEP 562), so that ``import analysis.estimands`` or one estimator
does not load every estimator, linearmodels, statsmodels and matplotlib."""

from __future__ import annotations

import importlib

_WHERE = {
    "DescriptiveTable": ("analysis.replicate", "DescriptiveTable"),
    "EstimationResult": ("analysis.results", "EstimationResult"),
    "IV2SLS": ("analysis.iv", "IV2SLS"),
    "MechanismTest": ("analysis.mechanism", "MechanismTest"),
    "NVAR": ("analysis.nvar", "NVAR"),
    "PanelError": ("analysis.checks", "PanelError"),
    "PCAIndexResult": ("analysis.indices", "PCAIndexResult"),
    "PSM": ("analysis.psm", "PSM"),
    "PanelSFA": ("analysis.sfa", "PanelSFA"),
    "PanelThreshold": ("analysis.threshold", "PanelThreshold"),
    "ReplicationTable": ("analysis.replicate", "ReplicationTable"),
    "Replications": ("analysis.replicate", "Replications"),
    "SFAResult": ("analysis.sfa", "SFAResult"),
    "StaggeredDiD": ("analysis.staggered_did", "StaggeredDiD"),
    "TwoWayFE": ("analysis.fixed_effects", "TwoWayFE"),
    "absorb_effects": ("analysis.iv", "absorb_effects"),
    "bartik_instrument": ("analysis.iv", "bartik_instrument"),
    "compare": ("analysis.replicate", "compare"),
    "compare_all": ("analysis.replicate", "compare_all"),
    "df_quality": ("analysis.indices", "df_quality"),
    "distortion_indices": ("analysis.indices", "distortion_indices"),
    "factor_elasticities": ("analysis.indices", "factor_elasticities"),
    "from_linearmodels": ("analysis.results", "from_linearmodels"),
    "kleibergen_paap": ("analysis.iv", "kleibergen_paap"),
    "load_targets": ("analysis.replicate", "load_targets"),
    "lr_critical_value": ("analysis.threshold", "lr_critical_value"),
    "network_lag": ("analysis.nvar", "network_lag"),
    "pca_index": ("analysis.indices", "pca_index"),
    "province_weights": ("analysis.replicate", "province_weights"),
    "replicate_all": ("analysis.replicate", "replicate_all"),
    "stars": ("analysis.results", "stars"),
    "validate_weights": ("analysis.nvar", "validate_weights"),
    "ResultsTable": ("analysis.tables", "ResultsTable"),
    "compare_results": ("analysis.tables", "compare"),
    "plot_event_study": ("analysis.plots", "plot_event_study"),
}

__all__ = list(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    module, attr = _WHERE[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
