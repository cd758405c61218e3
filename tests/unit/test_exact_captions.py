"""Every caption the authors published can be rebuilt exactly, and today's prompts do not change.

The fixtures are the README example prompt of each task and the ten captions of the released storyboard training
set (tests/unit/official_captions.py). `parse_joint_caption` takes a caption apart into what a user types; the
builder in `as written` mode must give the caption back byte for byte.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iclora_pack.nodes.core.errors import PanelInputError
from iclora_pack.nodes.core.prompts import (
    AS_WRITTEN,
    build_joint_prompt,
    custom_preset,
    load_presets,
    panel_markers,
    parse_joint_caption,
    wrap_names,
)
from official_captions import EXAMPLE_PROMPTS, MOVIE_SHOTS_CAPTIONS

PRESETS = load_presets()
STORYBOARD = PRESETS["film-storyboard"]
CAPTIONS = [(preset_id, preset_id, text) for preset_id, text in sorted(EXAMPLE_PROMPTS.items())] + \
           [(f"movie-shots-{name}", "film-storyboard", text) for name, text in sorted(MOVIE_SHOTS_CAPTIONS.items())]


def rebuild(preset, parsed, punctuation=AS_WRITTEN):
    return build_joint_prompt(preset, parsed.summary, parsed.panel_texts, *preset.grid, preset.panel_count,
                              parsed.names, punctuation=punctuation).prompt


@pytest.mark.parametrize("preset_id,caption", [(c[1], c[2]) for c in CAPTIONS], ids=[c[0] for c in CAPTIONS])
def test_every_published_caption_is_rebuilt_exactly_as_written(preset_id, caption):
    preset = PRESETS[preset_id]
    parsed = parse_joint_caption(caption, preset, *preset.grid, preset.panel_count)
    assert rebuild(preset, parsed) == caption
    # the parts are what a user would type: no marker, prefix or opening left inside them
    for part in (parsed.summary, *parsed.panel_texts):
        assert part and not re.search(r"\[(SCENE-\d|LEFT|RIGHT|TOP|BOTTOM|TOP-LEFT|BOTTOM-RIGHT)\]", part)
    assert not parsed.summary.startswith(("[MOVIE-SHOTS]", "This ", "The "))


def test_the_storyboard_training_captions_need_their_own_separators():
    """7 of the 10 join a part to the next marker with something other than the preset's ', '."""
    rebuilt_with_preset_separators = 0
    for caption in MOVIE_SHOTS_CAPTIONS.values():
        parsed = parse_joint_caption(caption, STORYBOARD, 3, 1, 3)
        trimmed = [t.rstrip(",") for t in parsed.panel_texts]
        prompt = build_joint_prompt(STORYBOARD, parsed.summary.rstrip(","), trimmed, 3, 1, 3).prompt
        rebuilt_with_preset_separators += prompt == caption
    assert rebuilt_with_preset_separators == 3


def test_parsed_parts_keep_each_captions_own_joins():
    parts = {name: parse_joint_caption(text, STORYBOARD, 3, 1, 3) for name, text in MOVIE_SHOTS_CAPTIONS.items()}
    assert parts["0001"].summary.endswith("orchestrating her morning routine:")  # ': ' before [SCENE-1]
    assert parts["0006"].summary.endswith("the image journey begins")  # a bare space before [SCENE-1]
    assert parts["0005"].panel_texts[0].endswith("towering skyscrapers, as")  # ', as ' before [SCENE-2]
    assert parts["0005"].panel_texts[1].endswith("the cityscape, while")
    assert parts["0007"].panel_texts[0].endswith("falling snowflakes;")
    assert parts["0003"].names == ["Fox", "Badger", "Cat", "Mouse"]
    assert parts["0007"].panel_texts[2].endswith("enchanting winter setting")  # the final period comes back
    identity = PRESETS["visual-identity-design"]
    parsed = parse_joint_caption(EXAMPLE_PROMPTS["visual-identity-design"], identity, 1, 2, 2)
    assert parsed.summary == "showcases the joyful identity of a produce brand,"
    assert parsed.panel_texts[0].startswith("a smiling pineapple graphic")  # the lead is the builder's
    assert parsed.panel_texts[1].startswith("translates the design")


