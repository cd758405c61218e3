"""In-context sampling on ComfyUI's own machinery (imports ComfyUI; node modules and benchmarks only).

Every mode runs through `comfy.sample.sample_custom` with ComfyUI's sampler function for the chosen name and the
sigmas `KSampler` would use, so masked mode computes exactly what `SetLatentNoiseMask` + `KSampler` compute. The
sampler function is wrapped to count model evaluations (progress bar, live previews, cost report), to stop
promptly on Cancel, and, in harmonized mode, to resample the early steps.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import comfy.model_management
import comfy.model_sampling
import comfy.patcher_extension
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
import node_helpers
import torch

from ..core.errors import PanelInputError, kind_of
from ..core.fitting import require_image
from ..core.layout import PanelLayout, check_canvas_size
from ..core.masks import slot_mask
from ..core.sampling_math import (
    MODES,
    harmonized_steps,
    noise_estimate,
    paste_references,
    paste_weight,
    planned_step_count,
    reference_input,
    reference_soft_mask,
    reference_token_slices,
    refined_steps,
    renoise,
    seam_mask,
)
from .model_family import check_canvas_fits_model

SAMPLER_NODE = "In-Context Sampler"
FILL_IN_CHANNELS = 96  # FLUX.1-Fill: 16 latent + 16 masked-image latent + 64 packed mask channels


class _CountingModel:
    """Stands in for the denoiser a sampler function calls: counts and reports each evaluation."""

    def __init__(self, model, on_evaluation):
        self._model = model
        self._on_evaluation = on_evaluation

    def __call__(self, x, sigma, **kwargs):
        comfy.model_management.throw_exception_if_processing_interrupted()
        denoised = self._model(x, sigma, **kwargs)
        self._on_evaluation(denoised, x)
        return denoised

    def __getattr__(self, name):
        return getattr(self._model, name)


class _ConsistentReferences:
    """Stands in for ComfyUI's `KSamplerX0Inpaint` in consistent mode (and counts evaluations).

    Stock masked sampling re-noises the references with the fixed starting noise at every step, so the noisy
    references say nothing about where the generated panels are heading, and the model predicts the outputs from a
    blurred view of the references: outputs drift. Here the references are re-noised with the noise the model
    itself last estimated in them (`noise_estimate`), the clean reference stays exactly the user's, and the model's
    prediction of the kept region is replaced by it, as stock does. Same single evaluation per step; the first
    `refine` steps may take one extra evaluation that re-estimates that noise before the step.
    """

    def __init__(self, model_k, flow: bool, refine_above: float, on_evaluation, guidance: float = 1.0):
        self._k = model_k
        self._guidance = guidance
        self._flow = flow
        self._refine_above = refine_above
        self._on_evaluation = on_evaluation
        self._noise = None

    def _evaluate(self, x, sigma, model_options, seed):
        comfy.model_management.throw_exception_if_processing_interrupted()
        denoised = self._k.inner_model(x, sigma, model_options=model_options, seed=seed)
        self._on_evaluation(denoised, x)
        return denoised

    def __call__(self, x, sigma, denoise_mask=None, model_options={}, seed=None):  # noqa: B006 (ComfyUI's call)
        if denoise_mask is None:
            return self._evaluate(x, sigma, model_options, seed)
        if "denoise_mask_function" in model_options:
            denoise_mask = model_options["denoise_mask_function"](
                sigma, denoise_mask, extra_options={"model": self._k.inner_model, "sigmas": self._k.sigmas})
        keep = 1.0 - denoise_mask
        clean = self._k.latent_image
        base = self._k.inner_model.inner_model
        passes = 2 if float(sigma.max()) > self._refine_above else 1
        if passes == 2 and self._guidance != 1.0:
            return self._guided(x, sigma, denoise_mask, keep, model_options, seed)
        for _ in range(passes):
            noise = self._k.noise if self._noise is None else self._noise
            x_in = x * denoise_mask + base.scale_latent_inpaint(x=x, sigma=sigma, noise=noise,
                                                                latent_image=clean) * keep
            denoised = self._evaluate(x_in, sigma, model_options, seed)
            if float(sigma.min()) > 0.0:
                self._noise = noise_estimate(x_in, denoised, sigma, self._flow)
        return denoised * denoise_mask + clean * keep

    def _guided(self, x, sigma, denoise_mask, keep, model_options, seed):
        """Reference guidance: the step's prediction with the references visible, pushed away from the one with
        the references hidden (pure noise at this level), by `guidance`; like image guidance in InstructPix2Pix."""
        clean = self._k.latent_image
        base = self._k.inner_model.inner_model
        noise = self._k.noise if self._noise is None else self._noise
        x_in = x * denoise_mask + base.scale_latent_inpaint(x=x, sigma=sigma, noise=noise, latent_image=clean) * keep
        hidden = x * denoise_mask + base.scale_latent_inpaint(x=x, sigma=sigma, noise=noise,
                                                              latent_image=torch.zeros_like(clean)) * keep
        seen = self._evaluate(x_in, sigma, model_options, seed)
        blind = self._evaluate(hidden, sigma, model_options, seed)
        if float(sigma.min()) > 0.0:
            self._noise = noise_estimate(x_in, seen, sigma, self._flow)
        guided = blind + self._guidance * (seen - blind)
        return guided * denoise_mask + clean * keep

    def __getattr__(self, name):
        return getattr(self._k, name)


class _CleanReferences:
    """Stands in for ComfyUI's `KSamplerX0Inpaint` in reference mode (and counts evaluations).

    The contract of the pack's trainer with references: the reference region of the canvas holds the clean
    reference latent while the outputs are noised, one noise level for the sample. So at every step the model sees
    the clean references (never re-noised) next to the current outputs, once; its prediction of the references is
    replaced by the references themselves, as stock does for kept regions."""

    def __init__(self, model_k, on_evaluation):
        self._k = model_k
        self._on_evaluation = on_evaluation

    def __call__(self, x, sigma, denoise_mask=None, model_options={}, seed=None):  # noqa: B006 (ComfyUI's call)
        comfy.model_management.throw_exception_if_processing_interrupted()
        if denoise_mask is None:
            denoised = self._k.inner_model(x, sigma, model_options=model_options, seed=seed)
            self._on_evaluation(denoised, x)
            return denoised
        if "denoise_mask_function" in model_options:
            denoise_mask = model_options["denoise_mask_function"](
                sigma, denoise_mask, extra_options={"model": self._k.inner_model, "sigmas": self._k.sigmas})
        clean = self._k.latent_image
        x_in = reference_input(x, clean, denoise_mask)
        denoised = self._k.inner_model(x_in, sigma, model_options=model_options, seed=seed)
        self._on_evaluation(denoised, x_in)
        return reference_input(denoised, clean, denoise_mask)

    def __getattr__(self, name):
        return getattr(self._k, name)


def has_reference_timestep_zero(model) -> bool:
    """Whether the host's diffusion model can modulate some image tokens at timestep 0: ComfyUI's Flux
    `forward_orig(..., timestep_zero_index=...)` (0.33 and later), which works only where the modulation is global
    (`params.global_modulation`, FLUX.2's layout); FLUX.1's per-block modulation fails on it with a shape error.
    Detected by these features, not by a version."""
    diffusion = getattr(getattr(model, "model", None), "diffusion_model", None)
    forward_orig = getattr(type(diffusion), "forward_orig", None)
    if forward_orig is None or not hasattr(diffusion, "process_img"):
        return False
    if not getattr(getattr(diffusion, "params", None), "global_modulation", False):
        return False
    return "timestep_zero_index" in inspect.signature(forward_orig).parameters


def reference_tokens_at_timestep_zero(token_slices: list[tuple[int, int]]):
    """A DIFFUSION_MODEL wrapper for ComfyUI's Flux that modulates the canvas tokens in `token_slices` (the clean
    references) with timestep 0 and the rest with the sample's timestep, as OminiControl trains and ComfyUI does
    for Kontext references with `index_timestep_zero`. The tokens are ordered outputs first, references last (their
    positions stay in their ids), so the host's single-stream blocks modulate the text with the outputs' timestep;
    the output comes back in canvas order."""

    def wrapper(executor, x, timestep, context, y=None, guidance=None, ref_latents=None, control=None,
                transformer_options={}, **kwargs):  # noqa: B006 (ComfyUI's call)
        if not token_slices or ref_latents is not None or control is not None:
            return executor(x, timestep, context, y, guidance, ref_latents, control, transformer_options, **kwargs)
        flux = executor.class_obj
        batch, _, height, width = x.shape
        patch = flux.patch_size
        img, img_ids = flux.process_img(x, transformer_options=transformer_options)
        count = img.shape[1]
        is_reference = torch.zeros(count, dtype=torch.bool)
        for start, end in token_slices:
            is_reference[start:min(end, count)] = True
        order = torch.cat([(~is_reference).nonzero()[:, 0], is_reference.nonzero()[:, 0]]).to(img.device)
        outputs = int((~is_reference).sum())
        txt_ids = torch.zeros((batch, context.shape[1], len(flux.params.axes_dim)), device=x.device,
                              dtype=torch.float32)
        for i in getattr(flux.params, "txt_ids_dims", ()):
            txt_ids[:, :, i] = torch.linspace(0, context.shape[1] - 1, steps=context.shape[1], device=x.device)
        twice = lambda t: None if t is None else torch.cat([t, t])  # noqa: E731 (one row per modulation)
        out = flux.forward_orig(img[:, order], img_ids[:, order], context, txt_ids,
                                torch.cat([timestep, timestep * 0]), twice(y), twice(guidance), None,
                                timestep_zero_index=[[outputs, count]], transformer_options=transformer_options,
                                attn_mask=kwargs.get("attention_mask", None))
        out = out[:, torch.argsort(order)]
        rows, cols = (height + patch // 2) // patch, (width + patch // 2) // patch
        out = out.reshape(batch, rows, cols, -1, patch, patch).permute(0, 3, 1, 4, 2, 5)
        return out.reshape(batch, -1, rows * patch, cols * patch)[:, :, :height, :width]

    return wrapper


def is_flow_model(model) -> bool:
    return isinstance(model.get_model_object("model_sampling"), comfy.model_sampling.CONST)


def is_fill_model(model) -> bool:
    return model.model.model_config.unet_config.get("in_channels") == FILL_IN_CHANNELS


def make_sampler(sampler_name: str, mode: str, repeats: int, fraction: float, flow: bool, seed: int,
                 on_evaluation, refine_above: float = float("inf"), guidance: float = 1.0) -> comfy.samplers.KSAMPLER:
    """ComfyUI's sampler for `sampler_name`, counted; in harmonized mode each of the first steps is taken
    `repeats` times, renoising the whole canvas back up between takes (RePaint-style resampling); in consistent
    mode the references are re-noised with the model's own noise estimate (`_ConsistentReferences`)."""
    base = comfy.samplers.sampler_object(sampler_name)

    def run(model, x, sigmas, extra_args=None, callback=None, disable=None, **options):
        if mode == "consistent":
            counted = _ConsistentReferences(model, flow, refine_above, on_evaluation, guidance)
        elif mode == "reference":
            counted = _CleanReferences(model, on_evaluation)
        else:
            counted = _CountingModel(model, on_evaluation)
        extra_args = dict(extra_args or {})

        def step(x_in, step_sigmas, step_seed):
            return base.sampler_function(counted, x_in, step_sigmas, extra_args={**extra_args, "seed": step_seed},
                                         callback=None, disable=True, **options)

        if mode != "harmonized":
            return step(x, sigmas, extra_args.get("seed", seed))
        resampled = harmonized_steps(len(sigmas) - 1, fraction)
        generator = torch.Generator().manual_seed(seed + 1)
        for i in range(resampled):
            for take in range(repeats):
                x_next = step(x, sigmas[i:i + 2], seed + i * repeats + take)
                if take < repeats - 1:
                    fresh = torch.randn(x.shape, generator=generator).to(device=x.device, dtype=x.dtype)
                    x = renoise(x_next, float(sigmas[i + 1]), float(sigmas[i]), fresh, flow)
            x = x_next
        if resampled < len(sigmas) - 1:
            x = step(x, sigmas[resampled:], seed + resampled * repeats)
        return x

    return comfy.samplers.KSAMPLER(run, extra_options=base.extra_options, inpaint_options=base.inpaint_options)


