"""Train In-Context LoRA inside ComfyUI on tiny FLUX: Panel Set Dataset -> the pack's trainer -> Save LoRA Weights ->
stock LoraLoaderModelOnly -> In-Context Sampler with a reference (FLUX.1-dev and FLUX Fill), and the trainer's
promises: right gradients when checkpointing, the same LoRA from the same seed, a loss blind to the references'
prediction, Cancel between steps and errors that name the input."""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import sys

import pytest
import torch
from iclora_tools.comfyui import inprocess as comfy_inprocess
from pack_facts import skip_without_comfyui
from safetensors.torch import load_file
from test_dataset_in_comfyui import CAPTION, PANEL, dataset_inputs, write_sets
from test_pack_in_comfyui import stock_flux_loaders

skip_without_comfyui()

TRAINER = "ICLoRA_TrainInContextLoRA"
FOLDER = "iclora-trainer-sets"
STEPS = 24
FILL_UNET = "flux1-fill-dev.safetensors"


def outputs_of(executor, node_id: str) -> list:
    """A node's outputs from the executor's cache (0.33's cache answers through a coroutine)."""
    if hasattr(comfy_inprocess, "node_outputs"):
        return comfy_inprocess.node_outputs(executor, node_id)
    return [values[0] for values in executor.caches.outputs.get(node_id)]


def trainer_inputs(**overrides) -> dict:
    inputs = {"model": ["11", 0], "latents": ["1", 0], "positive": ["1", 1], "layout": ["1", 5],
              "objective": "mixed", "references": "first", "timesteps": "flux shift", "batch_size": 1,
              "grad_accumulation_steps": 1, "steps": STEPS, "learning_rate": 4e-3, "rank": 4, "optimizer": "AdamW",
              "seed": 0, "training_dtype": "bf16", "lora_dtype": "bf16", "algorithm": "LoRA",
              "gradient_checkpointing": True, "existing_lora": "[None]"}
    inputs.update(overrides)
    return inputs


def save_lora_type(comfy) -> str:
    """Save LoRA Weights is SaveLoRANode in 0.3.64 and SaveLoRA in 0.33."""
    return "SaveLoRANode" if "SaveLoRANode" in comfy.nodes.NODE_CLASS_MAPPINGS else "SaveLoRA"


def training_graph(comfy, prefix: str, unet: str = "flux1-dev.safetensors", **overrides) -> dict:
    graph = {**stock_flux_loaders(), "1": {"class_type": "ICLoRA_PanelSetDataset", "inputs": dataset_inputs(FOLDER)},
             "20": {"class_type": TRAINER, "inputs": trainer_inputs(**overrides)},
             "21": {"class_type": save_lora_type(comfy), "inputs": {"lora": ["20", 1], "prefix": f"loras/{prefix}",
                                                                    "steps": ["20", 3]}},
             "22": {"class_type": "LossGraphNode", "inputs": {"loss": ["20", 2], "filename_prefix": prefix}}}
    graph["11"]["inputs"]["unet_name"] = unet
    if unet == FILL_UNET:
        graph["20"]["inputs"]["vae"] = ["10", 0]
    return graph


@pytest.fixture(scope="module")
def sets(comfy):
    folder = comfy.input_dir / FOLDER
    if not folder.exists():
        write_sets(folder)
    return folder


def mode_with_reference() -> str:
    """The sampler mode matched to the trainer: `reference` once it exists, until then `consistent`."""
    from iclora_pack.nodes.core.sampling_math import MODES

    return "reference" if "reference" in MODES else "consistent"


