"""UI -> API conversion as the editor's own graphToPrompt does it, on hand-written UI graphs: widget defaults for
older files, muted and bypassed nodes, reroutes, primitive nodes, widgets converted to inputs, subgraphs, and a
one-line WorkflowError for what cannot be converted. The browser tier (tests/host/test_converter_in_chromium.py)
compares the same conversion with the real editor's."""

from __future__ import annotations

import pytest
from iclora_tools.runner.graph_to_prompt import valid_connection
from iclora_tools.runner.workflow_api import WorkflowError, to_api

INFO = {
    "Source": {"input": {"required": {"text": ["STRING", {"default": ""}]},
                         "optional": {"style": [["plain", "fancy"], {"default": "plain"}]}}},
    "Sink": {"input": {"required": {"value": ["STRING", {"forceInput": True}]}}, "output_node": True},
    "Maybe": {"input": {"required": {}, "optional": {"value": ["STRING", {"forceInput": True}]}},
              "output_node": True},
    "Model": {"input": {"required": {"name": [["a.safetensors"], {}]}}, "output": ["MODEL"]},
    "Lora": {"input": {"required": {"model": ["MODEL", {}], "lora_name": [["x.safetensors"], {}],
                                    "strength": ["FLOAT", {"default": 1.0}]}}, "output": ["MODEL"]},
    "Sampler": {"input": {"required": {"model": ["MODEL", {}], "seed": ["INT", {"default": 0}],
                                       "tags": ["STRING", {}]}}, "output_node": True},
}
SUBGRAPH = "0b6a3f7e-5d2c-4e8a-9c1b-2f4d6e8a0c11"


def node(id_, type_, widgets=(), mode=0, inputs=(), outputs=(), title=None):
    made = {"id": id_, "type": type_, "mode": mode, "widgets_values": list(widgets), "inputs": list(inputs),
            "outputs": list(outputs)}
    if title:
        made["title"] = title
    return made


def slot(name, type_, link=None, widget=False):
    entry = {"name": name, "type": type_, "link": link}
    if widget:
        entry["widget"] = {"name": name}
    return entry


def model_chain(lora_mode=0, second_lora_mode=None):
    """Model -> LoRA (-> LoRA) -> Sampler, the shape of a shipped workflow's model path."""
    nodes = [node(1, "Model", ["a.safetensors"], outputs=[{"type": "MODEL"}]),
             node(2, "Lora", ["x.safetensors", 0.8], lora_mode, [slot("model", "MODEL", 1)], [{"type": "MODEL"}],
                  title="Task LoRA")]
    links = [[1, 1, 0, 2, 0, "MODEL"]]
    last = 2
    if second_lora_mode is not None:
        nodes.append(node(4, "Lora", ["x.safetensors", 0.5], second_lora_mode, [slot("model", "MODEL", 3)],
                          [{"type": "MODEL"}]))
        links.append([3, 2, 0, 4, 0, "MODEL"])
        last = 4
    nodes.append(node(5, "Sampler", [7, "fixed", "t"], inputs=[slot("model", "MODEL", 2)]))
    links.append([2, last, 0, 5, 0, "MODEL"])
    return {"nodes": nodes, "links": links}


def test_an_optional_widget_missing_from_an_older_file_takes_its_default():
    workflow = {"nodes": [node(1, "Source", ["hello"])], "links": []}
    assert to_api(workflow, INFO)["1"]["inputs"] == {"text": "hello", "style": "plain"}
    workflow["nodes"][0]["widgets_values"] = ["hello", "fancy"]
    assert to_api(workflow, INFO)["1"]["inputs"] == {"text": "hello", "style": "fancy"}


def test_a_seed_skips_its_control_widget_and_notes_are_left_out():
    workflow = model_chain()
    workflow["nodes"].append(node(9, "MarkdownNote", ["# read me"]))
    prompt = to_api(workflow, INFO)
    assert prompt["5"] == {"class_type": "Sampler", "inputs": {"model": ["2", 0], "seed": 7, "tags": "t"}}
    assert "9" not in prompt


def test_a_bypassed_lora_passes_the_model_through():
    prompt = to_api(model_chain(lora_mode=4), INFO)
    assert set(prompt) == {"1", "5"} and prompt["5"]["inputs"]["model"] == ["1", 0]


