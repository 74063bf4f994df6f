"""Ink beside a printed line that is no writing, kept out of it.

A phone's picture reaches the tutor through a video call: VP8 compression breaks the
sheet's edge into hair-thin dashes that come and go from frame to frame, and paper has
fibres, smudges and scratches. Joined to a line, OCR reads such marks as a word ("smm
3x - 4 = 11": no problem at all) or as part of the math ("- 3x - 4 = 11", "11x": a
wrong one). Here:

  * specks and slivers join a line only beside its letters (`joins_row`);
  * a line's ink is grouped by the gaps in it (`groups_apart`): a group with no letter
    at either end, standing apart, is left out; what a wide gap sets apart is read on
    its own and judged by its text (tutor/pageread.py's `stands_apart`).
"""

from __future__ import annotations

from typing import TypeVar

from tutor.ink import Blob, Rect, union_all
from tutor.shapes import is_glyph, is_sliver, is_stroke

#: A space this many letter heights wide inside a line is wider than any between two
#: words or around a sign, even in a typewriter face (about one letter height there, a
#: number and its problem up to 1.3): the ink beyond it was set apart ("1." before a
#: tab) or is no writing at all (the sheet's edge, a smudge), and is judged on its own.
APART = 1.5
#: A mark with no letter at either end of a line, this far out, is no part of it: a
#: minus sign stands close to its number (a letter height at most, spaced in a
#: typewriter face), a dot or a stem closer still.
LONE = 1.0
#: A stroke this many letter heights long is no minus sign but an answer line, a ruled
#: line's remnant: left out of a line without a doubt.
LONG_STROKE = 1.2

#: A blob, or a fraction or bracket the layout made of several (always lettered).
T = TypeVar("T")


def x_gap(a: Rect, b: Rect) -> int:
    """How far apart two boxes are side to side (0 when their columns overlap)."""
    return max(a.x0 - b.x1, b.x0 - a.x1, 0)


def joins_row(b: Blob, letters: list[Rect], unit: float) -> bool:
    """Whether a speck or a sliver level with a row is part of it: a dot (a decimal point,
    the dot of an i, a "·" between two terms) within the row's width give or take a
    letter; a sliver (the stem of an "l", a "|") right beside one of its letters."""
    if is_sliver(b, unit):
        return min(x_gap(b.rect, r) for r in letters) <= 0.6 * unit
    return x_gap(b.rect, union_all(letters)) <= unit


def groups_apart(elements: list[tuple[Rect, T]], unit: float) -> tuple[list[list[T]], int]:
    """A line's ink in groups that gaps of `APART` letters separate, left to right, less
    the groups at either end that hold no letter and stand `LONE` letters out (specks,
    slivers, strokes), and how many of those held a stroke the size of a minus sign."""
    groups: list[tuple[int, int, list[T]]] = []  # x0, x1, ink
    for rect, thing in sorted(elements, key=lambda e: e[0].x0):
        if not groups or rect.x0 - groups[-1][1] >= LONE * unit:
            groups.append((rect.x0, rect.x1, [thing]))
        else:
            x0, x1, things = groups[-1]
            groups[-1] = (x0, max(x1, rect.x1), [*things, thing])

    def lettered(things: list[T]) -> bool:
        return any(
            not isinstance(t, Blob) or (is_glyph(t, unit) and not is_sliver(t, unit))
            for t in things
        )

    def minus_sized(things: list[T]) -> bool:
        return any(
            isinstance(t, Blob) and is_stroke(t, unit) and t.rect.w < LONG_STROKE * unit
            for t in things
        )

    strays = 0
    while groups and not lettered(groups[0][2]):
        strays += minus_sized(groups.pop(0)[2])
    while groups and not lettered(groups[-1][2]):
        strays += minus_sized(groups.pop()[2])
    merged: list[tuple[int, int, list[T]]] = []
    for x0, x1, things in groups:
        if merged and x0 - merged[-1][1] < APART * unit:
            left, right, before = merged[-1]
            merged[-1] = (left, max(right, x1), before + things)
        else:
            merged.append((x0, x1, things))
    return [things for _, _, things in merged], strays
