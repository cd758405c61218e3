"""The shipped training workflow: sets -> Panel Set Dataset -> Train In-Context LoRA -> Save LoRA + loss plot -> the
trained model in the In-Context Sampler, text-only and with a reference, with the paper's rank and a note that
explains the folder layout."""

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


def test_dataset_feeds_the_pack_trainer_whose_model_samples_text_only_and_with_a_reference():
    _, nodes, links = load()
    train = by_type(nodes, "ICLoRA_TrainInContextLoRA")
    assert "TrainLoraNode" not in {n["type"] for n in nodes.values()}
    assert source_of(nodes, links, train, "latents") == ("ICLoRA_PanelSetDataset", "latents")
    assert source_of(nodes, links, train, "positive") == ("ICLoRA_PanelSetDataset", "positive")
    assert source_of(nodes, links, train, "layout") == ("ICLoRA_PanelSetDataset", "panel_layout")
    assert source_of(nodes, links, train, "model") == ("UNETLoader", "MODEL")
    save_lora = next(n for n in nodes.values() if n["type"] in ("SaveLoRANode", "SaveLoRA"))
    assert source_of(nodes, links, save_lora, "lora") == ("ICLoRA_TrainInContextLoRA", "lora")
    assert source_of(nodes, links, save_lora, "steps") == ("ICLoRA_TrainInContextLoRA", "steps")
    assert source_of(nodes, links, by_type(nodes, "LossGraphNode"), "loss") == ("ICLoRA_TrainInContextLoRA", "loss")
    samplers = [n for n in nodes.values() if n["type"] == "ICLoRA_InContextSampler"]
    assert sorted(s["widgets_values"][0] for s in samplers) == ["joint", "reference"]
    for sampler in samplers:
        assert source_of(nodes, links, sampler, "model") == ("ICLoRA_TrainInContextLoRA", "model_with_lora")
    with_reference = next(s for s in samplers if s["widgets_values"][0] == "reference")
    concat = nodes[links[next(i["link"] for i in with_reference["inputs"] if i["name"] == "image")][1]]
    assert concat["widgets_values"][0] == 1  # one slot to generate next to ...
    assert source_of(nodes, links, concat, "image_1") == ("LoadImage", "IMAGE")  # ... the user's reference
    assert source_of(nodes, links, by_type(nodes, "ICLoRA_PanelSetExport"), "dataset") == (
        "ICLoRA_PanelSetDataset", "dataset")
    assert by_type(nodes, "ICLoRA_PanelSetExport")["mode"] == 4  # bypassed until the user wants the export


def test_training_settings_and_note_follow_the_paper():
    _, nodes, _ = load()
    values = by_type(nodes, "ICLoRA_TrainInContextLoRA")["widgets_values"]
    objective, references, timesteps, batch, accumulation, steps, learning_rate, rank = values[:8]
    assert (rank, learning_rate) == (16, 1e-4) and steps >= 100 and batch == 1
    assert (objective, references, timesteps) == ("mixed", "first", "flux shift")
    assert values[9:11] == [0, "fixed"]  # a fixed seed: queuing again does not retrain
    assert values[14] is True  # gradient checkpointing (exact in the pack's trainer)
    note = by_type(nodes, "MarkdownNote")["widgets_values"][0]
    for needed in ("caption.txt", "summary.txt", "20-100 sets", "rank 16", "learning rate 1e-4", "24 GB",
                   "existing_lora", "models/loras", "mixed", "reference"):
        assert needed in note, needed
