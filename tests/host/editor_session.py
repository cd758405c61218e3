"""A real ComfyUI server on loopback and its editor in headless Chromium, for the browser tests.

`EditorSession` opens the editor, records page errors, console errors and failed requests, and checks them against
what the frontend itself causes with no custom node loaded. `comfy_server` starts ComfyUI with the pinned frontend
or another one (`--front-end-root`); the `server` fixture is the pinned one, `editor_servers` starts one server per
frontend of the matrix on demand. Other frontends come from tools/fetch_frontend.py (its cache folder, or
ICLORA_FRONTEND_ROOTS).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from iclora_tools.maintain.fetch_frontend import ROOTS_VARIABLE, configured_roots, frontend_version
from pack_facts import OUR_NODE_IDS

PACK_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TUTORIAL_SETTING = "Comfy.TutorialCompleted"
VUE_NODES_SETTING = "Comfy.VueNodes.Enabled"  # "Modern Node Design (Nodes 2.0)"; experimental since 1.27.1

FRESH_PROFILE_404 = re.compile(r"^404 \S+/(api/userdata/user\.css|user\.css|api/userdata\?dir=(workflows|subgraphs)"
                               r"|api/userdata/comfy\.templates\.json)")
# Errors the frontend itself logs while it starts on a fresh profile, with no custom nodes loaded at all (checked
# against a server started with --disable-all-custom-nodes); they are not this pack's:
# - 1.27.10 throws this while registering its own settings;
# - 1.49.6 (ComfyUI 0.33.0's pin) reads its root graph before creating it (settingStore, console.error).
FRONTEND_STARTUP_ERROR = re.compile(r"^Cannot read properties of undefined \(reading 'id'\) @ (?s:.*)addSetting"
                                    r"|^ComfyApp graph accessed before initialization$")


@dataclass(frozen=True)
class Frontend:
    """One editor of the matrix: the pinned frontend package (root None) or an unpacked newer one."""

    version: str
    root: Path | None = None

    @property
    def label(self) -> str:
        return f"frontend-{self.version}" + ("-pinned" if self.root is None else "")


def pinned_frontend() -> Frontend:
    return Frontend(importlib.metadata.version("comfyui_frontend_package"))


def matrix_frontends() -> list[Frontend]:
    """The editor matrix for the ComfyUI under test: the frontend it pins, and the newest frontend package
    (tools/fetch_frontend.py's cache keeps several; the newest of them is taken, unless it is the pinned one). With
    ICLORA_FRONTEND_ROOTS set, exactly the frontends listed there besides the pinned one."""
    pinned = pinned_frontend()
    others = [Frontend(frontend_version(root), root) for root in configured_roots()]
    if os.environ.get(ROOTS_VARIABLE) is None:
        others = others[-1:]  # the cache lists oldest first
    return [pinned, *(f for f in others if f.version != pinned.version)]


NO_NEWER_FRONTEND = ("newest frontend not set up: run `python tools/fetch_frontend.py` "
                     "(or list unpacked frontends in ICLORA_FRONTEND_ROOTS)")
VUE_NODES_DEFINITION = re.compile(r"id:\s*[`\"']Comfy\.VueNodes\.Enabled[`\"']")
HIDDEN_SETTING = re.compile(r"type:\s*[`\"']hidden[`\"']")


def static_folder(frontend: Frontend) -> Path:
    if frontend.root is not None:
        return frontend.root
    import comfyui_frontend_package

    return Path(comfyui_frontend_package.__file__).parent / "static"


def offers_vue_nodes(frontend: Frontend) -> bool:
    """Whether the frontend offers the Vue node renderer as a user setting. 1.27.10 defines it as a hidden setting
    ("toggle via Experimental keybinding"), a prototype that draws no text box of any node: not a mode to test."""
    for js in (static_folder(frontend) / "assets").glob("*.js"):
        text = js.read_text(errors="replace")
        for match in VUE_NODES_DEFINITION.finditer(text):
            if not HIDDEN_SETTING.search(text[match.end():match.end() + 200]):
                return True
    return False


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def post_json(url: str, value) -> None:
    request = urllib.request.Request(url, data=json.dumps(value).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass


@contextlib.contextmanager
def comfy_server(work: Path, frontend: Frontend | None = None) -> Iterator[dict]:
    """ComfyUI (iclora_tools.comfyui.server, no tiny models: the editor needs none) serving `frontend`.

    Yields {"url", "log", "shots", "models", "frontend", "server"}; the shots folder is the work folder, for
    screenshots; `models` holds ComfyUI's model folders, empty (see `placeholder_models`).
    """
    from iclora_tools.comfyui.server import ComfyServer, ServerStartError

    frontend = frontend or pinned_frontend()
    extra = ["--front-end-root", str(frontend.root)] if frontend.root is not None else []
    server = ComfyServer(Path(os.environ["COMFYUI_PATH"]), work, tiny_models=False, extra_args=extra)
    try:
        server.start()
    except ServerStartError as error:
        pytest.fail(str(error))
    try:
        yield {"url": server.url, "log": server.log, "shots": server.shots, "models": server.models,
               "frontend": frontend, "server": server}
    finally:
        server.stop()


@contextlib.contextmanager
def placeholder_models(served: dict, workflows: list[dict]) -> Iterator[None]:
    """Empty files named as every model the workflows list, so the editor sees them installed (no weights)."""
    made = []
    for workflow in workflows:
        for model in workflow.get("models", []):
            path = served["models"] / model["directory"] / model["name"]
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
                made.append(path)
    try:
        yield
    finally:
        for path in made:
            path.unlink()


@pytest.fixture(scope="module")
def editor_servers(tmp_path_factory):
    """get(frontend) -> a running server for that frontend, started on first use, stopped after the module."""
    started: dict[Frontend, dict] = {}
    with contextlib.ExitStack() as stack:
        def get(frontend: Frontend) -> dict:
            if frontend not in started:
                work = tmp_path_factory.mktemp(frontend.label)
                started[frontend] = stack.enter_context(comfy_server(work, frontend))
            return started[frontend]

        yield get


@pytest.fixture(scope="module")
def server(editor_servers):
    """ComfyUI with the pinned frontend: {"url", "log", "shots", "frontend"}."""
    return editor_servers(pinned_frontend())


class EditorSession:
    """The editor open in headless Chromium, recording page errors, console errors and failed requests.

    `vue_nodes` sets the frontend's node-rendering mode before the page loads (None leaves the profile's setting).
    """

    def __init__(self, playwright, url: str, width: int = 1760, height: int = 1000, vue_nodes: bool | None = None):
        self.errors: list[str] = []
        self.failed: list[str] = []
        if vue_nodes is not None:
            post_json(f"{url}/api/settings/{VUE_NODES_SETTING}", vue_nodes)
        # As for anyone who has opened the editor before: no first-run template browser. 1.49.6 opens it a while
        # after the graph is ready, in front of the canvas, where a single Escape at start-up can miss it.
        post_json(f"{url}/api/settings/{TUTORIAL_SETTING}", True)
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        self.page = page = self.browser.new_page(viewport={"width": width, "height": height})
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e) + " @ " + (e.stack or "")[:600]))
        page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_function("() => window.app && window.app.graph && window.LiteGraph && window.ICLoRA",
                               timeout=120_000)
        page.wait_for_function("(id) => !!window.LiteGraph.registered_node_types[id]", arg=OUR_NODE_IDS[0],
                               timeout=60_000)
        page.keyboard.press("Escape")  # any start-up dialog

    def assert_clean(self, tolerated: tuple[str, ...] = ()) -> None:
        """Nothing failed but what a fresh, offline profile causes with no custom node loaded at all."""
        unexpected = [f for f in self.failed if not FRESH_PROFILE_404.search(f)]
        assert not unexpected, unexpected
        errors = [e for e in self.errors if not e.startswith(("Failed to load resource", *tolerated))
                  and not FRONTEND_STARTUP_ERROR.search(e)]
        assert not errors, errors
