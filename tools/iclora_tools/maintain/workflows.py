"""Write the shipped workflows (UI format) and their thumbnails from `nodes/core/presets.json`.

One text-only and one reference-based workflow per released task LoRA, a text-only and a reference one for each
other model family in FAMILIES (Qwen-Image, FLUX.1 Kontext), plus the training workflow (`training_workflow.py`),
so the workflows can never disagree with the presets (LoRA file, canvas, layout). Run it after changing a preset
or a node's inputs:

    python tools/build_workflows.py
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class FamilyRoute:
    """A base model other than FLUX.1-dev: its stock loaders and sampling settings, and how it takes references.
    No task LoRA (the released ones are for FLUX.1-dev); the task's preset only formats the joint prompt."""

    id: str
    display_name: str
    text_preset: str
    reference_preset: str
    reference_tokens: bool
    """True: an edit model, given the references as clean tokens (Reference Tokens + Panel Reassemble); False:
    the references on the canvas (In-Context Sampler, mode consistent)."""
    cfg: float
    guidance: float
    shift: float | None = None
    """ModelSamplingAuraFlow's shift where the family's own workflows use it (Qwen-Image: 3.1)."""
    why: str = ""


FAMILIES = (
    FamilyRoute("qwen-image", "Qwen-Image", "font-design", "visual-identity-design", reference_tokens=False,
                cfg=2.5, guidance=3.5, shift=3.1,
                why="Qwen-Image renders text well, so the text-only example is a font sheet."),
    FamilyRoute("flux-kontext", "FLUX.1 Kontext", "film-storyboard", "portrait-illustration", reference_tokens=True,
                cfg=1.0, guidance=2.5,
                why="FLUX.1 Kontext is an edit model: it reads the reference as clean tokens, so the reference "
                    "stays sharp and only the output slots are generated."),
)
"""The families with shipped workflows (a text-only and a reference one each)."""


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


def family_model_files(family: FamilyRoute) -> list[dict]:
    """The family's base models, published names and URLs (presets.json `family_models`)."""
    data = json.loads(PRESETS_JSON.read_text(encoding="utf-8"))
    return [{"name": m["name"], "url": m["url"], "directory": m["directory"]} for m in data["family_models"][family.id]]


def workflow_name(preset, with_reference: bool, family: FamilyRoute | None = None) -> str:
    stem = f"{preset.id}-{'reference' if with_reference else 'text-only'}"
    return f"{family.id}-{stem}" if family else stem


def _model_loaders(g: Graph, preset, family: FamilyRoute | None) -> tuple[dict, dict, dict, dict]:
    """The models group: (unet, model for the sampler, clip, vae). FLUX.1-dev gets the task LoRA; another
    family its own stock loaders, file names as its ComfyUI examples publish them."""
    if family is None:
        unet = g.node("UNETLoader", (20, 570), (320, 82), ["flux1-dev.safetensors", "default"], [("MODEL", "MODEL")])
        model = g.node("LoraLoaderModelOnly", (20, 690), (320, 82), [lora_file(preset), 1.0], [("MODEL", "MODEL")],
                       title=f"{preset.display_name} LoRA")
        g.link(unet, 0, model, "model", "MODEL")
        clip = g.node("DualCLIPLoader", (20, 810), (320, 130),
                      ["clip_l.safetensors", "t5xxl_fp16.safetensors", "flux", "default"], [("CLIP", "CLIP")])
        vae = g.node("VAELoader", (20, 1000), (320, 60), ["ae.safetensors"], [("VAE", "VAE")])
        return unet, model, clip, vae
    files = [m["name"] for m in family_model_files(family)]
    unet = g.node("UNETLoader", (20, 570), (320, 82), [files[0], "default"], [("MODEL", "MODEL")])
    model = unet
    if family.shift is not None:
        model = g.node("ModelSamplingAuraFlow", (20, 690), (320, 58), [family.shift], [("MODEL", "MODEL")])
        g.link(unet, 0, model, "model", "MODEL")
    if len(files) == 3:  # one text encoder (Qwen-Image: Qwen2.5-VL)
        clip = g.node("CLIPLoader", (20, 810), (320, 106), [files[1], family.id.replace("-", "_"), "default"],
                      [("CLIP", "CLIP")])
    else:
        clip = g.node("DualCLIPLoader", (20, 810), (320, 130), [files[1], files[2], "flux", "default"],
                      [("CLIP", "CLIP")])
    vae = g.node("VAELoader", (20, 1000), (320, 60), [files[-1]], [("VAE", "VAE")])
    return unet, model, clip, vae