def test_a_caption_missing_a_marker_is_refused():
    with pytest.raises(ValueError, match=r"\[SCENE-3\]"):
        parse_joint_caption("[MOVIE-SHOTS] a day, [SCENE-1] a, [SCENE-2] b.", STORYBOARD, 3, 1, 3)


def legacy_build(preset, summary, panel_texts, rows, cols, count, names=None):
    """The builder as it was before `punctuation` existed (for inputs it handled), kept as the oracle that today's
    prompts stay byte for byte the same."""
    def clean(text):
        return " ".join(text.split()).rstrip(" .;,")

    texts = [clean(t) for t in panel_texts[:count]] + [""] * max(0, count - len(panel_texts))
    summary = clean(summary)
    markers = panel_markers(preset, rows, cols, count)
    leads = list(preset.panel_leads) if len(preset.panel_leads) == count else [""] * count
    clauses = [" ".join(part for part in (m, lead + t) if part) for m, lead, t in zip(markers, leads, texts)]
    if preset.last_clause_separator and len(clauses) > 1:
        body = preset.clause_separator.join(clauses[:-1]) + preset.last_clause_separator + clauses[-1]
    else:
        body = preset.clause_separator.join(clauses)
    count_word = ("zero one two three four five six seven eight").split()[count]
    opening = preset.opening.replace("{count}", count_word).replace("{COUNT}", count_word.upper())
    head = " ".join(part for part in (preset.prefix, opening, summary) if part)
    prompt = (f"{head}{preset.summary_separator}{body}" if head else body).strip() + "."
    if preset.wrap_names and names:
        prompt = wrap_names(prompt, names)
    return prompt


# Texts as people typed them before: letters that can spell no connector word or name in a prefix or marker,
# spaces and the punctuation the preset separators replace.
TYPED = st.text(alphabet="abcefgkmnopqrsuxyz ,;.'\"", min_size=0, max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(PRESETS)), TYPED, st.lists(TYPED, min_size=1, max_size=6),
       st.lists(st.text(alphabet="abcdkmnop", min_size=1, max_size=5), max_size=2))
def test_preset_punctuation_gives_todays_prompt_byte_for_byte(preset_id, summary, texts, names):
    preset = PRESETS[preset_id]
    count = len(texts)
    rows, cols = (2, 2) if count == 4 else (1, count)
    built = build_joint_prompt(preset, summary, texts, rows, cols, count, names)
    assert built.prompt == legacy_build(preset, summary, texts, rows, cols, count, names)


def test_names_are_never_wrapped_inside_the_prefix_or_markers():
    built = build_joint_prompt(STORYBOARD, "the MOVIE begins", ["a SCENE opens", "b", "c"], 3, 1, 3,
                               ["MOVIE", "SCENE", "SHOTS"])
    assert built.prompt == "[MOVIE-SHOTS] the <MOVIE> begins, [SCENE-1] a <SCENE> opens, [SCENE-2] b, [SCENE-3] c."
    custom = custom_preset("[MY-TASK]", "This {count}-panel image", "[SHOT-{n}]")
    built = build_joint_prompt(custom, "TASK and SHOT", ["x", "y"], 1, 2, 2, ["TASK", "SHOT", "panel"])
    assert built.prompt == "[MY-TASK] This two-panel image <TASK> and <SHOT>; [SHOT-1] x; [SHOT-2] y."


def test_names_with_backslashes_or_brackets_are_literal():
    assert wrap_names(r"C:\dir meets Leo", [r"C:\dir", "<Leo>"]) == r"<C:\dir> meets <Leo>"
    assert wrap_names(r"a \1 b", [r"\1"]) == r"a <\1> b"
    built = build_joint_prompt(STORYBOARD, r"with Bob\g<0>", ["Bob\\", "x", "y"], 3, 1, 3, [r"Bob\g<0>", "Bob\\"])
    assert built.prompt.startswith(r"[MOVIE-SHOTS] with <Bob\g<0>>, [SCENE-1] <Bob\>")


@pytest.mark.parametrize("ending", ["!", "?"])
def test_no_period_after_a_clause_that_ends_in_an_exclamation_or_question_mark(ending):
    built = build_joint_prompt(STORYBOARD, "a day", ["a", "b", f"what a day{ending}"], 3, 1, 3)
    assert built.prompt.endswith(f"[SCENE-3] what a day{ending}")
    written = build_joint_prompt(STORYBOARD, "a day,", ["a,", "b,", f"what a day{ending}"], 3, 1, 3,
                                 punctuation=AS_WRITTEN)
    assert written.prompt.endswith(f"[SCENE-3] what a day{ending}")


