"""What the explainer has seen of the match: scoreboard readings in, observations out.

A reading changes what the explainer believes only once the next reading
agrees (one OCR slip must not score a goal). The clock is taken from every
reading of the same match, since it changes all the time; it is reported
when its minute or the period changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from explainer.scoreboard import Scoreboard, set_finished

PERIOD_NAMES = {
    "1H": "the first half",
    "1ST": "the first half",
    "2H": "the second half",
    "2ND": "the second half",
    "HT": "half time",
    "FT": "full time",
    "ET": "extra time",
    "ET1": "the first period of extra time",
    "ET2": "the second period of extra time",
    "AET": "the end of extra time",
    "Q1": "the first quarter",
    "Q2": "the second quarter",
    "Q3": "the third quarter",
    "Q4": "the fourth quarter",
    "OT": "overtime",
}
_NUMBER_WORDS = ("love", "one", "two", "three", "four", "five")


@dataclass(frozen=True)
class Observation:
    kind: str
    """"sport", "score", "clock" or "period"."""
    text: str
    board: Scoreboard
    at_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_event(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "kind": self.kind,
            "sport": self.board.sport,
            "scoreboard": self.board.as_event(),
            "at_s": round(self.at_s, 2),
            **self.extra,
        }


def period_name(period: str | None) -> str | None:
    return PERIOD_NAMES.get(period.upper()) if period else None


def score_sentence(board: Scoreboard) -> str:
    a, b = board.teams
    if board.sport != "tennis":
        return f"{a} {board.score[0]}, {b} {board.score[1]}"
    parts = []
    won = board.score
    if won != (0, 0):
        leader = a if won[0] > won[1] else b
        if won[0] == won[1]:
            parts.append("one set all" if won[0] == 1 else f"{won[0]} sets all")
        else:
            hi, lo = max(won), min(won)
            sets = "set" if hi == 1 else "sets"
            parts.append(f"{leader} leads by {_words(hi)} {sets} to {_words(lo)}")
    games = board.games
    if games is not None and not set_finished(games):
        n = len(board.sets)
        parts.append(f"in set {n} it is {a} {games[0]} games, {b} {games[1]}")
    if board.points is not None:
        parts.append(f"{board.points[0]}-{board.points[1]} in the current game")
    return "; ".join(parts) or f"{a} against {b}, no score yet"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _words(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def clock_sentence(board: Scoreboard) -> str | None:
    """How long has been played or is left, as the scoreboard says."""
    period = period_name(board.period)
    if board.clock is None:
        return f"It is {period}." if period else None
    where = f" in {period}" if period and board.period not in ("HT", "FT", "AET") else ""
    if board.sport == "football":
        minutes = board.clock_minutes or 0.0
        text = f"The clock shows {board.clock}{where}"
        end = 45 if board.period in ("1H", "1ST") else 90 if board.period in ("2H", "2ND") else None
        if end is not None and minutes < end:
            left = max(1, math.ceil(end - minutes))
            text += f", about {left} minutes to go before added time"
        return text + "."
    if board.sport == "basketball":
        text = f"{board.clock} left{where}"
        if board.shot_clock is not None:
            text += f", with {board.shot_clock} on the shot clock"
        return _cap(text) + "."
    return f"The clock shows {board.clock}."


class MatchState:
    """Confirmed scoreboard, clock and the changes seen so far."""

    def __init__(self) -> None:
        self.board: Scoreboard | None = None
        self.history: list[Observation] = []
        self._candidate: Scoreboard | None = None
        self._reported_minute: tuple[str | None, int] | None = None

    @property
    def sport(self) -> str | None:
        return self.board.sport if self.board is not None else None

    @property
    def settled(self) -> bool:
        """No reading is waiting for a second one to confirm it."""
        return self._candidate is None

    @property
    def last_score_change(self) -> Observation | None:
        return next(
            (o for o in reversed(self.history) if o.kind == "score" and "scorer" in o.extra), None
        )

    def push(self, board: Scoreboard, at_s: float) -> list[Observation]:
        """One scoreboard reading; the observations it confirms, in order."""
        out: list[Observation] = []
        old = self.board
        if old is not None and _same_state(old, board):
            self.board = board  # the clock moved on
            self._candidate = None
        elif self._candidate is not None and _same_state(self._candidate, board):
            self._candidate = None
            self.board = board
            out.extend(self._changes(old, board, at_s))
        else:
            self._candidate = board
            return out
        out.extend(self._clock(old, board, at_s))
        self.history.extend(out)
        return out

    def _changes(self, old: Scoreboard | None, new: Scoreboard, at_s: float) -> list[Observation]:
        out = []
        if old is None or old.sport != new.sport:
            a, b = new.teams
            text = f"This looks like {new.sport}: {a} against {b}."
            out.append(Observation("sport", text, new, at_s))
        if old is None or old.teams != new.teams:
            out.append(Observation("score", f"The score is {score_sentence(new)}.", new, at_s))
        elif old.score_key() != new.score_key():
            out.append(_score_change(old, new, at_s))
        if old is not None and old.teams == new.teams and old.period != new.period and new.period:
            name = period_name(new.period) or new.period
            out.append(Observation("period", f"Now {name}.", new, at_s))
        return out

    def _clock(self, old: Scoreboard | None, new: Scoreboard, at_s: float) -> list[Observation]:
        minutes = new.clock_minutes
        if minutes is None:
            return []
        key = (new.period, math.floor(minutes))
        if key == self._reported_minute:
            return []
        self._reported_minute = key
        text = clock_sentence(new) or f"The clock shows {new.clock}."
        return [Observation("clock", text, new, at_s)]


def _same_state(a: Scoreboard, b: Scoreboard) -> bool:
    return (
        a.sport == b.sport
        and a.teams == b.teams
        and a.score_key() == b.score_key()
        and a.period == b.period
    )


def _score_change(old: Scoreboard, new: Scoreboard, at_s: float) -> Observation:
    a, b = new.teams
    extra: dict[str, Any] = {}
    if new.sport == "tennis":
        text = _tennis_change(old, new)
        if new.score != old.score or new.sets != old.sets:
            extra["scorer"] = _game_winner(old, new)
    else:
        gained = (new.score[0] - old.score[0], new.score[1] - old.score[1])
        if gained[0] > 0 and gained[1] <= 0 or gained[1] > 0 and gained[0] <= 0:
            side = 0 if gained[0] > 0 else 1
            scorer = new.teams[side]
            extra = {"scorer": scorer, "points": gained[side]}
            if new.sport == "football":
                text = f"Goal for {scorer}! {score_sentence(new)}."
            else:
                text = f"{gained[side]} for {scorer}: {score_sentence(new)}."
        else:
            text = f"The score changed: {score_sentence(new)}."
    if new.clock:
        extra["clock"] = new.clock
    return Observation("score", text, new, at_s, extra)


def _game_winner(old: Scoreboard, new: Scoreboard) -> str:
    """Who won the game (or set) that just ended: whose games or sets went up."""
    if len(new.sets) > len(old.sets) and old.sets:
        last = new.sets[len(old.sets) - 1]
        return new.teams[0] if last[0] > last[1] else new.teams[1]
    og, ng = old.games or (0, 0), new.games or (0, 0)
    return new.teams[0] if ng[0] > og[0] else new.teams[1]


def _tennis_change(old: Scoreboard, new: Scoreboard) -> str:
    if new.sets != old.sets:
        who = _game_winner(old, new)
        finished = len(new.sets) > len(old.sets) or (new.games and set_finished(new.games))
        what = "the set" if finished else "the game"
        return f"{who} wins {what}. {_cap(score_sentence(new))}."
    return f"Point: {score_sentence(new)}."
