"""Checking what the student says: a final answer, an intermediate result, or a next move.

Everything is compared with sympy, never by string: "x equals four", "is it 4?", "4"
and "x = 8/2" are the same answer. A wrong answer gets a reason the student can check
("2 times 5 plus 3 is 13, not 11"), not just "no".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from tutor.mathread import has_bracket_product
from tutor.problems import (
    EXPRESSION_KINDS,
    MAX_TEXT,
    READ_ERRORS,
    Problem,
    Step,
    fmt_value,
    free_vars,
    meaning,
    parse_tree,
    plain,
    render_plain,
    same_meaning,
    solution_text,
    split_relation,
    sympify_plain,
    unwrap,
)
from tutor.speech import pretty, words_to_math


@dataclass(frozen=True)
class Check:
    correct: bool
    student: str  # what the student said, as plain math when it could be read
    feedback: str  # one or two sentences: right or wrong, and why

    def as_event(self) -> dict[str, object]:
        """The payload of `tutor.check`."""
        return {"correct": self.correct, "student": self.student, "feedback": self.feedback}


# ---------------------------------------------------------------- proposed moves

# Most specific first: "add the equations" is elimination, "multiply out" is expanding.
_MOVE_VERBS: tuple[tuple[str, str], ...] = (
    ("eliminate", r"\beliminat|\b(?:add|subtract|take away) the (?:two )?equations"),
    ("common_denominator", r"common denominator|same denominator|\blcd\b|lowest common"),
    ("reciprocal", r"reciprocal|flip (?:the )?(?:second )?fraction|upside down|keep change flip"),
    (
        "expand",
        r"\bexpand|distribut|multiply out|open (?:up )?the brackets|\bfoil\b|remove the brackets",
    ),
    ("zero", r"(?:each|both) (?:factor|bracket)s? (?:to|equal to|equals?) (?:zero|0)"),
    ("formula", r"\bformula\b|discriminant"),
    ("factor", r"\bfactor"),
    ("substitute", r"substitut|\bplug|\bsub (?:it )?in|put (?:it|that|\w+ = \S+) (?:back )?in"),
    ("combine", r"\bcombine|\bcollect|like terms|\bsimplif|\bgroup"),
    ("swap", r"\bswap|\bswitch (?:the )?sides"),
    ("flip", r"\bflip|reverse the (?:sign|inequality)|turn the sign"),
    ("convert", r"as a (?:decimal|fraction)|\bconvert"),
    ("cancel", r"\bcancel"),
    (
        "subtract",
        r"\bsubtract|\btake (?:away|off)|\bminus\b.*\b(?:both sides|from)|\btake\b.*\bfrom\b",
    ),
    ("add", r"\badd\b|\bplus\b.*\bboth sides"),
    ("multiply", r"\bmultiply|\btimes\b.*\bboth sides|\btimes (?:both sides|everything|it) by"),
    ("divide", r"\bdivide|\bsplit\b|\bshare\b"),
    ("move", r"\bmove\b|get rid of|\bbring\b"),
)
# "do four times two first": an operation named for the order of operations.
_FIRST_OPS = (
    ("multiply", r"\btimes\b"),
    ("divide", r"divided by|\bover\b"),
    ("add", r"\bplus\b"),
    ("subtract", r"\bminus\b"),
)
_SAME = {
    "move": {"add", "subtract"},
    "combine": {"simplify", "group", "order"},
    "expand": {"distribute", "foil"},
}


@dataclass(frozen=True)
class Move:
    verbs: tuple[str, ...]
    amounts: tuple[Any, ...]  # sympy values ("subtract 3" -> (3,), "subtract 2x" -> (2*x,))
    said: str


def parse_move(utterance: str) -> Move | None:
    """A proposed next move ("I think you subtract 3", "divide both sides by two")."""
    low = utterance.lower()
    verbs = [verb for verb, pattern in _MOVE_VERBS if re.search(pattern, low)]
    if not verbs and re.search(r"\bfirst\b|\bbefore\b", low):
        verbs = [verb for verb, pattern in _FIRST_OPS if re.search(pattern, low)]
    if not verbs:
        return None
    # The operation is in the verb; what is left are the amounts ("take away 2x": 2x, not -2x).
    math = words_to_math(
        re.sub(
            r"\b(?:take (?:away|off)|minus|plus|times|divided by|multiplied by|over)\b", " ", low
        )
    )
    amounts = []
    for m in re.finditer(
        r"(?:-\s*)?\d+(?:\.\d+)?(?:\s*/\s*\d+)?(?:\s*\*?\s*[a-z](?![a-z]))?", math
    ):
        try:
            amounts.append(sympify_plain(m.group().replace(" ", "")))
        except READ_ERRORS:
            continue
    main = next((v for v in verbs if v != "flip"), verbs[0])
    said = " ".join([main, *(plain(a) for a in amounts)])
    return Move(tuple(verbs), tuple(amounts), said)


def _move_matches(move: Move, step: Step) -> bool:
    for alternative in step.move.split("|"):
        verb, *args = alternative.split()
        if not any(v == verb or verb in _SAME.get(v, ()) for v in move.verbs):
            continue
        if not args or not move.amounts:
            return True
        try:
            targets = [sympify_plain(a) for a in args]
        except READ_ERRORS:
            return True
        if all(any(sp.simplify(a - t) == 0 for t in targets) for a in move.amounts):
            return True
    return False


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _check_move(move: Move, steps: Sequence[Step], next_index: int) -> Check | None:
    if not 0 <= next_index < len(steps):
        return None
    step = steps[next_index]
    if _move_matches(move, step):
        extra = ""
        if "flip" in step.move and "flip" not in move.verbs and "flip" not in step.text:
            extra = " And remember to flip the inequality sign."
        ask = "" if step.final else " What do you get?"
        return Check(True, move.said, f"Yes, {_lower_first(step.text)}{extra}{ask}")
    verb = step.move.split("|")[0].split()[0]
    if verb in move.verbs and move.amounts:
        return Check(
            False, move.said, f"Close: you're right to {verb}, but {_lower_first(step.text)}"
        )
    return Check(False, move.said, f"Not quite. The next step is: {_lower_first(step.text)}")


# ---------------------------------------------------------------- answers

_LEAD = re.compile(
    r"^(?:(?:um+|uh+|er+|hmm+|so|well|ok(?:ay)?|yeah|yes|no|maybe|then|and|i think|i guess|"
    r"i believe|i got|i get|we get|you get|it's|it is|its|is it|is that|would it be|could it be|"
    r"should it be|does it (?:equal|make)|is the answer|the answer is|the answer's|answer|"
    r"my answer is|that gives|that makes|equals|that's|thats)\b[\s,:]*)+"
)
_TAIL = re.compile(r"(?:[\s,]*\b(?:right|maybe|i think|is that right|correct|then)\b)*[\s?.!]*$")
_WORDS = {
    "no solution": "no solution",
    "no real solution": "no real solution",
    "no solutions": "no solution",
    "no real solutions": "no real solution",
    "all real numbers": "all real numbers",
    "every number": "all real numbers",
    "any number": "all real numbers",
    "infinitely many": "all real numbers",
}


# "<the unknown, misheard> = <number>": Whisper hears a synthetic or hurried "x equals five"
# as "xd equals 5" or "x d equals 5"; the letters still name the one unknown.
_NAMED_VALUE = re.compile(r"(?<![a-z])([a-z](?: ?[a-z]){0,2}) = (-?\d+(?:\.\d+)?(?: ?/ ?\d+)?)$")


def read_answer(utterance: str, unknown: str | None = None) -> list[str] | None:
    """The math in an answer, as plain parts ("x equals 2 or 3" -> ["x = 2", "3"]).

    With the problem's one `unknown`, a value given to a few letters that include it is read
    as the unknown's value."""
    for words, state in _WORDS.items():
        if words in utterance.lower():
            return [state]
    low = _TAIL.sub("", _LEAD.sub("", utterance.lower().strip()))
    math = words_to_math(low)
    math = math.strip()
    named = _NAMED_VALUE.search(math) if unknown else None
    if (
        named
        and unknown in named.group(1)
        and named.group(1) not in ("or", "and")
        # Only words before it: "is an x equals 6" reads "= an x = 6" ("is" is "=").
        and re.fullmatch(r"(?:= )?[a-z' ]*", math[: named.start()])
    ):
        return [f"{unknown} = {named.group(2).replace(' ', '')}"]
    if not math or re.search(
        r"[a-z]{2,}", math.replace("sqrt", "").replace("and", "").replace("or", "")
    ):
        return None
    parts = [p.strip() for p in re.split(r";|,|\band\b|\bor\b", math) if p.strip()]
    out = []
    for part in parts:
        lhs, op, rhs = split_relation(part)
        sides = [parse_tree(lhs)] + ([parse_tree(rhs)] if rhs else [])
        out.append(
            " ".join(filter(None, [render_plain(sides[0]), op, rhs and render_plain(sides[1])]))
        )
    if not any(re.search(r"\d", p) for p in out) and not any(op in p for p in out for op in "=<>"):
        return None  # "x" or "y": not an answer
    return out


