"""WebRTC: one peer connection carries a conversation.

The microphone track is drained frame by frame into `conversation.hear`, the camera
track into `conversation.video` (newest frame wins), the `oai-events` data channel
into `conversation.receive` and back out as the conversation's events; the
conversation's playout goes out as an Opus track. The camera is asked for no more
than the call samples (video_feedback.py).
"""

from __future__ import annotations

import asyncio
import logging

import av
import numpy as np
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import OperationError
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdatachannel import RTCDataChannel
from numpy.typing import NDArray

from rtc.conversation.conversation import Conversation
from rtc.conversation.video_ceiling import CALL_BOUND, VideoCeiling
from rtc.errors import BadRequest
from rtc.offer import Offer
from rtc.transports import tuning
from rtc.transports.opus_track import OpusTrack
from rtc.transports.video_feedback import CeilingFeedback, answer_with_ceiling

tuning.apply()

logger = logging.getLogger(__name__)

EVENTS_CHANNEL = "oai-events"


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


class WebRTCTransport:
    kind = "webrtc"
    id_prefix = "rtc"
    audio_in_events = False

    def __init__(self, conversation: Conversation, ice_servers: list[str]) -> None:
        self.conversation = conversation
        servers = [parse_ice_server(u) for u in ice_servers]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers or None))
        self._channel: RTCDataChannel | None = None
        self._log = conversation.log_prefix

    async def accept(self, offer: Offer) -> str:
        """Apply the offer and return the answer SDP (after ICE gathering)."""
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_connection_state)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
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
        if "audio" in offer.kinds:
            # Attaches to the offer's audio transceiver, so the answer is sendrecv.
            self.pc.addTrack(OpusTrack(self.conversation.playout))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.conversation.start(self)
        logger.info("%smedia: %s", self._log, sorted(offer.kinds))
        opening = self.conversation.config.video_ceiling
        return answer_with_ceiling(str(self.pc.localDescription.sdp), opening, CALL_BOUND)

    # -- media in ------------------------------------------------------------------
    def _on_track(self, track: MediaStreamTrack) -> None:
        logger.info("%sremote %s track", self._log, track.kind)
        if track.kind == "audio":
            self.conversation.spawn(self._hear(track), "audio in")
        elif track.kind == "video":
            self.conversation.spawn(self._watch(track), "video in")
            transceiver = next(t for t in self.pc.getTransceivers() if t.receiver.track is track)
            feedback = CeilingFeedback(transceiver, self._video_ceiling)
            self.conversation.spawn(feedback.run(), "video ceiling")

    async def _hear(self, track: MediaStreamTrack) -> None:
        """Every frame of the microphone, as it arrives, to the conversation."""
        conversation = self.conversation
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.AudioFrame):
                await conversation.hear(mono_int16(frame), frame.sample_rate)

    async def _watch(self, track: MediaStreamTrack) -> None:
        """Receive every camera frame so aiortc's queue never grows; keep only the newest."""
        video = self.conversation.video
        counted = self.conversation.metrics.video_frames
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.VideoFrame):
                video.put(frame)
                counted.inc()

    def _video_ceiling(self) -> VideoCeiling:
        return self.conversation.config.video_ceiling

    # -- events --------------------------------------------------------------------
    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL:
            logger.info("%signoring data channel %r", self._log, channel.label)
            return
        self._channel = channel
        detach = self.conversation.attach(lambda _event, text: channel.send(text))
        channel.on("message", self.conversation.receive)
        channel.on("close", detach)

    # -- lifetime ------------------------------------------------------------------
    def connected(self) -> bool:
        return False  # aiortc says nothing of a peer that vanished: media and events do

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        logger.info("%sconnection %s", self._log, state)
        if state in ("failed", "closed"):
            self.conversation.close(f"peer_{state}")

    async def flush(self) -> None:
        channel = self._channel
        for _ in range(100):  # let it leave before the transport closes (at most ~1 s)
            if channel is None or channel.readyState != "open" or not channel.bufferedAmount:
                break
            await asyncio.sleep(0.01)

    async def close(self, reason: str) -> None:
        await self.pc.close()
        # aiortc's objects form cycles of their own; they must not hold this call too.
        self.pc.remove_all_listeners()
        if self._channel is not None:
            self._channel.remove_all_listeners()


def mono_int16(frame: av.AudioFrame) -> NDArray[np.int16]:
    """A decoded audio frame as mono int16 at its own rate (aiortc decodes to s16)."""
    channels = len(frame.layout.channels)
    data = frame.to_ndarray()
    # Packed formats: one row, the channels interleaved; planar: a row per channel.
    pcm = data.T if frame.format.is_planar else data.reshape(-1, channels)
    if pcm.dtype != np.int16:
        pcm = np.clip(pcm * 32768.0, -32768, 32767)
    mono = pcm[:, 0] if channels == 1 else pcm.mean(axis=1)
    out: NDArray[np.int16] = np.ascontiguousarray(mono, dtype=np.int16)
    return out
