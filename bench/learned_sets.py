"""A learned in-context benchmark: a tiny FLUX trained from scratch on sets whose rule between panels is exact.

The oracle benchmark is exact but has no attention and nothing learned; IC-LoRA works because a transformer attends
across panels. Here ComfyUI's own Flux class (comfy.ldm.flux.model.Flux, a few hundred thousand parameters) is
trained on the CPU, with the flow-matching objective of ComfyUI's CONST model sampling, on synthetic sets made
directly in latent space, so the rule between panels holds exactly:

- every panel is 3 x 3 Flux tokens (6 x 6 latent cells); its latent is an "identity" (4 channels, the same over
  the panel, like a subject that must stay the same) and a smaller "free" field (the other 12 channels, random in
  every latent cell: what may vary, like pose or background), in fixed orthogonal directions of the 16 channels.
  Together they fill every latent direction, as a VAE's latents do: on data that leaves directions empty the
  velocity the model must learn grows as 1 / sigma there, which a tiny model does not fit;
- an output panel's identity is the rule applied to the reference's: `recolour` (a fixed permutation of the 4
  identity channels) for the 2-panel sets, `recolour` and `negate` for the 3-panel sets (one reference, two
  outputs); a task vector (the "prompt") says which set it is.

Yardstick: because the rule is exact, the right output identity is known for every held-out reference. Per mode,
the table prints the rule error (mean squared error of the output identity against the rule applied to the
reference, relative to the identity's variance), the same error in the output tokens next to the reference (seam),
diversity (distance between two outputs made from the same reference with different seeds, relative to that of the
true conditional: 1 is right, 0 is copies), and model evaluations. Joint sampling generates the reference too and
is scored against the rule applied to the reference it generated: it is the ceiling, what the model itself knows.
Every mode runs through the pack's `nodes/host/sampler.py` on ComfyUI's own sampling, as the oracle benchmark does.

Bases: the tiny FLUX is trained once per objective of the pack's trainer (joint; with references: the reference
panel clean, loss on the outputs; mixed; reference tokens: the reference as clean context tokens, `ref_latents`,
and a canvas of the outputs alone, the edit-model route of Reference Tokens), with the trainer's own math
(`nodes/core/training.py`); every base is also sampled through that route ("ref tokens": the same token count as
the whole set, one evaluation a step); where the host's
Flux takes `timestep_zero_index` (0.33, global modulation only) two global-modulation bases compare references at
the sample's timestep and at timestep 0. Every mode runs on every base; a summary checks the matched (reference)
mode's targets.

Few-shot, in the paper's spirit: on the winning base, stock Train LoRA (as shipped, and with right checkpointing)
and the pack's trainer each tune a LoRA with 10 sets of a rule the base never saw (`reverse`: the identity
channels in reverse order, under a new task vector), 300 steps of batch 10 and one epoch of 10 steps of batch 1;
the new rule's error in joint, masked and reference mode, seconds and peak memory per step.

Trained weights are cached outside the repository, in ~/.cache/iclora-bench/<hash of the settings>.safetensors
(ICLORA_BENCH_CACHE overrides the folder); the first run trains and prints the time.
Training starts from an identity init (see `identity_init`) so the small CPU budget goes to the sets, and checkpoints
the blocks with `checkpoint_block`, not ComfyUI's `nodes_train.patch`, whose gradients are wrong for Flux.

Run: COMFYUI_PATH=/path/to/ComfyUI python bench/learned_sets.py [--canvases 64] [--steps 20] [--image PNG]
    [--frontier PNG] [--bases joint,...] [--train-only] [--skip-few-shot]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.utils.checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oracle_consistency import load_comfy  # noqa: E402

DATA_VERSION = 9  # bump when the set generator or the training loop changes: the cache key includes it
TOKEN = 2  # latent cells per Flux token side (patch size)
SIDE = 3  # tokens per panel side
ID_CH, FREE_CH = 4, 12  # together all 16 channels: full-rank data (see `SetMaker`)
FREE_SCALE = 0.5  # the free field is smaller than the identity: the identity dominates each panel
RULES = {"recolour": 0, "negate": 1, "reverse": 2}  # the task vector index of each rule
PERMUTATION = (1, 2, 3, 0)


@dataclass(frozen=True)
class TrainSettings:
    hidden: int = 64
    heads: int = 2
    depth: int = 1
    single_depth: int = 2
    steps: int = 3000
    batch: int = 32
    lr: float = 3e-3
    seed: int = 0
    data_version: int = DATA_VERSION
    objective: str = "joint"  # the pack trainer's objectives: "joint", "with references", "mixed", "reference tokens"
    global_modulation: bool = False  # FLUX.2's layout: one modulation for all blocks (needed for timestep 0)
    timestep_zero: bool = False  # "with references": reference tokens modulated at timestep 0 (OminiControl)


def tiny_flux_config(t: TrainSettings) -> dict:
    head = t.hidden // t.heads
    return {"image_model": "flux", "in_channels": 16, "out_channels": 16, "patch_size": TOKEN, "vec_in_dim": 32,
            "context_in_dim": 32, "hidden_size": t.hidden, "mlp_ratio": 2.0, "num_heads": t.heads,
            "depth": t.depth, "depth_single_blocks": t.single_depth,
            "axes_dim": [head - 2 * (head * 7 // 16), head * 7 // 16, head * 7 // 16], "theta": 10000,
            "qkv_bias": True, "guidance_embed": False, **({"global_modulation": True} if t.global_modulation else {})}


def host_flux_config(t: TrainSettings) -> dict:
    """`tiny_flux_config` plus what the host's FluxParams requires beyond it (0.33: `txt_ids_dims`, [] for FLUX.1)."""
    import comfy.ldm.flux.model

    config = tiny_flux_config(t)
    fields = getattr(comfy.ldm.flux.model.FluxParams, "__dataclass_fields__", {})
    if "txt_ids_dims" in fields:
        config["txt_ids_dims"] = []
    if t.global_modulation and "global_modulation" not in fields:
        raise SystemExit("this ComfyUI's Flux has no global modulation")
    return config


