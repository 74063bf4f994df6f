"""Audio as the Realtime events carry it: base64 PCM16 at a rate, or G.711 at 8 kHz."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rtc import g711
from rtc.conversation.session_config import PCM, PCMU, AudioFormat


def decode(raw: bytes, fmt: AudioFormat) -> NDArray[np.int16]:
    """Bytes of `fmt` (whole samples) -> mono int16 at `fmt.rate`."""
    if fmt.kind == PCM:
        return np.frombuffer(raw, dtype="<i2").astype(np.int16)
    return g711.decode(raw, "pcmu" if fmt.kind == PCMU else "pcma")


def encode(pcm: NDArray[np.int16], fmt: AudioFormat) -> bytes:
    """Mono int16 at `fmt.rate` -> bytes of `fmt`."""
    if fmt.kind == PCM:
        return pcm.astype("<i2").tobytes()
    return g711.encode(pcm, "pcmu" if fmt.kind == PCMU else "pcma")
