"""What a blob of ink is by its shape alone, against the page's letter height (`unit`).

The layout reader (tutor/layout.py) sorts blobs by these before any OCR: strokes make
bars, minus and equals signs; glyphs are letters and digits; slivers are hair-thin
upright marks that are writing only beside other letters (tutor/strays.py).
"""

from __future__ import annotations

from tutor.ink import Blob


def is_stroke(b: Blob, unit: float) -> bool:
    """A flat bar: a fraction bar, a minus sign, half an "="."""
    r = b.rect
    return r.w >= 0.45 * unit and r.w >= 2.5 * r.h and r.h <= max(0.3 * unit, 4)


def is_glyph(b: Blob, unit: float) -> bool:
    """Big enough to be a letter or digit (not a dot, not a stroke)."""
    return b.rect.h >= 0.3 * unit and not is_stroke(b, unit)


def is_sliver(b: Blob, unit: float) -> bool:
    """A thin upright mark, no wider than one stem of a letter: the sheet's edge or a fold
    broken into dashes by blur and video compression, a fibre of the paper, or a letter
    that is a bare stem (l, I, |). Every digit is wider (a "1" has its flag and foot), so
    a sliver is never read on its own: only beside the letters of a line (the l of
    "Simplify") does it belong to the text."""
    r = b.rect
    return r.w <= max(2.0, 0.2 * unit) and r.h >= 3 * r.w
