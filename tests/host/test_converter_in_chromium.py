"""The runner's UI-to-API conversion (iclora_tools/runner/graph_to_prompt.py) equals the editor's own: each workflow
is loaded into the real editor (a ComfyUI server on loopback, headless Chromium), `app.graphToPrompt()` is called in
the page, and its `output` is compared with what `to_api` makes of the same file, node by node, input by input.

Cases: every shipped workflow, and edited ones built here from shipped workflows: the task LoRA bypassed, the
whole-canvas preview muted, a Reroute on the CLIP link, a PrimitiveNode driving the sampler's seed, and the Joint
Prompt Builder wrapped in a subgraph by the editor itself (`convertToSubgraph`, its summary promoted to a widget of
the subgraph node and edited there, then saved by the editor: the format the frontend writes). Each on the pinned
frontend and the newest one tools/fetch_frontend.py has fetched. A group node (the older frontend's) is made by
the pinned editor and compared there; where the pinned editor makes none any more (1.49.6, ComfyUI 0.33), by
frontend 1.27.10 served by the same ComfyUI, as users' saved group-node workflows were made.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pack_facts import skip_without_comfyui

skip_without_comfyui()

from editor_session import (  # noqa: E402  (after the module-level skip)
    CHROMIUM,
    NO_NEWER_FRONTEND,
    EditorSession,
    Frontend,
    get_json,
    matrix_frontends,
    placeholder_models,
)
from iclora_tools.maintain.fetch_frontend import cached_roots, frontend_version  # noqa: E402
from iclora_tools.runner.workflow_api import to_api  # noqa: E402

if not CHROMIUM:
    pytest.skip("browser tests skipped: no Chromium binary (install Debian's chromium or set CHROMIUM_PATH)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests skipped: pip install playwright")

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / "workflows").glob("*.json"))
BASE = "film-storyboard-reference"  # the edited cases start from it: LoRA, reference, prompt builder, seed, preview


def frontends() -> list:
    """The pinned frontend and the newest fetched one (a skip when none is)."""
    found = matrix_frontends()
    params = [pytest.param(found[0], id=found[0].label)]
    if len(found) > 1:
        params.append(pytest.param(found[-1], id=found[-1].label))
    else:
        params.append(pytest.param(None, id="frontend-newest", marks=pytest.mark.skip(reason=NO_NEWER_FRONTEND)))
    return params


# -- edited workflows, built from a shipped one ------------------------------------------------------------------

def _node(workflow: dict, node_type: str) -> dict:
    return next(n for n in workflow["nodes"] if n["type"] == node_type)


def _new_ids(workflow: dict) -> tuple[int, int]:
    node_id = max(n["id"] for n in workflow["nodes"]) + 1
    link_id = max(link[0] for link in workflow["links"]) + 1
    workflow["last_node_id"], workflow["last_link_id"] = node_id, link_id
    return node_id, link_id


def bypassed_lora(workflow: dict) -> dict:
    _node(workflow, "LoraLoaderModelOnly")["mode"] = 4
    return workflow


def muted_preview(workflow: dict) -> dict:
    _node(workflow, "PreviewImage")["mode"] = 2
    return workflow


def reroute_on_clip(workflow: dict) -> dict:
    """DualCLIPLoader -> Reroute -> Joint Prompt Builder's clip, as the editor saves a Reroute node."""
    builder = _node(workflow, "ICLoRA_JointPromptBuilder")
    entry = next(i for i in builder["inputs"] if i["name"] == "clip")
    old = next(link for link in workflow["links"] if link[0] == entry["link"])
    node_id, link_id = _new_ids(workflow)
    source = next(n for n in workflow["nodes"] if n["id"] == old[1])
    source["outputs"][old[2]]["links"] = [link_id if x == old[0] else x for x in source["outputs"][old[2]]["links"]]
    workflow["nodes"].append({
        "id": node_id, "type": "Reroute", "pos": [builder["pos"][0] - 60, builder["pos"][1] - 40], "size": [75, 26],
        "flags": {}, "order": 0, "mode": 0, "inputs": [{"name": "", "type": "*", "link": link_id}],
        "outputs": [{"name": "", "type": "CLIP", "links": [old[0]]}], "properties": {"showOutputText": False,
                                                                                      "horizontal": False}})
    workflow["links"].append([link_id, old[1], old[2], node_id, 0, "*"])
    old[1], old[2] = node_id, 0
    return workflow


def primitive_seed(workflow: dict) -> dict:
    """A PrimitiveNode connected to the sampler's seed (the widget converted to an input), set to 4242 fixed."""
    sampler = _node(workflow, "ICLoRA_InContextSampler")
    node_id, link_id = _new_ids(workflow)
    sampler["inputs"].append({"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": link_id})
    workflow["nodes"].append({
        "id": node_id, "type": "PrimitiveNode", "pos": [sampler["pos"][0] - 260, sampler["pos"][1] + 400],
        "size": [210, 82], "flags": {}, "order": 0, "mode": 0, "inputs": [],
        "outputs": [{"name": "INT", "type": "INT", "links": [link_id], "widget": {"name": "seed"}}],
        "title": "seed", "properties": {"Run widget replace on values": False}, "widgets_values": [4242, "fixed"]})
    workflow["links"].append([link_id, node_id, 0, sampler["id"], len(sampler["inputs"]) - 1, "INT"])
    return workflow


