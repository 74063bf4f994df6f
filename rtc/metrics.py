"""Prometheus metrics, one registry per app so tests can run many apps in a process."""

from __future__ import annotations

import asyncio
import threading

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

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
        self.calls_resumed = Counter(
            "omnilive_calls_resumed",
            "Dropped calls resumed by a new connection (their conversation went on).",
            registry=r,
        )
        self.video_frames = Counter(
            "omnilive_video_frames",
            "Camera frames received and decoded (each call asks for only what its scenario "
            "samples: session.video.ceiling).",
            registry=r,
        )
        self.barge_ins = Counter(
            "omnilive_barge_ins", "Answers interrupted by the user.", registry=r
        )
        self.false_interruptions = Counter(
            "omnilive_false_interruptions",
            "Interruptions that turned out to be noise; the answer resumed.",
            registry=r,
        )
        self.ignored_speech = Counter(
            "omnilive_ignored_speech",
            "Speech over an answer that did not interrupt it (kind: backchannel, such as "
            "'uh-huh' or 'vale'; non_speech, a cough, a laugh, a noise); the answer resumed.",
            ["kind"],
            registry=r,
        )
        self.held_audio = Histogram(
            "omnilive_held_audio_seconds",
            "How long an answer's audio was held (silent) for speech over it that did not "
            "interrupt it (a backchannel, a noise, an echo), from its first voiced chunk.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.echo_removed = Counter(
            "omnilive_echo_removed_seconds",
            "Seconds of microphone audio in which the echo canceller took out the answer's "
            "own voice coming back (it never reached turn detection).",
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

        self.loop_lag = Histogram(
            "omnilive_event_loop_lag_seconds",
            "How late the event loop woke a 50 ms timer: time every call's media waited.",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
            registry=r,
        )
        self.limit_hits = Counter(
            "omnilive_limit_hits",
            "Requests, events or calls stopped by a limit, by limit.",
            ["limit"],
            registry=r,
        )
        self.auth_failures = Counter(
            "omnilive_auth_failures",
            "Requests refused for want of a valid API key or token, by error code.",
            ["code"],
            registry=r,
        )
        self.client_secrets = Counter(
            "omnilive_client_secrets", "Ephemeral tokens issued.", registry=r
        )
        self.records_written = Counter(
            "omnilive_record_entries",
            "Entries queued for the conversation records.",
            registry=r,
        )
        # What a soak test watches: these must stay flat over many calls.
        self.asyncio_tasks = Gauge(
            "omnilive_asyncio_tasks", "Tasks alive in the server's event loop.", registry=r
        )
        self.asyncio_tasks.set_function(_task_count)
        self.threads = Gauge("omnilive_threads", "Threads alive in the process.", registry=r)
        self.threads.set_function(threading.active_count)
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_open_fds, ...

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _task_count() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # rendered outside the event loop
        return float("nan")
