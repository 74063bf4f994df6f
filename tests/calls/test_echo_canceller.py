"""The echo canceller (model/embedded/echo.py) on the project's own voices, offline.

The echo is built as a phone on a table would make it: the answer as the
server sent it (48 kHz), through Opus to the phone, a few room reflections,
10 dB down, 80 ms late, a little noise, and through Opus back to the server
(16 kHz). Measured on this machine: 29-42 dB less echo in each second, from
the first one on (33 dB overall after it); the Silero VAD hears 201 speech
chunks in the raw microphone and none in the cleaned one. Over the echo, the
user's own words keep their level (-2.6 dB) and 51 of the 56 chunks the VAD
hears in them alone. The assertions leave wide margins below those figures.
"""

from __future__ import annotations

import builtins
import functools
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from bench.asr_window import through_opus
from model.audio import resample_int16
from model.embedded.backend import EmbeddedModel
from model.embedded.echo import EchoCanceller, EchoSettings
from model.errors import ModelLoadError
from rtc.conversation.listening import EchoWatch
from rtc.vad import CHUNK_SAMPLES, SileroVAD

pytestmark = pytest.mark.models

ANSWER = (
    "My brother lives in Barcelona and works as a doctor. He has a big house near the sea. "
    "Every summer we visit him with our children."
)
USER = "Espera, tengo una pregunta importante."
SERVER_RATE = 48_000
MIC_RATE = 16_000
ECHO_DB = -10.0
ECHO_DELAY_S = 0.080
USER_AT_S = 5.0
#: Early reflections of a small room: (delay in ms, gain).
ROOM = ((0.0, 1.0), (5.0, 0.4), (15.0, 0.2), (31.0, 0.1))


@functools.cache
def _voiced(model: EmbeddedModel, text: str, language: str) -> NDArray[np.int16]:
    pcm, rate = model.voice_once(text, language, varied=False)
    return resample_int16(pcm, rate, SERVER_RATE)


def _opus_48k(pcm: NDArray[np.int16]) -> NDArray[np.float64]:
    """What the phone's speaker plays: the answer after Opus."""
    heard = through_opus(pcm)
    return resample_int16((heard * 32767).astype(np.int16), MIC_RATE, SERVER_RATE).astype(
        np.float64
    )


def _microphone(
    answer: NDArray[np.int16], user: NDArray[np.int16] | None = None
) -> NDArray[np.float32]:
    """The phone's microphone as the server hears it (16 kHz float, after Opus)."""
    played = _opus_48k(answer)
    room = np.zeros(int(SERVER_RATE * 0.032))
    for delay_ms, gain in ROOM:
        room[int(SERVER_RATE * delay_ms / 1000)] = gain
    echo = np.convolve(played, room)[: len(played)] * 10 ** (ECHO_DB / 20)
    mic = np.concatenate([np.zeros(int(SERVER_RATE * ECHO_DELAY_S)), echo])
    if user is not None:
        start = int(USER_AT_S * SERVER_RATE)
        end = min(len(mic), start + len(user))
        mic[start:end] += user[: end - start] * 10 ** (-4 / 20)
    mic += np.random.default_rng(0).normal(0.0, 30.0, len(mic))  # -60 dBFS of hiss
    return through_opus(np.clip(mic, -32768, 32767).astype(np.int16))


