"""Panel Split: selections, ordering of the batch, list for unequal sizes."""

from __future__ import annotations

import torch
from iclora_pack.nodes.core.canvas import concatenate_panels
from iclora_pack.nodes.core.split import group_for_output, select_panels, split_canvas


def test_selections():
    layout = concatenate_panels([("image_1", torch.rand(1, 32, 32, 3))], 2, order="O,I,O").layout
    assert select_panels(layout, "output slots") == [1, 3]
    assert select_panels(layout, "inputs") == [2]
    assert select_panels(layout, "all") == [1, 2, 3]
    assert select_panels(layout, "by number", "3, 1") == [3, 1]
    assert select_panels(layout, "by number", "1-2") == [1, 2]


def test_equal_panels_come_out_as_one_batch_canvas_by_canvas():
    canvas = torch.arange(2 * 32 * 96 * 3, dtype=torch.float32).view(2, 32, 96, 3)
    layout = concatenate_panels([], 3, panel_width=32, panel_height=32).layout
    pieces = split_canvas(canvas, layout, [1, 2, 3])
    (batch,) = group_for_output(pieces)
    assert batch.shape == (6, 32, 32, 3)
    assert torch.equal(batch[0], canvas[0, :, :32]) and torch.equal(batch[1], canvas[0, :, 32:64])
    assert torch.equal(batch[3], canvas[1, :, :32]) and torch.equal(batch[5], canvas[1, :, 64:])


def test_unequal_panels_come_out_as_a_list():
    result = concatenate_panels([("image_1", torch.rand(1, 20, 40, 3))], 1, panel_width=32, panel_height=32,
                                fit="pad")
    pieces = split_canvas(result.canvas, result.layout, [1, 2], undo_input_fit=True)
    grouped = group_for_output(pieces)
    assert [tuple(p.shape) for p in grouped] == [(1, 20, 40, 3), (1, 32, 32, 3)]


def test_undo_fit_leaves_output_slots_at_panel_size():
    result = concatenate_panels([("image_1", torch.rand(1, 20, 40, 3))], 1, panel_width=32, panel_height=32)
    (slot,) = split_canvas(result.canvas, result.layout, [2], undo_input_fit=True)
    assert slot.shape == (1, 32, 32, 3)
