"""Incremental recognition over a sliding window of the stream.

The window starts a little before the first word not committed yet and ends at the
newest audio. Every `step_s` of new speech, Whisper hears the whole window again
(in the model's worker threads: the caller awaits, the event loop never blocks);
the words two consecutive hypotheses agree on are committed (`agreement.py`), and
the committed audio is cut off the window's start, so a hypothesis costs what a
few seconds of audio cost, however long the speaker goes on. A pause makes the
whole hypothesis final at once: nobody waits for a second opinion on a finished
clause.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from model.base import OmniSession
from model.types import INPUT_SAMPLE_RATE
from translate.simultaneous.agreement import LocalAgreement
from translate.simultaneous.types import HeardWord, SimultaneousSettings
from translate.simultaneous.voice import VoiceMeter

logger = logging.getLogger(__name__)

#: Words that start this long after a pause began are Whisper hearing the silence.
PAUSE_MARGIN_S = 0.3
#: Voice left out after a hypothesis's last word that makes it a truncated one.
TRUNCATED_S = 0.6
#: Truncated hypotheses ignored in a row before one is taken anyway (progress first).
MAX_IGNORED = 2
#: How far Whisper's word timings may be off when a pause is picked to cut the window in.
BOUNDARY_SLACK_S = 0.3
#: The shortest pause the window is cut in.
QUIET_CUT_S = 0.12
#: Silence kept before new speech when a silent window is cut off.
KEEP_SILENCE_S = 0.3


@dataclass(frozen=True)
class Heard:
    """What one hypothesis settled."""

    words: list[HeardWord]
    """Words committed by it, in order."""
    pause_at_s: float | None
    """The speaker stopped here (at least `pause_s` ago): the open segment can close."""
    upcoming: HeardWord | None
    """The first word still in doubt, as heard now."""
    window_s: float
    """Audio it heard."""
    cost_s: float
    """How long it took."""


class StreamingRecognizer:
    def __init__(
        self,
        session: OmniSession,
        languages: Sequence[str],
        settings: SimultaneousSettings,
        vocabulary: str = "",
    ) -> None:
        self.session = session
        self.languages = tuple(languages)
        self.settings = settings
        self.vocabulary = vocabulary
        self.agreement = LocalAgreement()
        self.meter = VoiceMeter()
        self._chunks: list[NDArray[np.float32]] = []
        self._buffer = np.zeros(0, dtype=np.float32)
        self.buffer_start_s = 0.0
        """Stream time of the window's first sample."""
        self.stream_s = 0.0
        """Audio fed so far (seconds)."""
        self.heard_until_s = 0.0
        """End of the window the last hypothesis heard."""
        self._ignored = 0
        self.language: str | None = None
        """The language of the words committed last: the speaker's, as far as is known."""
        self._turn_open = True
        """Since the last long pause nothing was committed: the language may change."""
        self.hypotheses = 0
        self.busy_s = 0.0

    # -- audio in --------------------------------------------------------------------
    def feed(self, chunk: NDArray[np.float32]) -> None:
        self._chunks.append(chunk)
        self.meter.push(chunk)
        self.stream_s += len(chunk) / INPUT_SAMPLE_RATE

    def _window(self) -> NDArray[np.float32]:
        if self._chunks:
            self._buffer = np.concatenate([self._buffer, *self._chunks])
            self._chunks = []
        return self._buffer

    # -- when to hear ----------------------------------------------------------------
    def pending(self) -> bool:
        """Is there speech not committed yet (words in doubt, or voice no hypothesis heard)?"""
        since = max(self.buffer_start_s, self.heard_until_s)
        return bool(self.agreement.tentative) or self.meter.voiced_between(since, self.stream_s)

    def due(self) -> bool:
        """Is a hypothesis worth running now?"""
        new_s = self.stream_s - self.heard_until_s
        if new_s <= 0 or not self.pending():
            return False
        # A pause that the last hypothesis did not hear whole: hearing it settles the clause.
        quiet = self.meter.silence_before(self.stream_s)
        if quiet >= self.settings.pause_s and self.stream_s - quiet < self.heard_until_s + (
            self.settings.pause_s
        ):
            return True
        if new_s < self.settings.step_s:
            return False
        # The first words of an utterance: Whisper makes little of less than a second.
        since = max(self.buffer_start_s, self.agreement.committed_end_s)
        fresh_voice = self.meter.voiced_seconds(since, self.stream_s)
        return bool(self.agreement.tentative) or fresh_voice >= self.settings.min_voice_s

    def skip_silence(self) -> None:
        """Nothing to hear: let the window forget the silence (keeping a little of it)."""
        self._note_turns()
        if not self.pending():
            self._cut(self.stream_s - KEEP_SILENCE_S)
            self.heard_until_s = max(self.heard_until_s, self.buffer_start_s)

    def skip_failed(self) -> None:
        """A pass failed: its audio is given up (the next pass starts after it)."""
        self.heard_until_s = self.stream_s
        self._cut(self.stream_s - KEEP_SILENCE_S)
        self.agreement.flush([])

    def _note_turns(self) -> None:
        """A long pause may hand the floor to someone speaking another language."""
        if self.meter.silence_before(self.stream_s) >= self.settings.turn_pause_s:
            self._turn_open = True

    # -- hearing ---------------------------------------------------------------------
    async def hear(self, *, final: bool = False) -> Heard:
        """One hypothesis over the window; `final`: the speaker is done (or stalled), so
        all of it is committed."""
        settings = self.settings
        window = self._window()
        start = self.buffer_start_s
        length = min(len(window), int(settings.max_window_s * INPUT_SAMPLE_RATE))
        end = start + length / INPUT_SAMPLE_RATE
        audio = window[:length]
        self._note_turns()
        # Whisper's language detection on a second of speech is a guess (espeak's Spanish
        # is "English" half the time): once the speaker's language is known, a short window
        # is heard in it, and only a longer one may say the speaker changed language.
        trusted = self.meter.voiced_seconds(start, end) >= settings.detect_s
        known = self.language
        open_turn = known is None or self._turn_open
        languages = self.languages if known is None or open_turn or trusted else (known,)
        began = time.perf_counter()
        transcript = await self.session.transcribe_words(audio, languages, prompt=self._prompt())
        cost = time.perf_counter() - began
        self.hypotheses += 1
        self.busy_s += cost
        words = [
            HeardWord(w.text, start + w.start_s, start + w.end_s, transcript.language)
            for w in transcript.words
        ]
        quiet = self.meter.silence_before(end)
        pause_at = end - quiet if quiet >= settings.pause_s else None
        full = length / INPUT_SAMPLE_RATE >= settings.max_window_s - 1e-6
        if self._truncated(words, start, end) and self._ignored < MAX_IGNORED:
            # Whisper stopped early (it does, on some windows): this hypothesis says nothing
            # about the words it left out; wait for the next one rather than lose them.
            self._ignored += 1
            self.heard_until_s = end
            return Heard([], None, None, length / INPUT_SAMPLE_RATE, cost)
        self._ignored = 0
        settled = pause_at is not None or (final and end >= self.stream_s - 1e-6)
        if settled:
            if pause_at is not None:
                words = [w for w in words if w.start_s < pause_at + PAUSE_MARGIN_S]
            committed = self.agreement.flush(words, start)
        elif open_turn and not trusted:
            # A new speaker (or the first): nothing is final before the language is sure.
            self.agreement.observe(words, start)
            committed = []
        else:
            committed = self.agreement.insert(words, start)
            # Words heard long enough ago are final even if the passes still disagree on
            # them: the speaker moved on, and the listener should not wait any longer.
            committed += self.agreement.commit_until(words, end - settings.force_s, start)
        if committed:
            self.language = committed[-1].language
            self._turn_open = False
        self.heard_until_s = end
        if full:
            # Whisper could not settle a whole window: give up its oldest half rather than
            # hear the same audio for ever (what it did not commit from there is lost).
            self._cut(min(end - settings.max_window_s / 2, self._safe_cut()))
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "heard %.2f-%.2f (%.0f ms, %s, stream at %.2f)%s: %s | committed: %s | tentative: %s",
                start,
                end,
                1000 * cost,
                transcript.language,
                self.stream_s,
                f" pause at {pause_at:.2f}" if pause_at is not None else "",
                " ".join(f"{w.text}@{w.start_s:.2f}" for w in words),
                " ".join(w.text for w in committed),
                " ".join(w.text for w in self.agreement.tentative),
            )
        self._trim()
        tentative = self.agreement.tentative
        upcoming = tentative[0] if tentative else None
        return Heard(committed, pause_at, upcoming, length / INPUT_SAMPLE_RATE, cost)

    def _truncated(self, words: Sequence[HeardWord], start: float, end: float) -> bool:
        """Did the hypothesis leave out voiced audio after its last word?"""
        last = words[-1].end_s if words else start
        return self.meter.voiced_seconds(last + 0.3, end - 0.2) >= TRUNCATED_S

    def _prompt(self) -> str:
        """The vocabulary, and (if `prompt_chars`) the committed words before the window as
        Whisper's "previous text"; never words inside it: Whisper would skip them."""
        if self.settings.prompt_chars <= 0:
            return self.vocabulary
        before = [w.text for w in self.agreement.committed if w.end_s <= self.buffer_start_s + 0.05]
        recent = " ".join(before)[-self.settings.prompt_chars :]
        recent = recent.split(" ", 1)[1] if " " in recent and len(recent) >= 20 else recent
        return f"{self.vocabulary} {recent}".strip()

    def _safe_cut(self) -> float:
        """The latest cut that loses no word in doubt."""
        tentative = self.agreement.tentative
        return tentative[0].start_s if tentative else self.heard_until_s

    def _trim(self) -> None:
        """Cut committed audio off the window's start, at a pause if there is one (Whisper
        hears a window that starts in a pause far better than one that starts mid-word),
        else at a word boundary `trim_s` before the words in doubt once more than
        `context_s + trim_s` of committed speech is in the window;
        and silence nobody needs to hear again."""
        tentative = self.agreement.tentative
        if not tentative and not self.pending():
            self._cut(min(self.stream_s - KEEP_SILENCE_S, self.heard_until_s))
            return
        slack = BOUNDARY_SLACK_S
        if tentative:
            # Any pause before the first word in doubt (the voice after it may start a little
            # after Whisper says the word does).
            boundary = tentative[0].start_s
            quiet = self.meter.last_quiet(
                self.buffer_start_s, self.heard_until_s, QUIET_CUT_S, ends_by=boundary + slack
            )
        else:
            # The pause right after the last committed word (Whisper ends words early),
            # not a later one: voice after it that no hypothesis put into words is kept.
            boundary = min(self.agreement.committed_end_s, self.heard_until_s)
            quiet = self.meter.last_quiet(
                self.buffer_start_s, self.heard_until_s, QUIET_CUT_S, begins_by=boundary + slack
            )
        if quiet is not None:
            self._cut(quiet)
        elif boundary - self.buffer_start_s > self.settings.context_s + self.settings.trim_s:
            keep_from = boundary - self.settings.trim_s
            ends = [w.end_s for w in self.agreement.committed if w.end_s <= keep_from]
            if ends:
                self._cut(max(ends))

    def _cut(self, at_s: float) -> None:
        drop = int((at_s - self.buffer_start_s) * INPUT_SAMPLE_RATE)
        if drop <= 0:
            return
        window = self._window()
        drop = min(drop, len(window))
        self._buffer = window[drop:].copy()
        self.buffer_start_s += drop / INPUT_SAMPLE_RATE
        self.meter.forget_before(self.buffer_start_s - 1.0)

    def reset_languages(self, languages: Sequence[str]) -> None:
        self.languages = tuple(languages)
        if self.language not in self.languages:
            self.language = None
