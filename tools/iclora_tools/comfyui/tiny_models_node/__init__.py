"""A test-only custom node folder for a ComfyUI *server* started by server.py: when ComfyUI loads it, the tiny
FLUX-architecture models are built into ICLORA_TINY_MODELS (once) and the loaders learn to read them, so the server
runs the shipped graphs on tiny models exactly as the in-process host tests do. It adds no nodes.

ComfyUI loads this folder as a custom node, so it is an entry point: it puts `tools/` on the path itself."""

import os
import sys
from pathlib import Path

_TOOLS = str(Path(__file__).resolve().parents[3])
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

from iclora_tools.comfyui import tiny_models  # noqa: E402

tiny_models.install_tiny_models(Path(os.environ["ICLORA_TINY_MODELS"]))

NODE_CLASS_MAPPINGS: dict = {}
