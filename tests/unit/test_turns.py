"""Turn detection on scripted VAD timelines (no audio, no clock)."""

from __future__ import annotations

import numpy as np
import pytest

from model.types import Transcript
from rtc.conversation.turns import (
    GUESSED,
    ScoreVoice,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    TurnDetector,
    TurnEvent,
    TurnSettings,
    VoiceLost,
    VoiceOnset,
    WordsVerdict,
    transcript_sounds_finished,
    words_sound_finished,
)
from rtc.vad import CHUNK_MS, CHUNK_SAMPLES


def run(
    detector: TurnDetector, probabilities: list[float], *, raw: bool = False
) -> list[tuple[int, TurnEvent]]:
    """Feed a timeline; by default only the speech events (not the voice hints)."""
    out: list[tuple[int, TurnEvent]] = []
    for i, p in enumerate(probabilities):
        chunk = np.full(CHUNK_SAMPLES, i, dtype=np.float32)  # chunk index as its "audio"
        out += [
            (i, e)
            for e in detector.push(chunk, p)
            if raw or not isinstance(e, VoiceOnset | VoiceLost)
        ]
    return out


def test_first_voiced_chunk_is_an_onset_hint_and_a_click_is_lost() -> None:
    d = TurnDetector(TurnSettings(min_speech_ms=64))
    events = run(d, [0.0, 0.9, 0.0, 0.9, 0.9], raw=True)
    assert [(i, type(e)) for i, e in events] == [
        (1, VoiceOnset),
        (2, VoiceLost),
        (3, VoiceOnset),
        (4, SpeechStarted),
    ]


def test_speech_needs_min_speech_ms_of_voice() -> None:
    d = TurnDetector(TurnSettings(min_speech_ms=64))
    assert run(d, [0.0, 0.9, 0.0, 0.9, 0.0]) == []  # single voiced chunks are clicks
    events = run(d, [0.9, 0.9])
    assert [type(e) for _, e in events] == [SpeechStarted]
    start = events[0][1]
    assert isinstance(start, SpeechStarted)
    assert start.audio_start_ms == pytest.approx(5 * CHUNK_MS)


def test_pause_then_stop_with_the_same_revision_and_padded_audio() -> None:
    s = TurnSettings(prefix_padding_ms=96, silence_duration_ms=320, early_silence_ms=96)
    d = TurnDetector(s)
    timeline = [0.0] * 5 + [0.9] * 10 + [0.0] * 12
    events = run(d, timeline)
    kinds = [type(e) for _, e in events]
    assert kinds == [SpeechStarted, SpeechPaused, SpeechStopped]
    paused, stopped = events[1][1], events[2][1]
    assert isinstance(paused, SpeechPaused) and isinstance(stopped, SpeechStopped)
    assert stopped.revision == paused.revision
    assert np.array_equal(stopped.audio, paused.audio)
    # 3 chunks of prefix padding (indices 2..4), then speech from chunk 5.
    assert stopped.audio[0] == 2
    assert stopped.audio_end_ms == pytest.approx(15 * CHUNK_MS)
    assert stopped.speech_ms == pytest.approx(10 * CHUNK_MS)


def test_speech_resuming_after_a_pause_makes_the_speculation_stale() -> None:
    d = TurnDetector(TurnSettings(silence_duration_ms=320, early_silence_ms=96))
    events = run(d, [0.9] * 5 + [0.0] * 4 + [0.9] * 5 + [0.0] * 12)
    paused = [e for _, e in events if isinstance(e, SpeechPaused)]
    stopped = [e for _, e in events if isinstance(e, SpeechStopped)]
    assert len(paused) == 2 and len(stopped) == 1
    assert paused[0].revision != stopped[0].revision
    assert paused[1].revision == stopped[0].revision


def test_hysteresis_keeps_speech_going_between_thresholds() -> None:
    d = TurnDetector(TurnSettings(threshold=0.5, silence_duration_ms=96, early_silence_ms=64))
    events = run(d, [0.9] * 3 + [0.4] * 20)  # 0.4 is above threshold - 0.15
    assert [type(e) for _, e in events] == [SpeechStarted]
    assert d.speaking


