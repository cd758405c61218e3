"""Maintainers: write the editor's translations and check them and the help pages.

A thin entry script: the code lives in `iclora_tools.maintain.locales`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # an entry point: makes the tools package importable
from iclora_tools.maintain.locales import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
