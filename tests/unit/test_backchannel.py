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

import pytest

from model.backchannel import (
    MAX_BACKCHANNEL_S,
    classify,
    may_still_be_backchannel,
    words,
)


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
        "Ememam",
        "Mmhm.",
        "Umm.",
        "M.A.",
        "M M",
        "C, C.",
        "Bale",
        "Palette",
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
        "Human",
        "Man.",
        "Ham",
        "Email",
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


def test_one_unknown_word_is_the_backchannel_its_start_sounded_like() -> None:
    """Whisper base hears "mm-hmm" as "M." 192 ms in, and as "Ememlan" once it is over."""
    assert classify("Ememlan", "en", 0.46, started_like_one=True).kind == "backchannel"
    assert classify("Ememlan", "en", 0.46).interrupts  # without the start: the safe side
    assert classify("Stop.", "en", 0.48, started_like_one=True).interrupts
    assert classify("Okay, wait.", "en", 0.7, started_like_one=True).interrupts
    assert classify("Yeah, so tomorrow", "en", 0.9, started_like_one=True).interrupts
    assert classify("Mm", "en", 2.0, started_like_one=True).interrupts  # a turn of its own
