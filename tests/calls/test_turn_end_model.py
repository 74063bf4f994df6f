"""Smart Turn v3.2 (model/embedded/turn_end.py) on the project's own voices.

The utterances are voiced without Piper's sampling noise (`varied=False`):
Smart Turn hears the difference between two takes of the same words (one
take of "I would like to order" scored 0.44, another 0.88), so a test on a
random take would flake. Each is scored as the gateway would score it: the
voice, then 200 ms of silence (the VAD's pause, when pipecat runs it too).
The score moves with that silence ("I would like to order": 0.59, 0.17,
0.80 after 150, 200, 250 ms), so a caller scores each pause once, at a fixed
point, and weighs the words too.

What it does not hear, measured here and left to the transcript rule
(rtc/turns.py `words_sound_finished`): "x is equal to" (0.92) and "Wait,"
(0.95) from Piper, and every Spanish phrase from espeak-ng, finished or not
("Espera," 0.98, "Quiero pedir" 0.96): espeak-ng ends each phrase on a
final fall.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from model.audio import resample_int16
from model.embedded.backend import EmbeddedModel
from model.embedded.threads import INFERENCE_NICE
from model.embedded.turn_end import (
    SAMPLE_RATE,
    WINDOW_SAMPLES,
    TurnEndModel,
    last_window,
    log_mel_features,
    smart_turn_path,
)
from model.errors import ModelLoadError

pytestmark = pytest.mark.models

PAUSE_S = 0.2
FINISHED = [
    ("I would like a cup of coffee with milk please.", "en"),
    ("What time is it?", "en"),
    ("Hello, how are you today?", "en"),
    ("x is equal to four.", "en"),
    ("Quiero un café con leche, por favor.", "es"),
    ("Tengo una pregunta.", "es"),
    ("¿Qué hora es?", "es"),
]
UNFINISHED = [
    "I would like to order",
    "I think that",
    "The thing I really want to say is that",
    "I was wondering if you could maybe",
]


@pytest.fixture(scope="module")
def turn_model() -> TurnEndModel:
    return TurnEndModel()


def spoken(model: EmbeddedModel, text: str, language: str) -> NDArray[np.float32]:
    """`text` in the project's voice at 16 kHz, from its first to its last loud sample."""
    pcm, rate = model.voice_once(text, language, varied=False)
    audio = resample_int16(pcm, rate, SAMPLE_RATE).astype(np.float32) / 32768.0
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0] : loud[-1] + 1]


def then_silence(audio: NDArray[np.float32], seconds: float = PAUSE_S) -> NDArray[np.float32]:
    return np.concatenate([audio, np.zeros(int(seconds * SAMPLE_RATE), np.float32)])


def test_features_are_whispers_log_mel(embedded_model: EmbeddedModel) -> None:
    """Our extractor computes what transformers' WhisperFeatureExtractor does for Smart Turn."""
    from transformers import WhisperFeatureExtractor

    window = last_window(then_silence(spoken(embedded_model, "What time is it?", "en")))
    extractor = WhisperFeatureExtractor(feature_size=80, chunk_length=8)  # type: ignore[no-untyped-call]
    reference = extractor(
        window,
        sampling_rate=SAMPLE_RATE,
        padding="max_length",
        max_length=WINDOW_SAMPLES,
        truncation=True,
        do_normalize=True,
        return_tensors="np",
    ).input_features[0]
    ours = log_mel_features(window)
    assert ours.shape == (80, 800) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=1e-4)


@pytest.mark.parametrize(("text", "language"), FINISHED)
def test_finished_sentences_score_high(
    embedded_model: EmbeddedModel, turn_model: TurnEndModel, text: str, language: str
) -> None:
    p = turn_model.probability(then_silence(spoken(embedded_model, text, language)))
    assert p >= 0.8, (text, p)


@pytest.mark.parametrize("text", UNFINISHED)
def test_unfinished_clauses_score_low(
    embedded_model: EmbeddedModel, turn_model: TurnEndModel, text: str
) -> None:
    p = turn_model.probability(then_silence(spoken(embedded_model, text, "en")))
    assert p <= 0.5, (text, p)


def test_only_the_last_eight_seconds_count(
    embedded_model: EmbeddedModel, turn_model: TurnEndModel
) -> None:
    turn = then_silence(spoken(embedded_model, "I would like to order", "en"))
    earlier = spoken(embedded_model, "What time is it? Thank you very much.", "en")
    longer = np.concatenate([np.tile(earlier, 4), turn])  # over 8 s in all
    assert len(longer) > WINDOW_SAMPLES
    assert turn_model.probability(longer) == turn_model.probability(longer[-WINDOW_SAMPLES:])
    short = turn_model.probability(np.zeros(100, np.float32))
    assert 0.0 <= short <= 1.0


async def test_scoring_runs_in_an_inference_thread_below_the_media(
    embedded_model: EmbeddedModel, turn_model: TurnEndModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    turn = then_silence(spoken(embedded_model, "Where is the train station?", "en"))
    seen: list[tuple[int, int]] = []
    probability = turn_model.probability

    def observed(audio: NDArray[np.float32]) -> float:
        tid = threading.get_native_id()
        seen.append((tid, os.getpriority(os.PRIO_PROCESS, tid)))
        return probability(audio)

    monkeypatch.setattr(turn_model, "probability", observed)
    assert await turn_model.score(turn) == probability(turn)
    ((tid, nice),) = seen
    assert tid != threading.get_native_id()  # not on the event loop
    if sys.platform == "linux":
        loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert nice == min(19, loop_nice + INFERENCE_NICE)


async def test_scoring_waits_while_whisper_computes(
    embedded_model: EmbeddedModel, turn_model: TurnEndModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They take turns on the CPU (side by side, Smart Turn's ~50 ms stalled Whisper's two
    threads for longer than that): a pause's score waits for the words being decoded."""
    turn = then_silence(spoken(embedded_model, "Where is the train station?", "en"))
    asr = embedded_model._asr
    assert asr is not None
    decode = asr._decode
    decoding, release = threading.Event(), threading.Event()
    order: list[str] = []

    def held_decode(*args: Any, **kwargs: Any) -> Any:
        decoding.set()
        release.wait()
        result = decode(*args, **kwargs)
        order.append("whisper")
        return result

    monkeypatch.setattr(asr, "_decode", held_decode)
    loop = asyncio.get_running_loop()
    words = loop.run_in_executor(None, embedded_model.transcribe_blocking, turn, ["en"])
    try:
        await loop.run_in_executor(None, decoding.wait)
        score = asyncio.ensure_future(turn_model.score(turn))
        # Not a timing bound: while Whisper holds the CPU the score cannot come at all.
        done, _ = await asyncio.wait({score}, timeout=1.0)
        assert not done
    finally:
        release.set()
    probability = await score
    order.append("voice")
    assert (await words).text
    assert order == ["whisper", "voice"]
    assert 0.0 <= probability <= 1.0


def test_missing_package_is_a_model_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pipecat" else real(name, *a),
    )
    with pytest.raises(ModelLoadError, match="pipecat-ai"):
        smart_turn_path()


def test_another_model_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "smart-turn-v3.2-cpu.onnx"
    other.write_bytes(b"not the pinned model")
    with pytest.raises(ModelLoadError, match="sha256"):
        TurnEndModel(other)
