"""One picture of a whole set, panels where the canvas had them, references marked: users judge a set as a whole.
Shared by the headless runner and the batch runner; needs only Pillow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GAP = 8
LABEL = 22
BACKGROUND = (24, 26, 32)
TEXT = (230, 230, 230)
REFERENCE = (240, 180, 40)  # the frame and label colour of a reference panel


@dataclass
class SheetPanel:
    image: object  # a PIL image
    label: str
    reference: bool = False


def contact_sheet(panels: list[SheetPanel], target: Path, cols: int | None = None) -> None:
    """Panels in reading order on a grid of `cols` columns (all in one row when None), each labelled; references
    framed and labelled as such. Written atomically (a temporary file, then a rename)."""
    from PIL import Image, ImageDraw

    if not panels:
        raise ValueError("a contact sheet needs at least one panel")
    cols = max(1, min(cols or len(panels), len(panels)))
    rows = -(-len(panels) // cols)
    labels = [f"{p.label} (reference)" if p.reference else p.label for p in panels]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    cell_w = max(max(p.image.width for p in panels), *(int(measure.textlength(t)) + 6 for t in labels))
    cell_h = max(p.image.height for p in panels)
    sheet = Image.new("RGB", (cols * cell_w + (cols + 1) * GAP, rows * (cell_h + LABEL) + (rows + 1) * GAP),
                      BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, (panel, label) in enumerate(zip(panels, labels)):
        row, col = divmod(index, cols)
        x = GAP + col * (cell_w + GAP)
        y = GAP + row * (cell_h + LABEL + GAP)
        sheet.paste(panel.image.convert("RGB"), (x, y + LABEL))
        draw.text((x, y + 4), label, fill=REFERENCE if panel.reference else TEXT)
        if panel.reference:
            draw.rectangle((x - 3, y + LABEL - 3, x + panel.image.width + 2, y + LABEL + panel.image.height + 2),
                           outline=REFERENCE, width=3)
    target = Path(target)
    temporary = target.with_name(f".{target.name}.tmp")
    sheet.save(temporary, format="PNG")
    temporary.replace(target)
