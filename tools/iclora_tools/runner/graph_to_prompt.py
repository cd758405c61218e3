"""UI-format workflow -> API-format prompt, made the way the editor's own `graphToPrompt` makes it (ComfyUI frontend
1.27 to 1.58: `src/utils/executionUtil.ts` and litegraph's `ExecutableNodeDTO`), so the runners queue what the
editor would queue for the same file. Plain dict work: no ComfyUI, no torch.

- Muted nodes (mode 2) and bypassed nodes (mode 4) are left out. An input fed by a bypassed node is fed by what
  feeds the bypassed node's matching input instead: the input in the same slot as the output when its type fits,
  else the first input of exactly the input's type, else the first whose type fits; by nothing when none does.
  An input fed by a muted node is dropped, as the editor drops it. Where a node that an output needs loses an
  input that way, `to_api` says so in one line (the editor would queue it and ComfyUI refuse it).
- Reroute nodes pass their input on; notes draw nothing; a PrimitiveNode's value goes into the widgets it feeds.
- Widget values come from `widgets_values` in the editor's widget order (a seed's `control_after_generate` and an
  image's upload button take a place there but are not queued); a widget converted to an input takes its link
  when the link resolves to a node, and keeps its value when it resolves to nothing.
- Subgraphs (the newer frontend's `definitions.subgraphs`, used by nodes whose type is a subgraph's id) are
  flattened: an inner node's id is the path of subgraph node ids down to it and its own, joined by ":" ("12:5").
  The inner nodes of a muted or bypassed subgraph node are left out.
- Group nodes (the older frontend's `extra.groupNodes`, type "workflow>NAME") are flattened as frontend 1.27 does
  (group_nodes.py): inner node i of group node 12 is "12:i", the group node's widget values go to the inner widgets
  they stand for. (Newer frontends turn group nodes into subgraphs on load, with new ids.) A Reroute or
  PrimitiveNode inside a group node is not read: the message says to convert the group node in the editor.

A workflow that cannot be converted raises a WorkflowError naming the node (id, type, title) and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FRONTEND_ONLY = {"MarkdownNote", "Note", "PrimitiveNode", "Reroute"}
"""Node types the editor keeps to itself (virtual nodes): never in a queued prompt."""
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
"""Input types the editor draws as widgets (unless `forceInput`); the schema stand-in reads them from here."""
MUTED, BYPASSED = 2, 4  # litegraph's LGraphEventMode.NEVER and .BYPASS
SUBGRAPH_INPUT, SUBGRAPH_OUTPUT = "-10", "-20"  # the ids of a subgraph's input and output nodes in its links
GROUP_NODE_PREFIXES = ("workflow>", "workflow/")  # a group node's type: "workflow>NAME" ("workflow/" before 1.3)


class WorkflowError(ValueError):
    """A workflow file or an override that cannot be used; the message says which and why."""


RENAMED_STOCK_NODES = (("SaveLoRANode", "SaveLoRA"),)
"""Stock nodes ComfyUI renamed without registering a replacement (Save LoRA Weights: `SaveLoRANode` up to 0.3.x,
`SaveLoRA` in 0.33), same inputs under both ids. A workflow naming either runs as the one the host has; the pack's
editor extension (js/iclora.js, RENAMED_STOCK_NODES) does the same when a workflow is loaded."""


def host_node_type(node_type: str, node_classes) -> str:
    """`node_type`, or the other id of a renamed stock node when only that one is in `node_classes`."""
    if node_type in node_classes:
        return node_type
    for names in RENAMED_STOCK_NODES:
        if node_type in names:
            return next((name for name in names if name in node_classes), node_type)
    return node_type


def node_info(node_class) -> dict:
    """The node's /object_info entry: `node_class` is that entry already, a V3 node class or a V1 node class."""
    if isinstance(node_class, dict):
        return node_class
    if hasattr(node_class, "GET_NODE_INFO_V1"):
        return node_class.GET_NODE_INFO_V1()
    return {"input": node_class.INPUT_TYPES(), "output_node": bool(getattr(node_class, "OUTPUT_NODE", False))}


