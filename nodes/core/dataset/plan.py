"""The dataset plan: which sets are used, the one canvas size they share, and each set's joint caption.

Everything is decided before any pixel is loaded. One latent size is what ComfyUI's trainer batches, so every set
becomes a canvas of the same size, chosen from the settings or the first set's first picture; sets with another
panel count are left out (or the whole plan refused), never silently resized into another shape.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PanelInputError
from ..fitting import FIT_MODES, PAD_MODES, parse_color
from ..layout import ALIGN, ARRANGEMENTS, build_layout, grid_shape, snap_to_alignment
from ..prompts import CUSTOM, PRESET_PUNCTUATION, TaskPreset, build_joint_prompt, panel_markers, split_joint_prompt
from .scan import CANVASES, DATASET_NODE, MAX_LISTED_PROBLEMS, SET_FOLDERS, FolderScan, SkippedSet, TrainingSet, listed


@dataclass(frozen=True)
class SetCanvasSettings:
    """How every set of a dataset becomes a canvas: the Panel Concatenate inputs Panel Set Dataset shares (not
    `canvas.CanvasSettings`, which is one Panel Concatenate run with its slots and order)."""

    arrangement: str = "row"
    grid_rows: int = 0
    grid_cols: int = 0
    panel_width: int = 0
    panel_height: int = 0
    fit: str = "crop"
    pad_mode: str = "color"
    fill_color: str = "#808080"
    max_megapixels: float = 4.0


@dataclass(frozen=True)
class PlannedSet:
    source: TrainingSet
    caption: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetPlan:
    """Everything needed to build (or rebuild, for export) each canvas, decided before any pixel is loaded."""

    folder: Path
    label: str
    folder_format: str
    sets: tuple[PlannedSet, ...]
    skipped: tuple[SkippedSet, ...]
    settings: SetCanvasSettings
    panel_count: int
    rows: int
    cols: int
    panel_w: int
    panel_h: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def canvas_size(self) -> tuple[int, int]:
        return self.cols * self.panel_w, self.rows * self.panel_h

    @property
    def captions(self) -> list[str]:
        return [s.caption for s in self.sets]

    @property
    def arrangement(self) -> str:
        return canvas_arrangement(self.settings, self.folder_format)


def canvas_arrangement(settings: SetCanvasSettings, folder_format: str) -> str:
    """The settings' arrangement for set folders; a flat folder's canvases are whole pictures, one panel in a row."""
    return settings.arrangement if folder_format == SET_FOLDERS else "row"


def _check_settings(settings: SetCanvasSettings) -> None:
    for name, value, options in (("arrangement", settings.arrangement, ARRANGEMENTS),
                                 ("fit", settings.fit, FIT_MODES), ("pad_mode", settings.pad_mode, PAD_MODES)):
        if value not in options:
            raise PanelInputError(DATASET_NODE, name, f"'{value}' is not an option",
                                  f"Choose one of {', '.join(options)}.")
    parse_color(settings.fill_color, DATASET_NODE, "fill_color")
    if not settings.max_megapixels > 0:
        raise PanelInputError(DATASET_NODE, "max_megapixels", "must be above 0", "Set it to e.g. 4.0.")


def as_dataset_error(error: PanelInputError, set_name: str | None = None) -> PanelInputError:
    """Panel Concatenate's and the Joint Prompt Builder's checks, reworded for this node: their input names are
    this node's, except the images (which are the folder's files)."""
    input_name = "folder" if error.input_name.startswith("image_") else error.input_name
    where = f"set '{set_name}': " if set_name else ""
    return PanelInputError(DATASET_NODE, input_name, where + error.problem, error.fix)


def _fail_with(problems: list[SkippedSet], label: str) -> PanelInputError:
    more = f"; and {len(problems) - MAX_LISTED_PROBLEMS} more" if len(problems) > MAX_LISTED_PROBLEMS else ""
    return PanelInputError(DATASET_NODE, "folder", f"{len(problems)} set(s) in '{label}' cannot be used "
                           f"({listed(problems)}{more})",
                           "Fix them (nothing in the folder was changed), or turn on skip_bad_sets to train on "
                           "the others.")


def marker_warning(caption: str, preset: TaskPreset, rows: int, cols: int, count: int,
                   whole_canvas: bool = False) -> str | None:
    """For a task preset: a verbatim caption without the task's markers in panel order teaches the LoRA a format
    its users will not type, so say so (the caption itself is never changed)."""
    if preset.id == CUSTOM:
        return None
    if whole_canvas:  # a flat folder of joined canvases: the preset's own panel layout
        (rows, cols), count = preset.grid, preset.panel_count
    markers = [m for m in panel_markers(preset, rows, cols, count) if m]
    try:
        split_joint_prompt(caption, markers)
    except ValueError:
        return (f"the caption does not have the {preset.display_name} markers {' '.join(markers)} in panel order; "
                "the LoRA learns the caption format from the captions")
    return None


def _same_panel_count(sets: list[TrainingSet]) -> tuple[list[TrainingSet], list[SkippedSet]]:
    """Keep the sets with the most common panel count (ties: the first set's); the others cannot share a canvas."""
    if not sets:
        return [], []
    counts = Counter(s.panel_count for s in sets)
    first = sets[0].panel_count
    count = max(counts, key=lambda n: (counts[n], n == first))
    others = [SkippedSet(s.name, f"it has {s.panel_count} panel image(s) but {counts[count]} of {len(sets)} sets "
                                 f"have {count}; every canvas of a dataset needs the same panels")
              for s in sets if s.panel_count != count]
    return [s for s in sets if s.panel_count == count], others


def _panel_size(settings: SetCanvasSettings, first: TrainingSet, notes: list[str]) -> tuple[int, int]:
    """The dataset's one panel size: the settings', or the first set's first picture's, snapped (and noted)."""
    first_w, first_h = first.sizes[0]
    sides = []
    for name, value, first_side in (("panel_width", settings.panel_width, first_w),
                                    ("panel_height", settings.panel_height, first_h)):
        side = value or first_side
        origin = f"{name} {side} px" + ("" if value else f" (from {first.images[0].name} of set '{first.name}')")
        if side < ALIGN:
            raise PanelInputError(DATASET_NODE, name, f"{origin} is below the {ALIGN} px minimum of a FLUX panel",
                                  "Set panel_width and panel_height, e.g. 512.")
        snapped = snap_to_alignment(side)
        if snapped != side:
            notes.append(f"{origin} snapped to {snapped} px")
        sides.append(snapped)
    return sides[0], sides[1]


def _check_canvas_size(settings: SetCanvasSettings, width: int, height: int) -> None:
    megapixels = width * height / 1e6
    if megapixels > settings.max_megapixels:
        raise PanelInputError(DATASET_NODE, "max_megapixels",
                              f"every canvas would be {width}x{height} = {megapixels:.2f} MP, over the limit of "
                              f"{settings.max_megapixels:g} MP",
                              "Set smaller panel_width and panel_height (training memory grows fast with the "
                              "token count), or raise max_megapixels.")


def _caption(source: TrainingSet, preset: TaskPreset, rows: int, cols: int, whole_canvas: bool, names: list[str],
             punctuation: str) -> PlannedSet:
    """A verbatim caption (checked for the preset's markers), or the per-panel texts joined by the Joint Prompt
    Builder's own function."""
    count = source.panel_count
    if source.caption is not None:
        warning = marker_warning(source.caption, preset, rows, cols, count, whole_canvas=whole_canvas)
        return PlannedSet(source, source.caption, (warning,) if warning else ())
    try:
        built = build_joint_prompt(preset, summary=source.summary, panel_texts=list(source.panel_texts), rows=rows,
                                   cols=cols, count=count, names=names, punctuation=punctuation)
    except PanelInputError as error:
        raise as_dataset_error(error, source.name) from None
    return PlannedSet(source, built.prompt, tuple(built.warnings))


def plan_dataset(scan: FolderScan, settings: SetCanvasSettings, preset: TaskPreset, names: list[str] | None = None,
                 skip_bad_sets: bool = False, punctuation: str = PRESET_PUNCTUATION) -> DatasetPlan:
    """Choose the sets, the one canvas size and each set's joint caption; refuse (listing every problem) unless
    `skip_bad_sets`. Per-panel texts become the caption through the Joint Prompt Builder's own function, joined
    by the preset's separators or, with `punctuation` 'as written', by each text's own ending."""
    _check_settings(settings)
    sets, other_counts = _same_panel_count(list(scan.sets))
    problems = [*scan.problems, *other_counts]
    if problems and not skip_bad_sets:
        raise _fail_with(problems, scan.label)
    if not sets:
        raise PanelInputError(DATASET_NODE, "folder", f"no usable set is left in '{scan.label}' ("
                              f"{listed(problems)})", "Fix the sets listed; nothing in the folder was changed.")

    count = sets[0].panel_count
    arrangement = canvas_arrangement(settings, scan.folder_format)
    try:
        rows, cols = grid_shape(count, arrangement, settings.grid_rows, settings.grid_cols)
    except PanelInputError as error:
        raise as_dataset_error(error) from None
    notes = list(scan.notes)
    panel_w, panel_h = _panel_size(settings, sets[0], notes)
    layout = build_layout(["input"] * count, panel_w, panel_h, arrangement, rows, cols)
    _check_canvas_size(settings, layout.canvas_w, layout.canvas_h)

    whole_canvas = scan.folder_format == CANVASES
    planned = [_caption(s, preset, rows, cols, whole_canvas, names or [], punctuation) for s in sets]
    return DatasetPlan(folder=scan.folder, label=scan.label, folder_format=scan.folder_format,
                       sets=tuple(planned), skipped=tuple(problems), settings=settings, panel_count=count,
                       rows=rows, cols=cols, panel_w=panel_w, panel_h=panel_h, notes=tuple(notes))
