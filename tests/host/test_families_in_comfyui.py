"""Every image family ComfyUI runs, on tiny models built through ComfyUI's own classes: the token size comes from
the model, masked mode is bit-identical to KSampler + SetLatentNoiseMask, every mode keeps the references exact,
and what a family cannot do is refused with a message that names the node, the input and the fix.

The text side is conditioning of the shape each family's text encoder makes (tiny_families.py says why)."""

from __future__ import annotations

import os

import pytest
import torch
from iclora_tools.comfyui import tiny_families
from pack_facts import skip_without_comfyui

skip_without_comfyui()

SAMPLER = "ICLoRA_InContextSampler"
# The families this ComfyUI has: FLUX.2 and Z-Image came with releases after 0.3.64, so on 0.3.64 they are not
# test cases at all (nothing to run them on); test_families_left_out_are_exactly_those_newer_than_this_comfyui
# checks that only those are left out.
HOST_FAMILIES = tiny_families.families_in_source(os.environ["COMFYUI_PATH"])
FAMILY_NAMES = [f.name for f in HOST_FAMILIES]
MODES = ("joint", "masked", "consistent", "harmonized", "reference")
def sampled_families() -> list:
    """Every family of this host, those whose Wan 2.1 VAE makes one-frame 3-D latents (Qwen-Image, Cosmos
    Predict2) included."""
    return list(FAMILY_NAMES)


@pytest.fixture(scope="module")
def kits(comfy):
    """One kit per family, built on first use: model, VAE, conditioning and a 2-panel canvas (reference | slot)
    snapped for the family's tokens."""
    built = {}

    def kit(name: str) -> dict:
        if name not in built:
            built[name] = make_kit(comfy, tiny_families.family(name))
        return built[name]

    return kit


def make_kit(comfy, fam) -> dict:
    from iclora_pack.nodes.core.canvas import concatenate_panels
    from iclora_pack.nodes.core.families import snap_option_for
    from iclora_pack.nodes.core.masks import slot_mask
    from iclora_pack.nodes.host.model_family import token_size

    model = tiny_families.build_model(fam)
    token = token_size(model)
    reference = torch.rand(1, 2 * token, 2 * token, 3, generator=torch.Generator().manual_seed(0))
    result = concatenate_panels([("image_1", reference)], 1, snap_for=snap_option_for(token))
    positive = tiny_families.conditioning(fam)
    return {"family": fam, "model": model, "vae": tiny_families.build_vae(fam), "positive": positive,
            "negative": tiny_families.zero_conditioning(positive), "canvas": result.canvas, "layout": result.layout,
            "mask": slot_mask(result.layout), "panel": result.layout.panel_w, "nodes": comfy.nodes}


def run_sampler(kit, **overrides):
    args = {"model": kit["model"], "positive": kit["positive"], "negative": kit["negative"], "vae": kit["vae"],
            "image": kit["canvas"], "mode": "masked", "seed": 5, "steps": 3, "cfg": 1.0, "sampler_name": "euler",
            "scheduler": "simple", "denoise": 1.0, "resample_count": 2, "resample_fraction": 0.5,
            "reference_strength": 1.0, "seam_feather": 0, "paste_references": True, "paste_blend": 0,
            "batch_size": 1, "mask": kit["mask"], "layout": kit["layout"]}
    args.update(overrides)
    return kit["nodes"].NODE_CLASS_MAPPINGS[SAMPLER].execute(**args).result


def stock_masked(kit, seed=5, steps=3):
    nodes = kit["nodes"]
    (latent,) = nodes.VAEEncode().encode(kit["vae"], kit["canvas"])
    (latent,) = nodes.SetLatentNoiseMask().set_mask(latent, kit["mask"])
    (sampled,) = nodes.KSampler().sample(kit["model"], seed, steps, 1.0, "euler", "simple", kit["positive"],
                                         kit["negative"], latent, denoise=1.0)
    (images,) = nodes.VAEDecode().decode(kit["vae"], sampled)
    return latent, sampled, images


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_the_token_size_comes_from_the_model_and_matches_the_family_table(kits, name):
    from iclora_pack.nodes.core.families import FAMILIES
    from iclora_pack.nodes.host.model_family import family_name, latent_downscale, patch_size, token_size

    kit = kits(name)
    fam = kit["family"]
    model = kit["model"]
    assert latent_downscale(model) == fam.downscale  # what the family's VAE really does (checked next)
    assert kit["vae"].spacial_compression_encode() == fam.downscale
    table = [f for f in FAMILIES if f.name.split(" (")[0] in name or name in f.name]
    assert table, f"{name} ({family_name(model)}) is missing from nodes/core/families.py"
    assert {f.token_px for f in table} == {token_size(model)} == {latent_downscale(model) * patch_size(model)}


