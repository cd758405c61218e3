"""Export: a trainer-ready folder (each canvas as PNG with its caption in a same-stem .txt) and an ai-toolkit job
file with the authors' published settings. A new numbered folder every time: a user's files are never touched."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..errors import PanelInputError
from .build import BuiltCanvas, iter_canvases
from .plan import DatasetPlan
from .scan import SkippedSet, listed

EXPORT_NODE = "Panel Set Export"
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


def _unique_stem(name: str, used: set[str]) -> str:
    """A file name for a set, unique in the folder even where set names differ only in case or odd characters."""
    stem = safe_stem(name)
    unique, n = stem, 2
    while unique.lower() in used:
        unique, n = f"{stem}_{n}", n + 1
    used.add(unique.lower())
    return unique


def _write_pair(built: BuiltCanvas, folder: Path, stem: str) -> list[Path]:
    """One canvas as `<stem>.png` and its caption as `<stem>.txt`, exactly as planned (no newline added)."""
    image_path, caption_path = folder / f"{stem}.png", folder / f"{stem}.txt"
    save_png(built.canvas, image_path)
    with caption_path.open("x", encoding="utf-8", newline="") as handle:
        handle.write(built.planned.caption)
    return [image_path, caption_path]


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
            written += _write_pair(built, folder, _unique_stem(built.planned.source.name, used))
        if on_canvas is not None:
            on_canvas()
    if failed and not written:
        raise PanelInputError(EXPORT_NODE, "dataset", f"no canvas could be built ({listed(failed)})",
                              "Fix the files listed; nothing in the dataset folder was changed.")
    width, height = plan.canvas_size
    failed_names = {f.name for f in failed}
    captions = [b.caption for b in plan.sets if b.source.name not in failed_names]
    config = folder / "ai-toolkit.yaml"
    with config.open("x", encoding="utf-8") as handle:
        handle.write(ai_toolkit_config(trainer, folder.name, width, height, captions[:2]))
    canvases = len(written) // 2
    written.append(config)
    lines = [f"wrote {canvases} canvas(es) of {width}x{height} px with captions and ai-toolkit.yaml "
             f"(rank {trainer.rank}, {trainer.steps} steps, lr {trainer.learning_rate:g}) to {folder.name}/"]
    lines += [f"  - not written: {f.name}: {f.reason}" for f in failed]
    return ExportResult(folder, tuple(written), "\n".join(lines))
