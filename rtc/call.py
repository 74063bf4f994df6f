"""A WebRTC call: one peer connection, its media tracks and the `oai-events` data channel.

Everything that is not WebRTC (session, scenario, turns, answers, events, limits) is
shared with the WebSocket transport in `rtc.call_base.BaseCall`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import OperationError
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcdatachannel import RTCDataChannel

from rtc import events as ev
from rtc import tuning
from rtc.call_base import BaseCall, CallSettings
from rtc.errors import BadRequest
from rtc.media_in import AudioInput, drain_video

__all__ = ["EVENTS_CHANNEL", "BaseCall", "Call", "CallSettings"]

tuning.apply()

logger = logging.getLogger(__name__)

EVENTS_CHANNEL = "oai-events"


class Call(BaseCall):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        settings: CallSettings = kwargs["settings"]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=settings.ice_servers or None))
        self._audio_inputs: list[AudioInput] = []
        self._channel: RTCDataChannel | None = None

    # -- set-up --------------------------------------------------------------------
    async def accept(self, offer_sdp: str, session_update: Mapping[str, Any] | None) -> str:
        """Apply the offer and return the answer SDP (after ICE gathering)."""
        _check_offer(offer_sdp)
        kinds = _media_kinds(offer_sdp)
        if not kinds & {"audio", "video"}:
            raise BadRequest("the offer has neither an audio nor a video m-line", code="no_media")
        self._initial_session(session_update)

        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_connection_state)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except OperationError as exc:  # aiortc's word for "no codec in common" on an m-line
            raise BadRequest(
                f"{exc}: no codec in common (audio: Opus, G.722, PCMU, PCMA; video: VP8, H.264)",
                code="unsupported_codec",
            ) from None
        except Exception as exc:  # whatever aiortc trips on in an offer is the offer's fault
            logger.info("%srefused offer", self._log, exc_info=True)
            raise BadRequest(
                f"invalid SDP offer: {exc or type(exc).__name__}", code="invalid_sdp"
            ) from None
        if "audio" in kinds:
            # Attaches to the offer's audio transceiver, so the answer is sendrecv.
            self.pc.addTrack(self.output)
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        self._spawn(self._watchdog(), "watchdog")
        self._spawn(self.camera.run(), "camera sampler")
        logger.info(
            "%saccepted: media=%s scenario=%s",
            self._log,
            sorted(kinds),
            self.session_config["scenario"],
        )
        return str(self.pc.localDescription.sdp)

    # -- media ---------------------------------------------------------------------
    def _on_track(self, track: MediaStreamTrack) -> None:
        logger.info("%sremote %s track", self._log, track.kind)
        if track.kind == "audio":
            audio = AudioInput(track)
            self._audio_inputs.append(audio)
            self._spawn(self._listen(audio.chunks()), "audio in")
        elif track.kind == "video":
            self._spawn(drain_video(track, self.latest_video), "video in")

    def _media_at(self) -> float:
        return max(
            [self.latest_video.last_frame_at, *(a.last_frame_at for a in self._audio_inputs)]
        )

    # -- events --------------------------------------------------------------------
    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL:
            logger.info("%signoring data channel %r", self._log, channel.label)
            return
        self._channel = channel
        self.sender.attach(channel.send)
        channel.on("message", self._on_message)
        channel.on("close", lambda: self.sender.attach(None))
        self.sender.emit(ev.SESSION_CREATED, {"session": self.session_config})

    # -- lifetime ------------------------------------------------------------------
    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        logger.info("%sconnection %s", self._log, state)
        if state in ("failed", "closed"):
            self.close(f"peer_{state}")

    async def _flush_events(self) -> None:
        channel = self._channel
        for _ in range(100):  # let it leave before the transport closes (at most ~1 s)
            if channel is None or channel.readyState != "open" or not channel.bufferedAmount:
                break
            await asyncio.sleep(0.01)

    async def _close_transport(self) -> None:
        await self.pc.close()
        self._audio_inputs.clear()
        # aiortc's objects form cycles of their own; they must not hold this call too.
        self.pc.remove_all_listeners()
        if self._channel is not None:
            self._channel.remove_all_listeners()


def _check_offer(sdp: str) -> None:
    """What aiortc would accept but could never connect: say so now, precisely."""
    for attribute, meaning in (
        ("a=ice-ufrag:", "ICE username fragment"),
        ("a=ice-pwd:", "ICE password"),
        ("a=fingerprint:", "DTLS fingerprint"),
    ):
        if attribute not in sdp:
            raise BadRequest(
                f"invalid SDP offer: no {meaning} ({attribute[:-1]})", code="invalid_sdp"
            )


def _media_kinds(sdp: str) -> set[str]:
    return {line[2:].split(" ", 1)[0] for line in sdp.splitlines() if line.startswith("m=")}