def make_noise(latent: torch.Tensor, seed: int, batch_size: int) -> torch.Tensor:
    """Stock noise for one run; for `batch_size` runs, run i gets seed + i, so each is reproducible alone."""
    if batch_size == 1:
        return comfy.sample.prepare_noise(latent, seed)
    return torch.cat([comfy.sample.prepare_noise(latent, seed + i) for i in range(batch_size)])


@dataclass(frozen=True)
class SamplerSettings:
    """Every setting of one In-Context Sampler run, passed by name from the node (and the benchmarks)."""

    mode: str = "masked"
    seed: int = 0
    steps: int = 20
    cfg: float = 1.0
    sampler_name: str = "euler"
    scheduler: str = "simple"
    denoise: float = 1.0
    resample_count: int = 3
    resample_fraction: float = 1.0
    refine_fraction: float = 0.0
    reference_guidance: float = 1.0
    reference_strength: float = 1.0
    seam_feather: int = 0
    paste_references: bool = True
    paste_blend: int = 0
    batch_size: int = 1
    reference_timestep_zero: bool = False  # reference mode: reference tokens modulated at timestep 0 (host feature)


@dataclass
class LatentResult:
    samples: torch.Tensor
    evaluations: int


def sample_latent(model, positive, negative, latent: torch.Tensor, noise: torch.Tensor,
                  noise_mask: torch.Tensor | None, settings: SamplerSettings,
                  soft_references: bool = False) -> LatentResult:
    """Sample `latent` (`[B, C, h, w]`) with `noise`; `noise_mask` 1 = generate, 0 = keep, as ComfyUI defines it."""
    latent = comfy.sample.fix_empty_latent_channels(model, latent)
    if soft_references:
        from comfy_extras.nodes_differential_diffusion import DifferentialDiffusion

        model = model.clone()
        model.set_model_denoise_mask_function(
            lambda sigma, denoise_mask, extra_options: DifferentialDiffusion.forward(
                sigma, denoise_mask, extra_options, strength=1.0))
    s = settings
    sigmas = comfy.samplers.KSampler(model, steps=s.steps, device=model.load_device, sampler=s.sampler_name,
                                     scheduler=s.scheduler, denoise=s.denoise,
                                     model_options=model.model_options).sigmas
    steps = len(sigmas) - 1
    planned = planned_step_count(steps, s.mode, s.resample_count, s.resample_fraction, s.refine_fraction)
    preview = latent_preview.prepare_callback(model, planned)
    evaluations = 0

    def on_evaluation(denoised, x):
        nonlocal evaluations
        evaluations += 1
        preview(evaluations - 1, denoised, x, max(planned, evaluations))

    if steps <= 0:  # denoise 0: nothing to do, as KSampler
        return LatentResult(latent, 0)
    latent_mask = None if noise_mask is None else comfy.utils.reshape_mask(noise_mask, latent.shape)
    if s.mode == "reference" and s.reference_timestep_zero and latent_mask is not None:
        model = _with_reference_timestep_zero(model, latent_mask)
    refined = refined_steps(steps, s.refine_fraction)
    refine_above = float(sigmas[refined]) if refined > 0 else float("inf")
    sampler = make_sampler(s.sampler_name, s.mode, s.resample_count, s.resample_fraction, is_flow_model(model),
                           s.seed, on_evaluation, refine_above=refine_above, guidance=s.reference_guidance)
    samples = comfy.sample.sample_custom(model, noise, s.cfg, sampler, sigmas, positive, negative, latent,
                                         noise_mask=noise_mask, callback=None, disable_pbar=True, seed=s.seed)
    if s.mode == "reference" and latent_mask is not None and not soft_references:
        # the last step lands on the references only up to rounding (x - (x - x0)): put them back exactly
        samples = reference_input(samples, latent.to(samples), latent_mask.to(samples))
    return LatentResult(samples, evaluations)