class SetMaker:
    """Latent-space sets with an exact rule. Works in the model's own latent space (unit variance); `to_vae` gives
    what a VAE would hand the sampler (ComfyUI's Flux latent format maps between the two)."""

    def __init__(self, seed: int = 1234):
        g = torch.Generator().manual_seed(seed)
        basis = torch.linalg.qr(torch.randn(16, ID_CH + FREE_CH, generator=g))[0]
        self.scale = (16 / (ID_CH + FREE_CH * FREE_SCALE ** 2)) ** 0.5  # unit variance per latent cell
        self.identity_basis, self.free_basis = basis[:, :ID_CH], basis[:, ID_CH:]
        self.tasks = torch.randn(len(RULES), 1, 32, generator=g)
        self.pooled = torch.randn(len(RULES), 32, generator=g)

    @staticmethod
    def rule(identity: torch.Tensor, name: str) -> torch.Tensor:
        if name == "recolour":
            return identity[:, list(PERMUTATION)]
        if name == "negate":
            return -identity
        if name == "reverse":
            return identity.flip(1)
        raise ValueError(name)

    def panel(self, identity: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
        """`identity` per token (upsampled to its cells), `free` per latent cell."""
        up = lambda f: f.repeat_interleave(TOKEN, -1).repeat_interleave(TOKEN, -2)  # noqa: E731
        return self.scale * (torch.einsum("ck,nkhw->nchw", self.identity_basis, up(identity))
                             + torch.einsum("ck,nkhw->nchw", self.free_basis, free))

    def fields(self, panel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token-level identity and cell-level free field of a latent panel (the inverse of `panel`)."""
        pooled = torch.nn.functional.avg_pool2d(panel, TOKEN) / self.scale
        return (torch.einsum("ck,nchw->nkhw", self.identity_basis, pooled),
                torch.einsum("ck,nchw->nkhw", self.free_basis, panel / self.scale))

    def sets(self, n: int, rules: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
        identity = torch.randn(n, ID_CH, 1, 1, generator=generator).expand(-1, -1, SIDE, SIDE)
        cells = SIDE * TOKEN
        free = lambda: FREE_SCALE * torch.randn(n, FREE_CH, cells, cells, generator=generator)  # noqa: E731
        panels = [self.panel(identity, free())]
        for name in rules:
            panels.append(self.panel(self.rule(identity, name), free()))
        return torch.cat(panels, dim=-1)

    def conditioning(self, rule: str, n: int = 1) -> list:
        i = RULES[rule]
        return [[self.tasks[i].expand(n, -1, -1).clone(), {"pooled_output": self.pooled[i].expand(n, -1).clone()}]]


TASKS = (("recolour",), ("recolour", "negate"))  # 2-panel and 3-panel sets of the base training

# The bases: the tiny FLUX trained with each of the pack trainer's objectives; where the host's Flux takes
# `timestep_zero_index` (it needs FLUX.2's global modulation), the same with references at timestep 0 next to
# references at the sample's timestep, both with global modulation so that only the modulation differs.
BASES = (("joint", {}), ("with references", {"objective": "with references"}), ("mixed", {"objective": "mixed"}),
         ("reference tokens", {"objective": "reference tokens"}))
TOKENS_ROUTE = "ref tokens"
"""The edit-model route (Reference Tokens): the reference as clean context tokens (ReferenceLatent), a canvas of the
output slots alone, sampled in joint mode: one evaluation a step over the same number of tokens as the whole set."""
T0_BASES = (("refs (global mod)", {"objective": "with references", "global_modulation": True}),
            ("refs t=0 (global mod)", {"objective": "with references", "global_modulation": True,
                                      "timestep_zero": True}))


def cache_path(t: TrainSettings) -> Path:
    folder = Path(os.environ.get("ICLORA_BENCH_CACHE", Path.home() / ".cache" / "iclora-bench"))
    # the settings and the code that makes the weights: an edit there cannot load stale weights
    from iclora_pack.nodes.core import training
    from iclora_pack.nodes.host import sampler

    code = "".join(inspect.getsource(f) for f in (
        tiny_flux_config, SetMaker, identity_init, checkpoint_block, train, reference_cells, training._per_sample,
        training.noisy_canvas, training.velocity_target, training.velocity_from_denoised,
        training.masked_velocity_loss, sampler.reference_tokens_at_timestep_zero,
        *((train_reference_tokens,) if t.objective == "reference tokens" else ())))
    key = hashlib.sha256((json.dumps(asdict(t), sort_keys=True) + code).encode()).hexdigest()[:16]
    return folder / f"learned-sets-{key}.safetensors"


def build_model(t: TrainSettings):
    import comfy.model_detection

    config = comfy.model_detection.model_config_from_unet_config(host_flux_config(t))
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({}, "")
    with torch.no_grad():  # 0.33's RMSNorm keeps its gain in `weight`, made with torch.empty: start it at 1
        for module in model.modules():  # (0.3.64's is `scale`, which `train` sets; loaded weights replace both)
            if type(module).__name__ == "RMSNorm" and isinstance(getattr(module, "weight", None), torch.nn.Parameter):
                torch.nn.init.ones_(module.weight)
    return model


def identity_init(flux) -> None:
    """Start where flow matching is right at sigma 1: v = x (so the clean prediction is the data mean, 0). The
    patch embedding and the output layer are the identity (a token's 2 x 2 x 16 values are exactly the hidden
    size), and every modulation starts at zero (DiT's adaLN-Zero), so each block begins by adding nothing. From a
    plain init the CPU budget is spent learning to copy the noise through; from here it goes to the sets."""
    size = flux.img_in.weight.shape
    if size[0] != size[1] or flux.final_layer.linear.weight.shape != size:
        raise ValueError("identity init needs hidden size = 16 x patch area")
    with torch.no_grad():
        for linear in (flux.img_in, flux.final_layer.linear):
            linear.weight.copy_(torch.eye(size[0]))
            linear.bias.zero_()
        modulations = [flux.final_layer.adaLN_modulation[-1]]
        if getattr(flux.params, "global_modulation", False):
            modulations += [flux.double_stream_modulation_img.lin, flux.double_stream_modulation_txt.lin,
                            flux.single_stream_modulation.lin]
        for block in flux.double_blocks:
            modulations += [block.img_mod.lin, block.txt_mod.lin] if getattr(block, "modulation", True) else []
        modulations += [block.modulation.lin for block in flux.single_blocks if block.modulation is not None]
        for linear in modulations:
            linear.weight.zero_()
            if linear.bias is not None:
                linear.bias.zero_()


def checkpoint_block(block) -> None:
    """Gradient checkpointing that gives the right gradients. Flux blocks add to their input in place
    (`x += ...`); without checkpointing autograd refuses that, and ComfyUI's own `nodes_train.patch` checkpoints
    the block but lets it mutate the saved input, so the backward pass recomputes the block from the wrong input
    and every block's gradient is off (measured: it differs from an out-of-place copy of the model, which this
    wrapper matches). Cloning the inputs inside the checkpoint keeps the saved ones intact."""
    forward = block.forward

    def run(*args, **kwargs):
        fresh = lambda a: a.clone() if torch.is_tensor(a) else a  # noqa: E731
        return forward(*map(fresh, args), **{k: fresh(v) for k, v in kwargs.items()})

    block.org_forward = forward  # what ComfyUI's `nodes_train.unpatch` restores
    block.forward = lambda *a, **k: torch.utils.checkpoint.checkpoint(run, *a, use_reentrant=False, **k)


def checkpoint_patch(module, offloading: bool = False) -> None:
    """`checkpoint_block` in place of ComfyUI's `nodes_train.patch` for TrainLoraNode (same contract)."""
    if hasattr(module, "forward"):
        checkpoint_block(module)


def reference_cells(shape: torch.Size) -> torch.Tensor:
    """`[1, 1, h, w]` latent mask, 1 on the reference panel (the first) of the bench's sets."""
    keep = torch.zeros(1, 1, shape[-2], shape[-1])
    keep[..., :SIDE * TOKEN] = 1.0
    return keep


def train(t: TrainSettings, maker: SetMaker, path: Path) -> float:
    """Flow matching as ComfyUI's CONST sampling defines it, with the pack trainer's math (`core/training.py`):
    x_s = (1 - s) x0 + s e, the model's output v = (x_s - x0_hat) / s, trained towards e - x0; s half uniform, half
    logit-normal. Objectives: `joint` noises every panel and takes the loss everywhere (the paper); `with
    references` keeps the reference panel clean in the canvas and takes the loss on the outputs only; `mixed` is
    one or the other per step, half and half (its own generator, so joint's draws are the same in every
    objective). Returns the seconds it took."""
    import comfy.model_management
    from iclora_pack.nodes.core.training import (
        masked_velocity_loss,
        noisy_canvas,
        velocity_from_denoised,
        velocity_target,
    )
    from iclora_pack.nodes.host.sampler import reference_token_slices, reference_tokens_at_timestep_zero
    from safetensors.torch import save_file

    torch.manual_seed(t.seed)
    model = build_model(t)
    for module in model.modules():  # ComfyUI's layers skip init: give them torch's
        if isinstance(module, torch.nn.Linear):
            torch.nn.Linear.reset_parameters(module)
        elif isinstance(getattr(module, "scale", None), torch.nn.Parameter):
            torch.nn.init.ones_(module.scale)
    identity_init(model.diffusion_model)
    model.diffusion_model.requires_grad_(True)  # ComfyUI 0.33 makes its parameters with requires_grad=False
    for block in (*model.diffusion_model.double_blocks, *model.diffusion_model.single_blocks):
        checkpoint_block(block)
    model.train()
    optimizer = torch.optim.AdamW(model.diffusion_model.parameters(), lr=t.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=t.lr, total_steps=t.steps, pct_start=0.05)
    if hasattr(comfy.model_management, "in_training"):  # 0.33: else RoPE runs a kernel that has no backward
        comfy.model_management.in_training = True
    generator = torch.Generator().manual_seed(t.seed)
    objective_draws = torch.Generator().manual_seed(t.seed + 1)
    start = time.perf_counter()
    for step in range(t.steps):
        rules = TASKS[step % len(TASKS)]
        x0 = maker.sets(t.batch, rules, generator)
        half = t.batch // 2  # half uniform, so sampling's first steps near sigma 1 are trained too
        sigma = torch.cat([torch.rand(half, generator=generator),
                           torch.sigmoid(torch.randn(t.batch - half, generator=generator))])
        noise = torch.randn(x0.shape, generator=generator)
        with_references = t.objective == "with references" or (
            t.objective == "mixed" and float(torch.rand(1, generator=objective_draws)) < 0.5)
        keep = reference_cells(x0.shape) if with_references else None
        xt = noisy_canvas(x0, noise, sigma, keep)
        options = {}
        if with_references and t.timestep_zero:
            slices = reference_token_slices(1.0 - keep[0, 0], TOKEN)  # its mask: 1 = generate
            options = {"wrappers": {"diffusion_model": {"t0": [reference_tokens_at_timestep_zero(slices)]}}}
        cond = maker.conditioning(rules[-1], t.batch)[0]
        denoised = model.apply_model(xt, sigma, c_crossattn=cond[0], y=cond[1]["pooled_output"],
                                     transformer_options=options)
        loss = masked_velocity_loss(velocity_from_denoised(xt, denoised, sigma), velocity_target(x0, noise),
                                    None if keep is None else 1.0 - keep)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 500 == 0 or step == t.steps - 1:
            print(f"  train step {step:>5}/{t.steps}  loss {loss.item():.4f}  {time.perf_counter() - start:.0f} s",
                  flush=True)
    seconds = time.perf_counter() - start
    if hasattr(comfy.model_management, "in_training"):
        comfy.model_management.in_training = False
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.diffusion_model.state_dict().items()}
    save_file(state, str(path), metadata={"settings": json.dumps(asdict(t)), "train_seconds": f"{seconds:.1f}"})
    return seconds



def train_reference_tokens(t: TrainSettings, maker: SetMaker, path: Path) -> float:
    """`train` for the objective `reference tokens`: the reference panel as clean context tokens (`ref_latents`,
    as ReferenceLatent and the pack's Reference Tokens give it) and a canvas of the outputs alone, noised and scored
    everywhere; the same model, init, schedule and draws as `train` (its own function, so the other bases' cached
    weights stay valid). Returns the seconds it took."""
    import comfy.model_management
    from iclora_pack.nodes.core.training import (
        masked_velocity_loss,
        noisy_canvas,
        velocity_from_denoised,
        velocity_target,
    )
    from safetensors.torch import save_file

    torch.manual_seed(t.seed)
    model = build_model(t)
    for module in model.modules():  # ComfyUI's layers skip init: give them torch's
        if isinstance(module, torch.nn.Linear):
            torch.nn.Linear.reset_parameters(module)
        elif isinstance(getattr(module, "scale", None), torch.nn.Parameter):
            torch.nn.init.ones_(module.scale)
    identity_init(model.diffusion_model)
    model.diffusion_model.requires_grad_(True)
    for block in (*model.diffusion_model.double_blocks, *model.diffusion_model.single_blocks):
        checkpoint_block(block)
    model.train()
    optimizer = torch.optim.AdamW(model.diffusion_model.parameters(), lr=t.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=t.lr, total_steps=t.steps, pct_start=0.05)
    if hasattr(comfy.model_management, "in_training"):
        comfy.model_management.in_training = True
    generator = torch.Generator().manual_seed(t.seed)
    width = SIDE * TOKEN
    start = time.perf_counter()
    for step in range(t.steps):
        rules = TASKS[step % len(TASKS)]
        x0 = maker.sets(t.batch, rules, generator)
        half = t.batch // 2
        sigma = torch.cat([torch.rand(half, generator=generator),
                           torch.sigmoid(torch.randn(t.batch - half, generator=generator))])
        noise = torch.randn(x0.shape, generator=generator)[..., width:]
        target = x0[..., width:]
        xt = noisy_canvas(target, noise, sigma, None)
        cond = maker.conditioning(rules[-1], t.batch)[0]
        denoised = model.apply_model(xt, sigma, c_crossattn=cond[0], y=cond[1]["pooled_output"],
                                     ref_latents=[x0[..., :width]])
        loss = masked_velocity_loss(velocity_from_denoised(xt, denoised, sigma), velocity_target(target, noise),
                                    None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 500 == 0 or step == t.steps - 1:
            print(f"  train step {step:>5}/{t.steps}  loss {loss.item():.4f}  {time.perf_counter() - start:.0f} s",
                  flush=True)
    seconds = time.perf_counter() - start
    if hasattr(comfy.model_management, "in_training"):
        comfy.model_management.in_training = False
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.diffusion_model.state_dict().items()}
    save_file(state, str(path), metadata={"settings": json.dumps(asdict(t)), "train_seconds": f"{seconds:.1f}"})
    return seconds


def load_patcher(t: TrainSettings, path: Path):
    import comfy.model_patcher
    from safetensors.torch import load_file

    model = build_model(t)
    state, expected = load_file(str(path)), set(model.diffusion_model.state_dict())
    renamed = {"scale": "weight", "weight": "scale"}  # RMSNorm's gain: `scale` in 0.3.64, `weight` in 0.33
    for key in [k for k in state if k not in expected]:
        head, _, tail = key.rpartition(".")
        if f"{head}.{renamed.get(tail, tail)}" in expected:
            state[f"{head}.{renamed[tail]}"] = state.pop(key)
    model.diffusion_model.load_state_dict(state)
    model.eval()
    cpu = torch.device("cpu")
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=cpu, offload_device=cpu)
    if hasattr(patcher, "cached_patcher_init"):  # 0.33's Train LoRA deep-copies a model by loading it again
        patcher.cached_patcher_init = (reload_patcher, (t, str(path)))
    return patcher