def sampling_graph(lora: str | None, unet: str = "flux1-dev.safetensors", mode: str = "consistent") -> dict:
    """A fresh 2-panel set with panel 1 given (a 'gold' tile), panel 2 generated."""
    graph = {
        **stock_flux_loaders(),
        "40": {"class_type": "LoadImage", "inputs": {"image": "trainer-reference.png"}},
        "31": {"class_type": "ICLoRA_PanelConcatenate", "inputs": {
            "output_slots": 1, "order": "", "arrangement": "row", "grid_rows": 0, "grid_cols": 0,
            "panel_width": PANEL, "panel_height": PANEL, "fit": "crop", "pad_mode": "color",
            "fill_color": "#808080", "slot_fill": "color", "max_megapixels": 4.0, "image_1": ["40", 0]}},
        "32": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["12", 0], "text": CAPTION.format(colour="gold")}},
        "33": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["32", 0]}},
        "34": {"class_type": "ICLoRA_InContextSampler", "inputs": {
            "model": ["30", 0] if lora else ["11", 0], "positive": ["32", 0], "negative": ["33", 0],
            "vae": ["10", 0], "image": ["31", 0], "mode": mode, "seed": 5, "steps": 3, "cfg": 1.0,
            "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0, "resample_count": 1,
            "resample_fraction": 1.0, "reference_strength": 1.0, "seam_feather": 0, "paste_references": True,
            "paste_blend": 0, "batch_size": 1, "layout": ["31", 1]}},
        "35": {"class_type": "PreviewImage", "inputs": {"images": ["34", 0]}},
    }
    graph["11"]["inputs"]["unet_name"] = unet
    if lora:
        graph["30"] = {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["11", 0], "lora_name": lora,
                                                                        "strength_model": 1.0}}
    return graph


def train(comfy, prefix: str, **overrides):
    executor, _ = comfy.run(training_graph(comfy, prefix, **overrides))
    assert executor.success, executor.status_messages
    model, lora, loss, steps = outputs_of(executor, "20")
    files = sorted((comfy.output_dir / "loras").glob(f"{prefix}_{steps}_steps_*.safetensors"))
    assert files, f"Save LoRA Weights wrote no {prefix} file"
    return {"model": model, "lora": lora, "loss": loss["loss"], "steps": steps, "file": files[-1]}


@pytest.mark.parametrize("unet", ["flux1-dev.safetensors", FILL_UNET])
def test_trains_through_the_executor_and_the_saved_lora_loads_fully_into_the_sampler(comfy, sets, unet):
    from PIL import Image

    prefix = "iclora_trainer_fill" if unet == FILL_UNET else "iclora_trainer"
    trained = train(comfy, prefix, unet=unet)
    loss = trained["loss"]
    assert trained["steps"] == STEPS and len(loss) == STEPS and all(math.isfinite(v) for v in loss)
    weights = load_file(str(trained["file"]))
    assert any(k.endswith(".lora_up.weight") for k in weights) and all(torch.isfinite(v).all()
                                                                        for v in weights.values())
    assert set(weights) == set(trained["lora"])

    Image.new("RGB", (PANEL, PANEL), (230, 190, 40)).save(comfy.input_dir / "trainer-reference.png")
    name = f"{prefix}.safetensors"
    shutil.copy(trained["file"], comfy.models_dir / "loras" / name)
    mode = mode_with_reference() if unet != FILL_UNET else "fill"
    logged = len(comfy.logs.messages)
    with_lora, _ = comfy.run(sampling_graph(name, unet, mode))
    assert with_lora.success, with_lora.status_messages
    unloaded = [m for m in comfy.logs.messages[logged:] if "lora key not loaded" in m]
    assert not unloaded, unloaded[:5]
    without, _ = comfy.run(sampling_graph(None, unet, mode))
    image_with, image_without = outputs_of(with_lora, "34")[0], outputs_of(without, "34")[0]
    assert image_with.shape == (1, PANEL, 2 * PANEL, 3)
    assert torch.equal(image_with[:, :, :PANEL], image_without[:, :, :PANEL])  # the reference, pasted back
    assert (image_with[:, :, PANEL:] - image_without[:, :, PANEL:]).abs().mean() > 1e-3  # the LoRA acts


def test_the_model_output_is_the_model_with_the_saved_lora_as_the_stock_loader_loads_it(comfy, sets):
    trained = train(comfy, "iclora_trainer_model", steps=4)
    name = "iclora_trainer_model.safetensors"
    shutil.copy(trained["file"], comfy.models_dir / "loras" / name)
    nodes = comfy.nodes
    (base,) = nodes.UNETLoader().load_unet("flux1-dev.safetensors", "default")
    (loaded,) = nodes.LoraLoaderModelOnly().load_lora_model_only(base, name, 1.0)
    ours = trained["model"]
    assert set(ours.patches) == set(loaded.patches) and ours.patches  # the same weights patched
    x, t = torch.randn(1, 16, 4, 8), torch.tensor([0.5])
    context, y = torch.randn(1, 8, 32), torch.randn(1, 32)
    outs = []
    for patcher in (ours, loaded):
        import comfy.model_management as mm

        mm.load_models_gpu([patcher])
        outs.append(patcher.model.apply_model(x, t, c_crossattn=context, y=y, guidance=torch.tensor([3.5])))
    assert torch.allclose(outs[0], outs[1], atol=1e-5)


