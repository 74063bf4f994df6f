"""Turns, speculative answers and barge-in on scripted timelines: a real Conversation with a
fake transport, fakes of the model and scenario, and turn events said directly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from model.scenario import ScenarioRegistry
from rtc.conversation.apology import Apology
from rtc.conversation.conversation import Conversation
from rtc.conversation.parts import CallSettings, ServerParts
from rtc.conversation.playout import PlayoutStopped
from rtc.conversation.session_config import SessionRules
from rtc.conversation.turns import SpeechPaused, SpeechResumed, SpeechStarted, SpeechStopped
from rtc.metrics import Metrics
from rtc.vad import SileroVAD
from tests.conftest import wait_until
from tests.fakes import EchoScenario, FakeModel, FakeSession


@dataclass
class FakeTransport:
    """A wire that keeps every event and plays out like aiortc's sender (before encoding)."""

    kind: str = "fake"
    audio_in_events: bool = True
    events: list[dict[str, Any]] = field(default_factory=list)
    frames: list[float] = field(default_factory=list)
    closed: str | None = None

    def connected(self) -> bool:
        return True

    async def flush(self) -> None:
        pass

    async def close(self, reason: str) -> None:
        self.closed = reason

    def sink(self, event: Mapping[str, Any], _text: str) -> None:
        self.events.append(dict(event))

    def kinds(self) -> list[str]:
        return [e["type"] for e in self.events]

    def done(self) -> list[dict[str, Any]]:
        return [e["response"] for e in self.events if e["type"] == "response.done"]


@dataclass
class Rig:
    call: Conversation
    wire: FakeTransport
    session: FakeSession
    metrics: Metrics

    def kinds(self) -> list[str]:
        return self.wire.kinds()


@pytest.fixture
async def rig(vad: SileroVAD) -> AsyncIterator[Rig]:
    model = FakeModel()
    rules = SessionRules(model, ScenarioRegistry([EchoScenario]))
    metrics = Metrics()
    parts = ServerParts(model, vad, rules, metrics, CallSettings(), Apology())
    update = {"audio": {"input": {"turn_detection": {"type": "server_vad"}}}}
    call = Conversation(parts, rules.open(update), id_prefix="test")
    wire = FakeTransport()
    call.start(wire)
    call.attach(wire.sink)

    async def pump() -> None:
        try:
            while True:
                frame = await call.playout.next_frame()
                wire.frames.append(float(np.abs(frame.pcm).max()))
        except PlayoutStopped:
            return

    task = asyncio.create_task(pump())
    session = call.model_session
    assert isinstance(session, FakeSession)
    yield Rig(call, wire, session, metrics)
    await call.close("test over")
    await task


def audio(seconds: float) -> NDArray[np.float32]:
    return np.zeros(int(16_000 * seconds), dtype=np.float32)


def stopped(ms: int, revision: int) -> SpeechStopped:
    return SpeechStopped(ms, revision=revision, audio=audio(ms / 1000), speech_ms=ms)


async def test_speculative_answer_is_held_until_the_turn_ends(rig: Rig) -> None:
    rig.call.turn_event(SpeechStarted(0))
    rig.call.turn_event(SpeechPaused(revision=1, audio=audio(1)))
    await wait_until(lambda: rig.session.transcribed == [16_000])  # it runs meanwhile...
    assert "response.created" not in rig.kinds()  # ...but nobody sees it
    assert rig.call.playout.queued_ms == 0
    rig.call.turn_event(stopped(1000, revision=1))
    await wait_until(lambda: "response.done" in rig.kinds())
    assert rig.session.transcribed == [16_000]  # reused, not transcribed again
    kinds = rig.kinds()
    assert kinds.index("input_audio_buffer.speech_stopped") < kinds.index("response.created")
    assert kinds.index("conversation.item.input_audio_transcription.completed") < kinds.index(
        "response.done"
    )


async def test_stale_speculation_is_dropped_and_the_turn_answered_afresh(rig: Rig) -> None:
    rig.call.turn_event(SpeechStarted(0))
    rig.call.turn_event(SpeechPaused(revision=1, audio=audio(1)))
    await wait_until(lambda: rig.session.transcribed == [16_000])
    rig.call.turn_event(stopped(2000, revision=2))
    await wait_until(lambda: "response.done" in rig.kinds())
    assert rig.session.transcribed == [16_000, 32_000]
    assert rig.kinds().count("response.created") == 1
    assert rig.kinds().count("conversation.item.input_audio_transcription.completed") == 1


