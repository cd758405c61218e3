"""Building the canvas: input images and empty output slots side by side, as the paper's in-context set."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import PanelInputError, quoted
from .families import DEFAULT_SNAP, snap_px
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


def _panel_side(value: int, first_image_side: int | None, name: str, notes: list[str], token_px: int,
                model: str) -> int:
    if value == 0:
        if first_image_side is None:
            raise PanelInputError(CONCATENATE, name, f"{name} is 0 (take the first image's size) but no image is "
                                  "connected", f"Set {name} for a text-only canvas, e.g. 1024.")
        value = first_image_side
        source = f"{name} {value} px (from the first image)"
    else:
        source = f"{name} {value} px"
    if value < token_px:
        raise PanelInputError(CONCATENATE, name, f"{source} is below the {token_px} px minimum of a {model} panel",
                              f"Use at least {token_px} px (FLUX works best at 512 px and more per panel).")
    snapped = snap_to_alignment(value, token_px)
    if snapped != value:
        notes.append(f"{source} snapped to {snapped} px ({model} needs multiples of {token_px} px)")
    return snapped


@dataclass(frozen=True)
class CanvasSettings:
    """Every setting of one Panel Concatenate run but the images, passed by name from the node."""

    output_slots: int = 1
    order: str = ""
    arrangement: str = "row"
    grid_rows: int = 0
    grid_cols: int = 0
    panel_width: int = 0
    panel_height: int = 0
    fit: str = "crop"
    pad_mode: str = "color"
    fill_color: str = "#808080"
    slot_fill: str = "color"
    max_megapixels: float = 4.0
    snap_for: str = DEFAULT_SNAP


def _check_settings(images: list[tuple[str, torch.Tensor]], s: CanvasSettings,
                    slot_image: torch.Tensor | None) -> None:
    """Refuse bad option values and inputs before any work (each message names the input and the fix)."""
    for name, value, options in (("fit", s.fit, FIT_MODES), ("pad_mode", s.pad_mode, PAD_MODES),
                                 ("slot_fill", s.slot_fill, SLOT_FILLS)):
        if value not in options:
            raise PanelInputError(CONCATENATE, name, f"{quoted(value)} is not an option",
                                  f"Choose one of {', '.join(options)}.")
    snap_px(s.snap_for, CONCATENATE)
    if len(images) > MAX_IMAGES:
        raise PanelInputError(CONCATENATE, images[MAX_IMAGES][0], f"more than {MAX_IMAGES} images are connected",
                              f"Use at most {MAX_IMAGES} reference images.")
    if not 0 <= s.output_slots <= MAX_OUTPUT_SLOTS:
        raise PanelInputError(CONCATENATE, "output_slots", f"output_slots is {s.output_slots}, out of range",
                              f"Use 0 to {MAX_OUTPUT_SLOTS}.")
    if s.slot_fill == "image" and slot_image is None:
        raise PanelInputError(CONCATENATE, "slot_image", "slot_fill is 'image' but no slot_image is connected",
                              "Connect an image to slot_image, or set slot_fill to color or noise.")
    if len(images) + s.output_slots == 0:
        raise PanelInputError(CONCATENATE, "output_slots", "the canvas would have no panels",
                              "Connect at least one image or set output_slots to 1 or more.")
    if not (math.isfinite(s.max_megapixels) and s.max_megapixels > 0):  # NaN passes every min/max check
        raise PanelInputError(CONCATENATE, "max_megapixels", f"max_megapixels is {s.max_megapixels}; it must be a "
                              "number above 0", "Set it to e.g. 4.0.")
    for name, image in images:
        require_image(image, CONCATENATE, name)
    if s.slot_fill == "image":
        require_image(slot_image, CONCATENATE, "slot_image")


def _plan_layout(images: list[tuple[str, torch.Tensor]], s: CanvasSettings, notes: list[str]) -> PanelLayout:
    """Panel size (from the first image when 0, snapped to whole tokens), roles, fits and the grid."""
    token_px = snap_px(s.snap_for, CONCATENATE)
    model = "FLUX" if token_px == ALIGN else s.snap_for.split(" (")[0]
    first = images[0][1] if images else None
    panel_w = _panel_side(s.panel_width, None if first is None else int(first.shape[2]), "panel_width", notes,
                          token_px, model)
    panel_h = _panel_side(s.panel_height, None if first is None else int(first.shape[1]), "panel_height", notes,
                          token_px, model)
    roles = parse_order(s.order, len(images), s.output_slots)
    fits = [plan_fit(int(img.shape[2]), int(img.shape[1]), panel_w, panel_h, s.fit) for _, img in images]
    layout = build_layout(roles, panel_w, panel_h, s.arrangement, s.grid_rows, s.grid_cols, fits, token_px)
    megapixels = layout.canvas_w * layout.canvas_h / 1e6
    if megapixels > s.max_megapixels:
        raise PanelInputError(CONCATENATE, "max_megapixels",
                              f"the canvas would be {layout.canvas_w}x{layout.canvas_h} = {megapixels:.2f} MP, "
                              f"over the limit of {s.max_megapixels:g} MP ({layout.token_count} image tokens; "
                              "attention cost grows with the square of that)",
                              "Use smaller panels or fewer panels, or raise max_megapixels if your GPU has room.")
    return layout


def _paint_canvas(images: list[tuple[str, torch.Tensor]], layout: PanelLayout, s: CanvasSettings, batch: int,
                  slot_image: torch.Tensor | None) -> torch.Tensor:
    """The fill colour everywhere, then each input fitted into its panel and each output slot's start picture."""
    pad_color = parse_color(s.fill_color, CONCATENATE, "fill_color")
    panel_w, panel_h = layout.panel_w, layout.panel_h
    device = images[0][1].device if images else torch.device("cpu")
    color = torch.tensor(pad_color, dtype=torch.float32, device=device)
    canvas = color.expand(batch, layout.canvas_h, layout.canvas_w, 3).clone()
    noise = torch.Generator(device="cpu").manual_seed(0)
    for panel in layout.panels:
        rows, cols = panel.box.slices()
        if panel.input_index is not None:
            _, image = images[panel.input_index]
            pixels = apply_fit(to_rgb(image.float()), panel.fit, panel_w, panel_h, s.pad_mode, pad_color)
        elif s.slot_fill == "image":
            slot_rgb = to_rgb(slot_image.float())
            slot_fit = plan_fit(int(slot_rgb.shape[2]), int(slot_rgb.shape[1]), panel_w, panel_h, s.fit)
            pixels = apply_fit(slot_rgb, slot_fit, panel_w, panel_h, s.pad_mode, pad_color)
        elif s.slot_fill == "noise":
            pixels = torch.rand(1, panel_h, panel_w, 3, generator=noise).to(device)
        else:
            continue  # already the fill colour
        canvas[:, rows, cols] = pixels.to(device).expand(batch, -1, -1, -1)
    return canvas


