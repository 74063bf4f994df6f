"""The call's ears: the user's audio, whatever carried it, to turn events.

Audio at any rate -> 16 kHz -> the echo canceller (when on: the answer's own voice,
coming back through the user's speaker, taken out against the exact audio the call
sent) -> AudioChunker (512-sample chunks) -> Silero VAD -> TurnDetector -> turn events,
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

from model.audio import StreamResampler
from model.embedded.echo import EchoCanceller
from model.embedded.turn_end import TurnEndModel
from rtc.conversation.audio_in import AudioChunker
from rtc.conversation.playout import SAMPLE_RATE as PLAYOUT_RATE
from rtc.conversation.playout import Frame
from rtc.conversation.turns import ScoreVoice, TurnDetector, TurnEvent, TurnSettings, WordsVerdict
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
#: Echo is there when a microphone chunk is a copy of what was played (the waveforms'
#: normalised cross-correlation reaches ECHO_CORRELATION at some delay up to MAX_DELAY_S).
ECHO_CORRELATION = 0.75
#: Before the echo is heard, a chunk this close a copy of the answer is muted for the VAD
#: (a user's own speech resembles the answer this much in ~1 % of its chunks).
MUTE_CORRELATION = 0.9
#: ... in at least ECHO_CHUNKS - 1 of ECHO_CHUNKS loud chunks, at delays within DELAY_SLACK.
ECHO_CHUNKS = 5
DELAY_SLACK = 48
MAX_DELAY_S = 0.3
_FAR_KEPT = int((MAX_DELAY_S + 0.1) * VAD_RATE)
#: The playout kept to tell whether a whole stretch of speech over an answer was its echo:
#: the words are looked at up to ~0.6 s after the speech began, the answer held since.
_FAR_HISTORY = int(2.0 * VAD_RATE)
#: The VAD level that holds the answer for a chunk once the canceller's output is heard.
#: WebRTC's suppressor takes the first syllable of double talk for echo: over an answer's
#: echo, the user's onset reaches the detector's usual hint level (0.35) 40-100 ms later
#: than the same voice alone, while what it leaves of the echo scores under 0.01.
CLEANED_HINT_LEVEL = 0.1


class EchoWatch:
    """Says once the answer's own voice comes back into the microphone.

    WebRTC's echo canceller takes the echo out, but while no echo has reached it, it also
    takes 5 to 9 dB out of the user's own speech over an answer (measured), enough to
    break a barge-in into pieces the VAD misses. So its output is used only once an echo
    has been heard on the call (and from then on); until then the microphone is heard as
    it is, but for chunks that are copies of the answer (the first echo, before the
    canceller has learned it). An echo is a delayed, quieter copy of what was played: a
    chunk of it, cross-correlated with the last MAX_DELAY_S of the playout, tells it
    from speech."""

    def __init__(self) -> None:
        self._far = np.zeros(0, np.float32)
        self._to_vad_rate = StreamResampler(PLAYOUT_RATE, VAD_RATE)
        self._far_total = 0
        self._near_total = 0
        self._anchors: list[int | None] = []
        """Where in the playout each recent loud chunk was a copy of (far position minus
        near position: constant for an echo, as both go on in real time), or None."""
        self.heard = False

    def far(self, pcm: NDArray[np.int16]) -> None:
        if self.heard:
            return
        audio = self._to_vad_rate(pcm).astype(np.float32) / 32768.0
        self._far_total += len(audio)
        self._far = np.concatenate([self._far, audio])[-_FAR_HISTORY:]

    def near(self, chunk: NDArray[np.float32]) -> bool:
        """Is this microphone chunk (mostly) a copy of the playout? Sets `heard` once the
        copies keep their place from chunk to chunk, as an echo's do."""
        self._near_total += len(chunk)
        if self.heard or _rms(chunk) < _HEARD_RMS or len(self._far) < 2 * len(chunk):
            return False  # once heard, the canceller knows the echo: no need to look
        correlation, delay = _copies(chunk, self._far[-_FAR_KEPT:])
        copy = correlation >= MUTE_CORRELATION
        if not self.heard:
            anchor = self._far_total - delay - self._near_total
            likely = correlation >= ECHO_CORRELATION
            self._anchors = [*self._anchors[-(ECHO_CHUNKS - 1) :], anchor if likely else None]
            # An echo copies the playout at the same place from chunk to chunk; speech that
            # resembles the answer by chance (voiced sounds correlate) does not.
            anchors = [a for a in self._anchors if a is not None]
            spread = max(anchors) - min(anchors) if anchors else DELAY_SLACK + 1
            self.heard = len(anchors) >= ECHO_CHUNKS - 1 and spread <= DELAY_SLACK
        return copy

    def copied(self, speech: NDArray[np.float32]) -> bool:
        """Was this stretch of speech over an answer (the microphone as the VAD heard it)
        a copy of the playout, as a whole? Before the echo is learned the first echo can
        slip past the chunk test (its chunks, through Opus twice, correlate 0.85-0.9 with
        the answer) and be held as speech: "El tren ..." heard as "and ...". A user's own
        words do not follow the answer, at one delay, over a stretch of chunks."""
        if self.heard:
            return False  # the canceller hears the echo; the VAD got its output
        loud = np.flatnonzero(np.abs(speech) >= _HEARD_RMS)
        if len(loud) == 0 or len(self._far) < len(speech):
            return False
        voiced = speech[loud[0] : loud[-1] + 1]
        if len(voiced) < CHUNK_SAMPLES:
            return False  # too short to tell
        correlation, delay = _copies(voiced, self._far)
        logger.debug(
            "speech over the answer against its playout: correlation %.2f at %d ms (%d ms loud)",
            correlation,
            1000 * delay // VAD_RATE,
            1000 * len(voiced) // VAD_RATE,
        )
        return correlation >= ECHO_CORRELATION


