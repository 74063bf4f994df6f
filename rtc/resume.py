"""Dropped calls, kept for a grace period so that a new call can go on with them.

A phone that changes networks loses its peer connection (aiortc cannot restart
ICE), and the call ends by peer timeout. Its conversation (session, scenario,
model session: see rtc/conversation/carried.py) is kept here for `grace_s`; a new
offer whose session names the call (`"resume": "rtc_..."`; or the URL, `POST
/v1/realtime/calls?resume=rtc_...`, which load balancers can route on) goes on with
it under the same call id. A resume may also arrive while the old call is still open (the
phone noticed before the server did): the old connection is then ended with reason
`resumed` and its conversation handed over the same way.

Only calls whose peer vanished are kept (`RESUMABLE`); a hang-up, a limit or a
shutdown ends the conversation for good. What is not resumed in time is closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from rtc.conversation.carried import CarriedCall
from rtc.errors import BadRequest

logger = logging.getLogger(__name__)

#: The session field naming the call to resume (ours; never stored in the session).
RESUME_FIELD: Final = "resume"
#: The end reason of a call whose conversation a resume took over while it was open.
RESUMED: Final = "resumed"
#: The end reason of a resumed conversation whose new connection could not be set up:
#: it goes back to be resumed again.
RESUME_FAILED: Final = "resume_failed"
#: Endings that leave the conversation to be resumed: the peer vanished (no DELETE,
#: no close), or came back on a new connection.
RESUMABLE: Final = frozenset({"peer_timeout", "peer_failed", RESUMED, RESUME_FAILED})
DEFAULT_GRACE_S: Final = 60.0


def with_query(session: Mapping[str, Any] | None, query: str | None) -> Mapping[str, Any] | None:
    """The offer's session with the `?resume=` query parameter folded in: a load balancer
    can route on the query (deploy/haproxy.cfg), not inside a multipart body, and a
    client that posts bare SDP has no session to put the field in."""
    if not query:
        return session
    named = (session or {}).get(RESUME_FIELD)
    if named is not None and named != query:
        raise BadRequest(
            "the 'resume' query parameter and the session's 'resume' name different calls",
            code="invalid_session",
        )
    return {**(session or {}), RESUME_FIELD: query}


def resume_request(
    session: Mapping[str, Any] | None,
) -> tuple[Mapping[str, Any] | None, str | None]:
    """Split an offer's session into the session proper and the call it resumes."""
    if session is None or RESUME_FIELD not in session:
        return session, None
    call_id = session[RESUME_FIELD]
    rest = {k: v for k, v in session.items() if k != RESUME_FIELD}
    if call_id is None:
        return rest, None
    if not isinstance(call_id, str) or not call_id or len(call_id) > 100:
        raise BadRequest(
            "'resume' must be the id of the call to resume (rtc_...)", code="invalid_session"
        )
    return rest, call_id


@dataclass
class _Held:
    call: CarriedCall
    timer: asyncio.TimerHandle | None


class HeldCalls:
    """The dropped calls of this process that may still be resumed."""

    def __init__(
        self,
        grace_s: float = DEFAULT_GRACE_S,
        *,
        max_held: int = 64,
        on_expired: Callable[[str], None] | None = None,
    ) -> None:
        self.grace_s = grace_s
        self._max_held = max(1, max_held)
        self._on_expired = on_expired
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._held)

    def holds(self, call_id: str) -> bool:
        return call_id in self._held

    def keep(self, call: CarriedCall) -> bool:
        """A call ended: keep its conversation if its ending allows a resume."""
        if self.grace_s <= 0 or call.end_reason not in RESUMABLE:
            return False
        self._drop(call.call_id)
        while len(self._held) >= self._max_held:  # the oldest goes first
            oldest = next(iter(self._held))
            logger.info("[%s] resume: no room to keep it any longer", oldest)
            self._expire(oldest)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.grace_s, self._expire, call.call_id)
        self._held[call.call_id] = _Held(call, timer)
        logger.info(
            "[%s] kept for %.0fs after %s: a new call may resume it",
            call.call_id,
            self.grace_s,
            call.end_reason,
        )
        return True

    def take(self, call_id: str) -> CarriedCall | None:
        """The kept conversation of `call_id`, now the resuming call's; None if none."""
        held = self._held.pop(call_id, None)
        if held is None:
            return None
        if held.timer is not None:
            held.timer.cancel()
        return held.call

    def _drop(self, call_id: str) -> None:
        held = self._held.pop(call_id, None)
        if held is not None and held.timer is not None:
            held.timer.cancel()

    def _expire(self, call_id: str) -> None:
        held = self._held.pop(call_id, None)
        if held is None:
            return
        if held.timer is not None:
            held.timer.cancel()
        logger.info("[%s] not resumed in time: its conversation is closed", call_id)
        task = asyncio.get_running_loop().create_task(held.call.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        if self._on_expired is not None:
            self._on_expired(call_id)

    async def aclose(self) -> None:
        """Close every kept conversation (the server is stopping)."""
        for call_id in list(self._held):
            self._expire(call_id)
        await asyncio.gather(*self._closing, return_exceptions=True)
