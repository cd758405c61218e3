"""Train your own task inside ComfyUI on tiny FLUX: Panel Set Dataset -> stock Train LoRA -> Save LoRA ->
LoraLoaderModelOnly -> In-Context Sampler, and Panel Set Export."""

from __future__ import annotations

import math
import shutil
import time

import numpy as np
import pytest
import torch
import yaml
from iclora_tools.comfyui import inprocess as comfy_inprocess
from pack_facts import skip_without_comfyui
from PIL import Image
from safetensors.torch import load_file
from test_pack_in_comfyui import stock_flux_loaders

skip_without_comfyui()

DATASET = "ICLoRA_PanelSetDataset"
STEPS = 32
PANEL = 32  # px: a 2-panel row canvas is 64 x 32 px = 8 x 4 latent cells = 8 FLUX tokens
CAPTION = ("[PAIR] This two-panel image shows a {colour} tile; [LEFT] the tile in {colour}; "
           "[RIGHT] the same tile in its complementary colour.")
COLOURS = {"blue": (40, 60, 220), "green": (40, 200, 60), "red": (220, 40, 40)}  # in file-name order


def tile(rgb) -> np.ndarray:
    """A learnable panel: a flat colour with a soft vertical ramp."""
    ramp = np.linspace(0.8, 1.0, PANEL)[:, None, None]
    return (np.array(rgb)[None, None, :] * ramp * np.ones((PANEL, PANEL, 1))).clip(0, 255).astype(np.uint8)


def write_sets(root, folder_format: str = "set folders") -> list[str]:
    """Three sets: a colour tile on the left and its complement on the right, captioned verbatim."""
    root.mkdir(parents=True, exist_ok=True)
    captions = []
    for name, rgb in COLOURS.items():
        left, right = tile(rgb), tile(tuple(255 - c for c in rgb))
        caption = CAPTION.format(colour=name)
        captions.append(caption)
        if folder_format == "set folders":
            (root / name).mkdir()
            Image.fromarray(left).save(root / name / "1.png")
            Image.fromarray(right).save(root / name / "2.png")
            (root / name / "caption.txt").write_text(caption + "\n")
        else:
            Image.fromarray(np.concatenate([left, right], axis=1)).save(root / f"{name}.png")
            (root / f"{name}.txt").write_text(caption)
    return captions


def dataset_inputs(folder: str, **overrides) -> dict:
    inputs = {"folder": folder, "layout": "auto", "preset": "custom", "names": "", "custom_prefix": "",
              "custom_opening": "This {count}-panel image", "custom_markers": "geometry", "arrangement": "row",
              "grid_rows": 0, "grid_cols": 0, "panel_width": 0, "panel_height": 0, "fit": "crop",
              "pad_mode": "color", "fill_color": "#808080", "max_megapixels": 4.0, "guidance": 3.5,
              "skip_bad_sets": False, "vae": ["10", 0], "clip": ["12", 0]}
    inputs.update(overrides)
    return inputs


def outputs_of(executor, node_id: str) -> list:
    return comfy_inprocess.node_outputs(executor, node_id)


@pytest.fixture(scope="module")
def sets(comfy):
    captions = write_sets(comfy.input_dir / "iclora-test-sets")
    write_sets(comfy.input_dir / "iclora-test-canvases", folder_format="canvases")
    return captions


