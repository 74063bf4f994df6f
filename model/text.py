"""Text helpers shared by backends and scenarios."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def split_sentences(text: str) -> list[str]:
    """Split text after sentence punctuation; never returns empty strings."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")


def speech_pieces(text: str) -> list[str]:
    """Sentences to synthesize one by one, the first cut at its first clause mark.

    The first piece decides how soon the listener hears anything, and synthesis
    time grows with its length; later pieces are made while earlier ones play.
    """
    sentences = split_sentences(text)
    if not sentences:
        return []
    first = _CLAUSE_END.split(sentences[0], maxsplit=1)
    if len(first) == 2 and len(first[1].split()) >= 2:
        return [first[0], first[1], *sentences[1:]]
    return sentences


_LANGUAGE_NAMES = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian",
    "pt": "Portuguese", "zh": "Chinese", "ja": "Japanese", "ko": "Korean",
}  # fmt: skip


def language_name(code: str) -> str:
    """ "es" -> "Spanish", for instructions to a model; an unknown code is itself."""
    return _LANGUAGE_NAMES.get(code, code)
