"""ComfyUI imported into this process, with its folders pointed at a work folder and the pack loaded from this
checkout through ComfyUI's own custom-node loader. Shared by the headless runner and the host tests."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACK_FOLDER = "in-context-lora-panels"  # what a Comfy Registry install unpacks into ([project].name)
MODEL_FOLDERS = ("diffusion_models", "text_encoders", "vae", "vae_approx", "loras", "checkpoints", "unet", "clip")


def start_comfyui(comfyui: Path, work: Path, models: Path | None = None, cpu: bool = True):
    """Returns ComfyUI's `nodes`, `execution` and `folder_paths` modules once every node (the pack's too) is loaded.

    `models` is added as a model folder base (its diffusion_models/, loras/, ... are created). Whether the pack
    loaded is for the caller to check: ComfyUI logs an import failure and carries on.
    """
    sys.path.insert(0, str(comfyui))
    import utils.extra_config  # noqa: F401  (first: keeps ComfyUI's `utils` from being shadowed)
    from comfy.cli_args import args

    args.cpu = cpu  # before comfy.model_management is imported anywhere
    import folder_paths

    for name in ("input", "output", "temp", "user", "custom_nodes"):
        (work / name).mkdir(parents=True, exist_ok=True)
    folder_paths.set_input_directory(str(work / "input"))
    folder_paths.set_output_directory(str(work / "output"))
    folder_paths.set_temp_directory(str(work / "temp"))
    folder_paths.set_user_directory(str(work / "user"))
    if models is not None:
        for folder in MODEL_FOLDERS:
            (models / folder).mkdir(parents=True, exist_ok=True)
            folder_paths.add_model_folder_path(folder, str(models / folder), is_default=True)
    folder_paths.folder_names_and_paths["custom_nodes"] = ([str(work / "custom_nodes")], set())
    (work / "custom_nodes" / PACK_FOLDER).symlink_to(ROOT, target_is_directory=True)
    example = comfyui / "input" / "example.png"  # every install has it; the reference workflows use it
    if example.exists():
        shutil.copy(example, work / "input" / "example.png")

    import execution

    import nodes

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    return nodes, execution, folder_paths
