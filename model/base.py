"""The omni model interface.

One `OmniModel` is loaded per process and shared by every call; each call gets
its own `OmniSession`, which holds that call's conversation. Backends declare
what they can do in `Capabilities` instead of failing at run time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from model.conversation import Conversation
from model.dialogue import DialogueOutput, DialogueRequest
from model.errors import UnsupportedError
from model.types import FaceEmotion, SpeechChunk, TextLine, TimedTranscript, Transcript
from model.words import spread_words

ProgressCallback = Callable[[str], None]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; scenarios check this before they ask."""

    speech_to_text: bool
    """Can transcribe 16 kHz audio."""
    text_to_speech: bool
    """Can speak text."""
    spoken_languages: frozenset[str] = field(default_factory=frozenset)
    """Languages it can hear and speak (ISO 639-1)."""
    translation_pairs: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    """(source, target) pairs it can translate text between."""
    vision: bool = False
    """Can look at images."""
    ocr: bool = False
    """Can read printed text in images (`read_text`)."""
    emotion: bool = False
    """Can read facial expressions (`read_faces`)."""
    dialogue: bool = False
    """Can hold a conversation: follow instructions, call tools (`converse`)."""

    def can_interpret(self, a: str, b: str) -> bool:
        return (a, b) in self.translation_pairs and (b, a) in self.translation_pairs

    def interpreter_pairs(self) -> list[tuple[str, str]]:
        """Unordered language pairs usable both ways, sorted, each once."""
        return sorted({tuple(sorted(p)) for p in self.translation_pairs if self.can_interpret(*p)})  # type: ignore[misc]

    def as_dict(self) -> dict[str, object]:
        return {
            "speech_to_text": self.speech_to_text,
            "text_to_speech": self.text_to_speech,
            "spoken_languages": sorted(self.spoken_languages),
            "translation_pairs": [list(p) for p in sorted(self.translation_pairs)],
            "vision": self.vision,
            "ocr": self.ocr,
            "emotion": self.emotion,
            "dialogue": self.dialogue,
        }


class OmniSession(ABC):
    """One call's view of the shared model. Not shared between calls."""

    def __init__(self) -> None:
        self.conversation = Conversation()

    @abstractmethod
    async def transcribe(
        self, audio: NDArray[np.float32], languages: Sequence[str], *, prompt: str = ""
    ) -> Transcript:
        """Transcribe one utterance, deciding between `languages` only (empty = any).

        `prompt`: words the speaker is likely to use (names, jargon), as OpenAI's
        `transcription.prompt`; a backend may ignore it."""

    async def transcribe_words(
        self, audio: NDArray[np.float32], languages: Sequence[str], *, prompt: str = ""
    ) -> TimedTranscript:
        """Like `transcribe`, word by word with timings (streaming recognition needs them).

        This default transcribes and spreads the words over the voiced part of the audio
        (`exact_timings` False), so any backend can interpret simultaneously; backends
        whose recogniser knows where each word lies override it."""
        transcript = await self.transcribe(audio, languages, prompt=prompt)
        return spread_words(transcript, audio)

    @abstractmethod
    async def translate(self, text: str, source: str, target: str) -> str:
        """Translate text; raises UnsupportedError for a pair it cannot do."""

    @abstractmethod
    def synthesize(
        self,
        text: str,
        language: str,
        *,
        sample_rate: int,
        voice: str | None = None,
        speed: float = 1.0,
    ) -> AsyncIterator[SpeechChunk]:
        """Speak `text`, one chunk per sentence, resampled to `sample_rate`, `speed` times
        as fast as the voice's own pace (a backend whose voice has one pace ignores it).

        Cancelling the consumer stops the synthesis at the next sentence.
        """

    async def read_text(self, rgb: NDArray[np.uint8]) -> list[TextLine]:
        """Read printed text in an RGB image, line by line, top to bottom."""
        raise UnsupportedError("this backend cannot read text in images")

    async def read_faces(self, rgb: NDArray[np.uint8]) -> list[FaceEmotion]:
        """Faces in an RGB frame with their expressions, largest first."""
        raise UnsupportedError("this backend cannot read facial expressions")

    def converse(self, request: DialogueRequest) -> AsyncIterator[DialogueOutput]:
        """Answer one turn with the request's instructions and tools, streaming the words,
        the voice and each tool call (run by the backend, its result handed back to the
        model) and then `DialogueDone`. Cancelling the consumer stops the answer."""
        raise UnsupportedError("this backend cannot hold a conversation")

    def truncate(self, item_id: str, audio_end_ms: float) -> str | None:
        """Keep only what the user actually heard of an assistant item."""
        return self.conversation.truncate(item_id, audio_end_ms)

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release per-call state."""


class OmniModel(ABC):
    """A model loaded once per process."""

    name: str = "abstract"

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    def check(self) -> None:  # noqa: B027 - optional hook
        """Raise ModelLoadError naming what a start would miss (a package, a file, a
        program); cheap: nothing is loaded. A server checks before it loads anything."""

    @abstractmethod
    def load(self, progress: ProgressCallback) -> None:
        """Load weights (blocking; call it from a worker thread). Idempotent."""

    @property
    @abstractmethod
    def loaded(self) -> bool: ...

    @abstractmethod
    def session(self) -> OmniSession:
        """A new per-call session."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release process-wide resources."""
