"""The process-wide gateway: the model, the scenarios, the calls, and who may open one.

Both ways in (a WebRTC offer, a Realtime WebSocket) open a call the same way:
`admit` the client (draining, call rate, authentication), then `open` a
conversation (a slot, the session it asks for, its transport's own set-up).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from model.base import OmniModel
from model.embedded.turn_end import TurnEndModel
from model.scenario import ScenarioRegistry
from rtc.auth import Authenticator, Grant
from rtc.config import ServerConfig
from rtc.conversation.apology import Apology
from rtc.conversation.conversation import CallSettings, Conversation, ServerParts
from rtc.conversation.session_config import SessionConfig, SessionRules, merge
from rtc.errors import (
    BadRequest,
    GatewayError,
    InvalidEvent,
    Overloaded,
    RateLimited,
    ShuttingDown,
    Unauthorized,
)
from rtc.events import ServerEvents
from rtc.heap import HeapTrimmer
from rtc.limits import AddressLimiter
from rtc.load import LoopLoad
from rtc.metrics import Metrics
from rtc.records import ConversationStore, recorded_payload
from rtc.registry import Call, CallRegistry
from rtc.vad import SileroVAD

logger = logging.getLogger(__name__)

T = TypeVar("T")


class RecordedCall(Call, Protocol):
    """A call that is not a conversation (a translation session), with its events."""

    events: ServerEvents


S = TypeVar("S", bound=RecordedCall)


def _retry_after(wait: float) -> int:
    """A limiter's wait as a Retry-After: whole seconds, at least 1, at most an hour."""
    return max(1, math.ceil(min(wait, 3600.0)))