def _report(layout: PanelLayout, batch: int, notes: list[str]) -> str:
    report = layout.describe()
    empty = len(layout.empty_cells())
    if empty:
        notes = [*notes, f"{empty} grid cell(s) left empty and filled with fill_color"]
    if batch > 1:
        report += f"; batch of {batch} canvases"
    if notes:
        report += ". " + "; ".join(notes)
    return report


def build_canvas(*, images: list[tuple[str, torch.Tensor]], settings: CanvasSettings,
                 slot_image: torch.Tensor | None = None) -> ConcatenateResult:
    """Fit `images` (input name, `[B, H, W, C]`) into panels and add `settings.output_slots` empty panels.

    Returns the canvas `[B, H, W, 3]`, its layout and a one-paragraph report of what was decided (snapping,
    canvas size, token count), so nothing is adjusted silently.
    """
    _check_settings(images, settings, slot_image)
    parse_color(settings.fill_color, CONCATENATE, "fill_color")
    batches = {name: int(image.shape[0]) for name, image in images}
    if settings.slot_fill == "image" and slot_image is not None:
        batches["slot_image"] = int(slot_image.shape[0])
    batch = canvas_batch_size(batches)
    notes: list[str] = []
    layout = _plan_layout(images, settings, notes)
    canvas = _paint_canvas(images, layout, settings, batch, slot_image)
    return ConcatenateResult(canvas, layout, _report(layout, batch, notes))


def concatenate_panels(images: list[tuple[str, torch.Tensor]], output_slots: int, *,
                       slot_image: torch.Tensor | None = None, **settings) -> ConcatenateResult:
    """`build_canvas` with the settings given by name (the dataset planner and the tests call it this way)."""
    return build_canvas(images=images, slot_image=slot_image,
                        settings=CanvasSettings(output_slots=output_slots, **settings))
