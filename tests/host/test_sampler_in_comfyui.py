"""In-Context Sampler inside ComfyUI on tiny models: stock bit-identity, kept references, harmonized and fill
modes, one progress update per model evaluation, Cancel, and clear errors."""

from __future__ import annotations

import pytest
import torch
from pack_facts import skip_without_comfyui

skip_without_comfyui()

SAMPLER = "ICLoRA_InContextSampler"
PROMPT = "This two-panel image shows a lamp [LEFT] on a desk [RIGHT] in a garden"


@pytest.fixture(scope="module")
def kit(comfy):
    """Tiny FLUX, text encoders and TAEF1 through the stock loaders, and a 2-panel canvas (reference | slot)."""
    nodes = comfy.nodes
    from iclora_pack.nodes.core.canvas import concatenate_panels
    from iclora_pack.nodes.core.masks import slot_mask

    model = nodes.UNETLoader().load_unet("flux1-dev.safetensors", "default")[0]
    clip = nodes.DualCLIPLoader().load_clip("clip_l.safetensors", "t5xxl_fp16.safetensors", "flux")[0]
    vae = nodes.VAELoader().load_vae("taef1")[0]
    (positive,) = nodes.CLIPTextEncode().encode(clip, PROMPT)
    positive = nodes.NODE_CLASS_MAPPINGS["FluxGuidance"].execute(positive, 3.5).result[0]
    (negative,) = nodes.ConditioningZeroOut().zero_out(positive)
    generator = torch.Generator().manual_seed(0)
    reference = torch.rand(1, 64, 64, 3, generator=generator)
    result = concatenate_panels([("image_1", reference)], 1)
    return {"model": model, "vae": vae, "positive": positive, "negative": negative, "canvas": result.canvas,
            "layout": result.layout, "mask": slot_mask(result.layout), "nodes": nodes}


def run_sampler(kit, **overrides):
    args = {"model": kit["model"], "positive": kit["positive"], "negative": kit["negative"], "vae": kit["vae"],
            "image": kit["canvas"], "mode": "masked", "seed": 11, "steps": 4, "cfg": 1.0, "sampler_name": "euler",
            "scheduler": "simple", "denoise": 1.0, "resample_count": 2, "resample_fraction": 0.5,
            "reference_strength": 1.0, "seam_feather": 0, "paste_references": True, "paste_blend": 0,
            "batch_size": 1, "mask": kit["mask"], "layout": kit["layout"]}
    args.update(overrides)
    return kit["nodes"].NODE_CLASS_MAPPINGS[SAMPLER].execute(**args).result


def stock_masked(kit, seed=11, steps=4, sampler_name="euler", scheduler="simple"):
    nodes = kit["nodes"]
    (latent,) = nodes.VAEEncode().encode(kit["vae"], kit["canvas"])
    (latent,) = nodes.SetLatentNoiseMask().set_mask(latent, kit["mask"])
    (sampled,) = nodes.KSampler().sample(kit["model"], seed, steps, 1.0, sampler_name, scheduler, kit["positive"],
                                         kit["negative"], latent, denoise=1.0)
    (images,) = nodes.VAEDecode().decode(kit["vae"], sampled)
    return latent, sampled, images


@pytest.mark.parametrize("sampler_name,scheduler", [("euler", "simple"), ("dpmpp_2m", "beta"), ("heun", "normal")])
def test_masked_mode_is_bit_identical_to_the_stock_path(kit, sampler_name, scheduler):
    _, stock_latent, stock_images = stock_masked(kit, sampler_name=sampler_name, scheduler=scheduler)
    images, latent, _ = run_sampler(kit, sampler_name=sampler_name, scheduler=scheduler, paste_references=False)
    assert torch.equal(latent["samples"], stock_latent["samples"])
    assert torch.equal(images, stock_images)


