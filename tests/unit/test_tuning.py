"""The server's audio receive path under loss, jitter and reordering; video that stalls.

Audio packets are handed on as they arrive (rtc/transports/tuning.py), then put back
in order within an adaptive window and concealed (rtc/transports/jitter.py): the
timeline the listener hears never shrinks, and on a clean network nothing is held.
"""

from __future__ import annotations

import fractions

import av
import numpy as np
from aiortc.rtp import RtpPacket
from numpy.typing import NDArray

from rtc.transports import libopus
from rtc.transports.jitter import (
    MAX_HOLD_S,
    AudioPacket,
    ListeningOpusDecoder,
    ReorderBuffer,
)
from rtc.transports.tuning import VIDEO_STALL_S, ListeningJitterBuffer

FRAME = 960


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def speech_like(seconds: float) -> NDArray[np.int16]:
    """A voiced, changing signal (a pitch glide with a syllable rhythm) and some noise."""
    t = np.arange(int(seconds * 48_000)) / 48_000
    rng = np.random.default_rng(7)
    voice = np.sin(2 * np.pi * (150 + 60 * np.sin(2 * np.pi * 0.7 * t)) * t)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    pcm = 7000 * voice * envelope + 300 * rng.standard_normal(len(t))
    out: NDArray[np.int16] = pcm.astype(np.int16)
    return out