EDITS = {"bypassed-lora": bypassed_lora, "muted-preview": muted_preview, "reroute-on-clip": reroute_on_clip,
         "primitive-seed": primitive_seed}

# -- in the page ---------------------------------------------------------------------------------------------------

LOAD_AND_CONVERT = """async ([data, wrapBuilder]) => {
    await window.app.loadGraphData(data, true, true, null);
    if (wrapBuilder) {
        const graph = window.app.graph;
        const builder = graph._nodes.find(n => n.type === 'ICLoRA_JointPromptBuilder');
        const {subgraph, node} = graph.convertToSubgraph(new Set([builder]));
        // The summary promoted to a widget of the subgraph node, and edited there, as a user would.
        const inner = subgraph.nodes.find(n => n.type === 'ICLoRA_JointPromptBuilder');
        subgraph.addInput('summary', 'STRING').connect(inner.inputs.find(i => i.name === 'summary'), inner);
        await new Promise(resolve => setTimeout(resolve, 300));
        node.widgets.find(w => w.name === 'summary').value = 'In a dark forest';
    }
    const {workflow, output} = await window.app.graphToPrompt();
    return {workflow: JSON.parse(JSON.stringify(workflow)), output};
}"""


def editor_conversion(page, workflow: dict, wrap_builder: bool = False) -> tuple[dict, dict]:
    """What the editor saves of `workflow` once loaded (and, when asked, with the prompt builder wrapped in a
    subgraph) and the prompt it would queue."""
    answer = page.evaluate(LOAD_AND_CONVERT, [workflow, wrap_builder])
    page.keyboard.press("Escape")
    return answer["workflow"], answer["output"]


def editor_prompt(output: dict) -> dict:
    """The editor's prompt without `_meta` (the node titles, and pack ids in newer frontends): ComfyUI ignores it,
    and the runner, which makes its prompt for ComfyUI only, leaves it out."""
    return {node_id: {k: v for k, v in node.items() if k != "_meta"} for node_id, node in output.items()}


def differences(runner: dict, editor: dict) -> list[str]:
    lines = [f"only the editor has node {k}: {editor[k]}" for k in editor.keys() - runner.keys()]
    lines += [f"only the runner has node {k}: {runner[k]}" for k in runner.keys() - editor.keys()]
    for key in sorted(editor.keys() & runner.keys()):
        if runner[key] != editor[key]:
            lines.append(f"node {key}: runner {runner[key]} != editor {editor[key]}")
    return lines


def cases() -> list[tuple[str, dict, bool]]:
    shipped = [(path.stem, json.loads(path.read_text()), False) for path in WORKFLOWS]
    base = json.loads((WORKFLOWS[0].parent / f"{BASE}.json").read_text())
    edited = [(name, edit(copy.deepcopy(base)), False) for name, edit in EDITS.items()]
    return [*shipped, *edited, ("builder-in-a-subgraph", copy.deepcopy(base), True)]


@pytest.mark.parametrize("frontend", frontends())
def test_the_runner_converts_every_workflow_as_the_editor_does(frontend, editor_servers):
    served = editor_servers(frontend)
    info = get_json(f"{served['url']}/object_info")
    checked, queued = [], {}
    all_cases = cases()
    with placeholder_models(served, [w for _, w, _ in all_cases]), sync_api.sync_playwright() as playwright:
        session = EditorSession(playwright, served["url"], 1600, 1000)
        page = session.page
        for name, workflow, wrap_builder in all_cases:
            saved, output = editor_conversion(page, workflow, wrap_builder)
            expected = editor_prompt(output)
            assert expected, f"{name}: the editor queued nothing"
            problems = differences(to_api(saved, info), expected)  # the file as the editor saves it
            if not wrap_builder:  # and as it was loaded (the subgraph exists only in what the editor saved)
                problems += [f"(as loaded) {p}" for p in differences(to_api(workflow, info), expected)]
            assert not problems, f"{frontend.label} {name}:\n" + "\n".join(problems)
            queued[name] = expected
            if wrap_builder:
                assert saved["definitions"]["subgraphs"], f"{name}: the editor saved no subgraph"
            checked.append(name)
        session.browser.close()
    assert len(checked) == len(WORKFLOWS) + len(EDITS) + 1
    # The edits did what they are meant to, in the editor's prompt as in the runner's:
    base = json.loads((WORKFLOWS[0].parent / f"{BASE}.json").read_text())
    sampler, model = (str(_node(base, kind)["id"]) for kind in ("ICLoRA_InContextSampler", "UNETLoader"))
    assert queued["bypassed-lora"][sampler]["inputs"]["model"] == [model, 0]  # past the LoRA
    assert str(_node(base, "PreviewImage")["id"]) not in queued["muted-preview"]
    assert queued["primitive-seed"][sampler]["inputs"]["seed"] == 4242
    builder = [k for k, node in queued["builder-in-a-subgraph"].items()
               if node["class_type"] == "ICLoRA_JointPromptBuilder"]
    assert len(builder) == 1 and ":" in builder[0]  # the subgraph's inner node: "<subgraph node id>:<its id>"
    assert queued["builder-in-a-subgraph"][builder[0]]["inputs"]["summary"] == "In a dark forest"
    print(f"\n{frontend.label}: {len(checked)} workflows converted as the editor converts them")