def test_finished_words_end_the_turn_at_the_eager_silence() -> None:
    s = TurnSettings(silence_duration_ms=640, eager_silence_ms=128, early_silence_ms=32)
    d = TurnDetector(s)
    events = run(d, [0.9] * 6 + [0.0])
    paused = [e for _, e in events if isinstance(e, SpeechPaused)]
    assert len(paused) == 1
    # The words arrive before the eager silence has passed: the turn ends when it has.
    assert d.words_heard(paused[0].revision, True) == []
    later = run(d, [0.0] * 3)
    stopped = [e for _, e in later if isinstance(e, SpeechStopped)]
    assert len(stopped) == 1 and stopped[0].revision == paused[0].revision
    assert [i for i, e in later if isinstance(e, SpeechStopped)] == [2]  # 4 silent chunks
    assert not d.speaking


def test_finished_words_after_the_eager_silence_end_the_turn_at_once() -> None:
    d = TurnDetector(
        TurnSettings(silence_duration_ms=640, eager_silence_ms=64, early_silence_ms=32)
    )
    events = run(d, [0.9] * 6 + [0.0] * 3)
    paused = next(e for _, e in events if isinstance(e, SpeechPaused))
    (stopped,) = d.words_heard(paused.revision, True)
    assert isinstance(stopped, SpeechStopped) and stopped.revision == paused.revision
    assert stopped.audio_end_ms == pytest.approx(6 * CHUNK_MS)


def test_words_that_may_be_finished_wait_longer_and_unfinished_ones_longest() -> None:
    s = TurnSettings(
        silence_duration_ms=640, eager_silence_ms=64, unsure_silence_ms=256, early_silence_ms=32
    )
    for finished, stop_chunks in ((None, 8), (False, 20)):
        d = TurnDetector(s)
        paused = next(e for _, e in run(d, [0.9] * 6 + [0.0]) if isinstance(e, SpeechPaused))
        assert d.words_heard(paused.revision, finished) == []
        later = run(d, [0.0] * 25)
        assert [i + 2 for i, e in later if isinstance(e, SpeechStopped)] == [stop_chunks]


def test_stale_or_unfinished_words_wait_for_the_full_silence() -> None:
    d = TurnDetector(
        TurnSettings(silence_duration_ms=320, eager_silence_ms=64, early_silence_ms=32)
    )
    events = run(d, [0.9] * 6 + [0.0] * 2 + [0.9] * 3 + [0.0])
    first, second = [e for _, e in events if isinstance(e, SpeechPaused)]
    assert d.words_heard(first.revision, True) == []  # the user went on after that pause
    later = run(d, [0.0] * 12)
    stops = [i for i, e in later if isinstance(e, SpeechStopped)]
    assert stops == [8]  # 10 silent chunks = 320 ms
    # Silence-only settings (server_vad) never end early.
    strict = TurnDetector(TurnSettings(silence_duration_ms=320, early_silence_ms=32))
    paused = next(e for _, e in run(strict, [0.9] * 6 + [0.0] * 3) if isinstance(e, SpeechPaused))
    assert strict.words_heard(paused.revision, True) == []


@pytest.mark.parametrize(
    ("text", "finished"),
    [
        ("I would like a cup of coffee with milk please.", True),
        ("What is seven times eight?", True),
        ("2x plus 3 equals 11.", True),
        ("Quiero una taza de café con leche, por favor.", True),
        ("Quiero una taza de café con leche,", False),
        ("I would like a cup of.", False),
        ("Pues quiero ir a la.", False),
        ("Well...", False),
        ("so I was thinking of", False),
        ("", False),
        ("x equals 5", None),
        ("Yes", None),
        # What a listener hears as more to come, though Whisper ends it with a full stop.
        ("I would like to order.", False),
        ("Quiero pedir.", False),
        ("Me gustaría comprar.", False),
        ("Can you tell me?", False),
        ("Wait.", False),
        ("Espera.", False),
        # ... and what it does not.
        ("Do you want to go?", True),
        ("Can you help me with this?", True),
        ("What is it for?", True),
        ("Can you tell me where the train station is?", True),
        ("The train station is", False),
        ("I like that.", True),
    ],
)
def test_words_sound_finished(text: str, finished: bool) -> None:
    assert words_sound_finished(text) is finished


