"""Barge-in and speculative answers on timelines, with fakes of the model and scenario."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from rtc.audio_out import OutputAudioTrack
from rtc.events import EventSender
from rtc.metrics import Metrics
from rtc.responder import Responder
from rtc.turns import SpeechPaused, SpeechStarted, SpeechStopped, TurnSettings
from tests.conftest import wait_until
from tests.fakes import EchoScenario, FakeModel, FakeSession


@dataclass
class Rig:
    responder: Responder
    output: OutputAudioTrack
    session: FakeSession
    events: list[dict[str, Any]]
    frames: list[float]
    metrics: Metrics

    def kinds(self) -> list[str]:
        return [e["type"] for e in self.events]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    events: list[dict[str, Any]] = []
    output = OutputAudioTrack()
    model = FakeModel()
    session = model.session()
    metrics = Metrics()
    responder = Responder(
        sender=EventSender(lambda m: events.append(json.loads(m))),
        output=output,
        session=session,
        metrics=metrics,
    )
    responder.settings = TurnSettings(min_interruption_ms=400)
    responder.scenario = EchoScenario(model, session, {})
    frames: list[float] = []

    async def pump() -> None:  # plays the role of aiortc's sender (before encoding)
        while True:
            pcm = await output.next_pcm()
            frames.append(float(np.abs(pcm).max()))

    task = asyncio.create_task(pump())
    yield Rig(responder, output, session, events, frames, metrics)
    task.cancel()
    await responder.aclose()


def audio(seconds: float) -> np.ndarray:
    return np.zeros(int(16_000 * seconds), dtype=np.float32)


async def test_speculative_answer_is_held_until_the_turn_ends(rig: Rig) -> None:
    rig.responder.on_speech_started(SpeechStarted(0))
    rig.responder.on_speech_paused(SpeechPaused(revision=1, audio=audio(1)))
    await asyncio.sleep(0.05)  # the speculative answer runs meanwhile...
    assert rig.session.transcribed == [16_000]
    assert "response.created" not in rig.kinds()  # ...but nobody sees it
    assert rig.output.queued_ms == 0
    rig.responder.on_speech_stopped(SpeechStopped(1000, revision=1, audio=audio(1), speech_ms=1000))
    await wait_until(lambda: "response.done" in rig.kinds())
    assert rig.session.transcribed == [16_000]  # reused, not transcribed again
    kinds = rig.kinds()
    assert kinds.index("input_audio_buffer.speech_stopped") < kinds.index("response.created")
    assert kinds.index("conversation.item.input_audio_transcription.completed") < kinds.index(
        "response.done"
    )


async def test_stale_speculation_is_dropped_and_the_turn_answered_afresh(rig: Rig) -> None:
    rig.responder.on_speech_started(SpeechStarted(0))
    rig.responder.on_speech_paused(SpeechPaused(revision=1, audio=audio(1)))
    await asyncio.sleep(0.02)
    rig.responder.on_speech_stopped(SpeechStopped(2000, revision=2, audio=audio(2), speech_ms=2000))
    await wait_until(lambda: "response.done" in rig.kinds())
    assert rig.session.transcribed == [16_000, 32_000]
    assert rig.kinds().count("response.created") == 1
    assert rig.kinds().count("conversation.item.input_audio_transcription.completed") == 1


async def test_resumed_speech_drops_the_speculation_before_the_model_works(rig: Rig) -> None:
    rig.responder.on_speech_started(SpeechStarted(0))
    rig.responder.on_speech_paused(SpeechPaused(revision=1, audio=audio(1)))
    rig.responder.on_speech_resumed()  # a breath between words, not the end of the turn
    await asyncio.sleep(0.05)
    assert rig.session.transcribed == []
    rig.responder.on_speech_stopped(SpeechStopped(2000, revision=2, audio=audio(2), speech_ms=2000))
    await wait_until(lambda: "response.done" in rig.kinds())
    assert rig.session.transcribed == [32_000]
    assert rig.kinds().count("response.created") == 1


async def _answer_playing(rig: Rig, text: str = "One. Two. Three.") -> str:
    rig.responder.add_user_item("item_typed", text, None)
    assert rig.responder.create_response()
    await wait_until(lambda: "output_audio_buffer.started" in rig.kinds())
    await wait_until(lambda: len(rig.frames) > 10 and rig.frames[-1] > 0)
    return str(
        rig.events[[e["type"] for e in rig.events].index("response.created")]["response"]["id"]
    )


async def test_onset_pauses_at_once_and_noise_without_words_resumes(rig: Rig) -> None:
    response_id = await _answer_playing(rig)
    rig.responder.on_speech_started(SpeechStarted(0))
    assert rig.output.paused
    mark = len(rig.frames)
    await wait_until(lambda: len(rig.frames) > mark + 3)
    assert max(rig.frames[mark + 1 :]) == 0  # silent while we decide
    rig.session.heard = ""  # a cough: no words
    rig.responder.on_speech_stopped(
        SpeechStopped(200, revision=-1, audio=audio(0.2), speech_ms=200)
    )
    await wait_until(lambda: not rig.output.paused)
    await wait_until(lambda: rig.frames[-1] > 0)  # the answer goes on where it stopped
    await wait_until(lambda: "response.done" in rig.kinds(), timeout=10)
    done = [e for e in rig.events if e["type"] == "response.done"][0]
    assert done["response"] == {**done["response"], "id": response_id, "status": "completed"}
    assert "output_audio_buffer.cleared" not in rig.kinds()
    assert rig.metrics.false_interruptions._value.get() == 1


async def test_short_speech_with_words_interrupts(rig: Rig) -> None:
    await _answer_playing(rig)
    rig.responder.on_speech_started(SpeechStarted(0))
    rig.session.heard = "stop"
    rig.responder.on_speech_stopped(
        SpeechStopped(300, revision=-1, audio=audio(0.3), speech_ms=300)
    )
    await wait_until(lambda: "output_audio_buffer.cleared" in rig.kinds())
    statuses = [e["response"]["status"] for e in rig.events if e["type"] == "response.done"]
    assert statuses[0] == "cancelled"


async def test_long_speech_interrupts_before_it_ends_and_truncates(rig: Rig) -> None:
    await _answer_playing(rig)
    await wait_until(lambda: rig.output.played_ms(rig.responder._current.id) > 1200)  # type: ignore[union-attr]
    rig.responder.on_speech_started(SpeechStarted(0))
    rig.responder.on_speech_progress(200)
    assert "output_audio_buffer.cleared" not in rig.kinds()
    rig.responder.on_speech_progress(450)
    kinds = rig.kinds()
    assert kinds[-3:] == [
        "output_audio_buffer.cleared",
        "response.output_audio_transcript.done",
        "response.done",
    ]
    assert rig.events[-1]["response"]["status"] == "cancelled"
    assert rig.output.queued_ms == 0 and not rig.output.paused
    item = [i for i in rig.session.conversation.items if i.role == "assistant"][0]
    assert item.status == "incomplete"
    assert 0 < item.audio_ms < 3000
    assert item.text.startswith("One.") and "Three." not in item.text
    assert rig.events[-2]["transcript"] == item.text  # the transcript of what was heard
    assert rig.metrics.barge_ins._value.get() == 1


async def test_no_interruption_when_interrupt_response_is_false(rig: Rig) -> None:
    rig.responder.settings = TurnSettings(interrupt_response=False)
    await _answer_playing(rig, "One.")
    rig.responder.on_speech_started(SpeechStarted(0))
    rig.responder.on_speech_progress(2000)
    assert not rig.output.paused
    rig.responder.on_speech_stopped(
        SpeechStopped(2000, revision=-1, audio=audio(2), speech_ms=2000)
    )
    await wait_until(lambda: rig.kinds().count("response.done") == 2, timeout=10)
    statuses = [e["response"]["status"] for e in rig.events if e["type"] == "response.done"]
    assert statuses == ["completed", "completed"]


async def test_create_response_false_waits_for_response_create(rig: Rig) -> None:
    rig.responder.settings = TurnSettings(create_response=False)
    rig.responder.on_speech_started(SpeechStarted(0))
    rig.responder.on_speech_paused(SpeechPaused(revision=1, audio=audio(1)))
    rig.responder.on_speech_stopped(SpeechStopped(1000, revision=1, audio=audio(1), speech_ms=1000))
    await asyncio.sleep(0.05)
    assert "input_audio_buffer.speech_stopped" in rig.kinds()
    assert "response.created" not in rig.kinds()
    assert rig.session.transcribed == []
