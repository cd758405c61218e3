"""Hypothesis strategies for random but valid canvases (small sizes keep the tier fast on two CPU cores)."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st
from iclora_pack.nodes.core.layout import ALIGN


@st.composite
def canvas_specs(draw, fit_modes=("crop", "pad", "stretch"), aligned: bool = True) -> dict:
    """`aligned=False` also draws panel sizes off the 16 px grid (or 0: the first image's size), which Panel
    Concatenate must snap."""
    n_inputs = draw(st.integers(0, 4))
    n_outputs = draw(st.integers(0 if n_inputs else 1, 4))
    n = n_inputs + n_outputs
    arrangement = draw(st.sampled_from(["row", "column", "grid"]))
    rows = cols = 0
    if arrangement == "grid":
        cols = draw(st.integers(0, n))
        rows = draw(st.integers(0, n)) if cols == 0 else draw(st.sampled_from([0, math.ceil(n / cols)]))
    roles = ["I"] * n_inputs + ["O"] * n_outputs
    order = ",".join(draw(st.permutations(roles)))
    if aligned:
        panel_w = draw(st.integers(1, 6)) * ALIGN
        panel_h = draw(st.integers(1, 6)) * ALIGN
        sizes = [(draw(st.integers(8, 120)), draw(st.integers(8, 120))) for _ in range(n_inputs)]
    else:  # any px, or 0 (the first image's size); images at least 16 px so that 0 is valid
        sizes = [(draw(st.integers(ALIGN, 120)), draw(st.integers(ALIGN, 120))) for _ in range(n_inputs)]
        from_image = n_inputs > 0 and draw(st.booleans())
        panel_w = 0 if from_image else draw(st.integers(ALIGN, 6 * ALIGN))
        panel_h = 0 if from_image else draw(st.integers(ALIGN, 6 * ALIGN))
    return {
        "n_inputs": n_inputs, "n_outputs": n_outputs, "order": order, "arrangement": arrangement,
        "rows": rows, "cols": cols, "panel_w": panel_w, "panel_h": panel_h, "sizes": sizes,
        "fit": draw(st.sampled_from(fit_modes)), "seed": draw(st.integers(0, 2**16)),
    }


def make_images(spec: dict, batch: int = 1) -> list[tuple[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(spec["seed"])
    return [(f"image_{i + 1}", torch.rand(batch, h, w, 3, generator=generator))
            for i, (w, h) in enumerate(spec["sizes"])]


def smooth_image(width: int, height: int, batch: int = 1) -> torch.Tensor:
    """A low-frequency picture: resampling round trips on it stay close, unlike on noise."""
    y = torch.linspace(0, 1, height).view(1, height, 1, 1)
    x = torch.linspace(0, 1, width).view(1, 1, width, 1)
    r = 0.5 + 0.4 * torch.sin(2.0 * x + 1.0 * y)
    g = 0.3 + 0.5 * x * y
    b = 0.6 - 0.3 * y
    return torch.cat([r.expand(batch, height, width, 1), g.expand(batch, height, width, 1),
                      b.expand(batch, height, width, 1)], dim=-1).contiguous()
