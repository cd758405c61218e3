"""A real ComfyUI server in a subprocess, on a free 127.0.0.1 port, with the pack loaded from this checkout (and,
by default, the tiny FLUX-architecture models): what the browser tests, the batch runner's tests and its benchmark
talk to over HTTP. Every folder it writes (input, output, temp, user, models, its log) is under `work`.

    with ComfyServer(Path("/path/to/ComfyUI"), Path("/tmp/s1")) as server:
        print(server.url)

In-process ComfyUI (no server) is in comfy_inprocess.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .. import PACK_FOLDER, ROOT
from .inprocess import MODEL_FOLDERS

TINY_NODE_FOLDER = "iclora-tiny-models"


class ServerStartError(RuntimeError):
    """The server exited or did not answer in time; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class ComfyServer:
    """One ComfyUI server process. `tiny_models=True` builds the tiny models into `models` (default work/models)
    when the server loads its custom nodes and teaches its loaders to read them; `extra_args` go to main.py as they
    are (e.g. ["--front-end-root", DIR]); `env` adds environment variables."""

    def __init__(self, comfyui: Path, work: Path, tiny_models: bool = True, models: Path | None = None,
                 extra_args: tuple[str, ...] | list[str] = (), port: int | None = None, env: dict | None = None):
        self.comfyui = Path(comfyui).resolve()
        self.work = Path(work).resolve()
        self.tiny_models = tiny_models
        self.models = Path(models).resolve() if models else self.work / "models"
        self.extra_args = list(extra_args)
        self.port = port
        self.env = dict(env or {})
        self.input_dir = self.work / "input"
        self.output_dir = self.work / "output"
        self.log = self.work / "server.log"
        self.process: subprocess.Popen | None = None
        self._log_file = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def shots(self) -> Path:
        return self.work

    def _prepare(self) -> Path:
        custom_nodes = self.work / "custom_nodes"
        for folder in (custom_nodes, self.input_dir, self.output_dir, self.work / "temp", self.work / "user"):
            folder.mkdir(parents=True, exist_ok=True)
        for folder in MODEL_FOLDERS:
            (self.models / folder).mkdir(parents=True, exist_ok=True)
        example = self.comfyui / "input" / "example.png"  # as installs have; the reference workflows load it
        if example.exists():
            shutil.copy(example, self.input_dir / "example.png")
        links = {PACK_FOLDER: ROOT}
        if self.tiny_models:
            links[TINY_NODE_FOLDER] = Path(__file__).resolve().parent / "tiny_models_node"
        for name, target in links.items():
            if not (custom_nodes / name).exists():
                (custom_nodes / name).symlink_to(target, target_is_directory=True)
        config = self.work / "paths.yaml"
        lines = ["pack_tests:", f"  base_path: {self.work}", "  custom_nodes: custom_nodes"]
        lines += [f"  {folder}: {self.models / folder}" for folder in MODEL_FOLDERS]
        config.write_text("\n".join(lines) + "\n")
        return config

    def command(self, config: Path) -> list[str]:
        return [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
                "--disable-auto-launch", "--extra-model-paths-config", str(config),
                "--input-directory", str(self.input_dir), "--output-directory", str(self.output_dir),
                "--temp-directory", str(self.work / "temp"), "--user-directory", str(self.work / "user"),
                "--database-url", "sqlite:///:memory:", "--preview-method", "latent2rgb", *self.extra_args]

    def launch(self) -> ComfyServer:
        """Start the process without waiting for it (see `wait_ready`), so several servers start together."""
        config = self._prepare()
        self.port = self.port or free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ICLORA_TINY_MODELS": str(self.models), **self.env}
        self._log_file = self.log.open("a")
        self.process = subprocess.Popen(self.command(config), cwd=self.comfyui, stdout=self._log_file,
                                        stderr=subprocess.STDOUT, env=env)
        return self

    def wait_ready(self, timeout: float = 180) -> ComfyServer:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ServerStartError(f"ComfyUI exited early (code {self.process.returncode}):\n{self.log_tail()}")
            try:
                get_json(f"{self.url}/system_stats", timeout=5)
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    message = f"ComfyUI did not answer within {timeout:.0f} s:\n{self.log_tail()}"
                    raise ServerStartError(message) from None
                time.sleep(0.3)
                continue
            if self.tiny_models and self._import_failed(TINY_NODE_FOLDER):
                # Without its tiny models the server still runs, and refuses every graph (400: the model files
                # the graph names are not there). Say why at start instead.
                self.stop()
                raise ServerStartError(f"the tiny models could not be built in this ComfyUI:\n{self.log_tail()}")
            return self

    def start(self, timeout: float = 180) -> ComfyServer:
        return self.launch().wait_ready(timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]

    def pack_import_failed(self) -> bool:
        """ComfyUI carries on after a custom node fails to import; it only says so in the log."""
        return self._import_failed(PACK_FOLDER)

    def _import_failed(self, folder: str) -> bool:
        return any("IMPORT FAILED" in line and folder in line for line in self.log_text().splitlines())

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """Gone at once, mid-job: the way a crashed or unplugged machine disappears."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> ComfyServer:
        return self.start() if not self.alive() else self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_servers(comfyui: Path, work_root: Path, count: int, timeout: float = 240, **options) -> list[ComfyServer]:
    """`count` servers under work_root/server-1, -2, ..., started together (each builds its own tiny models, so
    none waits on another). On any failure every one already started is stopped."""
    servers = [ComfyServer(comfyui, Path(work_root) / f"server-{i + 1}", **options) for i in range(count)]
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready(timeout)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def main(argv: list[str] | None = None) -> int:
    """Start servers by hand, e.g. to try the batch runner: prints their URLs and runs until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--comfyui", type=Path, required=True, help="the ComfyUI folder")
    parser.add_argument("--work", type=Path, required=True, help="a folder for the servers' files")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--real-models", action="store_true", help="no tiny models (point ComfyUI at yours)")
    options, extra = parser.parse_known_args(argv)

    def stop_on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)  # `kill PID` stops the servers too, not only Ctrl-C
    servers = start_servers(options.comfyui, options.work, options.count, tiny_models=not options.real_models,
                            extra_args=extra)
    print(" ".join(f"--server {s.url}" for s in servers), flush=True)
    try:
        while all(s.alive() for s in servers):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