def test_same_seed_same_lora_and_another_seed_another(comfy, sets):
    a = train(comfy, "iclora_seed_a", steps=6, seed=3)
    torch.manual_seed(1234)  # the global generator must not matter
    torch.rand(7)
    b = train(comfy, "iclora_seed_b", steps=6, seed=3)
    c = train(comfy, "iclora_seed_c", steps=6, seed=4)
    assert a["loss"] == b["loss"]
    assert all(torch.equal(a["lora"][k], b["lora"][k]) for k in a["lora"])
    assert a["loss"] != c["loss"]
    assert any(not torch.equal(a["lora"][k], c["lora"][k]) for k in a["lora"])


# ---------------------------------------------------------------------------------------------- the loss


def loaded_patcher(comfy, unet: str = "flux1-dev.safetensors"):
    (model,) = comfy.nodes.UNETLoader().load_unet(unet, "default")
    return model


def test_with_references_the_loss_ignores_what_the_model_predicts_for_reference_panels(comfy, sets):
    from iclora_pack.nodes.core.layout import build_layout
    from iclora_pack.nodes.core.training import TrainingDraws, panel_latent_mask
    from iclora_pack.nodes.host.trainer import InContextTrainSampler, TrainerSettings

    layout = build_layout(["input"] * 2, PANEL, PANEL, "row")
    reference = panel_latent_mask(layout, [1], 4, 8)
    latents = torch.randn(1, 16, 4, 8)

    def loss_with(perturb: float) -> float:
        class Wrap:  # ComfyUI's guider as the loop calls it: returns the clean prediction
            inner_model = None

            def __call__(self, x, sigma, **kwargs):
                denoised = 0.3 * x
                return denoised + perturb * reference  # change the prediction on the reference panel only

        settings = TrainerSettings(objective="with references", references="first")
        draws = TrainingDraws(0, 1, 2, settings.objective, settings.references, settings.timesteps)
        loop = InContextTrainSampler(settings, None, draws, layout, torch.float32, lambda *a: None)
        step = draws.step(1).examples[0]
        assert step.references == (1,)
        return float(loop.example_loss(Wrap(), [{"model_conds": {}}], latents, {}, 0, step.sigma, step.references))

    assert loss_with(0.0) == loss_with(50.0)
    joint_draws = TrainingDraws(0, 1, 2, "joint", "first", "flux shift")
    assert joint_draws.step(1).examples[0].references == ()


def test_reference_tokens_give_the_model_the_clean_references_and_score_the_outputs_only_canvas(comfy, sets):
    """Objective `reference tokens`: the model sees the reference panel's clean latent as `ref_latents` (what
    ReferenceLatent and Reference Tokens give it) and a canvas of the other panels alone; the loss is on all of it."""
    from iclora_pack.nodes.core.layout import build_layout
    from iclora_pack.nodes.core.training import TrainingDraws
    from iclora_pack.nodes.host.trainer import InContextTrainSampler, TrainerSettings

    layout = build_layout(["input"] * 3, PANEL, PANEL, "row")
    latents = torch.randn(1, 16, 4, 12)
    seen = {}

    class Wrap:  # ComfyUI's guider as the loop calls it: returns the clean prediction
        inner_model = None

        def __call__(self, x, sigma, **kwargs):
            seen["x"] = x.shape
            seen["refs"] = self.conds["positive"][0]["model_conds"]["ref_latents"].cond
            return 0.3 * x

    settings = TrainerSettings(objective="reference tokens", references="first")
    draws = TrainingDraws(0, 1, 3, settings.objective, settings.references, settings.timesteps)
    loop = InContextTrainSampler(settings, None, draws, layout, torch.float32, lambda *a: None)
    step = draws.step(1).examples[0]
    loss = loop.example_loss(Wrap(), [{"model_conds": {}}], latents, {}, 0, step.sigma, step.references)
    assert torch.isfinite(loss) and step.references == (1,)
    assert seen["x"] == (1, 16, 4, 8)  # panels 2 and 3 side by side
    assert len(seen["refs"]) == 1 and torch.equal(seen["refs"][0], latents[..., :4])  # panel 1, clean


