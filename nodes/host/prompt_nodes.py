"""Joint Prompt Builder: a thin V3 adapter over `prompts`, plus FLUX text encoding when a CLIP is connected."""

from __future__ import annotations

import logging

from comfy_api.latest import io
from comfy_execution.graph_utils import ExecutionBlocker

from ..core.errors import PanelInputError
from ..core.layout import require_layout
from ..core.prompts import (
    CUSTOM,
    MAX_PANEL_TEXTS,
    PRESET_PUNCTUATION,
    PROMPT_NODE,
    build_joint_prompt,
    choose_preset,
    token_budget_warning,
)
from .shared_inputs import (
    clip_input,
    custom_markers_input,
    custom_opening_input,
    custom_prefix_input,
    guidance_input,
    names_input,
    preset_input,
    punctuation_input,
)
from .sockets import CATEGORY, PanelLayoutSocket
from .tokens import count_t5_tokens, encode_caption

log = logging.getLogger(__name__)


class JointPromptBuilder(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        panels = [
            io.String.Input(f"panel_{i}", multiline=True, default="",
                            tooltip=f"What panel {i} shows, in reading order (left to right, top to bottom); its "
                                    "marker is added for you.")
            for i in range(1, MAX_PANEL_TEXTS + 1)
        ]
        return io.Schema(
            node_id="ICLoRA_JointPromptBuilder",
            display_name=PROMPT_NODE,
            category=CATEGORY,
            description="Writes one joint caption in the format a task IC-LoRA was trained on (prefix, panel-count "
                        "opening, summary, one marked clause per panel, markers taken from the layout) and "
                        "optionally encodes it for FLUX.",
            inputs=[
                preset_input(default="film-storyboard"),
                io.String.Input("summary", multiline=True, default="",
                                tooltip="The overall description, which follows the opening the preset adds, e.g. "
                                        "'showcases a rustic living room ...' after 'This four-panel image'."),
                *panels,
                names_input(),
                guidance_input(),
                custom_prefix_input(),
                custom_opening_input(),
                custom_markers_input(),
                punctuation_input(),
                PanelLayoutSocket.Input("layout", optional=True,
                                        tooltip="The layout from Panel Concatenate, whose panel count, order and "
                                                "markers the caption follows; without it the preset's own layout is "
                                                "used."),
                clip_input(),
            ],
            outputs=[
                io.String.Output("prompt", display_name="prompt", tooltip="The joint caption."),
                io.Conditioning.Output("conditioning", display_name="conditioning",
                                       tooltip="The caption encoded by 'clip', with 'guidance' applied (needs clip)."),
                io.String.Output("panel_texts", display_name="panel_texts", is_output_list=True,
                                 tooltip="Each panel's text, in panel order, as a list."),
                io.String.Output("warnings", display_name="warnings",
                                 tooltip="What looks wrong (empty panels, a layout the LoRA was not trained on, "
                                         "too many tokens); empty when all is well."),
            ],
        )

    @classmethod
    def execute(cls, preset, summary, names, guidance, custom_prefix, custom_opening, custom_markers,
                punctuation=PRESET_PUNCTUATION, layout=None, clip=None, **panel_inputs) -> io.NodeOutput:
        task = choose_preset(preset, custom_prefix=custom_prefix, custom_opening=custom_opening,
                             custom_markers=custom_markers, node=PROMPT_NODE)
        if layout is not None:
            layout = require_layout(layout, PROMPT_NODE)
            rows, cols, count = layout.rows, layout.cols, len(layout.panels)
        elif task.id == CUSTOM:
            raise PanelInputError(PROMPT_NODE, "layout", "the custom preset has no panel layout of its own",
                                  "Connect the layout from Panel Concatenate, or choose a task preset.")
        else:
            (rows, cols), count = task.grid, task.panel_count
        texts = [panel_inputs.get(f"panel_{i}", "") for i in range(1, MAX_PANEL_TEXTS + 1)]
        built = build_joint_prompt(task, summary, texts, rows, cols, count, names.split(","),
                                   punctuation=punctuation)
        warnings = list(built.warnings)
        over = token_budget_warning(count_t5_tokens(built.prompt, clip))
        if over:
            warnings.append(over)
        for warning in warnings:
            log.warning("%s: %s", PROMPT_NODE, warning)

        if clip is None:
            conditioning = ExecutionBlocker(f"{PROMPT_NODE}: 'conditioning' is used but no clip is connected "
                                            "(input 'clip'). Connect DualCLIPLoader (type flux), or use the "
                                            "'prompt' output with CLIP Text Encode.")
        else:
            conditioning = encode_caption(clip, built.prompt, guidance)
        return io.NodeOutput(built.prompt, conditioning, built.panel_texts, "\n".join(warnings))


PROMPT_NODES: list[type[io.ComfyNode]] = [JointPromptBuilder]
