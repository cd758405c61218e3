"""How the dataset reads one file: the order of a folder's entries, a picture's size and pixels, a caption's text.

Pictures are decoded the way ComfyUI's Load Image does, and captions are read the way LoRA trainers read them, so
what Panel Set Dataset builds is what a user would get by loading the same files by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}
"""What zip tools and file browsers leave behind (the authors' own zip has .DS_Store and __MACOSX)."""
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
"""What PIL raises for a file that is not a picture it can decode."""


def natural_key(name: str) -> list:
    """File-name order as people mean it: `2.png` before `10.png`, case ignored."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower())]


def is_ignored(entry: Path) -> bool:
    return entry.name.startswith(".") or entry.name in IGNORED_NAMES


def folder_entries(folder: Path) -> list[Path]:
    """A folder's entries in file-name order, without hidden files and what zip tools leave behind."""
    return sorted((e for e in folder.iterdir() if not is_ignored(e)), key=lambda e: natural_key(e.name))


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_text(path: Path) -> bool:
    return path.suffix.lower() == ".txt"


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


def unreadable(path: Path, error: Exception) -> str:
    """Why a picture cannot be used, in one short line for the report."""
    detail = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
    return f"{path.name} cannot be read as an image ({detail})"
