"""Training sets for an IC-LoRA, in the order a dataset goes through them:

- `files`: how one file is read (entry order, picture size and pixels, caption text);
- `scan`: what a folder holds, in one of two folder formats (set folders or flat canvases), every set checked;
- `plan`: which sets are used, the one canvas size, each set's joint caption;
- `build`: the canvases, one set at a time, with Panel Concatenate's own function;
- `report`: what the node tells the user (sets, skips, captions, token counts);
- `export`: a trainer-ready folder and an ai-toolkit job file.

The names below are the package's public face, what the host nodes and the tests use.
"""

from .build import BuiltCanvas, build_canvas, iter_canvases, preview_of
from .export import EXPORT_NODE, EXPORT_PREFIX, ExportResult, TrainerSettings, ai_toolkit_config, export_dataset
from .files import image_size, load_image, natural_key, read_caption
from .plan import DatasetPlan, PlannedSet, SetCanvasSettings, marker_warning, plan_dataset
from .report import caption_excerpt, describe_plan
from .scan import (
    CANVASES,
    DATASET_NODE,
    FOLDER_FORMATS,
    FORMAT_INPUT,
    SET_FOLDERS,
    FolderScan,
    SkippedSet,
    TrainingSet,
    folder_fingerprint,
    resolve_dataset_folder,
    scan_dataset,
)

__all__ = [
    "CANVASES", "DATASET_NODE", "EXPORT_NODE", "EXPORT_PREFIX", "FOLDER_FORMATS", "FORMAT_INPUT", "SET_FOLDERS",
    "BuiltCanvas", "SetCanvasSettings", "DatasetPlan", "ExportResult", "FolderScan", "PlannedSet", "SkippedSet",
    "TrainerSettings", "TrainingSet", "ai_toolkit_config", "build_canvas", "caption_excerpt", "describe_plan",
    "export_dataset", "folder_fingerprint", "image_size", "iter_canvases", "load_image", "marker_warning",
    "natural_key", "plan_dataset", "preview_of", "read_caption", "resolve_dataset_folder", "scan_dataset",
]
