"""Fitting a user's image into a panel, and undoing it.

The fit is planned in whole pixels first (`plan_fit`) and recorded in the layout, so that Panel Split can undo
exactly what Panel Concatenate did instead of guessing from sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import PanelInputError, kind_of, quoted
from .layout import Box, Fit

FIT_MODES = ("crop", "pad", "stretch")
PAD_MODES = ("color", "edge")


def resize_image(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Resize `[B, H, W, C]` pixels; a no-op when the size already matches, so unscaled round trips stay exact."""
    if image.shape[1] == height and image.shape[2] == width:
        return image
    nchw = image.movedim(-1, 1)
    antialias = height < image.shape[1] or width < image.shape[2]
    out = F.interpolate(nchw.float(), size=(height, width), mode="bicubic", align_corners=False, antialias=antialias)
    return out.movedim(1, -1).clamp(0.0, 1.0).to(image.dtype)


def plan_fit(source_w: int, source_h: int, panel_w: int, panel_h: int, mode: str) -> Fit:
    """Decide, in whole pixels, which part of the source is shown and where it lands in the panel.

    crop: scale to cover the panel, keep the centre; pad: scale to fit inside, centre, fill the margin;
    stretch: scale each axis independently.
    """
    full_panel = Box(0, 0, panel_w, panel_h)
    full_source = Box(0, 0, source_w, source_h)
    if mode == "stretch":
        return Fit(mode, source_w, source_h, full_source, full_panel)
    if mode == "crop":
        # Compare aspect ratios in integers to avoid float ties.
        if source_w * panel_h > panel_w * source_h:  # source is wider: keep full height
            crop_w = max(1, min(source_w, round(source_h * panel_w / panel_h)))
            box = Box((source_w - crop_w) // 2, 0, crop_w, source_h)
        else:
            crop_h = max(1, min(source_h, round(source_w * panel_h / panel_w)))
            box = Box(0, (source_h - crop_h) // 2, source_w, crop_h)
        return Fit(mode, source_w, source_h, box, full_panel)
    if mode == "pad":
        if source_w * panel_h > panel_w * source_h:  # wider: full panel width
            content_w = panel_w
            content_h = max(1, min(panel_h, round(source_h * panel_w / source_w)))
        else:
            content_h = panel_h
            content_w = max(1, min(panel_w, round(source_w * panel_h / source_h)))
        box = Box((panel_w - content_w) // 2, (panel_h - content_h) // 2, content_w, content_h)
        return Fit(mode, source_w, source_h, full_source, box)
    raise ValueError(f"unknown fit mode {mode!r}")


def apply_fit(image: torch.Tensor, fit: Fit, panel_w: int, panel_h: int, pad_mode: str = "color",
              pad_color: tuple[float, ...] = (0.5, 0.5, 0.5)) -> torch.Tensor:
    """Render `[B, H, W, C]` source pixels into a `[B, panel_h, panel_w, C]` panel as `fit` says."""
    rows, cols = fit.source_box.slices()
    visible = image[:, rows, cols]
    content = resize_image(visible, fit.content_box.w, fit.content_box.h)
    if (fit.content_box.w, fit.content_box.h) == (panel_w, panel_h):
        return content
    box = fit.content_box
    pad = (box.x, panel_w - box.x - box.w, box.y, panel_h - box.y - box.h)  # left, right, top, bottom
    nchw = content.movedim(-1, 1)
    if pad_mode == "edge":
        padded = F.pad(nchw, pad, mode="replicate")
    elif pad_mode == "color":
        padded = F.pad(nchw, pad, mode="constant", value=0.0)
        color = torch.tensor(pad_color, dtype=image.dtype, device=image.device).view(1, -1, 1, 1)
        inside = torch.zeros(1, 1, panel_h, panel_w, dtype=torch.bool, device=image.device)
        inside[..., box.y:box.y + box.h, box.x:box.x + box.w] = True
        padded = torch.where(inside, padded, color.expand_as(padded))
    else:
        raise ValueError(f"unknown pad mode {pad_mode!r}")
    return padded.movedim(1, -1)


def undo_fit(panel: torch.Tensor, fit: Fit) -> torch.Tensor:
    """Take a `[B, h, w, C]` panel back to the source's pixel grid.

    Pad and stretch give the whole source size back; crop gives the visible part at its source size (what
    was cropped away was never on the canvas).
    """
    rows, cols = fit.content_box.slices()
    return resize_image(panel[:, rows, cols], fit.source_box.w, fit.source_box.h)


def parse_color(text: str, node: str, input_name: str) -> tuple[float, float, float]:
    """`#808080`, `808080` or `128,128,128` to RGB in 0-1."""
    value = str(text).strip()
    try:
        if "," in value:
            parts = [int(p) for p in value.split(",")]
            if len(parts) != 3 or not all(0 <= p <= 255 for p in parts):
                raise ValueError
        else:
            hex_digits = value.lstrip("#")
            if len(hex_digits) != 6:
                raise ValueError
            parts = [int(hex_digits[i:i + 2], 16) for i in (0, 2, 4)]
    except ValueError:
        raise PanelInputError(node, input_name, f"{quoted(text)} is not a colour",
                              "Write it as #RRGGBB (e.g. #808080 for mid-grey) or R,G,B from 0 to 255.") from None
    r, g, b = (p / 255.0 for p in parts)
    return r, g, b


def to_rgb(image: torch.Tensor) -> torch.Tensor:
    """Canvases are RGB: grey images are repeated to three channels, an alpha channel is dropped."""
    channels = image.shape[-1]
    if channels == 3:
        return image
    if channels == 1:
        return image.expand(*image.shape[:-1], 3)
    if channels == 4:
        return image[..., :3]
    raise ValueError(f"an image with {channels} channels is not supported")


def require_image(value: object, node: str, input_name: str, what: str = "an IMAGE output (e.g. Load Image)"
                  ) -> torch.Tensor:
    """An image input as `[B, H, W, C]` pixels: a graph sent through the API can hold a literal (text, a
    dictionary) there, and a tensor of another shape is someone else's type."""
    if not isinstance(value, torch.Tensor):
        raise PanelInputError(node, input_name, f"got {kind_of(value)} instead of an image", f"Connect {what}.")
    if value.ndim != 4 or value.shape[-1] not in (1, 3, 4) or value.shape[1] < 1 or value.shape[2] < 1:
        raise PanelInputError(node, input_name, f"expected an IMAGE [batch, height, width, channels], got shape "
                              f"{list(value.shape)}", f"Connect {what}.")
    return value