def _with_reference_timestep_zero(model, latent_mask: torch.Tensor):
    if not has_reference_timestep_zero(model):
        raise PanelInputError(SAMPLER_NODE, "references_at_timestep_zero", "reference tokens at timestep 0 need a "
                              "Flux model with global modulation (FLUX.2) on a ComfyUI whose Flux takes "
                              "timestep_zero_index (0.33 or newer)",
                              "Turn references_at_timestep_zero off: every token at the sample's timestep.")
    kept_everywhere = latent_mask[:, 0].amax(0)  # a token is a reference only where every canvas keeps it
    slices = reference_token_slices(kept_everywhere, model.model.diffusion_model.patch_size)
    model = model.clone()
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "iclora_reference_t0",
                               reference_tokens_at_timestep_zero(slices))
    return model


def _fill_conditioning(positive, negative, vae, pixels: torch.Tensor, mask: torch.Tensor):
    """What InpaintModelConditioning adds for a Fill model: the canvas with the output slots greyed out, and the
    mask, so the model sees the references as clean conditioning."""
    keep = (1.0 - mask.round())[..., None]
    greyed = (pixels - 0.5) * keep + 0.5
    concat = vae.encode(greyed)
    values = {"concat_latent_image": concat, "concat_mask": mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1])}
    return (node_helpers.conditioning_set_values(positive, values),
            node_helpers.conditioning_set_values(negative, values))


