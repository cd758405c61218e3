"""The shipped training workflow, `workflows/train-your-own-task.json`: example sets -> Panel Set Dataset -> Train
In-Context LoRA -> Save LoRA Weights (+ loss plot) -> the freshly trained model in the In-Context Sampler on a new
set, text-only (joint) and with a reference (reference mode).

Written by `tools/build_workflows.py` (workflows.py) together with the task workflows, so the staleness test covers it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .ui_graph import FLUX_SNAP, PRESETS_JSON, Graph

NAME = "train-your-own-task"
DATASET_FOLDER = "iclora-sets"
PANEL = 512
"""The fresh set's panel size; the dataset's comes from its images (set it to match your sets)."""
TRAIN = {"objective": "mixed", "references": "first", "timesteps": "flux shift", "batch_size": 1,
         "grad_accumulation_steps": 1, "steps": 1000, "learning_rate": 1e-4, "rank": 16}
"""Rank 16 and learning rate 1e-4 are the authors' (config/movie-shots.yml); 1000 steps at batch 1 is a first run
to judge with the loss plot and the samples, which can be continued with existing_lora. Objective `mixed` teaches
both uses of the LoRA (text-only sets and sets with a reference); the learned benchmark compares the objectives."""
REFERENCE_MODE = "reference"
"""The In-Context Sampler's mode matched to the trainer's `with references` objective (clean references at every
step)."""
REFERENCE_IMAGE = "example.png"  # ships in every ComfyUI's input folder

NOTE = f"""## Train your own in-context task

**1. Make the example sets** (the paper: 20-100 sets) in a folder inside ComfyUI's `input` folder, named in
**Panel Set Dataset** (`{DATASET_FOLDER}` here). Either:

