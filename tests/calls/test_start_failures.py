"""Every way `omnilive serve` can fail to start ends in one clear line on stderr, no
traceback, and a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import free_port


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtc.cli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    line = lines[0]
    assert line.startswith("omnilive"), line
    for word in words:
        assert word in line, line
    return line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--port", "eighty"), ("--port", "invalid int")),
        (("--backend", "magic"), ("--backend", "invalid choice")),
        (("--no-such-flag",), ("--no-such-flag",)),
    ],
)
def test_a_bad_flag(args: tuple[str, ...], words: tuple[str, ...]) -> None:
    result = serve(*args)
    assert result.returncode == 2
    one_clear_line(result, *words)


def test_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve("--backend", "tone", "--port", str(port), "--no-records")
    one_clear_line(result, f"127.0.0.1:{port}", "in use")


def test_missing_model_files(tmp_path: Path) -> None:
    result = serve(
        "--backend", "transformers", "--model-path", str(tmp_path), "--port", str(free_port())
    )
    one_clear_line(result, str(tmp_path), "config.json")


def test_a_backend_without_what_it_needs() -> None:
    result = serve("--backend", "remote", "--port", str(free_port()))
    one_clear_line(result, "--remote-url")


def test_a_missing_debian_package(tmp_path: Path) -> None:
    """Apertium (Debian's `apertium`) not on the PATH: said before any model is loaded."""
    env = {**os.environ, "PATH": str(tmp_path)}
    result = serve("--port", str(free_port()), env=env)
    one_clear_line(result, "Apertium", "apertium-eng-spa")
