"""Gateways behind HAProxy for the benchmarks: `deploy/haproxy.cfg`, as operators run it.

    with balanced_gateways(2, "embedded") as cluster:
        cluster.url       # the balancer: where calls are placed
        cluster.gateways  # each `omnilive serve` (its own URL and pid)

The configuration is the one in `deploy/`, with the gateways appended as `server`
lines exactly as `deploy/run-local.sh` does (tests/lb_cluster.py uses the same
`write_config`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import ServerChild, free_port, server_child

CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg"


def write_config(path: Path, gateways: dict[str, int]) -> None:
    """deploy/haproxy.cfg plus one `server` line per gateway (name -> loopback port)."""
    lines = [f"    server {name} 127.0.0.1:{port}\n" for name, port in gateways.items()]
    path.write_text(CONFIG.read_text() + "".join(lines))


@dataclass(frozen=True)
class BalancedGateways:
    url: str
    """The balancer."""
    balancer_pid: int
    gateways: tuple[ServerChild, ...]


@contextlib.contextmanager
def balanced_gateways(count: int, backend: str, *extra: str) -> Iterator[BalancedGateways]:
    """`count` gateways (`omnilive serve --backend backend *extra`) behind HAProxy."""
    binary = shutil.which("haproxy")
    if binary is None:
        raise RuntimeError("haproxy is not installed (apt-get install haproxy)")
    run = Path(tempfile.mkdtemp(prefix="omnilive-bench-lb-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, run, ignore_errors=True)
        gateways = tuple(
            stack.enter_context(server_child(backend, "--data-dir", str(run / f"g{i}"), *extra))
            for i in range(1, count + 1)
        )
        ports = {f"g{i}": int(g.url.rsplit(":", 1)[1]) for i, g in enumerate(gateways, 1)}
        write_config(run / "haproxy.cfg", ports)
        port = free_port()
        env = {
            **os.environ,
            "OMNILIVE_LB_BIND": f"127.0.0.1:{port}",
            "OMNILIVE_LB_SOCKET": str(run / "haproxy.sock"),
            "OMNILIVE_LB_CHECK_INTER": "500ms",
        }
        log = (run / "haproxy.log").open("wb")
        stack.callback(log.close)
        proc = subprocess.Popen(
            [binary, "-db", "-f", str(run / "haproxy.cfg")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        stack.callback(stop_process, proc)
        url = f"http://127.0.0.1:{port}"
        _wait_all_up(url, proc, count)
        yield BalancedGateways(url, proc.pid, gateways)


def _wait_all_up(url: str, proc: subprocess.Popen[bytes], count: int) -> None:
    """Until the balancer has answered /healthz from every gateway (its checks passed)."""
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while len(seen) < count:
        if proc.poll() is not None:
            raise RuntimeError(f"haproxy exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(seen)} of {count} gateways came up behind haproxy")
        try:
            answer = httpx.get(url + "/healthz", timeout=2)
            if answer.status_code == 200:
                seen.add(answer.headers.get("x-omnilive-gateway", ""))
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
