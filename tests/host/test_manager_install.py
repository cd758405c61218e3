"""Host tier: the pack installed by the real ComfyUI-Manager command line (`cm-cli install <git url>`), then loaded.

What a user of the Manager's "Install via Git URL" gets: the Manager clones the repository into
`custom_nodes/<repository name>`, installs `requirements.txt` line by line, and ComfyUI then imports the folder.
The repository is a bare clone of this checkout's committed HEAD (uncommitted edits are not in it), served as a
`file://localhost/...` URL (the Manager accepts only URLs with a host part). The ComfyUI folder is a temporary copy
of COMFYUI_PATH, so nothing is written into the real one.

Needs the `comfyui-manager` package (4.x), installed outside the test venv so that its dependencies cannot change
the shared one (README, "Install" → "As tested"). The test finds `cm-cli` through $ICLORA_CM_CLI or PATH and skips
with one line when there is none.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pack_facts import OUR_NODE_IDS, skip_without_comfyui

skip_without_comfyui()

ROOT = Path(__file__).resolve().parents[2]
REPO_NAME = "in-context-lora-panels"  # the Git repository's name, so the folder a git install creates
CM_CLI = os.environ.get("ICLORA_CM_CLI") or shutil.which("cm-cli")
if not CM_CLI:
    pytest.skip("Manager install test skipped: no cm-cli (pip install comfyui-manager in a separate venv, then set "
                "ICLORA_CM_CLI to its cm-cli)", allow_module_level=True)

# Run in a fresh interpreter (the test venv's), like ComfyUI starting after the install: import every node from the
# ComfyUI copy's custom_nodes folder and report what loaded.
LOAD_SCRIPT = textwrap.dedent("""
    import asyncio, json, logging, sys
    root = sys.argv[1]
    sys.path.insert(0, root)
    import utils.extra_config
    from comfy.cli_args import args
    args.cpu = True
    messages = []
    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())
    logging.getLogger().addHandler(Collect())
    logging.getLogger().setLevel(logging.INFO)
    import folder_paths, execution, nodes
    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    ours = {k: v for k, v in nodes.NODE_CLASS_MAPPINGS.items() if k.startswith("ICLoRA_")}
    print("RESULT" + json.dumps({
        "custom_nodes": folder_paths.get_folder_paths("custom_nodes"),
        "node_ids": sorted(ours),
        "modules": sorted({nodes.NODE_CLASS_MAPPINGS[k].RELATIVE_PYTHON_MODULE for k in ours}),
        "web": {k: v for k, v in nodes.EXTENSION_WEB_DIRS.items()},
        # Only custom_nodes/ failures count: ComfyUI's own audio nodes fail without torchaudio, harmlessly.
        "import_failed": [m for m in messages if ("IMPORT FAILED" in m or "Cannot import" in m)
                          and "custom_nodes" in m],
        "import_times": [m for m in messages if "seconds" in m and "custom_nodes" in m],
    }))
""")


def _copy_comfyui(source: Path, target: Path) -> Path:
    """A ComfyUI folder of our own: the code copied (about 16 MB), its own empty custom_nodes/user/output."""
    top_level = {"custom_nodes", "user", "output", "temp", "input", "models", ".git", "tests", "tests-unit"}

    def skipped(folder, names):
        return [n for n in names if n == "__pycache__" or (Path(folder) == source and n in top_level)]

    shutil.copytree(source, target, ignore=skipped)
    for name in ("custom_nodes", "input", "output", "temp", "user", "models"):
        (target / name).mkdir(exist_ok=True)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(ComfyUI copy, cm-cli output, load report) after `cm-cli install file://localhost/<bare clone>`."""
    work = tmp_path_factory.mktemp("manager")
    comfy_copy = _copy_comfyui(Path(os.environ["COMFYUI_PATH"]).resolve(), work / "ComfyUI")
    bare = work / "git" / f"{REPO_NAME}.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(ROOT), str(bare)], check=True, timeout=120)
    env = {**os.environ, "COMFYUI_PATH": str(comfy_copy), "COLUMNS": "1000"}  # no wrapping of its log lines
    env.pop("COMFYUI_FOLDERS_BASE_PATH", None)
    install = subprocess.run([CM_CLI, "install", f"file://localhost{bare}"], env=env, cwd=work,
                             capture_output=True, text=True, timeout=600)
    output = install.stdout + install.stderr
    assert install.returncode == 0, output[-4000:]
    load = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(comfy_copy)], cwd=work, capture_output=True,
                          text=True, timeout=600)
    lines = [line for line in load.stdout.splitlines() if line.startswith("RESULT")]
    assert load.returncode == 0 and lines, (load.stdout + load.stderr)[-4000:]
    return comfy_copy, output, json.loads(lines[-1][len("RESULT"):])


def test_manager_clones_the_pack_into_custom_nodes(installed):
    comfy_copy, output, _ = installed
    folder = comfy_copy / "custom_nodes" / REPO_NAME
    assert "[INSTALLED] file://localhost" in output, output[-4000:]
    assert (folder / "__init__.py").is_file() and (folder / "js" / "iclora.js").is_file()
    assert (folder / ".git").is_dir(), "a git install keeps the clone, so the Manager can update it"
    head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    ours = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert head.strip() == ours.strip()


def test_manager_installs_requirements_line_by_line(installed):
    _, output, _ = installed
    # The Manager's own log of what it ran: one pip call per requirement, torch-family and blacklisted ones skipped.
    for requirement in ("numpy", "pillow", "einops"):
        assert f"'install', '{requirement}'" in output, f"the Manager did not pip-install {requirement}"
    assert "Installation was successful." in output


def test_comfyui_loads_the_installed_pack_without_import_failure(installed):
    comfy_copy, _, report = installed
    assert report["custom_nodes"] == [str(comfy_copy / "custom_nodes")]
    assert report["import_failed"] == [], report["import_failed"]
    timed = [m for m in report["import_times"] if m.endswith(f"custom_nodes/{REPO_NAME}")]
    assert len(timed) == 1 and "IMPORT FAILED" not in timed[0], report["import_times"]
    assert set(OUR_NODE_IDS) <= set(report["node_ids"]), report["node_ids"]
    assert report["modules"] == [f"custom_nodes.{REPO_NAME}"]
    assert Path(report["web"][REPO_NAME]) == comfy_copy / "custom_nodes" / REPO_NAME / "js"
