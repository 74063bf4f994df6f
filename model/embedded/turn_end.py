"""End of turn from how the voice ends: Smart Turn v3.2, pipecat's open CPU model.

A pause alone cannot tell "I would like to order ... a coffee" from "I would
like a coffee." Smart Turn listens to the last 8 s of the turn (intonation,
pace, the shape of the last words) and says how likely it is that the
speaker has finished. It is a Whisper-tiny encoder with a small classifier
head, int8, 8.7 MB, about 50 ms per window on one CPU thread; it needs no
transcript, so it can run as soon as the VAD hears a pause (though not on
the CPU beside Whisper: they take turns, `threads.speech_models`).

The weights come inside the `pipecat-ai` wheel (BSD 2-Clause, Copyright (c)
2024-2026 Daily), installed pinned by hash and without its dependencies
(requirements/models.txt). pipecat itself is never imported: its package
`__init__` needs loguru and replaces `asyncio.wait_for`. We only locate the
ONNX file, and compute the model's input features here: Whisper's log-mel
spectrogram (80 bins, 10 ms hop, 8 s window), written from the published
Whisper recipe after reading pipecat's `_whisper_features.py` (BSD 2-Clause;
itself derived from Hugging Face transformers' WhisperFeatureExtractor,
Apache-2.0). tests/test_turn_end_model.py checks it against transformers.

Loaded once per process (`TurnEndModel()`); `probability()` blocks for tens
of milliseconds, so callers on an event loop await `score()`, which runs it in the
model's own inference thread.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from model.embedded.threads import inference_executor, speech_models
from model.errors import ModelLoadError

SAMPLE_RATE = 16_000
#: The model sees the last 8 s of a turn; shorter turns are padded with silence in front.
WINDOW_SAMPLES = 8 * SAMPLE_RATE
MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
#: sha256 of the ONNX file in pipecat-ai 1.14.0, so another version's model is not loaded
#: silently under the thresholds tuned for this one.
MODEL_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"

_N_FFT = 400  # 25 ms
_HOP = 160  # 10 ms
_N_MELS = 80
_FRAMES = WINDOW_SAMPLES // _HOP  # 800


def smart_turn_path() -> Path:
    """The ONNX file inside the installed pipecat-ai wheel (found without importing pipecat)."""
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the Python package 'pipecat-ai' (Smart Turn end-of-turn weights) is not "
            "installed; run `make serve` or `pip install --no-deps --require-hashes "
            "-r requirements/models.txt`"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "audio" / "turn" / "smart_turn" / "data" / MODEL_FILE
    if not path.exists():
        raise ModelLoadError(
            f"Smart Turn model file missing: {path} (is pipecat-ai the version pinned in "
            "requirements/models.txt?)"
        )
    return path


def _slaney_mel(hz: NDArray[np.float64]) -> NDArray[np.float64]:
    """Slaney's mel scale (as librosa's default): linear to 1 kHz, logarithmic above."""
    linear = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    out: NDArray[np.float64] = np.where(hz >= 1000.0, log, linear)
    return out


def _slaney_hz(mel: NDArray[np.float64]) -> NDArray[np.float64]:
    linear = mel * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    out: NDArray[np.float64] = np.where(mel >= 15.0, log, linear)
    return out


@functools.cache
def _mel_filters() -> NDArray[np.float64]:
    """(80, 201) triangular filters from 0 to 8 kHz, each scaled to unit area (Slaney norm)."""
    bins = np.linspace(0.0, SAMPLE_RATE / 2, _N_FFT // 2 + 1)
    edges = _slaney_hz(np.linspace(0.0, _slaney_mel(np.array(SAMPLE_RATE / 2.0)), _N_MELS + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    triangles = np.clip(np.minimum(rising, falling), 0.0, None)
    out: NDArray[np.float64] = triangles * (2.0 / (upper - lower))
    return out


@functools.cache
def _hann() -> NDArray[np.float64]:
    """Periodic Hann window (torch.hann_window's default), as Whisper uses."""
    n = np.arange(_N_FFT)
    out: NDArray[np.float64] = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / _N_FFT)
    return out


