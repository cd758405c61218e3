"""The panel layout: the one description of a canvas that every node of the pack reads.

Panel Concatenate writes it; Output Slot Mask, the sampler, the prompt builder and Panel Split read it. Keeping
geometry, roles and each input's fit in one serialisable value means no node ever re-derives panel boxes from
widget values that might have changed in between.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from .errors import PanelInputError, kind_of, quoted

ALIGN = 16
"""The default token size: FLUX sees 8 px per latent cell and 2x2 latent cells per token, so panel sides on multiples
of 16 px keep every token inside one panel and give an exact 0/1 latent mask. Most image DiTs share it; others are
in families.py (a layout made for them records its own `token_px`)."""

ARRANGEMENTS = ("row", "column", "grid")
ROLE_INPUT = "input"
ROLE_OUTPUT = "output"
ROLES = (ROLE_INPUT, ROLE_OUTPUT)
LAYOUT_VERSION = 1

CONCATENATE = "Panel Concatenate"


@dataclass(frozen=True)
class Box:
    """An axis-aligned pixel rectangle; x, y is the top-left corner."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    def slices(self) -> tuple[slice, slice]:
        """(rows, columns) slices, for indexing `[B, H, W, C]` tensors as `t[:, rows, cols]`."""
        return slice(self.y, self.y + self.h), slice(self.x, self.x + self.w)

    def to_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]

    @classmethod
    def from_list(cls, values: list[int]) -> Box:
        x, y, w, h = (int(v) for v in values)
        return cls(x, y, w, h)


