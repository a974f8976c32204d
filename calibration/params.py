"""The committed structural parameters: ``calibration/parameters.toml``, loaded by ``sim.parameters``
(the model reads them, so the loader sits in the lowest layer; this name is kept for the
calibration's own code and for users)."""

from sim.parameters import DEFAULT_PATH, RELATIONS, ParameterError, Parameters, load_parameters

__all__ = ["DEFAULT_PATH", "RELATIONS", "ParameterError", "Parameters", "load_parameters"]
