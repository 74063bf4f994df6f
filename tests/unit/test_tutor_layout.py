"""The layout reader without OCR: what tutor/layout.py finds in the pixels of rendered
homework, how tutor/pageread.py rebuilds a line from its pieces' text, and how
tutor/reading.py turns lines into problems with a confidence.

The OCR is left out on purpose (tests/test_tutor_layout_ocr.py and the real-call tests
have it): the pieces' texts here are what a correct recogniser would return, so each
test pins one decision of the layout reader.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from model.types import TextLine
from tests.imagegen import CLEAN, FONT_DIR, render_problem
from tests.imagegen_homework import hand_style, homework_style, power_raised, stacked_x
from tutor.handwriting import handwriting_score
from tutor.layout import Fraction, Page, Paren, Piece, Rect, Row, Run, Sup, find_rows, level_page
from tutor.pageread import (
    RowReading,
    assign,
    contact_sheet,
    pieces_to_read,
    row_reading,
)
from tutor.reading import ASK_BELOW, problems_from_rows, split_label

TILTED = dataclasses.replace(
    CLEAN, rotation=4.0, blur=0.6, noise=4.0, light=0.2, lined_paper=True, size=44
)


def _page(lines: list[str], style: object = CLEAN, **kw: object) -> Page:
    page = level_page(render_problem(lines, style, **kw))  # type: ignore[arg-type]
    page.rows = find_rows(page)
    return page


def _kinds(row: Row) -> list[str]:
    return [type(item).__name__ for item in row.items]


def _read_as(page: Page, texts: list[str]) -> dict[Piece, tuple[str, float]]:
    """The pieces OCR would read, in order, given the texts a good recogniser returns."""
    pieces = pieces_to_read(page.rows)
    assert len(pieces) == len(texts), [p.rect for p in pieces]
    return {p: (t, 0.99) for p, t in zip(pieces, texts, strict=True)}


# ------------------------------------------------------------------ pixels -> structure


@pytest.mark.parametrize("style", [CLEAN, TILTED], ids=["flat", "tilted"])
def test_a_stacked_fraction_is_a_bar_with_a_numerator_and_a_denominator(style: object) -> None:
    page = _page([r"\frac{x}{4} + 3 = 5"], style)
    (row,) = page.rows
    fraction = row.items[0]
    assert isinstance(fraction, Fraction) and fraction.doubt == 0.0
    assert len(fraction.numerator) == 1 and len(fraction.denominator) == 1
    # The numerator is above the bar and the denominator below it.
    assert fraction.numerator[0].piece.rect.y1 <= fraction.bar.y0 + 1  # type: ignore[union-attr]
    assert fraction.denominator[0].piece.rect.y0 >= fraction.bar.y1 - 1  # type: ignore[union-attr]
    # "=" is known from its two strokes, so OCR never has to read it.
    assert [i.piece.symbol for i in row.items if isinstance(i, Run)] == ["", "=", ""]
    # Turned back by the angle the photo was tilted by (PIL turns counter-clockwise).
    assert abs(page.angle + getattr(style, "rotation", 0.0)) < 1.0


def test_a_bar_far_from_its_parts_is_a_doubtful_fraction() -> None:
    (row,) = _page([r"\wfrac{x}{4} + 3 = 5"]).rows
    fraction = row.items[0]
    assert isinstance(fraction, Fraction) and fraction.doubt > 0.3


def test_a_minus_and_an_equals_sign_between_two_lines_are_not_fraction_bars() -> None:
    page = _page(["2x + y = 7", "x \u2212 y = 2"], dataclasses.replace(CLEAN, size=44))
    assert len(page.rows) == 2
    assert all(not row.structured for row in page.rows)
    symbols = [i.piece.symbol for i in page.rows[1].items if isinstance(i, Run)]
    assert symbols == ["", "=", ""]  # the minus stays in its run, read with its letters


@pytest.mark.parametrize("power", ["^{2}", "\u00b2"], ids=["raised", "glyph"])
def test_a_power_is_a_superscript_after_its_base(power: str) -> None:
    (row,) = _page([f"2x{power} \u2212 18 = 0"], TILTED).rows
    kinds = _kinds(row)
    assert kinds[:2] == ["Run", "Sup"], kinds
    sup = row.items[1]
    assert isinstance(sup, Sup) and sup.doubt == 0.0


def test_a_percent_sign_is_not_an_exponent() -> None:
    (row,) = _page(["15% of 80"]).rows
    assert not row.structured


def test_tall_brackets_around_fractions_face_the_right_way() -> None:
    (row,) = _page(["\\(\\frac{5}{8}\\) \u00f7 \\(\\frac{1}{4}\\)"]).rows
    assert [i.char for i in row.items if isinstance(i, Paren)] == ["(", ")", "(", ")"]
    assert [i.piece.symbol for i in row.items if isinstance(i, Run)] == ["\u00f7"]


def test_a_merged_bold_fraction_is_cut_apart() -> None:
    bold = dataclasses.replace(CLEAN, font=str(FONT_DIR / "DejaVuSerif-Bold.ttf"), blur=1.0)
    (row,) = _page([r"\frac{2}{3} + \frac{4}{8}"], bold).rows
    assert sum(isinstance(i, Fraction) for i in row.items) == 2


def test_the_sheets_edges_the_desk_and_ruled_lines_make_no_rows() -> None:
    rng = random.Random(2)
    for seed in range(6):
        style = dataclasses.replace(homework_style(rng), lined_paper=True)
        page = _page(["3x + 4 = 19"], style, seed=seed)
        assert len(page.rows) == 1, (seed, style)


# ------------------------------------------------------------------ pieces -> line text


def test_a_row_is_rebuilt_as_linear_math() -> None:
    page = _page(["\\frac{x \u2212 1}{3} = 4"])
    read = _read_as(page, ["x - 1", "3", "4"])
    assert row_reading(page, page.rows[0], read).text == "(x - 1)/3 = 4"


def test_a_whole_number_before_a_numeric_fraction_is_a_mixed_number() -> None:
    page = _page([r"2\frac{1}{3} + 1\frac{1}{4}"])
    read = _read_as(page, ["2", "1", "3", "+ 1", "1", "4"])
    assert row_reading(page, page.rows[0], read).text == "(2 + 1/3) + (1 + 1/4)"


def test_an_exponent_is_attached_and_a_doubtful_bar_offers_the_minus_reading() -> None:
    page = _page(["2x^{2} \u2212 18 = 0"])
    read = _read_as(page, ["2x", "2", "- 18", "0"])
    assert row_reading(page, page.rows[0], read).text == "2x^2 - 18 = 0"
    page = _page([r"\wfrac{x}{4} + 3 = 5"])
    reading = row_reading(page, page.rows[0], _read_as(page, ["x", "4", "+ 3", "5"]))
    assert reading.text == "x/4 + 3 = 5"
    assert reading.alternatives == ("x - 4 + 3 = 5",)
    assert [d.kind for d in reading.doubts] == ["bar"]


def test_ink_left_unread_is_a_doubt() -> None:
    page = _page(["2x + 31 = 11"])
    (piece,) = pieces_to_read(page.rows)[:1]
    reading = row_reading(page, page.rows[0], {piece: ("2x + 3", 0.99)})
    assert "missing" in [d.kind for d in reading.doubts]


def test_the_contact_sheet_keeps_every_piece_apart() -> None:
    crops = [np.full((34, 20 + 10 * k), 0, np.uint8) for k in range(7)]
    sheet, slots = contact_sheet(crops)
    assert sheet.ndim == 3 and sheet.shape[2] == 3
    for a in slots:
        for b in slots:
            if a is not b:
                apart_x = a.x1 <= b.x0 or b.x1 <= a.x0
                apart_y = a.y1 <= b.y0 or b.y1 <= a.y0
                assert apart_x or apart_y
    lines = [TextLine(f"t{k}", 0.9, (s.x0, s.y0, s.x1, s.y1)) for k, s in enumerate(slots)]
    assert [t for t, _ in assign(lines[::-1], slots)] == [f"t{k}" for k in range(7)]


def test_no_two_crops_in_neighbouring_columns_are_level() -> None:
    """OCR joins text across 3.5 box heights and a tall crop's box reaches across the
    columns' gap: level with each other, two crops would be read as one line."""
    crops = [np.full((70 if k % 3 else 48, 150), 0, np.uint8) for k in range(9)]
    _, slots = contact_sheet(crops)
    columns: dict[int, list[Rect]] = {}
    for slot in slots:
        columns.setdefault(slot.x0, []).append(slot)
    lefts = sorted(columns)
    assert len(lefts) == 3
    for left, right in zip(lefts, lefts[1:], strict=False):
        for a in columns[left]:
            for b in columns[right]:
                assert abs(a.cy - b.cy) > 0.5 * (max(a.h, b.h) + 34), (a, b)