def check_answer(
    problem: Problem, steps: Sequence[Step], next_index: int, utterance: str
) -> Check | None:
    """Check a spoken or typed answer or move; None when it is not an answer attempt."""
    if not utterance or len(utterance) > MAX_TEXT:
        return None
    move = parse_move(utterance)
    if move is not None:
        return _check_move(move, steps, next_index)
    try:
        variables = free_vars(problem.text) if problem.kind not in EXPRESSION_KINDS else []
        unknown = str(variables[0]) if len(variables) == 1 else None
        parts = read_answer(utterance, unknown)
        if parts is None:
            return None
        if problem.kind in EXPRESSION_KINDS:
            return _check_expression(problem, steps, parts[-1])
        if problem.kind == "linear_system":
            return _check_system(problem, parts)
        return _check_single(problem, steps, parts)
    except READ_ERRORS:
        return None


def _words(expr_text: str) -> str:
    """ "2*5 + 3" -> "2 times 5 plus 3", for saying a substitution out loud."""
    s = re.sub(r"\^2\b", " squared", expr_text)
    s = re.sub(r"\s*\*\s*", " times ", s)
    s = re.sub(r"\s*/\s*", " divided by ", s)
    return s.replace(" + ", " plus ").replace(" - ", " minus ")


def _put(text: str, var: Any, value: Any) -> str:
    shown = fmt_value(value)
    shown = shown if re.fullmatch(r"\d+", shown) else f"({shown})"
    return re.sub(rf"(?<![a-z]){var}(?![a-z])", shown, text)


