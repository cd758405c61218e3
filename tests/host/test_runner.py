"""The README's "run it" command: a shipped workflow through ComfyUI's executor, from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from iclora_tools.runner.contact_sheet import REFERENCE
from iclora_tools.runner.sets import TINY_PANEL
from pack_facts import skip_without_comfyui
from PIL import Image

skip_without_comfyui()

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "tools" / "run_workflow.py"), *args, "--comfyui",
               os.environ["COMFYUI_PATH"]]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_tiny_demo_writes_the_generated_panels_and_a_sheet_of_the_whole_set(tmp_path):
    out = tmp_path / "out"
    image = Path(os.environ["COMFYUI_PATH"]) / "input" / "example.png"
    result = run(str(ROOT / "workflows" / "film-storyboard-reference.json"), "--tiny-demo", "--out", str(out),
                 "--image", str(image), "--summary", "In a quiet harbour town", "--panel", "2=<Mia> runs",
                 "--seed", "3", "--steps", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(sorted(out.glob("film-storyboard_*.png"))) == 2  # panels 2 and 3; panel 1 is the reference
    assert "wrote 2 panels" in result.stdout
    with Image.open(out / "contact-sheet.png") as sheet:
        sheet = sheet.convert("RGB")
        assert sheet.height > 3 * TINY_PANEL[1] > sheet.width  # the storyboard's column, all three panels
        row = sheet.height // 3  # label, panel and gap
        top = {sheet.getpixel((x, y)) for x in range(sheet.width) for y in range(row)}
        rest = {sheet.getpixel((x, y)) for x in range(sheet.width) for y in range(row + 8, sheet.height)}
    assert REFERENCE in top and REFERENCE not in rest  # the reference, first in layout order, is marked


def test_bad_arguments_are_answered_in_words_before_comfyui_starts(tmp_path):
    result = run(str(ROOT / "workflows" / "font-design-text-only.json"), "--tiny-demo", "--panel", "9=too far",
                 "--image", str(tmp_path / "nope.png"))
    assert result.returncode == 2
    assert "font-design-text-only.json: panel 9 does not exist: the workflow's canvas has 4 panels" in result.stderr
    assert f"--image: {tmp_path / 'nope.png'} does not exist" in result.stderr
    assert "IMPORT FAILED" not in result.stderr  # ComfyUI was never started
    result = run(str(tmp_path / "missing.json"))
    assert result.returncode == 2 and "missing.json does not exist" in result.stderr
