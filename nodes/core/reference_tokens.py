"""References as clean tokens: the set's input panels go to an edit model as context, the canvas keeps only the
output slots.

Edit models (FLUX.1 Kontext, Qwen-Image-Edit, OmniGen2, FLUX.2) read clean reference latents next to the image
they generate (ComfyUI's `ReferenceLatent`). Sampling the whole set on one canvas spends attention on reference
tokens that are re-noised every step; giving them as context keeps them clean and the canvas small. The set's
layout still describes the whole set: `generation_layout` derives the outputs-only canvas from it, and
`reassemble` puts the generated panels back among the original references, so Panel Split, the contact sheet and
the saved files see the set as Panel Concatenate made it.
"""

from __future__ import annotations

import torch

from .errors import PanelInputError
from .fitting import require_image
from .layout import PanelLayout, build_layout, check_canvas_size, require_layout

REFERENCE_NODE = "Reference Tokens"
REASSEMBLE_NODE = "Panel Reassemble"


def generation_layout(layout: PanelLayout, node: str = REFERENCE_NODE) -> PanelLayout:
    """The canvas the model generates: the output slots alone, in reading order, in a row (a column when the set
    is a column), at the set's panel size and token grid."""
    layout = require_layout(layout, node)
    outputs = len(layout.output_panels)
    if outputs == 0:
        raise PanelInputError(node, "layout", "the layout has no output slots to generate",
                              "Set output_slots in Panel Concatenate to 1 or more.")
    if not layout.input_panels:
        raise PanelInputError(node, "layout", "the layout has no input panels to give as reference tokens",
                              "Connect reference images to Panel Concatenate, or sample the canvas directly.")
    arrangement = "column" if layout.arrangement == "column" else "row"
    return build_layout(["output"] * outputs, layout.panel_w, layout.panel_h, arrangement,
                        token_px=layout.token_px)


def reference_panels(canvas: torch.Tensor, layout: PanelLayout, node: str = REFERENCE_NODE) -> list[torch.Tensor]:
    """The input panels' pixels (`[B, h, w, 3]` each) in reading order: what becomes reference tokens."""
    require_image(canvas, node, "canvas", "the canvas from Panel Concatenate")
    check_canvas_size(layout, int(canvas.shape[1]), int(canvas.shape[2]), node, "canvas")
    pieces = []
    for panel in layout.input_panels:
        rows, cols = panel.box.slices()
        pieces.append(canvas[:, rows, cols, :3])
    return pieces


def generation_canvas(canvas: torch.Tensor, layout: PanelLayout, node: str = REFERENCE_NODE) -> torch.Tensor:
    """The output slots' start pictures on their own canvas (what Panel Concatenate put there: fill, noise or
    slot_image), for a sampler with denoise below 1 or to encode as the latent to generate."""
    require_image(canvas, node, "canvas", "the canvas from Panel Concatenate")
    check_canvas_size(layout, int(canvas.shape[1]), int(canvas.shape[2]), node, "canvas")
    target = generation_layout(layout, node)
    out = canvas.new_empty(canvas.shape[0], target.canvas_h, target.canvas_w, 3)
    for source, place in zip(layout.output_panels, target.panels):
        rows, cols = source.box.slices()
        t_rows, t_cols = place.box.slices()
        out[:, t_rows, t_cols] = canvas[:, rows, cols, :3]
    return out


def reassemble(generated: torch.Tensor, canvas: torch.Tensor, layout: PanelLayout,
               node: str = REASSEMBLE_NODE) -> torch.Tensor:
    """The whole set again: each generated panel in its slot, the references as the original pixels.

    `generated` may hold several runs (a batch of k x the canvas batch); each run gets the same references.
    """
    layout = require_layout(layout, node)
    require_image(generated, node, "generated", "the decoded image of the outputs-only canvas")
    require_image(canvas, node, "canvas", "the canvas from Panel Concatenate")
    check_canvas_size(layout, int(canvas.shape[1]), int(canvas.shape[2]), node, "canvas")
    target = generation_layout(layout, node)
    if (int(generated.shape[2]), int(generated.shape[1])) != (target.canvas_w, target.canvas_h):
        raise PanelInputError(node, "generated", f"the generated image is {generated.shape[2]}x{generated.shape[1]} "
                              f"px but the outputs-only canvas of this layout is {target.canvas_w}x"
                              f"{target.canvas_h} px", "Connect the decoded image of the canvas that Reference "
                              "Tokens made from this layout, unscaled.")
    runs, batch = int(generated.shape[0]), int(canvas.shape[0])
    if runs % batch:
        raise PanelInputError(node, "generated", f"the generated batch ({runs}) is not a multiple of the canvas "
                              f"batch ({batch})", "Connect the canvas and the generated image of the same set.")
    whole = canvas[..., :3].to(generated.device, generated.dtype).repeat(runs // batch, 1, 1, 1)
    for slot, place in zip(layout.output_panels, target.panels):
        rows, cols = slot.box.slices()
        g_rows, g_cols = place.box.slices()
        whole[:, rows, cols] = generated[:, g_rows, g_cols, :3]
    return whole