def dataset_graph(folder: str, **overrides) -> dict:
    return {**stock_flux_loaders(), "1": {"class_type": DATASET, "inputs": dataset_inputs(folder, **overrides)},
            "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 2]}}}


@pytest.mark.parametrize("folder", ["iclora-test-sets", "iclora-test-canvases"])
def test_both_folder_formats_give_one_latent_and_one_verbatim_caption_per_set(comfy, sets, folder):
    graph = dataset_graph(folder)
    graph["3"] = {"class_type": "SaveLatent", "inputs": {"samples": ["1", 0], "filename_prefix": "iclora/ds"}}
    executor, _ = comfy.run(graph)
    assert executor.success, executor.status_messages
    latents, positive, preview, report, plan, layout = outputs_of(executor, "1")
    assert (layout.canvas_w, layout.canvas_h) == (64, 32)  # the canvas: panels for set folders, one for canvases
    assert len(layout.panels) == (2 if folder == "iclora-test-sets" else 1)
    assert latents["samples"].shape == (3, 16, 4, 8)
    assert len(positive) == 3 and preview.shape == (3, 32, 64, 3)
    assert plan.captions == sets
    assert "3 set(s) used" in report and "tokens" in report
    assert all(f'\n    "{caption}"' in report for caption in sets)  # each caption shown, to check its format

    nodes = comfy.nodes
    (clip,) = nodes.DualCLIPLoader().load_clip("clip_l.safetensors", "t5xxl_fp16.safetensors", "flux")
    (vae,) = nodes.VAELoader().load_vae("taef1")
    for i, caption in enumerate(sets):
        (stock,) = nodes.CLIPTextEncode().encode(clip, caption)
        assert torch.equal(positive[i][0], stock[0][0])
        assert positive[i][1]["guidance"] == 3.5
        assert torch.equal(positive[i][1]["pooled_output"], stock[0][1]["pooled_output"])
    # the latents are what VAE Encode makes of the canvases, which are exactly the panels side by side
    name = next(iter(COLOURS))
    left = np.asarray(Image.open(comfy.input_dir / "iclora-test-sets" / name / "1.png"))
    right = np.asarray(Image.open(comfy.input_dir / "iclora-test-sets" / name / "2.png"))
    canvas = torch.from_numpy(np.concatenate([left, right], axis=1) / 255.0).float()[None]
    (encoded,) = nodes.VAEEncode().encode(vae, canvas)
    assert torch.allclose(latents["samples"][:1], encoded["samples"], atol=1e-6)


def test_a_folder_outside_the_input_folder_or_a_bad_set_fails_with_the_pack_message(comfy, sets):
    assert "outside ComfyUI's input folder" in comfy.run_expecting_error(dataset_graph("../output"))
    assert "'/etc' is an absolute path" in comfy.run_expecting_error(dataset_graph("/etc"))
    bad = comfy.input_dir / "iclora-test-bad"
    write_sets(bad)
    (bad / "red" / "caption.txt").unlink()
    before = sorted(p.name for p in bad.rglob("*"))
    message = comfy.run_expecting_error(dataset_graph("iclora-test-bad"))
    assert message.startswith("Panel Set Dataset: 1 set(s) in 'iclora-test-bad' cannot be used (red: it has no "
                              "caption")
    assert sorted(p.name for p in bad.rglob("*")) == before
    executor, _ = comfy.run(dataset_graph("iclora-test-bad", skip_bad_sets=True))
    assert executor.success
    report = outputs_of(executor, "1")[3]
    assert report.startswith("2 set(s) used") and "red: it has no caption" in report


def test_progress_moves_once_per_set_and_cancel_stops_before_the_next_set(comfy, sets):
    from comfy import model_management
    from comfy import utils as comfy_utils  # `comfy` here is the host fixture

    nodes = comfy.nodes
    (clip,) = nodes.DualCLIPLoader().load_clip("clip_l.safetensors", "t5xxl_fp16.safetensors", "flux")
    (vae,) = nodes.VAELoader().load_vae("taef1")
    encoded, updates = [], []
    real_encode = vae.encode
    vae.encode = lambda pixels: encoded.append(pixels.shape) or real_encode(pixels)
    inputs = {**dataset_inputs("iclora-test-sets"), "vae": vae, "clip": clip}
    node = nodes.NODE_CLASS_MAPPINGS[DATASET]

    # What the node reports, recorded at the progress bar itself: ComfyUI 0.33's bar forwards an update to the hook
    # only 100 ms after the last (first and final always), so the hook alone would depend on the machine's speed.
    real_update = comfy_utils.ProgressBar.update_absolute

    def record(bar, value, total=None, preview=None):
        updates.append((value, total if total is not None else bar.total))
        return real_update(bar, value, total, preview)

    comfy_utils.ProgressBar.update_absolute = record
    comfy_utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: None)
    try:
        node.execute(**inputs)
        assert updates == [(1, 3), (2, 3), (3, 3)] and len(encoded) == 3
        comfy_utils.ProgressBar.update_absolute = real_update

        def cancel(value, total, preview, node_id=None):
            model_management.interrupt_current_processing(True)

        encoded.clear()
        comfy_utils.set_progress_bar_global_hook(cancel)
        with pytest.raises(model_management.InterruptProcessingException):
            node.execute(**inputs)
        assert len(encoded) == 1  # the second set was never encoded
    finally:
        comfy_utils.ProgressBar.update_absolute = real_update
        model_management.interrupt_current_processing(False)
        comfy_utils.set_progress_bar_global_hook(None)


