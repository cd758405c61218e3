"""Set up a ComfyUI host (export, venv with the right torch, requirements) to run the host tier against.

A thin entry script: the code lives in `iclora_tools.maintain.comfyui_host`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # an entry point: makes the tools package importable
from iclora_tools.maintain.comfyui_host import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