def _why_wrong(problem: Problem, values: dict[Any, Any], inequality: bool = False) -> str:
    """Put the student's values into the original equations and say what comes out."""
    for part in problem.text.split(";"):
        lhs, op, rhs = split_relation(part.strip())
        left, right = sympify_plain(lhs).subs(values), sympify_plain(str(rhs)).subs(values)
        if left.free_symbols or right.free_symbols:
            continue
        if (op == "=" or inequality) and left != right:
            shown = lhs
            for var, value in values.items():
                shown = _put(shown, var, value)
            if sympify_plain(str(rhs)).free_symbols:
                return f"the left side comes to {fmt_value(left)} but the right side to {fmt_value(right)}"
            return f"{_words(shown)} is {fmt_value(left)}, not {fmt_value(right)}"
    return "that doesn't make the equation true"


def _why_right(problem: Problem, var: Any, value: Any) -> str:
    lhs, op, rhs = split_relation(problem.text)
    if op != "=" or rhs is None:
        return ""
    left = sympify_plain(lhs).subs(var, value)
    if sympify_plain(rhs).free_symbols:
        return f": both sides come to {fmt_value(left)}"
    return f": {_words(_put(lhs, var, value))} is {fmt_value(left)}"


def _check_single(problem: Problem, steps: Sequence[Step], parts: list[str]) -> Check:
    (var,) = free_vars(problem.text)
    named = [p if re.search(r"[=<>]", p) or p in _WORDS.values() else f"{var} = {p}" for p in parts]
    student = " or ".join(named)
    shown = pretty(student)
    target = meaning(problem, problem.text)
    said = meaning(problem, student)
    solved = all(re.fullmatch(rf"{var} (?:=|<|>|<=|>=) [^a-z]+|no .*|all .*", p) for p in named)
    if same_meaning(said, target):
        if not solved:
            return Check(True, student, f"Yes, {shown} is right so far. What's the next step?")
        if student in _WORDS.values():
            return Check(
                True,
                student,
                f"Yes, {'every number works' if student.startswith('all') else 'there is ' + student}.",
            )
        values = list(said) if isinstance(said, sp.FiniteSet) else []
        why = _why_right(problem, var, values[0]) if len(values) == 1 else ""
        return Check(True, student, f"Yes, {shown} is right{why}.")
    if not solved:
        return Check(
            False,
            student,
            f"Not quite: {shown} doesn't have the same solution as {pretty(problem.text)}.",
        )
    if problem.kind == "linear_inequality":
        if not any(re.search(r"[<>]", p) for p in named):
            return Check(
                False,
                student,
                "The answer to an inequality is a range of numbers, like x > 2: which way does it go?",
            )
        edges = [e for e in getattr(said, "boundary", []) if e.is_finite]
        if isinstance(said, sp.Interval) and isinstance(target, sp.Interval) and edges:
            edge = fmt_value(edges[0])
            if said.boundary == target.boundary:
                why = f"check which way the sign points and whether {edge} itself is included"
                return Check(False, student, f"Close: {edge} is the right boundary, but {why}.")
            at_edge = _why_wrong(problem, {var: edges[0]}, inequality=True)
            why = f"at the boundary both sides are equal, but with {var} = {edge}, {at_edge}"
            return Check(False, student, f"Not quite: {why}.")
    if isinstance(said, sp.FiniteSet) and said:
        if said.is_subset(target):
            return Check(False, student, f"{shown} is right, but there is another solution too.")
        wrong = next(v for v in said if v not in target)
        return Check(False, student, f"Not quite: {_why_wrong(problem, {var: wrong})}.")
    return Check(False, student, f"Not quite: the answer isn't {shown}.")


