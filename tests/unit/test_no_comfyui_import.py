"""The unit tier's promise, and the layout's rule: every module of `nodes/core/` imports without ComfyUI, and none
mentions a ComfyUI module even in a deferred import; ComfyUI's side lives in `nodes/host/`."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "nodes" / "core"
HOST_ROOTS = {"comfy", "comfy_api", "comfy_execution", "comfy_extras", "folder_paths", "node_helpers",
              "latent_preview", "server", "execution", "nodes"}


def core_modules() -> list[str]:
    return sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                  for p in CORE.rglob("*.py"))


def imported_roots(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file, including those inside functions."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_has_the_pure_logic_modules():
    names = {name.rsplit(".", 1)[-1] for name in core_modules()}
    assert {"layout", "fitting", "canvas", "masks", "split", "errors", "prompts", "sampling_math"} <= names


def test_no_core_module_mentions_comfyui():
    offenders = {str(p.relative_to(ROOT)): sorted(imported_roots(p) & HOST_ROOTS) for p in CORE.rglob("*.py")}
    assert {path: roots for path, roots in offenders.items() if roots} == {}


def test_every_core_module_imports_without_comfyui():
    script = textwrap.dedent(f"""
        import importlib, importlib.util, sys
        spec = importlib.util.spec_from_file_location("pack", {str(ROOT / '__init__.py')!r},
                                                      submodule_search_locations=[{str(ROOT)!r}])
        module = importlib.util.module_from_spec(spec); sys.modules["pack"] = module; spec.loader.exec_module(module)
        for name in {core_modules()!r}:
            importlib.import_module("pack." + name)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in {sorted(HOST_ROOTS)!r})
        assert not leaked, leaked
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_the_tools_package_has_no_import_circle():
    """Modules of iclora_tools import each other one way only (a circle once loaded a builder twice)."""
    tools = ROOT / "tools" / "iclora_tools"
    graph: dict[str, set[str]] = {}
    for path in tools.rglob("*.py"):
        name = ".".join(path.relative_to(tools.parent).with_suffix("").parts).removesuffix(".__init__")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                edges.add(target)
                edges.update(f"{target}.{alias.name}" for alias in node.names)
        graph[name] = edges
    graph = {name: {t for t in edges if t in graph and t != name and not name.startswith(t + ".")}
             for name, edges in graph.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(t == goal or (t not in seen and not seen.add(t) and reaches(t, goal, seen)) for t in graph[start])

    circles = sorted(name for name in graph if reaches(name, name, set()))
    assert circles == []
