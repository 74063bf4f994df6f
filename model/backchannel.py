"""Is what the user said over the answer a backchannel, or an interruption?

Listeners say "uh-huh", "yeah", "sí", "vale" while someone speaks, cough and
laugh: none of it asks the speaker to stop. "Wait", "stop", "espera",
"no, no" and any real sentence do. This module decides from what the
recogniser heard (Whisper's text and language) and how long the speech
lasted; pure logic, no audio, so the gateway can call it on a speculative
transcript as soon as one exists.

When in doubt it says "interruption": stopping for a backchannel costs a
moment, talking over someone who said "stop" is what users complain about.
So a word it does not know makes an interruption, and so does "stop" misheard
as "star" (which Whisper base does, see tests/test_backchannel.py).

The word lists cover what Whisper base really writes for these words in the
project's voices, not only their spelling: "uh-huh" comes out as "Ah", "Oh."
or "Ow", "mm-hmm" as "Emama", "Ememam", "MAMA", "MMA", "M M" or "M.A.", "sí" as "C", "vale"
as "Bale" or "Palette", "ajá" as "Akka", "Okay" or "Ah, ha.".
Whisper's language for one short word is unreliable ("sí" is detected as
English), so the lists of every language are used whatever it says.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Kind = Literal["backchannel", "non_speech", "interruption"]

#: Speech longer than this is a turn of its own, whatever the words.
MAX_BACKCHANNEL_S = 1.6
#: More words than this are a sentence ("okay okay I see now thanks" is not "okay").
MAX_BACKCHANNEL_WORDS = 4
#: Shorter voiced audio holds no word anyone means as an interruption: a click, a cough.
MIN_WORD_S = 0.2

# Words that ask the speaker to stop or to listen (any language; folded: lower case,
# no accents). Checked first: "okay wait" interrupts.
_STOP = """
wait stop hold hang no nope sorry pardon excuse what huh but actually listen hey
espera espere esperate para pare parate alto oye oiga perdon perdona disculpa momento
pero que como
"""

# Backchannels and fillers, with Whisper base's hearing of them in our voices ("emama",
# "mama", "mma", "m": mm-hmm; "c": si; "bale", "palette": vale; "aka", "akka": aja; "ow":
# uh-huh).
_BACKCHANNEL = """
yeah yes yep yup yah ok okay okey kay right alright sure cool nice great good fine
true exactly indeed totally absolutely gotcha wow ah oh ow uh um umm er erm hm hmm hmmm mm mmm
mhm mmhm mmhmm mhmm uhhuh uhuh aha ahh ooh emama mama mma m
si c vale bale palette aja aka akka claro bueno exacto venga ya entiendo perfecto cierto eso vaya
"""
_LAUGH = """
ha haha hahaha ahah ahaha he hehe hihi ja jaja jajaja je jeje jiji
"""

# Two-word backchannels ("I" and "see" are not backchannels on their own).
_PHRASES = (
    ("i", "see"),
    ("got", "it"),
    ("all", "right"),
    ("m", "a"),  # "M.A.": mm-hmm, as Whisper base writes it
    ("of", "course"),
    ("makes", "sense"),
    ("de", "acuerdo"),
    ("ya", "veo"),
    ("esta", "bien"),
    ("por", "supuesto"),
    ("tiene", "sentido"),
)

_STOP_WORDS = frozenset(_STOP.split())
_LAUGH_WORDS = frozenset(_LAUGH.split())
_BACKCHANNEL_WORDS = frozenset(_BACKCHANNEL.split()) | _LAUGH_WORDS
#: "[laughter]", "(coughs)", "*sighs*", "♪": Whisper's notes for sounds that are not words.
_NOTE = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫]")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
#: One short syllable said over and over: laughter ("jajaja") or Whisper looping on noise.
_REPEATED = re.compile(r"^(\w{1,3}?)\1{2,}\w{0,2}$")
#: A hum: hummed consonants and a vowel or two, at least two m's ("mm-hmm" heard as
#: "Ememam", "Mmhm", "Umm"); of real words only "mama", "meme" and the like, never
#: meant to interrupt.
_HUM = re.compile(r"^(?=(?:[^m]*m){2})[mhaeu]{2,8}$")


@dataclass(frozen=True)
class Verdict:
    """What an utterance over the assistant's speech is, and why (for logs and metrics)."""

    kind: Kind
    reason: str

    @property
    def interrupts(self) -> bool:
        """The answer should stop (and the utterance be answered)."""
        return self.kind == "interruption"


