"""A bare aiortc echo server: the capacity benchmark's baseline.

    .venv/bin/python -m bench.echo_server --port 8090

Same signaling as omnilive (`POST /v1/realtime/calls` with an SDP offer, as
`application/sdp` or multipart with `sdp` and `session`; `DELETE` to hang up;
`GET /healthz`), so the same load generator can call it. Per call it does the
least a media server must: the caller's audio is decoded and sent straight back
(re-encoded: continuous outgoing audio, as omnilive's), the camera is decoded
and dropped, the data channel is accepted and ignored. No models, no VAD.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import uvicorn
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from fastapi import FastAPI, Request, Response
from starlette.datastructures import UploadFile


class EchoCall:
    def __init__(self, calls: dict[str, EchoCall]) -> None:
        self.id = f"echo_{uuid.uuid4().hex[:12]}"
        self.pc = RTCPeerConnection()
        self._calls = calls
        self._tasks: set[asyncio.Task[None]] = set()
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    async def accept(self, offer: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._calls[self.id] = self
        return str(self.pc.localDescription.sdp)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.pc.addTrack(track)  # the sender pulls the decoded frames and re-encodes them
        else:
            task = asyncio.ensure_future(_drain(track))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            task = asyncio.ensure_future(self.close())
            self._tasks.add(task)

    async def close(self) -> None:
        if self._calls.pop(self.id, None) is None:
            return
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        await self.pc.close()


async def _drain(track: MediaStreamTrack) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()


async def _offer(request: Request) -> str:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        sdp = form.get("sdp")
        return (await sdp.read()).decode() if isinstance(sdp, UploadFile) else str(sdp)
    return (await request.body()).decode()


def create_app() -> FastAPI:
    calls: dict[str, EchoCall] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.gather(*(c.close() for c in list(calls.values())))

    app = FastAPI(title="aiortc echo (capacity baseline)", lifespan=lifespan)

    @app.post("/v1/realtime/calls")
    async def create_call(request: Request) -> Response:
        call = EchoCall(calls)
        answer = await call.accept(await _offer(request))
        return Response(
            answer,
            status_code=201,
            media_type="application/sdp",
            headers={"Location": f"/v1/realtime/calls/{call.id}"},
        )

    @app.delete("/v1/realtime/calls/{call_id}")
    async def delete_call(call_id: str) -> Response:
        call = calls.get(call_id)
        if call is None:
            return Response(status_code=404)
        await call.close()
        return Response(status_code=204)

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "backend": "aiortc-echo", "active_calls": len(calls)}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper())
    logging.getLogger("aioice").setLevel(logging.WARNING)
    uvicorn.run(
        create_app(), host=args.host, port=args.port, loop="uvloop", log_level=args.log_level
    )


if __name__ == "__main__":
    main()
