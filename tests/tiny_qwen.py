"""Tiny randomly initialised Qwen models saved to a directory, built from configs (no download).

`omni(dir)` writes a Qwen2.5-Omni with its talker and token2wav (about 1.4 M
parameters) plus a processor with a byte-level tokenizer made here; `omni3(dir)`
a Qwen3-Omni (MoE thinker, talker with its code predictor, code2wav); `vl(dir)`
writes a Qwen2-VL. Random weights produce garbage tokens and noise: the tests
check that inputs reach the model and tokens and audio flow, not what is said.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from tokenizers.pre_tokenizers import ByteLevel
from transformers import (
    Qwen2_5OmniConfig,
    Qwen2_5OmniForConditionalGeneration,
    Qwen2Tokenizer,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessorPil,
    Qwen3OmniMoeConfig,
    Qwen3OmniMoeForConditionalGeneration,
    WhisperFeatureExtractor,
)

SPECIAL = {
    "audio_token": "<|AUDIO|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
    "image_token": "<|IMAGE|>",
    "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
}

#: Qwen3-Omni's thinker-side markers for the talker's text stream.
TTS = {"pad": "<tts_pad>", "bos": "<tts_text_bos>", "eos": "<tts_text_eod>"}


def tokenizer() -> Qwen2Tokenizer:
    """Byte-level BPE with no merges (one token per byte) and the Qwen special tokens."""
    vocab = {ch: i for i, ch in enumerate(sorted(ByteLevel.alphabet()))}
    tok = Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        unk_token=None,  # type: ignore[arg-type]
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=dict(SPECIAL),
    )
    extra = [
        "<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>",
        *TTS.values(),
    ]  # fmt: skip
    tok.add_special_tokens({"additional_special_tokens": [*SPECIAL.values(), *extra]})
    return tok


def _id(tok: Qwen2Tokenizer, token: str) -> int:
    value = tok.convert_tokens_to_ids(token)
    assert isinstance(value, int)
    return value


def _ids(tok: Qwen2Tokenizer) -> dict[str, int]:
    return {name: _id(tok, token) for name, token in SPECIAL.items()}


def save_processor(directory: Path, tok: Qwen2Tokenizer, *, feature_extractor: bool) -> None:
    """The tokenizer, and one preprocessor_config.json holding the image processor's settings
    and (for Omni) the Whisper feature extractor's, as the released Qwen directories do.
    (Qwen2_5OmniProcessor itself cannot be built here: it needs torchvision's video processor.)"""
    tok.save_pretrained(directory)
    settings = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112).to_dict()
    if feature_extractor:
        whisper = WhisperFeatureExtractor(feature_size=128)  # type: ignore[no-untyped-call]
        settings.update(whisper.to_dict())
    (directory / "preprocessor_config.json").write_text(json.dumps(settings, indent=2))


def _text(vocab: int, **extra: Any) -> dict[str, Any]:
    return {
        "vocab_size": vocab,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3]},
        **extra,
    }


def omni(directory: Path) -> Path:
    tok = tokenizer()
    ids = _ids(tok)
    vocab = len(tok) + (-len(tok)) % 8
    thinker = {
        "audio_config": {
            "num_mel_bins": 128, "encoder_layers": 1, "encoder_attention_heads": 2,
            "encoder_ffn_dim": 32, "d_model": 16, "output_dim": 64, "n_window": 50,
        },
        "vision_config": {
            "depth": 1, "hidden_size": 32, "intermediate_size": 32, "num_heads": 2,
            "out_hidden_size": 64, "fullatt_block_indexes": [0], "window_size": 112,
        },
        "text_config": _text(vocab),
        "audio_token_index": ids["audio_token"],
        "image_token_index": ids["image_token"],
        "video_token_index": ids["video_token"],
        "audio_start_token_id": ids["audio_bos_token"],
        "audio_end_token_id": ids["audio_eos_token"],
        "vision_start_token_id": ids["vision_bos_token"],
        "vision_end_token_id": ids["vision_eos_token"],
        "user_token_id": 0,
    }  # fmt: skip
    talker = {
        "vocab_size": 100, "embedding_size": 64, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16,
        "tts_codec_start_token_id": 93, "tts_codec_end_token_id": 94, "tts_codec_pad_token_id": 92,
        "tts_codec_mask_token_id": 95, "tts_text_start_token_id": ids["audio_bos_token"],
        "tts_text_end_token_id": ids["audio_eos_token"], "tts_text_pad_token_id": 0,
        "audio_token_index": ids["audio_token"], "image_token_index": ids["image_token"],
        "video_token_index": ids["video_token"], "vision_start_token_id": ids["vision_bos_token"],
        "vision_end_token_id": ids["vision_eos_token"], "audio_start_token_id": ids["audio_bos_token"],
        "audio_end_token_id": ids["audio_eos_token"],
        "rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3]},
    }  # fmt: skip
    token2wav = {
        "dit_config": {
            "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "head_dim": 16,
            "emb_dim": 16, "num_embeds": 100, "enc_emb_dim": 16, "enc_dim": 16,
            "enc_channels": [16, 16, 16, 16, 48], "enc_attention_channels": 8, "enc_se_channels": 8,
            "look_ahead_layers": [1], "look_backward_layers": [0],
        },
        "bigvgan_config": {"upsample_initial_channel": 64},
    }  # fmt: skip
    config = Qwen2_5OmniConfig(
        thinker_config=thinker,
        talker_config=talker,
        token2wav_config=token2wav,
        enable_audio_output=True,
    )
    torch.manual_seed(0)
    model = Qwen2_5OmniForConditionalGeneration(config)
    model.save_pretrained(directory)
    speaker = {
        "bos_token": ids["audio_bos_token"],
        "cond": torch.randn(1, 16),
        "ref_mel": torch.randn(1, 48, 80),
    }
    torch.save({"Chelsie": speaker}, directory / "spk_dict.pt")
    save_processor(directory, tok, feature_extractor=True)
    return directory


