"""Run a workflow headlessly, or a batch of sets over several ComfyUI servers.

A thin entry script: the code lives in `iclora_tools.runner.cli`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # an entry point: makes the tools package importable
from iclora_tools.runner.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
