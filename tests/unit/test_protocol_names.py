"""Pin every event name of the contract (PROTOCOL.md) and check our docs name them all."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

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
# Translation sessions (`GET /v1/realtime/translations`): OpenAI's Realtime Translation API.
TRANSLATION_CLIENT = ["session.update", "session.input_audio_buffer.append", "session.close"]
TRANSLATION_SERVER = [
    "session.created",
    "session.updated",
    "session.closed",
    "session.input_transcript.delta",
    "session.output_transcript.delta",
    "session.output_audio.delta",
    "error",
]
SCENARIO = [
    "tutor.problem",
    "tutor.step",
    "tutor.check",
    "emotion.state",
    "translation.done",
    "explainer.observation",
]
# Ours, beyond the contract: the interpreter's simultaneous mode.
SCENARIO_OURS = ["translation.input.delta", "translation.output.delta"]


def test_event_names_are_pinned() -> None:
    assert list(events.CLIENT_EVENTS) == CLIENT
    assert list(events.SERVER_EVENTS) == SERVER
    # The scenarios declare their events; the camera path sends emotion.state.
    declared = default_scenarios().events() | {events.EMOTION_STATE}
    assert set(SCENARIO + SCENARIO_OURS) <= declared
    assert list(events.WEBSOCKET_CLIENT_EVENTS) == WEBSOCKET_CLIENT
    assert list(events.WEBSOCKET_SERVER_EVENTS) == WEBSOCKET_SERVER
    assert list(events.TRANSLATION_CLIENT_EVENTS) == TRANSLATION_CLIENT
    assert list(events.TRANSLATION_SERVER_EVENTS) == TRANSLATION_SERVER


def test_translation_names_are_the_sdks() -> None:
    """The official SDK's own types name the same events (what it sends, what it parses)."""
    from openai.types.realtime import (
        RealtimeTranslationClientEventParam,
        RealtimeTranslationServerEvent,
    )

    def names(union: Any) -> set[str]:
        members = get_args(union)
        if members and not isinstance(members[0], type):  # Annotated[Union[...], info]
            members = get_args(members[0])
        found: set[str] = set()
        for member in members:
            fields = getattr(member, "model_fields", None)  # pydantic models (what it parses)
            kind = (
                fields["type"].annotation
                if fields is not None
                else get_type_hints(member, include_extras=True)["type"]  # TypedDicts (sent)
            )
            while get_origin(kind) is not Literal:
                kind = get_args(kind)[0]  # Required[...], Optional[...]
            found.update(get_args(kind))
        return found

    assert names(RealtimeTranslationServerEvent) == set(TRANSLATION_SERVER)
    assert names(RealtimeTranslationClientEventParam) == set(TRANSLATION_CLIENT)


def test_websocket_audio_events_are_its_own() -> None:
    """One event vocabulary: the WebSocket reuses every WebRTC name and adds audio."""
    assert set(WEBSOCKET_SERVER).isdisjoint(SERVER + SCENARIO)


def test_docs_protocol_names_every_event() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    names = CLIENT + SERVER + SCENARIO + WEBSOCKET_CLIENT + WEBSOCKET_SERVER
    names += TRANSLATION_CLIENT + TRANSLATION_SERVER + SCENARIO_OURS
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
