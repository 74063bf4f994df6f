"""A scripted OpenAI Realtime server for the `remote` backend's tests (the real one needs GPUs).

It answers the way a Realtime endpoint does (session.created, transcription on
commit, text or audio responses streamed in deltas, response.cancel honoured),
records every event it receives, and can drop its connections on demand. A
test scripts function calls in `tool_calls`: each response.create that offers
tools takes the next one and answers with it (a function_call output item)
instead of speaking; once they are used up it speaks `answer`.

`mode` picks whose endpoint it plays:

- "openai" (the default): lenient, GA event names, and, as OpenAI's does, it
  refuses a response.create in the conversation (an `error` event) while a
  function call it made has no function_call_output yet.
- "vllm-omni-ga": vLLM-Omni's `OpenAIFullDuplexConnection` as it is. Every client
  event is validated with the `openai` package's types and refused as vLLM-Omni
  refuses it (tests/realtime_rules.py): turn detection other than server_vad,
  audio other than 24 kHz PCM16, out-of-band responses, images, a cancel with
  nothing to cancel... It ignores `transcription` (its `session.updated` says
  null, and a commit is never transcribed), and sends the GA names with the items
  and content parts around each answer.
- "vllm-omni-beta": the same rules, and the names older vLLM-Omni releases sent:
  no response.created and no ids; `response.audio.delta` with the samples in
  `audio` and their rate in `sample_rate_hz`, `response.audio_transcript.delta`,
  `response.text.delta` / `.done`, function calls as
  `response.function_call_arguments.delta` / `.done` only; and every response ends
  with `response.audio.done` (`has_audio`) rather than `response.done`.

In the vLLM-Omni modes a text response whose instructions ask to transcribe
answers with `heard`, since the endpoint itself transcribes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve

from tests.realtime_rules import State, refusal, sanitized

RATE = 24_000
MODES = ("openai", "vllm-omni-ga", "vllm-omni-beta")
VLLM_MODES = ("vllm-omni-ga", "vllm-omni-beta")


def tone_b64(seconds: float, rate: int = RATE) -> str:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * 440.0 * t) * 8000).astype("<i2")
    return base64.b64encode(pcm.tobytes()).decode("ascii")


@dataclass
class _Response:
    id: str
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def cancel(self) -> None:
        """Stop it and wait for its last events, as vLLM-Omni does before it reads on:
        whatever the client sends next is answered after them."""
        self.cancelled.set()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)


@dataclass
class _Connection:
    """One client's session: its conversation and what is in flight."""

    ws: ServerConnection
    items: dict[str, str] = field(default_factory=dict)
    """Conversation item id -> role or type."""
    audio_ms: dict[str, float] = field(default_factory=dict)
    """Assistant item id -> ms of audio sent for it."""
    buffer: bytearray = field(default_factory=bytearray)
    active: _Response | None = None
    awaiting: list[str] = field(default_factory=list)
    """Function calls made on this connection, still without output."""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