async def test_resumed_speech_drops_the_speculation_before_the_model_works(rig: Rig) -> None:
    rig.call.turn_event(SpeechStarted(0))
    rig.call.turn_event(SpeechPaused(revision=1, audio=audio(1)))
    rig.call.turn_event(SpeechResumed(2))  # a breath between words, not the end of the turn
    rig.call.turn_event(stopped(2000, revision=2))
    await wait_until(lambda: "response.done" in rig.kinds())
    assert rig.session.transcribed == [32_000]  # the stale answer never reached the model
    assert rig.kinds().count("response.created") == 1


async def _answer_playing(rig: Rig, text: str = "One. Two. Three.") -> str:
    rig.call.receive(
        '{"type": "conversation.item.create", "item": {"content": '
        f'[{{"type": "input_text", "text": "{text}"}}]}}}}'
    )
    rig.call.receive('{"type": "response.create"}')
    await wait_until(lambda: "output_audio_buffer.started" in rig.kinds())
    await wait_until(lambda: len(rig.wire.frames) > 10 and rig.wire.frames[-1] > 0)
    created = rig.wire.events[rig.kinds().index("response.created")]
    return str(created["response"]["id"])


async def test_onset_pauses_at_once_and_noise_without_words_resumes(rig: Rig) -> None:
    response_id = await _answer_playing(rig)
    rig.call.turn_event(SpeechStarted(0))
    assert rig.call.playout.paused
    mark = len(rig.wire.frames)
    await wait_until(lambda: len(rig.wire.frames) > mark + 3)
    assert max(rig.wire.frames[mark + 1 :]) == 0  # silent while we decide
    rig.session.heard = ""  # a cough: no words
    rig.call.turn_event(stopped(200, revision=-1))
    await wait_until(lambda: not rig.call.playout.paused)
    await wait_until(lambda: rig.wire.frames[-1] > 0)  # the answer goes on where it stopped
    await wait_until(lambda: "response.done" in rig.kinds(), timeout=10)
    assert rig.wire.done()[0]["id"] == response_id
    assert rig.wire.done()[0]["status"] == "completed"
    assert "output_audio_buffer.cleared" not in rig.kinds()
    assert rig.metrics.false_interruptions._value.get() == 1


async def test_short_speech_with_words_interrupts(rig: Rig) -> None:
    await _answer_playing(rig)
    rig.call.turn_event(SpeechStarted(0))
    rig.session.heard = "stop"
    rig.call.turn_event(stopped(300, revision=-1))
    await wait_until(lambda: "output_audio_buffer.cleared" in rig.kinds())
    assert rig.wire.done()[0]["status"] == "cancelled"
    # The interrupting words are the next turn, answered with the transcript already made.
    await wait_until(lambda: len(rig.wire.done()) == 2)
    assert rig.wire.done()[1]["status"] == "completed"


async def test_long_speech_interrupts_before_it_ends_and_truncates(rig: Rig) -> None:
    await _answer_playing(rig)
    current = rig.call.responses.current
    assert current is not None
    await wait_until(lambda: rig.call.playout.played_ms(current.id) > 1200)
    rig.call.turn_event(SpeechStarted(0))
    rig.call.speech_progress(200)
    assert "output_audio_buffer.cleared" not in rig.kinds()
    rig.call.speech_progress(450)
    kinds = rig.kinds()
    assert kinds[-3:] == [
        "output_audio_buffer.cleared",
        "response.output_audio_transcript.done",
        "response.done",
    ]
    assert rig.wire.events[-1]["response"]["status"] == "cancelled"
    assert rig.call.playout.queued_ms == 0 and not rig.call.playout.paused
    item = [i for i in rig.session.conversation.items if i.role == "assistant"][0]
    assert item.status == "incomplete"
    assert 0 < item.audio_ms < 3000
    assert item.text.startswith("One.") and "Three." not in item.text
    assert rig.wire.events[-2]["transcript"] == item.text  # the transcript of what was heard
    assert rig.metrics.barge_ins._value.get() == 1


