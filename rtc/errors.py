"""Exceptions of the gateway.

GatewayError                    base; carries an HTTP status and a protocol error code
├── BadRequest (400)            malformed SDP, no media, bad session JSON
├── Unauthorized (401)          no, wrong, expired or reused API key / ephemeral token
├── NotFound (404)              unknown call or conversation
├── PayloadTooLarge (413)
├── UnsupportedMediaType (415)
├── TooManyCalls (429)          call limit reached; has retry_after_s
│   └── RateLimited (429)       too many new calls from one address
└── Unavailable (503)           no new calls here for now; has retry_after_s
    ├── Overloaded              the event loop runs late
    └── ShuttingDown            the server is draining
"""

from __future__ import annotations


class GatewayError(Exception):
    status = 500
    error_type = "server_error"
    retry_after_s: int | None = None

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"type": self.error_type, "code": self.code, "message": self.message}}

    @property
    def headers(self) -> dict[str, str] | None:
        """Extra response headers (Retry-After, WWW-Authenticate)."""
        if self.retry_after_s is None:
            return None
        return {"Retry-After": str(self.retry_after_s)}


class BadRequest(GatewayError):
    status = 400
    error_type = "invalid_request_error"


class Unauthorized(GatewayError):
    status = 401
    error_type = "invalid_request_error"

    @property
    def headers(self) -> dict[str, str] | None:
        return {
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{self.code}"'
        }


class NotFound(GatewayError):
    status = 404
    error_type = "invalid_request_error"


class PayloadTooLarge(GatewayError):
    status = 413
    error_type = "invalid_request_error"


class UnsupportedMediaType(GatewayError):
    status = 415
    error_type = "invalid_request_error"


class TooManyCalls(GatewayError):
    status = 429
    error_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after_s: int, code: str = "too_many_calls") -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class RateLimited(TooManyCalls):
    """Too many new calls from one client address (a token bucket per address)."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, retry_after_s=retry_after_s, code="rate_limit_exceeded")


class Unavailable(GatewayError):
    """503: this server takes no new calls for now; another server, or a retry, may."""

    status = 503
    error_type = "server_error"

    def __init__(self, message: str, *, code: str, retry_after_s: int = 5) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class Overloaded(Unavailable):
    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        super().__init__(message, code="server_overloaded", retry_after_s=retry_after_s)


class ShuttingDown(Unavailable):
    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        super().__init__(message, code="server_shutting_down", retry_after_s=retry_after_s)


class InvalidEvent(Exception):
    """A client event the server cannot act on; answered with an `error` event."""

    def __init__(self, code: str, message: str, event_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.event_id = event_id
