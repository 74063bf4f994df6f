"""Where the ink is on a homework photo, and how it is laid out as math.

OCR reads a line of text well but not the second dimension of printed math: a stacked
fraction comes back as two stray lines (or as "x - 4" when the bar is taken for a minus),
and a small raised exponent is dropped. This module finds that structure from the pixels,
with no OCR: the ink is separated from the paper, the page is turned level, and its
connected blobs of ink are sorted into

  * fraction bars: short horizontal strokes with ink right above and right below them
    (an "=" is two strokes, a minus has nothing above or below);
  * superscripts: small blobs whose bottom sits well above the baseline of the line,
    just after a letter, digit or bracket (a power written 2 or typeset as one glyph ²);
  * tall brackets that span a fraction;
  * runs of ordinary text between them.

The result, a `Layout`, says which pieces of the page to read and how to put their text
together (tutor/pageread.py does both). Everything here is blocking numpy/OpenCV work
(tens of ms for a VGA frame): callers run it in a worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from numpy.typing import NDArray

from model.image import as_rgb

# ------------------------------------------------------------------ geometry


@dataclass(frozen=True)
class Rect:
    """An axis-aligned box in the levelled page's pixels; x1 and y1 are exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    def union(self, other: Rect) -> Rect:
        return Rect(
            min(self.x0, other.x0),
            min(self.y0, other.y0),
            max(self.x1, other.x1),
            max(self.y1, other.y1),
        )


def union_all(rects: list[Rect]) -> Rect:
    out = rects[0]
    for r in rects[1:]:
        out = out.union(r)
    return out


@dataclass(frozen=True)
class Blob:
    """One connected component of ink."""

    index: int  # its label in `Page.labels`
    rect: Rect
    area: int
    plus: bool = False  # shaped like a plus sign (see `_plus_shaped`)


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


LineItem = Run | Sup | Fraction | Paren


@dataclass(frozen=True)
class Row:
    """One printed line, its items left to right."""

    items: tuple[LineItem, ...]
    rect: Rect

    @property
    def structured(self) -> bool:
        """Whether it holds something OCR of the whole line would flatten."""
        return any(not isinstance(item, Run) for item in self.items)


@dataclass
class Page:
    """The levelled page: ink contrast (0 paper .. 1 ink), labelled blobs, text height."""

    ink: NDArray[np.float32]
    labels: NDArray[np.int32]
    blobs: list[Blob]
    text_height: float
    angle: float  # degrees the photo was turned by to level the text
    rows: list[Row] = field(default_factory=list)
    # 0..1: how much the rows look hand-lettered (wandering baselines, uneven letters).
    handwriting: float = 0.0

    def blob(self, index: int) -> Blob:
        if not hasattr(self, "_by_index"):
            self._by_index = {b.index: b for b in self.blobs}
        return self._by_index[index]


# ------------------------------------------------------------------ ink and level


