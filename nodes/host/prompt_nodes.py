"""Joint Prompt Builder: a thin V3 adapter over `prompts`, plus FLUX text encoding when a CLIP is connected."""

from __future__ import annotations

import functools
import logging

import node_helpers
from comfy_api.latest import io
from comfy_execution.graph_utils import ExecutionBlocker

from ..core.errors import PanelInputError, quoted
from ..core.layout import require_layout
from ..core.prompts import (
    CUSTOM,
    MAX_PANEL_TEXTS,
    PRESET_PUNCTUATION,
    PROMPT_NODE,
    PUNCTUATIONS,
    build_joint_prompt,
    custom_preset,
    load_presets,
    token_budget_warning,
)
from .sockets import CATEGORY, PanelLayoutSocket

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _t5_tokenizer():
    """ComfyUI's own FLUX T5 tokenizer, so the token count is the one the encoder sees."""
    from comfy.text_encoders.sd3_clip import T5XXLTokenizer

    return T5XXLTokenizer().tokenizer


def count_t5_tokens(text: str, clip=None) -> int:
    tokenizer = getattr(getattr(getattr(clip, "tokenizer", None), "t5xxl", None), "tokenizer", None)
    return len((tokenizer or _t5_tokenizer())(text)["input_ids"])


class JointPromptBuilder(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        presets = load_presets()
        panels = [
            io.String.Input(f"panel_{i}", multiline=True, default="",
                            tooltip=f"What panel {i} shows (reading order: left to right, top to bottom). Its "
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
                io.Combo.Input("preset", options=[*presets, CUSTOM], default="film-storyboard",
                               tooltip="The task LoRA you use; its caption format is applied, including its "
                                       "built-in words ('while' before couple-profile's right panel, 'with the "
                                       "left panel showing' and 'while the right panel' in visual-identity-design, "
                                       "each left out where your text already starts with it); 'custom' uses the "
                                       "custom_* inputs."),
                io.String.Input("summary", multiline=True, default="",
                                tooltip="The overall description. It follows the opening the preset adds, e.g. "
                                        "'showcases a rustic living room ...' after 'This four-panel image'."),
                *panels,
                io.String.Input("names", default="",
                                tooltip="Character names, comma-separated, to wrap in < > wherever they appear in "
                                        "your texts (film storyboard and custom)."),
                io.Float.Input("guidance", default=3.5, min=0.0, max=100.0, step=0.1,
                               tooltip="FLUX guidance written into the conditioning (the paper uses 3.5)."),
                io.String.Input("custom_prefix", default="",
                                tooltip="custom preset: text put before everything, e.g. '[MY-TASK]'."),
                io.String.Input("custom_opening", default="This {count}-panel image",
                                tooltip="custom preset: the opening; {count} becomes the panel count in words, "
                                        "{COUNT} in capitals."),
                io.String.Input("custom_markers", default="geometry",
                                tooltip="custom preset: 'geometry' (LEFT/RIGHT, TOP/BOTTOM, corners, else "
                                        "[PANEL-n]), a template such as '[SHOT-{n}]', or one marker per panel, "
                                        "comma-separated."),
                io.Combo.Input("punctuation", options=list(PUNCTUATIONS), default=PRESET_PUNCTUATION,
                               optional=True,
                               tooltip="preset: the task's own separators join the parts (your trailing , ; . "
                                       "are replaced); as written: each text keeps its own ending and only a "
                                       "space goes before the next marker, to match a caption exactly."),
                PanelLayoutSocket.Input("layout", optional=True,
                                        tooltip="The layout from Panel Concatenate: panel count, order and markers "
                                                "follow it. Without it the preset's own layout is used."),
                io.Clip.Input("clip", optional=True,
                              tooltip="Connect the FLUX text encoders (DualCLIPLoader, type flux) to get "
                                      "'conditioning' too."),
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
        presets = load_presets()
        if preset == CUSTOM:
            task = custom_preset(custom_prefix, custom_opening, custom_markers)
        elif preset in presets:
            task = presets[preset]
        else:
            raise PanelInputError(PROMPT_NODE, "preset", f"{quoted(preset)} is not a preset",
                                  f"Choose one of {', '.join([*presets, CUSTOM])}.")
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
            conditioning = clip.encode_from_tokens_scheduled(clip.tokenize(built.prompt))
            conditioning = node_helpers.conditioning_set_values(conditioning, {"guidance": guidance})
        return io.NodeOutput(built.prompt, conditioning, built.panel_texts, "\n".join(warnings))


PROMPT_NODES: list[type[io.ComfyNode]] = [JointPromptBuilder]
