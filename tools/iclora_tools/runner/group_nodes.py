"""Group nodes (the older frontend's `extra.groupNodes`, deprecated since subgraphs) read the way frontend 1.27's
`GroupNodeConfig` builds them: which inner inputs the group node shows as its own inputs and widgets, in what order
and under what names, and which inner outputs it shows as its own. `graph_to_prompt.py` flattens a group node with
this: its inner node i becomes node "<group node id>:i".

A group's saved data: `nodes` (inner nodes, in order; their index is their id), `links` ([origin index, origin
slot, target index, target slot, ..., type]), `external` ([index, slot, type]: inner outputs also used outside),
and optionally `config` (per inner node: inputs and outputs renamed or hidden).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GroupLayout:
    """A group node's faces: `inputs` [(name, inner index, inner slot)] in slot order, `widgets` [(inner index,
    input name, spec)] in widget order, `outputs` [(inner index, inner slot)] in slot order, and the links between
    inner nodes by (target index, target slot) -> (origin index, origin slot, type)."""

    inputs: list[tuple[str, int, int]] = field(default_factory=list)
    widgets: list[tuple[int, str, tuple]] = field(default_factory=list)
    outputs: list[tuple[int, int]] = field(default_factory=list)
    inner_links: dict[tuple[int, int], tuple[int, int, object]] = field(default_factory=dict)


def group_layout(data: dict, node_inputs, is_widget, node_outputs, classes: dict) -> GroupLayout:
    """The group's layout from its saved data and the inner nodes' schemas (`classes`: type -> class or
    /object_info entry); the schema readers are passed in by graph_to_prompt.py."""
    nodes = data.get("nodes") or []
    layout = GroupLayout()
    links_from: dict[tuple[int, int], list] = {}
    for link in data.get("links") or []:
        if link[0] is None:
            continue
        origin, origin_slot, target, target_slot = (int(x) for x in link[:4])
        layout.inner_links[target, target_slot] = (origin, origin_slot, link[5] if len(link) > 5 else None)
        links_from.setdefault((origin, origin_slot), []).append(link)
    external = {(int(e[0]), int(e[1])) for e in data.get("external") or []}
    config = data.get("config") or {}
    seen: dict[str, int] = {}
    converted_later = []
    for index, node in enumerate(nodes):
        schema = node_inputs(classes[node["type"]])
        custom = (config.get(str(index)) or config.get(index) or {})
        saved_inputs = node.get("inputs") or []
        # a widget the saved inner node has as an input (every widget, from frontend 1.16 on) is "converted"
        converted = {i: entry["name"] for i, entry in enumerate(saved_inputs)
                     if isinstance(entry.get("widget"), dict) and entry["widget"].get("name") == entry.get("name")}
        specs = dict(schema)
        slots = []
        for name, spec in schema:
            if not is_widget(spec):
                slots.append(name)
            elif name not in converted.values():
                _input_name(node, name, custom, seen)
                layout.widgets.append((index, name, spec))
        for slot, name in enumerate(slots):
            if (index, slot) in layout.inner_links:
                continue
            shown = _input_name(node, name, custom, seen)
            if ((custom.get("input") or {}).get(name) or {}).get("visible") is False:
                continue
            layout.inputs.append((shown, index, slot))
        # JavaScript's default sort: the input indexes as strings ("10" before "2"), as GroupNodeConfig has it
        order = [converted[k] for k in sorted(converted, key=str)]
        converted_later.append((index, node, custom, len(slots), [(name, specs.get(name)) for name in order]))
        for slot, _ in enumerate(node_outputs(classes[node["type"]])):
            linked = (index, slot) in links_from and (index, slot) not in external
            visible = ((custom.get("output") or {}).get(str(slot)) or {}).get("visible", not linked)
            if visible:
                layout.outputs.append((index, slot))
    for index, node, custom, first, widgets in converted_later:  # after every node, as the frontend does
        for k, (name, spec) in enumerate(widgets):
            if (index, first + k) in layout.inner_links or spec is None:
                continue
            layout.inputs.append((_input_name(node, name, custom, seen), index, first + k))
            layout.widgets.append((index, name, spec))  # a widget with an input socket on the group node
    return layout


def _input_name(node: dict, name: str, custom: dict, seen: dict[str, int]) -> str:
    """The name the group node shows for an inner input: its custom or label name, made unique with the inner
    node's title (GroupNodeConfig.getInputConfig)."""
    shown = ((custom.get("input") or {}).get(name) or {}).get("name") or next(
        (i.get("label") for i in node.get("inputs") or [] if i.get("name") == name and i.get("label")), name)
    key = shown
    if shown in seen:
        prefix = f"{node.get('title') or node['type']} "
        key = shown = f"{prefix}{name}"
        if shown in seen:
            shown = f"{prefix}{seen[shown]} {name}"
    seen[key] = seen.get(key, 1) + 1
    return shown
