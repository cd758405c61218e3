"""Panel Concatenate, Output Slot Mask and Panel Split: thin V3 adapters over canvas, masks and split."""

from __future__ import annotations

import logging

import comfy.model_management
from comfy_api.latest import io, ui

from ..core.canvas import MAX_IMAGES, MAX_OUTPUT_SLOTS, SLOT_FILLS, CanvasSettings, build_canvas
from ..core.errors import PanelInputError
from ..core.families import DEFAULT_SNAP, SNAP_FOR
from ..core.fitting import FIT_MODES, PAD_MODES
from ..core.layout import ALIGN, ARRANGEMENTS, parse_panel_numbers, require_layout
from ..core.masks import MASK_NODE, slot_mask
from ..core.split import SELECTIONS, SPLIT_NODE, group_for_output, select_panels, split_canvas
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
            display_name="Panel Concatenate",
            category=CATEGORY,
            description="Puts reference images and empty output slots side by side on one canvas, the in-context "
                        "set that an IC-LoRA generates as a whole. Outputs the canvas and its panel layout.",
            inputs=[
                io.Int.Input("output_slots", default=1, min=0, max=MAX_OUTPUT_SLOTS,
                             tooltip="How many empty panels to generate. With no image connected, use 2 or more "
                                     "for a text-only set."),
                io.String.Input("order", default="",
                                tooltip="Panel roles in reading order: one I (input image) or O (output slot) per "
                                        "panel, e.g. 'O,I,O'. Empty: the inputs first, then the output slots."),
                io.Combo.Input("arrangement", options=list(ARRANGEMENTS), default="row",
                               tooltip="row: side by side; column: stacked top to bottom; grid: rows x columns "
                                       "filled row by row."),
                io.Int.Input("grid_rows", default=0, min=0, max=16,
                             tooltip="Rows for 'grid'; 0 chooses automatically."),
                io.Int.Input("grid_cols", default=0, min=0, max=16,
                             tooltip="Columns for 'grid'; 0 chooses automatically."),
                io.Int.Input("panel_width", default=0, min=0, max=8192, step=ALIGN,
                             tooltip=f"Width of every panel in px; 0 takes the first image's width. Snapped to whole "
                                     f"tokens of the snap_for model ({ALIGN} px for FLUX; reported in 'report')."),
                io.Int.Input("panel_height", default=0, min=0, max=8192, step=ALIGN,
                             tooltip=f"Height of every panel in px; 0 takes the first image's height. Snapped to whole "
                                     f"tokens of the snap_for model ({ALIGN} px for FLUX; reported in 'report')."),
                io.Combo.Input("fit", options=list(FIT_MODES), default="crop",
                               tooltip="How an image of another shape fills its panel: crop (cover, centred), pad "
                                       "(fit inside, margin filled), stretch (distort). Panel Split can undo it."),
                io.Combo.Input("pad_mode", options=list(PAD_MODES), default="color",
                               tooltip="For fit 'pad': fill the margin with fill_color, or repeat the edge pixels."),
                io.String.Input("fill_color", default="#808080",
                                tooltip="#RRGGBB or R,G,B: padding, empty grid cells and (with slot_fill 'color') "
                                        "output slots. Mid-grey is neutral for the VAE."),
                io.Combo.Input("slot_fill", options=list(SLOT_FILLS), default="color",
                               tooltip="What the output slots hold before sampling: fill_color, noise, or "
                                       "slot_image. Only matters when the sampler's denoise is below 1."),
                io.Float.Input("max_megapixels", default=4.0, min=0.1, max=64.0, step=0.1,
                               tooltip="Refuse canvases larger than this. Every 16x16 px is one FLUX token and "
                                       "attention cost grows with the square of the token count, so more or larger "
                                       "panels cost memory and time fast."),
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
        log.info("Panel Concatenate: %s", result.report)
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
                                tooltip="Empty: the output slots. Or panel numbers counted from 1 in reading "
                                        "order, e.g. '2, 3' or '2-4'."),
                io.Int.Input("grow", default=0, min=-512, max=512,
                             tooltip="Pixels to extend the mask into neighbouring panels (negative shrinks it). "
                                     "0 keeps the seams exactly on panel borders."),
                io.Int.Input("feather", default=0, min=0, max=512,
                             tooltip="Soften the seams over about twice this many pixels. 0 gives a hard mask, "
                                     "which keeps references exactly. The In-Context Sampler's seam_feather, when "
                                     "set, replaces this ramp instead of blurring it again."),
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
            display_name="Panel Split",
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
                                         "stretch undone; for crop, the visible part at its original scale). "
                                         "Output slots keep the panel size."),
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