# ------------------------------------------------------------------ lines -> problems


def _rows(*texts: str) -> list[RowReading]:
    return [RowReading(t, 0.99) for t in texts]


def test_the_lines_of_a_system_are_kept_together() -> None:
    (two,) = problems_from_rows(_rows("2x + y = 7", "x - y = 2")).problems
    assert two.problem.text == "2*x + y = 7; x - y = 2" and two.certain
    (three,) = problems_from_rows(_rows("x + y + z = 6", "x - y = 1", "y + z = 5")).problems
    assert three.problem.kind == "linear_system"
    assert three.problem.text.count(";") == 2


def test_a_sheet_is_split_at_its_numbers() -> None:
    page = problems_from_rows(
        _rows(
            "Solve each problem.",
            "1. 2x + 3 = 11",
            "2. (x - 1)/3 = 4",
            "3. 2x + y = 7",
            "x - y = 2",
            "4.6^2 + 2×5",  # OCR lost the space after "4."
            "5) ???",
        )
    )
    assert page.is_sheet and page.count == 5
    assert [r.number for r in page.problems] == ["1", "2", "3", "4"]
    assert page.unread == ("5",)
    assert page.numbered("3") is not None
    assert page.numbered("3").problem.kind == "linear_system"  # type: ignore[union-attr]
    assert page.numbered("4").problem.text == "6^2 + 2*5"  # type: ignore[union-attr]


