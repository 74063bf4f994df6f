"""The lab's link: a user-space bridge between two interfaces that impairs what it carries.

    ip netns exec NET python -m tests.netlab.impair IFACE_A IFACE_B

Run in the middle namespace, it reads every frame arriving on either interface (an
AF_PACKET socket) and sends it out of the other one, after dropping, delaying or
holding it as the current `Impairment` says (tests/netlab/profiles.py): loss, a
delay with jitter (in order, or reordering as netem's jitter does), a rate cap with
a bounded queue, a total outage. Non-IP frames (ARP) are only stopped by an outage.

Why not `tc qdisc ... netem`: the kernel this project's CI and development boxes run
may not have sch_netem (this one does not: CONFIG_NET_SCH_NETEM is unset), and a
seeded user-space link behaves the same on every kernel, run after run. The cost is
a Python hop per packet (well under a millisecond; calls carry ~100 packets/s).

Control: JSON lines on stdin (`{"set": {...Impairment...}}` answers `ok`; `{"stats":
true}` answers the counters); EOF on stdin ends it. Prints `ready` once bridging.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import sys
from dataclasses import dataclass

from tests.netlab.profiles import CLEAN, Impairment

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
MAX_FRAME = 65_535


@dataclass
class Counters:
    forwarded: int = 0
    lost: int = 0
    queue_drops: int = 0
    outage_drops: int = 0


class Direction:
    """Frames from one interface to the other."""

    def __init__(self, out: socket.socket, rng: random.Random) -> None:
        self._out = out
        self._rng = rng
        self._loop = asyncio.get_running_loop()
        self._tx_free = 0.0
        self._last_at = 0.0
        self.counters = Counters()

    def carry(self, frame: bytes, impairment: Impairment) -> None:
        if impairment.outage:
            self.counters.outage_drops += 1
            return
        if len(frame) < 14 or int.from_bytes(frame[12:14], "big") != ETH_P_IP:
            self._send(frame)  # ARP and the like: never impaired
            return
        if impairment.loss and self._rng.random() < impairment.loss:
            self.counters.lost += 1
            return
        now = self._loop.time()
        at = now
        if impairment.rate_kbit > 0:
            start = max(now, self._tx_free)
            if start - now > impairment.queue_ms / 1000:
                self.counters.queue_drops += 1
                return
            self._tx_free = start + len(frame) * 8 / (impairment.rate_kbit * 1000)
            at = self._tx_free
        delay = impairment.delay_ms + self._rng.uniform(0.0, impairment.jitter_ms)
        at += delay / 1000
        if not impairment.reorder:
            at = max(at, self._last_at)
        self._last_at = max(self._last_at, at)
        if at <= now:
            self._send(frame)
        else:
            self._loop.call_at(at, self._send, frame)

    def _send(self, frame: bytes) -> None:
        try:
            self._out.send(frame)
            self.counters.forwarded += 1
        except OSError:  # the interface went away with the lab
            pass


def _packet_socket(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((interface, 0))
    sock.setblocking(False)
    return sock


class Bridge:
    def __init__(self, a: str, b: str, seed: int = 22) -> None:
        self.impairment = CLEAN
        self._a, self._b = _packet_socket(a), _packet_socket(b)
        rng = random.Random(seed)
        self.a_to_b = Direction(self._b, rng)
        self.b_to_a = Direction(self._a, rng)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self._a, self._drain, self._a, self.a_to_b)
        loop.add_reader(self._b, self._drain, self._b, self.b_to_a)

    def _drain(self, sock: socket.socket, direction: Direction) -> None:
        while True:
            try:
                frame, address = sock.recvfrom(MAX_FRAME)
            except (BlockingIOError, InterruptedError):
                return
            if address[2] == socket.PACKET_OUTGOING:  # our own sends, seen again
                continue
            direction.carry(frame, self.impairment)

    def stats(self) -> dict[str, object]:
        return {"a_to_b": vars(self.a_to_b.counters), "b_to_a": vars(self.b_to_a.counters)}


async def main(a: str, b: str) -> None:
    bridge = Bridge(a, b)
    bridge.start()
    print("ready", flush=True)
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        command = json.loads(line)
        if "set" in command:
            bridge.impairment = Impairment.from_json(command["set"])
            print("ok", flush=True)
        elif command.get("stats"):
            print(json.dumps(bridge.stats()), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
