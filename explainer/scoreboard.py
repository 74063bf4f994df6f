"""Reading a TV scoreboard from OCR lines, and telling the sport from it.

Broadcast graphics differ, but they share a few shapes, which is all this
parser relies on:

- football: `HOME 1-0 AWAY 23:10 1H` (a dash between the goals, a clock that
  counts up to 90 minutes, halves as `1H`/`2H`/`HT`/`FT`/`ET`);
- basketball: `HOME 88 AWAY 91 Q3 7:42 SHOT 14` (points after each team, a
  quarter `Q1`..`Q4`/`OT`, a clock that counts down, maybe a shot clock);
- tennis: one row per player, `NAME 6 3 40`: games per set, then the points
  of the current game (`0`, `15`, `30`, `40`, `AD`).

The parser is deliberately strict: a line that does not fit one of these
shapes is ignored, so ordinary on-screen text (adverts, captions) is not
mistaken for a score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SPORTS = ("football", "basketball", "tennis")

_NAME = r"[A-Z][A-Za-z.'\u00c0-\u017f]{1,19}(?: [A-Z][A-Za-z.'\u00c0-\u017f]{1,19})?"
_CLOCK = r"(?P<clock>\d{1,3}[:.]\d{2}(?:\+\d{1,2})?|\d{1,3}\+\d{1,2})"
_FOOTBALL_PERIOD = r"(?P<period>1H|2H|HT|FT|ET|AET|1ST|2ND|ET1|ET2)"
_FOOTBALL = re.compile(
    rf"(?P<home>{_NAME}) +(?P<a>\d{{1,2}}) *[-\u2013\u2014] *(?P<b>\d{{1,2}}) +(?P<away>{_NAME})"
    rf"(?: +{_CLOCK})?(?: +{_FOOTBALL_PERIOD})?\b"
)
_BASKETBALL_PERIOD = r"(?P<period>Q[1-4]|[1-4](?:ST|ND|RD|TH)(?: QTR)?|OT\d?)"
_BASKETBALL = re.compile(
    rf"(?P<home>{_NAME}) +(?P<a>\d{{1,3}}) +(?P<away>{_NAME}) +(?P<b>\d{{1,3}})"
    rf"(?: +{_BASKETBALL_PERIOD})?(?: +{_CLOCK})?(?: +SHOT *(?P<shot>\d{{1,2}}))?\b"
)
_TENNIS_ROW = re.compile(
    rf"^(?P<name>{_NAME}) +(?P<cells>(?:(?:\d{{1,2}}|AD|A) +)*(?:\d{{1,2}}|AD|A))$"
)
_POINTS = {"0", "15", "30", "40", "AD", "A"}


@dataclass(frozen=True)
class Scoreboard:
    """What one scoreboard showed. Fields a sport does not use are None or empty."""

    sport: str
    teams: tuple[str, str]
    score: tuple[int, int]
    """Goals, points, or sets won in tennis."""
    clock: str | None = None
    period: str | None = None
    shot_clock: int | None = None
    sets: tuple[tuple[int, int], ...] = field(default_factory=tuple)
    """Tennis: every set's games, the current one last."""
    points: tuple[str, str] | None = None
    """Tennis: the points in the current game."""

    @property
    def games(self) -> tuple[int, int] | None:
        return self.sets[-1] if self.sets else None

    @property
    def clock_minutes(self) -> float | None:
        if self.clock is None:
            return None
        parts = re.split(r"[:.]", self.clock.split("+", 1)[0])
        return int(parts[0]) + (int(parts[1]) / 60.0 if len(parts) > 1 else 0.0)

    def as_event(self) -> dict[str, Any]:
        return {
            "teams": list(self.teams),
            "score": list(self.score),
            "clock": self.clock,
            "period": self.period,
            "shot_clock": self.shot_clock,
            "sets": [list(s) for s in self.sets] or None,
            "points": list(self.points) if self.points else None,
        }

    def score_key(self) -> tuple[object, ...]:
        """What must change for a new score: goals or points, games and sets, tennis points."""
        return (self.score, self.sets, self.points)


@dataclass(frozen=True)
class Reading:
    """A parsed scoreboard and which OCR lines it came from (to crop the next look)."""

    board: Scoreboard
    line_indices: tuple[int, ...]


