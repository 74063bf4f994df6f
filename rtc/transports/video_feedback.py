"""The call's video ceiling (rtc/conversation/video_ceiling.py) on the WebRTC wire.

Two places carry it: the SDP answer, once (`b=AS` and `b=TIAS`: the most any
scenario may ask for during the call, as SDP is not renegotiated; `a=framerate`:
what the opening scenario wants), and REMB on the camera's RTCP, every second
(the current ceiling, or the link's estimate when that is lower: browsers take
REMB as the top of their own bandwidth estimate, so a scenario change lowers or
raises what they send within a second).

aiortc sends REMB of its own from its bandwidth estimator (on loopback, megabits):
that estimator is wrapped so what it sends never exceeds the ceiling either.
aiortc exposes neither the estimator nor the receiver's RTCP SSRC publicly; both
are reached once, here, and checked so an aiortc upgrade fails loudly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpTransceiver
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci

from rtc.conversation.video_ceiling import VideoCeiling

logger = logging.getLogger(__name__)

PERIOD_S = 1.0
_ESTIMATOR = "_RTCRtpReceiver__remote_bitrate_estimator"


def answer_with_ceiling(sdp: str, opening: VideoCeiling, bound: VideoCeiling) -> str:
    """`sdp` (an answer) with the ceiling on its video section, if it has one."""
    lines = sdp.split("\r\n")
    out: list[str] = []
    in_video = False
    for line in lines:
        if line.startswith("m="):
            if in_video:
                out.append(_framerate(opening))
            in_video = line.startswith("m=video")
        out.append(line)
        if in_video and line.startswith("c="):
            # Bandwidth lines follow the connection line (RFC 8866 section 5 order).
            out.append(f"b=AS:{bound.bitrate // 1000}")
            out.append(f"b=TIAS:{bound.bitrate}")
    if in_video:
        end = len(out) - 1 if out and out[-1] == "" else len(out)
        out.insert(end, _framerate(opening))
    return "\r\n".join(out)


def _framerate(ceiling: VideoCeiling) -> str:
    # `a=framerate` has no way to say "none"; no video is said by REMB and the session.
    return f"a=framerate:{max(ceiling.fps, 1.0):g}"


class _CappedEstimator:
    """aiortc's RemoteBitrateEstimator, its REMB never above the ceiling."""

    def __init__(self, inner: Any, ceiling: Callable[[], VideoCeiling]) -> None:
        self._inner = inner
        self._ceiling = ceiling
        self.estimate: int | None = None
        """What the link was last estimated to carry (None: not estimated yet)."""

    def add(self, **packet: Any) -> tuple[int, list[int]] | None:
        remb: tuple[int, list[int]] | None = self._inner.add(**packet)
        if remb is None:
            return None
        bitrate, ssrcs = remb
        self.estimate = bitrate
        return min(bitrate, self._ceiling().feedback_bitrate), ssrcs


class CeilingFeedback:
    """REMB with the call's current video ceiling to the sender of one video track."""

    def __init__(self, transceiver: RTCRtpTransceiver, ceiling: Callable[[], VideoCeiling]) -> None:
        self.receiver: RTCRtpReceiver = transceiver.receiver
        self._rtcp_ssrc: int = transceiver.sender._ssrc
        self._ceiling = ceiling
        self.sent: list[int] = []
        """The bitrates sent so far (the last few), for tests and logs."""
        inner = getattr(self.receiver, _ESTIMATOR, None)
        if inner is None or not hasattr(inner, "add"):
            raise RuntimeError(f"aiortc's RTCRtpReceiver has no {_ESTIMATOR}: revisit {__name__}")
        self._estimator = _CappedEstimator(inner, ceiling)
        setattr(self.receiver, _ESTIMATOR, self._estimator)

    def bitrate(self) -> int:
        """The ceiling, or the link's estimate when that is lower: this REMB only ever
        lowers what the sender may send, never lifts it above what the link carries."""
        ceiling = self._ceiling().feedback_bitrate
        estimate = self._estimator.estimate
        return ceiling if estimate is None else min(ceiling, estimate)

    async def run(self) -> None:
        while True:
            sources = [s.source for s in self.receiver.getSynchronizationSources()]
            if sources:
                await self.send(self.bitrate(), sources)
            await asyncio.sleep(PERIOD_S)

    async def send(self, bitrate: int, sources: list[int]) -> None:
        packet = RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP,
            ssrc=self._rtcp_ssrc,
            media_ssrc=0,
            fci=pack_remb_fci(bitrate, sources),
        )
        await self.receiver._send_rtcp(packet)
        self.sent = [*self.sent[-9:], bitrate]
