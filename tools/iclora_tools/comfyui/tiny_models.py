"""Tiny FLUX-architecture (and Qwen-Image) models, built at test time, loaded through ComfyUI's stock loaders.

Real FLUX weights cannot be used in tests, and ComfyUI's detection hard-codes FLUX.1's sizes (hidden 3072, T5 width
4096, CLIP width 768). `patch_loaders_for_tiny_models` makes detection read those sizes from tensor shapes when they
are smaller, so `UNETLoader`, `DualCLIPLoader` and `VAELoader` run unchanged on files carrying the published names.
The same holds for Qwen-Image (its DiT, and the Qwen2.5-VL text encoder through `CLIPLoader`, whose vision tower is
made as small as its language model); its VAE is the real Wan 2.1 VAE shape with random weights (ComfyUI hard-codes
that VAE's widths).
`use_tiny_models` rewrites a graph to run on them (plain dict work, no torch: the batch runner's client side uses
it too). Used by the host tests, the benchmarks, the test servers and `run_workflow.py --tiny-demo`. Nothing here is
committed as weights; every file is written into a folder the caller chooses, at run time.
"""

from __future__ import annotations

import functools
import inspect
import json
from pathlib import Path

from .. import ROOT

FLUX_FILE = "flux1-dev.safetensors"
FLUX_FILL_FILE = "flux1-fill-dev.safetensors"
CLIP_L_FILE = "clip_l.safetensors"
T5_FILE = "t5xxl_fp16.safetensors"
TAEF1_FILES = ("taef1_encoder.safetensors", "taef1_decoder.safetensors")
QWEN_IMAGE_FILE = "qwen_image_fp8_e4m3fn.safetensors"
QWEN_TEXT_FILE = "qwen_2.5_vl_7b_fp8_scaled.safetensors"
QWEN_VAE_FILE = "qwen_image_vae.safetensors"

# The tiny FLUX's sizes. Everything else in its config (theta, qkv_bias, out_channels, and fields a newer ComfyUI
# adds, such as 0.33's txt_ids_dims) is what ComfyUI's own FLUX detection says for a checkpoint of these shapes:
# see `tiny_flux_config`.
TINY_FLUX_SIZES = {
    "hidden_size": 64, "head_dim": 32, "mlp_ratio": 4.0, "context_in_dim": 32, "vec_in_dim": 32, "depth": 1,
    "depth_single_blocks": 1,
}
TINY_CLIP_L = {
    "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 2,
    "projection_dim": 32,
}
TINY_T5 = {"d_model": 32, "d_ff": 64, "d_kv": 16, "num_heads": 2, "num_layers": 1}
CLIP_HEAD_DIM = 16  # CLIP has no tensor whose shape gives the head count: tiny CLIPs here use 16 per head
TINY_QWEN_IMAGE = {"image_model": "qwen_image", "in_channels": 64, "num_layers": 1, "attention_head_dim": 32,
                   "num_attention_heads": 2, "joint_attention_dim": 32, "axes_dims_rope": (4, 14, 14)}
TINY_QWEN25 = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
               "num_key_value_heads": 4}
