"""Local agreement: a word is final once two consecutive hypotheses agree on it.

Whisper re-hears the whole window every time; the end of a hypothesis (the words
still being spoken) changes from one pass to the next, the start settles. Like
whisper_streaming's LocalAgreement-2, the longest common prefix of the last two
hypotheses (beyond what is already committed) is committed. Words are compared
without case and punctuation: "doctor." at the end of one window and "doctor," in
the next are the same word (the later spelling, which heard more, is kept).

A window starts with a little committed speech (context for Whisper). Which words of
a new hypothesis are that context is decided by the text first (the committed words
inside the window, matched at the hypothesis's start), since Whisper's timing of the
first word of a window is unreliable, and by the timings when the text does not match.
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Sequence

from translate.simultaneous.types import HeardWord

_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)
#: A re-heard committed word may start this much before the committed end (timings jitter).
TOLERANCE_S = 0.1
#: Longest run of committed words a new hypothesis may repeat at its start.
MAX_REPEAT = 5


_NUMBERS = {
    word: str(value)
    for value, words in enumerate(
        (
            "zero cero", "one uno una un", "two dos", "three tres", "four cuatro",
            "five cinco", "six seis", "seven siete", "eight ocho", "nine nueve", "ten diez",
            "eleven once", "twelve doce", "thirteen trece", "fourteen catorce",
            "fifteen quince", "sixteen dieciséis", "seventeen diecisiete",
            "eighteen dieciocho", "nineteen diecinueve", "twenty veinte",
        )
    )
    for word in words.split()
}  # fmt: skip


def normalized(word: str) -> str:
    """A word as hypotheses are compared: no case, no punctuation, small numbers as digits
    (Whisper writes "six" in one pass and "6" in the next)."""
    bare = _NOT_WORD.sub("", word.lower())
    return _NUMBERS.get(bare, bare)


class LocalAgreement:
    def __init__(self, tolerance_s: float = TOLERANCE_S) -> None:
        self.tolerance_s = tolerance_s
        self.committed_end_s = 0.0
        self._committed: deque[HeardWord] = deque(maxlen=64)
        self._tentative: list[HeardWord] = []

    @property
    def tentative(self) -> list[HeardWord]:
        """The previous hypothesis beyond what is committed (not final yet)."""
        return list(self._tentative)

    @property
    def committed(self) -> list[HeardWord]:
        """The most recent committed words (up to 64)."""
        return list(self._committed)

    def insert(self, hypothesis: Sequence[HeardWord], window_s: float = 0.0) -> list[HeardWord]:
        """A new hypothesis over a window starting at `window_s`; returns the words it
        commits."""
        fresh = self.fresh(hypothesis, window_s)
        agreed = 0
        for old, new in zip(self._tentative, fresh, strict=False):
            if normalized(old.text) != normalized(new.text):
                break
            agreed += 1
        committed, self._tentative = fresh[:agreed], fresh[agreed:]
        self._commit(committed)
        return committed

    def observe(self, hypothesis: Sequence[HeardWord], window_s: float = 0.0) -> None:
        """A hypothesis that may not commit anything yet (its language is not sure): it is
        only what the next one is compared with."""
        self._tentative = self.fresh(hypothesis, window_s)

    def flush(
        self, hypothesis: Sequence[HeardWord] | None = None, window_s: float = 0.0
    ) -> list[HeardWord]:
        """Commit all of `hypothesis` (or of the last one): the speaker paused or stopped."""
        committed = self.fresh(hypothesis, window_s) if hypothesis is not None else self._tentative
        self._tentative = []
        self._commit(committed)
        return committed

    def commit_until(
        self, hypothesis: Sequence[HeardWord], until_s: float, window_s: float = 0.0
    ) -> list[HeardWord]:
        """Commit the words of `hypothesis` that end by `until_s`, agreed or not (a window
        that is full and still unsettled must not grow any further)."""
        fresh = self.fresh(hypothesis, window_s)
        cut = 0
        while cut < len(fresh) and fresh[cut].end_s <= until_s:
            cut += 1
        committed, self._tentative = fresh[:cut], fresh[cut:]
        self._commit(committed)
        return committed

    def fresh(self, hypothesis: Sequence[HeardWord], window_s: float = 0.0) -> list[HeardWord]:
        """The words of a hypothesis that are not committed already."""
        context = [normalized(w.text) for w in self._committed if w.end_s > window_s + 0.05]
        if context:
            cut = _after_context(context, [normalized(w.text) for w in hypothesis])
            if cut is not None:
                return list(hypothesis[cut:])
        words = [w for w in hypothesis if w.start_s > self.committed_end_s - self.tolerance_s]
        recent = [normalized(w.text) for w in self._committed][-MAX_REPEAT:]
        if words and recent and words[0].start_s < self.committed_end_s + 1.0:
            # The window may still hold the end of what was committed: drop a repeat.
            for n in range(min(MAX_REPEAT, len(recent), len(words)), 0, -1):
                if recent[-n:] == [normalized(w.text) for w in words[:n]]:
                    return words[n:]
        return words

    def _commit(self, words: Sequence[HeardWord]) -> None:
        if not words:
            return
        self.committed_end_s = max(self.committed_end_s, words[-1].end_s)
        self._committed.extend(words)


def _after_context(context: list[str], heard: list[str]) -> int | None:
    """Where the committed `context` ends in `heard` (which starts with it, more or less):
    after the match that reaches the context's last word (or the one before it, when
    Whisper now hears the last one differently); None if nothing matches so."""
    matcher = difflib.SequenceMatcher(None, context, heard, autojunk=False)
    for block in matcher.get_matching_blocks():
        if not block.size or block.b > len(context) + 2:
            continue
        end = block.a + block.size
        if end == len(context):
            return block.b + block.size
        if end == len(context) - 1 and block.b + block.size < len(heard):
            return block.b + block.size + 1
    return None
