"""Start ComfyUI servers with the pack (and tiny models) loaded, e.g. to try the batch runner.

A thin entry script: the code lives in `iclora_tools.comfyui.server`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # an entry point: makes the tools package importable
from iclora_tools.comfyui.server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
