"""Test setup shared by both tiers.

The pack is imported as a package named `iclora_pack` from the repository root, whatever the checkout folder is
called, the same way ComfyUI imports it (by file location), so relative imports are exercised as in production.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_NAME = "iclora_pack"


def _import_pack() -> None:
    if PACKAGE_NAME in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(PACKAGE_NAME, PACK_ROOT / "__init__.py",
                                                  submodule_search_locations=[str(PACK_ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE_NAME] = module
    spec.loader.exec_module(module)


_import_pack()
sys.path.insert(0, str(PACK_ROOT / "tools"))  # tiny_models, workflow_api: shared with the runner and benchmarks
