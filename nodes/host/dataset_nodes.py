"""Panel Set Dataset and Panel Set Export: thin V3 adapters over `dataset`, plus VAE and FLUX text encoding."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import comfy.model_management
import comfy.utils
import folder_paths
import torch
from comfy_api.latest import io, ui
from comfy_execution.graph_utils import ExecutionBlocker

from ..core.dataset import (
    DATASET_NODE,
    EXPORT_NODE,
    EXPORT_PREFIX,
    FOLDER_FORMATS,
    DatasetPlan,
    SetCanvasSettings,
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
from ..core.prompts import CUSTOM, PRESET_PUNCTUATION, choose_preset
from ..core.training import dataset_layout
from .shared_inputs import (
    arrangement_input,
    clip_input,
    custom_markers_input,
    custom_opening_input,
    custom_prefix_input,
    fill_color_input,
    fit_input,
    grid_cols_input,
    grid_rows_input,
    guidance_input,
    max_megapixels_input,
    names_input,
    pad_mode_input,
    panel_height_input,
    panel_width_input,
    preset_input,
    punctuation_input,
)
from .sockets import CATEGORY, PanelLayoutSocket, PanelSetSocket
from .tokens import count_t5_tokens, encode_caption

log = logging.getLogger(__name__)


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
                # Chooses the folder format (set folders or flat canvases), not a panel layout; the id stays
                # 'layout' because saved workflows and API prompts use it.
                io.Combo.Input("layout", options=list(FOLDER_FORMATS), default="auto",
                               tooltip="auto: sub-folders are sets, top-level images are whole canvases."),
                preset_input(default=CUSTOM),
                names_input(),
                custom_prefix_input(),
                custom_opening_input(),
                custom_markers_input(),
                arrangement_input(),
                grid_rows_input(),
                grid_cols_input(),
                panel_width_input(),
                panel_height_input(),
                fit_input(),
                pad_mode_input(),
                fill_color_input(),
                max_megapixels_input(),
                guidance_input(),
                io.Boolean.Input("skip_bad_sets", default=False,
                                 tooltip="Leave out sets with problems (listed in report) instead of stopping."),
                punctuation_input(),
                io.Vae.Input("vae", optional=True, tooltip="The VAE of the model you train (FLUX: ae)."),
                clip_input(),
            ],
            outputs=[
                io.Latent.Output("latents", display_name="latents",
                                 tooltip="One latent per set, for Train LoRA's latents (needs vae)."),
                io.Conditioning.Output("positive", display_name="positive",
                                       tooltip="One caption per set, for Train LoRA's positive (needs clip)."),
                io.Image.Output("preview", display_name="preview", tooltip="The canvases, downscaled."),
                io.String.Output("report", display_name="report",
                                 tooltip="Sets used, sets skipped and why, and each set's caption with its source "
                                         "and token count."),
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
        task = choose_preset(preset, custom_prefix=custom_prefix, custom_opening=custom_opening,
                             custom_markers=custom_markers, node=DATASET_NODE)
        settings = SetCanvasSettings(arrangement=arrangement, grid_rows=grid_rows, grid_cols=grid_cols,
                                  panel_width=panel_width, panel_height=panel_height, fit=fit, pad_mode=pad_mode,
                                  fill_color=fill_color, max_megapixels=max_megapixels)
        scan = scan_dataset(folder_paths.get_input_directory(), folder, folder_format=layout)
        plan = plan_dataset(scan, settings, task, names=names.split(","), skip_bad_sets=skip_bad_sets,
                            punctuation=punctuation)
        encoded = encode_sets(plan, vae=vae, clip=clip, guidance=guidance, skip_bad_sets=skip_bad_sets)
        report = describe_plan(encoded.plan, encoded.token_counts)
        log.info("%s: %s", DATASET_NODE, report)

        latent_out = {"samples": torch.cat(encoded.latents)} if vae is not None else ExecutionBlocker(
            f"{DATASET_NODE}: 'latents' is used but no vae is connected (input 'vae'). Connect Load VAE.")
        positive_out = encoded.positive if clip is not None else ExecutionBlocker(
            f"{DATASET_NODE}: 'positive' is used but no clip is connected (input 'clip'). Connect DualCLIPLoader "
            "(type flux).")
        preview = torch.cat(encoded.previews)
        return io.NodeOutput(latent_out, positive_out, preview, report, encoded.plan, dataset_layout(encoded.plan),
                             ui=ui.PreviewImage(preview, cls=cls))


@dataclasses.dataclass
class EncodedSets:
    """What the dataset node hands on: the plan of the sets that were built, and their encodings."""

    plan: DatasetPlan
    latents: list[torch.Tensor]
    positive: list
    previews: list[torch.Tensor]
    token_counts: list[int]


def encode_sets(plan: DatasetPlan, *, vae, clip, guidance: float, skip_bad_sets: bool) -> EncodedSets:
    """Build each canvas and encode it (VAE) and its caption (CLIP) while only that set's pixels are held; a set
    whose pictures fail to decode stops the run, or with `skip_bad_sets` is left out and reported."""
    progress = comfy.utils.ProgressBar(len(plan.sets))
    latents, positive, previews, tokens, kept, failed = [], [], [], [], [], []
    for built in iter_canvases(plan):
        comfy.model_management.throw_exception_if_processing_interrupted()
        name = built.planned.source.name
        if built.canvas is None:
            if not skip_bad_sets:
                raise PanelInputError(DATASET_NODE, "folder", f"set '{name}': {built.problem}",
                                      "Fix the file (nothing in the folder was changed), or turn on skip_bad_sets.")
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
    return EncodedSets(plan, latents, positive, previews, tokens)


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
