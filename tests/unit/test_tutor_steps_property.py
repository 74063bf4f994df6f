"""Property tests of the step planner: for generated problems of every kind, every step
is equivalent to the one before (`verify_chain`) and the last step is the solution, which
is checked again here against an independent sympy solve of the problem text (parsed with
sympy's own parser, as a client following PROTOCOL.md would)."""

from __future__ import annotations

import re
from typing import Any

import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication,
    parse_expr,
    standard_transformations,
)

from tutor.mathread import parse_problem
from tutor.problems import Problem, Step
from tutor.steps import plan, verify_chain

X, Y = sp.symbols("x y")
TRANSFORMS = (*standard_transformations, implicit_multiplication, convert_xor)
BOUNDED = settings(max_examples=40, deadline=None)  # the whole file runs in about 30 s
small = st.integers(-9, 9)
nonzero = small.filter(bool)


def sym(text: str) -> Any:
    """sympy's own reading of plain text (what a PROTOCOL client would do)."""
    return parse_expr(
        text.replace("^", "**"), local_dict={"x": X, "y": Y}, transformations=TRANSFORMS
    )


def linear_text(terms: list[tuple[int, str]]) -> str:
    """[(2, "x"), (-3, "")] -> "2x - 3", the way it is printed on a worksheet."""
    out = ""
    for coef, var in terms:
        if coef == 0:
            continue
        body = var if abs(coef) == 1 and var else f"{abs(coef)}{var}"
        sign = "-" if coef < 0 else "+"
        out += (f"{sign} " if out else ("-" if coef < 0 else "")) + body + " "
    return out.strip() or "0"


def planned(text: str, kinds: set[str]) -> tuple[Problem, list[Step]]:
    problem = parse_problem(text)
    assert problem is not None, text
    assert problem.kind in kinds, (text, problem.kind)
    steps = plan(problem)
    assert verify_chain(problem, steps), (text, [s.math for s in steps])
    assert steps[-1].final and not any(s.final for s in steps[:-1])
    for step in steps:  # every state is plain form that sympy itself parses
        for part in re.split(r";| or ", step.math):
            if part.strip() not in ("no solution", "no real solution", "all real numbers"):
                for side in re.split(r"<=|>=|=|<|>", part):
                    sym(side)
        assert step.text and step.spoken and step.hint and step.move
    return problem, steps


def number(text: str) -> Any:
    value = sym(text)
    assert value.is_Number, text
    return value


def roots_of(final: str) -> set[Any]:
    if final == "no real solution":
        return set()
    return {sym(part.split("=")[1]) for part in final.split(" or ")}


def same_set(a: set[Any], b: set[Any]) -> bool:
    return len(a) == len(b) and all(any(sp.simplify(p - q) == 0 for q in b) for p in a)


@BOUNDED
@given(st.lists(st.integers(0, 12), min_size=2, max_size=4), st.data())
def test_arithmetic(nums: list[int], data: st.DataObject) -> None:
    ops = [data.draw(st.sampled_from(["+", "-", "*", "×"])) for _ in nums[1:]]
    parts = [str(nums[0])] + [f" {op} {n}" for op, n in zip(ops, nums[1:], strict=True)]
    text = "".join(parts)
    if data.draw(st.booleans()):
        text = f"({parts[0]}{parts[1]}){''.join(parts[2:])}"
    if data.draw(st.booleans()):
        text += f" + {data.draw(st.integers(1, 9))}²"
    problem, steps = planned(text, {"arithmetic"})
    assert number(steps[-1].math) == sym(problem.text)


@BOUNDED
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 9), st.sampled_from(["+", "-", "×"]))
def test_arithmetic_division(a: int, b: int, c: int, op: str) -> None:
    problem, steps = planned(f"{a * b} ÷ {b} {op} {c}", {"arithmetic"})
    assert number(steps[-1].math) == sym(problem.text)