def training_graph(comfy, steps: int, learning_rate: float) -> dict:
    """Train LoRA -> Save LoRA + loss graph, with 0.3.64's Train LoRA inputs (a newer ComfyUI's added ones at their
    defaults, its id for Save LoRA: see ComfyHost.stock_node), linked by output type (0.33 dropped the model
    output: see ComfyHost.output_link)."""
    graph = dataset_graph("iclora-test-sets")
    graph.update({
        "20": comfy.stock_node("TrainLoraNode", {
            "model": ["11", 0], "latents": ["1", 0], "positive": ["1", 1], "batch_size": 1,
            "grad_accumulation_steps": 1, "steps": steps, "learning_rate": learning_rate, "rank": 4,
            "optimizer": "AdamW", "loss_function": "MSE", "seed": 0, "training_dtype": "bf16", "lora_dtype": "bf16",
            "algorithm": "LoRA", "gradient_checkpointing": True, "existing_lora": "[None]"}),
        "21": comfy.stock_node("SaveLoRANode", {"lora": comfy.output_link("20", "TrainLoraNode", "LORA_MODEL"),
                                                "prefix": "loras/iclora_test",
                                                "steps": comfy.output_link("20", "TrainLoraNode", "INT")}),
        "22": {"class_type": "LossGraphNode", "inputs": {"loss": comfy.output_link("20", "TrainLoraNode", "LOSS_MAP"),
                                                         "filename_prefix": "iclora_loss"}},
    })
    return graph


@pytest.fixture(scope="module")
def trained(comfy, sets):
    """Train for real through the executor: 3 sets, 32 steps, rank 4, bf16 (on a CPU, fp32 training fails in
    stock ComfyUI: the weights never move device, so they stay inference-mode tensors)."""
    torch.manual_seed(0)  # the stock trainer draws timesteps and set order from torch's global generator
    start = time.perf_counter()
    executor, _ = comfy.run(training_graph(comfy, steps=STEPS, learning_rate=4e-3))
    seconds = time.perf_counter() - start
    assert executor.success, executor.status_messages
    outputs = outputs_of(executor, "20")
    loss = outputs[comfy.output_link("20", "TrainLoraNode", "LOSS_MAP")[1]]
    steps = outputs[comfy.output_link("20", "TrainLoraNode", "INT")[1]]
    files = sorted((comfy.output_dir / "loras").glob(f"iclora_test_{STEPS}_steps_*.safetensors"))
    assert files and steps == STEPS
    return {"loss": loss["loss"], "file": files[-1], "seconds": seconds}


def test_the_dataset_trains_the_stock_lora_trainer_with_a_finite_decreasing_loss(trained):
    loss = trained["loss"]
    assert len(loss) == STEPS and all(math.isfinite(v) for v in loss)
    quarter = STEPS // 4
    first, last = sum(loss[:quarter]) / quarter, sum(loss[-quarter:]) / quarter
    print(f"\ntiny training: {STEPS} steps in {trained['seconds']:.1f} s, mean loss of the first {quarter} steps "
          f"{first:.4f} -> last {quarter} {last:.4f}")
    assert last < 0.8 * first, (first, last)


def sampling_graph(lora: str | None, strength: float = 1.0) -> dict:
    """A fresh text-only 2-panel set sampled with the In-Context Sampler, with or without the trained LoRA."""
    model = ["30", 0] if lora else ["11", 0]
    graph = {
        **stock_flux_loaders(),
        "31": {"class_type": "ICLoRA_PanelConcatenate", "inputs": {
            "output_slots": 2, "order": "", "arrangement": "row", "grid_rows": 0, "grid_cols": 0,
            "panel_width": PANEL, "panel_height": PANEL, "fit": "crop", "pad_mode": "color",
            "fill_color": "#808080", "slot_fill": "color", "max_megapixels": 4.0}},
        "32": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["12", 0], "text": CAPTION.format(colour="gold")}},
        "33": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["32", 0]}},
        "34": {"class_type": "ICLoRA_InContextSampler", "inputs": {
            "model": model, "positive": ["32", 0], "negative": ["33", 0], "vae": ["10", 0], "image": ["31", 0],
            "mode": "joint", "seed": 5, "steps": 3, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple",
            "denoise": 1.0, "resample_count": 1, "resample_fraction": 1.0, "reference_strength": 1.0,
            "seam_feather": 0, "paste_references": True, "paste_blend": 0, "batch_size": 1,
            "layout": ["31", 1]}},
        "35": {"class_type": "PreviewImage", "inputs": {"images": ["34", 0]}},
    }
    if lora:
        graph["30"] = {"class_type": "LoraLoaderModelOnly", "inputs": {
            "model": ["11", 0], "lora_name": lora, "strength_model": strength}}
    return graph


