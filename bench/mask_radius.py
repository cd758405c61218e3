"""What Output Slot Mask's grow and feather cost as the radius grows, on a 1024 x 512 canvas (two panels).

The running max / cumulative-sum filters cost the same at any radius; for scale, the straightforward square max
filter (one pooling kernel of side 2r+1, what the node ran before) is timed at the small radii only, as it takes
minutes at r = 512. No ComfyUI needed.

Run: python bench/mask_radius.py [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def load_pack():
    sys.path.insert(0, str(ROOT / "tools"))
    from iclora_tools import import_pack

    import_pack("iclora_pack")
    from iclora_pack.nodes.core.layout import build_layout
    from iclora_pack.nodes.core.masks import slot_mask

    return build_layout, slot_mask


def seconds(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    build_layout, slot_mask = load_pack()
    layout = build_layout(["input", "output"], 512, 512, "row")
    base = slot_mask(layout)
    print(f"canvas {layout.canvas_w}x{layout.canvas_h}, {args.threads} thread(s), median of {args.repeats}")
    print(f"{'radius':>6} {'grow s':>8} {'feather s':>10} {'pooling grow s':>15}")
    for radius in (8, 32, 128, 512):
        grow = seconds(lambda r=radius: slot_mask(layout, grow=r), args.repeats)
        feather = seconds(lambda r=radius: slot_mask(layout, feather=r), args.repeats)
        pooled = "-"
        if radius <= 32:
            pooled = f"{seconds(lambda r=radius: F.max_pool2d(base[:, None], 2 * r + 1, 1, r), 1):.3f}"
        print(f"{radius:>6} {grow:>8.3f} {feather:>10.3f} {pooled:>15}")


if __name__ == "__main__":
    main()
