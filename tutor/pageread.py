"""Reading the pieces a `Layout` found and putting their text together as linear math.

The pieces of every row (runs of text, numerators, denominators, exponents) are cut out
of the levelled page, cleaned (only their own ink, dark on white), scaled so their letters
are a comfortable height for OCR (a small exponent or denominator is enlarged most: the
"re-read at a higher scale"), and laid out on one contact sheet, so a single OCR pass
reads them all. Each piece's text is then found by where it lies on the sheet.

A row's text is rebuilt from its pieces: a fraction becomes "(num)/(den)" (no brackets
around a lone number or letter), an exponent "^(e)", a digit before a numeric fraction a
mixed number "(2 + 1/3)". Every row keeps what made its reading uncertain (`Doubt`s)
and the other readings those doubts allow ("x - 4" for a bar that might be a minus).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from model.embedded.ocr import SAME_LINE_OFFSET
from model.types import TextLine
from tutor.layout import Fraction, Gap, LineItem, Page, Paren, Piece, Rect, Row, Run, Sup
from tutor.mathread import strip_instructions

#: Letter height of a piece on the contact sheet: what the recogniser reads best.
SHEET_TEXT_PX = 34
#: White space around and between pieces on the sheet, in multiples of SHEET_TEXT_PX:
#: wide enough that the detector never joins two pieces into one line.
SHEET_GAP = 1.3
#: Exponents are enlarged at most this much (a blob of a few pixels is noise, not a digit).
MAX_ENLARGE = 4.0

ReadText = Callable[[NDArray[np.uint8]], Awaitable[list[TextLine]]]


@dataclass(frozen=True)
class Doubt:
    """Something that makes a reading uncertain, for the confidence and for what to ask."""

    kind: str  # "bar" | "exponent" | "ocr" | "unread" | "missing" | "repair" | "stray"
    weight: float  # 0..1: how much it lowers the confidence
    detail: str = ""


@dataclass(frozen=True)
class RowReading:
    """One printed line as linear math text (OCR spelling; tutor/mathread.py normalises it)."""

    text: str
    score: float  # the lowest OCR score of its pieces (1.0 for shapes read without OCR)
    doubts: tuple[Doubt, ...] = ()
    alternatives: tuple[str, ...] = ()  # the same line read another way the doubts allow
    rect: Rect | None = None


# ------------------------------------------------------------------ the contact sheet


def pieces_to_read(rows: Sequence[Row]) -> list[Piece]:
    """Every piece OCR must read, in order: those drawn as one known symbol are not."""
    out: list[Piece] = []

    def visit(items: Sequence[LineItem]) -> None:
        for item in items:
            if isinstance(item, Run | Sup):
                if not item.piece.symbol:
                    out.append(item.piece)
            elif isinstance(item, Fraction):
                visit(item.numerator)
                visit(item.denominator)

    for row in rows:
        visit(row.items)
    return out


def clean_crop(page: Page, piece: Piece) -> NDArray[np.uint8]:
    """The piece's own ink, dark on white, at SHEET_TEXT_PX letter height."""
    unit = page.text_height
    r = piece.rect
    pad = int(0.3 * unit) + 2
    h, w = page.ink.shape
    x0, y0 = max(0, r.x0 - pad), max(0, r.y0 - pad)
    x1, y1 = min(w, r.x1 + pad), min(h, r.y1 + pad)
    labels = page.labels[y0:y1, x0:x1]
    own = np.isin(labels, piece.blobs)
    # A little beyond the thresholded blob: the soft edges of the strokes help OCR.
    keep = cv2.dilate(own.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    ink = np.where(keep, page.ink[y0:y1, x0:x1], 0.0)
    strong = float(np.percentile(ink[own], 90)) if own.any() else 0.5
    gray = (255.0 - 255.0 * np.clip(ink / max(strong, 0.15), 0.0, 1.0)).astype(np.uint8)
    # Letters are scaled to the sheet's height; a small exponent by its own height.
    height = unit if r.h >= 0.7 * unit else max(r.h / 0.75, 1.0)
    k = min(SHEET_TEXT_PX / height, MAX_ENLARGE)
    size = (max(1, round(gray.shape[1] * k)), max(1, round(gray.shape[0] * k)))
    return np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_CUBIC), np.uint8)


