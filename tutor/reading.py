"""From a photo of homework to the problems on it, each with how sure the reading is.

`read_page` is the tutor's reader. On a backend whose model looks at images itself
(`Capabilities.vision`) the frame goes to `read_text` whole, as that model reads stacked
math on its own. Otherwise (the embedded OCR) the layout is found from the pixels
(tutor/layout.py), its pieces are read in one OCR pass (tutor/pageread.py) and each line
is rebuilt as linear math.

The lines then become problems: one problem (a system's two or three equations kept
together), or, on a sheet whose lines are numbered "1.", "2." or "a)", "b)", one per
number. Every problem carries a confidence and the other readings considered, so the
tutor can ask before solving something the page may not say.

`read_lines` is the reader as it was before layout reading (whole-frame OCR, first math
line), kept for the benchmark's baseline.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from tutor.handwriting import handwriting_score
from tutor.layout import Page, find_rows, level_page, residual_tilt
from tutor.mathread import normalize_ocr, parse_problem, problem_from_lines, strip_instructions
from tutor.pageread import Doubt, ReadText, RowReading, read_pieces, row_reading
from tutor.problems import Problem

#: Below this confidence the tutor says what it read and asks before solving.
ASK_BELOW = 0.8
#: A page whose lines look at least this hand-lettered is not read: the student is asked
#: to read the problem aloud (no offline reader of handwritten math exists).
HANDWRITING_AT = 0.75
#: ... or looks somewhat hand-lettered and could not be read with confidence.
HANDWRITING_MAYBE = 0.4


@dataclass(frozen=True)
class Reading:
    """A problem as read, with how sure the reader is and what else it might say."""

    problem: Problem
    confidence: float = 1.0  # 0..1
    alternatives: tuple[Problem, ...] = ()
    doubts: tuple[Doubt, ...] = ()
    number: str | None = None  # its number on a sheet of problems ("3", "b")

    @property
    def certain(self) -> bool:
        return self.confidence >= ASK_BELOW

    def as_event(self) -> dict[str, object]:
        """The payload of `tutor.problem`: the contract's fields, then ours."""
        return {
            **self.problem.as_event(),
            "confidence": round(self.confidence, 2),
            "alternatives": [
                {"text": alt.text, "latex": alt.latex, "kind": alt.kind}
                for alt in self.alternatives
            ],
        }


@dataclass(frozen=True)
class PageReading:
    """Everything read off one photo."""

    problems: tuple[Reading, ...] = ()
    handwritten: bool = False
    # Numbers on a sheet whose problem could not be read.
    unread: tuple[str, ...] = ()
    lines: tuple[str, ...] = field(default=(), compare=False)  # for logs

    @property
    def is_sheet(self) -> bool:
        return len(self.problems) + len(self.unread) > 1

    @property
    def count(self) -> int:
        return len(self.problems) + len(self.unread)

    def numbered(self, number: str) -> Reading | None:
        return next((r for r in self.problems if r.number == number), None)


# ------------------------------------------------------------------ the reader


async def read_page(
    rgb: NDArray[np.uint8], read_text: ReadText, *, vision: bool, source: str = "camera"
) -> PageReading:
    """Read the problems on a photo. `read_text` is the model session's OCR (it runs off
    the event loop itself); the image work here runs in worker threads."""
    if vision:
        lines = await read_text(rgb)
        rows = [RowReading(line.text, 1.0) for line in lines]
        return await asyncio.to_thread(problems_from_rows, rows, source)
    page = await asyncio.to_thread(_analyse, rgb)
    if page.handwriting >= HANDWRITING_AT:
        return PageReading(handwritten=True)
    read = await read_pieces(page, page.rows, read_text)
    rows = [row_reading(page, row, read) for row in page.rows]
    found = await asyncio.to_thread(problems_from_rows, rows, source)
    unsure = not found.problems or not all(r.certain for r in found.problems)
    if page.handwriting >= HANDWRITING_MAYBE and unsure:
        # Lettering that might be a pen's, and a reading that is not sure: do not guess.
        return PageReading(handwritten=True, lines=found.lines)
    return found