def test_built_in_connector_words_are_never_doubled():
    couple = PRESETS["couple-profile"]
    example = couple.example
    typed = [example["panels"][0], "while " + example["panels"][1]]  # the user wrote the preset's 'while'
    assert build_joint_prompt(couple, example["summary"], typed, 1, 2, 2).prompt == \
        "This two-part image portrays a couple of cartoon cats in detective attire; [LEFT] a black cat in a " \
        "trench coat and fedora holds a magnifying glass and peers to the right, [RIGHT] while a white cat with a " \
        "bow tie and matching hat raises an eyebrow in curiosity, creating a fun, noir-inspired scene against a " \
        "dimly lit background."
    identity = PRESETS["visual-identity-design"]
    led = [lead + text for lead, text in zip(identity.panel_leads, identity.example["panels"])]
    assert build_joint_prompt(identity, identity.example["summary"], led, 1, 2, 2).prompt == \
        EXAMPLE_PROMPTS["visual-identity-design"]
    shouting = ["WITH THE LEFT PANEL SHOWING a logo", "While the right panel shows a tote"]
    prompt = build_joint_prompt(identity, "shows a brand", shouting, 1, 2, 2).prompt
    assert prompt == ("The two-panel image shows a brand, WITH THE LEFT PANEL SHOWING a logo; [LEFT] While the "
                      "right panel shows a tote.")
    photo = PRESETS["portrait-photography"]
    texts = [*photo.example["panels"][:3], "and " + photo.example["panels"][3]]
    assert build_joint_prompt(photo, photo.example["summary"], texts, 2, 2, 4).prompt == \
        EXAMPLE_PROMPTS["portrait-photography"].replace(", and [BOTTOM-RIGHT] she", ", [BOTTOM-RIGHT] and she")
    # a word that only begins like the connector is the user's own
    assert ", while [RIGHT] whilst" in build_joint_prompt(couple, "s", ["a", "whilst b"], 1, 2, 2).prompt


def test_the_prefix_and_opening_are_not_repeated_when_the_summary_has_them():
    sandstorm = PRESETS["sandstorm-visual-effect"]
    for summary in ("[SANDSTORM-PSA] This two-part image shows", "This two-part image shows",
                    "this two-part image shows"):
        prompt = build_joint_prompt(sandstorm, summary, ["a", "b"], 2, 1, 2).prompt
        assert prompt.count("[SANDSTORM-PSA]") == 1 and prompt.lower().count("two-part image") == 1


@pytest.mark.parametrize("markers,problem", [
    ("[SHOT-{n]", "brace without its pair"),
    ("[SHOT-n}]", "brace without its pair"),
    ("[SHOT-{}]", "positional field"),
    ("[SHOT-{0}]", "positional field"),
    ("[SHOT-{count}]", "the field '{count}'"),
    ("[SHOT-{n.real}]", "the field '{n.real}'"),
    ("[SHOT-{n:q}]", "cannot be filled in"),
])
def test_a_broken_marker_template_gets_a_clear_message(markers, problem):
    with pytest.raises(PanelInputError) as caught:
        custom_preset(markers=markers)
    assert caught.value.input_name == "custom_markers" and problem in str(caught.value)
    assert str(caught.value).startswith("Joint Prompt Builder: ")


def test_a_marker_list_of_the_wrong_length_is_refused_not_renumbered():
    preset = custom_preset(markers="[A], [B]")
    with pytest.raises(PanelInputError, match="2 markers are listed but the layout has 3 panels"):
        build_joint_prompt(preset, "s", ["a", "b", "c"], 1, 3, 3)
    assert build_joint_prompt(preset, "s", ["a", "b"], 1, 2, 2).markers == ["[A]", "[B]"]
    assert panel_markers(custom_preset(markers="[SHOT-{n:02d}]"), 1, 3, 3) == ["[SHOT-01]", "[SHOT-02]", "[SHOT-03]"]


def test_an_unknown_punctuation_is_refused():
    with pytest.raises(PanelInputError, match="'commas' is not an option"):
        build_joint_prompt(STORYBOARD, "s", ["a", "b", "c"], 3, 1, 3, punctuation="commas")