def _cancel(
    canceller: EchoCanceller, answer: NDArray[np.int16], mic: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Feed 20 ms of what was sent, then 20 ms of microphone, as a call would."""
    far_step, near_step = SERVER_RATE // 50, MIC_RATE // 50
    out = []
    for i in range(len(mic) // near_step):
        sent = answer[i * far_step : (i + 1) * far_step]
        canceller.far_end(np.pad(sent, (0, far_step - len(sent))))
        out.append(canceller.near_end_float(mic[i * near_step : (i + 1) * near_step]))
    return np.concatenate(out)[canceller.latency_samples :]


def _energy_db(a: NDArray[Any], b: NDArray[Any]) -> float:
    ea = float(np.mean(np.square(a, dtype=np.float64)))
    eb = float(np.mean(np.square(b, dtype=np.float64)))
    return 10.0 * float(np.log10(max(ea, 1e-20) / max(eb, 1e-20)))


def _speech_chunks(vad: SileroVAD, audio: NDArray[np.float32]) -> int:
    stream = vad.stream()
    return sum(
        vad.probability(stream, audio[i : i + CHUNK_SAMPLES].astype(np.float32)) >= 0.5
        for i in range(0, len(audio) - CHUNK_SAMPLES, CHUNK_SAMPLES)
    )


def test_the_echo_of_an_answer_is_removed(embedded_model: EmbeddedModel, vad: SileroVAD) -> None:
    answer = _voiced(embedded_model, ANSWER, "en")
    mic = _microphone(answer)
    cleaned = _cancel(EchoCanceller(MIC_RATE, far_end_rate=SERVER_RATE), answer, mic)
    n = min(len(mic), len(cleaned))
    converged = slice(MIC_RATE, n)  # from the first second on
    erle = _energy_db(mic[converged], cleaned[converged])
    assert erle >= 20.0, erle
    assert _speech_chunks(vad, mic[:n]) > 100  # without it, the turn detector hears a user
    assert _speech_chunks(vad, cleaned[converged]) <= 3


def test_the_user_talking_over_the_echo_is_kept(
    embedded_model: EmbeddedModel, vad: SileroVAD
) -> None:
    answer = _voiced(embedded_model, ANSWER, "en")
    user = _voiced(embedded_model, USER, "es")
    cleaned = _cancel(
        EchoCanceller(MIC_RATE, far_end_rate=SERVER_RATE), answer, _microphone(answer, user)
    )
    alone = through_opus(
        np.concatenate(
            [np.zeros(int(USER_AT_S * SERVER_RATE), np.int16), (user * 10 ** (-4 / 20))]
        ).astype(np.int16)
    )
    start = int(USER_AT_S * MIC_RATE)
    end = min(len(alone), len(cleaned), start + len(user) // 3)
    said, kept = alone[start:end], cleaned[start:end]
    assert _energy_db(kept, said) >= -6.0
    heard_alone = _speech_chunks(vad, said)
    assert heard_alone > 30
    assert _speech_chunks(vad, kept) >= 0.6 * heard_alone


def test_noise_suppression_lowers_steady_noise() -> None:
    hiss = np.random.default_rng(1).normal(0.0, 300.0, 3 * MIC_RATE).astype(np.int16)
    plain = EchoCanceller(MIC_RATE, echo_cancellation=False).near_end(hiss)
    suppressed = EchoCanceller(MIC_RATE, "near_field", echo_cancellation=False).near_end(hiss)
    tail = slice(MIC_RATE, None)  # the suppressor learns the noise for a moment first
    assert _energy_db(plain[tail], suppressed[tail]) >= 10.0


def test_any_chunking_gives_the_same_samples_back() -> None:
    """10 ms framing is internal: as many samples out as in, whatever the chunk sizes."""
    audio = np.random.default_rng(2).normal(0.0, 2000.0, MIC_RATE).astype(np.int16)

    def run(chunk: int) -> NDArray[np.int16]:
        canceller = EchoCanceller(MIC_RATE, "near_field", echo_cancellation=False)
        parts = [canceller.near_end(audio[i : i + chunk]) for i in range(0, len(audio), chunk)]
        assert [len(p) for p in parts] == [
            len(audio[i : i + chunk]) for i in range(0, len(audio), chunk)
        ]
        return np.concatenate(parts)

    reference = run(160)
    assert np.array_equal(reference[:160], np.zeros(160, np.int16))  # the 10 ms of latency
    for chunk in (7, 512, 999):
        assert np.array_equal(run(chunk), reference)


def test_in_step_the_frames_come_back_without_the_latency() -> None:
    """What the call's listening uses: each whole 10 ms frame as it came and cleaned, at
    once (the VAD hears the cleaned microphone no later than the raw)."""
    audio = np.random.default_rng(2).normal(0.0, 2000.0, MIC_RATE).astype(np.int16)
    reference = EchoCanceller(MIC_RATE, "near_field", echo_cancellation=False).near_end(audio)
    for chunk in (7, 320, 512, 999):
        canceller = EchoCanceller(MIC_RATE, "near_field", echo_cancellation=False)
        raws, cleans = [], []
        for i in range(0, len(audio), chunk):
            raw, cleaned = canceller.near_end_in_step(audio[i : i + chunk])
            assert len(raw) == len(cleaned) and len(raw) % 160 == 0
            raws.append(raw)
            cleans.append(cleaned)
        raw, cleaned = np.concatenate(raws), np.concatenate(cleans)
        assert len(audio) - len(raw) < 160  # only what does not fill a frame waits
        assert np.array_equal(raw, audio[: len(raw)])
        assert np.array_equal(cleaned[: len(audio) - 160], reference[160:])


def test_a_stretch_of_the_answers_echo_is_told_from_the_users_words(
    embedded_model: EmbeddedModel,
) -> None:
    """Before a call's echo is learned, speech held over an answer is looked at as a whole:
    the answer's echo (through Opus twice, with the room) is a copy of what was played; the
    user's own words, alone or over that echo, are not."""
    answer = _voiced(embedded_model, ANSWER, "en")
    user = _voiced(embedded_model, USER, "es")
    played_s = 2.5
    watch = EchoWatch()
    for i in range(0, int(played_s * SERVER_RATE), 960):
        watch.far(answer[i : i + 960])
    echo_only, over_echo = _microphone(answer), _microphone(answer, user)

    def heard(mic: NDArray[np.float32], start_s: float, seconds: float = 0.2) -> bool:
        return watch.copied(mic[int(start_s * MIC_RATE) : int((start_s + seconds) * MIC_RATE)])

    assert heard(echo_only, 2.0) and heard(echo_only, 1.6, 0.3)
    assert not heard(echo_only, 2.0, 0.01)  # too short to tell
    said = through_opus(user)
    assert not heard(said, 0.3) and not heard(said, 0.8, 0.3)
    over = np.concatenate([over_echo[int(USER_AT_S * MIC_RATE) :], np.zeros(MIC_RATE)])
    for i in range(0, int(played_s * SERVER_RATE), 960):  # the answer went on meanwhile
        watch.far(answer[int(USER_AT_S * SERVER_RATE) + i : int(USER_AT_S * SERVER_RATE) + i + 960])
    assert not heard(over, 0.3) and not heard(over, 0.6, 0.3)


def test_48k_both_ways_works_too(embedded_model: EmbeddedModel) -> None:
    answer = _voiced(embedded_model, ANSWER, "en")[: 3 * SERVER_RATE]
    canceller = EchoCanceller(SERVER_RATE)
    canceller.set_delay_ms(80)
    echo = np.concatenate([np.zeros(int(ECHO_DELAY_S * SERVER_RATE)), answer * 0.3])
    echo = echo[: len(answer)].astype(np.int16)
    out = []
    for i in range(0, len(answer) - 960, 960):
        canceller.far_end(answer[i : i + 960])
        out.append(canceller.near_end(echo[i : i + 960]))
    cleaned = np.concatenate(out)
    assert _energy_db(echo[SERVER_RATE : len(cleaned)], cleaned[SERVER_RATE:]) >= 20.0


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="sample rate"):
        EchoSettings(sample_rate=22_050)
    with pytest.raises(ValueError, match="sample rate"):
        EchoSettings(far_end_rate=44_100)
    with pytest.raises(ValueError, match="noise_reduction"):
        EchoSettings(noise_reduction="loud")  # type: ignore[arg-type]


def test_missing_livekit_is_a_model_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_livekit(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "livekit" or name.startswith("livekit."):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_livekit)
    with pytest.raises(ModelLoadError, match="livekit"):
        EchoCanceller()
