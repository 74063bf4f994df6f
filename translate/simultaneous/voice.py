"""Which 20 ms of the stream are voiced: for pauses, and to spare Whisper the silence.

An energy meter, not a VAD model: the scenarios import only `model`, and pauses
between clauses (hundreds of milliseconds of near silence) are what matters here,
not telling speech from noise. The threshold follows a slow noise floor, so a
steady hum does not count as voice for long.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from model.types import INPUT_SAMPLE_RATE

FRAME = INPUT_SAMPLE_RATE // 50
FRAME_S = FRAME / INPUT_SAMPLE_RATE
#: The quietest voice counted (RMS of full scale, about -44 dBFS).
MIN_LEVEL = 0.006
#: Voice is this many times louder than the noise floor.
OVER_FLOOR = 4.0
#: The floor rises this much a frame when the signal stays above it (x2 in ~30 s).
FLOOR_RISE = 1.0005


class VoiceMeter:
    def __init__(self) -> None:
        self._rest = np.zeros(0, dtype=np.float32)
        self._voiced = bytearray()
        self._first = 0
        """Frame index of `_voiced[0]` (older frames are forgotten)."""
        self._floor = MIN_LEVEL / OVER_FLOOR

    @property
    def frames(self) -> int:
        """Frames measured since the start of the stream."""
        return self._first + len(self._voiced)

    def push(self, samples: NDArray[np.float32]) -> None:
        audio = np.concatenate([self._rest, samples]) if len(self._rest) else samples
        whole = len(audio) // FRAME
        self._rest = audio[whole * FRAME :].copy()
        if not whole:
            return
        rms = np.sqrt(np.mean(audio[: whole * FRAME].reshape(whole, FRAME) ** 2, axis=1))
        for level in rms.tolist():
            if level < self._floor:
                self._floor = max(level, 1e-5)
            else:
                self._floor *= FLOOR_RISE
            self._voiced.append(level > max(MIN_LEVEL, OVER_FLOOR * self._floor))

    def voiced_between(self, start_s: float, end_s: float) -> bool:
        a = max(int(start_s / FRAME_S), self._first) - self._first
        b = min(int(np.ceil(end_s / FRAME_S)), self.frames) - self._first
        return b > a and any(self._voiced[a:b])

    def silence_before(self, at_s: float) -> float:
        """How long it has been quiet up to `at_s` (seconds)."""
        end = min(int(at_s / FRAME_S), self.frames) - self._first
        i = end
        while i > 0 and not self._voiced[i - 1]:
            i -= 1
        return max(0, end - i) * FRAME_S

    def voiced_seconds(self, start_s: float, end_s: float) -> float:
        """Voiced audio between two stream times (seconds)."""
        a = max(int(start_s / FRAME_S), self._first) - self._first
        b = min(int(np.ceil(end_s / FRAME_S)), self.frames) - self._first
        return sum(self._voiced[a:b]) * FRAME_S if b > a else 0.0

    def last_quiet(
        self,
        start_s: float,
        end_s: float,
        min_s: float,
        *,
        begins_by: float | None = None,
        ends_by: float | None = None,
    ) -> float | None:
        """A cut point in the latest run of at least `min_s` of quiet between two stream
        times that begins by `begins_by` and ends (the voice comes back) by `ends_by`:
        40 ms before the voice, or where the run reaches `end_s`. None if there is none."""
        a = max(int(np.ceil(start_s / FRAME_S)), self._first) - self._first
        b = min(int(end_s / FRAME_S), self.frames) - self._first
        first_ok = int(begins_by / FRAME_S) - self._first if begins_by is not None else b
        last_ok = int(ends_by / FRAME_S) - self._first if ends_by is not None else b
        need = max(1, int(round(min_s / FRAME_S)))
        i = b
        while i > a:
            if self._voiced[i - 1]:
                i -= 1
                continue
            run_end = i
            while i > a and not self._voiced[i - 1]:
                i -= 1
            if run_end - i >= need and i <= first_ok and run_end <= last_ok:
                # A breath of silence before the voice: Whisper hears a word start better.
                at = run_end if run_end >= b else max(i + need // 2, run_end - 2)
                return (self._first + at) * FRAME_S
        return None

    def forget_before(self, at_s: float) -> None:
        drop = min(int(at_s / FRAME_S), self.frames) - self._first
        if drop > 0:
            del self._voiced[:drop]
            self._first += drop
