"""The simultaneous interpreter end to end, on a scripted recogniser (tests/speech_fakes.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from model.types import SpeechChunk
from tests.speech_fakes import Said, Script, ScriptedModel, ScriptedSession, words
from translate.scenario import InterpreterScenario
from translate.simultaneous import (
    Directions,
    OutputAudio,
    OutputDelta,
    RenderedSegment,
    SimultaneousInterpreter,
    SimultaneousSettings,
    SourceDelta,
)

MONOLOGUE = (
    "My brother lives in Barcelona and works as a doctor at a small hospital. "
    "Every morning he takes the train to work, and he reads the newspaper on the way."
)


class Sink:
    def __init__(self) -> None:
        self.source: list[SourceDelta] = []
        self.output: list[OutputDelta] = []
        self.audio: list[OutputAudio] = []
        self.segments: list[RenderedSegment] = []
        self.failures: list[str] = []
        self.order: list[str] = []

    def source_delta(self, delta: SourceDelta) -> None:
        self.source.append(delta)

    def output_delta(self, delta: OutputDelta) -> None:
        self.output.append(delta)
        self.order.append("text")

    def output_audio(self, audio: OutputAudio) -> None:
        self.audio.append(audio)
        self.order.append("audio")

    def segment_done(self, segment: RenderedSegment) -> None:
        self.segments.append(segment)

    def failed(self, code: str, message: str) -> None:
        self.failures.append(code)


class StreamClock:
    """The interpreter's clock, following the audio fed (a live stream, without the wait)."""

    def __init__(self) -> None:
        self.engine: SimultaneousInterpreter | None = None

    def __call__(self) -> float:
        return self.engine.stream_s if self.engine is not None else 0.0


async def interpret(
    script: Script,
    directions: Directions,
    *,
    session: ScriptedSession | None = None,
    settings: SimultaneousSettings | None = None,
) -> tuple[Sink, ScriptedSession, SimultaneousInterpreter]:
    """Feed the whole script as fast as the interpreter takes it, then finish."""
    session = session or ScriptedSession(script)
    sink = Sink()
    clock = StreamClock()
    engine = SimultaneousInterpreter(session, directions, sink, settings=settings, clock=clock)
    clock.engine = engine
    engine.start()
    for chunk in script.chunks():
        engine.feed(chunk)
        await asyncio.sleep(0)
    await engine.finish()
    return sink, session, engine


async def test_every_word_is_committed_once_translated_and_voiced_in_order() -> None:
    script = Script(words(MONOLOGUE))
    sink, session, engine = await interpret(script, Directions.into("es", ["en", "es"]))
    source = "".join(d.delta for d in sink.source)
    assert source == script.text  # append-only, every word once, in order
    output = "".join(d.delta for d in sink.output)
    assert output == " ".join(f"{w}<es>" for w in script.text.split())
    assert all(d.source_language == "en" and d.target_language == "es" for d in sink.output)
    # Each segment's text goes out just before its voice.
    assert sink.order == ["text", "audio"] * len(sink.segments)
    # Many segments, cut where an interpreter would start speaking.
    assert len(sink.segments) >= 5
    assert {s.segment.reason for s in sink.segments} >= {"sentence"}
    # The recogniser heard a sliding window, not the whole stream each time.
    assert max(n for n, _ in session.windows) < len(script.audio) / 2


async def test_the_voice_never_overlaps_itself() -> None:
    sink, _, _ = await interpret(Script(words(MONOLOGUE)), Directions.into("es", ["en"]))
    end = 0.0
    for audio in sink.audio:
        assert audio.play_at >= end - 1e-9
        end = audio.play_at + audio.duration_s
        assert audio.sample_rate == 24_000 and audio.pcm.dtype.name == "int16"


async def test_a_slow_voice_is_sped_up_and_the_lag_does_not_grow() -> None:
    """A voice about 1.4 times slower than the speaker: at natural speed the lag grows with
    every segment; sped up (at most 1.5 times), it stays where it started."""
    script = Script(words(" ".join([MONOLOGUE] * 2)))

    async def lags(max_speed: float) -> list[float]:
        slow = ScriptedSession(script, seconds_per_char=0.05)
        settings = SimultaneousSettings(max_speed=max_speed)
        sink, _, _ = await interpret(
            script, Directions.into("es", ["en"]), session=slow, settings=settings
        )
        return [s.play_end - s.segment.end_s for s in sink.segments]

    natural, paced = await lags(1.0), await lags(1.5)
    third = len(paced) // 3
    assert natural[-1] - natural[0] > 4.0  # drifting: seconds more behind at the end
    assert max(paced[-third:]) < max(paced[:third]) + 1.0  # caught up, and kept up


async def test_speech_in_the_target_language_is_passed_through() -> None:
    script = Script(words("Buenos días a todos.", "es") + words("Good morning everybody.", "en"))
    sink, session, _ = await interpret(script, Directions.into("es", ["en", "es"]))
    texts = [(s.segment.language, s.translation) for s in sink.segments]
    assert ("es", "Buenos días a todos.") in texts
    assert all(source == "en" for _, source, _ in session.translated)


async def test_two_speakers_each_rendered_into_the_other_language() -> None:
    said = words("I would like a coffee please.", "en")
    said[-1] = Said(said[-1].text, "en", 1.5)  # a long pause: the other speaker answers
    said += words("Claro que sí, ahora mismo.", "es")
    sink, _, _ = await interpret(Script(said), Directions.two_way("en", "es"))
    directions = {(s.segment.language, s.target_language) for s in sink.segments}
    assert directions == {("en", "es"), ("es", "en")}


