"""Answering the fan: questions about the match from observations, rules from the
knowledge base, and a plain "I can't tell" for the rest. Rules-based, no language model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from explainer.match import MatchState, clock_sentence, period_name, score_sentence
from explainer.rules import find_rule, normalize

NOTHING_SEEN = (
    "I haven't been able to read a scoreboard yet, so I can't tell {what}. "
    "Point the camera at the screen so the score graphic is in view."
)
UNKNOWN = (
    "I can't tell that from what I've seen. You can ask me the score, how long is left, "
    "who scored, or about a rule, like offside or a tie-break."
)

_SCORE = re.compile(r"\b(score|scores|winning|leading|ahead|losing|result|who leads)\b")
_CLOCK = re.compile(
    r"\b(how long|time left|time is it|how much time|what minute|which minute|clock|"
    r"what quarter|which quarter|what half|which half|what set|remaining|to go)\b"
)
_SCORER = re.compile(
    r"\b(who scored|scored|what happened|what just happened|last goal|who got|who won the)\b"
)


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    kind: str
    """"observation", "rules" or "unknown"."""
    source: str | None = None
    topic: str | None = None

    def as_event(self, sport: str | None) -> dict[str, Any]:
        return {
            "question": self.question,
            "text": self.text,
            "kind": self.kind,
            "source": self.source,
            "topic": self.topic,
            "sport": sport,
        }


def classify(question: str) -> str:
    """ "scorer", "clock", "score", "rules" or "unknown"."""
    words = normalize(question).replace("whos", "who is").replace("whats", "what is")
    if _SCORER.search(words) and "score" not in words.split()[-1:]:
        return "scorer"
    if _SCORE.search(words):
        return "score"
    if _CLOCK.search(words):
        return "clock"
    return "rules"


def answer(question: str, state: MatchState, sport: str | None) -> Answer:
    """Answer one question from what `state` has seen, or from the rules of `sport`."""
    intent = classify(question)
    board = state.board
    if intent == "rules" or (intent == "clock" and find_rule(question, sport) is not None):
        rule = find_rule(question, sport or state.sport)
        if rule is not None:
            intro = "" if rule.sport == (sport or state.sport) else f"That's a {rule.sport} rule. "
            return Answer(question, intro + rule.text, "rules", rule.source, rule.topic)
        if intent == "rules":
            return Answer(question, UNKNOWN, "unknown")
    if board is None:
        what = {"score": "the score", "clock": "the time", "scorer": "who scored"}[intent]
        return Answer(question, NOTHING_SEEN.format(what=what), "unknown")
    if intent == "score":
        return Answer(question, _score_answer(state), "observation")
    if intent == "clock":
        text = clock_sentence(board)
        if text is None:
            text = (
                f"There's no clock in {board.sport}. " if board.sport == "tennis" else ""
            ) + f"The score is {score_sentence(board)}."
            if board.sport != "tennis":
                text = "I can't see a clock on the scoreboard. " + text
        return Answer(question, text, "observation")
    last = state.last_score_change
    if last is None:
        return Answer(
            question,
            "I haven't seen the score change since I started watching, so I can't tell who "
            f"scored. The score is {score_sentence(board)}.",
            "observation",
        )
    when = f" at {last.extra['clock']}" if "clock" in last.extra else ""
    period = period_name(last.board.period)
    if period and when:
        when += f" in {period}"
    return Answer(
        question, f"{last.text} That was{when or ' the last change I saw'}.", "observation"
    )


def _score_answer(state: MatchState) -> str:
    board = state.board
    assert board is not None
    text = f"The score is {score_sentence(board)}."
    if board.sport == "tennis":
        return text
    (a, b), (x, y) = board.teams, board.score
    text += " It's level." if x == y else f" {a if x > y else b} lead by {abs(x - y)}."
    if board.clock:
        period = period_name(board.period)
        text += f" The clock shows {board.clock}" + (f", {period}." if period else ".")
    return text
