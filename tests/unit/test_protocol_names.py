"""Pin every event name of the contract (PROTOCOL.md) and check our docs name them all."""

from __future__ import annotations

from pathlib import Path

from rtc import events
from rtc.app import default_scenarios

CLIENT = [
    "session.update",
    "conversation.item.create",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
    "input_audio_buffer.clear",
    "conversation.item.truncate",
]
SERVER = [
    "session.created",
    "session.updated",
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "conversation.item.input_audio_transcription.completed",
    "response.created",
    "response.output_audio_transcript.delta",
    "response.output_audio_transcript.done",
    "output_audio_buffer.started",
    "output_audio_buffer.stopped",
    "output_audio_buffer.cleared",
    "response.done",
    "error",
]
# The Realtime WebSocket adds these to every name above (audio as base64 in events).
WEBSOCKET_CLIENT = ["input_audio_buffer.append", "input_audio_buffer.commit"]
WEBSOCKET_SERVER = [
    "response.output_audio.delta",
    "response.output_audio.done",
    "input_audio_buffer.committed",
]
SCENARIO = [
    "tutor.problem",
    "tutor.step",
    "tutor.check",
    "emotion.state",
    "translation.done",
    "explainer.observation",
]


def test_event_names_are_pinned() -> None:
    assert list(events.CLIENT_EVENTS) == CLIENT
    assert list(events.SERVER_EVENTS) == SERVER
    # The scenarios declare their events; the camera path sends emotion.state.
    declared = default_scenarios().events() | {events.EMOTION_STATE}
    assert set(SCENARIO) <= declared
    assert list(events.WEBSOCKET_CLIENT_EVENTS) == WEBSOCKET_CLIENT
    assert list(events.WEBSOCKET_SERVER_EVENTS) == WEBSOCKET_SERVER


def test_websocket_audio_events_are_its_own() -> None:
    """One event vocabulary: the WebSocket reuses every WebRTC name and adds audio."""
    assert set(WEBSOCKET_SERVER).isdisjoint(SERVER + SCENARIO)


def test_docs_protocol_names_every_event() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    names = CLIENT + SERVER + SCENARIO + WEBSOCKET_CLIENT + WEBSOCKET_SERVER
    names += list(events.EXTRA_EVENTS) + sorted(default_scenarios().events())
    missing = [name for name in names if f"`{name}`" not in doc]
    assert missing == []


def test_shared_contract_lists_the_same_names_when_present() -> None:
    """When ../shared/PROTOCOL.md is beside the checkout, our pins must all appear in it."""
    contract = Path(__file__).resolve().parents[3] / "shared" / "PROTOCOL.md"
    if not contract.exists():
        return
    text = contract.read_text()

    def named(name: str) -> bool:
        # The contract abbreviates siblings: "`x.delta` and `.done`".
        stem, _, last = name.rpartition(".")
        return f"`{name}`" in text or (f"`.{last}`" in text and f"`{stem}." in text)

    assert [n for n in CLIENT + SERVER + SCENARIO if not named(n)] == []
