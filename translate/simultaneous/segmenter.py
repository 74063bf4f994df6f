"""Committed words into segments: the pieces translated and voiced one at a time.

A segment closes where an interpreter would start speaking: at the end of a
sentence, at a clause mark once it has a few words, at a pause, when the language
changes, or when it grows too long. A long run is cut before a function word ("the",
"and", "que", "de", ...), which starts a new phrase in English and Spanish, so a
rule-based translator never sees a noun torn from its adjective.
"""

from __future__ import annotations

import dataclasses

from translate.simultaneous.agreement import normalized
from translate.simultaneous.types import HeardWord, Segment, SimultaneousSettings

SENTENCE_END = (".", "!", "?", "…", "。", "！", "？")
CLAUSE_END = (",", ";", ":", "，", "；", "：")

_EN = (
    "the a an and but or so because that which who whom whose when while if "
    "to of in on at for with from by about into after before until than then where "
    "i you he she we they it this these those my your his her our their"
)
_ES = (
    "el la los las un una unos unas y e o u pero porque que cuando mientras si "
    "a de del al en con por para sin sobre desde hasta entre como donde "
    "yo tú él ella nosotros nosotras ellos ellas este esta estos estas mi mis tu tus su sus "
    "nuestro nuestra nuestros nuestras"
)
#: Words a new phrase starts with.
PHRASE_STARTS: dict[str, frozenset[str]] = {
    "en": frozenset(_EN.split()),
    "es": frozenset(_ES.split()),
}
#: ... of which these belong with the noun before them ("a cup | of coffee" is translated
#: "una copa" + "de café", "a cup of coffee" "una taza de café").
_BOUND = {"en": frozenset({"of"}), "es": frozenset({"de", "del"})}
#: Where a segment may be cut: a cut before one of them keeps phrases whole.
CUT_BEFORE: dict[str, frozenset[str]] = {
    language: words - _BOUND.get(language, frozenset()) for language, words in PHRASE_STARTS.items()
}


def in_sentence_case(word: HeardWord, previous: HeardWord | None) -> HeardWord:
    """`word` with the capital Whisper gave it for starting a window taken off again.

    Whisper writes the first word of everything it hears with a capital, so a clause
    that goes on across a cut of the window comes out as "a small village In the north"
    (and is voiced and shown so, and a translator keeps the capital). After a word that
    ends no sentence, a phrase's first word ("the", "in", "que", "de", ... never a name
    and never "I") is written small again."""
    if previous is None or previous.language != word.language:
        return word
    if previous.text.endswith(SENTENCE_END):
        return word
    text = word.text
    first = next((i for i, c in enumerate(text) if c.isalpha()), None)
    if first is None or not text[first].isupper() or text[first + 1 :] != text[first + 1 :].lower():
        return word
    bare = normalized(text)
    if bare == "i" or bare not in PHRASE_STARTS.get(word.language, frozenset()):
        return word
    return dataclasses.replace(word, text=text[:first] + text[first].lower() + text[first + 1 :])


class Segmenter:
    def __init__(self, settings: SimultaneousSettings) -> None:
        self.settings = settings
        self._open: list[HeardWord] = []
        self._count = 0

    @property
    def open_words(self) -> list[HeardWord]:
        return list(self._open)

    def push(self, word: HeardWord) -> list[Segment]:
        """A committed word; returns the segments it closes."""
        closed: list[Segment] = []
        if self._open:
            if word.language != self._open[-1].language:
                closed += self._close(len(self._open), "language")
            elif word.start_s - self._open[-1].end_s >= self.settings.gap_s:
                closed += self._close(len(self._open), "gap")
        self._open.append(word)
        closed += self._after(word)
        return closed

    def peek(self, upcoming: HeardWord | None) -> list[Segment]:
        """The first word not committed yet, as the recogniser hears it now: if it starts a
        new phrase (or comes after a gap), the open segment need not wait for it."""
        s = self.settings
        if upcoming is None or len(self._open) < s.min_words:
            return []
        last = self._open[-1]
        if upcoming.language != last.language:
            return []
        if upcoming.start_s - last.end_s >= s.gap_s:
            return self._close(len(self._open), "gap")
        span = last.end_s - self._open[0].start_s
        starts = CUT_BEFORE.get(last.language, frozenset())
        if span >= s.min_span_s and normalized(upcoming.text) in starts:
            return self._close(len(self._open), "phrase")
        return []

    def pause(self, at_s: float) -> list[Segment]:
        """The speaker stopped at `at_s`: what was said before it is a segment."""
        if self._open and self._open[-1].end_s <= at_s + 0.5:
            return self._close(len(self._open), "pause")
        return []

    def flush(self) -> list[Segment]:
        """The stream ended: whatever is open is a segment."""
        return self._close(len(self._open), "end") if self._open else []

    def _after(self, word: HeardWord) -> list[Segment]:
        s = self.settings
        n = len(self._open)
        if word.text.endswith(SENTENCE_END):
            return self._close(n, "sentence")
        if word.text.endswith(CLAUSE_END) and n >= s.min_words:
            return self._close(n, "clause")
        span = word.end_s - self._open[0].start_s
        if n >= s.max_words or (span >= s.max_span_s and n >= s.min_words):
            return self._close(self._cut_point(), "length")
        return []

    def _cut_point(self) -> int:
        """How many open words to close: up to the last phrase start (the first of a run of
        them: "and they", "in the") with at least `min_words` before it; all if none."""
        words = self._open
        starts = CUT_BEFORE.get(words[0].language, frozenset())
        opens = [normalized(w.text) in starts for w in words]
        for k in range(len(words) - 1, self.settings.min_words - 1, -1):
            if opens[k] and not opens[k - 1]:
                return k
        return len(words)

    def _close(self, count: int, reason: str) -> list[Segment]:
        words, self._open = self._open[:count], self._open[count:]
        if not words:
            return []
        segment = Segment(self._count, tuple(words), words[0].language, reason)
        self._count += 1
        return [segment]
