"""A caller whose phone is on speaker: what it hears comes back in its microphone.

`EchoingMicrophone` is the client's scripted microphone plus an acoustic
echo: every 20 ms of the assistant's voice the client receives is mixed
into what the microphone sends, `delay_s` later and `gain_db` down (a phone
on a table: about -10 dB, 50-150 ms). No echo cancellation on the client,
as on a telephone line or an app that does not ask the OS for it.

Use it with `echoing_call(...)`, which swaps it (and a received-audio
recorder that feeds it) into a `CallClient` before it connects; nothing in
the client changes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import numpy as np
from numpy.typing import NDArray

from clients.python.client import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    CallClient,
    ReceivedAudio,
    ScriptedAudioTrack,
)

#: Received audio arriving within this much of where the echo line expects it continues
#: the line; further off (a gap in reception, a burst), the line is re-timed.
_SLACK = 2 * FRAME_SAMPLES


class EchoingMicrophone(ScriptedAudioTrack):
    """Scripted utterances plus the echo of what the caller hears."""

    def __init__(self, delay_s: float = 0.080, gain_db: float = -10.0) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.gain = 10 ** (gain_db / 20)
        self._echo: deque[tuple[int, NDArray[np.float64]]] = deque()
        self._next: int | None = None
        self.enabled = True

    def heard(self, pcm: NDArray[np.int16], at: float) -> None:
        """The speaker played `pcm` (48 kHz) at monotonic time `at`."""
        start = self._start
        if start is None or not self.enabled:
            return
        due = int(round((at + self.delay_s - start) * SAMPLE_RATE))
        if self._next is None or abs(due - self._next) > _SLACK:
            self._next = due
        self._echo.append((self._next, pcm.astype(np.float64) * self.gain))
        self._next += len(pcm)

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        if not self._echo or frame.pts is None:
            return frame
        begin = int(frame.pts)
        end = begin + FRAME_SAMPLES
        mix = frame.to_ndarray().reshape(-1).astype(np.float64)
        # Pieces re-timed after a gap in reception may overlap or come out of order.
        self._echo = deque(piece for piece in self._echo if piece[0] + len(piece[1]) > begin)
        for at, pcm in self._echo:
            lo, hi = max(at, begin), min(at + len(pcm), end)
            if lo < hi:
                mix[lo - begin : hi - begin] += pcm[lo - at : hi - at]
        out = av.AudioFrame.from_ndarray(
            np.clip(mix, -32768, 32767).astype(np.int16)[None, :], format="s16", layout="mono"
        )
        out.sample_rate, out.pts, out.time_base = frame.sample_rate, frame.pts, frame.time_base
        return out


@dataclass
class EchoedAudio(ReceivedAudio):
    """The received-audio recorder, also playing each frame into the echoing microphone."""

    mic: EchoingMicrophone | None = field(default=None)

    def add(self, pcm: NDArray[np.int16]) -> None:
        super().add(pcm)
        if self.mic is not None:
            self.mic.heard(pcm, self.times[-1])


def echoing_call(
    http: httpx.AsyncClient,
    *,
    session: dict[str, Any],
    delay_s: float = 0.080,
    gain_db: float = -10.0,
) -> tuple[CallClient, EchoingMicrophone]:
    """A call (not yet connected: use `async with`) whose microphone hears its speaker,
    and that microphone (`mic.enabled = False` mutes the echo)."""
    call = CallClient(http, session=session)
    mic = EchoingMicrophone(delay_s, gain_db)
    call.mic = mic
    call.received = EchoedAudio(mic=mic)
    return call, mic
