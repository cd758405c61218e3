"""UI-format workflow -> API-format prompt, done the way the frontend does it, for validating shipped files."""

from __future__ import annotations

FRONTEND_ONLY = {"MarkdownNote", "Note", "PrimitiveNode", "Reroute"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SKIPPED_MODES = (2, 4)
"""Muted (2) and bypassed (4) nodes: the editor leaves them out of the prompt it queues."""


def node_inputs(node_class) -> list[tuple[str, tuple]]:
    """(name, spec) in the order the editor creates widgets: required, then optional."""
    info = node_class.GET_NODE_INFO_V1() if hasattr(node_class, "GET_NODE_INFO_V1") else {
        "input": node_class.INPUT_TYPES()}
    return [(name, spec) for section in ("required", "optional")
            for name, spec in info["input"].get(section, {}).items()]


def is_widget(spec: tuple) -> bool:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return (isinstance(kind, list) or kind in WIDGET_TYPES) and not options.get("forceInput")


def to_api(workflow: dict, node_classes: dict) -> dict:
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    skipped = {n["id"] for n in workflow["nodes"] if n.get("mode") in SKIPPED_MODES}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY or node["id"] in skipped:
            continue
        node_class = node_classes[node["type"]]
        linked = {i["name"]: i["link"] for i in node.get("inputs", []) if i.get("link") is not None}
        values = list(node.get("widgets_values", []))
        inputs, position = {}, 0
        for name, spec in node_inputs(node_class):
            if is_widget(spec):
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                value = values[position]
                position += 1
                if options.get("control_after_generate") or name in ("seed", "noise_seed"):
                    position += 1
                if options.get("image_upload"):
                    position += 1
                inputs[name] = value
            if name in linked:
                link = links[linked[name]]
                if link[1] in skipped:
                    raise AssertionError(f"{node['type']} #{node['id']}: input {name} comes from a muted or "
                                         "bypassed node, which this converter does not reroute")
                inputs[name] = [str(link[1]), link[2]]
        if position != len(values):
            raise AssertionError(f"{node['type']} #{node['id']}: {len(values)} widget values, {position} used")
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt
