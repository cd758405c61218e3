"""The shipped workflows: in sync with the presets, carrying what the editor needs to help a new user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from iclora_pack.nodes.core.prompts import PRESETS_FILE, load_presets
from iclora_tools.maintain import workflows as build_workflows

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the backport (requirements-test.txt)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))
TRAINING = "train-your-own-task"  # the training workflow: checked in tests/unit/test_training_workflow.py
FAMILY_PREFIXES = tuple(f"{family.id}-" for family in build_workflows.FAMILIES)
FAMILY_WORKFLOWS = [p for p in WORKFLOWS if p.stem.startswith(FAMILY_PREFIXES)]
TASK_WORKFLOWS = [p for p in WORKFLOWS if p.stem != TRAINING and p not in FAMILY_WORKFLOWS]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PUBLISHED = json.loads(PRESETS_FILE.read_text())
# The loader widgets that name a model file, in widget order.
MODEL_WIDGETS = {"UNETLoader": [0], "DualCLIPLoader": [0, 1], "CLIPLoader": [0], "VAELoader": [0],
                 "LoraLoaderModelOnly": [0]}
OUR_TYPES = {"ICLoRA_PanelConcatenate", "ICLoRA_OutputSlotMask", "ICLoRA_JointPromptBuilder",
             "ICLoRA_InContextSampler", "ICLoRA_PanelSplit"}


def test_shipped_files_are_exactly_what_the_presets_generate(tmp_path):
    written = build_workflows.write_workflows(tmp_path, thumbnails=False)
    assert sorted(p.name for p in written) == [p.name for p in WORKFLOWS]
    for path in written:
        assert path.read_text() == (ROOT / "workflows" / path.name).read_text(), \
            f"{path.name} is stale: run python tools/build_workflows.py"


def test_every_task_has_a_text_only_and_a_reference_workflow_with_a_thumbnail():
    for preset_id in load_presets():
        for variant in ("text-only", "reference"):
            assert (ROOT / "workflows" / f"{preset_id}-{variant}.json").is_file()
            assert (ROOT / "workflows" / f"{preset_id}-{variant}.jpg").is_file()


def assert_well_formed(data: dict) -> dict:
    """Ids, counts and every link consistent at both ends; returns the nodes by id."""
    assert data["version"] == 0.4 and len(data["id"]) == 36
    nodes = {n["id"]: n for n in data["nodes"]}
    assert data["last_node_id"] == max(nodes) and data["last_link_id"] == len(data["links"])
    for link_id, source, slot, target, target_slot, kind in data["links"]:
        assert nodes[source]["outputs"][slot]["type"] == kind and link_id in nodes[source]["outputs"][slot]["links"]
        assert nodes[target]["inputs"][target_slot] == {**nodes[target]["inputs"][target_slot], "link": link_id}
    return nodes


def loaded_files(data: dict) -> list[str]:
    return [n["widgets_values"][i] for n in data["nodes"] if n["type"] in MODEL_WIDGETS
            for i in MODEL_WIDGETS[n["type"]]]


@pytest.mark.parametrize("path", TASK_WORKFLOWS, ids=[p.stem for p in TASK_WORKFLOWS])
def test_workflow_is_well_formed_and_names_its_models_and_pack(path):
    data = json.loads(path.read_text())
    assert_well_formed(data)
    ours = [n for n in data["nodes"] if n["type"] in OUR_TYPES]
    assert {n["type"] for n in ours} >= OUR_TYPES - ({"ICLoRA_OutputSlotMask"} if "text-only" in path.stem else set())
    assert all(n["properties"]["cnr_id"] == PROJECT["name"] for n in ours)
    preset = load_presets()[path.stem.removesuffix("-reference").removesuffix("-text-only")]
    lora = next(n for n in data["nodes"] if n["type"] == "LoraLoaderModelOnly")["widgets_values"][0]
    assert lora == preset.lora
    concat = next(n for n in data["nodes"] if n["type"] == "ICLoRA_PanelConcatenate")["widgets_values"]
    assert (concat[5], concat[6]) == preset.panel_size and concat[2] == preset.arrangement
    builder = next(n for n in data["nodes"] if n["type"] == "ICLoRA_JointPromptBuilder")["widgets_values"]
    assert builder[0] == preset.id


@pytest.mark.parametrize("path", TASK_WORKFLOWS, ids=[p.stem for p in TASK_WORKFLOWS])
def test_workflow_loads_and_offers_only_published_model_files(path):
    """Every download entry and every loader widget names a file under the name its repository publishes."""
    data = json.loads(path.read_text())
    preset = load_presets()[path.stem.removesuffix("-reference").removesuffix("-text-only")]
    published_lora = {"name": preset.lora, "url": PUBLISHED["lora_url_base"] + preset.lora, "directory": "loras"}
    assert data["models"] == [*PUBLISHED["base_models"], published_lora]
    for model in data["models"]:
        assert model["url"].startswith("https://huggingface.co/") and model["url"].endswith("/" + model["name"])
    offered = {m["name"] for m in data["models"]}
    loaded = loaded_files(data)
    assert len(loaded) == 5 and set(loaded) == offered
    assert not set(loaded) & set(preset.lora_local_names)


def test_each_other_family_has_a_text_only_and_a_reference_workflow_with_a_thumbnail():
    stems = {p.stem for p in FAMILY_WORKFLOWS}
    for family in build_workflows.FAMILIES:
        assert f"{family.id}-{family.text_preset}-text-only" in stems
        assert f"{family.id}-{family.reference_preset}-reference" in stems
    assert len(FAMILY_WORKFLOWS) == 2 * len(build_workflows.FAMILIES)
    assert all(p.with_suffix(".jpg").is_file() for p in FAMILY_WORKFLOWS)


@pytest.mark.parametrize("path", FAMILY_WORKFLOWS, ids=[p.stem for p in FAMILY_WORKFLOWS])
def test_family_workflow_loads_its_published_models_and_takes_references_its_way(path):
    """No FLUX.1-dev task LoRA on another model; the family's own files, each offered for download; an edit model
    (FLUX.1 Kontext) gets the reference as clean tokens, Qwen-Image on the canvas."""
    data = json.loads(path.read_text())
    nodes = assert_well_formed(data)
    family = next(f for f in build_workflows.FAMILIES if path.stem.startswith(f"{f.id}-"))
    assert data["models"] == PUBLISHED["family_models"][family.id]
    for model in data["models"]:
        assert model["url"].startswith("https://huggingface.co/") and model["url"].endswith("/" + model["name"])
    loaded = loaded_files(data)
    assert sorted(loaded) == sorted(m["name"] for m in data["models"])
    kinds = [n["type"] for n in nodes.values()]
    assert "LoraLoaderModelOnly" not in kinds and all(n["properties"]["cnr_id"] == PROJECT["name"]
                                                      for n in nodes.values() if n["type"].startswith("ICLoRA_"))
    with_reference = path.stem.endswith("-reference")
    builder = next(n for n in nodes.values() if n["type"] == "ICLoRA_JointPromptBuilder")["widgets_values"]
    assert builder[0] == (family.reference_preset if with_reference else family.text_preset)
    sampler = next(n for n in nodes.values() if n["type"] == "ICLoRA_InContextSampler")
    assert sampler["widgets_values"][4] == family.cfg
    tokens = with_reference and family.reference_tokens
    assert ("ICLoRA_ReferenceTokens" in kinds) == tokens and ("ICLoRA_PanelReassemble" in kinds) == tokens
    assert ("ICLoRA_OutputSlotMask" in kinds) == (with_reference and not tokens)
    assert sampler["widgets_values"][0] == ("consistent" if with_reference and not tokens else "joint")
    if tokens:  # the sampler generates Reference Tokens' outputs-only canvas, with no whole-set layout
        inputs = {i["name"]: i["link"] for i in sampler["inputs"]}
        source = {link[0]: nodes[link[1]]["type"] for link in data["links"]}
        assert source[inputs["image"]] == source[inputs["positive"]] == "ICLoRA_ReferenceTokens"
        assert "layout" not in inputs
    if family.shift is not None:
        shift = next(n for n in nodes.values() if n["type"] == "ModelSamplingAuraFlow")
        assert shift["widgets_values"] == [family.shift]


def test_local_names_of_a_lora_are_never_published_names():
    """A local name (a renamed download, an old broken link) must not collide with any task's published file."""
    published = {p.lora for p in load_presets().values()}
    for preset in load_presets().values():
        assert preset.lora not in preset.lora_local_names and not published & set(preset.lora_local_names)
    assert load_presets()["film-storyboard"].lora == "film-storyboard.safetensors"


# The compatibility guard keeps the snapshot equal to the source.
SNAPSHOT = json.loads((ROOT / "schema" / "snapshot.json").read_text())["nodes"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_node_of_ours_in_a_workflow_carries_one_widget_value_per_widget_input(path):
    """Widget values are stored by position: one missing after a new input shifts every later value silently."""
    for node in json.loads(path.read_text())["nodes"]:
        schema = SNAPSHOT.get(node["type"])
        if schema is None:
            continue
        widgets = [i for i in schema["inputs"] if i["widget"]]
        expected = len(widgets) + sum(1 for i in widgets if i.get("control_after_generate"))
        assert len(node["widgets_values"]) == expected, (node["type"], node["id"], node["widgets_values"])
