"""HTTP signaling: POST an SDP offer, get the answer; DELETE to hang up."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect
from starlette.types import Message

from rtc.conversation.conversation import Conversation
from rtc.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from rtc.gateway import Gateway
from rtc.jsonsafe import JSONRejected, loads
from rtc.offer import parse_offer
from rtc.resume import RESUME_FIELD, with_query
from rtc.transports.webrtc import WebRTCTransport

logger = logging.getLogger(__name__)
router = APIRouter()

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message"],
            "properties": {
                "type": {"type": "string"},
                "code": {"type": "string"},
                "message": {"type": "string"},
            },
        }
    },
}
ERROR_RESPONSE = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_OFFER_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/sdp": {"schema": {"type": "string", "pattern": "^v=0"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["sdp"],
                "properties": {"sdp": {"type": "string"}, "session": {"type": "string"}},
            }
        },
    },
}


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is over the {limit}-byte limit", code="body_too_large")
    body = bytearray()
    try:
        async for piece in request.stream():
            body += piece
            if len(body) > limit:
                raise PayloadTooLarge(
                    f"the body is over the {limit}-byte limit", code="body_too_large"
                )
    except ClientDisconnect:  # nobody will read the answer; it must not be a traceback either
        raise BadRequest(
            "the client went away before its body ended", code="incomplete_body"
        ) from None
    return bytes(body)


async def _parse_offer(request: Request, limit: int) -> tuple[str, Mapping[str, Any] | None]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in ("application/sdp", "multipart/form-data"):
        raise UnsupportedMediaType(
            "send the offer as application/sdp, or multipart/form-data with 'sdp' and 'session'",
            code="unsupported_content_type",
        )
    body = await read_body(request, limit)
    if content_type == "application/sdp":
        return _decode(body, "SDP offer"), None

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=2, max_fields=8)
    except Exception as exc:  # the multipart parser raises several types
        raise BadRequest(f"malformed multipart body: {exc}", code="invalid_multipart") from None
    sdp_field = form.get("sdp")
    session_field = form.get("session")
    sdp = _decode(await sdp_field.read(), "sdp") if isinstance(sdp_field, UploadFile) else sdp_field
    if not sdp:
        raise BadRequest("the multipart body has no 'sdp' field", code="missing_sdp")
    session: Mapping[str, Any] | None = None
    if session_field is not None:
        raw = await session_field.read() if isinstance(session_field, UploadFile) else session_field
        try:
            session = loads(raw)
        except JSONRejected as exc:
            raise BadRequest(f"'session': {exc.message}", code="invalid_session") from None
        if not isinstance(session, dict):
            raise BadRequest("'session' must be a JSON object", code="invalid_session")
    return str(sdp), session


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"the {what} is not UTF-8 text", code="invalid_sdp") from None


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


@router.post(
    "/v1/realtime/calls",
    status_code=201,
    summary="Open a call: SDP offer in, SDP answer out",
    openapi_extra={"requestBody": _OFFER_BODY},
    responses={
        201: {
            "description": "the SDP answer; Location names the call",
            "content": {"application/sdp": {"schema": {"type": "string"}}},
        },
        **dict.fromkeys((400, 401, 413, 415, 429, 503), ERROR_RESPONSE),
    },
)
async def create_call(request: Request) -> Response:
    gateway = _gateway(request)
    grant = gateway.admit(client_address(request), request.headers.get("authorization"))
    text, session = await _parse_offer(request, gateway.config.max_body_bytes)
    session = with_query(session, request.query_params.get(RESUME_FIELD))
    offer = parse_offer(text)

    async def connect(conversation: Conversation) -> str:
        transport = WebRTCTransport(conversation, gateway.config.ice_servers)
        return await transport.accept(offer)

    call, answer = await gateway.open(WebRTCTransport.id_prefix, session, grant, connect)
    return Response(
        content=answer,
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/v1/realtime/calls/{call.id}"},
    )


@router.delete(
    "/v1/realtime/calls/{call_id}",
    status_code=204,
    summary="Hang up",
    responses=dict.fromkeys((401, 404, 429), ERROR_RESPONSE),
)
async def delete_call(call_id: str, request: Request) -> Response:
    gateway = _gateway(request)
    with gateway.auth_attempt(client_address(request)):
        gateway.auth.authorize_hangup(request.headers.get("authorization"), call_id)
    call = gateway.registry.get(call_id)
    await call.close("client_hangup")
    return Response(status_code=204)


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    gateway = _gateway(request)
    model = gateway.model
    return {
        "status": "ok",
        "backend": model.name,
        "model_loaded": model.loaded,
        "active_calls": len(gateway.registry),
        "max_calls": gateway.config.max_calls,
        "auth_required": gateway.auth.required,
        "draining": gateway.draining,
        "overloaded": gateway.overloaded,
        "scenarios": gateway.scenarios.names,
        "capabilities": model.capabilities.as_dict(),
    }


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    body = _gateway(request).metrics.render()
    return Response(content=body, media_type="text/plain; version=0.0.4; charset=utf-8")