def test_references_are_kept_in_the_latent_and_pasted_back_pixel_exact(kit):
    encoded, _, _ = stock_masked(kit)
    images, latent, report = run_sampler(kit)
    # The kept half is the encoded reference up to float rounding: the stock path's last Euler step computes
    # x - (x - x0), which is not bit-exact (the same happens with KSampler); the pixels are exact via paste-back.
    assert torch.allclose(latent["samples"][..., :8], encoded["samples"][..., :8], atol=1e-5)
    assert (latent["samples"][..., 8:] - encoded["samples"][..., 8:]).abs().mean() > 0.05
    assert torch.equal(images[:, :, :64], kit["canvas"][:, :, :64])
    assert not torch.equal(images[:, :, 64:], kit["canvas"][:, :, 64:])
    assert "references pasted back pixel-exact" in report


def test_paste_blend_fades_inside_the_reference_only(kit):
    from iclora_pack.nodes.core.sampling_math import paste_references, paste_weight

    images, _, _ = run_sampler(kit, paste_blend=4)
    plain, _, _ = run_sampler(kit, paste_references=False)
    assert torch.equal(images[:, :, :52], kit["canvas"][:, :, :52])  # deep inside the reference: original
    assert torch.equal(images[:, :, 64:], plain[:, :, 64:])  # the output slot is untouched by the paste
    # In the band next to the seam, the pixels are a blend of both, so ignoring paste_blend fails here.
    band = slice(56, 64)
    assert not torch.equal(images[:, :, band], kit["canvas"][:, :, band])
    assert not torch.equal(images[:, :, band], plain[:, :, band])
    expected = paste_references(plain, kit["canvas"], paste_weight(kit["mask"], 4))
    assert torch.allclose(images, expected, atol=1e-6)


def test_a_feathered_mask_and_seam_feather_blur_once(kit):
    from iclora_pack.nodes.core.masks import slot_mask

    feathered = slot_mask(kit["layout"], feather=4)
    both, both_latent, _ = run_sampler(kit, mask=feathered, seam_feather=2)
    seam_only, seam_latent, _ = run_sampler(kit, seam_feather=2)  # the hard mask, softened by the sampler
    assert torch.equal(both_latent["samples"], seam_latent["samples"]) and torch.equal(both, seam_only)
    mask_only, mask_latent, _ = run_sampler(kit, mask=feathered, seam_feather=0)  # the mask's own ramp, as it is
    assert not torch.equal(mask_latent["samples"], seam_latent["samples"])


class EvaluationCounter:
    """Counts real model evaluations (diffusion model calls) and progress-bar updates."""

    def __init__(self, model):
        self.evaluations = 0
        self.progress = 0
        self.model = model.clone()

        def wrapper(apply_model, args):
            self.evaluations += 1
            return apply_model(args["input"], args["timestep"], **args["c"])

        self.model.set_model_unet_function_wrapper(wrapper)

    def hook(self, value, total, preview, node_id=None):
        self.progress += 1


@pytest.fixture
def counter(kit, monkeypatch):
    import comfy.utils

    # ComfyUI 0.33 passes progress to the hook at most every PROGRESS_THROTTLE_MIN_INTERVAL seconds (first, last and
    # preview updates always): off here, so every update the sampler makes is counted, on any machine's speed.
    for name in ("PROGRESS_THROTTLE_MIN_INTERVAL", "PROGRESS_THROTTLE_MIN_PERCENT"):
        if hasattr(comfy.utils, name):
            monkeypatch.setattr(comfy.utils, name, 0)
    counter = EvaluationCounter(kit["model"])
    comfy.utils.set_progress_bar_global_hook(counter.hook)
    yield counter
    comfy.utils.set_progress_bar_global_hook(None)


@pytest.mark.parametrize("sampler_name,mode,expected", [
    ("euler", "masked", 6), ("euler", "harmonized", 6 + 2 * 3), ("heun", "masked", 11), ("euler", "joint", 6),
    ("euler", "consistent", 6), ("heun", "consistent", 11), ("dpmpp_2m", "consistent", 6), ("euler", "reference", 6),
    ("heun", "reference", 11), ("dpmpp_2m", "reference", 6)])
