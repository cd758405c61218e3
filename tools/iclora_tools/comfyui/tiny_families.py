"""Tiny models of every image family ComfyUI runs, built from their configs through ComfyUI's own classes.

For each family: a unet config (the keys ComfyUI's detection would produce, with small widths) turned into a model
by `comfy.model_detection.model_config_from_unet_config` -> `get_model` -> `load_model_weights` -> `ModelPatcher`,
the same tail the stock loader runs; conditioning of the shape the family's text encoder makes; and a VAE with
the family's latent channels and downscale. Nothing is downloaded; the weights are random.

The text side is conditioning of the right shape, not a text encoder: most of these encoders are multi-billion
LLMs whose tiny versions ComfyUI does not configure from outside, and HiDream's llama tokenizer is missing from the
stored ComfyUI. The VAE is ComfyUI's own where a CPU can run it: the real Wan 2.1 VAE (random weights) for
Qwen-Image and Cosmos Predict2, a TAESD of the family's latent channels (`comfy.sd.VAE` detects it) for the other
8x families. HunyuanImage 2.1 (32x, 64 channels) and FLUX.2 (16x, 128 channels) get `PatchVAE`, a fixed
pixel-(un)shuffle stand-in of the same shapes: ComfyUI hard-codes their VAEs' widths (up to 1024 channels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

TEXT_WIDTH = 32
TEXT_TOKENS = 6


@dataclass(frozen=True)
class TinyFamily:
    """One family: its tiny unet config, its VAE (latent channels, downscale) and its conditioning extras."""

    name: str
    config_class: str
    unet_config: dict
    latent_channels: int
    downscale: int = 8
    text_width: int = TEXT_WIDTH
    pooled_width: int | None = None
    extras: tuple[str, ...] = ()
    guidance: bool = False
    fill_config: dict | None = None
    edit: bool = False
    wan_vae: bool = False
    note: str = ""
    requires: str = ""
    """A `comfy.supported_models` class the host must have (families newer than ComfyUI 0.3.64)."""
    matched_by_detection: bool = True
    """Whether ComfyUI's config matching finds the class from the tiny config (SDXL and Z-Image match on widths)."""
    modes: tuple[str, ...] = field(default=("joint", "masked", "consistent", "harmonized"))


_FLUX = {
    "image_model": "flux", "in_channels": 16, "out_channels": 16, "patch_size": 2, "vec_in_dim": 32,
    "context_in_dim": TEXT_WIDTH, "hidden_size": 64, "mlp_ratio": 4.0, "num_heads": 2, "depth": 1,
    "depth_single_blocks": 1, "axes_dim": [4, 14, 14], "theta": 10000, "qkv_bias": True, "guidance_embed": True,
}