class Gateway:
    def __init__(
        self,
        config: ServerConfig,
        model: OmniModel,
        vad: SileroVAD,
        scenarios: ScenarioRegistry,
        metrics: Metrics | None = None,
        *,
        turn_end: TurnEndModel | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.scenarios = scenarios
        self.metrics = metrics or Metrics()
        self.rules = SessionRules(model, scenarios)
        self.parts = ServerParts(
            model=model,
            vad=vad,
            rules=self.rules,
            metrics=self.metrics,
            settings=CallSettings(
                peer_timeout_s=config.peer_timeout_s,
                limits=config.call_limits,
                record_audio=config.record_audio,
            ),
            apology=Apology(),
            turn_end=turn_end,
        )
        self.registry = CallRegistry(self.metrics, config.max_calls)
        self.heap = HeapTrimmer()
        """Gives what ended calls freed back to the OS."""
        self.auth = Authenticator(config.api_key, config.token_ttl_s)
        self.call_rate = AddressLimiter(config.calls_per_minute, config.call_burst)
        self.auth_failure_rate = AddressLimiter(config.calls_per_minute, config.call_burst)
        self.records = (
            ConversationStore(Path(config.data_dir) / "conversations.sqlite3")
            if config.data_dir
            else None
        )
        self.recorded_events = scenarios.recorded_events()
        self.load = LoopLoad()
        """How late the event loop runs (rtc/load.py watches it while the app runs)."""
        self.draining = False
        """Set on SIGTERM: new calls get 503 while the open ones are ended."""

    # -- who may open a call ----------------------------------------------------------
    def admit(self, address: str, authorization: str | None) -> Grant | None:
        """May `address` open a call now with these credentials? GatewayError if not."""
        self._check_capacity()
        self.check_call_rate(address)
        return self.auth.authorize_call(authorization)

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

    # -- opening a call ---------------------------------------------------------------
    def session_for(self, update: Mapping[str, Any] | None) -> SessionConfig:
        """The session a call (or a client secret) asks for, checked; BadRequest if unusable."""
        try:
            return self.rules.open(update)
        except InvalidEvent as exc:
            raise BadRequest(f"session: {exc.message}", code=exc.code) from None

    async def open(
        self,
        id_prefix: str,
        session: Mapping[str, Any] | None,
        grant: Grant | None,
        connect: Callable[[Conversation], Awaitable[T]],
    ) -> tuple[Conversation, T]:
        """A new call: a slot, its session, then `connect` (the transport's own set-up)."""
        self._reserve()
        if grant is not None and grant.session is not None:
            if grant.session.get("type") == "translation":
                self.registry.release_reservation()
                raise Unauthorized(
                    "this ephemeral token is for a translation session "
                    "(/v1/realtime/translations), not a call",
                    code="invalid_api_key",
                )
            # The client secret's session first, then what the offer itself asks for.
            session = merge(grant.session, session or {})
        conversation: Conversation | None = None
        try:
            config = self.session_for(session)
            conversation = Conversation(
                self.parts, config, id_prefix=id_prefix, on_closed=self._call_closed
            )
            connected = await connect(conversation)
        except BaseException as exc:
            self.registry.release_reservation()
            if isinstance(exc, GatewayError):
                self.metrics.calls_rejected.labels(exc.code).inc()
            if conversation is not None:
                await conversation.close("rejected")
            raise
        self._record(conversation.id, conversation.config.scenario, conversation.events)
        self.registry.add(conversation)
        if grant is not None:
            self.auth.bind(grant, conversation.id)
        return conversation, connected

    def open_session(
        self,
        make: Callable[[Callable[[Call], Awaitable[None]]], S],
        grant: Grant | None,
        label: str,
    ) -> S:
        """A call that is not a conversation (a translation session): a slot like any call,
        then the session `make` builds (given what to call once it has ended; GatewayError
        if it cannot be built), its record (`label` in the scenario column), and the token
        that opened it bound to it."""
        self._reserve()
        try:
            call = make(self._call_closed)
        except BaseException as exc:
            self.registry.release_reservation()
            if isinstance(exc, GatewayError):
                self.metrics.calls_rejected.labels(exc.code).inc()
            raise
        self._record(call.id, label, call.events, extra=frozenset({"translation.done"}))
        self.registry.add(call)
        if grant is not None:
            self.auth.bind(grant, call.id)
        return call

    @property
    def overloaded(self) -> bool:
        """New calls are refused: the event loop runs `overload_lag_ms` late (rtc/load.py)."""
        return self.load.overloaded(self.config.overload_lag_ms / 1000)

    def _check_capacity(self) -> None:
        """Refuse a new call now (before its offer is read) if it could not be taken."""
        if self.draining:
            raise ShuttingDown("the server is shutting down; try another server or retry later")
        if self.overloaded:
            self.metrics.limit_hits.labels("overload").inc()
            self.metrics.calls_rejected.labels("server_overloaded").inc()
            raise Overloaded(
                "this server is at the limit of what its CPU can carry (its event loop runs "
                f"{1000 * self.load.typical_lag_s:.0f} ms late); try again shortly or another server"
            )

    def _reserve(self) -> None:
        """A slot for a new call, unless the server is draining, overloaded or full."""
        self._check_capacity()
        try:
            self.registry.reserve()
        except GatewayError:
            self.metrics.limit_hits.labels("max_calls").inc()
            raise

    def _record(
        self, call_id: str, label: str, events: ServerEvents, extra: frozenset[str] = frozenset()
    ) -> None:
        """Keep a record of the call's events (the call id, not the call: the call holds
        this function, so there is no cycle through it)."""
        store = self.records
        if store is None:
            return
        store.call_started(call_id, label)
        kept = self.recorded_events | extra

        def observe(event: dict[str, Any]) -> None:
            data = recorded_payload(event, kept)
            if data is not None:
                self.metrics.records_written.inc()
                store.add(call_id, str(event["type"]), data)

        events.observer = observe

    async def _call_closed(self, call: Call) -> None:
        self.auth.call_ended(call.id)
        if self.records is not None:
            self.records.call_ended(call.id, call.end_reason)
        if self.registry.remove(call):
            self.heap.request()

    async def aclose(self) -> None:
        """End every call (telling each client why), then close the records."""
        self.draining = True
        await asyncio.gather(
            *(call.end_with("server_shutdown") for call in self.registry.everything),
            return_exceptions=True,
        )
        await asyncio.gather(
            *(call.close("server_shutdown") for call in self.registry.everything),
            return_exceptions=True,
        )
        await self.heap.aclose()
        await self.parts.apology.aclose()
        if self.records is not None:
            await self.records.aclose()