@dataclass(frozen=True)
class Fit:
    """How a user's image was fitted into its panel, kept so Panel Split can undo it.

    `source_box` is the part of the original image that is visible (crop cuts the rest away);
    `content_box` is where that part sits inside the panel, in panel coordinates (pad leaves a margin).
    """

    mode: str
    source_w: int
    source_h: int
    source_box: Box
    content_box: Box

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "source_size": [self.source_w, self.source_h],
            "source_box": self.source_box.to_list(),
            "content_box": self.content_box.to_list(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Fit:
        source_w, source_h = (int(v) for v in data["source_size"])
        return cls(
            mode=str(data["mode"]),
            source_w=source_w,
            source_h=source_h,
            source_box=Box.from_list(data["source_box"]),
            content_box=Box.from_list(data["content_box"]),
        )


@dataclass(frozen=True)
class Panel:
    """One panel of the canvas. `number` counts from 1 in reading order: it is what users type."""

    number: int
    role: str
    box: Box
    input_index: int | None = None
    fit: Fit | None = None

    @property
    def is_output(self) -> bool:
        return self.role == ROLE_OUTPUT

    def to_dict(self) -> dict:
        data: dict = {"number": self.number, "role": self.role, "box": self.box.to_list()}
        if self.input_index is not None:
            data["input_index"] = self.input_index
        if self.fit is not None:
            data["fit"] = self.fit.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Panel:
        fit = data.get("fit")
        index = data.get("input_index")
        return cls(
            number=int(data["number"]),
            role=str(data["role"]),
            box=Box.from_list(data["box"]),
            input_index=None if index is None else int(index),
            fit=None if fit is None else Fit.from_dict(fit),
        )


@dataclass(frozen=True)
class PanelLayout:
    """Canvas size, grid shape and panels in reading order. Cells of the grid past the last panel stay empty."""

    canvas_w: int
    canvas_h: int
    rows: int
    cols: int
    arrangement: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)
    token_px: int = ALIGN

    @property
    def panel_w(self) -> int:
        return self.canvas_w // self.cols

    @property
    def panel_h(self) -> int:
        return self.canvas_h // self.rows

    @property
    def output_panels(self) -> tuple[Panel, ...]:
        return tuple(p for p in self.panels if p.role == ROLE_OUTPUT)

    @property
    def input_panels(self) -> tuple[Panel, ...]:
        return tuple(p for p in self.panels if p.role == ROLE_INPUT)

    @property
    def token_count(self) -> int:
        """Image tokens the model attends over: one per `token_px` x `token_px` px (16 for FLUX)."""
        return (self.canvas_w // self.token_px) * (self.canvas_h // self.token_px)

    def empty_cells(self) -> list[Box]:
        """Grid cells no panel occupies (e.g. the fourth cell of a 2 x 2 grid holding three panels)."""
        return [cell_box(i, self.cols, self.panel_w, self.panel_h)
                for i in range(len(self.panels), self.rows * self.cols)]

    def role_string(self) -> str:
        """The panel order as Panel Concatenate's `order` input spells it, e.g. `I,I,O`."""
        return ",".join("O" if p.is_output else "I" for p in self.panels)

    def to_dict(self) -> dict:
        data = {
            "version": LAYOUT_VERSION,
            "canvas_size": [self.canvas_w, self.canvas_h],
            "grid": [self.rows, self.cols],
            "arrangement": self.arrangement,
            "panels": [p.to_dict() for p in self.panels],
        }
        if self.token_px != ALIGN:  # optional key: layouts saved before it existed read as 16 px
            data["token_px"] = self.token_px
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict) -> PanelLayout:
        version = data.get("version")
        if version != LAYOUT_VERSION:
            raise ValueError(f"panel layout version {version!r} is not supported (expected {LAYOUT_VERSION})")
        canvas_w, canvas_h = (int(v) for v in data["canvas_size"])
        rows, cols = (int(v) for v in data["grid"])
        return cls(
            canvas_w=canvas_w,
            canvas_h=canvas_h,
            rows=rows,
            cols=cols,
            arrangement=str(data["arrangement"]),
            panels=tuple(Panel.from_dict(p) for p in data["panels"]),
            token_px=int(data.get("token_px", ALIGN)),
        )

    @classmethod
    def from_json(cls, text: str) -> PanelLayout:
        return cls.from_dict(json.loads(text))

    def describe(self) -> str:
        """One line a user can read in the node's report output."""
        roles = self.role_string()
        return (
            f"{len(self.panels)} panels ({roles}) as {self.rows}x{self.cols} {self.arrangement}, "
            f"each {self.panel_w}x{self.panel_h} px; canvas {self.canvas_w}x{self.canvas_h} px "
            f"= {self.canvas_w * self.canvas_h / 1e6:.2f} MP, {self.token_count} "
            + ("FLUX image tokens" if self.token_px == ALIGN else f"image tokens of {self.token_px} px")
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def snap_to_alignment(value: int, step: int = ALIGN) -> int:
    """Nearest multiple of `step` (a token size, ALIGN by default), never below one token."""
    return max(step, int(round(value / step)) * step)


def cell_box(index: int, cols: int, panel_w: int, panel_h: int) -> Box:
    row, col = divmod(index, cols)
    return Box(col * panel_w, row * panel_h, panel_w, panel_h)


def grid_shape(n_panels: int, arrangement: str, rows: int = 0, cols: int = 0) -> tuple[int, int]:
    """Rows and columns for `n_panels`; for `grid`, 0 means "choose": as square as possible, filled row by row."""
    if arrangement not in ARRANGEMENTS:
        raise PanelInputError(CONCATENATE, "arrangement", f"{quoted(arrangement)} is not an arrangement",
                              f"Choose one of {', '.join(ARRANGEMENTS)}.")
    if n_panels < 1:
        raise PanelInputError(CONCATENATE, "output_slots", "the canvas would have no panels",
                              "Connect at least one image or set output_slots to 1 or more.")
    if arrangement == "row":
        return 1, n_panels
    if arrangement == "column":
        return n_panels, 1
    if rows < 0 or cols < 0:
        raise PanelInputError(CONCATENATE, "grid_rows" if rows < 0 else "grid_cols", "a grid side is negative",
                              "Use 0 for automatic or a positive count.")
    if rows and cols:
        if rows * cols < n_panels:
            raise PanelInputError(CONCATENATE, "grid_rows",
                                  f"a {rows}x{cols} grid has {_count(rows * cols, 'cell')} but there are "
                                  f"{n_panels} panels",
                                  "Raise grid_rows or grid_cols, or set one of them to 0 for automatic.")
        return rows, cols
    if cols:
        return math.ceil(n_panels / cols), cols
    if rows:
        return rows, math.ceil(n_panels / rows)
    cols = math.ceil(math.sqrt(n_panels))
    return math.ceil(n_panels / cols), cols


WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
"""Whitespace as JavaScript's `\\s` defines it (Python's `\\s` differs in a few control characters), so that the
editor's preview (js/iclora.js) and the backend split typed lists the same way."""
ORDER_SEPARATORS = re.compile(f"[{WHITESPACE},;]")
"""What may stand between the letters of `order`: any whitespace (space, tab, newline, no-break space ...),
commas and semicolons; the preview strips `/[\\s,;]/g`, the same set."""


def parse_order(order: str, n_inputs: int, n_outputs: int) -> list[str]:
    """Panel roles in reading order.

    Empty `order` (or only separators) puts the inputs first, then the output slots. Otherwise it is a list of `I`
    and `O` (either case; separated by commas, semicolons or any whitespace, or not at all), one letter per
    panel, whose counts must match the connected images and `output_slots`.
    """
    letters = list(ORDER_SEPARATORS.sub("", order).upper())
    if not letters:
        return [ROLE_INPUT] * n_inputs + [ROLE_OUTPUT] * n_outputs
    bad = sorted({c for c in letters if c not in "IO"})
    if bad:
        shown = ", ".join(quoted(b) for b in bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
        raise PanelInputError(CONCATENATE, "order", f"{quoted(order)} contains {shown}",
                              "Write one I (input image) or O (output slot) per panel, e.g. 'I,O,O', "
                              "or leave it empty for inputs first.")
    roles = [ROLE_INPUT if c == "I" else ROLE_OUTPUT for c in letters]
    n_i, n_o = roles.count(ROLE_INPUT), roles.count(ROLE_OUTPUT)
    if n_i != n_inputs or n_o != n_outputs:
        raise PanelInputError(CONCATENATE, "order",
                              f"{quoted(order)} has {n_i} I and {n_o} O, but {_count(n_inputs, 'image')} "
                              f"{'is' if n_inputs == 1 else 'are'} connected and output_slots is {n_outputs}",
                              "Make the counts agree, or leave order empty for inputs first.")
    return roles


def build_layout(roles: list[str], panel_w: int, panel_h: int, arrangement: str, rows: int = 0, cols: int = 0,
                 fits: list[Fit] | None = None, token_px: int = ALIGN) -> PanelLayout:
    """Place panels of one size on a grid in reading order. `fits[i]` belongs to the i-th input panel; panel sides
    are whole tokens of `token_px` px."""
    for name, side in (("panel_width", panel_w), ("panel_height", panel_h)):
        if side < token_px or side % token_px:
            raise PanelInputError(CONCATENATE, name, f"{name} {side} px is not a positive multiple of {token_px} px",
                                  f"Use a multiple of {token_px} px.")
    rows, cols = grid_shape(len(roles), arrangement, rows, cols)
    fits = list(fits or [])
    panels = []
    input_index = 0
    for i, role in enumerate(roles):
        if role not in ROLES:
            raise ValueError(f"unknown panel role {role!r}")
        box = cell_box(i, cols, panel_w, panel_h)
        if role == ROLE_INPUT:
            fit = fits[input_index] if input_index < len(fits) else None
            panels.append(Panel(i + 1, role, box, input_index, fit))
            input_index += 1
        else:
            panels.append(Panel(i + 1, role, box))
    return PanelLayout(cols * panel_w, rows * panel_h, rows, cols, arrangement, tuple(panels), token_px)


def require_layout(value: object, node: str, input_name: str = "layout") -> PanelLayout:
    """The layout input as a layout: a graph sent through the API can hold a literal (text, a dictionary) there,
    which would otherwise fail deep inside with an attribute error."""
    if isinstance(value, PanelLayout):
        return value
    if type(value).__name__ == "PanelLayout" and callable(getattr(value, "to_dict", None)):
        return PanelLayout.from_dict(value.to_dict())  # this pack imported under another module name (the tests)
    raise PanelInputError(node, input_name, f"got {kind_of(value)} instead of a panel layout",
                          "Connect the 'layout' output of Panel Concatenate; a layout cannot be typed in.")


def check_canvas_size(layout: PanelLayout, height: int, width: int, node: str, input_name: str) -> None:
    """Refuse a canvas that does not have the layout's size: it was rescaled or cropped in between, or canvas and
    layout come from two different Panel Concatenate nodes."""
    layout = require_layout(layout, node)
    if (width, height) == (layout.canvas_w, layout.canvas_h):
        return
    raise PanelInputError(node, input_name,
                          f"the canvas is {width}x{height} px but the layout describes a "
                          f"{layout.canvas_w}x{layout.canvas_h} px canvas",
                          "Connect the canvas and the layout of the same Panel Concatenate (the canvas may pass "
                          "through sampling and VAE decode, but not a resize or crop); to change the size, change "
                          "the panels in Panel Concatenate.")


def _short_number(digits: str) -> str:
    number = digits.lstrip("0") or "0"
    return number if len(number) <= 12 else quoted(number, limit=12)


PANEL_NUMBER_HELP = "Write panel numbers counted from 1 in reading order, e.g. '2, 3' or '2-4'."


def parse_panel_numbers(text: str, layout: PanelLayout, node: str, input_name: str) -> list[int]:
    """Panel numbers as users type them ("2, 4", "2-4" or "1 3-4"), checked against the layout, in the order given.

    Every item must be a number or a low-high range: a reversed range or anything else is refused with its own
    message rather than skipped, since a skipped item would mask or return fewer panels than the user asked for.
    """
    count = len(layout.panels)
    numbers: list[int] = []
    spaced = re.sub(f"(?<=[0-9])[{WHITESPACE}]*-[{WHITESPACE}]*(?=[0-9])", "-", text)  # "2 - 4" is 2-4
    for part in re.split(f"[{WHITESPACE},;]+", spaced):
        if not part:
            continue
        match = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", part)
        if match is None:
            raise PanelInputError(node, input_name, f"{quoted(part)} is not a panel number or a range",
                                  PANEL_NUMBER_HELP)
        for digits in filter(None, match.groups()):
            if not 1 <= (int(digits) if len(digits) < 6 else count + 1) <= count:  # no int() of 10^5 digits
                raise PanelInputError(node, input_name,
                                      f"panel {_short_number(digits)} does not exist; the layout has "
                                      + (f"panels 1 to {count}" if count > 1 else "only panel 1"),
                                      "Use numbers within that range.")
        first = int(match.group(1))
        last = first if match.group(2) is None else int(match.group(2))
        if last < first:
            raise PanelInputError(node, input_name, f"the range {quoted(part)} runs backwards",
                                  f"Write ranges from low to high, e.g. '{last}-{first}'.")
        numbers.extend(n for n in range(first, last + 1) if n not in numbers)
    if not numbers:
        raise PanelInputError(node, input_name, f"{quoted(text)} holds no panel number",
                              "Write at least one panel number counted from 1 in reading order, e.g. '2' or '2-4'.")
    return numbers
