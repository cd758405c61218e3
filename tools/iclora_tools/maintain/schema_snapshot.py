"""The compatibility guard: compare every node's public schema with the committed snapshot, or update it on purpose.

    python tools/schema_snapshot.py            # report the changes; exit 1 if any would break saved workflows
    python tools/schema_snapshot.py --update   # write schema/snapshot.json (a breaking change needs a note first)

Saved workflows store a node's widget values by position and its links by input name and output slot; API prompts
name every input. So removing or renaming a node, input or output, changing a type, a default or the widget order,
making an input required, narrowing a range or dropping a combo option breaks somebody's graph. Those changes are
refused until the snapshot's `schema_version` goes up with a `## Schema <n>` entry in schema/CHANGES.md saying how
users migrate. Additive changes (a new node, a new optional input, a new option, an output appended) only need an
`--update` to be recorded; until then the unit test reports them and passes.

The schemas are read from the source with a stand-in for ComfyUI (maintain/schema_standin.py), so this runs without
ComfyUI; the host tier checks the stand-in's reading against ComfyUI's own.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from .. import ROOT
from .schema_standin import read_schemas

SNAPSHOT = ROOT / "schema" / "snapshot.json"
CHANGES = ROOT / "schema" / "CHANGES.md"
INPUT_KEYS = ("name", "type", "required", "widget", "default", "min", "max", "step", "options",
              "control_after_generate")
OUTPUT_KEYS = ("name", "type", "is_list")


def public_schema(described: dict[str, dict]) -> dict[str, dict]:
    """What users' graphs depend on, per node: inputs (in order) and outputs (by slot)."""
    return {node_id: {
        "inputs": [{k: i[k] for k in INPUT_KEYS if k in i} for i in node["inputs"]],
        "outputs": [{k: o[k] for k in OUTPUT_KEYS} for o in node["outputs"]],
    } for node_id, node in sorted(described.items())}


def current_schema(pack_root: Path = ROOT) -> dict[str, dict]:
    return public_schema(read_schemas(pack_root))


def widget_sequence(node: dict) -> list[str]:
    """The order of a node's entries in a saved workflow's `widgets_values`: required widgets, then optional ones,
    a seed's "control after generate" value right after it (ComfyUI's frontend lays them out so)."""
    sequence = []
    for required in (True, False):
        for item in node["inputs"]:
            if item.get("widget") and item["required"] == required:
                sequence.append(item["name"])
                if item.get("control_after_generate"):
                    sequence.append(f"{item['name']} (control after generate)")
    return sequence


def _compare_input(node_id: str, old: dict, new: dict, breaking: list, additive: list) -> None:
    where = f"{node_id}: input '{old['name']}'"
    if old["type"] != new["type"]:
        breaking.append(f"{where} changed type {old['type']} -> {new['type']}")
    if old["required"] and not new["required"]:
        additive.append(f"{where} became optional")
    elif new["required"] and not old["required"]:
        breaking.append(f"{where} became required (saved prompts without it stop validating)")
    if old.get("widget") != new.get("widget"):
        breaking.append(f"{where} changed between widget and socket (saved widget values shift)")
    if "default" in old and old.get("default") != new.get("default"):
        breaking.append(f"{where} changed default {old.get('default')!r} -> {new.get('default')!r}")
    if bool(old.get("control_after_generate")) != bool(new.get("control_after_generate")):
        breaking.append(f"{where} gained or lost 'control after generate' (saved widget values shift)")
    for bound, narrower in (("min", lambda o, n: n > o), ("max", lambda o, n: n < o)):
        if bound in old and old[bound] != new.get(bound):
            if bound not in new or not narrower(old[bound], new[bound]):
                additive.append(f"{where} {bound} widened {old[bound]} -> {new.get(bound)}")
            else:
                breaking.append(f"{where} {bound} narrowed {old[bound]} -> {new[bound]} (saved values may fail)")
    if "step" in old and old.get("step") != new.get("step"):
        additive.append(f"{where} step {old['step']} -> {new.get('step')}")
    old_options, new_options = old.get("options"), new.get("options")
    if isinstance(old_options, list) and isinstance(new_options, list):
        removed = [o for o in old_options if o not in new_options]
        added = [o for o in new_options if o not in old_options]
        if removed:
            breaking.append(f"{where} lost options {removed}")
        if added:
            additive.append(f"{where} new options {added}")
    elif old_options != new_options:
        breaking.append(f"{where} options changed {old_options!r} -> {new_options!r}")


