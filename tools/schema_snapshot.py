"""Maintainers: compare the node schemas with the committed snapshot, or update it.

A thin entry script: the code lives in `iclora_tools.maintain.schema_snapshot`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # an entry point: makes the tools package importable
from iclora_tools.maintain.schema_snapshot import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
