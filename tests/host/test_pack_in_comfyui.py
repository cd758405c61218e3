"""The pack inside a real ComfyUI: loading, schemas, and the stock masked-sampling graph around our nodes."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from pack_facts import CATEGORY, OUR_NODE_IDS, PACK_FOLDER_NAME, skip_without_comfyui
from PIL import Image
from safetensors.torch import load_file

skip_without_comfyui()


def save_png(path, width: int, height: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx / width, yy / height, 0.5 + 0.2 * np.sin(xx / 9.0)], axis=-1)
    pixels = np.clip(base + 0.05 * rng.standard_normal(base.shape), 0, 1)
    Image.fromarray((pixels * 255).astype(np.uint8)).save(path)


def test_pack_loads_through_comfyuis_own_loader_without_import_failure(comfy):
    ours = [m for m in comfy.logs.messages if PACK_FOLDER_NAME in m]
    failures = [m for m in ours if "IMPORT FAILED" in m or "Cannot import" in m or "Error while calling" in m]
    assert not failures, failures
    # only this pack is in the custom_nodes folder, so a pyproject parse warning can only be about ours
    assert not [m for m in comfy.logs.messages if "Unable to parse pyproject.toml" in m]
    assert any("seconds" in m for m in ours), "ComfyUI did not report loading the pack"
    for node_id in OUR_NODE_IDS:
        assert node_id in comfy.nodes.NODE_CLASS_MAPPINGS
        assert comfy.nodes.NODE_CLASS_MAPPINGS[node_id].RELATIVE_PYTHON_MODULE == f"custom_nodes.{PACK_FOLDER_NAME}"
    assert comfy.nodes.EXTENSION_WEB_DIRS[PACK_FOLDER_NAME].endswith("js")


@pytest.mark.parametrize("node_id", OUR_NODE_IDS)
def test_node_schema_is_native_and_documented(comfy, node_id):
    info = comfy.nodes.NODE_CLASS_MAPPINGS[node_id].GET_NODE_INFO_V1()  # what GET /object_info serves
    assert info["name"] == node_id and node_id.startswith("ICLoRA_")
    assert info["category"] == CATEGORY
    assert re.fullmatch(r"(([A-Z][a-z]+(-[A-Z][a-z]+)*|LoRA) ?)+", info["display_name"]), info["display_name"]
    assert len(info["description"]) > 30
    inputs = {**info["input"]["required"], **info["input"].get("optional", {})}
    assert inputs, "a node without inputs"
    for name, spec in inputs.items():
        options = spec[1] if len(spec) > 1 else {}
        assert options.get("tooltip"), f"{node_id}.{name} has no tooltip"
    assert all(info["output_tooltips"]), info["output_tooltips"]
    assert len(set(info["output_name"])) == len(info["output_name"])


def test_schemas_expose_the_expected_sockets(comfy):
    concat = comfy.nodes.NODE_CLASS_MAPPINGS["ICLoRA_PanelConcatenate"].GET_NODE_INFO_V1()
    assert concat["output"] == ["IMAGE", "ICLORA_PANEL_LAYOUT", "STRING"]
    assert [f"image_{i}" for i in range(1, 9)] == [k for k in concat["input"]["optional"] if k.startswith("image_")]
    mask = comfy.nodes.NODE_CLASS_MAPPINGS["ICLoRA_OutputSlotMask"].GET_NODE_INFO_V1()
    assert mask["output"] == ["MASK"] and mask["input"]["required"]["layout"][0] == "ICLORA_PANEL_LAYOUT"
    split = comfy.nodes.NODE_CLASS_MAPPINGS["ICLoRA_PanelSplit"].GET_NODE_INFO_V1()
    assert split["output"] == ["IMAGE"] and split["output_is_list"] == [True]


def concatenate_inputs(**overrides) -> dict:
    """Panel Concatenate's inputs in API format: its defaults, with `overrides` applied."""
    inputs = {"output_slots": 1, "order": "", "arrangement": "row", "grid_rows": 0, "grid_cols": 0,
              "panel_width": 0, "panel_height": 0, "fit": "crop", "pad_mode": "color", "fill_color": "#808080",
              "slot_fill": "color", "max_megapixels": 4.0}
    inputs.update(overrides)
    return inputs


def stock_flux_loaders() -> dict:
    """Nodes 10-12: the stock FLUX loaders with the published file names (tiny models behind them in tests)."""
    return {
        "10": {"class_type": "VAELoader", "inputs": {"vae_name": "taef1"}},
        "11": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors",
                                                       "weight_dtype": "default"}},
        "12": {"class_type": "DualCLIPLoader", "inputs": {
            "clip_name1": "clip_l.safetensors", "clip_name2": "t5xxl_fp16.safetensors", "type": "flux",
            "device": "default"}},
    }


