"""The arithmetic of in-context sampling that needs no ComfyUI: renoising, resampling plans, reference masks and
paste-back. Kept apart so it can be tested exactly and reused by the oracle benchmark."""

from __future__ import annotations

import math

import torch

from .masks import box_blur, dilate

MODES = ("joint", "masked", "consistent", "harmonized", "fill", "reference")  # new modes go last: saved workflows


def renoise(x: torch.Tensor, sigma_from: float, sigma_to: float, noise: torch.Tensor, flow: bool) -> torch.Tensor:
    """Take a sample at noise level `sigma_from` back up to the higher `sigma_to` with fresh `noise`.

    Flow matching (FLUX): x_s = (1 - s) x0 + s e, so x_to = a x_from + sqrt(s_to^2 - a^2 s_from^2) e with
    a = (1 - s_to) / (1 - s_from), which keeps both the signal and the total noise exactly right.
    Variance exploding (k-diffusion EPS models): x_to = x_from + sqrt(s_to^2 - s_from^2) e.
    """
    if sigma_to < sigma_from:
        raise ValueError("renoise goes up in noise: sigma_to must be >= sigma_from")
    if flow:
        a = (1.0 - sigma_to) / (1.0 - sigma_from)
        extra = max(sigma_to ** 2 - (a * sigma_from) ** 2, 0.0)
        return a * x + math.sqrt(extra) * noise
    return x + math.sqrt(max(sigma_to ** 2 - sigma_from ** 2, 0.0)) * noise


def noise_estimate(x: torch.Tensor, denoised: torch.Tensor, sigma: torch.Tensor | float, flow: bool) -> torch.Tensor:
    """The noise a model believes is in `x` at level `sigma`, given its clean prediction `denoised`: the inverse
    of renoising (flow matching: x = (1 - s) x0 + s e; variance exploding: x = x0 + s e).

    Consistent mode re-noises the references with this noise instead of the fixed starting noise, so the noisy
    references agree with what the model sees in the generated panels (the DDNM idea: keep the model's noise,
    replace only the clean part by what is known)."""
    if not torch.is_tensor(sigma):
        sigma = torch.tensor(float(sigma))
    s = sigma.to(x.dtype).reshape([-1] + [1] * (x.ndim - 1))
    clean = (1.0 - s) * denoised if flow else denoised
    return (x - clean) / s


def refined_steps(steps: int, share: float) -> int:
    """Consistent mode: how many of the first steps get one extra model evaluation that re-estimates the
    references' noise before the step is taken (0 = none, the cost of masked mode)."""
    return harmonized_steps(steps, share)


def harmonized_steps(steps: int, fraction: float) -> int:
    """How many of the first steps are resampled: the early part, where the layout of the whole set is decided."""
    return min(steps, max(0, math.ceil(fraction * steps - 1e-9)))


def planned_step_count(steps: int, mode: str, repeats: int, fraction: float, refine: float = 0.0) -> int:
    """Model evaluations a run will take with a single-evaluation sampler such as Euler."""
    if mode == "consistent":
        return steps + refined_steps(steps, refine)
    if mode != "harmonized":
        return steps
    return steps + (repeats - 1) * harmonized_steps(steps, fraction)


def reference_input(x: torch.Tensor, clean: torch.Tensor, denoise_mask: torch.Tensor) -> torch.Tensor:
    """Reference mode's model input: the sample where it is generated (mask 1), the clean reference latent where it
    is kept (mask 0), never re-noised; what a model trained with clean references in the canvas saw."""
    return x * denoise_mask + clean * (1.0 - denoise_mask)


def reference_token_slices(latent_mask: torch.Tensor, patch: int) -> list[tuple[int, int]]:
    """Runs of reference tokens (row-major, as a DiT patchifies) in a `[h, w]` latent-resolution mask (1 =
    generate): a token is a reference token where every cell of its `patch` x `patch` block is kept (mask 0), so
    feathered seams count as generated. Returned as half-open (start, end) token index ranges."""
    if latent_mask.ndim != 2:
        raise ValueError("reference_token_slices takes one [h, w] mask")
    h, w = latent_mask.shape
    pad_h, pad_w = (-h) % patch, (-w) % patch
    padded = torch.nn.functional.pad(latent_mask.float()[None, None], (0, pad_w, 0, pad_h), value=1.0)
    kept = torch.nn.functional.max_pool2d(padded, patch)[0, 0].flatten() <= 0.0
    slices, start = [], None
    for i, flag in enumerate(kept.tolist() + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            slices.append((start, i))
            start = None
    return slices


def seam_mask(mask: torch.Tensor, seam_feather: int) -> torch.Tensor:
    """The sampler's mask from a connected one. With `seam_feather` 0 the mask is used as it is (an Output Slot
    Mask `feather` ramp included). With `seam_feather` > 0 the ramp becomes about 2 * seam_feather px: a mask that
    is already feathered is first made hard again at its midpoint (a box-blur ramp is symmetric about the
    original border), so the two feathers never stack into a double blur."""
    mask = mask.float()
    if seam_feather <= 0:
        return mask
    hard = (mask >= 0.5).to(mask.dtype)
    return box_blur(hard, seam_feather).clamp(0.0, 1.0)


def reference_soft_mask(output_mask: torch.Tensor, strength: float) -> torch.Tensor:
    """Output slots stay 1; references become 1 - strength, so with differential diffusion they are only
    re-rendered in the last (1 - strength) part of the schedule, and kept exactly at strength 1."""
    return output_mask + (1.0 - output_mask) * (1.0 - strength)


def paste_weight(pixel_mask: torch.Tensor, blend: int) -> torch.Tensor:
    """Weight of the original pixels when pasting references back: 1 on kept pixels, 0 where generated, and with
    `blend` > 0 a ramp of about 2 * blend px inside the reference, so the seam fades instead of cutting."""
    keep = 1.0 - pixel_mask.clamp(0.0, 1.0)
    if blend <= 0:
        return keep
    inner = 1.0 - dilate(1.0 - keep, blend)
    return box_blur(inner, blend).clamp(0.0, 1.0) * keep


def paste_references(decoded: torch.Tensor, original: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Put the user's own pixels back where they were kept: `[B, H, W, C]` images, `[B or 1, H, W]` weight."""
    w = weight[..., None].to(decoded.dtype)
    return decoded * (1.0 - w) + original.to(decoded.dtype) * w