def contact_sheet(crops: Sequence[NDArray[np.uint8]]) -> tuple[NDArray[np.uint8], list[Rect]]:
    """The crops laid out in columns on one white RGB image, and where each one went.

    Columns keep the sheet's long side short (OCR shrinks big images) and are far
    enough apart that a line never runs from one column into the next."""
    gap = round(SHEET_GAP * SHEET_TEXT_PX)
    # OCR joins words of a line across gaps of up to 3.5 box heights (ocr.MAX_WORD_GAP).
    col_gap = 10 * SHEET_TEXT_PX
    per_column = max(1, int(np.ceil(np.sqrt(len(crops) * 1.2))))
    slots: list[Rect] = []
    before: list[Rect] = []  # the slots of the column before
    x, y, col_w = gap, gap, 0
    height = gap
    for i, crop in enumerate(crops):
        if i and i % per_column == 0:
            x += col_w + col_gap
            y, col_w = gap, 0
            before = slots[i - per_column : i]
        ch, cw = crop.shape
        y = _below_level(y, ch, before)
        slots.append(Rect(x, y, x + cw, y + ch))
        y += ch + gap
        col_w = max(col_w, cw)
        height = max(height, y)
    width = x + col_w + gap
    sheet = np.full((height, width), 255, np.uint8)
    for crop, slot in zip(crops, slots, strict=True):
        sheet[slot.y0 : slot.y1, slot.x0 : slot.x1] = crop
    return np.ascontiguousarray(np.repeat(sheet[:, :, None], 3, axis=2)), slots


def _below_level(y: int, h: int, before: Sequence[Rect]) -> int:
    """The first top from `y` down where a crop `h` high is not level with a slot of the
    column before. The detector's box stands up to a letter taller than its crop, and
    for a tall box the columns' gap is within OCR's word gap: two crops level with each
    other would be read as one line, found in neither slot."""
    for r in before:
        apart = (SAME_LINE_OFFSET + 0.1) * (max(h, r.h) + SHEET_TEXT_PX)
        if abs(y + h / 2 - r.cy) < apart:
            y = math.ceil(r.cy + apart - h / 2)
    return y


def assign(lines: Sequence[TextLine], slots: Sequence[Rect]) -> list[tuple[str, float]]:
    """Each slot's text and score: the lines whose middle falls in it, left to right."""
    found: list[list[TextLine]] = [[] for _ in slots]
    for line in lines:
        x0, y0, x1, y1 = line.box
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        for k, slot in enumerate(slots):
            grown = 0.5 * SHEET_GAP * SHEET_TEXT_PX
            if (
                slot.x0 - grown <= cx <= slot.x1 + grown
                and slot.y0 - grown <= cy <= slot.y1 + grown
            ):
                found[k].append(line)
                break
    out = []
    for parts in found:
        parts.sort(key=lambda ln: ln.box[0])
        text = " ".join(p.text for p in parts).strip()
        out.append((text, min((p.score for p in parts), default=0.0)))
    return out


async def read_pieces(
    page: Page, rows: Sequence[Row], read_text: ReadText
) -> dict[Piece, tuple[str, float]]:
    """OCR of every piece of the rows, with one call to `read_text` on a contact sheet.
    The crops are cut in a worker thread; `read_text` runs off the loop itself."""
    import asyncio

    pieces = pieces_to_read(rows)
    if not pieces:
        return {}

    def prepare() -> tuple[NDArray[np.uint8], list[Rect]]:
        return contact_sheet([clean_crop(page, p) for p in pieces])

    sheet, slots = await asyncio.to_thread(prepare)
    lines = await read_text(sheet)
    return dict(zip(pieces, assign(lines, slots), strict=True))


# ------------------------------------------------------------------ rebuilding a row

# What the recogniser (trained on Chinese text) answers for lone signs, and other
# spellings of the same sign.
_SIGN_FIXES = str.maketrans({"十": "+", "一": "-", "X": "x", "×": "×"})
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff]")
_LONE_LETTER = re.compile(r"^[a-zA-Z]$")
_ATOM = re.compile(r"^\s*(?:\d+(?:\.\d+)?|[a-zA-Z])\s*$")
_INTEGER = re.compile(r"^\s*\d+\s*$")
_EXPONENT = re.compile(r"^\s*[-−]?\s*(?:\d{1,2}|[a-z])\s*$")
# Blobs each character is printed with (a letter or digit is one; "=" two strokes...).
_BLOBS_PER_CHAR = {"=": 2, "÷": 3, "%": 3, ":": 0, ".": 0, ",": 0, "·": 0, "'": 0, " ": 0}