FAMILIES: tuple[TinyFamily, ...] = (
    TinyFamily("FLUX.1 Kontext", "Flux", dict(_FLUX), 16, pooled_width=32, guidance=True, edit=True,
               fill_config={**_FLUX, "in_channels": 96}),
    TinyFamily("SD3.5", "SD3", {
        "in_channels": 16, "patch_size": 2, "out_channels": 16, "depth": 2, "num_patches": 64 * 64,
        "pos_embed_max_size": 64, "adm_in_channels": 32, "context_embedder_config": {
            "target": "torch.nn.Linear", "params": {"in_features": TEXT_WIDTH, "out_features": 128}},
        "qk_norm": "rms", "x_block_self_attn_layers": [0], "x_block_self_attn": True,
        "pos_embed_scaling_factor": None,
    }, 16, pooled_width=32),
    TinyFamily("Chroma", "Chroma", {
        **{k: v for k, v in _FLUX.items() if k not in ("vec_in_dim", "guidance_embed")},
        "image_model": "chroma", "in_channels": 64, "out_channels": 64, "in_dim": 64, "out_dim": 64,
        "hidden_dim": 64, "n_layers": 1,
    }, 16),
    TinyFamily("HiDream", "HiDream", {
        "image_model": "hidream", "attention_head_dim": 32, "axes_dims_rope": [16, 8, 8],
        "caption_channels": [TEXT_WIDTH, TEXT_WIDTH], "max_resolution": [64, 64], "in_channels": 16,
        "llama_layers": [0, 0], "num_attention_heads": 2, "num_routed_experts": 2, "num_activated_experts": 1,
        "num_layers": 1, "num_single_layers": 1, "out_channels": 16, "patch_size": 2, "text_emb_dim": 32,
    }, 16, pooled_width=32, extras=("conditioning_llama3",),
        note="text encoder not built: the llama tokenizer is missing from the stored ComfyUI"),
    TinyFamily("Lumina 2", "Lumina2", {
        "image_model": "lumina2", "patch_size": 2, "in_channels": 16, "dim": 64, "cap_feat_dim": TEXT_WIDTH,
        "n_layers": 1, "n_refiner_layers": 1, "n_heads": 2, "n_kv_heads": 1, "qk_norm": True,
        "axes_dims": [8, 12, 12], "axes_lens": [300, 512, 512], "multiple_of": 16,
    }, 16, extras=("attention_mask",)),
    TinyFamily("Qwen-Image-Edit", "QwenImage", {
        "image_model": "qwen_image", "in_channels": 64, "num_layers": 1, "attention_head_dim": 32,
        "num_attention_heads": 2, "joint_attention_dim": TEXT_WIDTH, "axes_dims_rope": (8, 12, 12),
    }, 16, edit=True, wan_vae=True),
    TinyFamily("HunyuanImage 2.1", "HunyuanImage21", {
        "image_model": "hunyuan_video", "in_channels": 64, "patch_size": [1, 1], "out_channels": 64,
        "vec_in_dim": None, "axes_dim": [16, 16], "meanflow": False, "context_in_dim": TEXT_WIDTH,
        "hidden_size": 64, "mlp_ratio": 4.0, "num_heads": 2, "depth": 1, "depth_single_blocks": 1, "theta": 256,
        "qkv_bias": True, "byt5": False, "guidance_embed": False,
    }, 64, downscale=32),
    TinyFamily("Cosmos Predict2", "CosmosT2IPredict2", {
        "image_model": "cosmos_predict2", "max_img_h": 64, "max_img_w": 64, "max_frames": 8, "in_channels": 16,
        "out_channels": 16, "patch_spatial": 2, "patch_temporal": 1, "model_channels": 64,
        "concat_padding_mask": True, "crossattn_emb_channels": TEXT_WIDTH, "pos_emb_cls": "rope3d",
        "pos_emb_learnable": True, "pos_emb_interpolation": "crop", "min_fps": 1, "max_fps": 30,
        "use_adaln_lora": True, "adaln_lora_dim": 16, "num_blocks": 1, "num_heads": 2,
        "extra_per_block_abs_pos_emb": False, "rope_h_extrapolation_ratio": 4.0, "rope_w_extrapolation_ratio": 4.0,
        "rope_t_extrapolation_ratio": 1.0, "extra_h_extrapolation_ratio": 1.0, "extra_w_extrapolation_ratio": 1.0,
        "extra_t_extrapolation_ratio": 1.0, "rope_enable_fps_modulation": False,
    }, 16, wan_vae=True),
    TinyFamily("OmniGen2", "Omnigen2", {
        "image_model": "omnigen2", "axes_dim_rope": [8, 12, 12], "axes_lens": [1024, 1664, 1664],
        "ffn_dim_multiplier": None, "hidden_size": 64, "in_channels": 16, "multiple_of": 16, "norm_eps": 1e-05,
        "num_attention_heads": 2, "num_kv_heads": 1, "num_layers": 1, "num_refiner_layers": 1,
        "out_channels": None, "patch_size": 2, "text_feat_dim": TEXT_WIDTH, "timestep_scale": 1000.0,
    }, 16, extras=("attention_mask",), edit=True),
    TinyFamily("SDXL", "SDXL", {
        "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
        "legacy": False, "num_classes": "sequential", "adm_in_channels": 2816, "in_channels": 4,
        "model_channels": 32, "num_res_blocks": [1, 1], "transformer_depth": [0, 1], "channel_mult": [1, 2],
        "transformer_depth_middle": 1, "use_linear_in_transformer": True, "context_dim": 2048,
        "num_head_channels": 16, "transformer_depth_output": [0, 0, 1, 1],
    }, 4, text_width=2048, pooled_width=1280, matched_by_detection=False, note="the one UNet"),
    TinyFamily("FLUX.2", "Flux2", {
        "image_model": "flux2", "axes_dim": [8, 8, 8, 8], "num_heads": 2, "mlp_ratio": 3.0, "theta": 2000,
        "out_channels": 128, "global_modulation": True, "mlp_silu_act": True, "qkv_bias": False, "ops_bias": False,
        "default_ref_method": "index", "ref_index_scale": 10.0, "txt_ids_dims": [3], "patch_size": 1,
        "in_channels": 128, "hidden_size": 64, "context_in_dim": TEXT_WIDTH, "vec_in_dim": None, "depth": 1,
        "depth_single_blocks": 1, "guidance_embed": True,
    }, 128, downscale=16, guidance=True, edit=True, requires="Flux2"),
    TinyFamily("Z-Image", "ZImage", {
        "image_model": "lumina2", "patch_size": 2, "in_channels": 16, "dim": 256, "cap_feat_dim": TEXT_WIDTH,
        "n_layers": 1, "n_refiner_layers": 1, "n_heads": 2, "n_kv_heads": 2, "qk_norm": True,  # dim >= 256: its
        "axes_dims": [32, 48, 48], "axes_lens": [1536, 512, 512], "rope_theta": 256.0,  # time embedding is 256 wide
        "ffn_dim_multiplier": 8.0 / 3.0, "z_image_modulation": True, "time_scale": 1000.0,
    }, 16, extras=("attention_mask",), requires="ZImage", matched_by_detection=False),
)


