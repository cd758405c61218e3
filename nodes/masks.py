"""The output-slot mask: which canvas pixels the sampler generates (1) and which it keeps (0)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .layout import PanelLayout

MASK_NODE = "Output Slot Mask"


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Square max filter; `max_pool2d` pads with -inf, so canvas borders do not count as masked."""
    return F.max_pool2d(mask[:, None], kernel_size=2 * radius + 1, stride=1, padding=radius)[:, 0]


def box_blur(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Separable box blur with edge replication: a linear ramp of 2*radius+1 px across each seam, and no
    fading at the canvas border where there is no neighbour panel."""
    size = 2 * radius + 1
    x = mask[:, None]
    kernel = torch.full((1, 1, 1, size), 1.0 / size, dtype=mask.dtype, device=mask.device)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.transpose(2, 3))
    return x[:, 0]


def slot_mask(layout: PanelLayout, numbers: list[int] | None = None, grow: int = 0, feather: int = 0,
              invert: bool = False) -> torch.Tensor:
    """`[1, H, W]` mask, 1 on the chosen panels (default: the output slots).

    `grow` > 0 extends the masked area into neighbouring panels by that many pixels, < 0 shrinks it; `feather`
    softens the seams with a linear ramp. Both default to 0, which gives an exact hard mask whose 8 px latent
    cells are all 0 or 1.
    """
    chosen = [p for p in layout.panels if (p.number in numbers if numbers else p.is_output)]
    mask = torch.zeros(1, layout.canvas_h, layout.canvas_w, dtype=torch.float32)
    for panel in chosen:
        rows, cols = panel.box.slices()
        mask[:, rows, cols] = 1.0
    if grow > 0:
        mask = dilate(mask, grow)
    elif grow < 0:
        mask = 1.0 - dilate(1.0 - mask, -grow)
    if feather > 0:
        mask = box_blur(mask, feather).clamp(0.0, 1.0)
    return 1.0 - mask if invert else mask
