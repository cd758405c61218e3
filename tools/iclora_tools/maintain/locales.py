"""Writes the editor's translations (locales/<lang>/) and checks them and the node help pages for gaps.

    python tools/build_locales.py           # write locales/en/nodeDefs.json, locales/zh/nodeDefs.json + main.json
    python tools/build_locales.py --check   # exit 1 if a file is stale, a Chinese string or a help page is missing

ComfyUI serves every pack's `locales/<lang>/main.json` and `nodeDefs.json` merged at `GET /i18n`
(app/custom_node_manager.py); the frontend looks up `nodeDefs.<node id>.display_name`, `.description`,
`.inputs.<input id>.name` / `.tooltip` and `.outputs.<output index>.name` / `.tooltip`, and categories under
`nodeCategories.<category>`. English is generated from the node schemas (read from the source without ComfyUI,
maintain/schema_standin.py), so it cannot drift. Chinese is written by hand in locales/zh.source.json, keyed by node
id and input/output id; a numbered input family (image_1 … image_8) is one entry with `{i}` in its key and text.
An input several nodes share (nodes/host/shared_inputs.py: one English tooltip) has one entry under
`shared_inputs`, keyed by input id, used by every node without an entry of its own for that input; the check
names a shared entry whose nodes' English tooltips differ, since one translation cannot fit two texts.
Help pages are js/docs/<node id>.md (the frontend fetches /extensions/<pack>/docs/<node id>/<locale>.md, then
/extensions/<pack>/docs/<node id>.md).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from .. import ROOT
from .schema_standin import read_schemas

LOCALES = ROOT / "locales"
ZH_SOURCE = LOCALES / "zh.source.json"
HELP_DIR = ROOT / "js" / "docs"
HELP_SECTIONS = ("Inputs", "Outputs", "Common mistakes")


def _family(name: str) -> str | None:
    """'image_3' -> 'image_{i}' (the key of a numbered input family in the Chinese source)."""
    match = re.fullmatch(r"(.*_)(\d+)", name)
    return f"{match.group(1)}{{i}}" if match else None


def _lookup(table: dict, name: str) -> dict | None:
    if name in table:
        return table[name]
    family = _family(name)
    if family and family in table:
        number = name.rsplit("_", 1)[1]
        return {key: text.replace("{i}", number) for key, text in table[family].items()}
    return None


def _input_text(written: dict, shared: dict, name: str) -> dict | None:
    """A node's own Chinese for an input, else the shared entry for that input id."""
    return _lookup(written.get("inputs", {}), name) or shared.get(name)


def _shared_problems(schemas: dict[str, dict], source: dict) -> list[str]:
    """Shared entries that no node uses, and those used for differing English tooltips."""
    shared, nodes = source.get("shared_inputs", {}), source.get("nodes", {})
    gaps = []
    for key in shared:
        users = {node_id: node["tooltips"]["inputs"].get(key) for node_id, node in sorted(schemas.items())
                 if any(i["name"] == key for i in node["inputs"])
                 and not _lookup(nodes.get(node_id, {}).get("inputs", {}), key)}
        where = f"locales/zh.source.json: shared_inputs.{key}"
        if not users:
            gaps.append(f"{where} (no node uses it any more: remove it)")
        elif len(set(users.values())) > 1:
            gaps.append(f"{where} (the English tooltips of {', '.join(users)} differ: give each node its own "
                        "entry, or make the tooltips one in nodes/host/shared_inputs.py)")
    return gaps


def english(schemas: dict[str, dict]) -> dict:
    defs = {}
    for node_id, node in sorted(schemas.items()):
        tips = node["tooltips"]
        entry = {"display_name": node["display_name"] or node_id}
        if node["description"]:
            entry["description"] = node["description"]
        entry["inputs"] = {}
        for item in node["inputs"]:
            text = {"name": node["input_display_names"].get(item["name"], item["name"])}
            if item["name"] in tips["inputs"]:
                text["tooltip"] = tips["inputs"][item["name"]]
            entry["inputs"][item["name"]] = text
        entry["outputs"] = {}
        for index, item in enumerate(node["outputs"]):
            text = {"name": item["display_name"] or item["name"]}
            if item["name"] in tips["outputs"]:
                text["tooltip"] = tips["outputs"][item["name"]]
            entry["outputs"][str(index)] = text
        defs[node_id] = entry
    return defs


def chinese(schemas: dict[str, dict], source: dict) -> dict:
    """locales/zh/nodeDefs.json: the hand-written strings laid out as the frontend reads them (what exists)."""
    defs = {}
    for node_id, node in sorted(schemas.items()):
        written = source.get("nodes", {}).get(node_id)
        if not written:
            continue
        entry = {k: written[k] for k in ("display_name", "description") if written.get(k)}
        entry["inputs"] = {item["name"]: text for item in node["inputs"]
                           if (text := _input_text(written, source.get("shared_inputs", {}), item["name"]))}
        entry["outputs"] = {str(index): text for index, item in enumerate(node["outputs"])
                            if (text := written.get("outputs", {}).get(item["name"]))}
        defs[node_id] = entry
    return defs


