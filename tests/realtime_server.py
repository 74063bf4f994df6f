"""A scripted OpenAI Realtime server for the `remote` backend's tests (the real one needs GPUs).

It answers the way a Realtime endpoint does (session.created, transcription on
commit, text or audio responses streamed in deltas, response.cancel honoured),
records every event it receives, and can drop its connections on demand. A
test scripts function calls in `tool_calls`: each response.create that offers
tools takes the next one and answers with it (a function_call output item)
instead of speaking; once they are used up it speaks `answer`. As some Realtime
endpoints do (OpenAI's among them), it refuses a response.create in the conversation
(an `error` event) while a function call it made has no function_call_output yet.
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

RATE = 24_000


def tone_b64(seconds: float) -> str:
    t = np.arange(int(seconds * RATE)) / RATE
    pcm = (np.sin(2 * np.pi * 440.0 * t) * 8000).astype("<i2")
    return base64.b64encode(pcm.tobytes()).decode("ascii")


@dataclass
class ScriptedRealtime:
    heard: str = "I would like a cup of coffee."
    translation: str = "Quiero un café."
    language: str = "en"
    """The answer to "which language is this text in"."""
    audio_chunks: int = 5
    """response.output_audio.delta events per audio response, 0.2 s each."""
    chunk_interval_s: float = 0.05
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Function calls to answer with, in order: {"name": ..., "arguments": {...}}."""
    answer: str = "Let me think about that."
    """The words of an audio response that has no `input` (a conversation turn)."""
    require_call_outputs: bool = True
    """Refuse a conversation response while a function call still has no output."""
    calls_made: list[str] = field(default_factory=list)
    """The call_id of every function call answered with, in order."""
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    connections: list[ServerConnection] = field(default_factory=list)
    server: Server | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = list(self.server.sockets)[0].getsockname()[:2]
        return f"ws://{host}:{port}/v1/realtime"

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e.get("type") == kind]

    async def drop_all(self) -> None:
        """Close every open upstream connection, as a crashed or restarted server would."""
        for ws in list(self.connections):
            await ws.close(code=1011, reason="scripted drop")

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        self.headers.append(dict(ws.request.headers) if ws.request else {})
        cancelled: set[str] = set()
        streaming: set[asyncio.Task[None]] = set()
        awaiting: list[str] = []  # function calls made on this connection, still without output
        await ws.send(json.dumps({"type": "session.created", "session": {"id": self._id("sess")}}))
        try:
            async for message in ws:
                event = json.loads(message)
                self.received.append(event)
                kind = event.get("type")
                if kind == "session.update":
                    await ws.send(
                        json.dumps({"type": "session.updated", "session": event["session"]})
                    )
                elif kind == "input_audio_buffer.commit":
                    item = self._id("item")
                    await ws.send(
                        json.dumps({"type": "input_audio_buffer.committed", "item_id": item})
                    )
                    for word in self.heard.split():
                        await ws.send(json.dumps({"type": "conversation.item.input_audio_transcription.delta", "item_id": item, "delta": word + " "}))  # fmt: skip
                    await ws.send(json.dumps({"type": "conversation.item.input_audio_transcription.completed", "item_id": item, "transcript": self.heard}))  # fmt: skip
                elif kind == "conversation.item.create":
                    created = event.get("item") or {}
                    if created.get("type") == "function_call_output":
                        with contextlib.suppress(ValueError):
                            awaiting.remove(str(created.get("call_id")))
                elif kind == "response.create" and self._refused(event["response"], awaiting):
                    await ws.send(json.dumps({"type": "error", "error": {"type": "invalid_request_error", "code": "function_call_output_missing", "message": f"function calls {awaiting} have no output"}}))  # fmt: skip
                elif kind == "response.create":
                    task = asyncio.create_task(
                        self._respond(ws, event["response"], cancelled, awaiting)
                    )
                    streaming.add(task)
                    task.add_done_callback(streaming.discard)
                elif kind == "response.cancel":
                    cancelled.add(event.get("response_id", "*"))
        except Exception:  # noqa: BLE001 - a dropped client ends the handler
            pass
        finally:
            for task in streaming:
                task.cancel()
            self.connections.remove(ws)

    def _refused(self, request: dict[str, Any], awaiting: list[str]) -> bool:
        in_conversation = request.get("conversation") != "none"
        return self.require_call_outputs and in_conversation and bool(awaiting)

    async def _respond(
        self,
        ws: ServerConnection,
        request: dict[str, Any],
        cancelled: set[str],
        awaiting: list[str],
    ) -> None:
        rid, item = self._id("resp"), self._id("item")
        send = ws.send
        await send(
            json.dumps(
                {"type": "response.created", "response": {"id": rid, "status": "in_progress"}}
            )
        )
        status = "completed"
        if request.get("tools") and self.tool_calls:
            await self._call_function(ws, rid, item, self.tool_calls.pop(0), awaiting)
        elif request.get("output_modalities") == ["text"]:
            words = self.translation.split(" ")
            if "language code" in request.get("instructions", ""):
                words = [self.language]
            for word in words:
                await send(json.dumps({"type": "response.output_text.delta", "response_id": rid, "item_id": item, "delta": word + " "}))  # fmt: skip
        else:
            await send(json.dumps({"type": "response.output_item.added", "response_id": rid, "item": {"id": item, "type": "message", "role": "assistant"}}))  # fmt: skip
            text = request["input"][0]["content"][0]["text"] if "input" in request else self.answer
            await send(json.dumps({"type": "response.output_audio_transcript.delta", "response_id": rid, "item_id": item, "delta": text}))  # fmt: skip
            for _ in range(self.audio_chunks):
                if rid in cancelled or "*" in cancelled:
                    status = "cancelled"
                    break
                await send(json.dumps({"type": "response.output_audio.delta", "response_id": rid, "item_id": item, "delta": tone_b64(0.2)}))  # fmt: skip
                await asyncio.sleep(self.chunk_interval_s)
        await send(json.dumps({"type": "response.done", "response": {"id": rid, "status": status}}))

    async def _call_function(
        self,
        ws: ServerConnection,
        rid: str,
        item: str,
        call: dict[str, Any],
        awaiting: list[str],
    ) -> None:
        arguments = json.dumps(call.get("arguments", {}))
        output = {"id": item, "type": "function_call", "call_id": self._id("call"), "name": call["name"]}  # fmt: skip
        awaiting.append(output["call_id"])  # before the client can answer it
        self.calls_made.append(output["call_id"])
        await ws.send(json.dumps({"type": "response.output_item.added", "response_id": rid, "item": {**output, "arguments": ""}}))  # fmt: skip
        await ws.send(json.dumps({"type": "response.function_call_arguments.delta", "response_id": rid, "item_id": item, "call_id": output["call_id"], "delta": arguments}))  # fmt: skip
        await ws.send(json.dumps({"type": "response.function_call_arguments.done", "response_id": rid, "item_id": item, "call_id": output["call_id"], "name": call["name"], "arguments": arguments}))  # fmt: skip
        await ws.send(json.dumps({"type": "response.output_item.done", "response_id": rid, "item": {**output, "arguments": arguments}}))  # fmt: skip


@contextlib.asynccontextmanager
async def scripted_realtime(**settings: Any) -> AsyncIterator[ScriptedRealtime]:
    script = ScriptedRealtime(**settings)
    async with serve(script._handler, "127.0.0.1", 0) as server:
        script.server = server
        yield script
