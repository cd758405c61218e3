"""The compatibility guard: a node schema change that would break saved workflows fails here unless it is recorded
on purpose (a new schema version in schema/snapshot.json with a migration note in schema/CHANGES.md).

The schemas are read from the source through a stand-in for ComfyUI (maintain/schema_standin.py): no ComfyUI import.
"""

from __future__ import annotations

import copy
import shutil
import sys
import warnings
from pathlib import Path

import pytest
from iclora_tools.maintain import schema_snapshot
from iclora_tools.maintain.schema_standin import read_schemas

ROOT = Path(__file__).resolve().parents[2]

HOW_TO = ("If the change is intended, add a '## Schema <n>' section to schema/CHANGES.md (what changed, how users "
          "migrate their workflows) and run `python tools/schema_snapshot.py --update`.")


@pytest.fixture(scope="module")
def snapshot() -> dict:
    return schema_snapshot.load_snapshot()


@pytest.fixture(scope="module")
def current() -> dict:
    return schema_snapshot.current_schema()


def test_source_schema_keeps_every_saved_workflow_working(snapshot, current):
    breaking, additive = schema_snapshot.compare(snapshot["nodes"], current)
    assert not breaking, "changes that break saved workflows:\n  " + "\n  ".join(breaking) + "\n" + HOW_TO
    for change in additive:  # allowed, shown in the test summary until `--update` records them
        warnings.warn(f"schema change not in the snapshot yet (run tools/schema_snapshot.py --update): {change}",
                      stacklevel=1)


def test_every_schema_version_has_a_migration_note(snapshot):
    notes = schema_snapshot.migration_notes()
    missing = [v for v in range(1, snapshot["schema_version"] + 1) if not notes.get(v)]
    assert not missing, f"schema/CHANGES.md has no '## Schema <n>' note for version(s) {missing}"


def test_snapshot_file_is_what_the_tool_writes(snapshot):
    text = (ROOT / "schema" / "snapshot.json").read_text(encoding="utf-8")
    assert text == schema_snapshot.snapshot_document(snapshot["schema_version"], snapshot["nodes"]), \
        "schema/snapshot.json was edited by hand; regenerate it with tools/schema_snapshot.py --update"


def host_nodes(pack: Path) -> Path:
    return pack / "nodes" / "host"


def _pack_copy(tmp_path: Path) -> Path:
    target = tmp_path / "pack"
    target.mkdir()
    shutil.copy(ROOT / "__init__.py", target / "__init__.py")
    shutil.copytree(ROOT / "nodes", target / "nodes", ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {path.name} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_renaming_an_input_in_the_source_fails_the_guard(tmp_path, current):
    """The guard reads the real source: rename Output Slot Mask's `grow` in a copy of the pack and it objects.
    (Compared with the unedited source, so changes not yet in the snapshot do not interfere.)"""
    pack = _pack_copy(tmp_path)
    _edit(host_nodes(pack) / "panel_nodes.py", 'io.Int.Input("grow",', 'io.Int.Input("grow_px",')
    breaking, _ = schema_snapshot.compare(current, schema_snapshot.public_schema(read_schemas(pack)))
    assert "ICLoRA_OutputSlotMask: input 'grow' removed or renamed" in breaking
    assert any("ICLoRA_OutputSlotMask: new required input 'grow_px'" in line for line in breaking)


def test_changing_a_default_or_dropping_an_option_in_the_source_fails_the_guard(tmp_path, current):
    pack = _pack_copy(tmp_path)
    _edit(host_nodes(pack) / "sampler_node.py", 'io.Int.Input("steps", default=20,',
          'io.Int.Input("steps", default=28,')
    _edit(host_nodes(pack) / "shared_inputs.py", 'io.Combo.Input("fit", options=list(FIT_MODES),',
          'io.Combo.Input("fit", options=[m for m in FIT_MODES if m != "stretch"],')
    breaking, _ = schema_snapshot.compare(current, schema_snapshot.public_schema(read_schemas(pack)))
    assert "ICLoRA_InContextSampler: input 'steps' changed default 20 -> 28" in breaking
    assert "ICLoRA_PanelConcatenate: input 'fit' lost options ['stretch']" in breaking
    assert "ICLoRA_PanelSetDataset: input 'fit' lost options ['stretch']" in breaking  # one input, both nodes


def test_a_new_optional_input_in_the_source_passes_and_is_reported(tmp_path, current):
    pack = _pack_copy(tmp_path)
    _edit(host_nodes(pack) / "panel_nodes.py", 'io.Boolean.Input("invert", default=False, tooltip="Mask the kept '
          'panels instead."),', 'io.Boolean.Input("invert", default=False, tooltip="Mask the kept panels '
          'instead."),\n                io.Mask.Input("extra_mask", optional=True, tooltip="x"),')
    breaking, additive = schema_snapshot.compare(current, schema_snapshot.public_schema(read_schemas(pack)))
    assert breaking == []
    assert additive == ["ICLoRA_OutputSlotMask: new optional input 'extra_mask'"]


def test_reading_the_source_leaves_no_comfyui_module_behind():
    def comfyui_modules() -> set[str]:
        return {m for m in sys.modules if m.split(".")[0] in ("comfy", "comfy_api", "comfy_execution",
                                                             "folder_paths", "node_helpers")}

    before = comfyui_modules()  # the real ones, where the host tier ran first in this process
    read_schemas(ROOT)
    assert sorted(comfyui_modules() - before) == []


NODE = {"inputs": [
    {"name": "image", "type": "IMAGE", "required": True, "widget": False},
    {"name": "mode", "type": "COMBO", "required": True, "widget": True, "default": "a", "options": ["a", "b"]},
    {"name": "seed", "type": "INT", "required": True, "widget": True, "default": 0, "min": 0, "max": 10,
     "control_after_generate": True},
    {"name": "strength", "type": "FLOAT", "required": True, "widget": True, "default": 1.0, "min": 0.0, "max": 1.0},
    {"name": "mask", "type": "MASK", "required": False, "widget": False},
    {"name": "note", "type": "STRING", "required": False, "widget": True, "default": ""},
], "outputs": [{"name": "image", "type": "IMAGE", "is_list": False}, {"name": "report", "type": "STRING",
                                                                      "is_list": False}]}


def _changed(edit) -> tuple[list[str], list[str]]:
    new = copy.deepcopy(NODE)
    edit(new)
    return schema_snapshot.compare({"N": NODE}, {"N": new})


def _input(node, name):
    return next(i for i in node["inputs"] if i["name"] == name)


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda n: n["inputs"].pop(0), "N: input 'image' removed or renamed"),
    (lambda n: _input(n, "image").update(type="LATENT"), "N: input 'image' changed type IMAGE -> LATENT"),
    (lambda n: _input(n, "strength").update(default=0.5), "N: input 'strength' changed default 1.0 -> 0.5"),
    (lambda n: _input(n, "mode").update(options=["a"]), "N: input 'mode' lost options ['b']"),
    (lambda n: _input(n, "seed").update(max=5), "N: input 'seed' max narrowed 10 -> 5 (saved values may fail)"),
    (lambda n: _input(n, "mask").update(required=True), "N: input 'mask' became required"),
    (lambda n: n["inputs"].insert(2, n["inputs"].pop(3)), "N: widget order changed"),
    (lambda n: n["inputs"].insert(1, {"name": "x", "type": "INT", "required": False, "widget": True,
                                      "default": 0}), "N: new widget(s) ['x'] placed before existing ones"),
    (lambda n: n["outputs"].reverse(), "N: output 0 'image' changed name 'image' -> 'report'"),
    (lambda n: n["outputs"].pop(), "N: output 1 'report' removed"),
    (lambda n: n.update(inputs=[]) or None, "N: input 'mode' removed or renamed"),
])
def test_incompatible_changes_are_breaking(edit, expected):
    breaking, _ = _changed(edit)
    assert any(line.startswith(expected) for line in breaking), breaking


