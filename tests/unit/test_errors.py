"""Every bad input gets an error that names the node, the input and the fix."""

from __future__ import annotations

import pytest
import torch
from iclora_pack.nodes.canvas import concatenate_panels
from iclora_pack.nodes.errors import PanelInputError
from iclora_pack.nodes.layout import PanelLayout, build_layout, parse_panel_numbers
from iclora_pack.nodes.split import select_panels, split_canvas

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
     "unscaled"),
    ("unknown panel number", lambda: parse_panel_numbers("3", LAYOUT, "Panel Split", "numbers"), "Panel Split",
     "numbers", "panels 1 to 2"),
    ("not a number", lambda: parse_panel_numbers("two", LAYOUT, "Output Slot Mask", "panels"),
     "Output Slot Mask", "panels", "counted from 1"),
    ("empty numbers", lambda: select_panels(LAYOUT, "by number", " "), "Panel Split", "numbers",
     "at least one panel"),
    ("no output slots to split", lambda: select_panels(concat(output_slots=0).layout, "output slots"),
     "Panel Split", "select", "Choose 'all'"),
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
    with pytest.raises(PanelInputError, match="the canvas is 64x32 but the layout expects 128x64"):
        split_canvas(torch.rand(1, 32, 64, 3), LAYOUT, [2])


def test_layout_from_an_unknown_version_is_refused():
    data = LAYOUT.to_dict()
    data["version"] = 99
    with pytest.raises(ValueError, match="version 99"):
        PanelLayout.from_dict(data)


def test_unaligned_panel_sides_are_refused_by_the_layout_itself():
    with pytest.raises(PanelInputError, match="multiple of 16"):
        build_layout(["output"], 40, 32, "row")
