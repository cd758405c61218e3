"""Every shipped workflow validates against the published model names and runs end to end on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from iclora_tools.comfyui import tiny_models
from iclora_tools.runner.workflow_api import node_inputs, to_api
from pack_facts import skip_without_comfyui
from safetensors.torch import save_file

skip_without_comfyui()

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / "workflows").glob("*.json"))
TASK_WORKFLOWS = [p for p in WORKFLOWS if p.stem != "train-your-own-task"]  # that one: test_dataset_in_comfyui.py


@pytest.fixture(scope="module")
def published_models(comfy):
    """Files with the exact published names: the tiny FLUX, Qwen-Image and encoders are already there; add the LoRA
    names and, for validation only, an empty file under every other name (FLUX's VAE, Kontext: execution swaps in
    the tiny TAEF1 and FLUX)."""
    models = comfy.models_dir
    listed = [m for w in WORKFLOWS for m in json.loads(w.read_text())["models"]]
    tiny_models.write_empty_loras(models / "loras", [m["name"] for m in listed if m["directory"] == "loras"])
    for model in listed:
        path = models / model["directory"] / model["name"]
        if not path.exists():
            save_file({}, str(path))
    return models


@pytest.mark.parametrize("path", TASK_WORKFLOWS, ids=[p.stem for p in TASK_WORKFLOWS])
def test_workflow_validates_against_the_published_model_names(comfy, published_models, path):
    prompt = to_api(json.loads(path.read_text()), comfy.nodes.NODE_CLASS_MAPPINGS)
    valid, node_errors, outputs = comfy.validate(prompt)
    assert node_errors == {} and valid, node_errors
    # Save Image and the whole-canvas preview; the reference-token route previews the whole set in Panel Reassemble
    assert len(outputs) == (1 if "ICLoRA_PanelReassemble" in path.read_text() else 2)


@pytest.mark.parametrize("path", TASK_WORKFLOWS, ids=[p.stem for p in TASK_WORKFLOWS])
def test_every_combo_value_is_one_of_its_options(comfy, published_models, path):
    """The server does not check V3 combo values (ComfyUI 0.3.64), so the shipped files are checked here."""
    prompt = to_api(json.loads(path.read_text()), comfy.nodes.NODE_CLASS_MAPPINGS)
    checked = 0
    for node in prompt.values():
        for name, spec in node_inputs(comfy.nodes.NODE_CLASS_MAPPINGS[node["class_type"]]):
            options = spec[0] if isinstance(spec[0], list) else (
                spec[1].get("options") if spec[0] == "COMBO" and len(spec) > 1 else None)
            value = node["inputs"].get(name)
            if options is not None and not isinstance(value, list):
                assert value in options, (node["class_type"], name, value)
                checked += 1
    assert checked >= 12


@pytest.mark.parametrize("path", TASK_WORKFLOWS, ids=[p.stem for p in TASK_WORKFLOWS])
def test_workflow_runs_end_to_end_on_tiny_models(comfy, published_models, path):
    prompt = to_api(json.loads(path.read_text()), comfy.nodes.NODE_CLASS_MAPPINGS)
    tiny_models.use_tiny_models(prompt, panel_size=(64, 48), steps=2)  # small panels keep the CPU run short
    stem = path.stem.rsplit("-", 1)[0].removesuffix("-text")
    before = len(list((comfy.output_dir / "iclora").glob(f"{stem}_*.png")))
    executor, server = comfy.run(prompt, client_id="runner")
    assert executor.success, executor.status_messages
    assert len(list((comfy.output_dir / "iclora").glob(f"{stem}_*.png"))) > before
