"""API key and single-use ephemeral tokens (`POST /v1/realtime/client_secrets`).

Neither the key nor a token is kept in memory as given: the key is compared through its
SHA-256 digest with `hmac.compare_digest`, and tokens are stored only by their digest,
so a lookup never compares secrets byte by byte. A token is spent by the call it opens;
it then stays bound to that call, so the same bearer may hang the call up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rtc.errors import TooManyCalls, Unauthorized

TOKEN_PREFIX = "ek_"
MIN_TOKEN_TTL_S = 10
MAX_TOKEN_TTL_S = 7200


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def bearer(authorization: str | None) -> str | None:
    """The credential of an `Authorization: Bearer ...` header, if it is one."""
    if not authorization:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    return credential


@dataclass
class _Token:
    expires_at: float
    """Unix seconds."""
    session: Mapping[str, Any] | None
    call_id: str | None = None
    """Set once the token has opened a call."""


@dataclass(frozen=True)
class Grant:
    """What a request is allowed to do."""

    by_key: bool
    session: Mapping[str, Any] | None = None
    """The session an ephemeral token was issued with (applies to the call it opens)."""
    token_digest: bytes | None = None


class Authenticator:
    """Checks bearers; issues and spends ephemeral tokens.

    Without an API key nothing is required, but a valid token presented anyway is still
    spent and its session applied (clients that always fetch a client secret first work
    the same with and without a key).
    """

    def __init__(
        self,
        api_key: str | None,
        token_ttl_s: float = 60.0,
        *,
        max_tokens: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = _digest(api_key) if api_key else None
        self.token_ttl_s = token_ttl_s
        self._max_tokens = max_tokens
        self._clock = clock
        self._tokens: dict[bytes, _Token] = {}

    @property
    def required(self) -> bool:
        return self._key is not None

    def is_api_key(self, credential: str | None) -> bool:
        if self._key is None or credential is None:
            return False
        return hmac.compare_digest(_digest(credential), self._key)

    def require_api_key(self, authorization: str | None) -> None:
        """For endpoints only the key opens (client secrets, conversation records)."""
        if self._key is None:
            return
        credential = bearer(authorization)
        if credential is None:
            raise _missing()
        if not self.is_api_key(credential):
            raise Unauthorized("the API key is not valid", code="invalid_api_key")

    # -- ephemeral tokens -------------------------------------------------------------
    def issue(
        self, session: Mapping[str, Any] | None, ttl_s: float | None = None
    ) -> tuple[str, int]:
        """A new token and its expiry (unix seconds)."""
        self._purge()
        if len(self._tokens) >= self._max_tokens:
            raise TooManyCalls(
                "too many unspent client secrets; spend or let some expire first",
                retry_after_s=max(1, int(self.token_ttl_s)),
                code="too_many_client_secrets",
            )
        value = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = int(self._clock() + (ttl_s if ttl_s is not None else self.token_ttl_s))
        self._tokens[_digest(value)] = _Token(expires_at, session)
        return value, expires_at

    def authorize_call(self, authorization: str | None) -> Grant:
        """For `POST /v1/realtime/calls`: the key, or a fresh token (spent here)."""
        credential = bearer(authorization)
        if self.is_api_key(credential):
            return Grant(by_key=True)
        if credential is None or not credential.startswith(TOKEN_PREFIX):
            if self.required:
                raise _missing() if credential is None else _invalid()
            return Grant(by_key=False)
        digest = _digest(credential)
        token = self._tokens.get(digest)
        problem: Unauthorized | None = None
        if token is None:
            problem = _invalid()
        elif token.call_id is not None:
            problem = Unauthorized(
                "this ephemeral token was already used; ask for a new client secret",
                code="token_already_used",
            )
        elif token.expires_at <= self._clock():
            problem = Unauthorized(
                "this ephemeral token has expired; ask for a new client secret",
                code="token_expired",
            )
        if problem is not None:
            if self.required:
                raise problem
            return Grant(by_key=False)
        assert token is not None
        token.call_id = ""  # spent now, whatever happens to the offer
        return Grant(by_key=False, session=token.session, token_digest=digest)

    def bind(self, grant: Grant, call_id: str) -> None:
        """The token of `grant` opened `call_id`: it may now hang that call up."""
        if grant.token_digest is not None and grant.token_digest in self._tokens:
            self._tokens[grant.token_digest].call_id = call_id

    def authorize_hangup(self, authorization: str | None, call_id: str) -> None:
        """For `DELETE /v1/realtime/calls/{id}`: the key, or the token that opened it."""
        if self._key is None:
            return
        credential = bearer(authorization)
        if credential is None:
            raise _missing()
        if self.is_api_key(credential):
            return
        token = self._tokens.get(_digest(credential))
        if token is None or not token.call_id or not hmac.compare_digest(token.call_id, call_id):
            raise _invalid()

    def call_ended(self, call_id: str) -> None:
        """Forget the binding of a finished call (its token stays spent until it expires)."""
        for token in self._tokens.values():
            if token.call_id == call_id:
                token.call_id = ""

    def _purge(self) -> None:
        now = self._clock()
        for digest in [d for d, t in self._tokens.items() if t.expires_at <= now and not t.call_id]:
            del self._tokens[digest]

    def __len__(self) -> int:
        return len(self._tokens)


def _missing() -> Unauthorized:
    return Unauthorized(
        "this server needs 'Authorization: Bearer <API key or ephemeral token>'",
        code="missing_authorization",
    )


def _invalid() -> Unauthorized:
    return Unauthorized("the API key or ephemeral token is not valid", code="invalid_api_key")
