"""Panel Set Dataset and Panel Set Export: thin V3 adapters over `dataset`, plus VAE and FLUX text encoding."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import comfy.model_management
import comfy.utils
import folder_paths
import node_helpers
import torch
from comfy_api.latest import io, ui
from comfy_execution.graph_utils import ExecutionBlocker

from ..core.dataset import (
    DATASET_NODE,
    EXPORT_NODE,
    EXPORT_PREFIX,
    LAYOUTS,
    CanvasSettings,
    SkippedSet,
    TrainerSettings,
    describe_plan,
    export_dataset,
    folder_fingerprint,
    iter_canvases,
    plan_dataset,
    preview_of,
    scan_dataset,
)
from ..core.errors import PanelInputError
from ..core.fitting import FIT_MODES, PAD_MODES
from ..core.layout import ALIGN, ARRANGEMENTS
from ..core.prompts import CUSTOM, PRESET_PUNCTUATION, PUNCTUATIONS, T5_TOKEN_BUDGET, custom_preset, load_presets
from ..core.training import dataset_layout
from .prompt_nodes import count_t5_tokens
from .sockets import CATEGORY, PanelLayoutSocket, PanelSetSocket

log = logging.getLogger(__name__)


def caption_preset(preset: str, custom_prefix: str, custom_opening: str, custom_markers: str):
    """The caption format for sets captioned one text per panel, chosen as in the Joint Prompt Builder."""
    presets = load_presets()
    if preset == CUSTOM:
        return custom_preset(custom_prefix, custom_opening, custom_markers)
    if preset not in presets:
        raise PanelInputError(DATASET_NODE, "preset", f"'{preset}' is not a preset",
                              f"Choose one of {', '.join([*presets, CUSTOM])}.")
    return presets[preset]


def encode_caption(clip, caption: str, guidance: float) -> list:
    conditioning = clip.encode_from_tokens_scheduled(clip.tokenize(caption))
    return node_helpers.conditioning_set_values(conditioning, {"guidance": guidance})


class PanelSetDataset(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ICLoRA_PanelSetDataset",
            display_name=DATASET_NODE,
            category=CATEGORY,
            description="Reads example sets from a folder in ComfyUI's input folder, builds each into one canvas "
                        "the way Panel Concatenate does, and encodes them for Train LoRA: one latent and one "
                        "caption per set.",
            inputs=[
                io.String.Input("folder", default="iclora-sets",
                                tooltip="A folder inside ComfyUI's input folder: one sub-folder per set, or a "
                                        "flat folder of canvases with same-name .txt captions."),
                io.Combo.Input("layout", options=list(LAYOUTS), default="auto",
                               tooltip="auto: sub-folders are sets, top-level images are whole canvases."),
                io.Combo.Input("preset", options=[*load_presets(), CUSTOM], default=CUSTOM,
                               tooltip="Caption format for sets captioned with one .txt per panel (caption.txt "
                                       "and canvas captions are used verbatim)."),
                io.String.Input("names", default="",
                                tooltip="Character names, comma-separated, to wrap in < > in per-panel captions."),
                io.String.Input("custom_prefix", default="",
                                tooltip="custom preset: text before everything, e.g. '[MY-TASK]'."),
                io.String.Input("custom_opening", default="This {count}-panel image",
                                tooltip="custom preset: the opening; {count} becomes the panel count in words."),
                io.String.Input("custom_markers", default="geometry",
                                tooltip="custom preset: 'geometry', a template such as '[SHOT-{n}]', or one "
                                        "marker per panel, comma-separated."),
                io.Combo.Input("arrangement", options=list(ARRANGEMENTS), default="row",
                               tooltip="How a set's panels are placed: side by side, stacked, or a grid."),
                io.Int.Input("grid_rows", default=0, min=0, max=16, tooltip="Rows for 'grid'; 0 is automatic."),
                io.Int.Input("grid_cols", default=0, min=0, max=16, tooltip="Columns for 'grid'; 0 is automatic."),
                io.Int.Input("panel_width", default=0, min=0, max=8192, step=ALIGN,
                             tooltip="Panel width in px for every set (a flat folder: the canvas width); 0 takes "
                                     "the first image's."),
                io.Int.Input("panel_height", default=0, min=0, max=8192, step=ALIGN,
                             tooltip="Panel height in px for every set (a flat folder: the canvas height); 0 "
                                     "takes the first image's."),
                io.Combo.Input("fit", options=list(FIT_MODES), default="crop",
                               tooltip="How an image of another shape fills its panel: crop, pad or stretch."),
                io.Combo.Input("pad_mode", options=list(PAD_MODES), default="color",
                               tooltip="For fit 'pad': fill the margin with fill_color or repeat the edge."),
                io.String.Input("fill_color", default="#808080", tooltip="#RRGGBB or R,G,B for padding."),
                io.Float.Input("max_megapixels", default=4.0, min=0.1, max=64.0, step=0.1,
                               tooltip="Refuse canvases larger than this; training memory grows fast with size."),
                io.Float.Input("guidance", default=3.5, min=0.0, max=100.0, step=0.1,
                               tooltip="FLUX guidance written into each caption's conditioning (the value you "
                                       "will sample with)."),
                io.Boolean.Input("skip_bad_sets", default=False,
                                 tooltip="Leave out sets with problems (listed in report) instead of stopping."),
                io.Combo.Input("punctuation", options=list(PUNCTUATIONS), default=PRESET_PUNCTUATION,
                               optional=True,
                               tooltip="For per-panel texts: preset joins them with the task's separators; as "
                                       "written keeps each text's own ending, to rebuild a caption exactly."),
                io.Vae.Input("vae", optional=True, tooltip="The VAE of the model you train (FLUX: ae)."),
                io.Clip.Input("clip", optional=True,
                              tooltip="The FLUX text encoders (DualCLIPLoader, type flux)."),
            ],
            outputs=[
                io.Latent.Output("latents", display_name="latents",
                                 tooltip="One latent per set, for Train LoRA's latents (needs vae)."),
                io.Conditioning.Output("positive", display_name="positive",
                                       tooltip="One caption per set, for Train LoRA's positive (needs clip)."),
                io.Image.Output("preview", display_name="preview", tooltip="The canvases, downscaled."),
                io.String.Output("report", display_name="report",
                                 tooltip="Sets used, sets skipped and why, caption sources and token counts."),
                PanelSetSocket.Output("dataset", display_name="dataset",
                                      tooltip="The sets and captions, for Panel Set Export."),
                PanelLayoutSocket.Output("panel_layout", display_name="panel_layout",
                                         tooltip="Where each panel sits on every canvas, for Train In-Context "
                                                 "LoRA's references."),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, folder, **kwargs):
        return folder_fingerprint(folder_paths.get_input_directory(), folder)

    @classmethod
    def execute(cls, folder, layout, preset, names, custom_prefix, custom_opening, custom_markers, arrangement,
                grid_rows, grid_cols, panel_width, panel_height, fit, pad_mode, fill_color, max_megapixels,
                guidance, skip_bad_sets, punctuation=PRESET_PUNCTUATION, vae=None, clip=None) -> io.NodeOutput:
        task = caption_preset(preset, custom_prefix, custom_opening, custom_markers)
        settings = CanvasSettings(arrangement=arrangement, grid_rows=grid_rows, grid_cols=grid_cols,
                                  panel_width=panel_width, panel_height=panel_height, fit=fit, pad_mode=pad_mode,
                                  fill_color=fill_color, max_megapixels=max_megapixels)
        scan = scan_dataset(folder_paths.get_input_directory(), folder, layout)
        plan = plan_dataset(scan, settings, task, names=names.split(","), skip_bad_sets=skip_bad_sets,
                            punctuation=punctuation)

        progress = comfy.utils.ProgressBar(len(plan.sets))
        latents, positive, previews, tokens, kept, failed = [], [], [], [], [], []
        for built in iter_canvases(plan):
            comfy.model_management.throw_exception_if_processing_interrupted()
            name = built.planned.source.name
            if built.canvas is None:
                if not skip_bad_sets:
                    raise PanelInputError(DATASET_NODE, "folder", f"set '{name}': {built.problem}",
                                          "Fix the file (nothing in the folder was changed), or turn on "
                                          "skip_bad_sets.")
                failed.append(SkippedSet(name, built.problem or "cannot be built"))
            else:
                if vae is not None:
                    latents.append(vae.encode(built.canvas[..., :3]).cpu())
                if clip is not None:
                    positive.extend(encode_caption(clip, built.planned.caption, guidance))
                previews.append(preview_of(built.canvas))
                tokens.append(count_t5_tokens(built.planned.caption, clip))
                kept.append(built.planned)
            progress.update(1)
        if not kept:
            raise PanelInputError(DATASET_NODE, "folder", "no set could be built ("
                                  + "; ".join(f"{f.name}: {f.reason}" for f in failed) + ")",
                                  "Fix the files listed; nothing in the folder was changed.")
        plan = dataclasses.replace(plan, sets=tuple(kept), skipped=(*plan.skipped, *failed))
        report = describe_plan(plan, tokens, budget=T5_TOKEN_BUDGET)
        log.info("%s: %s", DATASET_NODE, report)

        latent_out = {"samples": torch.cat(latents)} if vae is not None else ExecutionBlocker(
            f"{DATASET_NODE}: 'latents' is used but no vae is connected (input 'vae'). Connect Load VAE.")
        positive_out = positive if clip is not None else ExecutionBlocker(
            f"{DATASET_NODE}: 'positive' is used but no clip is connected (input 'clip'). Connect DualCLIPLoader "
            "(type flux).")
        preview = torch.cat(previews)
        return io.NodeOutput(latent_out, positive_out, preview, report, plan, dataset_layout(plan),
                             ui=ui.PreviewImage(preview, cls=cls))


class PanelSetExport(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        defaults = TrainerSettings()
        return io.Schema(
            node_id="ICLoRA_PanelSetExport",
            display_name=EXPORT_NODE,
            category=CATEGORY,
            description="Writes the dataset's canvases and captions as a trainer-ready folder (image + same-name "
                        ".txt) in a new numbered folder of the output folder, with an ai-toolkit config.",
            inputs=[
                PanelSetSocket.Input("dataset", tooltip="The dataset output of Panel Set Dataset."),
                io.String.Input("folder_prefix", default=EXPORT_PREFIX,
                                tooltip="Name of the new folder in the output folder; _001, _002 ... is added, so "
                                        "nothing is overwritten."),
                io.String.Input("name", default=defaults.name,
                                tooltip="The LoRA's name in the trainer config (its output file name)."),
                io.Int.Input("rank", default=defaults.rank, min=1, max=128,
                             tooltip="LoRA rank (and alpha); the paper uses 16."),
                io.Int.Input("steps", default=defaults.steps, min=1, max=100000,
                             tooltip="Training steps; the authors' config uses 5000 at batch 4."),
                io.Float.Input("learning_rate", default=defaults.learning_rate, min=1e-7, max=1.0, step=1e-6,
                               tooltip="Learning rate; the authors' config uses 1e-4."),
                io.Int.Input("batch_size", default=defaults.batch_size, min=1, max=64,
                             tooltip="Training batch size; the authors' config uses 4."),
            ],
            outputs=[
                io.String.Output("folder", display_name="folder",
                                 tooltip="The folder written, relative to the output folder."),
                io.String.Output("report", display_name="report", tooltip="What was written."),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, dataset, folder_prefix, name, rank, steps, learning_rate, batch_size) -> io.NodeOutput:
        progress = comfy.utils.ProgressBar(len(dataset.sets))

        def after_each_canvas():
            progress.update(1)
            comfy.model_management.throw_exception_if_processing_interrupted()

        output_dir = folder_paths.get_output_directory()
        trainer = TrainerSettings(name=name.strip() or TrainerSettings.name, rank=rank, steps=steps,
                                  learning_rate=learning_rate, batch_size=batch_size)
        result = export_dataset(dataset, output_dir, folder_prefix, trainer, on_canvas=after_each_canvas)
        log.info("%s: %s", EXPORT_NODE, result.report)
        relative = result.folder.relative_to(Path(output_dir).resolve()).as_posix()
        return io.NodeOutput(relative, result.report, ui=ui.PreviewText(result.report))


DATASET_NODES: list[type[io.ComfyNode]] = [PanelSetDataset, PanelSetExport]
