"""What Whisper really hears of backchannels and interruptions in the project's voices,
through Opus, and what the classifier (model/backchannel.py) makes of it."""

from __future__ import annotations

import numpy as np
import pytest

from bench.asr_window import through_opus
from model.audio import resample_int16
from model.backchannel import classify
from model.embedded.backend import EmbeddedModel

HEARD_AS_BACKCHANNEL = [
    ("Uh-huh.", "en"),
    ("Yeah.", "en"),
    ("Okay.", "en"),
    ("Mm-hmm.", "en"),
    ("Right.", "en"),
    ("Sí.", "es"),
    ("Vale.", "es"),
    ("vale", "es"),
    ("Ajá.", "es"),
]
HEARD_AS_INTERRUPTION = [
    ("Wait.", "en"),
    ("Stop.", "en"),
    ("Hold on.", "en"),
    ("No, no.", "en"),
    ("Wait, stop please.", "en"),
    ("¡Espera!", "es"),
    ("¡Para!", "es"),
    ("No, no.", "es"),
    ("Tengo una pregunta.", "es"),
]


async def _heard(model: EmbeddedModel, text: str, language: str) -> tuple[str, float]:
    """What Whisper writes for `text` in the project's voice, as the gateway hears it."""
    pcm, rate = model.voice_once(text, language, varied=False)
    loud = np.flatnonzero(np.abs(pcm) > 500)
    duration = (loud[-1] - loud[0]) / rate
    audio = through_opus(resample_int16(pcm, rate, 48_000))
    padded = np.concatenate([np.zeros(4800, np.float32), audio, np.zeros(3200, np.float32)])
    transcript = await model.session().transcribe(padded, ["en", "es"])
    return transcript.text, float(duration)


@pytest.mark.models
@pytest.mark.parametrize(("text", "language"), HEARD_AS_BACKCHANNEL)
async def test_whisper_hears_backchannels_as_backchannels(
    embedded_model: EmbeddedModel, text: str, language: str
) -> None:
    heard, duration = await _heard(embedded_model, text, language)
    verdict = classify(heard, language, duration)
    assert not verdict.interrupts, (text, heard, verdict)


@pytest.mark.models
@pytest.mark.parametrize(("text", "language"), HEARD_AS_INTERRUPTION)
async def test_whisper_hears_interruptions_as_interruptions(
    embedded_model: EmbeddedModel, text: str, language: str
) -> None:
    heard, duration = await _heard(embedded_model, text, language)
    verdict = classify(heard, language, duration)
    assert verdict.interrupts, (text, heard, verdict)
