"""Panel Concatenate, Output Slot Mask and Panel Split: thin V3 adapters over canvas, masks and split."""

from __future__ import annotations

import logging

import comfy.model_management
from comfy_api.latest import io, ui

from ..core.canvas import MAX_IMAGES, MAX_OUTPUT_SLOTS, SLOT_FILLS, CanvasSettings, build_canvas
from ..core.errors import PanelInputError
from ..core.families import DEFAULT_SNAP, SNAP_FOR
from ..core.layout import CONCATENATE, parse_panel_numbers, require_layout
from ..core.masks import MASK_NODE, slot_mask
from ..core.split import SELECTIONS, SPLIT_NODE, group_for_output, select_panels, split_canvas
from .shared_inputs import (
    arrangement_input,
    fill_color_input,
    fit_input,
    grid_cols_input,
    grid_rows_input,
    max_megapixels_input,
    pad_mode_input,
    panel_height_input,
    panel_width_input,
)
from .sockets import CATEGORY, PanelLayoutSocket

log = logging.getLogger(__name__)


class PanelConcatenate(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        images = [
            io.Image.Input(f"image_{i}", optional=True,
                           tooltip=f"Reference image {i}: kept as it is while the output slots are generated.")
            for i in range(1, MAX_IMAGES + 1)
        ]
        return io.Schema(
            node_id="ICLoRA_PanelConcatenate",
            display_name=CONCATENATE,
            category=CATEGORY,
            description="Puts reference images and empty output slots side by side on one canvas, the in-context "
                        "set that an IC-LoRA generates as a whole. Outputs the canvas and its panel layout.",
            inputs=[
                io.Int.Input("output_slots", default=1, min=0, max=MAX_OUTPUT_SLOTS,
                             tooltip="How many empty panels to generate; with no image connected, use 2 or more "
                                     "for a text-only set."),
                io.String.Input("order", default="",
                                tooltip="Panel roles in reading order, one I (input image) or O (output slot) per "
                                        "panel such as 'O,I,O'; empty puts the inputs first, then the output "
                                        "slots."),
                arrangement_input(),
                grid_rows_input(),
                grid_cols_input(),
                panel_width_input(),
                panel_height_input(),
                fit_input(),
                pad_mode_input(),
                fill_color_input(),
                io.Combo.Input("slot_fill", options=list(SLOT_FILLS), default="color",
                               tooltip="What the output slots hold before sampling (fill_color, noise or "
                                       "slot_image), which matters only when the sampler's denoise is below 1."),
                max_megapixels_input(),
                *images,
                io.Image.Input("slot_image", optional=True,
                               tooltip="Starting picture for every output slot when slot_fill is 'image'."),
                io.Combo.Input("snap_for", options=list(SNAP_FOR), default=DEFAULT_SNAP, optional=True,
                               tooltip="The model family the canvas is for: panels are snapped to whole tokens "
                                       "of it (VAE downscale x patch size)."),
            ],
            outputs=[
                io.Image.Output("canvas", display_name="canvas", tooltip="All panels on one image."),
                PanelLayoutSocket.Output("layout", display_name="layout",
                                         tooltip="Where each panel is and which are output slots; connect it to "
                                                 "Output Slot Mask and Panel Split."),
                io.String.Output("report", display_name="report",
                                 tooltip="Canvas size, token count and any size snapping that was applied."),
            ],
        )

    @classmethod
    def execute(cls, output_slots, order, arrangement, grid_rows, grid_cols, panel_width, panel_height, fit,
                pad_mode, fill_color, slot_fill, max_megapixels, slot_image=None, snap_for=DEFAULT_SNAP,
                **images) -> io.NodeOutput:
        connected = [(f"image_{i}", images[f"image_{i}"]) for i in range(1, MAX_IMAGES + 1)
                     if images.get(f"image_{i}") is not None]
        settings = CanvasSettings(output_slots=output_slots, order=order, arrangement=arrangement,
                                  grid_rows=grid_rows, grid_cols=grid_cols, panel_width=panel_width,
                                  panel_height=panel_height, fit=fit, pad_mode=pad_mode, fill_color=fill_color,
                                  slot_fill=slot_fill, max_megapixels=max_megapixels, snap_for=snap_for)
        result = build_canvas(images=connected, settings=settings, slot_image=slot_image)
        log.info("%s: %s", CONCATENATE, result.report)
        return io.NodeOutput(result.canvas, result.layout, result.report,
                             ui=ui.PreviewImage(result.canvas, cls=cls))


class OutputSlotMask(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ICLoRA_OutputSlotMask",
            display_name=MASK_NODE,
            category=CATEGORY,
            description="A canvas-sized mask that is 1 on the panels to generate (the output slots by default) and "
                        "0 on the panels to keep.",
            inputs=[
                PanelLayoutSocket.Input("layout", tooltip="The layout from Panel Concatenate."),
                io.String.Input("panels", default="",
                                tooltip="Panel numbers counted from 1 in reading order, e.g. '2, 3' or '2-4'; "
                                        "empty masks the output slots."),
                io.Int.Input("grow", default=0, min=-512, max=512,
                             tooltip="Pixels to extend the mask into neighbouring panels (negative shrinks it); "
                                     "0 keeps the seams exactly on panel borders."),
                io.Int.Input("feather", default=0, min=0, max=512,
                             tooltip="Soften the seams over about twice this many pixels; 0 gives a hard mask "
                                     "that keeps references exactly (the In-Context Sampler's seam_feather, when "
                                     "set, replaces this ramp instead of blurring it again)."),
                io.Boolean.Input("invert", default=False, tooltip="Mask the kept panels instead."),
            ],
            outputs=[io.Mask.Output("mask", display_name="mask",
                                    tooltip="Canvas-sized mask for SetLatentNoiseMask or the In-Context Sampler.")],
        )

    @classmethod
    def execute(cls, layout, panels, grow, feather, invert) -> io.NodeOutput:
        layout = require_layout(layout, MASK_NODE)
        numbers = parse_panel_numbers(panels, layout, MASK_NODE, "panels") if panels.strip() else None
        if numbers is None and not layout.output_panels:
            raise PanelInputError(MASK_NODE, "panels", "the layout has no output slots",
                                  "Set output_slots in Panel Concatenate, or type the panel numbers to mask.")
        mask = slot_mask(layout, numbers=numbers, grow=grow, feather=feather, invert=invert,
                         check=comfy.model_management.throw_exception_if_processing_interrupted)
        return io.NodeOutput(mask, ui=ui.PreviewMask(mask, cls=cls))


class PanelSplit(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ICLoRA_PanelSplit",
            display_name=SPLIT_NODE,
            category=CATEGORY,
            description="Cuts a canvas (any batch size) back into its panels. Equal-sized panels come out as one "
                        "batch, unequal ones as a list; both go straight into Save Image or Preview Image.",
            inputs=[
                io.Image.Input("image", tooltip="The decoded canvas, at the size Panel Concatenate made it."),
                PanelLayoutSocket.Input("layout", tooltip="The layout from Panel Concatenate."),
                io.Combo.Input("select", options=list(SELECTIONS), default="output slots",
                               tooltip="Which panels to return."),
                io.String.Input("numbers", default="",
                                tooltip="For 'by number': panel numbers counted from 1 in reading order, e.g. "
                                        "'2, 3' or '2-4'."),
                io.Boolean.Input("undo_fit", default=False,
                                 tooltip="Return input panels at their original image size (padding removed, "
                                         "stretch undone; for crop, the visible part at its original scale), while "
                                         "output slots keep the panel size."),
            ],
            outputs=[io.Image.Output("panels", display_name="panels", is_output_list=True,
                                     tooltip="The chosen panels: one batch (canvas by canvas, panels in order) "
                                             "when they are the same size, otherwise one item per panel.")],
        )

    @classmethod
    def execute(cls, image, layout, select, numbers, undo_fit) -> io.NodeOutput:
        layout = require_layout(layout, SPLIT_NODE)
        chosen = select_panels(layout, select, numbers)
        pieces = split_canvas(image, layout, chosen, undo_fit)
        return io.NodeOutput(group_for_output(pieces))


PANEL_NODES: list[type[io.ComfyNode]] = [PanelConcatenate, OutputSlotMask, PanelSplit]
