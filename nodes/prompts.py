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
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PanelInputError

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


def custom_preset(prefix: str = "", opening: str = "", markers: str = "geometry") -> TaskPreset:
    """A preset built from the custom inputs. `markers`: 'geometry', a template with {n} such as '[SHOT-{n}]',
    or a comma list with one marker per panel."""
    text = markers.strip() or "geometry"
    if text == "geometry":
        marker_spec: str | tuple[str, ...] = "geometry"
        number_marker = DEFAULT_NUMBER_MARKER
    elif "{n}" in text:
        marker_spec, number_marker = "numbered", text
    else:
        marker_spec, number_marker = tuple(m.strip() for m in text.split(",")), DEFAULT_NUMBER_MARKER
    return TaskPreset(id=CUSTOM, display_name="Custom", lora="", canvas=(0, 0), arrangement="", grid=(0, 0),
                      prefix=prefix.strip(), opening=opening.strip(), markers=marker_spec,
                      number_marker=number_marker, wrap_names=True)


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
    elif preset.markers == "geometry":
        markers = geometry_markers(rows, cols, count)
        if markers is not None:
            return markers
    return [preset.number_marker.format(n=n) for n in range(1, count + 1)]


def wrap_names(text: str, names: list[str]) -> str:
    """Wrap each character name in < > where it stands as a word and is not wrapped yet (storyboard captions)."""
    for name in sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True):
        text = re.sub(rf"(?<![<\w]){re.escape(name)}(?![>\w])", f"<{name}>", text)
    return text


def _clean(text: str) -> str:
    """Trim whitespace and the trailing punctuation a clause gets from its separator instead."""
    return " ".join(text.split()).rstrip(" .;,")


def opening_phrase(preset: TaskPreset, count: int) -> str:
    word = NUMBER_WORDS[count] if count < len(NUMBER_WORDS) else str(count)
    return preset.opening.replace("{count}", word).replace("{COUNT}", word.upper())


@dataclass(frozen=True)
class JointPrompt:
    prompt: str
    panel_texts: list[str]
    markers: list[str]
    warnings: list[str]


def build_joint_prompt(preset: TaskPreset, summary: str, panel_texts: list[str], rows: int, cols: int,
                       count: int, names: list[str] | None = None) -> JointPrompt:
    """Assemble the caption for `count` panels on a rows x cols grid from a summary and per-panel texts.

    `panel_texts` may be longer than `count` (unused widgets); filled ones past `count` are reported, not used.
    """
    warnings: list[str] = []
    if count < 1:
        raise PanelInputError(PROMPT_NODE, "layout", "the layout has no panels",
                              "Connect the layout from Panel Concatenate.")
    texts = [_clean(t) for t in panel_texts[:count]] + [""] * max(0, count - len(panel_texts))
    extra = [i + 1 for i, t in enumerate(panel_texts[count:], start=count) if t.strip()]
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
    summary = _clean(summary)
    if not summary:
        warnings.append("the overall description is empty: the summary ties the panels together")

    markers = panel_markers(preset, rows, cols, count)
    leads = list(preset.panel_leads) if len(preset.panel_leads) == count else [""] * count
    clauses = [" ".join(part for part in (marker, lead + text) if part) for marker, lead, text in
               zip(markers, leads, texts)]
    if preset.last_clause_separator and len(clauses) > 1:
        body = preset.clause_separator.join(clauses[:-1]) + preset.last_clause_separator + clauses[-1]
    else:
        body = preset.clause_separator.join(clauses)
    head = " ".join(part for part in (preset.prefix, opening_phrase(preset, count), summary) if part)
    prompt = f"{head}{preset.summary_separator}{body}" if head else body
    prompt = prompt.strip() + "."
    if preset.wrap_names and names:
        prompt = wrap_names(prompt, names)
        texts = [wrap_names(t, names) for t in texts]
    return JointPrompt(prompt, texts, markers, warnings)


def split_joint_prompt(prompt: str, markers: list[str]) -> list[str]:
    """The text after each marker up to the next one: the inverse of building, for checking and reuse."""
    positions = []
    start = 0
    for marker in markers:
        index = prompt.find(marker, start)
        if index < 0:
            raise ValueError(f"marker {marker} not found in order")
        positions.append((index, index + len(marker)))
        start = index + len(marker)
    texts = []
    for i, (_, end) in enumerate(positions):
        stop = positions[i + 1][0] if i + 1 < len(positions) else len(prompt)
        texts.append(prompt[end:stop])
    return texts


def token_budget_warning(token_count: int, budget: int = T5_TOKEN_BUDGET) -> str | None:
    if token_count <= budget:
        return None
    return (f"the prompt is {token_count} T5 tokens, {token_count - budget} over the {budget} FLUX was trained "
            "with: shorten the descriptions")
