"""Output Slot Mask: exact by default, grow/feather/invert/numbers when asked."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from iclora_pack.nodes.core.canvas import concatenate_panels
from iclora_pack.nodes.core.masks import box_blur, dilate, slot_mask


def row_layout(order: str = "I,O", side: int = 64):
    n_in = order.count("I")
    images = [(f"image_{i + 1}", torch.rand(1, side, side, 3)) for i in range(n_in)]
    return concatenate_panels(images, order.count("O"), order=order, panel_width=side, panel_height=side).layout


def test_default_mask_is_the_output_slots():
    mask = slot_mask(row_layout("I,O,I"))
    assert torch.equal(mask[0, :, 64:128], torch.ones(64, 64))
    assert mask[0, :, :64].sum() == 0 and mask[0, :, 128:].sum() == 0


def test_numbers_choose_any_panels_and_invert_flips():
    layout = row_layout("I,O,I")
    mask = slot_mask(layout, numbers=[1, 3])
    assert torch.equal(mask[0, :, :64], torch.ones(64, 64)) and mask[0, :, 64:128].sum() == 0
    assert torch.equal(slot_mask(layout, invert=True), 1 - slot_mask(layout))


def test_grow_extends_into_neighbours_and_negative_grow_shrinks():
    layout = row_layout("I,O")
    grown = slot_mask(layout, grow=5)
    assert int(grown.sum()) == 64 * (64 + 5)
    assert grown[0, :, 59:64].min() == 1 and grown[0, :, :59].max() == 0
    shrunk = slot_mask(layout, grow=-5)
    assert int(shrunk.sum()) == 64 * (64 - 5)  # only the seam side moves; the canvas border is no seam
    assert shrunk[0, :, 64:69].max() == 0


def test_feather_ramps_across_the_seam_only():
    layout = row_layout("I,O")
    mask = slot_mask(layout, feather=4)[0]
    assert mask.min() >= 0 and mask.max() <= 1
    assert torch.equal(mask[:, :60], torch.zeros(64, 60))
    assert torch.equal(mask[:, 69:], torch.ones(64, 59))
    ramp = mask[10, 59:70]
    assert bool((ramp[1:] >= ramp[:-1]).all()) and 0 < mask[10, 62] < 1
    # no fading at the top and bottom canvas border
    assert torch.equal(mask[0], mask[32]) and torch.equal(mask[-1], mask[32])


def pooled_dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """The straightforward square max filter (what Output Slot Mask used to run): the oracle for `dilate`."""
    return F.max_pool2d(mask[:, None], kernel_size=2 * radius + 1, stride=1, padding=radius)[:, 0]


def convolved_blur(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """The straightforward separable box blur with edge replication: the oracle for `box_blur`."""
    size = 2 * radius + 1
    kernel = torch.full((1, 1, 1, size), 1.0 / size, dtype=mask.dtype)
    x = F.conv2d(F.pad(mask[:, None], (radius, radius, 0, 0), mode="replicate"), kernel)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.transpose(2, 3))[:, 0]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 50), st.integers(0, 2**16), st.booleans())
def test_dilate_equals_the_square_max_filter_at_any_radius(height, width, radius, seed, binary):
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(2, height, width, generator=generator)
    if binary:
        mask = (mask > 0.8).float()
    assert torch.equal(dilate(mask, radius), pooled_dilate(mask, radius))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 50), st.integers(0, 2**16), st.booleans())
def test_box_blur_equals_the_convolved_blur_at_any_radius(height, width, radius, seed, binary):
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(2, height, width, generator=generator)
    if binary:
        mask = (mask > 0.5).float()
    torch.testing.assert_close(box_blur(mask, radius), convolved_blur(mask, radius), rtol=0, atol=2e-6)


def test_grow_and_feather_cost_the_same_at_any_radius():
    """One pass over the pixels: the largest radius costs about what a small one does (a pooling kernel of side
    2r+1 took ~4 minutes at grow 512 on 1024x512). Counted in window-independent work, not timed."""
    layout = row_layout("I,O", side=256)
    calls = []
    slot_mask(layout, grow=512, feather=512, check=lambda: calls.append(1))
    assert len(calls) == 4  # a row pass and a column pass each for grow and for feather
    small, large = slot_mask(layout, grow=3), slot_mask(layout, grow=512)
    assert int(small.sum()) == 256 * (256 + 3) and bool((large == 1).all())


def test_a_raising_check_stops_grow_and_feather_between_passes():
    class Cancelled(Exception):
        pass

    layout = row_layout("I,O")
    for grow, feather in ((200, 0), (-200, 0), (0, 200)):
        calls: list[int] = []

        def check(calls=calls):
            calls.append(1)
            if len(calls) == 2:
                raise Cancelled

        with pytest.raises(Cancelled):
            slot_mask(layout, grow=grow, feather=feather, check=check)
        assert len(calls) == 2
