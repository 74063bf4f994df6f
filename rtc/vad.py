"""Voice activity detection with silero-vad's bundled ONNX model.

One ONNX session per process; each call keeps only its recurrent state.
Inference runs on a dedicated worker thread (the event loop is for I/O only).
Chunks from many calls are run together: one thread hop and one ONNX run for
a batch, with the same probabilities as one by one. A single chunk costs
about 0.4 ms of inference plus as much again for the hop; in a batch of four
each costs under half that. So with a few calls talking, a chunk that finds
the thread idle waits up to `GATHER_S` for the other calls' chunks; with one
or two calls it is sent alone at once, and chunks arriving while a batch runs
always go in the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from model.errors import ModelLoadError

#: silero-vad at 16 kHz takes exactly 512 new samples (32 ms) per step.
CHUNK_SAMPLES = 512
SAMPLE_RATE = 16_000
CHUNK_MS = 1000 * CHUNK_SAMPLES / SAMPLE_RATE
_CONTEXT = 64
#: With this many calls' streams active, a chunk waits up to GATHER_S for others.
GATHER_FROM = 3
GATHER_S = 0.005
#: A stream that sent nothing for this long no longer counts as active.
ACTIVE_S = 0.2


def silero_onnx_path() -> Path:
    # find_spec does not import the package (which would import torch).
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("the Python package 'silero-vad' (VAD weights) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.exists():
        raise ModelLoadError(f"silero-vad model file missing: {path}")
    return path


class SileroVAD:
    """The shared model."""

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path or silero_onnx_path()),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="omnilive-vad")
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher] = (
            weakref.WeakKeyDictionary()
        )

    def stream(self) -> VADStream:
        return VADStream(self)

    def probability(self, stream: VADStream, chunk: NDArray[np.float32]) -> float:
        return self.probabilities([(stream, chunk)])[0]

    def probabilities(self, batch: list[tuple[VADStream, NDArray[np.float32]]]) -> list[float]:
        """One step of several streams (each at most once) in one run; blocking."""
        x = np.stack([np.concatenate([stream.context, chunk]) for stream, chunk in batch])
        state = np.concatenate([stream.state for stream, _ in batch], axis=1)
        out, state = self._session.run(None, {"input": x, "state": state, "sr": self._sr})
        for row, (stream, chunk) in enumerate(batch):
            stream.state = state[:, row : row + 1]
            stream.context = chunk[-_CONTEXT:]
        return [float(p) for p in out[:, 0]]

    async def aprobability(self, stream: VADStream, chunk: NDArray[np.float32]) -> float:
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = self._batchers[loop] = _Batcher(self, loop)
        return await batcher.submit(stream, chunk)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class VADStream:
    """One call's recurrent state."""

    def __init__(self, model: SileroVAD) -> None:
        self.model = model
        self.reset()

    def reset(self) -> None:
        self.state = np.zeros((2, 1, 128), dtype=np.float32)
        self.context = np.zeros(_CONTEXT, dtype=np.float32)

    async def probability(self, chunk: NDArray[np.float32]) -> float:
        if chunk.shape != (CHUNK_SAMPLES,):
            raise ValueError(f"VAD chunks are {CHUNK_SAMPLES} samples, got {chunk.shape}")
        return await self.model.aprobability(self, chunk.astype(np.float32, copy=False))


_Pending = tuple["VADStream", NDArray[np.float32], "asyncio.Future[float]"]


class _Batcher:
    """One event loop's queue to the VAD thread: at most one batch in flight."""

    def __init__(self, model: SileroVAD, loop: asyncio.AbstractEventLoop) -> None:
        self._model = model
        self._loop = loop
        self._waiting: list[_Pending] = []
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None
        self._last_chunk: dict[int, float] = {}
        """When each stream (by id) last sent a chunk."""
        self._pruned = 0.0

    def submit(self, stream: VADStream, chunk: NDArray[np.float32]) -> asyncio.Future[float]:
        future: asyncio.Future[float] = self._loop.create_future()
        self._waiting.append((stream, chunk, future))
        if self._busy:
            return future  # goes in the next batch
        active = self._active(id(stream))
        if active < GATHER_FROM or len(self._waiting) >= active:
            self._send()
        elif self._timer is None:
            self._timer = self._loop.call_later(GATHER_S, self._send)
        return future

    def _active(self, stream_id: int) -> int:
        """Streams that sent a chunk lately (this one included)."""
        now = self._loop.time()
        self._last_chunk[stream_id] = now
        if now - self._pruned > ACTIVE_S:
            self._pruned = now
            self._last_chunk = {k: t for k, t in self._last_chunk.items() if now - t <= ACTIVE_S}
        return len(self._last_chunk)

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch: list[_Pending] = []
        later: list[_Pending] = []
        seen: set[int] = set()
        for item in self._waiting:
            if item[2].cancelled():
                continue
            # A stream's next chunk needs the state its previous one leaves.
            (later if id(item[0]) in seen else batch).append(item)
            seen.add(id(item[0]))
        self._waiting = later
        if not batch:
            self._busy = False
            return
        self._busy = True
        work = self._model._executor.submit(
            self._model.probabilities, [(s, c) for s, c, _ in batch]
        )
        work.add_done_callback(lambda done: self._back(batch, done))

    def _back(self, batch: list[_Pending], done: Future[list[float]]) -> None:
        """On the VAD thread: hand the results to the loop (unless it is gone)."""
        if not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                self._loop.call_soon_threadsafe(self._done, batch, done)

    def _done(self, batch: list[_Pending], done: Future[list[float]]) -> None:
        error = done.exception()
        for row, (_, _, future) in enumerate(batch):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(done.result()[row])
        self._send()
