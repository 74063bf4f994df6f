"""The bundled rules knowledge base: short, cited summaries per sport (rules.json).

The summaries are our own words, kept short enough to speak; each names the
rule book and the law or article it summarises, and that citation travels in
the `explainer.answer` event. Keywords include a few words the speech
recogniser hears instead of the right one ("outside" for "offside"); the sport
being watched decides between entries of different sports.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

RULES_FILE = Path(__file__).with_name("rules.json")


@dataclass(frozen=True)
class Rule:
    sport: str
    topic: str
    keywords: tuple[str, ...]
    text: str
    source: str


def normalize(text: str) -> str:
    """Lower case, words only, single spaces: "Tie-break?" -> "tie break"."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("'", "")))


@cache
def load_rules() -> tuple[Rule, ...]:
    data = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    return tuple(
        Rule(
            sport=entry["sport"],
            topic=entry["topic"],
            keywords=tuple(entry["keywords"]),
            text=entry["text"],
            source=entry["source"],
        )
        for entry in data["rules"]
    )


def _matches(keyword: str, words: str, compact: str) -> int:
    """How strongly `keyword` appears in the question: its length in letters, or 0."""
    key = normalize(keyword)
    if not key:
        return 0
    if re.search(rf"\b{re.escape(key)}\b", words):
        return len(key)
    # Spoken compounds come out of the recogniser either way: "tiebreak" / "tie break".
    key_compact = key.replace(" ", "")
    if len(key_compact) >= 5 and key_compact in compact:
        return len(key_compact)
    return 0


def find_rule(question: str, sport: str | None) -> Rule | None:
    """The entry that best answers `question`, from `sport`'s rules first (all when None).

    The longest matching keyword wins, so "double fault" beats "fault" and "shot
    clock" beats "clock"; another sport's entry is used only when the current
    sport has none that matches.
    """
    words = normalize(question)
    compact = words.replace(" ", "")
    best: tuple[int, int, Rule] | None = None
    for rule in load_rules():
        strength = max((_matches(k, words, compact) for k in rule.keywords), default=0)
        if strength == 0:
            continue
        own = 1 if sport is None or rule.sport == sport else 0
        if best is None or (own, strength) > (best[0], best[1]):
            best = (own, strength, rule)
    return best[2] if best is not None else None


def vocabulary(sport: str | None) -> str:
    """The rules' topics as words to listen for ("offside", "tie-break": Whisper otherwise
    hears common words, "outside", "library")."""
    rules = [rule for rule in load_rules() if sport in (None, rule.sport)]
    sports = sorted({rule.sport for rule in rules})
    topics = ", ".join(dict.fromkeys(rule.topic for rule in rules))
    return f"Questions about {' and '.join(sports)}: {topics}."
