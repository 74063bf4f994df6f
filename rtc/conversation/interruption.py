"""When the user's voice interrupts the assistant's: pure logic, no audio and no clock.

Turn events and whether an answer is playing go in; what to do with the answer's
audio comes out. Silence first, decide later: the first voiced chunk holds the
answer's voice (HOLD), so the user never talks over it for one more frame. Then:

- Without backchannels (`server_vad`): speech that lasts `min_interruption_ms`
  interrupts (INTERRUPT: clear the audio, truncate the conversation to what was
  heard, cancel the answer); shorter speech interrupts only if it had words
  (CHECK_WORDS, then `words_checked`); a click or a cough releases the answer where
  it stopped (RELEASE).
- With backchannels (`semantic_vad`): a listener's "uh-huh", "yeah", "sí", "vale", a
  cough or a laugh is no interruption. At `min_interruption_ms` the words so far are
  checked (CHECK_WORDS while the speech goes on): "wait", "stop", a sentence
  interrupt at once; a backchannel plays the answer on (RELEASE), anything else keeps
  it held until the speech ends and its final words decide; speech past
  `max_backchannel_ms` interrupts whatever its words. Earlier, at `peek_ms`, the words
  so far are looked at (PEEK_WORDS) for one thing only: a backchannel's start ("yeah",
  "mm", "sí"). Speech whose words so far sound so is released at once, while it is
  still spoken and before its words are final (a backchannel is over before a
  recogniser could say what it was, and the answer should not wait for it to end); if
  the words checked later say otherwise, it is held again or interrupts, and if the
  speech goes on after a pause, it is held again. Nothing else is decided on a peek:
  the first 200 ms of "wait" may be heard as anything.
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
    PEEK_WORDS = "peek_words"
    """The first words of speech over the answer: transcribe them, call `words_peeked`."""


class Heard(Enum):
    """What speech over an answer turned out to be, from its words."""

    INTERRUPTION = "interruption"
    BACKCHANNEL = "backchannel"
    NON_SPEECH = "non_speech"
    ECHO = "echo"
    """The answer's own words, come back through the user's speaker."""


@dataclass(frozen=True)
class Decision:
    action: Action
    suspected_at: float | None = None
    """For INTERRUPT: when the speech that caused it started (the barge-in's latency)."""


NOTHING = Decision(Action.NOTHING)


class InterruptionPolicy:
    """One conversation's barge-in state. `answering`: an answer owns the output now."""

    def __init__(
        self,
        *,
        interrupt_response: bool = True,
        min_interruption_ms: int = 400,
        backchannels: bool = False,
        max_backchannel_ms: int = 1600,
        peek_ms: int = 192,
    ) -> None:
        self.interrupt_response = interrupt_response
        self.min_interruption_ms = min_interruption_ms
        self.backchannels = backchannels
        """Speech over an answer may be a listener's backchannel (checked by its words)."""
        self.max_backchannel_ms = max_backchannel_ms
        self.peek_ms = peek_ms
        self._suspected_at: float | None = None
        self._checked_early = False
        self._peeked = False
        self._sounds_like_backchannel = False
        self._released = False
        """Released on words that sounded like a backchannel, the final words to come."""

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
            self._checked_early = self._peeked = self._sounds_like_backchannel = False
            self._released = False
            return Decision(Action.HOLD)
        return NOTHING

    def speech_paused(self) -> Decision:
        """The speech over the answer paused: if its words so far sounded like a
        backchannel, the answer is released (if it was not already)."""
        if not self.suspected:
            return NOTHING
        return self._release_early()

    def speech_resumed(self) -> Decision:
        """The paused speech went on: an answer released on its first words is held again
        ("yeah, ... but")."""
        if self._released:
            self._released = False
            return Decision(Action.HOLD)
        return NOTHING

    def words_peeked(self, heard: Heard) -> Decision:
        """What the first words sounded like (after PEEK_WORDS)."""
        if not self.suspected or heard is not Heard.BACKCHANNEL:
            return NOTHING
        self._sounds_like_backchannel = True
        return self._release_early()

    def _release_early(self) -> Decision:
        if self._sounds_like_backchannel and not self._released:
            self._released = True
            return Decision(Action.RELEASE)
        return NOTHING

    def speech_progress(self, speech_ms: float) -> Decision:
        """Speech goes on over an answer: long enough, it interrupts, or (when it may be a
        backchannel) its words so far are checked."""
        if not self.suspected:
            return NOTHING
        if not self.backchannels:
            return self._interrupt() if speech_ms >= self.min_interruption_ms else NOTHING
        if speech_ms >= self.max_backchannel_ms:
            return self._interrupt()
        if speech_ms >= self.peek_ms and not self._peeked:
            self._peeked = True
            return Decision(Action.PEEK_WORDS)
        if speech_ms >= self.min_interruption_ms and not self._checked_early:
            self._checked_early = True
            return Decision(Action.CHECK_WORDS)
        return NOTHING

    def speech_stopped(self) -> Decision:
        return Decision(Action.CHECK_WORDS) if self.suspected else NOTHING

    def words_checked(self, heard: Heard, *, final: bool = True) -> Decision:
        """What the speech over the answer turned out to be: `final` once it stopped, else
        the words so far (CHECK_WORDS of `speech_progress`)."""
        if not self.suspected:
            return NOTHING  # decided meanwhile (the speech went on, or the answer ended)
        if heard is Heard.INTERRUPTION:
            return self._interrupt()
        if not final:
            # A backchannel so far plays on; anything else is held until the final words.
            self._sounds_like_backchannel = heard is Heard.BACKCHANNEL
            if self._released and not self._sounds_like_backchannel:
                self._released = False
                return Decision(Action.HOLD)
            return self._release_early()
        self._suspected_at = None
        self._released = False
        return Decision(Action.RELEASE)  # (again, if released at its pause already)

    def _interrupt(self) -> Decision:
        self._released = False
        started, self._suspected_at = self._suspected_at, None
        return Decision(Action.INTERRUPT, started)
