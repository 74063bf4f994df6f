"""Step plan for three linear equations in three unknowns, the way it is taught:

1. write every equation as a*x + b*y + c*z = d;
2. use one equation (the pivot: the one with a lone letter if there is one) to get rid of
   one letter from each of the other two, by adding or subtracting a multiple of it;
3. solve the two equations left, in two letters, as any 2x2 system (tutor/plans_algebra.py);
4. put both values back into the pivot and solve it for the last letter.

Every state keeps all three equations (the pivot stays written next to the two-letter
system), so each step means the same as the one before and the CAS can check the chain.
"""

from __future__ import annotations

import re
from functools import reduce
from typing import Any

import sympy as sp

from tutor.plan_base import Plan, PlanError
from tutor.plans_algebra import _linear_moves, plan_system
from tutor.problems import Problem, fmt_value, free_vars, plain, split_relation, sympify_plain

_ORDINAL = ("first", "second", "third")


def _rows(problem: Problem, variables: list[Any]) -> list[list[int]]:
    """Each equation as integer [a, b, c, d] for a*x + b*y + c*z = d."""
    rows = []
    for part in problem.text.split(";"):
        lhs, _, rhs = split_relation(part.strip())
        d = sp.expand(sympify_plain(lhs) - sympify_plain(str(rhs)))
        row = [d.coeff(v) for v in variables] + [-d.subs(dict.fromkeys(variables, 0))]
        lcd = reduce(sp.ilcm, [sp.Rational(k).q for k in row], 1)
        ints = [int(k * lcd) for k in row]
        g = reduce(sp.igcd, [abs(k) for k in ints if k], 0) or 1
        rows.append([k // g for k in ints])
    return rows


def _text(row: list[int], variables: list[Any]) -> str:
    lhs = sum((k * v for k, v in zip(row[:-1], variables, strict=True)), sp.Integer(0))
    return f"{plain(lhs)} = {row[-1]}"


def plan_system3(problem: Problem) -> Plan:
    variables = free_vars(problem.text)
    if len(variables) != 3:
        raise PlanError("not three unknowns")
    rows = _rows(problem, variables)
    out = Plan(problem.text)
    out.add("standard", [], "; ".join(_text(r, variables) for r in rows))
    # The letter to get rid of and the pivot: a coefficient of 1 or -1 makes the
    # multiples small; prefer the last letter, as books do (z first).
    options = [
        (abs(rows[i][k]) != 1, -k, i, k) for i in range(3) for k in range(3) if rows[i][k] != 0
    ]
    _, _, p, k = min(options)
    pivot = rows[p]
    var = variables[k]
    others = [i for i in range(3) if i != p]
    reduced: dict[int, list[int]] = {}
    for i in others:
        row = rows[i]
        if row[k] == 0:
            reduced[i] = row
            continue
        lcm = int(sp.ilcm(abs(pivot[k]), abs(row[k])))
        m_row, m_pivot = lcm // abs(row[k]), lcm // abs(pivot[k])
        sign = 1 if (row[k] > 0) != (pivot[k] > 0) else -1  # add if opposite signs
        new = [m_row * a + sign * m_pivot * b for a, b in zip(row, pivot, strict=True)]
        g = reduce(sp.igcd, [abs(c) for c in new if c], 0) or 1
        reduced[i] = [c // g for c in new]
        state = [
            _text(pivot, variables) if j == p else _text(reduced.get(j, rows[j]), variables)
            for j in range(3)
        ]
        how = "add" if sign > 0 else "subtract"
        times = "" if m_pivot == 1 else f"{m_pivot} times "
        scaled = "" if m_row == 1 else f"{m_row} times "
        out.add(
            "eliminate3",
            [
                str(var),
                f"{scaled}the {_ORDINAL[i]} equation",
                f"{how} {times}the {_ORDINAL[p]}",
            ],
            "; ".join(state),
        )
    pair = [v for v in variables if v != var]
    two = [reduced[i] for i in others]
    if (
        any(r[k] != 0 for r in two)
        or sp.Matrix([[r[j] for j in range(3) if j != k] for r in two]).det() == 0
    ):
        raise PlanError("the two equations left do not pin down two letters")
    pivot_text = _text(pivot, variables)
    sub_text = "; ".join(_text(r, variables) for r in two)
    sub = plan_system(Problem("linear_system", sub_text, "", problem.source))
    for d in sub.drafts:
        d.math = f"{d.math}; {pivot_text}"
        out.drafts.append(d)
    solved = sub.drafts[-1].math.split(";")[:2] if sub.drafts else sub_text.split(";")
    values = {}
    for part in solved:
        m = re.fullmatch(r"\s*([a-z]) = (.+?)\s*", part)
        if m is None:
            raise PlanError(f"the two-letter system did not end in values: {part!r}")
        values[sp.Symbol(m.group(1))] = sympify_plain(m.group(2))
    known = "; ".join(f"{v} = {fmt_value(values[v])}" for v in pair)
    lhs = sum((c * v for c, v in zip(pivot[:-1], variables, strict=True)), sp.Integer(0))
    substituted = pivot_text
    for v, x in values.items():
        shown = f"({fmt_value(x)})" if x < 0 or not x.is_Integer else fmt_value(x)
        substituted = re.sub(rf"(?<![a-z]){v}(?![a-z])", shown, substituted)
    out.add("back", [known, pivot_text], f"{known}; {substituted}")
    left = lhs.subs(values)

    def wrap(state: str) -> str:
        answers = {str(v): f"{v} = {fmt_value(x)}" for v, x in values.items()}
        m = re.fullmatch(rf"\s*{var} = (.+)", state)
        if m:
            answers[str(var)] = state.strip()
            return "; ".join(answers[str(v)] for v in variables)
        return f"{known}; {state}"

    out.extend(_linear_moves(left, "=", sp.Integer(pivot[-1]), var, substituted, wrap))
    return out


def plan_any_system(problem: Problem) -> Plan:
    """Two equations in two unknowns, or three in three."""
    if len(free_vars(problem.text)) == 3:
        return plan_system3(problem)
    return plan_system(problem)
