"""Reference Tokens and Panel Reassemble: thin V3 adapters over core.reference_tokens (the edit-model route)."""

from __future__ import annotations

import logging

import node_helpers
from comfy_api.latest import io, ui

from ..core.errors import PanelInputError
from ..core.layout import require_layout
from ..core.reference_tokens import (
    REASSEMBLE_NODE,
    REFERENCE_NODE,
    generation_canvas,
    generation_layout,
    reassemble,
    reference_panels,
)
from .model_family import family_name, reads_reference_latents
from .sockets import CATEGORY, PanelLayoutSocket

log = logging.getLogger(__name__)


def add_reference_tokens(*, positive, negative, vae, canvas, layout, model=None):
    """Encode each input panel and append it to both conditionings as ReferenceLatent does; returns them, the
    outputs-only canvas and a report."""
    layout = require_layout(layout, REFERENCE_NODE)
    if model is not None and not reads_reference_latents(model):
        raise PanelInputError(REFERENCE_NODE, "model", f"{family_name(model)} does not read reference tokens "
                              "(ReferenceLatent): they would be ignored",
                              "Use an edit model (FLUX.1 Kontext, Qwen-Image-Edit, OmniGen2, FLUX.2), or put the "
                              "references on the canvas with the In-Context Sampler instead.")
    latents = [vae.encode(pixels) for pixels in reference_panels(canvas, layout)]
    values = {"reference_latents": latents}
    positive = node_helpers.conditioning_set_values(positive, values, append=True)
    negative = node_helpers.conditioning_set_values(negative, values, append=True)
    target = generation_layout(layout)
    report = (f"{len(latents)} reference panel(s) as clean tokens, {len(target.panels)} output slot(s) on a "
              f"{target.canvas_w}x{target.canvas_h} px canvas ({target.token_count} image tokens to generate, "
              f"{layout.token_count} on the whole set)")
    return positive, negative, generation_canvas(canvas, layout), report


class ReferenceTokens(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ICLoRA_ReferenceTokens",
            display_name=REFERENCE_NODE,
            category=CATEGORY,
            description="For edit models: gives the set's input panels to the model as clean reference tokens "
                        "(as ReferenceLatent does) and returns a canvas of the output slots alone to generate.",
            inputs=[
                io.Conditioning.Input("positive", tooltip="The joint prompt; the references are appended to it."),
                io.Conditioning.Input("negative", tooltip="The negative; the references are appended to it too."),
                io.Vae.Input("vae", tooltip="The VAE that matches the model."),
                io.Image.Input("canvas", tooltip="The canvas from Panel Concatenate."),
                PanelLayoutSocket.Input("layout", tooltip="The layout from Panel Concatenate."),
                io.Model.Input("model", optional=True,
                               tooltip="Optional: checked to read reference tokens (an edit model)."),
            ],
            outputs=[
                io.Conditioning.Output("positive_out", display_name="positive",
                                       tooltip="The prompt with the reference tokens."),
                io.Conditioning.Output("negative_out", display_name="negative",
                                       tooltip="The negative with the reference tokens."),
                io.Image.Output("generation_canvas", display_name="canvas",
                                tooltip="The output slots alone, to sample in joint mode."),
                io.String.Output("report", display_name="report",
                                 tooltip="References given as tokens and the size of the canvas to generate."),
            ],
        )

    @classmethod
    def execute(cls, positive, negative, vae, canvas, layout, model=None) -> io.NodeOutput:
        positive, negative, outputs_only, report = add_reference_tokens(
            positive=positive, negative=negative, vae=vae, canvas=canvas, layout=layout, model=model)
        log.info("%s: %s", REFERENCE_NODE, report)
        return io.NodeOutput(positive, negative, outputs_only, report)


class PanelReassemble(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ICLoRA_PanelReassemble",
            display_name=REASSEMBLE_NODE,
            category=CATEGORY,
            description="Puts the generated output slots back among the original references, so the whole set "
                        "goes on to Panel Split and Save Image as Panel Concatenate laid it out.",
            inputs=[
                io.Image.Input("generated", tooltip="The decoded image of the canvas that Reference Tokens made."),
                io.Image.Input("canvas", tooltip="The canvas from Panel Concatenate (the references come from it)."),
                PanelLayoutSocket.Input("layout", tooltip="The layout from Panel Concatenate."),
            ],
            outputs=[io.Image.Output("image", display_name="image",
                                     tooltip="The whole set, references pixel-exact; connect it to Panel Split.")],
        )

    @classmethod
    def execute(cls, generated, canvas, layout) -> io.NodeOutput:
        whole = reassemble(generated, canvas, layout)
        return io.NodeOutput(whole, ui=ui.PreviewImage(whole, cls=cls))


REFERENCE_NODES: list[type[io.ComfyNode]] = [ReferenceTokens, PanelReassemble]