def last_window(audio: NDArray[np.float32]) -> NDArray[np.float32]:
    """The last 8 s of `audio`, silence-padded in front when shorter (as the model was trained)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)[-WINDOW_SAMPLES:]
    if len(audio) < WINDOW_SAMPLES:
        audio = np.concatenate([np.zeros(WINDOW_SAMPLES - len(audio), np.float32), audio])
    return audio


def log_mel_features(window: NDArray[np.float32]) -> NDArray[np.float32]:
    """Whisper's normalised log-mel spectrogram of one 8 s window: (80, 800) float32.

    The waveform is first scaled to zero mean and unit variance (the feature
    extractor's `do_normalize`, which Smart Turn was trained with); frames are
    centred (reflect padding), the last one dropped, as in Whisper.
    """
    if window.shape != (WINDOW_SAMPLES,):
        raise ValueError(f"expected {WINDOW_SAMPLES} samples, got {window.shape}")
    x = window.astype(np.float32)
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x.astype(np.float64), _N_FFT // 2, mode="reflect")
    starts = np.arange(_FRAMES + 1) * _HOP
    frames = padded[starts[:, None] + np.arange(_N_FFT)[None, :]]
    power = np.abs(np.fft.rfft(frames * _hann(), axis=1)) ** 2  # (801, 201)
    mel = _mel_filters() @ power[:-1].T  # (80, 800)
    log = np.log10(np.maximum(mel, 1e-10))
    log = np.maximum(log, log.max() - 8.0)  # 80 dB of dynamic range
    out: NDArray[np.float32] = ((log + 4.0) / 4.0).astype(np.float32)
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TurnEndModel:
    """Smart Turn v3.2: one ONNX session per process, shared by every call.

    `probability(audio)` is the chance that the speaker has finished their
    turn, from the turn's audio up to now (16 kHz mono float32 in [-1, 1];
    only its last 8 s count). Feed it the turn as the VAD segmented it, with
    the silence heard so far. Score each pause once, at a fixed point (pipecat
    does at 200 ms of silence): the score moves with the length of that
    silence ("I would like to order" in our English voice: 0.59, 0.17, 0.80
    after 150, 200, 250 ms), and it misses what our voices say with a final
    fall ("x is equal to", anything from espeak-ng), so weigh the words too.
    Blocking, ~45 ms on one thread: run it in a worker thread, never on the
    event loop. Thread-safe (one inference at a time, none beside Whisper's).
    """

    def __init__(self, path: Path | None = None, *, threads: int = 1) -> None:
        path = path or smart_turn_path()
        digest = _sha256(path)
        if digest != MODEL_SHA256:
            raise ModelLoadError(
                f"Smart Turn model {path} has sha256 {digest}, expected {MODEL_SHA256}: "
                "pipecat-ai is not the version pinned in requirements/models.txt"
            )
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelLoadError("onnxruntime is not installed") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        # Below the media's priority, as Whisper is: at the default pool's normal priority
        # its scorings of a pause took the CPU from the recogniser every answer waits for.
        self._executor = inference_executor(1, "turn-end")

    async def score(self, audio: NDArray[np.float32]) -> float:
        """`probability` in the model's inference thread (the event loop goes on)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.probability, audio)

    def probability(self, audio: NDArray[np.float32]) -> float:
        """P(turn finished) in [0, 1] for the turn audio ending now (blocking)."""
        features = log_mel_features(last_window(audio))[None, :, :]
        with speech_models:  # one at a time, and never beside Whisper
            (out,) = self._session.run(None, {self._input: features})
        # The graph ends in a sigmoid: its output is already a probability.
        return float(np.clip(np.asarray(out).reshape(-1)[0], 0.0, 1.0))
