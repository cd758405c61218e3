"""The output-slot mask: which canvas pixels the sampler generates (1) and which it keeps (0)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .layout import PanelLayout

MASK_NODE = "Output Slot Mask"


def _no_check() -> None:
    pass


def running_max(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Max over the window [i - radius, i + radius] along the last dimension, outside the tensor counting as -inf.

    Van Herk / Gil-Werman: cut the padded line into blocks of one window length; every window then spans the end
    of one block and the start of the next, so a prefix and a suffix running max give it in two look-ups. The cost
    is a few passes over the pixels whatever the radius, where a pooling kernel costs radius times more.
    """
    if radius <= 0:
        return x
    n, k = x.shape[-1], 2 * radius + 1
    blocks = -(-(n + 2 * radius) // k)
    padded = F.pad(x, (radius, blocks * k - n - radius), value=float("-inf"))
    shaped = padded.reshape(*x.shape[:-1], blocks, k)
    prefix = shaped.cummax(-1).values.reshape(padded.shape)
    suffix = shaped.flip(-1).cummax(-1).values.flip(-1).reshape(padded.shape)
    return torch.maximum(suffix[..., :n], prefix[..., k - 1:k - 1 + n])


def running_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over the window [i - radius, i + radius] along the last dimension, edges replicated, from one
    cumulative sum (in float64, so the difference of two large sums keeps the float32 result exact)."""
    if radius <= 0:
        return x
    n, k = x.shape[-1], 2 * radius + 1
    index = torch.arange(-radius, n + radius, device=x.device).clamp(0, n - 1)
    sums = F.pad(x.double()[..., index].cumsum(-1), (1, 0))
    return ((sums[..., k:] - sums[..., :-k]) / k).to(x.dtype)


def dilate(mask: torch.Tensor, radius: int, check: Callable[[], None] = _no_check) -> torch.Tensor:
    """Square max filter of side 2*radius+1 on `[B, H, W]`, done as a row pass then a column pass (a square's
    max is the max of its rows' maxima); canvas borders do not count as masked. `check` runs before each pass
    (ComfyUI's Cancel)."""
    check()
    rows = running_max(mask, radius)
    check()
    return running_max(rows.transpose(-1, -2), radius).transpose(-1, -2).contiguous()


def box_blur(mask: torch.Tensor, radius: int, check: Callable[[], None] = _no_check) -> torch.Tensor:
    """Separable box blur with edge replication: a linear ramp of 2*radius+1 px across each seam, and no
    fading at the canvas border where there is no neighbour panel."""
    check()
    rows = running_mean(mask, radius)
    check()
    return running_mean(rows.transpose(-1, -2), radius).transpose(-1, -2).contiguous()


def slot_mask(layout: PanelLayout, numbers: list[int] | None = None, grow: int = 0, feather: int = 0,
              invert: bool = False, check: Callable[[], None] = _no_check) -> torch.Tensor:
    """`[1, H, W]` mask, 1 on the chosen panels (default: the output slots).

    `grow` > 0 extends the masked area into neighbouring panels by that many pixels, < 0 shrinks it; `feather`
    softens the seams with a linear ramp. Both default to 0, which gives an exact hard mask whose 8 px latent
    cells are all 0 or 1. Either costs the same at any radius; `check` runs between passes and may raise to stop
    (the node passes ComfyUI's interrupt check, so Cancel works).
    """
    chosen = [p for p in layout.panels if (p.number in numbers if numbers else p.is_output)]
    mask = torch.zeros(1, layout.canvas_h, layout.canvas_w, dtype=torch.float32)
    for panel in chosen:
        rows, cols = panel.box.slices()
        mask[:, rows, cols] = 1.0
    if grow > 0:
        mask = dilate(mask, grow, check)
    elif grow < 0:
        mask = 1.0 - dilate(1.0 - mask, -grow, check)
    if feather > 0:
        mask = box_blur(mask, feather, check).clamp(0.0, 1.0)
    return 1.0 - mask if invert else mask