def reload_patcher(t: TrainSettings, path: str, disable_dynamic: bool = False):
    return load_patcher(t, Path(path))


@dataclass
class Scores:
    rule: float
    seam: float
    diversity: float
    evaluations: int
    seconds: float = 0.0
    """Wall time of the sampling, for ratios within one run (the reference-token route's extra context tokens)."""


def score(maker: SetMaker, canvases: torch.Tensor, rules: tuple[str, ...], reference: torch.Tensor | None,
          pairs: int) -> tuple[float, float, float]:
    """Rule error (all output tokens, and those next to the reference), and diversity between the two halves
    of the batch (same references, different seeds). `canvases` are in the model's latent space."""
    width = SIDE * TOKEN
    ref_id, _ = maker.fields(canvases[..., :width] if reference is None else reference)
    errors, seams, spreads = [], [], []
    for k, name in enumerate(rules, start=1):
        identity, free = maker.fields(canvases[..., k * width:(k + 1) * width])
        target = maker.rule(ref_id, name)
        power = (target ** 2).mean().clamp_min(1e-6)  # relative: shrunken sets cannot look consistent
        squared = ((identity - target) ** 2).mean(1) / power  # [n, h, w] per token
        errors.append(squared.mean())
        seams.append(squared[..., 0].mean())  # the token column next to the panel on its left
        a, b = free[:pairs], free[pairs:2 * pairs]
        spreads.append(((a - b) ** 2).mean() / (2.0 * FREE_SCALE ** 2))  # 1 for the true conditional
    mean = lambda xs: float(torch.stack(xs).mean())  # noqa: E731
    return mean(errors), mean(seams), mean(spreads)


