"""glibc's mmap threshold against the speed of a transcription.

    .venv/bin/python -m bench.heap [--rounds 3] [--runs 15]

The server fixes glibc's mmap threshold (`rtc/heap.py`) so that memory stays
flat over many calls. Blocks at or over the threshold are mapped fresh and
unmapped when freed, and every fresh page is zeroed on first touch, so a
threshold under the size of a model's working buffers makes each inference
pay for its memory again. This transcribes the same 2.5 s utterance `--runs`
times in a child process per threshold (the processes interleaved over
`--rounds` rounds, so drift on a shared machine hits every setting alike)
and prints each setting's median time of one transcription. Baseline in the
same run: glibc's own threshold, which starts at 128 KB and rises to the
largest block freed so far.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from rtc.heap import MMAP_THRESHOLD

UTTERANCE = "I would like a cup of coffee with milk please."
#: None: glibc's own (rising) threshold.
THRESHOLDS: list[int | None] = [None, 256 * 1024, 1024 * 1024, MMAP_THRESHOLD]


def _child(runs: int) -> None:
    from bench.common import speech_clip
    from model.audio import resample_int16
    from model.embedded.asr import WhisperASR, whisper_base_dir

    audio = resample_int16(speech_clip(UTTERANCE, "en"), 48_000, 16_000)
    speech = (audio / 32768).astype(np.float32)
    asr = WhisperASR(whisper_base_dir())
    times = []
    for _ in range(runs + 2):  # the first two warm the caches
        started = time.perf_counter()
        asr.transcribe(speech, ["en"])
        times.append(time.perf_counter() - started)
    print(json.dumps(times[2:]))


def _label(threshold: int | None) -> str:
    if threshold is None:
        return "glibc's own (baseline)"
    mark = " (the server's)" if threshold == MMAP_THRESHOLD else ""
    return f"fixed at {threshold // 1024} KB{mark}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=15, help="transcriptions per process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.runs)
        return
    times: dict[int | None, list[float]] = {t: [] for t in THRESHOLDS}
    for round_ in range(args.rounds):
        for threshold in THRESHOLDS:
            env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
            if threshold is not None:
                env["MALLOC_MMAP_THRESHOLD_"] = str(threshold)
            out = subprocess.run(
                [sys.executable, "-m", "bench.heap", "--child", "--runs", str(args.runs)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            times[threshold] += json.loads(out.stdout.strip().splitlines()[-1])
            print(f"round {round_ + 1}: {_label(threshold)} done", file=sys.stderr)
    base = statistics.median(times[None])
    print(f"\none transcription of a 2.5 s utterance, {args.rounds}x{args.runs} runs each")
    print(f"{'mmap threshold':32} {'median':>8} {'p90':>8} {'vs baseline':>12}")
    for threshold, values in times.items():
        median = statistics.median(values)
        p90 = float(np.percentile(values, 90))
        print(
            f"{_label(threshold):32} {1000 * median:6.0f} ms {1000 * p90:6.0f} ms "
            f"{median / base:11.2f}x"
        )


if __name__ == "__main__":
    main()
