"""What a dataset folder holds: its sets, found and checked from file headers and caption texts only.

A user's own in-context task is a few dozen example sets. They arrive in one of two folder formats: one
sub-folder per set (the panels as separate images, in file-name order) or a flat folder of canvases that are
already joined, each with a same-name `.txt` caption (the authors' released movie-shots data, and what LoRA
trainers read). Every set is checked before anything is encoded, so a bad folder fails fast with every problem
listed, and nothing in the folder is ever changed.

"Folder format" is the word here for how a folder is organised; a `layout` everywhere else in the pack is a
`PanelLayout` (where each panel of a canvas is). The node's input for the folder format keeps its saved id
`layout`, so `FORMAT_INPUT` names it in messages.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from ..canvas import MAX_IMAGES
from ..errors import PanelInputError, quoted
from .files import (
    DECODE_ERRORS,
    IMAGE_EXTENSIONS,
    folder_entries,
    image_size,
    is_image,
    is_text,
    read_caption,
    unreadable,
)

DATASET_NODE = "Panel Set Dataset"
AUTO, SET_FOLDERS, CANVASES = "auto", "set folders", "canvases"
FOLDER_FORMATS = (AUTO, SET_FOLDERS, CANVASES)
FORMAT_INPUT = "layout"
"""The node input that chooses the folder format: its id predates the word and saved workflows keep it."""
CAPTION_FILE = "caption.txt"
"""In a set folder: the whole joint caption, used verbatim."""
SUMMARY_FILE = "summary.txt"
"""In a set folder with one text per panel: the overall description the Joint Prompt Builder puts first."""
PER_PANEL_TEXTS = "per-panel texts"
"""The caption source of a set captioned one .txt per panel (joined into a caption by the planner)."""
MAX_LISTED_PROBLEMS = 12


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
    folder_format: str
    sets: tuple[TrainingSet, ...]
    problems: tuple[SkippedSet, ...]
    notes: tuple[str, ...] = ()


def listed(problems: list[SkippedSet], limit: int = MAX_LISTED_PROBLEMS) -> str:
    """`name: reason; ...` for an error message, the first `limit` of them."""
    return "; ".join(f"{p.name}: {p.reason}" for p in problems[:limit])


def _is_absolute(text: str) -> bool:
    """An absolute path on any system a workflow may come from: `/etc`, `\\share`, `C:\\data` or `C:/data`."""
    return text.startswith(("/", "\\")) or bool(PureWindowsPath(text).drive)


def resolve_dataset_folder(input_dir: str | Path, folder: str) -> tuple[Path, str]:
    """The dataset folder, resolved (symlinks and `..` included) and refused unless it lies inside `input_dir`."""
    typed = (folder or "").strip()
    if not typed:
        raise PanelInputError(DATASET_NODE, "folder", "no folder is given",
                              "Type the name of a folder inside ComfyUI's input folder, e.g. 'my-task'.")
    if _is_absolute(typed):
        raise PanelInputError(DATASET_NODE, "folder", f"{quoted(typed)} is an absolute path, and only folders "
                              "inside ComfyUI's input folder are accepted",
                              "Put the sets in a folder inside ComfyUI's input folder and give its path "
                              "relative to it, e.g. 'my-task'.")
    text = typed.rstrip("/\\")
    root = Path(input_dir).resolve()
    target = (root / text).resolve()
    if target != root and root not in target.parents:
        raise PanelInputError(DATASET_NODE, "folder", f"{quoted(typed)} points outside ComfyUI's input folder",
                              "Put the sets in a folder inside ComfyUI's input folder and give its path "
                              "relative to it, e.g. 'my-task'.")
    if not target.exists():
        raise PanelInputError(DATASET_NODE, "folder", f"{quoted(typed)} does not exist in ComfyUI's input folder",
                              "Create it there (one sub-folder per set, or canvases with same-name .txt "
                              "captions) and check the spelling.")
    if not target.is_dir():
        raise PanelInputError(DATASET_NODE, "folder", f"{quoted(typed)} is a file, not a folder",
                              "Give the folder that holds the sets.")
    return target, text


def _sizes(images: list[Path]) -> tuple[list[tuple[int, int]], str | None]:
    sizes = []
    for image in images:
        try:
            sizes.append(image_size(image))
        except DECODE_ERRORS as error:
            return sizes, unreadable(image, error)
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


def _set_folder_problem(entries: list[Path], images: list[Path], texts: list[Path]) -> str | None:
    """What makes a set folder unusable before any file is opened: stray entries, a wrong image count, twins."""
    for entry in entries:
        if entry.is_dir():
            return (f"it holds a sub-folder '{entry.name}'; a set folder holds only its panel images and their "
                    "captions")
        if entry not in images and entry not in texts:
            return f"{entry.name} is not an image ({', '.join(IMAGE_EXTENSIONS)}) or a .txt caption"
    if not images:
        return "it has no panel images"
    if len(images) > MAX_IMAGES:
        return f"it has {len(images)} panel images; a canvas holds at most {MAX_IMAGES}"
    stems = {p.stem.lower() for p in images}
    for text in texts:
        if text.name.lower() not in (CAPTION_FILE, SUMMARY_FILE) and text.stem.lower() not in stems:
            return (f"{text.name} is neither {CAPTION_FILE} (the joint caption), {SUMMARY_FILE} (the overall "
                    "description) nor named after a panel image")
    return _duplicate_stems(images)


def _captioned_set(name: str, images: list[Path], sizes: list[tuple[int, int]],
                   texts: dict[str, str]) -> TrainingSet | SkippedSet:
    """A set folder's caption: caption.txt verbatim, else one text per panel image (and summary.txt)."""
    by_lower = {n.lower(): t for n, t in texts.items()}
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
                       panel_texts=tuple(panel_texts), caption_source=PER_PANEL_TEXTS)


