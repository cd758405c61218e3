"""The shipped workflows: in sync with the presets, carrying what the editor needs to help a new user."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import tomllib
from iclora_pack.nodes.prompts import load_presets

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))
TRAINING = "train-your-own-task"  # the training workflow: checked in tests/unit/test_training_workflow.py
TASK_WORKFLOWS = [p for p in WORKFLOWS if p.stem != TRAINING]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
OUR_TYPES = {"ICLoRA_PanelConcatenate", "ICLoRA_OutputSlotMask", "ICLoRA_JointPromptBuilder",
             "ICLoRA_InContextSampler", "ICLoRA_PanelSplit"}


def load_builder():
    spec = importlib.util.spec_from_file_location("build_workflows", ROOT / "tools" / "build_workflows.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_files_are_exactly_what_the_presets_generate(tmp_path):
    written = load_builder().write_workflows(tmp_path, thumbnails=False)
    assert sorted(p.name for p in written) == [p.name for p in WORKFLOWS]
    for path in written:
        assert path.read_text() == (ROOT / "workflows" / path.name).read_text(), \
            f"{path.name} is stale: run python tools/build_workflows.py"


def test_every_task_has_a_text_only_and_a_reference_workflow_with_a_thumbnail():
    for preset_id in load_presets():
        for variant in ("text-only", "reference"):
            assert (ROOT / "workflows" / f"{preset_id}-{variant}.json").is_file()
            assert (ROOT / "workflows" / f"{preset_id}-{variant}.jpg").is_file()


@pytest.mark.parametrize("path", TASK_WORKFLOWS, ids=[p.stem for p in TASK_WORKFLOWS])
def test_workflow_is_well_formed_and_names_its_models_and_pack(path):
    data = json.loads(path.read_text())
    assert data["version"] == 0.4 and len(data["id"]) == 36
    nodes = {n["id"]: n for n in data["nodes"]}
    assert data["last_node_id"] == max(nodes) and data["last_link_id"] == len(data["links"])
    for link_id, source, slot, target, target_slot, kind in data["links"]:
        assert nodes[source]["outputs"][slot]["type"] == kind and link_id in nodes[source]["outputs"][slot]["links"]
        assert nodes[target]["inputs"][target_slot] == {**nodes[target]["inputs"][target_slot], "link": link_id}
    ours = [n for n in data["nodes"] if n["type"] in OUR_TYPES]
    assert {n["type"] for n in ours} >= OUR_TYPES - ({"ICLoRA_OutputSlotMask"} if "text-only" in path.stem else set())
    assert all(n["properties"]["cnr_id"] == PROJECT["name"] for n in ours)
    preset = load_presets()[path.stem.removesuffix("-reference").removesuffix("-text-only")]
    lora = next(n for n in data["nodes"] if n["type"] == "LoraLoaderModelOnly")["widgets_values"][0]
    assert lora in (preset.lora, *preset.lora_aliases)
    models = {m["name"]: m for m in data["models"]}
    assert set(models) == {"flux1-dev.safetensors", "clip_l.safetensors", "t5xxl_fp16.safetensors",
                           "ae.safetensors", lora}
    assert models[lora]["url"].endswith(f"/ali-vilab/In-Context-LoRA/resolve/main/{lora}")
    assert all(m["url"].startswith("https://huggingface.co/") for m in models.values())
    concat = next(n for n in data["nodes"] if n["type"] == "ICLoRA_PanelConcatenate")["widgets_values"]
    assert (concat[5], concat[6]) == preset.panel_size and concat[2] == preset.arrangement
    builder = next(n for n in data["nodes"] if n["type"] == "ICLoRA_JointPromptBuilder")["widgets_values"]
    assert builder[0] == preset.id