def test_progress_fires_once_per_model_evaluation_and_the_report_counts_them(kit, counter, sampler_name, mode,
                                                                             expected):
    images, latent, report = run_sampler(kit, model=counter.model, steps=6, sampler_name=sampler_name, mode=mode,
                                         resample_count=3, resample_fraction=0.5)
    assert counter.evaluations == expected
    assert counter.progress == counter.evaluations
    assert f"{expected} model evaluations for 6 steps" in report


def test_harmonized_keeps_references_and_differs_from_masked(kit):
    masked, masked_latent, _ = run_sampler(kit, steps=6)
    harmonized, latent, report = run_sampler(kit, mode="harmonized", steps=6, resample_count=3,
                                             resample_fraction=0.5)
    encoded, _, _ = stock_masked(kit)
    assert torch.allclose(latent["samples"][..., :8], encoded["samples"][..., :8], atol=1e-5)
    assert torch.equal(harmonized[:, :, :64], kit["canvas"][:, :, :64])
    assert not torch.equal(latent["samples"][..., 8:], masked_latent["samples"][..., 8:])
    assert "first 3 steps taken 3x" in report
    again, _, _ = run_sampler(kit, mode="harmonized", steps=6, resample_count=3, resample_fraction=0.5)
    assert torch.equal(again, harmonized)  # deterministic for a seed


def test_fill_mode_runs_on_a_fill_model_and_keeps_references(kit):
    fill = kit["nodes"].UNETLoader().load_unet("flux1-fill-dev.safetensors", "default")[0]
    assert type(fill.model.model_config).__name__ == "FluxInpaint"
    images, latent, report = run_sampler(kit, model=fill, mode="fill")
    assert torch.equal(images[:, :, :64], kit["canvas"][:, :, :64])
    assert images.shape == kit["canvas"].shape and "mode fill" in report


def test_joint_mode_generates_the_whole_canvas(kit):
    images, latent, report = run_sampler(kit, mode="joint", mask=None, layout=None)
    encoded, _, _ = stock_masked(kit)
    assert (latent["samples"][..., :8] - encoded["samples"][..., :8]).abs().mean() > 0.05
    assert "pasted" not in report


def test_batch_uses_one_seed_per_canvas(kit):
    images, latent, report = run_sampler(kit, batch_size=2)
    _, second, _ = run_sampler(kit, seed=12)
    assert images.shape[0] == 2 and "seeds 11..12" in report
    assert torch.allclose(latent["samples"][1:], second["samples"], atol=1e-5)
    assert not torch.allclose(latent["samples"][0], latent["samples"][1])


def test_reference_strength_below_one_rerenders_references(kit):
    images, latent, report = run_sampler(kit, reference_strength=0.5, steps=6)
    encoded, _, _ = stock_masked(kit)
    assert not torch.allclose(latent["samples"][..., :8], encoded["samples"][..., :8], atol=1e-3)
    assert "re-rendered" in report


@pytest.mark.parametrize("mode", ["masked", "consistent", "reference"])
def test_cancel_stops_sampling_promptly(kit, counter, mode):
    import comfy.model_management

    def cancel_after_two(value, total, preview, node_id=None):
        counter.progress += 1
        if counter.progress == 2:
            comfy.model_management.interrupt_current_processing(True)

    import comfy.utils

    comfy.utils.set_progress_bar_global_hook(cancel_after_two)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            run_sampler(kit, model=counter.model, steps=10, mode=mode)
    finally:
        comfy.model_management.interrupt_current_processing(False)
    assert counter.evaluations == 2


def run_settings(kit, model=None, mask=None, **settings):
    from iclora_pack.nodes.host.sampler import SamplerSettings, run_in_context_sampler

    values = {"seed": 11, "steps": 4, **settings}
    return run_in_context_sampler(model=model or kit["model"], positive=kit["positive"], negative=kit["negative"],
                                  vae=kit["vae"], image=kit["canvas"], mask=kit["mask"] if mask is None else mask,
                                  layout=kit["layout"], settings=SamplerSettings(**values))


