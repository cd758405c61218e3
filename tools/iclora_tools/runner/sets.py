"""One set, from a workflow file to the files a user keeps: the steps the single-workflow runner (cli.py) and the
batch runner (batch/run.py) share, written once so both prepare, name, collect and write the same way.

- `prepare_prompt`: the API-format graph with the user's texts, seed, steps and references, every panel returned.
- `reference_name` / `stage_references`: the name a reference image gets in ComfyUI's input folder.
- `saved_images`: the pictures a finished graph saved, in the order the sheet shows them.
- `run_graph_in_process`: validate and execute a graph on the ComfyUI in this process, and read what it saved.
- `write_set`: the generated panels and the contact sheet of the whole set, references marked.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from .contact_sheet import SheetPanel, contact_sheet
from .workflow_api import (
    SetShape,
    WorkflowError,
    apply_overrides,
    saved_image_nodes,
    set_shape,
    show_every_panel,
    to_api,
)

TINY_PANEL = (64, 64)
"""Panel size (width, height) of `--tiny-demo` sets: small enough for seconds on a CPU, big enough to look at."""

SHEET = "contact-sheet.png"


class SetError(Exception):
    """ComfyUI ran (or refused) the set and said why: the set may still work on another server."""


class GraphRefused(SetError):
    """ComfyUI's validation refused the graph before running it (a missing model, a bad value)."""


def pack_layout_functions():
    """The pack's own `parse_order` and `grid_shape` (plain Python, no torch) for roles and sheet geometry."""
    from .. import import_pack

    import_pack("iclora_pack")
    from iclora_pack.nodes.core.layout import grid_shape, parse_order

    return parse_order, grid_shape


def prepare_prompt(workflow: dict, node_classes: dict, *, summary: str | None = None,
                   panels: dict[int, str] | None = None, seed: int | None = None, steps: int | None = None,
                   references: list[str] = (), tiny_demo: bool = False,
                   filename_prefix: str | None = None) -> tuple[dict, SetShape | None]:
    """The set's API-format graph (a WorkflowError when it cannot be made) and its shape (None when unclear):
    converted with `node_classes` (ComfyUI's NODE_CLASS_MAPPINGS or a server's /object_info), on the tiny models
    for a demo, the overrides set, Panel Split returning every panel (so the sheet shows the references too) and,
    when given, a Save Image prefix of the set's own."""
    prompt = to_api(workflow, node_classes)
    if tiny_demo:
        from ..comfyui import tiny_models

        tiny_models.use_tiny_models(prompt, panel_size=TINY_PANEL)
    apply_overrides(prompt, summary=summary, panels=panels, seed=seed, steps=steps, images=list(references))
    shape = set_shape(prompt, *pack_layout_functions())
    if shape is not None and panels and max(panels) > len(shape.roles):
        raise WorkflowError(f"panel {max(panels)} does not exist: the canvas has {len(shape.roles)} panels")
    if not show_every_panel(prompt):
        shape = None
    if filename_prefix is not None:
        for node_id in saved_image_nodes(prompt):
            prompt[node_id]["inputs"]["filename_prefix"] = filename_prefix
    return prompt, shape


def reference_name(path: Path, data: bytes) -> str:
    """A reference's name in ComfyUI's input folder, made from its content: the same picture always gets the same
    name (uploading or copying it again overwrites it with itself), two pictures never share one."""
    return f"iclora-{hashlib.sha1(data).hexdigest()[:16]}{Path(path).suffix.lower() or '.png'}"


def stage_references(paths: list[Path], input_dir: Path) -> list[str]:
    """Copy the references into the input folder of the ComfyUI in this process; their names there, in order."""
    names = []
    for path in map(Path, paths):
        name = reference_name(path, path.read_bytes())
        shutil.copy(path, input_dir / name)
        names.append(name)
    return names


def saved_images(outputs: dict, prompt: dict) -> list[dict]:
    """ComfyUI's records ({filename, subfolder, type}) of the pictures the graph's Save Image nodes wrote, from a
    finished graph's history outputs: Save Image nodes in node order, each one's pictures as saved."""
    return [image for node_id in saved_image_nodes(prompt) for image in outputs.get(node_id, {}).get("images", [])]


def run_graph_in_process(execution, work: Path, prompt: dict, *, tiny_demo: bool = False,
                   echo_errors: bool = False) -> list[tuple[str, bytes]]:
    """Validate and execute `prompt` on the ComfyUI started in this process with `work` as its base folder; the
    saved pictures as (file name, bytes). GraphRefused with one line per problem when validation refuses it,
    SetError when it fails while running."""
    from ..comfyui import inprocess as comfy_inprocess

    if tiny_demo:  # the tiny models carry the shipped workflows' LoRAs; a user's own LoRA names get empty ones
        from ..comfyui import tiny_models

        tiny_models.write_empty_loras(work / "models" / "loras", tiny_models.lora_names_in(prompt))
    validation = comfy_inprocess.validate(execution, prompt)
    if not validation.ok:
        raise GraphRefused("\n".join(validation.messages()) or "ComfyUI refused the graph")
    server = comfy_inprocess.RecordingServer(echo_errors=echo_errors)
    executor, _ = comfy_inprocess.execute(execution, prompt, validation.outputs, server=server)
    if not executor.success:
        raise SetError(comfy_inprocess.execution_error(executor) or "the graph failed")
    pictures = []
    for image in saved_images(executor.history_result["outputs"], prompt):
        path = work / image.get("type", "output") / image.get("subfolder", "") / image["filename"]
        pictures.append((path.name, path.read_bytes()))
    return pictures


def write_set(folder: Path, pictures: list[tuple[str, bytes]], shape: SetShape | None) -> tuple[list[str],
                                                                                            list[str] | None]:
    """The generated panels under their given names and `contact-sheet.png` of the whole set in `folder`, laid out
    as on the canvas, references framed and not written as panels. Returns the files written (the sheet last)
    and the panel roles (None when the shape is unknown or does not match the pictures)."""
    import io

    from PIL import Image

    if not pictures:
        raise SetError("no pictures came back (does the workflow end in Save Image?)")
    roles = shape.roles if shape is not None and len(shape.roles) == len(pictures) else None
    folder.mkdir(parents=True, exist_ok=True)
    files, sheet = [], []
    for number, (name, data) in enumerate(pictures, start=1):
        reference = roles is not None and roles[number - 1] == "input"
        sheet.append(SheetPanel(Image.open(io.BytesIO(data)), f"panel {number}", reference))
        if not reference:
            (folder / name).write_bytes(data)
            files.append(name)
    contact_sheet(sheet, folder / SHEET, cols=shape.cols if roles else None)
    return [*files, SHEET], roles
