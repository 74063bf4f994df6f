"""The outgoing track's Opus packets, decoded as a phone would: speech in order, silence
after it, and nothing stale played after a clear or a pause."""

from __future__ import annotations

from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from rtc.conversation.playout import FRAME_SAMPLES, SAMPLE_RATE, Owner, Playout
from rtc.transports.opus_track import OpusTrack

A, B = Owner("resp_a", "item_a"), Owner("resp_b", "item_b")


def tone(hz: float, seconds: float) -> NDArray[np.int16]:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pcm: NDArray[np.int16] = (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    return pcm


class Listener:
    """Decodes the track's packets as a phone would, 20 ms at a time."""

    def __init__(self) -> None:
        codec = av.CodecContext.create("libopus", "r")
        assert isinstance(codec, av.AudioCodecContext)
        codec.sample_rate = SAMPLE_RATE
        codec.layout = "mono"
        self._codec = codec
        self.frames: list[NDArray[np.float32]] = []

    async def hear(self, track: OpusTrack, frames: int) -> None:
        for _ in range(frames):
            packet: av.Packet[Any] = await track.recv()
            for frame in self._codec.decode(packet):
                pcm = frame.to_ndarray().astype(np.float32).reshape(-1)
                self.frames.append(pcm[:FRAME_SAMPLES])

    def pitch(self, first: int, last: int) -> float:
        """The loudest frequency over frames [first, last)."""
        audio = np.concatenate(self.frames[first:last])
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
        return float(np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)[int(np.argmax(spectrum))])

    def level(self, first: int, last: int) -> float:
        return float(np.abs(np.concatenate(self.frames[first:last])).mean())


async def test_a_second_of_speech_plays_in_order_then_silence() -> None:
    playout = Playout()
    track = OpusTrack(playout)
    ear = Listener()
    playout.enqueue(A, tone(440, 0.5))
    playout.enqueue(A, tone(880, 0.5))
    await ear.hear(track, 55)
    assert abs(ear.pitch(3, 23) - 440) < 10
    assert abs(ear.pitch(28, 48) - 880) < 10
    assert ear.level(52, 55) < 50  # silence once the speech is over
    assert playout.played_ms("resp_a") == 1000


async def test_nothing_queued_before_a_clear_plays_after_it() -> None:
    playout = Playout()
    track = OpusTrack(playout)
    ear = Listener()
    playout.enqueue(A, tone(440, 1.0))
    await ear.hear(track, 10)
    played = playout.clear()
    assert played == {"resp_a": 200}
    playout.enqueue(B, tone(1200, 0.6))
    await ear.hear(track, 30)
    assert abs(ear.pitch(13, 38) - 1200) < 10
    assert playout.played_ms("resp_b") == 600


async def test_a_pause_plays_silence_and_the_rest_after_it() -> None:
    playout = Playout()
    track = OpusTrack(playout)
    ear = Listener()
    playout.enqueue(A, tone(440, 0.4))
    playout.enqueue(A, tone(660, 0.4))
    await ear.hear(track, 12)
    playout.pause()
    await ear.hear(track, 10)
    assert ear.level(15, 22) < 50
    playout.resume()
    await ear.hear(track, 30)
    assert playout.played_ms("resp_a") == 800
    assert abs(ear.pitch(23, 29) - 440) < 40  # the 440 Hz part resumes where it stopped
    assert abs(ear.pitch(32, 48) - 660) < 10


async def test_the_voice_carries_fec_so_a_phone_recovers_a_lost_packet() -> None:
    from rtc.transports import libopus

    playout = Playout()
    track = OpusTrack(playout)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    voice = (7000 * np.sin(2 * np.pi * (140 + 50 * np.sin(2 * np.pi * t)) * t)).astype(np.int16)
    playout.enqueue(A, voice)
    packets = [bytes(await track.recv()) for _ in range(45)]
    whole, lossy = libopus.OpusDecoder(), libopus.OpusDecoder()
    recovered: list[float] = []
    for i, data in enumerate(packets):
        reference = whole.decode(data)
        if i % 7 == 3 and i > 10:  # lost: recovered from the FEC copy in the next packet
            heard = lossy.recover(packets[i + 1], FRAME_SAMPLES)
            error = np.mean((heard.astype(float) - reference) ** 2)
            recovered.append(10 * np.log10(np.mean(reference.astype(float) ** 2) / error))
        else:
            lossy.decode(data)
    assert np.median(recovered) > 8  # concealment alone is near 0 dB