def _canvas_mask(image: torch.Tensor, mask: torch.Tensor | None, layout: PanelLayout | None, seam_feather: int,
                 mode: str) -> torch.Tensor | None:
    height, width = int(image.shape[1]), int(image.shape[2])
    if layout is not None:
        check_canvas_size(layout, height, width, SAMPLER_NODE, "image")
    if mask is None:
        if layout is None:
            if mode == "joint":
                return None
            raise PanelInputError(SAMPLER_NODE, "mask", f"mode '{mode}' needs to know which panels to generate",
                                  "Connect the mask from Output Slot Mask or the layout from Panel Concatenate.")
        if not layout.output_panels:
            raise PanelInputError(SAMPLER_NODE, "layout", "the layout has no output slots to generate",
                                  "Set output_slots in Panel Concatenate, or connect a mask.")
        return slot_mask(layout, feather=seam_feather)
    if mask.ndim == 2:
        mask = mask[None]
    if tuple(mask.shape[-2:]) != (height, width):
        raise PanelInputError(SAMPLER_NODE, "mask", f"the mask is {mask.shape[-1]}x{mask.shape[-2]} but the canvas "
                              f"is {width}x{height}", "Connect the mask Output Slot Mask made for this canvas.")
    if mask.shape[0] not in (1, image.shape[0]):
        raise PanelInputError(SAMPLER_NODE, "mask", f"the mask batch ({mask.shape[0]}) does not match the canvas "
                              f"batch ({image.shape[0]})", "Use one mask, or one per canvas.")
    return seam_mask(mask, seam_feather)


