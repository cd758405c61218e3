"""What the In-Context Sampler costs over the stock masked path, on a tiny FLUX, at two canvas sizes.

Stock: VAEEncode -> SetLatentNoiseMask -> KSampler -> VAEDecode. Node: In-Context Sampler in masked mode (same
result, bit for bit) with paste-back on. Timings are interleaved in one process and reported as a ratio (median of
repeats); peak memory is the peak resident size of a fresh process running one call of each path.

Run: COMFYUI_PATH=/path/to/ComfyUI python bench/sampler_overhead.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oracle_consistency import load_comfy  # noqa: E402

SIZES = (256, 512)  # panel side in px; two panels side by side


def setup(models_dir: Path):
    load_comfy()
    import folder_paths
    from iclora_tools.comfyui import inprocess as comfy_inprocess
    from iclora_tools.comfyui import tiny_models

    import nodes

    comfy_inprocess.add_model_folders(folder_paths, models_dir)
    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
    tiny_models.install_tiny_models(models_dir)
    model = nodes.UNETLoader().load_unet(tiny_models.FLUX_FILE, "default")[0]
    clip = nodes.DualCLIPLoader().load_clip(tiny_models.CLIP_L_FILE, tiny_models.T5_FILE, "flux")[0]
    vae = nodes.VAELoader().load_vae("taef1")[0]
    (positive,) = nodes.CLIPTextEncode().encode(clip, "a two-panel image")
    (negative,) = nodes.ConditioningZeroOut().zero_out(positive)
    return nodes, model, vae, positive, negative


def make_canvas(side: int):
    from iclora_pack.nodes.core.canvas import concatenate_panels
    from iclora_pack.nodes.core.masks import slot_mask

    result = concatenate_panels([("image_1", torch.rand(1, side, side, 3))], 1)
    return result.canvas, slot_mask(result.layout)


def stock(kit, canvas, mask, steps):
    nodes, model, vae, positive, negative = kit
    (latent,) = nodes.VAEEncode().encode(vae, canvas)
    (latent,) = nodes.SetLatentNoiseMask().set_mask(latent, mask)
    (sampled,) = nodes.KSampler().sample(model, 1, steps, 1.0, "euler", "simple", positive, negative, latent)
    return nodes.VAEDecode().decode(vae, sampled)[0]


def ours(kit, canvas, mask, steps):
    from iclora_pack.nodes.host.sampler import SamplerSettings, run_in_context_sampler

    _, model, vae, positive, negative = kit
    settings = SamplerSettings(mode="masked", seed=1, steps=steps)
    return run_in_context_sampler(model=model, positive=positive, negative=negative, vae=vae, image=canvas,
                                  mask=mask, settings=settings).images


def probe(models_dir: Path, path: str, side: int, steps: int) -> None:
    """One call in a fresh process; prints its peak resident size."""
    kit = setup(models_dir)
    canvas, mask = make_canvas(side)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (stock if path == "stock" else ours)(kit, canvas, mask, steps)
    print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "before_kib": before}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--probe", nargs=2, metavar=("PATH", "SIDE"))
    parser.add_argument("--models", type=Path)
    options = parser.parse_args()
    models_dir = options.models or Path(tempfile.mkdtemp(prefix="iclora-bench-"))
    if options.probe:
        probe(models_dir, options.probe[0], int(options.probe[1]), options.steps)
        return

    kit = setup(models_dir)
    print(f"tiny FLUX on {torch.device('cpu')}, {options.steps} euler steps, median of {options.repeats}")
    print(f"{'canvas':<12}{'stock s':>10}{'node s':>10}{'ratio':>8}{'stock peak MiB':>16}{'node peak MiB':>15}")
    for side in SIZES:
        canvas, mask = make_canvas(side)
        for fn in (stock, ours):  # warm up both paths
            fn(kit, canvas, mask, options.steps)
        times = {stock: [], ours: []}
        for _ in range(options.repeats):
            for fn in (stock, ours):
                start = time.perf_counter()
                fn(kit, canvas, mask, options.steps)
                times[fn].append(time.perf_counter() - start)
        t_stock, t_ours = statistics.median(times[stock]), statistics.median(times[ours])
        peaks = []
        for path in ("stock", "node"):
            run = subprocess.run([sys.executable, __file__, "--probe", path, str(side), "--models", str(models_dir),
                                  "--steps", str(options.steps)], capture_output=True, text=True, check=True)
            peaks.append(json.loads(run.stdout.strip().splitlines()[-1])["peak_kib"] / 1024)
        print(f"{2 * side}x{side:<7}{t_stock:>10.3f}{t_ours:>10.3f}{t_ours / t_stock:>8.3f}"
              f"{peaks[0]:>16.0f}{peaks[1]:>15.0f}")


if __name__ == "__main__":
    main()