def test_two_bypassed_loras_in_a_row_pass_the_model_through_both():
    prompt = to_api(model_chain(lora_mode=4, second_lora_mode=4), INFO)
    assert set(prompt) == {"1", "5"} and prompt["5"]["inputs"]["model"] == ["1", 0]
    prompt = to_api(model_chain(lora_mode=0, second_lora_mode=4), INFO)
    assert prompt["5"]["inputs"]["model"] == ["2", 0]


def test_a_bypassed_node_passes_on_the_input_of_the_wanted_type_not_the_first_one():
    workflow = {"nodes": [node(1, "Source", ["a"], outputs=[{"type": "STRING"}]),
                          node(2, "Model", ["a.safetensors"], outputs=[{"type": "MODEL"}]),
                          node(3, "Mixer", [], 4, [slot("text", "STRING", 1), slot("model", "MODEL", 2)],
                               [{"type": "MODEL"}, {"type": "STRING"}]),
                          node(5, "Sampler", [1, "fixed", ""], inputs=[slot("model", "MODEL", 3),
                                                                       slot("tags", "STRING", 4, widget=True)])],
                "links": [[1, 1, 0, 3, 0, "STRING"], [2, 2, 0, 3, 1, "MODEL"], [3, 3, 0, 5, 0, "MODEL"],
                          [4, 3, 1, 5, 2, "STRING"]]}
    inputs = to_api(workflow, INFO)["5"]["inputs"]
    assert inputs["model"] == ["2", 0]  # slot 0 is a STRING: the first MODEL input instead
    assert inputs["tags"] == ["1", 0]  # output 1 (STRING) has no STRING input in slot 1: the first STRING one


def test_a_bypassed_node_with_nothing_to_pass_on_is_named_in_one_line():
    workflow = model_chain(lora_mode=4)
    workflow["nodes"][1]["inputs"][0]["link"] = None
    workflow["links"] = [link for link in workflow["links"] if link[0] != 1]
    with pytest.raises(WorkflowError) as error:
        to_api(workflow, INFO)
    message = str(error.value)
    assert message.startswith("node 5 (Sampler): input 'model' comes from node 2 (Lora 'Task LoRA'), which is "
                              "bypassed, and its input 'model' that would pass on is not connected")
    assert "\n" not in message
    workflow = model_chain(lora_mode=4)
    workflow["nodes"][1]["inputs"][0]["type"] = "CLIP"
    with pytest.raises(WorkflowError, match=r"node 2 \(Lora 'Task LoRA'\), which is bypassed and has no MODEL "
                                            "input to pass on"):
        to_api(workflow, INFO)


def test_a_muted_node_is_left_out_and_a_node_that_needs_it_is_named():
    workflow = model_chain(lora_mode=2)
    with pytest.raises(WorkflowError) as error:
        to_api(workflow, INFO)
    assert str(error.value) == ("node 5 (Sampler): input 'model' comes from node 2 (Lora 'Task LoRA'), which is "
                                "muted; turn that node back on or connect the input to another node")


def test_a_muted_preview_drops_out_and_an_optional_input_from_a_muted_node_is_dropped_as_the_editor_does():
    workflow = {"nodes": [node(1, "Source", ["a"], outputs=[{"type": "STRING"}]),
                          node(2, "Sink", [], 2, [slot("value", "STRING", 1)]),
                          node(3, "Source", ["b"], 2, outputs=[{"type": "STRING"}]),
                          node(4, "Maybe", [], inputs=[slot("value", "STRING", 2)])],
                "links": [[1, 1, 0, 2, 0, "STRING"], [2, 3, 0, 4, 0, "STRING"]]}
    prompt = to_api(workflow, INFO)
    assert set(prompt) == {"1", "4"} and prompt["4"]["inputs"] == {}


def test_reroutes_pass_their_input_on():
    workflow = model_chain()
    workflow["nodes"] += [node(7, "Reroute", [], inputs=[slot("", "*", 10)], outputs=[{"type": "*"}]),
                          node(8, "Reroute", [], inputs=[slot("", "*", 11)], outputs=[{"type": "*"}])]
    workflow["links"] = [[1, 1, 0, 2, 0, "MODEL"], [10, 2, 0, 7, 0, "*"], [11, 7, 0, 8, 0, "*"],
                         [2, 8, 0, 5, 0, "MODEL"]]
    prompt = to_api(workflow, INFO)
    assert set(prompt) == {"1", "2", "5"} and prompt["5"]["inputs"]["model"] == ["2", 0]
    workflow["nodes"][1]["mode"] = 4  # a reroute after a bypassed LoRA
    assert to_api(workflow, INFO)["5"]["inputs"]["model"] == ["1", 0]


