"""Output Slot Mask: exact by default, grow/feather/invert/numbers when asked."""

from __future__ import annotations

import torch
from iclora_pack.nodes.canvas import concatenate_panels
from iclora_pack.nodes.masks import slot_mask


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
