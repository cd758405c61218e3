"""The pack's tools as one importable package. Who runs what:

- `runner/`: what users run: the headless runner (`tools/run_workflow.py`), the UI-to-API converter, contact
  sheets, and `runner/batch/` for batches over several servers.
- `comfyui/`: the one home of ComfyUI plumbing, shared by the runner, the host tests and the benchmarks: ComfyUI
  in-process, real servers in subprocesses, tiny FLUX-architecture models (the runner's `--tiny-demo` and the tests).
- `maintain/`: what maintainers run: the workflow, locale and schema builders, the frontend fetcher, the host setup.

Entry scripts in `tools/` and `bench/` put `tools/` on `sys.path` (pytest does it through `pythonpath`); nothing
inside the package edits `sys.path`, and its modules import each other relatively.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The pack's checkout (the folder with its `__init__.py`)."""

PACK_FOLDER = "in-context-lora-panels"
"""What a Comfy Registry install unpacks into (`[project].name`); the tools link the checkout under this name."""


def import_pack(name: str = "iclora_pack"):
    """The pack imported as package `name` from this checkout (by file location, as ComfyUI does), for code that
    calls its logic functions directly. Idempotent."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def tools_importable_env() -> dict[str, str]:
    """This process's environment with `tools/` first on PYTHONPATH: for a fresh interpreter that imports the
    tools package (a subprocess gets the path the way an entry point does, not through code that edits it)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tools"), env.get("PYTHONPATH")]))
    return env
