"""Every registered node has a help page and Chinese strings, and the generated locale files are current.

The node schemas are read from the source with the ComfyUI stand-in (maintain/schema_standin.py): no ComfyUI import.
When a node or input is added, these tests name exactly what to write: the entries of locales/zh.source.json and
the help page js/docs/<node id>.md; then run `python tools/build_locales.py`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from iclora_tools.maintain import locales as build_locales
from iclora_tools.maintain.schema_standin import read_schemas

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def schemas() -> dict:
    return read_schemas(ROOT)


@pytest.fixture(scope="module")
def zh_source() -> dict:
    return json.loads(build_locales.ZH_SOURCE.read_text(encoding="utf-8"))


def test_every_node_input_and_output_has_a_chinese_string(schemas, zh_source):
    missing = build_locales.missing_chinese(schemas, zh_source)
    assert not missing, ("Chinese strings missing (write them, then run python tools/build_locales.py):\n  "
                         + "\n  ".join(missing))


def test_every_node_has_a_help_page_describing_its_inputs_and_outputs(schemas):
    missing = build_locales.missing_help(schemas)
    assert not missing, "help pages incomplete:\n  " + "\n  ".join(missing)


def test_generated_locale_files_are_current(schemas):
    stale = [str(path.relative_to(ROOT)) for path, text in build_locales.outputs(schemas).items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    assert not stale, f"stale: {stale}; run python tools/build_locales.py"


def test_english_locale_is_the_schema_text(schemas):
    english = json.loads((ROOT / "locales" / "en" / "nodeDefs.json").read_text(encoding="utf-8"))
    assert sorted(english) == sorted(schemas) and len(english) >= 5
    concat = english["ICLoRA_PanelConcatenate"]
    assert concat["display_name"] == "Panel Concatenate"
    assert concat["inputs"]["output_slots"]["tooltip"].startswith("How many empty panels to generate;")
    assert concat["outputs"]["1"] == {"name": "layout", "tooltip": schemas["ICLoRA_PanelConcatenate"]["tooltips"]
                                      ["outputs"]["layout"]}
    sampler = english["ICLoRA_InContextSampler"]
    assert list(sampler["outputs"]) == ["0", "1", "2"] and sampler["outputs"]["0"]["name"] == "image"


def test_chinese_locale_follows_the_frontend_layout(schemas):
    """nodeDefs.<id>.display_name / .inputs.<input>.name|tooltip / .outputs.<index>.name|tooltip, every input
    of a numbered family written out."""
    zh = json.loads((ROOT / "locales" / "zh" / "nodeDefs.json").read_text(encoding="utf-8"))
    concat = zh["ICLoRA_PanelConcatenate"]
    assert concat["display_name"] == "面板拼接"
    assert concat["inputs"]["image_7"] == {"name": "图像 7", "tooltip": "参考图像 7：生成输出槽时保持原样。"}
    assert concat["outputs"]["0"]["name"] == "画布"
    for node_id, node in schemas.items():
        assert set(zh[node_id]["inputs"]) == {i["name"] for i in node["inputs"]}, node_id
        assert set(zh[node_id]["outputs"]) == {str(i) for i in range(len(node["outputs"]))}, node_id
    main = json.loads((ROOT / "locales" / "zh" / "main.json").read_text(encoding="utf-8"))
    assert main == {"nodeCategories": {"In-Context LoRA": "上下文 LoRA"}}


def _new_node(schemas: dict) -> dict:
    """The schemas with a node the Chinese source and the help pages know nothing about."""
    grown = copy.deepcopy(schemas)
    node = copy.deepcopy(schemas["ICLoRA_PanelSplit"])
    node.update(node_id="ICLoRA_FutureExport", display_name="Future Export")
    node["inputs"].append({"name": "folder", "type": "STRING", "required": True, "widget": True})
    node["tooltips"]["inputs"]["folder"] = "Where to write the set."
    grown["ICLoRA_FutureExport"] = node
    grown["ICLoRA_OutputSlotMask"] = copy.deepcopy(schemas["ICLoRA_OutputSlotMask"])
    grown["ICLoRA_OutputSlotMask"]["inputs"].append({"name": "blur", "type": "INT", "required": False,
                                                     "widget": True})
    return grown


def test_a_new_node_or_input_is_named_exactly_in_the_failure(schemas, zh_source):
    missing = build_locales.missing_chinese(_new_node(schemas), zh_source)
    where = "locales/zh.source.json: nodes"
    assert f"{where}.ICLoRA_FutureExport.display_name" in missing
    assert f"{where}.ICLoRA_FutureExport.inputs.folder.tooltip" in missing
    assert f"{where}.ICLoRA_FutureExport.outputs.panels.name" in missing
    assert f"{where}.ICLoRA_OutputSlotMask.inputs.blur.name" in missing
    assert f"{where}.ICLoRA_OutputSlotMask.inputs.blur.tooltip" not in missing  # it has no English tooltip
    help_gaps = build_locales.missing_help(_new_node(schemas))
    assert "js/docs/ICLoRA_FutureExport.md: no help page for ICLoRA_FutureExport" in help_gaps
    assert "js/docs/ICLoRA_OutputSlotMask.md: input `blur` is not described" in help_gaps


def test_a_numbered_family_is_reported_once_and_stale_entries_are_named(schemas, zh_source):
    source = copy.deepcopy(zh_source)
    del source["nodes"]["ICLoRA_PanelConcatenate"]["inputs"]["image_{i}"]
    source["nodes"]["ICLoRA_PanelSplit"]["inputs"]["canvas"] = {"name": "画布", "tooltip": "旧"}
    missing = build_locales.missing_chinese(schemas, source)
    where = "locales/zh.source.json: nodes"
    assert [m for m in missing if "image_" in m] == [f"{where}.ICLoRA_PanelConcatenate.inputs.image_{{i}}.name",
                                                     f"{where}.ICLoRA_PanelConcatenate.inputs.image_{{i}}.tooltip"]
    assert f"{where}.ICLoRA_PanelSplit.inputs.canvas (no such input any more: remove it)" in missing


def test_a_shared_input_reads_the_same_on_every_node_in_both_languages(schemas, zh_source):
    zh = json.loads((ROOT / "locales" / "zh" / "nodeDefs.json").read_text(encoding="utf-8"))
    shared = zh_source["shared_inputs"]
    assert {"custom_opening", "fill_color", "panel_width", "preset", "punctuation"} <= set(shared)
    for name, chinese in shared.items():
        users = [node_id for node_id, node in schemas.items() if any(i["name"] == name for i in node["inputs"])]
        assert len(users) >= 2, name
        assert len({schemas[u]["tooltips"]["inputs"][name] for u in users}) == 1, name
        assert all(zh[u]["inputs"][name] == chinese for u in users), name
    dataset_opening = schemas["ICLoRA_PanelSetDataset"]["tooltips"]["inputs"]["custom_opening"]
    assert "{COUNT}" in dataset_opening


def test_a_shared_chinese_entry_for_differing_english_is_named(schemas, zh_source):
    grown = copy.deepcopy(schemas)
    grown["ICLoRA_PanelSetDataset"]["tooltips"]["inputs"]["fill_color"] = "Something else."
    source = copy.deepcopy(zh_source)
    source["shared_inputs"]["gone"] = {"name": "旧", "tooltip": "旧"}
    missing = build_locales.missing_chinese(grown, source)
    where = "locales/zh.source.json: shared_inputs"
    assert any(m.startswith(f"{where}.fill_color (the English tooltips of ") for m in missing)
    assert f"{where}.gone (no node uses it any more: remove it)" in missing
