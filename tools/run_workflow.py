"""Run a shipped workflow headlessly through ComfyUI's own executor and write its panels and a contact sheet.

    python tools/run_workflow.py workflows/film-storyboard-text-only.json --comfyui /path/to/ComfyUI \\
        --models /path/to/ComfyUI/models --summary "In a quiet harbour town" --panel 1="<Mia> ..." --seed 7

With --tiny-demo it builds tiny random FLUX-architecture models (seconds, no downloads) and uses them in place of the
real ones, to check that an install works end to end; the pictures are noise by design.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import comfy_inprocess  # noqa: E402


def apply_overrides(prompt: dict, options, input_dir: Path) -> None:
    for node in prompt.values():
        inputs = node["inputs"]
        kind = node["class_type"]
        if kind == "ICLoRA_JointPromptBuilder":
            if options.summary is not None:
                inputs["summary"] = options.summary
            for item in options.panel:
                number, _, text = item.partition("=")
                if not number.isdigit() or not 1 <= int(number) <= 8:
                    sys.exit(f"--panel takes N=TEXT with N from 1 to 8, got {item!r}")
                inputs[f"panel_{number}"] = text
        elif kind == "ICLoRA_InContextSampler":
            if options.seed is not None:
                inputs["seed"] = options.seed
            if options.steps is not None:
                inputs["steps"] = options.steps
        elif kind == "LoadImage" and options.image:
            source = Path(options.image)
            if not source.is_file():
                sys.exit(f"--image: {source} does not exist")
            shutil.copy(source, input_dir / source.name)
            inputs["image"] = source.name


def contact_sheet(paths: list[Path], target: Path) -> None:
    """All output panels side by side, labelled, on one image."""
    from PIL import Image, ImageDraw

    images = [Image.open(p).convert("RGB") for p in paths]
    height = max(i.height for i in images)
    sheet = Image.new("RGB", (sum(i.width for i in images) + 8 * (len(images) + 1), height + 36), (24, 26, 32))
    draw = ImageDraw.Draw(sheet)
    x = 8
    for path, image in zip(paths, images):
        sheet.paste(image, (x, 28))
        draw.text((x, 8), path.stem, fill=(230, 230, 230))
        x += image.width + 8
    sheet.save(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workflow", type=Path, help="a UI-format workflow, e.g. one in workflows/")
    parser.add_argument("--comfyui", type=Path, required=True, help="the ComfyUI folder")
    parser.add_argument("--models", type=Path, help="a models folder (with diffusion_models/, loras/, ...)")
    parser.add_argument("--out", type=Path, default=Path("iclora-output"), help="where panels and the sheet go")
    parser.add_argument("--summary", help="the Joint Prompt Builder's summary")
    parser.add_argument("--panel", action="append", default=[], metavar="N=TEXT", help="panel N's description")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--image", help="your reference image (for the reference workflows)")
    parser.add_argument("--tiny-demo", action="store_true", help="tiny random models instead of the real ones")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU")
    options = parser.parse_args(argv)
    if not (options.comfyui / "nodes.py").is_file():
        sys.exit(f"--comfyui: {options.comfyui} is not a ComfyUI folder")
    if not options.workflow.is_file():
        sys.exit(f"{options.workflow} does not exist")
    logging.basicConfig(level=logging.WARNING)

    work = Path(tempfile.mkdtemp(prefix="iclora-run-"))
    if options.tiny_demo:
        nodes, execution, folder_paths = comfy_inprocess.start_tiny_comfyui(options.comfyui.resolve(), work)
    else:
        nodes, execution, folder_paths = comfy_inprocess.start_comfyui(options.comfyui.resolve(), work,
                                                                       options.models, options.cpu)
    if "ICLoRA_PanelConcatenate" not in nodes.NODE_CLASS_MAPPINGS:
        sys.exit("the pack failed to load into ComfyUI; see the log above")
    from workflow_api import to_api

    prompt = to_api(json.loads(options.workflow.read_text()), nodes.NODE_CLASS_MAPPINGS)
    if options.tiny_demo:
        import tiny_models

        tiny_models.use_tiny_models(prompt, panel_size=(128, 128))
        tiny_models.write_empty_loras(work / "models" / "loras", tiny_models.lora_names_in(prompt))
    apply_overrides(prompt, options, work / "input")

    validation = comfy_inprocess.validate(execution, prompt)
    if not validation.ok:
        for line in validation.messages():
            print(line, file=sys.stderr)
        return 2
    executor, _ = comfy_inprocess.execute(execution, prompt, validation.outputs,
                                          server=comfy_inprocess.RecordingServer(echo_errors=True))
    if not executor.success:
        return 1

    options.out.mkdir(parents=True, exist_ok=True)
    saved = sorted((work / "output").rglob("*.png"))
    panels = []
    for path in saved:
        target = options.out / path.name
        shutil.copy(path, target)
        panels.append(target)
    contact_sheet(panels, options.out / "contact-sheet.png")
    print(f"wrote {len(panels)} panels and contact-sheet.png to {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
