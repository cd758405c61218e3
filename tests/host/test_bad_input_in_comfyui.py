"""Bad input sent through ComfyUI's API: each gets the pack's message, and Cancel stops a long mask."""

from __future__ import annotations

import sys

import pytest
from pack_facts import skip_without_comfyui
from test_pack_in_comfyui import concatenate_inputs, stock_flux_loaders

skip_without_comfyui()

TEXT_ONLY = concatenate_inputs(output_slots=2, panel_width=64, panel_height=64)


def mask_inputs(**overrides) -> dict:
    return {"layout": ["1", 1], "panels": "", "grow": 0, "feather": 0, "invert": False, **overrides}


def split_inputs(**overrides) -> dict:
    return {"image": ["1", 0], "layout": ["1", 1], "select": "all", "numbers": "", "undo_fit": False, **overrides}


LITERALS = [
    ("text into Output Slot Mask's layout", "ICLoRA_OutputSlotMask", mask_inputs(layout="{\"version\": 1}"),
     "Output Slot Mask: got the text '{\"version\": 1}' instead of a panel layout (input 'layout')."),
    ("dictionary into Panel Split's layout", "ICLoRA_PanelSplit", split_inputs(layout={"version": 1}),
     "Panel Split: got a dictionary instead of a panel layout (input 'layout')."),
    ("text into Panel Split's image", "ICLoRA_PanelSplit", split_inputs(image="canvas.png"),
     "Panel Split: got the text 'canvas.png' instead of an image (input 'image')."),
    ("dictionary into Panel Concatenate's image", "ICLoRA_PanelConcatenate",
     concatenate_inputs(image_1={"filename": "a.png"}),
     "Panel Concatenate: got a dictionary instead of an image (input 'image_1')."),
]


@pytest.mark.parametrize("name,node,inputs,message", LITERALS, ids=[c[0] for c in LITERALS])
def test_a_literal_sent_into_a_layout_or_image_input_gets_the_pack_message(comfy, name, node, inputs, message):
    prompt = {"1": {"class_type": "ICLoRA_PanelConcatenate", "inputs": TEXT_ONLY},
              "2": {"class_type": node, "inputs": inputs}}
    if node != "ICLoRA_OutputSlotMask":
        prompt["3"] = {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}
    else:
        prompt["3"] = {"class_type": "MaskPreview", "inputs": {"mask": ["2", 0]}}
    assert comfy.run_expecting_error(prompt).startswith(message)


def test_literal_layout_into_the_prompt_builder_gets_the_pack_message(comfy):
    inputs = {"preset": "film-storyboard", "summary": "a day", "names": "", "guidance": 3.5, "custom_prefix": "",
              "custom_opening": "This {count}-panel image", "custom_markers": "geometry",
              **{f"panel_{i}": "a scene" if i < 4 else "" for i in range(1, 9)}, "layout": "3 panels"}
    prompt = {"1": {"class_type": "ICLoRA_JointPromptBuilder", "inputs": inputs},
              "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    assert comfy.run_expecting_error(prompt).startswith(
        "Joint Prompt Builder: got the text '3 panels' instead of a panel layout (input 'layout').")


def test_cancel_stops_output_slot_mask_during_a_maximal_grow(comfy, monkeypatch):
    """Cancel sets ComfyUI's interrupt flag; the mask must look at it between its passes, not only at the end."""
    management = sys.modules["comfy.model_management"]
    original = management.throw_exception_if_processing_interrupted
    seen = []

    def cancel_once_the_grow_runs():
        caller = sys._getframe(1).f_code.co_name
        seen.append(caller)
        if caller in ("dilate", "box_blur"):
            management.interrupt_current_processing(True)  # the user presses Cancel now
        original()

    monkeypatch.setattr(management, "throw_exception_if_processing_interrupted", cancel_once_the_grow_runs)
    prompt = {"1": {"class_type": "ICLoRA_PanelConcatenate",
                    "inputs": concatenate_inputs(output_slots=2, panel_width=512, panel_height=512)},
              "2": {"class_type": "ICLoRA_OutputSlotMask", "inputs": mask_inputs(grow=512, feather=512)},
              "3": {"class_type": "MaskPreview", "inputs": {"mask": ["2", 0]}}}
    executor, server = comfy.run(prompt)
    assert not executor.success
    interrupted = [data for event, data in executor.status_messages if event == "execution_interrupted"]
    assert interrupted and interrupted[0]["node_type"] == "ICLoRA_OutputSlotMask"
    assert seen.count("dilate") == 1  # stopped at the first pass of the grow
    monkeypatch.undo()
    prompt["2"]["inputs"]["grow"] = 511  # a new input, so the mask runs again (not from cache)
    executor, _ = comfy.run(prompt)
    assert executor.success


@pytest.mark.parametrize("field,value,message", [
    ("image", "canvas.png", "In-Context Sampler: got the text 'canvas.png' instead of an image (input 'image')."),
    ("mask", {"panels": [2]}, "In-Context Sampler: got a dictionary instead of a mask (input 'mask')."),
    ("layout", "2 panels", "In-Context Sampler: got the text '2 panels' instead of a panel layout (input 'layout')."),
])
def test_a_literal_sent_into_the_samplers_canvas_inputs_gets_the_pack_message(comfy, field, value, message):
    sampler = {"model": ["11", 0], "positive": ["13", 0], "negative": ["14", 0], "vae": ["10", 0],
               "image": ["1", 0], "mode": "masked", "seed": 1, "steps": 1, "cfg": 1.0, "sampler_name": "euler",
               "scheduler": "simple", "denoise": 1.0, "resample_count": 3, "resample_fraction": 1.0,
               "reference_strength": 1.0, "seam_feather": 0, "paste_references": True, "paste_blend": 0,
               "batch_size": 1, "layout": ["1", 1], field: value}
    prompt = {"1": {"class_type": "ICLoRA_PanelConcatenate", "inputs": TEXT_ONLY}, **stock_flux_loaders(),
              "13": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["12", 0], "text": "two panels"}},
              "14": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["13", 0]}},
              "2": {"class_type": "ICLoRA_InContextSampler", "inputs": sampler},
              "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}
    assert comfy.run_expecting_error(prompt).startswith(message)
