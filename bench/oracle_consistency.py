"""How consistent are generated panels with their references? A benchmark whose right answer is known.

An analytic "oracle" replaces FLUX: a ComfyUI model (flow matching, like FLUX) whose data are two panels, a reference
and an output, jointly Gaussian with output = reference + tau * e. Its denoiser is exact and closed-form, so the
exact conditional of the output panel given the reference is known: N(reference, tau^2). Every mode of the
In-Context Sampler runs on it through ComfyUI's own sampling, and we measure the residual output - reference
(against the given reference in masked and harmonized modes, against the generated one in joint mode):
its mean should be 0 and its spread tau. The KL divergence from the exact conditional summarises both.

Run: COMFYUI_PATH=/path/to/ComfyUI python bench/oracle_consistency.py [--canvases 512] [--steps 20]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from iclora_tools import import_pack  # noqa: E402
from iclora_tools.comfyui import inprocess as comfy_inprocess  # noqa: E402


def load_comfy() -> None:
    """ComfyUI importable on the CPU, and the pack as `iclora_pack` for its logic functions."""
    root = os.environ.get("COMFYUI_PATH")
    if not root:
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    comfy_inprocess.import_comfyui(Path(root).resolve(), cpu=True)
    import_pack("iclora_pack")


class OracleNet(torch.nn.Module):
    """Exact velocity for two Gaussian panels side by side (left = reference, right = output).

    Per element pair, x0 ~ N(0, S) with S = [[1, 1], [1, 1 + tau^2]]; x_t = (1 - t) x0 + t e, so
    E[x0 | x_t] = (1 - t) S ((1 - t)^2 S + t^2 I)^-1 x_t, and FLUX-style models output v = (x_t - x0) / t.
    """

    def __init__(self, tau: float = 0.3, device=None, operations=None, **kwargs):
        super().__init__()
        self.tau = tau
        self.dtype = torch.float32  # ComfyUI asks its diffusion models for their weight dtype

    def forward(self, x, timesteps, context=None, **kwargs):
        t = (timesteps.float() / 1000.0).view(-1, 1, 1, 1)
        half = x.shape[-1] // 2
        a, b = x[..., :half].double(), x[..., half:].double()
        s11, s12, s22 = 1.0, 1.0, 1.0 + self.tau ** 2
        u = 1.0 - t.double()
        c11, c12, c22 = u * u * s11 + t * t, u * u * s12, u * u * s22 + t * t
        det = c11 * c22 - c12 * c12
        i11, i12, i22 = c22 / det, -c12 / det, c11 / det  # inverse of the x_t covariance
        m11, m12 = u * (s11 * i11 + s12 * i12), u * (s11 * i12 + s12 * i22)
        m21, m22 = u * (s12 * i11 + s22 * i12), u * (s12 * i12 + s22 * i22)
        x0 = torch.cat([m11 * a + m12 * b, m21 * a + m22 * b], dim=-1)
        return ((x.double() - x0) / t.double()).to(x.dtype)


def oracle_model(tau: float):
    import comfy.latent_formats
    import comfy.model_base
    import comfy.model_patcher
    import comfy.supported_models_base

    class OracleConfig(comfy.supported_models_base.BASE):
        unet_config = {}
        sampling_settings = {"shift": 1.0, "multiplier": 1000}
        latent_format = comfy.latent_formats.LatentFormat
        memory_usage_factor = 0.01

    config = OracleConfig({"tau": tau})
    config.set_inference_dtype(torch.float32, None)
    model = comfy.model_base.BaseModel(config, model_type=comfy.model_base.ModelType.FLOW, unet_model=OracleNet)
    cpu = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(model, load_device=cpu, offload_device=cpu)


def kl_to_exact(mean: float, std: float, tau: float) -> float:
    """KL( N(mean, std^2) || N(0, tau^2) ): 0 when the residual has exactly the conditional's law."""
    return math.log(tau / std) + (std ** 2 + mean ** 2) / (2 * tau ** 2) - 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--canvases", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--tau", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    load_comfy()
    from iclora_pack.nodes.host.sampler import SamplerSettings, make_noise, sample_latent

    tau = options.tau
    model = oracle_model(tau)
    generator = torch.Generator().manual_seed(options.seed)
    shape = (options.canvases, 4, 4, 8)  # 4 channels, 4 x 4 latent cells per panel, two panels side by side
    reference = torch.randn(shape[0], shape[1], shape[2], shape[3] // 2, generator=generator)
    latent = torch.cat([reference, torch.zeros_like(reference)], dim=-1)
    mask = torch.zeros(1, 1, shape[2], shape[3])
    mask[..., shape[3] // 2:] = 1.0
    cond = [[torch.zeros(1, 1, 8), {}]]
    noise = make_noise(latent, options.seed + 1, 1)

    runs = [("joint", 1, 0.0, 1.0), ("masked", 1, 0.0, 1.0), ("consistent", 1, 0.0, 1.0),
            ("consistent", 1, 0.25, 1.0), ("consistent", 1, 0.5, 1.0), ("consistent", 1, 0.5, 1.5),
            ("consistent", 1, 0.5, 2.0), ("harmonized", 4, 0.5, 1.0), ("harmonized", 2, 1.0, 1.0),
            ("harmonized", 3, 1.0, 1.0), ("harmonized", 4, 1.0, 1.0), ("harmonized", 8, 1.0, 1.0)]
    print(f"oracle: {options.canvases} canvases, {options.steps} euler steps, tau = {tau}; exact conditional "
          f"residual: mean 0, std {tau}")
    print(f"{'mode':<12}{'r':>3}{'fraction':>10}{'guide':>7}{'evals':>8}{'x cost':>8}{'mean':>9}{'std/tau':>9}"
          f"{'KL':>9}")
    baseline = None
    for mode, repeats, fraction, guidance in runs:
        settings = SamplerSettings(mode=mode, seed=options.seed, steps=options.steps, resample_count=repeats,
                                   resample_fraction=fraction, refine_fraction=fraction,
                                   reference_guidance=guidance)
        result = sample_latent(model, cond, cond, latent, noise, None if mode == "joint" else mask, settings)
        out = result.samples
        half = shape[3] // 2
        residual = (out[..., half:] - out[..., :half]).double()
        mean, std = float(residual.mean()), float(residual.std())
        evaluations = result.evaluations
        baseline = baseline or evaluations
        print(f"{mode:<12}{repeats:>3}{fraction:>10.2f}{guidance:>7.1f}{evaluations:>8}{evaluations / baseline:>8.1f}"
              f"{mean:>9.4f}{std / tau:>9.3f}{kl_to_exact(mean, std, tau):>9.4f}")


if __name__ == "__main__":
    main()