def test_consistent_keeps_references_differs_from_masked_and_is_deterministic(kit):
    _, masked_latent, _ = run_sampler(kit, steps=6)
    images, latent, report = run_sampler(kit, mode="consistent", steps=6)
    encoded, _, _ = stock_masked(kit)
    assert torch.allclose(latent["samples"][..., :8], encoded["samples"][..., :8], atol=1e-5)
    assert torch.equal(images[:, :, :64], kit["canvas"][:, :, :64])
    assert (latent["samples"][..., 8:] - masked_latent["samples"][..., 8:]).abs().max() > 1e-3
    again, _, _ = run_sampler(kit, mode="consistent", steps=6)
    assert torch.equal(again, images)
    assert report.startswith("mode consistent: 6 model evaluations for 6 steps")


def test_consistent_refinement_adds_one_counted_evaluation_per_refined_step(kit, counter):
    result = run_settings(kit, model=counter.model, mode="consistent", steps=6, refine_fraction=0.5)
    assert counter.evaluations == 6 + 3 and counter.progress == counter.evaluations
    assert "9 model evaluations for 6 steps" in result.report and "first 3 steps refined once" in result.report
    plain = run_settings(kit, mode="consistent", steps=6)
    assert not torch.equal(result.latent["samples"], plain.latent["samples"])


def test_reference_guidance_takes_a_second_counted_evaluation_on_refined_steps(kit, counter):
    guided = run_settings(kit, model=counter.model, mode="consistent", steps=6, refine_fraction=0.5,
                          reference_guidance=2.0)
    assert counter.evaluations == 9 and counter.progress == 9
    refined = run_settings(kit, mode="consistent", steps=6, refine_fraction=0.5)
    assert not torch.equal(guided.latent["samples"], refined.latent["samples"])
    assert torch.equal(guided.images[:, :, :64], kit["canvas"][:, :, :64])


def test_consistent_batch_uses_one_seed_per_canvas(kit):
    images, latent, report = run_sampler(kit, mode="consistent", batch_size=2)
    _, second, _ = run_sampler(kit, mode="consistent", seed=12)
    assert images.shape[0] == 2 and "seeds 11..12" in report
    assert torch.allclose(latent["samples"][1:], second["samples"], atol=1e-5)
    assert not torch.allclose(latent["samples"][0], latent["samples"][1])


def test_consistent_on_a_fill_model_gives_it_the_references_as_clean_conditioning(kit):
    fill = kit["nodes"].UNETLoader().load_unet("flux1-fill-dev.safetensors", "default")[0]
    seen = []
    watched = fill.clone()

    def wrapper(apply_model, args):
        seen.append(args["c"]["c_concat"].clone())
        return apply_model(args["input"], args["timestep"], **args["c"])

    watched.set_model_unet_function_wrapper(wrapper)
    images, latent, report = run_sampler(kit, model=watched, mode="consistent", batch_size=2)
    assert len(seen) == 4 and "Fill model: references also given as clean conditioning" in report
    concat = seen[0]
    assert concat.shape[1] == 16 + 64  # the greyed canvas latent and the 8 x 8-packed mask
    assert concat[:, :16, :, :8].abs().mean() > 0.05  # the references are there (ComfyUI would send zeros)
    assert torch.equal(concat[:, 16:, :, :8], torch.zeros_like(concat[:, 16:, :, :8]))  # kept: mask 0
    assert torch.equal(concat[:, 16:, :, 8:], torch.ones_like(concat[:, 16:, :, 8:]))  # generated: mask 1
    assert torch.equal(images[:, :, :64], kit["canvas"][:, :, :64].expand(2, -1, -1, -1))
    fill_mode, _, _ = run_sampler(kit, model=fill, mode="fill")
    assert not torch.equal(images[:1], fill_mode)