def _check_system(problem: Problem, parts: list[str]) -> Check:
    variables = free_vars(problem.text)
    (solution,) = meaning(problem, problem.text)
    expected = dict(zip(variables, solution, strict=True))
    given: dict[Any, Any] = {}
    for i, part in enumerate(parts):
        lhs, op, rhs = split_relation(part)
        if op is None and i < len(variables):
            given[variables[i]] = sympify_plain(lhs)
        elif (
            op == "="
            and rhs is not None
            and re.fullmatch(r"[a-z]", lhs)
            and not re.search(r"[a-z]", rhs)
        ):
            given[sp.Symbol(lhs)] = sympify_plain(rhs)
        elif op == "=" and rhs is not None:
            eq = sympify_plain(lhs) - sympify_plain(rhs)
            ok = sp.simplify(eq.subs(expected)) == 0
            said = "; ".join(parts)
            return Check(
                ok,
                said,
                f"Yes, {pretty(part)} is true for this system. What's next?"
                if ok
                else f"Not quite: {pretty(part)} doesn't follow from the equations.",
            )
    student = "; ".join(f"{v} = {fmt_value(given[v])}" for v in variables if v in given)
    right = [v for v in given if v in expected and sp.simplify(given[v] - expected[v]) == 0]
    if len(right) == len(variables):
        return Check(
            True,
            student,
            f"Yes, {student.replace(';', ' and')} is right: it works in both equations.",
        )
    if right and len(given) == len(right):
        missing = next(v for v in variables if v not in given)
        return Check(False, student, f"{pretty(student)} is right; now find {missing}.")
    if len(given) == len(variables):
        return Check(
            False,
            student,
            f"Not quite: with {student.replace(';', ' and')}, {_why_wrong(problem, given)}.",
        )
    wrong = next(v for v in given if v not in right)
    return Check(
        False, student, f"Not quite: {wrong} isn't {fmt_value(given[wrong])}; check your steps."
    )