def test_removed_node_is_breaking_and_new_node_additive():
    breaking, additive = schema_snapshot.compare({"N": NODE}, {"M": NODE})
    assert breaking == ["N: node removed or renamed"] and additive == ["M: new node"]


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda n: _input(n, "mode").update(options=["a", "b", "c"]), "N: input 'mode' new options ['c']"),
    (lambda n: n["inputs"].append({"name": "extra", "type": "MASK", "required": False, "widget": False}),
     "N: new optional input 'extra'"),
    (lambda n: n["inputs"].append({"name": "level", "type": "INT", "required": False, "widget": True, "default": 1}),
     "N: new optional input 'level'"),
    (lambda n: _input(n, "seed").update(max=20), "N: input 'seed' max widened 10 -> 20"),
    (lambda n: n["outputs"].append({"name": "mask", "type": "MASK", "is_list": False}), "N: new output 2 'mask'"),
    (lambda n: _input(n, "image").update(required=False), "N: input 'image' became optional"),
])
def test_additive_changes_pass_and_are_reported(edit, expected):
    breaking, additive = _changed(edit)
    assert breaking == [] and additive == [expected]


def test_update_refuses_a_breaking_change_without_a_migration_note(tmp_path, monkeypatch, snapshot, capsys):
    renamed = copy.deepcopy(snapshot["nodes"])
    renamed["ICLoRA_PanelSplit"]["inputs"][0]["name"] = "canvas"  # the committed snapshot, seen as "old"
    path = tmp_path / "snapshot.json"
    path.write_text(schema_snapshot.snapshot_document(1, renamed), encoding="utf-8")
    notes = tmp_path / "CHANGES.md"
    notes.write_text("## Schema 1\n\nfirst\n", encoding="utf-8")
    monkeypatch.setattr(schema_snapshot, "SNAPSHOT", path)
    monkeypatch.setattr(schema_snapshot, "CHANGES", notes)
    monkeypatch.setattr(schema_snapshot, "ROOT", tmp_path)
    assert schema_snapshot.main([]) == 1
    assert schema_snapshot.main(["--update"]) == 2
    assert "Write a '## Schema 2' section" in capsys.readouterr().out
    notes.write_text("## Schema 1\n\nfirst\n\n## Schema 2\n\nPanel Split's input is 'image' again.\n",
                     encoding="utf-8")
    assert schema_snapshot.main(["--update"]) == 0
    assert schema_snapshot.load_snapshot(path)["schema_version"] == 2
    assert schema_snapshot.main([]) == 0
