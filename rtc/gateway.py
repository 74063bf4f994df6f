"""The process-wide gateway state: model, VAD, calls, metrics."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiortc import RTCIceServer

from model.base import OmniModel
from model.scenario import Scenario
from rtc.auth import Authenticator, Grant
from rtc.call import Call, CallSettings
from rtc.call_base import BaseCall
from rtc.config import ServerConfig
from rtc.errors import GatewayError, Overloaded, RateLimited, ShuttingDown, Unauthorized
from rtc.limits import AddressLimiter
from rtc.load import LoopLoad
from rtc.metrics import Metrics
from rtc.records import ConversationStore, recorded_payload
from rtc.registry import CallRegistry
from rtc.session import merge
from rtc.vad import SileroVAD
from rtc.ws_call import WebSocketCall

logger = logging.getLogger(__name__)


def _retry_after(wait: float) -> int:
    """A limiter's wait as a Retry-After: whole seconds, at least 1, at most an hour."""
    return max(1, math.ceil(min(wait, 3600.0)))


def parse_ice_server(url: str) -> RTCIceServer:
    """`turn:user:pass@host:port` (credentials optional) -> RTCIceServer."""
    scheme, _, rest = url.partition(":")
    if scheme not in ("stun", "turn", "turns"):
        raise ValueError(f"ICE server URL must start with stun:, turn: or turns:, got {url!r}")
    if "@" in rest:
        creds, host = rest.rsplit("@", 1)
        user, _, password = creds.partition(":")
        return RTCIceServer(urls=f"{scheme}:{host}", username=user, credential=password)
    return RTCIceServer(urls=url)


class Gateway:
    def __init__(
        self,
        config: ServerConfig,
        model: OmniModel,
        vad: SileroVAD,
        scenarios: Mapping[str, type[Scenario]],
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.vad = vad
        self.scenarios = dict(scenarios)
        self.metrics = metrics or Metrics()
        self.registry = CallRegistry(self.metrics, config.max_calls)
        self.call_settings = CallSettings(
            ice_servers=[parse_ice_server(u) for u in config.ice_servers],
            peer_timeout_s=config.peer_timeout_s,
            limits=config.call_limits,
            record_audio=config.record_audio,
        )
        self.auth = Authenticator(config.api_key, config.token_ttl_s)
        self.call_rate = AddressLimiter(config.calls_per_minute, config.call_burst)
        self.auth_failure_rate = AddressLimiter(config.calls_per_minute, config.call_burst)
        self.records = (
            ConversationStore(Path(config.data_dir) / "conversations.sqlite3")
            if config.data_dir
            else None
        )
        self.load = LoopLoad()
        """How late the event loop runs (rtc/load.py watches it while the app runs)."""
        self.draining = False
        """Set on SIGTERM: new calls get 503 while the open ones are ended."""

    def check_call_rate(self, address: str) -> None:
        """Raise RateLimited when `address` opens calls faster than allowed."""
        wait = self.call_rate.take(address)
        if wait > 0:
            self.metrics.limit_hits.labels("call_rate").inc()
            self.metrics.calls_rejected.labels("rate_limit_exceeded").inc()
            raise RateLimited(
                f"too many new calls from this address (limit {self.config.calls_per_minute:g} "
                "a minute); try again later",
                retry_after_s=_retry_after(wait),
            )

    @contextmanager
    def auth_attempt(self, address: str) -> Iterator[None]:
        """Throttle failed authentications per client address.

        Refusals count against the address's own budget (as many as it may open
        calls), so nobody can guess a key or token at the speed of the network.
        """
        try:
            yield
        except Unauthorized:
            wait = self.auth_failure_rate.take(address)
            if wait > 0:
                self.metrics.limit_hits.labels("auth_failures").inc()
                raise RateLimited(
                    "too many failed authentications from this address; try again later",
                    retry_after_s=_retry_after(wait),
                ) from None
            raise

    async def open_call(
        self, sdp: str, session: Mapping[str, Any] | None, grant: Grant | None = None
    ) -> Call:
        self._reserve()
        if grant is not None and grant.session is not None:
            # The client secret's session first, then what the offer itself asks for.
            session = merge(grant.session, session or {})
        call: Call | None = None
        try:
            call = Call(**self._call_parts())
            await call.accept(sdp, session)
        except BaseException as exc:
            self.registry.release_reservation()
            if isinstance(exc, GatewayError):
                self.metrics.calls_rejected.labels(exc.code).inc()
            if call is not None:
                await call.close("rejected")
            raise
        self._admitted(call, grant)
        return call

    def open_websocket_call(
        self, session: Mapping[str, Any] | None, grant: Grant | None = None
    ) -> WebSocketCall:
        """A Realtime WebSocket session, counted and limited like a WebRTC call."""
        self._reserve()
        if grant is not None and grant.session is not None:
            session = merge(grant.session, session or {})
        try:
            call = WebSocketCall(**self._call_parts())
            call.open(session)
        except BaseException as exc:
            self.registry.release_reservation()
            if isinstance(exc, GatewayError):
                self.metrics.calls_rejected.labels(exc.code).inc()
            raise
        self._admitted(call, grant)
        return call

    @property
    def overloaded(self) -> bool:
        """New calls are refused: the event loop runs `overload_lag_ms` late (rtc/load.py)."""
        return self.load.overloaded(self.config.overload_lag_ms / 1000)

    def _reserve(self) -> None:
        """A slot for a new call, unless the server is draining, overloaded or full."""
        if self.draining:
            raise ShuttingDown("the server is shutting down; try another server or retry later")
        if self.overloaded:
            self.metrics.limit_hits.labels("overload").inc()
            self.metrics.calls_rejected.labels("server_overloaded").inc()
            raise Overloaded(
                "this server is at the limit of what its CPU can carry (its event loop runs "
                f"{1000 * self.load.typical_lag_s:.0f} ms late); try again shortly or another server"
            )
        try:
            self.registry.reserve()
        except GatewayError:
            self.metrics.limit_hits.labels("max_calls").inc()
            raise

    def _call_parts(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "vad": self.vad,
            "scenarios": self.scenarios,
            "metrics": self.metrics,
            "settings": self.call_settings,
            "on_closed": self._call_closed,
        }

    def _admitted(self, call: BaseCall, grant: Grant | None) -> None:
        self._record(call)
        self.registry.add(call)
        if grant is not None:
            self.auth.bind(grant, call.id)

    def _record(self, call: BaseCall) -> None:
        store = self.records
        if store is None:
            return
        call_id = call.id  # not the call: the call holds this function (no cycle through it)
        store.call_started(call_id, call.session_config.get("scenario"))

        def observe(event: dict[str, Any]) -> None:
            data = recorded_payload(event)
            if data is not None:
                self.metrics.records_written.inc()
                store.add(call_id, str(event["type"]), data)

        call.sender.observer = observe

    async def _call_closed(self, call: BaseCall) -> None:
        self.auth.call_ended(call.id)
        if self.records is not None:
            self.records.call_ended(call.id, call.end_reason)
        await self.registry.remove(call)

    async def aclose(self) -> None:
        """End every call (telling each client why), then close the records."""
        self.draining = True
        await asyncio.gather(
            *(call.end_with("server_shutdown") for call in self.registry.calls),
            return_exceptions=True,
        )
        await self.registry.close_all()
        if self.records is not None:
            await self.records.aclose()