def _term_count(text: str) -> int:
    tree = parse_tree(text)
    count = 1
    while tree.kind == "op" and tree.text in "+-" and not tree.paren:
        count, tree = count + 1, tree.args[0]
    return count


def _check_expression(problem: Problem, steps: Sequence[Step], part: str) -> Check:
    if re.search(r"[=<>]", part):
        part = split_relation(part)[2] or part  # "it equals 12"
    value = sympify_plain(part)
    target = meaning(problem, problem.text)
    answer = solution_text(problem)
    numeric = problem.kind not in ("simplify", "expand")
    if numeric and value.free_symbols:
        raise ValueError("letters in a number answer")
    shown = pretty(part)
    if same_meaning(value, target):
        if part == answer:
            return Check(True, part, f"Yes, {shown} is right.")
        if numeric and re.fullmatch(r"-?\d+(?:\.\d+)?(?:/\d+)?", part):
            reducible = "/" in part and sp.Rational(part).q != int(part.split("/")[1])
            if reducible or ("/" in part and "/" not in answer):
                return Check(
                    True, part, f"Yes, {shown} is right, and it simplifies to {pretty(answer)}."
                )
            return Check(True, part, f"Yes, {shown} is right; that's {pretty(answer)}.")
        final = (
            not numeric
            and sympify_plain(part) == sympify_plain(answer)
            and _term_count(part) == _term_count(answer)
            and not has_bracket_product(parse_tree(part))
        )
        if final:
            return Check(True, part, f"Yes, {shown} is right.")
        if any(part == s.math for s in steps):
            return Check(True, part, f"Yes, {shown} is right so far. What's next?")
        simple = "one number" if numeric else "it gets"
        return Check(
            False,
            part,
            f"That's equal to it, but not finished yet: keep going until it's as simple as {simple}.",
        )
    if numeric and "." in part and abs(float(value - target)) < 0.01:
        return Check(True, part, f"Yes, about {shown}; exactly, it is {pretty(answer)}.")
    if numeric:
        if problem.kind == "percentage" and value == target * 100:
            return Check(
                False, part, "Not quite: per cent means out of 100, so remember to divide by 100."
            )
        flat = _left_to_right(unwrap(problem.text)[1])
        if problem.kind == "arithmetic" and flat is not None and value == flat and flat != target:
            return Check(
                False,
                part,
                "Not quite: that's what you get working left to right, but times and divide come before plus and minus.",
            )
        return Check(False, part, f"Not quite: {shown} isn't right. Let's check it step by step.")
    for trial in (1, 2, 3, -1):
        mine, theirs = (
            e.subs(dict.fromkeys(target.free_symbols | value.free_symbols, trial))
            for e in (value, target)
        )
        if mine != theirs:
            var = sorted(target.free_symbols | value.free_symbols, key=str)
            return Check(
                False,
                part,
                f"Not quite: try {', '.join(map(str, var))} = {trial}: yours gives {fmt_value(mine)}, but the original gives {fmt_value(theirs)}.",
            )
    return Check(False, part, f"Not quite: {shown} isn't the same as the original.")


def _left_to_right(text: str) -> Any:
    """The value of a flat expression worked strictly left to right (a common mistake)."""
    tokens = re.findall(r"\d+(?:\.\d+)?|[-+*/]", text)
    if len(tokens) < 3 or "(" in text or "^" in text:
        return None
    value = sp.Rational(tokens[0])
    for op, number in zip(tokens[1::2], tokens[2::2], strict=False):
        n = sp.Rational(number)
        value = {"+": value + n, "-": value - n, "*": value * n, "/": value / n if n else value}[op]
    return value