def test_words_the_recogniser_guessed_do_not_end_the_turn() -> None:
    # "Quiero pedir," cut at its pause, as Whisper base hears it: a question, but a guess.
    guessed = Transcript("Who is a penny?", "en", 0.78, log_probability=-1.7)
    assert transcript_sounds_finished(guessed) is False
    sure = Transcript("Where is the train station?", "en", 1.0, log_probability=-0.1)
    assert transcript_sounds_finished(sure) is True
    # A recogniser that does not say how sure it is: the words alone.
    assert transcript_sounds_finished(Transcript("Where is it?", "en", 1.0)) is True
    assert transcript_sounds_finished(Transcript("x is equal to", "en", 1.0, -0.3)) is False


def test_a_sentence_whose_last_word_was_guessed_is_doubted() -> None:
    # "Quiero pedir," cut at its pause, heard as a question at a fair mean log probability,
    # but " pen" of "penir" at 0.11.
    cut = Transcript("¿Quién penir?", "es", 0.9, log_probability=-0.74, last_word_probability=0.11)
    assert transcript_sounds_finished(cut) == GUESSED
    sure = Transcript("How are you today?", "en", 1.0, -0.1, last_word_probability=0.99)
    assert transcript_sounds_finished(sure) is True
    # Whisper looping on a short cut: the loop's tokens look sure, its words say nothing.
    loop = Transcript("Who are they? Who? Who? Who? Who? Who? Who? Who? Who?", "en", 0.8, -0.73)
    assert transcript_sounds_finished(loop) is False
    again = Transcript("Who is the one who is the one who is the one?", "en", 0.8, -0.6)
    assert transcript_sounds_finished(again) is False
    assert transcript_sounds_finished(Transcript("No, no, no.", "en", 1.0, -0.2)) is True
    # Only a finished-sounding end is doubted: a trailing one trails off whatever its words.
    trailing = Transcript("I would like to", "en", 1.0, -0.3, last_word_probability=0.1)
    assert transcript_sounds_finished(trailing) is False


def test_a_word_or_two_may_be_a_lead_in() -> None:
    # "Hello, how are you today?" (the README's) and "Buenos días, ¿cómo estás?" were
    # answered at their commas ("Hello.", "Buenos días.", the voice sure): a word or two
    # wait the "may be done" silence, three do not.
    assert transcript_sounds_finished(Transcript("Hello.", "en", 1.0, -0.2, 0.9)) is None
    assert transcript_sounds_finished(Transcript("Buenos días.", "es", 1.0, -0.2, 0.9)) is None
    assert transcript_sounds_finished(Transcript("How are you?", "en", 1.0, -0.2, 0.9)) is True
    assert transcript_sounds_finished(Transcript("Wait.", "en", 1.0, -0.2, 0.9)) is False
    # Over an answer the words are judged as they are (a backchannel's "Yeah." ends at once).
    assert words_sound_finished("Yeah.") is True


def test_a_chunk_near_the_threshold_holds_our_voice_once() -> None:
    d = TurnDetector(TurnSettings(threshold=0.5))
    kinds = [type(e) for _, e in run(d, [0.0, 0.4, 0.0], raw=True)]
    assert kinds == [VoiceOnset, VoiceLost]
    # The onset level then speech: one onset, then the speech starts.
    kinds = [type(e) for _, e in run(d, [0.4, 0.9, 0.9], raw=True)]
    assert kinds == [VoiceOnset, SpeechStarted]
    # Noise hovering between the levels pauses our voice once, not every other chunk.
    d = TurnDetector(TurnSettings(threshold=0.5))
    kinds = [type(e) for _, e in run(d, [0.4, 0.45, 0.4, 0.42, 0.1, 0.4], raw=True)]
    assert kinds == [VoiceOnset, VoiceLost, VoiceOnset]


