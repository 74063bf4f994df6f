"""The call's ears: the user's audio, whatever carried it, to turn events.

Audio at any rate -> AudioChunker (16 kHz, 512-sample chunks) -> the echo canceller
(when on: the answer's own voice, coming back through the user's speaker, taken out
against the exact audio the call sent) -> Silero VAD -> TurnDetector -> turn events,
handed to the conversation. The detector's questions to the end-of-turn model
(`ScoreVoice`) are answered here, in a worker thread. With turns left to the client
(`turn_detection: null`) the chunks are kept for `input_audio_buffer.commit` instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from model.embedded.echo import EchoCanceller
from model.embedded.turn_end import TurnEndModel
from rtc.conversation.audio_in import AudioChunker
from rtc.conversation.playout import SAMPLE_RATE as PLAYOUT_RATE
from rtc.conversation.playout import Frame
from rtc.conversation.turns import ScoreVoice, TurnDetector, TurnEvent, TurnSettings
from rtc.metrics import Metrics
from rtc.vad import CHUNK_SAMPLES, SileroVAD
from rtc.vad import SAMPLE_RATE as VAD_RATE

logger = logging.getLogger(__name__)

#: Longest manual-turn buffer (turn_detection null) kept for `input_audio_buffer.commit`.
MAX_MANUAL_AUDIO_S = 120.0
#: A chunk this loud (RMS) before the echo canceller counts as sound reaching the microphone.
_HEARD_RMS = 0.01
#: ... and as echo taken out when the canceller leaves less than this fraction (-15 dB).
_REMOVED = 0.18
#: Echo is there when the microphone's loudness follows the answer's, a little later: the
#: correlation of their log levels over the last WINDOW chunks, at the best lag up to
#: MAX_LAG chunks (~250 ms), reaches ECHO_CORRELATION while the microphone hears something.
WINDOW = 24
MAX_LAG = 8
ECHO_CORRELATION = 0.75
_FLOOR = 1e-4


class EchoWatch:
    """Says once the answer's own voice comes back into the microphone.

    WebRTC's echo canceller takes the echo out, but while no echo has reached it, it also
    takes 5 to 9 dB out of the user's own speech over an answer (measured), enough to
    break a barge-in into pieces the VAD misses. So its output is used only once an echo
    has been heard on the call (and from then on); until then the microphone is heard as
    it is."""

    def __init__(self) -> None:
        self._far: list[float] = []
        self._near: list[float] = []
        self.heard = False

    def far(self, level: float) -> None:
        self._far.append(level)
        del self._far[: -WINDOW - MAX_LAG]

    def near(self, level: float) -> bool:
        self._near.append(level)
        del self._near[:-WINDOW]
        if not self.heard and len(self._near) == WINDOW and len(self._far) >= WINDOW + MAX_LAG:
            self.heard = self._follows()
        return self.heard

    def _follows(self) -> bool:
        near = np.log10(np.maximum(np.asarray(self._near), _FLOOR))
        if float(np.max(self._near)) < _HEARD_RMS or float(np.std(near)) < 0.1:
            return False
        far_all = np.log10(np.maximum(np.asarray(self._far), _FLOOR))
        for lag in range(MAX_LAG + 1):
            far = far_all[len(far_all) - WINDOW - lag : len(far_all) - lag]
            if float(np.std(far)) < 0.1:
                continue
            if float(np.corrcoef(far, near)[0, 1]) >= ECHO_CORRELATION:
                return True
        return False


@dataclass(frozen=True)
class AudioProcessing:
    """What is done to the microphone before it is listened to."""

    echo_cancellation: bool = False
    noise_reduction: str | None = None
    """None, "near_field" or "far_field"."""

    @property
    def on(self) -> bool:
        return self.echo_cancellation or self.noise_reduction is not None


class Listening:
    def __init__(
        self,
        vad: SileroVAD,
        turn_end: TurnEndModel | None,
        metrics: Metrics,
        on_event: Callable[[TurnEvent], None],
        on_speech: Callable[[TurnDetector], None],
        spawn: Callable[[Awaitable[None], str], None],
    ) -> None:
        self._vad = vad.stream()
        self._turn_end = turn_end
        self._metrics = metrics
        self._on_event = on_event
        self._on_speech = on_speech
        self._spawn = spawn
        self._chunker = AudioChunker()
        self.detector: TurnDetector | None = None
        self._processing = AudioProcessing()
        self._echo: EchoCanceller | None = None
        self._watch = EchoWatch()
        self._far_pending: list[NDArray[np.int16]] = []
        self._manual: list[NDArray[np.float32]] = []
        self._manual_samples = 0

    # -- set-up ------------------------------------------------------------------------
    def follow(self, turn: TurnSettings | None, processing: AudioProcessing) -> None:
        """Turn detection (None: the client's turns) and the microphone's processing."""
        if turn is None:
            self.detector = None
        elif self.detector is None or self.detector.settings != turn:
            self.detector = TurnDetector(turn)
        if processing != self._processing:
            self._processing = processing
            self._echo = (
                EchoCanceller(
                    VAD_RATE,
                    processing.noise_reduction,  # type: ignore[arg-type]
                    far_end_rate=PLAYOUT_RATE,
                    echo_cancellation=processing.echo_cancellation,
                )
                if processing.on
                else None
            )

    @property
    def processing(self) -> AudioProcessing:
        return self._processing

    # -- audio ---------------------------------------------------------------------------
    def far_end(self, frame: Frame) -> None:
        """A frame of the answer's voice as it goes out: what may come back as echo."""
        if self._echo is None:
            return
        self._echo.far_end(frame.pcm)
        # Levels per VAD chunk (32 ms), to compare with the microphone's.
        self._far_pending.append(frame.pcm)
        samples = sum(len(p) for p in self._far_pending)
        per_chunk = CHUNK_SAMPLES * PLAYOUT_RATE // VAD_RATE
        if samples >= per_chunk:
            joined = np.concatenate(self._far_pending)
            self._watch.far(_rms(joined[:per_chunk].astype(np.float32) / 32768.0))
            self._far_pending = [joined[per_chunk:]]

    async def hear(self, pcm: NDArray[np.int16], rate: int, *, off_loop: bool = False) -> None:
        if off_loop:
            chunks = await asyncio.to_thread(self._chunker.push, pcm, rate)
        else:
            chunks = self._chunker.push(pcm, rate)
        for chunk in chunks:
            await self._listen(self._cleaned(chunk))

    def _cleaned(self, chunk: NDArray[np.float32]) -> NDArray[np.float32]:
        echo = self._echo
        if echo is None:
            return chunk
        cleaned = echo.near_end_float(chunk)
        if not self._processing.echo_cancellation:
            return cleaned  # noise suppression only
        before = _rms(chunk)
        if not self._watch.near(before):
            return chunk if self._processing.noise_reduction is None else cleaned
        if before >= _HEARD_RMS and _rms(cleaned) < _REMOVED * before:
            self._metrics.echo_removed.inc(CHUNK_SAMPLES / VAD_RATE)
        return cleaned

    async def _listen(self, chunk: NDArray[np.float32]) -> None:
        detector = self.detector
        if detector is None:
            if self._manual_samples < MAX_MANUAL_AUDIO_S * VAD_RATE:
                self._manual.append(chunk)  # the oldest part of a very long turn is kept
                self._manual_samples += len(chunk)
            return
        probability = await self._vad.probability(chunk)
        if detector is not self.detector:
            return  # the session changed turn detection meanwhile
        for event in detector.push(chunk, probability):
            self._handle(detector, event)
        if detector.speaking:
            self._on_speech(detector)

    def _handle(self, detector: TurnDetector, event: TurnEvent) -> None:
        if isinstance(event, ScoreVoice):
            self._score(detector, event)
        else:
            self._on_event(event)

    def _score(self, detector: TurnDetector, ask: ScoreVoice) -> None:
        model = self._turn_end
        if model is None:  # no voice model: the words alone decide
            for event in detector.voice_heard(ask.revision, 1.0):
                self._handle(detector, event)
            return

        async def score() -> None:
            probability = await asyncio.to_thread(model.probability, ask.audio)
            logger.debug("end-of-turn model: %.2f (revision %d)", probability, ask.revision)
            if detector is self.detector:
                for event in detector.voice_heard(ask.revision, probability):
                    self._handle(detector, event)

        self._spawn(score(), "end of turn")

    def words_heard(self, revision: int, finished: bool | None) -> None:
        """A speculative answer transcribed paused speech `revision`."""
        detector = self.detector
        if detector is not None:
            for event in detector.words_heard(revision, finished):
                self._handle(detector, event)

    # -- the client's turns ----------------------------------------------------------------
    def take_manual(self) -> NDArray[np.float32]:
        """Everything heard since the last commit or clear."""
        parts, self._manual = [*self._manual, self._chunker.take_rest()], []
        self._manual_samples = 0
        return np.concatenate(parts)

    def clear(self) -> None:
        if self.detector is not None:
            self.detector.reset()
        self._chunker.reset()
        self._manual.clear()
        self._manual_samples = 0


def _rms(audio: NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0