def masked_sampling_graph(image_name: str, seed: int = 7) -> dict:
    """LoadImage -> Panel Concatenate -> VAEEncode -> SetLatentNoiseMask(Output Slot Mask) -> KSampler -> VAEDecode
    -> Panel Split -> SaveImage, with the stock FLUX loaders; SaveLatent records the latents to compare."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image_name}},
        "2": {"class_type": "ICLoRA_PanelConcatenate",
              "inputs": concatenate_inputs(image_1=["1", 0], panel_width=64, panel_height=64)},
        "3": {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["10", 0]}},
        "4": {"class_type": "ICLoRA_OutputSlotMask", "inputs": {
            "layout": ["2", 1], "panels": "", "grow": 0, "feather": 0, "invert": False}},
        "5": {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["3", 0], "mask": ["4", 0]}},
        "6": {"class_type": "KSampler", "inputs": {
            "model": ["11", 0], "positive": ["14", 0], "negative": ["15", 0], "latent_image": ["5", 0],
            "seed": seed, "steps": 3, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["10", 0]}},
        "8": {"class_type": "ICLoRA_PanelSplit", "inputs": {
            "image": ["7", 0], "layout": ["2", 1], "select": "output slots", "numbers": "", "undo_fit": False}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "iclora/slots"}},
        **stock_flux_loaders(),
        "13": {"class_type": "CLIPTextEncode", "inputs": {
            "clip": ["12", 0], "text": "This two-panel image shows a product [LEFT] on a table [RIGHT] in a garden"}},
        "14": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["13", 0], "guidance": 3.5}},
        "15": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["13", 0]}},
        "16": {"class_type": "SaveLatent", "inputs": {"samples": ["3", 0], "filename_prefix": "iclora/encoded"}},
        "17": {"class_type": "SaveLatent", "inputs": {"samples": ["6", 0], "filename_prefix": "iclora/sampled"}},
    }


def newest(folder, pattern):
    files = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime)
    assert files, f"nothing matches {pattern} in {folder}"
    return files[-1]


def test_stock_masked_sampling_keeps_the_reference_latent_and_generates_the_slot(comfy):
    save_png(comfy.input_dir / "reference.png", 80, 64, seed=1)  # 80 px wide: cropped to the 64 px panel
    executor, _ = comfy.run(masked_sampling_graph("reference.png"))
    assert executor.success, executor.status_messages

    out = comfy.output_dir / "iclora"
    encoded = load_file(str(newest(out, "encoded_*.latent")))["latent_tensor"]
    sampled = load_file(str(newest(out, "sampled_*.latent")))["latent_tensor"]
    assert encoded.shape == sampled.shape == (1, 16, 8, 16)  # 128 x 64 px canvas, 8 px per latent cell
    reference, slot = (slice(0, 8), slice(8, 16))
    # The kept panel comes back through the model's latent scaling and back: equal up to float rounding.
    assert torch.allclose(sampled[..., reference], encoded[..., reference], atol=1e-5)
    assert (sampled[..., slot] - encoded[..., slot]).abs().mean() > 0.05

    slots = sorted(out.glob("slots_*.png"))
    assert len(slots) == 1
    with Image.open(slots[0]) as saved:
        assert saved.size == (64, 64)


def test_split_list_of_unequal_panels_goes_into_save_image(comfy):
    save_png(comfy.input_dir / "wide.png", 100, 40, seed=2)
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "wide.png"}},
        "2": {"class_type": "ICLoRA_PanelConcatenate", "inputs": concatenate_inputs(
            image_1=["1", 0], output_slots=2, order="O,I,O", arrangement="column", panel_width=64, panel_height=48,
            fit="pad", pad_mode="edge", slot_fill="noise")},
        "3": {"class_type": "ICLoRA_PanelSplit", "inputs": {
            "image": ["2", 0], "layout": ["2", 1], "select": "all", "numbers": "", "undo_fit": True}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "iclora/unequal"}},
    }
    executor, _ = comfy.run(prompt)
    assert executor.success, executor.status_messages
    sizes = []
    for path in sorted((comfy.output_dir / "iclora").glob("unequal_*.png")):
        with Image.open(path) as saved:
            sizes.append(saved.size)
    assert sorted(sizes) == sorted([(64, 48), (100, 40), (64, 48)])


def test_bad_input_fails_the_node_with_the_pack_message_and_the_server_carries_on(comfy):
    save_png(comfy.input_dir / "small.png", 64, 64, seed=3)
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "small.png"}},
        "2": {"class_type": "ICLoRA_PanelConcatenate", "inputs": concatenate_inputs(image_1=["1", 0])},
        "3": {"class_type": "ImageScaleBy", "inputs": {"image": ["2", 0], "upscale_method": "nearest-exact",
                                                       "scale_by": 0.5}},
        "4": {"class_type": "ICLoRA_PanelSplit", "inputs": {
            "image": ["3", 0], "layout": ["2", 1], "select": "output slots", "numbers": "", "undo_fit": False}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    }
    message = comfy.run_expecting_error(prompt)
    assert message.startswith("Panel Split: the canvas is 64x32 px but the layout describes a 128x64 px canvas "
                              "(input 'image').")
    # the same executor setup runs the next graph fine
    del prompt["3"]
    prompt["4"]["inputs"]["image"] = ["2", 0]
    executor, _ = comfy.run(prompt)
    assert executor.success