async def test_no_interruption_when_interrupt_response_is_false(rig: Rig) -> None:
    rig.call.update_session(
        {
            "audio": {
                "input": {"turn_detection": {"type": "server_vad", "interrupt_response": False}}
            }
        }
    )
    await _answer_playing(rig, "One.")
    rig.call.turn_event(SpeechStarted(0))
    rig.call.speech_progress(2000)
    assert not rig.call.playout.paused
    rig.call.turn_event(stopped(2000, revision=-1))
    await wait_until(lambda: len(rig.wire.done()) == 2, timeout=10)
    assert [r["status"] for r in rig.wire.done()] == ["completed", "completed"]


async def test_create_response_false_waits_for_response_create(rig: Rig) -> None:
    rig.call.update_session(
        {"audio": {"input": {"turn_detection": {"type": "server_vad", "create_response": False}}}}
    )
    rig.call.turn_event(SpeechStarted(0))
    rig.call.turn_event(SpeechPaused(revision=1, audio=audio(1)))
    rig.call.turn_event(stopped(1000, revision=1))
    # Nothing was started, not even speculatively: the answer waits for response.create.
    assert "input_audio_buffer.speech_stopped" in rig.kinds()
    assert rig.call.responses.current is None
    assert "response.created" not in rig.kinds()


async def test_client_events_take_effect_in_the_order_they_were_sent(rig: Rig) -> None:
    """A manual turn sent back to back: append, commit, response.create."""
    import base64

    rig.call.update_session({"audio": {"input": {"turn_detection": None}}})
    pcm = (np.sin(np.arange(24_000 * 2) / 8) * 3000).astype("<i2").tobytes()
    rig.call.receive(
        '{"type": "input_audio_buffer.append", "audio": "' + base64.b64encode(pcm).decode() + '"}'
    )
    rig.call.receive('{"type": "input_audio_buffer.commit"}')
    rig.call.receive('{"type": "response.create"}')
    await wait_until(lambda: "response.done" in rig.kinds())
    kinds = rig.kinds()
    assert kinds.index("input_audio_buffer.committed") < kinds.index("response.created")
    assert "error" not in kinds
    # The committed clip, whole, at 16 kHz (less the resampler's 1 ms of filter delay).
    assert len(rig.session.transcribed) == 1 and abs(rig.session.transcribed[0] - 32_000) <= 16


async def test_a_backchannel_plays_the_answer_on_while_it_is_still_said(rig: Rig) -> None:
    rig.call.update_session({"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}})
    response_id = await _answer_playing(rig)
    rig.call.turn_event(SpeechStarted(0))
    assert rig.call.playout.paused
    rig.session.heard = "Yeah"
    # 192 ms in, the words so far are looked at; the speech goes on meanwhile.
    rig.call.barge_in.speech_progress(200, lambda: audio(0.5))
    await wait_until(lambda: not rig.call.playout.paused)
    mark = len(rig.wire.frames)
    await wait_until(lambda: len(rig.wire.frames) > mark + 2 and rig.wire.frames[-1] > 0)
    assert rig.call.barge_in.suspected  # the final words are still to come
    rig.session.heard = "Yeah."
    rig.call.turn_event(stopped(300, revision=-1))
    await wait_until(lambda: not rig.call.barge_in.suspected)
    await wait_until(lambda: "response.done" in rig.kinds(), timeout=10)
    assert [(r["id"], r["status"]) for r in rig.wire.done()] == [(response_id, "completed")]
    assert "output_audio_buffer.cleared" not in rig.kinds()
    assert rig.metrics.ignored_speech.labels("backchannel")._value.get() == 1


async def test_a_backchannel_start_that_goes_on_into_a_request_interrupts(rig: Rig) -> None:
    rig.call.update_session({"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}})
    await _answer_playing(rig)
    rig.call.turn_event(SpeechStarted(0))
    rig.session.heard = "Okay"
    rig.call.barge_in.speech_progress(200, lambda: audio(0.5))
    await wait_until(lambda: not rig.call.playout.paused)  # "okay ..." plays the answer on
    rig.session.heard = "Okay, wait"
    rig.call.barge_in.speech_progress(420, lambda: audio(0.7))  # "... wait": what is it now?
    await wait_until(lambda: "output_audio_buffer.cleared" in rig.kinds())
    assert rig.wire.done()[0]["status"] == "cancelled"