def ink_contrast(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """How much darker than the paper around it each pixel is, 0..1.

    The brightest channel is used, so blue and red ruled lines (bright in one channel)
    nearly vanish while ink (dark in all three) stays; the paper's own brightness is
    estimated by a closing bigger than any pen stroke, so shading, grey paper and the
    camera's exposure cancel out.
    """
    frame = as_rgb(rgb)
    bright = frame.max(axis=2).astype(np.float32)
    h, w = bright.shape
    k = max(15, min(h, w) // 18) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    paper = cv2.morphologyEx(cv2.GaussianBlur(bright, (3, 3), 0), cv2.MORPH_CLOSE, kernel)
    paper = cv2.GaussianBlur(paper, (0, 0), k / 4)
    contrast = (paper - bright) / np.maximum(paper, 1.0)
    # The desk around the sheet is dark too, and the closing above spreads the paper's
    # brightness a kernel's width over it: the strip along the sheet's edge would look
    # like ink. Dark areas too big to be a pen stroke, and that reach, are not writing.
    dark = ((paper - bright) > 0.3 * paper).astype(np.uint8)
    half = cv2.getStructuringElement(cv2.MORPH_RECT, (k // 2 | 1, k // 2 | 1))
    desk = cv2.morphologyEx(dark, cv2.MORPH_OPEN, half)
    if desk.any():
        # The desk reaches the frame's border; the heart of a bold letter does not.
        n, labels, stats, _ = cv2.connectedComponentsWithStats(desk, connectivity=8)
        x, y, bw, bh = (stats[:, i] for i in range(4))
        at_border = (x <= 0) | (y <= 0) | (x + bw >= w) | (y + bh >= h)
        at_border[0] = False
        desk = at_border[labels].astype(np.uint8)
        contrast[cv2.dilate(desk, kernel, iterations=2) > 0] = 0.0
    out: NDArray[np.float32] = np.clip(contrast, 0.0, 1.0).astype(np.float32)
    return out


def _threshold(contrast: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Ink mask: Otsu on the contrast, but never below a floor that noise reaches."""
    scaled = np.clip(contrast * 255.0, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    level = max(float(otsu), 0.22 * 255.0)
    smoothed = cv2.GaussianBlur(scaled, (3, 3), 0)
    return np.asarray(smoothed >= level, np.uint8)


def _skew(mask: NDArray[np.uint8]) -> float:
    """Degrees to turn the page by so its lines of text run level: the angle whose
    rows of ink are most sharply separated (projection profile), searched coarse to fine."""
    h, w = mask.shape
    k = min(1.0, 480.0 / max(h, w))
    size = (max(1, round(w * k)), max(1, round(h * k)))
    small = np.asarray(cv2.resize(mask * 255, size, interpolation=cv2.INTER_AREA), np.uint8)
    sh, sw = small.shape
    centre = (sw / 2, sh / 2)

    def sharpness(angle: float) -> float:
        m = cv2.getRotationMatrix2D(centre, angle, 1.0)
        turned = cv2.warpAffine(small, m, (sw, sh), flags=cv2.INTER_NEAREST)
        profile = turned.sum(axis=1, dtype=np.float64)
        return float(np.square(np.diff(profile)).sum())

    best = max(np.arange(-10.0, 10.01, 1.0), key=sharpness)
    fine = max(np.arange(best - 0.9, best + 0.91, 0.15), key=sharpness)
    return float(fine)


def _turn(img: NDArray[np.float32], angle: float) -> NDArray[np.float32]:
    h, w = img.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    return np.asarray(out, np.float32)


def level_page(rgb: NDArray[np.uint8]) -> Page:
    """Ink contrast and blobs of the photo turned level; the rows are not found yet."""
    contrast = ink_contrast(rgb)
    mask = _clean_mask(_threshold(contrast))
    angle = _skew_from_strokes(mask)
    if angle is None:
        angle = _skew_from_letters(_blobs(mask)) if mask.any() else None
    if angle is None:
        angle = _skew(mask)
    if abs(angle) > 0.1:
        contrast = _turn(contrast, angle)
        mask = _clean_mask(_threshold(contrast))
    unit = _text_height(_blobs(mask))
    mask = _split_merged_bars(mask, unit)
    _, found, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    labels: NDArray[np.int32] = np.asarray(found, np.int32)
    blobs = [
        replace(
            b, plus=_plus_shaped(labels[b.rect.y0 : b.rect.y1, b.rect.x0 : b.rect.x1] == b.index)
        )
        for b in _blobs_of(np.asarray(stats, np.int32), mask.shape)
    ]
    return Page(contrast, labels, blobs, _text_height(blobs), angle)


def _blobs(mask: NDArray[np.uint8]) -> list[Blob]:
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return _blobs_of(np.asarray(stats, np.int32), mask.shape)


def _blobs_of(stats: NDArray[np.int32], shape: tuple[int, ...]) -> list[Blob]:
    # Blobs hugging the frame's edge are the sheet's border or the desk, seen through
    # noise (the tilted frame's corners too, once it is turned level): a student holds
    # the problem well inside the picture.
    fh, fw = shape[:2]
    mx, my = 0.05 * fw, 0.05 * fh
    return [
        Blob(i, Rect(int(x), int(y), int(x + w), int(y + h)), int(a))
        for i, (x, y, w, h, a) in enumerate(stats)
        if i > 0 and a >= 3 and mx <= x + w / 2 <= fw - mx and my <= y + h / 2 <= fh - my
    ]


def _skew_from_strokes(mask: NDArray[np.uint8]) -> float | None:
    """Degrees to turn the page by, from its printed strokes: fraction bars, minus and
    equals signs are straight and level in print, and long ones give the tilt to a
    tenth of a degree. None when there are fewer than two."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    unit = _text_height(_blobs_of(np.asarray(stats, np.int32), mask.shape))
    angles, weights = [], []
    for i in range(1, len(stats)):
        x, y, w, h, area = stats[i]
        if w < max(0.5 * unit, 10) or w < 3 * h or h > 0.5 * unit or area < 0.5 * w:
            continue
        ys, xs = np.nonzero(labels[y : y + h, x : x + w] == i)
        slope = float(np.polyfit(xs.astype(np.float64), ys.astype(np.float64), 1)[0])
        angles.append(math.degrees(math.atan(slope)))
        weights.append(float(w))
    if len(angles) < 2:
        return None
    order = np.argsort(angles)
    cumulative = np.cumsum(np.array(weights)[order])
    return float(np.array(angles)[order][int(np.searchsorted(cumulative, cumulative[-1] / 2))])


def _skew_from_letters(blobs: list[Blob]) -> float | None:
    """Degrees to turn the page by, from the letters themselves: neighbouring letters of
    one size sit on one baseline, so the median slope from each one's bottom to its right
    neighbour's is the text's tilt. None when there are too few neighbours to tell."""
    unit = _text_height(blobs)
    letters = [
        b.rect for b in blobs if 0.7 * unit <= b.rect.h <= 1.3 * unit and b.rect.w < 2 * unit
    ]
    letters.sort(key=lambda r: r.x0)
    slopes = []
    for i, a in enumerate(letters):
        for b in letters[i + 1 :]:
            dx = b.cx - a.cx
            if dx > 2.5 * unit:
                break
            if b.x0 >= a.x1 - 1 and abs(b.y1 - a.y1) < 0.5 * unit and abs(b.h - a.h) <= 0.15 * a.h:
                slope = math.degrees(math.atan2(b.y1 - a.y1, dx))
                if abs(slope) <= 10:  # a descender next to a letter is not a tilt
                    slopes.append(slope)
                break
    if len(slopes) < 4:
        return None
    return float(np.median(slopes))


def _split_merged_bars(mask: NDArray[np.uint8], unit: float) -> NDArray[np.uint8]:
    """Bold print and blur can join a fraction bar to the digits above and below it into
    one blob. Where a blob twice a letter's height has a row of ink across its whole
    width near its middle, cut the bar free (one empty row above and below it)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out = mask.copy()
    for i in range(1, len(stats)):
        x, y, w, h, _area = stats[i]
        if h < 1.25 * unit or w < 0.5 * unit or w > 6 * unit:
            continue  # not a bar with a line of text on it
        own = labels[y : y + h, x : x + w] == i
        widths = own.sum(axis=1)
        rows = np.nonzero(widths >= 0.85 * w)[0]
        if rows.size == 0 or rows.size > 0.25 * unit or np.ptp(rows) > 0.25 * unit:
            continue
        top, bottom = int(rows.min()), int(rows.max())
        # Text above or below the bar, narrower than it all along (the bar overhangs its
        # digits; the widest row of a 9 or an 8 has rows almost as wide next to it).
        above = widths[max(0, top - int(0.5 * unit)) : top]
        below = widths[bottom + 1 : bottom + 1 + int(0.5 * unit)]
        sides = [part for part in (above, below) if part.size and part.max() > 0]
        if not sides or any(part.max() >= 0.8 * w for part in sides):
            continue
        for cut in (top - 2, top - 1, bottom + 1, bottom + 2):
            if 0 <= cut < h:
                out[y + cut, x : x + w][own[cut]] = 0
    return out


def _clean_mask(mask: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The ink mask without what is not writing: the desk and the sheet's edges (blobs
    touching the frame's border or as long as a good part of it) and ruled lines."""
    h, w = mask.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = np.ones(count, bool)
    keep[0] = False
    for i in range(1, count):
        x, y, bw, bh, _area = stats[i]
        touches = x <= 1 or y <= 1 or x + bw >= w - 1 or y + bh >= h - 1
        # A straight line longer than a third of the frame: a ruled line, a margin line
        # or the sheet's edge (the longest fraction bar is far shorter).
        line = (bw > 0.35 * w and bw > 12 * bh) or (bh > 0.35 * h and bh > 12 * bw)
        if touches or line or bw > 0.6 * w or bh > 0.5 * h:
            keep[i] = False
    cleaned = keep[labels].astype(np.uint8)
    # Lines broken into dots by noise (the sheet's edge against the desk, a faint rule):
    # join the dots along the line's direction and drop what turns into a long line.
    for kernel in ((1, 15), (15, 1)):
        joined = cv2.dilate(cleaned, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
        n, lab, st, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
        long_thin = np.zeros(n, bool)
        bw, bh = st[1:, cv2.CC_STAT_WIDTH], st[1:, cv2.CC_STAT_HEIGHT]
        long_thin[1:] = ((bh > 0.3 * h) & (bw < 0.04 * w)) | ((bw > 0.4 * w) & (bh < 0.03 * h))
        cleaned[long_thin[lab]] = 0
    # Ruled lines that cross the text are joined to the letters they touch: take away
    # long thin horizontal runs of ink (a fraction bar is far shorter than this).
    # A ruled line runs across most of the sheet; a fraction bar, however long its
    # numerator, stays well short of half the frame.
    long_run = cv2.getStructuringElement(cv2.MORPH_RECT, (max(40, w // 4), 1))
    runs = cv2.morphologyEx(cleaned, cv2.MORPH_OPEN, long_run)
    if runs.any():
        count, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
        is_rule = np.zeros(count, bool)
        is_rule[1:] = stats[1:, cv2.CC_STAT_WIDTH] >= 0.45 * w
        rules = cv2.dilate(is_rule[labels].astype(np.uint8), np.ones((3, 1), np.uint8))
        cleaned = np.asarray(cleaned & (1 - rules), np.uint8)
    return np.asarray(cleaned, np.uint8)


def _text_height(blobs: list[Blob]) -> float:
    """The typical height of a letter or digit: the median over glyph-shaped blobs,
    weighted by their ink (specks of noise weigh nothing), leaving out tall ones
    (brackets spanning a fraction would pull it up on a short line)."""
    shaped = [b for b in blobs if b.rect.h >= 6 and b.rect.w >= 2 and b.rect.w <= 2.5 * b.rect.h]
    if not shaped:
        return 20.0
    heights = np.array([b.rect.h for b in shaped], np.float64)
    weights = np.array([b.area for b in shaped], np.float64)
    low = _weighted_median(heights, weights, 0.3)
    keep = heights <= 1.6 * low
    return _weighted_median(heights[keep], weights[keep], 0.5)


def _weighted_median(values: NDArray[np.float64], weights: NDArray[np.float64], q: float) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q * cumulative[-1]))
    return float(values[order][min(index, len(values) - 1)])


# ------------------------------------------------------------------ structure


def _is_stroke(b: Blob, unit: float) -> bool:
    r = b.rect
    return r.w >= 0.45 * unit and r.w >= 2.5 * r.h and r.h <= max(0.3 * unit, 4)


def _is_glyph(b: Blob, unit: float) -> bool:
    """Big enough to be a letter or digit (not a dot, not a stroke)."""
    return b.rect.h >= 0.3 * unit and not _is_stroke(b, unit)


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
    strokes = [b for b in page.blobs if _is_stroke(b, unit)]
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
        above = [b for b in inside if b.rect.y1 <= r.y0 + 1 and _is_glyph(b, unit)]
        below = [b for b in inside if b.rect.y0 >= r.y1 - 1 and _is_glyph(b, unit)]
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
            < 0.55 * unit
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
        if b.index not in claimed and _is_glyph(b, unit) and b.rect.h >= 0.6 * unit
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
                and (o.plus or o.index in equals or _is_stroke(o, unit))
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
    anchors: list[tuple[float, Blob | _Stack]] = [
        (b.rect.cy, b) for b in loose if _is_glyph(b, unit) or _is_stroke(b, unit)
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
    # Dots and specks (decimal points, the dots of i and ÷) join the nearest row.
    tiny = [b for b in loose if not (_is_glyph(b, unit) or _is_stroke(b, unit))]
    for b in tiny:
        best = None
        for k, (blobs, fracs) in enumerate(members):
            rects = [x.rect for x in blobs] + [f.bar.rect for f in fracs]
            if not rects:
                continue
            box = union_all(rects)
            dist = max(box.y0 - b.rect.cy, b.rect.cy - box.y1, 0.0)
            if dist <= 0.5 * unit and (best is None or dist < best[0]):
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
    if not fracs and not any(_is_glyph(b, unit) and b.rect.h >= 0.5 * unit for b in blobs):
        return None  # specks and stray strokes, not a line of text
    fraction_items = [
        Fraction(
            tuple(_line_items(f.numerator, equals, unit)),
            tuple(_line_items(f.denominator, equals, unit)),
            f.bar.rect,
            union_all([b.rect for b in f.blobs]),
            f.doubt,
        )
        for f in fracs
    ]
    parens: list[Paren] = []
    if fraction_items:
        tall = max(f.rect.h for f in fraction_items)
        axis = float(np.median([f.bar.cy for f in fraction_items]))
        for b in list(blobs):
            r = b.rect
            if r.h >= 0.7 * tall and r.h >= 1.6 * unit and r.w <= 0.5 * r.h and r.y0 < axis < r.y1:
                parens.append(Paren(_paren_side(page.labels, b), r))
                blobs.remove(b)
    # Split the loose blobs at the fractions and brackets, left to right.
    breaks: list[tuple[float, LineItem]] = [(f.rect.x0, f) for f in fraction_items]
    breaks += [(p.rect.x0, p) for p in parens]
    breaks.sort(key=lambda t: t[0])
    items: list[LineItem] = []
    remaining = sorted(blobs, key=lambda b: b.rect.cx)
    for x, item in breaks:
        before = [b for b in remaining if b.rect.cx < x]
        remaining = [b for b in remaining if b.rect.cx >= x]
        items += _line_items(before, equals, unit)
        items.append(item)
    items += _line_items(remaining, equals, unit)
    if not items:
        return None
    return Row(tuple(items), union_all([_item_rect(i) for i in items]))


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
        if not _is_glyph(b, unit) or r.h > 0.9 * line_h or r.h < 0.4 * unit or b.index in equals:
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
            and _is_glyph(o, unit)
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
    body = [b for b in blobs if _is_glyph(b, unit) and b.rect.h >= 0.55 * unit]
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
        slope = float(np.clip(np.median(pairs), -0.05, 0.05)) if pairs else 0.0
    offset = float(np.median(ys - slope * xs))
    top = float(np.median([b.rect.y0 for b in body]))
    line_h = max(offset + slope * float(np.median(xs)) - top, 0.5 * unit)
    return (lambda x: offset + slope * x), line_h


def _tiny_between(b: Blob, prev: Blob, unit: float) -> bool:
    """A minus or dot inside an exponent ("x⁻¹"): small, right after a raised blob."""
    return (
        not _is_glyph(b, unit)
        and b.rect.x0 - prev.rect.x1 < 0.3 * unit
        and b.rect.y1 <= prev.rect.y1 + 1
    )


def _left_neighbour(blobs: list[Blob], i: int, unit: float) -> Blob | None:
    """The glyph just left of blobs[i] (blobs sorted by x0), if it is close."""
    r = blobs[i].rect
    for j in range(i - 1, -1, -1):
        c = blobs[j]
        if c.rect.x1 <= r.x0 + 0.25 * unit and _is_glyph(c, unit):
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


def _plus_shaped(own: NDArray[np.bool_]) -> bool:
    """A plus sign: about square, one bar across its middle row and one down its middle
    column, and nothing in its four corners (an x, a 4 or a t all fail one of these)."""
    h, w = own.shape
    if h < 6 or not 0.75 <= w / h <= 1.33 or own.mean() > 0.5:
        return False  # a solid dot (a times sign) is no plus
    band_h, band_w = max(1, h // 5), max(1, w // 5)
    mid_rows = own[h // 2 - band_h : h // 2 + band_h + 1]
    mid_cols = own[:, w // 2 - band_w : w // 2 + band_w + 1]
    across = mid_rows.any(axis=0).mean() >= 0.85
    down = mid_cols.any(axis=1).mean() >= 0.85
    corner_h, corner_w = max(1, int(h * 0.3)), max(1, int(w * 0.3))
    corners = (
        own[:corner_h, :corner_w].mean()
        + own[:corner_h, -corner_w:].mean()
        + own[-corner_h:, :corner_w].mean()
        + own[-corner_h:, -corner_w:].mean()
    )
    return bool(across and down and corners < 0.08)


def _symbol(blobs: list[Blob], equals: set[int], unit: float) -> str:
    """The operator a piece is when its blobs alone say so: one stroke is a minus, two
    stacked strokes an equals sign. Anything else is left to OCR."""
    strokes = [b for b in blobs if _is_stroke(b, unit)]
    others = [b for b in blobs if not _is_stroke(b, unit)]
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
