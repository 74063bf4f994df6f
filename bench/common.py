"""Helpers shared by the benchmarks: a server in a child process, speech clips, percentiles."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from model.embedded.tts import EspeakVoices, PiperEnglishVoice


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServerChild:
    url: str
    pid: int


@contextlib.contextmanager
def http_child(
    module: str, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[ServerChild]:
    """`python -m module *args --port N` in a child process, once its /healthz answers."""
    port = free_port()
    cmd = [sys.executable, "-m", module, *args, "--port", str(port)]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become healthy in 120 s")
            time.sleep(0.2)
        yield ServerChild(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def server_child(
    backend: str, *extra: str, env: Mapping[str, str] | None = None
) -> Iterator[ServerChild]:
    """`omnilive serve` in a child process (its own CPU, as in production), once healthy.

    Its log level is OMNILIVE_BENCH_LOG_LEVEL (default warning: logs cost CPU too)."""
    level = os.environ.get("OMNILIVE_BENCH_LOG_LEVEL", "warning")
    args = ("serve", "--backend", backend, "--log-level", level, *extra)
    with http_child("rtc.cli", *args, env=env) as server:
        yield server


@contextlib.contextmanager
def server_process(backend: str, *extra: str) -> Iterator[str]:
    """`omnilive serve` in a child process; yields the base URL."""
    with server_child(backend, *extra) as server:
        yield server.url


@functools.cache
def _voices() -> tuple[PiperEnglishVoice, EspeakVoices]:
    from model.embedded.tts import EspeakVoices, PiperEnglishVoice

    return PiperEnglishVoice(), EspeakVoices()


def speech_clip(text: str, language: str) -> NDArray[np.int16]:
    """A 48 kHz clip spoken by the project's own voices (loads only the TTS, once)."""
    from model.audio import resample_int16

    voice, espeak = _voices()
    if language == "en":
        pcm = np.concatenate([p for _, p in voice.sentences(text)])
        return resample_int16(pcm, voice.sample_rate, 48_000)
    return resample_int16(espeak.synthesize(text, language), espeak.sample_rate, 48_000)


def voiced_bounds(pcm: NDArray[np.int16], level: int = 500) -> tuple[float, float]:
    """Seconds from the clip start to its first and last loud sample."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > level)
    if len(loud) == 0:
        return 0.0, len(pcm) / 48_000
    return loud[0] / 48_000, loud[-1] / 48_000


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def ms(value: float) -> str:
    return "n/a" if value != value else f"{1000 * value:6.0f} ms"
