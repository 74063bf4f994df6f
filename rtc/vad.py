"""Voice activity detection with silero-vad's bundled ONNX model.

One ONNX session per process; each call keeps only its recurrent state.
Inference runs on a dedicated worker thread (it is ~0.1 ms per chunk, but
the event loop is for I/O only).
"""

from __future__ import annotations

import asyncio
import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from model.errors import ModelLoadError

#: silero-vad at 16 kHz takes exactly 512 new samples (32 ms) per step.
CHUNK_SAMPLES = 512
SAMPLE_RATE = 16_000
CHUNK_MS = 1000 * CHUNK_SAMPLES / SAMPLE_RATE
_CONTEXT = 64


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

    def stream(self) -> VADStream:
        return VADStream(self)

    def probability(self, stream: VADStream, chunk: NDArray[np.float32]) -> float:
        x = np.concatenate([stream.context, chunk])[None, :]
        out, state = self._session.run(None, {"input": x, "state": stream.state, "sr": self._sr})
        stream.state = state
        stream.context = chunk[-_CONTEXT:]
        return float(out[0][0])

    async def aprobability(self, stream: VADStream, chunk: NDArray[np.float32]) -> float:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.probability, stream, chunk)

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