def test_a_lower_hint_level_holds_our_voice_a_chunk_sooner() -> None:
    """Behind an echo canceller the first syllable over the answer comes out faint."""
    usual = TurnDetector(TurnSettings(threshold=0.5))
    assert [type(e) for _, e in run(usual, [0.0, 0.15, 0.6, 0.9], raw=True)] == [
        VoiceOnset,  # at the 0.6 chunk
        SpeechStarted,
    ]
    cleaned = TurnDetector(TurnSettings(threshold=0.5))
    cleaned.hint_level = 0.1
    events = run(cleaned, [0.0, 0.15, 0.6, 0.9], raw=True)
    assert [(i, type(e)) for i, e in events] == [(1, VoiceOnset), (3, SpeechStarted)]
    # ... and, hovering above that level, once.
    cleaned = TurnDetector(TurnSettings(threshold=0.5))
    cleaned.hint_level = 0.1
    events = run(cleaned, [0.0, 0.0, 0.12, 0.14, 0.13, 0.0, 0.12], raw=True)
    assert [type(e) for _, e in events] == [VoiceOnset, VoiceLost, VoiceOnset]
    cleaned.reset()
    assert cleaned.hint_level == 0.1  # the call's canceller, not the turn, sets it


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        TurnSettings(threshold=1.5)
    with pytest.raises(ValueError):
        TurnSettings(silence_duration_ms=-1)


def run_levels(
    detector: TurnDetector, timeline: list[tuple[float, float]]
) -> list[tuple[int, TurnEvent]]:
    """Feed (VAD probability, signal level) chunks; the speech events only."""
    out: list[tuple[int, TurnEvent]] = []
    for i, (p, level) in enumerate(timeline):
        chunk = np.full(CHUNK_SAMPLES, level, dtype=np.float32)
        out += [
            (i, e) for e in detector.push(chunk, p) if not isinstance(e, VoiceOnset | VoiceLost)
        ]
    return out


def test_a_quiet_signal_starts_the_transcription_before_the_lagging_vad() -> None:
    s = TurnSettings(silence_duration_ms=320, early_silence_ms=32, quiet_ratio=0.03, quiet_ms=64)
    loud, quiet = 0.3, 0.001
    # The voice stops at chunk 10; the VAD goes on saying "speech" for three more chunks.
    timeline = [(0.9, loud)] * 10 + [(0.99, quiet)] * 3 + [(0.02, quiet)] * 12
    events = run_levels(TurnDetector(s), timeline)
    assert [(i, type(e)) for i, e in events] == [
        (1, SpeechStarted),
        (11, SpeechPaused),  # two quiet chunks, while the VAD still says speech
        (22, SpeechStopped),  # the turn still ends on the VAD's silence
    ]
    paused, stopped = events[1][1], events[2][1]
    assert isinstance(paused, SpeechPaused) and isinstance(stopped, SpeechStopped)
    assert stopped.revision == paused.revision
    # Without the level, the VAD's first silent chunk (13) starts it.
    plain = run_levels(
        TurnDetector(TurnSettings(silence_duration_ms=320, early_silence_ms=32)), timeline
    )
    assert [(i, type(e)) for i, e in plain][1] == (13, SpeechPaused)


def test_loud_speech_after_a_quiet_gap_resumes_and_makes_the_pause_stale() -> None:
    s = TurnSettings(silence_duration_ms=320, early_silence_ms=96, quiet_ratio=0.03, quiet_ms=64)
    loud, quiet = 0.3, 0.001
    timeline = [(0.9, loud)] * 5 + [(0.9, quiet)] * 2 + [(0.9, loud)] * 5 + [(0.0, quiet)] * 12
    events = run_levels(TurnDetector(s), timeline)
    kinds = [(i, type(e)) for i, e in events]
    assert kinds[:3] == [(1, SpeechStarted), (6, SpeechPaused), (7, SpeechResumed)]
    assert kinds[-1][1] is SpeechStopped
    first, resumed, stopped = events[1][1], events[2][1], events[-1][1]
    assert isinstance(first, SpeechPaused) and isinstance(resumed, SpeechResumed)
    assert isinstance(stopped, SpeechStopped)
    assert stopped.revision == resumed.revision != first.revision
    assert len(stopped.audio) > len(first.audio)  # the words after the gap are in the turn


