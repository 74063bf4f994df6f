"""Text helpers shared by backends and scenarios."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def split_sentences(text: str) -> list[str]:
    """Split text after sentence punctuation; never returns empty strings."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
