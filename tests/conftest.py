"""Test setup shared by both tiers.

The pack is imported as a package named `iclora_pack` from the repository root, whatever the checkout folder is
called, the same way ComfyUI imports it (by file location), so relative imports are exercised as in production.
The tools package (`tools/iclora_tools`) is importable through pytest's `pythonpath` setting.
"""

from __future__ import annotations

from iclora_tools import import_pack

import_pack("iclora_pack")