def test_x0_loss_weighting_is_the_velocity_loss_times_sigma_squared(comfy, sets):
    from iclora_pack.nodes.core.layout import build_layout
    from iclora_pack.nodes.core.training import LOSS_X0, TrainingDraws
    from iclora_pack.nodes.host.trainer import InContextTrainSampler, TrainerSettings

    layout = build_layout(["input"] * 2, PANEL, PANEL, "row")
    latents = torch.randn(1, 16, 4, 8)

    class Wrap:
        inner_model = None

        def __call__(self, x, sigma, **kwargs):
            return 0.3 * x

    def loss(weighting: str) -> tuple[float, float]:
        settings = TrainerSettings(objective="with references", loss_weighting=weighting)
        draws = TrainingDraws(0, 1, 2, settings.objective, settings.references, settings.timesteps)
        loop = InContextTrainSampler(settings, None, draws, layout, torch.float32, lambda *a: None)
        step = draws.step(1).examples[0]
        value = loop.example_loss(Wrap(), [{"model_conds": {}}], latents, {}, 0, step.sigma, step.references)
        return float(value), step.sigma

    (velocity, sigma), (x0, _) = loss("velocity"), loss(LOSS_X0)
    assert x0 == pytest.approx(velocity * sigma ** 2, rel=1e-5) and x0 != velocity


def tokens_sampling_graph(lora: str | None) -> dict:
    """The edit-model route on a fresh 2-panel set: Reference Tokens -> In-Context Sampler (joint) -> Panel
    Reassemble, as the shipped FLUX.1 Kontext workflow wires it (the tiny FLUX stands in for Kontext)."""
    graph = sampling_graph(lora, mode="joint")
    model = ["30", 0] if lora else ["11", 0]
    graph["36"] = {"class_type": "ICLoRA_ReferenceTokens", "inputs": {
        "positive": ["32", 0], "negative": ["33", 0], "vae": ["10", 0], "canvas": ["31", 0], "layout": ["31", 1],
        "model": model}}
    sampler = graph["34"]["inputs"]
    sampler.update({"positive": ["36", 0], "negative": ["36", 1], "image": ["36", 2]})
    del sampler["layout"]
    graph["37"] = {"class_type": "ICLoRA_PanelReassemble", "inputs": {"generated": ["34", 0], "canvas": ["31", 0],
                                                                       "layout": ["31", 1]}}
    graph["35"]["inputs"]["images"] = ["37", 0]
    return graph


def test_a_lora_trained_for_reference_tokens_acts_in_the_reference_tokens_route(comfy, sets):
    from PIL import Image

    trained = train(comfy, "iclora_trainer_tokens", objective="reference tokens", steps=8)
    assert len(trained["loss"]) == 8 and all(math.isfinite(v) for v in trained["loss"])
    Image.new("RGB", (PANEL, PANEL), (230, 190, 40)).save(comfy.input_dir / "trainer-reference.png")
    name = "iclora_trainer_tokens.safetensors"
    shutil.copy(trained["file"], comfy.models_dir / "loras" / name)
    logged = len(comfy.logs.messages)
    with_lora, _ = comfy.run(tokens_sampling_graph(name))
    assert with_lora.success, with_lora.status_messages
    assert not [m for m in comfy.logs.messages[logged:] if "lora key not loaded" in m]
    without, _ = comfy.run(tokens_sampling_graph(None))
    assert without.success, without.status_messages
    whole_with, whole_without = outputs_of(with_lora, "37")[0], outputs_of(without, "37")[0]
    assert whole_with.shape == (1, PANEL, 2 * PANEL, 3)
    assert torch.equal(whole_with[:, :, :PANEL], whole_without[:, :, :PANEL])  # the reference, exact
    assert (whole_with[:, :, PANEL:] - whole_without[:, :, PANEL:]).abs().mean() > 1e-3  # the LoRA acts


# ---------------------------------------------------------------------------------------------- gradients


