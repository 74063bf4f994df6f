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
from rtc.conversation.carried import CarriedCall
from rtc.conversation.conversation import Conversation
from rtc.conversation.parts import CallSettings, ServerParts
from rtc.conversation.session_config import SessionConfig, SessionRules, merge
from rtc.errors import (
    BadRequest,
    GatewayError,
    InvalidEvent,
    NotFound,
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
from rtc.records import RESUMED_ENTRY, ConversationStore, recorded_payload
from rtc.registry import Call, CallRegistry
from rtc.resume import RESUME_FAILED, RESUMED, HeldCalls, resume_request
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
        self.resumes = HeldCalls(
            config.resume_grace_s, max_held=config.max_calls, on_expired=self._resume_expired
        )
        """Calls whose peer vanished, kept for a while so a new offer may resume them."""
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
        """A new call: a slot, its session, then `connect` (the transport's own set-up).

        A session naming a dropped call (`resume`, rtc/resume.py) goes on with that
        call's conversation, under its id; the rest of the session updates it."""
        if grant is not None and grant.session is not None:
            if grant.session.get("type") == "translation":
                raise Unauthorized(
                    "this ephemeral token is for a translation session "
                    "(/v1/realtime/translations), not a call",
                    code="invalid_api_key",
                )
            # The client secret's session first, then what the offer itself asks for.
            session = merge(grant.session, session or {})
        session, resume_id = resume_request(session)
        resumed = await self._take_over(resume_id) if resume_id is not None else None
        conversation: Conversation | None = None
        try:
            self._reserve()
        except BaseException:
            if resumed is not None:
                self.resumes.keep(resumed)
            raise
        try:
            if resumed is not None:
                config = self._resumed_config(resumed, session)
            else:
                config = self.session_for(session)
            conversation = Conversation(
                self.parts,
                config,
                id_prefix=id_prefix,
                on_closed=self._call_closed,
                resumed=resumed,
                keep=self.resumes.keep,
            )
            connected = await connect(conversation)
        except BaseException as exc:
            self.registry.release_reservation()
            if isinstance(exc, GatewayError):
                self.metrics.calls_rejected.labels(exc.code).inc()
            if conversation is not None:
                # A resumed conversation goes back to be resumed again.
                await conversation.close(RESUME_FAILED if resumed is not None else "rejected")
            elif resumed is not None:
                self.resumes.keep(resumed)
            raise
        self._record(
            conversation.id, conversation.config.scenario, conversation.events, resumed=resumed
        )
        self.registry.add(conversation)
        if resumed is not None:
            self.metrics.calls_resumed.inc()
            logger.info(
                "%sresumed on a new connection (the previous one ended: %s)",
                conversation.log_prefix,
                resumed.end_reason,
            )
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

    # -- resuming a dropped call ---------------------------------------------------------
    async def _take_over(self, call_id: str) -> CarriedCall:
        """The conversation of `call_id` for a new call: kept since its peer vanished, or
        taken from the call itself if it is still open (its peer came back on a new
        connection before the server noticed it had gone)."""
        try:
            live = self.registry.get(call_id)
        except NotFound:
            live = None
        if live is not None:
            await live.close(RESUMED)
        carried = self.resumes.take(call_id)
        if carried is None:
            self.metrics.calls_rejected.labels("call_not_resumable").inc()
            raise NotFound(
                f"no call {call_id!r} to resume: it ended for good, or more than "
                f"{self.resumes.grace_s:g} s ago; start a new call",
                code="call_not_resumable",
            )
        return carried

    def _resumed_config(
        self, resumed: CarriedCall, update: Mapping[str, Any] | None
    ) -> SessionConfig:
        """The resumed call's session, updated with what the new offer asks for."""
        if not update:
            return resumed.config
        try:
            return self.rules.update(resumed.config, update)
        except InvalidEvent as exc:
            raise BadRequest(f"session: {exc.message}", code=exc.code) from None

    def _resume_expired(self, call_id: str) -> None:
        if self.records is not None:
            self.records.forget(call_id)

    def _record(
        self,
        call_id: str,
        label: str,
        events: ServerEvents,
        extra: frozenset[str] = frozenset(),
        *,
        resumed: CarriedCall | None = None,
    ) -> None:
        """Keep a record of the call's events (the call id, not the call: the call holds
        this function, so there is no cycle through it); a resumed call goes on in the
        record of the call it resumes."""
        store = self.records
        if store is None:
            return
        if resumed is not None:
            store.call_resumed(call_id)
            store.add(call_id, RESUMED_ENTRY, {"after": resumed.end_reason})
        else:
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
            kept = self.resumes.holds(call.id)
            self.records.call_ended(call.id, call.end_reason, resumable=kept)
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
        await self.resumes.aclose()
        await self.heap.aclose()
        await self.parts.apology.aclose()
        if self.records is not None:
            await self.records.aclose()
