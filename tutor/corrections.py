"""What the student says back about a reading: yes, no, a correction, or which problem.

When the tutor is unsure of what it read it says it and asks; the answer is a plain yes,
a no, or a spoken fix of the part that was wrong ("no, it's x squared", "the bottom is
4", "it's x over 4", or the whole problem again). On a sheet of several problems the
student names one ("number three", "the second one", "problem b").

Rules, not a model, as in tutor/intents.py: the phrases are few, and a wrong guess here
means solving the wrong problem.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tutor.mathread import parse_problem, problem_from_speech
from tutor.problems import READ_ERRORS, Problem, parse_tree, render_plain
from tutor.speech import words_to_math

# ------------------------------------------------------------------ yes / no / fix

_YES = re.compile(
    r"^(?:yes|yeah|yep|yup|correct|that's (?:right|correct|it)|that is (?:right|correct|it)|"
    r"right|exactly|sure|ok(?:ay)?|uh[- ]huh|it is|looks (?:right|good))\b"
)
_NO = re.compile(r"^(?:no|nope|nah|not quite|not really|wrong|that's (?:wrong|not (?:it|right)))\b")
_LEAD = re.compile(
    r"^(?:[\s,.!]*(?:no|nope|nah|not quite|actually|well|um+|uh+|so|sorry|it's|it is|its|"
    r"that's|that is|it should be|should be|i (?:think|mean)|the problem is|it says|"
    r"there's|there is|that was)\b)+[\s,.!:]*"
)
_BOTTOM = re.compile(r"\b(?:bottom(?: number| part)?|denominator|under (?:the|that) line)\b")
_TOP = re.compile(r"\b(?:top(?: number| part)?|numerator|over (?:the|that) line|above the line)\b")
_NO_POWER = re.compile(r"\bno (?:square|squared|power|exponent|little (?:two|2))\b|\bnot squared\b")

Verdict = Literal["yes", "no", "fixed", "unclear"]


@dataclass(frozen=True)
class Reply:
    verdict: Verdict
    problem: Problem | None = None  # the confirmed or corrected problem


def _clean(utterance: str) -> str:
    return re.sub(r"\s+", " ", utterance.lower().replace("’", "'")).strip(" .!?")


def judge_reply(utterance: str, read: Problem, alternatives: Sequence[Problem] = ()) -> Reply:
    """The student's answer to "I read ..., is that right?"."""
    u = _clean(utterance)
    if not u:
        return Reply("unclear")
    negative = bool(_NO.match(u))
    # The fix applies to the reading it fits: "the bottom is 2" to the one with a fraction
    # in it, when the tutor had gone on to ask about another ("then is it x - 4...?").
    for k, candidate in enumerate((read, *alternatives)):
        others = [a for j, a in enumerate((read, *alternatives)) if j != k]
        fixed = correct(u, candidate, others)
        if fixed is not None and fixed.text != read.text:
            return Reply("fixed", fixed)
    if _YES.match(u) and not negative:
        return Reply("yes", read)
    return Reply("no") if negative else Reply("unclear")


def correct(utterance: str, read: Problem, alternatives: Sequence[Problem] = ()) -> Problem | None:
    """The problem as the student's correction says it is, or None when it says nothing
    that can be applied to this reading."""
    u = _clean(utterance)
    rest = _LEAD.sub("", u).strip()
    if not rest:
        return None
    # The whole problem said again.
    whole = problem_from_speech(rest)
    if whole is not None and _similar(whole, read):
        return _as(whole, read)
    source = read.source
    if _NO_POWER.search(u):
        return _reparse(re.sub(r"\^\d+", "", read.text), source)
    part = _BOTTOM.search(rest) or _TOP.search(rest)
    if part is not None:
        said = re.sub(r"^(?:is|are|=|should be|says)\s+", "", rest[part.end() :].strip())
        value = _math(said)
        if value is not None:
            return _replace_fraction_part(read, value, bottom=_BOTTOM.search(rest) is not None)
        return None
    fragment = _math(rest)
    if fragment is None:
        return None
    for alt in alternatives:  # a reading considered first, when the fix names it
        if _compact(fragment) in _compact(alt.text):
            return alt
    return _apply_fragment(read, fragment)


def _similar(a: Problem, b: Problem) -> bool:
    """A whole problem said back as a correction shares most of the reading's symbols."""
    sa, sb = set(_compact(a.text)), set(_compact(b.text))
    return len(sa & sb) >= 0.6 * max(1, min(len(sa), len(sb)))


def _as(problem: Problem, read: Problem) -> Problem:
    return Problem(problem.kind, problem.text, problem.latex, read.source)


def _compact(text: str) -> str:
    return text.replace(" ", "").replace("*", "")


