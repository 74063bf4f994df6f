"""Synthetic camera frames of printed homework, for the tutor's vision tests and benchmarks.

`printed_problem_set` makes problems of every kind the tutor handles, each as the
plain ASCII form a correct reader must produce plus the lines as a textbook prints
them; `render_problem` draws those lines on a sheet of paper the way a phone camera
sees it (tilt, blur, sensor noise, uneven light, sometimes lined paper).

Plain-form conventions (what tutor/mathread.py is checked against):
  * `*` for every product, `^` for powers, `/` for division and fractions;
  * one space around binary `+ - = < > <= >=`, none around `* / ^`;
  * a system is its equations joined by "; ";
  * instructions become sympy calls: "simplify(2*x + 3*x - 4)", "expand((x + 2)*(x - 3))";
  * "15% of 80" becomes "15/100*80".
Every plain form parses with sympy once "=" / ";" are split off, so a reader's
output can be compared by value as well as by text.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tests.imagegen_math import MathFonts, has_markup, layout_line, plain_text_of

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
# The faces a worksheet is plausibly printed in; the ExtraLight and Condensed cuts
# are left out because no textbook sets equations in them.
FONT_NAMES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
)
MINUS = "\u2212"  # the typographic minus sign "−"
TIMES = "\u00d7"
DIVIDE = "\u00f7"
SQUARED = "\u00b2"


@dataclass(frozen=True)
class Style:
    font: str  # path to a TTF
    size: int  # font px, 28..64
    rotation: float  # degrees, -7..7
    blur: float  # gaussian radius 0..1.5
    noise: float  # gaussian noise sigma 0..12
    lined_paper: bool  # light blue horizontal rules + a red margin line
    light: float  # uneven lighting strength 0..0.4
    grey_paper: bool = False  # recycled grey paper: less contrast between ink and page
    hand: bool = False  # hand-lettered with a pen instead of printed in `font`


CLEAN = Style(
    font=str(FONT_DIR / "DejaVuSans.ttf"),
    size=40,
    rotation=0.0,
    blur=0.0,
    noise=0.0,
    lined_paper=False,
    light=0.0,
)


def available_fonts() -> list[str]:
    return [str(FONT_DIR / name) for name in FONT_NAMES if (FONT_DIR / name).exists()]


def random_style(rng: random.Random) -> Style:
    fonts = available_fonts()
    if not fonts:
        raise FileNotFoundError(f"no DejaVu fonts under {FONT_DIR} (apt-get install fonts-dejavu)")
    return Style(
        font=rng.choice(fonts),
        size=rng.randint(28, 64),
        rotation=round(rng.uniform(-7.0, 7.0), 2),
        blur=round(rng.uniform(0.0, 1.5), 2),
        noise=round(rng.uniform(0.0, 12.0), 2),
        lined_paper=rng.random() < 0.4,
        light=round(rng.uniform(0.0, 0.4), 3),
    )


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _fit_font(lines: Sequence[str], style: Style, max_w: int, max_h: int) -> ImageFont.FreeTypeFont:
    """The style's font, shrunk until the block fits the sheet: a long "Expand: ..."
    at 64 px would not fit a 640 px frame, and a camera would simply be held further away."""
    size = style.size
    while True:
        font = _font(style.font, size)
        widths = [font.getbbox(line)[2] for line in lines]
        height = int(len(lines) * size * 1.6)
        if (max(widths) <= max_w and height <= max_h) or size <= 12:
            return font
        size -= 2


def render_problem(
    lines: Sequence[str],
    style: Style,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
) -> NDArray[np.uint8]:
    """An RGB frame (H x W x 3) of `lines` printed on a sheet lying on a desk.

    `size` is (width, height). The seed moves the sheet and the text block a little,
    so two seeds of one problem look like two photos of the same page.
    """
    rng = random.Random(seed)
    width, height = size
    desk = tuple(rng.randint(70, 150) for _ in range(3))
    img = Image.new("RGB", (width, height), desk)  # type: ignore[arg-type]
    draw = ImageDraw.Draw(img)

    # The sheet covers most of the frame, as when the phone is held over the page.
    margin_x = int(width * rng.uniform(-0.05, 0.08))
    margin_y = int(height * rng.uniform(-0.05, 0.08))
    sheet = (margin_x, margin_y, width - margin_x, height - margin_y)
    tint = rng.randint(-12, 4)
    paper = (246 + min(tint, 9), 244 + min(tint, 11), 236 + tint)
    draw.rectangle(sheet, fill=paper)

    if style.grey_paper:
        grey = rng.randint(188, 214)
        paper = (grey + 4, grey + 2, grey - 4)
        draw.rectangle(sheet, fill=paper)

    sheet_w = sheet[2] - sheet[0]
    sheet_h = sheet[3] - sheet[1]
    if style.hand or any(has_markup(line) for line in lines):
        _draw_typeset(img, draw, lines, style, sheet, rng)
        return _photographed(img, style, desk, width, height, seed, rng)
    font = _fit_font(lines, style, int(sheet_w * 0.86), int(sheet_h * 0.8))
    line_h = int(font.size * 1.6)
    block_h = line_h * len(lines)
    block_w = max(font.getbbox(line)[2] for line in lines)
    left = sheet[0] + (sheet_w - block_w) // 2 + rng.randint(-20, 20)
    left = max(sheet[0] + 8, min(left, sheet[2] - block_w - 8))
    top = sheet[1] + (sheet_h - block_h) // 2 + rng.randint(-25, 25)
    top = max(sheet[1] + 4, min(top, sheet[3] - block_h - 4))

    if style.lined_paper:
        # Rules at the line pitch, the text sitting on them as a student would write.
        pitch = line_h
        first = top + font.getmetrics()[0] + max(2, font.size // 10)
        y = first - pitch * ((first - sheet[1]) // pitch)
        while y < sheet[3]:
            draw.line([(sheet[0], y), (sheet[2], y)], fill=(160, 190, 230), width=2)
            y += pitch
        mx = sheet[0] + min(int(sheet_w * 0.12), max(10, left - sheet[0] - 14))
        draw.line([(mx, sheet[1]), (mx, sheet[3])], fill=(225, 120, 120), width=2)

    ink_level = rng.randint(10, 45)
    ink = (ink_level, ink_level, ink_level + rng.randint(0, 20))
    for i, line in enumerate(lines):
        draw.text((left, top + i * line_h), line, font=font, fill=ink)
    return _photographed(img, style, desk, width, height, seed, rng)


def _draw_typeset(
    img: Image.Image,
    draw: ImageDraw.ImageDraw,
    lines: Sequence[str],
    style: Style,
    sheet: tuple[int, int, int, int],
    rng: random.Random,
) -> None:
    """Lines with stacked fractions, superscripts or tall parentheses (see
    tests/imagegen_math.py), or hand-lettered lines, placed on the sheet."""
    sheet_w, sheet_h = sheet[2] - sheet[0], sheet[3] - sheet[1]
    size = style.size
    fraction_scale = rng.choice((0.8, 0.9, 1.0))
    while True:
        fonts = MathFonts(lambda px: _font(style.font, px), size, fraction_scale)
        rows = [layout_line(line, fonts) for line in lines]
        heights = [(max(b.ascent for b in row), max(b.descent for b in row)) for row in rows if row]
        block_w = max(sum(b.width for b in row) for row in rows)
        gap = 0.6 * size
        block_h = sum(a + d for a, d in heights) + gap * (len(heights) - 1)
        if (block_w <= sheet_w * 0.86 and block_h <= sheet_h * 0.8) or size <= 14:
            break
        size -= 2
    left = sheet[0] + (sheet_w - block_w) / 2 + rng.randint(-20, 20)
    left = max(sheet[0] + 8, min(left, sheet[2] - block_w - 8))
    top = sheet[1] + (sheet_h - block_h) / 2 + rng.randint(-25, 25)
    top = max(sheet[1] + 4, min(top, sheet[3] - block_h - 4))
    baselines = []
    y = top
    for ascent, descent in heights:
        baselines.append(y + ascent)
        y += ascent + descent + gap

    if style.lined_paper:
        pitch = int(size * 1.6)
        first = int(baselines[0] + max(2, size // 10))
        ry = first - pitch * ((first - sheet[1]) // pitch)
        while ry < sheet[3]:
            draw.line([(sheet[0], ry), (sheet[2], ry)], fill=(160, 190, 230), width=2)
            ry += pitch
        mx = sheet[0] + min(int(sheet_w * 0.12), max(10, int(left) - sheet[0] - 14))
        draw.line([(mx, sheet[1]), (mx, sheet[3])], fill=(225, 120, 120), width=2)

    ink_level = rng.randint(10, 45)
    ink = (ink_level, ink_level, ink_level + rng.randint(0, 20))
    for line, row, baseline in zip(lines, rows, baselines, strict=True):
        if style.hand:
            _hand_letter(img, line, left, baseline, size, ink, rng)
            continue
        x = left
        for box in row:
            box.draw(draw, x, baseline, ink)
            x += box.width


# Pen lettering: OpenCV's Hershey script face, every letter nudged, resized and the whole
# line warped a little, as no two handwritten letters are alike.
_HAND_FACES = (cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX)
_HAND_ASCII = str.maketrans({"\u2212": "-", "\u00d7": "x", "\u00f7": ":", "\u00b2": "2"})


def _hand_glyphs(line: str) -> list[tuple[str, bool]]:
    """(character, raised) pairs of a markup line; a fraction is written inline, a/b."""
    out: list[tuple[str, bool]] = []
    i = 0
    while i < len(line):
        if line.startswith("^{", i):
            end = line.index("}", i)
            out.extend((ch, True) for ch in line[i + 2 : end])
            i = end + 1
            continue
        out.extend((ch, False) for ch in plain_text_of(line[i]))
        i += 1
    return out


def _hand_letter(
    img: Image.Image,
    line: str,
    left_edge: float,
    baseline: float,
    size: int,
    ink: tuple[int, int, int],
    rng: random.Random,
) -> None:
    face = rng.choice(_HAND_FACES)
    scale = size / 30.0
    thickness = max(1, round(size / 18))
    inline = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"\1/\2", line)
    glyphs = _hand_glyphs(inline.replace("\\(", "(").replace("\\)", ")"))
    pad = size
    width = int(size * 1.2 * len(glyphs)) + 3 * pad
    layer = np.zeros((5 * size, width), np.uint8)
    x, base = float(pad), 3.0 * size
    slope = rng.uniform(-0.04, 0.04)
    for ch, raised in glyphs:
        if ch == " ":
            x += size * 0.35
            continue
        k = scale * rng.uniform(0.75, 1.25) * (0.6 if raised else 1.0)
        dy = rng.gauss(0.0, size * 0.1) + slope * (x - pad) - (size * 0.45 if raised else 0.0)
        glyph = ch.translate(_HAND_ASCII)
        (w, h), _ = cv2.getTextSize(glyph, face, k, thickness)
        # Each letter on its own patch, leaned by its own angle, then added to the line.
        patch = np.zeros((3 * size, w + size), np.uint8)
        cv2.putText(patch, glyph, (size // 2, 2 * size), face, k, 255, thickness, cv2.LINE_AA)
        lean = cv2.getRotationMatrix2D((size / 2 + w / 2, 2 * size - h / 2), rng.gauss(0, 10), 1.0)
        patch = np.asarray(cv2.warpAffine(patch, lean, patch.shape[::-1]), np.uint8)
        top, left = int(base + dy) - 2 * size, int(x) - size // 2
        view = layer[top : top + patch.shape[0], left : left + patch.shape[1]]
        np.maximum(view, patch[: view.shape[0], : view.shape[1]], out=view)
        x += w + rng.uniform(0.0, size * 0.15)
    layer = _wobble(layer[:, : int(x) + pad], size, rng)
    stamp = Image.fromarray(layer)
    colour = Image.new("RGB", stamp.size, ink)
    img.paste(colour, (int(left_edge - pad), int(baseline - 3 * size)), stamp)


def _wobble(layer: NDArray[np.uint8], size: int, rng: random.Random) -> NDArray[np.uint8]:
    """A smooth random displacement, so straight strokes bend like a pen's."""
    h, w = layer.shape
    field_rng = np.random.default_rng(rng.randrange(1 << 30))
    dx = cv2.GaussianBlur(field_rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), size / 3)
    dy = cv2.GaussianBlur(field_rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), size / 3)
    amp = size * 0.06 / max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(layer, xx + amp * dx, yy + amp * dy, cv2.INTER_LINEAR)
    return np.asarray(out, np.uint8)