def missing_chinese(schemas: dict[str, dict], source: dict) -> list[str]:
    """Every string the Chinese source lacks (or has for something that no longer exists), as a path into it."""
    gaps = []
    nodes = source.get("nodes", {})
    shared = source.get("shared_inputs", {})
    where = "locales/zh.source.json: nodes"
    for category in sorted({n["category"] for n in schemas.values()}):
        if not source.get("nodeCategories", {}).get(category):
            gaps.append(f"locales/zh.source.json: nodeCategories.{category}")
    for node_id, node in sorted(schemas.items()):
        written = nodes.get(node_id, {})
        for key in ("display_name", "description"):
            if not written.get(key) and (key == "display_name" or node["description"]):
                gaps.append(f"{where}.{node_id}.{key}")
        for item in node["inputs"]:
            name, family = item["name"], _family(item["name"])
            key_name = family if family and name not in written.get("inputs", {}) else name  # image_{i} once
            text = _input_text(written, shared, name) or {}
            for key in ("name", "tooltip"):
                if not text.get(key) and (key == "name" or name in node["tooltips"]["inputs"]):
                    gaps.append(f"{where}.{node_id}.inputs.{key_name}.{key}")
        for item in node["outputs"]:
            text = written.get("outputs", {}).get(item["name"], {})
            for key in ("name", "tooltip"):
                if not text.get(key) and (key == "name" or item["name"] in node["tooltips"]["outputs"]):
                    gaps.append(f"{where}.{node_id}.outputs.{item['name']}.{key}")
        names = {i["name"] for i in node["inputs"]}
        for key in written.get("inputs", {}):
            if key not in names and not any(_family(n) == key for n in names):
                gaps.append(f"{where}.{node_id}.inputs.{key} (no such input any more: remove it)")
        outputs = {o["name"] for o in node["outputs"]}
        for key in written.get("outputs", {}):
            if key not in outputs:
                gaps.append(f"{where}.{node_id}.outputs.{key} (no such output any more: remove it)")
    for node_id in nodes:
        if node_id not in schemas:
            gaps.append(f"{where}.{node_id} (no such node any more: remove it)")
    return list(dict.fromkeys(gaps + _shared_problems(schemas, source)))


def help_page(node_id: str) -> Path:
    return HELP_DIR / f"{node_id}.md"


def missing_help(schemas: dict[str, dict]) -> list[str]:
    """Help pages that do not exist or lack a section or a wiring picture, and inputs/outputs a page does not name
    (as `name`)."""
    gaps = []
    for node_id, node in sorted(schemas.items()):
        page = help_page(node_id)
        if not page.is_file():
            gaps.append(f"{page.relative_to(ROOT)}: no help page for {node_id}")
            continue
        text = page.read_text(encoding="utf-8")
        for section in HELP_SECTIONS:
            if not re.search(rf"^## {section}\s*$", text, flags=re.M):
                gaps.append(f"{page.relative_to(ROOT)}: no '## {section}' section")
        if not re.search(r"!\[[^\]]*\]\(([^)\s]+)", text):
            gaps.append(f"{page.relative_to(ROOT)}: no wiring picture (![what it shows](images/{node_id}.png))")
        for kind, items in (("input", node["inputs"]), ("output", node["outputs"])):
            for item in items:
                name = item["display_name"] if kind == "output" and item.get("display_name") else item["name"]
                if _family(name) and not name.endswith("_1"):
                    continue  # image_2 … image_8 are covered by `image_1`
                if f"`{name}`" not in text:
                    gaps.append(f"{page.relative_to(ROOT)}: {kind} `{name}` is not described")
        for image in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text):
            if not image.startswith(("http://", "https://", "/")) and not (page.parent / image).is_file():
                gaps.append(f"{page.relative_to(ROOT)}: picture {image} does not exist")
    return gaps


def outputs(schemas: dict[str, dict]) -> dict[Path, str]:
    source = json.loads(ZH_SOURCE.read_text(encoding="utf-8"))
    categories = sorted({n["category"] for n in schemas.values()})
    documents = {
        LOCALES / "en" / "nodeDefs.json": english(schemas),
        LOCALES / "zh" / "nodeDefs.json": chinese(schemas, source),
        LOCALES / "zh" / "main.json": {"nodeCategories": {c: source["nodeCategories"][c] for c in categories
                                                          if c in source.get("nodeCategories", {})}},
    }
    return {path: json.dumps(doc, indent=1, ensure_ascii=False) + "\n" for path, doc in documents.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on anything stale or missing")
    args = parser.parse_args(argv)
    schemas = read_schemas(ROOT)
    files = outputs(schemas)
    problems = missing_chinese(schemas, json.loads(ZH_SOURCE.read_text(encoding="utf-8"))) + missing_help(schemas)
    for line in problems:
        print("missing:", line)
    if args.check:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)} (run python tools/build_locales.py)")
        return 1 if stale or problems else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
