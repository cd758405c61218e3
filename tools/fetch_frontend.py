"""Maintainers: fetch a ComfyUI frontend package into a cache outside the project.

A thin entry script: the code lives in `iclora_tools.maintain.fetch_frontend`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # an entry point: makes the tools package importable
from iclora_tools.maintain.fetch_frontend import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
