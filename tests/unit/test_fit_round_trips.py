"""Concatenate then split with undo_fit gives the user's image back: exactly where no resampling happened,
closely where it did."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from iclora_pack.nodes.core.canvas import concatenate_panels
from iclora_pack.nodes.core.fitting import plan_fit
from iclora_pack.nodes.core.layout import ALIGN
from iclora_pack.nodes.core.split import split_canvas
from strategies import smooth_image


def round_trip(image: torch.Tensor, panel_w: int, panel_h: int, fit: str, pad_mode: str = "color"):
    result = concatenate_panels([("image_1", image)], 1, panel_width=panel_w, panel_height=panel_h, fit=fit,
                                pad_mode=pad_mode)
    (restored,) = split_canvas(result.canvas, result.layout, [1], undo_input_fit=True)
    return result, restored


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), st.sampled_from(["stretch", "crop", "pad"]), st.integers(0, 999))
def test_panel_sized_images_come_back_bit_exact_in_every_fit_mode(w16, h16, fit, seed):
    image = torch.rand(2, h16 * ALIGN, w16 * ALIGN, 3, generator=torch.Generator().manual_seed(seed))
    result, restored = round_trip(image, w16 * ALIGN, h16 * ALIGN, fit)
    assert torch.equal(restored, image)
    assert torch.equal(result.canvas[:, :h16 * ALIGN, :w16 * ALIGN], image)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 40), st.integers(0, 999))
def test_crop_is_identity_on_the_visible_region_when_no_scaling_is_needed(w16, h16, extra, seed):
    panel_w, panel_h = w16 * ALIGN, h16 * ALIGN
    image = torch.rand(1, panel_h, panel_w + extra, 3, generator=torch.Generator().manual_seed(seed))
    result, restored = round_trip(image, panel_w, panel_h, "crop")
    fit = result.layout.panels[0].fit
    rows, cols = fit.source_box.slices()
    assert fit.source_box.w == panel_w and fit.source_box.h == panel_h
    assert torch.equal(restored, image[:, rows, cols])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(2, 6), st.integers(1, 15), st.integers(0, 999))
def test_pad_is_identity_on_the_image_and_fill_colour_around_it_when_no_scaling_is_needed(w16, h16, short, seed):
    panel_w, panel_h = w16 * ALIGN, h16 * ALIGN
    image = torch.rand(1, panel_h - short, panel_w, 3, generator=torch.Generator().manual_seed(seed))
    result, restored = round_trip(image, panel_w, panel_h, "pad")
    assert torch.equal(restored, image)
    box = result.layout.panels[0].fit.content_box
    panel = result.canvas[0, :panel_h, :panel_w]
    outside = torch.ones(panel_h, panel_w, dtype=torch.bool)
    outside[box.y:box.y + box.h, box.x:box.x + box.w] = False
    assert torch.allclose(panel[outside], torch.tensor(128 / 255).expand(int(outside.sum()), 3))


@pytest.mark.parametrize("fit", ["stretch", "pad", "crop"])
@pytest.mark.parametrize("size", [(300, 200), (200, 300), (97, 61), (1000, 640)])
def test_resampled_round_trip_restores_size_and_stays_close(fit, size):
    w, h = size
    image = smooth_image(w, h)
    result, restored = round_trip(image, 256, 256, fit)
    fit_info = result.layout.panels[0].fit
    expected = image[:, fit_info.source_box.slices()[0], fit_info.source_box.slices()[1]]
    assert restored.shape == expected.shape
    if fit in ("stretch", "pad"):
        assert restored.shape[1:3] == (h, w)
    assert (restored - expected).abs().mean() < 0.01


def test_pad_edge_repeats_the_border_pixels_instead_of_a_colour():
    image = torch.zeros(1, 16, 32, 3)
    image[:, 0] = 0.25
    image[:, -1] = 0.75
    result = concatenate_panels([("image_1", image)], 0, panel_width=32, panel_height=48, fit="pad",
                                pad_mode="edge")
    panel = result.canvas[0]
    box = result.layout.panels[0].fit.content_box
    assert box.h == 16 and box.y == 16
    assert torch.allclose(panel[:box.y], torch.tensor(0.25))
    assert torch.allclose(panel[box.y + box.h:], torch.tensor(0.75))


def test_crop_keeps_the_centre():
    fit = plan_fit(400, 100, 100, 100, "crop")
    assert fit.source_box.to_list() == [150, 0, 100, 100]
    fit = plan_fit(100, 400, 100, 200, "crop")
    assert fit.source_box.to_list() == [0, 100, 100, 200]


def test_pad_centres_and_fills_the_long_side():
    fit = plan_fit(400, 100, 160, 160, "pad")
    assert fit.content_box.to_list() == [0, 60, 160, 40]
