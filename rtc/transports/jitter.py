"""The caller's audio as the server listens to it: in order, on time, nothing missing.

On loopback every packet arrives, in order, 20 ms apart. On a phone network some
are lost (1-5 %), late by tens of milliseconds, or overtaken by the next one. The
listener (VAD, turn detection, recognition) needs the audio in order and on time,
and its timeline must not shrink: a lost 20 ms dropped silently would make every
later `audio_start_ms` early and clip the words around it.

So, per microphone track, in aiortc's decoder thread:

- `ReorderBuffer` puts packets back in sequence order. It holds a packet that
  arrived ahead of a missing one only as long as this call has shown it needs
  (the longest "arrived after its successor" of the last few seconds, at most
  `MAX_HOLD_S`): on a network that never reorders it holds nothing, and costs no
  latency. A packet older than one already handed on is dropped.
- `ListeningOpusDecoder` decodes them with libopus (rtc/transports/libopus.py) and
  fills every gap of the RTP timeline: the frame just before a packet that
  follows a loss from that packet's in-band FEC copy (browsers send it when they
  see loss; libopus conceals when there is none), earlier ones by libopus's
  concealment (PLC), fading into silence; gaps with no loss (DTX) the same way.

Held packets are released when a packet arrives (every 20 ms while the caller's
microphone is on), so a hold ends at most one packet late; when nothing arrives
at all, nothing is waiting to be heard either.
"""

from __future__ import annotations

import collections
import fractions
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterFrame
from av.frame import Frame
from numpy.typing import NDArray

from rtc.transports import libopus

SAMPLE_RATE = 48_000
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)

#: The longest a packet waits for one missing before it (then that one is lost).
MAX_HOLD_S = 0.06
#: Added to the lateness seen, so a packet as late as the latest one still makes it.
HOLD_MARGIN_S = 0.005
#: How long a reordering seen keeps the hold up.
HOLD_MEMORY_S = 10.0
#: A jump this far ahead (packets) is a new start, not reordering: nothing waits for it.
MAX_REORDER_PACKETS = 50
#: Gaps of the timeline filled: longer ones (a sender that restarted) are not.
MAX_FILL_SAMPLES = 10 * SAMPLE_RATE
#: Concealment beyond this fades to silence anyway: the rest is filled with zeros.
MAX_PLC_SAMPLES = 6 * 960
#: Opus frames are multiples of 2.5 ms.
_PLC_STEP = 120


class AudioPacket(JitterFrame):
    """An audio packet as it arrived, with what reordering needs (aiortc rewrites
    `timestamp`; `rtp_timestamp` keeps the sender's)."""

    def __init__(self, data: bytes, timestamp: int, sequence_number: int, arrival: float) -> None:
        super().__init__(data=data, timestamp=timestamp)
        self.rtp_timestamp = timestamp
        self.sequence_number = sequence_number
        self.arrival = arrival


@dataclass(frozen=True)
class Release:
    """A packet to decode now, and how many packets just before it were lost."""

    packet: AudioPacket
    lost_before: int


def _unwrap(value: int, reference: int, bits: int) -> int:
    """`value` (mod 2**bits) as the number nearest `reference`."""
    span = 1 << bits
    delta = (value - reference) % span
    if delta >= span // 2:
        delta -= span
    return reference + delta