class InputWatcher:
    """Records what the diffusion model is given at each evaluation (latent in the model's space)."""

    def __init__(self, model):
        self.inputs, self.timesteps, self.concat = [], [], []
        self.model = model.clone()

        def wrapper(apply_model, args):
            self.inputs.append(args["input"].clone())
            self.timesteps.append(args["timestep"].clone())
            if "c_concat" in args["c"]:
                self.concat.append(args["c"]["c_concat"].clone())
            return apply_model(args["input"], args["timestep"], **args["c"])

        self.model.set_model_unet_function_wrapper(wrapper)


def test_reference_mode_shows_the_model_the_clean_references_at_every_step_and_keeps_them_exactly(kit):
    watcher = InputWatcher(kit["model"])
    images, latent, report = run_sampler(kit, model=watcher.model, mode="reference", steps=6)
    encoded, _, _ = stock_masked(kit)
    clean = kit["model"].model.process_latent_in(encoded["samples"])
    assert len(watcher.inputs) == 6
    for x in watcher.inputs:  # the trainer's contract: references clean in the canvas, never re-noised
        assert torch.equal(x[..., :8], clean[..., :8])
    assert (watcher.inputs[0][..., 8:] - clean[..., 8:]).abs().mean() > 0.5  # the outputs start as noise
    assert torch.equal(latent["samples"][..., :8], encoded["samples"][..., :8])  # exact, not up to rounding
    assert torch.equal(images[:, :, :64], kit["canvas"][:, :, :64])
    _, masked_latent, _ = run_sampler(kit, steps=6)
    _, consistent_latent, _ = run_sampler(kit, mode="consistent", steps=6)
    for other in (masked_latent, consistent_latent):
        assert (latent["samples"][..., 8:] - other["samples"][..., 8:]).abs().max() > 1e-3
    again, again_latent, _ = run_sampler(kit, mode="reference", steps=6)
    assert torch.equal(again, images) and torch.equal(again_latent["samples"], latent["samples"])
    assert report == ("mode reference: 6 model evaluations for 6 steps; references clean at every step; "
                      "references pasted back pixel-exact")


def test_reference_mode_masked_stays_the_stock_path(kit):
    """Adding the mode changed nothing for masked mode: still bit-identical to the stock path."""
    _, stock_latent, stock_images = stock_masked(kit)
    images, latent, _ = run_sampler(kit, paste_references=False)
    assert torch.equal(latent["samples"], stock_latent["samples"]) and torch.equal(images, stock_images)


def test_reference_mode_batch_uses_one_seed_per_canvas(kit):
    images, latent, report = run_sampler(kit, mode="reference", batch_size=2)
    _, second, _ = run_sampler(kit, mode="reference", seed=12)
    assert images.shape[0] == 2 and "seeds 11..12" in report
    assert torch.allclose(latent["samples"][1:], second["samples"], atol=1e-5)
    assert torch.equal(images[:, :, :64], kit["canvas"][:, :, :64].expand(2, -1, -1, -1))


def test_reference_mode_on_a_fill_model_gives_it_the_references_as_clean_conditioning_too(kit):
    fill = kit["nodes"].UNETLoader().load_unet("flux1-fill-dev.safetensors", "default")[0]
    watcher = InputWatcher(fill)
    images, latent, report = run_sampler(kit, model=watcher.model, mode="reference", steps=4)
    encoded, _, _ = stock_masked(kit)
    clean = fill.model.process_latent_in(encoded["samples"])
    assert len(watcher.concat) == 4 and "Fill model: references also given as clean conditioning" in report
    assert watcher.concat[0][:, :16, :, :8].abs().mean() > 0.05  # the references in the Fill channels
    assert torch.equal(watcher.concat[0][:, 16:, :, :8], torch.zeros_like(watcher.concat[0][:, 16:, :, :8]))
    assert all(torch.equal(x[..., :8], clean[..., :8]) for x in watcher.inputs)  # and clean in the canvas
    assert torch.equal(images[:, :, :64], kit["canvas"][:, :, :64])


