"""Every bad input gets an error that names the node, the input and the fix."""

from __future__ import annotations

import pytest
import torch
from iclora_pack.nodes.core.canvas import concatenate_panels
from iclora_pack.nodes.core.errors import PanelInputError
from iclora_pack.nodes.core.layout import PanelLayout, build_layout, parse_panel_numbers
from iclora_pack.nodes.core.split import select_panels, split_canvas

IMG = torch.rand(1, 64, 64, 3)
LAYOUT = concatenate_panels([("image_1", IMG)], 1).layout


def concat(**kwargs):
    args = {"images": [("image_1", IMG)], "output_slots": 1}
    args.update(kwargs)
    return concatenate_panels(**args)


CASES = [
    ("zero panels", lambda: concat(images=[], output_slots=0), "Panel Concatenate", "output_slots", "Connect"),
    ("panel too small", lambda: concat(panel_width=8), "Panel Concatenate", "panel_width", "at least 16"),
    ("tiny first image", lambda: concat(images=[("image_1", torch.rand(1, 10, 64, 3))]),
     "Panel Concatenate", "panel_height", "at least 16"),
    ("text-only needs a size", lambda: concat(images=[], output_slots=2), "Panel Concatenate", "panel_width",
     "Set panel_width"),
    ("canvas over the limit", lambda: concat(panel_width=2048, panel_height=2048, max_megapixels=4.0),
     "Panel Concatenate", "max_megapixels", "raise max_megapixels"),
    ("mismatched batches", lambda: concat(images=[("image_1", torch.rand(2, 32, 32, 3)),
                                                  ("image_2", torch.rand(3, 32, 32, 3))]),
     "Panel Concatenate", "image_1", "batch of 1 or of 3"),
    ("order with a bad letter", lambda: concat(order="I,X"), "Panel Concatenate", "order", "one I"),
    ("order with wrong counts", lambda: concat(order="I,O,O"), "Panel Concatenate", "order", "Make the counts"),
    ("unknown fit", lambda: concat(fit="zoom"), "Panel Concatenate", "fit", "Choose one of crop, pad, stretch"),
    ("unknown arrangement", lambda: concat(arrangement="spiral"), "Panel Concatenate", "arrangement",
     "Choose one of row"),
    ("grid too small", lambda: concat(images=[], output_slots=5, panel_width=32, panel_height=32,
                                      arrangement="grid", grid_rows=2, grid_cols=2),
     "Panel Concatenate", "grid_rows", "Raise grid_rows"),
    ("bad colour", lambda: concat(fill_color="grey"), "Panel Concatenate", "fill_color", "#RRGGBB"),
    ("slot image missing", lambda: concat(slot_fill="image"), "Panel Concatenate", "slot_image", "Connect"),
    ("not an image", lambda: concat(images=[("image_1", torch.rand(64, 64))]), "Panel Concatenate", "image_1",
     "Connect an IMAGE"),
    ("rescaled canvas", lambda: split_canvas(torch.rand(1, 32, 64, 3), LAYOUT, [2]), "Panel Split", "image",
     "of the same Panel Concatenate"),
    ("unknown panel number", lambda: parse_panel_numbers("3", LAYOUT, "Panel Split", "numbers"), "Panel Split",
     "numbers", "panels 1 to 2"),
    ("not a number", lambda: parse_panel_numbers("two", LAYOUT, "Output Slot Mask", "panels"),
     "Output Slot Mask", "panels", "counted from 1"),
    ("empty numbers", lambda: select_panels(LAYOUT, "by number", " "), "Panel Split", "numbers",
     "at least one panel"),
    ("no output slots to split", lambda: select_panels(concat(output_slots=0).layout, "output slots"),
     "Panel Split", "select", "Choose 'all'"),
    ("reversed range", lambda: parse_panel_numbers("2-1", LAYOUT, "Output Slot Mask", "panels"),
     "Output Slot Mask", "panels", "from low to high, e.g. '1-2'"),
    ("reversed range inside a list", lambda: parse_panel_numbers("1, 2-1", LAYOUT, "Panel Split", "numbers"),
     "Panel Split", "numbers", "from low to high"),
    ("malformed range", lambda: parse_panel_numbers("1-2-3", LAYOUT, "Panel Split", "numbers"),
     "Panel Split", "numbers", "counted from 1"),
    ("NaN megapixels", lambda: concat(max_megapixels=float("nan")), "Panel Concatenate", "max_megapixels",
     "e.g. 4.0"),
    ("text instead of an image", lambda: concat(images=[("image_1", "example.png")]), "Panel Concatenate",
     "image_1", "Connect an IMAGE"),
    ("dictionary instead of a slot image", lambda: concat(slot_fill="image", slot_image={"a": 1}),
     "Panel Concatenate", "slot_image", "Connect an IMAGE"),
    ("text instead of a canvas", lambda: split_canvas("canvas.png", LAYOUT, [2]), "Panel Split", "image",
     "Connect the decoded canvas"),
    ("text instead of a layout", lambda: split_canvas(torch.rand(1, 64, 128, 3), '{"version": 1}', [2]),
     "Panel Split", "layout", "Connect the 'layout' output of Panel Concatenate"),
]


