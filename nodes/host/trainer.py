"""Training an in-context LoRA on ComfyUI (imports ComfyUI; the trainer node and benchmarks only).

The LoRA is built from ComfyUI's own adapters (`comfy.weight_adapter`, as stock Train LoRA builds it), so the
state dict is what Save LoRA Weights writes and every stock loader reads. The model runs through ComfyUI's own
guider and conditioning (`Guider_Basic`, or 0.33's `TrainGuider`), as stock Train LoRA does; what differs is the
loop (`InContextTrainSampler`): each example with its own caption, flow matching's velocity target, the noise
levels, set order and noise from one seeded generator (`core.training.TrainingDraws`), references kept clean with
the loss on the other panels, and checkpointing that keeps the gradients right (`checkpoint_module`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import comfy.conds
import comfy.model_management
import comfy.model_sampling
import comfy.patcher_extension
import comfy.samplers
import comfy.sd
import comfy.utils
import comfy_extras.nodes_custom_sampler
import comfy_extras.nodes_train as stock_train
import folder_paths
import node_helpers
import torch
import torch.utils.checkpoint
from comfy.weight_adapter import adapter_maps, adapters

from ..core.errors import PanelInputError, kind_of
from ..core.layout import PanelLayout
from ..core.masks import slot_mask
from ..core.sampling_math import reference_token_slices
from ..core.training import (
    DISTRIBUTIONS,
    LOSS_WEIGHTINGS,
    OBJECTIVE_JOINT,
    OBJECTIVE_MIXED,
    OBJECTIVE_REFERENCES,
    OBJECTIVE_TOKENS,
    OBJECTIVES,
    REFERENCE_RULES,
    TRAINER_NODE,
    TrainingDraws,
    check_layout_fits,
    flux_shift_mu,
    latent_token_count,
    masked_velocity_loss,
    noisy_canvas,
    reference_masks,
    split_for_reference_tokens,
    velocity_from_denoised,
    velocity_target,
    weigh_velocities,
)
from .model_family import family_name, latent_downscale, patch_size, reads_reference_latents
from .sampler import has_reference_timestep_zero, reference_tokens_at_timestep_zero

log = logging.getLogger(__name__)

OPTIMIZERS = ("AdamW", "Adam", "SGD", "RMSprop")
DTYPES = ("bf16", "fp32")
NO_LORA = "[None]"


# ---------------------------------------------------------------------------------------------- checkpointing


def _fresh(value):
    return value.clone() if torch.is_tensor(value) else value


def _clone_inputs(module, args, kwargs):
    return tuple(map(_fresh, args)), {k: _fresh(v) for k, v in kwargs.items()}


def checkpoint_module(module: torch.nn.Module, checkpoint: bool = True) -> None:
    """Make `module` train with right gradients, checkpointed or not. FLUX blocks add to tensors in place that a
    layer saved for the backward pass (`txt += ...` after `txt_norm1(txt)`, and the block's own input).

    Every layer inside clones what it is given, so nothing it saves is changed afterwards, and the module's inputs
    are cloned on entry. Uncheckpointed, autograd's version check then guarantees the gradients (stock Train LoRA
    without checkpointing stops with autograd's in-place error); `checkpoint` recomputes the module in the
    backward pass (`torch.utils.checkpoint`), from the input it really got and without the recompute changing
    what it saved, which gives the same gradients. Stock Train LoRA's checkpointing has neither: its FLUX
    gradients come out wrong. `unwrap` (or stock `nodes_train.unpatch`) restores the module."""
    forward = module.forward

    def run(*args, **kwargs):
        return forward(*map(_fresh, args), **{k: _fresh(v) for k, v in kwargs.items()})

    def checkpointed(*args, **kwargs):
        return torch.utils.checkpoint.checkpoint(run, *args, use_reentrant=False, **kwargs)

    module.org_forward = forward
    module.forward = checkpointed if checkpoint else run
    module._iclora_hooks = [m.register_forward_pre_hook(_clone_inputs, with_kwargs=True)
                            for m in module.modules() if m is not module and not any(m.children())]


def unwrap(module: torch.nn.Module) -> None:
    for hook in getattr(module, "_iclora_hooks", ()):
        hook.remove()
    if hasattr(module, "_iclora_hooks"):
        del module._iclora_hooks
    if hasattr(module, "org_forward"):
        module.forward = module.org_forward
        del module.org_forward


def blocks_to_wrap(diffusion_model: torch.nn.Module) -> list[torch.nn.Module]:
    """The modules stock Train LoRA checkpoints: the highest ones with a forward (FLUX: each block, the input and
    output layers)."""
    return stock_train.find_all_highest_child_module_with_forward(diffusion_model)


# ---------------------------------------------------------------------------------------------- model facts


def is_flow_model(model) -> bool:
    return isinstance(model.get_model_object("model_sampling"), comfy.model_sampling.CONST)


def is_fill_model(model) -> bool:
    """FLUX.1-Fill and kin: the image input takes the latent, a masked-image latent and a packed mask."""
    diffusion = getattr(model.model, "diffusion_model", None)
    img_in = getattr(diffusion, "img_in", None)
    patch = getattr(diffusion, "patch_size", None)
    if img_in is None or patch is None:
        return False
    out_channels = model.model.model_config.unet_config.get("out_channels", 16)
    return img_in.weight.shape[1] // (patch * patch) > 2 * out_channels


# ---------------------------------------------------------------------------------------------- the LoRA


def load_existing_lora(name: str) -> tuple[dict, int]:
    """The weights of a LoRA from the loras folder to continue training, and the steps its name records
    (`..._<steps>_steps_...` as Save LoRA Weights names it; 0 otherwise)."""
    if name == NO_LORA:
        return {}, 0
    path = folder_paths.get_full_path("loras", name)
    if path is None:
        raise PanelInputError(TRAINER_NODE, "existing_lora", f"'{name}' is not in the loras folder",
                              "Copy the file from output/loras to models/loras, or choose [None].")
    steps = 0
    if "_steps_" in name:
        head = name.split("_steps_")[0].split("_")[-1]
        steps = int(head) if head.isdigit() else 0
    return comfy.utils.load_torch_file(path), steps


class BiasDiff(stock_train.BiasDiff):
    """Stock Train LoRA's trainable difference for biases and 1-D weights (saved as `.diff_b` / `.diff`)."""


def add_lora_adapters(patcher, existing: dict, algorithm: str, rank: int, dtype: torch.dtype,
                      seed: int) -> tuple[dict, list]:
    """Put a trainable adapter on every weight ComfyUI lets a LoRA patch, exactly as stock Train LoRA does (so the
    file is the same kind), continuing `existing` where it has the key. The adapters' random init (which uses
    torch's global generator) is seeded with `seed` without disturbing anyone else's random state."""
    lora_sd: dict[str, torch.nn.Parameter] = {}
    modules = []
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        for name, module in patcher.model.named_modules():
            if not hasattr(module, "weight_function"):
                continue
            if module.weight is not None:
                key = f"{name}.weight"
                if module.weight.ndim >= 2:
                    alpha = float(existing.get(f"{key}.alpha", 1.0))
                    dora_scale = existing.get(f"{key}.dora_scale")
                    loaded = None
                    for adapter_cls in adapters:
                        loaded = adapter_cls.load(name, existing, alpha, dora_scale)
                        if loaded is not None:
                            break
                    if loaded is not None:
                        adapter = loaded.to_train().to(dtype)
                    else:
                        adapter = adapter_maps[algorithm].create_train(module.weight, rank=rank, alpha=1.0).to(dtype)
                    adapter.train().requires_grad_(True)
                    for pname, parameter in adapter.named_parameters():
                        lora_sd[f"{name}.{pname}"] = parameter
                else:
                    diff = torch.nn.Parameter(torch.zeros(module.weight.shape, dtype=dtype, requires_grad=True))
                    adapter = BiasDiff(diff)
                    lora_sd[f"{name}.diff"] = diff
                patcher.add_weight_wrapper(key, adapter)
                modules.append(adapter)
            if getattr(module, "bias", None) is not None:
                bias = torch.nn.Parameter(torch.zeros(module.bias.shape, dtype=dtype, requires_grad=True))
                adapter = BiasDiff(bias)
                lora_sd[f"{name}.diff_b"] = bias
                patcher.add_weight_wrapper(f"{name}.bias", adapter)
                modules.append(adapter)
    return lora_sd, modules


def make_optimizer(name: str, parameters, learning_rate: float) -> torch.optim.Optimizer:
    kinds = {"AdamW": torch.optim.AdamW, "Adam": torch.optim.Adam, "SGD": torch.optim.SGD,
             "RMSprop": torch.optim.RMSprop}
    return kinds[name](parameters, lr=learning_rate)


# ---------------------------------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class TrainerSettings:
    """Every setting of one run, passed by name from the node (and the benchmarks)."""

    objective: str = OBJECTIVES[0]
    references: str = REFERENCE_RULES[0]
    timesteps: str = DISTRIBUTIONS[0]
    batch_size: int = 1
    grad_accumulation_steps: int = 1
    steps: int = 16
    learning_rate: float = 5e-4
    rank: int = 8
    optimizer: str = "AdamW"
    seed: int = 0
    training_dtype: str = "bf16"
    lora_dtype: str = "bf16"
    algorithm: str = "LoRA"
    gradient_checkpointing: bool = True
    existing_lora: str = NO_LORA
    loss_weighting: str = LOSS_WEIGHTINGS[0]
    references_at_timestep_zero: bool = False
    """Clean reference panels modulated at timestep 0 (OminiControl's recipe): FLUX.2-style models (global
    modulation) on a ComfyUI whose Flux takes timestep_zero_index; sample with the same setting."""


class FillReferences:
    """For a FLUX Fill model: the references also go in through the Fill conditioning, as the sampler's fill
    mode gives them (InpaintModelConditioning's canvas with the generated panels greyed out, and the mask)."""

    def __init__(self, raw_latents: torch.Tensor, grey: torch.Tensor, layout: PanelLayout):
        self.raw_latents, self.grey, self.layout = raw_latents, grey, layout

    def conditioning(self, base_model, index: int, references: tuple[int, ...], keep: torch.Tensor,
                     noise_like: torch.Tensor):
        outputs = [p.number for p in self.layout.panels if p.number not in references]
        pixel_mask = slot_mask(self.layout, numbers=outputs)[None]  # [1, 1, H, W], 1 = generated
        device = noise_like.device
        keep = keep.to(device)
        image = self.raw_latents[index:index + 1].to(device) * keep + self.grey.to(device) * (1.0 - keep)
        concat = base_model.concat_cond(noise=noise_like, device=device, concat_latent_image=image,
                                        concat_mask=pixel_mask.to(device))
        return comfy.conds.CONDNoiseShape(concat)


class InContextTrainSampler(comfy.samplers.Sampler):
    """Takes the place of a sampler in ComfyUI's guider: `sample` is the whole training loop."""

    def __init__(self, settings: TrainerSettings, optimizer, draws: TrainingDraws, layout: PanelLayout | None,
                 dtype: torch.dtype, on_step: Callable[[int, float], None], fill: FillReferences | None = None,
                 scale: int = 8, patch: int = 2):
        self.scale, self.patch = scale, patch  # pixels per latent cell, latent cells per token side
        self.s = settings
        self.optimizer = optimizer
        self.draws = draws
        self.layout = layout
        self.dtype = dtype
        self.on_step = on_step
        self.fill = fill
        self.losses: list[float] = []
        self._masks: dict = {}

    def _masks_for(self, references: tuple[int, ...], h: int, w: int):
        if references not in self._masks:
            self._masks[references] = reference_masks(self.layout, references, h, w, self.scale)
        return self._masks[references]

    def example_loss(self, model_wrap, conds: list, latents: torch.Tensor, extra_args: dict, index: int,
                     sigma: float, references: tuple[int, ...]) -> torch.Tensor:
        clean = latents[index:index + 1].float()
        if self.s.objective == OBJECTIVE_TOKENS:
            return self.reference_tokens_loss(model_wrap, conds, clean, extra_args, index, sigma, references)
        noise = self.draws.noise(clean.shape).to(clean.device)
        keep, loss_mask = self._masks_for(references, clean.shape[-2], clean.shape[-1])
        noisy = noisy_canvas(clean, noise, sigma, keep)
        entry = conds[index]
        if self.fill is not None and references:
            entry = dict(entry)
            entry["model_conds"] = {**entry["model_conds"], "c_concat": self.fill.conditioning(
                model_wrap.inner_model, index, references, keep, noisy)}
        if references and self.s.references_at_timestep_zero:
            extra_args = self._with_references_at_timestep_zero(extra_args, keep)
        return self._scored(model_wrap, entry, extra_args, noisy, clean, noise, sigma,
                            None if loss_mask is None else loss_mask.to(clean.device))

    def _scored(self, model_wrap, entry: dict, extra_args: dict, noisy: torch.Tensor, clean: torch.Tensor,
                noise: torch.Tensor, sigma: float, loss_mask: torch.Tensor | None) -> torch.Tensor:
        """One model evaluation on `noisy` with conditioning `entry`, and its weighted velocity loss against the
        flow-matching target of `clean` and `noise`."""
        model_wrap.conds = {"positive": [entry]}
        sigmas = torch.tensor([sigma], device=clean.device)
        with torch.autocast(noisy.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            denoised = model_wrap(noisy, sigmas, **extra_args)
        prediction, target = weigh_velocities(velocity_from_denoised(noisy, denoised.float(), sigmas),
                                              velocity_target(clean, noise), sigmas, self.s.loss_weighting)
        return masked_velocity_loss(prediction, target, loss_mask)

    def _with_references_at_timestep_zero(self, extra_args: dict, keep: torch.Tensor) -> dict:
        """The same DIFFUSION_MODEL wrapper the sampler's reference mode adds for timestep 0, for this example's
        reference tokens."""
        slices = reference_token_slices(1.0 - keep[0, 0], self.patch)  # its mask: 1 = generated
        options = dict(extra_args.get("model_options", {}))
        transformer = dict(options.get("transformer_options", {}))
        wrappers = dict(transformer.get("wrappers", {}))
        kind = comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL
        wrappers[kind] = {**wrappers.get(kind, {}), "iclora_reference_t0": [reference_tokens_at_timestep_zero(slices)]}
        transformer["wrappers"] = wrappers
        options["transformer_options"] = transformer
        return {**extra_args, "model_options": options}

    def reference_tokens_loss(self, model_wrap, conds: list, clean: torch.Tensor, extra_args: dict, index: int,
                              sigma: float, references: tuple[int, ...]) -> torch.Tensor:
        """The references as clean context tokens (`ref_latents`, what ReferenceLatent and Reference Tokens give the
        model), the other panels alone on their canvas, noised and scored everywhere."""
        refs, target = split_for_reference_tokens(clean, self.layout, references, self.scale)
        noise = self.draws.noise(target.shape).to(target.device)
        noisy = noisy_canvas(target, noise, sigma, None)
        entry = dict(conds[index])
        entry["model_conds"] = {**entry["model_conds"], "ref_latents": comfy.conds.CONDList(refs)}
        return self._scored(model_wrap, entry, extra_args, noisy, target, noise, sigma, None)

    def sample(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None,
               disable_pbar=False):
        model_wrap.conds = stock_train.process_cond_list(model_wrap.conds)
        conds = model_wrap.conds["positive"]
        s = self.s
        micro_steps = s.batch_size * s.grad_accumulation_steps
        for step in range(s.steps):
            comfy.model_management.throw_exception_if_processing_interrupted()
            total = 0.0
            for _ in range(s.grad_accumulation_steps):
                draw = self.draws.step(s.batch_size)
                for example in draw.examples:
                    loss = self.example_loss(model_wrap, conds, latent_image, extra_args, example.index,
                                             example.sigma, example.references)
                    (loss / micro_steps).backward()
                    total += float(loss.detach())
            for group in self.optimizer.param_groups:  # bf16 LoRA weights: gradients in the weights' dtype
                for param in group["params"]:
                    if param.grad is not None and param.grad.dtype != param.dtype:
                        param.grad = param.grad.to(param.dtype)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            mean = total / micro_steps
            if not math.isfinite(mean):
                raise PanelInputError(TRAINER_NODE, "learning_rate", f"the loss became {mean} at step {step + 1}",
                                      "Lower the learning rate (the paper's authors use 1e-4).")
            self.losses.append(mean)
            self.on_step(step + 1, mean)
        return torch.zeros_like(latent_image)


# ---------------------------------------------------------------------------------------------- checks


def check_inputs(*, model, latents, positive, layout, vae, s: TrainerSettings) -> tuple[torch.Tensor, list]:
    """Refuse what cannot train, naming the input and the fix. Returns the latents `[N, C, h, w]` and one
    conditioning per latent."""
    for name, value, options in (("objective", s.objective, OBJECTIVES), ("references", s.references,
                                                                          REFERENCE_RULES),
                                 ("timesteps", s.timesteps, DISTRIBUTIONS), ("optimizer", s.optimizer, OPTIMIZERS),
                                 ("loss_weighting", s.loss_weighting, LOSS_WEIGHTINGS),
                                 ("training_dtype", s.training_dtype, DTYPES), ("lora_dtype", s.lora_dtype, DTYPES),
                                 ("algorithm", s.algorithm, tuple(adapter_maps))):
        if value not in options:
            raise PanelInputError(TRAINER_NODE, name, f"'{value}' is not an option",
                                  f"Choose one of {', '.join(options)}.")
    if not isinstance(latents, dict) or not torch.is_tensor(latents.get("samples")):
        raise PanelInputError(TRAINER_NODE, "latents", f"got {kind_of(latents)} instead of a LATENT",
                              "Connect the latents output of Panel Set Dataset.")
    samples = latents["samples"].detach()  # a VAE run outside inference mode leaves a graph on them
    if samples.ndim != 4:
        raise PanelInputError(TRAINER_NODE, "latents", f"the latents have {samples.ndim} dimensions; an image "
                              "latent has 4 [sets, channels, height, width]",
                              "Connect Panel Set Dataset's latents, encoded with an image VAE (FLUX: ae).")
    count = samples.shape[0]
    if not isinstance(positive, list) or not positive:
        raise PanelInputError(TRAINER_NODE, "positive", f"got {kind_of(positive)} instead of conditioning",
                              "Connect the positive output of Panel Set Dataset.")
    if len(positive) == 1 and count > 1:
        positive = positive * count
    if len(positive) != count:
        raise PanelInputError(TRAINER_NODE, "positive", f"there are {len(positive)} captions for {count} latents",
                              "Connect latents and positive of the same Panel Set Dataset (one caption per set).")
    if not is_flow_model(model):
        kind = type(model.get_model_object("model_sampling")).__name__
        raise PanelInputError(TRAINER_NODE, "model", f"the model is not a flow-matching model (its sampling is "
                              f"{kind}, not CONST): the velocity objective does not apply",
                              "Load a FLUX model (UNETLoader with flux1-dev), or use stock Train LoRA.")
    if s.objective != OBJECTIVE_JOINT:
        if layout is None:
            raise PanelInputError(TRAINER_NODE, "layout", f"objective '{s.objective}' needs to know where the "
                                  "panels are", "Connect Panel Set Dataset's panel_layout output, or use objective "
                                  "'joint'.")
        if not isinstance(layout, PanelLayout):
            raise PanelInputError(TRAINER_NODE, "layout", f"got {kind_of(layout)} instead of a panel layout",
                                  "Connect Panel Set Dataset's panel_layout output.")
        try:
            check_layout_fits(layout, samples.shape[-2], samples.shape[-1], latent_downscale(model))
        except ValueError as error:
            raise PanelInputError(TRAINER_NODE, "layout", f"{error}: it belongs to another canvas",
                                  "Connect the layout of the Panel Set Dataset that made these latents.") from None
        if len(layout.panels) < 2:
            raise PanelInputError(TRAINER_NODE, "objective", f"objective '{s.objective}' keeps some panels as "
                                  "references, but every set is one panel (a flat folder of whole canvases)",
                                  "Use set folders with one image per panel, or objective 'joint'.")
        if s.objective == OBJECTIVE_TOKENS and is_fill_model(model):
            raise PanelInputError(TRAINER_NODE, "objective", "a FLUX Fill model takes references in its Fill "
                                  "channels, not as reference tokens", "Use objective 'with references' with a Fill "
                                  "model; 'reference tokens' is for edit models (FLUX.1 Kontext, Qwen-Image-Edit).")
        if s.objective == OBJECTIVE_TOKENS and not reads_reference_latents(model):
            raise PanelInputError(TRAINER_NODE, "objective", f"{family_name(model)} does not read reference tokens "
                                  "(ReferenceLatent): it would learn without seeing the references",
                                  "Use an edit model (FLUX.1 Kontext, Qwen-Image-Edit, OmniGen2, FLUX.2), or "
                                  "objective 'with references' to keep references on the canvas.")
        if s.references_at_timestep_zero and not has_reference_timestep_zero(model):
            raise PanelInputError(TRAINER_NODE, "references_at_timestep_zero", "references at timestep 0 need a Flux "
                                  "model with global modulation (FLUX.2) on a ComfyUI whose Flux takes "
                                  "timestep_zero_index (0.33 or newer)", "Turn references_at_timestep_zero off.")
        if s.references_at_timestep_zero and s.objective == OBJECTIVE_TOKENS:
            raise PanelInputError(TRAINER_NODE, "references_at_timestep_zero", "reference tokens are given as "
                                  "context, not on the canvas: there is nothing to modulate at timestep 0",
                                  "Turn references_at_timestep_zero off, or use objective 'with references'.")
        if is_fill_model(model) and vae is None:
            raise PanelInputError(TRAINER_NODE, "vae", "a FLUX Fill model takes the references through its Fill "
                                  "conditioning, which needs the VAE to encode the greyed-out panels",
                                  "Connect the VAE (Load VAE: ae), or use objective 'joint'.")
    return samples, positive


# ---------------------------------------------------------------------------------------------- the run


@dataclass
class TrainResult:
    model: object
    lora: dict
    loss_map: dict
    steps: int


def _guider(patcher):
    """0.33's TrainGuider loads the whole model, as its Train LoRA does; 0.3.64's Train LoRA uses Guider_Basic."""
    train_guider = getattr(stock_train, "TrainGuider", None)
    if train_guider is not None:
        return train_guider(patcher, offloading=False)
    return comfy_extras.nodes_custom_sampler.Guider_Basic(patcher)


def train_in_context_lora(*, model, latents, positive, layout: PanelLayout | None = None, vae=None,
                          settings: TrainerSettings,
                          on_step: Callable[[int, float], None] = lambda step, loss: None) -> TrainResult:
    """Train a LoRA on the sets; returns the model with the LoRA loaded the stock way, the LoRA state dict (for
    Save LoRA Weights), the loss per step and the total steps (with an existing LoRA's)."""
    s = settings
    samples, positive = check_inputs(model=model, latents=latents, positive=positive, layout=layout, vae=vae, s=s)
    dtype = node_helpers.string_to_torch_dtype(s.training_dtype)
    lora_dtype = node_helpers.string_to_torch_dtype(s.lora_dtype)
    existing, existing_steps = load_existing_lora(s.existing_lora)
    fill = None
    if s.objective in (OBJECTIVE_REFERENCES, OBJECTIVE_MIXED) and is_fill_model(model):
        with torch.no_grad():
            grey = vae.encode(torch.full((1, layout.canvas_h, layout.canvas_w, 3), 0.5))
        fill = FillReferences(samples.float(), grey.float().cpu(), layout)
    shift = flux_shift_mu(latent_token_count(samples.shape[-2], samples.shape[-1], patch_size(model)))
    draws = TrainingDraws(s.seed, samples.shape[0], len(layout.panels) if layout is not None else 1, s.objective,
                          s.references, s.timesteps, shift)

    with torch.inference_mode(False), torch.enable_grad():
        patcher = model.clone()
        patcher.set_model_compute_dtype(dtype)
        lora_sd, adapters_made = add_lora_adapters(patcher, existing, s.algorithm, s.rank, lora_dtype, s.seed)
        optimizer = make_optimizer(s.optimizer, lora_sd.values(), s.learning_rate)
        wrapped = blocks_to_wrap(patcher.model.diffusion_model)
        for module in wrapped:
            checkpoint_module(module, checkpoint=s.gradient_checkpointing)
        patcher.model.requires_grad_(False)
        comfy.model_management.load_models_gpu([patcher], memory_required=1e20, force_full_load=True)
        sampler = InContextTrainSampler(s, optimizer, draws, layout, dtype, on_step, fill,
                                        scale=latent_downscale(model), patch=patch_size(model))
        guider = _guider(patcher)
        guider.set_conds(positive)
        training_flag = hasattr(comfy.model_management, "in_training")
        try:
            if training_flag:
                comfy.model_management.in_training = True
            count = samples.shape[0]
            guider.sample(torch.zeros_like(samples), samples.float(), sampler, torch.arange(count).float(), seed=s.seed)
        finally:
            if training_flag:
                comfy.model_management.in_training = False
            for module in wrapped:
                unwrap(module)
        losses = list(sampler.losses)
        del sampler, optimizer, guider
        lora = {k: v.detach().to(lora_dtype) for k, v in lora_sd.items()}
        for adapter in adapters_made:
            adapter.requires_grad_(False)
        del patcher, adapters_made, lora_sd
    trained, _ = comfy.sd.load_lora_for_models(model, None, lora, 1.0, 0)
    if losses:
        log.info("%s: %d steps, loss %.4f -> %.4f", TRAINER_NODE, len(losses), losses[0], losses[-1])
    return TrainResult(trained, lora, {"loss": losses}, s.steps + existing_steps)