def expected_blobs(text: str) -> int:
    return sum(_BLOBS_PER_CHAR.get(ch, 1) for ch in text)


@dataclass
class _Builder:
    page: Page
    read: dict[Piece, tuple[str, float]]
    score: float = 1.0

    def piece_text(self, piece: Piece, doubts: list[Doubt]) -> str:
        if piece.symbol:
            return piece.symbol
        text, score = self.read.get(piece, ("", 0.0))
        # Ideographs are the recogniser guessing at a speck (no homework has them); its
        # "十" and "一" are a lone plus and minus.
        text = _CJK.sub("", text.translate(_SIGN_FIXES)).strip()
        # A letter x next to a bracket read as a times sign: "4(× - 6)".
        text = re.sub(r"(?<=\()\s*×|×\s*(?=\))", "x", text)
        if _LONE_LETTER.match(text):
            # A letter alone scores low (x or ×?) where the line around it settles it.
            score = max(score, 0.9)
        if not text:
            doubts.append(Doubt("unread", 1.0, "a part of the line could not be read"))
            return "?"
        if piece.leading_minus and not re.match(r"[-−–—]", text):
            text = f"- {text}"  # the dash on the page that OCR left out
        self.score = min(self.score, score)
        unit = self.page.text_height
        rects = [self.page.blob(i).rect for i in piece.blobs]
        glyphs = sum(1 for r in rects if r.h >= 0.3 * unit or r.w >= 0.45 * unit)
        if glyphs > expected_blobs(text.replace(" ", "")):
            # More marks on the page than characters read: something was dropped.
            doubts.append(Doubt("missing", 0.7, f"read {text!r} from more ink than that"))
        return text


def _wrap(text: str) -> str:
    return text.strip() if _ATOM.match(text) else f"({text.strip()})"


def _items_text(items: Sequence[LineItem], b: _Builder, doubts: list[Doubt]) -> list[str]:
    """The text of a sequence of line items, one string per item."""
    out: list[str] = []
    for k, item in enumerate(items):
        if isinstance(item, Run):
            # Spaced, so two pieces never run into one number ("1" "2" is not 12).
            out.append(f" {b.piece_text(item.piece, doubts)} ")
        elif isinstance(item, Sup):
            exponent = b.piece_text(item.piece, doubts)
            if _EXPONENT.match(exponent):
                if out:
                    out[-1] = out[-1].rstrip()
                out.append("^" + _wrap(exponent.replace("−", "-")))
                if item.doubt > 0:
                    doubts.append(Doubt("exponent", item.doubt, f"a small raised {exponent}"))
            else:
                # Raised but not a number or a letter: a mark, or a sign set high.
                out.append(" " + exponent)
                doubts.append(Doubt("exponent", 0.6, f"a raised mark read as {exponent!r}"))
        elif isinstance(item, Paren):
            out.append(item.char)
        elif isinstance(item, Gap):
            out.append(" ")  # (`_line_text` reads the two sides apart)
        else:
            num = "".join(_items_text(item.numerator, b, doubts))
            den = "".join(_items_text(item.denominator, b, doubts))
            fraction = f"{_wrap(num)}/{_wrap(den)}"
            before = out[-1] if out else ""
            if (
                _INTEGER.match(num)
                and _INTEGER.match(den)
                and re.search(r"(?:^|[^\w).])\d+\s*$", before)
            ):
                # A whole number right before a numeric fraction: a mixed number, 2⅓.
                whole = re.search(r"\d+\s*$", before)
                assert whole is not None
                out[-1] = before[: whole.start()]
                fraction = f"({whole.group().strip()} + {fraction})"
            if item.doubt > 0:
                doubts.append(Doubt("bar", item.doubt, f"{num} over {den}"))
            out.append(f" {fraction} " if k else f"{fraction} ")
    return out