@BOUNDED
@given(
    st.integers(1, 11),
    st.integers(2, 12),
    st.integers(1, 11),
    st.integers(2, 12),
    st.sampled_from(["+", "-", "×", "÷"]),
)
def test_fraction(n1: int, d1: int, n2: int, d2: int, op: str) -> None:
    assume(sp.Rational(n1, d1).q != 1 or sp.Rational(n2, d2).q != 1)
    problem, steps = planned(f"{n1}/{d1} {op} {n2}/{d2}", {"fraction"})
    value = number(steps[-1].math)
    assert value == sym(problem.text)
    assert steps[-1].math == str(value)  # lowest terms


@BOUNDED
@given(nonzero, small, small, small)
def test_linear_equation(a: int, b: int, c: int, d: int) -> None:
    assume(a != c and (a, b, c) != (1, 0, 0))  # "x = 5" is already solved: not a problem
    text = f"{linear_text([(a, 'x'), (b, '')])} = {linear_text([(c, 'x'), (d, '')])}"
    problem, steps = planned(text, {"linear_equation"})
    lhs, rhs = problem.text.split(" = ")
    (root,) = sp.solve(sp.Eq(sym(lhs), sym(rhs)), X)
    assert steps[-1].math == f"x = {root}"


@BOUNDED
@given(st.integers(2, 6), nonzero, small)
def test_linear_equation_with_brackets(k: int, m: int, n: int) -> None:
    problem, steps = planned(f"{k}(x {'+' if m > 0 else '-'} {abs(m)}) = {n}", {"linear_equation"})
    assert steps[0].text.startswith("Multiply out the brackets")
    (root,) = sp.solve(sp.Eq(k * (X + m), n), X)
    assert sym(steps[-1].math.split(" = ")[1]) == root


@BOUNDED
@given(nonzero, small, small, st.sampled_from(["<", ">", "<=", ">="]), st.integers(-3, 3))
def test_linear_inequality(a: int, b: int, c: int, op: str, d: int) -> None:
    assume(a != d and (a, b, d) != (1, 0, 0))
    text = f"{linear_text([(a, 'x'), (b, '')])} {op} {linear_text([(d, 'x'), (c, '')])}"
    problem, steps = planned(text, {"linear_inequality"})
    lhs, rel, rhs = re.split(r" (<=|>=|<|>) ", problem.text)
    expected = sp.solve_univariate_inequality(
        {"<": sp.Lt, ">": sp.Gt, "<=": sp.Le, ">=": sp.Ge}[rel](sym(lhs), sym(rhs)),
        X,
        relational=False,
    )
    f_lhs, f_rel, f_rhs = re.split(r" (<=|>=|<|>) ", steps[-1].math)
    assert f_lhs == "x"
    final = {"<": sp.Lt, ">": sp.Gt, "<=": sp.Le, ">=": sp.Ge}[f_rel](X, sym(f_rhs))
    assert sp.solve_univariate_inequality(final, X, relational=False) == expected
    if a - d < 0:  # dividing by a negative: the step must say that the sign flips
        assert any("flip" in s.text for s in steps)


@BOUNDED
@given(st.integers(-6, 6), st.integers(-6, 6), st.sampled_from([1, 1, 2, -1]))
def test_quadratic_that_factors(r1: int, r2: int, a: int) -> None:
    b, c = -a * (r1 + r2), a * r1 * r2
    text = f"{linear_text([(a, 'x²'), (b, 'x'), (c, '')])} = 0"
    problem, steps = planned(text, {"quadratic_equation"})
    assert not any("formula" in s.text for s in steps)
    expected = set(sp.solve(sym(problem.text.split(" = ")[0]), X))
    assert same_set(roots_of(steps[-1].math), expected)