class ReorderBuffer:
    """Audio packets back in sequence order, holding as little as the network needs."""

    def __init__(
        self,
        *,
        max_hold_s: float = MAX_HOLD_S,
        memory_s: float = HOLD_MEMORY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_hold_s = max_hold_s
        self._memory_s = memory_s
        self._clock = clock
        self._next: int | None = None
        """The sequence number (unwrapped) to hand on next."""
        self._high: int | None = None
        self._held: dict[int, AudioPacket] = {}
        self._arrived: collections.OrderedDict[int, float] = collections.OrderedDict()
        self._late: collections.deque[tuple[float, float]] = collections.deque()
        self.dropped = 0
        """Packets that came after their turn (already concealed), or twice."""
        self.lost = 0
        """Packets given up on."""

    @property
    def hold_s(self) -> float:
        """How long a packet now waits for a missing one before it."""
        now = self._clock()
        while self._late and now - self._late[0][0] > self._memory_s:
            self._late.popleft()
        if not self._late:
            return 0.0
        return min(self._max_hold_s, max(late for _, late in self._late) + HOLD_MARGIN_S)

    def push(self, packet: AudioPacket) -> list[Release]:
        """Take a packet as it arrives; return what can be decoded now, in order."""
        high = self._high
        seq = packet.sequence_number if high is None else _unwrap(packet.sequence_number, high, 16)
        if high is None or seq > high:
            self._high = seq
        elif seq < high:
            self._note_lateness(seq, packet.arrival)
        self._arrived[seq] = packet.arrival
        while len(self._arrived) > 128:
            self._arrived.popitem(last=False)
        if self._next is None:
            self._next = seq
        if seq < self._next or seq in self._held:
            self.dropped += 1
            return []
        self._held[seq] = packet
        return self.release()

    def release(self) -> list[Release]:
        """What can be decoded now (also called with no new packet)."""
        out: list[Release] = []
        lost = 0
        hold = None
        while self._held and self._next is not None:
            packet = self._held.pop(self._next, None)
            if packet is not None:
                out.append(Release(packet, lost))
                lost = 0
                self._next += 1
                continue
            first = min(self._held)
            waiting = self._held[first]
            if hold is None:
                hold = self.hold_s
            waited = self._clock() - waiting.arrival
            if waited < hold and first - self._next < MAX_REORDER_PACKETS:
                break
            gap = first - self._next
            self.lost += gap
            lost += gap
            self._next = first
        return out

    def _note_lateness(self, seq: int, arrival: float) -> None:
        """`seq` came after a packet sent later: how long after the first such one."""
        successors = [at for s, at in self._arrived.items() if s > seq]
        if successors:
            self._late.append((arrival, max(0.0, arrival - min(successors))))


class ListeningOpusDecoder(Decoder):
    """aiortc's audio decoder for the server: reorders, decodes, conceals (see above)."""

    def __init__(self, buffer: ReorderBuffer | None = None) -> None:
        self._buffer = buffer or ReorderBuffer()
        self._opus = libopus.OpusDecoder()
        self._expected: int | None = None
        """The RTP timestamp (unwrapped) the next packet should have."""
        self._frame = 960
        """Samples in the last packet: the size of a frame lost like it."""
        self._pts = 0
        self.concealed_samples = 0
        self.recovered_frames = 0

    def decode(self, encoded_frame: JitterFrame) -> list[Frame]:
        if not isinstance(encoded_frame, AudioPacket):  # not from ListeningJitterBuffer
            return self._frames([self._opus.decode(encoded_frame.data)])
        pieces: list[NDArray[np.int16]] = []
        for release in self._buffer.push(encoded_frame):
            pieces += self._decode(release)
        return self._frames(pieces)

    def _decode(self, release: Release) -> list[NDArray[np.int16]]:
        packet = release.packet
        expected = self._expected
        timestamp = (
            packet.rtp_timestamp
            if expected is None
            else _unwrap(packet.rtp_timestamp, expected, 32)
        )
        pieces: list[NDArray[np.int16]] = []
        if expected is not None and 0 < timestamp - expected <= MAX_FILL_SAMPLES:
            fec = packet.data if release.lost_before else None
            pieces.append(self._fill(timestamp - expected, fec))
        decoded = self._opus.decode(packet.data)
        if len(decoded):
            self._frame = len(decoded)
        pieces.append(decoded)
        self._expected = timestamp + max(len(decoded), libopus.packet_samples(packet.data))
        return pieces

    def _fill(self, samples: int, fec: bytes | None) -> NDArray[np.int16]:
        """`samples` of the timeline that did not arrive: PLC, then the FEC of `fec`."""
        recovered = self._frame if fec is not None and samples >= self._frame else 0
        conceal = samples - recovered
        plc = min(conceal, MAX_PLC_SAMPLES) // _PLC_STEP * _PLC_STEP
        parts: list[NDArray[np.int16]] = []
        done = 0
        while done < plc:
            piece = self._opus.conceal(min(self._frame, plc - done))
            if not len(piece):
                break
            parts.append(piece)
            done += len(piece)
        if conceal > done:
            parts.append(np.zeros(conceal - done, dtype=np.int16))
        if recovered and fec is not None:
            piece = self._opus.recover(fec, recovered)
            if len(piece) != recovered:
                piece = np.resize(piece, recovered) if len(piece) else np.zeros(recovered, np.int16)
            parts.append(piece)
            self.recovered_frames += 1
        self.concealed_samples += samples
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def _frames(self, pieces: list[NDArray[np.int16]]) -> list[Frame]:
        pieces = [p for p in pieces if len(p)]
        if not pieces:
            return []
        pcm = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = _TIME_BASE
        self._pts += len(pcm)
        return [frame]

    def __del__(self) -> None:
        self._opus.close()
