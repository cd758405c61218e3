"""Panel Concatenate's rules: sizes, snapping, batches, fills, order, arrangements."""

from __future__ import annotations

import torch
from iclora_pack.nodes.core.canvas import canvas_batch_size, concatenate_panels
from iclora_pack.nodes.core.layout import grid_shape, parse_order

GREY = 128 / 255


def test_panel_size_comes_from_the_first_image_and_the_snap_is_reported():
    result = concatenate_panels([("image_1", torch.rand(1, 300, 500, 3))], 1)
    assert (result.layout.panel_w, result.layout.panel_h) == (496, 304)
    assert "panel_width 500 px (from the first image) snapped to 496 px" in result.report
    assert "panel_height 300 px (from the first image) snapped to 304 px" in result.report


def test_aligned_sizes_are_not_reported_as_snapped():
    result = concatenate_panels([("image_1", torch.rand(1, 64, 64, 3))], 1)
    assert "snapped" not in result.report
    assert "2 panels (I,O) as 1x2 row" in result.report and "32 FLUX image tokens" in result.report


def test_text_only_canvas_with_two_output_slots():
    result = concatenate_panels([], 2, arrangement="column", panel_width=64, panel_height=32)
    assert result.canvas.shape == (1, 64, 64, 3)
    assert result.layout.role_string() == "O,O"
    assert [p.box.to_list() for p in result.layout.panels] == [[0, 0, 64, 32], [0, 32, 64, 32]]
    assert torch.allclose(result.canvas, torch.tensor(GREY))


def test_batch_one_inputs_are_repeated_to_the_largest_batch():
    a = torch.rand(3, 32, 32, 3)
    b = torch.rand(1, 32, 32, 3)
    result = concatenate_panels([("image_1", a), ("image_2", b)], 1)
    assert result.canvas.shape[0] == 3
    for i in range(3):
        assert torch.equal(result.canvas[i, :, :32], a[i])
        assert torch.equal(result.canvas[i, :, 32:64], b[0])
    assert "batch of 3 canvases" in result.report


def test_batch_rule_accepts_equal_and_single_batches():
    assert canvas_batch_size({}) == 1
    assert canvas_batch_size({"image_1": 4, "image_2": 1, "image_3": 4}) == 4


def test_output_slots_take_fill_colour_noise_or_a_given_image():
    image = torch.rand(1, 32, 32, 3)
    red = concatenate_panels([("image_1", image)], 1, fill_color="#ff0000")
    assert torch.equal(red.canvas[0, :, 32:], torch.tensor([1.0, 0.0, 0.0]).expand(32, 32, 3))
    noise_a = concatenate_panels([("image_1", image)], 2, slot_fill="noise")
    noise_b = concatenate_panels([("image_1", image)], 2, slot_fill="noise")
    assert torch.equal(noise_a.canvas, noise_b.canvas)  # deterministic
    assert not torch.equal(noise_a.canvas[0, :, 32:64], noise_a.canvas[0, :, 64:])  # each slot its own noise
    assert noise_a.canvas[0, :, 32:].std() > 0.2
    start = torch.rand(1, 32, 32, 3)
    given = concatenate_panels([("image_1", image)], 2, slot_fill="image", slot_image=start)
    assert torch.equal(given.canvas[0, :, 32:64], start[0]) and torch.equal(given.canvas[0, :, 64:], start[0])


def test_order_places_inputs_between_output_slots():
    first = torch.full((1, 32, 32, 3), 0.1)
    second = torch.full((1, 32, 32, 3), 0.9)
    result = concatenate_panels([("image_1", first), ("image_2", second)], 2, order="O I O I")
    assert result.layout.role_string() == "O,I,O,I"
    assert torch.allclose(result.canvas[0, :, 32:64], torch.tensor(0.1))
    assert torch.allclose(result.canvas[0, :, 96:], torch.tensor(0.9))
    assert [p.input_index for p in result.layout.input_panels] == [0, 1]


def test_grey_and_rgba_images_become_rgb():
    grey = torch.rand(1, 32, 32, 1)
    rgba = torch.rand(1, 32, 32, 4)
    result = concatenate_panels([("image_1", grey), ("image_2", rgba)], 0)
    assert result.canvas.shape[-1] == 3
    assert torch.equal(result.canvas[0, :, :32], grey[0].expand(32, 32, 3))
    assert torch.equal(result.canvas[0, :, 32:], rgba[0, ..., :3])