def vl(directory: Path) -> Path:
    tok = tokenizer()
    vocab = len(tok) + (-len(tok)) % 8
    image = _id(tok, "<|image_pad|>")
    config = Qwen2VLConfig(
        text_config=_text(vocab),
        vision_config={
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 64,
            "num_heads": 2,
            "mlp_ratio": 2,
        },
        image_token_id=image,
        video_token_id=_id(tok, "<|video_pad|>"),
        vision_start_token_id=_id(tok, "<|vision_start|>"),
        vision_end_token_id=_id(tok, "<|vision_end|>"),
    )
    torch.manual_seed(0)
    Qwen2VLForConditionalGeneration(config).save_pretrained(directory)
    save_processor(directory, tok, feature_extractor=False)
    return directory


def omni3(directory: Path) -> Path:
    """A Qwen3-Omni: the same tokenizer; the chat roles are told apart by their first byte."""
    tok = tokenizer()
    ids = _ids(tok)
    vocab = len(tok) + (-len(tok)) % 8
    moe = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32}
    # Qwen3 interleaves the three position axes over the rotary halves.
    rope = {"rope_type": "default", "mrope_section": [4, 2, 2]}
    thinker = {
        "audio_config": {
            "num_mel_bins": 128, "encoder_layers": 1, "encoder_attention_heads": 2,
            "encoder_ffn_dim": 32, "d_model": 16, "output_dim": 64, "n_window": 50,
            "n_window_infer": 100, "downsample_hidden_size": 8,
        },
        # Qwen2-VL's 14-pixel patches, so the image processor above serves both models.
        "vision_config": {
            "depth": 2, "hidden_size": 32, "intermediate_size": 32, "num_heads": 2,
            "out_hidden_size": 64, "patch_size": 14, "num_position_embeddings": 64,
            "deepstack_visual_indexes": [1],
        },
        "text_config": _text(vocab, rope_parameters=rope, **moe),
        "audio_token_id": ids["audio_token"],
        "image_token_id": ids["image_token"],
        "video_token_id": ids["video_token"],
        "audio_start_token_id": ids["audio_bos_token"],
        "vision_start_token_id": ids["vision_bos_token"],
        "user_token_id": _id(tok, "u"),
    }  # fmt: skip
    # The talker's vocabulary is the codebook, then 1024 control codes it never predicts
    # except the end of speech (generate suppresses the rest).
    codebook, groups = 64, 4
    talker = {
        "text_config": {
            "vocab_size": codebook + 1024, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
            "head_dim": 16, "num_experts": 4, "num_experts_per_tok": 2,
            "moe_intermediate_size": 16, "shared_expert_intermediate_size": 32,
            "rope_parameters": rope,
        },
        "code_predictor_config": {
            "vocab_size": codebook, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
            "head_dim": 16, "num_code_groups": groups,
        },
        "num_code_groups": groups, "thinker_hidden_size": 64, "accept_hidden_layer": 1,
        "spatial_merge_size": 2,
        "codec_pad_id": codebook + 4, "codec_bos_id": codebook + 5,
        "codec_eos_token_id": codebook + 6, "codec_nothink_id": codebook + 7,
        "codec_think_bos_id": codebook + 8, "codec_think_eos_id": codebook + 9,
        "speaker_id": {"chelsie": codebook + 10, "ethan": codebook + 11},
        "audio_token_id": ids["audio_token"], "image_token_id": ids["image_token"],
        "video_token_id": ids["video_token"], "vision_start_token_id": ids["vision_bos_token"],
        "audio_start_token_id": ids["audio_bos_token"],
    }  # fmt: skip
    code2wav = {
        "codebook_size": codebook, "num_quantizers": groups, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 2, "decoder_dim": 64,
    }  # fmt: skip
    config = Qwen3OmniMoeConfig(
        thinker_config=thinker,
        talker_config=talker,
        code2wav_config=code2wav,
        enable_audio_output=True,
        im_start_token_id=_id(tok, "<|im_start|>"),
        im_end_token_id=_id(tok, "<|im_end|>"),
        tts_pad_token_id=_id(tok, TTS["pad"]),
        tts_bos_token_id=_id(tok, TTS["bos"]),
        tts_eos_token_id=_id(tok, TTS["eos"]),
        system_token_id=_id(tok, "s"),
        user_token_id=_id(tok, "u"),
        assistant_token_id=_id(tok, "a"),
    )
    torch.manual_seed(0)
    model = Qwen3OmniMoeForConditionalGeneration(config)
    # transformers makes the MoE experts' weights with torch.empty and leaves them so: what
    # the allocator last held (nan, at times, in a long test run) would be saved as weights.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".experts." in name:
                parameter.normal_(0.0, 0.02)
    model.save_pretrained(directory)
    save_processor(directory, tok, feature_extractor=True)
    return directory
