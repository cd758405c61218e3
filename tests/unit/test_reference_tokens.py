"""The reference-token route's geometry: outputs-only canvas from the whole-set layout, and back."""

from __future__ import annotations

import pytest
import torch
from iclora_pack.nodes.core.canvas import concatenate_panels
from iclora_pack.nodes.core.errors import PanelInputError
from iclora_pack.nodes.core.reference_tokens import generation_canvas, generation_layout, reassemble, reference_panels
from iclora_pack.nodes.core.split import split_canvas


def whole_set(order="I,O,I,O", arrangement="row"):
    images = [(f"image_{i}", torch.rand(1, 32, 48, 3, generator=torch.Generator().manual_seed(i))) for i in (1, 2)]
    return concatenate_panels(images, 2, order=order, arrangement=arrangement, panel_width=48, panel_height=32,
                              slot_fill="noise")


def test_the_generation_canvas_holds_the_output_slots_alone_in_reading_order():
    result = whole_set()
    target = generation_layout(result.layout)
    assert (target.canvas_w, target.canvas_h, target.role_string()) == (96, 32, "O,O")
    outputs = generation_canvas(result.canvas, result.layout)
    assert torch.equal(outputs[:, :, :48], result.canvas[:, :, 48:96])  # panel 2
    assert torch.equal(outputs[:, :, 48:], result.canvas[:, :, 144:])  # panel 4
    refs = reference_panels(result.canvas, result.layout)
    assert [tuple(r.shape) for r in refs] == [(1, 32, 48, 3)] * 2
    assert torch.equal(refs[1], result.canvas[:, :, 96:144])


def test_reassemble_puts_generated_slots_back_and_keeps_references_exact_for_every_run():
    result = whole_set(order="O,I,I,O", arrangement="grid")
    target = generation_layout(result.layout)
    generated = torch.rand(3, target.canvas_h, target.canvas_w, 3)  # three runs of a batch-1 set
    whole = reassemble(generated, result.canvas, result.layout)
    assert whole.shape == (3, result.layout.canvas_h, result.layout.canvas_w, 3)
    slots = split_canvas(whole, result.layout, [p.number for p in result.layout.output_panels])
    assert torch.equal(slots[0], generated[:, :, :48]) and torch.equal(slots[1], generated[:, :, 48:])
    refs = split_canvas(whole, result.layout, [p.number for p in result.layout.input_panels])
    for ref, original in zip(refs, reference_panels(result.canvas, result.layout)):
        assert torch.equal(ref, original.expand(3, -1, -1, -1))


def test_a_column_set_generates_a_column_and_keeps_its_token_grid():
    result = concatenate_panels([("image_1", torch.rand(1, 64, 64, 3))], 2, arrangement="column",
                                snap_for="HunyuanImage 2.1 (32 px)")
    target = generation_layout(result.layout)
    assert (target.canvas_w, target.canvas_h, target.token_px) == (64, 128, 32)


@pytest.mark.parametrize("images,slots,message", [
    (1, 0, "the layout has no output slots to generate"),
    (0, 2, "the layout has no input panels to give as reference tokens"),
])
def test_a_set_without_references_or_slots_is_refused(images, slots, message):
    result = concatenate_panels([("image_1", torch.rand(1, 32, 32, 3))][:images], slots, panel_width=32,
                                panel_height=32)
    with pytest.raises(PanelInputError, match=message):
        generation_layout(result.layout)


def test_a_generated_image_of_another_size_is_refused_with_both_sizes():
    result = whole_set()
    with pytest.raises(PanelInputError, match=r"Panel Reassemble: the generated image is 64x32 px but the "
                                              r"outputs-only canvas of this layout is 96x32 px"):
        reassemble(torch.rand(1, 32, 64, 3), result.canvas, result.layout)
