"""The server events of both Realtime generations an upstream may speak.

OpenAI's GA names (`response.output_audio.delta` with `delta`, ...) are what
vLLM-Omni's current `OpenAIFullDuplexConnection` sends. Its older releases sent
the beta names: `response.audio.delta` carrying the samples in `audio` (and their
rate in `sample_rate_hz`), `response.audio_transcript.delta`, `response.text.delta`
/ `.done`, no `response.created`, no ids, and `response.audio.done` (with
`has_audio`) as the last event of every response instead of `response.done`. The
backend reads both through these helpers, so nothing else knows which generation
it talks to.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from numpy.typing import NDArray

Event = dict[str, Any]

#: The Realtime protocol's PCM16 rate, both ways, unless an event says otherwise.
REALTIME_RATE = 24_000

AUDIO_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})
SPOKEN_TEXT_DELTAS = frozenset(
    {"response.output_audio_transcript.delta", "response.audio_transcript.delta"}
)
TEXT_DELTAS = frozenset({"response.output_text.delta", "response.text.delta"})
TEXT_DONE = frozenset({"response.output_text.done", "response.text.done"})


def is_terminal(event: Event) -> bool:
    """The last event of a response: `response.done`, or a beta `response.audio.done`
    that says whether there was audio (OpenAI's own beta `response.audio.done` does not,
    and a `response.done` still follows it)."""
    kind = event.get("type")
    return kind == "response.done" or (kind == "response.audio.done" and "has_audio" in event)


def text_delta(event: Event) -> str | None:
    """Words of the answer, spoken or written, if the event carries some."""
    if event.get("type") in SPOKEN_TEXT_DELTAS or event.get("type") in TEXT_DELTAS:
        return str(event.get("delta") or "")
    return None


def audio_delta(event: Event) -> tuple[NDArray[np.int16], int] | None:
    """The PCM16 samples of an audio delta and their rate."""
    if event.get("type") not in AUDIO_DELTAS:
        return None
    raw = base64.b64decode(str(event.get("delta") or event.get("audio") or ""))
    pcm = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.int16)
    rate = event.get("sample_rate_hz")
    return pcm, int(rate) if isinstance(rate, int) and rate > 0 else REALTIME_RATE


def response_id(event: Event) -> str | None:
    response = event.get("response")
    rid = event.get("response_id") or (response.get("id") if isinstance(response, dict) else None)
    return str(rid) if rid else None


def output_item_ids(event: Event) -> list[str]:
    """Conversation items a response created, as the event names them."""
    item = event.get("item")
    if event.get("type") == "response.output_item.added" and isinstance(item, dict):
        return [str(item["id"])] if item.get("id") else []
    if event.get("type") in TEXT_DELTAS and event.get("item_id"):
        return [str(event["item_id"])]
    return []


def caused_by(event: Event) -> str | None:
    """For an `error`: the `event_id` of the client event it answers, when given."""
    error = event.get("error")
    about = error.get("event_id") if isinstance(error, dict) else None
    return str(about) if about else None


def transcribes(session: Any) -> bool:
    """Does the session the upstream echoed (`session.updated`) transcribe the input?
    vLLM-Omni accepts `audio.input.transcription` but drops it (null in the echo)."""
    if not isinstance(session, dict):
        return False
    audio = session.get("audio")
    audio_in = audio.get("input") if isinstance(audio, dict) else None
    configured = audio_in.get("transcription") if isinstance(audio_in, dict) else None
    return bool(configured or session.get("input_audio_transcription"))
