"""The barge-in policy on scripted timelines: no audio, no clock, no sleeps."""

from __future__ import annotations

from rtc.conversation.interruption import Action, Heard, InterruptionPolicy


def actions(*decisions: object) -> list[Action]:
    return [d.action for d in decisions]  # type: ignore[attr-defined]


def test_onset_holds_the_answer_and_a_lost_voice_releases_it() -> None:
    p = InterruptionPolicy()
    assert actions(p.voice_onset(answering=True), p.voice_lost()) == [Action.HOLD, Action.RELEASE]
    assert p.voice_onset(answering=False).action is Action.NOTHING  # nothing to hold


def test_long_speech_interrupts_without_waiting_for_words() -> None:
    p = InterruptionPolicy(min_interruption_ms=400)
    assert p.speech_started(answering=True, now=10.0).action is Action.HOLD
    assert p.suspected
    assert p.speech_progress(200).action is Action.NOTHING
    decision = p.speech_progress(450)
    assert decision.action is Action.INTERRUPT and decision.suspected_at == 10.0
    assert not p.suspected
    assert p.speech_stopped().action is Action.NOTHING  # already decided: a normal turn


def test_short_speech_is_an_interruption_only_with_words() -> None:
    p = InterruptionPolicy()
    p.speech_started(answering=True, now=1.0)
    assert p.speech_stopped().action is Action.CHECK_WORDS
    assert p.words_checked(Heard.NON_SPEECH).action is Action.RELEASE  # a cough
    p.speech_started(answering=True, now=2.0)
    p.speech_stopped()
    assert p.words_checked(Heard.INTERRUPTION).action is Action.INTERRUPT  # "stop"
    assert p.words_checked(Heard.INTERRUPTION).action is Action.NOTHING  # decided once


def test_while_suspected_a_voice_loss_does_not_release() -> None:
    p = InterruptionPolicy()
    p.speech_started(answering=True, now=0.0)
    assert p.voice_lost().action is Action.NOTHING
    assert p.voice_onset(answering=True).action is Action.NOTHING  # already held


def test_no_interruptions_when_the_session_says_so() -> None:
    p = InterruptionPolicy(interrupt_response=False)
    assert p.voice_onset(answering=True).action is Action.NOTHING
    assert p.speech_started(answering=True, now=0.0).action is Action.NOTHING
    assert p.speech_progress(5000).action is Action.NOTHING
    assert p.speech_stopped().action is Action.NOTHING


def test_a_backchannel_holds_the_answer_only_until_its_words_are_known() -> None:
    p = InterruptionPolicy(backchannels=True, min_interruption_ms=400, max_backchannel_ms=1600)
    assert p.speech_started(answering=True, now=0.0).action is Action.HOLD
    assert p.speech_progress(180).action is Action.NOTHING
    assert p.speech_progress(200).action is Action.PEEK_WORDS  # does it start like one?
    assert p.speech_progress(300).action is Action.NOTHING
    assert p.words_peeked(Heard.INTERRUPTION).action is Action.NOTHING  # a peek stops nothing
    assert p.speech_progress(420).action is Action.CHECK_WORDS  # what is it so far?
    assert p.speech_progress(460).action is Action.NOTHING  # asked once
    # "mm-hmm" that the peek missed: it plays on while the rest is said
    assert p.words_checked(Heard.BACKCHANNEL, final=False).action is Action.RELEASE
    assert p.speech_stopped().action is Action.CHECK_WORDS
    assert p.words_checked(Heard.BACKCHANNEL).action is Action.RELEASE  # (played on already)
    assert not p.suspected


def test_with_backchannels_stop_words_still_interrupt_and_long_speech_too() -> None:
    p = InterruptionPolicy(backchannels=True)
    p.speech_started(answering=True, now=5.0)
    p.speech_progress(400)
    interrupt = p.words_checked(Heard.INTERRUPTION, final=False)  # "wait, ..."
    assert interrupt.action is Action.INTERRUPT and interrupt.suspected_at == 5.0
    p.speech_started(answering=True, now=9.0)
    assert p.speech_progress(1700).action is Action.INTERRUPT  # a sentence, whatever it says


def test_speech_that_starts_like_a_backchannel_is_released_while_it_is_said() -> None:
    p = InterruptionPolicy(backchannels=True)
    p.speech_started(answering=True, now=0.0)
    assert p.speech_progress(200).action is Action.PEEK_WORDS
    # "yeah": the answer plays on at once, not after the speaker stops
    assert p.words_peeked(Heard.BACKCHANNEL).action is Action.RELEASE
    assert p.suspected  # ... but its final words are still to be judged
    assert p.speech_paused().action is Action.NOTHING  # (released already)
    assert p.speech_resumed().action is Action.HOLD  # "yeah, ... but": held again
    assert p.speech_paused().action is Action.RELEASE
    assert p.speech_stopped().action is Action.CHECK_WORDS
    interrupt = p.words_checked(Heard.INTERRUPTION)  # "yeah but what about"
    assert interrupt.action is Action.INTERRUPT and not p.suspected


def test_speech_released_on_its_first_words_interrupts_when_more_words_ask_for_it() -> None:
    p = InterruptionPolicy(backchannels=True, min_interruption_ms=400)
    p.speech_started(answering=True, now=3.0)
    p.speech_progress(200)
    assert p.words_peeked(Heard.BACKCHANNEL).action is Action.RELEASE  # "okay ..."
    assert p.speech_progress(400).action is Action.CHECK_WORDS
    interrupt = p.words_checked(Heard.INTERRUPTION, final=False)  # "okay, wait"
    assert interrupt.action is Action.INTERRUPT and interrupt.suspected_at == 3.0


def test_a_peek_that_comes_after_the_pause_releases_then_and_the_final_words_confirm() -> None:
    p = InterruptionPolicy(backchannels=True)
    p.speech_started(answering=True, now=0.0)
    p.speech_progress(200)
    assert p.speech_paused().action is Action.NOTHING  # nothing known of the words yet
    assert p.words_peeked(Heard.BACKCHANNEL).action is Action.RELEASE
    assert p.words_checked(Heard.BACKCHANNEL).action is Action.RELEASE  # (played on already)
    assert not p.suspected


def test_a_later_look_that_does_not_sound_like_a_backchannel_holds_it_again() -> None:
    p = InterruptionPolicy(backchannels=True)
    p.speech_started(answering=True, now=0.0)
    p.speech_progress(200)
    assert p.words_peeked(Heard.BACKCHANNEL).action is Action.RELEASE
    p.speech_progress(420)
    assert p.words_checked(Heard.NON_SPEECH, final=False).action is Action.HOLD
    assert p.speech_paused().action is Action.NOTHING  # the final words decide
    assert p.speech_stopped().action is Action.CHECK_WORDS
    assert p.words_checked(Heard.NON_SPEECH).action is Action.RELEASE
