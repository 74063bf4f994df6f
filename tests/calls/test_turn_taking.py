"""Natural turn taking through real calls: a pause mid-sentence is not the end of the turn,
a listener's "uh-huh" does not stop the answer, and the answer's own echo is no
interruption (while a real one still is)."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import numpy as np
import pytest
from numpy.typing import NDArray

from bench.echo_path import echoing_call
from bench.turn_clips import stretch_break
from model.audio import resample_int16
from model.embedded.backend import EmbeddedModel
from rtc.gateway import Gateway
from rtc.vad import SileroVAD
from tests.callers import TRANSPORTS, Caller, calling, live_server
from tests.conftest import LONG_SPANISH_SOURCE, wait_until

pytestmark = pytest.mark.models

INTERPRETER = {"scenario": "interpreter", "languages": ["en", "es"]}


@pytest.fixture(autouse=True)
def decisions_shown() -> Iterator[None]:
    """A failure here shows how each pause was judged (the words heard and how sure the
    recogniser was, the end-of-turn model's scores): they vary with the machine's load."""
    logger = logging.getLogger("rtc.conversation")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield
    logger.setLevel(level)


@pytest.fixture
async def served(
    embedded_model: EmbeddedModel, vad: SileroVAD
) -> AsyncIterator[tuple[str, Gateway]]:
    async with live_server(embedded_model, vad) as server:
        yield server


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def voice(model: EmbeddedModel, text: str, language: str = "en") -> NDArray[np.int16]:
    """`text` in the project's own voice, at 48 kHz (the same samples every time)."""
    pcm, rate = model.voice_once(text, language, varied=False)
    return resample_int16(pcm, rate, 48_000)


def with_pause(model: EmbeddedModel, first: str, rest: str, pause_s: float) -> NDArray[np.int16]:
    silence = np.zeros(int(48_000 * pause_s), np.int16)
    return np.concatenate([voice(model, first), silence, voice(model, rest)])


def spanish_with_pause(model: EmbeddedModel) -> NDArray[np.int16]:
    """ "Quiero pedir, un café con leche." voiced whole, its comma made a 600 ms pause: Whisper
    base hears the first part, cut there, as "Who is a penny?" (a guess: the words say
    nothing) and Smart Turn as finished (espeak-ng ends every phrase on a fall)."""
    whole = voice(model, "Quiero pedir, un café con leche.", "es")
    first = voice(model, "Quiero pedir", "es")
    return stretch_break(whole, len(first), 0.6)[0]


PAUSED: dict[str, tuple[Callable[[EmbeddedModel], NDArray[np.int16]], tuple[str, ...]]] = {
    "en": (
        lambda m: with_pause(m, "I would like to order", "a coffee with milk please.", 0.6),
        ("order", "coffee"),
    ),
    "es": (spanish_with_pause, ("leche",)),
}


@pytest.mark.parametrize("language", sorted(PAUSED))
async def test_a_pause_mid_sentence_is_not_the_end_of_the_turn(
    served: tuple[str, Gateway], transport: str, embedded_model: EmbeddedModel, language: str
) -> None:
    make, words = PAUSED[language]
    async with calling(transport, served[0], INTERPRETER) as call:
        await call.say(make(embedded_model))
        done = await call.wait_for("response.done", timeout=60)
        heard = call.of_type("conversation.item.input_audio_transcription.completed")
        assert done["response"]["status"] == "completed"
        assert len(call.of_type("response.created")) == 1  # nothing started at the pause
        for word in words:  # one turn, both parts
            assert word in heard[0]["transcript"].lower(), heard[0]["transcript"]


async def _long_answer_heard(call: Caller) -> str:
    call.send(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": LONG_SPANISH_SOURCE}
            ]},
        }
    )  # fmt: skip
    call.send({"type": "response.create"})
    started = await call.wait_for("output_audio_buffer.started", timeout=60)
    await wait_until(lambda: call.received.voiced_seconds() >= 1.0, timeout=30)
    return str(started["response_id"])


async def test_a_backchannel_does_not_stop_the_answer(
    served: tuple[str, Gateway], transport: str, embedded_model: EmbeddedModel
) -> None:
    address, gateway = served
    async with calling(transport, address, INTERPRETER) as call:
        response_id = await _long_answer_heard(call)
        await call.say(voice(embedded_model, "Okay."))
        done = await call.wait_for(
            "response.done", lambda e: e["response"]["id"] == response_id, timeout=60
        )
        assert done["response"]["status"] == "completed"  # it went on to its end
        assert not call.of_type("output_audio_buffer.cleared")
        assert len(call.of_type("response.created")) == 1  # and "okay" was not answered
    metrics = gateway.metrics.render().decode()
    assert 'omnilive_ignored_speech_total{kind="backchannel"} 1.0' in metrics
    held = re.search(r"^omnilive_held_audio_seconds_count (\S+)$", metrics, re.M)
    assert held is not None and float(held.group(1)) >= 1  # held, then released


@contextlib.asynccontextmanager
async def echoing(address: str) -> AsyncIterator[object]:
    """A WebRTC call whose speaker feeds its microphone (-10 dB, 80 ms later)."""
    session = {**INTERPRETER, "audio": {"input": {"echo_cancellation": True}}}
    async with httpx.AsyncClient(base_url=f"http://{address}") as http:
        call, _mic = echoing_call(http, session=session)
        async with call:
            await call.wait_for("session.created")
            yield call


async def test_the_answers_own_echo_is_no_interruption_but_the_user_is(
    served: tuple[str, Gateway], embedded_model: EmbeddedModel
) -> None:
    address, gateway = served
    async with echoing(address) as call:
        from clients.python.client import CallClient

        assert isinstance(call, CallClient)
        for text in ("Good morning, how are you?", "I would like a cup of coffee with milk."):
            mark = len(call.events)
            call.send_text(text)
            done = await call.wait_for("response.done", after=mark, timeout=60)
            assert done["response"]["status"] == "completed", done
        assert not call.of_type("output_audio_buffer.cleared")  # no false barge-in
        assert len(call.of_type("response.created")) == 2  # nor its echo answered
        # A real interruption, said over an answer and its echo, still stops it.
        mark = len(call.events)
        call.send_text(LONG_SPANISH_SOURCE)
        started = await call.wait_for("output_audio_buffer.started", after=mark, timeout=60)
        await wait_until(lambda: call.received.voiced_seconds(call.event_time(started)) > 1.5)
        assert call.mic is not None
        call.mic.play(voice(embedded_model, "Wait, stop please, I have a question."))
        cancelled = await call.wait_for(
            "response.done",
            lambda e: e["response"]["id"] == started["response_id"],
            after=mark,
            timeout=60,
        )
        assert cancelled["response"]["status"] == "cancelled"
    assert b"omnilive_echo_removed_seconds_total" in gateway.metrics.render()
    removed = gateway.metrics.echo_removed._value.get()
    assert removed > 0.5, removed