@dataclass
class SamplerResult:
    images: torch.Tensor
    latent: dict
    report: str


def run_in_context_sampler(*, model, positive, negative, vae, image: torch.Tensor, mask: torch.Tensor | None = None,
                           layout: PanelLayout | None = None, settings: SamplerSettings) -> SamplerResult:
    """Encode the canvas, sample it in `settings.mode`, decode, and paste the user's reference pixels back."""
    _check_settings(settings=settings, image=image, mask=mask)
    check_canvas_fits_model(node=SAMPLER_NODE, model=model, vae=vae, image=image, layout=layout)
    pixel_mask = _output_mask(image=image, mask=mask, layout=layout, settings=settings)
    fill_model = _check_model(model=model, mode=settings.mode)
    pixels = image[..., :3]
    latent = _encode(vae=vae, pixels=pixels)
    if settings.mode == "fill" or (settings.mode in ("consistent", "reference") and fill_model):
        positive, negative = _fill_conditioning(positive, negative, vae, pixels, pixel_mask)
    latent_batch, noise, noise_mask, soft = _sampling_inputs(latent=latent, pixel_mask=pixel_mask, settings=settings)
    result = sample_latent(model, positive, negative, latent_batch, noise, noise_mask, settings, soft)
    images, pasted = _decode_and_paste(vae=vae, samples=result.samples, pixels=pixels, pixel_mask=pixel_mask,
                                       settings=settings, soft=soft)
    report = _report(settings=settings, evaluations=result.evaluations, fill_model=fill_model, pasted=pasted,
                     soft=soft)
    return SamplerResult(images, {"samples": result.samples}, report)