GROUP_COMMAND = "Comfy.GroupNode.ConvertSelectedNodesToGroupNode"
GROUP_NODE = f"""async (types) => {{
    const graph = window.app.graph;
    window.app.canvas.selectNodes(graph._nodes.filter(n => types.includes(n.type)));
    window.__grouped = window.app.extensionManager.command.execute('{GROUP_COMMAND}');
}}"""


GROUP_NODE_FRONTEND = "1.27.10"
"""A frontend that still makes group nodes (ComfyUI 0.3.64 pins it); later ones turned them into subgraphs."""


def group_node_frontends() -> list:
    """The pinned frontend first, then 1.27.10 from tools/fetch_frontend.py's cache where it is there."""
    cached = [Frontend(frontend_version(root), root) for root in cached_roots()
              if frontend_version(root) == GROUP_NODE_FRONTEND]
    return [matrix_frontends()[0], *cached]


def test_a_group_node_converts_as_the_pinned_editor_does(editor_servers):
    """Group nodes are the older frontend's (newer ones turn them into subgraphs on load, with new node ids): one is
    made by the editor itself from the model loaders and the prompt builder, its widget values are edited in the
    saved file, and the runner's prompt of that file equals the editor's. The pinned editor makes it where it still
    can; else frontend 1.27.10 (fetched with `tools/fetch_frontend.py --version 1.27.10`) served by this ComfyUI."""
    base = json.loads((WORKFLOWS[0].parent / f"{BASE}.json").read_text())
    tried = []
    for frontend in group_node_frontends():
        served = editor_servers(frontend)
        info = get_json(f"{served['url']}/object_info")
        with placeholder_models(served, [base]), sync_api.sync_playwright() as playwright:
            session = EditorSession(playwright, served["url"], 1600, 1000)
            page = session.page
            page.evaluate("async (data) => { await window.app.loadGraphData(data, true, true, null); }", base)
            commands = page.evaluate("() => window.app.extensionManager.command.commands.map(c => c.id)")
            if GROUP_COMMAND in commands:
                answer, saved, output = make_group_node(page, base)
                session.browser.close()
                break
            session.browser.close()
            tried.append(frontend.version)
    else:
        pytest.fail(f"frontends {tried} make no group nodes any more (subgraphs replaced them): run "
                    f"`python tools/fetch_frontend.py --version {GROUP_NODE_FRONTEND}` for one that does")
    expected = editor_prompt(output)
    group = next(n for n in answer["nodes"] if n["type"] == "workflow>Model block")
    problems = differences(to_api(answer, info), expected) + differences(to_api(saved, info), expected)
    assert not problems, "\n".join(problems)
    inner = {node["class_type"]: node["inputs"] for key, node in expected.items() if key.startswith(f"{group['id']}:")}
    assert inner["LoraLoaderModelOnly"]["strength_model"] == 0.5
    assert inner["ICLoRA_JointPromptBuilder"]["summary"] == "In a dark forest"


def make_group_node(page, base: dict) -> tuple[dict, dict, dict]:
    """The editor groups the loaders and the prompt builder; two values are edited on the group node. Returns the
    editor's workflow, the saved file and graphToPrompt's output."""
    page.evaluate(GROUP_NODE, ["UNETLoader", "LoraLoaderModelOnly", "DualCLIPLoader", "ICLoRA_JointPromptBuilder"])
    page.get_by_role("dialog", name="Create group node").locator("input").first.fill("Model block")
    page.keyboard.press("Enter")
    page.evaluate("async () => { await window.__grouped; }")
    answer = page.evaluate("async () => JSON.parse(JSON.stringify((await window.app.graphToPrompt()).workflow))")
    group = next(n for n in answer["nodes"] if n["type"] == "workflow>Model block")
    values = group["widgets_values"]
    values[values.index("film-storyboard.safetensors") + 1] = 0.5  # the LoRA's strength, on the group node
    values[values.index(_node(base, "ICLoRA_JointPromptBuilder")["widgets_values"][1])] = "In a dark forest"
    saved, output = editor_conversion(page, answer)
    return answer, saved, output