def _math(said: str) -> str | None:
    """Spoken math -> plain text ("x squared" -> "x^2", "x minus one" -> "x - 1")."""
    text = words_to_math(said)
    text = re.sub(r"(?<=\d)\s*(?=[a-z(])", "*", text)
    text = re.sub(r"\s+", " ", text).strip()
    if not text or re.search(r"[a-z]{2,}", text.replace("sqrt", "")):
        return None
    try:
        return render_plain(parse_tree(text))
    except READ_ERRORS:
        return None


def _reparse(text: str, source: str) -> Problem | None:
    from tutor.problems import unwrap

    wrapper, inner = unwrap(text)
    return parse_problem(f"{wrapper}: {inner}" if wrapper else inner, source)


# A fraction in plain form: a bracketed group or a number/letter, "/", the same again.
_OPERAND = r"(?:\([^()]*\)|\d+(?:\.\d+)?|[a-z])"
_FRACTION = re.compile(rf"({_OPERAND})/({_OPERAND})")


def _wrap(value: str) -> str:
    return value if re.fullmatch(r"\d+(?:\.\d+)?|[a-z]", value) else f"({value})"


def _replace_fraction_part(read: Problem, value: str, bottom: bool) -> Problem | None:
    """ "The bottom is 4": the (first) fraction's denominator becomes 4; a bar read as a
    minus ("x - 4") becomes the fraction the student describes."""
    m = _FRACTION.search(read.text)
    if m is None:
        return None
    num, den = m.group(1), m.group(2)
    new = f"{num}/{_wrap(value)}" if bottom else f"{_wrap(value)}/{den}"
    return _reparse(read.text[: m.start()] + new + read.text[m.end() :], read.source)


def _apply_fragment(read: Problem, fragment: str) -> Problem | None:
    """Fit a spoken piece ("x^2", "2*x^2", "x/4") into the reading where it differs least:
    the reading's term that the piece corrects is replaced by it."""
    candidates: list[str] = []
    text = read.text
    power = re.fullmatch(r"(?:(\d+)\*)?([a-z])\^(\d+)", fragment)
    if power:
        coef, var, exp = power.groups()
        head = rf"{coef}\*" if coef else r"(?:\d+\*)?"
        # x -> x^2, or x^3 -> x^2, where the variable stands on its own.
        for m in re.finditer(rf"(?<![a-z^]){head}{var}(?:\^\d+)?(?![a-z(])", text):
            term = m.group()
            base = re.sub(r"\^\d+$", "", term)
            candidates.append(text[: m.start()] + f"{base}^{exp}" + text[m.end() :])
    fraction = _FRACTION.fullmatch(fragment)
    if fraction:
        num, den = fraction.groups()
        # The bar read as a minus: "x - 4" back to "x/4".
        minus = re.escape(f"{num.strip('()')} - {den.strip('()')}")
        for m in re.finditer(minus, text):
            candidates.append(text[: m.start()] + f"{num}/{den}" + text[m.end() :])
        for m in _FRACTION.finditer(text):
            if m.group(1) == num or m.group(2) == den:
                candidates.append(text[: m.start()] + fragment + text[m.end() :])
    for candidate in candidates:
        problem = _reparse(candidate, read.source)
        if problem is not None and problem.text != read.text:
            return problem
    return None


# ------------------------------------------------------------------ which problem


@dataclass(frozen=True)
class Pick:
    """A problem of a sheet the student named: by its printed number or letter, by its
    place ("the second one"), or the next one not done."""

    number: str | None = None
    position: int | None = None  # 1-based; -1 = the last
    next: bool = False


_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
        ],
        0,
    )
}
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "last": -1,
}
_BY_NUMBER = re.compile(
    r"\b(?:number|problem|question|exercise|no\.?|#)\s*(\d{1,2}|" + "|".join(_NUMBER_WORDS) + r")\b"
)
_BY_LETTER = re.compile(r"\b(?:problem|question|part|letter|exercise)\s+\(?([a-f])\)?(?![a-z])")
_BY_PLACE = re.compile(
    r"\b(?:the\s+)?(" + "|".join(_ORDINALS) + r")\s+(?:one|problem|question|exercise)\b"
)
_NEXT = re.compile(r"\b(?:next|another) (?:one|problem|question|exercise)\b")


def named_problem(utterance: str) -> Pick | None:
    """Which problem of a sheet the student means, if they name one."""
    u = _clean(utterance)
    if m := _BY_NUMBER.search(u):
        word = m.group(1)
        return Pick(number=_NUMBER_WORDS.get(word, word))
    if m := _BY_LETTER.search(u):
        return Pick(number=m.group(1))
    if m := _BY_PLACE.search(u):
        return Pick(position=_ORDINALS[m.group(1)])
    if _NEXT.search(u):
        return Pick(next=True)
    return None
