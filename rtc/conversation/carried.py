"""What a dropped call hands to the call that resumes it.

A phone that switches from Wi-Fi to LTE drops its WebRTC connection (aiortc cannot
restart ICE), and the call ends by timeout. What the conversation had built up is
not in the connection: it is the session config, the scenario object (the tutor's
problem and step, the explainer's scoreboard, the interpreter's pair) and the model
session (its conversation items). So a call that ended because its peer vanished
leaves exactly those, as they are, and a new `Conversation` under the same call id
takes them over (rtc/resume.py keeps them for the grace period). Nothing is
serialised: the objects never stop existing, only the per-connection parts (turn
detection, playout, responses, camera sampler) are made afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.base import OmniSession
from model.scenario import Scenario
from rtc.conversation.session_config import SessionConfig


@dataclass
class CarriedCall:
    call_id: str
    created_at: float
    """When the call first started (monotonic): limits and camera timestamps go on from it."""
    config: SessionConfig
    scenario: Scenario | None
    model_session: OmniSession
    end_reason: str
    """Why the connection that carried it last ended."""

    async def aclose(self) -> None:
        """Nobody resumed it: release what the call had (as its own close would have)."""
        if self.scenario is not None:
            await self.scenario.aclose()
        await self.model_session.aclose()
