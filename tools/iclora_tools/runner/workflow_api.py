"""What the runners read from a workflow and the edits they make to its API-format prompt.

`to_api` (graph_to_prompt.py, the editor's own conversion) takes the node schemas either as ComfyUI's node classes
(in-process) or as a server's `/object_info` (over HTTP). `workflow_facts` reads what the runners check before
anything starts (from the UI file alone); `apply_overrides` sets the user's texts, seed and images by input name.
Plain dict work: no ComfyUI, no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import import_pack
from .graph_to_prompt import (  # noqa: F401  (the converter's names, for those who import them from here)
    FRONTEND_ONLY,
    WorkflowError,
    host_node_type,
    is_widget,
    node_inputs,
    to_api,
)

BUILDER = "ICLoRA_JointPromptBuilder"
CONCATENATE = "ICLoRA_PanelConcatenate"
SPLIT = "ICLoRA_PanelSplit"
SAMPLERS = ("ICLoRA_InContextSampler", "KSampler")  # nodes whose `seed` and `steps` the runners set
import_pack()
from iclora_pack.nodes.core.prompts import MAX_PANEL_TEXTS  # noqa: E402  (the builder's panel_N boxes)


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