def _check_settings(*, settings: SamplerSettings, image: torch.Tensor, mask: torch.Tensor | None) -> None:
    s = settings
    if s.mode not in MODES:
        raise PanelInputError(SAMPLER_NODE, "mode", f"'{s.mode}' is not a mode", f"Choose one of {', '.join(MODES)}.")
    for name, value, options in (("sampler_name", s.sampler_name, comfy.samplers.KSampler.SAMPLERS),
                                 ("scheduler", s.scheduler, comfy.samplers.KSampler.SCHEDULERS)):
        if value not in options:
            raise PanelInputError(SAMPLER_NODE, name, f"'{value}' is not available", "Pick one from the list.")
    if s.steps < 1:
        raise PanelInputError(SAMPLER_NODE, "steps", f"{s.steps} steps cannot sample anything", "Use 1 or more.")
    if s.reference_timestep_zero and s.mode != "reference":
        raise PanelInputError(SAMPLER_NODE, "references_at_timestep_zero", f"mode '{s.mode}' keeps no clean "
                              "reference tokens to modulate at timestep 0", "Use mode 'reference', or turn "
                              "references_at_timestep_zero off.")
    if s.mode == "harmonized" and s.resample_count < 1:
        raise PanelInputError(SAMPLER_NODE, "resample_count",
                              f"resample_count is {s.resample_count}; it must be at least 1",
                              "Use 1 (no resampling) or more.")
    require_image(image, SAMPLER_NODE, "image", "the canvas from Panel Concatenate")
    if mask is not None and not isinstance(mask, torch.Tensor):
        raise PanelInputError(SAMPLER_NODE, "mask", f"got {kind_of(mask)} instead of a mask",
                              "Connect the mask output of Output Slot Mask.")
    if image.ndim != 4 or image.shape[1] % 8 or image.shape[2] % 8:
        raise PanelInputError(SAMPLER_NODE, "image", f"expected an IMAGE whose sides are multiples of 8, got shape "
                              f"{list(image.shape)}", "Connect the canvas from Panel Concatenate.")


def _output_mask(*, image: torch.Tensor, mask: torch.Tensor | None, layout: PanelLayout | None,
                 settings: SamplerSettings) -> torch.Tensor | None:
    """The pixel mask of the panels to generate (None in joint mode without one), refused when it keeps nothing
    or generates nothing in a mode that keeps references."""
    mode = settings.mode
    pixel_mask = _canvas_mask(image, mask, layout, settings.seam_feather, mode)
    if mode != "joint":
        if float(pixel_mask.max()) <= 0.0:
            raise PanelInputError(SAMPLER_NODE, "mask", "the mask has no output area: nothing would be generated",
                                  "Connect Output Slot Mask with output slots (or choose the panels to generate).")
        if float(pixel_mask.min()) >= 1.0:
            raise PanelInputError(SAMPLER_NODE, "mask", f"the mask covers the whole canvas, so mode '{mode}' has no "
                                  "reference to keep", "Use mode 'joint' for a text-only set.")
    return pixel_mask


def _check_model(*, model, mode: str) -> bool:
    """Whether `model` is a FLUX.1-Fill model; refuses fill mode on any other."""
    fill_model = is_fill_model(model)
    if mode == "fill" and not fill_model:
        in_channels = model.model.model_config.unet_config.get("in_channels")
        raise PanelInputError(SAMPLER_NODE, "model", f"mode 'fill' needs a FLUX.1-Fill model (image input of "
                              f"{FILL_IN_CHANNELS} channels); this model takes {in_channels}",
                              "Load flux1-fill-dev, or use mode 'reference', 'consistent' or 'masked' with this "
                              "model.")
    return fill_model


