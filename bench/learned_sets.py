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

Few-shot, in the paper's spirit: ComfyUI's TrainLoraNode (called in-process) tunes a LoRA on the trained base with
10 sets of a rule the base never saw (`reverse`: the identity channels in reverse order, under a new task vector),
and the new rule's error is printed before and after.

Trained weights are cached outside the repository, in ~/.cache/iclora-bench/<hash of the settings>.safetensors
(ICLORA_BENCH_CACHE overrides the folder); the first run trains and prints the time.
Training starts from an identity init (see `identity_init`) so the small CPU budget goes to the sets, and checkpoints
the blocks with `checkpoint_block`, not ComfyUI's `nodes_train.patch`, whose gradients are wrong for Flux.

Run: COMFYUI_PATH=/path/to/ComfyUI python bench/learned_sets.py [--canvases 64] [--steps 20] [--image PNG]
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

DATA_VERSION = 8  # bump when the set generator or the training loop changes: the cache key includes it
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


def tiny_flux_config(t: TrainSettings) -> dict:
    head = t.hidden // t.heads
    return {"image_model": "flux", "in_channels": 16, "out_channels": 16, "patch_size": TOKEN, "vec_in_dim": 32,
            "context_in_dim": 32, "hidden_size": t.hidden, "mlp_ratio": 2.0, "num_heads": t.heads,
            "depth": t.depth, "depth_single_blocks": t.single_depth,
            "axes_dim": [head - 2 * (head * 7 // 16), head * 7 // 16, head * 7 // 16], "theta": 10000,
            "qkv_bias": True, "guidance_embed": False}


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


def cache_path(t: TrainSettings) -> Path:
    folder = Path(os.environ.get("ICLORA_BENCH_CACHE", Path.home() / ".cache" / "iclora-bench"))
    # the settings and the code that makes the weights: an edit there cannot load stale weights
    code = "".join(inspect.getsource(f) for f in (tiny_flux_config, SetMaker, identity_init, checkpoint_block, train))
    key = hashlib.sha256((json.dumps(asdict(t), sort_keys=True) + code).encode()).hexdigest()[:16]
    return folder / f"learned-sets-{key}.safetensors"


def build_model(t: TrainSettings):
    import comfy.model_detection

    config = comfy.model_detection.model_config_from_unet_config(tiny_flux_config(t))
    config.set_inference_dtype(torch.float32, None)
    return config.get_model({}, "")


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
        for block in flux.double_blocks:
            modulations += [block.img_mod.lin, block.txt_mod.lin]
        modulations += [block.modulation.lin for block in flux.single_blocks]
        for linear in modulations:
            linear.weight.zero_()
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


def checkpoint_patch(module) -> None:
    """`checkpoint_block` in place of ComfyUI's `nodes_train.patch` for TrainLoraNode (same contract)."""
    if hasattr(module, "forward"):
        checkpoint_block(module)


def train(t: TrainSettings, maker: SetMaker, path: Path) -> float:
    """Flow matching as ComfyUI's CONST sampling defines it: x_s = s e + (1 - s) x0, the model's output
    v = (x_s - x0_hat) / s, trained towards e - x0; s half uniform, half logit-normal. Returns the seconds it took."""
    from safetensors.torch import save_file

    torch.manual_seed(t.seed)
    model = build_model(t)
    for module in model.modules():  # ComfyUI's layers skip init: give them torch's
        if isinstance(module, torch.nn.Linear):
            torch.nn.Linear.reset_parameters(module)
        elif isinstance(getattr(module, "scale", None), torch.nn.Parameter):
            torch.nn.init.ones_(module.scale)
    identity_init(model.diffusion_model)
    for block in (*model.diffusion_model.double_blocks, *model.diffusion_model.single_blocks):
        checkpoint_block(block)
    model.train()
    optimizer = torch.optim.AdamW(model.diffusion_model.parameters(), lr=t.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=t.lr, total_steps=t.steps, pct_start=0.05)
    generator = torch.Generator().manual_seed(t.seed)
    start = time.perf_counter()
    for step in range(t.steps):
        rules = TASKS[step % len(TASKS)]
        x0 = maker.sets(t.batch, rules, generator)
        half = t.batch // 2  # half uniform, so sampling's first steps near sigma 1 are trained too
        sigma = torch.cat([torch.rand(half, generator=generator),
                           torch.sigmoid(torch.randn(t.batch - half, generator=generator))])
        noise = torch.randn(x0.shape, generator=generator)
        s = sigma.view(-1, 1, 1, 1)
        xt = s * noise + (1 - s) * x0
        cond = maker.conditioning(rules[-1], t.batch)[0]
        denoised = model.apply_model(xt, sigma, c_crossattn=cond[0], y=cond[1]["pooled_output"])
        loss = (((xt - denoised) / s - (noise - x0)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 500 == 0 or step == t.steps - 1:
            print(f"  train step {step:>5}/{t.steps}  loss {loss.item():.4f}  {time.perf_counter() - start:.0f} s",
                  flush=True)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.diffusion_model.state_dict().items()}
    save_file(state, str(path), metadata={"settings": json.dumps(asdict(t)), "train_seconds": f"{seconds:.1f}"})
    return seconds


def load_patcher(t: TrainSettings, path: Path):
    import comfy.model_patcher
    from safetensors.torch import load_file

    model = build_model(t)
    model.diffusion_model.load_state_dict(load_file(str(path)))
    model.eval()
    cpu = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(model, load_device=cpu, offload_device=cpu)


@dataclass
class Scores:
    rule: float
    seam: float
    diversity: float
    evaluations: int


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
        ("harmonized", {"resample_count": 3}), ("harmonized", {"resample_count": 4}))


LABELS = {"refine_fraction": "refine ", "reference_guidance": "guide ", "resample_count": "r="}
PICTURED = (("joint", {}), ("masked", {}), ("consistent", {}), ("harmonized", {"resample_count": 3}))


def run_mode(patcher, maker: SetMaker, rules: tuple[str, ...], references: torch.Tensor, mode: str, extra: dict,
             steps: int, seed: int) -> tuple[Scores, torch.Tensor]:
    import comfy.latent_formats
    from iclora_pack.nodes.host.sampler import SamplerSettings, make_noise, sample_latent

    fmt = comfy.latent_formats.Flux()
    n = references.shape[0]
    width = SIDE * TOKEN
    doubled = torch.cat([references, references])  # two seeds per reference, for diversity
    latent = torch.cat([doubled] + [torch.zeros_like(doubled)] * len(rules), dim=-1)
    mask = torch.ones(1, 1, latent.shape[-2], latent.shape[-1])
    mask[..., :width] = 0.0
    noise = make_noise(latent, seed, 1)
    settings = SamplerSettings(mode=mode, seed=seed, steps=steps, resample_fraction=1.0, **extra)
    cond = maker.conditioning(rules[-1])
    result = sample_latent(patcher, cond, cond, fmt.process_out(latent), noise,
                           None if mode == "joint" else mask, settings)
    out = fmt.process_in(result.samples)
    rule, seam, diversity = score(maker, out, rules, None if mode == "joint" else doubled, n)
    return Scores(rule, seam, diversity, result.evaluations), out


def few_shot(patcher, maker: SetMaker, steps: int, seed: int, references: torch.Tensor, modes: tuple[str, ...]):
    """LoRA-tune the base on 10 sets of an unseen rule with ComfyUI's TrainLoraNode; the rule's error before/after."""
    import comfy.latent_formats
    from comfy_extras import nodes_train

    fmt = comfy.latent_formats.Flux()
    rules = ("reverse",)
    shots = fmt.process_out(maker.sets(10, rules, torch.Generator().manual_seed(seed + 99)))
    start = time.perf_counter()
    stock_patch, nodes_train.patch = nodes_train.patch, checkpoint_patch  # right gradients (see checkpoint_block)
    try:
        tuned = nodes_train.TrainLoraNode().train(
            model=patcher, latents={"samples": shots}, positive=maker.conditioning("reverse"), batch_size=10,
            steps=300, grad_accumulation_steps=1, learning_rate=3e-3, rank=8, optimizer="AdamW", loss_function="MSE",
            seed=seed, training_dtype="fp32", lora_dtype="fp32", algorithm="LoRA", gradient_checkpointing=True,
            existing_lora="[None]")[0]
    finally:
        nodes_train.patch = stock_patch
    seconds = time.perf_counter() - start
    rows = []
    for mode in modes:
        before, _ = run_mode(patcher, maker, rules, references, mode, {}, steps, seed)
        after, _ = run_mode(tuned, maker, rules, references, mode, {}, steps, seed)
        rows.append((mode, before, after))
    return rows, seconds


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
    (x masked mode's); the target of issue 10 (within 1.25x of joint's error at <= 1.5x the evaluations) shaded."""
    from PIL import Image, ImageDraw

    w, h, left, bottom, top, right = 680, 420, 70, 50, 40, 20
    x_max = max(4.4, max(p[1] for p in points) + 1.0)  # room for the rightmost label
    y_max = max(2.5, max(p[2] for p in points) * 1.1)
    image = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(image)
    to_px = lambda x, y: (left + x / x_max * (w - left - right), h - bottom - y / y_max * (h - bottom - top))  # noqa
    x0, y0 = to_px(0, 0)
    x1, y1 = to_px(1.5, min(1.25 * joint, y_max))
    draw.rectangle([x0, y1, x1, y0], fill=(215, 240, 215))
    draw.text((x0 + 4, y1 + 4), "target (<= 1.25x joint, <= 1.5x cost)", fill=(40, 120, 40))
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
               "joint": (60, 60, 60)}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--canvases", type=int, default=64, help="held-out references (each sampled twice)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared machine)")
    parser.add_argument("--image", type=Path, help="write a picture of what the modes produce")
    parser.add_argument("--frontier", type=Path, help="write the quality-against-cost plot of the 2-panel sets")
    parser.add_argument("--skip-few-shot", action="store_true")
    parser.add_argument("--train-steps", type=int, default=TrainSettings.steps, help="training steps (cache key)")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    load_comfy()
    import comfy.utils

    comfy.utils.PROGRESS_BAR_ENABLED = False  # TrainLoraNode's tqdm bar would flood the table
    settings = TrainSettings(steps=options.train_steps)
    maker = SetMaker()
    path = cache_path(settings)
    if path.exists():
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            trained = f.metadata().get("train_seconds", "?")
        print(f"trained weights from the cache ({trained} s to train, settings {asdict(settings)})")
    else:
        print(f"training the tiny FLUX ({settings.steps} steps of {settings.batch} sets, {options.threads} thread)")
        seconds = train(settings, maker, path)
        print(f"trained in {seconds:.0f} s; cached outside the repository")
    patcher = load_patcher(settings, path)
    params = sum(p.numel() for p in patcher.model.diffusion_model.parameters())
    print(f"tiny FLUX: {params} parameters, hidden {settings.hidden}, {settings.depth} double + "
          f"{settings.single_depth} single blocks; {options.steps} euler steps, {options.canvases} held-out "
          "references x 2 seeds")

    generator = torch.Generator().manual_seed(10_000 + options.seed)  # held out: training used other seeds
    pictures, points = [], []
    for rules in TASKS:
        references = maker.sets(options.canvases, (), generator)
        title = f"{1 + len(rules)} panels: reference | " + " | ".join(rules)
        print(f"\n{title}")
        print(f"{'mode':<13}{'setting':<19}{'evals':>6}{'x cost':>8}{'rule err':>10}{'x joint':>9}{'seam err':>10}"
              f"{'diversity':>11}")
        joint_rule, base_evals = None, None
        for mode, extra in RUNS:
            scores, out = run_mode(patcher, maker, rules, references, mode, extra, options.steps, options.seed)
            joint_rule = joint_rule or scores.rule
            base_evals = base_evals or scores.evaluations
            setting = " ".join(f"{LABELS[k]}{v:g}" for k, v in extra.items()) or "-"
            print(f"{mode:<13}{setting:<19}{scores.evaluations:>6}{scores.evaluations / base_evals:>8.2f}"
                  f"{scores.rule:>10.4f}{scores.rule / joint_rule:>9.2f}{scores.seam:>10.4f}{scores.diversity:>11.3f}")
            if len(rules) == 1:
                points.append((f"{mode} {setting if setting != '-' else ''}".strip(), scores.evaluations / base_evals,
                               scores.rule))
            if len(rules) == 1 and (mode, extra) in PICTURED:
                pictures.append((f"{mode} {setting if setting != '-' else ''}".strip(), scores.rule, out))
    if options.image:
        save_picture(options.image, maker, pictures, TASKS[0][0])
        print(f"\npicture: {options.image}")
    if options.frontier:
        save_frontier(options.frontier, points, points[0][2], "learned sets, 2 panels")
        print(f"frontier plot: {options.frontier}")
    if options.skip_few_shot:
        return
    references = maker.sets(options.canvases, (), generator)
    rows, seconds = few_shot(patcher, maker, options.steps, options.seed, references, ("masked", "consistent"))
    print(f"\nfew-shot: TrainLoraNode, rank 8, 300 steps on 10 sets of the unseen rule 'reverse' ({seconds:.0f} s)")
    print(f"{'mode':<13}{'rule err before':>16}{'after':>9}")
    for mode, before, after in rows:
        print(f"{mode:<13}{before.rule:>16.4f}{after.rule:>9.4f}")


if __name__ == "__main__":
    main()
