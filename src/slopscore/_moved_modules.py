"""Old module paths that pickled models still name, resolved to where the code lives now.

Before the package was split into wings it was flat, and a scorer registered then names
``slopscore.tracking.ScorerPyfunc``, ``slopscore.classifier.AIDetector`` and
``slopscore.triage.TriageModel`` in its pickles. Importing one of those old paths gives the
module that holds the code now, so such models keep loading, through slopscore or through
``mlflow.pyfunc.load_model`` alike. Only paths that saved models refer to are listed.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

__all__ = ["MOVED_MODULES", "install"]

#: Old path -> the module that replaced it.
MOVED_MODULES = {
    "slopscore.tracking": "slopscore.model.registry",
    "slopscore.scorer": "slopscore.model.scorer",
    "slopscore.classifier": "slopscore.model.detector",
    "slopscore.triage": "slopscore.model.triage",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of :data:`MOVED_MODULES` with the modules they moved to."""

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname not in MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(MOVED_MODULES[spec.name])
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias's spec on the real module; give its own back.
        module.__spec__ = module.__spec__.loader_state


def install() -> None:
    """Add the finder to ``sys.meta_path`` once (after the normal finders)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
