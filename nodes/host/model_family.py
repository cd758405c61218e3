"""What a connected ComfyUI model is: its family name and its token size (VAE downscale x patch size).

Read from the model object ComfyUI built (its config class, latent format and diffusion model), never from file
names, so the sampler and the trainer check a canvas against the model that will really see it.
"""

from __future__ import annotations

from ..core.families import check_token_fit
from ..core.layout import PanelLayout, require_layout

LATENT_DOWNSCALE_0_3_64 = {"HunyuanImage21": 32, "HunyuanImage21Refiner": 16, "ChromaRadiance": 1}
"""ComfyUI 0.3.64's latent formats carry no downscale (0.33's have `spacial_downscale_ratio`); these are the ones
that are not 8 px per cell there (comfy/sd.py's VAE for HunyuanImage 2.1 downscales 32x)."""

FAMILY_NAMES = {
    "Flux": "FLUX.1", "FluxSchnell": "FLUX.1 schnell", "FluxInpaint": "FLUX.1 Fill", "Flux2": "FLUX.2",
    "SD3": "SD3.5", "Chroma": "Chroma", "ChromaRadiance": "Chroma Radiance", "HiDream": "HiDream",
    "Lumina2": "Lumina 2", "ZImage": "Z-Image", "QwenImage": "Qwen-Image", "HunyuanImage21": "HunyuanImage 2.1",
    "CosmosT2IPredict2": "Cosmos Predict2", "Omnigen2": "OmniGen2", "SDXL": "SDXL", "SD15": "SD1.5",
}


def _model_base(model):
    """The `comfy.model_base.BaseModel` inside a ModelPatcher (or the base model itself)."""
    return getattr(model, "model", model)


def family_name(model) -> str:
    """The family as users call it (FLUX.1, Qwen-Image, ...), from ComfyUI's model config class."""
    config_name = type(_model_base(model).model_config).__name__
    return FAMILY_NAMES.get(config_name, config_name)


def latent_downscale(model) -> int:
    """Pixels per latent cell of the model's latent format (0.33 states it; 0.3.64 needs the table above)."""
    latent_format = _model_base(model).latent_format
    ratio = getattr(latent_format, "spacial_downscale_ratio", None)
    if isinstance(ratio, int):
        return ratio
    return LATENT_DOWNSCALE_0_3_64.get(type(latent_format).__name__, 8)


def patch_size(model) -> int:
    """Latent cells per token side: the diffusion model's patch size (1 for a UNet, which has no patches)."""
    diffusion = _model_base(model).diffusion_model
    for name in ("patch_size", "patch_spatial"):
        value = getattr(diffusion, name, None)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = value[-1]
        return int(value)
    return 1


def token_size(model) -> int:
    """Pixels per token side of `model` (a ModelPatcher): latent downscale x patch size; 16 for FLUX.1."""
    return latent_downscale(model) * patch_size(model)


def vae_downscale(vae) -> int | None:
    """Pixels per latent cell of a ComfyUI VAE, or None when it does not say."""
    compression = getattr(vae, "spacial_compression_encode", None)
    if compression is None:
        return None
    try:
        return int(compression())
    except (TypeError, ValueError):
        return None


def check_canvas_fits_model(*, node: str, model, vae, image, layout: PanelLayout | None) -> None:
    """Refuse a canvas the model cannot see as whole tokens, naming the canvas and the model (the sampler calls this
    first). The VAE's own downscale is used when it states one, so a VAE that differs from the model shows here."""
    if not hasattr(_model_base(model), "latent_format"):
        return  # not a ComfyUI model: the sampler's own checks report it
    if layout is not None:
        layout = require_layout(layout, node)
    downscale = vae_downscale(vae) or latent_downscale(model)
    token = downscale * patch_size(model)
    name = f"{family_name(model)} ({downscale} px per latent cell x patch {patch_size(model)} = {token} px tokens)"
    check_token_fit(node=node, input_name="image", model_name=name, token_px=token, downscale=downscale,
                    canvas_w=int(image.shape[2]), canvas_h=int(image.shape[1]),
                    panel_w=None if layout is None else layout.panel_w,
                    panel_h=None if layout is None else layout.panel_h)


def reads_reference_latents(model) -> bool:
    """Whether the model takes `reference_latents` (what ReferenceLatent adds) as clean context tokens: ComfyUI's
    model class for it passes them on in `extra_conds` (FLUX.1 and its Kontext, Qwen-Image, OmniGen2, FLUX.2)."""
    import inspect

    for cls in type(_model_base(model)).__mro__:
        extra_conds = cls.__dict__.get("extra_conds")
        if extra_conds is None:
            continue
        try:
            if "reference_latents" in inspect.getsource(extra_conds):
                return True
        except (OSError, TypeError):
            continue
    return False
