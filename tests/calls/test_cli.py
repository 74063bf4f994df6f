"""The two commands a new user runs: `omnilive serve`, then `omnilive call` against it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import wave
from pathlib import Path

import httpx
import pytest

from bench.common import free_port
from tests.conftest import Clips

pytestmark = pytest.mark.models


def _write_wav(path: Path, pcm: object, rate: int = 48_000) -> None:
    import numpy as np

    assert isinstance(pcm, np.ndarray)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def test_serve_refuses_a_public_address_without_allow_public() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rtc.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--allow-public" in result.stderr


def test_serve_then_call_with_a_wav(tmp_path: Path, clips: Clips) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "rtc.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "server exited early"
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)  # polling the child's /healthz
        wav = tmp_path / "hello.wav"
        record = tmp_path / "answer.wav"
        _write_wav(wav, clips.english)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "rtc.cli",
                "call",
                url,
                "--scenario",
                "interpreter",
                "--languages",
                "en,es",
                "--wav",
                str(wav),
                "--record",
                str(record),
                "--timeout",
                "60",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        kinds = [e["type"] for e in events]
        assert kinds[0] == "session.created"
        done = [e for e in events if e["type"] == "translation.done"]
        assert done and done[0]["target_language"] == "es"
        assert "recorded" in result.stderr
        with wave.open(str(record)) as answer:
            assert answer.getnframes() > 48_000  # at least a second of the call
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    # What a user sees while it starts: model loading progress, then ready.
    assert "loading speech recognition" in output
    assert "a first sentence voiced and heard ready" in output
    assert "ready" in output
