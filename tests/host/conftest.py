"""Host tier: the pack inside a real ComfyUI, in-process on the CPU.

Runs only when COMFYUI_PATH points at a ComfyUI checkout; otherwise every host test is skipped with one reason.
The pack is loaded by ComfyUI's own custom-node loader from a `custom_nodes` folder (under its registry folder
name), tiny FLUX-architecture models are written into a temporary model folder, and graphs run through
`execution.PromptExecutor` after `execution.validate_prompt`: all of it from iclora_tools/comfyui/ (inprocess.py,
tiny_models.py), which the headless runner and the benchmarks share. A real server in a subprocess is
comfyui/server.py (`comfy_servers` below).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import editor_session
import pytest
from iclora_tools.comfyui import inprocess as comfy_inprocess
from iclora_tools.comfyui.inprocess import RecordingServer
from pack_facts import PACK_FOLDER_NAME, SKIP_REASON

__all__ = ["ComfyHost", "RecordingServer", "comfy", "editor_servers", "server"]

# Fixtures for the browser tests (and any host test that needs a real ComfyUI server): one server per frontend.
editor_servers = editor_session.editor_servers
server = editor_session.server


class LogCollector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


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

    def stock_node(self, class_type: str, inputs: dict) -> dict:
        """An API-format node of ComfyUI's own, as this ComfyUI names and takes it: a renamed node under the id this
        host has (Save LoRA: SaveLoRANode in 0.3.64, SaveLoRA in 0.33), and widget inputs this host added since
        0.3.64 at their defaults (0.33's Train LoRA: five more, whose defaults keep 0.3.64's behaviour), as the
        editor fills them in."""
        from iclora_tools.runner.graph_to_prompt import host_node_type, is_widget, widget_default

        kind = host_node_type(class_type, self.nodes.NODE_CLASS_MAPPINGS)
        required = self._node_info(kind)["input"].get("required", {}).items()
        added = {name: widget_default(tuple(spec)) for name, spec in required
                 if is_widget(tuple(spec)) and name not in inputs}
        return {"class_type": kind, "inputs": {**inputs, **added}}

    def output_link(self, node_id: str, class_type: str, output_type: str) -> list:
        """A link to the first output of `output_type` of node `node_id`, a `class_type` of this ComfyUI: outputs
        move between versions (0.33's Train LoRA no longer outputs the model, so its LoRA is output 0, not 1)."""
        from iclora_tools.runner.workflow_api import host_node_type

        outputs = list(self._node_info(host_node_type(class_type, self.nodes.NODE_CLASS_MAPPINGS))["output"])
        return [node_id, outputs.index(output_type)]

    def _node_info(self, kind: str) -> dict:
        node_class = self.nodes.NODE_CLASS_MAPPINGS[kind]
        if hasattr(node_class, "GET_NODE_INFO_V1"):
            return node_class.GET_NODE_INFO_V1()
        return {"input": node_class.INPUT_TYPES(), "output": node_class.RETURN_TYPES}

    def validate(self, prompt: dict) -> tuple[bool, dict, list]:
        result = comfy_inprocess.validate(self.modules["execution"], prompt)
        return result.valid, result.node_errors, result.outputs

    def run(self, prompt: dict, client_id: str | None = None) -> tuple[object, RecordingServer]:
        """Validate (no node errors allowed) and execute a graph; returns the executor and what it sent."""
        valid, node_errors, outputs = self.validate(prompt)
        assert node_errors == {} and valid, node_errors
        return comfy_inprocess.execute(self.modules["execution"], prompt, outputs, client_id=client_id)

    def run_expecting_error(self, prompt: dict) -> str:
        executor, _ = self.run(prompt)
        assert not executor.success, "the graph was expected to fail"
        message = comfy_inprocess.execution_error(executor)
        assert message is not None, executor.status_messages
        return message


def _start_comfy(root: Path, work: Path) -> ComfyHost:
    logs = LogCollector()  # before the loader runs, to see any import failure it logs
    logging.getLogger().addHandler(logs)
    logging.getLogger().setLevel(logging.INFO)
    nodes, execution, folder_paths = comfy_inprocess.start_tiny_comfyui(root, work)
    return ComfyHost(root, work, work / "input", work / "output", work / "models",
                     work / "custom_nodes" / PACK_FOLDER_NAME, logs,
                     {"nodes": nodes, "execution": execution, "folder_paths": folder_paths})


def comfyui_root() -> Path:
    """COMFYUI_PATH, checked: skips the test without it, fails it when it names no ComfyUI checkout."""
    root = os.environ.get("COMFYUI_PATH")
    if not root:
        pytest.skip(SKIP_REASON)
    root_path = Path(root).resolve()
    if not (root_path / "nodes.py").is_file() or not (root_path / "comfy").is_dir():
        pytest.fail(f"COMFYUI_PATH={root} is not a ComfyUI checkout (no nodes.py / comfy/ there)")
    return root_path


@pytest.fixture(scope="session")
def comfy(tmp_path_factory) -> ComfyHost:
    return _start_comfy(comfyui_root(), tmp_path_factory.mktemp("comfyui"))


@pytest.fixture(scope="session")
def comfy_servers(tmp_path_factory):
    """A factory: `comfy_servers(count, **options)` starts that many real ComfyUI servers on 127.0.0.1 (the pack and
    tiny models loaded; options as for comfyui.server.ComfyServer) and returns them; all are stopped at the end
    of the session, and a test may stop or kill one earlier."""
    from iclora_tools.comfyui.server import ServerStartError, start_servers

    started = []

    def start(count: int = 1, **options):
        try:
            servers = start_servers(comfyui_root(), tmp_path_factory.mktemp("servers"), count, **options)
        except ServerStartError as error:
            pytest.fail(str(error))
        started.extend(servers)
        for server in servers:
            assert not server.pack_import_failed(), server.log_tail()
        return servers

    yield start
    for server in started:
        server.stop()