RUNS = (("joint", {}), ("masked", {}), ("consistent", {}), ("consistent", {"refine_fraction": 0.25}),
        ("consistent", {"refine_fraction": 0.5}),
        ("consistent", {"refine_fraction": 0.5, "reference_guidance": 2.0}),
        ("harmonized", {"resample_count": 2}),
        ("harmonized", {"resample_count": 3}), ("harmonized", {"resample_count": 4}), ("reference", {}),
        (TOKENS_ROUTE, {}))
MODE_RUNS = (("joint", {}), ("masked", {}), ("consistent", {}), ("harmonized", {"resample_count": 3}),
             ("reference", {}), (TOKENS_ROUTE, {}))  # every mode once on the bases after the first (fill needs a
# Fill model), and the reference-token route
T0_RUN = ("reference", {"reference_timestep_zero": True})  # on the bases with global modulation, where the host has it


LABELS = {"refine_fraction": "refine ", "reference_guidance": "guide ", "resample_count": "r=",
          "reference_timestep_zero": "t=0 "}
PICTURED = (("joint", {}), ("masked", {}), ("consistent", {}), ("harmonized", {"resample_count": 3}),
            ("reference", {}))
TODAY_JOINT = {1: 0.126, 2: 0.496}  # joint's rule error before the trainer's objectives (2 and 3 panels)


