"""Node help pages and translations in the real editor (ComfyUI server on loopback, headless Chromium).

The frontend fetches a custom node's help page from /extensions/<pack>/docs/<node id>/<locale>.md, then
/extensions/<pack>/docs/<node id>.md (our js/docs/ is served there as the pack's WEB_DIRECTORY), and merges every
pack's locales/<lang>/*.json served at /i18n. Screenshots go to the server's temporary folder (path printed).

ICLORA_UPDATE_HELP_PICTURES=1 also writes the wiring pictures the help pages show (js/docs/images/<node id>.png):
each node selected in a shipped workflow, as the editor draws it.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

import pytest
from pack_facts import OUR_NODE_IDS, PACK_FOLDER_NAME, skip_without_comfyui

skip_without_comfyui()

import test_editor_in_chromium as editor_tests  # noqa: E402  (after the skip: it needs Chromium and playwright)

EditorSession, get_json, sync_api = editor_tests.EditorSession, editor_tests.get_json, editor_tests.sync_api
server = editor_tests.server  # the same module-scoped fixture: a ComfyUI server of this module's own

PACK_ROOT = Path(__file__).resolve().parents[2]
DOCS = f"/extensions/{PACK_FOLDER_NAME}/docs"
ZH = json.loads((PACK_ROOT / "locales" / "zh" / "nodeDefs.json").read_text(encoding="utf-8"))
WIRING_WORKFLOW = PACK_ROOT / "workflows" / "film-storyboard-reference.json"  # has all five generation nodes
# The frontend asks for the localized page first and falls back to <node id>.md: the first miss is by design.
LOCALIZED_HELP_404 = re.compile(rf"^404 \S+{re.escape(DOCS)}/ICLoRA_\w+/(en|zh)\.md$")


def _fetch(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def _page_pictures(node_id: str) -> list[str]:
    text = (PACK_ROOT / "js" / "docs" / f"{node_id}.md").read_text(encoding="utf-8")
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text)


def test_help_pages_and_their_pictures_are_served_where_the_frontend_looks(server):
    info = get_json(f"{server['url']}/object_info")
    for node_id in OUR_NODE_IDS:
        # the frontend derives the folder from python_module "custom_nodes.<folder>"
        assert info[node_id]["python_module"] == f"custom_nodes.{PACK_FOLDER_NAME}"
        status, page = _fetch(f"{server['url']}{DOCS}/{node_id}.md")
        title = info[node_id]["display_name"]
        assert status == 200 and page.decode("utf-8").startswith(f"# {title}\n")
        pictures = _page_pictures(node_id)
        assert pictures, f"{node_id}: the help page has no wiring picture"
        for picture in pictures:
            status, data = _fetch(f"{server['url']}{DOCS}/{picture}")
            assert status == 200 and data[:8] == b"\x89PNG\r\n\x1a\n", picture


def test_i18n_serves_the_generated_translations(server):
    served = get_json(f"{server['url']}/i18n")
    for node_id in OUR_NODE_IDS:
        assert served["zh"]["nodeDefs"][node_id] == ZH[node_id]
        assert served["en"]["nodeDefs"][node_id]["display_name"] == get_json(
            f"{server['url']}/object_info/{node_id}")[node_id]["display_name"]
    assert served["zh"]["nodeCategories"]["In-Context LoRA"] == "上下文 LoRA"


def _add_node(page, node_id: str) -> dict:
    return page.evaluate("""(id) => {
        const g = window.app.graph; g.clear();
        const node = window.LiteGraph.createNode(id); node.pos = [520, 260]; g.add(node);
        window.app.canvas.ds.scale = 1; window.app.canvas.ds.offset = [0, 0];
        window.app.canvas.deselectAll();
        g.setDirtyCanvas(true, true);
        return { title: node.title, inputs: (node.inputs || []).map(i => i.label || i.localized_name || i.name),
                 widgets: (node.widgets || []).map(w => w.label || w.name),
                 outputs: (node.outputs || []).map(o => o.label || o.localized_name || o.name) };
    }""", node_id)


def _open_help(page) -> str:
    """Click the node's title (as a user selects it), then the selection toolbox's info button: the node library
    opens with the node's help page. Returns the page's text."""
    title = page.evaluate("""() => { const c = window.app.canvas, node = window.app.graph._nodes[0];
        const r = c.canvas.getBoundingClientRect(), [x, y] = c.ds.convertOffsetToCanvas([node.pos[0] + 60,
                                                                                       node.pos[1] - 15]);
        return [r.x + x, r.y + y]; }""")
    button = page.locator('[data-testid="info-button"]').first
    for _ in range(3):  # the first click can land while the editor still settles (dialogs closing)
        page.mouse.click(*title)
        try:
            button.wait_for(state="visible", timeout=5_000)
            break
        except sync_api.TimeoutError:
            page.keyboard.press("Escape")
    button.click(timeout=15_000)
    content = page.locator(".node-help-content")
    content.first.wait_for(timeout=15_000)
    page.wait_for_function("() => { const c = document.querySelector('.node-help-content');"
                           " return c && c.querySelector('h2, table'); }", timeout=15_000)
    return content.first.inner_text()


def _help_picture_loaded(page) -> dict:
    return page.evaluate("""() => { const img = document.querySelector('.node-help-content img');
        return img ? { src: img.getAttribute('src'), complete: img.complete, width: img.naturalWidth } : null; }""")


@pytest.mark.parametrize("node_id", OUR_NODE_IDS)
def test_help_page_opens_in_the_node_library(server, node_id):
    with sync_api.sync_playwright() as playwright:
        editor = EditorSession(playwright, server["url"], 1600, 1000)
        page = editor.page
        _add_node(page, node_id)
        text = _open_help(page)
        page.wait_for_function("() => { const i = document.querySelector('.node-help-content img');"
                               " return i && i.complete && i.naturalWidth > 0; }", timeout=15_000)
        picture = _help_picture_loaded(page)
        shot = server["shots"] / f"help-{node_id}.png"
        page.screenshot(path=str(shot))
        print(f"\nscreenshot: {shot}")
        editor.browser.close()
    source = (PACK_ROOT / "js" / "docs" / f"{node_id}.md").read_text(encoding="utf-8")
    for heading in ("Inputs", "Outputs", "Common mistakes"):
        assert heading in text, f"{node_id}: '{heading}' is not in the help panel"
    first_mistake = re.search(r"## Common mistakes\s+- \*\*(.+?)\*\*", source).group(1).replace("`", "")
    assert first_mistake in text.replace("`", "")
    assert picture["src"] == f"{DOCS}/{_page_pictures(node_id)[0]}" and picture["width"] >= 300
    editor.failed[:] = [f for f in editor.failed if not LOCALIZED_HELP_404.search(f)]
    editor.assert_clean()


def test_chinese_locale_shows_the_chinese_names_and_help(server):
    request = urllib.request.Request(f"{server['url']}/api/settings/Comfy.Locale", data=json.dumps("zh").encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()
    try:
        with sync_api.sync_playwright() as playwright:
            editor = EditorSession(playwright, server["url"], 1600, 1000)
            page = editor.page
            shown = {node_id: _add_node(page, node_id) for node_id in OUR_NODE_IDS}
            concat = _add_node(page, "ICLoRA_PanelConcatenate")
            page.wait_for_timeout(500)
            text = _open_help(page)  # no zh page: the English one is the fallback
            page.wait_for_timeout(500)
            shot = server["shots"] / "help-zh-ICLoRA_PanelConcatenate.png"
            page.screenshot(path=str(shot))
            print(f"\nscreenshot: {shot}")
            editor.browser.close()
    finally:
        reset = urllib.request.Request(f"{server['url']}/api/settings/Comfy.Locale", data=json.dumps("en").encode(),
                                       method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(reset, timeout=10).close()
    for node_id, node in shown.items():
        assert node["title"] == ZH[node_id]["display_name"], (node_id, node["title"])
    assert concat["widgets"][:2] == [ZH["ICLoRA_PanelConcatenate"]["inputs"]["output_slots"]["name"],
                                     ZH["ICLoRA_PanelConcatenate"]["inputs"]["order"]["name"]]
    assert ZH["ICLoRA_PanelConcatenate"]["inputs"]["image_1"]["name"] in concat["inputs"]
    assert concat["outputs"] == [ZH["ICLoRA_PanelConcatenate"]["outputs"][str(i)]["name"] for i in range(3)]
    assert "Common mistakes" in text
    editor.failed[:] = [f for f in editor.failed if not LOCALIZED_HELP_404.search(f)]
    editor.assert_clean()


def _wiring_workflow(node_id: str) -> Path:
    """The film storyboard workflow for the generation nodes, else the first shipped workflow that has the node."""
    for path in [WIRING_WORKFLOW, *sorted((PACK_ROOT / "workflows").glob("*.json"))]:
        if any(n["type"] == node_id for n in json.loads(path.read_text())["nodes"]):
            return path
    raise AssertionError(f"no shipped workflow uses {node_id}: its help page needs another wiring picture")


def test_wiring_pictures_show_each_node_in_a_shipped_workflow(server):
    """The help pages' pictures, taken from the editor: each node selected in a shipped workflow, framed with
    the nodes wired to it."""
    from PIL import Image

    update = os.environ.get("ICLORA_UPDATE_HELP_PICTURES") == "1"
    with sync_api.sync_playwright() as playwright:
        editor = EditorSession(playwright, server["url"], 2000, 1240)
        page = editor.page
        page.evaluate("""async () => {
            const settings = window.app.extensionManager.setting;  // a clean picture: no overlays on the canvas
            for (const id of ["Comfy.Minimap.Visible", "Comfy.Graph.CanvasInfo", "Comfy.Graph.CanvasMenu",
                              "Comfy.Canvas.SelectionToolbox"]) await settings.set(id, false); }""")
        loaded = None
        for node_id in OUR_NODE_IDS:
            workflow = _wiring_workflow(node_id)
            if workflow != loaded:
                page.evaluate("async (data) => { await window.app.loadGraphData(data, true, true, null); }",
                              json.loads(workflow.read_text()))
                page.wait_for_timeout(500)
                page.keyboard.press("Escape")  # the missing-models dialog
                page.wait_for_timeout(300)
                loaded = workflow
            box = page.evaluate("""(id) => {
                const c = window.app.canvas, g = window.app.graph;
                const node = g._nodes.find(n => n.type === id);
                const link = (l) => (g.links.get ? g.links.get(l) : g.links[l]);
                const near = new Set([node.id]);  // the node and the nodes wired to it: what the picture is about
                for (const input of node.inputs || []) if (input.link != null) near.add(link(input.link).origin_id);
                for (const output of node.outputs || []) {
                    for (const l of output.links || []) near.add(link(l).target_id);
                }
                const boxes = g._nodes.filter(n => near.has(n.id))
                    .map(n => [n.pos[0], n.pos[1] - 40, n.size[0], n.size[1] + 40]);
                const x0 = Math.min(...boxes.map(b => b[0])) - 20, y0 = Math.min(...boxes.map(b => b[1])) - 20;
                const x1 = Math.max(...boxes.map(b => b[0] + b[2])) + 20;
                const y1 = Math.max(...boxes.map(b => b[1] + b[3])) + 20;
                const s = Math.min(1, c.canvas.clientWidth / (x1 - x0), c.canvas.clientHeight / (y1 - y0));
                c.ds.scale = s; c.ds.offset = [-x0, -y0];
                c.deselectAll();
                c.selectNode(node);
                g.setDirtyCanvas(true, true);
                const r = c.canvas.getBoundingClientRect();
                return { x: r.x, y: r.y, width: Math.min(c.canvas.clientWidth, Math.ceil((x1 - x0) * s)),
                         height: Math.min(c.canvas.clientHeight, Math.ceil((y1 - y0) * s)),
                         node: [(node.pos[0] - x0) * s, (node.pos[1] - y0) * s, node.size[0] * s, node.size[1] * s] };
            }""", node_id)
            page.wait_for_timeout(400)
            shot = server["shots"] / f"wiring-{node_id}.png"
            page.screenshot(path=str(shot), clip={"x": box["x"], "y": box["y"], "width": box["width"],
                                                  "height": box["height"]})
            x, y, w, h = box["node"]
            assert 0 <= x and x + w <= box["width"] + 1 and 0 <= y and y + h <= box["height"] + 1, (node_id, box)
            if update:
                picture = Image.open(shot).convert("RGB")
                picture.thumbnail((1400, 1400))
                picture.quantize(colors=128).save(PACK_ROOT / "js" / "docs" / "images" / f"{node_id}.png",
                                                  optimize=True)
        editor.browser.close()
    print(f"\nwiring screenshots: {server['shots']}")
    for node_id in OUR_NODE_IDS:
        committed = PACK_ROOT / "js" / "docs" / "images" / f"{node_id}.png"
        assert committed.is_file(), f"{committed} is missing: run with ICLORA_UPDATE_HELP_PICTURES=1"
        assert min(Image.open(committed).size) >= 300
    # Offline: the missing-models dialog cannot size the downloads. Hiding the minimap makes the frontend's own
    # minimap code (useMinimapGraph) log the second message, with no node of ours involved.
    editor.assert_clean(tolerated=("Error fetching file size: TypeError: Failed to fetch",
                                   "Attempted to cleanup event listeners for graph that was never set up"))
