"""What every step plan is built from: drafts of steps, and the plan that collects them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tutor.speech import STEP_PHRASES, say_numbers, speak_math


class PlanError(Exception):
    """No step plan the CAS could verify."""


@dataclass
class Draft:
    text: str
    spoken: str
    math: str
    hint: str
    move: str


def draft(key: str, frags: Sequence[str], math: str) -> Draft:
    text, hint, move = STEP_PHRASES[key]
    said = [speak_math(f) for f in frags]
    spoken, hint = (say_numbers(s.format(*said)) for s in (text, hint))
    return Draft(
        text.format(*frags), spoken, math, hint[:1].upper() + hint[1:], move.format(*frags)
    )


class Plan:
    """Drafts in order; a move that leaves the state's text unchanged is not a step."""

    def __init__(self, start: str) -> None:
        self.drafts: list[Draft] = []
        self.start = start

    @property
    def last(self) -> str:
        return self.drafts[-1].math if self.drafts else self.start

    def add(self, key: str, frags: Sequence[str], math: str) -> None:
        if math != self.last:
            self.drafts.append(draft(key, frags, math))

    def extend(self, other: Plan) -> None:
        self.drafts.extend(other.drafts)


WORD_STATES = ("no solution", "no real solution", "all real numbers")
FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "="}