def _analyse(rgb: NDArray[np.uint8]) -> Page:
    page = level_page(rgb)
    page.rows = find_rows(page)
    tilt = residual_tilt(page)
    if abs(tilt) > 1.0:
        # The first measure of the tilt was off (few strokes, few letters side by side):
        # the rows found say by how much; level again and find them again.
        page = level_page(rgb, angle=page.angle + tilt)
        page.rows = find_rows(page)
    page.handwriting = handwriting_score(page)
    return page


async def read_lines(
    rgb: NDArray[np.uint8], read_text: ReadText, source: str = "camera"
) -> Problem | None:
    """Today's reader, before layout reading: whole-frame OCR, the first math line."""
    lines = await read_text(rgb)
    return await asyncio.to_thread(problem_from_lines, [line.text for line in lines], source)


# ------------------------------------------------------------------ lines -> problems

# "1.", "2)", "a)", "(b)", "Q3." at the start of a line, then the problem.
_LABEL = re.compile(r"^\s*(?:\(([a-hA-H])\)|([a-hA-H])[.)]|Q?(\d{1,2})[.)])(?=\s|[^\d\s])\s*")


def split_label(text: str) -> tuple[str | None, str]:
    """ "3. 2x + 1 = 7" -> ("3", "2x + 1 = 7"); a line with no number -> (None, text)."""
    m = _LABEL.match(text)
    if not m:
        return None, text
    number = next(g for g in m.groups() if g)
    return number.lower(), text[m.end() :]


def _looks_like_math(text: str) -> bool:
    return bool(
        re.search(r"\d", text) and re.search(r"[-+*/^=<>×÷−–%²()]|\d\s*[a-zA-Z]|[a-z]\^", text)
    )


def problems_from_rows(rows: Sequence[RowReading], source: str = "camera") -> PageReading:
    """The problems of a page's lines: numbered ones each on their own, else the one."""
    labelled = [(split_label(r.text)[0], r) for r in rows]
    numbers = [n for n, _ in labelled if n is not None]
    if len(numbers) >= 2:
        labelled, rows = _next_labels(labelled)
        numbers = [n for n, _ in labelled if n is not None]
    lines = tuple(r.text for r in rows)
    if len(numbers) < 2:
        reading = _one_problem(list(rows), source)
        return PageReading((reading,) if reading else (), lines=lines)
    # A sheet: instructions above the first number apply to every problem.
    header: list[RowReading] = []
    groups: list[tuple[str, list[RowReading]]] = []
    for number, row in labelled:
        if number is not None:
            groups.append((number, [replace(row, text=split_label(row.text)[1])]))
        elif groups:
            groups[-1][1].append(row)
        else:
            header.append(row)
    instruction = " ".join(strip_instructions(r.text)[0] or "" for r in header).strip()
    found: list[Reading] = []
    unread: list[str] = []
    for number, group in groups:
        if instruction and group:
            group = [replace(group[0], text=f"{instruction}: {group[0].text}"), *group[1:]]
        reading = _one_problem(group, source)
        if reading is None:
            unread.append(number)
        else:
            found.append(replace(reading, number=number))
    return PageReading(tuple(found), unread=tuple(unread), lines=lines)


def _next_labels(
    labelled: list[tuple[str | None, RowReading]],
) -> tuple[list[tuple[str | None, RowReading]], list[RowReading]]:
    """On a numbered sheet, a line starting with the next number and a dot is numbered
    even when OCR lost the space after it ("4.6^2 + 2×5" after "3. ..." is number 4)."""
    out: list[tuple[str | None, RowReading]] = []
    last: str | None = None
    for number, row in labelled:
        if number is None and last is not None and last.isdigit():
            expected = str(int(last) + 1)
            m = re.match(rf"^\s*{expected}[.)]\s*(?=\S)", row.text)
            if m:
                number, row = expected, replace(row, text=f"{expected}. {row.text[m.end() :]}")
        out.append((number, row))
        last = number or last
    return out, [r for _, r in out]


