"""The published numbers the calibration reproduces (``calibration/targets.csv``); the loader is
``analysis.published``, which the replication tables share. Each row's statistic is computed from a
simulated run by ``calibration.moments``."""

from analysis.published import TARGETS_PATH, load_targets

__all__ = ["TARGETS_PATH", "load_targets"]