def test_grid_shapes():
    assert grid_shape(4, "grid") == (2, 2)
    assert grid_shape(3, "grid") == (2, 2)
    assert grid_shape(5, "grid") == (2, 3)
    assert grid_shape(6, "grid", rows=3) == (3, 2)
    assert grid_shape(6, "grid", cols=6) == (1, 6)
    assert grid_shape(3, "row") == (1, 3)
    assert grid_shape(3, "column") == (3, 1)


def test_empty_grid_cells_are_reported_and_filled():
    result = concatenate_panels([], 3, arrangement="grid", panel_width=32, panel_height=32, fill_color="#000000")
    assert result.layout.empty_cells()[0].to_list() == [32, 32, 32, 32]
    assert "1 grid cell(s) left empty" in result.report
    assert torch.equal(result.canvas[0, 32:, 32:], torch.zeros(32, 32, 3))


def test_order_accepts_commas_spaces_and_lower_case():
    assert parse_order("i, o,O", 1, 2) == ["input", "output", "output"]
    assert parse_order("", 2, 1) == ["input", "input", "output"]


def test_paper_canvases_fit_the_default_limit():
    # The largest canvas among the paper's tasks is 2048 x 1024 (couple profile): it must pass the default guard.
    result = concatenate_panels([], 2, panel_width=1024, panel_height=1024)
    assert (result.layout.canvas_w, result.layout.canvas_h) == (2048, 1024)


def test_snap_for_snaps_panels_to_whole_tokens_of_the_chosen_family():
    from iclora_pack.nodes.core.families import SNAP_FOR

    hunyuan = next(option for option, px in SNAP_FOR.items() if px == 32)
    result = concatenate_panels([("image_1", torch.rand(1, 300, 500, 3))], 1, snap_for=hunyuan)
    assert (result.layout.panel_w, result.layout.panel_h) == (512, 288)
    assert result.layout.token_px == 32 and result.layout.token_count == 32 * 9
    assert "snapped to 512 px (HunyuanImage 2.1 needs multiples of 32 px)" in result.report
    assert "288 image tokens of 32 px" in result.report
    unet = next(option for option, px in SNAP_FOR.items() if px == 8)
    assert concatenate_panels([], 2, panel_width=72, panel_height=40, snap_for=unet).layout.panel_w == 72


def test_a_layout_keeps_its_token_size_through_json_and_old_layouts_read_as_16_px():
    from iclora_pack.nodes.core.families import SNAP_FOR
    from iclora_pack.nodes.core.layout import PanelLayout

    option = next(option for option, px in SNAP_FOR.items() if px == 32)
    layout = concatenate_panels([], 2, panel_width=64, panel_height=64, snap_for=option).layout
    assert PanelLayout.from_json(layout.to_json()) == layout
    flux = concatenate_panels([], 2, panel_width=64, panel_height=64).layout
    assert "token_px" not in flux.to_dict()  # unchanged output for the default: saved layouts stay identical
    assert PanelLayout.from_dict(flux.to_dict()).token_px == 16


def test_an_unknown_snap_for_is_refused_with_the_options():
    import pytest
    from iclora_pack.nodes.core.errors import PanelInputError

    with pytest.raises(PanelInputError, match="snap_for.*Choose one of: FLUX / SD3"):
        concatenate_panels([], 2, panel_width=64, panel_height=64, snap_for="Midjourney")


def test_token_fit_names_the_canvas_the_model_and_the_snap_option():
    import pytest
    from iclora_pack.nodes.core.errors import PanelInputError
    from iclora_pack.nodes.core.families import check_token_fit

    check_token_fit(node="N", input_name="image", model_name="M", token_px=16, downscale=8, canvas_w=128,
                    canvas_h=64, panel_w=64, panel_h=64)
    with pytest.raises(PanelInputError) as caught:
        check_token_fit(node="In-Context Sampler", input_name="image", model_name="HunyuanImage 2.1", token_px=32,
                        downscale=32, canvas_w=96, canvas_h=48, panel_w=48, panel_h=48)
    message = str(caught.value)
    assert "the canvas is 96x48 px but HunyuanImage 2.1 encodes 32 px per latent cell" in message
    assert "snap_for to 'HunyuanImage 2.1 (32 px)'" in message
    with pytest.raises(PanelInputError, match="panels are 48x48 px but M sees tokens of 32 px"):
        check_token_fit(node="N", input_name="image", model_name="M", token_px=32, downscale=8, canvas_w=96,
                        canvas_h=48, panel_w=48, panel_h=48)


def test_every_family_has_a_snap_option_for_its_token_size():
    from iclora_pack.nodes.core.families import FAMILIES, SNAP_FOR, snap_option_for

    for family in FAMILIES:
        assert SNAP_FOR[snap_option_for(family.token_px)] == family.token_px, family
