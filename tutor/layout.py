"""Where the ink is on a homework photo, and how it is laid out as math.

OCR reads a line of text well but not the second dimension of printed math: a stacked
fraction comes back as two stray lines (or as "x - 4" when the bar is taken for a minus),
and a small raised exponent is dropped. This module finds that structure from the pixels,
with no OCR: tutor/ink.py separates the ink from the paper and turns the page level,
and here its connected blobs of ink are sorted into

  * fraction bars: short horizontal strokes with ink right above and right below them
    (an "=" is two strokes, a minus has nothing above or below);
  * superscripts: small blobs whose bottom sits well above the baseline of the line,
    just after a letter, digit or bracket (a power written 2 or typeset as one glyph ²);
  * tall brackets that span a fraction;
  * runs of ordinary text between them;
  * and what is no writing: specks and hair-thin slivers away from the letters (the
    sheet's edge as a video call's compression leaves it), marks with no letter far out
    at either end of a line. Ink set apart from the rest of its line by a wide gap is
    read on its own (`Gap`), so OCR never glues a smudge to the problem as a word.

The resulting rows of line items say which pieces of the page to read and how to put
their text together (tutor/pageread.py does both). Everything here is blocking numpy/OpenCV work
(tens of ms for a VGA frame): callers run it in a worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tutor.ink import Blob, Page, Rect, level_page, union_all
from tutor.shapes import is_glyph, is_sliver, is_stroke
from tutor.strays import groups_apart, joins_row

__all__ = ["Blob", "Fraction", "Gap", "LineItem", "Page", "Paren", "Piece", "Rect", "Row", "Run"]
__all__ += ["Sup", "find_fractions", "find_rows", "level_page", "residual_tilt", "union_all"]


# ------------------------------------------------------------------ items of a line


@dataclass(frozen=True)
class Piece:
    """Ink to be read by OCR: a run of text, a superscript, a numerator..."""

    blobs: tuple[int, ...]
    rect: Rect
    # What the shape alone says it is, when it is one symbol drawn with strokes
    # ("-", "=", "+"); OCR reads a lone operator badly (a "+" comes back as "十").
    symbol: str = ""
    # It starts with a dash standing alone in its columns: a minus sign, which OCR
    # sometimes leaves out of a short piece ("- 72" read as "72").
    leading_minus: bool = False


@dataclass(frozen=True)
class Run:
    piece: Piece


@dataclass(frozen=True)
class Sup:
    """A raised piece: the exponent of what comes before it."""

    piece: Piece
    # 0 = clearly an exponent (glyph-sized, well raised, right after its base); towards 1
    # = it might be a stray mark or a raised sign.
    doubt: float


@dataclass(frozen=True)
class Fraction:
    numerator: tuple[LineItem, ...]
    denominator: tuple[LineItem, ...]
    bar: Rect
    rect: Rect
    # 0 = clearly a fraction bar; towards 1 = it could also be a minus sign between
    # text above and below it (gaps as wide as between two printed lines, a bar
    # shorter than what it divides).
    doubt: float


@dataclass(frozen=True)
class Paren:
    """A bracket taller than the text, spanning a stacked fraction."""

    char: str  # "(" or ")"
    rect: Rect


@dataclass(frozen=True)
class Gap:
    """A space wider than any between two words of a line (tutor/strays.py's `APART`): the
    ink on each side is read on its own, and kept only if it reads as part of a problem
    (tutor/pageread.py)."""

    rect: Rect


LineItem = Run | Sup | Fraction | Paren | Gap


@dataclass(frozen=True)
class Row:
    """One printed line, its items left to right."""

    items: tuple[LineItem, ...]
    rect: Rect
    # Strokes left out at either end of the line, far from it: a scratch most likely,
    # but a minus sign is a stroke too, so the reading is less sure.
    strays: int = 0

    @property
    def structured(self) -> bool:
        """Whether it holds something OCR of the whole line would flatten."""
        return any(not isinstance(item, Run | Gap) for item in self.items)


# ------------------------------------------------------------------ structure


def _equals_pairs(strokes: list[Blob], unit: float) -> set[int]:
    """Strokes that are half of an "=" (two strokes of one length, one above the other)."""
    paired: set[int] = set()
    for a in strokes:
        for b in strokes:
            if a.index >= b.index:
                continue
            ra, rb = a.rect, b.rect
            same_span = abs(ra.x0 - rb.x0) <= 0.3 * unit and abs(ra.x1 - rb.x1) <= 0.3 * unit
            gap = max(ra.y0, rb.y0) - min(ra.y1, rb.y1)
            if same_span and 0 <= gap <= 0.6 * unit:
                paired |= {a.index, b.index}
    return paired


@dataclass(frozen=True)
class _Stack:
    """A fraction bar found on the page, with the blobs above and below it."""

    bar: Blob
    numerator: list[Blob]
    denominator: list[Blob]
    doubt: float

    @property
    def blobs(self) -> list[Blob]:
        return [self.bar, *self.numerator, *self.denominator]


def find_fractions(page: Page) -> tuple[list[_Stack], set[int]]:
    """Fraction bars with the blobs of their numerator and denominator, and a doubt.

    Longest bars first, so a minus inside a numerator is not taken for a bar of its own;
    the blobs a fraction claims are out of the running for the next one."""
    unit = page.text_height
    strokes = [b for b in page.blobs if is_stroke(b, unit)]
    equals = _equals_pairs(strokes, unit)
    claimed: set[int] = set()
    found: list[_Stack] = []
    for bar in sorted(strokes, key=lambda b: -b.rect.w):
        if bar.index in equals or bar.index in claimed:
            continue
        r = bar.rect
        span = (r.x0 - 0.15 * unit, r.x1 + 0.15 * unit)
        pool = [b for b in page.blobs if b.index not in claimed and b.index != bar.index]
        inside = [b for b in pool if span[0] <= b.rect.cx <= span[1]]
        above = [b for b in inside if b.rect.y1 <= r.y0 + 1 and is_glyph(b, unit)]
        below = [b for b in inside if b.rect.y0 >= r.y1 - 1 and is_glyph(b, unit)]
        if not above or not below:
            continue
        gap_above = min(r.y0 - b.rect.y1 for b in above)
        gap_below = min(b.rect.y0 - r.y1 for b in below)
        if gap_above > 0.9 * unit or gap_below > 0.9 * unit:
            continue
        # Nothing else (another stroke) between the bar and the ink above or below it.
        near_top = [b for b in above if r.y0 - b.rect.y1 <= gap_above + 0.25 * unit]
        near_bottom = [b for b in below if b.rect.y0 - r.y1 <= gap_below + 0.25 * unit]
        top_band = (min(b.rect.y0 for b in near_top) - 0.5 * unit, r.y0 + 1)
        bottom_band = (r.y1 - 1, max(b.rect.y1 for b in near_bottom) + 0.3 * unit)
        numerator = [
            b for b in inside if top_band[0] <= b.rect.cy <= top_band[1] and b.rect.y1 <= r.y0 + 1
        ]
        denominator = [
            b
            for b in inside
            if bottom_band[0] <= b.rect.cy <= bottom_band[1] and b.rect.y0 >= r.y1 - 1
        ]
        if any(b.index in equals for b in numerator + denominator):
            continue  # an "=" right above or below: two lines of a system, not a fraction
        if (
            min(union_all([b.rect for b in part]).h for part in (numerator, denominator))
            < 0.6 * unit
        ):
            continue  # a letter broken in three by faint print (a 9's bowl, stem and tail)
        widest = max(
            union_all([b.rect for b in numerator]).w, union_all([b.rect for b in denominator]).w
        )
        stack = _Stack(
            bar, numerator, denominator, _bar_doubt(gap_above, gap_below, r.w, widest, unit)
        )
        found.append(stack)
        claimed |= {b.index for b in stack.blobs}
    found += _barless_stacks(page, claimed, equals)
    return found, equals


def _barless_stacks(page: Page, claimed: set[int], equals: set[int]) -> list[_Stack]:
    """Fractions whose bar is too faint to survive (thin print, blur): a glyph right
    above another, level with the signs beside them ("+" and "=" sit at the bar's
    height). Two lines of a system have nothing between them, so they do not count.
    The bar is made up between the two; the reading is less sure (doubt 0.3)."""
    unit = page.text_height
    glyphs = [
        b
        for b in page.blobs
        if b.index not in claimed and is_glyph(b, unit) and b.rect.h >= 0.6 * unit
    ]
    found: list[_Stack] = []
    used: set[int] = set()
    for a in glyphs:
        for b in glyphs:
            if a.index in used or b.index in used or a is b:
                continue
            ra, rb = a.rect, b.rect
            overlap = min(ra.x1, rb.x1) - max(ra.x0, rb.x0)
            gap = rb.y0 - ra.y1
            if overlap < 0.6 * min(ra.w, rb.w) or not 0.05 * unit <= gap <= 0.7 * unit:
                continue
            middle = (ra.y1 + rb.y0) / 2
            beside = [
                o
                for o in page.blobs
                if o.index not in (a.index, b.index)
                and abs(o.rect.cy - middle) <= 0.3 * unit
                and 0
                < min(abs(o.rect.x0 - max(ra.x1, rb.x1)), abs(min(ra.x0, rb.x0) - o.rect.x1))
                <= 2.5 * unit
                and (o.plus or o.index in equals or is_stroke(o, unit))
            ]
            if not beside:
                continue
            x0, x1 = min(ra.x0, rb.x0), max(ra.x1, rb.x1)
            y = round(middle)
            bar = Blob(-1 - len(found), Rect(x0, y, x1, y + 1), 0)
            found.append(_Stack(bar, [a], [b], 0.3))
            used |= {a.index, b.index}
    return found


def _bar_doubt(
    gap_above: float, gap_below: float, bar_w: float, widest: float, unit: float
) -> float:
    """A printed bar sits close to its parts (a fifth of a letter's height or so) and is
    at least as wide as the wider of them; a minus sign between two lines of text is
    neither. Past those, doubt grows."""
    gaps = max(gap_above, gap_below) / unit
    doubt = max(0.0, min(1.0, (gaps - 0.45) / 0.45))
    if bar_w < 0.85 * widest:
        doubt = max(doubt, min(1.0, (0.85 * widest - bar_w) / max(widest, 1.0) * 3))
    return round(doubt, 2)


def find_rows(page: Page) -> list[Row]:
    """The page's printed lines, top to bottom, with their structure."""
    unit = page.text_height
    fractions, equals = find_fractions(page)
    in_fraction = {b.index for f in fractions for b in f.blobs}
    loose = [b for b in page.blobs if b.index not in in_fraction]
    # Anchors decide the rows: glyphs and strokes by their middle, fractions by their bar.
    # A sliver anchors nothing: strung along the sheet's edge, slivers would make rows
    # of their own, and level with a line they would stretch it out to the edge.
    anchors: list[tuple[float, Blob | _Stack]] = [
        (b.rect.cy, b)
        for b in loose
        if (is_glyph(b, unit) and not is_sliver(b, unit)) or is_stroke(b, unit)
    ]
    anchors += [(f.bar.rect.cy, f) for f in fractions]
    anchors.sort(key=lambda a: a[0])
    members: list[tuple[list[Blob], list[_Stack]]] = []
    last = -math.inf
    for y, thing in anchors:
        if y - last > 0.8 * unit or not members:
            members.append(([], []))
        if isinstance(thing, Blob):
            members[-1][0].append(thing)
        else:
            members[-1][1].append(thing)
        last = y
    rows: list[Row] = []
    # Dots, specks and slivers join the nearest row they are part of, level with it and
    # beside its letters (tutor/strays.py): further out they are not writing.
    letters = [
        [x.rect for x in blobs] + [union_all([p.rect for p in f.blobs]) for f in fracs]
        for blobs, fracs in members
    ]
    boxes = [union_all(rects) for rects in letters]
    tiny = [b for b in loose if not (is_glyph(b, unit) or is_stroke(b, unit))]
    tiny += [b for b in loose if is_glyph(b, unit) and is_sliver(b, unit)]
    for b in tiny:
        best = None
        for k, (rects, box) in enumerate(zip(letters, boxes, strict=True)):
            dist = max(box.y0 - b.rect.cy, b.rect.cy - box.y1, 0.0)
            if dist > 0.5 * unit or (best is not None and dist >= best[0]):
                continue
            if joins_row(b, rects, unit):
                best = (dist, k)
        if best is not None:
            members[best[1]][0].append(b)
    for blobs, fracs in members:
        row = _build_row(page, blobs, fracs, equals)
        if row is not None:
            rows.append(row)
    return rows


def _build_row(page: Page, blobs: list[Blob], fracs: list[_Stack], equals: set[int]) -> Row | None:
    unit = page.text_height
    if not fracs and not any(
        is_glyph(b, unit) and b.rect.h >= 0.5 * unit and not is_sliver(b, unit) for b in blobs
    ):
        return None  # specks, slivers and stray strokes, not a line of text
    # A stacked fraction stands about twice as tall as the letters beside it; one no
    # taller than them is more likely a letter that faint print broke into pieces.
    beside = [
        b.rect.h for b in blobs if is_glyph(b, unit) and 0.55 * unit <= b.rect.h <= 1.3 * unit
    ]
    letter_h = float(np.median(beside)) if beside else 0.0
    fraction_items = []
    for f in fracs:
        rect = union_all([b.rect for b in f.blobs if b.index >= 0] + [f.bar.rect])
        doubt = f.doubt
        if letter_h and rect.h < 1.6 * letter_h:
            doubt = max(doubt, 0.8)
        fraction_items.append(
            Fraction(
                tuple(_line_items(f.numerator, equals, unit)),
                tuple(_line_items(f.denominator, equals, unit)),
                f.bar.rect,
                rect,
                doubt,
            )
        )
    parens: list[Paren] = []
    if fraction_items:
        tall = max(f.rect.h for f in fraction_items)
        axis = float(np.median([f.bar.cy for f in fraction_items]))
        for b in list(blobs):
            r = b.rect
            if r.h >= 0.7 * tall and r.h >= 1.6 * unit and r.w <= 0.5 * r.h and r.y0 < axis < r.y1:
                parens.append(Paren(_paren_side(page.labels, b), r))
                blobs.remove(b)
    elements: list[tuple[Rect, Blob | Fraction | Paren]] = [(b.rect, b) for b in blobs]
    elements += [(f.rect, f) for f in fraction_items] + [(p.rect, p) for p in parens]
    groups, strays = groups_apart(elements, unit)
    items: list[LineItem] = []
    for group in groups:
        group_items = _group_items(group, equals, unit)
        if items and group_items:
            left, right = _item_rect(items[-1]), _item_rect(group_items[0])
            top, bottom = min(left.y0, right.y0), max(left.y1, right.y1)
            items.append(Gap(Rect(left.x1, top, max(right.x0, left.x1 + 1), bottom)))
        items += group_items
    if not items:
        return None
    return Row(tuple(items), union_all([_item_rect(i) for i in items]), strays)


def _group_items(
    group: list[Blob | Fraction | Paren], equals: set[int], unit: float
) -> list[LineItem]:
    """The items of a group of ink: the loose blobs split at the fractions and brackets."""
    breaks: list[tuple[float, LineItem]] = [
        (t.rect.x0, t) for t in group if isinstance(t, Fraction | Paren)
    ]
    breaks.sort(key=lambda t: t[0])
    items: list[LineItem] = []
    remaining = sorted((t for t in group if isinstance(t, Blob)), key=lambda b: b.rect.cx)
    for x, item in breaks:
        before = [b for b in remaining if b.rect.cx < x]
        remaining = [b for b in remaining if b.rect.cx >= x]
        items += _line_items(before, equals, unit)
        items.append(item)
    items += _line_items(remaining, equals, unit)
    return items


def residual_tilt(page: Page) -> float:
    """Degrees the rows still lean by after levelling (0 when they are level or too short
    to tell): the median over rows of their letters' baseline slope."""
    unit = page.text_height
    slopes = []
    for row in page.rows:
        blobs = [
            page.blob(i) for item in row.items if isinstance(item, Run) for i in item.piece.blobs
        ]
        xs = [
            b.rect.cx for b in blobs if is_glyph(b, unit) and 0.55 * unit <= b.rect.h <= 1.3 * unit
        ]
        if len(xs) >= 3 and max(xs) - min(xs) > 3 * unit:
            baseline, _ = _baseline(blobs, unit)
            slopes.append(math.degrees(math.atan(baseline(1.0) - baseline(0.0))))
    return float(np.median(slopes)) if slopes else 0.0


def _item_rect(item: LineItem) -> Rect:
    return item.piece.rect if isinstance(item, Run | Sup) else item.rect


def _paren_side(labels: NDArray[np.int32], b: Blob) -> str:
    """ "(" bulges left (its middle is left of its two ends), ")" bulges right."""
    r = b.rect
    mask = labels[r.y0 : r.y1, r.x0 : r.x1] == b.index
    third = max(1, r.h // 3)

    def mean_x(part: NDArray[np.bool_]) -> float:
        xs = np.nonzero(part)[1]
        return float(xs.mean()) if xs.size else r.w / 2

    ends = (mean_x(mask[:third]) + mean_x(mask[-third:])) / 2
    return "(" if mean_x(mask[third:-third]) < ends else ")"


def _line_items(blobs: list[Blob], equals: set[int], unit: float) -> list[LineItem]:
    """Runs of text and the superscripts between them, left to right; an "=" is a
    piece of its own, known from its shape (OCR now and then drops it)."""
    if not blobs:
        return []
    blobs = sorted(blobs, key=lambda b: b.rect.x0)
    baseline, line_h = _baseline(blobs, unit)
    raised: dict[int, float] = {}
    for i, b in enumerate(blobs):
        r = b.rect
        if not is_glyph(b, unit) or r.h > 0.9 * line_h or r.h < 0.4 * unit or b.index in equals:
            continue  # (a colon's upper dot is raised too, but far smaller than a digit)
        lift = (baseline(r.cx) - r.y1) / line_h
        if lift < 0.3:
            continue
        # An exponent stands on its own: nothing under it (the top ring of a "%" has
        # the slash and the other ring below it).
        if any(
            o is not b
            and min(o.rect.x1, r.x1) - max(o.rect.x0, r.x0) > 0.3 * r.w
            and o.rect.y1 > r.y1 + 0.2 * unit
            and is_glyph(o, unit)
            for o in blobs
        ):
            continue
        base = _left_neighbour(blobs, i, unit)
        if base is None or base.rect.h < 0.5 * line_h or base.rect.y0 >= r.y1:
            continue
        doubt = 0.0
        if r.h < 0.4 * line_h:
            doubt += 0.5  # small for a digit: could be a mark
        if lift > 0.95:
            doubt += 0.4  # floating clear of the line
        if r.x0 - base.rect.x1 > 0.5 * unit:
            doubt += 0.4  # far from what it would be the power of
        raised[b.index] = min(1.0, doubt)
    items: list[LineItem] = []
    run: list[Blob] = []

    def flush() -> None:
        if run:
            items.append(Run(_piece(run, equals, unit)))
            run.clear()

    k = 0
    while k < len(blobs):
        b = blobs[k]
        if b.index in equals:
            pair = [
                o
                for o in blobs[k:]
                if o.index in equals and abs(o.rect.x0 - b.rect.x0) <= 0.3 * unit
            ]
            if len(pair) == 2 and not _covers_other(pair, blobs, unit):
                flush()
                items.append(Run(_piece(pair, equals, unit)))
                blobs = [o for o in blobs if o not in pair[1:]]
                k += 1
                continue
        if b.index not in raised:
            run.append(b)
            k += 1
            continue
        flush()
        sup = [b]
        doubt = raised[b.index]
        k += 1
        while k < len(blobs) and (
            blobs[k].index in raised or _tiny_between(blobs[k], sup[-1], unit)
        ):
            sup.append(blobs[k])
            doubt = max(doubt, raised.get(blobs[k].index, 0.0))
            k += 1
        items.append(Sup(_piece(sup, equals, unit), doubt))
    flush()
    return items


def _covers_other(pair: list[Blob], blobs: list[Blob], unit: float) -> bool:
    """Whether some other blob shares the strokes' columns (a sign drawn with more parts)."""
    x0, x1 = min(b.rect.x0 for b in pair), max(b.rect.x1 for b in pair)
    return any(o not in pair and o.rect.x0 < x1 - 1 and x0 + 1 < o.rect.x1 for o in blobs)


def _baseline(blobs: list[Blob], unit: float) -> tuple[Callable[[float], float], float]:
    """The line the letters sit on (as y for an x: a page levelled to a degree or two
    still leans) and the letters' height."""
    # Letters and digits of full height: a raised ², a + or a × would lift the line, and
    # brackets or descenders (taller than a digit) would drop it.
    body = [b for b in blobs if is_glyph(b, unit) and 0.55 * unit <= b.rect.h <= 1.3 * unit]
    if body:
        tall = float(np.percentile([b.rect.h for b in body], 75))
        body = [b for b in body if b.rect.h >= 0.8 * tall]
    if not body:
        bottom = float(max(b.rect.y1 for b in blobs))
        return (lambda _x: bottom), max(bottom - min(b.rect.y0 for b in blobs), 0.5 * unit)
    xs = np.array([b.rect.cx for b in body])
    ys = np.array([float(b.rect.y1) for b in body])
    slope = 0.0
    if len(body) >= 3 and float(np.ptp(xs)) > unit:
        # Slopes between pairs, median: a descender (y, a bracket) does not tilt it.
        pairs = [
            (ys[j] - ys[i]) / (xs[j] - xs[i])
            for i in range(len(xs))
            for j in range(i + 1, len(xs))
            if abs(xs[j] - xs[i]) > 0.5 * unit
        ]
        slope = float(np.clip(np.median(pairs), -0.2, 0.2)) if pairs else 0.0
    offset = float(np.median(ys - slope * xs))
    top = float(np.median([b.rect.y0 for b in body]))
    line_h = max(offset + slope * float(np.median(xs)) - top, 0.5 * unit)
    return (lambda x: offset + slope * x), line_h


def _tiny_between(b: Blob, prev: Blob, unit: float) -> bool:
    """A minus or dot inside an exponent ("x⁻¹"): small, right after a raised blob."""
    return (
        not is_glyph(b, unit)
        and b.rect.x0 - prev.rect.x1 < 0.3 * unit
        and b.rect.y1 <= prev.rect.y1 + 1
    )


def _left_neighbour(blobs: list[Blob], i: int, unit: float) -> Blob | None:
    """The glyph just left of blobs[i] (blobs sorted by x0), if it is close."""
    r = blobs[i].rect
    for j in range(i - 1, -1, -1):
        c = blobs[j]
        if c.rect.x1 <= r.x0 + 0.25 * unit and is_glyph(c, unit):
            return c if r.x0 - c.rect.x1 <= 0.8 * unit else None
    return None


def _piece(blobs: list[Blob], equals: set[int], unit: float) -> Piece:
    rect = union_all([b.rect for b in blobs])
    first = min(blobs, key=lambda b: b.rect.x0)
    leading_minus = (
        len(blobs) > 1
        and _is_flat(first, unit)
        and first.index not in equals
        and not _covers_other([first], blobs, unit)
    )
    return Piece(tuple(b.index for b in blobs), rect, _symbol(blobs, equals, unit), leading_minus)


def _is_flat(b: Blob, unit: float) -> bool:
    """A dash: flat, thin, and wide enough not to be a dot (a hyphen counts)."""
    r = b.rect
    return r.w >= 1.4 * r.h and r.h < 0.3 * unit and r.w >= 0.25 * unit


def _is_dot(b: Blob, unit: float) -> bool:
    r = b.rect
    return r.h < 0.35 * unit and r.w < 0.35 * unit and 0.6 <= r.w / max(r.h, 1) <= 1.6


def _symbol(blobs: list[Blob], equals: set[int], unit: float) -> str:
    """The operator a piece is when its blobs alone say so: one stroke is a minus, two
    stacked strokes an equals sign. Anything else is left to OCR."""
    strokes = [b for b in blobs if is_stroke(b, unit)]
    others = [b for b in blobs if not is_stroke(b, unit)]
    if len(blobs) == 1 and _is_flat(blobs[0], unit):
        return "-"  # a lone flat dash, however short
    if len(blobs) == 1 and blobs[0].plus:
        return "+"
    if len(blobs) == 1 and _is_dot(blobs[0], unit):
        return "·"  # a lone dot between two terms: the times sign some books print
    if len(blobs) == 2 and len(strokes) == 2 and all(b.index in equals for b in strokes):
        return "="
    if len(strokes) == 1 and len(others) == 2 and all(b.area < strokes[0].area for b in others):
        bar = strokes[0].rect
        if sum(b.rect.cy < bar.cy for b in others) == 1:
            return "÷"
    return ""
