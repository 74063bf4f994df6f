"""libopus's decoder, called directly, for what FFmpeg does not expose: loss concealment.

aiortc decodes Opus through PyAV (FFmpeg's `libopus` wrapper), which can only decode
the packets that arrived: an empty packet means "flush", so there is no way to ask
for packet loss concealment (PLC), nor for the in-band forward error correction
(FEC, a low-bitrate copy of the previous frame) that browsers put in their packets
when they see loss. libopus itself does both (`opus_decode` with no data; with
`decode_fec`), so the server's microphone decoder calls it through ctypes: the
system's libopus if there is one, else the copy PyAV ships in its wheel.

`opus_decode` is called from aiortc's decoder thread, never from the event loop
(ctypes releases the GIL for the call).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
#: The longest frame Opus has (120 ms): the most one call may decode.
MAX_FRAME = 5_760
_OPUS_OK = 0


class OpusUnavailable(RuntimeError):
    """No libopus could be loaded."""


def _candidates() -> list[str]:
    names: list[str] = []
    system = ctypes.util.find_library("opus")
    if system:
        names.append(system)
    try:
        import av

        bundled = Path(av.__file__).resolve().parent.parent / "av.libs"
        names += sorted(str(p) for p in bundled.glob("libopus*.so*"))
    except ImportError:  # pragma: no cover - PyAV is a dependency
        pass
    return names


@functools.cache
def library() -> ctypes.CDLL:
    """libopus, loaded once per process (OpusUnavailable if there is none)."""
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.opus_decoder_create.restype = ctypes.c_void_p
        lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.c_void_p]
        lib.opus_decoder_destroy.restype = None
        lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
        lib.opus_decode.restype = ctypes.c_int
        lib.opus_decode.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int32,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
        ]
        lib.opus_packet_get_nb_samples.restype = ctypes.c_int
        lib.opus_packet_get_nb_samples.argtypes = [ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32]
        return lib
    raise OpusUnavailable("libopus was not found (neither the system's nor PyAV's copy)")


def available() -> bool:
    try:
        library()
    except OpusUnavailable:
        return False
    return True


def packet_samples(data: bytes) -> int:
    """Samples (at 48 kHz) one Opus packet decodes to; 0 if it is not a valid packet."""
    if not data:
        return 0
    n = int(library().opus_packet_get_nb_samples(data, len(data), SAMPLE_RATE))
    return n if 0 < n <= MAX_FRAME else 0


class OpusDecoder:
    """One mono 48 kHz decoder: packets, lost frames (PLC) and FEC recoveries.

    Not thread-safe: one stream, one thread, in order."""

    def __init__(self) -> None:
        lib = library()
        error = ctypes.c_int(0)
        handle = lib.opus_decoder_create(SAMPLE_RATE, 1, ctypes.byref(error))
        if error.value != _OPUS_OK or not handle:
            raise OpusUnavailable(f"opus_decoder_create failed ({error.value})")
        self._lib = lib
        self._handle: int | None = handle
        self._out = np.zeros(MAX_FRAME, dtype=np.int16)

    def _run(self, data: bytes | None, samples: int, fec: bool) -> NDArray[np.int16]:
        if self._handle is None:
            raise RuntimeError("the decoder is closed")
        out = self._out
        n = self._lib.opus_decode(
            self._handle,
            data,
            len(data) if data else 0,
            out.ctypes.data,
            samples,
            1 if fec else 0,
        )
        if n < 0:
            return np.zeros(0, dtype=np.int16)
        return out[:n].copy()

    def decode(self, data: bytes) -> NDArray[np.int16]:
        """One packet as it arrived (empty if it is not valid Opus)."""
        return self._run(data, MAX_FRAME, False)

    def conceal(self, samples: int) -> NDArray[np.int16]:
        """`samples` of packet loss concealment (a multiple of 2.5 ms, at most 120 ms)."""
        return self._run(None, min(samples, MAX_FRAME), False)

    def recover(self, following: bytes, samples: int) -> NDArray[np.int16]:
        """The frame lost just before `following`, from the FEC copy it carries (libopus
        falls back to concealment when it carries none)."""
        return self._run(following, min(samples, MAX_FRAME), True)

    def close(self) -> None:
        if self._handle is not None:
            self._lib.opus_decoder_destroy(self._handle)
            self._handle = None

    def __del__(self) -> None:
        self.close()
