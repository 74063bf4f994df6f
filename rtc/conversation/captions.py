"""Live captions of the user's speech: the transcription sessions' part of a call.

While the user speaks, the speech so far is transcribed about once a second and the
words two hypotheses in a row agree on are sent as
`conversation.item.input_audio_transcription.delta` (append-only: a delta is never taken
back). When the turn ends it is transcribed whole: what the deltas have not said yet is
the last delta, and `.completed` carries the whole turn's words, which the deltas add up
to (where the whole hearing differs from captions already sent, the captions stand).
No answer is made.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from difflib import SequenceMatcher
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.base import OmniSession
from model.errors import ModelError
from model.types import Transcript
from rtc import events as ev
from rtc.events import ServerEvents
from rtc.vad import SAMPLE_RATE

logger = logging.getLogger(__name__)

#: Speech between two partial transcriptions.
EVERY_S = 1.0
_WORD = re.compile(r"\S+")


class Captions:
    def __init__(self, events: ServerEvents, session: OmniSession, log_prefix: str = "") -> None:
        self.events = events
        self.session = session
        self.languages: list[str] = []
        self.prompt = ""
        self._log = log_prefix
        self._item: str | None = None
        self._sent: list[str] = []
        """Words already sent as deltas for the current turn."""
        self._last: list[str] = []
        """The previous partial hypothesis, word by word."""
        self._next_at_s = EVERY_S
        self._partial: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def started(self, item_id: str) -> None:
        self._cancel_partial()
        self._item, self._sent, self._last, self._next_at_s = item_id, [], [], EVERY_S

    def progress(self, speech_ms: float, speech: Callable[[], NDArray[np.float32] | None]) -> None:
        """After every chunk of speech: a partial transcription, about once a second."""
        if self._item is None or speech_ms / 1000 < self._next_at_s:
            return
        if self._partial is not None and not self._partial.done():
            return  # one at a time: the next one hears more
        audio = speech()
        if audio is None:
            return
        self._next_at_s = len(audio) / SAMPLE_RATE + EVERY_S
        self._partial = self._spawn(self._hear_partial(self._item, audio))

    def stopped(self, item_id: str, audio: NDArray[np.float32]) -> None:
        """The turn ended: its words, whole."""
        self._cancel_partial()
        self._spawn(self._hear_whole(item_id, audio, list(self._sent)))
        self._item = None

    async def _hear_partial(self, item_id: str, speech: NDArray[np.float32]) -> None:
        transcript = await self._transcribe(speech)
        if item_id != self._item or transcript is None:
            return
        words = _WORD.findall(transcript.text)
        agreed = _common_prefix(self._last, words)
        self._last = words
        if len(agreed) > len(self._sent) and _same(agreed[: len(self._sent)], self._sent):
            new = agreed[len(self._sent) :]
            self._send_delta(item_id, new, first=not self._sent)
            self._sent = agreed

    async def _hear_whole(self, item_id: str, audio: NDArray[np.float32], sent: list[str]) -> None:
        transcript = await self._transcribe(audio) or Transcript("", "", 0.0)
        words = _WORD.findall(transcript.text)
        if _same(words[: len(sent)], sent):
            text, rest = transcript.text, words[len(sent) :]
        else:
            # The whole turn was heard a little differently ("milk" where a caption said
            # "no"): deltas are never taken back, so the words are what they said and what
            # the whole hearing adds after them, and the deltas add up to the transcript.
            rest = words[_after(sent, words) :]
            text = " ".join(sent + rest)
        if rest:
            self._send_delta(item_id, rest, first=not sent)
        self.events.emit(
            ev.TRANSCRIPTION_COMPLETED,
            {
                "item_id": item_id,
                "content_index": 0,
                "transcript": text,
                "language": transcript.language,
            },
        )

    def _send_delta(self, item_id: str, words: list[str], *, first: bool) -> None:
        text = " ".join(words)
        delta = text if first else " " + text
        self.events.emit(
            ev.TRANSCRIPTION_DELTA, {"item_id": item_id, "content_index": 0, "delta": delta}
        )

    async def _transcribe(self, audio: NDArray[np.float32]) -> Transcript | None:
        try:
            return await self.session.transcribe(audio, self.languages, prompt=self.prompt)
        except ModelError as exc:
            logger.warning("%scaption failed: %s", self._log, exc)
            return None

    def _cancel_partial(self) -> None:
        if self._partial is not None:
            self._partial.cancel()
            self._partial = None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _key(word: str) -> str:
    return word.strip(".,;:!?¿¡\"'").lower()


def _same(a: list[str], b: list[str]) -> bool:
    return len(a) == len(b) and all(_key(x) == _key(y) for x, y in zip(a, b, strict=True))


def _after(sent: list[str], words: list[str]) -> int:
    """Where in `words` (a new hearing) the words already `sent` end: past the last word
    both have in common, plus as many words as were sent after it (heard differently)."""
    matcher = SequenceMatcher(None, [_key(w) for w in sent], [_key(w) for w in words], False)
    end_sent = end_words = 0
    for block in matcher.get_matching_blocks():
        if block.size:
            end_sent, end_words = block.a + block.size, block.b + block.size
    return min(len(words), end_words + len(sent) - end_sent)


def _common_prefix(a: list[str], b: list[str]) -> list[str]:
    """The words two hypotheses agree on, from the start (the newer one's spelling)."""
    out: list[str] = []
    for x, y in zip(a, b, strict=False):
        if _key(x) != _key(y):
            break
        out.append(y)
    return out
