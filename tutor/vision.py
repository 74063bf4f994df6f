"""What the tutor sees: cheap checks on sampled camera frames.

The server samples the student's camera at about one frame a second. These
checks (`sharpness`, `StillnessTracker`, `page_signature` / `different_page`)
run on every sampled frame and decide when a frame is worth the OCR pass (done
by the model's `read_text`): the page is held still, in focus, and shows a
problem we have not read yet.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from model.image import as_rgb

# ------------------------------------------------------------- frame checks


def _resize(img: NDArray[np.uint8], size: tuple[int, int], interpolation: int) -> NDArray[np.uint8]:
    """cv2.resize to (width, height), typed for mypy."""
    return np.asarray(cv2.resize(img, size, interpolation=interpolation), dtype=np.uint8)


def _gray(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    frame = as_rgb(rgb)
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY), np.uint8)


def _shrink(gray: NDArray[np.uint8], long_side: int) -> NDArray[np.uint8]:
    h, w = gray.shape[:2]
    k = long_side / max(h, w)
    if k >= 1.0:
        return gray
    return _resize(gray, (max(1, round(w * k)), max(1, round(h * k))), cv2.INTER_AREA)


def sharpness(rgb: NDArray[np.uint8]) -> float:
    """Variance of the Laplacian of the gray frame shrunk to 480 px on its long
    side: higher is sharper. The fixed size makes values comparable across camera
    resolutions and averages away most sensor noise, which would otherwise look
    like detail."""
    gray = _shrink(_gray(rgb), 480)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


THUMB_SIZE = (64, 48)


class StillnessTracker:
    """Says when the page has held still: push small gray thumbnails; still once
    the mean abs difference stays under a threshold for `hold_s` seconds."""

    def __init__(self, hold_s: float = 1.0, threshold: float = 6.0) -> None:
        self.hold_s = hold_s
        self.threshold = threshold
        self._anchor: NDArray[np.float32] | None = None
        self._since = 0.0
        self._last_t = -math.inf

    def reset(self) -> None:
        self._anchor = None

    def push(self, rgb: NDArray[np.uint8], t: float) -> bool:
        """Add the frame seen at time `t` (seconds, monotonic); True when still."""
        thumb = _resize(_gray(rgb), THUMB_SIZE, cv2.INTER_AREA).astype(np.float32)
        # Scale every thumbnail to the same mean brightness (128) so the camera's
        # auto exposure settling, which multiplies all pixels, is not movement.
        thumb *= 128.0 / max(float(thumb.mean()), 1.0)
        if self._anchor is None or t < self._last_t:
            self._anchor, self._since, self._last_t = thumb, t, t
            return self.hold_s <= 0
        self._last_t = t
        # Against the first frame of the still run, not the previous frame, so a
        # slow drift still counts as movement once it adds up.
        if float(np.abs(thumb - self._anchor).mean()) >= self.threshold:
            self._anchor, self._since = thumb, t
            return self.hold_s <= 0
        return t - self._since >= self.hold_s


# ------------------------------------------------------------- page identity

SIGNATURE_SIZE = (128, 96)
_WORK_SIZE = (256, 192)
# The part of each side ignored when matching: hand shake brings new desk and
# sheet edge in at the borders, and it bounds the shift searched (8% of the frame).
_MATCH_MARGIN = 0.08
# Best correlation at or above this: the same page. Measured on rendered pages
# (tests/imagegen.py, VGA): the same page shaken (±25 px, ≤1°, ±1.5% zoom),
# re-lit and noisier scores ≥0.93 (≥0.89 with ±1.5° and ±3% zoom); the next
# problem on the same sheet, same font and place, 0.3-0.8 for nine in ten but up
# to ~0.96 when only digits or a sign differ in a monospaced font (4 of 60 pass
# as the same page); a problem on another sheet 0.65 at most.
SAME_PAGE_CORRELATION = 0.85


def page_signature(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """A 128 x 96 map of where the ink is, zero mean and unit norm.

    Ink is found with a black-hat filter (dark strokes thinner than ~4% of the
    frame) with long straight lines taken out, which keeps the text but drops the
    sheet's edges, the desk, ruled lines, lighting gradients and exposure: those
    are the same for two problems on one worksheet and would make them look alike.
    Only faint ink is clipped, so sensor noise does not become texture.
    """
    gray = _resize(_gray(rgb), _WORK_SIZE, cv2.INTER_AREA)
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (11, 11))
    ink = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, square).astype(np.float32)
    rules = np.maximum(
        cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (41, 1))),
        cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 41))),
    )
    ink -= rules
    ink = np.maximum(ink - 0.3 * float(np.percentile(ink, 99.5)), 0.0)
    small = cv2.resize(ink, SIGNATURE_SIZE, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 0.8)
    small -= float(small.mean())
    norm = float(np.linalg.norm(small))
    sig: NDArray[np.float32] = (small / norm if norm > 1e-6 else small).astype(np.float32)
    return sig


def page_similarity(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    """Best normalised correlation of two signatures over shifts of up to 8% of the
    frame; symmetric (the worse of matching a in b and b in a)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"signatures differ in shape: {a.shape} vs {b.shape}")
    h, w = a.shape
    my, mx = max(1, int(h * _MATCH_MARGIN)), max(1, int(w * _MATCH_MARGIN))
    scores = []
    for x, y in ((a, b), (b, a)):
        core = np.ascontiguousarray(x[my : h - my, mx : w - mx], np.float32)
        if float(core.std()) < 1e-9:
            return 1.0 if float(np.abs(y).max()) < 1e-9 else 0.0
        res = cv2.matchTemplate(np.ascontiguousarray(y, np.float32), core, cv2.TM_CCOEFF_NORMED)
        scores.append(float(np.nan_to_num(res).max()))
    return min(scores)


def different_page(a: NDArray[np.float32], b: NDArray[np.float32]) -> bool:
    """True when the two signatures show different text, not the same page moved a
    little, re-lit or noisier.

    A thumbnail cannot see every edit: the same worksheet layout with one digit or
    sign changed can pass as the same page, so the caller should still compare the
    OCR text when it re-reads anyway.
    """
    return page_similarity(a, b) < SAME_PAGE_CORRELATION
