"""The shipped training workflow: sets -> Panel Set Dataset -> stock Train LoRA -> Save LoRA + loss plot -> the
trained model in the In-Context Sampler, with the paper's rank and a note that explains the folder layout."""

from __future__ import annotations

import json
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the backport (requirements-test.txt)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PATH = ROOT / "workflows" / "train-your-own-task.json"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def load():
    data = json.loads(PATH.read_text())
    nodes = {n["id"]: n for n in data["nodes"]}
    links = {link[0]: link for link in data["links"]}
    return data, nodes, links


def source_of(nodes, links, node, input_name):
    link = links[next(i["link"] for i in node["inputs"] if i["name"] == input_name)]
    return nodes[link[1]]["type"], nodes[link[1]]["outputs"][link[2]]["name"]


def by_type(nodes, type_):
    return next(n for n in nodes.values() if n["type"] == type_)


def test_training_workflow_is_well_formed_and_has_a_thumbnail():
    data, nodes, links = load()
    assert data["version"] == 0.4 and len(data["id"]) == 36 and PATH.with_suffix(".jpg").is_file()
    assert data["last_node_id"] == max(nodes) and data["last_link_id"] == len(links)
    for link_id, source, slot, target, target_slot, kind in data["links"]:
        assert nodes[source]["outputs"][slot]["type"] == kind and link_id in nodes[source]["outputs"][slot]["links"]
        assert nodes[target]["inputs"][target_slot]["link"] == link_id
    assert all(n["properties"]["cnr_id"] == PROJECT["name"] for n in nodes.values() if n["type"].startswith("ICLoRA_"))
    published = json.loads((ROOT / "nodes" / "core" / "presets.json").read_text())["base_models"]
    assert data["models"] == published  # the base models under their published names; the LoRA is trained here
    loaded = {n["widgets_values"][i] for n in nodes.values() for i in {"UNETLoader": [0], "DualCLIPLoader": [0, 1],
                                                                       "VAELoader": [0]}.get(n["type"], [])}
    assert loaded == {m["name"] for m in published}


def test_dataset_feeds_the_stock_trainer_whose_model_the_sampler_uses():
    _, nodes, links = load()
    train = by_type(nodes, "TrainLoraNode")
    assert source_of(nodes, links, train, "latents") == ("ICLoRA_PanelSetDataset", "latents")
    assert source_of(nodes, links, train, "positive") == ("ICLoRA_PanelSetDataset", "positive")
    assert source_of(nodes, links, train, "model") == ("UNETLoader", "MODEL")
    assert source_of(nodes, links, by_type(nodes, "SaveLoRANode"), "lora") == ("TrainLoraNode", "lora")
    assert source_of(nodes, links, by_type(nodes, "LossGraphNode"), "loss") == ("TrainLoraNode", "loss")
    sampler = by_type(nodes, "ICLoRA_InContextSampler")
    assert source_of(nodes, links, sampler, "model") == ("TrainLoraNode", "model_with_lora")
    assert source_of(nodes, links, by_type(nodes, "ICLoRA_PanelSetExport"), "dataset") == (
        "ICLoRA_PanelSetDataset", "dataset")
    assert by_type(nodes, "ICLoRA_PanelSetExport")["mode"] == 4  # bypassed until the user wants the export


def test_training_settings_and_note_follow_the_paper():
    _, nodes, _ = load()
    batch, accumulation, steps, learning_rate, rank, *_ = by_type(nodes, "TrainLoraNode")["widgets_values"]
    assert (rank, learning_rate) == (16, 1e-4) and steps >= 100 and batch == 1
    values = by_type(nodes, "TrainLoraNode")["widgets_values"]
    assert values[12] is True  # gradient checkpointing: FLUX fails without it
    note = by_type(nodes, "MarkdownNote")["widgets_values"][0]
    for needed in ("caption.txt", "summary.txt", "20-100 sets", "rank 16", "learning rate 1e-4", "24 GB",
                   "existing_lora", "models/loras", "0.93 to 0.57"):
        assert needed in note, needed
