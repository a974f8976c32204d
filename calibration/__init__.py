"""Calibration: the committed structural parameters and the fitting that produced them."""

from calibration.params import Parameters, load_parameters

__all__ = ["Parameters", "load_parameters"]
