"""The runners' checks, graph edits, contact sheet and progress, none of which may need ComfyUI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from iclora_pack.nodes.core.layout import grid_shape, parse_order
from iclora_tools import tools_importable_env
from iclora_tools.runner.contact_sheet import REFERENCE, SheetPanel, contact_sheet
from iclora_tools.runner.workflow_api import (
    WorkflowError,
    apply_overrides,
    override_problems,
    read_workflow,
    set_shape,
    show_every_panel,
    to_api,
    workflow_facts,
)
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"


@pytest.mark.parametrize("stem, panels, loaders", [("font-design-text-only", 4, 0), ("font-design-reference", 4, 1),
                                                   ("film-storyboard-reference", 3, 1),
                                                   ("couple-profile-text-only", 2, 0)])
def test_workflow_facts_count_the_canvas_panels_and_image_loaders(stem, panels, loaders):
    facts = workflow_facts(read_workflow(WORKFLOWS / f"{stem}.json"))
    assert facts.panels == panels and len(facts.image_loaders) == loaders
    assert facts.has_builder and facts.has_sampler


def test_an_unreadable_or_api_format_file_is_refused_in_words(tmp_path):
    (tmp_path / "a.json").write_text("{not json")
    (tmp_path / "b.json").write_text(json.dumps({"1": {"class_type": "KSampler", "inputs": {}}}))
    with pytest.raises(WorkflowError, match="is not a JSON file"):
        read_workflow(tmp_path / "a.json")
    with pytest.raises(WorkflowError, match="API-format prompt; give the workflow as the editor saves it"):
        read_workflow(tmp_path / "b.json")
    with pytest.raises(WorkflowError, match="cannot be read"):
        read_workflow(tmp_path / "missing.json")


def test_overrides_that_would_change_nothing_are_named():
    facts = workflow_facts(read_workflow(WORKFLOWS / "couple-profile-text-only.json"))
    assert override_problems(facts, summary="x", panels={1: "a", 2: "b"}, seed=1) == []
    problems = override_problems(facts, panels={3: "c", 0: "z"}, images=1)
    assert problems == ["panel 0 does not exist: the workflow's canvas has 2 panels",
                        "panel 3 does not exist: the workflow's canvas has 2 panels",
                        "1 reference image(s) given but the workflow has no Load Image node (a text-only workflow: "
                        "use its -reference twin for your images)"]
    bare = workflow_facts({"nodes": [], "links": []})
    assert len(override_problems(bare, summary="x", seed=3)) == 2


def object_info_for(workflow: dict) -> dict:
    """A stand-in for a server's /object_info: the widget inputs each node of the workflow takes, in order."""
    snapshot = json.loads((ROOT / "schema" / "snapshot.json").read_text())["nodes"]  # kept equal to the source
    names = {node_id: [i["name"] for i in schema["inputs"] if i["widget"]] for node_id, schema in snapshot.items()}
    info = {}
    for node in workflow["nodes"]:
        widgets = names.get(node["type"]) or [f"w{i}" for i in range(len(node.get("widgets_values", [])))]
        required = {name: ["STRING", {}] for name in widgets}
        for link_input in node.get("inputs", []):
            required[link_input["name"]] = [link_input["type"], {}]
        info[node["type"]] = {"input": {"required": required}}
    return info


def test_to_api_reads_widget_names_from_a_servers_object_info_and_overrides_go_by_name():
    workflow = json.loads((WORKFLOWS / "couple-profile-text-only.json").read_text())
    workflow["nodes"] = [n for n in workflow["nodes"] if n["type"] in ("ICLoRA_JointPromptBuilder", "DualCLIPLoader")]
    kept = {n["id"] for n in workflow["nodes"]}
    origins = {link[0]: link[1] for link in workflow["links"]}
    for node in workflow["nodes"]:  # the layout's source is gone: so is its link
        for entry in node["inputs"]:
            if entry["link"] is not None and origins[entry["link"]] not in kept:
                entry["link"] = None
    prompt = to_api(workflow, object_info_for(workflow))
    (builder,) = [n for n in prompt.values() if n["class_type"] == "ICLoRA_JointPromptBuilder"]
    assert builder["inputs"]["preset"] == "couple-profile" and builder["inputs"]["clip"][1] == 0
    apply_overrides(prompt, summary="two dogs", panels={2: "a terrier"})
    assert builder["inputs"]["summary"] == "two dogs" and builder["inputs"]["panel_2"] == "a terrier"
    with pytest.raises(WorkflowError, match=r"node 3 \(DualCLIPLoader\): this ComfyUI has no such node"):
        to_api(workflow, {})


def test_set_shape_gives_roles_in_reading_order_and_the_split_returns_every_panel():
    prompt = {"1": {"class_type": "ICLoRA_PanelConcatenate",
                    "inputs": {"image_1": ["9", 0], "output_slots": 3, "order": "O,I,O,O", "arrangement": "grid",
                               "grid_rows": 0, "grid_cols": 0}},
              "2": {"class_type": "ICLoRA_PanelSplit", "inputs": {"select": "output slots"}}}
    shape = set_shape(prompt, parse_order, grid_shape)
    assert shape.roles == ["output", "input", "output", "output"] and (shape.rows, shape.cols) == (2, 2)
    assert show_every_panel(prompt) and prompt["2"]["inputs"]["select"] == "all"
    prompt["1"]["inputs"]["order"] = "I,I"  # does not match: no shape rather than a wrong one
    assert set_shape(prompt, parse_order, grid_shape) is None


