"""Joint prompts in the caption format each IC-LoRA was trained on.

An IC-LoRA responds to prompts shaped like its training captions: an optional task prefix, an opening that names
the panel count, an overall summary, then one clause per panel starting with that panel's marker. Markers follow
the layout's geometry (a row of two is LEFT/RIGHT, a 2 x 2 grid the four corners), so they can never disagree with
where the panels actually are.
"""

from __future__ import annotations

import functools
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PanelInputError, quoted

PRESETS_FILE = Path(__file__).with_name("presets.json")
CUSTOM = "custom"
PROMPT_NODE = "Joint Prompt Builder"
MAX_PANEL_TEXTS = 8
T5_TOKEN_BUDGET = 512
"""FLUX.1 was trained with T5 sequences of up to 512 tokens; ComfyUI does not cut longer prompts, the model just
has never seen them."""

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve", "thirteen", "fourteen", "fifteen", "sixteen")
DEFAULT_NUMBER_MARKER = "[PANEL-{n}]"


@dataclass(frozen=True)
class TaskPreset:
    """One released task LoRA: its training canvas and its caption format."""

    id: str
    display_name: str
    lora: str
    canvas: tuple[int, int]
    arrangement: str
    grid: tuple[int, int]
    prefix: str = ""
    opening: str = ""
    markers: str | tuple[str, ...] = "geometry"
    number_marker: str = DEFAULT_NUMBER_MARKER
    wrap_names: bool = False
    summary_separator: str = "; "
    clause_separator: str = "; "
    last_clause_separator: str = ""
    panel_leads: tuple[str, ...] = ()
    lora_local_names: tuple[str, ...] = ()
    """Other names the published file goes by on users' disks; never offered for download."""
    example: dict = field(default_factory=dict, compare=False)

    @property
    def panel_count(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def panel_size(self) -> tuple[int, int]:
        """(width, height) of one panel on the training canvas."""
        return self.canvas[0] // self.grid[1], self.canvas[1] // self.grid[0]

    @classmethod
    def from_dict(cls, preset_id: str, data: dict) -> TaskPreset:
        markers = data.get("markers", "geometry")
        return cls(
            id=preset_id,
            display_name=data["display_name"],
            lora=data["lora"],
            canvas=tuple(data["canvas"]),
            arrangement=data["arrangement"],
            grid=tuple(data["grid"]),
            prefix=data.get("prefix", ""),
            opening=data.get("opening", ""),
            markers=tuple(markers) if isinstance(markers, list) else markers,
            number_marker=data.get("number_marker", DEFAULT_NUMBER_MARKER),
            wrap_names=bool(data.get("wrap_names", False)),
            summary_separator=data.get("summary_separator", "; "),
            clause_separator=data.get("clause_separator", "; "),
            last_clause_separator=data.get("last_clause_separator", ""),
            panel_leads=tuple(data.get("panel_leads", ())),
            lora_local_names=tuple(data.get("lora_local_names", ())),
            example=data.get("example", {}),
        )


@functools.lru_cache(maxsize=1)
def load_presets() -> dict[str, TaskPreset]:
    """Every task preset, from the one data file that nodes, workflows and tests share."""
    data = json.loads(PRESETS_FILE.read_text(encoding="utf-8"))
    return {key: TaskPreset.from_dict(key, value) for key, value in data["tasks"].items()}


MARKERS_HELP = ("Write 'geometry', a template with {n} for the panel number such as '[SHOT-{n}]', or one marker "
                "per panel separated by commas.")


def check_marker_template(template: str, node: str = PROMPT_NODE) -> None:
    """Refuse a custom marker template that `str.format(n=...)` would choke on or fill wrongly: a stray brace, a
    positional field (`{}`, `{0}`), a field other than `{n}`, or no `{n}` at all (every panel the same marker)."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError:
        raise PanelInputError(node, "custom_markers", f"{quoted(template)} has a brace without its pair",
                              "Use {n} for the panel number, and no other braces.") from None
    for name in fields:
        if name == "" or name.isdigit():
            raise PanelInputError(node, "custom_markers", f"{quoted(template)} has a positional field "
                                  f"{{{name}}}", "Name the panel number {n}, e.g. '[SHOT-{n}]'.")
        if name != "n":
            raise PanelInputError(node, "custom_markers", f"{quoted(template)} has the field "
                                  f"{quoted('{' + name + '}')}; only {{n}} (the panel number) is filled in",
                                  "Use {n} for the panel number, e.g. '[SHOT-{n}]'.")
    if not fields:
        raise PanelInputError(node, "custom_markers", f"{quoted(template)} has braces but no {{n}}",
                              MARKERS_HELP)
    try:
        template.format(n=1)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:  # e.g. a bad format spec
        raise PanelInputError(node, "custom_markers", f"{quoted(template)} cannot be filled in ({error})",
                              "Use plain {n} for the panel number, e.g. '[SHOT-{n}]'.") from None


def custom_preset(prefix: str = "", opening: str = "", markers: str = "geometry",
                  node: str = PROMPT_NODE) -> TaskPreset:
    """A preset built from the custom inputs. `markers`: 'geometry', a template with {n} such as '[SHOT-{n}]',
    or a comma list with one marker per panel (the count is checked against the layout in `panel_markers`)."""
    text = markers.strip() or "geometry"
    if text == "geometry":
        marker_spec: str | tuple[str, ...] = "geometry"
        number_marker = DEFAULT_NUMBER_MARKER
    elif "{" in text or "}" in text:
        check_marker_template(text, node)
        marker_spec, number_marker = "numbered", text
    else:
        marker_spec, number_marker = tuple(m.strip() for m in text.split(",")), DEFAULT_NUMBER_MARKER
    return TaskPreset(id=CUSTOM, display_name="Custom", lora="", canvas=(0, 0), arrangement="", grid=(0, 0),
                      prefix=prefix.strip(), opening=opening.strip(), markers=marker_spec,
                      number_marker=number_marker, wrap_names=True)


def choose_preset(preset: str, *, custom_prefix: str, custom_opening: str, custom_markers: str,
                  node: str = PROMPT_NODE) -> TaskPreset:
    """The caption format a node's `preset` input names: a task preset, or one built from the custom_* inputs."""
    if preset == CUSTOM:
        return custom_preset(custom_prefix, custom_opening, custom_markers, node=node)
    presets = load_presets()
    if preset not in presets:
        raise PanelInputError(node, "preset", f"{quoted(preset)} is not a preset",
                              f"Choose one of {', '.join([*presets, CUSTOM])}.")
    return presets[preset]


def geometry_markers(rows: int, cols: int, count: int) -> list[str] | None:
    """The markers the paper's captions use for this shape, or None where the paper has none."""
    if rows == 1 and cols == 2 and count == 2:
        return ["[LEFT]", "[RIGHT]"]
    if rows == 2 and cols == 1 and count == 2:
        return ["[TOP]", "[BOTTOM]"]
    if rows == 2 and cols == 2 and count == 4:
        return ["[TOP-LEFT]", "[TOP-RIGHT]", "[BOTTOM-LEFT]", "[BOTTOM-RIGHT]"]
    return None


def panel_markers(preset: TaskPreset, rows: int, cols: int, count: int) -> list[str]:
    """One marker per panel in reading order."""
    if isinstance(preset.markers, tuple):
        if len(preset.markers) == count:
            return list(preset.markers)
        if preset.id == CUSTOM:  # the user's own list: a wrong count is a mistake, not a cue to number them
            raise PanelInputError(PROMPT_NODE, "custom_markers",
                                  f"{len(preset.markers)} markers are listed but the layout has {count} panels",
                                  f"List {count} markers separated by commas, or write a template such as "
                                  "'[SHOT-{n}]' or 'geometry'.")
    elif preset.markers == "geometry":
        markers = geometry_markers(rows, cols, count)
        if markers is not None:
            return markers
    return [preset.number_marker.format(n=n) for n in range(1, count + 1)]


def _bare_name(name: str) -> str:
    name = name.strip()
    return name[1:-1].strip() if name.startswith("<") and name.endswith(">") else name


def wrap_names(text: str, names: list[str]) -> str:
    """Wrap each character name in < > where it stands as a word and is not wrapped yet (storyboard captions).

    Names may be typed with their brackets (`<Leo>`); any character is literal, backslashes included.
    """
    for name in sorted({_bare_name(n) for n in names} - {""}, key=len, reverse=True):
        text = re.sub(rf"(?<![<\w]){re.escape(name)}(?![>\w])", lambda _, name=name: f"<{name}>", text)
    return text


PRESET_PUNCTUATION = "preset"
AS_WRITTEN = "as written"
PUNCTUATIONS = (PRESET_PUNCTUATION, AS_WRITTEN)
"""How the parts of a caption are joined. `preset`: the task's own separators (`; `, `, while ` ...), any
trailing `.;,` of a text replaced by them. `as written`: every text keeps its own ending and only a space goes
between it and the next marker, so any published caption can be rebuilt exactly (the storyboard's training
captions mix `, `, `; `, `: `, ` ` and `, as ` before their markers)."""

TERMINAL = (".", "!", "?")


def _clean(text: str) -> str:
    """Trim whitespace and the trailing punctuation a clause gets from its separator instead."""
    return " ".join(text.split()).rstrip(" .;,")


def _tidy(text: str) -> str:
    """One line with single spaces; punctuation left as written."""
    return " ".join(text.split())


def _starts_with_words(text: str, words: str) -> bool:
    """Whether `text` opens with `words` as whole words, ignoring case (`while` opens `while the`, not `whilst`)."""
    words = words.strip()
    return bool(words) and re.match(rf"{re.escape(words)}(?!\w)", text, flags=re.IGNORECASE) is not None


def connector(separator: str) -> str:
    """The word a separator joins with (`while` in `, while `, `and` in `, and `), or '' for pure punctuation."""
    return separator.strip(" ,;:.")


def _separator_before(separator: str, text: str) -> str:
    """`separator`, without its connector word when the next clause's text already starts with that word, so
    `while` is never doubled; the punctuation stays (`, while ` before 'while a cat' becomes `, `)."""
    word = connector(separator)
    if word and _starts_with_words(text, word):
        return separator[:separator.index(word)].rstrip() + " "
    return separator


def _with_lead(lead: str, text: str) -> str:
    """A panel's built-in lead (`with the left panel showing `) before its text, unless the text starts with it."""
    if not lead or _starts_with_words(text, lead):
        return text
    return lead + text


def _head(preset: TaskPreset, count: int, summary: str) -> str:
    """Prefix, opening and summary; the prefix or opening is not repeated when the summary already starts with it."""
    parts = []
    if preset.prefix and not summary.startswith(preset.prefix):
        parts.append(preset.prefix)
    opening = opening_phrase(preset, count)
    if opening and not _starts_with_words(summary.removeprefix(preset.prefix).lstrip(), opening):
        parts.append(opening)
    return " ".join(part for part in (*parts, summary) if part)


def opening_phrase(preset: TaskPreset, count: int) -> str:
    word = NUMBER_WORDS[count] if count < len(NUMBER_WORDS) else str(count)
    return preset.opening.replace("{count}", word).replace("{COUNT}", word.upper())


@dataclass(frozen=True)
class JointPrompt:
    prompt: str
    panel_texts: list[str]
    markers: list[str]
    warnings: list[str]


def _prompt_warnings(preset: TaskPreset, summary: str, texts: list[str], extra: list[int], rows: int, cols: int,
                     count: int) -> list[str]:
    warnings: list[str] = []
    if extra:
        warnings.append(f"panel_{', panel_'.join(map(str, extra))} filled but the layout has {count} panels: "
                        "ignored")
    for i, text in enumerate(texts):
        if not text:
            warnings.append(f"panel_{i + 1} is empty: describe every panel, or the LoRA has nothing to go on")
    if preset.id != CUSTOM and (rows, cols) != preset.grid:
        warnings.append(f"the {preset.display_name} LoRA was trained on {preset.panel_count} panels as a "
                        f"{preset.grid[0]}x{preset.grid[1]} {preset.arrangement}; this layout is {count} panels "
                        f"on {rows}x{cols}")
    if not summary:
        warnings.append("the overall description is empty: the summary ties the panels together")
    return warnings


def _panel_leads(preset: TaskPreset, count: int) -> list[str]:
    """The preset's built-in words before each panel's text, where its layout is the one they were written for."""
    return list(preset.panel_leads) if len(preset.panel_leads) == count else [""] * count


def _join(preset: TaskPreset, head: str, clauses: list[str], texts: list[str], as_written: bool) -> str:
    """The head and the marked clauses as one caption: joined by the preset's separators (a separator the next text
    already starts with is not doubled), or as written by single spaces; then closed with one end mark."""
    if as_written:
        prompt = " ".join(part for part in (head, " ".join(clauses)) if part)
    else:
        separators = [preset.clause_separator] * (len(clauses) - 1)
        if preset.last_clause_separator and len(clauses) > 1:
            separators[-1] = preset.last_clause_separator
        body = clauses[0] + "".join(_separator_before(sep, text) + clause
                                    for sep, text, clause in zip(separators, texts[1:], clauses[1:]))
        prompt = f"{head}{preset.summary_separator}{body}" if head else body
    prompt = prompt.strip()
    if not prompt.endswith(TERMINAL if as_written else TERMINAL[1:]):
        prompt += "."
    return prompt


def build_joint_prompt(preset: TaskPreset, summary: str, panel_texts: list[str], rows: int, cols: int,
                       count: int, names: list[str] | None = None, *,
                       punctuation: str = PRESET_PUNCTUATION) -> JointPrompt:
    """Assemble the caption for `count` panels on a rows x cols grid from a summary and per-panel texts.

    `panel_texts` may be longer than `count` (unused widgets); filled ones past `count` are reported, not used.
    `punctuation` (PUNCTUATIONS) says whether the preset's separators join the parts or the texts' own endings do.
    Names are wrapped only inside the user's texts, never inside the prefix, opening or markers.
    """
    if count < 1:
        raise PanelInputError(PROMPT_NODE, "layout", "the layout has no panels",
                              "Connect the layout from Panel Concatenate.")
    if punctuation not in PUNCTUATIONS:
        raise PanelInputError(PROMPT_NODE, "punctuation", f"{quoted(punctuation)} is not an option",
                              f"Choose one of {', '.join(PUNCTUATIONS)}.")
    as_written = punctuation == AS_WRITTEN
    tidy = _tidy if as_written else _clean
    texts = [tidy(t) for t in panel_texts[:count]] + [""] * max(0, count - len(panel_texts))
    extra = [i + 1 for i, t in enumerate(panel_texts[count:], start=count) if t.strip()]
    summary = tidy(summary)
    warnings = _prompt_warnings(preset, summary, texts, extra, rows, cols, count)
    if preset.wrap_names and names:
        summary = wrap_names(summary, names)
        texts = [wrap_names(t, names) for t in texts]

    markers = panel_markers(preset, rows, cols, count)
    clauses = [" ".join(part for part in (marker, _with_lead(lead, text)) if part) for marker, lead, text in
               zip(markers, _panel_leads(preset, count), texts)]
    prompt = _join(preset, _head(preset, count, summary), clauses, texts, as_written)
    return JointPrompt(prompt, texts, markers, warnings)


def split_joint_prompt(prompt: str, markers: list[str]) -> list[str]:
    """The text after each marker up to the next one: the inverse of building, for checking and reuse."""
    positions = _marker_positions(prompt, markers)
    texts = []
    for i, (_, end) in enumerate(positions):
        stop = positions[i + 1][0] if i + 1 < len(positions) else len(prompt)
        texts.append(prompt[end:stop])
    return texts


def _marker_positions(prompt: str, markers: list[str]) -> list[tuple[int, int]]:
    positions = []
    start = 0
    for marker in markers:
        index = prompt.find(marker, start)
        if index < 0:
            raise ValueError(f"marker {marker} not found in order")
        positions.append((index, index + len(marker)))
        start = index + len(marker)
    return positions


@dataclass(frozen=True)
class ParsedCaption:
    """A caption taken apart into what a user types into the Joint Prompt Builder."""

    summary: str
    panel_texts: list[str]
    names: list[str]


def caption_names(caption: str) -> list[str]:
    """The names a caption wraps in < >, in order of first appearance."""
    return list(dict.fromkeys(n.strip() for n in re.findall(r"<([^<>\n]+)>", caption)))


def parse_joint_caption(caption: str, preset: TaskPreset, rows: int, cols: int, count: int) -> ParsedCaption:
    """Split a caption in `preset`'s format into the summary and one text per panel, each as written.

    The inverse of `build_joint_prompt(..., punctuation="as written")`: building the parts again gives the caption
    back exactly when it has single spaces, a space either side of each marker and ends in `.`, `!` or `?` (the
    final period is dropped from the last text and added back). The prefix and opening are taken off the summary
    when they match exactly, panel leads off the texts; an unmarked panel (visual identity's left one) is found by
    its lead. Raises ValueError when a marker is missing or out of order.
    """
    text = _tidy(caption)
    markers = panel_markers(preset, rows, cols, count)
    leads = _panel_leads(preset, count)
    marked = [i for i, m in enumerate(markers) if m]
    if not marked:
        raise ValueError("the preset has no markers to split the caption at")
    if marked != list(range(marked[0], count)):
        raise ValueError("unmarked panels must come before the marked ones")
    positions = _marker_positions(text, [markers[i] for i in marked])
    head = text[:positions[0][0]].strip()
    texts = [""] * count
    for n, i in enumerate(marked):
        stop = positions[n + 1][0] if n + 1 < len(positions) else len(text)
        segment = text[positions[n][1]:stop].strip()
        texts[i] = segment.removeprefix(leads[i]) if leads[i] and segment.startswith(leads[i]) else segment
    if texts[-1].endswith(".") and not texts[-1].endswith(".."):
        texts[-1] = texts[-1][:-1]
    for i in reversed(range(marked[0])):  # unmarked panels sit at the end of the head, each after its lead
        lead = leads[i].strip()
        at = head.rfind(" " + lead + " ") if lead else -1
        if at >= 0:
            head, texts[i] = head[:at].strip(), head[at + len(lead) + 2:].strip()
    if preset.prefix and head.startswith(preset.prefix + " "):
        head = head[len(preset.prefix) + 1:]
    opening = opening_phrase(preset, count)
    if opening and head.startswith(opening + " "):
        head = head[len(opening) + 1:]
    return ParsedCaption(head, texts, caption_names(text))


def token_budget_warning(token_count: int, budget: int = T5_TOKEN_BUDGET) -> str | None:
    if token_count <= budget:
        return None
    return (f"the prompt is {token_count} T5 tokens, {token_count - budget} over the {budget} FLUX was trained "
            "with: shorten the descriptions")