async def test_a_failing_translator_is_reported_and_the_stream_goes_on() -> None:
    script = Script(words(MONOLOGUE))
    session = ScriptedSession(script)
    session.fail_translation = True
    sink, _, _ = await interpret(script, Directions.into("es", ["en"]), session=session)
    assert sink.failures and set(sink.failures) == {"translation_failed"}
    assert "".join(d.delta for d in sink.source) == script.text


async def test_a_failing_recognition_pass_is_reported_and_the_stream_goes_on() -> None:
    from model.errors import ModelError
    from model.types import TimedTranscript

    script = Script(words(MONOLOGUE))

    class Flaky(ScriptedSession):
        async def transcribe_words(
            self, audio: Any, languages: Any, *, prompt: str = ""
        ) -> TimedTranscript:
            if len(self.windows) == 6:
                self.windows.append((len(audio), tuple(languages)))
                raise ModelError("Whisper fell over", code="transcription_failed")
            return await super().transcribe_words(audio, languages, prompt=prompt)

    sink, _, _ = await interpret(script, Directions.into("es", ["en"]), session=Flaky(script))
    assert sink.failures == ["transcription_failed"]
    heard = "".join(d.delta for d in sink.source)
    assert heard.endswith("on the way.") and len(heard.split()) > len(script.said) // 2


async def test_the_recogniser_runs_on_the_stream_it_is_fed_not_after_it() -> None:
    """Words come out while audio is still being fed (no waiting for the end)."""
    script = Script(words(MONOLOGUE))
    sink = Sink()
    engine = SimultaneousInterpreter(ScriptedSession(script), Directions.into("es", ["en"]), sink)
    engine.start()
    chunks = script.chunks()
    for chunk in chunks[: len(chunks) // 2]:
        engine.feed(chunk)
        await asyncio.sleep(0)
    for _ in range(20):
        await asyncio.sleep(0)
    assert sink.source and sink.output and sink.audio
    await engine.aclose()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 - the interpreter's tasks make it true
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), timeout)


# -- the interpreter scenario's simultaneous mode -------------------------------------------
class FakeStream:
    """What the conversation core gives a scenario that listens continuously."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.played: list[SpeechChunk] = []
        self.errors: list[str] = []

    def event(self, event_type: str, payload: Any) -> None:
        self.events.append((event_type, dict(payload)))

    def play(self, chunk: SpeechChunk) -> None:
        self.played.append(chunk)

    def error(self, code: str, message: str) -> None:
        self.errors.append(code)


async def test_the_interpreter_listens_continuously_in_simultaneous_mode() -> None:
    said = words("I would like a coffee please.", "en")
    said[-1] = Said(said[-1].text, "en", 1.5)
    said += words("Claro que sí, ahora mismo.", "es")
    script = Script(said)
    model = ScriptedModel(script)
    config = {"scenario": "interpreter", "languages": ["en", "es"]}
    turns = InterpreterScenario(model, model.session(), config)
    assert not turns.listens_continuously
    scenario = InterpreterScenario(
        model, model.session(), {**config, "interpretation": "simultaneous"}
    )
    assert scenario.listens_continuously
    out = FakeStream()
    listening = asyncio.create_task(scenario.listen(out))
    await asyncio.sleep(0)
    for chunk in script.chunks():
        scenario.hear_audio(chunk)
        await asyncio.sleep(0)
    # A live stream ends with silence; the last words settle at the pause.
    for _ in range(40):
        scenario.hear_audio(script.audio[:512] * 0)
        await asyncio.sleep(0)
    await until(lambda: any("mismo" in p.get("source_text", "") for _, p in out.events))
    listening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listening
    kinds = [kind for kind, _ in out.events]
    assert {"translation.input.delta", "translation.output.delta", "translation.done"} <= set(kinds)
    done = [payload for kind, payload in out.events if kind == "translation.done"]
    assert {(d["source_language"], d["target_language"]) for d in done} == {
        ("en", "es"),
        ("es", "en"),
    }
    assert len({d["item_id"] for d in done}) == len(done)
    assert out.played and all(c.sample_rate == 48_000 for c in out.played)
    heard = "".join(p["delta"] for kind, p in out.events if kind == "translation.input.delta")
    assert heard == script.text


def test_the_interpretation_mode_is_checked() -> None:
    from model.scenario import ScenarioConfigError

    model = ScriptedModel(Script(words("hello")))
    with pytest.raises(ScenarioConfigError) as refused:
        InterpreterScenario.check_config(model, {"interpretation": "whenever"})
    assert refused.value.code == "invalid_interpretation"
    InterpreterScenario.check_config(model, {"interpretation": "simultaneous"})


async def test_the_conversation_side_of_the_hook_queues_voice_and_sends_events() -> None:
    """rtc/conversation/scenario_stream.py: what the core hands `Scenario.listen` (events, one playout)."""
    import numpy as np

    from rtc.conversation.playout import Playout
    from rtc.conversation.scenario_stream import ScenarioStream
    from rtc.events import ServerEvents

    events = ServerEvents()
    sent: list[dict[str, Any]] = []
    events.attach(lambda event, _text: sent.append(dict(event)))
    playout = Playout()
    stream = ScenarioStream(events, playout)
    stream.event("translation.input.delta", {"delta": "hola"})
    stream.play(SpeechChunk(np.ones(2400, np.int16), 24_000, "hola"))  # resampled to 48 kHz
    stream.error("translation_failed", "down")
    assert [e["type"] for e in sent] == ["translation.input.delta", "error"]
    assert playout.queued_ms == pytest.approx(100, abs=2)
    frame = playout.take()
    assert frame.owner == stream.owner
    stream.close()