def test_the_saved_lora_loads_through_the_stock_loader_fully_and_changes_the_samplers_output(comfy, trained):
    weights = load_file(str(trained["file"]))
    assert any(k.endswith(".lora_up.weight") for k in weights) and all(torch.isfinite(v).all()
                                                                        for v in weights.values())
    name = "iclora_trained_test.safetensors"
    shutil.copy(trained["file"], comfy.models_dir / "loras" / name)
    logged = len(comfy.logs.messages)
    with_lora, _ = comfy.run(sampling_graph(name))
    assert with_lora.success, with_lora.status_messages
    unloaded = [m for m in comfy.logs.messages[logged:] if "lora key not loaded" in m]
    assert not unloaded, unloaded[:5]
    without, _ = comfy.run(sampling_graph(None))
    image_with = outputs_of(with_lora, "34")[0]
    image_without = outputs_of(without, "34")[0]
    assert image_with.shape == image_without.shape == (1, 32, 64, 3)
    assert (image_with - image_without).abs().mean() > 1e-3
    zero, _ = comfy.run(sampling_graph(name, strength=0.0))  # strength 0 is the base model: the change is the LoRA
    assert torch.allclose(outputs_of(zero, "34")[0], image_without, atol=1e-6)


def test_export_writes_a_trainer_folder_and_never_overwrites(comfy, sets):
    graph = dataset_graph("iclora-test-canvases")
    del graph["1"]["inputs"]["vae"], graph["1"]["inputs"]["clip"]  # export needs neither encoder
    graph["2"] = {"class_type": "ICLoRA_PanelSetExport", "inputs": {
        "dataset": ["1", 4], "folder_prefix": "iclora-export-test", "name": "pairs", "rank": 16, "steps": 5000,
        "learning_rate": 1e-4, "batch_size": 4}}
    folders = []
    for _ in range(2):
        executor, _ = comfy.run(graph)
        assert executor.success, executor.status_messages
        folders.append(outputs_of(executor, "2")[0])
    assert folders == ["iclora-export-test_001", "iclora-export-test_002"]
    out = comfy.output_dir / folders[0]
    assert sorted(p.name for p in out.iterdir()) == ["ai-toolkit.yaml", "blue.png", "blue.txt", "green.png",
                                                     "green.txt", "red.png", "red.txt"]
    assert [(out / f"{n}.txt").read_text() for n in COLOURS] == sets
    config = yaml.safe_load((out / "ai-toolkit.yaml").read_text())["config"]["process"][0]
    assert config["network"]["linear"] == 16 and config["model"]["name_or_path"] == "black-forest-labs/FLUX.1-dev"


def test_the_shipped_training_workflow_validates_and_runs_end_to_end(comfy):
    import json
    from pathlib import Path

    from iclora_pack.nodes.core.sampling_math import MODES
    from iclora_tools.runner.workflow_api import host_node_type, to_api
    from safetensors.torch import save_file

    path = Path(__file__).resolve().parents[2] / "workflows" / "train-your-own-task.json"
    write_sets(comfy.input_dir / "iclora-sets")  # the folder the workflow names
    if not (comfy.models_dir / "vae" / "ae.safetensors").exists():
        save_file({}, str(comfy.models_dir / "vae" / "ae.safetensors"))  # validation only: runs on taef1
    prompt = to_api(json.loads(path.read_text()), comfy.nodes.NODE_CLASS_MAPPINGS)
    for node in prompt.values():  # until the sampler's reference mode is merged (branch h5-refmode)
        if node["class_type"] == "ICLoRA_InContextSampler" and node["inputs"]["mode"] not in MODES:
            node["inputs"]["mode"] = "consistent"
    assert "ICLoRA_PanelSetExport" not in {n["class_type"] for n in prompt.values()}  # bypassed in the file
    valid, node_errors, outputs = comfy.validate(prompt)
    assert node_errors == {} and valid, node_errors
    save_lora = host_node_type("SaveLoRANode", comfy.nodes.NODE_CLASS_MAPPINGS)  # SaveLoRA in 0.33
    assert {prompt[o]["class_type"] for o in outputs} == {save_lora, "LossGraphNode", "SaveImage"}
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "VAELoader":
            inputs["vae_name"] = "taef1"
        if node["class_type"] == "ICLoRA_PanelConcatenate":
            inputs["panel_width"] = inputs["panel_height"] = PANEL
        if node["class_type"] in ("ICLoRA_InContextSampler", "ICLoRA_TrainInContextLoRA"):
            inputs["steps"] = 2
    executor, _ = comfy.run(prompt)
    assert executor.success, executor.status_messages
    assert list((comfy.output_dir / "loras").glob("my-iclora-task_2_steps_*.safetensors"))
    assert list((comfy.output_dir / "iclora").glob("my-iclora-task_*.png"))
