"""The outgoing track's Opus packets, decoded as a phone would: speech in order, silence
after it, and nothing stale played after a clear or a pause."""

from __future__ import annotations

from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from rtc.audio_out import FRAME_SAMPLES, SAMPLE_RATE, OutputAudioTrack


def tone(hz: float, seconds: float) -> NDArray[np.int16]:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


class Listener:
    """Decodes the track's packets as a phone would, 20 ms at a time."""

    def __init__(self) -> None:
        codec = av.CodecContext.create("libopus", "r")
        assert isinstance(codec, av.AudioCodecContext)
        codec.sample_rate = SAMPLE_RATE
        codec.layout = "mono"
        self._codec = codec
        self.frames: list[NDArray[np.float32]] = []

    async def hear(self, track: OutputAudioTrack, frames: int) -> None:
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
    track = OutputAudioTrack()
    ear = Listener()
    track.enqueue("resp_a", tone(440, 0.5))
    track.enqueue("resp_a", tone(880, 0.5))
    await ear.hear(track, 55)
    assert abs(ear.pitch(3, 23) - 440) < 10
    assert abs(ear.pitch(28, 48) - 880) < 10
    assert ear.level(52, 55) < 50  # silence once the speech is over
    assert track.played_ms("resp_a") == 1000


async def test_nothing_queued_before_a_clear_plays_after_it() -> None:
    track = OutputAudioTrack()
    ear = Listener()
    track.enqueue("resp_a", tone(440, 1.0))
    await ear.hear(track, 10)
    played = track.clear()
    assert played == {"resp_a": 200}
    track.enqueue("resp_b", tone(1200, 0.6))
    await ear.hear(track, 30)
    assert abs(ear.pitch(13, 38) - 1200) < 10
    assert track.played_ms("resp_b") == 600


async def test_a_pause_plays_silence_and_the_rest_after_it() -> None:
    track = OutputAudioTrack()
    ear = Listener()
    track.enqueue("resp_a", tone(440, 0.4))
    track.enqueue("resp_a", tone(660, 0.4))
    await ear.hear(track, 12)
    track.pause()
    await ear.hear(track, 10)
    assert ear.level(15, 22) < 50
    track.resume()
    await ear.hear(track, 30)
    assert track.played_ms("resp_a") == 800
    assert abs(ear.pitch(23, 29) - 440) < 40  # the 440 Hz part resumes where it stopped
    assert abs(ear.pitch(32, 48) - 660) < 10
