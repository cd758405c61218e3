"""Socket types the pack adds to ComfyUI (imports ComfyUI: node modules only)."""

from comfy_api.latest import io

PanelLayoutSocket = io.Custom("ICLORA_PANEL_LAYOUT")
"""Carries a `layout.PanelLayout` from Panel Concatenate to the mask, sampler, prompt builder and split."""

CATEGORY = "In-Context LoRA"

PanelSetSocket = io.Custom("ICLORA_PANEL_SET")
"""Carries a `dataset.DatasetPlan` (which sets, their captions, the canvas settings) from Panel Set Dataset to Panel
Set Export, which rebuilds the canvases from the files one at a time."""