def build(preset, with_reference: bool, cnr_id: str, version: str, family: FamilyRoute | None = None) -> dict:
    g = Graph(cnr_id, version)
    rows, cols = preset.grid
    panel_w, panel_h = preset.panel_size
    count = preset.panel_count
    example = preset.example
    tokens = family is not None and family.reference_tokens and with_reference

    unet, model, clip, vae = _model_loaders(g, preset, family)
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
    guidance = family.guidance if family else 3.5
    builder = g.node("ICLoRA_JointPromptBuilder", (780, 60), (420, 900),
                     [preset.id, example["summary"], *texts, example.get("names", ""), guidance, "",
                      "This {count}-panel image", "geometry", "preset"],
                     [("prompt", "STRING"), ("conditioning", "CONDITIONING"), ("panel_texts", "STRING"),
                      ("warnings", "STRING")], ours=True)
    g.link(concat, 1, builder, "layout", "ICLORA_PANEL_LAYOUT")
    g.link(clip, 0, builder, "clip", "CLIP")
    # Under the sampler, which Nodes 2.0 draws about 640 tall (its saved 520 in the classic canvas).
    negative_pos = (1260, 950 if with_reference else 740)
    if family is not None and family.cfg > 1:  # a model sampled with cfg: the empty prompt, as its own workflows
        negative = g.node("CLIPTextEncode", negative_pos, (320, 76), [""], [("CONDITIONING", "CONDITIONING")],
                          title="Negative (empty prompt)")
        g.link(clip, 0, negative, "clip", "CLIP")
    else:  # a guidance-distilled FLUX: cfg 1, the negative is not used
        negative = g.node("ConditioningZeroOut", negative_pos, (320, 30), [], [("CONDITIONING", "CONDITIONING")])
        g.link(builder, 1, negative, "conditioning", "CONDITIONING")
    g.group("3. Prompt: describe every panel", (760, 0, 460, 1000), "#3f8a5a")

    mode = "consistent" if with_reference and not tokens else "joint"
    sampler = g.node("ICLoRA_InContextSampler", (1260, 60), (340, 520),
                     [mode, 0, "randomize", 20, family.cfg if family else 1.0, "euler", "simple", 1.0,
                      3, 1.0, 1.0, 0, True, 0, 1, False],
                     [("image", "IMAGE"), ("latent", "LATENT"), ("report", "STRING")], ours=True)
    g.link(model, 0, sampler, "model", "MODEL")
    sources = {"positive": (builder, 1), "negative": (negative, 0), "image": (concat, 0)}  # the sampler's inputs
    if tokens:  # the references as clean tokens; the sampler generates a canvas of the output slots alone
        refs = g.node("ICLoRA_ReferenceTokens", (1260, 730), (340, 170), [],
                      [("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("canvas", "IMAGE"),
                       ("report", "STRING")], ours=True)
        g.link(builder, 1, refs, "positive", "CONDITIONING")
        g.link(negative, 0, refs, "negative", "CONDITIONING")
        g.link(vae, 0, refs, "vae", "VAE")
        g.link(concat, 0, refs, "canvas", "IMAGE")
        g.link(concat, 1, refs, "layout", "ICLORA_PANEL_LAYOUT")
        g.link(unet, 0, refs, "model", "MODEL")
        sources = {"positive": (refs, 0), "negative": (refs, 1), "image": (refs, 2)}
    g.link(*sources["positive"], sampler, "positive", "CONDITIONING")
    g.link(*sources["negative"], sampler, "negative", "CONDITIONING")
    g.link(vae, 0, sampler, "vae", "VAE")
    g.link(*sources["image"], sampler, "image", "IMAGE")
    if not tokens:
        if with_reference:
            mask = g.node("ICLoRA_OutputSlotMask", (1260, 730), (340, 130), ["", 0, 0, False], [("mask", "MASK")],
                          ours=True)
            g.link(concat, 1, mask, "layout", "ICLORA_PANEL_LAYOUT")
            g.link(mask, 0, sampler, "mask", "MASK")
        g.link(concat, 1, sampler, "layout", "ICLORA_PANEL_LAYOUT")

    # The right-hand column fits between frontend 1.49.6's action bar (Run, queue: top right, down to y 90 px at
    # 1600 x 1000) and 1.27.10's minimap (bottom right, from about y 705 px), with 50 px under Panel Split (Nodes
    # 2.0 draws it taller than its saved size).
    split = g.node("ICLoRA_PanelSplit", (1640, 85), (300, 130),
                   ["output slots" if with_reference else "all", "", False], [("panels", "IMAGE")], ours=True)
    if tokens:  # the whole set again: the generated slots among the references, previewed where "Whole canvas" is
        whole = g.node("ICLoRA_PanelReassemble", (1640, 605), (400, 200), [], [("image", "IMAGE")], ours=True,
                       title="Whole set (Panel Reassemble)")
        g.link(sampler, 0, whole, "generated", "IMAGE")
        g.link(concat, 0, whole, "canvas", "IMAGE")
        g.link(concat, 1, whole, "layout", "ICLORA_PANEL_LAYOUT")
        g.link(whole, 0, split, "image", "IMAGE")
    else:
        g.link(sampler, 0, split, "image", "IMAGE")
    g.link(concat, 1, split, "layout", "ICLORA_PANEL_LAYOUT")
    name = f"{family.id}-{preset.id}" if family else preset.id
    save = g.node("SaveImage", (1640, 295), (400, 260), [f"iclora/{name}"], [])
    g.link(split, 0, save, "images", "IMAGE")
    if not tokens:
        preview = g.node("PreviewImage", (1640, 605), (400, 200), [], [], title="Whole canvas")
        g.link(sampler, 0, preview, "images", "IMAGE")
    g.group("4. Sample and save", (1240, 0, 820, 1060), "#a1309b")

    g.node("MarkdownNote", (20, 60), (340, 400), [_note(preset, with_reference, family)], [],
           title="How to use")  # top left: read first
    models = model_files(preset) if family is None else family_model_files(family)
    return g.to_dict(workflow_name(preset, with_reference, family), models)


def _note(preset, with_reference: bool, family: FamilyRoute | None) -> str:
    panel_w, panel_h = preset.panel_size
    count = preset.panel_count
    canvas = (f"- Canvas: {count} panels of {panel_w} x {panel_h} px ({preset.canvas[0]} x {preset.canvas[1]})"
              + (", as the LoRA was trained.\n" if family is None else ".\n"))
    prompt = ("- Prompt: edit the summary and one text per panel in **Joint Prompt Builder**; the task's markers are "
              "added for you.\n")
    if family is not None:
        files = family_model_files(family)
        where = ", ".join(f"`{m['name']}` (models/{m['directory']})" for m in files)
        if not with_reference:
            how = (f"Every panel is generated from the prompt by {family.display_name} (sampler mode `joint`). "
                   f"{family.why}")
        elif family.reference_tokens:
            how = ("Replace the reference in **Reference (panel 1)** with your own image. **Reference Tokens** gives "
                   f"it to {family.display_name} as clean context tokens and the sampler generates the other panels "
                   "alone (mode `joint`); **Panel Reassemble** puts them back beside your reference, pixel-exact.")
        else:
            how = ("Replace the reference in **Reference (panel 1)** with your own image; the other panels are "
                   f"generated on the same canvas by {family.display_name} (mode `consistent`).")
        return (f"## {preset.display_name} on {family.display_name} "
                f"({'with a reference' if with_reference else 'text only'})\n\n{how}\n\n{canvas}{prompt}"
                f"- No task LoRA: the released ones are for FLUX.1-dev; the base model follows the joint prompt "
                f"alone (train one for this model with train-your-own-task).\n"
                f"- Models: {where}.")
    lora = lora_file(preset)
    how = ("Replace the reference in **Reference (panel 1)** with your own image; the other panels are generated. "
           "Mode `consistent` keeps outputs closer to the reference than the paper's `masked` at the same "
           "sampling time; `masked` is the stock ComfyUI path."
           if with_reference else
           "Every panel is generated from the prompt (the paper's text-only setting, sampler mode `joint`).")
    return (f"## {preset.display_name} ({'with a reference' if with_reference else 'text only'})\n\n"
            f"{how}\n\n{canvas}{prompt}"
            f"- Models: `flux1-dev.safetensors` (models/diffusion_models), `clip_l.safetensors` and "
            f"`t5xxl_fp16.safetensors` (models/text_encoders), `ae.safetensors` (models/vae), `{lora}` "
            f"(models/loras, from ali-vilab/In-Context-LoRA"
            + (f"; if yours is named {' or '.join(f'`{n}`' for n in preset.lora_local_names)}, pick it in the "
               "LoRA loader" if preset.lora_local_names else "") + ").")


def thumbnail(preset, with_reference: bool, path: Path, family: FamilyRoute | None = None) -> None:
    """The task at a glance: its name (and model family), its canvas shape, blue = your reference, orange =
    generated, each panel labelled with the task's marker (several tasks share a 2 x 2 grid; the names and markers
    tell them apart)."""
    from iclora_pack.nodes.core.prompts import panel_markers
    from PIL import Image, ImageDraw, ImageFont

    rows, cols = preset.grid
    side = 400
    scale = min((side - 40) / preset.canvas[0], (side - 110) / preset.canvas[1])
    width, height = int(preset.canvas[0] * scale), int(preset.canvas[1] * scale)
    image = Image.new("RGB", (side, side), (28, 30, 36))
    draw = ImageDraw.Draw(image)
    title = f"{family.display_name}: {preset.display_name}" if family else preset.display_name
    title_size = 26
    while title_size > 12 and draw.textlength(title, font=ImageFont.load_default(size=title_size)) > side - 20:
        title_size -= 1
    draw.text((side // 2, 26), title, fill=(235, 235, 240), anchor="mm", font=ImageFont.load_default(size=title_size))
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
    presets = load_presets()
    for family in FAMILIES:
        for with_reference, preset_id in ((False, family.text_preset), (True, family.reference_preset)):
            preset = presets[preset_id]
            name = workflow_name(preset, with_reference, family)
            path = out / f"{name}.json"
            path.write_text(json.dumps(build(preset, with_reference, project["name"], project["version"], family),
                                       indent=1, ensure_ascii=False) + "\n")
            written.append(path)
            if thumbnails:
                thumbnail(preset, with_reference, out / f"{name}.jpg", family)
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