VOICED = TurnSettings(
    silence_duration_ms=3200,
    eager_silence_ms=128,
    unsure_silence_ms=384,
    doubt_silence_ms=960,
    early_silence_ms=32,
    voice_score_ms=96,
)


def _paused_then_scored(d: TurnDetector) -> tuple[SpeechPaused, ScoreVoice]:
    events = [e for _, e in run(d, [0.9] * 6 + [0.0] * 3)]
    paused = next(e for e in events if isinstance(e, SpeechPaused))
    score = next(e for e in events if isinstance(e, ScoreVoice))
    assert score.revision == paused.revision and len(score.audio) > len(paused.audio)
    return paused, score


@pytest.mark.parametrize(
    ("words", "voice", "stops_after_ms"),
    [
        (True, 0.9, 128),  # both finished: the short silence
        (True, 0.6, 384),  # the voice finished, but not surely: the words may be
        (None, 0.9, 384),  # the voice finished, the words may be
        (True, 0.2, 960),  # "I would like to order." said as if more is coming
        (False, 0.9, 960),  # "x is equal to": a trailing clause, the voice says done
        (False, 0.2, 3200),  # both say more is coming: the longest wait
        (None, 0.2, 3200),
        (GUESSED, 0.9, 960),  # "¿Quién penir?": a sentence whose end was a guess
        (GUESSED, 0.2, 960),  # ... the voice can neither confirm nor deny it
    ],
)
def test_words_and_voice_decide_together(
    words: WordsVerdict, voice: float, stops_after_ms: int
) -> None:
    d = TurnDetector(VOICED)
    paused, score = _paused_then_scored(d)
    assert d.words_heard(paused.revision, words) == []
    d.voice_heard(score.revision, voice)
    # 3 chunks of VAD silence so far
    assert _stops_after_ms(d, 3) == pytest.approx(stops_after_ms, abs=CHUNK_MS)


def _stops_after_ms(d: TurnDetector, silent: int) -> float:
    for _ in range(200):
        if [
            e
            for e in d.push(np.zeros(CHUNK_SAMPLES, np.float32), 0.0)
            if isinstance(e, SpeechStopped)
        ]:
            break
        silent += 1
    return (silent + 1) * CHUNK_MS


def test_a_voice_that_sounded_unfinished_first_is_not_sure_later() -> None:
    # "Hello, ... how are you today?": the voice says "more" at 96 ms, "done" at 192 ms.
    d = TurnDetector(VOICED)
    paused, score = _paused_then_scored(d)
    d.words_heard(paused.revision, True)
    d.voice_heard(score.revision, 0.4)
    events = [e for _, e in run(d, [0.0] * 3)]
    again = next(e for e in events if isinstance(e, ScoreVoice))
    assert d.voice_heard(again.revision, 0.9) == []  # not the eager 128 ms
    assert _stops_after_ms(d, 6) == pytest.approx(384, abs=CHUNK_MS)  # the unsure wait


def test_the_voice_is_asked_again_as_the_silence_grows() -> None:
    d = TurnDetector(VOICED)
    asked = [i for i, e in run(d, [0.9] * 6 + [0.0] * 20) if isinstance(e, ScoreVoice)]
    assert [(i - 5) * CHUNK_MS for i in asked] == [96, 192, 384]  # at 1x, 2x and 4x


def test_nothing_ends_a_voiced_turn_before_the_words_are_heard() -> None:
    d = TurnDetector(VOICED)
    _, score = _paused_then_scored(d)
    assert d.voice_heard(score.revision, 0.99) == []  # the voice alone is not enough
    assert not [e for _, e in run(d, [0.0] * 20) if isinstance(e, SpeechStopped)]
