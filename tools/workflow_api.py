"""UI-format workflow -> API-format prompt, done the way the frontend does it, for validating shipped files."""

from __future__ import annotations

FRONTEND_ONLY = {"MarkdownNote", "Note", "PrimitiveNode", "Reroute"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


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


def widget_default(spec: tuple):
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if "default" in options:
        return options["default"]
    if isinstance(kind, list):
        return kind[0]
    return options.get("options", [None])[0] if kind == "COMBO" else None


def to_api(workflow: dict, node_classes: dict) -> dict:
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY:
            continue
        node_class = node_classes[node["type"]]
        linked = {i["name"]: i["link"] for i in node.get("inputs", []) if i.get("link") is not None}
        values = list(node.get("widgets_values", []))
        inputs, position = {}, 0
        for name, spec in node_inputs(node_class):
            if is_widget(spec):
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                # the editor sets only the widgets a file has values for; later (newer) widgets keep their default
                value = values[position] if position < len(values) else widget_default(spec)
                position += 1
                if options.get("control_after_generate") or name in ("seed", "noise_seed"):
                    position += 1
                if options.get("image_upload"):
                    position += 1
                inputs[name] = value
            if name in linked:
                link = links[linked[name]]
                inputs[name] = [str(link[1]), link[2]]
        if position < len(values):
            raise AssertionError(f"{node['type']} #{node['id']}: {len(values)} widget values, {position} used")
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt
