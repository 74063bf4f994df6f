"""The network lab: a phone and a server in their own network namespaces, a link between.

```
 client ns            net ns                                  server ns
 c0 10.77.0.2 ── veth ── nc  [impair.py bridge]  ns ── veth ── s0 10.77.0.1
                                                                omnilive serve :8080
                                                                turnserver :3478 (NAT lab)
```

Each namespace sees only its own addresses. In the impaired lab the middle namespace
bridges the two links in user space (tests/netlab/impair.py: loss, jitter,
reordering, a rate cap, outages). In the NAT lab (`nat=True`) the middle namespace is
a router instead: the client has a private address (192.168.77.2) behind an iptables
masquerade, and the router forwards only new connections to the server's signaling
port and to the TURN server: no direct media path exists, so a call connects only
through the relay.

Everything is made by the lab and removed by `close()` (namespaces go with their veths,
iptables rules and processes), also when a test fails. It needs root and iproute2,
ethtool (offloads off: the bridge forwards whole frames), iptables and coturn for the
NAT lab; `unavailable()` says why it cannot run, for a clear skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from tests.netlab.profiles import Impairment

ROOT = Path(__file__).resolve().parents[2]
SERVER_IP = "10.77.0.1"
CLIENT_IP = "10.77.0.2"
NAT_CLIENT_IP = "192.168.77.2"
NAT_INSIDE_IP = "192.168.77.1"
NAT_OUTSIDE_IP = "10.77.0.3"
SERVER_PORT = 8080
SERVER_URL = f"http://{SERVER_IP}:{SERVER_PORT}"
TURN_PORT = 3478
TURN_USER, TURN_PASSWORD = "omnilive", "lab-secret"
TURN_URL = f"turn:{TURN_USER}:{TURN_PASSWORD}@{SERVER_IP}:{TURN_PORT}"

_labs = itertools.count()


def unavailable(*, nat: bool = False) -> str | None:
    """Why the lab cannot run here (None: it can)."""
    if not sys.platform.startswith("linux"):
        return "the network lab needs Linux network namespaces"
    if os.geteuid() != 0:
        return "the network lab needs root to make network namespaces (CI runs it as root)"
    probe = f"olprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot make a network namespace here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def missing_tools(*, nat: bool = False) -> list[str]:
    """Lab tools `make test` installs (scripts/install-system-deps.sh) that are not here:
    a broken set-up, not a reason to skip."""
    tools = ["ip", "ethtool", *(["iptables", "turnserver"] if nat else [])]
    return [t for t in tools if shutil.which(t) is None]


def _run(*cmd: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode}")


def python_env() -> dict[str, str]:
    """The environment of the lab's Python children: this checkout first on the path."""
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""),
        "PYTHONUNBUFFERED": "1",
    }


