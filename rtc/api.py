"""The HTTP API beside signaling: ephemeral client secrets and conversation records."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from rtc.auth import MAX_TOKEN_TTL_S, MIN_TOKEN_TTL_S
from rtc.errors import BadRequest, NotFound, UnsupportedMediaType
from rtc.gateway import Gateway
from rtc.jsonsafe import JSONRejected, loads
from rtc.records import ConversationStore
from rtc.signaling import ERROR_RESPONSE, client_address, read_body
from rtc.translations_ws import session_config, translation_parts

router = APIRouter()

_SESSION = {"type": "object", "additionalProperties": True}
_SECRET_REQUEST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "session": _SESSION,
        "expires_after": {
            "type": "object",
            "properties": {
                "anchor": {"type": "string", "enum": ["created_at"]},
                "seconds": {
                    "type": "integer",
                    "minimum": MIN_TOKEN_TTL_S,
                    "maximum": MAX_TOKEN_TTL_S,
                },
            },
        },
    },
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return dict.fromkeys(statuses, ERROR_RESPONSE)


def _secret_route(description: str) -> dict[str, Any]:
    """What both client-secret routes document: the request body and the answers."""
    return {
        "openapi_extra": {
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": _SECRET_REQUEST}},
            }
        },
        "responses": {
            200: {
                "description": description,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["value", "expires_at", "session"],
                            "properties": {
                                "value": {"type": "string"},
                                "expires_at": {"type": "integer"},
                                "session": _SESSION,
                            },
                        }
                    }
                },
            },
            **_errors(400, 401, 413, 415, 429),
        },
    }


async def _secret_request(request: Request) -> tuple[Gateway, dict[str, Any], dict[str, Any]]:
    """The API key, the call rate and the body of a client-secret request: (gateway, body,
    its `session`)."""
    gateway = _gateway(request)
    address = client_address(request)
    with gateway.auth_attempt(address):
        gateway.auth.require_api_key(request.headers.get("authorization"))
    gateway.check_call_rate(f"client_secrets {address}")
    body = await _json_body(request, gateway.config.max_body_bytes)
    update = body.get("session")
    if update is None:
        update = {}
    elif not isinstance(update, dict):
        raise BadRequest("'session' must be a JSON object", code="invalid_session")
    return gateway, body, update


def _issue(
    gateway: Gateway, body: dict[str, Any], token: dict[str, Any], session: dict[str, Any]
) -> dict[str, Any]:
    ttl = _ttl(body.get("expires_after"), gateway.config.token_ttl_s)
    value, expires_at = gateway.auth.issue(token, ttl)
    gateway.metrics.client_secrets.inc()
    return {"value": value, "expires_at": expires_at, "session": session}


@router.post(
    "/v1/realtime/client_secrets",
    summary="Issue a single-use ephemeral token",
    **_secret_route("the token, its expiry (unix seconds) and the session it opens"),
)
async def create_client_secret(request: Request) -> dict[str, Any]:
    gateway, body, update = await _secret_request(request)
    return _issue(gateway, body, update, gateway.session_for(update).as_json())


@router.post(
    "/v1/realtime/translations/client_secrets",
    summary="Issue a single-use ephemeral token for a translation session",
    **_secret_route("the token, its expiry (unix seconds) and the translation session"),
)
async def create_translation_client_secret(request: Request) -> dict[str, Any]:
    """As `/v1/realtime/client_secrets` (the API key, the same limits), for
    `GET /v1/realtime/translations`: the token opens one translation session with its
    session (`model`, `audio.output.language`, ...), and nothing else."""
    gateway, body, update = await _secret_request(request)
    token = {**update, "type": "translation"}
    model = update.get("model") if isinstance(update.get("model"), str) else None
    session = session_config(translation_parts(request.app), model, token).as_json()
    return _issue(gateway, body, token, session)


async def _json_body(request: Request, limit: int) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    raw = await read_body(request, limit)
    if not raw.strip():
        return {}
    if content_type not in ("application/json", ""):
        raise UnsupportedMediaType("send JSON (application/json)", code="unsupported_content_type")
    try:
        body = loads(raw)
    except JSONRejected as exc:
        raise BadRequest(f"the body: {exc.message}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_request")
    return body


def _ttl(expires_after: Any, default: float) -> float:
    if expires_after is None:
        return default
    seconds = expires_after.get("seconds") if isinstance(expires_after, dict) else None
    anchor = expires_after.get("anchor", "created_at") if isinstance(expires_after, dict) else None
    if (
        anchor != "created_at"
        or isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not MIN_TOKEN_TTL_S <= seconds <= MAX_TOKEN_TTL_S
    ):
        raise BadRequest(
            "expires_after must be {'anchor': 'created_at', 'seconds': "
            f"{MIN_TOKEN_TTL_S}..{MAX_TOKEN_TTL_S}}}",
            code="invalid_expires_after",
        )
    return float(seconds)


# -- conversation records ------------------------------------------------------------


def _store(request: Request) -> ConversationStore:
    gateway = _gateway(request)
    with gateway.auth_attempt(client_address(request)):
        gateway.auth.require_api_key(request.headers.get("authorization"))
    if gateway.records is None:
        raise NotFound(
            "this server keeps no conversation records (started with --no-records)",
            code="records_disabled",
        )
    return gateway.records


@router.get(
    "/v1/conversations",
    summary="List conversation records, newest first",
    responses=_errors(400, 401, 404, 429),
)
async def list_conversations(
    request: Request,
    limit: int = Query(20, ge=1, le=100),
    before: float | None = Query(None, description="only calls started before (unix seconds)"),
) -> dict[str, Any]:
    store = _store(request)
    calls, more = await store.list_calls(limit=limit, before=before)
    return {"object": "list", "data": [c.as_json() for c in calls], "has_more": more}


@router.get(
    "/v1/conversations/{call_id}",
    summary="One call's conversation record",
    responses=_errors(401, 404, 429),
)
async def get_conversation(call_id: str, request: Request) -> dict[str, Any]:
    record = await _store(request).get(call_id)
    if record is None:
        raise NotFound(f"no conversation record {call_id!r}", code="conversation_not_found")
    return record


@router.delete(
    "/v1/conversations/{call_id}",
    status_code=204,
    summary="Delete one call's conversation record",
    responses=_errors(401, 404, 429),
)
async def delete_conversation(call_id: str, request: Request) -> Response:
    if not await _store(request).delete(call_id):
        raise NotFound(f"no conversation record {call_id!r}", code="conversation_not_found")
    return Response(status_code=204)


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway
