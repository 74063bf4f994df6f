"""G.711 (μ-law and A-law) for `audio/pcmu` and `audio/pcma` on the Realtime WebSocket.

Decoding is a 256-entry table; encoding a 65 536-entry one (every int16), both built
once with numpy, so converting a chunk is one fancy-indexing pass.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray

_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


@functools.cache
def _ulaw_decode_table() -> NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


@functools.cache
def _alaw_decode_table() -> NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(a & 0x80, magnitude, -magnitude).astype(np.int16)


def _bit_length(x: NDArray[np.int32]) -> NDArray[np.int32]:
    return np.floor(np.log2(np.maximum(x, 1))).astype(np.int32) + 1


@functools.cache
def _ulaw_encode_table() -> NDArray[np.uint8]:
    x = np.arange(-32768, 32768, dtype=np.int32)
    sign = (x < 0).astype(np.int32) << 7
    magnitude = np.minimum(np.abs(x), _ULAW_CLIP) + _ULAW_BIAS
    exponent = _bit_length(magnitude) - 8
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


@functools.cache
def _alaw_encode_table() -> NDArray[np.uint8]:
    x = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(x >= 0, 0x80, 0)
    magnitude = np.minimum(np.where(x >= 0, x, -x - 1), 32767)
    exponent = np.where(magnitude < 256, 0, _bit_length(magnitude) - 8)
    mantissa = np.where(magnitude < 256, magnitude >> 4, (magnitude >> (exponent + 3)) & 0x0F)
    table: NDArray[np.uint8] = ((sign | (exponent << 4) | mantissa) ^ 0x55).astype(np.uint8)
    return table


def decode(data: bytes, law: str) -> NDArray[np.int16]:
    """G.711 bytes ('pcmu' or 'pcma') to int16 samples."""
    table = _ulaw_decode_table() if law == "pcmu" else _alaw_decode_table()
    out: NDArray[np.int16] = table[np.frombuffer(data, dtype=np.uint8)]
    return out


def encode(pcm: NDArray[np.int16], law: str) -> bytes:
    """int16 samples to G.711 bytes ('pcmu' or 'pcma')."""
    table = _ulaw_encode_table() if law == "pcmu" else _alaw_encode_table()
    return bytes(table[pcm.astype(np.int32) + 32768].tobytes())
