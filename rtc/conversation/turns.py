"""Turn detection: VAD probabilities in, speech start / pause / stop events out.

Pure logic over fixed 32 ms chunks, so it can be tested on scripted
probability timelines without any audio or clock.

With `server_vad` a turn ends after a fixed silence. With `semantic_vad` the
silence a pause needs depends on what two listeners say of it: the words (the
recogniser's text of the paused speech, `words_heard`: does it end like a
sentence?) and the voice (an end-of-turn model's probability that the speaker
has finished, from how the voice ends, `voice_heard`; the detector asks for it
with `ScoreVoice` once the pause is long enough to judge). Both agreeing ends the
turn after a short silence; either doubting waits longer (so does a voice that sounded
unfinished before it sounded finished, and words the recogniser only guessed); a
trailing clause ("I would like to order ...", "x is equal to ...") waits longest.
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from model.types import Transcript
from rtc.vad import CHUNK_MS, CHUNK_SAMPLES

MAX_UTTERANCE_MS = 30_000

# Words a sentence does not end on, so Whisper's period after them is a guess (en, es).
_DANGLING = """
a an and are as at because but for from if in is like my of on or so than the then
to um uh was were with your
al como con de del el en es eh la las los mi o para pero por porque que si son tu un una y
wait well espera bueno pues entonces
"""
_DANGLING_WORDS = frozenset(_DANGLING.split())
#: Of those, the ones a question can end on ("What is it for?", "Who is he with?", "Can
#: you tell me where the station is?").
_QUESTION_ENDS = frozenset(
    ["for", "from", "with", "about", "to", "of", "on", "at", "in", "is", "are", "was", "were"]
)
#: Endings that ask for more although Whisper writes a full stop after them: a verb
#: wanted, needed or asked for with nothing to act on yet ("I would like to order",
#: "quiero pedir", "necesito comprar"), "tell me" with nothing told.
_ASKS_FOR_MORE = re.compile(
    r"\b(?:(?:want|wants|wanted|like|need|needs|have|has|going|gonna|wanna|try|trying)"
    r" to \w+"
    r"|(?:quiero|quieres|quiere|queremos|quisiera|necesito|necesitas|necesita|necesitamos"
    r"|puedo|puedes|puede|podemos|tengo que|tienes que|hay que|voy a|vamos a|gustaria)"
    r" \w+(?:ar|er|ir))$"
)
#: ... and, a question or not, someone asked to tell, show or give with nothing said yet.
_TELL_ME = re.compile(r"\b(?:tell|show|give|ask|send|bring|let) (?:me|us|him|her|them)$")
_WORD = re.compile(r"[^\W_]+")


def _fold(word: str) -> str:
    """Without accents: "gustaría" is "gustaria" here."""
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def words_sound_finished(text: str) -> bool | None:
    """A small end-of-turn model: does the recogniser's text end like a finished sentence?

    True: it ends on a full stop, question or exclamation mark after a word a
    sentence can end on. False: it trails off (comma, ellipsis, "and", "of").
    None: no telling (Whisper often leaves short answers like "x equals 5" bare).
    """
    text = text.strip()
    words = _WORD.findall(text.lower())
    if not words or text.endswith((",", ";", ":", "-", "...", "\u2026")):
        return False
    if words[-1] in _DANGLING_WORDS and not (text.endswith("?") and words[-1] in _QUESTION_ENDS):
        return False
    folded = " ".join(_fold(w) for w in words)
    if _TELL_ME.search(folded) or (_ASKS_FOR_MORE.search(folded) and not text.endswith("?")):
        return False
    if text[-1] in ".?!\u3002\uff1f\uff01":
        return True
    return None


#: Below this mean token log probability the recogniser's words are a guess (Whisper's own
#: `log_prob_threshold`, under which it deems a decoding failed): "Quiero pedir," cut at
#: its pause is heard as "Who is a penny?" at -1.7, while the finished sentences of the
#: turn-taking benchmark decode at -0.7 or better.
MISHEARD_LOG_PROBABILITY = -1.0


#: Below this probability of its last word, a sentence's end is a guess too: a first part
#: cut at its pause and heard as a question ("Quiero pedir," as "¿Quién penir?", mean log
#: probability -0.7, " pen" at 0.11-0.26) is no finished sentence. The last words of the
#: turn-taking benchmark's finished English sentences score 0.6 or more.
GUESSED_WORD_PROBABILITY = 0.35
#: A finished-sounding turn of this many words or fewer may be done (a greeting before
#: the request), no more.
LEAD_IN_WORDS = 2
#: The words end like a sentence, but the recogniser guessed the end (`words_heard`).
GUESSED: Final = "guessed"
WordsVerdict = bool | None | Literal["guessed"]
"""True: they sound finished; False: they trail off (or were misheard); None: no telling;
GUESSED: they sound finished, but their last word was a guess."""


def transcript_sounds_finished(transcript: Transcript) -> WordsVerdict:
    """`words_sound_finished` of words the recogniser is sure of. Words it guessed say
    nothing of the end of the turn but that it may not have come: they count as trailing
    off (the voice alone can shorten the wait, to `doubt_silence_ms`); a finished sentence
    whose last word it guessed waits `doubt_silence_ms`, whatever the voice says; a word or
    two may be done (`unsure_silence_ms`)."""
    confidence = transcript.log_probability
    if confidence is not None and confidence < MISHEARD_LOG_PROBABILITY:
        return False
    if _looped(_WORD.findall(transcript.text.lower())):
        return False  # a decoder loop: its mean log probability says nothing
    finished = words_sound_finished(transcript.text)
    last_word = transcript.last_word_probability
    if finished and last_word is not None and last_word < GUESSED_WORD_PROBABILITY:
        return GUESSED
    if finished and len(_WORD.findall(transcript.text)) <= LEAD_IN_WORDS:
        # "Hello." of "Hello, ... how are you today?", "Buenos días." of "Buenos días,
        # ¿cómo estás?": a word or two are as often a lead-in as a turn, the voice cannot
        # tell (both end on a fall), and Whisper hears so little so fast that its words
        # come before a comma's pause (~200-250 ms) is over.
        return None
    return finished


def _looped(words: list[str]) -> bool:
    """Whisper looping on a short cut ("Who are they? Who? Who? Who? Who? Who?", "who is
    the one who is the one who is the one"): a run of one to four words said three times
    or more in a row, six words or more in all. The loop's tokens come easy to the decoder,
    so its mean log probability looks sure (-0.7 where the words alone score -1.6)."""
    for size in range(1, 5):
        for start in range(len(words) - 3 * size + 1):
            unit = words[start : start + size]
            count = 1
            while words[start + count * size : start + (count + 1) * size] == unit:
                count += 1
            if count >= 3 and count * size >= 6:
                return True
    return False


@dataclass(frozen=True)
class TurnSettings:
    """`audio.input.turn_detection` plus our own tuning knobs."""

    threshold: float = 0.5
    """VAD probability at or above which a chunk is speech."""
    prefix_padding_ms: int = 300
    """Audio kept from before the detected onset."""
    silence_duration_ms: int = 500
    """Silence that ends a turn (with `eager_silence_ms`: a turn whose words do not sound finished)."""
    eager_silence_ms: int | None = None
    """Silence that ends a turn whose words sound finished (semantic turn detection); None:
    silence alone decides, as with OpenAI's `server_vad`."""
    unsure_silence_ms: int | None = None
    """With `eager_silence_ms`: silence that ends a turn whose words may or may not be done."""
    doubt_silence_ms: int | None = None
    """With the end-of-turn model: silence that ends a turn where the words and the voice
    disagree (one says finished, the other not); None: the longest wait."""
    interrupt_response: bool = True
    """Speech onset during an answer interrupts it (barge-in)."""
    create_response: bool = True
    """The end of a turn starts an answer."""
    min_speech_ms: int = 64
    """Voiced audio needed to call it speech (filters clicks)."""
    min_interruption_ms: int = 400
    """Shorter speech with no words recognised is a false interruption: the answer resumes."""
    early_silence_ms: int = 96
    """After this much silence the turn is transcribed speculatively."""
    quiet_ratio: float | None = None
    """Also transcribe speculatively once the audio has stayed this far below the turn's
    loudest chunk (RMS ratio) for `quiet_ms`: the VAD says "speech" for ~100 ms after the
    voice stops, the signal level knows sooner. None: the VAD alone decides."""
    quiet_ms: int = 64
    voice_score_ms: int | None = None
    """Silence after which the end-of-turn model scores the pause (and again at twice and
    four times it); None: no voice model, the words alone decide (`server_vad`, tests)."""
    voice_done: float = 0.5
    """The end-of-turn model's probability at or above which the voice sounds finished."""
    voice_sure: float = 0.8
    """... and sure enough of it to answer at the shortest silence (`eager_silence_ms`):
    finished sentences score 0.86-0.99, and a first part before a short pause ("Hello,
    ... how are you?") 0.3-0.7; in between, the wait for words that may be done."""
    backchannels: bool = False
    """Speech over an answer is checked for a listener's backchannel ("uh-huh") before it
    interrupts (semantic_vad); False: any speech with words interrupts (server_vad)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("threshold must be between 0 and 1")
        for name in (
            "prefix_padding_ms",
            "silence_duration_ms",
            "min_speech_ms",
            "min_interruption_ms",
            "early_silence_ms",
            "eager_silence_ms",
            "unsure_silence_ms",
            "doubt_silence_ms",
            "quiet_ms",
            "voice_score_ms",
        ):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 10_000:
                raise ValueError(f"{name} must be between 0 and 10000 ms")
        if not 0.0 <= self.voice_done <= self.voice_sure <= 1.0:
            raise ValueError("voice_done and voice_sure must be 0 <= done <= sure <= 1")
        if self.quiet_ratio is not None and not 0.0 < self.quiet_ratio < 1.0:
            raise ValueError("quiet_ratio must be between 0 and 1")

    @property
    def negative_threshold(self) -> float:
        # Hysteresis as in silero's own segmenter: speech ends well below the onset level.
        return max(0.01, self.threshold - 0.15)


@dataclass(frozen=True)
class VoiceOnset:
    """A first voiced chunk (at or above the lower hysteresis level): maybe speech, maybe a
    click. Enough to hold our own voice."""


@dataclass(frozen=True)
class VoiceLost:
    """The voiced chunks stopped before they made speech."""


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: float


@dataclass(frozen=True)
class SpeechPaused:
    """The user went quiet long enough to start transcribing, maybe not to end the turn."""

    revision: int
    audio: NDArray[np.float32]


@dataclass(frozen=True)
class SpeechResumed:
    """The paused speech went on: what was started on its pause is stale."""

    revision: int
    """The new revision."""


@dataclass(frozen=True)
class ScoreVoice:
    """Ask the end-of-turn model about the paused speech `revision`; answer `voice_heard`."""

    revision: int
    audio: NDArray[np.float32]


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: float
    revision: int
    """Equal to the last SpeechPaused's revision when no speech came since."""
    audio: NDArray[np.float32]
    speech_ms: float


TurnEvent = (
    VoiceOnset
    | VoiceLost
    | SpeechStarted
    | SpeechPaused
    | SpeechResumed
    | ScoreVoice
    | SpeechStopped
)
#: The words of a pause are not known yet.
_UNHEARD: Final = "unheard"


class TurnDetector:
    def __init__(self, settings: TurnSettings) -> None:
        self.settings = settings
        self.hint_level: float | None = None
        """A lower level for the first-chunk hint (VoiceOnset) than `negative_threshold`:
        set while an echo canceller cleans the microphone (see Listening)."""
        self.reset()

    def reset(self) -> None:
        pad_chunks = max(1, int(round(self.settings.prefix_padding_ms / CHUNK_MS)))
        self._history: deque[NDArray[np.float32]] = deque(maxlen=pad_chunks)
        self._pending: list[NDArray[np.float32]] = []
        self._audio: list[NDArray[np.float32]] = []
        self._position_ms = 0.0
        self._speaking = False
        self._start_ms = 0.0
        self._silence_chunks = 0
        self._cut = 0
        self._revision = 0
        self._paused = False
        self._turn_end_ms = self.settings.silence_duration_ms
        self._words: WordsVerdict | Literal["unheard"] = _UNHEARD
        self._voice: float | None = None
        self._voice_wavered = False
        self._next_score_ms: int | None = None
        self._hinted = False
        self._armed = True
        self._loudest = 0.0
        self._quiet_chunks = 0

    @property
    def speaking(self) -> bool:
        return self._speaking

    @property
    def _hint_level(self) -> float:
        level = self.settings.negative_threshold
        return level if self.hint_level is None else min(level, self.hint_level)

    @property
    def speech_ms(self) -> float:
        """How long the current speech has lasted (0 when not speaking)."""
        if not self._speaking:
            return 0.0
        return self._position_ms - self._start_ms - self._silence_chunks * CHUNK_MS

    def speech_so_far(self) -> NDArray[np.float32] | None:
        """The current speech from its start (with the padding before it), or None."""
        return np.concatenate(self._audio) if self._speaking and self._audio else None

    @property
    def position_ms(self) -> float:
        return self._position_ms

    def words_heard(self, revision: int, finished: WordsVerdict) -> list[TurnEvent]:
        """What the words of paused speech `revision` say about the end of the turn.

        Finished-sounding words end it after `eager_silence_ms`, words that may
        be done after `unsure_silence_ms`. Returns the SpeechStopped at once when
        that silence has already passed; otherwise `push` ends the turn when it
        has. Stale revisions (the user went on talking) are ignored.
        """
        if not (self._speaking and self._paused and revision == self._revision):
            return []
        self._words = finished
        return self._decide()

    def voice_heard(self, revision: int, probability: float) -> list[TurnEvent]:
        """What the end-of-turn model says of paused speech `revision` (after ScoreVoice)."""
        if not (self._speaking and self._paused and revision == self._revision):
            return []
        self._voice = probability
        # A voice that sounded unfinished at first may only have paused ("Hello, ... how
        # are you?" over a 300 ms comma): its later "finished" is not sure enough to answer
        # at the shortest silence.
        self._voice_wavered |= probability < self.settings.voice_done
        return self._decide()

    def _decide(self) -> list[TurnEvent]:
        """The silence this pause needs, from what is known of it; the turn ends now if that
        much has passed already."""
        s = self.settings
        if s.eager_silence_ms is None:
            return []  # server_vad: silence alone
        words, voice = self._words, self._voice
        longest = s.silence_duration_ms
        if words == _UNHEARD:
            wait = longest  # nothing known yet
        elif words == GUESSED:
            # A sentence, maybe: the voice can neither confirm its end (a first part said
            # before a pause often sounds finished) nor deny it (questions rise).
            wait = s.doubt_silence_ms or longest
        elif words is False:
            # A trailing clause: the longest wait, unless the voice sounds finished (it is
            # often right: "I'll take that", heard as "I'll take that,").
            done = voice is not None and voice >= s.voice_done and s.voice_score_ms is not None
            wait = (s.doubt_silence_ms or longest) if done else longest
        elif s.voice_score_ms is None:  # the words alone
            wait = s.eager_silence_ms if words is True else (s.unsure_silence_ms or longest)
        elif voice is None:
            wait = longest  # the voice is asked at voice_score_ms; until then, wait
        elif voice >= s.voice_done:
            sure = words is True and voice >= s.voice_sure and not self._voice_wavered
            wait = s.eager_silence_ms if sure else (s.unsure_silence_ms or longest)
        elif words is True:
            wait = s.doubt_silence_ms or longest  # a sentence, said as if more is coming
        else:
            wait = longest  # the voice says more is coming (it is asked again later)
        self._turn_end_ms = min(wait, longest)
        if self._silence_chunks * CHUNK_MS >= self._turn_end_ms:
            return [self._stop()]
        return []

    def push(self, chunk: NDArray[np.float32], probability: float) -> list[TurnEvent]:
        if chunk.shape != (CHUNK_SAMPLES,):
            raise ValueError(f"chunks are {CHUNK_SAMPLES} samples")
        s = self.settings
        events: list[TurnEvent] = []
        chunk_start = self._position_ms
        self._position_ms += CHUNK_MS
        if not self._speaking:
            if probability >= s.threshold:
                self._pending.append(chunk)
                if len(self._pending) == 1 and not self._hinted:
                    events.append(VoiceOnset())
                self._hinted = False
                if len(self._pending) * CHUNK_MS >= s.min_speech_ms:
                    self._speaking = True
                    self._start_ms = chunk_start - (len(self._pending) - 1) * CHUNK_MS
                    self._audio = [*self._history, *self._pending]
                    self._pending = []
                    self._silence_chunks = 0
                    self._paused = False
                    self._revision += 1
                    self._loudest = 0.0
                    self._quiet_chunks = 0
                    events.append(SpeechStarted(audio_start_ms=self._start_ms))
            elif probability >= self._hint_level and self._armed and not self._pending:
                # Maybe the start of a word: enough to hold our own voice for one chunk.
                events.append(VoiceOnset())
                self._hinted, self._armed = True, False
                self._history.append(chunk)
            else:
                if self._pending or self._hinted:
                    events.append(VoiceLost())
                self._hinted = False
                # Noise hovering near the threshold holds our voice once, not every chunk.
                self._armed = self._armed or probability < self._hint_level
                self._history.extend(self._pending)
                self._pending = []
                self._history.append(chunk)
            return events

        self._audio.append(chunk)
        quiet = self._quiet(chunk)
        if probability >= s.threshold:
            # The VAD lags the voice: a quiet chunk it still calls speech resumes nothing.
            if not (self._paused and quiet):
                if self._paused:
                    self._revision += 1  # the speculative transcription is stale now
                    events.append(SpeechResumed(self._revision))
                self._paused = False
                self._unpause()
            self._silence_chunks = 0
        elif probability < s.negative_threshold:
            self._silence_chunks += 1
        silence_ms = self._silence_chunks * CHUNK_MS
        went_quiet = self._quiet_chunks * CHUNK_MS >= s.quiet_ms and s.quiet_ratio is not None
        if not self._paused and (
            (silence_ms >= s.early_silence_ms and self._silence_chunks) or went_quiet
        ):
            self._paused = True
            self._cut = len(self._audio)
            self._next_score_ms = s.voice_score_ms
            events.append(SpeechPaused(self._revision, np.concatenate(self._audio)))
        score_at = self._next_score_ms
        if self._paused and score_at is not None and silence_ms >= score_at:
            # Asked at voice_score_ms, then at twice and four times it: a voice that
            # sounded unfinished may sound finished after a longer silence.
            self._next_score_ms = score_at * 2 if score_at < 4 * (s.voice_score_ms or 0) else None
            # The speech and the silence after it: how the voice ended, and how long ago.
            events.append(ScoreVoice(self._revision, np.concatenate(self._audio)))
        too_long = self._position_ms - self._start_ms >= MAX_UTTERANCE_MS
        if silence_ms >= self._turn_end_ms or too_long:
            events.append(self._stop())
        return events

    def _quiet(self, chunk: NDArray[np.float32]) -> bool:
        """Far below the turn's loudest chunk; counts the run of such chunks."""
        ratio = self.settings.quiet_ratio
        if ratio is None:
            return False
        level = _rms(chunk)
        self._loudest = max(self._loudest, level)
        quiet = level < ratio * self._loudest
        self._quiet_chunks = self._quiet_chunks + 1 if quiet else 0
        return quiet

    def _stop(self) -> SpeechStopped:
        silence_ms = self._silence_chunks * CHUNK_MS
        cut = self._cut if self._paused else len(self._audio)
        end_ms = self._position_ms - silence_ms
        stopped = SpeechStopped(
            audio_end_ms=end_ms,
            revision=self._revision if self._paused else -1,
            audio=np.concatenate(self._audio[:cut]),
            speech_ms=end_ms - self._start_ms,
        )
        self._speaking = False
        self._audio = []
        self._history.clear()
        self._silence_chunks = 0
        self._paused = False
        self._unpause()
        return stopped

    def _unpause(self) -> None:
        self._turn_end_ms = self.settings.silence_duration_ms
        self._words = _UNHEARD
        self._voice = None
        self._voice_wavered = False
        self._next_score_ms = None


def _rms(chunk: NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(np.square(chunk, dtype=np.float64))))
