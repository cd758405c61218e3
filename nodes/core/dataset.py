"""Training sets for an IC-LoRA: read from a folder, checked, and built into canvases one set at a time.

A user's own in-context task is a few dozen example sets. They arrive in one of two shapes: one sub-folder per set
(the panels as separate images, in file-name order) or a flat folder of canvases that are already joined, each
with a same-name `.txt` caption (the authors' released movie-shots data, and what LoRA trainers read). Every set
is checked before anything is encoded, so a bad folder fails fast with every problem listed, and nothing in the
folder is ever changed. Canvases are built with Panel Concatenate's own code at one size for the whole dataset
(one latent size is what ComfyUI's trainer batches), and are built lazily: only one set's pixels at full size are
held at a time.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from .canvas import MAX_IMAGES, concatenate_panels
from .errors import PanelInputError
from .fitting import FIT_MODES, PAD_MODES, parse_color
from .layout import ARRANGEMENTS, build_layout, grid_shape, snap_to_alignment
from .prompts import CUSTOM, PRESET_PUNCTUATION, TaskPreset, build_joint_prompt, panel_markers, split_joint_prompt

DATASET_NODE = "Panel Set Dataset"
EXPORT_NODE = "Panel Set Export"
LAYOUTS = ("auto", "set folders", "canvases")
SET_FOLDERS, CANVASES = "set folders", "canvases"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
CAPTION_FILE = "caption.txt"
"""In a set folder: the whole joint caption, used verbatim."""
SUMMARY_FILE = "summary.txt"
"""In a set folder with one text per panel: the overall description the Joint Prompt Builder puts first."""
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}
"""What zip tools and file browsers leave behind (the authors' own zip has .DS_Store and __MACOSX)."""
MAX_LISTED_PROBLEMS = 12
PREVIEW_MAX_SIDE = 384


@dataclass(frozen=True)
class CanvasSettings:
    """How every set becomes a canvas: Panel Concatenate's inputs, shared by the whole dataset."""

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
class TrainingSet:
    """One example set as found on disk. `images` are in panel order; a flat-folder canvas has one."""

    name: str
    images: tuple[Path, ...]
    sizes: tuple[tuple[int, int], ...]
    caption: str | None = None
    summary: str = ""
    panel_texts: tuple[str, ...] = ()
    caption_source: str = ""

    @property
    def panel_count(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class SkippedSet:
    name: str
    reason: str


@dataclass(frozen=True)
class FolderScan:
    """What a dataset folder holds: usable-looking sets, the ones with problems, and notes on ignored files."""

    folder: Path
    label: str
    layout: str
    sets: tuple[TrainingSet, ...]
    problems: tuple[SkippedSet, ...]
    notes: tuple[str, ...] = ()


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
    layout: str
    sets: tuple[PlannedSet, ...]
    skipped: tuple[SkippedSet, ...]
    settings: CanvasSettings
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


@dataclass(frozen=True)
class BuiltCanvas:
    planned: PlannedSet
    canvas: torch.Tensor | None
    problem: str | None = None


def natural_key(name: str) -> list:
    """File-name order as people mean it: `2.png` before `10.png`, case ignored."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower())]


def _ignored(entry: Path) -> bool:
    return entry.name.startswith(".") or entry.name in IGNORED_NAMES


def _entries(folder: Path) -> list[Path]:
    return sorted((e for e in folder.iterdir() if not _ignored(e)), key=lambda e: natural_key(e.name))


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def resolve_dataset_folder(input_dir: str | Path, folder: str) -> tuple[Path, str]:
    """The dataset folder, resolved (symlinks and `..` included) and refused unless it lies inside `input_dir`."""
    text = folder.strip().strip("/\\") if folder else ""
    if not text:
        raise PanelInputError(DATASET_NODE, "folder", "no folder is given",
                              "Type the name of a folder inside ComfyUI's input folder, e.g. 'my-task'.")
    root = Path(input_dir).resolve()
    target = (root / text).resolve()
    if target != root and root not in target.parents:
        raise PanelInputError(DATASET_NODE, "folder", f"'{text}' points outside ComfyUI's input folder",
                              "Put the sets in a folder inside ComfyUI's input folder and give its path "
                              "relative to it, e.g. 'my-task'.")
    if not target.exists():
        raise PanelInputError(DATASET_NODE, "folder", f"'{text}' does not exist in ComfyUI's input folder",
                              "Create it there (one sub-folder per set, or canvases with same-name .txt "
                              "captions) and check the spelling.")
    if not target.is_dir():
        raise PanelInputError(DATASET_NODE, "folder", f"'{text}' is a file, not a folder",
                              "Give the folder that holds the sets.")
    return target, text


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) as the picture will be loaded (EXIF rotation applied), read from the header only."""
    with Image.open(path) as img:
        width, height = img.size
        if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):
            width, height = height, width
    return width, height


def load_image(path: Path) -> torch.Tensor:
    """`[1, H, W, 3]` float pixels in 0-1, decoded the way ComfyUI's Load Image does (EXIF rotation, 16-bit)."""
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        if img.mode == "I":
            img = img.point(lambda i: i * (1 / 255))
        pixels = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(pixels.copy())[None]


def read_caption(path: Path) -> str:
    """A caption file's text as written: only a byte-order mark and the surrounding whitespace (the final newline
    editors add) are removed, as every LoRA trainer does, so the text the model sees is the file's."""
    return path.read_bytes().decode("utf-8-sig").strip()


def _unreadable(path: Path, error: Exception) -> str:
    detail = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
    return f"{path.name} cannot be read as an image ({detail})"


def _sizes(images: list[Path]) -> tuple[list[tuple[int, int]], str | None]:
    sizes = []
    for image in images:
        try:
            sizes.append(image_size(image))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            return sizes, _unreadable(image, error)
    return sizes, None


def _texts(paths: list[Path]) -> tuple[dict[str, str], str | None]:
    texts = {}
    for path in paths:
        try:
            texts[path.name] = read_caption(path)
        except UnicodeDecodeError:
            return texts, f"{path.name} is not UTF-8 text"
        except OSError as error:
            return texts, f"{path.name} cannot be read ({error.strerror or error})"
    return texts, None


def _duplicate_stems(images: list[Path]) -> str | None:
    stems = Counter(p.stem.lower() for p in images)
    twins = sorted(stem for stem, n in stems.items() if n > 1)
    if not twins:
        return None
    names = ", ".join(p.name for p in images if p.stem.lower() == twins[0])
    return f"{names} share the name '{twins[0]}', so their caption file would be ambiguous"


def _scan_set_folder(folder: Path) -> TrainingSet | SkippedSet:
    """One sub-folder: panel images in file-name order plus caption.txt, or one .txt per panel (+ summary.txt)."""
    name = folder.name
    entries = _entries(folder)
    images = [e for e in entries if e.is_file() and _is_image(e)]
    texts = [e for e in entries if e.is_file() and e.suffix.lower() == ".txt"]
    for entry in entries:
        if entry.is_dir():
            return SkippedSet(name, f"it holds a sub-folder '{entry.name}'; a set folder holds only its panel "
                                    "images and their captions")
        if entry not in images and entry not in texts:
            return SkippedSet(name, f"{entry.name} is not an image ({', '.join(IMAGE_EXTENSIONS)}) or a .txt "
                                    "caption")
    if not images:
        return SkippedSet(name, "it has no panel images")
    if len(images) > MAX_IMAGES:
        return SkippedSet(name, f"it has {len(images)} panel images; a canvas holds at most {MAX_IMAGES}")
    twins = _duplicate_stems(images)
    if twins:
        return SkippedSet(name, twins)
    sizes, problem = _sizes(images)
    if problem:
        return SkippedSet(name, problem)
    read, problem = _texts(texts)
    if problem:
        return SkippedSet(name, problem)
    stems = {p.stem.lower(): p for p in images}
    for text in texts:
        if text.name.lower() not in (CAPTION_FILE, SUMMARY_FILE) and text.stem.lower() not in stems:
            return SkippedSet(name, f"{text.name} is neither {CAPTION_FILE} (the joint caption), {SUMMARY_FILE} "
                                    "(the overall description) nor named after a panel image")
    by_lower = {n.lower(): t for n, t in read.items()}
    if CAPTION_FILE in by_lower:
        if not by_lower[CAPTION_FILE]:
            return SkippedSet(name, f"{CAPTION_FILE} is empty")
        return TrainingSet(name, tuple(images), tuple(sizes), caption=by_lower[CAPTION_FILE],
                           caption_source=CAPTION_FILE)
    panel_texts = [by_lower.get(f"{p.stem.lower()}.txt") for p in images]
    missing = [f"{p.stem}.txt" for p, t in zip(images, panel_texts) if not t]
    if missing:
        have = len(images) - len(missing)
        return SkippedSet(name, f"it has no caption: add {CAPTION_FILE} (the whole joint caption) or one .txt per "
                                f"panel image ({have} of {len(images)} found; missing or empty: "
                                f"{', '.join(missing)})")
    return TrainingSet(name, tuple(images), tuple(sizes), summary=by_lower.get(SUMMARY_FILE, ""),
                       panel_texts=tuple(panel_texts), caption_source="per-panel texts")


def _scan_canvases(entries: list[Path]) -> tuple[list[TrainingSet], list[SkippedSet]]:
    """A flat folder: each image is one whole canvas, captioned by the same-name .txt (used verbatim)."""
    images = [e for e in entries if e.is_file() and _is_image(e)]
    texts = {e.stem.lower(): e for e in entries if e.is_file() and e.suffix.lower() == ".txt"}
    sets, problems = [], []
    for entry in entries:
        if entry.is_file() and entry not in images and entry.suffix.lower() != ".txt":
            problems.append(SkippedSet(entry.name, f"{entry.name} is not an image ({', '.join(IMAGE_EXTENSIONS)}) "
                                                   "or a .txt caption"))
    stems = Counter(p.stem.lower() for p in images)
    for image in images:
        if stems[image.stem.lower()] > 1:
            problems.append(SkippedSet(image.name, _duplicate_stems(images) or ""))
            continue
        text = texts.get(image.stem.lower())
        if text is None:
            problems.append(SkippedSet(image.name, f"it has no caption: add {image.stem}.txt next to it"))
            continue
        sizes, problem = _sizes([image])
        read, text_problem = _texts([text])
        problem = problem or text_problem
        if not problem and not read[text.name]:
            problem = f"{text.name} is empty"
        if problem:
            problems.append(SkippedSet(image.name, problem))
            continue
        sets.append(TrainingSet(image.stem, (image,), tuple(sizes), caption=read[text.name],
                                caption_source=text.name))
    image_stems = set(stems)
    for stem, text in texts.items():
        if stem not in image_stems:
            problems.append(SkippedSet(text.name, f"{text.name} has no image of the same name"))
    return sets, problems


def scan_dataset(input_dir: str | Path, folder: str, layout: str = "auto") -> FolderScan:
    """Find the sets in `folder` (relative to `input_dir`) and check each one; reads headers and texts only."""
    if layout not in LAYOUTS:
        raise PanelInputError(DATASET_NODE, "layout", f"'{layout}' is not an option",
                              f"Choose one of {', '.join(LAYOUTS)}.")
    root, label = resolve_dataset_folder(input_dir, folder)
    entries = _entries(root)
    subfolders = [e for e in entries if e.is_dir()]
    top_images = [e for e in entries if e.is_file() and _is_image(e)]
    if not subfolders and not top_images:
        raise PanelInputError(DATASET_NODE, "folder", f"'{label}' holds no training sets (no images and no "
                              "sub-folders)",
                              "Add one sub-folder per set with its panel images and a caption, or whole "
                              "canvases with same-name .txt captions.")
    if layout == "auto":
        if subfolders and top_images:
            raise PanelInputError(DATASET_NODE, "folder", f"'{label}' holds both images at its top level "
                                  f"({top_images[0].name}, ...) and sub-folders ({subfolders[0].name}, ...)",
                                  "Keep one layout per dataset: one sub-folder per set, or a flat folder of "
                                  "canvases; or choose the layout explicitly.")
        layout = SET_FOLDERS if subfolders else CANVASES
    notes: list[str] = []
    if layout == SET_FOLDERS:
        if not subfolders:
            raise PanelInputError(DATASET_NODE, "layout", f"'{label}' has no sub-folders, so it holds no set "
                                  "folders", "Choose layout 'canvases' (or 'auto') for a flat folder of canvases.")
        others = [e.name for e in entries if e.is_file()]
        if others:
            notes.append(f"files at the top of the folder are not read: {', '.join(others[:5])}"
                         + (" ..." if len(others) > 5 else ""))
        found = [_scan_set_folder(f) for f in subfolders]
        sets = [s for s in found if isinstance(s, TrainingSet)]
        problems = [s for s in found if isinstance(s, SkippedSet)]
    else:
        if not top_images:
            raise PanelInputError(DATASET_NODE, "layout", f"'{label}' has no images at its top level, so it holds "
                                  "no canvases", "Choose layout 'set folders' (or 'auto') for one sub-folder per "
                                  "set.")
        if subfolders:
            notes.append(f"sub-folders are not read in the canvases layout: "
                         f"{', '.join(f.name for f in subfolders[:5])}")
        sets, problems = _scan_canvases(entries)
    return FolderScan(root, label, layout, tuple(sets), tuple(problems), tuple(notes))


def _check_settings(settings: CanvasSettings) -> None:
    for name, value, options in (("arrangement", settings.arrangement, ARRANGEMENTS),
                                 ("fit", settings.fit, FIT_MODES), ("pad_mode", settings.pad_mode, PAD_MODES)):
        if value not in options:
            raise PanelInputError(DATASET_NODE, name, f"'{value}' is not an option",
                                  f"Choose one of {', '.join(options)}.")
    parse_color(settings.fill_color, DATASET_NODE, "fill_color")
    if not settings.max_megapixels > 0:
        raise PanelInputError(DATASET_NODE, "max_megapixels", "must be above 0", "Set it to e.g. 4.0.")


def _as_dataset_error(error: PanelInputError, set_name: str | None = None) -> PanelInputError:
    """Panel Concatenate's checks, reworded for this node: its input names are this node's, except the images."""
    input_name = "folder" if error.input_name.startswith("image_") else error.input_name
    where = f"set '{set_name}': " if set_name else ""
    return PanelInputError(DATASET_NODE, input_name, where + error.problem, error.fix)


def _fail_with(problems: list[SkippedSet], label: str) -> PanelInputError:
    listed = "; ".join(f"{p.name}: {p.reason}" for p in problems[:MAX_LISTED_PROBLEMS])
    more = f"; and {len(problems) - MAX_LISTED_PROBLEMS} more" if len(problems) > MAX_LISTED_PROBLEMS else ""
    return PanelInputError(DATASET_NODE, "folder", f"{len(problems)} set(s) in '{label}' cannot be used "
                           f"({listed}{more})",
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


def plan_dataset(scan: FolderScan, settings: CanvasSettings, preset: TaskPreset, names: list[str] | None = None,
                 skip_bad_sets: bool = False, punctuation: str = PRESET_PUNCTUATION) -> DatasetPlan:
    """Choose the sets, the one canvas size and each set's joint caption; refuse (listing every problem) unless
    `skip_bad_sets`. Per-panel texts become the caption through the Joint Prompt Builder's own function, joined
    by the preset's separators or, with `punctuation` 'as written', by each text's own ending."""
    _check_settings(settings)
    problems = list(scan.problems)
    sets = list(scan.sets)
    if sets:
        counts = Counter(s.panel_count for s in sets)
        first = sets[0].panel_count
        count = max(counts, key=lambda n: (counts[n], n == first))
        for s in sets:
            if s.panel_count != count:
                problems.append(SkippedSet(s.name, f"it has {s.panel_count} panel image(s) but "
                                                   f"{counts[count]} of {len(sets)} sets have {count}; every "
                                                   "canvas of a dataset needs the same panels"))
        sets = [s for s in sets if s.panel_count == count]
    if problems and not skip_bad_sets:
        raise _fail_with(problems, scan.label)
    if not sets:
        raise PanelInputError(DATASET_NODE, "folder", f"no usable set is left in '{scan.label}' ("
                              + "; ".join(f"{p.name}: {p.reason}" for p in problems[:MAX_LISTED_PROBLEMS]) + ")",
                              "Fix the sets listed; nothing in the folder was changed.")

    count = sets[0].panel_count
    arrangement = settings.arrangement if scan.layout == SET_FOLDERS else "row"
    try:
        rows, cols = grid_shape(count, arrangement, settings.grid_rows, settings.grid_cols)
    except PanelInputError as error:
        raise _as_dataset_error(error) from None
    notes = list(scan.notes)
    first_w, first_h = sets[0].sizes[0]
    sides = []
    for name, value, first_side in (("panel_width", settings.panel_width, first_w),
                                    ("panel_height", settings.panel_height, first_h)):
        side = value or first_side
        origin = f"{name} {side} px" + ("" if value else f" (from {sets[0].images[0].name} of set "
                                                           f"'{sets[0].name}')")
        if side < 16:
            raise PanelInputError(DATASET_NODE, name, f"{origin} is below the 16 px minimum of a FLUX panel",
                                  "Set panel_width and panel_height, e.g. 512.")
        snapped = snap_to_alignment(side)
        if snapped != side:
            notes.append(f"{origin} snapped to {snapped} px")
        sides.append(snapped)
    panel_w, panel_h = sides
    layout = build_layout(["input"] * count, panel_w, panel_h, arrangement, rows, cols)
    megapixels = layout.canvas_w * layout.canvas_h / 1e6
    if megapixels > settings.max_megapixels:
        raise PanelInputError(DATASET_NODE, "max_megapixels",
                              f"every canvas would be {layout.canvas_w}x{layout.canvas_h} = {megapixels:.2f} MP, "
                              f"over the limit of {settings.max_megapixels:g} MP",
                              "Set smaller panel_width and panel_height (training memory grows fast with the "
                              "token count), or raise max_megapixels.")

    planned = []
    for s in sets:
        if s.caption is not None:
            warning = marker_warning(s.caption, preset, rows, cols, count, whole_canvas=scan.layout == CANVASES)
            planned.append(PlannedSet(s, s.caption, (warning,) if warning else ()))
            continue
        built = build_joint_prompt(preset, summary=s.summary, panel_texts=list(s.panel_texts), rows=rows,
                                   cols=cols, count=count, names=names, punctuation=punctuation)
        planned.append(PlannedSet(s, built.prompt, tuple(built.warnings)))
    return DatasetPlan(scan.folder, scan.label, scan.layout, tuple(planned), tuple(problems), settings, count,
                       rows, cols, panel_w, panel_h, tuple(notes))


def build_canvas(plan: DatasetPlan, planned: PlannedSet) -> torch.Tensor:
    """One set's canvas `[1, H, W, 3]` at the dataset's size, made by Panel Concatenate's own function."""
    s = plan.settings
    images = [(f"image_{i}", load_image(path)) for i, path in enumerate(planned.source.images, start=1)]
    arrangement = s.arrangement if plan.layout == SET_FOLDERS else "row"
    try:
        result = concatenate_panels(images, 0, arrangement=arrangement, grid_rows=plan.rows, grid_cols=plan.cols,
                                    panel_width=plan.panel_w, panel_height=plan.panel_h, fit=s.fit,
                                    pad_mode=s.pad_mode, fill_color=s.fill_color,
                                    max_megapixels=s.max_megapixels)
    except PanelInputError as error:
        raise _as_dataset_error(error, planned.source.name) from None
    return result.canvas


def iter_canvases(plan: DatasetPlan) -> Iterator[BuiltCanvas]:
    """Build the canvases one by one; a picture that fails to decode is reported, never replaced by a blank."""
    for planned in plan.sets:
        try:
            canvas = build_canvas(plan, planned)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            if isinstance(error, PanelInputError):
                raise
            bad = next((p for p in planned.source.images if not _decodes(p)), planned.source.images[0])
            yield BuiltCanvas(planned, None, _unreadable(bad, error))
            continue
        yield BuiltCanvas(planned, canvas)


def _decodes(path: Path) -> bool:
    try:
        load_image(path)
        return True
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def preview_of(canvas: torch.Tensor, max_side: int = PREVIEW_MAX_SIDE) -> torch.Tensor:
    """A small copy of a `[B, H, W, C]` canvas for the node's preview output (area-averaged)."""
    height, width = canvas.shape[1], canvas.shape[2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return canvas.clone()
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(canvas.movedim(-1, 1), size=size, mode="area").movedim(1, -1)


def folder_fingerprint(input_dir: str | Path, folder: str) -> str:
    """Names, sizes and times of every file under the dataset folder: a new run whenever a set changes."""
    try:
        root, _ = resolve_dataset_folder(input_dir, folder)
    except PanelInputError as error:
        return str(error)
    items = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            try:
                stat = path.stat()
            except OSError:
                continue
            items.append((str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return json.dumps(items)


def describe_plan(plan: DatasetPlan, token_counts: list[int] | None = None,
                  failed: list[SkippedSet] | None = None, budget: int = 512) -> str:
    """The report: what was used, what was skipped and why, and how long the captions are."""
    failed = failed or []
    width, height = plan.canvas_size
    used = len(plan.sets) - len(failed)
    lines = [f"{used} set(s) used from '{plan.label}' ({plan.layout}); {plan.panel_count} panel(s) per canvas as "
             f"{plan.rows}x{plan.cols}, each {plan.panel_w}x{plan.panel_h} px; every canvas {width}x{height} px"]
    lines += [f"note: {n}" for n in plan.notes]
    skipped = [*plan.skipped, *failed]
    if skipped:
        lines.append(f"{len(skipped)} skipped:")
        lines += [f"  - {s.name}: {s.reason}" for s in skipped]
    if token_counts:
        over = [s.source.name for s, n in zip(plan.sets, token_counts) if n > budget]
        lines.append(f"caption T5 tokens: min {min(token_counts)}, mean {sum(token_counts) / len(token_counts):.0f},"
                     f" max {max(token_counts)}" + (f"; over {budget} (FLUX's training length): "
                                                    f"{', '.join(over)}" if over else ""))
    for s, n in zip(plan.sets, token_counts or [None] * len(plan.sets)):
        tokens = f", {n} tokens" if n is not None else ""
        lines.append(f"  {s.source.name}: caption from {s.source.caption_source}{tokens}")
        lines += [f"    warning: {w}" for w in s.warnings]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Export: a trainer-ready folder (image + same-stem .txt) and an ai-toolkit config with the paper's settings.

EXPORT_PREFIX = "iclora-dataset"


@dataclass(frozen=True)
class TrainerSettings:
    """The authors' published ai-toolkit settings (config/movie-shots.yml of the official repository)."""

    name: str = "my-iclora-task"
    rank: int = 16
    steps: int = 5000
    learning_rate: float = 1e-4
    batch_size: int = 4


def safe_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return stem or "set"


def new_export_folder(output_dir: str | Path, prefix: str) -> Path:
    """A new folder `<prefix>_NNN` inside `output_dir`, never one that exists: a user's files are not touched."""
    root = Path(output_dir).resolve()
    text = (prefix or "").strip().strip("/\\") or EXPORT_PREFIX
    base = (root / text).resolve()
    if root not in base.parents:
        raise PanelInputError(EXPORT_NODE, "folder_prefix", f"'{text}' points outside ComfyUI's output folder",
                              "Give a name relative to the output folder, e.g. 'iclora-dataset'.")
    base.parent.mkdir(parents=True, exist_ok=True)
    for number in range(1, 100000):
        candidate = base.parent / f"{base.name}_{number:03d}"
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise PanelInputError(EXPORT_NODE, "folder_prefix", "every numbered folder name is taken",
                          "Choose another folder_prefix.")


def _yaml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def ai_toolkit_config(trainer: TrainerSettings, folder_name: str, width: int, height: int,
                      sample_prompts: list[str]) -> str:
    """An ai-toolkit job file mirroring the authors' movie-shots config: LoRA rank (= alpha) 16 on FLUX.1-dev,
    AdamW8bit at 1e-4, bf16, gradient checkpointing, 8-bit quantized base, flow matching, samples at 20 steps and
    guidance 3.5, with this dataset's folder, canvas size and first captions filled in."""
    prompts = "\n".join(f"          - {_yaml_string(p)}" for p in sample_prompts) or '          - ""'
    name = _yaml_string(trainer.name)
    return f"""---
# ai-toolkit job for an In-Context LoRA, mirroring the authors' config/movie-shots.yml (rank 16, FLUX.1-dev).
# Copy the folder this file is in to ai-toolkit's data/ folder, then run: python run.py <this file>
job: extension
config:
  name: {name}
  process:
    - type: 'sd_trainer'
      training_folder: "output"
      device: cuda:0
      network:
        type: "lora"
        linear: {trainer.rank}
        linear_alpha: {trainer.rank}
      save:
        dtype: float16
        save_every: 250
        max_step_saves_to_keep: 4
        push_to_hub: false
      datasets:
        - folder_path: {_yaml_string("data/" + folder_name)}
          caption_ext: "txt"
          caption_dropout_rate: 0.05
          shuffle_tokens: false
          cache_latents_to_disk: true
          resolution: [ 512, 768, 1024, 1280, 1536 ]
      train:
        batch_size: {trainer.batch_size}
        steps: {trainer.steps}
        gradient_accumulation_steps: 1
        train_unet: true
        train_text_encoder: false
        gradient_checkpointing: true
        noise_scheduler: "flowmatch"
        optimizer: "adamw8bit"
        lr: {trainer.learning_rate:g}
        ema_config:
          use_ema: true
          ema_decay: 0.99
        dtype: bf16
      model:
        name_or_path: "black-forest-labs/FLUX.1-dev"
        is_flux: true
        quantize: true
      sample:
        sampler: "flowmatch"
        sample_every: 250
        width: {width}
        height: {height}
        prompts:
{prompts}
        neg: ""
        seed: 42
        walk_seed: true
        guidance_scale: 3.5
        sample_steps: 20
meta:
  name: {name}
  version: '1.0'
"""


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    files: tuple[Path, ...]
    report: str


def save_png(canvas: torch.Tensor, path: Path) -> None:
    pixels = (canvas[0].clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy()
    with path.open("xb") as handle:  # exclusive: never replaces a file
        Image.fromarray(pixels).save(handle, format="PNG")


def export_dataset(plan: DatasetPlan, output_dir: str | Path, prefix: str, trainer: TrainerSettings,
                   on_canvas=None) -> ExportResult:
    """Write each canvas as PNG with its caption in a same-stem .txt, plus `ai-toolkit.yaml`, into a new folder.

    Canvases are rebuilt from the source files one at a time (no encoded data is needed, nothing is held).
    `on_canvas` is called after each set (progress, cancel).
    """
    folder = new_export_folder(output_dir, prefix)
    written: list[Path] = []
    failed: list[SkippedSet] = []
    used: set[str] = set()
    for built in iter_canvases(plan):
        if built.canvas is None:
            failed.append(SkippedSet(built.planned.source.name, built.problem or "cannot be built"))
        else:
            stem = safe_stem(built.planned.source.name)
            unique, n = stem, 2
            while unique.lower() in used:
                unique, n = f"{stem}_{n}", n + 1
            used.add(unique.lower())
            image_path, caption_path = folder / f"{unique}.png", folder / f"{unique}.txt"
            save_png(built.canvas, image_path)
            with caption_path.open("x", encoding="utf-8", newline="") as handle:
                handle.write(built.planned.caption)
            written += [image_path, caption_path]
        if on_canvas is not None:
            on_canvas()
    if failed and not written:
        raise PanelInputError(EXPORT_NODE, "dataset", "no canvas could be built ("
                              + "; ".join(f"{f.name}: {f.reason}" for f in failed[:MAX_LISTED_PROBLEMS]) + ")",
                              "Fix the files listed; nothing in the dataset folder was changed.")
    width, height = plan.canvas_size
    captions = [b.caption for b in plan.sets if b.source.name not in {f.name for f in failed}]
    config = folder / "ai-toolkit.yaml"
    with config.open("x", encoding="utf-8") as handle:
        handle.write(ai_toolkit_config(trainer, folder.name, width, height, captions[:2]))
    canvases = len(written) // 2
    written.append(config)
    lines = [f"wrote {canvases} canvas(es) of {width}x{height} px with captions and ai-toolkit.yaml "
             f"(rank {trainer.rank}, {trainer.steps} steps, lr {trainer.learning_rate:g}) to {folder.name}/"]
    lines += [f"  - not written: {f.name}: {f.reason}" for f in failed]
    return ExportResult(folder, tuple(written), "\n".join(lines))