def opus_packets(pcm: NDArray[np.int16], *, fec: bool) -> list[bytes]:
    codec = av.CodecContext.create("libopus", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.sample_rate, codec.layout, codec.format = 48_000, "mono", "s16"
    codec.bit_rate = 32_000
    codec.time_base = fractions.Fraction(1, 48_000)
    codec.options = {"application": "voip", "frame_duration": "20"} | (
        {"fec": "1", "packet_loss": "10"} if fec else {}
    )
    out: list[bytes] = []
    for start in range(0, len(pcm) - FRAME + 1, FRAME):
        frame = av.AudioFrame.from_ndarray(pcm[None, start : start + FRAME], "s16", "mono")
        frame.sample_rate, frame.pts = 48_000, start
        out += [bytes(p) for p in codec.encode(frame)]
    return out


def packet(seq: int, data: bytes = b"", at: float = 0.0) -> AudioPacket:
    return AudioPacket(data, (FRAME * seq) % (1 << 32), seq % 65536, at)


def order(buffer: ReorderBuffer, clock: Clock, arrivals: list[int]) -> list[tuple[int, int]]:
    """(sequence number, lost before it) of what is handed on, 20 ms per arrival."""
    out: list[tuple[int, int]] = []
    for seq in arrivals:
        clock.now += 0.02
        out += [
            (r.packet.sequence_number, r.lost_before)
            for r in buffer.push(packet(seq, at=clock.now))
        ]
    return out


# ---------------------------------------------------------------- ordering


def test_in_order_packets_are_handed_on_at_once() -> None:
    clock = Clock()
    buffer = ReorderBuffer(clock=clock)
    assert order(buffer, clock, [100, 101, 102]) == [(100, 0), (101, 0), (102, 0)]
    assert buffer.hold_s == 0.0


def test_a_loss_on_a_network_that_never_reorders_costs_no_wait() -> None:
    clock = Clock()
    buffer = ReorderBuffer(clock=clock)
    # 11 is lost: 12 goes on at once, saying one packet before it is missing.
    assert order(buffer, clock, [10, 12, 13]) == [(10, 0), (12, 1), (13, 0)]
    assert buffer.lost == 1


def test_reordering_seen_once_makes_the_buffer_wait_for_the_next() -> None:
    clock = Clock()
    buffer = ReorderBuffer(clock=clock)
    # The first time, 11 comes after 12 was handed on: too late, dropped...
    assert order(buffer, clock, [10, 12, 11, 13]) == [(10, 0), (12, 1), (13, 0)]
    assert buffer.dropped == 1
    # ... but now the buffer holds a packet that arrives ahead of a missing one.
    assert 0.0 < buffer.hold_s <= MAX_HOLD_S
    assert order(buffer, clock, [15, 14, 16]) == [(14, 0), (15, 0), (16, 0)]
    assert buffer.dropped == 1


def test_a_hold_never_outlasts_the_cap_and_fades_when_the_network_calms() -> None:
    clock = Clock()
    buffer = ReorderBuffer(clock=clock)
    order(buffer, clock, [1, 2])
    clock.now += 0.02
    buffer.push(packet(4, at=clock.now))
    clock.now += 0.5  # 3 arrives half a second after 4: far later than any hold
    buffer.push(packet(3, at=clock.now))
    assert buffer.hold_s == MAX_HOLD_S
    # Ahead of a missing packet, 6 waits at most MAX_HOLD_S; then 5 counts as lost.
    assert order(buffer, clock, [6]) == [(4, 1)] or buffer.release() == []
    clock.now += MAX_HOLD_S
    assert [(r.packet.sequence_number, r.lost_before) for r in buffer.release()] == [(6, 1)]
    clock.now += 60.0
    assert buffer.hold_s == 0.0


def test_sequence_numbers_wrap() -> None:
    clock = Clock()
    buffer = ReorderBuffer(clock=clock)
    got = order(buffer, clock, [65534, 65535, 65536, 65537])
    assert got == [(65534, 0), (65535, 0), (0, 0), (1, 0)]


def test_a_long_jump_is_a_new_start_not_reordering() -> None:
    clock = Clock()
    buffer = ReorderBuffer(clock=clock)
    order(buffer, clock, [1, 3, 2])  # some reordering seen: the buffer now holds
    assert order(buffer, clock, [500]) == [(500, 496)]


# ---------------------------------------------------------------- decoding and concealment


def decode(
    packets: list[bytes], arrivals: list[int], decoder: ListeningOpusDecoder, clock: Clock
) -> NDArray[np.int16]:
    out: list[NDArray[np.int16]] = []
    for seq in arrivals:
        clock.now += 0.02
        for frame in decoder.decode(packet(seq, packets[seq], clock.now)):
            assert isinstance(frame, av.AudioFrame)
            out.append(np.asarray(frame.to_ndarray(), dtype=np.int16).reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, np.int16)


def snr_db(reference: NDArray[np.int16], heard: NDArray[np.int16]) -> float:
    ref = reference.astype(np.float64)
    noise = max(float(np.mean((heard.astype(np.float64) - ref) ** 2)), 1e-9)
    return float(10 * np.log10(float(np.mean(ref**2)) / noise))


def lost_frame_snr(fec: bool) -> float:
    """The median SNR (dB) of frames lost one at a time, as the listener hears them."""
    packets = opus_packets(speech_like(3.0), fec=fec)
    n = len(packets)
    clock = Clock()
    reference = decode(
        packets, list(range(n)), ListeningOpusDecoder(ReorderBuffer(clock=clock)), clock
    )
    lost = set(range(10, n - 2, 9))
    decoder = ListeningOpusDecoder(ReorderBuffer(clock=clock))
    heard = decode(packets, [s for s in range(n) if s not in lost], decoder, clock)
    assert len(heard) == len(reference) == n * FRAME  # the timeline never shrinks
    assert decoder.recovered_frames == len(lost)
    frames = [slice(k * FRAME, (k + 1) * FRAME) for k in sorted(lost)]
    return float(np.median(np.array([snr_db(reference[f], heard[f]) for f in frames])))


def test_fec_recovers_lost_frames_that_concealment_only_guesses() -> None:
    # With FEC in the packets (browsers send it once they see loss), a lost frame is
    # heard nearly as sent; without, libopus's concealment guesses it.
    assert lost_frame_snr(fec=True) > 8
    assert lost_frame_snr(fec=False) < 5


def test_without_fec_the_lost_frame_is_concealed_not_dropped() -> None:
    packets = opus_packets(speech_like(0.6), fec=False)
    clock = Clock()
    decoder = ListeningOpusDecoder(ReorderBuffer(clock=clock))
    heard = decode(packets, [s for s in range(len(packets)) if s != 10], decoder, clock)
    assert len(heard) == len(packets) * FRAME
    assert np.abs(heard[10 * FRAME : 11 * FRAME]).mean() > 0  # PLC, not a hole of zeros


def test_reordered_packets_are_decoded_in_order() -> None:
    packets = opus_packets(speech_like(1.0), fec=False)
    n = len(packets)
    arrivals = list(range(n))
    for i in range(5, n - 1, 8):  # every 8th packet overtaken by the next
        arrivals[i], arrivals[i + 1] = arrivals[i + 1], arrivals[i]
    clock = Clock()
    buffer = ReorderBuffer(clock=clock)
    heard = decode(packets, arrivals, ListeningOpusDecoder(buffer), clock)
    assert len(heard) == n * FRAME
    # Only the first swap cost a packet (5, concealed): it came before any reordering was
    # seen. Every later swap was put back in order: the same as losing 5 alone.
    assert buffer.dropped == 1
    expected = decode(
        packets,
        [s for s in range(n) if s != 5],
        ListeningOpusDecoder(ReorderBuffer(clock=clock)),
        clock,
    )
    assert snr_db(expected, heard) > 40


def test_a_silent_gap_in_the_timestamps_is_filled_too() -> None:
    packets = opus_packets(speech_like(0.4), fec=False)
    clock = Clock()
    decoder = ListeningOpusDecoder(ReorderBuffer(clock=clock))
    samples = 0
    for i, seq in enumerate([0, 1, 2, 6, 7]):  # consecutive sequence numbers, a 60 ms DTX gap
        clock.now += 0.02
        p = AudioPacket(packets[i], FRAME * seq, i, clock.now)
        samples += sum(f.samples for f in decoder.decode(p) if isinstance(f, av.AudioFrame))
    assert samples == 8 * FRAME


def test_libopus_is_found() -> None:
    assert libopus.available()
    assert libopus.packet_samples(opus_packets(speech_like(0.1), fec=False)[0]) == FRAME


# ---------------------------------------------------------------- video


def video_packet(seq: int, frame: int) -> RtpPacket:
    p = RtpPacket(payload_type=96, sequence_number=seq, timestamp=3000 * frame)
    p._data = bytes([seq % 256])  # type: ignore[attr-defined]  # set by aiortc's receiver
    return p


def test_video_frames_are_assembled_as_aiortc_does() -> None:
    buffer = ListeningJitterBuffer(capacity=128, is_video=True)
    # A video frame is complete only once a packet of the next frame arrives.
    assert buffer.add(video_packet(1, 0)) == (False, None)
    pli, frame = buffer.add(video_packet(2, 1))
    assert not pli and frame is not None and frame.timestamp == 0


def test_a_video_frame_that_stays_incomplete_is_given_up_and_a_keyframe_asked_for() -> None:
    buffer = ListeningJitterBuffer(capacity=512, is_video=True)
    buffer.add(video_packet(1, 0))
    buffer.add(video_packet(2, 1))  # frame 0 out
    # Packet 3 (frame 1's end) is lost for good: frames 2, 3, ... wait behind it.
    stall_frames = int(VIDEO_STALL_S * 30) + 1  # 30 frames a second
    pli, i = False, 0
    for i in range(stall_frames + 1):
        pli, _ = buffer.add(video_packet(4 + i, 2 + i))
        if pli:
            break
    assert pli, "no keyframe asked for after a stall"
    # The newest frame was kept: the next packet completes it, and it goes on.
    _, frame = buffer.add(video_packet(5 + i, 3 + i))
    assert frame is not None and frame.timestamp == 3000 * (2 + i)
