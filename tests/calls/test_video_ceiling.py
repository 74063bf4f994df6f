"""The camera is asked for only what the scenario samples: the SDP answer, REMB feedback on
the camera's RTCP and `session.video.ceiling`, followed when the scenario changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

from clients.python.client import CallClient, StillImageTrack
from rtc.conversation.video_ceiling import CALL_BOUND, REMB_FLOOR, ceiling_for
from tests.conftest import Server

TUTOR = ceiling_for(1.0)
EXPLAINER = ceiling_for(6.0)


class RembLog:
    """Every REMB the phone's camera sender receives, naming it, with a wake-up."""

    def __init__(self, sender: RTCRtpSender) -> None:
        self.bitrates: list[int] = []
        self._changed = asyncio.Event()
        handle = sender._handle_rtcp_packet
        ssrc = sender._ssrc

        async def spy(packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                if ssrc in ssrcs:
                    self.bitrates.append(bitrate)
                    self._changed.set()
            await handle(packet)

        sender._handle_rtcp_packet = spy  # type: ignore[method-assign]

    async def wait_for(self, bitrate: int, timeout: float = 15.0) -> int:
        """The index of the first REMB of `bitrate` (waits for it)."""

        async def find() -> int:
            while bitrate not in self.bitrates:
                self._changed.clear()
                await self._changed.wait()
            return self.bitrates.index(bitrate)

        return await asyncio.wait_for(find(), timeout)

    async def more(self, count: int, timeout: float = 15.0) -> None:
        wanted = len(self.bitrates) + count

        async def grow() -> None:
            while len(self.bitrates) < wanted:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(grow(), timeout)


class NoisyCamera(StillImageTrack):
    """A camera whose every frame is new noise: the encoder sends all it is allowed."""

    def __init__(self) -> None:
        super().__init__(np.zeros((240, 320, 3), dtype=np.uint8), fps=15)
        self._rng = np.random.default_rng(0)

    async def recv(self) -> av.VideoFrame:
        self.rgb = self._rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        return await super().recv()


def _video_section(sdp: str) -> list[str]:
    lines = sdp.split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("m=video"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")), len(lines))
    return lines[start:end]


async def test_the_camera_is_asked_for_what_the_scenario_samples(
    make_tone_server: Callable[..., Server],
) -> None:
    server = make_tone_server()
    async with CallClient(server.http, session={"scenario": "tutor"}, video=NoisyCamera()) as call:
        sender = next(t.sender for t in call.pc.getTransceivers() if t.kind == "video")
        remb = RembLog(sender)
        created = await call.wait_for("session.created")
        assert created["session"]["video"]["ceiling"] == TUTOR.as_json()
        assert TUTOR.fps == 2.0 and TUTOR.bitrate < EXPLAINER.bitrate < CALL_BOUND.bitrate

        # The answer bounds the whole call and names the opening scenario's frame rate.
        assert call.answer_sdp is not None
        video = _video_section(call.answer_sdp)
        assert f"b=AS:{CALL_BOUND.bitrate // 1000}" in video
        assert f"b=TIAS:{CALL_BOUND.bitrate}" in video
        assert "a=framerate:2" in video
        assert video.index(f"b=AS:{CALL_BOUND.bitrate // 1000}") > next(
            i for i, line in enumerate(video) if line.startswith("c=")
        )

        # REMB carries the tutor's ceiling (or the link's estimate, when lower), never
        # more, though the noise would fill megabits on loopback.
        await remb.wait_for(TUTOR.bitrate)
        await remb.more(3)
        assert max(remb.bitrates) == TUTOR.bitrate, remb.bitrates

        # The interpreter samples no video: the ceiling drops to none, REMB to the floor.
        await _switch(call, "interpreter", {"max_fps": 0.0, "max_bitrate": 0})
        first = await remb.wait_for(REMB_FLOOR)
        await remb.more(3)
        assert max(remb.bitrates[first:]) == REMB_FLOOR, remb.bitrates

        # The explainer needs motion: it gets more.
        await _switch(call, "explainer", {"max_fps": EXPLAINER.fps})
        first = len(remb.bitrates)
        await remb.more(4)
        raised = remb.bitrates[first + 1 :]
        assert REMB_FLOOR < max(raised) <= EXPLAINER.bitrate, remb.bitrates

        # A client echoing a session back cannot set the ceiling: it is the server's.
        mark = len(call.events)
        call.send({"type": "session.update", "session": {"video": {"ceiling": {"max_fps": 30}}}})
        updated = await call.wait_for("session.updated", after=mark)
        assert updated["session"]["video"]["ceiling"] == EXPLAINER.as_json()
        assert not call.of_type("error")


async def _switch(call: CallClient, scenario: str, expected: dict[str, float]) -> None:
    mark = len(call.events)
    call.send({"type": "session.update", "session": {"scenario": scenario}})
    updated = await call.wait_for("session.updated", after=mark)
    ceiling = updated["session"]["video"]["ceiling"]
    assert {key: ceiling[key] for key in expected} == expected, ceiling