def _clean(text: str) -> str:
    text = text.replace("\u2019", "'").replace("|", " ")
    text = re.sub(r"(?<=\d) *[:;] *(?=\d{2}\b)", ":", text)
    return re.sub(r"\s+", " ", text).strip()


def detect_sport(lines: Sequence[str]) -> str | None:
    """The sport a scoreboard belongs to, from its text alone; None when it does not say."""
    reading = parse_scoreboard(lines)
    return reading.board.sport if reading is not None else None


def parse_scoreboard(lines: Sequence[str], sport: str | None = None) -> Reading | None:
    """The first scoreboard in OCR `lines`, optionally only of the given sport."""
    cleaned = [_clean(line) for line in lines]
    order = [sport] if sport in SPORTS else ["tennis", "basketball", "football"]
    for name in order:
        reading = _PARSERS[name](cleaned, sport is not None)
        if reading is not None:
            return reading
    return None


def _football(lines: Sequence[str], told: bool) -> Reading | None:
    for i, line in enumerate(lines):
        m = _FOOTBALL.search(line)
        if m is None:
            continue
        clock, period = m.group("clock"), m.group("period")
        if not told and clock is None and period is None:
            continue  # "A 1-0 B" alone could be anything
        if clock is not None and int(re.split(r"[:.+]", clock)[0]) > 130:
            continue
        board = Scoreboard(
            sport="football",
            teams=(m.group("home"), m.group("away")),
            score=(int(m.group("a")), int(m.group("b"))),
            clock=clock.replace(".", ":") if clock else None,
            period=period,
        )
        return Reading(board, (i,))
    return None


def _basketball(lines: Sequence[str], told: bool) -> Reading | None:
    for i, line in enumerate(lines):
        m = _BASKETBALL.search(line)
        if m is None:
            continue
        period, clock, shot = m.group("period"), m.group("clock"), m.group("shot")
        # Without a quarter or a shot clock, two names and two numbers are not enough.
        if not told and period is None and shot is None:
            continue
        board = Scoreboard(
            sport="basketball",
            teams=(m.group("home"), m.group("away")),
            score=(int(m.group("a")), int(m.group("b"))),
            clock=clock.replace(".", ":") if clock else None,
            period=_quarter(period) if period else None,
            shot_clock=int(shot) if shot else None,
        )
        return Reading(board, (i,))
    return None


def _quarter(period: str) -> str:
    if period.startswith("OT"):
        return period
    digit = next(c for c in period if c.isdigit())
    return f"Q{digit}"


def _tennis(lines: Sequence[str], told: bool) -> Reading | None:
    rows: list[tuple[int, str, list[str]]] = []
    for i, line in enumerate(lines):
        m = _TENNIS_ROW.match(line)
        if m is not None:
            rows.append((i, m.group("name"), m.group("cells").split()))
    for (i, name_a, a), (j, name_b, b) in zip(rows, rows[1:], strict=False):
        if j != i + 1 or len(a) != len(b) or len(a) < 2:
            continue
        board = _tennis_board(name_a, a, name_b, b)
        if board is not None:
            return Reading(board, (i, j))
    return None


def _tennis_board(name_a: str, a: list[str], name_b: str, b: list[str]) -> Scoreboard | None:
    last = (a[-1].upper(), b[-1].upper())
    has_points = all(p in _POINTS for p in last) and (any(p != "0" for p in last) or len(a) >= 3)
    cells = zip(a[:-1], b[:-1], strict=True) if has_points else zip(a, b, strict=True)
    games_cells = list(cells)
    if not games_cells or len(games_cells) > 5:
        return None
    try:
        sets = tuple((int(x), int(y)) for x, y in games_cells)
    except ValueError:
        return None
    if any(x > 7 or y > 7 for x, y in sets):
        return None
    won = [0, 0]
    for i, (x, y) in enumerate(sets):
        if i < len(sets) - 1 or set_finished((x, y)):
            won[0 if x > y else 1] += 1
    points = (_point(last[0]), _point(last[1])) if has_points else None
    return Scoreboard(
        sport="tennis", teams=(name_a, name_b), score=(won[0], won[1]), sets=sets, points=points
    )


def _point(cell: str) -> str:
    return "AD" if cell in ("A", "AD") else cell


_PARSERS = {"football": _football, "basketball": _basketball, "tennis": _tennis}


def set_finished(games: tuple[int, int]) -> bool:
    hi, lo = max(games), min(games)
    return (hi >= 6 and hi - lo >= 2) or hi == 7
