"""Write the shipped workflows (UI format) and their thumbnails from `nodes/core/presets.json`.

One text-only and one reference-based workflow per released task LoRA, plus the training workflow
(`training_workflow.py`), so the workflows can never disagree with
the presets (LoRA file, canvas, layout). Run it after changing a preset or a node's inputs:

    python tools/build_workflows.py
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import ROOT, import_pack
from . import training_workflow as training
from .ui_graph import FLUX_SNAP, PRESETS_JSON, Graph

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the backport (requirements-test.txt)
    import tomli as tomllib

OUT = ROOT / "workflows"
REFERENCE_IMAGE = "example.png"  # ships in every ComfyUI's input folder


def load_presets():

    import_pack("iclora_pack")
    from iclora_pack.nodes.core.prompts import load_presets as presets

    return presets()


def lora_file(preset) -> str:
    """The task LoRA under its published name: the only name a workflow loads or offers for download."""
    return preset.lora


def model_files(preset) -> list[dict]:
    """Every model a workflow for `preset` loads, as the editor's download list: published names and URLs only."""
    data = json.loads(PRESETS_JSON.read_text(encoding="utf-8"))
    return [*({"name": m["name"], "url": m["url"], "directory": m["directory"]} for m in data["base_models"]),
            {"name": preset.lora, "url": data["lora_url_base"] + preset.lora, "directory": "loras"}]


def workflow_name(preset, with_reference: bool) -> str:
    return f"{preset.id}-{'reference' if with_reference else 'text-only'}"


def build(preset, with_reference: bool, cnr_id: str, version: str) -> dict:
    g = Graph(cnr_id, version)
    rows, cols = preset.grid
    panel_w, panel_h = preset.panel_size
    count = preset.panel_count
    example = preset.example
    lora = lora_file(preset)

    unet = g.node("UNETLoader", (20, 570), (320, 82), ["flux1-dev.safetensors", "default"], [("MODEL", "MODEL")])
    lora_node = g.node("LoraLoaderModelOnly", (20, 690), (320, 82), [lora, 1.0], [("MODEL", "MODEL")],
                       title=f"{preset.display_name} LoRA")
    g.link(unet, 0, lora_node, "model", "MODEL")
    clip = g.node("DualCLIPLoader", (20, 810), (320, 130),
                  ["clip_l.safetensors", "t5xxl_fp16.safetensors", "flux", "default"], [("CLIP", "CLIP")])
    vae = g.node("VAELoader", (20, 1000), (320, 60), ["ae.safetensors"], [("VAE", "VAE")])
    g.group("1. Models", (0, 490, 360, 600), "#3f789e")

    concat = g.node("ICLoRA_PanelConcatenate", (400, 60), (320, 520),
                    [count - 1 if with_reference else count, "", preset.arrangement,
                     rows if preset.arrangement == "grid" else 0, cols if preset.arrangement == "grid" else 0,
                     panel_w, panel_h, "crop", "color", "#808080", "color", 4.0, FLUX_SNAP],
                    [("canvas", "IMAGE"), ("layout", "ICLORA_PANEL_LAYOUT"), ("report", "STRING")], ours=True)
    if with_reference:
        image = g.node("LoadImage", (400, 700), (320, 380), [REFERENCE_IMAGE, "image"],
                       [("IMAGE", "IMAGE"), ("MASK", "MASK")], title="Reference (panel 1)")
        g.link(image, 0, concat, "image_1", "IMAGE")
    g.group("2. Canvas", (380, 0, 360, 1110 if with_reference else 620), "#8a8a3f")

    texts = list(example["panels"]) + [""] * (8 - len(example["panels"]))
    builder = g.node("ICLoRA_JointPromptBuilder", (780, 60), (420, 900),
                     [preset.id, example["summary"], *texts, example.get("names", ""), 3.5, "",
                      "This {count}-panel image", "geometry", "preset"],
                     [("prompt", "STRING"), ("conditioning", "CONDITIONING"), ("panel_texts", "STRING"),
                      ("warnings", "STRING")], ours=True)
    g.link(concat, 1, builder, "layout", "ICLORA_PANEL_LAYOUT")
    g.link(clip, 0, builder, "clip", "CLIP")
    zero = g.node("ConditioningZeroOut", (1260, 920 if with_reference else 700), (320, 30), [],
                  [("CONDITIONING", "CONDITIONING")])
    g.link(builder, 1, zero, "conditioning", "CONDITIONING")
    g.group("3. Prompt: describe every panel", (760, 0, 460, 1000), "#3f8a5a")

    sampler = g.node("ICLoRA_InContextSampler", (1260, 60), (340, 520),
                     ["consistent" if with_reference else "joint", 0, "randomize", 20, 1.0, "euler", "simple", 1.0,
                      3, 1.0, 1.0, 0, True, 0, 1],
                     [("image", "IMAGE"), ("latent", "LATENT"), ("report", "STRING")], ours=True)
    g.link(lora_node, 0, sampler, "model", "MODEL")
    g.link(builder, 1, sampler, "positive", "CONDITIONING")
    g.link(zero, 0, sampler, "negative", "CONDITIONING")
    g.link(vae, 0, sampler, "vae", "VAE")
    g.link(concat, 0, sampler, "image", "IMAGE")
    if with_reference:
        mask = g.node("ICLoRA_OutputSlotMask", (1260, 680), (340, 130), ["", 0, 0, False], [("mask", "MASK")],
                      ours=True)
        g.link(concat, 1, mask, "layout", "ICLORA_PANEL_LAYOUT")
        g.link(mask, 0, sampler, "mask", "MASK")
    g.link(concat, 1, sampler, "layout", "ICLORA_PANEL_LAYOUT")

    # The right-hand column fits between frontend 1.49.6's action bar (Run, queue: top right, down to y 90 px at
    # 1600 x 1000) and 1.27.10's minimap (bottom right, from about y 705 px), with 50 px under Panel Split (Nodes
    # 2.0 draws it taller than its saved size).
    split = g.node("ICLoRA_PanelSplit", (1640, 85), (300, 130),
                   ["output slots" if with_reference else "all", "", False], [("panels", "IMAGE")], ours=True)
    g.link(sampler, 0, split, "image", "IMAGE")
    g.link(concat, 1, split, "layout", "ICLORA_PANEL_LAYOUT")
    save = g.node("SaveImage", (1640, 295), (400, 260), [f"iclora/{preset.id}"], [])
    g.link(split, 0, save, "images", "IMAGE")
    preview = g.node("PreviewImage", (1640, 605), (400, 200), [], [], title="Whole canvas")
    g.link(sampler, 0, preview, "images", "IMAGE")
    g.group("4. Sample and save", (1240, 0, 820, 1000), "#a1309b")

    how = ("Replace the reference in **Reference (panel 1)** with your own image; the other panels are generated. "
           "Mode `consistent` keeps outputs closer to the reference than the paper's `masked` at the same "
           "sampling time; `masked` is the stock ComfyUI path."
           if with_reference else
           "Every panel is generated from the prompt (the paper's text-only setting, sampler mode `joint`).")
    note = (f"## {preset.display_name} ({'with a reference' if with_reference else 'text only'})\n\n"
            f"{how}\n\n"
            f"- Canvas: {count} panels of {panel_w} x {panel_h} px ({preset.canvas[0]} x {preset.canvas[1]}), "
            f"as the LoRA was trained.\n"
            f"- Prompt: edit the summary and one text per panel in **Joint Prompt Builder**; the task's markers are "
            f"added for you.\n"
            f"- Models: `flux1-dev.safetensors` (models/diffusion_models), `clip_l.safetensors` and "
            f"`t5xxl_fp16.safetensors` (models/text_encoders), `ae.safetensors` (models/vae), `{lora}` "
            f"(models/loras, from ali-vilab/In-Context-LoRA"
            + (f"; if yours is named {' or '.join(f'`{n}`' for n in preset.lora_local_names)}, pick it in the "
               "LoRA loader" if preset.lora_local_names else "") + ").")
    g.node("MarkdownNote", (20, 60), (340, 400), [note], [], title="How to use")  # top left: read first

    return g.to_dict(workflow_name(preset, with_reference), model_files(preset))