@pytest.mark.parametrize("name,call,node,input_name,fix", CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_node_input_and_fix(name, call, node, input_name, fix):
    with pytest.raises(PanelInputError) as caught:
        call()
    error = caught.value
    assert error.node == node and error.input_name == input_name
    message = str(error)
    assert message.startswith(f"{node}: ") and f"(input '{input_name}')" in message and fix in message


def test_rescaled_canvas_error_states_both_sizes():
    with pytest.raises(PanelInputError, match="the canvas is 64x32 px but the layout describes a 128x64 px canvas"):
        split_canvas(torch.rand(1, 32, 64, 3), LAYOUT, [2])


def test_layout_from_an_unknown_version_is_refused():
    data = LAYOUT.to_dict()
    data["version"] = 99
    with pytest.raises(ValueError, match="version 99"):
        PanelLayout.from_dict(data)


def test_unaligned_panel_sides_are_refused_by_the_layout_itself():
    with pytest.raises(PanelInputError, match="multiple of 16"):
        build_layout(["output"], 40, 32, "row")


def test_messages_read_as_sentences_with_a_subject_and_plural_right():
    with pytest.raises(PanelInputError, match=r"Panel Concatenate: panel_width is 0 \(take the first image's size\)"):
        concat(images=[], output_slots=2)
    with pytest.raises(PanelInputError, match="a 1x1 grid has 1 cell but there are 2 panels"):
        concat(arrangement="grid", grid_rows=1, grid_cols=1)
    with pytest.raises(PanelInputError, match="1 image is connected and output_slots is 1"):
        concat(order="I,I,O")
    one_panel = concat(output_slots=0).layout
    with pytest.raises(PanelInputError, match="the layout has only panel 1"):
        parse_panel_numbers("2", one_panel, "Panel Split", "numbers")


def test_a_range_is_never_dropped_from_a_list():
    layout = concat(output_slots=3).layout
    assert parse_panel_numbers("1,3-4", layout, "Panel Split", "numbers") == [1, 3, 4]
    assert parse_panel_numbers("4 2 - 3\t1", layout, "Panel Split", "numbers") == [4, 2, 3, 1]
    for text in ("1,4-2", "4-2", "1,-2", "1,2-", "1..3", "2-x"):
        with pytest.raises(PanelInputError):
            parse_panel_numbers(text, layout, "Panel Split", "numbers")


def test_order_takes_any_whitespace_as_a_separator_like_the_editor_preview():
    for order in ("I O", "I\tO", "I\nO", "I\r\n O", " i ;o ", "IO", "I,\u00a0O", "I\u3000O", "\ufeffIO"):
        assert concat(order=order).layout.role_string() == "I,O", repr(order)
    assert concat(order=" \t\n").layout.role_string() == "I,O"  # only separators: the default order


def test_an_error_quotes_a_short_excerpt_of_a_huge_input():
    huge = "I" * 300_000
    for call in (lambda: concat(order=huge), lambda: concat(fill_color=huge), lambda: concat(fit=huge),
                 lambda: parse_panel_numbers("9" * 300_000, LAYOUT, "Panel Split", "numbers")):
        with pytest.raises(PanelInputError) as caught:
            call()
        assert len(str(caught.value)) < 400 and "300000 characters" in str(caught.value)