def available_families() -> tuple[TinyFamily, ...]:
    """The families this ComfyUI has (detected by its supported-model classes, not by version number)."""
    import comfy.supported_models

    return tuple(f for f in FAMILIES if not f.requires or hasattr(comfy.supported_models, f.requires))


def families_in_source(comfyui) -> tuple[TinyFamily, ...]:
    """The families a ComfyUI folder has, read from its `comfy/supported_models.py` without importing it, so a test
    module can list them when it is collected (the same answer as `available_families`, which a test checks)."""
    import ast
    from pathlib import Path

    source = (Path(comfyui) / "comfy" / "supported_models.py").read_text(encoding="utf-8")
    classes = {node.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ClassDef)}
    return tuple(f for f in FAMILIES if not f.requires or f.requires in classes)


def family(name: str) -> TinyFamily:
    return next(f for f in FAMILIES if f.name == name)


def _randomise(module, seed: int) -> dict:
    from .tiny_models import _randomise as randomise

    return randomise(module, seed)


def host_config(unet_config: dict) -> dict:
    """The config as this ComfyUI's classes take it: 0.33's FluxParams requires `txt_ids_dims` (`[]` for FLUX.1,
    as its detection sets), which 0.3.64's refuses."""
    import dataclasses
    import importlib

    import comfy.ldm.flux.model

    config = dict(unet_config)
    fields = {f.name for f in dataclasses.fields(comfy.ldm.flux.model.FluxParams)}
    if config.get("image_model") in ("flux", "chroma") and "txt_ids_dims" in fields:
        config.setdefault("txt_ids_dims", [])
    later = {"chroma": ("comfy.ldm.chroma.model", "ChromaParams", {"vec_in_dim": None}),
             "hunyuan_video": ("comfy.ldm.hunyuan_video.model", "HunyuanVideoParams",
                               {"use_cond_type_embedding": False, "vision_in_dim": None, "meanflow_sum": False})}
    if config.get("image_model") in later:  # 0.33 made these required; detection sets them as here
        module, name, defaults = later[config["image_model"]]
        params = getattr(importlib.import_module(module), name)
        names = {f.name for f in dataclasses.fields(params)}
        config.update({k: v for k, v in defaults.items() if k in names and k not in config})
    return config


def config_class(fam: TinyFamily, fill: bool = False):
    """ComfyUI's supported-model class for the family (`comfy.supported_models`); the host test checks that
    ComfyUI's own matching picks the same class from the tiny config wherever it matches on config keys."""
    import comfy.supported_models

    return getattr(comfy.supported_models, "FluxInpaint" if fill else fam.config_class)


