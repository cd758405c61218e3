"""Model families and their token grid: how many pixels one image token of each model covers.

A diffusion transformer sees the canvas as tokens of (VAE downscale x patch size) pixels. A panel border that cuts
through a token makes that token half reference, half output: masked sampling then can only keep or generate it
whole, and the model mixes both panels inside it. Panel Concatenate snaps panels to whole tokens of the model
chosen in `snap_for`; the sampler checks the canvas against the model it is given (nodes/host/model_family.py
reads the token size from the model itself; the host tests check every entry here against ComfyUI's classes).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PanelInputError


@dataclass(frozen=True)
class Family:
    """One model family as users know it, with what ComfyUI builds for it."""

    name: str
    downscale: int
    patch: int
    note: str = ""

    @property
    def token_px(self) -> int:
        return self.downscale * self.patch


FAMILIES: tuple[Family, ...] = (
    Family("FLUX.1 (dev, schnell, Fill, Kontext)", 8, 2),
    Family("Chroma", 8, 2),
    Family("SD3.5", 8, 2),
    Family("HiDream", 8, 2),
    Family("Lumina 2", 8, 2),
    Family("Qwen-Image (and Edit)", 8, 2),
    Family("Cosmos Predict2", 8, 2),
    Family("OmniGen2", 8, 2),
    Family("HunyuanImage 2.1", 32, 1),
    Family("SDXL", 8, 1, "a UNet: no tokens; 8 px is one latent cell"),
    Family("FLUX.2 (ComfyUI 0.33)", 16, 1),
    Family("Z-Image (ComfyUI 0.33)", 8, 2),
)

SNAP_FOR: dict[str, int] = {
    "FLUX / SD3 / Qwen-Image / most DiTs (16 px)": 16,
    "HunyuanImage 2.1 (32 px)": 32,
    "SDXL and other UNets (8 px)": 8,
}
"""Panel Concatenate's `snap_for` options: each names the families whose token is that many pixels (FAMILIES)."""
DEFAULT_SNAP = next(iter(SNAP_FOR))


def snap_px(snap_for: str, node: str, input_name: str = "snap_for") -> int:
    """The token size of a `snap_for` option; ComfyUI 0.3.64 does not check combo values, so this does."""
    if snap_for not in SNAP_FOR:
        raise PanelInputError(node, input_name, f"'{snap_for}' is not a model family option",
                              f"Choose one of: {'; '.join(SNAP_FOR)}.")
    return SNAP_FOR[snap_for]


def snap_option_for(token_px: int) -> str | None:
    """The `snap_for` option that gives whole tokens of `token_px` pixels, if there is one."""
    for option, px in SNAP_FOR.items():
        if px == token_px:
            return option
    for option, px in sorted(SNAP_FOR.items(), key=lambda item: item[1]):
        if px % token_px == 0:
            return option
    return None


def check_token_fit(*, node: str, input_name: str, model_name: str, token_px: int, downscale: int,
                    canvas_w: int, canvas_h: int, panel_w: int | None = None, panel_h: int | None = None) -> None:
    """Refuse a canvas whose sides (or, when a layout is known, whose panels) are not whole tokens of the model.

    The canvas must be whole latent cells (the VAE would crop otherwise, and the mask would no longer match), and
    panels must be whole tokens (a token across a border is half kept, half generated).
    """
    option = snap_option_for(token_px)
    fix = (f"Set Panel Concatenate's snap_for to '{option}'" if option else
           f"Use panel sides that are multiples of {token_px} px") + " and connect its canvas and layout unscaled."
    if canvas_w % downscale or canvas_h % downscale:
        raise PanelInputError(node, input_name, f"the canvas is {canvas_w}x{canvas_h} px but {model_name} encodes "
                              f"{downscale} px per latent cell, so the VAE would cut the canvas", fix)
    if panel_w is None or panel_h is None:
        return
    if panel_w % token_px or panel_h % token_px:
        raise PanelInputError(node, input_name, f"the panels are {panel_w}x{panel_h} px but {model_name} sees "
                              f"tokens of {token_px} px, so tokens would straddle panel borders", fix)