def _fold(text: str) -> str:
    """Lower case without accents: "Ajá" and "aja", "Sí" and "si" are the same word here."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The words of a transcript, folded, with Whisper's sound notes and hyphens removed."""
    spoken = _NOTE.sub(" ", _fold(text))
    return [w.replace("-", "").replace("'", "").replace("’", "") for w in _WORD.findall(spoken)]


#: Backchannels Whisper may write as two words; joined before "huh" is taken for "what?".
_JOINED = {("uh", "huh"): "uhhuh", ("mm", "hmm"): "mmhmm", ("m", "hm"): "mhm"}


def _join(tokens: list[str]) -> list[str]:
    out: list[str] = []
    for token in tokens:
        joined = _JOINED.get((out[-1], token)) if out else None
        if joined is None:
            out.append(token)
        else:
            out[-1] = joined
    return out


def _is_backchannel_word(word: str) -> bool:
    return word in _BACKCHANNEL_WORDS or bool(_REPEATED.match(word) or _HUM.match(word))


def _without_phrases(tokens: list[str]) -> list[str] | None:
    """The tokens with two-word backchannels taken out; None if a token is left that is no
    backchannel."""
    i = 0
    while i < len(tokens):
        if tuple(tokens[i : i + 2]) in _PHRASES:
            i += 2
        elif _is_backchannel_word(tokens[i]):
            i += 1
        else:
            return None
    return []


def classify(
    text: str, language: str = "", duration_s: float = 0.0, *, started_like_one: bool = False
) -> Verdict:
    """Backchannel, non-speech, or interruption, for speech heard while the assistant talks.

    `text`: the recogniser's transcript (empty if it heard no words).
    `language`: its language code; informative only (see the module docstring).
    `duration_s`: how long the speech lasted (the VAD's voiced time), 0 if unknown.
    `started_like_one`: its first words, heard while it was said, were a backchannel's.
    Then one word the lists do not know is that backchannel heard worse at its end
    (Whisper base writes "mm-hmm" as "M." 192 ms in and "Ememlan" once it is over);
    a stop word still interrupts, and so do two words or more.
    """
    del language  # one short word's language is a guess: every list is used
    if duration_s > MAX_BACKCHANNEL_S:
        return Verdict("interruption", f"{duration_s:.1f} s of speech is a turn")
    # Whisper loops on a short sound ("Akka Akka Akka ..."): a word said once.
    tokens = [
        t for i, t in enumerate(_join(words(text))) if i == 0 or t != _join(words(text))[i - 1]
    ]
    if not tokens:
        return Verdict("non_speech", "no words (a cough, a laugh, a noise)")
    for token in tokens:
        unit = _REPEATED.match(token)
        if token in _STOP_WORDS or (unit is not None and unit.group(1) in _STOP_WORDS):
            return Verdict("interruption", f"'{token}' asks to stop")
    if 0.0 < duration_s < MIN_WORD_S:
        return Verdict("non_speech", f"{1000 * duration_s:.0f} ms is too short for a word")
    if len(tokens) > MAX_BACKCHANNEL_WORDS:
        return Verdict("interruption", f"{len(tokens)} words are a sentence")
    if _without_phrases(tokens) is None:
        if started_like_one and len(tokens) == 1:
            return Verdict("backchannel", f"'{text.strip()}' started like a backchannel")
        return Verdict("interruption", f"'{text.strip()}' is not a backchannel")
    if all(t in _LAUGH_WORDS or _REPEATED.match(t) for t in tokens):
        return Verdict("non_speech", f"'{text.strip()}' is laughter or a sound")
    return Verdict("backchannel", f"'{text.strip()}' is a backchannel")


def may_still_be_backchannel(speech_s: float) -> bool:
    """While the user is still speaking over the answer: could this yet be a backchannel?
    Once it is not, the gateway can interrupt without waiting for the words."""
    return speech_s <= MAX_BACKCHANNEL_S
