"""The layout reader with the embedded OCR on rendered phone photos of every new kind of
printed problem (the benchmark, bench/tutor.py, runs hundreds of these; here a few fixed
ones pin the behaviour): read right and sure, so the tutor solves without asking."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest
from numpy.typing import NDArray

from model.embedded.ocr import OcrEngine
from model.types import TextLine
from tests.camera_stream import through_vp8
from tests.imagegen import FONT_DIR, Style, render_problem
from tutor.reading import PageReading, read_lines, read_page

pytestmark = pytest.mark.models

PHOTO = Style(
    font=str(FONT_DIR / "DejaVuSans.ttf"),
    size=42,
    rotation=-3.5,
    blur=0.7,
    noise=5.0,
    lined_paper=True,
    light=0.2,
)
SERIF_GREY = dataclasses.replace(
    PHOTO, font=str(FONT_DIR / "DejaVuSerif.ttf"), rotation=4.0, lined_paper=False, grey_paper=True
)


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return OcrEngine()


def _read(engine: OcrEngine, image: NDArray[np.uint8]) -> PageReading:
    async def read_text(rgb: NDArray[np.uint8]) -> list[TextLine]:
        return await asyncio.to_thread(engine.read, rgb)

    return asyncio.run(read_page(image, read_text, vision=False))


@pytest.mark.parametrize(
    ("lines", "style", "text"),
    [
        (["\\frac{1}{2} + \\frac{1}{3}"], PHOTO, "1/2 + 1/3"),
        (["\\frac{3}{4} \u2212 \\frac{1}{6}"], SERIF_GREY, "3/4 - 1/6"),
        (["\\frac{2}{3} \u00b7 \\frac{9}{10}"], PHOTO, "2/3*9/10"),
        (["\\(\\frac{5}{8}\\) \u00f7 \\(\\frac{1}{4}\\)"], SERIF_GREY, "(5/8)/(1/4)"),
        (["\\frac{x \u2212 1}{3} = 4"], PHOTO, "(x - 1)/3 = 4"),
        (["\\frac{x}{4} + 3 = 5"], SERIF_GREY, "x/4 + 3 = 5"),
        (["2x^{2} \u2212 18 = 0"], PHOTO, "2*x^2 - 18 = 0"),
        (["x\u00b2 = 49"], SERIF_GREY, "x^2 = 49"),
        (["2\\frac{1}{3} + 1\\frac{1}{4}"], PHOTO, "(2 + 1/3) + (1 + 1/4)"),
        (["x + y + z = 6", "x \u2212 y = 1", "y + z = 5"], SERIF_GREY, None),
    ],
)
def test_each_kind_is_read_right_and_sure(
    engine: OcrEngine, lines: list[str], style: Style, text: str | None
) -> None:
    page = _read(engine, render_problem(lines, style, seed=5))
    (reading,) = page.problems
    expected = text or "x + y + z = 6; x - y = 1; y + z = 5"
    assert reading.problem.text == expected
    assert reading.certain, reading.doubts


def test_todays_reader_is_kept_for_the_baseline(engine: OcrEngine) -> None:
    """The whole-frame reader still reads a one-line problem, and misses a stacked one."""

    async def read_text(rgb: NDArray[np.uint8]) -> list[TextLine]:
        return engine.read(rgb)

    flat = asyncio.run(read_lines(render_problem(["2x + 3 = 11"], PHOTO, seed=5), read_text))
    assert flat is not None and flat.text == "2*x + 3 = 11"
    stacked = render_problem(["\\frac{x}{2} + \\frac{x}{3} = 10"], PHOTO, seed=5)
    old = asyncio.run(read_lines(stacked, read_text))
    assert old is None or old.text != "x/2 + x/3 = 10"


def test_a_sheet_of_numbered_problems(engine: OcrEngine) -> None:
    lines = [
        "Solve each problem.",
        "1.  \\frac{x}{2} + 3 = 7",
        "2.  x^{2} \u2212 9 = 0",
        "3.  4(x \u2212 2) = 12",
        "4.  \\frac{2}{5} + \\frac{1}{10}",
        "5.  3x + 2 = 17",
    ]
    page = _read(engine, render_problem(lines, PHOTO, size=(1280, 720), seed=2))
    assert page.is_sheet and page.count == 5
    assert [r.number for r in page.problems] == ["1", "2", "3", "4", "5"]
    assert [r.problem.text for r in page.problems] == [
        "x/2 + 3 = 7",
        "x^2 - 9 = 0",
        "4*(x - 2) = 12",
        "2/5 + 1/10",
        "3*x + 2 = 17",
    ]


#: The page of test_tutor_call.py's spoken-help test, and the frames of it where the
#: reader used to glue the sheet's edge to the line (see test_tutor_strays.py).
CALL_PHOTO = Style(
    font=str(FONT_DIR / "DejaVuSerif.ttf"),
    size=44,
    rotation=4.0,
    blur=0.8,
    noise=6.0,
    lined_paper=True,
    light=0.25,
)


def test_a_page_seen_through_a_video_call_is_read_on_every_frame(engine: OcrEngine) -> None:
    """Decoded from the camera's VP8 stream, the sheet's edge next to the line comes and
    goes as hair-thin dashes; read as a word ("smm 3x - 4 = 11"), they made about half
    the frames of a real call unreadable. Frames 27 to 48 at aiortc's starting bit rate
    (five of these eight were misread)."""
    frames = through_vp8(render_problem(["3x - 4 = 11"], CALL_PHOTO, seed=5), count=49)
    for k in range(27, 49, 3):
        page = _read(engine, frames[k])
        assert page.lines == ("3x - 4 = 11",), k
        assert [r.problem.text for r in page.problems] == ["3*x - 4 = 11"], k
        assert page.problems[0].certain, (k, page.problems[0].doubts)
