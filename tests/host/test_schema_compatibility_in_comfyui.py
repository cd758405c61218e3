"""Saved workflows keep working: the previous release's shipped workflows load and validate against this pack, and
the compatibility guard's stand-in (maintain/schema_standin.py, used by the unit tier) reads the schemas exactly as
ComfyUI does.

tests/fixtures/previous_release/ holds the workflows of release 0.1.0 as shipped (`git show` of main's
workflows/*.json before the 0.2 changes); they are never regenerated. When a release ships, copy its workflows there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from iclora_tools import tools_importable_env
from iclora_tools.runner.workflow_api import FRONTEND_ONLY, is_widget, node_inputs, to_api
from pack_facts import skip_without_comfyui
from safetensors.torch import save_file

skip_without_comfyui()

ROOT = Path(__file__).resolve().parents[2]
PREVIOUS = sorted((ROOT / "tests" / "fixtures" / "previous_release").glob("*.json"))


@pytest.fixture(scope="module")
def previous_models(comfy):
    """The model files the old workflows name (empty stand-ins: validation checks names, not weights)."""
    for workflow in PREVIOUS:
        for model in json.loads(workflow.read_text()).get("models", []):
            path = comfy.models_dir / model["directory"] / model["name"]
            if not path.exists():
                save_file({}, str(path))
    return comfy.models_dir


def test_previous_release_workflows_are_kept():
    assert len(PREVIOUS) == 20


def as_the_editor_loads(workflow: dict, classes: dict) -> tuple[dict, list[str]]:
    """The workflow with each node's saved widget values laid over today's widgets by position, as the editor's
    `configure` does: widgets added since (after the last saved one) keep their defaults. Returns the workflow and
    the widgets that took a default."""
    workflow = json.loads(json.dumps(workflow))
    defaulted = []
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY or node["type"] not in classes:
            continue
        widgets = []
        for name, spec in node_inputs(classes[node["type"]]):
            if is_widget(spec):
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                default = options.get("default", (spec[0] or [None])[0] if isinstance(spec[0], list) else None)
                if default is None and spec[0] == "COMBO":
                    default = (options.get("options") or [None])[0]
                widgets.append((name, default))
                if options.get("control_after_generate") or name in ("seed", "noise_seed"):
                    widgets.append((f"{name} (control after generate)", "fixed"))
        values = node.get("widgets_values", [])
        for name, default in widgets[len(values):]:
            values.append(default)
            defaulted.append(f"{node['type']}.{name}")
    return workflow, defaulted


@pytest.mark.parametrize("path", PREVIOUS, ids=[p.stem for p in PREVIOUS])
def test_previous_release_workflow_validates(comfy, previous_models, path):
    """Widget values are read by position against today's widgets (as the editor does), links by input name."""
    workflow, defaulted = as_the_editor_loads(json.loads(path.read_text()), comfy.nodes.NODE_CLASS_MAPPINGS)
    if defaulted:
        print(f"{path.stem}: new widgets take their defaults: {sorted(set(defaulted))}")
    prompt = to_api(workflow, comfy.nodes.NODE_CLASS_MAPPINGS)
    valid, node_errors, outputs = comfy.validate(prompt)
    assert node_errors == {} and valid, node_errors
    assert outputs


@pytest.mark.parametrize("path", PREVIOUS, ids=[p.stem for p in PREVIOUS])
def test_previous_release_links_still_fit(comfy, path):
    """Every saved link still ends on an input of that name and starts on an output slot of the same type: an
    optional input that was renamed would otherwise be dropped silently."""
    workflow = json.loads(path.read_text())
    classes = comfy.nodes.NODE_CLASS_MAPPINGS
    nodes = {node["id"]: node for node in workflow["nodes"]}
    checked = 0
    for link_id, origin, slot, target, _, link_type in workflow["links"]:
        source, sink = nodes[origin], nodes[target]
        if source["type"] in FRONTEND_ONLY or sink["type"] in FRONTEND_ONLY:
            continue
        name = next(i["name"] for i in sink["inputs"] if i.get("link") == link_id)
        specs = dict(node_inputs(classes[sink["type"]]))
        assert name in specs, f"{path.stem}: {sink['type']} has no input '{name}' any more"
        returns = classes[source["type"]].RETURN_TYPES
        assert slot < len(returns) and returns[slot] == link_type, \
            f"{path.stem}: {source['type']} output {slot} is now {returns[slot:slot + 1]}, was {link_type}"
        checked += 1
    assert checked >= 8


def _from_comfyui(path: str):
    """`comfy.samplers.KSampler.SAMPLERS` -> that value in the running ComfyUI."""
    import importlib

    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise AssertionError(f"{path} is not in ComfyUI")


def test_standin_reads_the_schemas_as_comfyui_does(comfy):
    """The unit tier's guard is only as good as its stand-in: compare it with ComfyUI's real schema objects."""
    from iclora_tools.maintain import schema_snapshot
    from iclora_tools.maintain.schema_standin import describe_node

    ours = {node_id: cls for node_id, cls in comfy.nodes.NODE_CLASS_MAPPINGS.items() if node_id.startswith("ICLoRA_")}
    real = json.loads(json.dumps({node_id: describe_node(cls.GET_SCHEMA()) for node_id, cls in ours.items()}))
    standin = _standin_in_subprocess()
    assert sorted(real) == sorted(standin) and len(real) >= 5
    for node_id, node in standin.items():
        for item, real_item in zip(node["inputs"], real[node_id]["inputs"]):
            source = item.get("options")
            if isinstance(source, dict):  # an option list the node takes from ComfyUI: the real one, resolved
                tail = source.get("then", [])
                if source["from_comfyui"].endswith("()"):  # a call, e.g. a model folder's files: this install's
                    assert real_item["options"][len(real_item["options"]) - len(tail):] == tail, item["name"]
                else:
                    assert real_item["options"] == list(_from_comfyui(source["from_comfyui"])) + tail, item["name"]
                real_item["options"] = source
    assert schema_snapshot.public_schema(real) == schema_snapshot.public_schema(standin)
    assert real == standin  # display names, descriptions and tooltips too (the English locale is built from them)


_CACHE: dict = {}


def _standin_in_subprocess() -> dict:
    """The stand-in refuses to run where ComfyUI is imported (as here), so read the source in a fresh process."""
    if "schemas" not in _CACHE:
        import subprocess

        script = ("import json, sys; from pathlib import Path; "
                  "from iclora_tools.maintain.schema_standin import read_schemas; "
                  "print(json.dumps(read_schemas(Path(sys.argv[1]))))")
        run = subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True,
                             timeout=300, env=tools_importable_env())
        assert run.returncode == 0, run.stderr[-3000:]
        _CACHE["schemas"] = json.loads(run.stdout)
    return _CACHE["schemas"]
