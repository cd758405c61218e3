"""Building the canvas: input images and empty output slots side by side, as the paper's in-context set."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import PanelInputError, quoted
from .fitting import FIT_MODES, PAD_MODES, apply_fit, parse_color, plan_fit, require_image, to_rgb
from .layout import ALIGN, CONCATENATE, PanelLayout, build_layout, parse_order, snap_to_alignment

SLOT_FILLS = ("color", "noise", "image")
MAX_IMAGES = 8
MAX_OUTPUT_SLOTS = 8


@dataclass(frozen=True)
class ConcatenateResult:
    canvas: torch.Tensor
    layout: PanelLayout
    report: str


def canvas_batch_size(batches: dict[str, int]) -> int:
    """The predictable batch rule: every input has batch 1 or the same batch B; batch 1 is repeated B times."""
    if not batches:
        return 1
    size = max(batches.values())
    for name, batch in batches.items():
        if batch not in (1, size):
            others = ", ".join(f"{n}={b}" for n, b in batches.items())
            raise PanelInputError(CONCATENATE, name, f"batch sizes do not match ({others})",
                                  f"Give every image a batch of 1 or of {size}; a batch of 1 is used for "
                                  "every canvas of the batch.")
    return size


def _panel_side(value: int, first_image_side: int | None, name: str, notes: list[str]) -> int:
    if value == 0:
        if first_image_side is None:
            raise PanelInputError(CONCATENATE, name, f"{name} is 0 (take the first image's size) but no image is "
                                  "connected", f"Set {name} for a text-only canvas, e.g. 1024.")
        value = first_image_side
        source = f"{name} {value} px (from the first image)"
    else:
        source = f"{name} {value} px"
    if value < ALIGN:
        raise PanelInputError(CONCATENATE, name, f"{source} is below the {ALIGN} px minimum of a FLUX panel",
                              f"Use at least {ALIGN} px (FLUX works best at 512 px and more per panel).")
    snapped = snap_to_alignment(value)
    if snapped != value:
        notes.append(f"{source} snapped to {snapped} px (FLUX needs multiples of {ALIGN} px)")
    return snapped


def concatenate_panels(
    images: list[tuple[str, torch.Tensor]],
    output_slots: int,
    order: str = "",
    arrangement: str = "row",
    grid_rows: int = 0,
    grid_cols: int = 0,
    panel_width: int = 0,
    panel_height: int = 0,
    fit: str = "crop",
    pad_mode: str = "color",
    fill_color: str = "#808080",
    slot_fill: str = "color",
    slot_image: torch.Tensor | None = None,
    max_megapixels: float = 4.0,
) -> ConcatenateResult:
    """Fit `images` (input name, `[B, H, W, C]`) into panels and add `output_slots` empty panels.

    Returns the canvas `[B, H, W, 3]`, its layout and a one-paragraph report of what was decided (snapping,
    canvas size, token count), so nothing is adjusted silently.
    """
    for name, value, options in (("fit", fit, FIT_MODES), ("pad_mode", pad_mode, PAD_MODES),
                                 ("slot_fill", slot_fill, SLOT_FILLS)):
        if value not in options:
            raise PanelInputError(CONCATENATE, name, f"{quoted(value)} is not an option",
                                  f"Choose one of {', '.join(options)}.")
    if len(images) > MAX_IMAGES:
        raise PanelInputError(CONCATENATE, images[MAX_IMAGES][0], f"more than {MAX_IMAGES} images are connected",
                              f"Use at most {MAX_IMAGES} reference images.")
    if not 0 <= output_slots <= MAX_OUTPUT_SLOTS:
        raise PanelInputError(CONCATENATE, "output_slots", f"output_slots is {output_slots}, out of range",
                              f"Use 0 to {MAX_OUTPUT_SLOTS}.")
    if slot_fill == "image" and slot_image is None:
        raise PanelInputError(CONCATENATE, "slot_image", "slot_fill is 'image' but no slot_image is connected",
                              "Connect an image to slot_image, or set slot_fill to color or noise.")
    if len(images) + output_slots == 0:
        raise PanelInputError(CONCATENATE, "output_slots", "the canvas would have no panels",
                              "Connect at least one image or set output_slots to 1 or more.")
    if not (math.isfinite(max_megapixels) and max_megapixels > 0):  # NaN passes every min/max check
        raise PanelInputError(CONCATENATE, "max_megapixels", f"max_megapixels is {max_megapixels}; it must be a "
                              "number above 0", "Set it to e.g. 4.0.")
    for name, image in images:
        require_image(image, CONCATENATE, name)
    if slot_fill == "image":
        require_image(slot_image, CONCATENATE, "slot_image")

    pad_color = parse_color(fill_color, CONCATENATE, "fill_color")
    batches = {name: int(image.shape[0]) for name, image in images}
    if slot_fill == "image" and slot_image is not None:
        batches["slot_image"] = int(slot_image.shape[0])
    batch = canvas_batch_size(batches)

    notes: list[str] = []
    first = images[0][1] if images else None
    panel_w = _panel_side(panel_width, None if first is None else int(first.shape[2]), "panel_width", notes)
    panel_h = _panel_side(panel_height, None if first is None else int(first.shape[1]), "panel_height", notes)

    roles = parse_order(order, len(images), output_slots)
    fits = [plan_fit(int(img.shape[2]), int(img.shape[1]), panel_w, panel_h, fit) for _, img in images]
    layout = build_layout(roles, panel_w, panel_h, arrangement, grid_rows, grid_cols, fits)

    megapixels = layout.canvas_w * layout.canvas_h / 1e6
    if megapixels > max_megapixels:
        raise PanelInputError(CONCATENATE, "max_megapixels",
                              f"the canvas would be {layout.canvas_w}x{layout.canvas_h} = {megapixels:.2f} MP, "
                              f"over the limit of {max_megapixels:g} MP ({layout.token_count} image tokens; "
                              "attention cost grows with the square of that)",
                              "Use smaller panels or fewer panels, or raise max_megapixels if your GPU has room.")

    device = first.device if first is not None else torch.device("cpu")
    color = torch.tensor(pad_color, dtype=torch.float32, device=device)
    canvas = color.expand(batch, layout.canvas_h, layout.canvas_w, 3).clone()
    noise = torch.Generator(device="cpu").manual_seed(0)

    for panel in layout.panels:
        rows, cols = panel.box.slices()
        if panel.input_index is not None:
            name, image = images[panel.input_index]
            pixels = apply_fit(to_rgb(image.float()), panel.fit, panel_w, panel_h, pad_mode, pad_color)
        elif slot_fill == "image":
            slot_rgb = to_rgb(slot_image.float())
            slot_fit = plan_fit(int(slot_rgb.shape[2]), int(slot_rgb.shape[1]), panel_w, panel_h, fit)
            pixels = apply_fit(slot_rgb, slot_fit, panel_w, panel_h, pad_mode, pad_color)
        elif slot_fill == "noise":
            pixels = torch.rand(1, panel_h, panel_w, 3, generator=noise).to(device)
        else:
            continue  # already the fill colour
        canvas[:, rows, cols] = pixels.to(device).expand(batch, -1, -1, -1)

    report = layout.describe()
    empty = len(layout.empty_cells())
    if empty:
        notes.append(f"{empty} grid cell(s) left empty and filled with fill_color")
    if batch > 1:
        report += f"; batch of {batch} canvases"
    if notes:
        report += ". " + "; ".join(notes)
    return ConcatenateResult(canvas, layout, report)
