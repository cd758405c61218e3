"""ComfyUI imported into this process, with its folders pointed at a work folder and the pack loaded from this
checkout through ComfyUI's own custom-node loader. The one home of in-process ComfyUI for the headless runner, the
host tests and the benchmarks: start-up, model folders, the stand-in for the server and validate-then-execute.

A ComfyUI *server* in a subprocess (for the HTTP API, the editor and the batch runner) is in comfy_server.py.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .. import PACK_FOLDER, ROOT

MODEL_FOLDERS = ("diffusion_models", "text_encoders", "vae", "vae_approx", "loras", "checkpoints", "unet", "clip")


def import_comfyui(comfyui: Path, cpu: bool = True) -> None:
    """Make ComfyUI importable, in the order it needs: its folder first, `utils` before anything, `args.cpu` set
    before `comfy.model_management` is imported anywhere (a CPU-only machine fails otherwise). Idempotent."""
    if str(comfyui) not in sys.path:
        sys.path.insert(0, str(comfyui))
    import utils.extra_config  # noqa: F401  (first: keeps ComfyUI's `utils` from being shadowed)
    from comfy.cli_args import args

    if "comfy.model_management" not in sys.modules:
        args.cpu = cpu


def add_model_folders(folder_paths, models: Path, folders: tuple[str, ...] = MODEL_FOLDERS) -> None:
    """`models` becomes a model folder base, searched first: its diffusion_models/, loras/, ... are created."""
    for folder in folders:
        (models / folder).mkdir(parents=True, exist_ok=True)
        folder_paths.add_model_folder_path(folder, str(models / folder), is_default=True)


def start_comfyui(comfyui: Path, work: Path, models: Path | None = None, cpu: bool = True):
    """Returns ComfyUI's `nodes`, `execution` and `folder_paths` modules once every node (the pack's too) is loaded.

    `models` is added as a model folder base (its diffusion_models/, loras/, ... are created). Whether the pack
    loaded is for the caller to check: ComfyUI logs an import failure and carries on.
    """
    import_comfyui(comfyui, cpu)
    import folder_paths

    for name in ("input", "output", "temp", "user", "custom_nodes"):
        (work / name).mkdir(parents=True, exist_ok=True)
    folder_paths.set_input_directory(str(work / "input"))
    folder_paths.set_output_directory(str(work / "output"))
    folder_paths.set_temp_directory(str(work / "temp"))
    folder_paths.set_user_directory(str(work / "user"))
    if models is not None:
        add_model_folders(folder_paths, models)
    folder_paths.folder_names_and_paths["custom_nodes"] = ([str(work / "custom_nodes")], set())
    (work / "custom_nodes" / PACK_FOLDER).symlink_to(ROOT, target_is_directory=True)
    copy_example_image(comfyui, work / "input")

    import execution

    import nodes

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    return nodes, execution, folder_paths


def copy_example_image(comfyui: Path, input_dir: Path) -> None:
    """Every install has input/example.png; the shipped reference workflows load it."""
    example = comfyui / "input" / "example.png"
    if example.exists():
        shutil.copy(example, input_dir / "example.png")


class RecordingServer:
    """Stands in for PromptServer: the executor only needs these attributes. Records what it would send, and with
    `echo_errors` prints execution errors to stderr as they happen (for a command line)."""

    def __init__(self, echo_errors: bool = False):
        self.client_id = None
        self.last_node_id = None
        self.last_prompt_id = None
        self.messages: list[tuple[str, dict]] = []
        self.echo_errors = echo_errors

    def send_sync(self, event, data, sid=None):
        self.messages.append((event, data))
        if self.echo_errors and event == "execution_error":
            print(f"error in node {data.get('node_type')}: {data.get('exception_message')}", file=sys.stderr)

    def queue_updated(self):
        pass


@dataclass
class Validation:
    """What `execution.validate_prompt` says. ComfyUI accepts a graph when one output is valid and still lists the
    others' problems in `node_errors`, so `ok` demands both."""

    valid: bool
    error: dict | None
    outputs: list
    node_errors: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.valid and not self.node_errors

    def messages(self) -> list[str]:
        lines = [f"node {node_id} ({problem['class_type']}): {item['message']}: {item['details']}"
                 for node_id, problem in self.node_errors.items() for item in problem["errors"]]
        if not lines and self.error:
            lines.append(str(self.error.get("message")))
        return lines


def validate(execution, prompt: dict) -> Validation:
    valid, error, outputs, node_errors = asyncio.run(execution.validate_prompt(str(uuid.uuid4()), prompt, None))
    return Validation(valid, error if not valid else None, outputs, node_errors)


def new_executor(execution, server):
    """ComfyUI's executor with its classic cache (outputs dropped as soon as nothing needs them), as 0.3.64's
    server runs by default. 0.33's executor also takes `cache_args` and reads its RAM headroom from them on every
    run, so it is given zero headroom there (`cache_args=None`, its default, fails at the first prompt)."""
    import inspect

    if "cache_args" in inspect.signature(execution.PromptExecutor).parameters:
        return execution.PromptExecutor(server, cache_args={"lru": 0, "ram": 0.0, "ram_inactive": 0.0})
    return execution.PromptExecutor(server)


def execute(execution, prompt: dict, outputs: list, client_id: str | None = None,
            server: RecordingServer | None = None):
    """Run a validated graph through ComfyUI's own executor; returns the executor (see `.success`,
    `.status_messages`) and the server stand-in with what it would have sent."""
    server = server or RecordingServer()
    executor = new_executor(execution, server)
    extra = {"client_id": client_id} if client_id else {}
    executor.execute(prompt, str(uuid.uuid4()), extra, outputs)
    return executor, server


def node_outputs(executor, node_id: str) -> list:
    """The outputs of a node the executor ran (still in its cache), the first item of each. 0.3.64's cache gives
    the list of outputs; 0.33's is asynchronous and gives an entry holding them."""
    import inspect

    cached = executor.caches.outputs.get(node_id)
    if inspect.isawaitable(cached):
        cached = asyncio.run(cached)
    if cached is None:
        raise KeyError(f"node {node_id} has no cached outputs")
    return [values[0] for values in getattr(cached, "outputs", cached)]


def execution_error(executor) -> str | None:
    """The exception message of a failed run, or None."""
    errors = [data for event, data in executor.status_messages if event == "execution_error"]
    return errors[0]["exception_message"] if errors else None


def start_tiny_comfyui(comfyui: Path, work: Path):
    """`start_comfyui` with tiny FLUX-architecture models built into work/models and the loaders taught to read
    them: what the host tests, `run_workflow.py --tiny-demo` and the benchmarks run on."""
    from . import tiny_models

    models = work / "models"
    modules = start_comfyui(comfyui, work, models=models, cpu=True)
    tiny_models.install_tiny_models(models)
    return modules
