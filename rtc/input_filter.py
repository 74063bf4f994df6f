"""What `audio.input.noise_reduction` does to a translation session's incoming audio.

A filter takes and returns 16 kHz mono float32 chunks, in order, on the event loop.
Noise reduction is WebRTC's noise suppressor (the echo canceller's module, with echo
cancellation off: a translation session plays nothing back into its microphone),
with automatic gain for `far_field`, as in a call (audio.input.noise_reduction).
`strength` 0 turns it off; any other strength is the suppressor's one level.
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from model.embedded.echo import EchoCanceller
from rtc.translation_config import NoiseReduction

RATE = 16_000


class InputFilter(Protocol):
    def __call__(self, audio: NDArray[np.float32], /) -> NDArray[np.float32]: ...


def passthrough(chunk: NDArray[np.float32]) -> NDArray[np.float32]:
    return chunk


def input_filter(setting: NoiseReduction | None) -> InputFilter:
    """The filter for a session's `noise_reduction` (None: off)."""
    if setting is None or setting.strength <= 0:
        return passthrough
    kind: Literal["near_field", "far_field"] = (
        "far_field" if setting.kind == "far_field" else "near_field"
    )
    suppressor = EchoCanceller(RATE, kind, echo_cancellation=False)
    return suppressor.near_end_float
