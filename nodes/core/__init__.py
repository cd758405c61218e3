"""Pure logic of the pack: geometry, canvases, masks, splitting, prompts, sampling math and the training dataset.

Nothing here imports ComfyUI (a unit test imports every module of this folder and checks), so all of it runs and is
tested without a host. Tensors follow ComfyUI's conventions: IMAGE [B,H,W,C] 0-1, MASK [B,H,W], latents [B,C,H,W].
"""