def run_mode(patcher, maker: SetMaker, rules: tuple[str, ...], references: torch.Tensor, mode: str, extra: dict,
             steps: int, seed: int) -> tuple[Scores, torch.Tensor]:
    import comfy.latent_formats
    from iclora_pack.nodes.host.sampler import SamplerSettings, make_noise, sample_latent

    fmt = comfy.latent_formats.Flux()
    n = references.shape[0]
    width = SIDE * TOKEN
    doubled = torch.cat([references, references])  # two seeds per reference, for diversity
    if mode == TOKENS_ROUTE:
        return run_reference_tokens(patcher, maker, rules, doubled, steps, seed)
    latent = torch.cat([doubled] + [torch.zeros_like(doubled)] * len(rules), dim=-1)
    mask = torch.ones(1, 1, latent.shape[-2], latent.shape[-1])
    mask[..., :width] = 0.0
    noise = make_noise(latent, seed, 1)
    settings = SamplerSettings(mode=mode, seed=seed, steps=steps, resample_fraction=1.0, **extra)
    cond = maker.conditioning(rules[-1])
    start = time.perf_counter()
    result = sample_latent(patcher, cond, cond, fmt.process_out(latent), noise,
                           None if mode == "joint" else mask, settings)
    seconds = time.perf_counter() - start
    out = fmt.process_in(result.samples)
    rule, seam, diversity = score(maker, out, rules, None if mode == "joint" else doubled, n)
    return Scores(rule, seam, diversity, result.evaluations, seconds), out