def _scan_set_folder(folder: Path) -> TrainingSet | SkippedSet:
    """One sub-folder: panel images in file-name order plus caption.txt, or one .txt per panel (+ summary.txt)."""
    entries = folder_entries(folder)
    images = [e for e in entries if e.is_file() and is_image(e)]
    texts = [e for e in entries if e.is_file() and is_text(e)]
    problem = _set_folder_problem(entries, images, texts)
    if problem:
        return SkippedSet(folder.name, problem)
    sizes, problem = _sizes(images)
    if problem:
        return SkippedSet(folder.name, problem)
    read, problem = _texts(texts)
    if problem:
        return SkippedSet(folder.name, problem)
    return _captioned_set(folder.name, images, sizes, read)


def _scan_canvas(image: Path, text: Path | None) -> TrainingSet | SkippedSet:
    """One whole canvas of a flat folder, captioned by its same-name .txt (used verbatim)."""
    if text is None:
        return SkippedSet(image.name, f"it has no caption: add {image.stem}.txt next to it")
    sizes, problem = _sizes([image])
    read, text_problem = _texts([text])
    problem = problem or text_problem
    if not problem and not read[text.name]:
        problem = f"{text.name} is empty"
    if problem:
        return SkippedSet(image.name, problem)
    return TrainingSet(image.stem, (image,), tuple(sizes), caption=read[text.name], caption_source=text.name)


def _scan_canvases(entries: list[Path]) -> tuple[list[TrainingSet], list[SkippedSet]]:
    """A flat folder: each image is one whole canvas, captioned by the same-name .txt (used verbatim)."""
    images = [e for e in entries if e.is_file() and is_image(e)]
    texts = {e.stem.lower(): e for e in entries if e.is_file() and is_text(e)}
    problems = [SkippedSet(e.name, f"{e.name} is not an image ({', '.join(IMAGE_EXTENSIONS)}) or a .txt caption")
                for e in entries if e.is_file() and e not in images and not is_text(e)]
    stems = Counter(p.stem.lower() for p in images)
    sets = []
    for image in images:
        if stems[image.stem.lower()] > 1:
            problems.append(SkippedSet(image.name, _duplicate_stems(images) or ""))
            continue
        found = _scan_canvas(image, texts.get(image.stem.lower()))
        (sets if isinstance(found, TrainingSet) else problems).append(found)
    problems += [SkippedSet(text.name, f"{text.name} has no image of the same name")
                 for stem, text in texts.items() if stem not in stems]
    return sets, problems


def _folder_format(label: str, chosen: str, subfolders: list[Path], top_images: list[Path]) -> str:
    """The folder format in use: the one chosen, or for 'auto' the one the folder's contents show."""
    if not subfolders and not top_images:
        raise PanelInputError(DATASET_NODE, "folder", f"'{label}' holds no training sets (no images and no "
                              "sub-folders)",
                              "Add one sub-folder per set with its panel images and a caption, or whole "
                              "canvases with same-name .txt captions.")
    if chosen == AUTO:
        if subfolders and top_images:
            raise PanelInputError(DATASET_NODE, "folder", f"'{label}' holds both images at its top level "
                                  f"({top_images[0].name}, ...) and sub-folders ({subfolders[0].name}, ...)",
                                  "Keep one folder format per dataset: one sub-folder per set, or a flat "
                                  "folder of canvases; or choose the format with the 'layout' input.")
        return SET_FOLDERS if subfolders else CANVASES
    if chosen == SET_FOLDERS and not subfolders:
        raise PanelInputError(DATASET_NODE, FORMAT_INPUT, f"'{label}' has no sub-folders, so it holds no set "
                              "folders", "Set layout to 'canvases' (or 'auto') for a flat folder of canvases.")
    if chosen == CANVASES and not top_images:
        raise PanelInputError(DATASET_NODE, FORMAT_INPUT, f"'{label}' has no images at its top level, so it holds "
                              "no canvases", "Set layout to 'set folders' (or 'auto') for one sub-folder per set.")
    return chosen


def _names(entries: list[Path], limit: int = 5) -> str:
    return ", ".join(e.name for e in entries[:limit]) + (" ..." if len(entries) > limit else "")


def scan_dataset(input_dir: str | Path, folder: str, folder_format: str = AUTO) -> FolderScan:
    """Find the sets in `folder` (relative to `input_dir`) and check each one; reads headers and texts only."""
    if folder_format not in FOLDER_FORMATS:
        raise PanelInputError(DATASET_NODE, FORMAT_INPUT, f"{quoted(folder_format)} is not an option",
                              f"Choose one of {', '.join(FOLDER_FORMATS)}.")
    root, label = resolve_dataset_folder(input_dir, folder)
    entries = folder_entries(root)
    subfolders = [e for e in entries if e.is_dir()]
    top_images = [e for e in entries if e.is_file() and is_image(e)]
    folder_format = _folder_format(label, folder_format, subfolders, top_images)
    notes: list[str] = []
    if folder_format == SET_FOLDERS:
        others = [e for e in entries if e.is_file()]
        if others:
            notes.append(f"files at the top of the folder are not read: {_names(others)}")
        found = [_scan_set_folder(f) for f in subfolders]
        sets = [s for s in found if isinstance(s, TrainingSet)]
        problems = [s for s in found if isinstance(s, SkippedSet)]
    else:
        if subfolders:
            notes.append(f"sub-folders are not read in the canvases format: "
                         f"{', '.join(f.name for f in subfolders[:5])}")
        sets, problems = _scan_canvases(entries)
    return FolderScan(root, label, folder_format, tuple(sets), tuple(problems), tuple(notes))


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