@BOUNDED
@given(st.integers(-6, 6), nonzero)
def test_quadratic_formula(b: int, c: int) -> None:
    disc = b * b - 4 * c
    assume(sp.sqrt(disc).is_Rational is False or disc < 0)
    problem, steps = planned(
        f"{linear_text([(1, 'x²'), (b, 'x'), (c, '')])} = 0", {"quadratic_equation"}
    )
    assert any("quadratic formula" in s.text for s in steps)
    assert any("discriminant" in s.text for s in steps)
    real = {r for r in sp.solve(sym(problem.text.split(" = ")[0]), X) if r.is_real}
    assert same_set(roots_of(steps[-1].math), real)


@BOUNDED
@given(
    st.integers(-4, 6),
    st.integers(-4, 6),
    st.lists(st.sampled_from([-3, -2, -1, 1, 2, 3, 4]), min_size=4, max_size=4),
)
def test_linear_system(x0: int, y0: int, coefs: list[int]) -> None:
    a1, b1, a2, b2 = coefs
    assume(a1 * b2 - a2 * b1 != 0)
    lines = [
        f"{linear_text([(a, 'x'), (b, 'y')])} = {a * x0 + b * y0}" for a, b in ((a1, b1), (a2, b2))
    ]
    problem, steps = planned("; ".join(lines), {"linear_system"})
    eqs = [sym(lhs) - sym(rhs) for lhs, rhs in (e.split(" = ") for e in problem.text.split("; "))]
    assert sp.solve(eqs, [X, Y]) == {X: x0, Y: y0}
    assert steps[-1].math == f"x = {x0}; y = {y0}"
    assert any(word in s.text for s in steps for word in ("Substitute", "get rid of"))


@BOUNDED
@given(st.lists(st.tuples(nonzero, st.sampled_from(["x", "", "x²"])), min_size=2, max_size=5))
def test_simplify(terms: list[tuple[int, str]]) -> None:
    kinds = [v for _, v in terms]
    assume(len(set(kinds)) < len(kinds) and any(kinds))  # like terms to collect, and a letter
    problem, steps = planned(f"Simplify: {linear_text(terms)}", {"simplify"})
    final = sym(steps[-1].math)
    assert sp.simplify(final - sym(problem.text)) == 0
    assert (
        len(sp.Add.make_args(final))
        == len(set(kinds)) - sum(1 for k in set(kinds) if sum(c for c, v in terms if v == k) == 0)
        or final == 0
    )


@BOUNDED
@given(st.integers(2, 6), nonzero, nonzero, st.integers(1, 5))
def test_simplify_with_brackets(k: int, m: int, n: int, d: int) -> None:
    rest = linear_text([(n, "x"), (d, "")])
    rest = f"- {rest[1:]}" if rest.startswith("-") else f"+ {rest}"
    problem, steps = planned(
        f"Simplify: {k}(x {'+' if m > 0 else '-'} {abs(m)}) {rest}", {"simplify"}
    )
    assert sym(steps[-1].math) == sp.expand(k * (X + m) + n * X + d)


@BOUNDED
@given(
    st.integers(1, 3),
    nonzero,
    st.integers(1, 3),
    nonzero,
    st.sampled_from(["pair", "scale", "square"]),
)
def test_expand(a: int, b: int, c: int, d: int, form: str) -> None:
    first, second = f"({linear_text([(a, 'x'), (b, '')])})", f"({linear_text([(c, 'x'), (d, '')])})"
    text = {"pair": first + second, "scale": f"{c + 1}{first}", "square": f"{first}²"}[form]
    problem, steps = planned(f"Expand: {text}", {"expand"})
    final = sym(steps[-1].math)
    assert final == sp.expand(sym(problem.text))  # sympy's expand(...) call in the text
    assert final == sp.expand(final)
    if form == "pair":
        assert any("each term in the first bracket" in s.text for s in steps)


@BOUNDED
@given(st.integers(1, 100), st.integers(1, 500))
def test_percentage(pct: int, base: int) -> None:
    problem, steps = planned(f"{pct}% of {base}", {"percentage"})
    assert problem.text == f"{pct}/100*{base}"
    assert sp.Rational(steps[-1].math) == sp.Rational(pct * base, 100)
