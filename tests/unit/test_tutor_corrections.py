"""What the student says back about a reading (tutor/corrections.py): yes, no, a spoken
fix of the part that was misread, or which problem of a sheet to do. The utterances are
written the way Whisper writes them (capitals, full stops, digits or words)."""

from __future__ import annotations

import pytest

from tutor.corrections import Pick, judge_reply, named_problem
from tutor.mathread import parse_problem
from tutor.problems import Problem


def _read(text: str) -> Problem:
    problem = parse_problem(text, source="camera")
    assert problem is not None, text
    return problem


@pytest.mark.parametrize(
    ("read", "said", "fixed"),
    [
        ("2x - 18 = 0", "No, it's x squared.", "2*x^2 - 18 = 0"),
        ("2x - 18 = 0", "No. It's 2x squared.", "2*x^2 - 18 = 0"),
        ("2x - 18 = 0", "no it's two x squared minus eighteen equals zero", "2*x^2 - 18 = 0"),
        ("3x = 27", "It should be three x squared.", "3*x^2 = 27"),
        ("x^2 + 4 = 13", "No, there's no square.", "x + 4 = 13"),
        ("x/2 + 3 = 5", "The bottom is 4.", "x/4 + 3 = 5"),
        ("x/2 + 3 = 5", "No, the denominator is four.", "x/4 + 3 = 5"),
        ("(x - 1)/8 = 4", "No, the bottom number is three.", "(x - 1)/3 = 4"),
        ("(x - 1)/3 = 4", "The top is x plus 1.", "(x + 1)/3 = 4"),
        ("x - 4 + 3 = 5", "No, it's x over 4.", "x/4 + 3 = 5"),
    ],
)
def test_a_spoken_fix_is_applied(read: str, said: str, fixed: str) -> None:
    reply = judge_reply(said, _read(read))
    assert reply.verdict == "fixed", reply
    assert reply.problem is not None and reply.problem.text == fixed
    assert reply.problem.source == "camera"


def test_a_fix_applies_to_the_reading_it_fits() -> None:
    # The tutor went on to ask "is it x - 4 + 3 = 5 then?"; the student fixes the fraction.
    reply = judge_reply("The bottom is 2.", _read("x - 4 + 3 = 5"), [_read("x/4 + 3 = 5")])
    assert reply.problem is not None and reply.problem.text == "x/2 + 3 = 5"


@pytest.mark.parametrize("said", ["Yes.", "Yeah, that's right.", "Correct!", "Yep"])
def test_yes_confirms(said: str) -> None:
    read = _read("x/4 + 3 = 5")
    assert judge_reply(said, read).verdict == "yes"
    assert judge_reply(said, read).problem == read


@pytest.mark.parametrize("said", ["No.", "Nope", "That's wrong."])
def test_a_bare_no(said: str) -> None:
    assert judge_reply(said, _read("x/4 + 3 = 5")).verdict == "no"


def test_something_else_is_unclear() -> None:
    assert judge_reply("What time is it?", _read("x/4 + 3 = 5")).verdict == "unclear"


@pytest.mark.parametrize(
    ("said", "pick"),
    [
        ("Can you help me with number three?", Pick(number="3")),
        ("Number 3.", Pick(number="3")),
        ("Let's do problem 12.", Pick(number="12")),
        ("The second one, please.", Pick(position=2)),
        ("Do the last problem.", Pick(position=-1)),
        ("Problem b.", Pick(number="b")),
        ("OK, the next one.", Pick(next=True)),
        ("What is 3 times 4?", None),
        ("x equals four", None),
    ],
)
def test_which_problem_of_a_sheet(said: str, pick: Pick | None) -> None:
    assert named_problem(said) == pick
