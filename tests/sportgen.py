"""Broadcast-like frames for the explainer tests: a pitch or court with a scoreboard overlay.

The picture is a playing surface in the sport's colours (grass stripes, a
wooden court, a clay or hard tennis court) with a few line markings and
"players", and a scoreboard bar rendered with DejaVu fonts in the top-left
corner, as TV graphics usually are.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tests.imagegen import FONT_DIR

WIDTH, HEIGHT = 640, 360
SURFACES = {
    "football": ((48, 128, 52), (40, 112, 46)),
    "basketball": ((196, 150, 96), (184, 138, 86)),
    "tennis_clay": ((186, 96, 58), (178, 90, 54)),
    "tennis_hard": ((52, 96, 160), (46, 88, 150)),
}


def _font(size: int, bold: bool = True) -> ImageFont.FreeTypeFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(FONT_DIR / name), size)


def _surface(kind: str, seed: int) -> Image.Image:
    rng = random.Random(seed)
    light, dark = SURFACES[kind]
    image = Image.new("RGB", (WIDTH, HEIGHT), light)
    draw = ImageDraw.Draw(image)
    if kind == "football":
        for i in range(0, WIDTH, 80):  # mowing stripes
            if (i // 80) % 2:
                draw.rectangle([i, 0, i + 79, HEIGHT], fill=dark)
        draw.line([WIDTH // 2, 0, WIDTH // 2, HEIGHT], fill=(230, 230, 230), width=3)
        draw.ellipse(
            [WIDTH // 2 - 60, HEIGHT // 2 - 60, WIDTH // 2 + 60, HEIGHT // 2 + 60],
            outline=(230, 230, 230),
            width=3,
        )
    elif kind == "basketball":
        for y in range(0, HEIGHT, 12):  # floor boards
            draw.line([0, y, WIDTH, y], fill=dark, width=2)
        draw.arc([WIDTH - 260, 60, WIDTH + 100, 420], 90, 270, fill=(250, 250, 250), width=3)
    else:
        draw.rectangle([80, 70, WIDTH - 80, HEIGHT - 30], outline=(245, 245, 245), width=3)
        draw.line([WIDTH // 2, 70, WIDTH // 2, HEIGHT - 30], fill=(245, 245, 245), width=2)
    for _ in range(6):  # players
        x, y = rng.randrange(100, WIDTH - 40), rng.randrange(120, HEIGHT - 50)
        colour = rng.choice([(200, 30, 30), (240, 240, 240), (20, 40, 160)])
        draw.ellipse([x, y, x + 18, y + 18], fill=(230, 190, 150))
        draw.rectangle([x - 2, y + 18, x + 20, y + 50], fill=colour)
    return image


def _bar(image: Image.Image, rows: Sequence[Sequence[str]], size: int = 22) -> None:
    """A dark scoreboard box in the top-left corner; each row's cells spaced apart."""
    draw = ImageDraw.Draw(image)
    font = _font(size)
    gap = size
    widths = [[draw.textlength(cell, font=font) for cell in row] for row in rows]
    columns = max(len(row) for row in rows)
    col_w = [max((w[i] for w in widths if i < len(w)), default=0.0) for i in range(columns)]
    line_h = int(size * 1.5)
    box_w = int(sum(col_w) + gap * (columns + 1))
    box_h = line_h * len(rows) + size // 2
    draw.rectangle([16, 14, 16 + box_w, 14 + box_h], fill=(18, 22, 34))
    for r, row in enumerate(rows):
        x = 16 + gap
        for i, cell in enumerate(row):
            draw.text((x, 14 + size // 4 + r * line_h), cell, font=font, fill=(250, 250, 250))
            x += int(col_w[i]) + gap


def _finish(image: Image.Image, seed: int) -> NDArray[np.uint8]:
    image = image.filter(ImageFilter.GaussianBlur(0.4))
    rgb = np.asarray(image, dtype=np.int16)
    noise = np.random.default_rng(seed).normal(0, 3.0, rgb.shape)
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def football_frame(
    home: str, away: str, score: tuple[int, int], clock: str, half: str, seed: int = 1
) -> NDArray[np.uint8]:
    image = _surface("football", seed)
    _bar(image, [[home, f"{score[0]}-{score[1]}", away, clock, half]])
    return _finish(image, seed)


def basketball_frame(
    home: str,
    away: str,
    score: tuple[int, int],
    quarter: str,
    clock: str,
    shot_clock: int,
    seed: int = 1,
) -> NDArray[np.uint8]:
    image = _surface("basketball", seed)
    _bar(image, [[home, str(score[0]), away, str(score[1]), quarter, clock, f"SHOT {shot_clock}"]])
    return _finish(image, seed)


def tennis_frame(
    players: tuple[str, str],
    games: Sequence[tuple[int, int]],
    points: tuple[str, str],
    clay: bool = True,
    seed: int = 1,
) -> NDArray[np.uint8]:
    image = _surface("tennis_clay" if clay else "tennis_hard", seed)
    rows = [[players[p], *(str(g[p]) for g in games), points[p]] for p in (0, 1)]
    _bar(image, rows)
    return _finish(image, seed)
