"""Panel Set Dataset and Panel Set Export: folder formats, panel order, captions, every bad folder, the export."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from iclora_pack.nodes.core import dataset
from iclora_pack.nodes.core.canvas import concatenate_panels
from iclora_pack.nodes.core.dataset import (
    DATASET_NODE,
    SetCanvasSettings,
    TrainerSettings,
    build,
    export_dataset,
    folder_fingerprint,
    iter_canvases,
    plan_dataset,
    preview_of,
    scan_dataset,
)
from iclora_pack.nodes.core.errors import PanelInputError
from iclora_pack.nodes.core.prompts import (
    CUSTOM,
    build_joint_prompt,
    choose_preset,
    custom_preset,
    load_presets,
    parse_joint_caption,
)
from PIL import Image

STORYBOARD = load_presets()["film-storyboard"]
# Two separator variants of the authors' movie-shots captions: a colon before the first marker, commas after.
CAPTION_COLON = ("[MOVIE-SHOTS] In this image, we see a sequence with a girl named <Matilda>: [SCENE-1] <Matilda> "
                 "flips pancakes, [SCENE-2] transitions to a close-up, [SCENE-3] concludes at the table.")
CAPTION_COMMA = ("[MOVIE-SHOTS] In a delightful animated sequence, [SCENE-1] a panda named <Bao> lies on the floor, "
                 "[SCENE-2] which quickly shifts to <Bao> rolling, [SCENE-3] before finally nestling in a bucket.")


def write_image(path: Path, width: int, height: int, seed: int) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with a hash of its bytes: proves a failed call changed nothing."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def inputs(tmp_path) -> Path:
    folder = tmp_path / "input"
    folder.mkdir()
    return folder


def make_set_folders(root: Path, sets: int = 2, panels: int = 3, size=(32, 48)) -> Path:
    for s in range(sets):
        folder = root / f"set{s + 1}"
        for p in range(panels):
            write_image(folder / f"{p + 1}.png", *size, seed=10 * s + p)
        (folder / "caption.txt").write_text(CAPTION_COLON if s % 2 == 0 else CAPTION_COMMA)
    return root


def plan(inputs: Path, folder: str, preset=STORYBOARD, skip=False, **settings):
    scan = scan_dataset(inputs, folder)
    return plan_dataset(scan, SetCanvasSettings(**settings), preset, skip_bad_sets=skip)


def failure(inputs: Path, folder: str, **kwargs) -> str:
    before = snapshot(inputs)
    with pytest.raises(PanelInputError) as error:
        plan(inputs, folder, **kwargs)
    assert snapshot(inputs) == before, "a failed dataset read changed the folder"
    assert error.value.node == "Panel Set Dataset"
    return str(error.value)


# --- folder formats and order -----------------------------------------------------------------------------------

def test_set_folders_are_detected_and_panels_follow_file_name_order_numbers_as_numbers(inputs):
    folder = inputs / "task" / "a"
    pixels = {name: write_image(folder / f"{name}.png", 32, 32, seed=i)
              for i, name in enumerate(["10", "2", "1"])}
    (folder / "caption.txt").write_text(CAPTION_COLON)
    result = plan(inputs, "task", arrangement="row")
    assert result.folder_format == "set folders"
    assert [p.name for p in result.sets[0].source.images] == ["1.png", "2.png", "10.png"]
    canvas = next(iter_canvases(result)).canvas
    expected = concatenate_panels([(f"image_{i}", torch.from_numpy(pixels[n] / 255.0).float()[None])
                                   for i, n in enumerate(["1", "2", "10"], 1)], 0).canvas
    assert canvas.shape == (1, 32, 96, 3)
    assert torch.equal(canvas, expected)


def test_every_canvas_of_a_dataset_has_one_size_and_uses_panel_concatenates_fit(inputs):
    root = inputs / "task"
    write_image(root / "a" / "1.png", 64, 32, 0)
    write_image(root / "a" / "2.png", 64, 32, 1)
    write_image(root / "b" / "1.png", 40, 80, 2)  # another shape: cropped to the first set's panel size
    write_image(root / "b" / "2.png", 100, 50, 3)
    for s in "ab":
        (root / s / "caption.txt").write_text(CAPTION_COMMA)
    result = plan(inputs, "task", arrangement="column", fit="crop")
    shapes = {tuple(b.canvas.shape) for b in iter_canvases(result)}
    assert shapes == {(1, 64, 64, 3)} and result.canvas_size == (64, 64)


def test_flat_folder_of_canvases_with_same_name_captions_like_the_authors_zip(inputs):
    root = inputs / "movie-shots"
    write_image(root / "0001.jpg", 48, 64, 0)
    write_image(root / "0002.jpg", 48, 60, 1)  # the released canvases differ slightly in height
    (root / "0001.txt").write_text(CAPTION_COLON + "\n")
    (root / "0002.txt").write_bytes(b"\xef\xbb\xbf" + CAPTION_COMMA.encode())
    (root / ".DS_Store").write_bytes(b"\0\1")
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "._0001.jpg").write_bytes(b"\0")
    result = plan(inputs, "movie-shots")
    assert result.folder_format == "canvases" and result.panel_count == 1
    assert result.captions == [CAPTION_COLON, CAPTION_COMMA]  # verbatim: only BOM and the final newline go
    assert {tuple(b.canvas.shape) for b in iter_canvases(result)} == {(1, 64, 48, 3)}
    assert not result.skipped


def test_caption_file_is_used_verbatim_whatever_its_separators(inputs):
    root = make_set_folders(inputs / "task", sets=2)
    text = "  [MOVIE-SHOTS] odd;  spacing , kept : exactly!?  \n\n"
    (root / "set1" / "caption.txt").write_text(text)
    assert plan(inputs, "task").captions[0] == text.strip()


def test_per_panel_texts_become_the_joint_caption_of_the_preset(inputs):
    folder = inputs / "task" / "s"
    for i in range(3):
        write_image(folder / f"shot{i + 1}.png", 32, 32, i)
        (folder / f"shot{i + 1}.txt").write_text(f"Leo does thing {i + 1}")
    (folder / "summary.txt").write_text("In a vibrant festival,")
    result = plan_dataset(scan_dataset(inputs, "task"), SetCanvasSettings(arrangement="column"), STORYBOARD,
                          names=["Leo"])
    expected = build_joint_prompt(STORYBOARD, summary="In a vibrant festival,",
                                  panel_texts=[f"Leo does thing {i}" for i in (1, 2, 3)], rows=3, cols=1, count=3,
                                  names=["Leo"]).prompt
    assert result.captions == [expected]
    assert "[SCENE-1]" in expected and "<Leo>" in expected
    assert result.sets[0].source.caption_source == "per-panel texts"


def test_custom_markers_follow_the_dataset_layout(inputs):
    folder = inputs / "task" / "s"
    for i in range(2):
        write_image(folder / f"{i + 1}.png", 32, 32, i)
        (folder / f"{i + 1}.txt").write_text(f"panel {i + 1}")
    (folder / "summary.txt").write_text("shows a product")
    preset = custom_preset(prefix="[MY-TASK]", opening="This {count}-panel image", markers="[VIEW-{n}]")
    caption = plan(inputs, "task", preset=preset).captions[0]
    assert caption.startswith("[MY-TASK] This two-panel image shows a product")
    assert "[VIEW-1] panel 1" in caption and "[VIEW-2] panel 2" in caption


def test_a_bad_custom_caption_format_is_named_as_this_node_s_input(inputs):
    folder = inputs / "task" / "s"
    for i in range(2):
        write_image(folder / f"{i + 1}.png", 32, 32, i)
        (folder / f"{i + 1}.txt").write_text(f"panel {i + 1}")
    with pytest.raises(PanelInputError) as bad_template:
        choose_preset(CUSTOM, custom_prefix="", custom_opening="", custom_markers="[SHOT-{x}]", node=DATASET_NODE)
    assert (bad_template.value.node, bad_template.value.input_name) == (DATASET_NODE, "custom_markers")
    three_markers = custom_preset(markers="[A], [B], [C]")  # the sets have two panels
    message = failure(inputs, "task", preset=three_markers)
    assert message.startswith("Panel Set Dataset: set 's': ") and "(input 'custom_markers')" in message


@pytest.mark.parametrize("caption", [CAPTION_COLON, CAPTION_COMMA])
def test_per_panel_texts_as_written_rebuild_the_authors_captions_exactly(inputs, caption):
    parts = parse_joint_caption(caption, STORYBOARD, rows=3, cols=1, count=3)
    folder = inputs / "task" / "s"
    for i, text in enumerate(parts.panel_texts, 1):
        write_image(folder / f"{i}.png", 32, 32, i)
        (folder / f"{i}.txt").write_text(text)
    (folder / "summary.txt").write_text(parts.summary)
    scan = scan_dataset(inputs, "task")
    rebuilt = plan_dataset(scan, SetCanvasSettings(arrangement="column"), STORYBOARD, names=parts.names,
                           punctuation="as written")
    assert rebuilt.captions == [caption]
    joined = plan_dataset(scan, SetCanvasSettings(arrangement="column"), STORYBOARD, names=parts.names)
    # the preset's own separators (", " before each scene) give the comma caption too, but not the colon one
    assert (joined.captions == [caption]) == (caption == CAPTION_COMMA)


def test_a_verbatim_caption_without_the_task_markers_is_flagged_not_changed(inputs):
    root = make_set_folders(inputs / "task", sets=2)
    unmarked = "[MOVIE-SHOTS] three shots of a girl cooking, then reading."
    (root / "set2" / "caption.txt").write_text(unmarked)
    result = plan(inputs, "task", arrangement="column")
    assert result.sets[0].warnings == ()
    assert result.captions[1] == unmarked
    assert "markers [SCENE-1] [SCENE-2] [SCENE-3] in panel order" in result.sets[1].warnings[0]
    assert "warning: the caption does not have the Film Storyboard markers" in dataset.describe_plan(result)
    custom = plan(inputs, "task", preset=custom_preset(), arrangement="column")
    assert all(not s.warnings for s in custom.sets)


def test_flat_canvases_are_checked_against_the_presets_own_markers(inputs):
    root = inputs / "flat"
    for name, caption in (("a", CAPTION_COMMA), ("b", "[MOVIE-SHOTS] one long shot, [SCENE-1] only.")):
        write_image(root / f"{name}.png", 32, 48, 0)
        (root / f"{name}.txt").write_text(caption)
    result = plan(inputs, "flat")
    assert result.sets[0].warnings == () and "[SCENE-2]" in result.sets[1].warnings[0]


def test_caption_txt_wins_over_per_panel_texts(inputs):
    root = make_set_folders(inputs / "task", sets=1)
    (root / "set1" / "1.txt").write_text("only one panel text")
    assert plan(inputs, "task").captions == [CAPTION_COLON]


def test_panel_size_is_snapped_and_the_snap_reported(inputs):
    make_set_folders(inputs / "task", size=(50, 40))
    result = plan(inputs, "task")
    assert (result.panel_w, result.panel_h) == (48, 32)
    assert any("snapped" in n for n in result.notes)
    assert "snapped" in dataset.describe_plan(result)


# --- bad folders: clear errors, nothing changed ----------------------------------------------------------------

@pytest.mark.parametrize("folder", ["../outside", "task/../../outside", "/etc", ""])
def test_paths_outside_the_input_folder_are_refused(inputs, folder):
    (inputs.parent / "outside").mkdir()
    message = failure(inputs, folder)
    assert "input" in message and "folder" in message


@pytest.mark.parametrize("folder", ["/etc", "/etc/", "\\\\server\\share", "C:\\sets", "C:/sets"])
def test_an_absolute_folder_is_refused_as_typed_not_as_a_missing_name(inputs, folder):
    (inputs / "etc").mkdir()  # even where the same name exists inside the input folder
    message = failure(inputs, folder)
    assert f"'{folder}' is an absolute path" in message
    assert "only folders inside ComfyUI's input folder are accepted" in message and "does not exist" not in message


def test_a_symlink_leading_out_of_the_input_folder_is_refused(inputs):
    outside = make_set_folders(inputs.parent / "elsewhere")
    os.symlink(outside, inputs / "link")
    assert "outside ComfyUI's input folder" in failure(inputs, "link")


def test_missing_folder_and_file_instead_of_folder(inputs):
    assert "does not exist" in failure(inputs, "nope")
    (inputs / "file.png").write_bytes(b"x")
    assert "is a file, not a folder" in failure(inputs, "file.png")


def test_empty_folder(inputs):
    (inputs / "task").mkdir()
    (inputs / "task" / ".DS_Store").write_bytes(b"")
    assert "holds no training sets" in failure(inputs, "task")


def test_a_set_folder_without_images(inputs):
    root = make_set_folders(inputs / "task")
    (root / "empty").mkdir()
    assert "empty: it has no panel images" in failure(inputs, "task")


def test_mixed_panel_counts_name_the_odd_set_and_skip_mode_leaves_it_out(inputs):
    root = make_set_folders(inputs / "task", sets=3, panels=3)
    (root / "set2" / "3.png").unlink()
    message = failure(inputs, "task")
    assert "set2: it has 2 panel image(s) but 2 of 3 sets have 3" in message
    result = plan(inputs, "task", skip=True)
    assert [s.source.name for s in result.sets] == ["set1", "set3"]
    assert [s.name for s in result.skipped] == ["set2"]
    assert "1 skipped" in dataset.describe_plan(result) and "set2" in dataset.describe_plan(result)


def test_unreadable_image_non_image_file_missing_caption_and_stray_text_are_all_listed(inputs):
    root = make_set_folders(inputs / "task", sets=5)
    (root / "set1" / "2.png").write_bytes(b"this is not a png")
    (root / "set2" / "notes.pdf").write_bytes(b"%PDF")
    (root / "set3" / "caption.txt").unlink()
    (root / "set3" / "1.txt").write_text("first panel only")
    (root / "set4" / "todo.txt").write_text("ask Ann")
    (root / "set5" / "caption.txt").write_bytes("caf\xe9".encode("latin-1"))
    message = failure(inputs, "task")
    assert "5 set(s) in 'task' cannot be used" in message
    assert "set1: 2.png cannot be read as an image" in message
    assert "set2: notes.pdf is not an image" in message
    assert "set3: it has no caption" in message and "1 of 3 found; missing or empty: 2.txt, 3.txt" in message
    assert "set4: todo.txt is neither caption.txt" in message
    assert "set5: caption.txt is not UTF-8 text" in message
    assert "skip_bad_sets" in message


def test_canvas_without_caption_and_caption_without_canvas(inputs):
    root = inputs / "flat"
    write_image(root / "a.png", 32, 32, 0)
    (root / "a.txt").write_text(CAPTION_COMMA)
    write_image(root / "b.png", 32, 32, 1)
    (root / "c.txt").write_text("orphan")
    (root / "empty.png").write_bytes(b"")
    (root / "empty.txt").write_text("caption of a broken file")
    message = failure(inputs, "flat")
    assert "b.png: it has no caption: add b.txt next to it" in message
    assert "c.txt: c.txt has no image of the same name" in message
    assert "empty.png: empty.png cannot be read as an image" in message
    result = plan(inputs, "flat", skip=True)
    assert result.captions == [CAPTION_COMMA]


def test_empty_caption_file(inputs):
    root = make_set_folders(inputs / "task")
    (root / "set2" / "caption.txt").write_text("  \n")
    assert "set2: caption.txt is empty" in failure(inputs, "task")


def test_mixed_folder_formats_need_a_choice(inputs):
    root = make_set_folders(inputs / "task")
    write_image(root / "loose.png", 32, 32, 9)
    assert "both images at its top level" in failure(inputs, "task")
    scan = scan_dataset(inputs, "task", folder_format="set folders")
    assert scan.folder_format == "set folders" and "loose.png" in scan.notes[0]


def test_nothing_usable_left_even_when_skipping(inputs):
    root = inputs / "task"
    write_image(root / "a" / "1.png", 32, 32, 0)
    assert "no usable set is left" in failure(inputs, "task", skip=True)


def test_canvas_over_the_megapixel_limit(inputs):
    make_set_folders(inputs / "task")
    assert "over the limit of 0.001 MP" in failure(inputs, "task", max_megapixels=0.001)


def test_a_picture_that_fails_to_decode_is_reported_not_replaced(inputs):
    root = make_set_folders(inputs / "task", sets=2, size=(64, 64))
    planned = plan(inputs, "task")
    data = (root / "set2" / "1.png").read_bytes()
    (root / "set2" / "1.png").write_bytes(data[: len(data) // 2])  # broken after the check, before the build
    built = list(iter_canvases(planned))
    assert built[0].canvas is not None
    assert built[1].canvas is None and "1.png cannot be read as an image" in built[1].problem


# --- the report ------------------------------------------------------------------------------------------------

def test_the_report_shows_each_caption_and_cuts_a_long_one_with_its_length(inputs):
    root = make_set_folders(inputs / "task", sets=2)
    short_caption = "[MOVIE-SHOTS] A chase: [SCENE-1] a fox runs, [SCENE-2] a hound follows, [SCENE-3] both rest."
    long_caption = CAPTION_COMMA + " " + " ".join(["and then the panda naps"] * 10)
    (root / "set1" / "caption.txt").write_text(short_caption)
    (root / "set2" / "caption.txt").write_text(long_caption)
    report = dataset.describe_plan(plan(inputs, "task"), [40, 120])
    lines = report.splitlines()
    first = lines.index("  set1: caption from caption.txt, 40 tokens")
    assert lines[first + 1] == f'    "{short_caption}"'  # short enough: whole
    second = lines.index("  set2: caption from caption.txt, 120 tokens")
    shown = lines[second + 1]
    assert shown.endswith(f'…" ({len(long_caption)} characters)')
    excerpt = shown.strip()[1:shown.strip().index("…")]
    assert long_caption.startswith(excerpt) and 100 < len(excerpt) <= 160
    assert long_caption[len(excerpt)] == " "  # cut between words


def test_a_caption_excerpt_stays_on_one_line():
    assert dataset.caption_excerpt("first line\nsecond") == '"first line\\nsecond"'
    assert dataset.caption_excerpt("x" * 200) == f'"{"x" * 160}…" (200 characters)'  # no space: cut at the limit


# --- streaming, preview, cache key -----------------------------------------------------------------------------

def test_canvases_are_built_one_set_at_a_time(inputs, monkeypatch):
    make_set_folders(inputs / "task", sets=3, panels=2)
    loaded = []
    real = build.load_image
    monkeypatch.setattr(build, "load_image", lambda path: loaded.append(path.parent.name) or real(path))
    canvases = iter_canvases(plan(inputs, "task"))
    next(canvases)
    assert loaded == ["set1", "set1"]
    next(canvases)
    assert loaded[2:] == ["set2", "set2"]


def test_preview_is_downscaled_to_the_limit():
    small = preview_of(torch.rand(1, 1536, 1024, 3))
    assert small.shape == (1, 384, 256, 3)
    tiny = torch.rand(1, 32, 16, 3)
    assert torch.equal(preview_of(tiny), tiny)


def test_fingerprint_changes_when_a_caption_changes(inputs):
    root = make_set_folders(inputs / "task")
    before = folder_fingerprint(inputs, "task")
    assert folder_fingerprint(inputs, "task") == before
    (root / "set1" / "caption.txt").write_text(CAPTION_COMMA + " more")
    assert folder_fingerprint(inputs, "task") != before


# --- export ----------------------------------------------------------------------------------------------------

def test_export_writes_canvases_captions_and_the_papers_config_into_a_new_folder(inputs, tmp_path):
    make_set_folders(inputs / "task", sets=2, size=(32, 32))
    result = plan(inputs, "task", arrangement="column")
    output = tmp_path / "output"
    existing = output / "iclora-dataset_001"
    existing.mkdir(parents=True)
    (existing / "mine.png").write_bytes(b"user file")
    exported = export_dataset(result, output, "iclora-dataset", TrainerSettings(name="shots"))
    assert exported.folder.name == "iclora-dataset_002"
    assert (existing / "mine.png").read_bytes() == b"user file"
    names = sorted(p.name for p in exported.folder.iterdir())
    assert names == ["ai-toolkit.yaml", "set1.png", "set1.txt", "set2.png", "set2.txt"]
    assert (exported.folder / "set1.txt").read_text() == CAPTION_COLON
    assert (exported.folder / "set2.txt").read_text() == CAPTION_COMMA
    canvas = next(iter_canvases(result)).canvas
    saved = np.asarray(Image.open(exported.folder / "set1.png"))
    assert saved.shape == (96, 32, 3)
    assert np.array_equal(saved, (canvas[0].numpy() * 255).round().astype(np.uint8))

    config = yaml.safe_load((exported.folder / "ai-toolkit.yaml").read_text())
    process = config["config"]["process"][0]
    assert config["config"]["name"] == "shots" and config["job"] == "extension"
    assert process["network"] == {"type": "lora", "linear": 16, "linear_alpha": 16}
    assert process["model"]["name_or_path"] == "black-forest-labs/FLUX.1-dev" and process["model"]["is_flux"]
    assert process["train"]["lr"] == 1e-4 and process["train"]["steps"] == 5000
    assert process["train"]["optimizer"] == "adamw8bit" and process["train"]["dtype"] == "bf16"
    assert process["datasets"][0]["folder_path"] == "data/iclora-dataset_002"
    assert process["datasets"][0]["caption_ext"] == "txt"
    assert (process["sample"]["width"], process["sample"]["height"]) == (32, 96)
    assert process["sample"]["prompts"] == [CAPTION_COLON, CAPTION_COMMA]
    assert process["sample"]["guidance_scale"] == 3.5 and process["sample"]["sample_steps"] == 20


def test_export_refuses_a_folder_outside_the_output_folder(inputs, tmp_path):
    make_set_folders(inputs / "task")
    with pytest.raises(PanelInputError, match="outside ComfyUI's output folder"):
        export_dataset(plan(inputs, "task"), tmp_path / "output", "../escape", TrainerSettings())
    assert not (tmp_path / "escape_001").exists()
