"""The pack in the real graph editor: a ComfyUI server on loopback, driven by headless Chromium.

Needs COMFYUI_PATH (with ComfyUI's requirements, including its pinned frontend package), the `playwright` Python
package and a Chromium binary (Debian's `chromium`; no browser download). Screenshots are written to a temporary
folder, whose path is printed, for review.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from iclora_pack.nodes.core.canvas import MAX_IMAGES
from iclora_pack.nodes.core.prompts import MAX_PANEL_TEXTS
from pack_facts import OUR_NODE_IDS, PACK_FOLDER_NAME, skip_without_comfyui

skip_without_comfyui()

import editor_session  # noqa: E402
from editor_session import (  # noqa: E402  (after the module-level skip)
    CHROMIUM,
    NO_NEWER_FRONTEND,
    EditorSession,
    Frontend,
    get_json,
    matrix_frontends,
    offers_vue_nodes,
    placeholder_models,
)

server = editor_session.server  # other browser test modules take EditorSession, get_json and this fixture from here

if not CHROMIUM:
    pytest.skip("browser tests skipped: no Chromium binary (install Debian's chromium or set CHROMIUM_PATH)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests skipped: pip install playwright")

PACK_ROOT = Path(__file__).resolve().parents[2]
# Newer frontends poll the jobs API that ComfyUI 0.3.64 does not have, and probe routes it does not serve; with no
# custom node loaded they log exactly these. Tolerated for those frontends only.
NEWER_FRONTEND_ERRORS = re.compile(r"^(\[Jobs API\] Error fetching jobs|Failed to fetch queue): JobsApiError: "
                                   r"Failed to fetch jobs: 404")
NEWER_FRONTEND_404 = re.compile(r"^404 \S+/(api/jobs\?|api/global_subgraphs$|templates/index_logo\.json$)")


@dataclass(frozen=True)
class Editor:
    """One cell of the editor matrix: a frontend and its node-rendering mode."""

    frontend: Frontend | None
    vue_nodes: bool

    @property
    def label(self) -> str:
        return f"{self.frontend.label if self.frontend else 'frontend-newest'}-{'vue' if self.vue_nodes else 'classic'}"

    def open(self, playwright, editor_servers, width: int = 1760, height: int = 1000) -> tuple[EditorSession, dict]:
        served = editor_servers(self.frontend)
        return EditorSession(playwright, served["url"], width, height, vue_nodes=self.vue_nodes), served

    def assert_clean(self, session: EditorSession, tolerated: tuple[str, ...] = ()) -> None:
        if self.frontend.root is not None:
            session.errors = [e for e in session.errors if not NEWER_FRONTEND_ERRORS.search(e)]
            session.failed = [f for f in session.failed if not NEWER_FRONTEND_404.search(f)]
        session.assert_clean(tolerated)


def editor_matrix() -> list:
    """Every frontend in every node-rendering mode it offers; a missing newer frontend is one skip per mode."""
    params = []
    frontends = matrix_frontends()
    for frontend in frontends:
        for vue in (False, True):
            if vue and not offers_vue_nodes(frontend):
                continue  # 1.27.10 has the Vue renderer only as an unlisted prototype, no setting
            editor = Editor(frontend, vue)
            params.append(pytest.param(editor, id=editor.label))
    if len(frontends) == 1:
        for vue in (False, True):
            editor = Editor(None, vue)
            params.append(pytest.param(editor, id=editor.label, marks=pytest.mark.skip(reason=NO_NEWER_FRONTEND)))
    return params


EDITORS = editor_matrix()


def test_server_loads_the_pack_and_serves_its_nodes(server):
    log = server["log"].read_text()
    assert "IMPORT FAILED" not in "\n".join(line for line in log.splitlines() if PACK_FOLDER_NAME in line), log[-3000:]
    info = get_json(f"{server['url']}/object_info")
    for node_id in OUR_NODE_IDS:
        assert info[node_id]["python_module"] == f"custom_nodes.{PACK_FOLDER_NAME}"


@pytest.mark.parametrize("editor", EDITORS)
def test_editor_shows_the_nodes_with_their_widgets_and_no_console_errors(editor, editor_servers):
    with sync_api.sync_playwright() as playwright:
        session, served = editor.open(playwright, editor_servers)
        page = session.page
        widgets = page.evaluate(
            """(ids) => {
                window.app.graph.clear();
                const out = {};
                ids.forEach((id, i) => {
                    const node = window.LiteGraph.createNode(id);
                    node.pos = [[20, 60], [420, 60], [820, 60], [1220, 60], [420, 290]][i] || [20, 700];
                    window.app.graph.add(node);
                    out[id] = {
                        title: node.title,
                        widgets: (node.widgets || []).map(w => w.name),
                        inputs: (node.inputs || []).map(s => s.name),
                        outputs: (node.outputs || []).map(s => s.name),
                    };
                });
                window.app.graph.setDirtyCanvas(true, true);
                return out;
            }""",
            list(OUR_NODE_IDS),
        )
        page.wait_for_timeout(800)
        shot = served["shots"] / f"editor-panel-nodes-{editor.label}.png"
        page.screenshot(path=str(shot))
        print(f"\nscreenshot: {shot}")
        session.browser.close()

    concat = widgets["ICLoRA_PanelConcatenate"]
    assert concat["title"] == "Panel Concatenate"
    assert concat["widgets"][:4] == ["output_slots", "order", "arrangement", "grid_rows"]
    assert "image_1" in concat["inputs"] and concat["outputs"] == ["canvas", "layout", "report"]
    assert widgets["ICLoRA_OutputSlotMask"]["inputs"][:1] == ["layout"]
    assert widgets["ICLoRA_PanelSplit"]["widgets"] == ["select", "numbers", "undo_fit"]
    builder = widgets["ICLoRA_JointPromptBuilder"]
    assert builder["widgets"][:3] == ["preset", "summary", "panel_1"] and "panel_8" in builder["widgets"]
    assert builder["outputs"] == ["prompt", "conditioning", "panel_texts", "warnings"]
    sampler = widgets["ICLoRA_InContextSampler"]
    assert sampler["widgets"][:3] == ["mode", "seed", "control_after_generate"]
    assert {"model", "positive", "negative", "vae", "image", "mask", "layout"} <= set(sampler["inputs"])
    assert sampler["outputs"] == ["image", "latent", "report"]
    editor.assert_clean(session)


WORKFLOWS = sorted((PACK_ROOT / "workflows").glob("*.json"))


def test_template_browser_lists_every_shipped_workflow(server):
    templates = get_json(f"{server['url']}/api/workflow_templates")
    assert sorted(templates[PACK_FOLDER_NAME]) == sorted(p.stem for p in WORKFLOWS)
    thumbnail = urllib.parse.quote(f"{WORKFLOWS[0].stem}.jpg")
    with urllib.request.urlopen(f"{server['url']}/api/workflow_templates/{PACK_FOLDER_NAME}/{thumbnail}",
                                timeout=10) as response:
        assert response.status == 200 and response.read(3) == b"\xff\xd8\xff"


LOW_QUALITY_ZOOM = 0.6  # below it the editor draws nodes as plain boxes (1.27: low_quality_zoom_threshold)
# Where a node of the opened workflow is on screen, and what the editor shows at its corners: the graph (canvas or
# a node's own DOM) or something of the editor's chrome in front of it.
VIEW_PROBE = """(vue) => {
    const c = window.app.canvas, ds = c.ds, box = c.canvas.getBoundingClientRect();
    const onGraph = (x, y) => {
        const el = document.elementFromPoint(x, y);
        if (!el) return 'nothing';
        if (el === c.canvas || el.closest('[data-node-id], .dom-widget, .comfy-multiline-input, .comfy-markdown'))
            return '';
        return (el.className && String(el.className).slice(0, 60)) || el.tagName;
    };
    return {
        scale: ds.scale, lowQuality: !!c.low_quality,
        nodes: window.app.graph._nodes.map(n => {
            const title = n.constructor.title_mode === 1 ? 0 : window.LiteGraph.NODE_TITLE_HEIGHT;
            let r = {left: box.left + (n.pos[0] + ds.offset[0]) * ds.scale,
                     top: box.top + (n.pos[1] - title + ds.offset[1]) * ds.scale,
                     right: box.left + (n.pos[0] + n.size[0] + ds.offset[0]) * ds.scale,
                     bottom: box.top + (n.pos[1] + n.size[1] + ds.offset[1]) * ds.scale};
            const dom = vue && document.querySelector(`[data-node-id="${n.id}"]`);
            if (dom) r = dom.getBoundingClientRect();
            const inset = 6;
            const covered = [[r.left + inset, r.top + inset], [r.right - inset, r.top + inset],
                             [r.left + inset, r.bottom - inset], [r.right - inset, r.bottom - inset]]
                .map(([x, y]) => onGraph(x, y)).filter(Boolean);
            return {id: n.id, type: n.type, title: n.title, height: n.size[1], covered,
                    rect: [r.left, r.top, r.right, r.bottom].map(Math.round)};
        }),
    };
}"""
BUILDER_BOXES = """(vue) => {
    const b = window.app.graph._nodes.find(n => n.type === 'ICLoRA_JointPromptBuilder');
    const shown = (b.widgets || []).filter(w => !w.hidden).map(w => w.name);
    let heights;
    if (vue) {
        const dom = document.querySelector(`[data-node-id="${b.id}"]`);
        heights = [...dom.querySelectorAll('textarea')].map(t => t.getBoundingClientRect().height);
    } else {
        heights = b.widgets.filter(w => !w.hidden && w.element && w.element.tagName === 'TEXTAREA')
            .map(w => w.element.getBoundingClientRect().height);
    }
    return {shown, heights, height: b.size[1]};
}"""


def dismiss_dialogs(page) -> None:
    """Close the missing-models dialog that a workflow with absent models opens (1.27)."""
    page.keyboard.press("Escape")
    page.wait_for_timeout(200)


def load_workflow(page, workflow: dict) -> list[dict]:
    return page.evaluate(
        """async (data) => {
            await window.app.loadGraphData(data, true, true, null);
            return window.app.graph._nodes.map(n => ({
                id: n.id, type: n.type,
                registered: !!window.LiteGraph.registered_node_types[n.type],
                values: (n.widgets || []).filter(w => w.serialize !== false).map(w => w.value),
            }));
        }""",
        workflow,
    )


def overlap(a: list[int], b: list[int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def assert_opens_readable(page, editor: Editor, path: Path, workflow: dict) -> None:
    """The whole workflow in view, nothing of the editor in front of it, above the zoom that hides node contents,
    the prompt builder as tall as saved with one roomy box per panel."""
    name = path.stem
    view = page.evaluate(VIEW_PROBE, editor.vue_nodes)
    assert view["scale"] == pytest.approx(workflow["extra"]["ds"]["scale"]) and view["scale"] >= LOW_QUALITY_ZOOM
    assert not view["lowQuality"], name
    hidden = [(n["title"] or n["type"], n["covered"], n["rect"]) for n in view["nodes"] if n["covered"]]
    assert not hidden, (name, page.viewport_size, hidden)
    overlapping = [(a["title"] or a["type"], b["title"] or b["type"]) for i, a in enumerate(view["nodes"])
                   for b in view["nodes"][i + 1:] if overlap(a["rect"], b["rect"])]
    assert not overlapping, (name, overlapping)
    saved = next(n for n in workflow["nodes"] if n["type"] == "ICLoRA_JointPromptBuilder")
    boxes = page.evaluate(BUILDER_BOXES, editor.vue_nodes)
    # the classic canvas keeps the saved height; the Vue renderer sizes a node to its DOM content, a little less
    assert boxes["height"] >= saved["size"][1] * (0.9 if editor.vue_nodes else 1), (name, boxes)
    concat = next(n for n in workflow["nodes"] if n["type"] == "ICLoRA_PanelConcatenate")
    panels = concat["widgets_values"][0] + sum(1 for i in concat["inputs"] if i["name"].startswith("image_"))
    shown_panels = [w for w in boxes["shown"] if re.fullmatch(r"panel_\d+", w)]
    custom = saved["widgets_values"][0] == "custom"
    assert len(shown_panels) == panels, boxes
    assert any(w.startswith("custom_") for w in boxes["shown"]) == custom, boxes
    assert len(boxes["heights"]) == panels + 1 and min(boxes["heights"]) >= 60, (name, boxes["heights"])


# How each frontend tells of missing models: 1.27.10 a "Missing Models" dialog; 1.49.6 a toast "N errors found"
# (one per absent model file); 1.58.1 a toast "N issues found".
MISSING_MODELS = re.compile(r"^Missing Models$|\d+ (issues?|errors?) found")


@pytest.mark.parametrize("editor", EDITORS)
def test_every_shipped_workflow_loads_with_its_widget_values_and_offers_its_models(editor, editor_servers):
    with sync_api.sync_playwright() as playwright:
        session, served = editor.open(playwright, editor_servers, 1600, 1000)
        page = session.page
        for path in WORKFLOWS:
            workflow = json.loads(path.read_text())
            loaded = load_workflow(page, workflow)
            page.wait_for_timeout(300)
            assert page.get_by_text("Invalid workflow").count() == 0, f"{path.name}: the editor rejected its schema"
            page.get_by_text(MISSING_MODELS).first.wait_for(timeout=10_000)  # offered from the workflow's list
            dismiss_dialogs(page)
            by_id = {str(n["id"]): n for n in loaded}  # newer frontends keep node ids as strings
            assert len(loaded) == len(workflow["nodes"]), path.name
            for node in workflow["nodes"]:
                shown = by_id[str(node["id"])]
                assert shown["registered"], f"{path.name}: {node['type']} is missing"
                # Every saved value in its widget; a widget this host added since (0.33's Save LoRA `steps`) may
                # follow, at its default, as the editor applies saved values by position.
                saved = node["widgets_values"]
                assert shown["values"][:len(saved)] == saved, (path.name, node["type"], shown["values"])
        session.browser.close()
    # The missing-models dialog asks the download URLs for their size; this test machine has no internet.
    editor.assert_clean(session, tolerated=("Error fetching file size: TypeError: Failed to fetch",))


@pytest.mark.parametrize("editor", EDITORS)
def test_every_shipped_workflow_opens_readable_at_common_window_sizes(editor, editor_servers):
    """As a user with the models installed sees it: at 1600 x 1000 and 1920 x 1080 the whole workflow, the note
    included, in view and drawn in full; Fit view stays above the zoom that hides node contents."""
    served = editor_servers(editor.frontend)
    workflows = {path: json.loads(path.read_text()) for path in WORKFLOWS}
    with placeholder_models(served, list(workflows.values())), sync_api.sync_playwright() as playwright:
        session, _ = editor.open(playwright, editor_servers, 1600, 1000)
        page = session.page
        hero = PACK_ROOT / "workflows" / "font-design-reference.json"
        if editor.frontend.root is None and not editor.vue_nodes:  # the README's picture: a fresh editor, one tab
            load_workflow(page, workflows[hero])
            page.wait_for_timeout(600)
            page.screenshot(path=str(served["shots"] / "hero-font-design-reference.png"))
        for path, workflow in workflows.items():
            for width, height in ((1600, 1000), (1920, 1080)):
                page.set_viewport_size({"width": width, "height": height})
                load_workflow(page, workflow)
                page.wait_for_timeout(400)
                assert page.get_by_text(MISSING_MODELS).count() == 0, path.name
                if width == 1600:
                    page.screenshot(path=str(served["shots"] / f"{editor.label}-{path.stem}.png"))
                assert_opens_readable(page, editor, path, workflow)
            page.keyboard.press(".")  # Fit view
            page.wait_for_timeout(200)
            fitted = page.evaluate("() => [window.app.canvas.ds.scale, !!window.app.canvas.low_quality]")
            assert fitted[0] >= LOW_QUALITY_ZOOM and not fitted[1], (path.name, fitted)
        print(f"\nworkflow screenshots: {served['shots']}")
        session.browser.close()
    editor.assert_clean(session)


def test_presets_route_serves_the_data_file(server):
    from iclora_pack.nodes.core.prompts import load_presets

    served = get_json(f"{server['url']}/iclora/presets")
    assert {k: v["panel_count"] for k, v in served.items()} == {k: p.panel_count for k, p in load_presets().items()}


def case(images, slots, order="", arrangement="row", rows=0, cols=0) -> dict:
    return {"images": images, "outputSlots": slots, "order": order, "arrangement": arrangement, "rows": rows,
            "cols": cols}


LAYOUT_CASES = [
    case(1, 2),
    case(2, 1, "O I I", "column"),
    case(0, 5, arrangement="grid"),
    case(1, 3, arrangement="grid", cols=3),
    case(0, 7, arrangement="grid", rows=2),
    # separators: any whitespace (tab, newline, ...) as the backend parses it, commas, semicolons; any case
    case(1, 2, "i\to\to"),
    case(1, 2, "I\nO\r\nO"),
    case(2, 1, " O;i,\u3000I\u00a0"),
    case(1, 1, "\t\n "),  # only separators: inputs first
    case(1, 1, "I\ufeffO"),  # JavaScript's \s (a byte-order mark), not Python's: a separator on both sides
    case(1, 2, "I\x1cO\x85O"),  # Python's whitespace, not JavaScript's: rejected on both sides
    case(1, 2, "I O X"),
    case(1, 2, "I O O O"),
    case(1, 1, "I\u200bO"),  # a zero-width space is not whitespace to Python: rejected
]


def backend_plan(c: dict) -> dict:
    from iclora_pack.nodes.core.errors import PanelInputError
    from iclora_pack.nodes.core.layout import grid_shape, parse_order

    try:
        roles = parse_order(c["order"], c["images"], c["outputSlots"])
        rows, cols = grid_shape(len(roles), c["arrangement"], c["rows"], c["cols"])
    except PanelInputError:
        return {"error": True}
    return {"roles": ["I" if r == "input" else "O" for r in roles], "rows": rows, "cols": cols}


def test_editor_preview_accepts_and_rejects_the_panel_order_exactly_as_the_backend(server):
    with sync_api.sync_playwright() as playwright:
        session = EditorSession(playwright, server["url"], 800, 600)
        plans = session.page.evaluate("(cases) => cases.map(c => window.ICLoRA.planLayout(c))", LAYOUT_CASES)
        session.browser.close()
    for c, plan in zip(LAYOUT_CASES, plans):
        expected = backend_plan(c)
        assert ({"error": True} if "error" in plan else plan) == expected, c
    assert sum("error" in p for p in plans) == 4  # the cases above that the backend rejects
    session.assert_clean()


@pytest.mark.parametrize("editor", EDITORS)
def test_editor_extension_grows_inputs_previews_the_layout_and_fits_panel_texts(editor, editor_servers):
    with sync_api.sync_playwright() as playwright:
        session, served = editor.open(playwright, editor_servers, 1400, 900)
        page = session.page
        inputs = page.evaluate("""() => {
            const g = window.app.graph; g.clear();
            const images = (n) => n.inputs.filter(i => /^image_/.test(i.name)).map(i => i.name);
            const concat = LiteGraph.createNode('ICLoRA_PanelConcatenate'); concat.pos = [400, 60]; g.add(concat);
            const before = images(concat);
            const load = LiteGraph.createNode('LoadImage'); load.pos = [40, 60]; g.add(load);
            load.connect(0, concat, concat.inputs.findIndex(i => i.name === 'image_1'));
            const after = images(concat);
            const builder = LiteGraph.createNode('ICLoRA_JointPromptBuilder'); builder.pos = [800, 60];
            g.add(builder);
            window.__icl = { concat, builder, load };
            window.__iclSet = (node, name, value) => {  // as the editor does when the user edits a widget
                const w = node.widgets.find(w => w.name === name); w.value = value; w.callback?.(value);
                window.app.graph.setDirtyCanvas(true, true);
            };
            window.__iclSet(builder, 'preset', 'font-design');
            return { before, after };
        }""")
        assert inputs == {"before": ["image_1"], "after": ["image_1", "image_2"]}
        full = page.evaluate("""(max) => { const { concat, load } = window.__icl;
            const slot = (name) => concat.inputs.findIndex(i => i.name === name);
            for (let k = 2; k <= max; k++) load.connect(0, concat, slot(`image_${k}`));
            const names = concat.inputs.filter(i => /^image_/.test(i.name)).map(i => i.name);
            for (let k = max; k >= 2; k--) concat.disconnectInput(slot(`image_${k}`));
            return names; }""", MAX_IMAGES)
        assert full == [f"image_{k}" for k in range(1, MAX_IMAGES + 1)]  # the backend's limit, read from the node
        visible = "() => window.__icl.builder.widgets.filter(w => /^panel_/.test(w.name) && !w.hidden).length"
        customs = "() => window.__icl.builder.widgets.filter(w => /^custom_/.test(w.name) && !w.hidden).length"
        page.wait_for_function(f"() => ({visible})() === 4", timeout=5_000)  # font design: 2 x 2
        assert page.evaluate(customs) == 0
        page.evaluate("() => window.__iclSet(window.__icl.builder, 'preset', 'custom')")
        page.wait_for_function(f"() => ({customs})() === 3", timeout=5_000)
        page.wait_for_function(f"() => ({visible})() === {MAX_PANEL_TEXTS}", timeout=5_000)  # no layout: every box
        page.evaluate("() => window.__iclSet(window.__icl.builder, 'preset', 'font-design')")
        page.wait_for_function(f"() => ({customs})() === 0", timeout=5_000)
        page.evaluate("""() => { const { concat, builder } = window.__icl;
            concat.connect(1, builder, builder.inputs.findIndex(i => i.name === 'layout'));
            window.app.graph.setDirtyCanvas(true, true); }""")
        page.wait_for_function(f"() => ({visible})() === 2", timeout=5_000)  # 1 image + 1 output slot
        page.wait_for_timeout(300)
        two_panels_height = page.evaluate("() => window.__icl.builder.size[1]")
        page.evaluate("() => window.__iclSet(window.__icl.concat, 'output_slots', 3)")
        page.wait_for_function(f"() => ({visible})() === 4", timeout=5_000)
        page.wait_for_timeout(300)
        # hidden boxes take no room: two more visible boxes make the node taller
        assert page.evaluate("() => window.__icl.builder.size[1]") > two_panels_height + 60
        page.evaluate("() => window.__iclSet(window.__icl.concat, 'order', 'O\\tI\\nO O')")
        page.wait_for_function(f"() => ({visible})() === 4", timeout=5_000)
        boxes = page.evaluate(BUILDER_BOXES, editor.vue_nodes)
        assert len(boxes["heights"]) == 5, boxes  # the summary and one box per panel, no hidden one drawn
        labels = page.evaluate("() => window.__icl.builder.widgets.filter(w => !w.hidden && w.type !== 'combo')"
                               ".map(w => w.label || w.name)")
        assert labels[:2] == ["summary: the whole set", "panel 1"], labels
        if not editor.vue_nodes:
            hidden_boxes = page.evaluate("""() => window.__icl.builder.widgets
                .filter(w => w.hidden && w.element).map(w => w.element.style.display)""")
            assert hidden_boxes and set(hidden_boxes) == {"none"}
        page.wait_for_timeout(300)
        page.screenshot(path=str(served["shots"] / f"editor-extension-{editor.label}.png"))
        print(f"\nscreenshot: {served['shots'] / f'editor-extension-{editor.label}.png'}")
        session.browser.close()
    editor.assert_clean(session)