def tiny_global_modulation_flux():
    """A tiny Flux with FLUX.2's global modulation (0.33's FluxParams has it), as a ModelPatcher on the CPU."""
    import comfy.model_detection
    import comfy.model_patcher

    config = {"image_model": "flux", "in_channels": 16, "out_channels": 16, "patch_size": 2, "vec_in_dim": 8,
              "context_in_dim": 8, "hidden_size": 32, "mlp_ratio": 2.0, "num_heads": 2, "depth": 1,
              "depth_single_blocks": 1, "axes_dim": [4, 6, 6], "theta": 10000, "qkv_bias": True,
              "guidance_embed": False, "txt_ids_dims": [], "global_modulation": True}
    model_config = comfy.model_detection.model_config_from_unet_config(config)
    model_config.set_inference_dtype(torch.float32, None)
    model = model_config.get_model({}, "")
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for parameter in model.diffusion_model.parameters():  # ComfyUI's layers start at zero: give them values
            parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
    cpu = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(model, load_device=cpu, offload_device=cpu)


def test_reference_tokens_at_timestep_zero_where_the_host_has_it(kit):
    """ComfyUI 0.33's Flux takes `timestep_zero_index`, and it works where the modulation is global (FLUX.2's
    layout; FLUX.1's per-block modulation fails on it with a shape error); 0.3.64's Flux has neither. The pack
    detects the features; the test knows which host has them. FLUX.1 (the tiny FLUX.1-dev) is refused on both
    hosts with the fix; on 0.33 a tiny global-modulation Flux gets the reference tokens at timestep 0: the wrapper's
    token plumbing (outputs first, ids, unpatchify) reproduces the model when no token is a reference, and with
    references at timestep 0 the outputs differ while the references stay exact."""
    import comfyui_version
    from iclora_pack.nodes.core.errors import PanelInputError
    from iclora_pack.nodes.host.sampler import has_reference_timestep_zero

    assert not has_reference_timestep_zero(kit["model"])
    with pytest.raises(Exception) as caught:
        run_settings(kit, mode="reference", reference_timestep_zero=True)
    assert type(caught.value).__name__ == PanelInputError.__name__
    assert "global modulation (FLUX.2)" in str(caught.value) and "timestep_zero_index" in str(caught.value)
    if tuple(int(part) for part in comfyui_version.__version__.split(".")[:2]) < (0, 33):
        return  # 0.3.64: no global modulation, no timestep_zero_index
    patcher = tiny_global_modulation_flux()
    assert has_reference_timestep_zero(patcher)
    check_timestep_zero_plumbing(patcher.model.diffusion_model)
    from iclora_pack.nodes.host.sampler import SamplerSettings, make_noise, sample_latent

    generator = torch.Generator().manual_seed(6)
    latent = torch.randn(2, 16, 8, 16, generator=generator)
    mask = torch.ones(1, 1, 8, 16)
    mask[..., :8] = 0.0
    cond = [[torch.randn(1, 3, 8, generator=generator), {"pooled_output": torch.randn(1, 8, generator=generator)}]]
    noise = make_noise(latent, 3, 1)
    runs = {}
    for zero in (True, False, True):
        settings = SamplerSettings(mode="reference", seed=3, steps=5, reference_timestep_zero=zero)
        result = sample_latent(patcher, cond, cond, latent, noise, mask, settings)
        assert torch.equal(result.samples[..., :8], latent[..., :8]) and result.evaluations == 5
        if zero in runs:
            assert torch.equal(result.samples, runs[zero])  # deterministic
        runs[zero] = result.samples
    assert (runs[True][..., 8:] - runs[False][..., 8:]).abs().max() > 1e-4


def check_timestep_zero_plumbing(flux):
    from iclora_pack.nodes.host.sampler import reference_tokens_at_timestep_zero

    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 16, 8, 12, generator=generator)
    context = torch.randn(2, 5, flux.params.context_in_dim, generator=generator)
    y = torch.randn(2, flux.params.vec_in_dim, generator=generator)
    t = torch.tensor([0.7, 0.3])

    class Executor:
        class_obj = flux

        def __call__(self, *args, **kwargs):
            raise AssertionError("the wrapper must not fall back to the plain model here")

    with torch.no_grad():
        expected = flux._forward(x, t, context, y)
        far = [(10_000, 10_001)]  # past the last token: no reference token, but the timestep-0 path runs
        got = reference_tokens_at_timestep_zero(far)(Executor(), x, t, context, y)
        assert torch.allclose(got, expected, atol=1e-5)
        first = reference_tokens_at_timestep_zero([(0, 3)])(Executor(), x, t, context, y)
    assert (first - expected).abs().max() > 1e-4  # three reference tokens change the prediction


