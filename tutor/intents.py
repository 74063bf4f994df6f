"""What the student wants, from one utterance (Whisper text or a typed message).

Rules, not a model: the phrases are few and the cost of a slow or wrong guess in the
middle of a lesson is high. Order matters; the checks run most specific first.
"""

from __future__ import annotations

import re
from typing import Literal

from tutor.answers import parse_move, read_answer
from tutor.mathread import problem_from_speech
from tutor.problems import READ_ERRORS

Intent = Literal[
    "read_camera", "next_step", "confused", "show_all", "repeat", "answer", "new_problem", "other"
]

_CONFUSED = re.compile(
    r"\b(?:(?:i )?(?:don't|do not|dont|didn't|did not|still don't) (?:get|understand|follow|know)|"
    r"(?:i'm|i am|i'm still) (?:confused|lost|stuck)|confus|makes? no sense|"
    r"what do you mean|(?:explain|say) (?:it |that )?(?:again )?(?:more )?(?:simpl|differently|another way)|"
    r"explain (?:it |that )?again|why\?*$|huh\b|how come)"
)
_SHOW_ALL = re.compile(
    r"\b(?:just (?:show|tell|give) me|(?:tell|give|show) me the (?:whole |full )?(?:answer|solution)|"
    r"what'?s the answer|what is the answer|show (?:me )?(?:all|everything|the whole thing|all the steps)|"
    r"(?:solve|do) it for me|skip to the (?:end|answer)|i give up)"
)
_REPEAT = re.compile(
    r"\b(?:say (?:that|it) again|repeat|come again|pardon|what did you (?:just )?say|"
    r"one more time|didn't (?:hear|catch)|sorry\?*$|can you say that)"
)
_READ_CAMERA = re.compile(
    r"\b(?:help me (?:with|solve|do|on)? ?(?:this|that|it|my homework|this one|this problem|this question)|"
    r"what'?s this (?:problem|question|one)|what is this (?:problem|question)|look at (?:this|my)|"
    r"(?:can you )?read (?:this|it|that)|(?:check|solve|do) this(?: one| problem| question)?|"
    r"new problem|next problem|another (?:problem|one)|here'?s (?:a|the|my) (?:problem|question)|"
    r"can you see (?:this|it)|help me\W*$|help\W*$)"
)
_NEXT = re.compile(
    r"^(?:ok(?:ay)?|k|yes|yeah|yep|sure|right|alright|all right|got it|i see|cool|fine|go on|go ahead|"
    r"continue|next|and then|then what|what now|carry on|keep going|makes sense)\b|"
    r"\bnext step\b|what'?s next|what is next|what (?:do|should) (?:i|we) do (?:next|now)|"
    r"what comes next|what'?s the next"
)
_ANSWER_LEAD = re.compile(
    r"^(?:(?:um+|uh+|so|well|maybe|ok(?:ay)?)[\s,]+)*(?:is it|is that|i think|i guess|i got|i get|"
    r"it's|it is|the answer is|would it be|could it be|we get|you get|do we|do you|should i|should we|"
    r"[a-z] (?:equals|is|=|>|<))\b"
)


def classify(utterance: str) -> Intent:
    """One of the tutor's intents; "other" when none fits (small talk, noise)."""
    u = re.sub(r"\s+", " ", utterance.lower().replace("’", "'")).strip(" .!")
    if not u:
        return "other"
    if _CONFUSED.search(u):
        return "confused"
    if _SHOW_ALL.search(u):
        return "show_all"
    if _REPEAT.search(u):
        return "repeat"
    answer_like = bool(_ANSWER_LEAD.search(u)) or _is_bare_answer(u)
    if not answer_like and _has_math(u) and problem_from_speech(u) is not None:
        return "new_problem"
    if answer_like:
        return "answer"
    if _READ_CAMERA.search(u):
        return "read_camera"
    if _NEXT.search(u):
        return "next_step"
    if parse_move(u) is not None or _is_bare_answer(u):
        return "answer"
    return "other"


def _has_math(u: str) -> bool:
    return bool(re.search(r"\d|\b(?:plus|minus|times|equals|over|squared|percent|divided)\b", u))


def _is_bare_answer(u: str) -> bool:
    """ "four", "5/6", "x = 2 and x = 3", "x is bigger than 2": an answer with nothing else."""
    if re.search(r"\b(?:solve|simplify|expand|what|calculate|work out|help|find)\b", u):
        return False
    try:
        parts = read_answer(u)
    except READ_ERRORS:
        return False
    if not parts:
        return False
    # An answer names at most a letter on the left: "3 + 4*2" is a question, "x = 4" an answer.
    return all(
        re.fullmatch(r"(?:[a-z] (?:=|<|>|<=|>=) )?[-\d./() sqrt^*+]+|no .*|all .*", p)
        and not re.search(r"\d\s*[-+*^]\s*\d", p)
        for p in parts
    )
