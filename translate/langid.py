"""Which language of a pair a typed text is in (speech uses the ASR's own detection)."""

from __future__ import annotations

import re

_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "the",
            "a",
            "an",
            "is",
            "are",
            "was",
            "were",
            "be",
            "to",
            "of",
            "and",
            "in",
            "on",
            "at",
            "for",
            "with",
            "you",
            "i",
            "he",
            "she",
            "it",
            "we",
            "they",
            "this",
            "that",
            "what",
            "where",
            "how",
            "why",
            "who",
            "do",
            "does",
            "did",
            "not",
            "my",
            "your",
            "please",
            "thank",
            "hello",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "un",
            "una",
            "es",
            "son",
            "era",
            "fue",
            "ser",
            "de",
            "y",
            "en",
            "con",
            "para",
            "por",
            "que",
            "qué",
            "donde",
            "dónde",
            "cómo",
            "como",
            "yo",
            "tú",
            "usted",
            "él",
            "ella",
            "nosotros",
            "ellos",
            "esto",
            "eso",
            "no",
            "mi",
            "su",
            "por",
            "favor",
            "gracias",
            "hola",
            "está",
            "estás",
            "estoy",
            "muy",
        ]
    ),
}
_SPANISH_MARKS = re.compile(r"[ñáéíóúü¿¡]", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def guess_language(text: str, pair: tuple[str, str]) -> str:
    """Pick the language of `pair` whose common words and letters fit `text` best."""
    words = [w.lower() for w in _WORD.findall(text)]
    scores = {lang: sum(w in _STOPWORDS.get(lang, frozenset()) for w in words) for lang in pair}
    if "es" in scores:
        scores["es"] += 2 * len(_SPANISH_MARKS.findall(text))
    best = max(pair, key=lambda lang: scores[lang])
    return best if scores[best] > 0 else pair[0]
