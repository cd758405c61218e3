"""Canvases built from a plan, lazily: only one set's pixels at full size are held at a time.

Each canvas is made by Panel Concatenate's own function at the dataset's one size, so training sees exactly the
canvases the pack makes at generation time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..canvas import concatenate_panels
from ..errors import PanelInputError
from .files import DECODE_ERRORS, load_image, unreadable
from .plan import DatasetPlan, PlannedSet, as_dataset_error

PREVIEW_MAX_SIDE = 384


@dataclass(frozen=True)
class BuiltCanvas:
    planned: PlannedSet
    canvas: torch.Tensor | None
    problem: str | None = None


def build_canvas(plan: DatasetPlan, planned: PlannedSet) -> torch.Tensor:
    """One set's canvas `[1, H, W, 3]` at the dataset's size, made by Panel Concatenate's own function."""
    s = plan.settings
    images = [(f"image_{i}", load_image(path)) for i, path in enumerate(planned.source.images, start=1)]
    try:
        result = concatenate_panels(images, 0, arrangement=plan.arrangement, grid_rows=plan.rows,
                                    grid_cols=plan.cols, panel_width=plan.panel_w, panel_height=plan.panel_h,
                                    fit=s.fit, pad_mode=s.pad_mode, fill_color=s.fill_color,
                                    max_megapixels=s.max_megapixels)
    except PanelInputError as error:
        raise as_dataset_error(error, planned.source.name) from None
    return result.canvas


def _decodes(path: Path) -> bool:
    try:
        load_image(path)
        return True
    except DECODE_ERRORS:
        return False


def iter_canvases(plan: DatasetPlan) -> Iterator[BuiltCanvas]:
    """Build the canvases one by one; a picture that fails to decode is reported, never replaced by a blank."""
    for planned in plan.sets:
        try:
            canvas = build_canvas(plan, planned)
        except DECODE_ERRORS as error:
            if isinstance(error, PanelInputError):
                raise
            bad = next((p for p in planned.source.images if not _decodes(p)), planned.source.images[0])
            yield BuiltCanvas(planned, None, unreadable(bad, error))
            continue
        yield BuiltCanvas(planned, canvas)


def preview_of(canvas: torch.Tensor, max_side: int = PREVIEW_MAX_SIDE) -> torch.Tensor:
    """A small copy of a `[B, H, W, C]` canvas for the node's preview output (area-averaged)."""
    height, width = canvas.shape[1], canvas.shape[2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return canvas.clone()
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(canvas.movedim(-1, 1), size=size, mode="area").movedim(1, -1)
