"""Geometry invariants over many random layouts: the contract every other node relies on."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from iclora_pack.nodes.core.canvas import concatenate_panels
from iclora_pack.nodes.core.layout import ALIGN, PanelLayout, snap_to_alignment
from iclora_pack.nodes.core.masks import slot_mask
from iclora_pack.nodes.core.split import split_canvas
from strategies import canvas_specs, make_images

SETTINGS = settings(max_examples=150, deadline=None)


def build(spec: dict, batch: int = 1):
    return concatenate_panels(make_images(spec, batch), spec["n_outputs"], order=spec["order"],
                              arrangement=spec["arrangement"], grid_rows=spec["rows"], grid_cols=spec["cols"],
                              panel_width=spec["panel_w"], panel_height=spec["panel_h"], fit=spec["fit"])


@SETTINGS
@given(canvas_specs())
def test_panels_and_empty_cells_tile_the_canvas_without_overlap(spec):
    layout = build(spec).layout
    coverage = torch.zeros(layout.canvas_h, layout.canvas_w, dtype=torch.int32)
    for box in [p.box for p in layout.panels] + layout.empty_cells():
        assert box.x >= 0 and box.y >= 0 and box.x + box.w <= layout.canvas_w and box.y + box.h <= layout.canvas_h
        coverage[box.y:box.y + box.h, box.x:box.x + box.w] += 1
    assert bool((coverage == 1).all())
    assert len(layout.empty_cells()) == layout.rows * layout.cols - len(layout.panels)


@SETTINGS
@given(canvas_specs(aligned=False))
def test_every_box_is_aligned_to_flux_tokens(spec):
    """Any requested panel size (or the first image's) is snapped to the nearest multiple of 16 and reported."""
    result = build(spec)
    layout = result.layout
    (first_w, first_h) = spec["sizes"][0] if spec["sizes"] else (None, None)
    asked_w, asked_h = spec["panel_w"] or first_w, spec["panel_h"] or first_h
    assert (layout.panel_w, layout.panel_h) == (snap_to_alignment(asked_w), snap_to_alignment(asked_h))
    assert abs(layout.panel_w - asked_w) <= ALIGN // 2 and abs(layout.panel_h - asked_h) <= ALIGN // 2
    assert ("snapped" in result.report) == (asked_w % ALIGN != 0 or asked_h % ALIGN != 0)
    assert layout.canvas_w % ALIGN == 0 and layout.canvas_h % ALIGN == 0
    for panel in layout.panels:
        assert all(v % ALIGN == 0 for v in panel.box.to_list())


@SETTINGS
@given(canvas_specs())
def test_roles_follow_the_order_string_and_numbers_count_in_reading_order(spec):
    layout = build(spec).layout
    assert layout.role_string() == spec["order"]
    assert [p.number for p in layout.panels] == list(range(1, len(layout.panels) + 1))
    reading = sorted(layout.panels, key=lambda p: (p.box.y, p.box.x))
    assert [p.number for p in reading] == [p.number for p in layout.panels]
    assert [p.input_index for p in layout.input_panels] == list(range(spec["n_inputs"]))


@SETTINGS
@given(canvas_specs())
def test_layout_json_round_trips(spec):
    layout = build(spec).layout
    again = PanelLayout.from_json(layout.to_json())
    assert again == layout
    assert again.to_json() == layout.to_json()


@SETTINGS
@given(canvas_specs())
def test_mask_area_equals_output_slot_area_and_is_exact_in_latent_space(spec):
    layout = build(spec).layout
    mask = slot_mask(layout)
    assert mask.shape == (1, layout.canvas_h, layout.canvas_w)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert int(mask.sum()) == sum(p.box.area for p in layout.output_panels)
    # ComfyUI resizes the pixel mask to latent size bilinearly: with 16 px borders every 8 px cell is pure 0 or 1.
    latent = F.interpolate(mask[:, None], size=(layout.canvas_h // 8, layout.canvas_w // 8), mode="bilinear")
    assert set(latent.unique().tolist()) <= {0.0, 1.0}


@SETTINGS
@given(canvas_specs(fit_modes=("stretch", "crop", "pad")))
def test_split_returns_exactly_the_pixels_concatenate_placed(spec):
    result = build(spec, batch=2)
    numbers = [p.number for p in result.layout.panels]
    pieces = split_canvas(result.canvas, result.layout, numbers)
    batch = 2 if spec["n_inputs"] else 1  # a text-only canvas has no image to take a batch from
    for panel, piece in zip(result.layout.panels, pieces):
        rows, cols = panel.box.slices()
        assert piece.shape == (batch, result.layout.panel_h, result.layout.panel_w, 3)
        assert torch.equal(piece, result.canvas[:, rows, cols])
    untouched = result.canvas.clone()
    for panel, piece in zip(result.layout.panels, pieces):
        rows, cols = panel.box.slices()
        untouched[:, rows, cols] = piece
    assert torch.equal(untouched, result.canvas)
