"""The simultaneous interpreter's pure parts: agreement, segments, pace, voice meter."""

from __future__ import annotations

import numpy as np
import pytest

from translate.simultaneous.agreement import LocalAgreement, normalized
from translate.simultaneous.pacing import shorten_pauses, speed_for, stretch, trim_silence
from translate.simultaneous.renderer import in_case_of
from translate.simultaneous.segmenter import Segmenter, in_sentence_case
from translate.simultaneous.types import Directions, HeardWord, SimultaneousSettings
from translate.simultaneous.voice import VoiceMeter


def heard(
    text: str, start: float = 0.0, step: float = 0.3, language: str = "en"
) -> list[HeardWord]:
    return [
        HeardWord(w, start + i * step, start + i * step + step * 0.8, language)
        for i, w in enumerate(text.split())
    ]


# -- local agreement ----------------------------------------------------------------------
def test_two_hypotheses_commit_what_they_agree_on() -> None:
    agreement = LocalAgreement()
    assert agreement.insert(heard("my brother lied.")) == []
    committed = agreement.insert(heard("My brother lives in"))
    assert [w.text for w in committed] == ["My", "brother"]
    assert [w.text for w in agreement.tentative] == ["lives", "in"]


def test_words_are_compared_without_case_punctuation_or_digit_spelling() -> None:
    assert normalized("Doctor.") == normalized("doctor,")
    assert normalized("six") == normalized("6") == normalized("seis")
    agreement = LocalAgreement()
    agreement.insert(heard("He is six."))
    committed = agreement.insert(heard("he is 6, and"))
    assert [w.text for w in committed] == ["he", "is", "6,"]  # the later spelling is kept


def test_a_window_that_starts_with_committed_words_is_matched_by_text() -> None:
    agreement = LocalAgreement()
    agreement.insert(heard("one two three four"))
    agreement.insert(heard("one two three four five"))
    assert agreement.committed_end_s > 0.9
    # The window now starts at 0.55 (inside "two"); Whisper times its first word badly.
    window = [HeardWord("two", 0.55, 0.56, "en"), *heard("three four five six", 0.6)]
    fresh = agreement.fresh(window, window_s=0.55)
    assert [w.text for w in fresh] == ["five", "six"]


def test_flush_commits_everything_and_commit_until_the_settled_part() -> None:
    agreement = LocalAgreement()
    agreement.insert(heard("alpha beta gamma delta"))
    assert [w.text for w in agreement.commit_until(heard("alpha beta gamma delta"), 0.6)] == [
        "alpha",
        "beta",
    ]
    assert [w.text for w in agreement.flush()] == ["gamma", "delta"]
    assert agreement.tentative == []


# -- segments -------------------------------------------------------------------------------
def close_all(segmenter: Segmenter, words: list[HeardWord]) -> list[tuple[str, str]]:
    out = []
    for word in words:
        out += [(s.text, s.reason) for s in segmenter.push(word)]
    return out


def test_segments_close_at_sentence_ends_and_clause_marks() -> None:
    segmenter = Segmenter(SimultaneousSettings())
    closed = close_all(segmenter, heard("Yes. I think, of course, that we can go."))
    assert closed == [
        ("Yes.", "sentence"),
        ("I think, of course,", "clause"),
        ("that we can go.", "sentence"),
    ]


def test_a_long_run_is_cut_before_a_function_word() -> None:
    settings = SimultaneousSettings(max_words=8, max_span_s=100)
    closed = close_all(Segmenter(settings), heard("my big brother lives in the old town near"))
    assert closed == [("my big brother lives", "length")]


@pytest.mark.parametrize(
    ("text", "language", "first"),
    [
        ("a big cup of hot coffee with milk", "en", "a big cup of hot"),
        ("una gran taza de café caliente con leche", "es", "una gran taza de café"),
    ],
)
def test_a_noun_keeps_its_of_phrase(text: str, language: str, first: str) -> None:
    settings = SimultaneousSettings(max_words=5, max_span_s=100)
    closed = close_all(Segmenter(settings), heard(text, language=language))
    assert closed == [(first, "length")]
    upcoming = HeardWord("of" if language == "en" else "de", 3.0, 3.2, language)
    segmenter = Segmenter(SimultaneousSettings(min_span_s=0.5, max_span_s=100))
    close_all(segmenter, heard("a cup" if language == "en" else "una taza", language=language))
    assert segmenter.peek(upcoming) == []  # "a cup" waits for what it is a cup of


def test_pauses_gaps_and_a_language_change_close_segments() -> None:
    segmenter = Segmenter(SimultaneousSettings())
    words = heard("good morning") + heard("buenos días", start=5.0, language="es")
    closed = close_all(segmenter, words)
    assert closed == [("good morning", "language")]
    assert [s.reason for s in segmenter.pause(6.0)] == ["pause"]
    late = heard("one two three") + heard("four", start=2.0)
    assert close_all(Segmenter(SimultaneousSettings()), late) == [("one two three", "gap")]