def tiny_flux_float64(comfy):
    """The tiny FLUX of the host tier in float64, loaded outside inference mode (so it can be trained)."""
    with torch.inference_mode(False):
        return loaded_patcher(comfy).model.diffusion_model.double().requires_grad_(True)


@contextlib.contextmanager
def training_flag():
    """0.33's FLUX takes its differentiable (and float64-capable) rotary embedding while ComfyUI says it trains,
    as the trainer does (for the backward pass too: checkpointing recomputes the forward there)."""
    from comfy import model_management

    before = getattr(model_management, "in_training", False)
    model_management.in_training = True
    try:
        yield
    finally:
        model_management.in_training = before


def flux_loss(flux) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 16, 4, 8, generator=g, dtype=torch.float64)
    context, y = torch.randn(1, 8, 32, generator=g, dtype=torch.float64), torch.randn(1, 32, generator=g,
                                                                                      dtype=torch.float64)
    out = flux(x, torch.tensor([0.6], dtype=torch.float64), context=context, y=y,
               guidance=torch.tensor([3.5], dtype=torch.float64))
    return (out ** 2).mean()


def flux_gradients(comfy, wrap) -> dict:
    """Gradients of every parameter of a tiny FLUX (float64, built outside inference mode) with its top-level
    modules wrapped by `wrap`; the wrapped model must compute the same loss."""
    from iclora_pack.nodes.host.trainer import blocks_to_wrap, unwrap

    flux = tiny_flux_float64(comfy)
    wrapped = blocks_to_wrap(flux)
    for module in wrapped:
        wrap(module)
    try:
        loss = flux_loss(flux)
        loss.backward()
    finally:
        for module in wrapped:
            unwrap(module)
    with torch.no_grad():
        assert torch.equal(loss.detach(), flux_loss(flux)), "the wrapped model computes something else"
    return {n: p.grad.clone() for n, p in flux.named_parameters() if p.grad is not None}


def test_checkpointing_gives_the_gradients_of_the_uncheckpointed_model_where_stock_does_not(comfy):
    """Uncheckpointed, autograd's version check guarantees the gradients (unwrapped, FLUX stops with autograd's
    in-place error), and a finite difference agrees; ours checkpointed equal them, stock's checkpointed do not."""
    import comfy_extras.nodes_train as stock
    from iclora_pack.nodes.host.trainer import checkpoint_module

    with torch.inference_mode(False), torch.enable_grad(), training_flag():
        with pytest.raises(RuntimeError, match="inplace operation"):
            flux_gradients(comfy, lambda m: None)
        plain = flux_gradients(comfy, lambda m: checkpoint_module(m, checkpoint=False))
        ours = flux_gradients(comfy, lambda m: checkpoint_module(m, checkpoint=True))
        theirs = flux_gradients(comfy, stock.patch)
    assert plain and set(plain) == set(ours) == set(theirs)
    for name in plain:
        assert torch.allclose(plain[name], ours[name], rtol=1e-10, atol=1e-14), name
    error = {n: float((theirs[n] - plain[n]).norm() / plain[n].norm().clamp_min(1e-30)) for n in plain}
    worst = max(error, key=error.get)
    assert error[worst] > 1e-3, error  # stock's checkpointing is wrong for FLUX
    # a central difference along stock's error, on the parameter where it is largest
    direction = theirs[worst] - plain[worst]
    direction /= direction.norm()
    flux = tiny_flux_float64(comfy)
    parameter = dict(flux.named_parameters())[worst]
    eps = 1e-3  # some of ComfyUI's FLUX runs in float32 (the rotary embedding): a smaller step only adds noise
    with torch.no_grad(), training_flag():
        start = parameter.clone()
        parameter.copy_(start + eps * direction)
        up = flux_loss(flux)
        parameter.copy_(start - eps * direction)
        down = flux_loss(flux)
    numeric = float((up - down) / (2 * eps))
    ours_along, stock_along = float((ours[worst] * direction).sum()), float((theirs[worst] * direction).sum())
    assert abs(ours_along - numeric) < 0.1 * abs(stock_along - numeric), (worst, numeric, ours_along, stock_along)


# ---------------------------------------------------------------------------------------------- cancel, errors


