"""Homework the way textbooks and worksheets print it, for the layout reader's tests and
benchmark: stacked fractions, powers (a raised 2 and the ² glyph), mixed numbers, two-
and three-line systems, sheets of numbered problems, and hand-lettered pages.

Each maker returns (plain form, printed lines): the plain form is what a correct reader
gives (tests/imagegen.py's conventions), the lines use tests/imagegen_math.py's markup.
`homework_style` draws a photo style from more faces and papers than `random_style`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tests.imagegen import (
    DIVIDE,
    FONT_DIR,
    KINDS,
    MINUS,
    SQUARED,
    TIMES,
    Problem,
    Style,
    _linear,
    _minus,
    _system,
    available_fonts,
)

LIBERATION_DIR = Path("/usr/share/fonts/truetype/liberation")
LIBERATION_NAMES = (
    "LiberationSans-Regular.ttf",
    "LiberationSans-Bold.ttf",
    "LiberationSerif-Regular.ttf",
    "LiberationSerif-Italic.ttf",
    "LiberationMono-Regular.ttf",
)
DOT = "\u00b7"  # the middle dot some books use for times


def homework_fonts() -> list[str]:
    """DejaVu's faces plus Liberation's where installed (Chromium's dependencies bring it)."""
    extra = [str(LIBERATION_DIR / n) for n in LIBERATION_NAMES if (LIBERATION_DIR / n).exists()]
    return available_fonts() + extra


def homework_style(rng: random.Random) -> Style:
    """A phone photo of a printed page: any of the faces, white, lined or grey paper."""
    paper = rng.choice(("white", "white", "lined", "grey"))
    return Style(
        font=rng.choice(homework_fonts()),
        size=rng.randint(30, 56),
        rotation=round(rng.uniform(-6.0, 6.0), 2),
        blur=round(rng.uniform(0.0, 1.2), 2),
        noise=round(rng.uniform(0.0, 10.0), 2),
        lined_paper=paper == "lined",
        light=round(rng.uniform(0.0, 0.35), 3),
        grey_paper=paper == "grey",
    )


def hand_style(rng: random.Random) -> Style:
    return replace(homework_style(rng), hand=True, font=str(FONT_DIR / "DejaVuSans.ttf"))


# ------------------------------------------------------------------ single problems


def _frac(n: object, d: object) -> str:
    return f"\\frac{{{n}}}{{{d}}}"


def stacked_numeric(rng: random.Random) -> Problem:
    dens = [2, 3, 4, 5, 6, 8, 9, 10, 12]
    d1, d2 = rng.sample(dens, 2)
    n1, n2 = rng.randint(1, d1 - 1), rng.randint(1, d2 - 1)
    form = rng.randrange(4)
    if form == 0:
        return f"{n1}/{d1} + {n2}/{d2}", [f"{_frac(n1, d1)} + {_frac(n2, d2)}"]
    if form == 1:
        m = _minus(rng)
        return f"{n1}/{d1} - {n2}/{d2}", [f"{_frac(n1, d1)} {m} {_frac(n2, d2)}"]
    if form == 2:
        times = rng.choice((TIMES, DOT))
        return f"{n1}/{d1}*{n2}/{d2}", [f"{_frac(n1, d1)} {times} {_frac(n2, d2)}"]
    return (
        f"({n1}/{d1})/({n2}/{d2})",
        [f"\\({_frac(n1, d1)}\\) {DIVIDE} \\({_frac(n2, d2)}\\)"],
    )


def stacked_x(rng: random.Random) -> Problem:
    m = _minus(rng)
    form = rng.randrange(4)
    if form == 0:  # x/a + b = c
        a = rng.choice([2, 3, 4, 5, 6])
        x = a * rng.randint(-3, 6)
        b = rng.choice([i for i in range(-9, 10) if i != 0])
        c = x // a + b
        lhs_plain, lhs_print = _linear([(b, "")], m)
        sign_plain = " - " if b < 0 else " + "
        sign_print = f" {m} " if b < 0 else " + "
        rhs_plain, rhs_print = _linear([(c, "")], m)
        return (
            f"x/{a}{sign_plain}{abs(b)} = {rhs_plain}",
            [f"{_frac('x', a)}{sign_print}{abs(b)} = {rhs_print}"],
        )
    if form == 1:  # (x - b)/a = c
        a = rng.choice([2, 3, 4, 5])
        b = rng.choice([i for i in range(-7, 8) if i != 0])
        c = rng.randint(1, 9)
        top_plain, top_print = _linear([(1, "x"), (-b, "")], m)
        return f"({top_plain})/{a} = {c}", [f"{_frac(top_print, a)} = {c}"]
    if form == 2:  # x/a + x/b = c
        a, b = rng.sample([2, 3, 4, 5, 6], 2)
        x = a * b * rng.randint(1, 3)
        c = x // a + x // b
        return f"x/{a} + x/{b} = {c}", [f"{_frac('x', a)} + {_frac('x', b)} = {c}"]
    a = rng.choice([3, 5, 7])  # (k x + b)/a = c
    k = rng.choice([2, 3])
    x = rng.randint(1, 6)
    b = rng.choice(list(range(1, 9)))
    while (k * x + b) % a:
        b += 1
    top_plain, top_print = _linear([(k, "x"), (b, "")], m)
    return f"({top_plain})/{a} = {(k * x + b) // a}", [
        f"{_frac(top_print, a)} = {(k * x + b) // a}"
    ]


def _power(rng: random.Random, glyph: bool) -> Problem:
    sq = SQUARED if glyph else "^{2}"
    m = _minus(rng)
    form = rng.randrange(4)
    if form == 0:  # a x² - c = 0
        a, r = rng.choice([2, 3, 5]), rng.randint(2, 6)
        return f"{a}*x^2 - {a * r * r} = 0", [f"{a}x{sq} {m} {a * r * r} = 0"]
    if form == 1:  # x² = n
        r = rng.randint(3, 12)
        return f"x^2 = {r * r}", [f"x{sq} = {r * r}"]
    if form == 2:  # x² + b x + c = 0
        r1, r2 = rng.sample([i for i in range(-6, 7) if i != 0], 2)
        b, c = -(r1 + r2), r1 * r2
        rest_plain, rest_print = _linear([(b, "x"), (c, "")], m)
        if rest_plain.startswith("-"):
            rest_plain, rest_print = " - " + rest_plain[1:], f" {m} " + rest_print[1:]
        else:
            rest_plain, rest_print = " + " + rest_plain, " + " + rest_print
        return f"x^2{rest_plain} = 0", [f"x{sq}{rest_print} = 0"]
    a, b, c = rng.randint(2, 9), rng.randint(2, 9), rng.randint(2, 9)
    return f"{a}^2 + {b}*{c}", [f"{a}{sq} + {b} {TIMES} {c}"]


def power_raised(rng: random.Random) -> Problem:
    return _power(rng, glyph=False)


def power_glyph(rng: random.Random) -> Problem:
    return _power(rng, glyph=True)


def mixed_number(rng: random.Random) -> Problem:
    def one() -> tuple[str, str]:
        d = rng.choice([2, 3, 4, 5, 6, 8])
        n, w = rng.randint(1, d - 1), rng.randint(1, 4)
        return f"({w} + {n}/{d})", f"{w}{_frac(n, d)}"

    (p1, q1), (p2, q2) = one(), one()
    op = rng.randrange(3)
    if op == 0:
        return f"{p1} + {p2}", [f"{q1} + {q2}"]
    if op == 1:
        m = _minus(rng)
        return f"{p1} - {p2}", [f"{q1} {m} {q2}"]
    return f"{p1}*{p2}", [f"{q1} {TIMES} {q2}"]


def system_two(rng: random.Random) -> Problem:
    return _system(rng)


def system_three(rng: random.Random) -> Problem:
    m = _minus(rng)
    sol = [rng.randint(-3, 5) for _ in range(3)]
    while True:
        rows = [[rng.choice([-2, -1, 0, 1, 1, 2, 3]) for _ in range(3)] for _ in range(3)]
        det = (
            rows[0][0] * (rows[1][1] * rows[2][2] - rows[1][2] * rows[2][1])
            - rows[0][1] * (rows[1][0] * rows[2][2] - rows[1][2] * rows[2][0])
            + rows[0][2] * (rows[1][0] * rows[2][1] - rows[1][1] * rows[2][0])
        )
        if det != 0 and all(sum(1 for c in r if c) >= 2 for r in rows):
            break
    plain, printed = [], []
    for r in rows:
        lhs_plain, lhs_print = _linear(list(zip(r, ("x", "y", "z"), strict=True)), m)
        value = sum(c * v for c, v in zip(r, sol, strict=True))
        rhs_plain, rhs_print = _linear([(value, "")], m)
        plain.append(f"{lhs_plain} = {rhs_plain}")
        printed.append(f"{lhs_print} = {rhs_print}")
    return "; ".join(plain), printed


#: The one-line kinds a sheet is made of: the new ones and today's.
SHEET_KINDS: tuple[Callable[[random.Random], Problem], ...] = (
    stacked_numeric,
    stacked_x,
    power_raised,
    power_glyph,
    mixed_number,
    *(k for k in KINDS if k.__name__ not in ("_system",)),
)


def sheet(rng: random.Random, count: int | None = None) -> tuple[list[str], list[str]]:
    """A worksheet of 3 to 6 numbered problems: (plain forms in order, printed lines)."""
    count = count or rng.randint(3, 6)
    letters = rng.random() < 0.3
    plains, lines = [], []
    if rng.random() < 0.3:
        lines.append("Solve each problem.")
    for i in range(count):
        plain, printed = rng.choice(SHEET_KINDS)(rng)
        label = f"{'abcdef'[i]})" if letters else f"{i + 1}."
        plains.append(plain)
        lines.append(f"{label}  {printed[0]}")
    return plains, lines


def handwritten(rng: random.Random) -> Problem:
    r = rng.randint(3, 9)
    form = rng.randrange(3)
    if form == 0:
        return f"x^2 = {r * r}", [f"x^{{2}} = {r * r}"]
    if form == 1:
        a, b = rng.randint(2, 5), rng.randint(1, 9)
        return f"{a}*x + {b} = {a * r + b}", [f"{a}x + {b} = {a * r + b}"]
    return f"{r}/4 + 1/2", [f"{r}/4 + 1/2"]


#: Single-problem kinds of the benchmark, by name.
KINDS_BY_NAME: dict[str, Callable[[random.Random], Problem]] = {
    "stacked fraction": stacked_numeric,
    "stacked with x": stacked_x,
    "power ^2 raised": power_raised,
    "power ² glyph": power_glyph,
    "mixed number": mixed_number,
    "system, 2 lines": system_two,
    "system, 3 lines": system_three,
}

__all__ = [
    "KINDS_BY_NAME",
    "SHEET_KINDS",
    "hand_style",
    "handwritten",
    "homework_style",
    "sheet",
    "MINUS",
]