def node_outputs(node_class) -> list:
    """The node's output types, in slot order."""
    return list(node_info(node_class).get("output") or getattr(node_class, "RETURN_TYPES", ()) or ())


def node_inputs(node_class) -> list[tuple[str, tuple]]:
    """(name, spec) in the order the editor creates widgets: required, then optional. `node_class` is a node
    class or its entry in a server's /object_info."""
    info = node_info(node_class)
    return [(name, tuple(spec)) for section in ("required", "optional")
            for name, spec in info["input"].get(section, {}).items()]


def _options(spec: tuple) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def is_widget(spec: tuple) -> bool:
    kind = spec[0]
    return (isinstance(kind, list) or kind in WIDGET_TYPES) and not _options(spec).get("forceInput")


def widget_default(spec: tuple):
    """The value the editor gives a widget that a saved workflow has no value for."""
    kind, options = spec[0], _options(spec)
    if "default" in options:
        return options["default"]
    if isinstance(kind, list):
        return kind[0] if kind else None
    return options.get("options", [None])[0] if kind == "COMBO" else None


def to_api(workflow: dict, node_classes: dict) -> dict:
    """The API-format prompt of a UI-format `workflow` (without the editor's `_meta` titles, which ComfyUI
    ignores). `node_classes`: node id -> class (ComfyUI's NODE_CLASS_MAPPINGS) or -> /object_info entry."""
    return _Converter(workflow, node_classes).prompt()


# -- the graph as the editor holds it ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Link:
    origin: str
    origin_slot: int
    target: str
    target_slot: int
    type: object


def _read_links(items) -> dict[str, _Link]:
    """Links by id, from the root's arrays [id, origin, slot, target, slot, type] or a subgraph's objects."""
    links = {}
    for item in items or []:
        if isinstance(item, dict):
            key, origin, origin_slot = item.get("id"), item.get("origin_id"), item.get("origin_slot")
            target, target_slot, kind = item.get("target_id"), item.get("target_slot"), item.get("type")
        elif isinstance(item, list) and len(item) >= 5:
            key, origin, origin_slot, target, target_slot = item[:5]
            kind = item[5] if len(item) > 5 else None
        else:
            continue
        links[str(key)] = _Link(str(origin), int(origin_slot), str(target), int(target_slot), kind)
    return links


@dataclass
class _Scope:
    """The root graph, one subgraph definition or one group node's inner graph: its nodes and links by id."""

    nodes: dict[str, dict]
    links: dict[str, _Link]
    definition: dict | None = None  # a subgraph's definition (its inputs and outputs)


@dataclass
class _Placed:
    """A node where the flattened graph has it (the frontend's ExecutableNodeDTO)."""

    node: dict
    scope: _Scope
    path: tuple[str, ...]  # ids of the subgraph (or group) nodes that hold it, outermost first
    host: _Placed | None = None  # the subgraph node it sits in

    @property
    def id(self) -> str:
        return ":".join((*self.path, str(self.node["id"])))

    @property
    def type(self) -> str:
        return str(self.node.get("type"))

    @property
    def mode(self) -> int:
        return self.node.get("mode") or 0

    @property
    def inputs(self) -> list[dict]:
        return [i for i in self.node.get("inputs") or [] if isinstance(i, dict)]

    def describe(self) -> str:
        title = self.node.get("title")
        return f"node {self.id} ({self.type}{f' {title!r}' if title else ''})"


@dataclass(frozen=True)
class _Origin:
    """An input resolved to a node's output."""

    id: str
    slot: int


@dataclass(frozen=True)
class _Value:
    """An input resolved to a widget value (a subgraph node's own widget)."""

    value: object


@dataclass(frozen=True)
class _Nothing:
    """An input resolved to nothing, and why when a user would want to know (None: it was never connected)."""

    why: str | None = None


