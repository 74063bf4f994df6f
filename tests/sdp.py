"""Offers for signaling tests: made by a real aiortc peer connection, then edited."""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack


async def make_offer(
    *, audio: bool = True, video: bool = False, channel: bool = True
) -> tuple[RTCPeerConnection, str]:
    """A peer connection and its offer (close the connection when done)."""
    pc = RTCPeerConnection()
    if audio:
        pc.addTransceiver(AudioStreamTrack(), direction="sendrecv")
    if video:
        pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    if channel:
        pc.createDataChannel("oai-events")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


def assert_error(response: object, status: int, code: str) -> None:
    """An error answer with the contract's JSON shape and the expected code."""
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) >= {"type", "code", "message"}
    assert body["error"]["code"] == code, body


SDP = {"Content-Type": "application/sdp"}
