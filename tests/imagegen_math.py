"""Typesetting math the way a textbook prints it, for the generated homework photos.

A line of `tests/imagegen.py` may carry a little LaTeX-like markup:

  * `\\frac{A}{B}`: A stacked over B with a bar between them (A and B may hold markup);
    `\\wfrac{A}{B}` leaves wide gaps around the bar, as a careless worksheet might;
  * `^{E}`: E as a superscript (smaller, raised) after what precedes it;
  * `\\(` and `\\)`: parentheses tall enough to span the fractions of the line.

Everything else is printed as text. `layout_line` turns a line into boxes that know their
width, their height above the baseline (ascent) and below it (descent), and how to draw
themselves, so lines with fractions get the room they need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import ImageDraw, ImageFont

MARKUP = ("\\frac", "\\wfrac", "^{", "\\(", "\\)")

FontOf = Callable[[int], ImageFont.FreeTypeFont]
Ink = tuple[int, int, int]


def has_markup(line: str) -> bool:
    return any(m in line for m in MARKUP)


def plain_text_of(line: str) -> str:
    """The characters a line prints, markup dropped (for sizing and for tests)."""
    out = line.replace("\\wfrac", "").replace("\\frac", "")
    out = out.replace("\\(", "(").replace("\\)", ")")
    return out.replace("^{", "").replace("{", "").replace("}", "")


@dataclass
class Box:
    width: float
    ascent: float
    descent: float
    draw: Callable[[ImageDraw.ImageDraw, float, float, Ink], None] = field(repr=False)
    paren: str = ""  # "(" or ")" when this is a parenthesis to stretch over the line


def _text_box(text: str, font: ImageFont.FreeTypeFont, shift: float = 0.0) -> Box:
    """Text on the baseline, or raised by `shift` px (a superscript)."""
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    width = font.getlength(text)

    def draw(d: ImageDraw.ImageDraw, x: float, baseline: float, ink: Ink) -> None:
        d.text((x, baseline - shift), text, font=font, fill=ink, anchor="ls")

    return Box(width, max(0.0, -top + shift), max(0.0, bottom - shift), draw)


def _read_group(s: str, i: int) -> tuple[str, int]:
    """The text of a {...} group starting at s[i] == "{", and the index after it."""
    if i >= len(s) or s[i] != "{":
        raise ValueError(f"expected '{{' at {i} in {s!r}")
    depth = 0
    for j in range(i, len(s)):
        depth += {"{": 1, "}": -1}.get(s[j], 0)
        if depth == 0:
            return s[i + 1 : j], j + 1
    raise ValueError(f"unbalanced braces in {s!r}")


@dataclass(frozen=True)
class MathFonts:
    """One face at the sizes a line needs: text, fraction parts, superscripts."""

    font_of: FontOf
    size: int
    fraction_scale: float = 0.9  # textbooks set the parts of a fraction a little smaller

    @property
    def axis(self) -> float:
        """Height of the math axis (where a minus sign and a fraction bar sit) above
        the baseline, measured on the face's own minus sign."""
        font = self.font_of(self.size)
        _, top, _, bottom = font.getbbox("\u2212", anchor="ls")
        return -(top + bottom) / 2


def layout_line(line: str, fonts: MathFonts) -> list[Box]:
    """The boxes of one line of markup, left to right."""
    boxes = _layout(line, fonts, fonts.size)
    if any(p in line for p in ("\\(", "\\)")):
        # Tall parentheses span everything else on the line.
        ascent = max((b.ascent for b in boxes), default=0.0)
        descent = max((b.descent for b in boxes), default=0.0)
        boxes = [_tall_paren(b.paren, fonts, ascent, descent) if b.paren else b for b in boxes]
    return boxes