@dataclass
class ScriptedRealtime:
    heard: str = "I would like a cup of coffee."
    translation: str = "Quiero un café."
    language: str = "en"
    """The answer to "which language is this text in"."""
    audio_chunks: int = 5
    """Audio deltas per audio response, 0.2 s each."""
    chunk_interval_s: float = 0.05
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Function calls to answer with, in order: {"name": ..., "arguments": {...}}."""
    answer: str = "Let me think about that."
    """The words of an audio response that has no `input` (a conversation turn)."""
    mode: str = "openai"
    require_call_outputs: bool | None = None
    """Refuse a conversation response while a function call still has no output
    (default: in the "openai" mode only; vLLM-Omni does not check)."""
    accepts_images: bool | None = None
    """Take input_image content (default: not in the vLLM-Omni modes, as it does not)."""
    beta_rate: int = RATE
    """The `sample_rate_hz` of the beta mode's audio."""
    tool_parser: bool = True
    """vLLM-Omni started with a tool parser (else it refuses responses with tools)."""
    calls_made: list[str] = field(default_factory=list)
    """The call_id of every function call answered with, in order."""
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    """The `error` object of every refusal sent, in order."""
    headers: list[dict[str, str]] = field(default_factory=list)
    connections: list[ServerConnection] = field(default_factory=list)
    server: Server | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        assert self.mode in MODES, self.mode
        if self.require_call_outputs is None:
            self.require_call_outputs = self.mode == "openai"
        if self.accepts_images is None:
            self.accepts_images = self.mode == "openai"

    @property
    def vllm(self) -> bool:
        return self.mode in VLLM_MODES

    @property
    def beta(self) -> bool:
        return self.mode == "vllm-omni-beta"

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = list(self.server.sockets)[0].getsockname()[:2]
        return f"ws://{host}:{port}/v1/realtime"

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e.get("type") == kind]

    def refused_events(self) -> list[dict[str, Any]]:
        """The client events that were refused."""
        ids = {r.get("event_id") for r in self.refused}
        return [e for e in self.received if e.get("event_id") in ids]

    async def drop_all(self) -> None:
        """Close every open upstream connection, as a crashed or restarted server would."""
        for ws in list(self.connections):
            await ws.close(code=1011, reason="scripted drop")

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    # -- receiving -----------------------------------------------------------------
    async def _handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        self.headers.append(dict(ws.request.headers) if ws.request else {})
        conn = _Connection(ws)
        await self._send(conn, {"type": "session.created", "session": {"id": self._id("sess")}})
        try:
            async for message in ws:
                event = json.loads(message)
                self.received.append(event)
                await self._on_event(conn, event)
        except Exception:  # noqa: BLE001 - a dropped client ends the handler
            pass
        finally:
            for task in conn.tasks:
                task.cancel()
            self.connections.remove(ws)

    async def _on_event(self, conn: _Connection, event: dict[str, Any]) -> None:
        if self.vllm:
            active = conn.active.id if conn.active else None
            state = State(active, conn.items, bool(self.accepts_images), self.tool_parser)
            problem = refusal(event, state)
            if problem is not None:
                await self._error(conn, problem.code, problem.message, event.get("event_id"))
                return
        kind = event.get("type")
        if kind == "session.update":
            session = sanitized(event["session"]) if self.vllm else event["session"]
            await self._send(conn, {"type": "session.updated", "session": session})
        elif kind == "input_audio_buffer.append":
            conn.buffer += base64.b64decode(event.get("audio") or "")
        elif kind == "input_audio_buffer.clear":
            conn.buffer.clear()
            await self._send(conn, {"type": "input_audio_buffer.cleared"})
        elif kind == "input_audio_buffer.commit":
            await self._commit(conn, event)
        elif kind == "conversation.item.create":
            await self._item_created(conn, event["item"])
        elif kind == "conversation.item.delete":
            conn.items.pop(event["item_id"], None)
            await self._send(
                conn, {"type": "conversation.item.deleted", "item_id": event["item_id"]}
            )
        elif kind == "conversation.item.truncate":
            await self._truncate(conn, event)
        elif kind == "response.create" and self._refused(event["response"], conn.awaiting):
            message = f"function calls {conn.awaiting} have no output"
            await self._error(conn, "function_call_output_missing", message, event.get("event_id"))
        elif kind == "response.create":
            if conn.active is not None:  # vLLM-Omni cancels the answer in progress first
                await conn.active.cancel()
            response = _Response(self._id("resp"))
            conn.active = response
            response.task = asyncio.create_task(self._respond(conn, event["response"], response))
            conn.tasks.add(response.task)
            response.task.add_done_callback(conn.tasks.discard)
        elif kind == "response.cancel" and _names(event, conn.active):
            assert conn.active is not None
            await conn.active.cancel()

    def _refused(self, request: dict[str, Any], awaiting: list[str]) -> bool:
        in_conversation = request.get("conversation") != "none"
        return bool(self.require_call_outputs) and in_conversation and bool(awaiting)

    async def _commit(self, conn: _Connection, event: dict[str, Any]) -> None:
        if self.vllm and not conn.buffer:
            await self._error(conn, "invalid_request_error", "Input audio buffer is empty", event.get("event_id"))  # fmt: skip
            return
        item = self._id("item")
        conn.buffer.clear()
        conn.items[item] = "user"
        await self._send(conn, {"type": "input_audio_buffer.committed", "item_id": item})
        if self.vllm:  # vLLM-Omni transcribes nothing
            await self._announce(
                conn, {"id": item, "type": "message", "role": "user", "content": []}
            )
            return
        for word in self.heard.split():
            await self._send(conn, {"type": "conversation.item.input_audio_transcription.delta", "item_id": item, "delta": word + " "})  # fmt: skip
        await self._send(conn, {"type": "conversation.item.input_audio_transcription.completed", "item_id": item, "transcript": self.heard})  # fmt: skip

    async def _item_created(self, conn: _Connection, item: dict[str, Any]) -> None:
        item_id = str(item.get("id") or self._id("item"))
        conn.items[item_id] = str(item.get("role") or item.get("type"))
        if item.get("type") == "function_call_output":
            with contextlib.suppress(ValueError):
                conn.awaiting.remove(str(item.get("call_id")))
        if self.vllm:
            await self._announce(conn, {**item, "id": item_id})

    async def _truncate(self, conn: _Connection, event: dict[str, Any]) -> None:
        item_id, end_ms = event["item_id"], event["audio_end_ms"]
        if self.vllm and end_ms > conn.audio_ms.get(item_id, 0.0):
            message = f"audio_end_ms ({end_ms}) is greater than the actual audio duration"
            await self._error(conn, "invalid_request_error", message, event.get("event_id"))
            return
        await self._send(conn, {"type": "conversation.item.truncated", "item_id": item_id, "content_index": 0, "audio_end_ms": end_ms})  # fmt: skip

    # -- answering -----------------------------------------------------------------
    async def _respond(
        self, conn: _Connection, request: dict[str, Any], response: _Response
    ) -> None:
        rid, item = response.id, self._id("item")
        status = "completed"
        if not self.beta:
            await self._send(conn, {"type": "response.created", "response": {"id": rid, "status": "in_progress"}})  # fmt: skip
        if request.get("tools") and request.get("tool_choice") != "none" and self.tool_calls:
            await self._call_function(conn, rid, self.tool_calls.pop(0))
            has_audio = False
        elif request.get("output_modalities") == ["text"]:
            await self._open_item(conn, rid, item, "text")
            words = self._text_answer(request).split(" ")
            for word in words:
                await self._send(conn, self._text_delta(rid, item, word + " "))
            await self._close_item(conn, rid, item, "text", " ".join(words) + " ")
            has_audio = False
        else:
            await self._open_item(conn, rid, item, "audio")
            text = request["input"][0]["content"][0]["text"] if "input" in request else self.answer
            await self._send(conn, self._transcript_delta(rid, item, text))
            for _ in range(self.audio_chunks):
                if response.cancelled.is_set():
                    status = "cancelled"
                    break
                await self._send(conn, self._audio_delta(rid, item, 0.2))
                conn.audio_ms[item] = conn.audio_ms.get(item, 0.0) + 200.0
                await asyncio.sleep(self.chunk_interval_s)
            await self._close_item(conn, rid, item, "audio", text)
            has_audio = True
        if conn.active is response:
            conn.active = None
        if self.beta:  # the old releases' last word on every response
            await self._send(conn, {"type": "response.audio.done", "has_audio": has_audio})
        else:
            await self._send(conn, {"type": "response.done", "response": {"id": rid, "status": status}})  # fmt: skip

    def _text_answer(self, request: dict[str, Any]) -> str:
        instructions = str(request.get("instructions", ""))
        if "language code" in instructions:
            return self.language
        if self.vllm and "transcribe" in instructions.lower():
            return self.heard
        return self.translation

    async def _open_item(self, conn: _Connection, rid: str, item: str, kind: str) -> None:
        conn.items[item] = "assistant"
        if self.beta or (kind == "text" and not self.vllm):
            return
        await self._send(conn, {"type": "response.output_item.added", "response_id": rid, "item": {"id": item, "type": "message", "role": "assistant"}})  # fmt: skip
        if self.vllm:
            await self._send(conn, {"type": "response.content_part.added", "response_id": rid, "item_id": item, "part": {"type": kind}})  # fmt: skip

    async def _close_item(
        self, conn: _Connection, rid: str, item: str, kind: str, text: str
    ) -> None:
        if self.beta:
            done = {"type": "response.text.done", "text": text} if kind == "text" else {"type": "response.audio_transcript.done", "transcript": text}  # fmt: skip
            await self._send(conn, done)
            return
        if not self.vllm:
            return
        if kind == "audio":
            await self._send(conn, {"type": "response.output_audio.done", "response_id": rid, "item_id": item})  # fmt: skip
            await self._send(conn, {"type": "response.output_audio_transcript.done", "response_id": rid, "item_id": item, "transcript": text})  # fmt: skip
        else:
            await self._send(conn, {"type": "response.output_text.done", "response_id": rid, "item_id": item, "text": text})  # fmt: skip
        await self._send(conn, {"type": "response.content_part.done", "response_id": rid, "item_id": item, "part": {"type": kind}})  # fmt: skip
        message = {"id": item, "type": "message", "role": "assistant", "status": "completed"}
        await self._send(conn, {"type": "response.output_item.done", "response_id": rid, "item": message})  # fmt: skip
        await self._announce(conn, message)

    def _text_delta(self, rid: str, item: str, delta: str) -> dict[str, Any]:
        if self.beta:
            return {"type": "response.text.delta", "delta": delta}
        return {"type": "response.output_text.delta", "response_id": rid, "item_id": item, "delta": delta}  # fmt: skip

    def _transcript_delta(self, rid: str, item: str, delta: str) -> dict[str, Any]:
        if self.beta:
            return {"type": "response.audio_transcript.delta", "delta": delta}
        return {"type": "response.output_audio_transcript.delta", "response_id": rid, "item_id": item, "delta": delta}  # fmt: skip

    def _audio_delta(self, rid: str, item: str, seconds: float) -> dict[str, Any]:
        if self.beta:
            rate = self.beta_rate
            return {"type": "response.audio.delta", "audio": tone_b64(seconds, rate), "format": "pcm16", "sample_rate_hz": rate}  # fmt: skip
        return {"type": "response.output_audio.delta", "response_id": rid, "item_id": item, "delta": tone_b64(seconds)}  # fmt: skip

    async def _call_function(self, conn: _Connection, rid: str, call: dict[str, Any]) -> None:
        arguments = json.dumps(call.get("arguments", {}))
        item, call_id, name = self._id("item"), self._id("call"), call["name"]
        conn.awaiting.append(call_id)  # before the client can answer it
        self.calls_made.append(call_id)
        conn.items[item] = "function_call"
        if self.beta:
            await self._send(conn, {"type": "response.function_call_arguments.delta", "call_id": call_id, "name": name, "delta": arguments})  # fmt: skip
            await self._send(conn, {"type": "response.function_call_arguments.done", "call_id": call_id, "name": name, "arguments": arguments})  # fmt: skip
            return
        output = {"id": item, "type": "function_call", "call_id": call_id, "name": name}
        await self._send(conn, {"type": "response.output_item.added", "response_id": rid, "item": {**output, "arguments": ""}})  # fmt: skip
        await self._send(conn, {"type": "response.function_call_arguments.delta", "response_id": rid, "item_id": item, "call_id": call_id, "delta": arguments})  # fmt: skip
        await self._send(conn, {"type": "response.function_call_arguments.done", "response_id": rid, "item_id": item, "call_id": call_id, "name": name, "arguments": arguments})  # fmt: skip
        await self._send(conn, {"type": "response.output_item.done", "response_id": rid, "item": {**output, "arguments": arguments}})  # fmt: skip
        if self.vllm:
            await self._announce(conn, {**output, "arguments": arguments})

    # -- sending -------------------------------------------------------------------
    async def _announce(self, conn: _Connection, item: dict[str, Any]) -> None:
        """A new conversation item, in the generation's own words."""
        if self.beta:
            await self._send(conn, {"type": "conversation.item.created", "item": item})
            return
        await self._send(conn, {"type": "conversation.item.added", "item": item})
        await self._send(conn, {"type": "conversation.item.done", "item": item})

    async def _error(self, conn: _Connection, code: str, message: str, about: str | None) -> None:
        error = {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "event_id": about,
        }
        self.refused.append(error)
        await self._send(conn, {"type": "error", "error": error})

    async def _send(self, conn: _Connection, event: dict[str, Any]) -> None:
        await conn.ws.send(json.dumps({"event_id": self._id("event"), **event}))


def _names(cancel: dict[str, Any], active: _Response | None) -> bool:
    """Does this response.cancel concern the response in progress?"""
    return active is not None and cancel.get("response_id") in (None, active.id)


@contextlib.asynccontextmanager
async def scripted_realtime(**settings: Any) -> AsyncIterator[ScriptedRealtime]:
    script = ScriptedRealtime(**settings)
    async with serve(script._handler, "127.0.0.1", 0) as server:
        script.server = server
        yield script