@pytest.mark.parametrize("overrides,message", [
    ({"mask": torch.zeros(1, 32, 32)}, "In-Context Sampler: the mask is 32x32 but the canvas is 128x64 (input 'mask')"),
    ({"mask": torch.zeros(1, 64, 128)}, "the mask has no output area"),
    ({"mask": torch.ones(1, 64, 128)}, "Use mode 'joint' for a text-only set"),
    ({"mode": "fill"}, "mode 'fill' needs a FLUX.1-Fill model (image input of 96 channels); this model takes 16"),
    ({"mode": "consistent", "mask": torch.ones(1, 64, 128)}, "mode 'consistent' has no reference to keep"),
    ({"mode": "masked", "mask": None, "layout": None}, "Connect the mask from Output Slot Mask or the layout"),
    ({"image": torch.rand(1, 64, 96, 3)}, "the canvas is 96x64 px but the layout describes a 128x64 px canvas"),
    ({"sampler_name": "nope"}, "(input 'sampler_name')"),
])
def test_bad_inputs_are_refused_with_the_node_input_and_fix(kit, overrides, message):
    from iclora_pack.nodes.core.errors import PanelInputError

    with pytest.raises(Exception) as caught:
        run_sampler(kit, **overrides)
    assert type(caught.value).__name__ == PanelInputError.__name__
    assert message in str(caught.value) and str(caught.value).startswith("In-Context Sampler: ")


def test_the_whole_pack_graph_validates_and_runs_with_progress_for_the_client(comfy):
    from test_pack_in_comfyui import concatenate_inputs, save_png, stock_flux_loaders
    from test_prompt_builder_in_comfyui import builder_inputs

    save_png(comfy.input_dir / "shot-1.png", 64, 64, seed=9)
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "shot-1.png"}},
        "2": {"class_type": "ICLoRA_PanelConcatenate",
              "inputs": concatenate_inputs(image_1=["1", 0], output_slots=2, arrangement="column")},
        "3": {"class_type": "ICLoRA_OutputSlotMask",
              "inputs": {"layout": ["2", 1], "panels": "", "grow": 0, "feather": 0, "invert": False}},
        "4": {"class_type": "ICLoRA_JointPromptBuilder", "inputs": builder_inputs(layout=["2", 1], clip=["12", 0])},
        "5": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["4", 1]}},
        "6": {"class_type": SAMPLER, "inputs": {
            "model": ["11", 0], "positive": ["4", 1], "negative": ["5", 0], "vae": ["10", 0], "image": ["2", 0],
            "mask": ["3", 0], "layout": ["2", 1], "mode": "harmonized", "seed": 3, "steps": 4, "cfg": 1.0,
            "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0, "resample_count": 2,
            "resample_fraction": 0.5, "reference_strength": 1.0, "seam_feather": 0, "paste_references": True,
            "paste_blend": 0, "batch_size": 2}},
        "7": {"class_type": "ICLoRA_PanelSplit", "inputs": {
            "image": ["6", 0], "layout": ["2", 1], "select": "output slots", "numbers": "", "undo_fit": False}},
        "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "iclora/story-set"}},
        **stock_flux_loaders(),
    }
    executor, server = comfy.run(prompt, client_id="browser")
    assert executor.success, executor.status_messages
    saved = list((comfy.output_dir / "iclora").glob("story-set_*.png"))
    assert len(saved) == 4  # 2 canvases x 2 output slots
    assert any(event == "executing" and data.get("node") == "6" for event, data in server.messages)
