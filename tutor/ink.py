"""The ink on a homework photo, with the page turned level: the first half of the layout
reader (tutor/layout.py finds the math structure in what this returns).

The ink is told from the paper by how much darker each pixel is than the paper around it,
in the brightest colour channel (blue and red ruled lines nearly vanish), so shading, grey
paper and exposure cancel out. The desk around the sheet, its edges, ruled and margin
lines are taken out; the tilt is measured on printed strokes (bars, minus and equals
signs), else on neighbouring letters, else by projection, and undone; the ink's
connected blobs are the unit of everything after. Blocking numpy/OpenCV work (tens of
ms for a VGA frame): callers run it in a worker thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np
from numpy.typing import NDArray

from model.image import as_rgb

if TYPE_CHECKING:
    from tutor.layout import Row

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

    _by_index: dict[int, Blob] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_index = {b.index: b for b in self.blobs}

    def blob(self, index: int) -> Blob:
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


def level_page(rgb: NDArray[np.uint8], angle: float | None = None) -> Page:
    """Ink contrast and blobs of the photo turned level (by `angle` degrees if given, else
    by the tilt measured here); the rows are not found yet."""
    contrast = ink_contrast(rgb)
    mask = _clean_mask(_threshold(contrast))
    if angle is None:
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