def _one_problem(rows: list[RowReading], source: str) -> Reading | None:
    """The problem of some lines: a system of the first two or three equations if they
    make one, else the first line that looks like math (if that one cannot be read the
    answer is None, not some other line that happens to parse)."""
    candidates: list[RowReading] = []
    stray: list[RowReading] = []  # short bits of math-ish ink that are no problem
    pending = ""
    for row in rows:
        line = row.text.strip()
        if not re.search(r"[A-Za-z0-9]", line):
            continue  # nothing read on it (a smudge, a stray mark)
        _, rest = strip_instructions(line)
        if not rest:
            pending = f"{pending} {line}".strip()
            continue
        if _looks_like_math(rest):
            candidates.append(replace(row, text=f"{pending} {line}".strip()))
            pending = ""
        elif not re.search(r"[A-Za-z]{3,}", rest):
            stray.append(row)
    if not candidates:
        return None
    reading = None
    for size in (3, 2):
        group = candidates[:size]
        if len(group) == size and all("=" in r.text for r in group):
            reading = _parse_rows(group, source, system=True)
            if reading is not None:
                break
    if reading is None:
        reading = _parse_rows(candidates[:1], source, system=False)
    if reading is not None and stray:
        # A lone "x" or "3" above or below the problem: part of it the layout did not
        # join (a numerator whose bar was not found), so the reading may lack it.
        reading = _with_doubt(reading, Doubt("missing", 0.7, "ink near the problem not read"))
    return reading


def _with_doubt(reading: Reading, doubt: Doubt) -> Reading:
    return replace(
        reading,
        confidence=round(reading.confidence * (1.0 - 0.6 * doubt.weight), 3),
        doubts=(*reading.doubts, doubt),
    )


def _joined(texts: Sequence[str], system: bool) -> str:
    if not system:
        return texts[0]
    return "; ".join(strip_instructions(t)[1] for t in texts)


def _parse_rows(rows: list[RowReading], source: str, system: bool) -> Reading | None:
    problem = parse_problem(_joined([r.text for r in rows], system), source)
    if problem is None:
        return None
    doubts = [d for r in rows for d in r.doubts]
    doubts += [d for r in rows for d in repairs(r.text)]
    alternatives: list[Problem] = []
    for i, row in enumerate(rows):
        for variant in row.alternatives:
            texts = [r.text for r in rows]
            texts[i] = variant
            alt = parse_problem(_joined(texts, system), source)
            if alt is not None and alt.text != problem.text and alt not in alternatives:
                alternatives.append(alt)
    confidence = 1.0
    for doubt in doubts:
        confidence *= 1.0 - 0.6 * doubt.weight
    return Reading(problem, round(confidence, 3), tuple(alternatives[:3]), tuple(doubts))


# Letters the reader turns into digits ("Z" -> 2, "O" -> 0, "l" -> 1...) and a power
# OCR flattened ("x2" -> x^2): the reading only parses after a repair, so it is less sure.
_LETTER_FOR_DIGIT = re.compile(
    r"(?<=\d)[ZOlISB|o]|[ZOlISB|o](?=\d)|(?<![A-Za-z])[ZOI|](?![A-Za-z])"
)
_FLAT_POWER = re.compile(r"(?<![a-zA-Z])[a-z][23](?![\d.])")


def repairs(text: str) -> list[Doubt]:
    out = []
    if _LETTER_FOR_DIGIT.search(text):
        out.append(Doubt("repair", 0.35, "a letter read where a digit belongs"))
    if _FLAT_POWER.search(text):
        out.append(Doubt("repair", 0.3, "a power printed flat"))
    return out


def normalised(text: str) -> str:
    """The row text as the parser sees it (for logs and tests)."""
    return normalize_ocr(text)