def _copies(chunk: NDArray[np.float32], far: NDArray[np.float32]) -> tuple[float, int]:
    """The best normalised correlation of `chunk` with any stretch of `far` (FFT), and the
    delay of that stretch from the end of `far`, in samples."""
    n = len(far) + len(chunk)
    size = 1 << (n - 1).bit_length()
    spectrum = np.fft.rfft(far, size) * np.conj(np.fft.rfft(chunk, size))
    correlation = np.fft.irfft(spectrum, size)[: len(far) - len(chunk) + 1]
    # The energy of every stretch of `far` as long as `chunk`, by running sum: a direct
    # convolution costs len(far) x len(chunk) (50 ms on the event loop for a 0.7 s stretch).
    running = np.concatenate([[0.0], np.cumsum(far.astype(np.float64) ** 2)])
    energy = running[len(chunk) :] - running[: len(running) - len(chunk)]
    denominator = np.sqrt(np.maximum(energy, 1e-12) * float(np.sum(chunk.astype(np.float64) ** 2)))
    normalised = np.abs(correlation) / np.maximum(denominator, 1e-9)
    best = int(np.argmax(normalised))
    return float(normalised[best]), len(far) - len(chunk) - best


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
        spawn: Callable[[Awaitable[None], str], object],
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
        self._manual: list[NDArray[np.float32]] = []
        self._manual_samples = 0
        self.divert: Callable[[NDArray[np.float32]], None] | None = None
        """Set: every chunk goes here instead of to turn detection (a scenario that
        listens continuously, such as the simultaneous interpreter)."""

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
        self._watch.far(frame.pcm)

    async def hear(self, pcm: NDArray[np.int16], rate: int, *, off_loop: bool = False) -> None:
        if off_loop:
            samples = await asyncio.to_thread(self._chunker.resample, pcm, rate)
        else:
            samples = self._chunker.resample(pcm, rate)
        echo = self._echo  # on the loop: the canceller hears the playout from here too
        if echo is None:
            for chunk in self._chunker.cut(samples.astype(np.float32) / 32768.0):
                await self._listen(chunk)
            return
        # The microphone as it came and cleaned, frame for frame: the VAD hears the cleaned
        # audio no later than the raw (a canceller that returned as many samples as it was
        # given would be 10-20 ms late: its 10 ms frames do not divide the VAD's chunks).
        raw, cleaned = echo.near_end_in_step(samples)
        rows = np.stack([raw, cleaned]).astype(np.float32) / 32768.0
        for pair in self._chunker.cut(rows):
            await self._listen(self._cleaned(pair[0], pair[1]))

    @property
    def _hears_the_canceller(self) -> bool:
        """The VAD hears the echo canceller's output (the call's echo has been learned)."""
        return self._processing.echo_cancellation and self._watch.heard

    def _cleaned(
        self, chunk: NDArray[np.float32], cleaned: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        """What the VAD hears of a microphone chunk (`cleaned`: the canceller's output)."""
        if not self._processing.echo_cancellation:
            return cleaned  # noise suppression only
        before = _rms(chunk)
        copy = self._watch.near(chunk)
        if copy:  # the canceller has not learned this call's echo yet: the answer, muted
            self._metrics.echo_removed.inc(CHUNK_SAMPLES / VAD_RATE)
            return np.zeros_like(chunk)
        if self._hears_the_canceller:
            if before >= _HEARD_RMS and _rms(cleaned) < _REMOVED * before:
                self._metrics.echo_removed.inc(CHUNK_SAMPLES / VAD_RATE)
            return cleaned
        return chunk if self._processing.noise_reduction is None else cleaned

    async def _listen(self, chunk: NDArray[np.float32]) -> None:
        if self.divert is not None:
            self.divert(chunk)
            return
        detector = self.detector
        if detector is None:
            if self._manual_samples < MAX_MANUAL_AUDIO_S * VAD_RATE:
                self._manual.append(chunk)  # the oldest part of a very long turn is kept
                self._manual_samples += len(chunk)
            return
        probability = await self._vad.probability(chunk)
        if detector is not self.detector:
            return  # the session changed turn detection meanwhile
        detector.hint_level = CLEANED_HINT_LEVEL if self._hears_the_canceller else None
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
            probability = await model.score(ask.audio)
            logger.debug("end-of-turn model: %.2f (revision %d)", probability, ask.revision)
            if detector is self.detector:
                for event in detector.voice_heard(ask.revision, probability):
                    self._handle(detector, event)

        self._spawn(score(), "end of turn")

    def echoed(self, speech: NDArray[np.float32]) -> bool:
        """Is this speech over an answer its echo, as a whole (`EchoWatch.copied`)?"""
        return self._processing.echo_cancellation and self._watch.copied(speech)

    def words_heard(self, revision: int, finished: WordsVerdict) -> None:
        """A speculative answer transcribed paused speech `revision`."""
        detector = self.detector
        if detector is not None:
            for event in detector.words_heard(revision, finished):
                self._handle(detector, event)

    # -- the client's turns ----------------------------------------------------------------
    def take_manual(self) -> NDArray[np.float32]:
        """Everything heard since the last commit or clear."""
        parts, self._manual = [*self._manual, self._chunker.take_rest()], []
        if self._echo is not None:  # the newest few ms, not yet a whole frame for it
            parts.append(self._echo.take_waiting().astype(np.float32) / 32768.0)
        self._manual_samples = 0
        return np.concatenate(parts)

    def clear(self) -> None:
        if self.detector is not None:
            self.detector.reset()
        self._chunker.reset()
        if self._echo is not None:
            self._echo.take_waiting()
        self._manual.clear()
        self._manual_samples = 0


def _rms(audio: NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0
