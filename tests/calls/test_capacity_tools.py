"""The capacity benchmark's tools: replayed pre-encoded media, gap measuring, one real call."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench.loadgen import LoadCall, Media, Plan, split
from bench.replay import (
    AUDIO_FRAME,
    VIDEO_CLOCK,
    GapMeter,
    ReplayMicTrack,
    ReplayVideoTrack,
    encode_opus,
    encode_vp8,
    handheld,
    room_tone,
)
from tests.conftest import Clips, Server, wait_until
from tests.imagegen import CLEAN, render_problem


def test_gap_meter_counts_only_while_recording_and_the_edges() -> None:
    meter = GapMeter()
    meter.tick(0.0)  # before start: not counted
    meter.start(0.01)
    for t in (0.02, 0.04, 0.20, 0.22):
        meter.tick(t)
    meter.stop(0.25)
    meter.tick(0.5)  # after stop: not counted
    assert meter.gaps == pytest.approx([0.02, 0.02, 0.16, 0.02, 0.03])
    stats = meter.stats(threshold_s=0.1)
    assert stats.over == 1
    assert stats.worst_s == pytest.approx(0.16)


def test_a_silent_track_is_one_long_gap() -> None:
    meter = GapMeter()
    meter.start(10.0)
    meter.stop(30.0)
    assert meter.stats().worst_s == pytest.approx(20.0)


def test_split_spreads_calls_over_workers() -> None:
    assert split(20, 8) == [(0, 7), (7, 7), (14, 6)]
    assert split(3, 8) == [(0, 3)]


async def test_replayed_video_loops_with_steady_timestamps() -> None:
    frames = handheld(np.full((120, 160, 3), 200, np.uint8), fps=15, seconds=0.4)
    packets = encode_vp8(frames, fps=15)
    assert len(packets) == len(frames) == 6
    track = ReplayVideoTrack(packets, fps=15)
    sent = [await track.recv() for _ in range(8)]
    assert [bytes(p) for p in sent] == packets + packets[:2]
    assert [p.pts for p in sent] == [i * VIDEO_CLOCK // 15 for i in range(8)]


async def test_replayed_microphone_says_utterances_between_room_tone() -> None:
    room = encode_opus(room_tone(0.1))
    speech = encode_opus(np.full(3 * AUDIO_FRAME, 1000, np.int16))
    mic = ReplayMicTrack(room)
    first = await mic.recv()
    said = mic.say(speech)
    sent = [await mic.recv() for _ in range(len(speech))]
    assert bytes(first) == room[0]
    assert [bytes(p) for p in sent] == speech
    assert said.started.is_set() and said.done.is_set()
    assert [p.pts for p in [first, *sent]] == [i * AUDIO_FRAME for i in range(len(speech) + 1)]


@pytest.mark.models
async def test_a_load_call_is_decoded_heard_and_timed(server: Server, clips: Clips) -> None:
    page = render_problem(["3x + 5 = 20"], CLEAN, size=(320, 240), seed=1)
    media = Media(
        videos=[encode_vp8(handheld(page, fps=15, seconds=1.0), fps=15)],
        fps=15,
        room=encode_opus(room_tone(0.2)),
        opening=encode_opus(clips.english),
        utterances=[],
    )
    plan = Plan(
        url="http://omnilive.test",
        level=1,
        first=0,
        calls=1,
        session={"scenario": "interpreter", "languages": ["en", "es"]},
        events=True,
        hold_s=0.0,
        pause_s=(0.0, 0.0),
        event_timeout_s=30.0,
        connect_every_s=0.0,
        stagger_s=0.0,
    )
    call = LoadCall(server.http, plan, media, 0)
    await call.open()
    try:
        assert call.result.connected, call.result.error
        served = server.gateway.registry.calls[0]
        await wait_until(lambda: served.video.frames >= 5)
        assert served.video.size == (320, 240)
        call.meter.start()
        await call.talk(until=time.monotonic())  # one utterance and its answer, then stop
        await wait_until(lambda: len(call.meter.gaps) > 50)  # the answer's frames, metered
        call.meter.stop()
    finally:
        await call.hangup()
    assert call.result.said == call.result.answered == 1, call.result.missing
    assert len(call.result.answer_s) == 1
    # The server's 20 ms frames all arrived, timed one by one.
    assert len(call.meter.gaps) > 50
    assert call.meter.stats().frames == len(call.meter.gaps)
