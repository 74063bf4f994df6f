"""Keeping up: how fast to voice a segment, and making its voice that fast.

Segments arrive at the pace the speaker talks. If each segment's voice lasts no
longer than the speech it renders (plus a little slack), the interpreter keeps a
constant distance behind the speaker; if it lasts longer (Spanish runs ~20% longer
than English), the queue of unplayed voice would grow without end. So a segment is
sped up just enough for the queue and its own voice to fit in the time its source
took, up to `max_speed`: pauses inside it are shortened first, then the voice is
time-stretched (FFmpeg's `atempo`: faster, same pitch).
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from av.filter import Graph
from numpy.typing import NDArray

#: A 20 ms frame quieter than this (int16 RMS) is a pause.
PAUSE_LEVEL = 300.0


def speed_for(
    *,
    queued_s: float,
    voice_s: float,
    source_s: float,
    slack_s: float,
    max_speed: float,
    share: float = 1.0,
) -> float:
    """How much faster than natural to voice a segment (1.0 = as synthesized).

    `queued_s`: voice already waiting to be played; `voice_s`: this segment's voice;
    `source_s`: the speech it renders, with the pause before it (about the time the next
    segment will take to arrive); `share`: of that time, how much the voice may fill."""
    budget = max(0.5, source_s * share + slack_s)
    needed = (queued_s + voice_s) / budget
    return float(min(max_speed, max(1.0, needed)))


def trim_silence(pcm: NDArray[np.int16], rate: int, keep_ms: int = 20) -> NDArray[np.int16]:
    """Drop the quiet start and end of a piece of synthesized voice."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > PAUSE_LEVEL)
    if len(loud) == 0:
        return pcm[:0]
    keep = rate * keep_ms // 1000
    return pcm[max(0, int(loud[0]) - keep) : int(loud[-1]) + 1 + keep]


def shorten_pauses(pcm: NDArray[np.int16], rate: int, max_pause_s: float) -> NDArray[np.int16]:
    """Cut every pause inside the voice down to `max_pause_s`."""
    frame = rate // 50
    n = len(pcm) // frame
    if n < 3:
        return pcm
    frames = pcm[: n * frame].astype(np.float32).reshape(n, frame)
    quiet = np.sqrt(np.mean(frames**2, axis=1)) < PAUSE_LEVEL
    keep = np.ones(n, dtype=bool)
    allowed = max(1, int(max_pause_s * 50))
    run = 0
    for i in range(n):
        run = run + 1 if quiet[i] else 0
        if run > allowed:
            keep[i] = False
    if keep.all():
        return pcm
    kept = pcm[: n * frame].reshape(n, frame)[keep].reshape(-1)
    return np.concatenate([kept, pcm[n * frame :]])


def stretch(pcm: NDArray[np.int16], rate: int, speed: float) -> NDArray[np.int16]:
    """Play `speed` times faster with the same pitch (FFmpeg atempo; blocking, ~1 ms/s)."""
    if speed <= 1.001 or len(pcm) < rate // 10:
        return pcm
    graph = Graph()
    source = graph.add_abuffer(
        format="s16", sample_rate=rate, layout="mono", time_base=Fraction(1, rate)
    )
    tempo = graph.add("atempo", f"{speed:.4f}")
    sink = graph.add("abuffersink")
    source.link_to(tempo)
    tempo.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(pcm, dtype=np.int16)[None, :], format="s16", layout="mono"
    )
    frame.sample_rate = rate
    frame.pts = 0
    frame.time_base = Fraction(1, rate)
    graph.push(frame)
    graph.push(None)
    out: list[NDArray[np.int16]] = []
    while True:
        try:
            got = graph.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            break
        out.append(got.to_ndarray().reshape(-1).astype(np.int16, copy=False))
    return np.concatenate(out) if out else pcm[:0]


def hasten(
    pcm: NDArray[np.int16], rate: int, speed: float, max_pause_s: float
) -> NDArray[np.int16]:
    """Voice `speed` times shorter: shorter pauses first, then a stretch for the rest."""
    if speed <= 1.001:
        return pcm
    target = len(pcm) / speed
    shorter = shorten_pauses(pcm, rate, max_pause_s)
    rest = len(shorter) / target if target > 0 else 1.0
    return stretch(shorter, rate, rest) if rest > 1.01 else shorter
