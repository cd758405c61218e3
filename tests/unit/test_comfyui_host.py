"""The host-setup tool's pure parts: ComfyUI's version, the torch trio for it, the requirements it installs, what
its core imports, and which files a partial git snapshot lacks (tools/iclora_tools/maintain/comfyui_host.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from iclora_tools.maintain import comfyui_host as host


def test_version_is_read_from_comfyui_version_py():
    assert host.parse_version('# auto-generated\n__version__ = "0.33.0"\n') == "0.33.0"
    assert host.parse_version("__version__ = '0.3.64'") == "0.3.64"
    with pytest.raises(ValueError, match="__version__"):
        host.parse_version("version = 1")


def test_torchaudio_in_the_core_picks_the_trio_that_has_one():
    assert host.choose_torch(needs_torchaudio=True).torchaudio is not None
    assert host.choose_torch(needs_torchaudio=True).requirements() == [
        f"torch=={host.TORCH_WITH_TORCHAUDIO.torch}", f"torchvision=={host.TORCH_WITH_TORCHAUDIO.torchvision}",
        f"torchaudio=={host.TORCH_WITH_TORCHAUDIO.torchaudio}"]
    without = host.choose_torch(needs_torchaudio=False)
    assert without.torchaudio is None
    assert not any(pin.startswith("torchaudio") for pin in without.requirements())


def test_requirements_drop_the_torch_trio_and_3d_packages_but_keep_torchsde():
    text = """comfyui-frontend-package==1.49.6
torch
torchsde
torchvision
torchaudio>=2
numpy>=1.25.0
TorchVision==0.26.0  # any case, any pin
requests

#non essential dependencies:
PyOpenGL>=3.1.8
comfy_angle
-e ./local
"""
    assert host.filter_requirements(text) == ["comfyui-frontend-package==1.49.6", "torchsde", "numpy>=1.25.0",
                                              "requests"]


def test_requests_is_added_when_comfyui_does_not_list_it():
    assert host.filter_requirements("numpy\n") == ["numpy", "requests"]


def test_only_unguarded_module_level_imports_count():
    source = """
import torch
from comfy import model_base
if True:
    import torchaudio
try:
    import guarded
except ImportError:
    pass
def later():
    import inside_function
from . import sibling
"""
    names = [name for name, _level in host.module_level_imports(source)]
    assert "torch" in names and "comfy.model_base" in names and "torchaudio" in names and "sibling" in names
    assert "guarded" not in names and "inside_function" not in names


def _write(root: Path, relative: str, text: str) -> None:
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_text(text)


def test_core_imports_follow_imports_from_the_start_up_files_only(tmp_path):
    _write(tmp_path, "main.py", "import nodes\n")
    _write(tmp_path, "nodes.py", "import comfy.sd\n")
    _write(tmp_path, "comfy/__init__.py", "")
    _write(tmp_path, "comfy/sd.py", "from .ldm import audio_vae\n")
    _write(tmp_path, "comfy/ldm/__init__.py", "")
    _write(tmp_path, "comfy/ldm/audio_vae.py", "import torchaudio\n")
    _write(tmp_path, "comfy_extras/nodes_audio.py", "import torchaudio\n")  # loaded later, not core
    assert host.core_imports(tmp_path, "torchaudio") == [tmp_path / "comfy/ldm/audio_vae.py"]
    _write(tmp_path, "comfy/sd.py", "try:\n    from .ldm import audio_vae\nexcept ImportError:\n    pass\n")
    assert host.core_imports(tmp_path, "torchaudio") == []


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_blobs_absent_from_a_snapshot_are_found(tmp_path):
    repo = tmp_path / "repo"
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    _write(repo, "kept.py", "x = 1\n")
    _write(repo, "big/tokenizer.json", "{}\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD:big/tokenizer.json"], check=True, capture_output=True,
                         text=True).stdout.strip()
    assert host.missing_blobs(repo / ".git") == []
    (repo / ".git" / "objects" / sha[:2] / sha[2:]).unlink()
    assert host.missing_blobs(repo / ".git") == ["big/tokenizer.json"]
    target = tmp_path / "export"
    assert host.export_source(repo, target) == ["big/tokenizer.json"]
    assert (target / "kept.py").read_text() == "x = 1\n" and not (target / "big" / "tokenizer.json").exists()
