"""Speech over an answer, carried out: the interruption policy's decisions made real.

The policy (interruption.py) is pure; this is where its decisions touch the call: the
playout is held, released or cleared, the answer cancelled, the words of the speech
transcribed and judged (a listener's backchannel, a noise, or an interruption), and
what happened counted. The words are judged as soon as the speech pauses, so a
backchannel's answer resumes without waiting for the turn detector to end the turn;
a turn judged not to interrupt is never answered.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Awaitable, Callable

import numpy as np
from numpy.typing import NDArray

from model.backchannel import classify
from model.base import OmniSession
from model.errors import ModelError
from model.scenario import Scenario, UserTurn
from model.types import Transcript
from rtc.conversation.interruption import Action, Decision, Heard, InterruptionPolicy
from rtc.conversation.playout import Playout
from rtc.conversation.responses import Responses
from rtc.conversation.turns import SpeechStopped, TurnSettings, WordsVerdict, words_sound_finished
from rtc.metrics import Metrics

logger = logging.getLogger(__name__)

#: Speech over an answer is its echo when this share of its words are among the last
#: ECHO_WORDS words the answer said.
ECHO_SHARE = 0.6
ECHO_WORDS = 40
_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


class BargeIn:
    def __init__(
        self,
        *,
        responses: Responses,
        playout: Playout,
        model_session: OmniSession,
        metrics: Metrics,
        scenario: Callable[[], Scenario | None],
        words_heard: Callable[[int, WordsVerdict], None],
        forget_speech: Callable[[], None],
        spawn: Callable[[Awaitable[None], str], object],
        echoed: Callable[[NDArray[np.float32]], bool] = lambda _speech: False,
        log_prefix: str = "",
    ) -> None:
        self.policy = InterruptionPolicy()
        self._responses = responses
        self._playout = playout
        self._session = model_session
        self._metrics = metrics
        self._scenario = scenario
        self._words_heard = words_heard
        self._forget_speech = forget_speech
        self._spawn = spawn
        self._echoed = echoed
        """Is this speech (its audio, as the VAD heard it) the answer's echo?"""
        self._log = log_prefix
        self._heard: dict[int, Transcript] = {}
        """Transcripts of paused speech over an answer, by revision (reused for its turn)."""
        self._judging: dict[int, tuple[UserTurn, float] | None] = {}
        """Pauses whose words are being judged; the turn (and its speech) once it ended."""
        self._started_like_backchannel = False
        """The first words of the speech over the answer sounded like a backchannel."""

    def configure(self, turn: TurnSettings | None) -> None:
        policy = self.policy
        policy.interrupt_response = turn is not None and turn.interrupt_response
        if turn is not None:
            policy.min_interruption_ms = turn.min_interruption_ms
            policy.backchannels = turn.backchannels

    @property
    def suspected(self) -> bool:
        return self.policy.suspected

    @property
    def answering(self) -> bool:
        return self._responses.current is not None

    # -- turn events --------------------------------------------------------------------
    def voice_onset(self) -> None:
        self._act(self.policy.voice_onset(self.answering))

    def voice_lost(self) -> None:
        self._act(self.policy.voice_lost())

    def speech_started(self) -> None:
        self._started_like_backchannel = False
        self._act(self.policy.speech_started(self.answering, time.monotonic()))

    def speech_resumed(self) -> None:
        """Speech went on after a pause; over an answer the backchannel released at that
        pause was not one after all: hold the answer again."""
        if not self.policy.suspected:
            self._act(self.policy.speech_started(self.answering, time.monotonic()))
        else:
            self._act(self.policy.speech_resumed())

    def speech_progress(self, speech_ms: float, so_far: Callable[[], object]) -> None:
        decision = self.policy.speech_progress(speech_ms)
        if decision.action not in (Action.CHECK_WORDS, Action.PEEK_WORDS):
            self._act(decision)
            return
        audio = so_far()  # still speaking over the answer: what is it so far?
        if audio is None:
            return
        turn = UserTurn(item_id="", audio=audio)  # type: ignore[arg-type]
        if decision.action is Action.PEEK_WORDS:
            self._spawn(self._peek(turn, speech_ms), "peek at words")
        else:
            self._spawn(self._check(turn, speech_ms, final=False), "check words")

    def paused(self, revision: int, audio: object, speech_ms: float) -> bool:
        """Speech over an answer paused: judge its words now. False if it is no concern."""
        if not self.policy.suspected:
            return False
        self._act(self.policy.speech_paused())
        turn = UserTurn(item_id="", audio=audio)  # type: ignore[arg-type]
        self._judging[revision] = None
        self._spawn(self._check(turn, speech_ms, final=True, revision=revision), "check words")
        return True

    def stopped(self, event: SpeechStopped, turn: UserTurn) -> bool:
        """The turn ended. True: handled here (not answered, or being judged); False: it is
        to be answered (with `answer_turn` for the transcript already made)."""
        if event.revision in self._judging and self.policy.suspected:
            self._judging[event.revision] = (turn, event.speech_ms)  # judged when heard
            return True
        if self.policy.speech_stopped().action is Action.CHECK_WORDS:
            known = self._heard.get(event.revision)
            if known is None or event.revision < 0:
                self._spawn(self._check(turn, event.speech_ms, final=True), "check words")
            else:
                self._judge(turn, known, event.speech_ms, final=True)
            return True
        return False

    def answer_turn(self, turn: UserTurn, revision: int) -> UserTurn:
        """`turn` with the transcript its paused speech already got, if it did."""
        known = self._heard.pop(revision, None)
        self._heard.clear()
        return dataclasses.replace(turn, transcript=known) if known is not None else turn

    # -- judging the words ----------------------------------------------------------------
    async def _peek(self, turn: UserTurn, speech_ms: float) -> None:
        """Do the first words of speech over the answer sound like a backchannel?"""
        transcript = await self._transcribe(turn)
        # Still being said: how long it will last is not known yet (0), and its first
        # words are no click for being shorter than a word so far.
        heard, why = self._verdict(turn, transcript, 0.0)
        self._started_like_backchannel = heard is Heard.BACKCHANNEL
        logger.debug(
            "%sfirst words over the answer (%.0f ms): %s (%s)",
            self._log,
            speech_ms,
            heard.value,
            why,
        )
        self._act(self.policy.words_peeked(heard))

    async def _transcribe(self, turn: UserTurn) -> Transcript:
        scenario = self._scenario()
        assert turn.audio is not None
        try:
            return await self._session.transcribe(
                turn.audio,
                scenario.languages if scenario else [],
                prompt=scenario.vocabulary if scenario else "",
            )
        except ModelError:
            logger.warning("%stranscription failed checking an interruption", self._log)
            return Transcript("", "", 0.0)

    async def _check(
        self, turn: UserTurn, speech_ms: float, *, final: bool, revision: int | None = None
    ) -> None:
        transcript = await self._transcribe(turn)
        if revision is not None:
            self._heard[revision] = transcript
            ended = self._judging.pop(revision, None)
            if ended is not None:  # the turn ended while its words were heard: judge it
                self.policy.speech_stopped()
                self._judge(ended[0], transcript, ended[1], final=True)
                return
            # The text alone, not how sure the recogniser was of it: over an answer the
            # words are judged at once (below), and a guess at a backchannel or an echo
            # that counted as trailing off would keep the turn, and the held answer, open.
            self._words_heard(revision, words_sound_finished(transcript.text))
        self._judge(turn, transcript, speech_ms, final=final, revision=revision)

    def _judge(
        self,
        turn: UserTurn,
        transcript: Transcript,
        speech_ms: float,
        *,
        final: bool,
        revision: int | None = None,
    ) -> None:
        heard, why = self._verdict(turn, transcript, speech_ms)
        decision = self.policy.words_checked(heard, final=final)
        logger.debug("%sover the answer: %s (%s; %r)", self._log, heard.value, why, transcript.text)
        self._act(decision)
        if decision.action is Action.INTERRUPT and final and revision is None:
            # The turn is over: answer it, with this transcript rather than another.
            self._responses.start(dataclasses.replace(turn, transcript=transcript))
        elif decision.action is Action.RELEASE:
            # Not a turn: the turn detector forgets it, so that what comes next (more
            # echo, the user's real words) starts afresh, over an answer still playing.
            self._forget_speech()
            self._judging.clear()
            self._heard.clear()
            logger.info("%snot an interruption (%s); resuming", self._log, why)
            self._metrics.ignored_speech.labels(heard.value).inc()
            if heard is Heard.NON_SPEECH:
                self._metrics.false_interruptions.inc()

    def _verdict(
        self, turn: UserTurn, transcript: Transcript, speech_ms: float
    ) -> tuple[Heard, str]:
        """What the speech over the answer is, and why."""
        if self._echoes_the_answer(transcript.text):
            return Heard.ECHO, f"{transcript.text!r} is the answer's own words"
        if turn.audio is not None and self._echoed(turn.audio):
            return Heard.ECHO, f"{transcript.text!r} is a copy of the answer's own voice"
        if self.policy.backchannels:
            verdict = classify(
                transcript.text,
                transcript.language,
                speech_ms / 1000,
                started_like_one=self._started_like_backchannel,
            )
            return Heard(verdict.kind), verdict.reason
        # OpenAI's server_vad: any words interrupt
        heard = Heard.INTERRUPTION if transcript.has_words else Heard.NON_SPEECH
        return heard, f"{transcript.text!r}"

    def _echoes_the_answer(self, text: str) -> bool:
        """Are these heard words the answer's own, back through the user's speaker? (The
        echo canceller takes a second to learn a call's echo; this is the net under it.)"""
        current = self._responses.current
        heard = _words(text)
        if current is None or len(heard) < 2:
            return False
        said = set(_words(" ".join(current.transcript))[-ECHO_WORDS:])
        return sum(w in said for w in heard) >= ECHO_SHARE * len(heard)

    def _act(self, decision: Decision) -> None:
        action = decision.action
        if action is not Action.NOTHING:
            logger.debug("%sbarge-in: %s", self._log, action.value)
        if action is Action.HOLD:
            self._playout.pause()
        elif action is Action.RELEASE:
            held_s = self._playout.resume()
            if held_s is not None:
                self._metrics.held_audio.observe(held_s)
        elif action is Action.INTERRUPT:
            current = self._responses.current
            if current is not None:
                self._metrics.barge_ins.inc()
                self._responses.cancel(current, reason="turn_detected")
            if decision.suspected_at is not None:
                self._metrics.barge_in_latency.observe(time.monotonic() - decision.suspected_at)
