"""What the lab's link does to packets, and the profiles the tests and bench/network.py use."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Impairment:
    """One direction's treatment of every IP packet (both directions get the same)."""

    loss: float = 0.0
    """Probability that a packet is dropped."""
    delay_ms: float = 0.0
    """One-way delay every packet gets."""
    jitter_ms: float = 0.0
    """Extra delay, uniform in [0, jitter_ms]."""
    reorder: bool = False
    """Packets keep their jittered times, so a later one may overtake (netem's jitter);
    False: a packet never leaves before the one ahead of it (a queue's jitter)."""
    rate_kbit: float = 0.0
    """Link rate (0: unlimited); a queue longer than `queue_ms` drops (tail drop)."""
    queue_ms: float = 300.0
    outage: bool = False
    """Nothing gets through (the phone lost its network)."""

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Impairment:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


CLEAN = Impairment()
#: Profiles by name, as bench/network.py prints them. `outage_3s` is clean plus a
#: 3-second outage the driver starts while an answer plays.
PROFILES: dict[str, Impairment] = {
    "clean": CLEAN,
    "loss2_jitter40": Impairment(loss=0.02, jitter_ms=40),
    "loss5_jitter80_reorder": Impairment(loss=0.05, jitter_ms=80, reorder=True),
    "cap_1mbit": Impairment(rate_kbit=1000),
    "outage_3s": CLEAN,
}
OUTAGE_S = 3.0
