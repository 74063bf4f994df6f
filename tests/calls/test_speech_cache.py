"""The embedded voice: pieces voiced once are reused, and calls synthesize side by side."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from model.embedded.backend import EmbeddedModel
from model.embedded.tts import PcmCache, PiperEnglishVoice


def _pcm(samples: int) -> np.ndarray[Any, np.dtype[np.int16]]:
    return np.ones(samples, np.int16)


def test_the_cache_drops_the_least_recently_used_piece_past_its_byte_bound() -> None:
    cache = PcmCache(max_bytes=3 * 2000)
    for text in ("one", "two", "three"):
        cache.put(text, _pcm(1000))
    assert cache.get("one") is not None  # now the most recently used
    cache.put("four", _pcm(1000))
    assert cache.get("two") is None
    assert [cache.get(t) is not None for t in ("one", "three", "four")] == [True] * 3
    assert cache.bytes == 3 * 2000
    cache.put("huge", _pcm(10_000))  # larger than the whole cache: never kept
    assert cache.get("huge") is None and len(cache) == 3


def test_cached_pieces_cannot_be_changed_by_one_call_for_the_others() -> None:
    cache = PcmCache()
    cache.put("Not quite.", _pcm(10))
    pcm = cache.get("Not quite.")
    assert pcm is not None
    with pytest.raises(ValueError):
        pcm[0] = 5


@pytest.fixture
def voice(embedded_model: EmbeddedModel) -> PiperEnglishVoice:
    # The loaded model's own voice: a second Piper would initialise espeak-ng again.
    english = embedded_model._english
    assert english is not None
    return english


def test_a_piece_said_again_is_not_synthesized_again(
    voice: PiperEnglishVoice, monkeypatch: pytest.MonkeyPatch
) -> None:
    voiced: list[str] = []
    synthesize = voice.synthesize

    def counting(text: str) -> np.ndarray[Any, np.dtype[np.int16]]:
        voiced.append(text)
        return synthesize(text)

    monkeypatch.setattr(voice, "synthesize", counting)
    text = "The cache test says this once. Then it says it twice."
    first = [pcm for _, pcm in voice.sentences(text)]
    again = [pcm for _, pcm in voice.sentences(text)]
    assert voiced == ["The cache test says this once.", "Then it says it twice."]
    assert all(a is b for a, b in zip(first, again, strict=True))
    # Real speech: about a second or more of 22 kHz audio, not silence.
    assert all(len(p) > voice.sample_rate // 2 and np.abs(p).max() > 10_000 for p in first)


def test_two_threads_voice_different_sentences_at_once(voice: PiperEnglishVoice) -> None:
    start = threading.Barrier(2)

    def say(text: str) -> int:
        start.wait()
        return len(voice.synthesize(text))

    texts = ["First a thread reads the page aloud.", "Meanwhile another one answers a question."]
    with ThreadPoolExecutor(2) as pool:
        lengths = list(pool.map(say, texts))
    assert all(n > voice.sample_rate for n in lengths)
