"""The README's "run it" command: a shipped workflow through ComfyUI's executor, from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pack_facts import skip_without_comfyui
from PIL import Image

skip_without_comfyui()

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "tools" / "run_workflow.py"), *args, "--comfyui",
               os.environ["COMFYUI_PATH"]]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_tiny_demo_writes_every_panel_and_a_contact_sheet(tmp_path):
    out = tmp_path / "out"
    result = run(str(ROOT / "workflows" / "font-design-text-only.json"), "--tiny-demo", "--out", str(out),
                 "--summary", "showcases a hand-lettered brush font", "--panel", "1=displays \"Hello\"",
                 "--seed", "3", "--steps", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    panels = sorted(out.glob("font-design_*.png"))
    assert len(panels) == 4  # the text-only workflow saves every panel of the 2 x 2 grid
    with Image.open(out / "contact-sheet.png") as sheet:
        assert sheet.width > 4 * 128 and sheet.height >= 128
    assert "wrote 4 panels" in result.stdout


def test_bad_arguments_are_answered_in_words(tmp_path):
    result = run(str(ROOT / "workflows" / "font-design-text-only.json"), "--tiny-demo", "--panel", "9=too far")
    assert result.returncode != 0 and "--panel takes N=TEXT with N from 1 to 8" in result.stderr
    result = run(str(tmp_path / "missing.json"))
    assert result.returncode != 0 and "missing.json does not exist" in result.stderr
