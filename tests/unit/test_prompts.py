"""Joint prompts follow each task's trained caption format, with markers from the layout's geometry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iclora_pack.nodes.core.layout import ALIGN
from iclora_pack.nodes.core.prompts import (
    PRESETS_FILE,
    build_joint_prompt,
    custom_preset,
    geometry_markers,
    load_presets,
    opening_phrase,
    panel_markers,
    split_joint_prompt,
    token_budget_warning,
    wrap_names,
)
from official_captions import EXAMPLE_PROMPTS

PRESETS = load_presets()
MARKER = re.compile(r"\[[A-Z0-9-]+\]")

def build_example(preset_id: str):
    preset = PRESETS[preset_id]
    example = preset.example
    return build_joint_prompt(preset, example["summary"], example["panels"], *preset.grid, preset.panel_count,
                              names=example.get("names", "").split(","))


def test_every_released_task_has_a_preset():
    assert set(PRESETS) == {"couple-profile", "film-storyboard", "font-design", "home-decoration",
                            "portrait-illustration", "portrait-photography", "ppt-templates",
                            "sandstorm-visual-effect", "sparklers-visual-effect", "visual-identity-design"}


def test_every_task_has_its_published_example_prompt():
    assert set(EXAMPLE_PROMPTS) == set(PRESETS)


@pytest.mark.parametrize("preset_id", sorted(PRESETS))
def test_examples_reproduce_the_published_prompts_word_for_word(preset_id):
    assert build_example(preset_id).prompt == EXAMPLE_PROMPTS[preset_id]


@pytest.mark.parametrize("preset_id", sorted(PRESETS))
def test_built_prompt_has_prefix_opening_one_marker_per_panel_in_order_and_every_text(preset_id):
    preset = PRESETS[preset_id]
    built = build_example(preset_id)
    head = " ".join(part for part in (preset.prefix, opening_phrase(preset, preset.panel_count)) if part)
    assert head and built.prompt.startswith(head + " ")  # every task opens with its prefix or panel-count opening
    assert not built.warnings
    marked = [m for m in built.markers if m]
    found = [m for m in MARKER.findall(built.prompt) if m != preset.prefix and m != "[FOUR-PANEL]"]
    assert found == marked  # each marker exactly once, in panel order, nothing else
    clauses = split_joint_prompt(built.prompt, marked)
    texts = [t for m, t in zip(built.markers, built.panel_texts) if m]
    for clause, text in zip(clauses, texts):
        assert text in clause
    for marker, text in zip(built.markers, built.panel_texts):
        if not marker:  # an unmarked panel (visual identity's left panel) is described before the first marker
            assert built.prompt.index(text) < built.prompt.index(marked[0])
    assert built.prompt.endswith(".") and ".." not in built.prompt


@pytest.mark.parametrize("preset_id", sorted(PRESETS))
def test_preset_canvas_divides_into_aligned_panels_of_its_layout(preset_id):
    preset = PRESETS[preset_id]
    rows, cols = preset.grid
    assert preset.canvas[0] % cols == 0 and preset.canvas[1] % rows == 0
    assert all(side % ALIGN == 0 for side in preset.panel_size)
    assert {"row": rows == 1, "column": cols == 1, "grid": rows > 1 and cols > 1}[preset.arrangement]
    assert preset.lora.endswith(".safetensors") and len(preset.example["panels"]) == preset.panel_count


def test_markers_follow_geometry():
    assert geometry_markers(1, 2, 2) == ["[LEFT]", "[RIGHT]"]
    assert geometry_markers(2, 1, 2) == ["[TOP]", "[BOTTOM]"]
    assert geometry_markers(2, 2, 4) == ["[TOP-LEFT]", "[TOP-RIGHT]", "[BOTTOM-LEFT]", "[BOTTOM-RIGHT]"]
    assert geometry_markers(1, 3, 3) is None and geometry_markers(2, 2, 3) is None
    # a preset's geometry follows the layout, not the preset's own habit
    home = PRESETS["home-decoration"]
    assert panel_markers(home, 1, 2, 2) == ["[LEFT]", "[RIGHT]"]
    assert panel_markers(home, 1, 3, 3) == ["[PANEL-1]", "[PANEL-2]", "[PANEL-3]"]
    storyboard = PRESETS["film-storyboard"]
    assert panel_markers(storyboard, 4, 1, 4) == ["[SCENE-1]", "[SCENE-2]", "[SCENE-3]", "[SCENE-4]"]
    assert panel_markers(custom_preset(markers="[SHOT-{n}]"), 1, 3, 3) == ["[SHOT-1]", "[SHOT-2]", "[SHOT-3]"]
    assert panel_markers(custom_preset(markers="[A], [B]"), 1, 2, 2) == ["[A]", "[B]"]
    assert panel_markers(custom_preset(), 2, 1, 2) == ["[TOP]", "[BOTTOM]"]


def test_opening_counts_the_layouts_panels():
    built = build_joint_prompt(PRESETS["portrait-photography"], "shows a series", ["a", "b", "c", "d", "e", "f"],
                               2, 3, 6)
    assert built.prompt.startswith("This [SIX-PANEL] image shows a series; [PANEL-1] a, [PANEL-2] b")
    assert built.prompt.endswith(", and [PANEL-6] f.")


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(sorted(PRESETS)),
       st.lists(st.text(alphabet="abcdefghij klmnop,'\"", min_size=1, max_size=40).filter(lambda t: t.strip(" .;,")),
                min_size=2, max_size=4))
def test_splitting_a_built_prompt_gives_the_panel_texts_back(preset_id, texts):
    preset = PRESETS[preset_id]
    count = len(texts)
    rows, cols = (1, count) if count != 4 else (2, 2)
    built = build_joint_prompt(preset, "shows a set", texts, rows, cols, count)
    marked = [m for m in built.markers if m]
    clauses = split_joint_prompt(built.prompt, marked)
    leads = list(preset.panel_leads) if len(preset.panel_leads) == count else [""] * count
    expected = [(lead + text) for marker, lead, text in zip(built.markers, leads, built.panel_texts) if marker]
    separators = {preset.clause_separator, preset.last_clause_separator, "."} - {""}
    for clause, text in zip(clauses, expected):
        rest = clause.strip()
        for separator in sorted(separators, key=len, reverse=True):
            if rest.endswith(separator.strip()) and separator.strip():
                rest = rest[: -len(separator.strip())].rstrip()
        assert rest == text


def test_warnings_name_the_problem():
    preset = PRESETS["font-design"]
    built = build_joint_prompt(preset, "", ["a", "", "c", "d", "e"], 1, 3, 3)
    text = "\n".join(built.warnings)
    assert "panel_2 is empty" in text
    assert "panel_4, panel_5 filled but the layout has 3 panels" in text
    assert "trained on 4 panels as a 2x2 grid; this layout is 3 panels on 1x3" in text
    assert "overall description is empty" in text
    assert token_budget_warning(512) is None
    assert "600 T5 tokens, 88 over the 512" in token_budget_warning(600)


def test_names_are_wrapped_once():
    assert wrap_names("Leo meets Leona and <Leo> again", ["Leo", "Leona"]) == "<Leo> meets <Leona> and <Leo> again"


def test_presets_file_is_the_single_source_of_task_data():
    """No module hard-codes a task's LoRA file or caption markers: they all come from presets.json."""
    data = json.loads(PRESETS_FILE.read_text())
    loras = [t["lora"] for t in data["tasks"].values()]
    for module in Path(PRESETS_FILE).parents[1].rglob("*.py"):  # every module of nodes/
        source = module.read_text()
        assert not [lora for lora in loras if lora in source], module.name
        assert "[MOVIE-SHOTS]" not in source and "SANDSTORM" not in source, module.name


def test_readme_shows_what_each_preset_builds():
    readme = (Path(PRESETS_FILE).parents[2] / "README.md").read_text()
    for preset_id, preset in PRESETS.items():
        assert f"  > {build_example(preset_id).prompt}\n" in readme, preset_id
        assert f"`{preset.lora}`" in readme