def run_reference_tokens(patcher, maker: SetMaker, rules: tuple[str, ...], doubled: torch.Tensor, steps: int,
                         seed: int) -> tuple[Scores, torch.Tensor]:
    """The edit-model route: the conditioning carries the reference as `reference_latents` (what Reference Tokens
    appends), the canvas holds only the output slots, sampled in joint mode through the pack's sampler; scored on
    the whole set put back together (reference | outputs)."""
    import comfy.latent_formats
    from iclora_pack.nodes.host.sampler import SamplerSettings, make_noise, sample_latent

    fmt = comfy.latent_formats.Flux()
    latent = torch.cat([torch.zeros_like(doubled)] * len(rules), dim=-1)
    noise = make_noise(latent, seed, 1)
    cond = maker.conditioning(rules[-1])
    cond = [[cond[0][0], {**cond[0][1], "reference_latents": [fmt.process_out(doubled)]}]]
    settings = SamplerSettings(mode="joint", seed=seed, steps=steps, resample_fraction=1.0)
    start = time.perf_counter()
    result = sample_latent(patcher, cond, cond, fmt.process_out(latent), noise, None, settings)
    seconds = time.perf_counter() - start
    out = torch.cat([doubled, fmt.process_in(result.samples)], dim=-1)
    rule, seam, diversity = score(maker, out, rules, doubled, doubled.shape[0] // 2)
    return Scores(rule, seam, diversity, result.evaluations, seconds), out


def save_picture(path: Path, maker: SetMaker, rows: list[tuple[str, float, torch.Tensor]], rule: str,
                 examples: int = 4) -> None:
    """One row per mode, a few held-out sets each: the reference, what the rule says the output must be, the
    output, and its error (black = right, white = wrong; the left column of the error touches the reference)."""
    from PIL import Image, ImageDraw

    px, gap = 10, 4
    width = SIDE * TOKEN
    tile = SIDE * px
    cell_w = 4 * tile + 3 * gap + 18
    label_w, head = 170, 34
    image = Image.new("RGB", (label_w + examples * cell_w, head + len(rows) * (tile + 14)), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    for e in range(examples):
        for k, word in enumerate(("reference", "rule says", "output", "error")):
            draw.text((label_w + e * cell_w + k * (tile + gap), 4 + 12 * (k % 2)), word, fill="black")

    def colours(identity: torch.Tensor) -> Image.Image:
        rgb = ((identity[0, :3] / 4.0 + 0.5).clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy()
        return Image.fromarray(rgb).resize((tile, tile), Image.NEAREST)

    for r, (name, error, canvases) in enumerate(rows):
        y0 = head + r * (tile + 14)
        draw.text((6, y0 + tile // 2 - 12), name, fill="black")
        draw.text((6, y0 + tile // 2 + 2), f"rule error {error:.3f}", fill="black")
        for e in range(examples):
            x0 = label_w + e * cell_w
            ref_id, _ = maker.fields(canvases[e:e + 1, :, :, :width])
            out_id, _ = maker.fields(canvases[e:e + 1, :, :, width:2 * width])
            expected = maker.rule(ref_id, rule)
            err = ((out_id - expected) ** 2).mean(1)[0]
            grey = Image.fromarray(((err / 1.0).clamp(0, 1) * 255).byte().numpy()).resize((tile, tile),
                                                                                             Image.NEAREST)
            for k, picture in enumerate((colours(ref_id), colours(expected), colours(out_id), grey.convert("RGB"))):
                image.paste(picture, (x0 + k * (tile + gap), y0))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def save_frontier(path: Path, points: list[tuple[str, float, float]], joint: float, title: str) -> None:
    """Quality against cost: each run's rule error (0 exact, 2 an unrelated panel) over its model evaluations
    (x masked mode's); the matched mode's target (within 1.10x of the joint base's joint error at 1.0x the
    evaluations) shaded."""
    from PIL import Image, ImageDraw

    w, h, left, bottom, top, right = 680, 420, 70, 50, 40, 20
    x_max = max(4.4, max(p[1] for p in points) + 1.0)  # room for the rightmost label
    y_max = max(2.5, max(p[2] for p in points) * 1.1)
    image = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(image)
    to_px = lambda x, y: (left + x / x_max * (w - left - right), h - bottom - y / y_max * (h - bottom - top))  # noqa
    x0, y0 = to_px(0, 0)
    x1, y1 = to_px(1.0, min(1.10 * joint, y_max))
    draw.rectangle([x0, y1, x1, y0], fill=(215, 240, 215))
    draw.text((x0 + 4, y1 - 14), "target (<= 1.10x joint, 1.0x cost)", fill=(40, 120, 40))
    draw.line([to_px(0, 0), to_px(x_max, 0)], fill="black")
    draw.line([to_px(0, 0), to_px(0, y_max)], fill="black")
    for tick in range(int(x_max) + 1):
        px, py = to_px(tick, 0)
        draw.line([px, py, px, py + 4], fill="black")
        draw.text((px - 4, py + 6), f"{tick}x", fill="black")
    for tick in [i * 0.5 for i in range(int(y_max / 0.5) + 1)]:
        px, py = to_px(0, tick)
        draw.line([px - 4, py, px, py], fill="black")
        draw.text((px - 34, py - 6), f"{tick:.1f}", fill="black")
    draw.line([to_px(0, 2.0), to_px(x_max, 2.0)], fill=(170, 170, 170))
    draw.text(to_px(2.6, 2.0)[0:1] + (to_px(0, 2.0)[1] - 14,), "2 = output unrelated to the reference",
              fill=(120, 120, 120))
    draw.text((w // 2 - 150, h - 20), "model evaluations (x masked mode's)", fill="black")
    draw.text((6, 8), title + ": rule error (lower is better)", fill="black")
    colours = {"masked": (200, 60, 40), "consistent": (30, 90, 200), "harmonized": (150, 60, 170),
               "joint": (60, 60, 60), "reference": (20, 150, 60)}
    placed: list[tuple[float, float, float, float]] = []  # label boxes so far: no label hides another
    for label, x, y in points:
        px, py = to_px(x, y)
        colour = colours.get(label.split()[0], (0, 0, 0))
        draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour)
        w_text = draw.textlength(label)
        for dy in (-6, 6, -18, 18, -30, 30, -42, 42):
            box = (px + 7, py + dy - 6, px + 7 + w_text, py + dy + 6)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        draw.line([px + 4, py, box[0], py + dy], fill=colour)
        draw.text((box[0] + 2, box[1]), label, fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def setting_label(mode: str, extra: dict) -> str:
    return f"{mode} " + " ".join(f"{LABELS[k]}{v:g}" if not isinstance(v, bool) else LABELS[k].strip()
                                 for k, v in extra.items())


def evaluate(options, maker: SetMaker, bases, patchers: dict, t0: bool) -> None:
    """Every mode on every base, both set sizes: the tables, the summary against the targets, the pictures, and
    the few-shot comparison."""
    params = sum(p.numel() for p in next(iter(patchers.values())).model.diffusion_model.parameters())
    print(f"tiny FLUX: {params} parameters; {options.steps} euler steps, {options.canvases} held-out references "
          "x 2 seeds")
    results: dict[tuple[str, int], dict[tuple, Scores]] = {}
    outputs: dict[tuple[str, tuple], torch.Tensor] = {}
    for label, kw in bases:
        runs = (RUNS if label == "joint" else MODE_RUNS) + ((T0_RUN,) if kw.get("global_modulation") and t0 else ())
        generator = torch.Generator().manual_seed(10_000 + options.seed)  # held out: training used other seeds
        for rules in TASKS:
            references = maker.sets(options.canvases, (), generator)
            print(f"\nbase trained '{label}'; {1 + len(rules)} panels: reference | " + " | ".join(rules))
            print(f"{'mode':<13}{'setting':<19}{'evals':>6}{'x cost':>8}{'rule err':>10}{'x joint':>9}"
                  f"{'seam err':>10}{'diversity':>11}{'x time':>8}")
            table: dict[tuple, Scores] = {}
            for mode, extra in runs:
                scores, out = run_mode(patchers[label], maker, rules, references, mode, extra, options.steps,
                                       options.seed)
                key = (mode, tuple(sorted(extra.items())))
                table[key] = scores
                joint, base_evals = table[("joint", ())], table[("joint", ())].evaluations
                setting = setting_label("", extra).strip() or "-"
                print(f"{mode:<13}{setting:<19}{scores.evaluations:>6}{scores.evaluations / base_evals:>8.2f}"
                      f"{scores.rule:>10.4f}{scores.rule / joint.rule:>9.2f}{scores.seam:>10.4f}"
                      f"{scores.diversity:>11.3f}{scores.seconds / joint.seconds:>8.2f}", flush=True)
                if len(rules) == 1:
                    outputs[(label, key)] = out
            results[(label, len(rules))] = table
    summary(results, bases)
    if "joint" not in patchers:  # --bases without the joint base: tables only
        return
    winner = min((b[0] for b in bases if not b[1].get("global_modulation")), key=lambda b: max(
        results[(b, n)][("reference", ())].rule / TODAY_JOINT[n] for n in (1, 2)))
    if options.image:
        rows = [(f"{mode} ({winner})" if mode == "reference" else f"{mode} (joint-trained)",
                 results[(winner if mode == "reference" else "joint", 1)][(mode, tuple(sorted(extra.items())))].rule,
                 outputs[(winner if mode == "reference" else "joint", (mode, tuple(sorted(extra.items()))))])
                for mode, extra in PICTURED]
        save_picture(options.image, maker, rows, TASKS[0][0])
        print(f"\npicture: {options.image}")
    if options.frontier:
        points = []
        for label, kw in bases:
            if kw.get("global_modulation"):
                continue  # another architecture: in the tables, not on the joint base's axes
            table = results[(label, 1)]
            cost = table[("joint", ())].evaluations
            for (mode, extra), scores in table.items():
                # the joint base: every mode; the others: joint and their matched route (the token route is
                # shown untrained on the joint base, trained on its own base)
                matched = TOKENS_ROUTE if label == "reference tokens" else "reference"
                if label == "joint" or mode in ("joint", matched):
                    name = setting_label(mode, dict(extra)).strip()
                    points.append((name if label == "joint" else f"{name} [{label}]",
                                   scores.evaluations / cost, scores.rule))
        save_frontier(options.frontier, points, results[("joint", 1)][("joint", ())].rule,
                      "learned sets, 2 panels, per objective")
        print(f"frontier plot: {options.frontier}")
    if not options.skip_few_shot:
        few_shot_table(options, maker, patchers[winner], winner, results[(winner, 1)][("joint", ())].rule)


def summary(results: dict, bases) -> None:
    """The targets: reference mode (the matched mode) within 1.10x of joint's error at 1.0x the evaluations,
    joint no worse than before the objectives (0.126 / 0.496), diversity within 5 % of joint's."""
    print("\nsummary: the matched mode (reference) against joint, per base")
    print(f"{'base':<22}{'panels':>7}{'joint err':>10}{'ref err':>9}{'ref/joint':>10}{'ref/today':>10}"
          f"{'evals':>7}{'div ref/joint':>14}  targets (ref <= 1.10x joint, joint <= today, diversity)")
    for label, _ in bases:
        for n in (1, 2):
            table = results[(label, n)]
            joint, ref = table[("joint", ())], table[("reference", ())]
            t0 = table.get(("reference", (("reference_timestep_zero", True),)))
            tokens = table.get((TOKENS_ROUTE, ())) if label == "reference tokens" else None
            rows = ([("reference", ref)] + ([("reference t=0", t0)] if t0 else [])
                    + ([(TOKENS_ROUTE, tokens)] if tokens else []))
            for name, scores in rows:
                ratio, today = scores.rule / joint.rule, scores.rule / TODAY_JOINT[n]
                spread = scores.diversity / joint.diversity
                met = [("ref", ratio <= 1.10 and scores.evaluations <= joint.evaluations),
                       ("joint", joint.rule <= TODAY_JOINT[n] * 1.005), ("div", abs(spread - 1) <= 0.05)]
                marks = " ".join(f"{k} {'ok' if v else 'MISS'}" for k, v in met)
                suffix = {"reference": "", "reference t=0": " t=0"}.get(name, f" ({name})")
                print(f"{label + suffix:<22}{n + 1:>7}{joint.rule:>10.4f}"
                      f"{scores.rule:>9.4f}{ratio:>10.2f}{today:>10.2f}"
                      f"{scores.evaluations / joint.evaluations:>7.2f}{spread:>14.3f}  {marks}")


class PeakMemory:
    """Peak resident memory above the start, sampled every 2 ms from /proc (the CPU has no allocator counter)."""

    def __enter__(self):
        import ctypes
        import threading

        try:  # hand freed heap back to the system first, so memory reused from earlier runs does not hide a peak
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def mib(self) -> float:
        return (self.peak - self.start) / 2 ** 20


FEW_SHOT = {"rank": 8, "learning_rate": 3e-3, "seed": 0}  # the same for every trainer


def stock_train_lora(patcher, maker: SetMaker, shots: torch.Tensor, steps: int, batch: int, corrected: bool):
    """ComfyUI's Train LoRA called in-process (0.3.64's `train`, or 0.33's V3 `execute` with its inputs as lists),
    with its own block checkpointing (`nodes_train.patch`, wrong gradients for Flux) or `checkpoint_patch`."""
    from comfy_extras import nodes_train

    args = {"model": patcher, "latents": {"samples": shots}, "positive": maker.conditioning("reverse"),
            "batch_size": batch, "steps": steps, "grad_accumulation_steps": 1,
            "learning_rate": FEW_SHOT["learning_rate"], "rank": FEW_SHOT["rank"], "optimizer": "AdamW",
            "loss_function": "MSE", "seed": FEW_SHOT["seed"], "training_dtype": "fp32", "lora_dtype": "fp32",
            "algorithm": "LoRA", "gradient_checkpointing": True, "existing_lora": "[None]"}
    stock_patch = nodes_train.patch
    if corrected:
        nodes_train.patch = checkpoint_patch
    try:
        if "execute" not in vars(nodes_train.TrainLoraNode):  # 0.3.64: a V1 node
            return nodes_train.TrainLoraNode().train(**args)[0]
        args.update(quantized_backward=False, checkpoint_depth=1, offloading=False, bucket_mode=False,
                    bypass_mode=False)
        lora = nodes_train.TrainLoraNode.execute(**{k: [v] for k, v in args.items()}).result[0]
        # 0.33's Train LoRA gives the LoRA, not the model: apply it as its Load LoRA Model node does
        return nodes_train.LoraModelLoader.execute(patcher, lora, 1.0).result[0]
    finally:
        nodes_train.patch = stock_patch


def pack_train_lora(patcher, maker: SetMaker, shots: torch.Tensor, steps: int, batch: int, objective: str,
                    loss_weighting: str = "velocity"):
    """The pack's trainer (`nodes/host/trainer.py`), references by the layout's first panel; None where this
    branch does not have it yet."""
    try:
        from iclora_pack.nodes.host.trainer import TrainerSettings, train_in_context_lora
    except ImportError:
        return None
    from iclora_pack.nodes.core.canvas import concatenate_panels

    panel = SIDE * TOKEN * 8  # pixels
    layout = concatenate_panels([("image_1", torch.zeros(1, panel, panel, 3))], 1).layout
    settings = TrainerSettings(objective=objective, steps=steps, batch_size=batch, training_dtype="fp32",
                               lora_dtype="fp32", learning_rate=FEW_SHOT["learning_rate"], rank=FEW_SHOT["rank"],
                               seed=FEW_SHOT["seed"], loss_weighting=loss_weighting)
    return train_in_context_lora(model=patcher, latents={"samples": shots}, positive=maker.conditioning("reverse"),
                                 layout=layout, settings=settings).model


def few_shot_table(options, maker: SetMaker, patcher, base: str, trained_joint: float) -> None:
    """Ten sets of an unseen rule (`reverse`, new task vector), each trainer at the same rank, steps and lr: 300
    steps of batch 10, and one epoch (10 steps of batch 1). The new rule's error in joint, masked and reference
    mode; seconds and peak memory per training step. Target: joint <= 2x the base's joint error on its trained
    rule, reference within 1.25x of that."""
    import comfy.latent_formats

    fmt = comfy.latent_formats.Flux()
    rules = ("reverse",)
    shots = fmt.process_out(maker.sets(10, rules, torch.Generator().manual_seed(options.seed + 99)))
    references = maker.sets(options.canvases, (), torch.Generator().manual_seed(20_000 + options.seed))
    modes = ("joint", "masked", "reference")
    def pack(objective: str, weighting: str = "velocity"):
        label = objective if weighting == "velocity" else f"{objective}, x0"
        return (f"pack trainer ({label})",
                lambda st, b: pack_train_lora(patcher, maker, shots, st, b, objective, weighting))

    # Every objective of the pack's trainer: `with references` never noises a reference, so it teaches the matched
    # mode but not text-only sets; `mixed` and `joint` show what teaching both costs.
    trainers = (("stock Train LoRA", lambda st, b: stock_train_lora(patcher, maker, shots, st, b, False)),
                ("stock, right checkpointing", lambda st, b: stock_train_lora(patcher, maker, shots, st, b, True)),
                *(pack(objective) for objective in ("with references", "mixed", "joint")),
                pack("mixed", "x0 (sigma squared)"), pack("joint", "x0 (sigma squared)"))
    print(f"\nfew-shot on the '{base}' base: 10 sets of the unseen rule 'reverse', rank {FEW_SHOT['rank']}, lr "
          f"{FEW_SHOT['learning_rate']:g}; target joint <= {2 * trained_joint:.3f} (2x the base's joint error on its "
          f"trained rule, {trained_joint:.3f}), reference <= {2.5 * trained_joint:.3f}")
    print(f"{'trainer':<30}{'steps x batch':>14}" + "".join(f"{m:>11}" for m in modes)
          + f"{'s/step':>9}{'peak MiB':>10}")
    before = [run_mode(patcher, maker, rules, references, m, {}, options.steps, options.seed)[0].rule for m in modes]
    print(f"{'base, no LoRA':<30}{'-':>14}" + "".join(f"{e:>11.4f}" for e in before))
    for name, trainer in trainers:
        for steps, batch in ((options.few_shot_steps, 10), (10, 1)):
            start = time.perf_counter()
            with PeakMemory() as memory:
                tuned = trainer(steps, batch)
            seconds = (time.perf_counter() - start) / steps
            if tuned is None:
                print(f"{name:<30}{f'{steps} x {batch}':>14}  not on this branch")
                break
            errors = [run_mode(tuned, maker, rules, references, m, {}, options.steps, options.seed)[0].rule
                      for m in modes]
            print(f"{name:<30}{f'{steps} x {batch}':>14}" + "".join(f"{e:>11.4f}" for e in errors)
                  + f"{seconds:>9.3f}{memory.mib:>10.0f}", flush=True)


def host_has_timestep_zero() -> bool:
    """Whether this ComfyUI's Flux takes `timestep_zero_index` and has global modulation (which it needs)."""
    import comfy.ldm.flux.model

    fields = getattr(comfy.ldm.flux.model.FluxParams, "__dataclass_fields__", {})
    return "global_modulation" in fields and "timestep_zero_index" in inspect.signature(
        comfy.ldm.flux.model.Flux.forward_orig).parameters


def trained_patcher(settings: TrainSettings, maker: SetMaker, threads: int, label: str):
    path = cache_path(settings)
    if path.exists():
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            trained = f.metadata().get("train_seconds", "?")
        print(f"base '{label}': trained weights from the cache ({trained} s to train)")
    else:
        print(f"base '{label}': training the tiny FLUX ({settings.steps} steps of {settings.batch} sets, "
              f"{threads} thread)")
        trainer = train_reference_tokens if settings.objective == "reference tokens" else train
        seconds = trainer(settings, maker, path)
        print(f"trained in {seconds:.0f} s; cached outside the repository")
    return load_patcher(settings, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--canvases", type=int, default=64, help="held-out references (each sampled twice)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared machine)")
    parser.add_argument("--image", type=Path, help="write a picture of what the modes produce")
    parser.add_argument("--frontier", type=Path, help="write the quality-against-cost plot of the 2-panel sets")
    parser.add_argument("--skip-few-shot", action="store_true")
    parser.add_argument("--train-only", action="store_true", help="train (or find cached) the bases, then stop")
    parser.add_argument("--bases", help="comma-separated base labels to use (default: all this host can train)")
    parser.add_argument("--train-steps", type=int, default=TrainSettings.steps, help="training steps (cache key)")
    parser.add_argument("--few-shot-steps", type=int, default=300, help="few-shot training steps of batch 10")
    parser.add_argument("--few-shot-only", action="store_true",
                        help="only the few-shot table, on the 'with references' base (the winner of the tables)")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    load_comfy()
    import comfy.utils

    comfy.utils.PROGRESS_BAR_ENABLED = False  # TrainLoraNode's tqdm bar would flood the table
    maker = SetMaker()
    t0 = host_has_timestep_zero()
    bases = BASES + (T0_BASES if t0 else ())
    if options.bases:
        wanted = [b.strip() for b in options.bases.split(",")]
        bases = tuple(b for b in bases if b[0] in wanted)
    patchers = {label: trained_patcher(TrainSettings(steps=options.train_steps, **kw), maker, options.threads, label)
                for label, kw in bases}
    if options.train_only:
        return
    if options.few_shot_only:  # the base's joint error on its trained rule sets the target, as after the tables
        label = "with references"
        references = maker.sets(options.canvases, (), torch.Generator().manual_seed(10_000 + options.seed))
        joint = run_mode(patchers[label], maker, TASKS[0], references, "joint", {}, options.steps, options.seed)[0]
        few_shot_table(options, maker, patchers[label], label, joint.rule)
        return
    evaluate(options, maker, bases, patchers, t0)


if __name__ == "__main__":
    main()