def build_model(fam: TinyFamily, fill: bool = False, seed: int = 1):
    """The tiny diffusion model of `fam` as a ModelPatcher, through ComfyUI's config class and loader tail."""
    import comfy.model_management
    import comfy.model_patcher
    import torch

    config = host_config(fam.fill_config if fill else fam.unet_config)
    model_config = config_class(fam, fill)(config)
    model_config.set_inference_dtype(torch.float32, None)
    model = model_config.get_model({}, "")
    state = {f"model.diffusion_model.{k}": v for k, v in _randomise(model.diffusion_model, seed).items()}
    model.load_model_weights(state, "model.diffusion_model.")  # the stock loader's prefix; a miss would warn
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                           offload_device=comfy.model_management.unet_offload_device())


class PatchVAE:
    """A fixed stand-in VAE of `downscale` px per latent cell and `channels` channels: pixel-unshuffle then a fixed
    orthogonal-ish projection, and back. Only where ComfyUI's own VAE for the family is too big for a CPU test."""

    def __init__(self, channels: int, downscale: int, seed: int = 7):
        import torch

        self.channels = channels
        self.downscale = downscale
        generator = torch.Generator().manual_seed(seed)
        self.project = torch.randn(channels, 3 * downscale * downscale, generator=generator) / downscale

    def spacial_compression_encode(self) -> int:
        return self.downscale

    def encode(self, pixels):
        import torch

        x = pixels[..., :3].movedim(-1, 1).float() * 2 - 1
        cells = torch.nn.functional.pixel_unshuffle(x, self.downscale)
        return torch.einsum("oc,bchw->bohw", self.project, cells)

    def decode(self, latent):
        import torch

        cells = torch.einsum("oc,bohw->bchw", torch.linalg.pinv(self.project).T, latent)
        x = torch.nn.functional.pixel_shuffle(cells, self.downscale)
        return ((x + 1) / 2).clamp(0, 1).movedim(1, -1)




def build_vae(fam: TinyFamily, seed: int = 4):
    """ComfyUI's VAE class with random weights: the real Wan 2.1 VAE for the Wan-latent families (Qwen-Image,
    Cosmos Predict2: a 3-D latent, as users get), a tiny TAESD of the family's channels for the other 8x families,
    PatchVAE for HunyuanImage 2.1."""
    if fam.downscale != 8:
        return PatchVAE(fam.latent_channels, fam.downscale)
    import comfy.sd
    import comfy.taesd.taesd
    import torch

    if fam.wan_vae:
        import comfy.ldm.wan.vae

        from .tiny_models import WAN21_VAE

        return comfy.sd.VAE(sd=_randomise(comfy.ldm.wan.vae.WanVAE(**WAN21_VAE), seed))

    taesd = comfy.taesd.taesd.TAESD(latent_channels=fam.latent_channels)
    state = _randomise(taesd, seed)
    state["vae_scale"], state["vae_shift"] = torch.tensor(1.0), torch.tensor(0.0)  # as VAELoader sets for taef1
    return comfy.sd.VAE(sd=state)


def conditioning(fam: TinyFamily, seed: int = 0, guidance: float = 3.5) -> list:
    """Positive conditioning of the shape the family's text encoder gives (random values, fixed seed)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randn(1, TEXT_TOKENS, fam.text_width, generator=generator)
    extra: dict = {"pooled_output": None}  # CLIPTextEncode always sets it; None where the encoder pools nothing
    if fam.pooled_width:
        extra["pooled_output"] = torch.randn(1, fam.pooled_width, generator=generator)
    if "attention_mask" in fam.extras:
        extra["attention_mask"] = torch.ones(1, TEXT_TOKENS, dtype=torch.long)
    if "conditioning_llama3" in fam.extras:
        layers = len(fam.unet_config["llama_layers"])
        extra["conditioning_llama3"] = torch.randn(1, layers, TEXT_TOKENS, fam.text_width, generator=generator)
    if fam.guidance:
        extra["guidance"] = guidance
    return [[tokens, extra]]


def zero_conditioning(positive: list) -> list:
    """What ConditioningZeroOut makes of `positive`."""
    import torch

    out = []
    for tokens, extra in positive:
        extra = dict(extra)
        if extra.get("pooled_output") is not None:
            extra["pooled_output"] = torch.zeros_like(extra["pooled_output"])
        out.append([torch.zeros_like(tokens), extra])
    return out