def _photographed(
    img: Image.Image,
    style: Style,
    desk: tuple[int, ...],
    width: int,
    height: int,
    seed: int,
    rng: random.Random,
) -> NDArray[np.uint8]:
    """The printed sheet as the phone's camera sees it: tilted, blurred, shaded, noisy."""
    if style.rotation:
        img = img.rotate(style.rotation, resample=Image.Resampling.BICUBIC, fillcolor=desk)  # type: ignore[arg-type]
    if style.blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(style.blur))

    arr = np.asarray(img).astype(np.float32)
    if style.light > 0:
        arr *= _lighting(width, height, style.light, rng)[:, :, None]
    if style.noise > 0:
        noise_rng = np.random.default_rng(seed)
        arr += noise_rng.normal(0.0, style.noise, size=arr.shape).astype(np.float32)
    out: NDArray[np.uint8] = np.clip(arr, 0, 255).astype(np.uint8)
    return out


def _lighting(width: int, height: int, strength: float, rng: random.Random) -> NDArray[np.float32]:
    """A multiplicative shading map: a linear fall-off plus a soft shadow blob, like
    a desk lamp on one side and the phone's shadow on the page."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (np.cos(angle) * xx / width + np.sin(angle) * yy / height) + 0.5
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    radius = rng.uniform(0.3, 0.7) * max(width, height)
    blob = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2)))
    shade = 1.0 - strength * (0.7 * ramp + 0.5 * blob)
    result: NDArray[np.float32] = np.clip(shade, 0.3, 1.0).astype(np.float32)
    return result


# ---------------------------------------------------------------- problem set


Problem = tuple[str, list[str]]


def _minus(rng: random.Random) -> str:
    # Textbooks mostly set the true minus sign; some (and worksheets) use a hyphen.
    return MINUS if rng.random() < 0.6 else "-"


def _term(coef: int, var: str, first: bool, m: str) -> tuple[str, str]:
    """One signed term as (plain, printed), e.g. -3, "x" -> (" - 3*x", " − 3x")."""
    mag = abs(coef)
    body_plain = var if mag == 1 and var else f"{mag}*{var}" if var else str(mag)
    body_print = var if mag == 1 and var else f"{mag}{var}"
    if first:
        return ("-" if coef < 0 else "") + body_plain, (m if coef < 0 else "") + body_print
    sign_plain, sign_print = (" - ", f" {m} ") if coef < 0 else (" + ", " + ")
    return sign_plain + body_plain, sign_print + body_print


def _linear(terms: Sequence[tuple[int, str]], m: str) -> tuple[str, str]:
    plain, printed = "", ""
    for i, (coef, var) in enumerate(t for t in terms if t[0] != 0):
        p, q = _term(coef, var, i == 0, m)
        plain += p
        printed += q
    return plain or "0", printed or "0"


def _arithmetic(rng: random.Random) -> Problem:
    a, b, c = rng.randint(2, 9), rng.randint(2, 9), rng.randint(2, 9)
    form = rng.randrange(4)
    if form == 0:
        return f"{a} + {b}*{c}", [f"{a} + {b} {TIMES} {c}"]
    if form == 1:
        m = _minus(rng)
        return f"({a} + {b})*{c} - {a}", [f"({a} + {b}) {TIMES} {c} {m} {a}"]
    if form == 2:
        q = b * c
        m = _minus(rng)
        return f"{q}/{b} - {a}*2", [f"{q} {DIVIDE} {b} {m} {a} {TIMES} 2"]
    return f"{a}*{b} + {c}^2", [f"{a} {TIMES} {b} + {c}{SQUARED}"]


def _fraction(rng: random.Random) -> Problem:
    dens = [2, 3, 4, 5, 6, 8, 10, 12]
    d1, d2 = rng.sample(dens, 2)
    n1, n2 = rng.randint(1, d1 - 1), rng.randint(1, d2 - 1)
    op = rng.randrange(3)
    if op == 0:
        return f"{n1}/{d1} + {n2}/{d2}", [f"{n1}/{d1} + {n2}/{d2}"]
    if op == 1:
        m = _minus(rng)
        return f"{n1}/{d1} - {n2}/{d2}", [f"{n1}/{d1} {m} {n2}/{d2}"]
    return f"{n1}/{d1}*{n2}/{d2}", [f"{n1}/{d1} {TIMES} {n2}/{d2}"]


def _linear_equation(rng: random.Random) -> Problem:
    m = _minus(rng)
    x = rng.randint(-5, 9)
    a = rng.choice([2, 3, 4, 5, 6, 7])
    if rng.random() < 0.7:
        b = rng.choice([i for i in range(-12, 13) if i != 0])
        lhs_plain, lhs_print = _linear([(a, "x"), (b, "")], m)
        c = a * x + b
        rhs_plain, rhs_print = _linear([(c, "")], m)
    else:
        # Unknown on both sides: ax + b = cx + d.
        c = rng.choice([i for i in range(1, 7) if i != a])
        b = rng.randint(-9, 9)
        d = (a - c) * x + b
        lhs_plain, lhs_print = _linear([(a, "x"), (b, "")], m)
        rhs_plain, rhs_print = _linear([(c, "x"), (d, "")], m)
    return f"{lhs_plain} = {rhs_plain}", [f"{lhs_print} = {rhs_print}"]


def _inequality(rng: random.Random) -> Problem:
    m = _minus(rng)
    a = rng.choice([2, 3, 4, 5])
    b = rng.choice([i for i in range(-9, 10) if i != 0])
    c = a * rng.randint(-3, 6) + b
    ops = [(">", ">"), ("<", "<"), (">=", "\u2265"), ("<=", "\u2264")]
    op_plain, op_print = ops[rng.randrange(4)] if rng.random() < 0.5 else ops[rng.randrange(2)]
    lhs_plain, lhs_print = _linear([(a, "x"), (b, "")], m)
    rhs_plain, rhs_print = _linear([(c, "")], m)
    return f"{lhs_plain} {op_plain} {rhs_plain}", [f"{lhs_print} {op_print} {rhs_print}"]


def _quadratic_expr(a: int, b: int, c: int, m: str) -> tuple[str, str]:
    lead_plain = "x^2" if a == 1 else f"{a}*x^2"
    lead_print = f"x{SQUARED}" if a == 1 else f"{a}x{SQUARED}"
    rest_plain, rest_print = _linear([(b, "x"), (c, "")], m)
    if rest_plain == "0":
        return lead_plain, lead_print
    if rest_plain.startswith("-"):
        rest_plain = " - " + rest_plain[1:]
        rest_print = f" {m} " + rest_print[1:]
    else:
        rest_plain, rest_print = " + " + rest_plain, " + " + rest_print
    return lead_plain + rest_plain, lead_print + rest_print


def _quadratic_factoring(rng: random.Random) -> Problem:
    m = _minus(rng)
    r1, r2 = rng.sample([i for i in range(-6, 7) if i != 0], 2)
    a = 1 if rng.random() < 0.8 else 2
    plain, printed = _quadratic_expr(a, -a * (r1 + r2), a * r1 * r2, m)
    return f"{plain} = 0", [f"{printed} = 0"]


def _quadratic_formula(rng: random.Random) -> Problem:
    m = _minus(rng)
    while True:
        b = rng.randint(-6, 6)
        c = rng.choice([i for i in range(-9, 10) if i != 0])
        disc = b * b - 4 * c
        # Real but irrational roots: the student must use the formula.
        if disc > 0 and math.isqrt(disc) ** 2 != disc:
            break
    plain, printed = _quadratic_expr(1, b, c, m)
    return f"{plain} = 0", [f"{printed} = 0"]


def _system(rng: random.Random) -> Problem:
    m = _minus(rng)
    x, y = rng.randint(-3, 6), rng.randint(-3, 6)
    while True:
        a1, b1, a2, b2 = (rng.choice([-3, -2, -1, 1, 2, 3, 4]) for _ in range(4))
        if a1 * b2 - a2 * b1 != 0:
            break
    eqs_plain, eqs_print = [], []
    for a, b in ((a1, b1), (a2, b2)):
        lhs_plain, lhs_print = _linear([(a, "x"), (b, "y")], m)
        rhs_plain, rhs_print = _linear([(a * x + b * y, "")], m)
        eqs_plain.append(f"{lhs_plain} = {rhs_plain}")
        eqs_print.append(f"{lhs_print} = {rhs_print}")
    return "; ".join(eqs_plain), eqs_print


def _simplify(rng: random.Random) -> Problem:
    m = _minus(rng)
    a, b = rng.randint(2, 7), rng.choice([i for i in range(-6, 8) if i not in (0, 1, -1)])
    c = rng.choice([i for i in range(-9, 10) if i != 0])
    if rng.random() < 0.5:
        plain, printed = _linear([(a, "x"), (b, "x"), (c, "")], m)
    else:
        d = rng.randint(1, 5)
        p1, q1 = _linear([(a, "x"), (c, "")], m)
        p2, q2 = _linear([(b, "x"), (d, "")], m)
        plain, printed = f"{p1} + {p2}", f"{q1} + {q2}"
    return f"simplify({plain})", [f"Simplify: {printed}"]


def _expand(rng: random.Random) -> Problem:
    m = _minus(rng)
    p, q = rng.sample([i for i in range(-7, 8) if i != 0], 2)
    f1 = _linear([(1, "x"), (p, "")], m)
    f2 = _linear([(1, "x"), (q, "")], m)
    if rng.random() < 0.3:
        k = rng.randint(2, 5)
        return f"expand({k}*({f1[0]}))", [f"Expand: {k}({f1[1]})"]
    return f"expand(({f1[0]})*({f2[0]}))", [f"Expand: ({f1[1]})({f2[1]})"]


def _percentage(rng: random.Random) -> Problem:
    pct = rng.choice([5, 10, 15, 20, 25, 30, 40, 50, 60, 75])
    base = rng.choice([20, 40, 60, 80, 120, 200, 240, 300])
    return f"{pct}/100*{base}", [f"{pct}% of {base}"]


KINDS: tuple[Callable[[random.Random], Problem], ...] = (
    _arithmetic,
    _fraction,
    _linear_equation,
    _inequality,
    _quadratic_factoring,
    _quadratic_formula,
    _system,
    _simplify,
    _expand,
    _percentage,
)


def printed_problem_set(n: int, seed: int = 1) -> list[Problem]:
    """`n` problems cycling through every kind: (plain ASCII form, printed lines)."""
    rng = random.Random(seed)
    return [KINDS[i % len(KINDS)](rng) for i in range(n)]
