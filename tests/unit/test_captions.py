"""Live captions: deltas are append-only and add up to the completed transcript, even when
the whole turn is heard differently from the captions sent while it was spoken."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from rtc import events as ev
from rtc.conversation.captions import Captions
from rtc.events import ServerEvents
from tests.fakes import FakeSession


def _silence(seconds: int) -> NDArray[np.float32]:
    return np.zeros(16_000 * seconds, np.float32)


async def _caption(partials: list[str], whole: str) -> tuple[list[str], str]:
    """Captions of one turn: `partials` heard while it was spoken, then `whole` at its end;
    (the deltas, the completed transcript)."""
    events = ServerEvents()
    seen: list[dict[str, Any]] = []
    events.observer = seen.append
    session = FakeSession()
    captions = Captions(events, session)
    captions.started("item_1")
    speech = np.zeros(16_000, np.float32)
    for i, heard in enumerate(partials):
        session.heard = heard
        captions.progress(1000.0 * (i + 1), partial(_silence, i + 1))
        if captions._partial is not None:
            await captions._partial
    session.heard = whole
    captions.stopped("item_1", speech)
    await asyncio.gather(*captions._tasks)
    deltas = [e["delta"] for e in seen if e["type"] == ev.TRANSCRIPTION_DELTA]
    (completed,) = [e["transcript"] for e in seen if e["type"] == ev.TRANSCRIPTION_COMPLETED]
    return deltas, completed


@pytest.mark.parametrize(
    ("partials", "whole", "expected"),
    [
        # Heard the same: the last delta is what the captions had not said yet.
        (["I would", "I would like a"], "I would like a coffee.", "I would like a coffee."),
        # A word heard differently at the end: the captions stand, the rest follows them.
        (
            ["I would like no", "I would like no milk"],
            "I would like milk, milk.",
            "I would like no milk.",
        ),
        # A word dropped by the whole hearing: nothing said twice.
        (["a cup of", "a cup of tea"], "cup of tea please.", "a cup of tea please."),
        # The whole hearing failed: the transcript is what the captions said.
        (["hello there", "hello there"], "", "hello there"),
    ],
)
async def test_deltas_add_up_to_the_completed_transcript(
    partials: list[str], whole: str, expected: str
) -> None:
    deltas, completed = await _caption(partials, whole)
    assert "".join(deltas).split() == completed.split()
    assert completed == expected
    assert deltas  # captions while the user spoke