def test_progress_moves_each_step_and_cancel_stops_between_steps(comfy, sets):
    from comfy import model_management
    from comfy import utils as comfy_utils

    nodes = comfy.nodes
    (clip,) = nodes.DualCLIPLoader().load_clip("clip_l.safetensors", "t5xxl_fp16.safetensors", "flux")
    (vae,) = nodes.VAELoader().load_vae("taef1")
    dataset = nodes.NODE_CLASS_MAPPINGS["ICLoRA_PanelSetDataset"].execute(
        **{**dataset_inputs(FOLDER), "vae": vae, "clip": clip})
    latents, positive, _, _, _, layout = dataset.result
    model = loaded_patcher(comfy)
    node = nodes.NODE_CLASS_MAPPINGS[TRAINER]
    inputs = {**trainer_inputs(steps=5), "model": model, "latents": latents, "positive": positive,
              "layout": layout}
    module = sys.modules[node.__module__]
    texts, updates = [], []
    real_text = module._send_progress_text
    module._send_progress_text = texts.append  # the loss text goes out every step (the bar may be throttled)
    comfy_utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: updates.append(value))
    try:
        node.execute(**inputs)
        assert [t.split("  ")[0] for t in texts] == [f"step {i}/5" for i in range(1, 6)]
        assert all(re.fullmatch(r"step \d/5  loss \d+\.\d{4}", t) for t in texts), texts
        # every step, or fewer where the host throttles the bar (0.33), but the first and the last
        assert updates[0] == 1 and updates[-1] == 5 and updates == sorted(set(updates)), updates

        def cancel(text):
            texts.append(text)
            model_management.interrupt_current_processing(True)

        texts.clear()
        module._send_progress_text = cancel
        with pytest.raises(model_management.InterruptProcessingException):
            node.execute(**inputs)
        assert texts[0].startswith("step 1/5") and len(texts) == 1  # the second step never started
    finally:
        module._send_progress_text = real_text
        model_management.interrupt_current_processing(False)
        comfy_utils.set_progress_bar_global_hook(None)


def test_bad_inputs_fail_with_messages_that_name_the_input_and_the_fix(comfy, sets):
    write_sets(comfy.input_dir / "iclora-trainer-canvases", folder_format="canvases") if not (
        comfy.input_dir / "iclora-trainer-canvases").exists() else None
    graph = training_graph(comfy, "iclora_bad", steps=1)
    graph["1b"] = {"class_type": "ICLoRA_PanelSetDataset",
                   "inputs": dataset_inputs(FOLDER, panel_width=64, panel_height=64)}

    other = dict(graph)
    other["20"] = {**graph["20"], "inputs": {**graph["20"]["inputs"], "positive": ["1b", 1],
                                              "latents": ["50", 0]}}
    other["50"] = {"class_type": "LatentFromBatch", "inputs": {"samples": ["1", 0], "batch_index": 0, "length": 2}}
    message = comfy.run_expecting_error(other)
    assert message.startswith("Train In-Context LoRA: there are 3 captions for 2 latents (input 'positive')."), message

    wrong_layout = dict(graph)
    wrong_layout["20"] = {**graph["20"], "inputs": {**graph["20"]["inputs"], "layout": ["1b", 5]}}
    message = comfy.run_expecting_error(wrong_layout)
    assert "layout is for a 128x64 px canvas" in message and "(input 'layout')" in message
    assert "Connect the layout of the Panel Set Dataset that made these latents." in message

    one_panel = training_graph(comfy, "iclora_bad", steps=1, objective="with references")
    one_panel["1"]["inputs"]["folder"] = "iclora-trainer-canvases"
    message = comfy.run_expecting_error(one_panel)
    assert "every set is one panel" in message and "(input 'objective')" in message

    no_layout = training_graph(comfy, "iclora_bad", steps=1)
    del no_layout["20"]["inputs"]["layout"]
    message = comfy.run_expecting_error(no_layout)
    assert "objective 'mixed' needs to know where the panels are (input 'layout')" in message

    fill_without_vae = training_graph(comfy, "iclora_bad", unet=FILL_UNET, steps=1)
    del fill_without_vae["20"]["inputs"]["vae"]
    assert "(input 'vae')" in comfy.run_expecting_error(fill_without_vae)

    bad_weighting = training_graph(comfy, "iclora_bad", steps=1, loss_weighting="l1")
    _, node_errors, _ = comfy.validate(bad_weighting)
    if node_errors:  # ComfyUI 0.33 checks combo values itself
        assert "loss_weighting: 'l1' not in" in str(node_errors), node_errors
    else:  # 0.3.64 does not: the trainer refuses it
        message = comfy.run_expecting_error(bad_weighting)
        assert "'l1' is not an option (input 'loss_weighting')" in message, message

    fill_tokens = training_graph(comfy, "iclora_bad", unet=FILL_UNET, steps=1, objective="reference tokens")
    message = comfy.run_expecting_error(fill_tokens)
    assert "not as reference tokens (input 'objective')" in message and "'with references'" in message


