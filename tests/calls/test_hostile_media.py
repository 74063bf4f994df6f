"""Odd media from a phone: each works or gets a clear error, and a healthy call beside it
keeps working throughout."""

from __future__ import annotations

import fractions
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import av
import numpy as np
import pytest

from clients.python.client import CallClient, ScriptedAudioTrack, StillImageTrack
from tests.conftest import Clips, Server, wait_until
from tests.sdp import SDP, assert_error, make_offer


@asynccontextmanager
async def healthy_call_beside(server: Server) -> AsyncIterator[CallClient]:
    """A well-behaved interpreter call that must be untouched by whatever happens next."""
    async with CallClient(server.http, session={"scenario": "interpreter"}) as call:
        await call.wait_for("session.created")
        yield call
        mark = len(call.events)
        call.send_text("Good morning.")
        done = await call.wait_for("response.done", after=mark, timeout=60)
        assert done["response"]["status"] == "completed"
        assert call.of_type("translation.done")
        assert call.pc.connectionState == "connected"


class StereoMic(ScriptedAudioTrack):
    """Speech on the left channel, the same at half level on the right."""

    async def recv(self) -> av.AudioFrame:
        mono = await super().recv()
        left = mono.to_ndarray().reshape(-1)
        stereo = np.stack([left, left // 2], axis=1).reshape(1, -1).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = mono.sample_rate, mono.pts, mono.time_base
        return frame


class NarrowbandMic(ScriptedAudioTrack):
    """An 8 kHz microphone (a telephone line): 160 samples per 20 ms frame."""

    async def recv(self) -> av.AudioFrame:
        wide = await super().recv()
        samples = wide.to_ndarray().reshape(-1, 6).astype(np.int32).mean(axis=1)
        frame = av.AudioFrame.from_ndarray(
            samples.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        frame.pts = (wide.pts or 0) // 6
        frame.time_base = fractions.Fraction(1, 8000)
        return frame


@pytest.mark.models
@pytest.mark.parametrize(
    ("mic", "codecs"),
    [(StereoMic, ()), (NarrowbandMic, ("audio/PCMU",)), (NarrowbandMic, ("audio/PCMA",))],
    ids=["stereo-opus", "8khz-pcmu", "8khz-pcma"],
)
async def test_stereo_and_8khz_speech_is_understood(
    make_server: Callable[..., Server],
    clips: Clips,
    mic: type[ScriptedAudioTrack],
    codecs: tuple[str, ...],
) -> None:
    server = make_server()
    async with healthy_call_beside(server):
        call = CallClient(
            server.http,
            session={"scenario": "interpreter", "languages": ["en", "es"]},
            codecs=codecs,
        )
        call.mic = mic()
        async with call:
            if codecs:
                assert codecs[0].split("/")[1] in call.pc.remoteDescription.sdp
            await call.wait_for("session.created")
            call.mic.play(clips.english)
            heard = await call.wait_for(
                "conversation.item.input_audio_transcription.completed", timeout=60
            )
            assert "coffee" in heard["transcript"].lower(), heard
            done = await call.wait_for("translation.done", timeout=60)
            assert done["target_language"] == "es" and done["text"]


@pytest.mark.parametrize(
    ("size", "codecs"),
    [
        ((16, 16), ()),
        ((1920, 1080), ()),
        ((640, 480), ("video/H264",)),
        ((16, 16), ("video/H264",)),
    ],
    ids=["tiny-vp8", "1080p-vp8", "h264", "tiny-h264"],
)
async def test_tiny_huge_and_h264_video(
    make_tone_server: Callable[..., Server], size: tuple[int, int], codecs: tuple[str, ...]
) -> None:
    server = make_tone_server()
    width, height = size
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[: height // 2] = (200, 40, 40)
    async with healthy_call_beside(server):
        call = CallClient(
            server.http,
            audio=False,
            video=StillImageTrack(image),
            session={"scenario": "tutor", "video": {"fps": 2}},
            codecs=codecs,
        )
        async with call:
            await call.wait_for("session.created")
            if codecs:
                assert "H264" in call.pc.remoteDescription.sdp
                assert "VP8" not in call.pc.remoteDescription.sdp
            assert call.location is not None
            server_call = server.gateway.registry.get(call.location.rsplit("/", 1)[1])
            await wait_until(lambda: server_call.video.frames >= 5, timeout=30)
            assert server_call.video.size == size


def _offer_lines(sdp: str) -> list[str]:
    return sdp.rstrip("\r\n").split("\r\n")


async def test_offers_that_cannot_work_get_clear_errors(
    make_tone_server: Callable[..., Server],
) -> None:
    server = make_tone_server(calls_per_minute=0)
    pc, offer = await make_offer(audio=True, video=True)
    await pc.close()
    lines = _offer_lines(offer)
    unknown_codecs = re.sub(r"a=rtpmap:(\d+) [\w-]+/", r"a=rtpmap:\1 x-nothing/", offer)
    first_audio = lines.index(next(line for line in lines if line.startswith("m=audio")))
    five_sections = "\r\n".join(lines + lines[first_audio:] * 2) + "\r\n"
    cases: list[tuple[str | bytes, int, str]] = [
        (offer[: len(offer) // 2], 400, "invalid_sdp"),
        (offer.replace("a=sendrecv\r\n", ""), 400, "invalid_sdp"),
        (offer.replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1 9"), 400, "invalid_sdp"),
        (offer.replace("m=audio ", "m=text "), 400, "invalid_sdp"),
        (offer.replace("a=mid:1", "a=mid:0"), 400, "invalid_sdp"),
        (offer.replace("a=setup:actpass", "a=setup:sideways"), 400, "invalid_sdp"),
        (b"v=0\r\n\xff\xfe\x00\x00", 400, "invalid_sdp"),
        (offer.replace("\r\n", "\x00\r\n"), 400, "invalid_sdp"),
        (unknown_codecs, 400, "unsupported_codec"),
        (five_sections, 400, "too_many_media"),
        (offer + "a=x:" + "y" * 200_000 + "\r\n", 413, "body_too_large"),
    ]
    async with healthy_call_beside(server):
        for body, status, code in cases:
            content = body.encode() if isinstance(body, str) else body
            response = await server.http.post("/v1/realtime/calls", content=content, headers=SDP)
            assert_error(response, status, code)
        assert len(server.gateway.registry) == 1
    # An unknown codec beside a known one is simply not chosen.
    extra = offer.replace(
        "a=rtpmap:96 opus/48000/2", "a=rtpmap:96 opus/48000/2\r\na=rtpmap:120 x-nothing/48000"
    )
    extra = extra.replace("UDP/TLS/RTP/SAVPF 96 ", "UDP/TLS/RTP/SAVPF 96 120 ", 1)
    accepted = await server.http.post("/v1/realtime/calls", content=extra, headers=SDP)
    assert accepted.status_code == 201, accepted.text
    assert "x-nothing" not in accepted.text
    await server.http.delete(accepted.headers["location"])