```
input/{DATASET_FOLDER}/
  set-001/  1.png 2.png 3.png  caption.txt
  set-002/  1.png 2.png 3.png  1.txt 2.txt 3.txt summary.txt
```
one sub-folder per set, panels in file-name order, with the whole joint caption in `caption.txt` (used as
written) or one text per panel (+ `summary.txt`) joined in the chosen preset's format; or a flat folder of whole
canvases with same-name captions (`0001.jpg` + `0001.txt`, the authors' movie-shots format). Every set needs the
same panel count; all canvases get one size (panel_width/height, 0 = the first image's). Bad sets stop the run
with a list of what is wrong; `skip_bad_sets` leaves them out instead (see the node's report). Nothing in the
folder is changed.

**2. Train** (Train In-Context LoRA, the pack's trainer): rank 16 and learning rate 1e-4 as the authors;
objective `mixed` (half the examples with every panel generated, half with panel 1 kept clean as a reference and
the loss on the others), so the LoRA works text-only and with a reference. Start with 1000 steps, look at the loss
plot and the samples, then continue with `existing_lora` (copy the saved file from `output/loras` to `models/loras`
first). The same `seed` gives the same LoRA; gradient checkpointing is exact and on.

**3. Memory**: the trainer loads the whole model on the GPU: FLUX.1-dev in bf16 is about 24 GB of weights
before activations, so plan for a 40-80 GB GPU, or load it with `weight_dtype` fp8 (not measured here). The
canvas size drives activation memory (a 1024 x 1536 canvas is 6144 image tokens); train on smaller panels
first. It needs no more memory than ComfyUI's Train LoRA at the same settings. The authors trained with
ai-toolkit, 8-bit, on one 24 GB GPU: **Panel Set Export** writes the sets and an ai-toolkit config for that route.

**4. Use it**: the trained model goes straight into the two **In-Context Sampler**s on the right, on a fresh set
described in the Joint Prompt Builder in the same caption format as your sets: text-only (mode `joint`) and with
your picture as panel 1 (mode `reference`: it stays clean at every step, as the trainer taught). Later, put the
saved file (`output/loras/my-iclora-task_..._.safetensors`) in `models/loras` and load it with
LoraLoaderModelOnly in any workflow of this pack. Queuing again retrains only if the sets or training settings
changed."""


# The whole graph (2480 x 1445 canvas units) in a 1600 x 1000 window at the lowest zoom that still draws node
# contents (0.6): it is wider than the task workflows.
VIEW = (0.6, (90, 85))


def build_training(cnr_id: str, version: str) -> dict:
    g = Graph(cnr_id, version)
    unet = g.node("UNETLoader", (20, 80), (320, 82), ["flux1-dev.safetensors", "default"], [("MODEL", "MODEL")])
    clip = g.node("DualCLIPLoader", (20, 210), (320, 130),
                  ["clip_l.safetensors", "t5xxl_fp16.safetensors", "flux", "default"], [("CLIP", "CLIP")])
    vae = g.node("VAELoader", (20, 410), (320, 60), ["ae.safetensors"], [("VAE", "VAE")])
    g.group("1. Models", (0, 0, 360, 510), "#3f789e")

    dataset = g.node("ICLoRA_PanelSetDataset", (400, 80), (340, 640),
                     [DATASET_FOLDER, "auto", "custom", "", "[MY-TASK]", "This {count}-panel image", "geometry",
                      "row", 0, 0, 0, 0, "crop", "color", "#808080", 4.0, 3.5, False, "preset"],
                     [("latents", "LATENT"), ("positive", "CONDITIONING"), ("preview", "IMAGE"),
                      ("report", "STRING"), ("dataset", "ICLORA_PANEL_SET"), ("panel_layout", "ICLORA_PANEL_LAYOUT")],
                     ours=True)
    g.link(vae, 0, dataset, "vae", "VAE")
    g.link(clip, 0, dataset, "clip", "CLIP")
    export = g.node("ICLoRA_PanelSetExport", (400, 860), (340, 230),
                    ["iclora-dataset", "my-iclora-task", 16, 5000, 1e-4, 4],
                    [("folder", "STRING"), ("report", "STRING")], ours=True,
                    title="Panel Set Export (optional: for ai-toolkit)")
    export["mode"] = 4  # bypassed: the editor skips it until the user turns it on
    g.link(dataset, 4, export, "dataset", "ICLORA_PANEL_SET")
    g.group("2. Your example sets", (380, 0, 380, 1120), "#8a8a3f")

    train = g.node("ICLoRA_TrainInContextLoRA", (800, 80), (340, 620),
                   [TRAIN["objective"], TRAIN["references"], TRAIN["timesteps"], TRAIN["batch_size"],
                    TRAIN["grad_accumulation_steps"], TRAIN["steps"], TRAIN["learning_rate"], TRAIN["rank"], "AdamW",
                    0, "fixed", "bf16", "bf16", "LoRA", True, "[None]", False, "velocity"],
                   [("model_with_lora", "MODEL"), ("lora", "LORA_MODEL"), ("loss", "LOSS_MAP"), ("steps", "INT")],
                   ours=True)
    g.link(unet, 0, train, "model", "MODEL")
    g.link(dataset, 0, train, "latents", "LATENT")
    g.link(dataset, 1, train, "positive", "CONDITIONING")
    g.link(dataset, 5, train, "layout", "ICLORA_PANEL_LAYOUT")
    save_lora = g.node("SaveLoRANode", (800, 760), (340, 80), ["loras/my-iclora-task"], [])
    g.link(train, 1, save_lora, "lora", "LORA_MODEL")
    g.link(train, 3, save_lora, "steps", "INT")
    loss = g.node("LossGraphNode", (800, 960), (340, 280), ["iclora_loss"], [])
    g.link(train, 2, loss, "loss", "LOSS_MAP")
    g.group("3. Train", (780, 0, 380, 1230), "#3f8a5a")

    # Group 4 in four columns, spaced for Nodes 2.0, which draws nodes taller than their saved size (a sampler
    # about 600 units with its title, a Panel Concatenate about 640, Load Image about 350, Panel Split 200):
    # the two Panel Concatenates; the prompt builder over the reference sampler; the reference image over the
    # text-only sampler; Panel Split over the two Save Image nodes. Only x < ~1980 is free below y ~1010
    # (1.27.10's minimap), and title tops at x > ~1970 need y >= 65 (1.49.6's action bar); the reference image
    # goes above the sampler as Load Image keeps its ~345 in the classic canvas too.
    concat = g.node("ICLoRA_PanelConcatenate", (1200, 80), (300, 520),
                    [2, "", "row", 0, 0, PANEL, PANEL, "crop", "color", "#808080", "color", 4.0, FLUX_SNAP],
                    [("canvas", "IMAGE"), ("layout", "ICLORA_PANEL_LAYOUT"), ("report", "STRING")], ours=True,
                    title="Panel Concatenate (text-only)")
    texts = ["the first panel of the new set", "the second panel, continuing the first"] + [""] * 6
    builder = g.node("ICLoRA_JointPromptBuilder", (1520, 80), (360, 680),
                     ["custom", "shows a new example of my task", *texts, "", 3.5, "[MY-TASK]",
                      "This {count}-panel image", "geometry", "preset"],
                     [("prompt", "STRING"), ("conditioning", "CONDITIONING"), ("panel_texts", "STRING"),
                      ("warnings", "STRING")], ours=True)
    g.link(concat, 1, builder, "layout", "ICLORA_PANEL_LAYOUT")
    g.link(clip, 0, builder, "clip", "CLIP")
    zero = g.node("ConditioningZeroOut", (1520, 795), (360, 30), [], [("CONDITIONING", "CONDITIONING")])
    g.link(builder, 1, zero, "conditioning", "CONDITIONING")

    def sampler_node(pos, width: int, mode: str, canvas: dict, title: str) -> dict:
        node = g.node("ICLoRA_InContextSampler", pos, (width, 520),
                      [mode, 0, "randomize", 20, 1.0, "euler", "simple", 1.0, 3, 1.0, 1.0, 0, True, 0, 1, False],
                      [("image", "IMAGE"), ("latent", "LATENT"), ("report", "STRING")], ours=True, title=title)
        g.link(train, 0, node, "model", "MODEL")
        g.link(builder, 1, node, "positive", "CONDITIONING")
        g.link(zero, 0, node, "negative", "CONDITIONING")
        g.link(vae, 0, node, "vae", "VAE")
        g.link(canvas, 0, node, "image", "IMAGE")
        g.link(canvas, 1, node, "layout", "ICLORA_PANEL_LAYOUT")
        return node

    sampler = sampler_node((1900, 472), 340, "joint", concat, "In-Context Sampler (text-only: joint)")
    split = g.node("ICLoRA_PanelSplit", (2255, 110), (200, 90), ["all", "", False], [("panels", "IMAGE")],
                   ours=True)
    g.link(sampler, 0, split, "image", "IMAGE")
    g.link(concat, 1, split, "layout", "ICLORA_PANEL_LAYOUT")
    save = g.node("SaveImage", (2255, 320), (200, 300), ["iclora/my-iclora-task"], [])
    g.link(split, 0, save, "images", "IMAGE")

    reference = g.node("LoadImage", (1900, 110), (340, 320), [REFERENCE_IMAGE, "image"],
                       [("IMAGE", "IMAGE"), ("MASK", "MASK")], title="Your reference (panel 1)")
    concat_ref = g.node("ICLoRA_PanelConcatenate", (1200, 750), (300, 520),
                        [1, "", "row", 0, 0, PANEL, PANEL, "crop", "color", "#808080", "color", 4.0, FLUX_SNAP],
                        [("canvas", "IMAGE"), ("layout", "ICLORA_PANEL_LAYOUT"), ("report", "STRING")], ours=True,
                        title="Panel Concatenate (reference + slot)")
    g.link(reference, 0, concat_ref, "image_1", "IMAGE")
    sampler_ref = sampler_node((1520, 862), 360, REFERENCE_MODE, concat_ref,
                               f"In-Context Sampler (with a reference: {REFERENCE_MODE})")
    save_ref = g.node("SaveImage", (2255, 670), (200, 300), ["iclora/my-iclora-task-reference"], [])
    g.link(sampler_ref, 0, save_ref, "images", "IMAGE")
    g.group("4. Use the new LoRA on a fresh set: text-only, and with your reference", (1180, 0, 1300, 1445),
            "#a1309b")

    g.node("MarkdownNote", (20, 550), (340, 850), [NOTE], [], title="How to train your own task")
    base = json.loads(PRESETS_JSON.read_text(encoding="utf-8"))["base_models"]  # published names and URLs
    models = [{"name": m["name"], "url": m["url"], "directory": m["directory"]} for m in base]
    return g.to_dict(NAME, models, view=VIEW)


def thumbnail(path: Path) -> None:
    """Three small example sets, an arrow, and a generated set: "examples in, a new set out"."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 260), (28, 30, 36))
    draw = ImageDraw.Draw(image)
    for i in range(3):
        x, y = 20 + i * 12, 40 + i * 40
        draw.rounded_rectangle([x, y, x + 140, y + 70], 8, fill=(70, 130, 220), outline=(28, 30, 36), width=3)
        draw.line([x + 70, y + 6, x + 70, y + 64], fill=(28, 30, 36), width=3)
    draw.polygon([(200, 115), (240, 130), (200, 145)], fill=(220, 220, 220))
    draw.rectangle([176, 125, 200, 135], fill=(220, 220, 220))
    draw.rounded_rectangle([256, 90, 380, 170], 8, fill=(240, 150, 40))
    draw.line([318, 96, 318, 164], fill=(28, 30, 36), width=3)
    image.save(path, quality=85)
