"""Small audio helpers shared by backends (run them in worker threads)."""

from __future__ import annotations

import base64
import struct

import av
import numpy as np
from numpy.typing import NDArray


class StreamResampler:
    """Mono int16 audio from one rate to another, piece by piece, with no clicks between
    pieces (FFmpeg's resampler keeps its filter state). The one resampler of the project:
    input audio to the VAD's rate, speech to the playout rate, playout to a client's rate."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate, self.dst_rate = src_rate, dst_rate
        self._av = (
            av.AudioResampler(format="s16", layout="mono", rate=dst_rate)
            if src_rate != dst_rate
            else None
        )

    def __call__(self, pcm: NDArray[np.int16]) -> NDArray[np.int16]:
        if self._av is None or not len(pcm):
            return pcm
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm, dtype=np.int16)[None, :], format="s16", layout="mono"
        )
        frame.sample_rate = self.src_rate
        return _joined(self._av.resample(frame))

    def flush(self) -> NDArray[np.int16]:
        """What the filter still holds (the end of the last piece)."""
        return _joined(self._av.resample(None)) if self._av is not None else np.zeros(0, np.int16)


def _joined(frames: list[av.AudioFrame]) -> NDArray[np.int16]:
    out = [f.to_ndarray().reshape(-1) for f in frames]
    return np.concatenate(out).astype(np.int16, copy=False) if out else np.zeros(0, np.int16)


def resample_int16(pcm: NDArray[np.int16], src_rate: int, dst_rate: int) -> NDArray[np.int16]:
    """Resample one whole clip of mono int16 audio."""
    if src_rate == dst_rate or len(pcm) == 0:
        return pcm
    resampler = StreamResampler(src_rate, dst_rate)
    return np.concatenate([resampler(pcm), resampler.flush()])


def int16_to_float(pcm: NDArray[np.int16]) -> NDArray[np.float32]:
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32, copy=False)


def trim_leading_silence(
    pcm: NDArray[np.int16], sample_rate: int, *, level: int = 300, keep_ms: int = 10
) -> NDArray[np.int16]:
    """Drop the quiet start of a synthesized piece (tens of ms the listener waits through)."""
    loud = np.flatnonzero(np.abs(pcm) > level)
    if len(loud) == 0:
        return pcm
    start = max(0, int(loud[0]) - sample_rate * keep_ms // 1000)
    return pcm[start:]


def wav_data_url(audio: NDArray[np.float32], sample_rate: int = 16_000) -> str:
    """Mono float audio as a `data:audio/wav;base64,...` URL (16-bit PCM)."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", len(pcm))
    return "data:audio/wav;base64," + base64.b64encode(header + pcm).decode("ascii")


def change_tempo(pcm: NDArray[np.int16], rate: int, speed: float) -> NDArray[np.int16]:
    """Mono int16 audio played `speed` times as fast, pitch kept (FFmpeg's atempo, which
    takes 0.5 to 2 per stage: slower than half speed is two stages). Blocking."""
    if abs(speed - 1.0) < 1e-3 or not len(pcm):
        return pcm
    stages: list[float] = []
    left = speed
    while left < 0.5:
        stages.append(0.5)
        left /= 0.5
    while left > 2.0:
        stages.append(2.0)
        left /= 2.0
    stages.append(left)
    graph = av.filter.Graph()
    source = graph.add_abuffer(format="s16", sample_rate=rate, layout="mono")
    nodes = [source, *(graph.add("atempo", f"{s:.6f}") for s in stages), graph.add("abuffersink")]
    for a, b in zip(nodes, nodes[1:], strict=False):
        a.link_to(b)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(pcm, dtype=np.int16)[None, :], format="s16", layout="mono"
    )
    frame.sample_rate = rate
    frame.pts = 0
    graph.push(frame)
    graph.push(None)
    out: list[NDArray[np.int16]] = []
    while True:
        try:
            result = graph.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            break
        if isinstance(result, av.AudioFrame):
            out.append(result.to_ndarray().reshape(-1).astype(np.int16, copy=False))
    return np.concatenate(out) if out else np.zeros(0, np.int16)
