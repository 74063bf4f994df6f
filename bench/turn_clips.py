"""Utterances for the turn-taking benchmark, in the project's own voices (48 kHz).

A speaker who pauses mid-sentence keeps the voice of a sentence that goes
on: "I would like to order ... a coffee" is not "I would like to order." said
alone, which any listener (and Smart Turn) hears as finished. So each paused
utterance is voiced whole, with a comma where the pause goes (Piper and
espeak-ng both make a short break there, with the pitch of a clause that
continues), and that break is then stretched to exactly the pause wanted.

Piper is used without its sampling noise (`varied=False`), so every run and
every server variant hears the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bench.common import _voices
from model.audio import resample_int16

RATE = 48_000
_FRAME = RATE // 100  # 10 ms
#: A 10 ms frame this far below the clip's loudest is silence (for finding the break).
_QUIET_DB = -35.0
#: A sample louder than this is voice (as bench.common.voiced_bounds).
_LOUD = 500


def voice(text: str, language: str) -> NDArray[np.int16]:
    """`text` voiced at 48 kHz, the same samples every time, trimmed to its voice."""
    piper, espeak = _voices()
    if language == "en":
        pcm, rate = piper.synthesize(text, varied=False), piper.sample_rate
    else:
        pcm, rate = espeak.synthesize(text, language), espeak.sample_rate
    out = resample_int16(pcm, rate, RATE)
    loud = np.flatnonzero(np.abs(out.astype(np.int32)) > _LOUD)
    return out[loud[0] : loud[-1] + 1]


def _quiet_runs(pcm: NDArray[np.int16], min_ms: int = 40) -> list[tuple[int, int]]:
    """(start, end) sample ranges of silence inside the clip, at least `min_ms` long."""
    n = len(pcm) // _FRAME
    frames = pcm[: n * _FRAME].astype(np.float64).reshape(n, _FRAME)
    level = np.sqrt(np.mean(frames**2, axis=1)) + 1e-9
    quiet = 20 * np.log10(level / level.max()) < _QUIET_DB
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for i, q in enumerate(quiet):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if (i - start) * 10 >= min_ms and start > 0:
                runs.append((start * _FRAME, i * _FRAME))
            start = None
    return runs


@dataclass(frozen=True)
class PausedUtterance:
    """A sentence with a pause inside, and when (from the clip's start) each part ends."""

    text: str
    language: str
    kind: str
    """"clause" (an unfinished clause), "wait" ("wait, ..."), "number" (a number to come)."""
    pause_s: float
    pcm: NDArray[np.int16]
    first_end_s: float
    """The first part's last voice."""
    end_s: float
    """The last voice: the speaker has finished."""


def stretch_break(
    whole: NDArray[np.int16], first_samples: int, pause_s: float
) -> tuple[NDArray[np.int16], float]:
    """`whole` with its break nearest `first_samples` in replaced by exactly `pause_s` of
    silence; (the new clip, seconds to the end of the voice before the pause)."""
    runs = _quiet_runs(whole)
    if not runs:
        raise ValueError("no break found in the clip")
    start, end = min(runs, key=lambda r: abs(r[0] - first_samples))
    gap = np.zeros(int(round(pause_s * RATE)), np.int16)
    loud = np.flatnonzero(np.abs(whole[:start].astype(np.int32)) > _LOUD)
    return np.concatenate([whole[:start], gap, whole[end:]]), float(loud[-1] + 1) / RATE


def paused(text: str, first: str, language: str, kind: str, pause_s: float) -> PausedUtterance:
    """`text` (with a comma after `first`) voiced whole, its break after `first` made
    exactly `pause_s` of silence."""
    whole = voice(text, language)
    # Said alone, the first part is about as long as in the whole: its break is near there.
    pcm, first_end_s = stretch_break(whole, len(voice(first, language)), pause_s)
    return PausedUtterance(
        text=text,
        language=language,
        kind=kind,
        pause_s=pause_s,
        pcm=pcm,
        first_end_s=first_end_s,
        end_s=len(pcm) / RATE,
    )


#: (whole text with a comma at the pause, its first part, language, kind)
PAUSED = [
    ("I would like to order, a coffee with milk.", "I would like to order", "en", "clause"),
    ("Wait, I have a question about the ticket.", "Wait", "en", "wait"),
    ("x is equal to, four.", "x is equal to", "en", "number"),
    ("Espera, tengo una pregunta.", "Espera", "es", "wait"),
    ("Quiero pedir, un café con leche.", "Quiero pedir", "es", "clause"),
    ("Equis es igual a, cuatro.", "Equis es igual a", "es", "number"),
    ("Can you tell me, where the train station is?", "Can you tell me", "en", "clause"),
    ("Necesito comprar, dos billetes de tren.", "Necesito comprar", "es", "clause"),
]
#: Finished utterances (the first with a comma: the README's own example).
COMPLETE = [
    ("Hello, how are you today?", "en"),
    ("I would like a cup of coffee with milk please.", "en"),
    ("Where is the train station?", "en"),
    ("Buenos días, ¿cómo estás?", "es"),
    ("Quiero un café con leche, por favor.", "es"),
    ("¿Dónde está la estación de tren?", "es"),
]
BACKCHANNELS = [
    ("Uh-huh.", "en"),
    ("Yeah.", "en"),
    ("Okay.", "en"),
    ("Mm-hmm.", "en"),
    ("Sí.", "es"),
    ("Vale.", "es"),
]
INTERRUPTION = ("Wait, stop please.", "en")
#: Typed, so the interpreter speaks its Spanish (espeak-ng): about 7 s.
LONG_ANSWER = (
    "My brother lives in Barcelona and works as a doctor. He has a big house near the sea. "
    "Every summer we visit him with our children."
)
#: Typed answers to hear the echo of (3-4 s each).
ECHO_ANSWERS = [
    "The train to Madrid leaves at nine in the morning from platform four.",
    "I would like a cup of coffee with milk and a glass of water please.",
    "We walk on the beach every day and eat fish in the evening.",
]
