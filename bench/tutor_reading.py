"""Part 1 of `bench.tutor`: reading and solving generated phone photos of homework, the
layout reader (tutor/reading.py) next to today's reader (whole-frame OCR, first math line)
on the same photos, in the same run.

Per kind of problem:
  read %       the reader gives the page's problem (its first or only reading);
  asked %      the new reader is unsure and would say what it read and ask first;
  solved %     read, and the CAS-checked plan ends at sympy's own answer;
  conf. wrong  the tutor would solve something other than the page's problem without
               asking (today's reader never asks, so every misreading it parses counts).
On a sheet of numbered problems every problem counts once, and "count" is the share of
sheets whose number of problems the tutor would say right. A hand-lettered page counts
as handled when the tutor says it looks handwritten and asks for the problem aloud, or
reads it right.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from model.types import TextLine
from tests.imagegen import KINDS, render_problem
from tests.imagegen_homework import (
    KINDS_BY_NAME,
    hand_style,
    handwritten,
    homework_style,
    sheet,
)
from tutor.mathread import parse_problem, problem_from_lines
from tutor.problems import Problem
from tutor.reading import PageReading, Reading, read_page
from tutor.steps import PlanError, plan, verify_chain

OLD_KIND_NAMES = {
    "_arithmetic": "arithmetic",
    "_fraction": "inline fraction",
    "_linear_equation": "linear equation",
    "_inequality": "inequality",
    "_quadratic_factoring": "quadratic (factors)",
    "_quadratic_formula": "quadratic (formula)",
    "_system": "system (today's)",
    "_simplify": "simplify",
    "_expand": "expand",
    "_percentage": "percentage",
}


@dataclass
class Tally:
    n: int = 0
    old_read: int = 0
    old_solved: int = 0
    old_wrong: int = 0
    new_read: int = 0
    new_asked: int = 0
    new_solved: int = 0
    new_wrong: int = 0
    sheets: int = 0
    count_right: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in ("n", "old_read", "old_solved", "old_wrong", "new_read", "new_asked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("new_solved", "new_wrong", "sheets", "count_right"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def solves(problem: Problem) -> bool:
    try:
        return verify_chain(problem, plan(problem))
    except PlanError:
        return False


def _same(got: Problem | None, expected: Problem) -> bool:
    return got is not None and got.text.replace(" ", "") == expected.text.replace(" ", "")


def _score(
    tally: Tally, expected: Problem, old: Problem | None, new: Reading | None, label: str
) -> None:
    tally.n += 1
    if _same(old, expected):
        tally.old_read += 1
        tally.old_solved += solves(expected)
    elif old is not None:
        tally.old_wrong += 1
    if new is not None and not new.certain:
        tally.new_asked += 1
    if new is not None and _same(new.problem, expected):
        tally.new_read += 1
        tally.new_solved += solves(expected)
    else:
        if new is not None and new.certain:
            tally.new_wrong += 1
        got = new.problem.text if new is not None else None
        tally.misses.append(f"{label}: want {expected.text!r} got {got!r}")


class Readers:
    """The OCR engine shared by both readers; the new one's `read_text` runs it in a thread,
    as the model session does."""

    def __init__(self) -> None:
        from model.embedded.ocr import OcrEngine

        self.engine = OcrEngine()
        self.ocr_ms: list[float] = []
        self.new_ms: list[float] = []

    async def read_text(self, rgb: NDArray[np.uint8]) -> list[TextLine]:
        return await asyncio.to_thread(self.engine.read, rgb)

    def old(self, image: NDArray[np.uint8]) -> Problem | None:
        started = time.perf_counter()
        lines = [line.text for line in self.engine.read(image)]
        self.ocr_ms.append(1000 * (time.perf_counter() - started))
        return problem_from_lines(lines)

    def new(self, image: NDArray[np.uint8]) -> PageReading:
        started = time.perf_counter()
        reading = asyncio.run(read_page(image, self.read_text, vision=False))
        self.new_ms.append(1000 * (time.perf_counter() - started))
        return reading


def _single(
    readers: Readers,
    name: str,
    make: Callable[[random.Random], tuple[str, list[str]]],
    count: int,
    rng: random.Random,
    seed: int,
) -> Tally:
    tally = Tally()
    for i in range(count):
        plain, lines = make(rng)
        expected = parse_problem(plain)
        if expected is None:
            raise AssertionError(f"generator wrote an unreadable problem: {plain!r}")
        image = render_problem(lines, homework_style(rng), seed=seed + i)
        page = readers.new(image)
        _score(
            tally, expected, readers.old(image), page.problems[0] if page.problems else None, name
        )
    return tally


def _sheets(readers: Readers, count: int, rng: random.Random, seed: int) -> Tally:
    tally = Tally()
    for i in range(count):
        plains, lines = sheet(rng)
        image = render_problem(lines, homework_style(rng), size=(1280, 720), seed=seed + i)
        page = readers.new(image)
        old = readers.old(image)
        tally.sheets += 1
        tally.count_right += page.count == len(plains)
        for k, plain in enumerate(plains):
            expected = parse_problem(plain)
            assert expected is not None, plain
            new = page.problems[k] if page.count == len(plains) and k < len(page.problems) else None
            if new is not None and new.number not in (str(k + 1), "abcdef"[k]):
                new = next(
                    (r for r in page.problems if r.number in (str(k + 1), "abcdef"[k])), None
                )
            _score(tally, expected, old if k == 0 else None, new, f"sheet {i} #{k + 1}")
    return tally


def _handwritten(readers: Readers, count: int, rng: random.Random, seed: int) -> Tally:
    tally = Tally()
    for i in range(count):
        plain, lines = handwritten(rng)
        expected = parse_problem(plain)
        assert expected is not None, plain
        image = render_problem(lines, hand_style(rng), seed=seed + i)
        page = readers.new(image)
        old = readers.old(image)
        tally.n += 1
        tally.old_read += _same(old, expected)
        tally.old_wrong += old is not None and not _same(old, expected)
        new = page.problems[0] if page.problems else None
        if page.handwritten:
            tally.new_asked += 1
        elif new is not None and _same(new.problem, expected):
            tally.new_read += 1
        elif new is not None and new.certain:
            tally.new_wrong += 1
    return tally


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.0f}%" if whole else "    -"


def reading(per_kind: int, seed: int) -> None:
    readers = Readers()
    rng = random.Random(seed)
    rows: list[tuple[str, Tally]] = []
    for make in KINDS:
        rows.append(
            (
                OLD_KIND_NAMES[make.__name__],
                _single(readers, make.__name__, make, per_kind, rng, seed),
            )
        )
    for name, make in KINDS_BY_NAME.items():
        rows.append((name, _single(readers, name, make, per_kind, rng, seed)))
    rows.append(("sheet of 3-6 problems", _sheets(readers, max(2, per_kind // 2), rng, seed)))
    total = Tally()
    for _, t in rows:
        total.add(t)
    hand = _handwritten(readers, per_kind, rng, seed)

    print(
        f"photos: {per_kind} per kind, random faces, tilt, blur, noise, light, white/lined/grey paper"
    )
    head = f"{'kind':24} {'n':>4} | {'today: read':>11} {'solved':>7} {'conf.wrong':>10} |"
    print(head + f" {'layout: read':>12} {'asked':>6} {'solved':>7} {'conf.wrong':>10}")
    for name, t in [*rows, ("all printed kinds", total)]:
        if name == "all printed kinds":
            print("-" * 100)
        print(
            f"{name:24} {t.n:4d} | {_pct(t.old_read, t.n):>11} {_pct(t.old_solved, t.n):>7} "
            f"{_pct(t.old_wrong, t.n):>10} | {_pct(t.new_read, t.n):>12} {_pct(t.new_asked, t.n):>6} "
            f"{_pct(t.new_solved, t.n):>7} {_pct(t.new_wrong, t.n):>10}"
        )
    sheets = rows[-1][1]
    print(
        f"sheets: the number of problems said right on {_pct(sheets.count_right, sheets.sheets).strip()} of {sheets.sheets}"
    )
    print(
        f"hand-lettered pages ({hand.n}): today read {_pct(hand.old_read, hand.n).strip()}, "
        f"confidently wrong {_pct(hand.old_wrong, hand.n).strip()}; layout reader: said "
        f"handwritten and asked for it aloud {_pct(hand.new_asked, hand.n).strip()}, read "
        f"{_pct(hand.new_read, hand.n).strip()}, confidently wrong {_pct(hand.new_wrong, hand.n).strip()}"
    )
    print(
        f"time per photo: today's reader median {statistics.median(readers.ocr_ms):.0f} ms, "
        f"layout reader median {statistics.median(readers.new_ms):.0f} ms"
    )
    misses = Counter(m.split(":")[0] for _, t in rows for m in t.misses)
    if misses:
        print("layout reader misses:", dict(misses))
        for _, t in rows:
            for m in t.misses[:3]:
                print("   ", m)
