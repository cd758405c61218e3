"""Reference Tokens on tiny edit models (FLUX.1 Kontext, Qwen-Image-Edit): the references reach the model as clean
context tokens, the canvas holds only the output slots, and Panel Reassemble gives the whole set back with the
references exact. Sampled with stock KSampler: the route does not depend on the In-Context Sampler."""

from __future__ import annotations

import pytest
import torch
from iclora_tools.comfyui import tiny_families
from pack_facts import skip_without_comfyui

skip_without_comfyui()

EDIT_MODELS = ["FLUX.1 Kontext", "Qwen-Image-Edit"]


@pytest.fixture(scope="module")
def edit_kits(comfy):
    from iclora_pack.nodes.core.canvas import concatenate_panels

    built = {}

    def kit(name):
        if name not in built:
            fam = tiny_families.family(name)
            images = [(f"image_{i}", torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(i)))
                      for i in (1, 2)]
            result = concatenate_panels(images, 1, order="I,O,I", panel_width=32, panel_height=32)
            positive = tiny_families.conditioning(fam)
            built[name] = {"fam": fam, "model": tiny_families.build_model(fam), "vae": tiny_families.build_vae(fam),
                           "positive": positive, "negative": tiny_families.zero_conditioning(positive),
                           "canvas": result.canvas, "layout": result.layout, "nodes": comfy.nodes}
        return built[name]

    return kit


def reference_tokens(kit, **overrides):
    args = {"positive": kit["positive"], "negative": kit["negative"], "vae": kit["vae"], "canvas": kit["canvas"],
            "layout": kit["layout"], "model": kit["model"], **overrides}
    return kit["nodes"].NODE_CLASS_MAPPINGS["ICLoRA_ReferenceTokens"].execute(**args).result


def sample(kit, model, positive, negative, image, seed=3):
    nodes = kit["nodes"]
    (latent,) = nodes.VAEEncode().encode(kit["vae"], image)
    (sampled,) = nodes.KSampler().sample(model, seed, 2, 1.0, "euler", "simple", positive, negative, latent,
                                         denoise=1.0)
    return nodes.VAEDecode().decode(kit["vae"], sampled)[0]


@pytest.mark.parametrize("name", EDIT_MODELS)
@torch.inference_mode()  # as ComfyUI's executor runs nodes (the preview reads the tensors as arrays)
def test_references_reach_the_model_as_clean_tokens_and_the_set_comes_back_whole(edit_kits, name):
    kit = edit_kits(name)
    positive, negative, outputs_only, report = reference_tokens(kit)
    assert outputs_only.shape == (1, 32, 32, 3)  # the one output slot alone
    assert "2 reference panel(s) as clean tokens" in report and "4 image tokens to generate, 12 on" in report
    refs = positive[0][1]["reference_latents"]
    assert len(refs) == 2 and negative[0][1]["reference_latents"][0] is refs[0]
    assert torch.equal(refs[1], kit["vae"].encode(kit["canvas"][:, :, 64:96]))  # panel 3, encoded clean

    seen = []
    watched = kit["model"].clone()

    def wrapper(apply_model, args):
        seen.append([r.shape for r in args["c"].get("ref_latents", [])])
        return apply_model(args["input"], args["timestep"], **args["c"])

    watched.set_model_unet_function_wrapper(wrapper)
    with_refs = sample(kit, watched, positive, negative, outputs_only)
    assert seen and all(len(shapes) == 2 for shapes in seen)  # every evaluation got both references
    without = sample(kit, kit["model"], kit["positive"], kit["negative"], outputs_only)
    assert not torch.equal(with_refs, without)  # the references changed what was generated

    whole = kit["nodes"].NODE_CLASS_MAPPINGS["ICLoRA_PanelReassemble"].execute(
        generated=with_refs, canvas=kit["canvas"], layout=kit["layout"]).result[0]
    assert whole.shape == kit["canvas"].shape
    assert torch.equal(whole[:, :, :32], kit["canvas"][:, :, :32])
    assert torch.equal(whole[:, :, 64:], kit["canvas"][:, :, 64:])
    assert torch.equal(whole[:, :, 32:64], with_refs)
    split = kit["nodes"].NODE_CLASS_MAPPINGS["ICLoRA_PanelSplit"].execute(
        image=whole, layout=kit["layout"], select="all", numbers="", undo_fit=False).result[0]
    assert len(split) == 1 and split[0].shape == (3, 32, 32, 3)  # the whole set, panel by panel


@pytest.mark.parametrize("name", ["SD3.5", "SDXL", "HunyuanImage 2.1"])
def test_a_model_that_ignores_reference_tokens_is_refused(comfy, name):
    from iclora_pack.nodes.core.errors import PanelInputError
    from iclora_pack.nodes.host.model_family import reads_reference_latents

    model = tiny_families.build_model(tiny_families.family(name))
    assert not reads_reference_latents(model)
    kit = {"positive": [], "negative": [], "vae": None, "canvas": torch.rand(1, 32, 96, 3), "layout": None,
           "model": model, "nodes": comfy.nodes}
    from iclora_pack.nodes.core.canvas import concatenate_panels

    kit["layout"] = concatenate_panels([], 3, order="O,O,O", panel_width=32, panel_height=32).layout
    with pytest.raises(Exception) as caught:
        reference_tokens(kit)
    assert type(caught.value).__name__ == PanelInputError.__name__
    assert "does not read reference tokens" in str(caught.value) and "(input 'model')" in str(caught.value)


def test_every_edit_family_reads_reference_tokens(comfy):
    from iclora_pack.nodes.host.model_family import reads_reference_latents

    for fam in tiny_families.available_families():
        if fam.edit:
            assert reads_reference_latents(tiny_families.build_model(fam)), fam.name
