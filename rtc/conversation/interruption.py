"""When the user's voice interrupts the assistant's: pure logic, no audio and no clock.

Turn events and whether an answer is playing go in; what to do with the answer's
audio comes out. Silence first, decide later: the first voiced chunk holds the
answer's voice (HOLD), so the user never talks over it for one more frame; speech
that lasts long enough interrupts it (INTERRUPT: clear the audio, truncate the
conversation to what was heard, cancel the answer); speech that stops sooner is
only an interruption if it had words (CHECK_WORDS, then `words_checked`); a click
or a cough releases the answer where it stopped (RELEASE).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Action(Enum):
    NOTHING = "nothing"
    HOLD = "hold"
    """Pause the answer's audio, keeping what is queued."""
    RELEASE = "release"
    """Resume the answer's audio where it stopped."""
    INTERRUPT = "interrupt"
    """Clear the audio, truncate to what was played, cancel the answer."""
    CHECK_WORDS = "check_words"
    """Short speech over the answer: transcribe it, then call `words_checked`."""


@dataclass(frozen=True)
class Decision:
    action: Action
    suspected_at: float | None = None
    """For INTERRUPT: when the speech that caused it started (the barge-in's latency)."""


NOTHING = Decision(Action.NOTHING)


class InterruptionPolicy:
    """One conversation's barge-in state. `answering`: an answer owns the output now."""

    def __init__(self, *, interrupt_response: bool = True, min_interruption_ms: int = 400) -> None:
        self.interrupt_response = interrupt_response
        self.min_interruption_ms = min_interruption_ms
        self._suspected_at: float | None = None

    @property
    def suspected(self) -> bool:
        """Speech started over an answer and it is not decided yet whether it interrupts."""
        return self._suspected_at is not None

    def voice_onset(self, answering: bool) -> Decision:
        """A first voiced chunk: maybe speech, maybe a click. Enough to hold our voice."""
        if answering and not self.suspected and self.interrupt_response:
            return Decision(Action.HOLD)
        return NOTHING

    def voice_lost(self) -> Decision:
        """The voiced chunks stopped before they made speech."""
        return NOTHING if self.suspected else Decision(Action.RELEASE)

    def speech_started(self, answering: bool, now: float) -> Decision:
        if answering and self.interrupt_response:
            self._suspected_at = now
            return Decision(Action.HOLD)
        return NOTHING

    def speech_progress(self, speech_ms: float) -> Decision:
        """Speech goes on; long enough over an answer, it interrupts without waiting for words."""
        if self.suspected and speech_ms >= self.min_interruption_ms:
            return self._interrupt()
        return NOTHING

    def speech_stopped(self) -> Decision:
        return Decision(Action.CHECK_WORDS) if self.suspected else NOTHING

    def words_checked(self, has_words: bool) -> Decision:
        """What the short speech over the answer turned out to be."""
        if not self.suspected:
            return NOTHING  # decided meanwhile (the speech went on, or the answer ended)
        if has_words:
            return self._interrupt()
        self._suspected_at = None
        return Decision(Action.RELEASE)

    def _interrupt(self) -> Decision:
        started, self._suspected_at = self._suspected_at, None
        return Decision(Action.INTERRUPT, started)
