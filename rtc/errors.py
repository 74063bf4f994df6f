"""Exceptions of the gateway.

GatewayError                    base; carries an HTTP status and a protocol error code
├── BadRequest (400)            malformed SDP, no media, bad session JSON
├── NotFound (404)              unknown call
├── PayloadTooLarge (413)
├── UnsupportedMediaType (415)
└── TooManyCalls (429)          call limit reached; has retry_after_s
"""

from __future__ import annotations


class GatewayError(Exception):
    status = 500
    error_type = "server_error"

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"type": self.error_type, "code": self.code, "message": self.message}}


class BadRequest(GatewayError):
    status = 400
    error_type = "invalid_request_error"


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

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, code="too_many_calls")
        self.retry_after_s = retry_after_s


class InvalidEvent(Exception):
    """A client event the server cannot act on; answered with an `error` event."""

    def __init__(self, code: str, message: str, event_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.event_id = event_id
