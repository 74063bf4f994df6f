"""`GET /v1/realtime` upgraded to a WebSocket: the OpenAI Realtime API for servers and SDKs.

Authentication is the WebRTC calls' (`Authorization: Bearer <API key or ephemeral
token>`); browsers, which cannot set headers on a WebSocket, may send the credential as
the subprotocol `openai-insecure-api-key.<credential>` as they do with OpenAI. A refused
handshake is answered with the usual JSON error and status (401, 429, 503) when the
server supports WebSocket denial responses, else the socket is accepted, sent one
`error` event and closed with code 1008.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from rtc.conversation.conversation import Conversation
from rtc.errors import GatewayError, NotFound, Unauthorized
from rtc.events import new_id
from rtc.gateway import Gateway
from rtc.transports.sideband import Sideband
from rtc.transports.websocket import WebSocketTransport

logger = logging.getLogger(__name__)
router = APIRouter()

SUBPROTOCOL = "realtime"
KEY_SUBPROTOCOL = "openai-insecure-api-key."


def authorization(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization")
    if header:
        return header
    for protocol in websocket.scope.get("subprotocols") or []:
        if isinstance(protocol, str) and protocol.startswith(KEY_SUBPROTOCOL):
            return "Bearer " + protocol[len(KEY_SUBPROTOCOL) :]
    return None


@router.websocket("/v1/realtime")
async def realtime_websocket(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.gateway
    address = websocket.client.host if websocket.client is not None else "unknown"
    call_id = websocket.query_params.get("call_id")
    if call_id is not None:
        await _sideband(websocket, gateway, address, call_id)
        return
    try:
        grant = gateway.admit(address, authorization(websocket))
        # The SDKs open a transcription session with ?intent=transcription.
        intent = websocket.query_params.get("intent")
        session = {"type": "transcription"} if intent == "transcription" else None
        call, transport = await gateway.open(
            WebSocketTransport.id_prefix, session, grant, _connect(websocket)
        )
    except GatewayError as exc:
        await refuse(websocket, gateway, exc)
        return
    await accept(websocket, call.close)
    await transport.run()


def _connect(websocket: WebSocket) -> Callable[[Conversation], Awaitable[WebSocketTransport]]:
    async def connect(conversation: Conversation) -> WebSocketTransport:
        return WebSocketTransport(conversation, websocket)

    return connect


async def _sideband(websocket: WebSocket, gateway: Gateway, address: str, call_id: str) -> None:
    """Attach to a call opened elsewhere (over WebRTC): the server's API key only."""
    try:
        with gateway.auth_attempt(address):
            gateway.auth.require_api_key(authorization(websocket))
    except GatewayError as exc:
        await refuse(websocket, gateway, exc)
        return
    await accept(websocket, None)
    try:
        call = gateway.registry.get(call_id)
    except NotFound as exc:
        await _say_and_close(websocket, exc)
        return
    await Sideband(call, websocket).run()


async def accept(websocket: WebSocket, close: Callable[[str], Awaitable[object]] | None) -> None:
    """Accept the upgrade (with the Realtime subprotocol when offered); if that fails, what
    was opened for it is closed (`close("handshake_failed")`)."""
    offered = websocket.scope.get("subprotocols") or []
    try:
        await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    except Exception:
        if close is not None:
            await close("handshake_failed")
        raise


async def refuse(websocket: WebSocket, gateway: Gateway, exc: GatewayError) -> None:
    """Answer a refused upgrade (a failed authentication is counted)."""
    if isinstance(exc, Unauthorized):
        gateway.metrics.auth_failures.labels(exc.code).inc()
    await refuse_handshake(websocket, exc)


async def refuse_handshake(websocket: WebSocket, exc: GatewayError) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        response = JSONResponse(exc.as_json(), status_code=exc.status, headers=exc.headers)
        await websocket.send_denial_response(response)
        return
    await websocket.accept()
    await _say_and_close(websocket, exc)


async def _say_and_close(websocket: WebSocket, exc: GatewayError) -> None:
    """One `error` event saying why, then the close (code 1008, the reason its code)."""
    body = exc.as_json()
    await websocket.send_json({"type": "error", "event_id": new_id("event"), **body})
    await websocket.close(code=1008, reason=f"{exc.code}: {exc.message}"[:120])