def compare(old: dict[str, dict], new: dict[str, dict]) -> tuple[list[str], list[str]]:
    """(breaking, additive) changes from snapshot `old` to schema `new`, each a sentence naming node and input."""
    breaking: list[str] = []
    additive: list[str] = []
    for node_id, old_node in old.items():
        if node_id not in new:
            breaking.append(f"{node_id}: node removed or renamed")
            continue
        new_node = new[node_id]
        new_inputs = {i["name"]: i for i in new_node["inputs"]}
        old_names = {i["name"] for i in old_node["inputs"]}
        for item in old_node["inputs"]:
            if item["name"] not in new_inputs:
                breaking.append(f"{node_id}: input '{item['name']}' removed or renamed")
            else:
                _compare_input(node_id, item, new_inputs[item["name"]], breaking, additive)
        for item in new_node["inputs"]:
            if item["name"] not in old_names:
                if item["required"]:
                    breaking.append(f"{node_id}: new required input '{item['name']}' (saved prompts lack it; "
                                    "make it optional)")
                else:
                    additive.append(f"{node_id}: new optional input '{item['name']}'")
        old_widgets, new_widgets = widget_sequence(old_node), widget_sequence(new_node)
        kept = [w for w in new_widgets if w in old_widgets]
        if kept == [w for w in old_widgets if w in new_widgets]:
            last_old = max((new_widgets.index(w) for w in kept), default=-1)
            inserted = [w for w in new_widgets[:last_old] if w not in old_widgets]
            if inserted:
                breaking.append(f"{node_id}: new widget(s) {inserted} placed before existing ones (saved widget "
                                "values shift; add new widget inputs after the last one)")
        else:
            breaking.append(f"{node_id}: widget order changed {old_widgets} -> {new_widgets} (saved widget values "
                            "are positional)")
        for slot, item in enumerate(old_node["outputs"]):
            if slot >= len(new_node["outputs"]):
                breaking.append(f"{node_id}: output {slot} '{item['name']}' removed")
                continue
            now = new_node["outputs"][slot]
            for key in OUTPUT_KEYS:
                if item[key] != now[key]:
                    breaking.append(f"{node_id}: output {slot} '{item['name']}' changed {key} {item[key]!r} -> "
                                    f"{now[key]!r} (links are by slot)")
        for slot in range(len(old_node["outputs"]), len(new_node["outputs"])):
            additive.append(f"{node_id}: new output {slot} '{new_node['outputs'][slot]['name']}'")
    for node_id in new:
        if node_id not in old:
            additive.append(f"{node_id}: new node")
    return breaking, additive


def load_snapshot(path: Path | None = None) -> dict:
    return json.loads((path or SNAPSHOT).read_text(encoding="utf-8"))


def migration_notes(path: Path | None = None) -> dict[int, str]:
    """`## Schema <n>` sections of schema/CHANGES.md: version -> its text."""
    path = path or CHANGES
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    parts = re.split(r"^## Schema (\d+)[^\n]*\n", text, flags=re.M)
    return {int(parts[i]): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def snapshot_document(version: int, nodes: dict) -> str:
    document = {
        "schema_version": version,
        "about": "Public schema of every node (generated by tools/schema_snapshot.py --update; do not edit). "
                 "A breaking change needs a new schema_version and a '## Schema <n>' note in schema/CHANGES.md.",
        "nodes": nodes,
    }
    lines = ["{", f' "schema_version": {version},', f' "about": {json.dumps(document["about"])},', ' "nodes": {']
    for n, (node_id, node) in enumerate(nodes.items()):  # one line per input and output: reviewable diffs
        lines.append(f'  {json.dumps(node_id)}: {{')
        for key in ("inputs", "outputs"):
            items = [f"   {json.dumps(item, ensure_ascii=False)}" for item in node[key]]
            lines.append(f'   "{key}": [\n' + ",\n".join(items) + "\n   ]" + ("," if key == "inputs" else ""))
        lines.append("  }" + ("," if n < len(nodes) - 1 else ""))
    lines += [" }", "}"]
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == document
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="write schema/snapshot.json from the source")
    args = parser.parse_args(argv)
    new = current_schema()
    if not SNAPSHOT.exists():
        if not args.update:
            print(f"no snapshot yet: run {Path(__file__).name} --update")
            return 1
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(snapshot_document(1, new), encoding="utf-8")
        print(f"wrote {SNAPSHOT.relative_to(ROOT)} (schema 1, {len(new)} nodes)")
        return 0
    snapshot = load_snapshot()
    version = snapshot["schema_version"]
    breaking, additive = compare(snapshot["nodes"], new)
    for line in breaking:
        print("BREAKING", line)
    for line in additive:
        print("additive", line)
    if not args.update:
        print(f"schema {version}: {len(breaking)} breaking, {len(additive)} additive change(s)")
        return 1 if breaking else 0
    if breaking:
        version += 1
        if not migration_notes().get(version):
            print(f"refused: these changes break saved workflows. Write a '## Schema {version}' section in "
                  f"{CHANGES.relative_to(ROOT)} (what changed and how users migrate), then run --update again.")
            return 2
    SNAPSHOT.write_text(snapshot_document(version, new), encoding="utf-8")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)} (schema {version}, {len(new)} nodes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