"""Qwen2.5-VL's head_dim (128) is fixed in ComfyUI's config, and 4 key/value heads (k_proj bias 512) is what its
detection reads as the 7B model, so only widths and depth shrink."""
QWEN25_HEAD_DIM = 128
REAL_QWEN25_WIDTH = 3584
TINY_VISION = {"hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "num_layers": 1}
WAN21_VAE = {"dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
             "temperal_downsample": [False, True, True], "dropout": 0.0}
"""ComfyUI's Wan 2.1 VAE config (comfy/sd.py hard-codes it: about 127 M parameters, a few seconds per CPU pass)."""


def _randomise(module, seed: int) -> dict:
    """ComfyUI's layers skip weight init, so fill every tensor: norms near 1, the rest small and random."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, tensor in module.state_dict().items():
        if not tensor.is_floating_point():
            state[name] = tensor.clone()
        elif name.endswith(".bias"):
            state[name] = 0.02 * torch.randn(tensor.shape, generator=generator)
        elif "norm" in name or name.endswith("scale"):
            state[name] = 1.0 + 0.02 * torch.randn(tensor.shape, generator=generator)
        else:
            state[name] = 0.05 * torch.randn(tensor.shape, generator=generator)
    return {k: v.float().contiguous() for k, v in state.items()}


def build_tiny_models(models_dir: Path) -> None:
    """Write the tiny FLUX, text encoders and TAEF1 into ComfyUI's model folder layout under `models_dir`."""
    import comfy.model_detection
    import comfy.taesd.taesd
    import comfy.text_encoders.flux
    from safetensors.torch import save_file

    for folder in ("diffusion_models", "text_encoders", "vae_approx", "vae", "loras"):
        (models_dir / folder).mkdir(parents=True, exist_ok=True)

    for name, in_channels, seed in ((FLUX_FILE, 16, 1), (FLUX_FILL_FILE, 96, 6)):
        skeleton = flux_skeleton(in_channels)
        model_config = comfy.model_detection.model_config_from_unet_config(tiny_flux_config(skeleton), skeleton)
        flux = model_config.get_model({}, "")
        save_file(_randomise(flux.diffusion_model, seed), str(models_dir / "diffusion_models" / name))

    clip_config = dict(TINY_CLIP_L)
    options = {"clip_l_model_config": clip_config, "model_config": dict(clip_config),
               "t5xxl_model_config": dict(TINY_T5)}
    encoders = comfy.text_encoders.flux.FluxClipModel(model_options=options)
    save_file(_randomise(encoders.clip_l.transformer, 2), str(models_dir / "text_encoders" / CLIP_L_FILE))
    save_file(_randomise(encoders.t5xxl.transformer, 3), str(models_dir / "text_encoders" / T5_FILE))

    build_tiny_qwen_image(models_dir)
    taesd = comfy.taesd.taesd.TAESD(latent_channels=16)
    save_file(_randomise(taesd.taesd_encoder, 4), str(models_dir / "vae_approx" / TAEF1_FILES[0]))
    save_file(_randomise(taesd.taesd_decoder, 5), str(models_dir / "vae_approx" / TAEF1_FILES[1]))


def build_tiny_qwen_image(models_dir: Path) -> None:
    """Qwen-Image under its published names: the tiny DiT, the tiny Qwen2.5-VL text encoder, and the Wan 2.1 VAE
    (random weights, stored in bf16: about 250 MB)."""
    import comfy.ldm.wan.vae
    import comfy.model_detection
    import comfy.text_encoders.qwen_image
    import torch
    from safetensors.torch import save_file

    patch_loaders_for_tiny_models()
    model_config = comfy.model_detection.model_config_from_unet_config(dict(TINY_QWEN_IMAGE), {})
    dit = model_config.get_model({}, "")
    save_file(_randomise(dit.diffusion_model, 7), str(models_dir / "diffusion_models" / QWEN_IMAGE_FILE))

    encoder = comfy.text_encoders.qwen_image.QwenImageTEModel(
        model_options={"qwen25_7b_model_config": dict(TINY_QWEN25)})
    save_file(_randomise(encoder.qwen25_7b.transformer, 8), str(models_dir / "text_encoders" / QWEN_TEXT_FILE))

    vae = _randomise(comfy.ldm.wan.vae.WanVAE(**WAN21_VAE), 9)
    save_file({k: v.to(torch.bfloat16) for k, v in vae.items()}, str(models_dir / "vae" / QWEN_VAE_FILE))


def flux_skeleton(in_channels: int = 16, sizes: dict | None = None) -> dict:
    """The tensors (shapes only, on torch's meta device) that ComfyUI's FLUX detection and `_tiny_flux_config`
    read, for a FLUX.1 of `sizes` (default TINY_FLUX_SIZES) with `in_channels` latent channels (96: a Fill model)."""
    import torch

    s = {**TINY_FLUX_SIZES, **(sizes or {})}
    hidden, mlp = s["hidden_size"], int(s["hidden_size"] * s["mlp_ratio"])

    def shape(*dims):
        return torch.empty(dims, device="meta")

    skeleton = {
        "img_in.weight": shape(hidden, in_channels * 4),  # FLUX.1 packs 2x2 latent patches
        "txt_in.weight": shape(hidden, s["context_in_dim"]),
        "vector_in.in_layer.weight": shape(hidden, s["vec_in_dim"]),
        "guidance_in.in_layer.weight": shape(hidden, 256),
    }
    for block in range(s["depth"]):
        skeleton[f"double_blocks.{block}.img_attn.norm.key_norm.scale"] = shape(s["head_dim"])
        skeleton[f"double_blocks.{block}.img_mlp.0.weight"] = shape(mlp, hidden)
    for block in range(s["depth_single_blocks"]):
        skeleton[f"single_blocks.{block}.norm.key_norm.scale"] = shape(s["head_dim"])
    return skeleton


def tiny_flux_config(skeleton: dict) -> dict:
    """What this ComfyUI's FLUX detection makes of `skeleton` (see `flux_skeleton`), with the sizes it hard-codes
    for FLUX.1 read from the tensor shapes instead, exactly as the patched loader does for the saved file."""
    import comfy.model_detection

    patch_loaders_for_tiny_models()
    config = comfy.model_detection.detect_unet_config(skeleton, "")
    if not config or config.get("image_model") != "flux":
        raise RuntimeError(f"ComfyUI's detection did not take the tiny FLUX skeleton for FLUX.1: {config}")
    return config


def _tiny_qwen_image_config(state_dict: dict, key_prefix: str, config: dict) -> dict:
    text_width = state_dict[f"{key_prefix}txt_in.weight"].shape[1]
    if text_width == REAL_QWEN25_WIDTH:
        return config
    head_dim = state_dict[f"{key_prefix}transformer_blocks.0.attn.norm_q.weight"].shape[0]
    return {
        **config,
        "attention_head_dim": head_dim,
        "num_attention_heads": state_dict[f"{key_prefix}img_in.weight"].shape[0] // head_dim,
        "joint_attention_dim": text_width,
        "axes_dims_rope": (head_dim // 8, head_dim * 7 // 16, head_dim * 7 // 16),  # Qwen-Image's 16/56/56 split
    }


def _tiny_flux_config(state_dict: dict, key_prefix: str, config: dict | None) -> dict | None:
    if config and config.get("image_model") == "qwen_image":
        return _tiny_qwen_image_config(state_dict, key_prefix, config)
    if not config or config.get("image_model") != "flux":
        return config
    hidden = state_dict[f"{key_prefix}img_in.weight"].shape[0]
    if hidden == 3072:
        return config
    norm = f"{key_prefix}double_blocks.0.img_attn.norm.key_norm."  # .scale up to 0.3.x, .weight in 0.33's files
    head_dim = next(state_dict[norm + suffix] for suffix in ("scale", "weight") if norm + suffix in state_dict).shape[0]
    mlp = state_dict[f"{key_prefix}double_blocks.0.img_mlp.0.weight"].shape[0]
    return {
        **config,
        "hidden_size": hidden,
        "num_heads": hidden // head_dim,
        "context_in_dim": state_dict[f"{key_prefix}txt_in.weight"].shape[1],
        "mlp_ratio": mlp / hidden,
        "axes_dim": [head_dim // 8, head_dim * 7 // 16, head_dim * 7 // 16],  # FLUX.1's 16/56/56 split
    }


def _count(state_dict: dict, pattern: str) -> int:
    count = 0
    while pattern.format(count) in state_dict:
        count += 1
    return count


def _tiny_text_encoder_options(state_dicts: list[dict], model_options: dict) -> dict:
    options = dict(model_options)
    for sd in state_dicts:
        embedding = sd.get("text_model.embeddings.token_embedding.weight")
        if embedding is not None and embedding.shape[1] != 768:
            hidden = embedding.shape[1]
            clip = {
                "hidden_size": hidden,
                "intermediate_size": sd["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0],
                "num_attention_heads": max(1, hidden // CLIP_HEAD_DIM),
                "num_hidden_layers": _count(sd, "text_model.encoder.layers.{}.mlp.fc1.weight"),
                "projection_dim": hidden,
            }
            options["clip_l_model_config"] = clip
            options["model_config"] = dict(clip)  # long_clipl rebuilds clip_l's config from this key
        tokens = sd.get("model.embed_tokens.weight")
        if tokens is not None and tokens.shape[1] != REAL_QWEN25_WIDTH and "model.layers.0.self_attn.k_proj.bias" in sd:
            options["qwen25_7b_model_config"] = {
                "hidden_size": tokens.shape[1],
                "intermediate_size": sd["model.layers.0.mlp.gate_proj.weight"].shape[0],
                "num_hidden_layers": _count(sd, "model.layers.{}.mlp.gate_proj.weight"),
                "num_attention_heads": sd["model.layers.0.self_attn.q_proj.weight"].shape[0] // QWEN25_HEAD_DIM,
                "num_key_value_heads": sd["model.layers.0.self_attn.k_proj.weight"].shape[0] // QWEN25_HEAD_DIM,
            }
        shared = sd.get("shared.weight")
        if shared is not None and shared.shape[1] != 4096:
            heads = sd["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"].shape[1]
            options["t5xxl_model_config"] = {
                "d_model": shared.shape[1],
                "d_ff": sd["encoder.block.0.layer.1.DenseReluDense.wi_0.weight"].shape[0],
                "num_heads": heads,
                "d_kv": sd["encoder.block.0.layer.0.SelfAttention.q.weight"].shape[0] // heads,
                "num_layers": _count(sd, "encoder.block.{}.layer.0.SelfAttention.q.weight"),
            }
    return options


def patch_loaders_for_tiny_models() -> None:
    """Teach ComfyUI's detection to read sizes from tiny FLUX and text-encoder checkpoints. Idempotent."""
    import comfy.model_detection
    import comfy.sd

    if getattr(comfy.model_detection.detect_unet_config, "_tiny_aware", False):
        return
    detect = comfy.model_detection.detect_unet_config
    load_encoders = comfy.sd.load_text_encoder_state_dicts

    def detect_unet_config(state_dict, key_prefix, metadata=None):
        return _tiny_flux_config(state_dict, key_prefix, detect(state_dict, key_prefix, metadata=metadata))

    signature = inspect.signature(load_encoders)

    @functools.wraps(load_encoders)  # whatever this ComfyUI's function takes (0.33 added disable_dynamic), passed on
    def load_text_encoder_state_dicts(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        arguments["model_options"] = _tiny_text_encoder_options(arguments["state_dicts"], arguments["model_options"])
        return load_encoders(*bound.args, **bound.kwargs)

    detect_unet_config._tiny_aware = True
    comfy.model_detection.detect_unet_config = detect_unet_config
    comfy.sd.load_text_encoder_state_dicts = load_text_encoder_state_dicts
    _shrink_vision_tower_of_tiny_text_encoders()


def _shrink_vision_tower_of_tiny_text_encoders() -> None:
    """Qwen2.5-VL's vision tower has fixed widths (1280 wide, 32 blocks: about 600 M parameters); a text encoder
    whose language model is tiny gets a tiny tower instead, so the tiny file holds every key the loader expects."""
    import comfy.text_encoders.qwen_vl

    tower = comfy.text_encoders.qwen_vl.Qwen2VLVisionTransformer
    init = tower.__init__
    accepted = inspect.signature(init).parameters

    @functools.wraps(init)
    def tiny_aware_init(self, *args, **kwargs):
        if kwargs.get("output_hidden_size", REAL_QWEN25_WIDTH) < 256:
            kwargs.update({k: v for k, v in TINY_VISION.items() if k in accepted})
        init(self, *args, **kwargs)

    tower.__init__ = tiny_aware_init


def install_tiny_models(models_dir: Path, lora_names: tuple[str, ...] | list[str] = ()) -> None:
    """Everything a ComfyUI (this process) needs to run the shipped graphs on tiny models: the loader patch, the
    tiny files in `models_dir` (built once; kept if already there) and an empty LoRA for every name given and for
    every LoRA the shipped workflows name."""
    patch_loaders_for_tiny_models()
    if not (models_dir / "vae_approx" / TAEF1_FILES[1]).exists():  # the last file build_tiny_models writes
        build_tiny_models(models_dir)
    elif not (models_dir / "vae" / QWEN_VAE_FILE).exists():  # a folder made before the tiny Qwen-Image existed
        build_tiny_qwen_image(models_dir)
    write_empty_loras(models_dir / "loras", [*shipped_lora_names(), *lora_names])


def shipped_lora_names() -> list[str]:
    """Every LoRA file name the shipped workflows offer for download."""
    names = set()
    for path in (ROOT / "workflows").glob("*.json"):
        names.update(m["name"] for m in json.loads(path.read_text()).get("models", []) if m["directory"] == "loras")
    return sorted(names)


def write_empty_loras(loras_dir: Path, names) -> None:
    """A LoRA with no weights under each name: it loads and changes nothing, so graphs that name the task LoRAs
    validate and run on the tiny models."""
    from safetensors.torch import save_file

    loras_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        if not (loras_dir / name).exists():
            save_file({}, str(loras_dir / name))


def lora_names_in(prompt: dict) -> list[str]:
    return [node["inputs"]["lora_name"] for node in prompt.values()
            if node["class_type"] == "LoraLoaderModelOnly" and isinstance(node["inputs"].get("lora_name"), str)]


def use_tiny_models(prompt: dict, panel_size: tuple[int, int] | None = None, steps: int | None = None) -> dict:
    """Rewrite an API-format graph in place to load the tiny models: the tiny FLUX (FLUX.1-dev, Fill and Kontext
    alike) and encoders under their published names, the tiny TAEF1 for the FLUX VAE, the tiny Qwen-Image trio,
    and optionally small panels and few steps to keep a CPU run short. LoRA names are left alone (see
    `write_empty_loras`). Returns the prompt."""
    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        qwen = "qwen" in str(inputs.get("unet_name", inputs.get("vae_name", inputs.get("clip_name", "")))).lower()
        if kind == "VAELoader":
            inputs["vae_name"] = QWEN_VAE_FILE if qwen else "taef1"
        elif kind == "UNETLoader":
            unet = str(inputs.get("unet_name", ""))
            inputs["unet_name"] = QWEN_IMAGE_FILE if qwen else FLUX_FILL_FILE if "fill" in unet else FLUX_FILE
        elif kind == "CLIPLoader" and inputs.get("type") == "qwen_image":
            inputs["clip_name"] = QWEN_TEXT_FILE
        elif kind == "DualCLIPLoader":
            inputs["clip_name1"], inputs["clip_name2"] = CLIP_L_FILE, T5_FILE
        elif kind == "ICLoRA_PanelConcatenate" and panel_size is not None:
            inputs["panel_width"], inputs["panel_height"] = panel_size
        elif kind == "ICLoRA_InContextSampler" and steps is not None:
            inputs["steps"] = steps
    return prompt
