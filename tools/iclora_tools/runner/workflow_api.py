"""UI-format workflow -> API-format prompt, done the way the frontend does it, and the edits the runners make to it.

`to_api` takes the node schemas either as ComfyUI's node classes (in-process) or as a server's `/object_info`
(over HTTP). `workflow_facts` reads what the runners check before anything starts (from the UI file alone);
`apply_overrides` sets the user's texts, seed and images by input name. Plain dict work: no ComfyUI, no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

FRONTEND_ONLY = {"MarkdownNote", "Note", "PrimitiveNode", "Reroute"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
BUILDER = "ICLoRA_JointPromptBuilder"
CONCATENATE = "ICLoRA_PanelConcatenate"
SPLIT = "ICLoRA_PanelSplit"
SAMPLERS = ("ICLoRA_InContextSampler", "KSampler")  # nodes whose `seed` and `steps` the runners set
MAX_PANEL_TEXTS = 8  # panel_1 ... panel_8 on the Joint Prompt Builder


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


class WorkflowError(ValueError):
    """A workflow file or an override that cannot be used; the message says which and why."""


SKIPPED_MODES = (2, 4)
"""Muted (2) and bypassed (4) nodes: the editor leaves them out of the prompt it queues."""


def node_inputs(node_class) -> list[tuple[str, tuple]]:
    """(name, spec) in the order the editor creates widgets: required, then optional. `node_class` is a node
    class or its entry in a server's /object_info."""
    if isinstance(node_class, dict):
        info = node_class
    elif hasattr(node_class, "GET_NODE_INFO_V1"):
        info = node_class.GET_NODE_INFO_V1()
    else:
        info = {"input": node_class.INPUT_TYPES()}
    return [(name, tuple(spec)) for section in ("required", "optional")
            for name, spec in info["input"].get(section, {}).items()]


def is_widget(spec: tuple) -> bool:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return (isinstance(kind, list) or kind in WIDGET_TYPES) and not options.get("forceInput")


def widget_default(spec: tuple):
    """The value the editor gives a widget that a saved workflow has no value for."""
    kind, options = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    if "default" in options:
        return options["default"]
    if isinstance(kind, list):
        return kind[0] if kind else None
    return options.get("options", [None])[0] if kind == "COMBO" else None


def to_api(workflow: dict, node_classes: dict) -> dict:
    """`node_classes`: node id -> class (ComfyUI's NODE_CLASS_MAPPINGS) or -> /object_info entry."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    skipped = {n["id"] for n in workflow["nodes"] if n.get("mode") in SKIPPED_MODES}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY or node["id"] in skipped:
            continue
        kind = host_node_type(node["type"], node_classes)
        if kind not in node_classes:
            raise WorkflowError(f"node #{node['id']} is a {node['type']}, which this ComfyUI does not have "
                                "(a custom node pack missing there?)")
        linked = {i["name"]: i["link"] for i in node.get("inputs", []) if i.get("link") is not None}
        values = list(node.get("widgets_values", []))
        inputs, position = {}, 0
        for name, spec in node_inputs(node_classes[kind]):
            if is_widget(spec):
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                if position < len(values):
                    value = values[position]
                else:  # saved before this input existed: the editor keeps the input's default
                    value = widget_default(spec)
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
        if position < len(values):
            raise AssertionError(f"{node['type']} #{node['id']}: {len(values)} widget values, {position} used")
        prompt[str(node["id"])] = {"class_type": kind, "inputs": inputs}
    return prompt


@dataclass
class WorkflowFacts:
    """What a UI-format workflow offers to the runners' overrides, read without ComfyUI."""

    panels: int | None  # panels on the canvas (None when there is not exactly one Panel Concatenate)
    has_builder: bool
    has_sampler: bool
    image_loaders: list[str] = field(default_factory=list)  # LoadImage titles, in node id order


def read_workflow(path: Path) -> dict:
    """A UI-format workflow from `path`, or a WorkflowError saying why it cannot be one."""
    try:
        workflow = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise WorkflowError(f"{path}: cannot be read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WorkflowError(f"{path}: is not a JSON file ({error})") from None
    if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list) or "links" not in workflow:
        hint = (" It looks like an API-format prompt; give the workflow as the editor saves it (Save, not Export "
                "(API))." if isinstance(workflow, dict) and any(isinstance(v, dict) and "class_type" in v
                                                                 for v in workflow.values()) else "")
        raise WorkflowError(f"{path}: is not a ComfyUI workflow (no 'nodes' and 'links').{hint}")
    return workflow


