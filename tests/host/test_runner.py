"""The README's "run it" command: a shipped workflow through ComfyUI's executor, from the command line."""

from __future__ import annotations

import json
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


def with_lora_mode(tmp_path: Path, mode: int, stem: str = "film-storyboard-reference") -> Path:
    """A shipped workflow with its task LoRA bypassed (4) or muted (2), saved as a user's own file."""
    workflow = json.loads((ROOT / "workflows" / f"{stem}.json").read_text())
    next(n for n in workflow["nodes"] if n["type"] == "LoraLoaderModelOnly")["mode"] = mode
    path = tmp_path / f"{stem}-lora-mode-{mode}.json"
    path.write_text(json.dumps(workflow))
    return path


def test_a_workflow_with_the_lora_bypassed_runs_without_it(tmp_path):
    out = tmp_path / "out"
    image = Path(os.environ["COMFYUI_PATH"]) / "input" / "example.png"
    result = run(str(with_lora_mode(tmp_path, 4)), "--tiny-demo", "--out", str(out), "--image", str(image),
                 "--seed", "3", "--steps", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wrote 2 panels" in result.stdout and (out / "contact-sheet.png").is_file()


def test_a_muted_lora_the_sampler_needs_is_one_line_and_no_traceback(tmp_path):
    result = run(str(with_lora_mode(tmp_path, 2)), "--tiny-demo", "--steps", "1")
    assert result.returncode == 2
    assert result.stderr.rstrip().splitlines()[-1] == (
        "film-storyboard-reference-lora-mode-2.json: node 9 (ICLoRA_InContextSampler): input 'model' comes from "
        "node 2 (LoraLoaderModelOnly 'Film Storyboard LoRA'), which is muted; turn that node back on or connect the "
        "input to another node")
    assert "iclora_tools" not in result.stderr  # no traceback through the runner (ComfyUI logs its own at start)


def test_an_in_process_batch_records_a_set_it_cannot_convert_as_failed_and_makes_the_rest(tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"workflow": str(with_lora_mode(tmp_path, 2, "couple-profile-text-only")),
                                "steps": 1}) + "\n"
                    + json.dumps({"workflow": str(with_lora_mode(tmp_path, 4, "couple-profile-text-only")),
                                  "steps": 1, "name": "without-lora"}) + "\n")
    result = run("--jobs", str(jobs), "--tiny-demo", "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr[-3000:]
    assert "1 set(s) made, 0 already there, 1 failed" in result.stdout
    assert result.stderr.rstrip().splitlines()[-2].startswith("failed: line 1 ")
    assert result.stderr.rstrip().splitlines()[-1].startswith("  in-process: node 8 (ICLoRA_InContextSampler): "
                                                              "input 'model' comes from node 2")
    assert "iclora_tools" not in result.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["done"]) == 1 and "which is muted" in json.dumps(manifest["failed"])
    assert len(list((tmp_path / "out").glob("without-lora-*/seed-0/panel-*.png"))) == 2
