"""HAProxy with deploy/haproxy.cfg in front of `omnilive serve` children, for tests.

The balancer runs the configuration that ships in `deploy/`, with the gateways
appended as `server` lines exactly as `deploy/run-local.sh` does, so the test
exercises what operators run. Its admin socket tells the test what HAProxy
thinks of each gateway (up, down, and why).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.cluster import stop_process, write_config
from bench.common import free_port
from tests.serve_child import ServeChild

GATEWAY_HEADER = "x-omnilive-gateway"
"""Set by the balancer on every answer: the name of the gateway that gave it."""


def haproxy_binary() -> str | None:
    return shutil.which("haproxy")


@dataclass(frozen=True)
class ServerState:
    status: str
    """UP, DOWN, MAINT, ... (HAProxy's view)."""
    check_status: str
    """Why: L7OK, L7RSP (the answer did not match `http-check expect`), L4CON, ..."""


@dataclass
class Balancer:
    proc: subprocess.Popen[bytes]
    url: str
    socket: Path
    log: Path

    async def servers(self) -> dict[str, ServerState]:
        """`show stat` on the admin socket: each gateway's state."""
        reader, writer = await asyncio.open_unix_connection(str(self.socket))
        try:
            writer.write(b"show stat\n")
            await writer.drain()
            text = (await reader.read()).decode()
        finally:
            writer.close()
            await writer.wait_closed()
        rows = csv.DictReader(text.lstrip("# ").splitlines())
        return {
            row["svname"]: ServerState(row["status"], row["check_status"])
            for row in rows
            if row.get("pxname") == "gateways" and row["svname"] not in ("BACKEND", "FRONTEND")
        }

    async def wait_for(self, name: str, status: str, timeout: float = 30.0) -> ServerState:
        """Once HAProxy's health checks have put gateway `name` in `status`."""

        async def poll() -> ServerState:
            while True:
                assert self.proc.poll() is None, f"haproxy exited:\n{self.output()}"
                try:
                    state = (await self.servers()).get(name)
                except OSError:  # its admin socket is not there yet
                    state = None
                if state is not None and state.status == status:
                    return state
                await asyncio.sleep(0.1)

        return await asyncio.wait_for(poll(), timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Answer:
    method: str
    path: str
    status: int
    gateway: str | None


@dataclass
class Cluster:
    balancer: Balancer
    gateways: dict[str, ServeChild]
    answers: list[Answer] = field(default_factory=list)
    """Every answer that came back through the balancer, in order."""

    def client(self, credential: str) -> httpx.AsyncClient:
        """An HTTP client whose base URL is the balancer; it records who answered."""

        async def record(response: httpx.Response) -> None:
            request = response.request
            gateway = response.headers.get(GATEWAY_HEADER)
            self.answers.append(
                Answer(request.method, request.url.path, response.status_code, gateway)
            )

        return httpx.AsyncClient(
            base_url=self.balancer.url,
            headers={"Authorization": f"Bearer {credential}"},
            timeout=30,
            event_hooks={"response": [record]},
        )

    def answered(self, method: str, path: str) -> Answer:
        """The last answer to `method path`."""
        return next(a for a in reversed(self.answers) if (a.method, a.path) == (method, path))

    async def active_calls(self) -> dict[str, int]:
        """Each gateway's own count, asked directly (not through the balancer)."""
        counts: dict[str, int] = {}
        async with httpx.AsyncClient(timeout=5) as http:
            for name, child in self.gateways.items():
                counts[name] = (await http.get(child.url + "/healthz")).json()["active_calls"]
        return counts

    def other(self, name: str) -> str:
        (rest,) = [g for g in self.gateways if g != name]
        return rest


@contextlib.asynccontextmanager
async def cluster(data_dir: Path, *extra: str, gateways: int = 2) -> AsyncIterator[Cluster]:
    """`gateways` tone gateways (with `extra` flags) behind HAProxy, all up and checked."""
    binary = haproxy_binary()
    assert binary is not None
    children: dict[str, ServeChild] = {}
    balancer: Balancer | None = None
    try:
        for i in range(gateways):
            name = f"g{i + 1}"
            (data_dir / name).mkdir(parents=True, exist_ok=True)
            children[name] = ServeChild(data_dir / name, *extra)
        await asyncio.gather(*(child.ready() for child in children.values()))
        balancer = _start_balancer(binary, data_dir, {n: c.port for n, c in children.items()})
        for name in children:
            await balancer.wait_for(name, "UP")
        yield Cluster(balancer, children)
    finally:
        for child in children.values():
            child.stop()
        if balancer is not None:
            stop_process(balancer.proc)
            shutil.rmtree(balancer.socket.parent, ignore_errors=True)


def _start_balancer(binary: str, data_dir: Path, ports: dict[str, int]) -> Balancer:
    config = data_dir / "haproxy.cfg"
    write_config(config, ports)
    port = free_port()
    # A short path: a UNIX socket's name may not be much longer than 100 bytes.
    socket = Path(tempfile.mkdtemp(prefix="omnilive-lb-")) / "haproxy.sock"
    env = {
        **os.environ,
        "OMNILIVE_LB_BIND": f"127.0.0.1:{port}",
        "OMNILIVE_LB_SOCKET": str(socket),
        "OMNILIVE_LB_CHECK_INTER": "250ms",
    }
    log = data_dir / "haproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "-db", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    return Balancer(proc, f"http://127.0.0.1:{port}", socket, log)
