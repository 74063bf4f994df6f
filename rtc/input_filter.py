"""What `audio.input.noise_reduction` does to the incoming audio: the seam for it.

Echo cancellation and noise suppression are being built apart from this (another
issue); until they land, every setting is accepted, stored, echoed and passed here,
and the audio goes through unchanged. A filter takes and returns 16 kHz mono float32
chunks, in order, on the event loop (a costly one should keep per-call state and be
cheap per chunk, or hand the work to a thread itself).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from rtc.translation_config import NoiseReduction


class InputFilter(Protocol):
    def __call__(self, chunk: NDArray[np.float32]) -> NDArray[np.float32]: ...


def passthrough(chunk: NDArray[np.float32]) -> NDArray[np.float32]:
    return chunk


def input_filter(setting: NoiseReduction | None) -> InputFilter:
    """The filter for a session's `noise_reduction` (None: off). Today: none of them
    changes the audio; plug the suppressor in here."""
    return passthrough