@dataclass
class _Converter:
    workflow: dict
    classes: dict
    placed: dict[str, _Placed] = field(default_factory=dict)
    subgraphs: dict[str, dict] = field(default_factory=dict)
    group_nodes: dict[str, dict] = field(default_factory=dict)
    group_layouts: dict = field(default_factory=dict)

    def __post_init__(self):
        definitions = self.workflow.get("definitions") or {}
        self.subgraphs = {str(d["id"]): d for d in definitions.get("subgraphs") or [] if isinstance(d, dict)}
        self.group_nodes = dict((self.workflow.get("extra") or {}).get("groupNodes") or {})
        root = _Scope(_nodes_by_id(self.workflow.get("nodes")), _read_links(self.workflow.get("links")))
        self._place(root, (), None, set())

    # -- flattening -------------------------------------------------------------------------------------------

    def _place(self, scope: _Scope, path: tuple[str, ...], host: _Placed | None, inside: set[str]) -> None:
        for node in scope.nodes.values():
            placed = _Placed(node, scope, path, host)
            self.placed[placed.id] = placed
            if placed.mode in (MUTED, BYPASSED):
                continue  # the newer frontend leaves a muted or bypassed subgraph's inner nodes out
            if placed.type in self.subgraphs:
                if placed.type in inside:
                    raise WorkflowError(f"{placed.describe()}: its subgraph contains itself")
                definition = self.subgraphs[placed.type]
                inner = _Scope(_nodes_by_id(definition.get("nodes")), _read_links(definition.get("links")), definition)
                self._place(inner, (*path, str(node["id"])), placed, inside | {placed.type})
            elif self._group_name(placed) is not None:
                self._place_group(placed)

    def _group_name(self, placed: _Placed) -> str | None:
        for prefix in GROUP_NODE_PREFIXES:
            if placed.type.startswith(prefix) and placed.type[len(prefix):] in self.group_nodes:
                return placed.type[len(prefix):]
        return None

    def _place_group(self, placed: _Placed) -> None:
        """A group node's inner nodes as a scope of their own, its inputs playing the part of a subgraph's."""
        from .group_nodes import group_layout

        data = self.group_nodes[self._group_name(placed)]
        for node in data.get("nodes") or []:
            if node.get("type") in FRONTEND_ONLY or node.get("type") not in self.classes:
                why = "a Reroute or PrimitiveNode, which the runner does not read inside group nodes" if \
                    node.get("type") in FRONTEND_ONLY else "a node this ComfyUI does not have"
                raise WorkflowError(f"{placed.describe()}: the group has {why} ({node.get('type')}); in the "
                                    "editor, convert the group node to nodes or to a subgraph, then save")
        layout = group_layout(data, node_inputs, is_widget, node_outputs, self.classes)
        self.group_layouts[placed.id] = layout
        shown = _positional(placed.node.get("widgets_values"), [(name, spec) for _, name, spec in layout.widgets])
        overrides = {(index, name): value for (index, name, _), value in zip(layout.widgets, shown)}
        group_inputs = {(index, slot): k for k, (_, index, slot) in enumerate(layout.inputs)}
        scope = _Scope({}, {}, {"inputs": [{"name": name} for name, _, _ in layout.inputs]})
        for index, saved in enumerate(data.get("nodes") or []):
            widgets = [(name, spec) for name, spec in node_inputs(self.classes[saved["type"]]) if is_widget(spec)]
            own = _positional(saved.get("widgets_values"), widgets)
            values = {name: overrides.get((index, name), value) for (name, _), value in zip(widgets, own)}
            inputs = []
            for slot, entry in enumerate(saved.get("inputs") or []):
                key = f"{index}.{slot}"
                if (index, slot) in layout.inner_links:
                    origin, origin_slot, kind = layout.inner_links[index, slot]
                    scope.links[key] = _Link(str(origin), origin_slot, str(index), slot, kind)
                elif (index, slot) in group_inputs:
                    scope.links[key] = _Link(SUBGRAPH_INPUT, group_inputs[index, slot], str(index), slot, None)
                else:
                    key = None
                inputs.append({**entry, "link": key})
            scope.nodes[str(index)] = {**saved, "id": index, "inputs": inputs, "widgets_values": values}
        for node in scope.nodes.values():
            inner = _Placed(node, scope, (*placed.path, str(placed.node["id"])), placed)
            self.placed[inner.id] = inner

    def _resolve_group_output(self, placed: _Placed, slot: int, kind, visited: set):
        layout = self.group_layouts.get(placed.id)
        if placed.mode == BYPASSED:  # ExecutableGroupNodeDTO: the input in the same slot, else the first, of the type
            for index in (slot, *range(len(placed.inputs))):
                if index < len(placed.inputs) and placed.inputs[index].get("type") == kind:
                    return self.resolve_input(placed, index, visited)
            return _Nothing(f"comes from {placed.describe()}, which is bypassed and has no {kind} input to pass on")
        if layout is None:  # muted: its inner nodes are left out, and so are the links to them
            return _Origin(placed.id, slot)
        if slot >= len(layout.outputs):
            raise WorkflowError(f"{placed.describe()}: output {slot} is used but the group has {len(layout.outputs)}")
        index, inner_slot = layout.outputs[slot]
        return self.resolve_output(self.placed[f"{placed.id}:{index}"], inner_slot, kind, visited)

    def is_virtual(self, placed: _Placed) -> bool:
        return placed.type in FRONTEND_ONLY or placed.type in self.subgraphs or self._group_name(placed) is not None

    # -- resolving links (ExecutableNodeDTO.resolveInput / resolveOutput) --------------------------------------

    def resolve_input(self, placed: _Placed, slot: int, visited: set, kind=None):
        key = ("in", placed.id, slot)
        if key in visited:
            raise WorkflowError(f"{placed.describe()}: its input {slot} is fed by a loop of reroutes or bypassed "
                                "nodes")
        visited.add(key)
        entry = placed.inputs[slot]
        if entry.get("link") is None:
            return _Nothing()
        link = placed.scope.links.get(str(entry["link"]))
        if link is None:
            raise WorkflowError(f"{placed.describe()}: input {entry.get('name')!r} names link {entry['link']}, "
                                "which the file does not have")
        if placed.host is not None and link.origin == SUBGRAPH_INPUT:
            return self._resolve_subgraph_input(placed, link, visited)
        origin = self.placed.get(":".join((*placed.path, link.origin)))
        if origin is None:
            raise WorkflowError(f"{placed.describe()}: input {entry.get('name')!r} comes from node {link.origin}, "
                                "which the file does not have")
        return self.resolve_output(origin, link.origin_slot, kind if kind is not None else entry.get("type"),
                                   visited)

    def resolve_output(self, placed: _Placed, slot: int, kind, visited: set):
        key = ("out", placed.id, slot)
        if key in visited:
            raise WorkflowError(f"{placed.describe()}: its output {slot} feeds a loop of reroutes or bypassed nodes")
        visited.add(key)
        if self._group_name(placed) is not None:
            return self._resolve_group_output(placed, slot, kind, visited)
        if placed.mode == BYPASSED:
            index = self._bypass_slot(placed, slot, kind)
            if index == -1:
                return _Nothing(f"comes from {placed.describe()}, which is bypassed and has no {kind} input to "
                                "pass on")
            resolved = self.resolve_input(placed, index, visited)
            if resolved == _Nothing():
                name = placed.inputs[index].get("name")
                return _Nothing(f"comes from {placed.describe()}, which is bypassed, and its input {name!r} that "
                                "would pass on is not connected")
            return resolved
        if placed.type in self.subgraphs:
            return self._resolve_subgraph_output(placed, slot, kind, visited)
        if self.is_virtual(placed):
            if slot < len(placed.inputs):
                return self.resolve_input(placed, slot, visited, kind)
            return _Nothing()  # a PrimitiveNode: its value went into the widget already
        return _Origin(placed.id, slot)

    def _bypass_slot(self, placed: _Placed, slot: int, kind) -> int:
        """ExecutableNodeDTO's #getBypassSlotIndex: which input a bypassed node passes on for output `slot`."""
        inputs = placed.inputs
        outputs = placed.node.get("outputs") or []
        output_type = outputs[slot].get("type") if slot < len(outputs) else None
        if kind in ("*", "", None):
            return slot if len(inputs) > slot else (0 if inputs else -1)
        if slot < len(inputs) and valid_connection(inputs[slot].get("type"), output_type) \
                and valid_connection(inputs[slot].get("type"), kind):
            return slot
        for index, entry in enumerate(inputs):
            if entry.get("type") == kind:
                return index
        for index, entry in enumerate(inputs):
            if valid_connection(entry.get("type"), output_type) and valid_connection(entry.get("type"), kind):
                return index
        return -1

    def _resolve_subgraph_input(self, placed: _Placed, link: _Link, visited: set):
        """A link from a subgraph's input node: what feeds the subgraph node's input of that name, or the subgraph
        node's own widget value when nothing does."""
        host = placed.host
        definition_inputs = placed.scope.definition.get("inputs") or []
        if link.origin_slot >= len(definition_inputs):
            raise WorkflowError(f"{placed.describe()}: fed by input {link.origin_slot} of its subgraph, which has "
                                f"{len(definition_inputs)} inputs")
        name = definition_inputs[link.origin_slot].get("name")
        for index, entry in enumerate(host.inputs):
            if entry.get("name") == name and entry.get("link") is not None:
                return self.resolve_input(host, index, visited)
        if host.id in self.group_layouts:  # its widget values are in the inner widgets already
            named = any(entry.get("name") == name for entry in host.inputs)
            if not named and link.origin_slot < len(host.inputs):  # saved under other names: inputs are in order
                return self.resolve_input(host, link.origin_slot, visited)
            return _Nothing()
        return self._promoted_value(host, placed.scope, link.origin_slot)

    @staticmethod
    def _promoted_value(host: _Placed, scope: _Scope, index: int):
        """A subgraph input with nothing connected outside that feeds an inner widget is a widget of the subgraph
        node: its value is in the subgraph node's `widgets_values`, one per such input, in input order (the saved
        node lists no input for it)."""
        def feeds_a_widget(k: int) -> bool:
            for link in scope.links.values():
                target = scope.nodes.get(link.target)
                if link.origin == SUBGRAPH_INPUT and link.origin_slot == k and target is not None:
                    entries = target.get("inputs") or []
                    if link.target_slot < len(entries) and isinstance(entries[link.target_slot].get("widget"), dict):
                        return True
            return False

        values = host.node.get("widgets_values")
        widget_inputs = [k for k in range(len(scope.definition.get("inputs") or [])) if feeds_a_widget(k)]
        if index not in widget_inputs or not isinstance(values, list):
            return _Nothing()
        position = widget_inputs.index(index)
        return _Value(values[position]) if position < len(values) else _Nothing()

    def _resolve_subgraph_output(self, placed: _Placed, slot: int, kind, visited: set):
        definition = self.subgraphs[placed.type]
        outputs = definition.get("outputs") or []
        if slot >= len(outputs):
            raise WorkflowError(f"{placed.describe()}: output {slot} is used but its subgraph has {len(outputs)}")
        scope_links = _read_links(definition.get("links"))
        ids = [str(i) for i in outputs[slot].get("linkIds") or []]
        links = [scope_links[i] for i in ids if i in scope_links] or \
            [lk for lk in scope_links.values() if lk.target == SUBGRAPH_OUTPUT and lk.target_slot == slot]
        if not links:
            return _Nothing(f"comes from output {slot} of {placed.describe()}, which nothing inside feeds")
        inner = self.placed.get(":".join((*placed.path, str(placed.node["id"]), links[0].origin)))
        if inner is None:
            return _Origin(placed.id, slot)  # a muted subgraph: dropped with it, and said so if needed
        return self.resolve_output(inner, links[0].origin_slot, kind, visited)

    # -- the prompt --------------------------------------------------------------------------------------------

    def prompt(self) -> dict:
        output, lost = {}, {}
        for placed in self.placed.values():
            if self.is_virtual(placed) or placed.mode in (MUTED, BYPASSED):
                continue
            kind = host_node_type(placed.type, self.classes)
            node_class = self.classes.get(kind)
            if node_class is None:
                raise WorkflowError(f"{placed.describe()}: this ComfyUI has no such node (a custom node pack "
                                    "missing there?)")
            inputs = self.widget_values(placed, node_class)
            for slot, entry in enumerate(placed.inputs):
                resolved = self.resolve_input(placed, slot, set())
                if isinstance(resolved, _Origin):
                    inputs[entry["name"]] = [resolved.id, resolved.slot]
                elif isinstance(resolved, _Value):
                    inputs[entry["name"]] = _wrap(resolved.value)
                elif resolved.why:
                    lost[(placed.id, entry["name"])] = resolved.why
            output[placed.id] = {"class_type": kind, "inputs": inputs}
        for node_id, node in output.items():  # the editor drops links to nodes that are not queued: muted ones
            for name, value in list(node["inputs"].items()):
                if isinstance(value, list) and len(value) == 2 and value[0] not in output:
                    del node["inputs"][name]
                    lost[(node_id, name)] = f"comes from {self.placed[value[0]].describe()}, which is muted"
        self.check_needed_inputs(output, lost)
        return output

    def widget_values(self, placed: _Placed, node_class) -> dict:
        """The node's widget values by name, as the editor reads `widgets_values` into its widgets."""
        saved = placed.node.get("widgets_values")
        widgets = [(name, spec) for name, spec in node_inputs(node_class) if is_widget(spec)]
        if isinstance(saved, dict):  # some nodes save their widgets by name (and group nodes' inner nodes here)
            values = {name: saved.get(name, widget_default(spec)) for name, spec in widgets}
        else:
            values = dict(zip((name for name, _ in widgets), _positional(saved, widgets)))
        for entry in placed.inputs:  # a PrimitiveNode writes its value into the widgets it feeds (applyToGraph)
            widget = entry.get("widget")
            link = placed.scope.links.get(str(entry.get("link")))
            if isinstance(widget, dict) and link is not None:
                source = placed.scope.nodes.get(link.origin)
                if source is not None and source.get("type") == "PrimitiveNode" and source.get("widgets_values"):
                    values[widget.get("name", entry.get("name"))] = source["widgets_values"][0]
        return {name: _wrap(value) for name, value in values.items()}

    def check_needed_inputs(self, output: dict, lost: dict) -> None:
        """A node an output needs that lost a required input to a muted or bypassed node: one line saying which."""
        needed = [node_id for node_id, node in output.items()
                  if node_info(self.classes[node["class_type"]]).get("output_node")]
        seen = set()
        while needed:
            node_id = needed.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            node = output[node_id]
            required = node_info(self.classes[node["class_type"]])["input"].get("required", {})
            for name in required:
                if name not in node["inputs"] and (node_id, name) in lost:
                    raise WorkflowError(f"{self.placed[node_id].describe()}: input {name!r} {lost[node_id, name]}; "
                                        "turn that node back on or connect the input to another node")
            needed += [value[0] for value in node["inputs"].values() if isinstance(value, list) and len(value) == 2]


