"""FLUX text on ComfyUI, for every node that writes captions: T5 token counts and encoding with guidance."""

from __future__ import annotations

import functools

import node_helpers


@functools.lru_cache(maxsize=1)
def _t5_tokenizer():
    """ComfyUI's own FLUX T5 tokenizer, so the token count is the one the encoder sees."""
    from comfy.text_encoders.sd3_clip import T5XXLTokenizer

    return T5XXLTokenizer().tokenizer


def count_t5_tokens(text: str, clip=None) -> int:
    """T5 tokens of `text`, counted by the connected CLIP's own T5 tokenizer when there is one."""
    tokenizer = getattr(getattr(getattr(clip, "tokenizer", None), "t5xxl", None), "tokenizer", None)
    return len((tokenizer or _t5_tokenizer())(text)["input_ids"])


def encode_caption(clip, caption: str, guidance: float) -> list:
    """The caption as conditioning, with FLUX guidance written in (what CLIP Text Encode + FluxGuidance give)."""
    conditioning = clip.encode_from_tokens_scheduled(clip.tokenize(caption))
    return node_helpers.conditioning_set_values(conditioning, {"guidance": guidance})
