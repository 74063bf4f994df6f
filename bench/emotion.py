"""Emotion reading cost: milliseconds per sampled frame and the CPU share it takes.

    .venv/bin/python -m bench.emotion [--runs 50] [--detect-width 480]

Times `FaceEmotionModel.analyze` on a 640x480 RGB frame with one face (the
astronaut from scikit-image, about 120 px wide, as in a selfie) and on one with no
face (a printed page, what the camera sees while the user shows homework), next
to two baselines measured in the same run:

- the Haar face detection alone, without classifying the expression;
- converting a decoded 640x480 frame to RGB (`av.VideoFrame.to_ndarray`), which
  every sampled frame costs anyway.

CPU is process CPU time per call (all threads); the share at N sampled frames per
second is CPU ms x N / 1000, i.e. the fraction of one core.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import av
import cv2
import numpy as np
from numpy.typing import NDArray
from skimage import data as skdata

from bench.common import percentile
from model.embedded.emotion import FaceEmotionModel

FPS = (1, 2, 5)


def face_frame() -> NDArray[np.uint8]:
    """640x480: the astronaut's head and shoulders, face about 120 px wide."""
    image: NDArray[np.uint8] = skdata.astronaut()  # type: ignore[no-untyped-call]
    return np.asarray(cv2.resize(image[16:400], (640, 480), interpolation=cv2.INTER_LINEAR))


def page_frame() -> NDArray[np.uint8]:
    """640x480: a scanned page of printed text."""
    gray: NDArray[np.uint8] = skdata.page()  # type: ignore[no-untyped-call]
    gray = np.asarray(cv2.resize(gray, (640, 480), interpolation=cv2.INTER_LINEAR))
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def measure(fn: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds per call."""
    for _ in range(3):
        fn()
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--detect-width", type=int, default=480, help="width the frame is detected at"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    model = FaceEmotionModel(detect_width=args.detect_width)
    load_s = time.perf_counter() - started
    face, page = face_frame(), page_frame()
    found = model.analyze(face)
    assert len(found) == 1 and not model.analyze(page), "unexpected detections"
    decoded = av.VideoFrame.from_ndarray(face, format="rgb24").reformat(format="yuv420p")

    rows: list[tuple[str, Callable[[], object]]] = [
        ("analyze: one face", lambda: model.analyze(face)),
        ("analyze: no face (printed page)", lambda: model.analyze(page)),
        ("baseline: Haar detection only, one face", lambda: model.detect(face)),
        ("baseline: Haar detection only, no face", lambda: model.detect(page)),
        (
            "baseline: classify one face only",
            lambda: model.classify(face, found[0].box),
        ),
        (
            "baseline: to_ndarray rgb24 (yuv420p)",
            lambda: decoded.to_ndarray(format="rgb24"),
        ),
    ]
    results = [(label, *measure(fn, args.runs)) for label, fn in rows]

    print(
        f"model loaded in {1000 * load_s:.0f} ms; detection at {args.detect_width} px wide "
        f"({cv2.getNumThreads()} OpenCV threads); "
        f"{args.runs} runs; face read as {found[0].label} {found[0].score:.2f} "
        f"at {found[0].box}"
    )
    print()
    header = f"{'640x480 frame':42} {'wall p50':>9} {'p95':>8} {'CPU p50':>8}"
    header += "".join(f" {f'share@{n}fps':>12}" for n in FPS)
    print(header)
    for label, wall, cpu in results:
        cpu_ms = 1000 * percentile(cpu, 50)
        line = (
            f"{label:42} {1000 * percentile(wall, 50):7.1f}ms {1000 * percentile(wall, 95):6.1f}ms"
            f" {cpu_ms:6.1f}ms"
        )
        line += "".join(f" {cpu_ms * n / 1000:11.1%} " for n in FPS)
        print(line)
    print()
    print("share@N fps = CPU ms per frame x N / 1000: the fraction of one core it keeps busy.")


if __name__ == "__main__":
    main()
