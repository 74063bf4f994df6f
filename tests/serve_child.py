"""`omnilive serve` in a child process, for tests that signal, kill and restart it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import free_port


class ServeChild:
    """A real server process (tone backend: no models to load) on a free loopback port."""

    def __init__(self, data_dir: Path, *extra: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / f"server-{self.port}-{time.monotonic_ns()}.log"
        cmd = [
            sys.executable,
            "-m",
            "rtc.cli",
            "serve",
            "--backend",
            "tone",
            "--port",
            str(self.port),
            "--data-dir",
            str(data_dir),
            *extra,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("OMNILIVE_API_KEY", None)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)

    async def ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:
            while True:
                assert self.proc.poll() is None, f"server exited early:\n{self.output()}"
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"server did not start:\n{self.output()}"
                await asyncio.sleep(0.1)  # polling the child's /healthz

    async def wait(self, timeout: float = 30.0) -> int:
        return await asyncio.to_thread(self.proc.wait, timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """Make sure the process is gone (test clean-up)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