def test_a_segment_closes_when_the_next_phrase_is_heard_coming() -> None:
    segmenter = Segmenter(SimultaneousSettings(min_span_s=1.0, max_span_s=2.0))
    assert close_all(segmenter, heard("my brother lives in Barcelona")) == []
    upcoming = HeardWord("and", 1.6, 1.8, "en")
    assert [(s.text, s.reason) for s in segmenter.peek(upcoming)] == [
        ("my brother lives in Barcelona", "phrase")
    ]
    assert segmenter.peek(None) == []


# -- pace -----------------------------------------------------------------------------------
def test_a_voice_that_fits_is_not_sped_up_and_one_behind_is() -> None:
    assert speed_for(queued_s=0, voice_s=1.5, source_s=2.0, slack_s=0, max_speed=1.5) == 1.0
    assert speed_for(
        queued_s=0.6, voice_s=1.8, source_s=2.0, slack_s=0, max_speed=1.5
    ) == pytest.approx(1.2)
    assert speed_for(queued_s=5, voice_s=2, source_s=1, slack_s=0, max_speed=1.5) == 1.5


def test_stretch_shortens_and_pauses_go_first() -> None:
    rate = 24_000
    t = np.arange(rate) / rate
    voice = (np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16)
    faster = stretch(voice, rate, 1.25)
    assert faster.dtype == np.int16
    assert len(faster) == pytest.approx(len(voice) / 1.25, rel=0.03)
    gap = np.zeros(rate // 2, np.int16)
    with_pause = np.concatenate([voice[: rate // 2], gap, voice[: rate // 2]])
    assert len(shorten_pauses(with_pause, rate, 0.1)) == pytest.approx(1.1 * rate, rel=0.03)
    assert len(trim_silence(np.concatenate([gap, voice, gap]), rate)) < len(voice) + rate // 20


# -- the voice meter ----------------------------------------------------------------------------
def test_the_meter_finds_voice_silence_and_a_pause_to_cut_in() -> None:
    meter = VoiceMeter()
    rate = 16_000
    loud = np.full(rate, 0.1, np.float32)
    quiet = np.zeros(rate // 2, np.float32)
    meter.push(np.concatenate([loud, quiet, loud]))  # voice 0-1 s, pause 1-1.5 s, voice
    assert meter.voiced_between(0.2, 0.4) and not meter.voiced_between(1.1, 1.4)
    assert meter.voiced_seconds(0, 2.5) == pytest.approx(2.0, abs=0.05)
    assert meter.silence_before(1.5) == pytest.approx(0.5, abs=0.03)
    cut = meter.last_quiet(0, 2.5, 0.12)
    assert cut is not None and 1.3 < cut < 1.5
    assert meter.last_quiet(0, 2.5, 0.12, begins_by=0.5) is None
    assert meter.last_quiet(0, 2.5, 0.12, ends_by=1.2) is None


def test_directions() -> None:
    both = Directions.two_way("en", "es")
    assert both.target("en") == "es" and both.target("es") == "en"
    into = Directions.into("es", ["en", "es"])
    assert into.target("en") == "es" and into.target("es") == "es"
    assert set(into.listen) == {"en", "es"}


@pytest.mark.parametrize(
    ("previous", "word", "language", "written"),
    [
        ("village", "In", "en", "in"),  # a clause going on across a cut of the window
        ("pueblo", "¿En", "es", "¿en"),
        ("village,", "The", "en", "the"),
        ("Spain.", "The", "en", "The"),  # a new sentence keeps its capital
        ("visit", "Madrid", "en", "Madrid"),  # a name is not a phrase's first word
        ("think", "I", "en", "I"),
        ("village", "USA", "en", "USA"),
        (None, "The", "en", "The"),  # the first word of all
    ],
)
def test_a_windows_capital_is_taken_off_a_phrase_that_goes_on(
    previous: str | None, word: str, language: str, written: str
) -> None:
    before = HeardWord(previous, 0.0, 0.4, language) if previous is not None else None
    assert in_sentence_case(HeardWord(word, 0.5, 0.7, language), before).text == written
    other = HeardWord("casa", 0.0, 0.4, "es" if language == "en" else "en")
    assert in_sentence_case(HeardWord(word, 0.5, 0.7, language), other).text == word


@pytest.mark.parametrize(
    ("source", "translated", "written"),
    [
        ("en el norte de España.", "In the north of Spain.", "in the north of Spain."),
        ("¿y tú?", "¿And you?", "¿and you?"),
        ("En el norte.", "In the north.", "In the north."),  # a sentence's start stays one
        ("yo también", "I also", "I also"),
        ("yo estoy", "I'm", "I'm"),
        ("and works as a doctor", "Y obras como doctor", "y obras como doctor"),
        ("", "", ""),
    ],
)
def test_a_piece_of_a_sentence_is_translated_as_one(
    source: str, translated: str, written: str
) -> None:
    assert in_case_of(source, translated) == written
