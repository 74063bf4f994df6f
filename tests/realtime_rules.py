"""What vLLM-Omni's Realtime endpoint accepts from a client, for the scripted upstream.

Read from `vllm_omni/entrypoints/openai/realtime/connection.py`
(`OpenAIFullDuplexConnection`): every client event is validated with the `openai`
package's own pydantic types (`openai.types.realtime.RealtimeClientEvent`); an
event that does not validate gets `error` `invalid_event` and is dropped. Then:

- `session.update`: turn detection `server_vad` or none (anything else:
  `unsupported_turn_detection`); audio formats 24 kHz PCM16 only
  (`unsupported_audio_format`); `transcription` and `noise_reduction` are accepted
  and dropped (null in the `session.updated` echo), as is a `speed` other than 1.
- `response.create`: no out-of-band responses (`conversation: "none"`), no output
  speed, 24 kHz PCM16 output only, function tools only when the server was started
  with a tool parser; its `input` items follow the item rules.
- items: no `input_image` ("Image input is not supported"), `input_audio` must be
  whole PCM16 samples in valid base64; `mcp_*` items are refused.
- `response.cancel` with no response in progress, or naming another one; a
  truncate or delete of an item it does not have: refused.
- events it has no handler for (`output_audio_buffer.clear`): `invalid_event`.

These are checks on one event; the conversation state they need (is a response
active, which items exist) is passed in.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openai.types.realtime import RealtimeClientEvent
from pydantic import TypeAdapter, ValidationError

CLIENT_EVENTS: TypeAdapter[RealtimeClientEvent] = TypeAdapter(RealtimeClientEvent)
HANDLED = frozenset(
    {
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "response.create",
        "response.cancel",
        "conversation.item.create",
        "conversation.item.delete",
        "conversation.item.retrieve",
        "conversation.item.truncate",
    }
)
RATE = 24_000


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


@dataclass(frozen=True)
class State:
    """What the endpoint knows when the event arrives."""

    active_response: str | None
    items: Mapping[str, str]
    """Conversation item id -> its role (user, assistant) or type (function_call, ...)."""
    accepts_images: bool = False
    tool_parser: bool = True


def refusal(event: dict[str, Any], state: State) -> Refusal | None:
    """Why vLLM-Omni would refuse `event`, or None if it takes it."""
    try:
        CLIENT_EVENTS.validate_python(event)
    except ValidationError:
        return Refusal("invalid_event", "Invalid or unrecognized client event")
    kind = event["type"]
    if kind not in HANDLED:
        return Refusal("invalid_event", f"Unknown event type: {kind}")
    if kind == "session.update":
        return _session(event["session"])
    if kind == "input_audio_buffer.append":
        return _pcm16(event.get("audio") or "")
    if kind == "response.create":
        return _response(event.get("response") or {}, state)
    if kind == "response.cancel":
        wanted = event.get("response_id")
        if state.active_response is None:
            return Refusal("invalid_request_error", "No response is in progress")
        if wanted is not None and wanted != state.active_response:
            return Refusal("invalid_request_error", f"Response '{wanted}' is not in progress")
    if kind == "conversation.item.create":
        return _item(event["item"], state)
    if kind in ("conversation.item.delete", "conversation.item.truncate"):
        role = state.items.get(event["item_id"])
        if role is None:
            return Refusal("invalid_request_error", f"Item '{event['item_id']}' not found")
        if kind == "conversation.item.truncate" and role != "assistant":
            return Refusal("invalid_request_error", "Can only truncate assistant messages")
    return None


def sanitized(session: dict[str, Any]) -> dict[str, Any]:
    """The session as the endpoint keeps it: what it ignores is gone (null)."""
    kept = {**session, "audio": {**(session.get("audio") or {})}}
    audio_in = dict(kept["audio"].get("input") or {})
    audio_in["transcription"] = None
    audio_in["noise_reduction"] = None
    kept["audio"]["input"] = audio_in
    audio_out = dict(kept["audio"].get("output") or {})
    if audio_out.get("speed") not in (None, 1):
        audio_out.pop("speed")
    kept["audio"]["output"] = audio_out
    return kept


def _session(session: dict[str, Any]) -> Refusal | None:
    audio = session.get("audio") or {}
    audio_in = audio.get("input") or {}
    detection = audio_in.get("turn_detection")
    if detection is not None and detection.get("type") != "server_vad":
        return Refusal("unsupported_turn_detection", "Only server_vad turn detection is supported")
    if not _pcm24k(audio_in.get("format")):
        return Refusal("unsupported_audio_format", "Only 24 kHz PCM16 input audio is supported")
    if not _pcm24k((audio.get("output") or {}).get("format")):
        return Refusal("unsupported_audio_format", "Only 24 kHz PCM16 output audio is supported")
    return None


def _response(response: dict[str, Any], state: State) -> Refusal | None:
    if response.get("conversation") == "none":
        return Refusal("invalid_request_error", "Out-of-band responses are not supported")
    output = (response.get("audio") or {}).get("output") or {}
    if output.get("speed") not in (None, 1):
        return Refusal("invalid_request_error", "Output audio speed is not supported")
    if not _pcm24k(output.get("format")):
        return Refusal("unsupported_audio_format", "Only 24 kHz PCM16 output audio is supported")
    if response.get("tools") and response.get("tool_choice") != "none" and not state.tool_parser:
        return Refusal(
            "invalid_request_error",
            "Function tools require --enable-auto-tool-choice and --tool-call-parser",
        )
    for item in response.get("input") or []:
        if (problem := _item(item, state)) is not None:
            return problem
    return None


def _item(item: dict[str, Any], state: State) -> Refusal | None:
    if str(item.get("type") or "").startswith("mcp_"):
        return Refusal("unsupported_feature", "Remote MCP tools are not supported")
    if item.get("id") and item["id"] in state.items:
        return Refusal("invalid_request_error", f"Item '{item['id']}' already exists")
    for part in item.get("content") or []:
        if part.get("type") == "input_image" and not state.accepts_images:
            return Refusal("invalid_request_error", "Image input is not supported")
        if part.get("type") == "input_audio" and (problem := _pcm16(part.get("audio") or "")):
            return problem
    return None


def _pcm16(audio: str) -> Refusal | None:
    try:
        raw = base64.b64decode(audio, validate=True)
    except (ValueError, binascii.Error):
        return Refusal("invalid_request_error", "Invalid base64 audio data")
    if len(raw) % 2:
        return Refusal(
            "invalid_request_error", "PCM audio data must contain complete 16-bit samples"
        )
    return None


def _pcm24k(audio_format: Any) -> bool:
    if audio_format is None:
        return True
    return (
        audio_format.get("type") in ("audio/pcm", "pcm16")
        and audio_format.get("rate", RATE) == RATE
    )
