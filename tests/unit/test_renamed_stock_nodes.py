"""A stock node ComfyUI renamed (Save LoRA Weights: SaveLoRANode up to 0.3.x, SaveLoRA in 0.33) runs and loads as
the one the host has: the runner's converter and the editor extension share one table."""

from __future__ import annotations

import json
import re

from iclora_tools import ROOT
from iclora_tools.runner.graph_to_prompt import RENAMED_STOCK_NODES, host_node_type, to_api


def test_the_editor_extension_renames_the_same_nodes_as_the_converter():
    js = (ROOT / "js" / "iclora.js").read_text()
    table = re.search(r"const RENAMED_STOCK_NODES = (\[.*?\]);\n", js, re.DOTALL)
    assert table, "js/iclora.js has no RENAMED_STOCK_NODES table"
    assert [tuple(pair) for pair in json.loads(table.group(1))] == list(RENAMED_STOCK_NODES)


def test_a_renamed_node_becomes_the_id_the_host_has():
    assert host_node_type("SaveLoRANode", {"SaveLoRA": object}) == "SaveLoRA"
    assert host_node_type("SaveLoRA", {"SaveLoRANode": object}) == "SaveLoRANode"
    assert host_node_type("SaveLoRANode", {"SaveLoRANode": object, "SaveLoRA": object}) == "SaveLoRANode"
    assert host_node_type("SaveLoRANode", {}) == "SaveLoRANode"  # neither: the converter's error names it


def test_the_converter_writes_the_hosts_id_with_the_saved_widget_values():
    workflow = {"links": [], "nodes": [{"id": 3, "type": "SaveLoRANode", "widgets_values": ["loras/mine"],
                                        "inputs": []}]}
    schema = {"input": {"required": {"prefix": ["STRING", {}]}, "optional": {"steps": ["INT", {}]}}}
    prompt = to_api(workflow, {"SaveLoRA": schema})
    assert prompt == {"3": {"class_type": "SaveLoRA", "inputs": {"prefix": "loras/mine", "steps": None}}}
