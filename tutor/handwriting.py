"""Does a page look hand-lettered? No offline reader of handwritten math exists (the
registries have none that runs here), so the tutor asks a student with a handwritten page
to read the problem aloud instead of guessing at it.

Print sets every letter and digit on one straight baseline; a pen does not. For each
line with enough letters, the score finds the straight line that the most letter bottoms
sit on (to a twentieth of a letter's height, after the page has been levelled) and
counts the letters off it. Descenders (y, brackets) are off it in print too, so only a
minority off the line counts as print.
"""

from __future__ import annotations

import itertools

import numpy as np

from tutor.layout import Page, Run

#: Letters needed on a line to judge it: with fewer, any two of them make a line.
MIN_LETTERS = 4
#: A bottom this close to the line (in letter heights) is on it.
ON_LINE = 0.06
#: Share of letters on the best line: print keeps at least this many on it ...
PRINT_ON_LINE = 0.75
#: ... and a page with this share or fewer looks fully hand-lettered.
HAND_ON_LINE = 0.45


def handwriting_score(page: Page) -> float:
    """0 (print) .. 1 (handwriting); 0 when no line has enough letters to tell."""
    unit = page.text_height
    shares = []
    for row in page.rows:
        rects = [
            r
            for item in row.items
            if isinstance(item, Run)
            for r in (page.blob(i).rect for i in item.piece.blobs)
            # Not brackets or a 1 (thin, and a bracket reaches below the line).
            if r.h >= 0.5 * unit and 0.45 * r.h <= r.w <= 1.2 * r.h
        ]
        if len(rects) < MIN_LETTERS:
            continue
        # Letters and digits of about one height: brackets and descenders reach below
        # the baseline in print too.
        typical = float(np.median([r.h for r in rects]))
        bottoms = [(r.cx, float(r.y1)) for r in rects if 0.75 * typical <= r.h <= 1.15 * typical]
        if len(bottoms) >= MIN_LETTERS:
            shares.append(_share_on_best_line(np.array(bottoms), ON_LINE * unit))
    if not shares:
        return 0.0
    share = float(np.median(shares))
    return float(np.clip((PRINT_ON_LINE - share) / (PRINT_ON_LINE - HAND_ON_LINE), 0.0, 1.0))


def _share_on_best_line(points: np.ndarray, tolerance: float) -> float:  # type: ignore[type-arg]
    """The largest share of points within `tolerance` of a line through two of them."""
    best = 0
    for (x0, y0), (x1, y1) in itertools.combinations(points, 2):
        if abs(x1 - x0) < 1e-6:
            continue
        slope = (y1 - y0) / (x1 - x0)
        if abs(slope) > 0.1:  # the page is level: a baseline cannot be steep
            continue
        distance = np.abs(points[:, 1] - (y0 + slope * (points[:, 0] - x0)))
        best = max(best, int((distance <= tolerance).sum()))
    return best / len(points)