def test_families_left_out_are_exactly_those_newer_than_this_comfyui(comfy):
    """What the collection read from the source is what the imported ComfyUI has; only families that name a
    newer supported-model class are left out, and that class is really absent here."""
    import comfy.supported_models

    assert HOST_FAMILIES == tiny_families.available_families()
    for fam in tiny_families.FAMILIES:
        if fam not in HOST_FAMILIES:
            assert fam.requires and not hasattr(comfy.supported_models, fam.requires), fam.name


@pytest.mark.parametrize("name", [f.name for f in HOST_FAMILIES if f.matched_by_detection])
def test_comfyui_matches_each_tiny_config_to_the_family_class(comfy, name):
    """ComfyUI's detection picks the class the tiny model is built with (SDXL and Z-Image match on full widths)."""
    import comfy.model_detection

    fam = tiny_families.family(name)
    config = comfy.model_detection.model_config_from_unet_config(tiny_families.host_config(fam.unet_config))
    assert type(config).__name__ == fam.config_class


@pytest.mark.parametrize("name", sampled_families())
def test_masked_mode_is_bit_identical_to_the_stock_path(kits, name):
    kit = kits(name)
    _, stock_latent, stock_images = stock_masked(kit)
    images, latent, _ = run_sampler(kit, paste_references=False)
    assert torch.equal(latent["samples"], stock_latent["samples"])
    assert torch.equal(images, stock_images)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sampled_families())
def test_every_mode_runs_and_keeps_the_references_exact(kits, name, mode):
    kit = kits(name)
    panel = kit["panel"]
    images, latent, report = run_sampler(kit, mode=mode, **({"mask": None, "layout": None} if mode == "joint" else {}))
    assert images.shape == kit["canvas"].shape
    assert torch.isfinite(latent["samples"]).all()
    assert report.startswith(f"mode {mode}: ")
    assert not torch.equal(images[:, :, panel:], kit["canvas"][:, :, panel:])  # the slot was generated
    if mode == "joint":
        assert "pasted" not in report
    else:
        assert torch.equal(images[:, :, :panel], kit["canvas"][:, :, :panel])
        assert "references pasted back pixel-exact" in report


def test_fill_runs_on_the_family_with_an_inpainting_variant(kits):
    """FLUX.1 Fill is the one inpainting variant among these families in ComfyUI 0.3.64."""
    kit = kits("FLUX.1 Kontext")
    fill = tiny_families.build_model(kit["family"], fill=True)
    images, _, report = run_sampler(kit, model=fill, mode="fill")
    assert torch.equal(images[:, :, :kit["panel"]], kit["canvas"][:, :, :kit["panel"]])
    assert "mode fill" in report


@pytest.mark.parametrize("name", [n for n in FAMILY_NAMES if n != "FLUX.1 Kontext"])
def test_fill_on_a_family_without_an_inpainting_variant_is_refused_clearly(kits, name):
    from iclora_pack.nodes.core.errors import PanelInputError

    with pytest.raises(Exception) as caught:
        run_sampler(kits(name), mode="fill")
    assert type(caught.value).__name__ == PanelInputError.__name__
    message = str(caught.value)
    assert message.startswith("In-Context Sampler: mode 'fill' needs a FLUX.1-Fill model")
    assert "(input 'model')" in message


def test_a_canvas_snapped_for_16_px_tokens_is_refused_for_hunyuan_image_naming_both(kits):
    from iclora_pack.nodes.core.canvas import concatenate_panels
    from iclora_pack.nodes.core.errors import PanelInputError
    from iclora_pack.nodes.core.masks import slot_mask

    kit = kits("HunyuanImage 2.1")
    flux_canvas = concatenate_panels([("image_1", torch.rand(1, 48, 48, 3))], 1)  # 48 px: 3 FLUX tokens
    with pytest.raises(Exception) as caught:
        run_sampler(kit, image=flux_canvas.canvas, layout=flux_canvas.layout, mask=slot_mask(flux_canvas.layout))
    assert type(caught.value).__name__ == PanelInputError.__name__
    message = str(caught.value)
    assert "the canvas is 96x48 px but HunyuanImage 2.1 (32 px per latent cell x patch 1 = 32 px tokens)" in message
    assert "snap_for to 'HunyuanImage 2.1 (32 px)'" in message


def test_panels_that_straddle_tokens_are_refused(kits):
    from iclora_pack.nodes.core.canvas import concatenate_panels
    from iclora_pack.nodes.core.errors import PanelInputError
    from iclora_pack.nodes.core.masks import slot_mask

    kit = kits("Qwen-Image-Edit")
    unet = concatenate_panels([], 2, panel_width=40, panel_height=40, snap_for="SDXL and other UNets (8 px)")
    with pytest.raises(Exception) as caught:
        run_sampler(kit, image=unet.canvas, layout=unet.layout, mask=slot_mask(unet.layout))
    assert type(caught.value).__name__ == PanelInputError.__name__
    assert "the panels are 40x40 px but Qwen-Image" in str(caught.value)
    assert "tokens would straddle panel borders" in str(caught.value)