def test_the_contact_sheet_lays_the_set_out_as_the_canvas_and_frames_references(tmp_path):
    panels = [SheetPanel(Image.new("RGB", (120, 90), (i * 60, 0, 0)), f"panel {i + 1}", i == 0) for i in range(4)]
    contact_sheet(panels, tmp_path / "sheet.png", cols=2)
    with Image.open(tmp_path / "sheet.png") as sheet:
        sheet = sheet.convert("RGB")
        assert sheet.width < 3 * 120 and sheet.height > 2 * 90  # 2 x 2, not one row
        frame = [sheet.getpixel((x, y)) for x in range(sheet.width) for y in range(sheet.height)]
        assert REFERENCE in frame
    contact_sheet(panels[1:], tmp_path / "plain.png", cols=3)
    with Image.open(tmp_path / "plain.png") as sheet:
        sheet = sheet.convert("RGB")
        assert REFERENCE not in [sheet.getpixel((x, y)) for x in range(sheet.width) for y in range(sheet.height)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.png", "sheet.png"]


def test_progress_works_without_tqdm(monkeypatch, tmp_path):
    from iclora_tools.runner.batch import run as batch_run
    from iclora_tools.runner.batch.jobs import load_jobs

    monkeypatch.setitem(sys.modules, "tqdm", None)  # as with only the pack's requirements installed
    (tmp_path / "jobs.jsonl").write_text(json.dumps({"workflow": "font-design-text-only", "variations": 2}))
    first, second = load_jobs(tmp_path / "jobs.jsonl")[0].sets()
    stream = io.StringIO()
    progress = batch_run.Progress(2, ["http://a:1", "http://b:2"], stream)
    progress.finished(first, "http://a:1")
    progress.finished(second, "http://b:2", failed="boom")
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[1/2] done ") and "a:1 1, b:2 0" in lines[0]
    assert lines[1].startswith("[2/2] failed ") and lines[1].endswith(": boom")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    script = textwrap.dedent(f"""
        import sys
        sys.argv = ["run_workflow.py", *{list(args)!r}]
        from iclora_tools.runner import cli as run_workflow
        code = run_workflow.main(sys.argv[1:])
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("comfy", "folder_paths", "torch"))
        print("leaked", leaked)
        sys.exit(code)
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=tools_importable_env())


def test_every_bad_argument_is_reported_before_comfyui_starts(tmp_path):
    result = run_cli(str(WORKFLOWS / "couple-profile-text-only.json"), "--comfyui", str(tmp_path), "--panel",
                     "3=too far", "--panel", "x", "--image", str(tmp_path / "nope.png"), "--steps", "0")
    assert result.returncode == 2 and "leaked []" in result.stdout
    for expected in (f"--comfyui: {tmp_path} is not a ComfyUI folder", "--steps must be 1 or more, got 0",
                     "--panel takes N=TEXT with N a panel number from 1 to 8, got 'x'",
                     f"--image: {tmp_path / 'nope.png'} does not exist",
                     "couple-profile-text-only.json: panel 3 does not exist: the workflow's canvas has 2 panels",
                     "couple-profile-text-only.json: 1 reference image(s) given but the workflow has no Load Image"):
        assert expected in result.stderr, result.stderr
    assert "nothing was run" in result.stderr


def test_a_batch_with_a_bad_jobs_file_runs_nothing(tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"workflow": "nope"}\n{"workflow": "font-design-text-only", "seed": "x"}\n')
    result = run_cli("--jobs", str(jobs), "--server", "http://127.0.0.1:9", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "leaked []" in result.stdout
    assert "line 1: workflow 'nope' is neither" in result.stderr and "line 2: 'seed' must be a whole number" \
        in result.stderr
    assert not (tmp_path / "out").exists()
    result = run_cli("--jobs", str(jobs), "--server", "gpu1:8188", "--summary", "x")
    assert "--server gpu1:8188: give the address as http://HOST:PORT" in result.stderr
    assert "--summary, --panel, --seed and --image are per set in a batch" in result.stderr


def test_both_runners_write_a_set_the_same_way_generated_panels_and_a_sheet_references_left_out(tmp_path):
    from iclora_tools.runner.sets import SetError, reference_name, stage_references, write_set
    from iclora_tools.runner.workflow_api import SetShape

    def png(colour) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (32, 24), colour).save(buffer, format="PNG")
        return buffer.getvalue()

    pictures = [(f"saved-{i}.png", png((i * 80, 0, 0))) for i in range(3)]
    files, roles = write_set(tmp_path / "a", pictures, SetShape(["input", "output", "output"], 3, 1))
    assert files == ["saved-1.png", "saved-2.png", "contact-sheet.png"] and roles == ["input", "output", "output"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(files)
    files, roles = write_set(tmp_path / "b", pictures, SetShape(["input", "output"], 1, 2))  # shape does not fit
    assert roles is None and files == ["saved-0.png", "saved-1.png", "saved-2.png", "contact-sheet.png"]
    with pytest.raises(SetError, match="no pictures came back"):
        write_set(tmp_path / "c", [], None)
    (tmp_path / "in").mkdir()
    (tmp_path / "shot.PNG").write_bytes(pictures[0][1])
    (tmp_path / "copy.png").write_bytes(pictures[0][1])
    names = stage_references([tmp_path / "shot.PNG", tmp_path / "copy.png"], tmp_path / "in")
    assert names[0] == names[1] == reference_name(tmp_path / "shot.png", pictures[0][1])  # named by content
    assert names[0].startswith("iclora-") and names[0].endswith(".png") and (tmp_path / "in" / names[0]).is_file()
