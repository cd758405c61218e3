"""Joint Prompt Builder inside ComfyUI: its conditioning is exactly CLIPTextEncode + FluxGuidance."""

from __future__ import annotations

import torch
from pack_facts import skip_without_comfyui
from test_pack_in_comfyui import masked_sampling_graph, save_png

skip_without_comfyui()

BUILDER = "ICLoRA_JointPromptBuilder"


def builder_inputs(**overrides) -> dict:
    inputs = {"preset": "film-storyboard", "summary": "In a vibrant festival", "names": "Leo", "guidance": 3.5,
              "custom_prefix": "", "custom_opening": "This {count}-panel image", "custom_markers": "geometry",
              **{f"panel_{i}": "" for i in range(1, 9)}}
    inputs.update({"panel_1": "we find Leo at the carnival", "panel_2": "Leo tries a game",
                   "panel_3": "Leo wins a bear"})
    inputs.update(overrides)
    return inputs


def test_conditioning_equals_clip_text_encode_plus_flux_guidance(comfy):
    nodes = comfy.nodes
    (clip,) = nodes.DualCLIPLoader().load_clip("clip_l.safetensors", "t5xxl_fp16.safetensors", "flux")
    builder = nodes.NODE_CLASS_MAPPINGS[BUILDER]
    prompt, conditioning, panel_texts, warnings = builder.execute(
        clip=clip, **{k: v for k, v in builder_inputs(guidance=2.5).items()}).result
    assert prompt.startswith("[MOVIE-SHOTS] In a vibrant festival, [SCENE-1] we find <Leo> at the carnival")
    assert panel_texts == ["we find <Leo> at the carnival", "<Leo> tries a game", "<Leo> wins a bear"]
    assert warnings == ""

    (stock,) = nodes.CLIPTextEncode().encode(clip, prompt)
    stock = nodes.NODE_CLASS_MAPPINGS["FluxGuidance"].execute(stock, 2.5).result[0]
    assert len(conditioning) == len(stock) == 1
    assert torch.equal(conditioning[0][0], stock[0][0])
    assert conditioning[0][0].shape[-1] == 32  # the tiny T5's width: the real encoder ran
    assert set(conditioning[0][1]) == set(stock[0][1])
    assert torch.equal(conditioning[0][1]["pooled_output"], stock[0][1]["pooled_output"])
    assert conditioning[0][1]["guidance"] == stock[0][1]["guidance"] == 2.5


def test_builder_follows_the_layout_and_drives_the_sampler(comfy):
    save_png(comfy.input_dir / "first-shot.png", 64, 64, seed=4)
    prompt = masked_sampling_graph("first-shot.png")
    prompt["2"]["inputs"].update({"output_slots": 2, "arrangement": "column"})
    prompt["13"] = {"class_type": BUILDER, "inputs": builder_inputs(layout=["2", 1], clip=["12", 0])}
    del prompt["14"]  # the builder applies FLUX guidance itself
    prompt["6"]["inputs"]["positive"] = ["13", 1]
    prompt["15"]["inputs"]["conditioning"] = ["13", 1]
    prompt["16"] = {"class_type": "SaveLatent", "inputs": {"samples": ["6", 0], "filename_prefix": "iclora/story"}}
    del prompt["17"]
    executor, server = comfy.run(prompt)
    assert executor.success, executor.status_messages
    assert list((comfy.output_dir / "iclora").glob("story_*.latent"))


def test_conditioning_without_clip_blocks_with_a_clear_message(comfy):
    save_png(comfy.input_dir / "first-shot.png", 64, 64, seed=4)
    prompt = masked_sampling_graph("first-shot.png")
    prompt["13"] = {"class_type": BUILDER, "inputs": builder_inputs(preset="couple-profile", layout=["2", 1])}
    prompt["14"]["inputs"]["conditioning"] = ["13", 1]
    prompt["15"] = {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["13", 1]}}
    saved_before = len(list((comfy.output_dir / "iclora").glob("slots_*.png")))
    executor, server = comfy.run(prompt, client_id="browser")
    blocked = [d["exception_message"] for e, d in server.messages if e == "execution_error"]
    assert blocked and "Joint Prompt Builder: 'conditioning' is used but no clip is connected (input 'clip')" \
        in blocked[0]
    # nothing downstream of the blocked output ran: no sampling, no saved image
    executed = {d.get("node") for e, d in server.messages if e == "executed"}
    assert "2" in executed and "9" not in executed  # Panel Concatenate ran (it shows a preview), Save Image did not
    assert len(list((comfy.output_dir / "iclora").glob("slots_*.png"))) == saved_before


def test_schema_offers_every_preset_from_the_data_file(comfy):
    from iclora_pack.nodes.core.prompts import load_presets

    info = comfy.nodes.NODE_CLASS_MAPPINGS[BUILDER].GET_NODE_INFO_V1()
    options = info["input"]["required"]["preset"][1]["options"]
    assert options == [*load_presets(), "custom"]
    assert info["output_is_list"] == [False, False, True, False]


def test_too_long_prompt_is_warned_with_the_real_t5_token_count(comfy):
    builder = comfy.nodes.NODE_CLASS_MAPPINGS[BUILDER]
    long_summary = " ".join(["a sweeping cinematic festival panorama"] * 120)
    prompt, _, _, warnings = builder.execute(**builder_inputs(summary=long_summary)).result
    from iclora_pack.nodes.host.tokens import count_t5_tokens  # noqa: E402  (needs ComfyUI)

    tokens = count_t5_tokens(prompt)
    assert tokens > 512
    assert f"the prompt is {tokens} T5 tokens, {tokens - 512} over the 512" in warnings
    _, _, _, fine = builder.execute(**builder_inputs()).result
    assert "T5 tokens" not in fine


def test_a_storyboard_training_caption_is_rebuilt_exactly_through_the_api(comfy):
    """`punctuation: as written` from an API prompt: the caption of the authors' training file 0001 comes back."""
    import importlib.util
    from pathlib import Path

    from iclora_pack.nodes.core.prompts import load_presets, parse_joint_caption

    fixtures = Path(__file__).resolve().parents[1] / "unit" / "official_captions.py"
    spec = importlib.util.spec_from_file_location("official_captions", fixtures)
    official = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(official)
    caption = official.MOVIE_SHOTS_CAPTIONS["0001"]
    parsed = parse_joint_caption(caption, load_presets()["film-storyboard"], 3, 1, 3)
    panels = {f"panel_{i + 1}": text for i, text in enumerate(parsed.panel_texts)}
    inputs = builder_inputs(summary=parsed.summary, names="", punctuation="as written", **panels)
    prompt = {"1": {"class_type": BUILDER, "inputs": inputs},
              "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    executor, server = comfy.run(prompt, client_id="browser")
    assert executor.success, executor.status_messages
    shown = [d["output"] for e, d in server.messages if e == "executed" and d.get("node") == "2"]
    assert shown and shown[0]["text"] == [caption]
    inputs["punctuation"] = "preset"  # the same texts with the preset's separators: not the caption
    executor, server = comfy.run(prompt, client_id="browser")
    shown = [d["output"] for e, d in server.messages if e == "executed" and d.get("node") == "2"]
    assert shown[0]["text"] != [caption]
