"""Cutting a canvas back into panels, optionally undoing how each input was fitted."""

from __future__ import annotations

import torch

from .errors import PanelInputError, quoted
from .fitting import require_image, undo_fit
from .layout import PanelLayout, check_canvas_size, parse_panel_numbers

SPLIT_NODE = "Panel Split"
SELECTIONS = ("output slots", "inputs", "all", "by number")


def select_panels(layout: PanelLayout, selection: str, numbers: str = "") -> list[int]:
    """Panel numbers for a selection keyword (or the typed numbers for `by number`)."""
    if selection == "output slots":
        chosen = [p.number for p in layout.output_panels]
    elif selection == "inputs":
        chosen = [p.number for p in layout.input_panels]
    elif selection == "all":
        chosen = [p.number for p in layout.panels]
    elif selection == "by number":
        return parse_panel_numbers(numbers, layout, SPLIT_NODE, "numbers")
    else:
        raise PanelInputError(SPLIT_NODE, "select", f"{quoted(selection)} is not an option",
                              f"Choose one of {', '.join(SELECTIONS)}.")
    if not chosen:
        kind = "output slots" if selection == "output slots" else "input panels"
        raise PanelInputError(SPLIT_NODE, "select", f"the layout has no {kind}",
                              "Choose 'all' or 'by number', or add them in Panel Concatenate.")
    return chosen


def split_canvas(canvas: torch.Tensor, layout: PanelLayout, numbers: list[int],
                 undo_input_fit: bool = False) -> list[torch.Tensor]:
    """One `[B, h, w, C]` tensor per chosen panel, in the order given.

    With `undo_input_fit`, input panels go back to their source's pixel size (padding removed, stretch undone);
    output slots have no source and keep the panel size.
    """
    require_image(canvas, SPLIT_NODE, "image", "the decoded canvas")
    check_canvas_size(layout, int(canvas.shape[1]), int(canvas.shape[2]), SPLIT_NODE, "image")
    by_number = {p.number: p for p in layout.panels}
    pieces = []
    for number in numbers:
        panel = by_number[number]
        rows, cols = panel.box.slices()
        piece = canvas[:, rows, cols]
        if undo_input_fit and panel.fit is not None:
            piece = undo_fit(piece, panel.fit)
        pieces.append(piece)
    return pieces


def group_for_output(pieces: list[torch.Tensor]) -> list[torch.Tensor]:
    """Equal-sized panels become one batch (canvas by canvas, panels in order); unequal ones stay a list.

    Either way the result is a list, which SaveImage and PreviewImage take item by item.
    """
    if len({tuple(p.shape[1:]) for p in pieces}) == 1:
        return [torch.stack(pieces, dim=1).flatten(0, 1)]
    return pieces