def test_a_primitive_seed_writes_its_value_into_the_widget_it_feeds():
    workflow = model_chain()
    workflow["nodes"][-1]["inputs"].append(slot("seed", "INT", 20, widget=True))
    workflow["nodes"].append(node(9, "PrimitiveNode", [4242, "fixed"], outputs=[{"type": "INT", "links": [20]}]))
    workflow["links"].append([20, 9, 0, 5, 1, "INT"])
    assert to_api(workflow, INFO)["5"]["inputs"] == {"model": ["2", 0], "seed": 4242, "tags": "t"}


def test_a_widget_converted_to_an_input_takes_its_link_and_list_values_are_wrapped():
    workflow = model_chain()
    workflow["nodes"].append(node(9, "Source", ["x"], outputs=[{"type": "STRING"}]))
    workflow["nodes"][-2]["inputs"].append(slot("tags", "STRING", 20, widget=True))
    workflow["links"].append([20, 9, 0, 5, 2, "STRING"])
    assert to_api(workflow, INFO)["5"]["inputs"]["tags"] == ["9", 0]
    workflow["nodes"][-2]["widgets_values"][2] = ["a", "b"]  # a list widget value is not a link
    workflow["nodes"][-2]["inputs"].pop()
    assert to_api(workflow, INFO)["5"]["inputs"]["tags"] == {"__value__": ["a", "b"]}


