"""The tutor's reading and solving over generated problem photos, and its response time.

    .venv/bin/python -m bench.tutor [--per-kind 20] [--calls 5]

1. Reading and solving (bench/tutor_reading.py): `--per-kind` phone photos of every
   kind of printed problem (today's kinds, stacked fractions numeric and with x, powers
   as a raised 2 and as ², mixed numbers, two- and three-line systems, sheets of 3-6
   numbered problems, hand-lettered pages; several faces, white, lined and grey paper,
   tilt, blur, noise, shading), read by the layout reader and by today's reader
   (whole-frame OCR, first math line) in the same run: per kind read %, asked %, solved %
   and confidently wrong %. CPU-bound, not timing-sensitive.
2. Response time through real calls to `omnilive serve`: "help me solve this" with the
   problem on camera -> first assistant audio and -> the first `tutor.step`; baseline:
   the same problem typed ("solve ..."). Timing-sensitive: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import httpx

from bench.common import ms, percentile, server_process
from bench.tutor_reading import reading
from clients.python.client import CallClient, StillImageTrack
from tests.imagegen import random_style, render_problem


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
    parser.add_argument("--per-kind", type=int, default=20, help="photos per kind (0: skip)")
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if args.per_kind:
        reading(args.per_kind, args.seed)
    if args.calls:
        responses(args.calls)


if __name__ == "__main__":
    main()
