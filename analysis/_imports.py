"""Import one module of a package whose ``__init__`` imports far more (diff-diff's imports every
estimator it has, about 0.3 s): the package's ``__init__`` then runs on the first attribute asked of
the package that its imported submodules have not set, so ``import diff_diff`` still gives the whole
package, with the same submodule objects."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types

_LOCK = threading.RLock()


class _DeferredPackage(types.ModuleType):
    def __getattr__(self, name: str):
        with _LOCK:
            if type(self) is _DeferredPackage:
                self.__class__ = types.ModuleType
                self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def submodule(name: str) -> types.ModuleType:
    """``importlib.import_module(name)``, deferring the ``__init__`` of ``name``'s package if not yet imported."""
    package = name.rpartition(".")[0]
    with _LOCK:
        if package in sys.modules:
            return importlib.import_module(name)
        spec = importlib.util.find_spec(package)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return importlib.import_module(name)
        module = importlib.util.module_from_spec(spec)
        module.__class__ = _DeferredPackage
        sys.modules[package] = module
        try:
            return importlib.import_module(name)
        except BaseException:
            for key in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
                del sys.modules[key]
            raise