def thumbnail(preset, with_reference: bool, path: Path) -> None:
    """The task at a glance: its name, its canvas shape, blue = your reference, orange = generated, each panel
    labelled with the task's marker (several tasks share a 2 x 2 grid; the names and markers tell them apart)."""
    from iclora_pack.nodes.core.prompts import panel_markers
    from PIL import Image, ImageDraw, ImageFont

    rows, cols = preset.grid
    side = 400
    scale = min((side - 40) / preset.canvas[0], (side - 110) / preset.canvas[1])
    width, height = int(preset.canvas[0] * scale), int(preset.canvas[1] * scale)
    image = Image.new("RGB", (side, side), (28, 30, 36))
    draw = ImageDraw.Draw(image)
    draw.text((side // 2, 26), preset.display_name, fill=(235, 235, 240), anchor="mm",
              font=ImageFont.load_default(size=26))
    draw.text((side // 2, 58), "text only" if not with_reference else "with a reference (blue)",
              fill=(160, 165, 175), anchor="mm", font=ImageFont.load_default(size=17))
    x0, y0 = (side - width) // 2, 80 + (side - 90 - height) // 2
    pw, ph = width // cols, height // rows
    markers = panel_markers(preset, rows, cols, preset.panel_count)
    for i in range(preset.panel_count):
        r, c = divmod(i, cols)
        color = (70, 130, 220) if with_reference and i == 0 else (240, 150, 40)
        box = [x0 + c * pw + 4, y0 + r * ph + 4, x0 + (c + 1) * pw - 4, y0 + (r + 1) * ph - 4]
        draw.rounded_rectangle(box, 10, fill=color)
        size = 14
        while size > 8 and draw.textlength(markers[i], font=ImageFont.load_default(size=size)) > box[2] - box[0] - 8:
            size -= 1
        draw.text(((box[0] + box[2]) // 2, (box[1] + box[3]) // 2), markers[i], fill=(16, 17, 20), anchor="mm",
                  font=ImageFont.load_default(size=size))
    image.save(path, quality=88)


def write_workflows(out: Path, thumbnails: bool = True) -> list[Path]:
    """Write every workflow (and its thumbnail) into `out`, replacing what was there."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.json"), *out.glob("*.jpg")]:
        old.unlink()
    written = []
    for preset in load_presets().values():
        for with_reference in (False, True):
            name = workflow_name(preset, with_reference)
            data = build(preset, with_reference, project["name"], project["version"])
            path = out / f"{name}.json"
            path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
            written.append(path)
            if thumbnails:
                thumbnail(preset, with_reference, out / f"{name}.jpg")
    written.append(write_training_workflow(out, project, thumbnails))
    return written


def write_training_workflow(out: Path, project: dict, thumbnails: bool) -> Path:
    """The train-your-own-task workflow (training_workflow.py), written with the task workflows."""
    path = out / f"{training.NAME}.json"
    path.write_text(json.dumps(training.build_training(project["name"], project["version"]), indent=1,
                               ensure_ascii=False) + "\n")
    if thumbnails:
        training.thumbnail(out / f"{training.NAME}.jpg")
    return path


def main() -> None:
    written = write_workflows(OUT)
    print(f"wrote {len(written)} workflows to {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
