"""Stray ink beside a printed line: the sheet's edge broken into dashes by a video call's
compression, a scratch, a smudge. None of it may become part of the problem read.

The pages are rendered level (no tilt), so the marks are drawn where the reader will see
them; the OCR is left out (tests/calls/test_tutor_layout_ocr.py reads a real video frame
with it): the pieces' texts are what a recogniser returns, junk included.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from tests.imagegen import FONT_DIR, Style, render_problem
from tutor.layout import Gap, Page, Rect, find_rows, level_page
from tutor.pageread import pieces_to_read, row_reading, stands_apart
from tutor.reading import ASK_BELOW, PageReading, Reading, problems_from_rows

#: The real-call test's page (tests/calls/test_tutor_call.py), photographed level.
PHOTO = Style(
    font=str(FONT_DIR / "DejaVuSerif.ttf"),
    size=44,
    rotation=0.0,
    blur=0.8,
    noise=6.0,
    lined_paper=True,
    light=0.25,
)
LINE = "3x - 4 = 11"
INK = (60, 58, 66)


def _frame() -> tuple[NDArray[np.uint8], Rect, float]:
    """The page, where its line is and its letters' height."""
    rgb = render_problem([LINE], PHOTO, seed=5)
    page = _page(rgb)
    (row,) = page.rows
    return rgb.copy(), row.rect, page.text_height


def _page(rgb: NDArray[np.uint8]) -> Page:
    page = level_page(rgb)
    page.rows = find_rows(page)
    return page


def _found(page: Page, texts: list[str]) -> PageReading:
    """What is read off the page when OCR reads its pieces, in order, as `texts`."""
    pieces = pieces_to_read(page.rows)
    assert len(pieces) == len(texts), [p.rect for p in pieces]
    read = {p: (t, 0.95) for p, t in zip(pieces, texts, strict=True)}
    return problems_from_rows([row_reading(page, row, read) for row in page.rows])


def _reading(page: Page, texts: list[str]) -> Reading | None:
    found = _found(page, texts)
    return found.problems[0] if found.problems else None


def _row_ink(page: Page) -> list[Rect]:
    return [page.blob(i).rect for p in pieces_to_read(page.rows) for i in p.blobs]


def test_the_sheets_edge_broken_into_dashes_is_no_word_of_the_line() -> None:
    """What VP8 leaves of the sheet's edge: hair-thin dashes in a column, level with the
    line four letters to its left (OCR read them as "smm", "mme"), and one more across
    the page, level with nothing, that made a row of its own (read as "1")."""
    rgb, line, unit = _frame()
    edge = line.x0 - round(4 * unit)
    for y in range(line.y0 - round(unit), line.y1 + round(unit), 22):
        cv2.rectangle(rgb, (edge, y), (edge + 1, y + 7), INK, -1)
    far = line.x1 + round(5 * unit)
    cv2.rectangle(
        rgb, (far, line.y0 - round(3 * unit)), (far + 1, line.y0 - round(2.3 * unit)), INK, -1
    )
    page = _page(rgb)
    assert len(page.rows) == 1
    assert all(r.x0 >= line.x0 - 2 and r.x1 <= line.x1 + 2 for r in _row_ink(page))
    reading = _reading(page, ["3x - 4", "11"])
    assert reading is not None and reading.problem.text == "3*x - 4 = 11"
    assert reading.certain and not reading.doubts


def test_a_scratch_far_from_the_line_is_left_out_and_the_tutor_asks() -> None:
    """A stroke the size of a minus sign, but far from any number: not "-3x - 4 = 11", and
    not solved without asking (a minus sign is a stroke too)."""
    rgb, line, unit = _frame()
    y = (line.y0 + line.y1) // 2
    x1 = line.x0 - round(1.3 * unit)
    cv2.line(rgb, (x1 - round(0.8 * unit), y), (x1, y), INK, 3)
    page = _page(rgb)
    (row,) = page.rows
    assert row.strays == 1
    assert all(r.x0 >= line.x0 - 2 for r in _row_ink(page))
    reading = _reading(page, ["3x - 4", "11"])
    assert reading is not None and reading.problem.text == "3*x - 4 = 11"
    assert reading.confidence < ASK_BELOW
    assert [d.kind for d in reading.doubts] == ["stray"]


def _smudged(side: str) -> Page:
    rgb, line, unit = _frame()
    y = (line.y0 + line.y1) // 2
    x = line.x0 - round(2.5 * unit) if side == "left" else line.x1 + round(2.5 * unit)
    cv2.ellipse(rgb, (x, y), (round(0.35 * unit), round(0.28 * unit)), 20, 0, 360, INK, -1)
    page = _page(rgb)
    (row,) = page.rows
    assert sum(isinstance(item, Gap) for item in row.items) == 1
    return page


@pytest.mark.parametrize(
    ("side", "junk", "certain"),
    [
        ("left", "•", True),  # a smudge read as a dot: nothing it could have meant
        ("left", "smm", False),  # a word beside the problem: left out, and asked
        ("right", "x", False),  # glued on, "3x - 4 = 11x" would be a wrong problem
        ("right", "1", False),  # and "3x - 4 = 11 1" no problem at all
    ],
)
def test_ink_set_apart_that_reads_as_no_math_is_left_out(
    side: str, junk: str, certain: bool
) -> None:
    page = _smudged(side)
    texts = [junk, "3x - 4", "11"] if side == "left" else ["3x - 4", "11", junk]
    reading = _reading(page, texts)
    assert reading is not None and reading.problem.text == "3*x - 4 = 11"
    assert reading.certain is certain
    assert [d.kind for d in reading.doubts] == ["stray"]


def test_a_number_or_an_instruction_set_apart_is_kept() -> None:
    page = _smudged("left")
    assert _found(page, ["1.", "3x - 4", "11"]).lines == ("1. 3x - 4 = 11",)
    reading = _reading(page, ["Solve:", "3x - 4", "11"])
    assert reading is not None and reading.problem.text == "3*x - 4 = 11" and reading.certain


def test_what_stands_apart() -> None:
    for kept in ("1.", "b)", "(c)", "Q3.", "Solve:", "Simplify", "3x - 4 = 11", "1/2", "2x"):
        assert stands_apart(kept), kept
    for junk in ("smm", "mme", "11", "1", "x", "-", "•", "~", "/", "(2 marks)", ""):
        assert not stands_apart(junk), junk


def test_a_line_in_a_typewriter_face_is_split_only_after_its_number() -> None:
    """A typewriter face's spaces are a letter wide; its number stands two letters from
    the problem, is read on its own and kept."""
    mono = dataclasses.replace(PHOTO, font=str(FONT_DIR / "DejaVuSansMono.ttf"))
    page = _page(render_problem(["1.  3x - 4 = 2x + 11"], mono, seed=5))
    (row,) = page.rows
    assert [k for k, item in enumerate(row.items) if isinstance(item, Gap)] == [1]
    assert row.strays == 0
    found = _found(page, ["1.", "3x - 4", "2x + 11"])
    assert found.lines == ("1. 3x - 4 = 2x + 11",)
    assert found.problems[0].certain