def subgraph_workflow(lora_inside_mode=0, subgraph_mode=0):
    """Model -> [subgraph: LoRA] -> Sampler, saved as the newer frontend saves it (links inside as objects; the
    subgraph's input node is -10, its output node -20)."""
    definition = {
        "id": SUBGRAPH, "name": "LoRA block", "version": 1,
        "inputs": [{"id": "i1", "name": "model", "type": "MODEL", "linkIds": [1]},
                   {"id": "i2", "name": "strength", "type": "FLOAT", "linkIds": [3]}],
        "outputs": [{"id": "o1", "name": "MODEL", "type": "MODEL", "linkIds": [2]}],
        "nodes": [node(5, "Lora", ["x.safetensors", 0.3], lora_inside_mode,
                       [slot("model", "MODEL", 1), slot("strength", "FLOAT", 3, widget=True)], [{"type": "MODEL"}])],
        "links": [{"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 5, "target_slot": 0, "type": "MODEL"},
                  {"id": 3, "origin_id": -10, "origin_slot": 1, "target_id": 5, "target_slot": 1, "type": "FLOAT"},
                  {"id": 2, "origin_id": 5, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "MODEL"}],
    }
    return {"nodes": [node(1, "Model", ["a.safetensors"], outputs=[{"type": "MODEL"}]),
                      node(10, SUBGRAPH, [0.9], subgraph_mode,
                           [slot("model", "MODEL", 1), slot("strength", "FLOAT", None, widget=True)],
                           [{"type": "MODEL"}], title="LoRA block"),
                      node(5, "Sampler", [7, "fixed", "t"], inputs=[slot("model", "MODEL", 2)])],
            "links": [[1, 1, 0, 10, 0, "MODEL"], [2, 10, 0, 5, 0, "MODEL"]],
            "definitions": {"subgraphs": [definition]}}


def test_a_subgraph_is_flattened_with_its_inner_node_ids_under_the_subgraph_node():
    prompt = to_api(subgraph_workflow(), INFO)
    assert set(prompt) == {"1", "10:5", "5"}  # the inner node 5 and the root's node 5 are two nodes
    assert prompt["10:5"] == {"class_type": "Lora", "inputs": {"model": ["1", 0], "lora_name": "x.safetensors",
                                                               "strength": 0.9}}  # the subgraph node's widget
    assert prompt["5"]["inputs"]["model"] == ["10:5", 0]


def test_nested_subgraphs_join_every_level_into_the_id():
    workflow = subgraph_workflow()
    outer = {"id": "outer", "name": "outer", "inputs": [{"name": "model", "type": "MODEL", "linkIds": [1]}],
             "outputs": [{"name": "MODEL", "type": "MODEL", "linkIds": [2]}],
             "nodes": [node(7, SUBGRAPH, [0.9], inputs=[slot("model", "MODEL", 1)], outputs=[{"type": "MODEL"}])],
             "links": [{"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 7, "target_slot": 0,
                        "type": "MODEL"},
                       {"id": 2, "origin_id": 7, "origin_slot": 0, "target_id": -20, "target_slot": 0,
                        "type": "MODEL"}]}
    workflow["definitions"]["subgraphs"].append(outer)
    workflow["nodes"][1]["type"] = "outer"
    prompt = to_api(workflow, INFO)
    assert set(prompt) == {"1", "10:7:5", "5"} and prompt["5"]["inputs"]["model"] == ["10:7:5", 0]
    assert prompt["10:7:5"]["inputs"]["model"] == ["1", 0]


def test_a_bypassed_node_inside_a_subgraph_and_a_bypassed_subgraph_pass_the_model_through():
    prompt = to_api(subgraph_workflow(lora_inside_mode=4), INFO)
    assert set(prompt) == {"1", "5"} and prompt["5"]["inputs"]["model"] == ["1", 0]
    prompt = to_api(subgraph_workflow(subgraph_mode=4), INFO)
    assert set(prompt) == {"1", "5"} and prompt["5"]["inputs"]["model"] == ["1", 0]


def test_a_muted_subgraph_is_named_by_what_needs_it():
    with pytest.raises(WorkflowError, match=r"^node 5 \(Sampler\): input 'model' comes from node 10 "
                                            rf"\({SUBGRAPH} 'LoRA block'\), which is muted"):
        to_api(subgraph_workflow(subgraph_mode=2), INFO)


def test_what_cannot_be_converted_is_one_line_naming_the_node():
    workflow = model_chain()
    workflow["nodes"][1]["type"] = "SomePackLora"
    with pytest.raises(WorkflowError, match=r"^node 2 \(SomePackLora 'Task LoRA'\): this ComfyUI has no such node"):
        to_api(workflow, INFO)
    workflow = model_chain()
    workflow["links"].pop(0)
    with pytest.raises(WorkflowError, match=r"^node 2 \(Lora 'Task LoRA'\): input 'model' names link 1, which the "
                                            "file does not have"):
        to_api(workflow, INFO)
    workflow = model_chain()
    workflow["nodes"] += [node(7, "Reroute", [], inputs=[slot("", "*", 11)], outputs=[{"type": "*"}]),
                          node(8, "Reroute", [], inputs=[slot("", "*", 10)], outputs=[{"type": "*"}])]
    workflow["links"] = [[1, 1, 0, 2, 0, "MODEL"], [10, 7, 0, 8, 0, "*"], [11, 8, 0, 7, 0, "*"],
                         [2, 8, 0, 5, 0, "MODEL"]]
    with pytest.raises(WorkflowError, match="loop of reroutes"):
        to_api(workflow, INFO)


def test_types_fit_as_in_litegraph():
    assert valid_connection("MODEL", "MODEL") and valid_connection("*", "MODEL") and valid_connection("", "CLIP")
    assert valid_connection("IMAGE,MASK", "mask") and not valid_connection("MODEL", "CLIP")


def test_a_group_node_is_flattened_with_its_widget_values_going_to_its_inner_nodes():
    group = {"nodes": [node(-1, "Model", ["a.safetensors"], outputs=[{"type": "MODEL"}]),
                       node(-1, "Lora", ["x.safetensors", 1.0], inputs=[slot("model", "MODEL")],
                            outputs=[{"type": "MODEL"}])],
             "links": [[0, 0, 1, 0, 2, "MODEL"]], "external": []}
    workflow = {"nodes": [node(20, "workflow>Model block", ["a.safetensors", "x.safetensors", 0.25],
                               outputs=[{"type": "MODEL", "links": [1]}]),
                          node(5, "Sampler", [7, "fixed", "t"], inputs=[slot("model", "MODEL", 1)])],
                "links": [[1, 20, 0, 5, 0, "MODEL"]], "extra": {"groupNodes": {"Model block": group}}}
    prompt = to_api(workflow, INFO)
    assert prompt == {"20:0": {"class_type": "Model", "inputs": {"name": "a.safetensors"}},
                      "20:1": {"class_type": "Lora", "inputs": {"model": ["20:0", 0], "lora_name": "x.safetensors",
                                                                "strength": 0.25}},
                      "5": {"class_type": "Sampler", "inputs": {"model": ["20:1", 0], "seed": 7, "tags": "t"}}}
    group["nodes"].append(node(-1, "Reroute", [], inputs=[slot("", "*")], outputs=[{"type": "*"}]))
    with pytest.raises(WorkflowError, match=r"^node 20 \(workflow>Model block\): the group has a Reroute"):
        to_api(workflow, INFO)
