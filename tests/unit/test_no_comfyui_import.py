"""The unit tier's promise: the pack's logic imports without ComfyUI."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_logic_modules_import_without_comfyui():
    script = textwrap.dedent(f"""
        import importlib, importlib.util, sys
        spec = importlib.util.spec_from_file_location("pack", {str(ROOT / '__init__.py')!r},
                                                      submodule_search_locations=[{str(ROOT)!r}])
        module = importlib.util.module_from_spec(spec); sys.modules["pack"] = module; spec.loader.exec_module(module)
        for name in ("layout", "fitting", "canvas", "masks", "split", "errors", "prompts", "sampling_math",
                     "dataset"):
            importlib.import_module("pack.nodes." + name)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("comfy", "comfy_api", "folder_paths"))
        assert not leaked, leaked
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
