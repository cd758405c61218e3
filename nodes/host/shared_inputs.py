"""The inputs several nodes share, declared once: Panel Set Dataset takes Panel Concatenate's canvas inputs and the
Joint Prompt Builder's caption inputs, and each must mean (and read) the same on every node that has it.

One builder per input, each with its one tooltip. A node decides only where the input goes in its list (saved
workflows store widget values by position, so the order stays the node's own) and, for `preset`, its default.
"""

from __future__ import annotations

from comfy_api.latest import io

from ..core.fitting import FIT_MODES, PAD_MODES
from ..core.layout import ALIGN, ARRANGEMENTS
from ..core.prompts import CUSTOM, PRESET_PUNCTUATION, PUNCTUATIONS, load_presets

# --- the canvas: Panel Concatenate and Panel Set Dataset --------------------------------------------------------


def arrangement_input() -> io.Combo.Input:
    return io.Combo.Input("arrangement", options=list(ARRANGEMENTS), default="row",
                          tooltip="row: side by side; column: stacked top to bottom; grid: rows x columns filled "
                                  "row by row.")


def grid_rows_input() -> io.Int.Input:
    return io.Int.Input("grid_rows", default=0, min=0, max=16, tooltip="Rows for 'grid'; 0 chooses automatically.")


def grid_cols_input() -> io.Int.Input:
    return io.Int.Input("grid_cols", default=0, min=0, max=16,
                        tooltip="Columns for 'grid'; 0 chooses automatically.")


def panel_width_input() -> io.Int.Input:
    return io.Int.Input("panel_width", default=0, min=0, max=8192, step=ALIGN,
                        tooltip=f"Width of every panel in px, snapped to a multiple of {ALIGN}; 0 takes the first "
                                "image's width.")


def panel_height_input() -> io.Int.Input:
    return io.Int.Input("panel_height", default=0, min=0, max=8192, step=ALIGN,
                        tooltip=f"Height of every panel in px, snapped to a multiple of {ALIGN}; 0 takes the first "
                                "image's height.")


def fit_input() -> io.Combo.Input:
    return io.Combo.Input("fit", options=list(FIT_MODES), default="crop",
                          tooltip="How an image of another shape fills its panel: crop (cover, centred), pad (fit "
                                  "inside, margin filled) or stretch (distort).")


def pad_mode_input() -> io.Combo.Input:
    return io.Combo.Input("pad_mode", options=list(PAD_MODES), default="color",
                          tooltip="For fit 'pad': fill the margin with fill_color, or repeat the edge pixels.")


def fill_color_input() -> io.String.Input:
    return io.String.Input("fill_color", default="#808080",
                           tooltip="#RRGGBB or R,G,B for padding, empty grid cells and output slots filled with "
                                   "'color'; mid-grey is neutral for the VAE.")


def max_megapixels_input() -> io.Float.Input:
    return io.Float.Input("max_megapixels", default=4.0, min=0.1, max=64.0, step=0.1,
                          tooltip="Refuse canvases larger than this, as memory and time grow with the square of the "
                                  f"token count (one FLUX token per {ALIGN}x{ALIGN} px).")


# --- the caption: Joint Prompt Builder and Panel Set Dataset ----------------------------------------------------


def preset_input(default: str) -> io.Combo.Input:
    """The nodes differ only in the default: the builder starts from a task, the dataset from 'custom'."""
    return io.Combo.Input("preset", options=[*load_presets(), CUSTOM], default=default,
                          tooltip="The task LoRA whose caption format is applied (prefix, opening, panel markers, "
                                  "built-in words); 'custom' uses the custom_* inputs.")


def names_input() -> io.String.Input:
    return io.String.Input("names", default="",
                           tooltip="Character names, comma-separated, wrapped in < > wherever they appear in the "
                                   "texts (film storyboard and custom).")


def guidance_input() -> io.Float.Input:
    return io.Float.Input("guidance", default=3.5, min=0.0, max=100.0, step=0.1,
                          tooltip="FLUX guidance written into the conditioning: the value you sample with (the "
                                  "paper uses 3.5).")


def custom_prefix_input() -> io.String.Input:
    return io.String.Input("custom_prefix", default="",
                           tooltip="custom preset: text put before everything, e.g. '[MY-TASK]'.")


def custom_opening_input() -> io.String.Input:
    return io.String.Input("custom_opening", default="This {count}-panel image",
                           tooltip="custom preset: the opening; {count} becomes the panel count in words, {COUNT} "
                                   "in capitals.")


def custom_markers_input() -> io.String.Input:
    return io.String.Input("custom_markers", default="geometry",
                           tooltip="custom preset: 'geometry' (LEFT/RIGHT, TOP/BOTTOM, corners, else [PANEL-n]), a "
                                   "template such as '[SHOT-{n}]', or one marker per panel, comma-separated.")


def punctuation_input() -> io.Combo.Input:
    return io.Combo.Input("punctuation", options=list(PUNCTUATIONS), default=PRESET_PUNCTUATION, optional=True,
                          tooltip="preset: the task's own separators join the parts (your trailing , ; . are "
                                  "replaced); as written: each text keeps its own ending, to match a caption "
                                  "exactly.")


def clip_input() -> io.Clip.Input:
    return io.Clip.Input("clip", optional=True,
                         tooltip="The FLUX text encoders (DualCLIPLoader, type flux) that encode the caption; "
                                 "needed only for the conditioning output.")