def _encode(*, vae, pixels: torch.Tensor) -> torch.Tensor:
    latent = vae.encode(pixels)
    one_frame = latent.ndim == 5 and latent.shape[2] == 1  # video VAEs (Wan 2.1: Qwen-Image, Cosmos) make 1 frame
    if latent.ndim != 4 and not one_frame:
        raise PanelInputError(SAMPLER_NODE, "vae", f"the VAE made a {latent.ndim - 2}-D latent, not an image "
                              "latent", "Use the image VAE that goes with the model (FLUX: ae.safetensors).")
    return latent


def _sampling_inputs(*, latent: torch.Tensor, pixel_mask: torch.Tensor | None, settings: SamplerSettings):
    """The latent batch, its noise (seed + i for canvas i), ComfyUI's noise mask (None in joint mode) and whether
    the references are soft (re-rendered with reference_strength < 1)."""
    s = settings
    noise_mask = None
    soft = s.mode != "joint" and s.reference_strength < 1.0
    if s.mode != "joint":
        sampling_mask = reference_soft_mask(pixel_mask, s.reference_strength) if soft else pixel_mask
        noise_mask = sampling_mask.reshape(-1, 1, sampling_mask.shape[-2], sampling_mask.shape[-1])
        if s.batch_size > 1 and noise_mask.shape[0] > 1:
            noise_mask = noise_mask.repeat(s.batch_size, 1, 1, 1)
    noise = make_noise(latent, s.seed, s.batch_size)
    latent_batch = latent.repeat(s.batch_size, *[1] * (latent.ndim - 1)) if s.batch_size > 1 else latent
    return latent_batch, noise, noise_mask, soft


def _decode_and_paste(*, vae, samples: torch.Tensor, pixels: torch.Tensor, pixel_mask: torch.Tensor | None,
                      settings: SamplerSettings, soft: bool) -> tuple[torch.Tensor, bool]:
    """Decoded canvases with the user's reference pixels pasted back where the settings ask for it."""
    s = settings
    decoded = vae.decode(samples)
    if decoded.ndim == 5:
        decoded = decoded.reshape(-1, decoded.shape[-3], decoded.shape[-2], decoded.shape[-1])
    pasted = s.mode != "joint" and s.paste_references and not soft
    if pasted:
        original = pixels.repeat(s.batch_size, 1, 1, 1) if s.batch_size > 1 else pixels
        weight = paste_weight(pixel_mask, s.paste_blend)
        if s.batch_size > 1 and weight.shape[0] > 1:
            weight = weight.repeat(s.batch_size, 1, 1)
        decoded = paste_references(decoded, original.to(decoded.device), weight.to(decoded.device))
    return decoded, pasted


def _report(*, settings: SamplerSettings, evaluations: int, fill_model: bool, pasted: bool, soft: bool) -> str:
    s = settings
    mode = s.mode
    parts = [f"mode {mode}: {evaluations} model evaluations for {s.steps} steps"]
    if mode == "harmonized":
        parts.append(f"first {harmonized_steps(s.steps, s.resample_fraction)} steps taken {s.resample_count}x")
    if mode == "consistent" and refined_steps(s.steps, s.refine_fraction):
        parts.append(f"first {refined_steps(s.steps, s.refine_fraction)} steps refined once")
    if mode == "reference":
        parts.append("references clean at every step" + (", their tokens modulated at timestep 0"
                                                          if s.reference_timestep_zero else ""))
    if mode in ("consistent", "reference") and fill_model:
        parts.append("Fill model: references also given as clean conditioning")
    if s.batch_size > 1:
        parts.append(f"batch of {s.batch_size} (seeds {s.seed}..{s.seed + s.batch_size - 1})")
    if mode != "joint":
        parts.append("references pasted back pixel-exact" if pasted else
                     "references re-rendered (reference_strength < 1)" if soft else "references as decoded")
    return "; ".join(parts)
