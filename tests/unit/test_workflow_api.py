"""UI -> API conversion details the editor has too: defaults for widgets added after a file was saved, and muted or
bypassed nodes left out of the prompt."""

from __future__ import annotations

import pytest
from iclora_tools.runner.workflow_api import to_api

INFO = {
    "Source": {"input": {"required": {"text": ["STRING", {"default": ""}]},
                         "optional": {"style": [["plain", "fancy"], {"default": "plain"}]}}},
    "Sink": {"input": {"required": {"value": ["STRING", {"forceInput": True}]}}},
}


def node(id_, type_, widgets, mode=0, inputs=()):
    return {"id": id_, "type": type_, "mode": mode, "widgets_values": widgets, "inputs": list(inputs)}


def test_an_optional_widget_missing_from_an_older_file_takes_its_default():
    workflow = {"nodes": [node(1, "Source", ["hello"])], "links": []}
    assert to_api(workflow, INFO)["1"]["inputs"] == {"text": "hello", "style": "plain"}
    workflow["nodes"][0]["widgets_values"] = ["hello", "fancy"]
    assert to_api(workflow, INFO)["1"]["inputs"] == {"text": "hello", "style": "fancy"}


@pytest.mark.parametrize("mode", [2, 4])
def test_muted_and_bypassed_nodes_are_left_out_and_their_consumers_refused(mode):
    workflow = {"nodes": [node(1, "Source", ["a", "plain"]), node(2, "Source", ["b", "plain"], mode=mode)],
                "links": []}
    assert set(to_api(workflow, INFO)) == {"1"}
    workflow["nodes"].append(node(3, "Sink", [], inputs=[{"name": "value", "link": 1}]))
    workflow["links"] = [[1, 2, 0, 3, 0, "STRING"]]
    with pytest.raises(AssertionError, match="muted or bypassed"):
        to_api(workflow, INFO)
