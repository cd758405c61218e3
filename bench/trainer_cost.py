"""Peak memory and seconds per step: Train In-Context LoRA against stock Train LoRA at the same settings.

Each trainer runs in its own fresh interpreter on the CPU (so one's peak cannot hide in another's), on a small
FLUX-architecture model (ComfyUI's own Flux class, random weights; big enough that activations, not the
interpreter, make the peak) and a few 2-panel canvases with random latents and conditioning. Both trainers'
modules are imported before the start is measured, as a ComfyUI server has them from start-up. Reported per
trainer: the peak resident memory during training above what the process held at the start (resource.getrusage's
maxrss, the high-water mark, less the resident size then), and the median seconds of a step after the first.

The peak is measured twice, each in its own process. `live`: glibc's mmap threshold fixed at 64 KiB, so every
tensor's memory goes back to the system when it is freed and the resident size follows the tensors alive at each
moment, as a GPU allocator's peak does. `resident`: glibc as it comes, whose dynamic threshold keeps freed blocks
of some sizes resident, so the high-water mark also depends on the order of frees (a few tens of MiB either way
on this model). Same settings for all: batch 1, rank 8, bf16 compute and LoRA, gradient checkpointing on, AdamW.

Run: COMFYUI_PATH=/path/to/ComfyUI python bench/trainer_cost.py [--steps 8] [--hidden 256] [--side 32]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
TRAINERS = ("stock", "pack joint", "pack mixed")


def model_config(hidden: int) -> dict:
    heads = max(1, hidden // 64)
    head = hidden // heads
    return {"image_model": "flux", "in_channels": 16, "out_channels": 16, "patch_size": 2, "vec_in_dim": 64,
            "context_in_dim": 64, "hidden_size": hidden, "mlp_ratio": 4.0, "num_heads": heads, "depth": 2,
            "depth_single_blocks": 4, "axes_dim": [head // 8, head * 7 // 16, head * 7 // 16], "theta": 10000,
            "qkv_bias": True, "guidance_embed": True}


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def child(trainer: str, steps: int, hidden: int, side: int) -> dict:
    """One trainer in this (fresh) process; returns its measurements."""
    sys.path.insert(0, str(ROOT / "tools"))
    from iclora_tools import import_pack
    from iclora_tools.comfyui import inprocess
    from iclora_tools.comfyui.tiny_models import _randomise, patch_loaders_for_tiny_models
    from safetensors.torch import save_file

    inprocess.import_comfyui(Path(os.environ["COMFYUI_PATH"]).resolve(), cpu=True)
    import comfy.model_detection
    import comfy.sd
    import comfy.utils

    comfy.utils.PROGRESS_BAR_ENABLED = False
    import_pack("iclora_pack")
    from iclora_pack.nodes.core.layout import build_layout

    torch.set_num_threads(1)
    torch.manual_seed(0)
    import comfy.ldm.flux.model

    unet = model_config(hidden)
    if "txt_ids_dims" in comfy.ldm.flux.model.FluxParams.__dataclass_fields__:
        unet["txt_ids_dims"] = []  # 0.33: what its FLUX.1 detection sets
    config = comfy.model_detection.model_config_from_unet_config(unet)
    weights = _randomise(config.get_model({}, "").diffusion_model, 1)  # ComfyUI's layers skip init
    # Loaded from a file by ComfyUI's own loader, as UNETLoader does: 0.33's Train LoRA reloads the model from it.
    path = Path(tempfile.mkdtemp()) / "flux-bench.safetensors"
    save_file(weights, str(path))
    del weights
    patch_loaders_for_tiny_models()  # detection reads this model's sizes from its tensors
    patcher = comfy.sd.load_diffusion_model(str(path))
    model = patcher.model
    sets = 4
    latents = {"samples": torch.randn(sets, 16, side, 2 * side)}
    positive = [[torch.randn(1, 16, 64), {"pooled_output": torch.randn(1, 64), "guidance": 3.5}]
                for _ in range(sets)]
    layout = build_layout(["input"] * 2, side * 8, side * 8, "row")
    from comfy_extras import nodes_train
    from iclora_pack.nodes.host.trainer import TrainerSettings, train_in_context_lora
    times: list[float] = []
    last = [0.0]

    def on_step(step: int, loss: float) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    base = rss_kib()
    last[0] = time.perf_counter()
    if trainer == "stock":
        original = nodes_train.TrainSampler.sample

        def timed(self, *args, **kwargs):  # the stock loop reports each loss through this callback
            callback = self.loss_callback
            self.loss_callback = lambda loss: (callback(loss), on_step(0, loss))
            return original(self, *args, **kwargs)

        nodes_train.TrainSampler.sample = timed
        common = dict(batch_size=1, grad_accumulation_steps=1, steps=steps, learning_rate=1e-4, rank=8,
                      optimizer="AdamW", loss_function="MSE", seed=0, training_dtype="bf16", lora_dtype="bf16",
                      algorithm="LoRA", gradient_checkpointing=True, existing_lora="[None]")
        if hasattr(nodes_train.TrainLoraNode, "train"):  # 0.3.64
            nodes_train.TrainLoraNode().train(model=patcher, latents=latents, positive=positive, **common)
        else:  # 0.33: every input a list; a few more inputs
            extra = dict(quantized_backward=False, checkpoint_depth=1, offloading=False, bucket_mode=False,
                         bypass_mode=False)
            nodes_train.TrainLoraNode.execute(model=[patcher], latents=[latents], positive=[positive],
                                              **{k: [v] for k, v in {**common, **extra}.items()})
    else:
        objective = trainer.split()[1]
        settings = TrainerSettings(objective=objective, references="first", steps=steps, learning_rate=1e-4, rank=8,
                                   batch_size=1, training_dtype="bf16", lora_dtype="bf16",
                                   gradient_checkpointing=True)
        train_in_context_lora(model=patcher, latents=latents, positive=positive, layout=layout, settings=settings,
                              on_step=on_step)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"trainer": trainer, "peak_mib": (peak - base) / 1024, "base_mib": base / 1024,
            "seconds_per_step": statistics.median(times[1:]) if len(times) > 1 else float("nan"),
            "steps": len(times), "params": sum(p.numel() for p in model.parameters())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--side", type=int, default=32, help="panel side in latent cells (2 panels per canvas)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(child(options.child, options.steps, options.hidden, options.side)))
        return
    if not os.environ.get("COMFYUI_PATH"):
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    rows = [{**run_child(options, trainer, live=False),
             "live_mib": run_child(options, trainer, live=True)["peak_mib"]} for trainer in TRAINERS]
    tokens = (options.side // 2) * options.side
    print(f"FLUX-architecture model, {rows[0]['params']:,} parameters (hidden {options.hidden}, 2 double + 4 single "
          f"blocks); canvas {2 * options.side * 8}x{options.side * 8} px = {tokens} image tokens; batch 1, rank 8, "
          f"bf16, checkpointing on, {options.steps} steps, CPU, 1 thread")
    print(f"{'trainer':<12}{'live MiB':>10}{'x stock':>9}{'resident':>10}{'x stock':>9}{'s/step':>9}{'x stock':>9}")
    stock = rows[0]
    for row in rows:
        print(f"{row['trainer']:<12}{row['live_mib']:>10.1f}{row['live_mib'] / stock['live_mib']:>9.2f}"
              f"{row['peak_mib']:>10.1f}{row['peak_mib'] / stock['peak_mib']:>9.2f}"
              f"{row['seconds_per_step']:>9.3f}{row['seconds_per_step'] / stock['seconds_per_step']:>9.2f}")


def run_child(options, trainer: str, live: bool) -> dict:
    """One trainer in a fresh interpreter; `live` fixes glibc's mmap threshold (see the module's docstring)."""
    env = dict(os.environ)
    if live:
        env.update(MALLOC_MMAP_THRESHOLD_=str(64 * 1024), MALLOC_TRIM_THRESHOLD_=str(64 * 1024))
    result = subprocess.run([sys.executable, __file__, "--child", trainer, "--steps", str(options.steps),
                             "--hidden", str(options.hidden), "--side", str(options.side)],
                            capture_output=True, text=True, check=False, env=env)
    if result.returncode:
        sys.exit(f"{trainer} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
