"""The tutor's reading and solving over generated problem photos, and its response time.

    .venv/bin/python -m bench.tutor [--photos 100] [--calls 5]

1. Reading and solving: `--photos` printed problems of every kind, each drawn
   as a phone photo (tilt, blur, noise, uneven light, lined paper), go
   through the embedded OCR and the math reader. read% = the reader gives the
   printed problem; solved% = the CAS-checked plan ends at sympy's own answer;
   wrong steps = plans whose chain of steps fails the CAS check (must be 0).
   Baseline in the same run: the same problems typed as text (no camera).
2. Response time through real calls to `omnilive serve`: "help me solve
   this" with the problem on camera -> first assistant audio and -> the first
   `tutor.step`; baseline: the same problem typed ("solve ...").
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import Counter

import httpx

from bench.common import ms, percentile, server_process
from clients.python.client import CallClient, StillImageTrack
from tests.imagegen import printed_problem_set, random_style, render_problem
from tutor.mathread import parse_problem, problem_from_lines
from tutor.problems import Problem
from tutor.steps import PlanError, plan, verify_chain


def _same(read: Problem | None, expected: Problem | None) -> bool:
    # Text, not kind: "15% of 80" read off the page is a percentage, while its plain
    # form typed back ("15/100*80") is just a fraction; both are the same problem.
    return (
        read is not None
        and expected is not None
        and read.text.replace(" ", "") == expected.text.replace(" ", "")
    )


def _solved(problem: Problem) -> tuple[bool, bool]:
    """(solved, had a wrong step)."""
    try:
        steps = plan(problem)
    except PlanError:
        return False, False
    ok = verify_chain(problem, steps)
    return ok, not ok


def reading(photos: int, seed: int) -> None:
    from model.embedded.ocr import OcrEngine

    engine = OcrEngine()
    rng = random.Random(seed)
    problems = printed_problem_set(photos, seed=seed)
    read = solved = wrong = typed_solved = typed_wrong = 0
    misses: Counter[str] = Counter()
    ocr_ms: list[float] = []
    for i, (plain, lines) in enumerate(problems):
        expected = parse_problem(plain)
        ok, bad = _solved(expected) if expected is not None else (False, False)
        typed_solved += ok
        typed_wrong += bad
        image = render_problem(lines, random_style(rng), seed=seed + i)
        started = time.perf_counter()
        text_lines = [line.text for line in engine.read(image)]
        ocr_ms.append(1000 * (time.perf_counter() - started))
        got = problem_from_lines(text_lines)
        if _same(got, expected):
            read += 1
            assert got is not None
            ok, bad = _solved(got)
            solved += ok
            wrong += bad
        else:
            misses[expected.kind if expected else "unparsable"] += 1
    n = len(problems)
    print(f"photos: {n} (every kind, random fonts/tilt/blur/noise/light/lined paper)")
    print(f"{'':24} {'camera photos':>14} {'typed baseline':>15}")
    print(f"{'read':24} {100 * read / n:13.0f}% {100.0:14.0f}%")
    print(f"{'solved (CAS-checked)':24} {100 * solved / n:13.0f}% {100 * typed_solved / n:14.0f}%")
    print(f"{'plans with a wrong step':24} {wrong:14d} {typed_wrong:15d}")
    print(
        f"OCR per photo: median {statistics.median(ocr_ms):.0f} ms, "
        f"p95 {percentile(ocr_ms, 95):.0f} ms"
    )
    if misses:
        print("misread by kind:", dict(misses))


async def _one_call(url: str, image: object, ask: str) -> tuple[float | None, float | None]:
    camera = StillImageTrack(image) if image is not None else None  # type: ignore[arg-type]
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        CallClient(http, video=camera) as call,
    ):
        await call.wait_for("session.created")
        await asyncio.sleep(2.5)  # let the 1 fps sampler see the page
        mark = len(call.events)
        asked = time.monotonic()
        call.send_text(ask)
        step = await call.wait_for("tutor.step", after=mark, timeout=60)
        await call.wait_for("response.done", after=mark, timeout=60)
        voice = call.received.first_voice_after(asked)
        return (voice - asked if voice else None), call.event_time(step) - asked


def responses(calls: int) -> None:
    image = render_problem(["3x + 5 = 20"], random_style(random.Random(4)), seed=4)
    results: dict[str, list[tuple[float | None, float | None]]] = {"camera": [], "typed": []}
    with server_process("embedded") as url:
        for _ in range(calls):
            results["camera"].append(asyncio.run(_one_call(url, image, "help me solve this")))
            results["typed"].append(asyncio.run(_one_call(url, None, "solve 3x + 5 = 20")))
    print()
    print(
        f"{'(' + str(calls) + ' calls each)':34} {'camera p50':>11} {'p95':>8} {'typed p50':>11} {'p95':>8}"
    )
    for index, label in ((0, '"help me" -> first voice'), (1, '"help me" -> first tutor.step')):
        cam = [v for r in results["camera"] if (v := r[index]) is not None]
        typ = [v for r in results["typed"] if (v := r[index]) is not None]
        print(
            f"{label:34} {ms(percentile(cam, 50)):>11} {ms(percentile(cam, 95)):>8} "
            f"{ms(percentile(typ, 50)):>11} {ms(percentile(typ, 95)):>8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if args.photos:
        reading(args.photos, args.seed)
    if args.calls:
        responses(args.calls)


if __name__ == "__main__":
    main()
