"""The apology a listener hears in place of an answer that failed.

Voiced once per process, ahead of need (the voice may be what fails later), and
shared by every call: the gateway owns one `Apology` for its model.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np
from numpy.typing import NDArray

from model.base import OmniSession
from model.errors import ModelError
from rtc.conversation.playout import SAMPLE_RATE

logger = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side. Please say that again."
#: How long a failed answer waits for the apology's voice before going silent.
WAIT_S = 5.0


class Apology:
    def __init__(self, text: str = APOLOGY) -> None:
        self.text = text
        self._voice: asyncio.Task[NDArray[np.int16] | None] | None = None

    def prepare(self, session: OmniSession) -> None:
        """Start voicing it (once) with `session`, the first call's view of the model."""
        if self._voice is None or (self._voice.done() and self._voice.result() is None):
            self._voice = asyncio.get_running_loop().create_task(
                self._synthesize(session), name="apology voice"
            )

    async def voice(self) -> NDArray[np.int16] | None:
        """The apology at the playout rate, or None if it cannot be had in time."""
        if self._voice is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(self._voice), timeout=WAIT_S)
        except Exception:  # not ready in time, or the voice failed: the error event stands alone
            logger.warning("no apology to play", exc_info=True)
            return None

    async def _synthesize(self, session: OmniSession) -> NDArray[np.int16] | None:
        try:
            chunks = [c async for c in session.synthesize(self.text, "en", sample_rate=SAMPLE_RATE)]
        except ModelError:
            logger.warning("no voice for apologies", exc_info=True)
            return None
        pcm = [c.pcm for c in chunks if c.sample_rate == SAMPLE_RATE]
        return np.concatenate(pcm) if pcm else None

    async def aclose(self) -> None:
        if self._voice is not None and not self._voice.done():
            self._voice.cancel()
            await asyncio.gather(self._voice, return_exceptions=True)