def _positional(saved, widgets: list[tuple[str, tuple]]) -> list:
    """Widget values from a saved `widgets_values` list, one per (name, spec), as the editor reads them: a seed's
    `control_after_generate` and an image's upload button take a place in the list but are not values; a widget
    added after the file was saved takes its default."""
    saved = list(saved or []) if isinstance(saved, list) else []
    values, position = [], 0
    for name, spec in widgets:
        values.append(saved[position] if position < len(saved) else widget_default(spec))
        position += 1
        if _options(spec).get("control_after_generate") or name in ("seed", "noise_seed"):
            position += 1
        if _options(spec).get("image_upload"):
            position += 1
    return values


def _nodes_by_id(nodes) -> dict[str, dict]:
    return {str(n["id"]): n for n in nodes or [] if isinstance(n, dict) and "id" in n}


def _wrap(value):
    """The editor sends a list-valued widget as {"__value__": [...]}: a bare list would read as a link."""
    return {"__value__": value} if isinstance(value, list) else value


def valid_connection(a, b) -> bool:
    """LiteGraph.isValidConnection: "*", "" and no type fit anything; "A,B" lists fit when one of them does."""
    a = 0 if a in ("", "*") else a
    b = 0 if b in ("", "*") else b
    if not a or not b or a == b:
        return True
    a, b = str(a).lower(), str(b).lower()
    if "," not in a and "," not in b:
        return a == b
    return any(valid_connection(x, y) for x in a.split(",") for y in b.split(","))
