"""Prometheus metrics, one registry per app so tests can run many apps in a process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.8,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_calls = Gauge("omnilive_active_calls", "Calls currently open.", registry=r)
        self.calls_total = Counter("omnilive_calls", "Calls accepted.", registry=r)
        self.calls_rejected = Counter(
            "omnilive_calls_rejected", "Call offers refused, by reason.", ["reason"], registry=r
        )
        self.calls_ended = Counter(
            "omnilive_calls_ended", "Calls ended, by reason.", ["reason"], registry=r
        )
        self.barge_ins = Counter(
            "omnilive_barge_ins", "Answers interrupted by the user.", registry=r
        )
        self.false_interruptions = Counter(
            "omnilive_false_interruptions",
            "Interruptions that turned out to be noise; the answer resumed.",
            registry=r,
        )
        self.responses = Counter(
            "omnilive_responses", "Responses finished, by status.", ["status"], registry=r
        )
        self.client_event_errors = Counter(
            "omnilive_client_event_errors",
            "Client events answered with an error event.",
            ["code"],
            registry=r,
        )
        self.response_latency = Histogram(
            "omnilive_response_latency_seconds",
            "End of user speech (as the VAD saw it) to the first answer audio frame sent.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.barge_in_latency = Histogram(
            "omnilive_barge_in_latency_seconds",
            "Speech onset (outgoing audio paused at once) to the interruption being confirmed.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
