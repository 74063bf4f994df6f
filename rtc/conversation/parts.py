"""What a conversation takes from its server: shared by every call, loaded once."""

from __future__ import annotations

from dataclasses import dataclass, field

from model.base import OmniModel
from model.embedded.turn_end import TurnEndModel
from rtc.conversation.apology import Apology
from rtc.conversation.session_config import SessionRules
from rtc.limits import CallLimits
from rtc.metrics import Metrics
from rtc.vad import SileroVAD


@dataclass
class CallSettings:
    """What every call of a server shares (from its command line)."""

    peer_timeout_s: float = 10.0
    """No media and no events for this long (and no open socket): the peer is gone."""
    limits: CallLimits = field(default_factory=CallLimits)
    record_audio: bool = False
    """The conversation record keeps the user's speech too."""


@dataclass
class ServerParts:
    """What a conversation takes from its server: shared, loaded once per process."""

    model: OmniModel
    vad: SileroVAD
    rules: SessionRules
    metrics: Metrics
    settings: CallSettings
    apology: Apology
    turn_end: TurnEndModel | None = None
    """The end-of-turn model (Smart Turn); None: the words alone end semantic turns."""