def _tall_paren(char: str, fonts: MathFonts, ascent: float, descent: float) -> Box:
    height = ascent + descent
    # A parenthesis glyph is about 1.17 em tall: pick the size that spans the line.
    size = max(fonts.size, round(height / 1.1))
    font = fonts.font_of(size)
    left, top, right, bottom = font.getbbox(char, anchor="ls")
    centre = (ascent - descent) / 2  # the middle of the line's ink, above the baseline
    shift = -(top + bottom) / 2 - centre  # moves the glyph's centre onto `centre`

    def draw(d: ImageDraw.ImageDraw, x: float, baseline: float, ink: Ink) -> None:
        d.text((x, baseline + shift), char, font=font, fill=ink, anchor="ls")

    return Box(font.getlength(char), ascent, descent, draw)


def _layout(s: str, fonts: MathFonts, size: int) -> list[Box]:
    font = fonts.font_of(size)
    boxes: list[Box] = []
    text = ""

    def flush() -> None:
        nonlocal text
        if text:
            boxes.append(_text_box(text, font))
            text = ""

    i = 0
    while i < len(s):
        if s.startswith("\\frac", i) or s.startswith("\\wfrac", i):
            flush()
            wide = s.startswith("\\wfrac", i)
            num, i = _read_group(s, i + len("\\wfrac" if wide else "\\frac"))
            den, i = _read_group(s, i)
            part = round(size * fonts.fraction_scale)
            boxes.append(_fraction(num, den, fonts, part, size, gap_em=0.5 if wide else 0.12))
        elif s.startswith("^{", i):
            flush()
            sup, i = _read_group(s, i + 1)
            small = fonts.font_of(max(8, round(size * 0.62)))
            boxes.append(_text_box(sup, small, shift=size * 0.42))
        elif s.startswith("\\(", i) or s.startswith("\\)", i):
            flush()
            char = "(" if s[i + 1] == "(" else ")"
            box = _text_box(char, font)
            box.paren = char
            boxes.append(box)
            i += 2
        else:
            text += s[i]
            i += 1
    flush()
    return boxes


def _row(boxes: list[Box]) -> Box:
    width = sum(b.width for b in boxes)

    def draw(d: ImageDraw.ImageDraw, x: float, baseline: float, ink: Ink) -> None:
        for b in boxes:
            b.draw(d, x, baseline, ink)
            x += b.width

    return Box(
        width,
        max((b.ascent for b in boxes), default=0.0),
        max((b.descent for b in boxes), default=0.0),
        draw,
    )


def _fraction(
    num: str, den: str, fonts: MathFonts, part_size: int, size: int, gap_em: float = 0.12
) -> Box:
    top, bottom = _row(_layout(num, fonts, part_size)), _row(_layout(den, fonts, part_size))
    axis = fonts.axis
    thickness = max(1.0, size * 0.055)
    gap = max(2.0, size * gap_em)
    pad = max(2.0, size * 0.1)  # the bar overhangs its parts a little
    width = max(top.width, bottom.width) + 2 * pad
    ascent = axis + thickness / 2 + gap + top.descent + top.ascent
    descent = -axis + thickness / 2 + gap + bottom.ascent + bottom.descent

    def draw(d: ImageDraw.ImageDraw, x: float, baseline: float, ink: Ink) -> None:
        bar_y = baseline - axis
        top.draw(d, x + (width - top.width) / 2, bar_y - thickness / 2 - gap - top.descent, ink)
        bottom.draw(
            d, x + (width - bottom.width) / 2, bar_y + thickness / 2 + gap + bottom.ascent, ink
        )
        d.rectangle(
            [x + 1, bar_y - thickness / 2, x + width - 1, bar_y + thickness / 2 - 1], fill=ink
        )

    # A thin space each side, as TeX puts around a fraction.
    space = size * 0.12
    return Box(width + 2 * space, ascent, max(descent, 0.0), _shifted(draw, space))


def _shifted(
    draw: Callable[[ImageDraw.ImageDraw, float, float, Ink], None], dx: float
) -> Callable[[ImageDraw.ImageDraw, float, float, Ink], None]:
    def moved(d: ImageDraw.ImageDraw, x: float, baseline: float, ink: Ink) -> None:
        draw(d, x + dx, baseline, ink)

    return moved


def line_box(line: str, fonts: MathFonts) -> Box:
    """A whole line as one box."""
    return _row(layout_line(line, fonts))