def test_a_model_that_is_not_a_flow_model_is_refused(comfy, sets):
    from comfy import model_sampling
    from iclora_pack.nodes.core.errors import PanelInputError
    from iclora_pack.nodes.host.trainer import TrainerSettings, train_in_context_lora

    model = loaded_patcher(comfy).clone()

    class Eps(model_sampling.ModelSamplingDiscrete, model_sampling.EPS):
        pass

    model.add_object_patch("model_sampling", Eps(model.model.model_config))
    with pytest.raises(PanelInputError, match=r"not a flow-matching model .* \(input 'model'\)"):
        train_in_context_lora(model=model, latents={"samples": torch.zeros(1, 16, 4, 8)}, positive=[[None, {}]],
                              settings=TrainerSettings(objective="joint", steps=1))


def test_reference_tokens_on_a_model_that_ignores_them_is_refused(comfy):
    from iclora_pack.nodes.core.errors import PanelInputError
    from iclora_pack.nodes.core.layout import build_layout
    from iclora_pack.nodes.host.trainer import TrainerSettings, train_in_context_lora
    from iclora_tools.comfyui import tiny_families

    model = tiny_families.build_model(tiny_families.family("SD3.5"))
    layout = build_layout(["input"] * 2, 32, 32, "row")
    with pytest.raises(PanelInputError, match=r"does not read reference tokens .*\(input 'objective'\)"):
        train_in_context_lora(model=model, latents={"samples": torch.zeros(1, 16, 4, 8)}, positive=[[None, {}]],
                              layout=layout, settings=TrainerSettings(objective="reference tokens", steps=1))


def test_references_at_timestep_zero_train_where_the_host_and_model_have_it(comfy):
    """OminiControl's recipe, per host: on ComfyUI 0.33 a tiny global-modulation Flux (FLUX.2's layout) trains with
    its clean references modulated at timestep 0 (the sampler's wrapper, so training and sampling match), and that
    changes the loss; FLUX.1, and every model on 0.3.64, is refused naming the input."""
    import comfyui_version
    from iclora_pack.nodes.core.errors import PanelInputError
    from iclora_pack.nodes.core.layout import build_layout
    from iclora_pack.nodes.host.trainer import TrainerSettings, train_in_context_lora
    from test_sampler_in_comfyui import tiny_global_modulation_flux

    layout = build_layout(["input"] * 2, 32, 32, "row")
    generator = torch.Generator().manual_seed(2)
    latents = {"samples": torch.randn(2, 16, 4, 8, generator=generator)}
    positive = [[torch.randn(1, 3, 8, generator=generator), {"pooled_output": torch.randn(1, 8, generator=generator)}]
                for _ in range(2)]

    def run(model, zero: bool) -> list[float]:
        settings = TrainerSettings(objective="with references", steps=3, rank=2, training_dtype="fp32",
                                   lora_dtype="fp32", references_at_timestep_zero=zero)
        return train_in_context_lora(model=model, latents=latents, positive=positive, layout=layout,
                                     settings=settings).loss_map["loss"]

    with pytest.raises(PanelInputError, match=r"need a Flux model with global modulation .*"
                                              r"\(input 'references_at_timestep_zero'\)"):
        run(loaded_patcher(comfy), True)  # the tiny FLUX.1
    if tuple(int(part) for part in comfyui_version.__version__.split(".")[:2]) < (0, 33):
        return  # 0.3.64's Flux has neither global modulation nor timestep_zero_index
    model = tiny_global_modulation_flux()
    at_zero, at_sample = run(model, True), run(model, False)
    assert len(at_zero) == 3 and all(math.isfinite(v) for v in at_zero)
    assert at_zero != at_sample  # the references' modulation changed what the model predicts
