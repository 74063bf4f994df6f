"""The server's audio jitter buffer: packets handed on at once, in order, losses skipped."""

from __future__ import annotations

from aiortc.rtp import RtpPacket

from rtc.transports.tuning import ListeningJitterBuffer


def packet(seq: int) -> RtpPacket:
    p = RtpPacket(payload_type=111, sequence_number=seq % 65536, timestamp=960 * seq)
    p._data = bytes([seq % 256])  # type: ignore[attr-defined]  # set by aiortc's receiver
    return p


def delivered(buffer: ListeningJitterBuffer, seqs: list[int]) -> list[int | None]:
    out: list[int | None] = []
    for seq in seqs:
        _, frame = buffer.add(packet(seq))
        out.append(None if frame is None else frame.timestamp // 960)
    return out


def test_in_order_audio_is_handed_on_with_its_own_packet() -> None:
    buffer = ListeningJitterBuffer(capacity=16)
    assert delivered(buffer, [100, 101, 102]) == [100, 101, 102]


def test_losses_are_skipped_and_reordered_packets_dropped() -> None:
    buffer = ListeningJitterBuffer(capacity=16)
    # 11 is lost (or late): 12 goes on at once; 11 arriving after it is too late.
    assert delivered(buffer, [10, 12, 11, 13]) == [10, 12, None, 13]


def test_sequence_numbers_wrap_and_long_losses_restart() -> None:
    buffer = ListeningJitterBuffer(capacity=16)
    assert delivered(buffer, [65534, 65535, 65536, 65537]) == [65534, 65535, 65536, 65537]
    assert delivered(buffer, [65537 + 100]) == [65637]


def test_video_keeps_aiortcs_frame_assembly() -> None:
    buffer = ListeningJitterBuffer(capacity=128, is_video=True)
    # A video frame is complete only once a packet of the next frame arrives.
    _, first = buffer.add(packet(1))
    assert first is None
