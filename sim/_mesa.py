"""Mesa without the part of scipy that a SuanLi run does not use.

``import mesa`` imports ``mesa.experimental.continuous_space``, whose only use of scipy is
``from scipy.spatial.distance import cdist``; that import loads scipy.spatial and
scipy.linalg, about 12 MB and a few tenths of a second that a run never uses (the model has
no continuous space). Here mesa is imported with a stand-in ``scipy.spatial.distance`` whose
``cdist`` imports the real module on its first call; the stand-in leaves ``sys.modules`` as
soon as mesa is imported, so every other import of scipy.spatial gets the real module. If
mesa or scipy.spatial is already imported, mesa is simply imported.
"""

from __future__ import annotations

import importlib
import sys
import types

_DISTANCE = "scipy.spatial.distance"


def _cdist(*args, **kwargs):
    return importlib.import_module(_DISTANCE).cdist(*args, **kwargs)


def _import_mesa():
    if "mesa" in sys.modules or "scipy.spatial" in sys.modules:
        return importlib.import_module("mesa")
    stand_in = types.ModuleType(_DISTANCE, "stand-in while sim._mesa imports mesa")
    stand_in.cdist = _cdist
    sys.modules[_DISTANCE] = stand_in
    try:
        return importlib.import_module("mesa")
    finally:
        if sys.modules.get(_DISTANCE) is stand_in:
            del sys.modules[_DISTANCE]
        spatial = sys.modules.get("scipy.spatial")
        if spatial is not None and getattr(spatial, "distance", None) is stand_in:  # imported meanwhile
            spatial.distance = importlib.import_module(_DISTANCE)


mesa = _import_mesa()