def test_labels() -> None:
    assert split_label("3. 2x + 1 = 7") == ("3", "2x + 1 = 7")
    assert split_label("b) x/2 = 4") == ("b", "x/2 = 4")
    assert split_label("(c) 3 + 4") == ("c", "3 + 4")
    assert split_label("2.5x + 1 = 6") == (None, "2.5x + 1 = 6")


def test_doubts_lower_the_confidence_and_alternatives_are_kept() -> None:
    from tutor.pageread import Doubt

    row = RowReading("x/4 + 3 = 5", 0.99, (Doubt("bar", 0.6),), ("x - 4 + 3 = 5",))
    (reading,) = problems_from_rows([row]).problems
    assert reading.confidence < ASK_BELOW and not reading.certain
    assert [a.text for a in reading.alternatives] == ["x - 4 + 3 = 5"]
    event = reading.as_event()
    assert set(event) == {"text", "latex", "kind", "source", "confidence", "alternatives"}
    assert event["alternatives"] == [
        {"text": "x - 4 + 3 = 5", "latex": "x - 4 + 3 = 5", "kind": "linear_equation"}
    ]
    (flat,) = problems_from_rows(_rows("x2 - 5x + 6 = 0")).problems
    assert flat.problem.text == "x^2 - 5*x + 6 = 0" and flat.confidence < 1.0


# ------------------------------------------------------------------ handwriting


def test_hand_lettering_scores_higher_than_print() -> None:
    rng = random.Random(4)
    printed = []
    for seed in range(6):
        plain, lines = (stacked_x if seed % 2 else power_raised)(rng)
        printed.append(handwriting_score(_page(lines, homework_style(rng), seed=seed)))
    hand = [
        handwriting_score(_page(["3x + 4 = 19", "2x + 5 = 17"], hand_style(rng), seed=seed))
        for seed in range(6)
    ]
    assert max(printed) < 0.4
    assert sorted(hand)[len(hand) // 2] >= 0.5  # most hand-lettered pages are told apart
