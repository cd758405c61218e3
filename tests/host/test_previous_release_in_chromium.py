"""The previous release's workflows open in today's editor: every node is known, every saved widget value lands in
the widget it was saved from, and widgets added since show their defaults (ComfyUI server on loopback, headless
Chromium; the validation side is tests/host/test_schema_compatibility_in_comfyui.py)."""

from __future__ import annotations

import json

from pack_facts import skip_without_comfyui

skip_without_comfyui()

import test_editor_in_chromium as editor_tests  # noqa: E402  (after the skip: it needs Chromium and playwright)
from test_schema_compatibility_in_comfyui import PREVIOUS, as_the_editor_loads  # noqa: E402

EditorSession, sync_api = editor_tests.EditorSession, editor_tests.sync_api
server = editor_tests.server  # the same module-scoped fixture: a ComfyUI server of this module's own


def test_previous_release_workflows_open_with_their_values(server):
    info = editor_tests.get_json(f"{server['url']}/object_info")
    with sync_api.sync_playwright() as playwright:
        editor = EditorSession(playwright, server["url"])
        page = editor.page
        for path in PREVIOUS:
            saved = json.loads(path.read_text())
            expected, _ = as_the_editor_loads(saved, info)  # /object_info entries serve as classes
            loaded = editor_tests.load_workflow(page, saved)
            page.wait_for_timeout(200)
            assert page.get_by_text("Invalid workflow").count() == 0, f"{path.name}: the editor rejected it"
            page.keyboard.press("Escape")  # the missing-models dialog
            by_id = {str(n["id"]): n for n in loaded}
            assert len(loaded) == len(saved["nodes"]), path.name
            for node in expected["nodes"]:
                shown = by_id[str(node["id"])]
                assert shown["registered"], f"{path.name}: {node['type']} is missing"
                assert shown["values"] == node["widgets_values"], (path.name, node["type"], shown["values"])
        print(f"\nchecked {len(PREVIOUS)} previous-release workflows in the editor")
        editor.browser.close()
    # The missing-models dialog asks the download URLs for their size; this test machine has no internet.
    editor.assert_clean(tolerated=("Error fetching file size: TypeError: Failed to fetch",))