def _variant_texts(row: Row, b: _Builder) -> list[str]:
    """The row read with each doubtful bar as a minus, or each doubtful exponent dropped."""
    variants: list[str] = []

    def flip(items: tuple[LineItem, ...], target: LineItem) -> tuple[LineItem, ...]:
        out: list[LineItem] = []
        for item in items:
            if item is target and isinstance(item, Fraction):
                out += [*item.numerator, Run(Piece((), item.bar, "-")), *item.denominator]
            elif item is target:
                continue  # a doubtful exponent: read as a stray mark
            else:
                out.append(item)
        return tuple(out)

    for item in row.items:
        if (isinstance(item, Fraction | Sup)) and item.doubt > 0:
            variants.append(_line_text(flip(row.items, item), b, []))
    return variants


# A group of ink set apart from the rest of its line is kept when it reads as a number
# before a problem ("3.", "b)"), an instruction ("Solve:") or a piece of math of its own
# (a digit and a sign, or a coefficient: "3x - 4 = 11", "1/2", "10% of 80"), with no
# word the math reader does not know (tutor/mathread.py refuses those too).
_LABEL_ONLY = re.compile(r"^\s*(?:\(?[a-hA-H]\)|[a-hA-H][.)]|Q?\d{1,2}[.)])\s*$")
_MATH_SIGN = re.compile(r"[-+*/^=<>×÷−–%()]|\d\s*[a-zA-Z]")
_WORD = re.compile(r"[A-Za-z]{3,}")
_MATH_WORDS = frozenset({"percent", "cent", "and", "sqrt"})
#: What leaving out a group of ink set apart from its line costs the reading when it read
#: as a letter, a digit or a sign (it might have been part of the problem): enough that
#: the tutor asks before solving (tutor/reading.py's ASK_BELOW). A smudge read as "•"
#: or "~" could not have been, and costs little.
STRAY_DOUBT = 0.4
SMUDGE_DOUBT = 0.1
_MEANS_SOMETHING = re.compile(r"[A-Za-z0-9=+\-−–—×÷/<>%]")


def stands_apart(text: str) -> bool:
    """Whether a group of ink set apart from its line, read as `text`, belongs to it.

    Ink on its own beside a problem that reads as a word ("smm"), a lone letter, number
    or sign is a smudge, the sheet's edge or a scratch: glued to the line it would make
    a problem the page does not have ("- 3x - 4 = 11", "3x - 4 = 11x")."""
    if _LABEL_ONLY.match(text):
        return True
    keyword, rest = strip_instructions(text)
    if not rest.strip():
        return keyword is not None
    words = {w.lower() for w in _WORD.findall(rest)}
    return bool(re.search(r"\d", rest) and _MATH_SIGN.search(rest) and words <= _MATH_WORDS)


def _line_text(items: Sequence[LineItem], b: _Builder, doubts: list[Doubt]) -> str:
    """A row's text. Where a wide gap (`Gap`) splits the row, each side is judged on its
    own (`stands_apart`): one that is no part of a problem is left out, which makes the
    reading less sure, and its OCR score does not count."""
    groups: list[list[LineItem]] = [[]]
    for item in items:
        if isinstance(item, Gap):
            groups.append([])
        else:
            groups[-1].append(item)
    texts = []
    for group in groups:
        score = b.score
        own: list[Doubt] = []
        text = re.sub(r"\s+", " ", "".join(_items_text(group, b, own))).strip()
        if len(groups) == 1 or stands_apart(text):
            texts.append(text)
            doubts += own
        else:
            b.score = score
            weight = STRAY_DOUBT if _MEANS_SOMETHING.search(text) else SMUDGE_DOUBT
            doubts.append(Doubt("stray", weight, f"left out {text!r}, set apart from the line"))
    return " ".join(t for t in texts if t)


def row_reading(page: Page, row: Row, read: dict[Piece, tuple[str, float]]) -> RowReading:
    b = _Builder(page, read)
    doubts = [Doubt("stray", STRAY_DOUBT, "a stroke beside the line") for _ in range(row.strays)]
    text = _line_text(row.items, b, doubts)
    if b.score < 0.9:
        doubts.append(Doubt("ocr", min(1.0, (0.9 - b.score) * 2.5), "faint or unclear print"))
    variants = [v for v in _variant_texts(row, b) if v != text]
    return RowReading(text, b.score, tuple(doubts), tuple(variants), row.rect)
