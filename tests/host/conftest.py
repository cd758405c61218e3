"""Host tier: the pack inside a real ComfyUI, in-process on the CPU.

Runs only when COMFYUI_PATH points at a ComfyUI checkout; otherwise every host test is skipped with one reason.
The pack is loaded by ComfyUI's own custom-node loader from a `custom_nodes` folder (under its registry folder
name), tiny FLUX-architecture models are written into a temporary model folder, and graphs run through
`execution.PromptExecutor` after `execution.validate_prompt`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import editor_session
import pytest
from pack_facts import PACK_FOLDER_NAME, SKIP_REASON

# Fixtures for the browser tests (and any host test that needs a real ComfyUI server): one server per frontend.
editor_servers = editor_session.editor_servers
server = editor_session.server


class LogCollector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class RecordingServer:
    """Stands in for PromptServer: the executor only needs these attributes and records what it would send."""

    def __init__(self):
        self.client_id = None
        self.last_node_id = None
        self.last_prompt_id = None
        self.messages: list[tuple[str, dict]] = []

    def send_sync(self, event, data, sid=None):
        self.messages.append((event, data))

    def queue_updated(self):
        pass


@dataclass
class ComfyHost:
    root: Path
    work: Path
    input_dir: Path
    output_dir: Path
    models_dir: Path
    pack_dir: Path
    logs: LogCollector
    modules: dict = field(default_factory=dict)

    @property
    def nodes(self):
        return self.modules["nodes"]

    def validate(self, prompt: dict) -> tuple[bool, dict, list]:
        execution = self.modules["execution"]
        valid, error, outputs, node_errors = asyncio.run(execution.validate_prompt(str(uuid.uuid4()), prompt, None))
        return valid, node_errors, outputs

    def run(self, prompt: dict, client_id: str | None = None) -> tuple[object, RecordingServer]:
        """Validate (no node errors allowed) and execute a graph; returns the executor and what it sent."""
        valid, node_errors, outputs = self.validate(prompt)
        assert node_errors == {} and valid, node_errors
        server = RecordingServer()
        executor = self.modules["execution"].PromptExecutor(server)
        extra = {"client_id": client_id} if client_id else {}
        executor.execute(prompt, str(uuid.uuid4()), extra, outputs)
        return executor, server

    def run_expecting_error(self, prompt: dict) -> str:
        valid, node_errors, outputs = self.validate(prompt)
        assert node_errors == {} and valid, node_errors
        server = RecordingServer()
        executor = self.modules["execution"].PromptExecutor(server)
        executor.execute(prompt, str(uuid.uuid4()), {}, outputs)
        assert not executor.success, "the graph was expected to fail"
        errors = [data for event, data in executor.status_messages if event == "execution_error"]
        assert errors, executor.status_messages
        return errors[0]["exception_message"]


def _start_comfy(root: Path, work: Path) -> ComfyHost:
    import tiny_models
    from comfy_inprocess import start_comfyui

    logs = LogCollector()  # before the loader runs, to see any import failure it logs
    logging.getLogger().addHandler(logs)
    logging.getLogger().setLevel(logging.INFO)
    nodes, execution, folder_paths = start_comfyui(root, work, models=work / "models", cpu=True)
    tiny_models.patch_loaders_for_tiny_models()
    tiny_models.build_tiny_models(work / "models")
    return ComfyHost(root, work, work / "input", work / "output", work / "models",
                     work / "custom_nodes" / PACK_FOLDER_NAME, logs,
                     {"nodes": nodes, "execution": execution, "folder_paths": folder_paths})


@pytest.fixture(scope="session")
def comfy(tmp_path_factory) -> ComfyHost:
    root = os.environ.get("COMFYUI_PATH")
    if not root:
        pytest.skip(SKIP_REASON)
    root_path = Path(root).resolve()
    if not (root_path / "nodes.py").is_file() or not (root_path / "comfy").is_dir():
        pytest.fail(f"COMFYUI_PATH={root} is not a ComfyUI checkout (no nodes.py / comfy/ there)")
    return _start_comfy(root_path, tmp_path_factory.mktemp("comfyui"))