def workflow_facts(workflow: dict) -> WorkflowFacts:
    nodes = [n for n in workflow["nodes"] if isinstance(n, dict)]
    concatenates = [n for n in nodes if n.get("type") == CONCATENATE]
    panels = None
    if len(concatenates) == 1:
        node = concatenates[0]
        images = sum(1 for i in node.get("inputs", []) if str(i.get("name", "")).startswith("image_")
                     and i.get("link") is not None)
        values = node.get("widgets_values") or [0]
        slots = values[0] if isinstance(values[0], int) else 0  # output_slots is Panel Concatenate's first widget
        panels = images + slots
    loaders = sorted((n for n in nodes if n.get("type") == "LoadImage"), key=lambda n: n.get("id", 0))
    return WorkflowFacts(panels=panels, has_builder=any(n.get("type") == BUILDER for n in nodes),
                         has_sampler=any(n.get("type") in SAMPLERS for n in nodes),
                         image_loaders=[n.get("title") or f"Load Image #{n.get('id')}" for n in loaders])


def override_problems(facts: WorkflowFacts, summary: str | None = None, panels: dict[int, str] | None = None,
                      seed: int | None = None, steps: int | None = None, images: int = 0) -> list[str]:
    """Every override that would change nothing or name a panel the canvas does not have, in words."""
    problems = []
    panels = panels or {}
    if (summary is not None or panels) and not facts.has_builder:
        problems.append("the workflow has no Joint Prompt Builder, so a summary or panel text would change nothing")
    for number in sorted(panels):
        limit = min(facts.panels, MAX_PANEL_TEXTS) if facts.panels else MAX_PANEL_TEXTS
        if not 1 <= number <= limit:
            where = f"the workflow's canvas has {facts.panels} panels" if facts.panels else \
                f"panels are numbered 1 to {MAX_PANEL_TEXTS}"
            problems.append(f"panel {number} does not exist: {where}")
    if (seed is not None or steps is not None) and not facts.has_sampler:
        problems.append("the workflow has no In-Context Sampler or KSampler, so a seed or steps would change nothing")
    if images > len(facts.image_loaders):
        have = f"{len(facts.image_loaders)} Load Image node(s)" if facts.image_loaders else "no Load Image node " \
            "(a text-only workflow: use its -reference twin for your images)"
        problems.append(f"{images} reference image(s) given but the workflow has {have}")
    return problems


def apply_overrides(prompt: dict, summary: str | None = None, panels: dict[int, str] | None = None,
                    seed: int | None = None, steps: int | None = None, images: list[str] = ()) -> None:
    """Set the overrides by input name in an API-format prompt; `images` are input-folder names for the Load
    Image nodes in node id order."""
    loaders = sorted((k for k, n in prompt.items() if n["class_type"] == "LoadImage"), key=_node_order)
    for node_id, name in zip(loaders, images):
        prompt[node_id]["inputs"]["image"] = name
    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == BUILDER:
            if summary is not None:
                inputs["summary"] = summary
            for number, text in (panels or {}).items():
                inputs[f"panel_{number}"] = text
        elif kind in SAMPLERS:
            if seed is not None:
                inputs["seed"] = seed
            if steps is not None:
                inputs["steps"] = steps


def _node_order(node_id: str):
    return (0, int(node_id)) if node_id.isdigit() else (1, node_id)


@dataclass
class SetShape:
    """Where each panel sits and what it is: roles ('input'/'output') in reading order, and the grid."""

    roles: list[str]
    rows: int
    cols: int


def set_shape(prompt: dict, parse_order, grid_shape) -> SetShape | None:
    """The canvas's panel roles and grid from the prompt's one Panel Concatenate, with the pack's own
    `parse_order` and `grid_shape` (passed in, so this module needs no pack import). None when unclear."""
    concatenates = [n for n in prompt.values() if n["class_type"] == CONCATENATE]
    if len(concatenates) != 1:
        return None
    inputs = concatenates[0]["inputs"]
    n_in = sum(1 for k, v in inputs.items() if k.startswith("image_") and isinstance(v, list))
    n_out = int(inputs.get("output_slots", 0))
    try:
        roles = parse_order(str(inputs.get("order", "")), n_in, n_out)
        rows, cols = grid_shape(len(roles), inputs.get("arrangement", "row"), int(inputs.get("grid_rows", 0)),
                                int(inputs.get("grid_cols", 0)))
    except ValueError:
        return None
    return SetShape(list(roles), rows, cols)


def show_every_panel(prompt: dict) -> bool:
    """Make Panel Split return the whole set (references too) so a contact sheet can show it; True if it did."""
    splits = [n for n in prompt.values() if n["class_type"] == SPLIT]
    for node in splits:
        node["inputs"]["select"] = "all"
    return len(splits) == 1


def saved_image_nodes(prompt: dict) -> list[str]:
    return sorted((k for k, n in prompt.items() if n["class_type"] == "SaveImage"), key=_node_order)
