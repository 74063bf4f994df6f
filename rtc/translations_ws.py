"""`GET /v1/realtime/translations` upgraded to a WebSocket: OpenAI's Realtime Translation API.

What the official SDKs open with `client.realtime.translations.connect(model=...)`, with
the Realtime WebSocket's handshake rules (rtc/realtime_ws.py): `Authorization: Bearer
<API key or ephemeral token>` when the server has a key (or the browser subprotocol
`openai-insecure-api-key.<credential>`); a token must come from
`POST /v1/realtime/translations/client_secrets`, and its session applies. A refused
handshake gets the JSON error and status of a refused call. `?model=` names the
session's model (echoed; the server's backend does the work).

The socket carries one `TranslationSession` (rtc/translation_session.py): text messages
in, its events out through a bounded queue, in order, as soon as they are made (voice
included: the client queues and plays `session.output_audio.delta`s in order).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, WebSocket

from rtc.errors import BadRequest, GatewayError, InvalidEvent, Unauthorized
from rtc.gateway import Gateway
from rtc.realtime_ws import accept, authorization, refuse
from rtc.registry import Call
from rtc.translation_config import TranslationConfig, TranslationRules
from rtc.translation_session import MAX_OUTGOING, TranslationParts, TranslationSession
from rtc.transports.socket_io import Outgoing, close_socket, read_messages

logger = logging.getLogger(__name__)
router = APIRouter()


def translation_parts(app: FastAPI) -> TranslationParts:
    """The server's parts for translation sessions, made once per app."""
    parts: TranslationParts | None = getattr(app.state, "translation_parts", None)
    if parts is None:
        gateway: Gateway = app.state.gateway
        limits = gateway.config.call_limits
        parts = TranslationParts(
            model=gateway.model,
            rules=TranslationRules(gateway.model, limits.max_call_s),
            metrics=gateway.metrics,
            limits=limits,
        )
        app.state.translation_parts = parts
    return parts


def session_config(parts: TranslationParts, model: str | None, token: Any) -> TranslationConfig:
    """The session a new translation session opens with: the defaults, then what its client
    secret asked for. BadRequest if that cannot work here."""
    update = None
    if isinstance(token, Mapping):
        update = {k: v for k, v in token.items() if k not in ("type", "model")}
        model = model or (token.get("model") if isinstance(token.get("model"), str) else None)
    try:
        return parts.rules.open(model, update)
    except InvalidEvent as exc:
        raise BadRequest(f"session: {exc.message}", code=exc.code) from None


@router.websocket("/v1/realtime/translations")
async def translations_websocket(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.gateway
    parts = translation_parts(websocket.app)
    address = websocket.client.host if websocket.client is not None else "unknown"
    model = websocket.query_params.get("model") or None
    try:
        grant = gateway.admit(address, authorization(websocket))
        token = grant.session if grant is not None else None
        by_token = grant is not None and grant.token_digest is not None
        if by_token and (token is None or token.get("type") != "translation"):
            raise Unauthorized(
                "this ephemeral token is for a call; a translation session needs one from "
                "POST /v1/realtime/translations/client_secrets",
                code="invalid_api_key",
            )
        config = session_config(parts, model, token)

        def make(on_closed: Callable[[Call], Awaitable[None]]) -> TranslationSession:
            return TranslationSession(parts, config, on_closed=on_closed)

        session = gateway.open_session(make, grant, "translation")
    except GatewayError as exc:
        await refuse(websocket, gateway, exc)
        return
    await accept(websocket, session.close)
    await TranslationSocket(session, websocket).run()


class TranslationSocket:
    """The WebSocket side of a translation session (its `Wire`)."""

    def __init__(self, session: TranslationSession, websocket: WebSocket) -> None:
        self.session = session
        self._ws = websocket
        self._out = Outgoing(websocket, self._not_reading, MAX_OUTGOING)
        self._connected = False

    async def run(self) -> None:
        """Serve the accepted socket until either side ends the session."""
        session = self.session
        self._connected = True
        session.spawn(self._out.run(), "ws out")
        session.start(self)
        session.attach(self._send)
        try:
            await read_messages(self._ws, session.receive)
        finally:
            self._connected = False
            await session.close("client_hangup")

    def _send(self, event: Mapping[str, Any], text: str) -> None:
        self._out.put(text)

    def _not_reading(self) -> None:
        if not self.session.ending:
            logger.info("%sthe client does not read its events; ending", self.session.log_prefix)
            self.session.close("slow_client")

    async def flush(self) -> None:
        if self._connected:
            await self._out.flush()

    async def close(self, reason: str) -> None:
        await close_socket(self._ws, reason, normal=("client_hangup", "client_closed"))
