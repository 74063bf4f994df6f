"""The assistant's voice: one paced playout clock per conversation, clearable at once.

Speech is queued tagged with the answer it belongs to; `next_frame` hands out the
next 20 ms when it is due, silence when there is nothing to say, for the whole call.
Every transport pulls its frames here: the WebRTC track encodes them as Opus, the
WebSocket sends them as `response.output_audio.delta`. What was handed out is what
counts as played, so a barge-in truncates the conversation to what the user can
have heard, whatever carries it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms
FRAME_MS = 1000 * FRAME_SAMPLES / SAMPLE_RATE
#: A consumer this late (the event loop stalled) restarts the clock instead of bursting.
MAX_LATE_S = 0.2

SILENCE: NDArray[np.int16] = np.zeros(FRAME_SAMPLES, dtype=np.int16)
SILENCE.setflags(write=False)


@dataclass(frozen=True)
class Owner:
    """The answer a piece of speech belongs to."""

    response_id: str
    item_id: str
    """The assistant item the answer's audio goes into."""


@dataclass(frozen=True)
class Frame:
    """20 ms of output: speech of `owner`, or silence (`owner` None, `pcm` is SILENCE)."""

    pcm: NDArray[np.int16]
    owner: Owner | None

    @property
    def silent(self) -> bool:
        return self.owner is None


@dataclass
class _Segment:
    owner: Owner
    pcm: NDArray[np.int16]
    offset: int = 0


@dataclass
class _Playback:
    played_samples: int = 0
    queued_samples: int = 0
    started: bool = False
    ended: bool = False
    """No more audio will be queued for this answer."""
    finished: asyncio.Future[None] | None = None


class PlayoutListener:
    """Told when an answer's first sample goes out and when its last one has."""

    def audio_started(self, owner: Owner) -> None:
        pass

    def audio_finished(self, owner: Owner) -> None:
        pass


class Playout:
    def __init__(self, listener: PlayoutListener | None = None) -> None:
        self._queue: deque[_Segment] = deque()
        self._playbacks: dict[str, _Playback] = {}
        self._paused_at: float | None = None
        """When the audio was paused (None: it is not)."""
        self._stopped = False
        self._start: float | None = None
        self._frames = 0
        self.listener = listener or PlayoutListener()
        self.tap: Callable[[Frame], None] | None = None
        """Sees every frame handed out (the echo canceller's reference)."""

    # -- producer side -------------------------------------------------------------
    def enqueue(self, owner: Owner, pcm: NDArray[np.int16]) -> None:
        """Queue 48 kHz mono speech for an answer."""
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError("output audio must be 1-D int16 at 48 kHz")
        playback = self._playbacks.setdefault(owner.response_id, _Playback())
        if playback.ended:
            raise ValueError(f"response {owner.response_id} already ended its audio")
        if len(pcm):
            self._queue.append(_Segment(owner, pcm))
            playback.queued_samples += len(pcm)

    def end(self, owner: Owner) -> asyncio.Future[None]:
        """No more audio for this answer; the future resolves once all of it has played."""
        playback = self._playbacks.setdefault(owner.response_id, _Playback())
        playback.ended = True
        if playback.finished is None:
            playback.finished = asyncio.get_running_loop().create_future()
        self._maybe_finish(owner, playback)
        return playback.finished

    def played_ms(self, response_id: str) -> float:
        playback = self._playbacks.get(response_id)
        return 1000.0 * playback.played_samples / SAMPLE_RATE if playback else 0.0

    def has_started(self, response_id: str) -> bool:
        playback = self._playbacks.get(response_id)
        return bool(playback and playback.started)

    @property
    def queued_ms(self) -> float:
        samples = sum(len(s.pcm) - s.offset for s in self._queue)
        return 1000.0 * samples / SAMPLE_RATE

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def pause(self) -> None:
        """Go silent now, keeping what is queued (a possible false interruption)."""
        if self._paused_at is None:
            self._paused_at = time.monotonic()

    def resume(self) -> float | None:
        """Play on; returns how long the audio was paused (None if it was not)."""
        paused_at, self._paused_at = self._paused_at, None
        return None if paused_at is None else time.monotonic() - paused_at

    def clear(self) -> dict[str, float]:
        """Drop everything queued; returns ms played per answer that had audio queued."""
        played = {s.owner.response_id: self.played_ms(s.owner.response_id) for s in self._queue}
        self._queue.clear()
        self._paused_at = None
        for response_id in played:
            playback = self._playbacks.pop(response_id, None)
            if playback and playback.finished and not playback.finished.done():
                playback.finished.set_result(None)
        return played

    def forget(self, response_id: str) -> None:
        """Drop the bookkeeping of a finished answer."""
        playback = self._playbacks.pop(response_id, None)
        if playback and playback.finished and not playback.finished.done():
            playback.finished.cancel()

    def stop(self) -> None:
        """The call ended: no more frames."""
        self._stopped = True
        self._queue.clear()
        self.listener = PlayoutListener()
        self.tap = None

    @property
    def stopped(self) -> bool:
        return self._stopped

    # -- consumer side: the one clock ------------------------------------------------
    async def next_frame(self) -> Frame:
        """The next 20 ms, when it is due (the first at once). Raises PlayoutStopped."""
        if self._stopped:
            raise PlayoutStopped
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._frames += 1
            wait = self._start + self._frames * FRAME_MS / 1000 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -MAX_LATE_S:
                self._start = time.monotonic() - self._frames * FRAME_MS / 1000
            if self._stopped:
                raise PlayoutStopped
        frame = self.take() if self._paused_at is None else Frame(SILENCE, None)
        if self.tap is not None:
            self.tap(frame)
        return frame

    def take(self) -> Frame:
        """The next 20 ms of queued speech, now (silence when nothing is queued)."""
        if not self._queue:
            return Frame(SILENCE, None)
        owner = self._queue[0].owner
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES and self._queue:
            segment = self._queue[0]
            n = min(FRAME_SAMPLES - filled, len(segment.pcm) - segment.offset)
            out[filled : filled + n] = segment.pcm[segment.offset : segment.offset + n]
            segment.offset += n
            filled += n
            playback = self._playbacks.get(segment.owner.response_id)
            if playback is not None:
                playback.played_samples += n
                if not playback.started:
                    playback.started = True
                    self.listener.audio_started(segment.owner)
            if segment.offset >= len(segment.pcm):
                self._queue.popleft()
                if playback is not None:
                    self._maybe_finish(segment.owner, playback)
        return Frame(out, owner)

    def _maybe_finish(self, owner: Owner, playback: _Playback) -> None:
        if not playback.ended or playback.played_samples < playback.queued_samples:
            return
        if playback.finished is not None and not playback.finished.done():
            playback.finished.set_result(None)
            if playback.started:
                self.listener.audio_finished(owner)


class PlayoutStopped(Exception):
    """The conversation ended; its playout hands out no more frames."""
