"""Backchannel or interruption (model/backchannel.py): the rules, then what Whisper really hears.

Whisper base, on the project's voices through Opus (languages en+es, as the
interpreter asks), writes: "Uh-huh." -> "Oh.", "Mm-hmm." -> "Emama", "Sí." ->
"C", "Vale." -> "Vale", "Ajá." -> "Akka" (or "Okay"), "Stop." -> "Stop.",
"¡Para!" -> "Ta-da!" (unknown, so an interruption: the safe side), "Tengo una
pregunta." -> "Tengon a pregunta". Known misses, left to interrupt as today:
espeak-ng's "claro" is heard as "Cloud" or "clav", Piper's "hmm" as "them"
or "then" (or, 180 ms long, as no word at all), and "oye" as "Oh yeah." (a
backchannel, though it means "listen").
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.asr_window import through_opus
from model.audio import resample_int16
from model.backchannel import (
    MAX_BACKCHANNEL_S,
    classify,
    may_still_be_backchannel,
    words,
)
from model.embedded.backend import EmbeddedModel


@pytest.mark.parametrize(
    "text",
    [
        "Uh-huh.",
        "uh huh",
        "Mm-hmm.",
        "mhm",
        "Yeah.",
        "Yeah, yeah.",
        "Okay.",
        "OK",
        "Right.",
        "Sure.",
        "I see.",
        "Got it.",
        "Sí.",
        "Sí, sí.",
        "si",
        "Vale.",
        "Vale, vale.",
        "Ajá.",
        "Claro.",
        "De acuerdo.",
        "Oh.",
        "Ah",
        "Emama",
        "C, C.",
        "Bale",
    ],
)
def test_backchannels_do_not_interrupt(text: str) -> None:
    verdict = classify(text, "en", 0.5)
    assert verdict.kind == "backchannel", verdict
    assert not verdict.interrupts


@pytest.mark.parametrize(
    "text",
    ["", "   ", "...", "[laughter]", "(coughs)", "*sighs*", "♪", "Ha ha ha.", "Jajaja", "Ahaha!"],
)
def test_sounds_without_words_do_not_interrupt(text: str) -> None:
    verdict = classify(text, "", 0.6)
    assert verdict.kind == "non_speech", verdict
    assert not verdict.interrupts


@pytest.mark.parametrize(
    "text",
    [
        "Wait.",
        "wait",
        "Stop.",
        "Stop!",
        "Hold on.",
        "No, no.",
        "No.",
        "Nonono",
        "Espera.",
        "¡Espera!",
        "Espere",
        "Para.",
        "¡Para!",
        "Un momento.",
        "Oye.",
        "Okay, wait.",
        "Yeah but",
        "What?",
        "Sorry?",
        "¿Qué?",
        "Wait, stop please.",
        "Star",
        "Ta-da!",
        "Tengo una pregunta.",
        "I would like a coffee.",
        "Yeah okay yeah okay sure right",
    ],
)
def test_stop_words_and_real_sentences_interrupt(text: str) -> None:
    verdict = classify(text, "en", 0.6)
    assert verdict.kind == "interruption", verdict
    assert verdict.interrupts


def test_long_speech_is_a_turn_whatever_the_words() -> None:
    assert classify("yeah", "en", MAX_BACKCHANNEL_S + 0.1).interrupts
    assert may_still_be_backchannel(MAX_BACKCHANNEL_S)
    assert not may_still_be_backchannel(MAX_BACKCHANNEL_S + 0.01)


def test_a_click_with_a_hallucinated_word_is_not_speech() -> None:
    """Whisper writes "I" or "I'm" for a cough; 100 ms of voice is no word anyway."""
    assert classify("I", "en", 0.1).kind == "non_speech"
    assert classify("I", "en", 0.5).interrupts  # said, it may start a sentence: interrupt
    assert classify("Stop!", "en", 0.1).interrupts  # a clear stop word is never a click


def test_words_fold_case_accents_and_notes() -> None:
    assert words("¡Ajá! [laughs] Mm-hmm, SÍ.") == ["aja", "mmhmm", "si"]


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