class NetLab:
    """Three namespaces for one test; `close()` (or the context manager) removes them."""

    def __init__(self, logs: Path, *, nat: bool = False) -> None:
        name = f"ol{os.getpid() % 100000}x{next(_labs)}"
        self.client, self.net, self.server = f"{name}c", f"{name}n", f"{name}s"
        self.nat = nat
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self._children: list[subprocess.Popen[bytes]] = []
        self._bridge: subprocess.Popen[bytes] | None = None
        self.impairment = Impairment()

    def __enter__(self) -> NetLab:
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- building ---------------------------------------------------------------------
    def build(self) -> None:
        for ns in (self.client, self.net, self.server):
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "link", "add", "c0", "netns", self.client, "type", "veth", "peer", "name", "nc", "netns", self.net)  # fmt: skip
        _run("ip", "link", "add", "s0", "netns", self.server, "type", "veth", "peer", "name", "ns", "netns", self.net)  # fmt: skip
        for ns, dev in (
            (self.client, "c0"),
            (self.net, "nc"),
            (self.net, "ns"),
            (self.server, "s0"),
        ):
            # Whole, checksummed frames: the bridge forwards what it reads as it is.
            _run("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off")  # fmt: skip
            _run("ip", "-n", ns, "link", "set", dev, "up")
        _run("ip", "-n", self.server, "addr", "add", f"{SERVER_IP}/24", "dev", "s0")
        if self.nat:
            self._build_nat()
        else:
            _run("ip", "-n", self.client, "addr", "add", f"{CLIENT_IP}/24", "dev", "c0")
            self._start_bridge()

    def _build_nat(self) -> None:
        _run("ip", "-n", self.client, "addr", "add", f"{NAT_CLIENT_IP}/24", "dev", "c0")
        _run("ip", "-n", self.client, "route", "add", "default", "via", NAT_INSIDE_IP)
        _run("ip", "-n", self.net, "addr", "add", f"{NAT_INSIDE_IP}/24", "dev", "nc")
        _run("ip", "-n", self.net, "addr", "add", f"{NAT_OUTSIDE_IP}/24", "dev", "ns")
        _run("ip", "netns", "exec", self.net, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
        ipt = ("ip", "netns", "exec", self.net, "iptables")
        _run(*ipt, "-t", "nat", "-A", "POSTROUTING", "-o", "ns", "-j", "MASQUERADE")
        _run(*ipt, "-P", "FORWARD", "DROP")
        _run(*ipt, "-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")  # fmt: skip
        # New flows from the phone: signaling, and the TURN server. Nothing else.
        _run(*ipt, "-A", "FORWARD", "-i", "nc", "-p", "tcp", "-d", SERVER_IP, "--dport", str(SERVER_PORT), "-j", "ACCEPT")  # fmt: skip
        for proto in ("udp", "tcp"):
            _run(*ipt, "-A", "FORWARD", "-i", "nc", "-p", proto, "-d", SERVER_IP, "--dport", str(TURN_PORT), "-j", "ACCEPT")  # fmt: skip

    def _start_bridge(self) -> None:
        _run("ip", "-n", self.net, "link", "set", "nc", "promisc", "on")
        _run("ip", "-n", self.net, "link", "set", "ns", "promisc", "on")
        log = (self.logs / "bridge.log").open("wb")
        bridge = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.net,
                sys.executable,
                "-m",
                "tests.netlab.impair",
                "nc",
                "ns",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=ROOT,
            env=python_env(),
        )
        self._children.append(bridge)
        self._bridge = bridge
        if self._reply(bridge, 30.0) != "ready":
            raise RuntimeError(f"the lab's bridge did not start: see {self.logs / 'bridge.log'}")

    # -- the link ---------------------------------------------------------------------
    def impair(self, impairment: Impairment) -> None:
        """Change what the link does, at once (both directions)."""
        bridge = self._bridge
        if bridge is None or bridge.stdin is None:
            raise RuntimeError("the NAT lab has no impaired link")
        bridge.stdin.write((json.dumps({"set": impairment.as_json()}) + "\n").encode())
        bridge.stdin.flush()
        if self._reply(bridge, 5.0) != "ok":
            raise RuntimeError("the lab's bridge did not take the impairment")
        self.impairment = impairment

    def link_stats(self) -> dict[str, Any]:
        bridge = self._bridge
        if bridge is None or bridge.stdin is None:
            return {}
        bridge.stdin.write(b'{"stats": true}\n')
        bridge.stdin.flush()
        stats: dict[str, Any] = json.loads(self._reply(bridge, 5.0))
        return stats

    @staticmethod
    def _reply(child: subprocess.Popen[bytes], timeout: float) -> str:
        """One line from a lab child (it answers at once: this waits milliseconds)."""
        out = child.stdout
        assert out is not None
        ready, _, _ = select.select([out], [], [], timeout)
        if not ready:
            return ""
        return out.readline().decode().strip()

    # -- processes in the namespaces ----------------------------------------------------
    def spawn(
        self, ns: str, argv: Sequence[str], log_name: str, *, stdin: int | None = None
    ) -> subprocess.Popen[bytes]:
        """A process in namespace `ns`, its output in logs/<log_name>; ended by close()."""
        log: IO[bytes] = (self.logs / log_name).open("wb")
        child = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdin=stdin,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=python_env(),
        )
        self._children.append(child)
        return child

    def listening(self, ns: str, port: int) -> bool:
        """Whether something in `ns` listens on `port` (TCP or UDP)."""
        done = subprocess.run(
            ["ip", "netns", "exec", ns, "ss", "-Hlntu"], capture_output=True, text=True
        )
        return any(f":{port} " in f"{line} " for line in done.stdout.splitlines())

    def close(self) -> None:
        for child in self._children:
            if child.poll() is None:
                child.terminate()
        for child in self._children:
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
        self._children.clear()
        for ns in (self.client, self.net, self.server):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in pids.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class LabServer:
    """`omnilive serve` in the server namespace, on the lab's server address."""

    def __init__(self, lab: NetLab, data_dir: Path, backend: str = "tone", *extra: str) -> None:
        self.lab = lab
        self.log = lab.logs / "server.log"
        cmd = [
            sys.executable, "-m", "rtc.cli", "serve",
            "--host", SERVER_IP, "--port", str(SERVER_PORT), "--allow-public",
            "--backend", backend, "--data-dir", str(data_dir), "--log-level", "info",
            *extra,
        ]  # fmt: skip
        self.proc = lab.spawn(lab.server, cmd, "server.log")

    async def ready(self, timeout: float = 120.0) -> None:
        await self.wait_for_log("Application startup complete", timeout)

    async def wait_for_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Until the server's log has a line matching `pattern`."""
        deadline = time.monotonic() + timeout
        while (found := self._look(pattern, deadline)) is None:  # noqa: ASYNC110 - a log file
            await asyncio.sleep(0.1)
        return found

    def wait_for_log_blocking(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The same, for tests that run no event loop of their own (sync Playwright)."""
        deadline = time.monotonic() + timeout
        while (found := self._look(pattern, deadline)) is None:
            time.sleep(0.1)
        return found

    def _look(self, pattern: str, deadline: float) -> re.Match[str] | None:
        found = re.search(pattern, self.output())
        if found is not None:
            return found
        if self.proc.poll() is not None:
            raise RuntimeError(f"the lab's server exited:\n{self.output()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {pattern!r} in the lab server's log:\n{self.output()[-3000:]}")
        return None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


async def start_turn(lab: NetLab, timeout: float = 20.0) -> None:
    """coturn in the server namespace: long-term credentials, UDP and TCP on TURN_PORT."""
    cmd = [
        "turnserver", "-n", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint",
        "--lt-cred-mech", "--realm", "omnilive.lab", "--user", f"{TURN_USER}:{TURN_PASSWORD}",
        "--listening-ip", SERVER_IP, "--relay-ip", SERVER_IP, "--listening-port", str(TURN_PORT),
        "--min-port", "49160", "--max-port", "49400", "--log-file", "stdout", "--simple-log",
        "--pidfile", str(lab.logs / "turnserver.pid"), "--userdb", str(lab.logs / "turndb"),
    ]  # fmt: skip
    lab.spawn(lab.server, cmd, "turnserver.log")
    deadline = time.monotonic() + timeout
    while not lab.listening(lab.server, TURN_PORT):
        if time.monotonic() > deadline:
            log = (lab.logs / "turnserver.log").read_text(errors="replace")
            raise RuntimeError(f"turnserver did not start:\n{log[-3000:]}")
        await asyncio.sleep(0.1)


class LabPhone:
    """tests/netlab/phone.py in the client namespace, driven over its stdio."""

    def __init__(self, lab: NetLab, name: str = "phone") -> None:
        self.lab = lab
        self.name = name
        self._proc: asyncio.subprocess.Process | None = None
        self._ready: asyncio.Future[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.events: list[str] = []
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self, url: str = SERVER_URL, ice_servers: Sequence[str] = ()) -> None:
        argv = [sys.executable, "-m", "tests.netlab.phone", url]
        for server in ice_servers:
            argv += ["--ice-server", server]
        log = (self.lab.logs / f"{self.name}.log").open("wb")
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", self.lab.client, *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            cwd=ROOT,
            env=python_env(),
        )  # fmt: skip
        self._reader = loop.create_task(self._read())
        await asyncio.wait_for(self._ready, 60)

    async def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            message = json.loads(line)
            if "notify" in message:
                self.events.append(str(message["notify"]))
                self._changed.set()
            elif message.get("ready") and self._ready is not None:
                self._ready.set_result(None)
            else:
                future = self._pending.pop(message.pop("id", None), None)
                if future is not None and not future.done():
                    future.set_result(message)
        gone = RuntimeError(f"the lab phone exited: see {self.lab.logs / (self.name + '.log')}")
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(gone)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(gone)

    async def request(self, cmd: str, timeout: float = 90.0, **args: Any) -> dict[str, Any]:
        """Run a phone command and wait for its answer."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        proc.stdin.write((json.dumps({"id": ident, "cmd": cmd, **args}) + "\n").encode())
        await proc.stdin.drain()
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(ident, None)

    def send(self, cmd: str, timeout: float = 90.0, **args: Any) -> asyncio.Task[dict[str, Any]]:
        """Start a command; the task waits for its answer (cancel it to stop waiting)."""
        return asyncio.get_running_loop().create_task(self.request(cmd, timeout, **args))

    async def notified(self, event_type: str, timeout: float = 30.0) -> None:
        """Until the phone reports a server event of `event_type` (named in `notify`)."""

        async def wait() -> None:
            while event_type not in self.events:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)
        self.events.remove(event_type)

    async def close(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None and proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.write(b'{"cmd": "quit"}\n')
                await proc.stdin.drain()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
