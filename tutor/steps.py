"""Step plans: how a patient tutor walks through each kind of problem, checked by the CAS.

Every plan is verified before it is returned (`verify_chain`): each state must mean the
same as the one before (same value, same solution set, same solution of the system) and
the last one must be the solution, else PlanError; so a wrong step is never spoken.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import sympy as sp

from tutor.problems import (
    READ_ERRORS,
    RELATION_CLASSES,
    Node,
    Problem,
    Step,
    fmt_number,
    fmt_value,
    fold_negatives,
    fractionize,
    free_vars,
    get_path,
    is_number,
    meaning,
    num,
    parse_tree,
    plain,
    put_path,
    render_plain,
    same_meaning,
    solution_text,
    split_relation,
    sympify_plain,
    to_sympy,
    top_terms,
    unwrap,
    walk,
)
from tutor.speech import STEP_PHRASES, say_numbers, speak_math

__all__ = ["PlanError", "plan", "solution_text", "verify_chain"]


class PlanError(Exception):
    """No step plan the CAS could verify."""


@dataclass
class _Draft:
    text: str
    spoken: str
    math: str
    hint: str
    move: str


def _draft(key: str, frags: Sequence[str], math: str) -> _Draft:
    text, hint, move = STEP_PHRASES[key]
    said = [speak_math(f) for f in frags]
    spoken, hint = (say_numbers(s.format(*said)) for s in (text, hint))
    return _Draft(
        text.format(*frags), spoken, math, hint[:1].upper() + hint[1:], move.format(*frags)
    )


class _Plan:
    """Drafts in order; a move that leaves the state's text unchanged is not a step."""

    def __init__(self, start: str) -> None:
        self.drafts: list[_Draft] = []
        self.start = start

    @property
    def last(self) -> str:
        return self.drafts[-1].math if self.drafts else self.start

    def add(self, key: str, frags: Sequence[str], math: str) -> None:
        if math != self.last:
            self.drafts.append(_draft(key, frags, math))

    def extend(self, other: _Plan) -> None:
        self.drafts.extend(other.drafts)


_WORD_STATES = ("no solution", "no real solution", "all real numbers")
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "="}


def plan(problem: Problem) -> list[Step]:
    """The verified step plan; the last step is final and states the solution."""
    try:
        drafts = _PLANNERS[problem.kind](problem).drafts
    except PlanError:
        raise
    except Exception as exc:  # untrusted input: any failure means "no verified plan"
        raise PlanError(f"cannot plan {problem.text!r}: {exc!r}") from exc
    if not drafts:
        raise PlanError(f"nothing to do for {problem.text!r}")
    steps = []
    for i, d in enumerate(drafts):
        if d.math in _WORD_STATES or d.text.endswith(f"= {d.math}."):
            spoken = d.spoken  # the sentence already says the result
        elif re.search(r"[=<>]", d.text):
            spoken = f"{d.spoken} Now we have {speak_math(d.math)}."
        else:
            spoken = f"{d.spoken.rstrip('.')}: {speak_math(d.math)}."
        steps.append(Step(i, d.text, d.math, i == len(drafts) - 1, spoken, d.hint, d.move))
    if not verify_chain(problem, steps):
        raise PlanError(f"the plan for {problem.text!r} did not verify")
    return steps


def verify_chain(problem: Problem, steps: Sequence[Step]) -> bool:
    """Each state equivalent to the one before (the problem first); the last is final and
    is the solution; indices 0..n-1."""
    if not steps or [s.index for s in steps] != list(range(len(steps))):
        return False
    if not steps[-1].final or any(s.final for s in steps[:-1]):
        return False
    try:
        before = meaning(problem, problem.text)
        for step in steps:
            after = meaning(problem, step.math)
            if not same_meaning(before, after):
                return False
            before = after
        return steps[-1].math == solution_text(problem)
    except READ_ERRORS:
        return False


# ---------------------------------------------------------------- arithmetic and fractions

_LEVEL = {"^": 3, "sqrt": 3, "*": 2, "/": 2, "+": 1, "-": 1}
_VERB = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "^": "power", "sqrt": "root"}


def _next_op(node: Node) -> tuple[int, ...] | None:
    """Path of the operation the order of operations does next: innermost brackets, then
    powers, then times/divide, then plus/minus, each from left to right."""
    found: list[tuple[int, int, tuple[int, ...]]] = []

    def visit(n: Node, depth: int, path: tuple[int, ...]) -> None:
        depth += n.paren
        if n.kind in ("op", "sqrt") and all(is_number(a) for a in n.args):
            found.append((-depth, -_LEVEL[n.text], path))
        for i, a in enumerate(n.args):
            visit(a, depth, (*path, i))

    visit(node, 0, ())
    return min(found)[2] if found else None


def _plan_numeric(problem: Problem) -> _Plan:
    fraction = problem.kind == "fraction"
    tree = fold_negatives(
        fractionize(parse_tree(problem.text)) if fraction else parse_tree(problem.text)
    )
    out = _Plan(problem.text)
    while (path := _next_op(tree)) is not None:
        node = get_path(tree, path)
        if fraction and node.kind == "op" and any(a.kind == "frac" for a in node.args):
            tree = _fraction_op(tree, path, out)
        else:
            tree = _simple_op(tree, path, out, decimal="." in problem.text)
        tree = fold_negatives(tree)
    if tree.kind == "frac":
        _reduce(tree, (), out)
    return out


def _simple_op(tree: Node, path: tuple[int, ...], out: _Plan, decimal: bool) -> Node:
    node = get_path(tree, path)
    op, bare = node.text, Node(node.kind, node.text, node.args)
    value = to_sympy(bare)
    if not value.is_Rational:
        raise PlanError("not an exact power or root")
    text = fmt_number(value, decimal=decimal)
    new_tree = put_path(tree, path, Node("num", text) if "/" not in text else num(value))
    rest = [n for n in walk(new_tree) if n.kind == "op"]
    if any(get_path(tree, path[:k]).paren for k in range(len(path) + 1)):
        key = "brackets"
    elif op in ("^", "sqrt"):
        key = "power"
    elif op in "*/" and any(n.text in "+-" for n in rest):
        key = "mul_first" if op == "*" else "div_first"
    else:
        key = "op"
    name = {"+": "Add", "-": "Subtract", "*": "Multiply", "/": "Divide"}.get(op, "")
    name += " from left to right" if rest else ""
    move = f"{_VERB[op]} {' '.join(a.text for a in node.args)}"
    out.add(
        key,
        [f"{render_plain(bare)} = {text}", render_plain(bare), move, name],
        render_plain(new_tree),
    )
    return new_tree


def _as_frac(n: Node) -> tuple[int, int]:
    if n.kind == "frac":
        top, bottom = n.text.split("/")
        return int(top), int(bottom)
    if "." in n.text:
        raise PlanError("decimal in a fraction problem")
    return int(n.text), 1


def _reduce(tree: Node, path: tuple[int, ...], out: _Plan) -> Node:
    leaf = get_path(tree, path)
    n, d = _as_frac(leaf)
    g = int(sp.gcd(n, d))
    if g == 1 and d != 1:
        return tree
    new = num(sp.Rational(n, d))
    new_tree = put_path(tree, path, new)
    out.add("reduce", [f"{leaf.text} = {new.text}", str(g)], render_plain(new_tree))
    return new_tree


def _fraction_op(tree: Node, path: tuple[int, ...], out: _Plan) -> Node:
    """One operation on fractions, in the sub-steps a student writes down."""
    node = get_path(tree, path)
    a, b = node.args
    (n1, d1), (n2, d2) = _as_frac(a), _as_frac(b)
    op = node.text
    if op == "/":
        flipped = num(sp.Rational(d2, n2))
        tree = put_path(tree, path, Node("op", "*", (a, flipped), node.paren))
        out.add("reciprocal", [b.text, flipped.text], render_plain(tree))
        return _fraction_op(tree, path, out)
    if op in "+-" and d1 != d2:
        lcd = int(sp.ilcm(d1, d2))
        a2, b2 = Node("frac", f"{n1 * lcd // d1}/{lcd}"), Node("frac", f"{n2 * lcd // d2}/{lcd}")
        tree = put_path(tree, path, Node("op", op, (a2, b2), node.paren))
        work = " and ".join(
            f"{x.text} = {y.text}" for x, y in ((a, a2), (b, b2)) if x.text != y.text
        )
        out.add("lcd", [str(lcd), work], render_plain(tree))
        return _fraction_op(tree, path, out)
    if op in "+-":
        key, result = (
            ("add_tops" if op == "+" else "sub_tops"),
            f"{n1 + n2 if op == '+' else n1 - n2}/{d1}",
        )
    elif op == "*":
        key, result = "mul_fracs", f"{n1 * n2}/{d1 * d2}"
    else:
        return _simple_op(tree, path, out, decimal=False)
    work = f"{render_plain(Node('op', op, (a, b)))} = {result}"
    tree = put_path(tree, path, Node("frac", result))
    out.add(key, [work, str(n1), str(n2)], render_plain(tree))
    return _reduce(tree, path, out)


def _plan_percentage(problem: Problem) -> _Plan:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)/100\*(\d+(?:\.\d+)?)", problem.text)
    if not m:
        raise PlanError("not a percentage")
    pct, base = m.group(1), sp.Rational(m.group(2))
    frac = sp.Rational(pct) / 100
    result, b = fmt_number(frac * base, decimal=True), fmt_number(base, decimal=True)
    out = _Plan(problem.text)
    if frac.q <= 10 and (base / frac.q).is_Integer:
        # 25% of 80: a quarter of 80 is easier in the head than 0.25*80.
        part, q = fmt_number(base / frac.q), str(frac.q)
        out.add("pct_frac", [f"{pct}%", pct, str(frac)], f"{frac}*{b}")
        if frac.p == 1:
            out.add("pct_share", [q, f"{b}/{q} = {part}", str(frac)], result)
        else:
            out.add("pct_part", [q, f"{b}/{q} = {part}"], f"{frac.p}*{part}")
            out.add("pct_times", [str(frac.p), f"{frac.p}*{part} = {result}"], result)
        return out
    dec = fmt_number(frac, decimal=True)
    out.add("pct_dec", [f"{pct}%", pct, dec], f"{dec}*{b}")
    out.add("pct_mul", [f"{dec}*{b} = {result}", f"{dec} {b}"], result)
    return out


# ---------------------------------------------------------------- one-variable linear


def _poly(expr: Any, var: Any) -> str:
    """A polynomial in textbook order, highest power first (sympy prints "2 - 3*x")."""
    terms = sorted(sp.Add.make_args(sp.expand(expr)), key=lambda t: -sp.degree(t, var))
    text = ""
    for t in terms:
        negative = t.could_extract_minus_sign()
        body = plain(-t if negative else t)
        text += (" - " if negative else " + ") + body if text else ("-" if negative else "") + body
    return text or "0"


def _is_tidy(side: str, var: Any) -> bool:
    """Nothing to work out on this side: no brackets, one number per term, no like terms
    ("0.5*x + 2" is tidy; "2*3 + y", "3*(x - 2)" and "x/2 + x/3" are not)."""
    if "(" in side:
        return False
    degrees = []
    for term in top_terms(parse_tree(side)):
        body = term.args[0] if term.kind == "op" and term.text == "/" else term
        if sum(n.kind == "num" for n in walk(body)) > 1:
            return False
        degrees.append(sp.degree(to_sympy(term), var))
    return len(degrees) == len(set(degrees))


def _linear_moves(
    lhs: Any, op: str, rhs: Any, var: Any, current: str, wrap: Callable[[str], str]
) -> _Plan:
    """Solve a*x + b (op) c*x + d the way it is taught: tidy each side, clear fractions,
    gather the x terms on the left, move the number, divide (flipping an inequality for a
    negative). `wrap` turns this equation's state into the whole state (for systems)."""
    out = _Plan(wrap(current))
    v = str(var)
    lhs, rhs = sp.expand(lhs), sp.expand(rhs)

    def state() -> str:
        return wrap(f"{_poly(lhs, var)} {op} {_poly(rhs, var)}")

    sides = split_relation(current)
    if not (_is_tidy(sides[0], var) and _is_tidy(str(sides[2]), var)):
        out.add("tidy_brackets" if "(" in current else "tidy", [], state())
    lcd = reduce(
        sp.ilcm,
        [sp.Rational(c).q for side in (lhs, rhs) for c in sp.Poly(side, var).all_coeffs()],
        1,
    )
    if lcd != 1:
        lhs, rhs = sp.expand(lhs * lcd), sp.expand(rhs * lcd)
        out.add("clear", [str(lcd)], state())
    a_left, a_right = lhs.coeff(var), rhs.coeff(var)
    if a_right != 0 and a_left == 0:
        lhs, rhs, op = rhs, lhs, _FLIP[op]
        out.add("swap" if op == "=" else "swap_ineq", [v], state())
    elif a_right != 0:
        term = a_right * var
        lhs, rhs = sp.expand(lhs - term), sp.expand(rhs - term)
        out.add("sub_var" if a_right > 0 else "add_var", [plain(abs(a_right) * var), v], state())
    if lhs.coeff(var) == 0:
        true = bool(RELATION_CLASSES[op](lhs, rhs))
        out.add(
            "always" if true else "never", [v], wrap("all real numbers" if true else "no solution")
        )
        return out
    b = lhs.subs(var, 0)
    if b != 0:
        lhs, rhs = sp.expand(lhs - b), sp.expand(rhs - b)
        out.add("sub_num" if b > 0 else "add_num", [fmt_number(abs(b)), v], state())
    a = lhs.coeff(var)
    flip = op != "=" and a < 0
    op = _FLIP[op] if flip else op
    answer = wrap(f"{v} {op} {fmt_value(rhs / a)}")
    if a == -1:
        out.add("negate_flip" if flip else "negate", ["-1", v], answer)
    elif a != 1:
        out.add("divide_flip" if flip else "divide", [fmt_number(a), v], answer)
    if out.drafts:
        out.drafts[-1].math = answer  # same value, written the way answers are ("x = 7/2")
    else:
        out.add("tidy", [], answer)  # "-0 + y = 0": only the working out was left
    return out


def _plan_linear(problem: Problem) -> _Plan:
    lhs, op, rhs = split_relation(problem.text)
    (var,) = free_vars(problem.text)
    return _linear_moves(
        sympify_plain(lhs), str(op), sympify_plain(str(rhs)), var, problem.text, lambda s: s
    )


# ---------------------------------------------------------------- quadratics


def _plan_quadratic(problem: Problem) -> _Plan:
    lhs, _, rhs = split_relation(problem.text)
    (var,) = free_vars(problem.text)
    v = str(var)
    poly = sp.expand(sympify_plain(lhs) - sympify_plain(str(rhs)))
    out = _Plan(problem.text)

    def coeffs() -> list[Any]:
        return list(sp.Poly(poly, var).all_coeffs())

    answer = solution_text(problem)
    written = [to_sympy(f) for f in _factor_nodes(parse_tree(lhs))]
    factors = [f.base if f.is_Pow and f.exp.is_Integer and f.exp > 0 else f for f in written]
    if sympify_plain(str(rhs)) == 0 and all(sp.degree(f, var) <= 1 for f in factors):
        # Already written as a product equal to zero, e.g. (x - 2)*(x + 3) = 0.
        zero = [f"{_poly(f, var)} = 0" for f in factors if f.has(var)]
        square = any(f.is_Pow for f in written)
        out.add("zero_square" if square else "zero_product", [], " or ".join(dict.fromkeys(zero)))
        out.add("solve_each" if len(set(zero)) > 1 else "solve_it", [], answer)
        return out
    if sympify_plain(str(rhs)) != 0:
        out.add(
            "to_zero_brackets" if "(" in problem.text else "to_zero", [], f"{_poly(poly, var)} = 0"
        )
    else:
        out.add("order_eq" if _is_tidy(lhs, var) else "tidy_left", [], f"{_poly(poly, var)} = 0")
    lcd = reduce(sp.ilcm, [sp.Rational(c).q for c in coeffs()], 1)
    if lcd != 1:
        poly = sp.expand(poly * lcd)
        out.add("clear", [str(lcd)], f"{_poly(poly, var)} = 0")
    if coeffs()[0] < 0:
        poly = -poly
        out.add("positive", [f"{v}^2"], f"{_poly(poly, var)} = 0")
    g = reduce(sp.igcd, [int(c) for c in coeffs()])
    if g > 1:
        poly = sp.expand(poly / g)
        out.add("smaller", [str(g)], f"{_poly(poly, var)} = 0")
    a, b, c = (int(k) for k in coeffs())
    disc = b * b - 4 * a * c
    if c == 0 and b != 0:
        inner = sp.expand(poly / var)
        out.add("factor_x", [v], f"{v}*({plain(inner)}) = 0")
        out.add("zero_product", [], f"{v} = 0 or {plain(inner)} = 0")
        out.add("solve_each", [], answer)
        return out
    if disc >= 0 and sp.sqrt(disc).is_Rational:
        factored = f"{plain(sp.factor(poly))} = 0"
        if disc == 0:
            out.add("square", [plain(sp.factor(poly))], factored)
            (base, _), *_ = sp.factor_list(poly)[1]
            out.add("zero_square", [], f"{plain(base)} = 0")
            out.add("solve_it", [], answer)
            return out
        if a == 1:
            roots = sp.solveset(sp.Eq(poly, 0), var, sp.S.Reals)
            m, n = sorted((-r for r in roots), key=float)
            out.add("two_numbers", [str(c), str(b), f"{m} and {n}"], factored)
        else:
            out.add("factor", [], factored)
        out.add(
            "zero_product", [], " or ".join(f"{plain(f)} = 0" for f, _ in sp.factor_list(poly)[1])
        )
        out.add("solve_each", [], answer)
        return out
    out.drafts.append(_draft("formula", [str(a), str(b), str(c)], out.last))
    work = f"{_paren(b)}^2 - 4*{_paren(a)}*{_paren(c)}"
    out.drafts.append(_draft("discriminant", ["b^2 - 4*a*c", f"{work} = {disc}"], out.last))
    if disc < 0:
        out.add("no_real", [], answer)
        return out
    den, root = fmt_number(2 * a), f"sqrt({disc})"
    lo, hi = (
        (f"-{root}/{den}", f"{root}/{den}")
        if b == 0
        else (f"({-b} - {root})/{den}", f"({-b} + {root})/{den}")
    )
    out.add("plug_in", [], f"{v} = {lo} or {v} = {hi}")
    out.add("simplify_root", [], answer)
    return out


def _paren(n: int) -> str:
    return f"({n})" if n < 0 else str(n)


# ---------------------------------------------------------------- systems

_ORDINAL = ("first", "second")


def _join(first: str, second: str) -> str:
    """Two equations as one state; two solved ones in variable order ("x = 3; y = 1")."""
    solved = re.compile(r"([a-z]) = [^a-z]*")
    a, b = solved.fullmatch(first), solved.fullmatch(second)
    if a and b and a.group(1) > b.group(1):
        first, second = second, first
    return f"{first}; {second}"


def _row_text(row: Sequence[int], x: Any, y: Any) -> str:
    return f"{plain(row[0] * x + row[1] * y)} = {row[2]}"


def _plan_system(problem: Problem) -> _Plan:
    parts = [p.strip() for p in problem.text.split(";")]
    x, y = free_vars(problem.text)
    out = _Plan(problem.text)
    for i, part in enumerate(parts):
        lhs, _, rhs = split_relation(part)
        if (
            re.fullmatch(r"[a-z]", lhs)
            and sp.Symbol(lhs) not in sympify_plain(str(rhs)).free_symbols
        ):
            return _substitute(out, parts, i, sp.Symbol(lhs), sympify_plain(str(rhs)), [x, y])
    rows = []
    for part in parts:
        lhs, _, rhs = split_relation(part)
        d = sp.expand(sympify_plain(lhs) - sympify_plain(str(rhs)))
        row = [d.coeff(x), d.coeff(y), -d.subs({x: 0, y: 0})]
        lcd = reduce(sp.ilcm, [sp.Rational(k).q for k in row], 1)
        rows.append([int(k * lcd) for k in row])
    std = [_row_text(r, x, y) for r in rows]
    out.add("standard", [], "; ".join(std))
    for k in (0, 1):
        if rows[0][k] != 0 and abs(rows[0][k]) == abs(rows[1][k]):
            return _eliminate(out, rows, k, [x, y])
    for i in (0, 1):
        for k in (0, 1):
            if abs(rows[i][k]) == 1:
                var, other = (x, y) if k == 0 else (y, x)
                expr = (rows[i][2] - rows[i][1 - k] * other) / rows[i][k]
                std[i] = f"{var} = {plain(expr)}"
                out.add("rearrange", [_ORDINAL[i], str(var)], "; ".join(std))
                return _substitute(out, std, i, var, expr, [x, y])
    k = min((0, 1), key=lambda j: sp.ilcm(rows[0][j], rows[1][j]))
    return _eliminate(out, rows, k, [x, y])


def _substitute(
    out: _Plan, parts: list[str], i: int, var: Any, expr: Any, variables: list[Any]
) -> _Plan:
    """parts[i] says var = expr: put it into the other equation, solve, put the value back."""
    o = 1 - i
    other = next(v for v in variables if v != var)
    defined = parts[i]
    subbed = re.sub(rf"(?<![a-z]){var}(?![a-z])", f"({plain(expr)})", parts[o])
    out.add("substitute", [defined, _ORDINAL[o], str(var)], _join(subbed, defined))
    lhs, _, rhs = split_relation(subbed)
    left, right = sympify_plain(lhs), sympify_plain(str(rhs))
    out.extend(_linear_moves(left, "=", right, other, subbed, lambda s: _join(s, defined)))
    value = sp.solve(sp.Eq(left, right), other)[0]
    solved = f"{other} = {fmt_value(value)}"
    out.add(
        "back", [solved, defined], _join(f"{var} = {fmt_value(expr.subs(other, value))}", solved)
    )
    return out


def _eliminate(out: _Plan, rows: list[list[int]], k: int, variables: list[Any]) -> _Plan:
    """Make the coefficients of variables[k] match, add or subtract the equations, solve
    for the other letter, then substitute back into the simpler original equation."""
    var, other = variables[k], variables[1 - k]
    x, y = variables
    original = [list(r) for r in rows]
    p1, p2 = abs(rows[0][k]), abs(rows[1][k])
    if p1 != p2:
        lcm = int(sp.ilcm(p1, p2))
        m1, m2 = lcm // p1, lcm // p2
        rows = [[m1 * c for c in rows[0]], [m2 * c for c in rows[1]]]
        which = " and ".join(
            f"the {_ORDINAL[i]} equation by {m}" for i, m in enumerate((m1, m2)) if m != 1
        )
        out.add(
            "scale",
            [which, str(var), str(m1), str(m2)],
            "; ".join(_row_text(r, x, y) for r in rows),
        )
    keep = _row_text(rows[0], x, y)
    same = rows[0][k] == rows[1][k]
    new = [a - b if same else a + b for a, b in zip(rows[0], rows[1], strict=True)]
    single = f"{plain(new[1 - k] * other)} = {new[2]}"
    out.add(
        "eliminate_sub" if same else "eliminate_add", [str(var), str(other)], _join(keep, single)
    )
    out.extend(
        _linear_moves(
            new[1 - k] * other, "=", sp.Integer(new[2]), other, single, lambda s: _join(keep, s)
        )
    )
    value = sp.Rational(new[2], new[1 - k])
    # Back-substitute where it is easiest: a lone letter, with a positive sign if possible.
    i = min(
        (0, 1),
        key=lambda j: (abs(original[j][k]) != 1, original[j][k] < 0, abs(original[j][1 - k])),
    )
    shown = fmt_value(value) if value.is_Integer and value >= 0 else f"({fmt_value(value)})"
    subbed = re.sub(rf"(?<![a-z]){other}(?![a-z])", shown, _row_text(original[i], x, y))
    solved = f"{other} = {fmt_value(value)}"
    out.add("substitute", [solved, _ORDINAL[i], str(other)], _join(subbed, solved))
    lhs, _, rhs = split_relation(subbed)
    out.extend(
        _linear_moves(
            sympify_plain(lhs),
            "=",
            sympify_plain(str(rhs)),
            var,
            subbed,
            lambda s: _join(s, solved),
        )
    )
    return out


# ---------------------------------------------------------------- simplify and expand

_Term = tuple[int, tuple[Any, ...]]  # sign, factors (sympy) as written


def _signed_terms(node: Node, sign: int = 1) -> list[tuple[int, Node]]:
    if node.kind == "op" and node.text in "+-" and not node.paren:
        right = sign if node.text == "+" else -sign
        return _signed_terms(node.args[0], sign) + _signed_terms(node.args[1], right)
    if node.kind == "neg":
        return [(-sign, node.args[0])]
    return [(sign, node)]


def _factor_nodes(node: Node) -> list[Node]:
    if node.kind == "op" and node.text == "*" and not node.paren:
        return _factor_nodes(node.args[0]) + _factor_nodes(node.args[1])
    return [node]


def _norm(sign: int, factors: Sequence[Any]) -> _Term:
    """Minus signs move from the factors to the term ("x*(-3)" is written "- x*3")."""
    out = []
    for f in factors:
        if not f.is_Add and f.could_extract_minus_sign():
            sign, f = -sign, -f
        out.append(f)
    return sign, tuple(out)


def _render(terms: Sequence[_Term]) -> str:
    text = ""
    for i, (sign, factors) in enumerate(terms):
        body = "*".join(f"({plain(f)})" if f.is_Add else plain(f) for f in factors)
        text += (("-" if sign < 0 else "") if i == 0 else (" - " if sign < 0 else " + ")) + body
    return text or "0"


def _multiply_out(terms: list[_Term], out: _Plan) -> list[_Term]:
    """One round of multiplying out: each term loses one bracket."""
    new: list[_Term] = []
    kinds = set()
    for sign, fs in terms:
        adds = [f for f in fs if f.is_Add]
        if not adds:
            new.append((sign, fs))
            continue
        others, first, rest = [f for f in fs if not f.is_Add], adds[0], adds[1:]
        if others:
            new += [_norm(sign, (sp.Mul(*others) * t, *rest)) for t in first.as_ordered_terms()]
            kinds.add("distribute")
        elif rest:
            pairs = [(p, q) for p in first.as_ordered_terms() for q in rest[0].as_ordered_terms()]
            new += [_norm(sign, (p, q, *rest[1:])) for p, q in pairs]
            kinds.add("foil")
        else:
            new += [_norm(sign, (t,)) for t in first.as_ordered_terms()]
            kinds.add("unbracket_minus" if sign < 0 else "unbracket")
    key = next(k for k in ("foil", "distribute", "unbracket_minus", "unbracket") if k in kinds)
    out.add(key, [], _render(new))
    return new


def _work_products(terms: list[_Term], out: _Plan) -> list[_Term]:
    """Multiply out the plain factors of each term ("2*x*3*x" -> "6*x^2"), brackets kept."""
    done = []
    for sign, fs in terms:
        plain_factors, brackets = [f for f in fs if not f.is_Add], [f for f in fs if f.is_Add]
        done.append(
            _norm(sign, (sp.Mul(*plain_factors), *brackets)) if plain_factors else (sign, fs)
        )
    out.add("products", [], _render(done))
    return done


def _plan_polynomial(problem: Problem) -> _Plan:
    inner = unwrap(problem.text)[1]
    tree = parse_tree(inner)
    target = solution_text(problem)
    out = _Plan(inner)
    if tree.kind == "op" and tree.text == "/":
        top, bottom = (to_sympy(a) for a in tree.args)
        ftop, fbottom = sp.factor(top), sp.factor(bottom)
        shown_bottom = plain(fbottom) if fbottom.is_Atom else f"({plain(fbottom)})"
        out.add(
            "factor_both",
            [],
            f"{f'({plain(ftop)})' if ftop.is_Add else plain(ftop)}/{shown_bottom}",
        )
        out.add("cancel", [plain(sp.gcd(top, bottom))], target)
        return out
    terms = [_norm(s, [to_sympy(f) for f in _factor_nodes(n)]) for s, n in _signed_terms(tree)]
    powers = [
        f
        for _, fs in terms
        for f in fs
        if f.is_Pow and f.base.is_Add and f.exp.is_Integer and f.exp > 1
    ]
    if powers:
        terms = [
            (s, tuple(g for f in fs for g in ([f.base] * int(f.exp) if f in powers else [f])))
            for s, fs in terms
        ]
        p = powers[0]
        out.add(
            "power_to_product",
            [f"{plain(p)} = {'*'.join([f'({plain(p.base)})'] * int(p.exp))}"],
            _render(terms),
        )
    terms = _work_products(terms, out)
    while any(f.is_Add for _, fs in terms for f in fs):
        terms = _work_products(_multiply_out(terms, out), out)
    gens = sorted(sp.Add(*[s * fs[0] for s, fs in terms]).free_symbols, key=str)

    def key(term: _Term) -> tuple[int, ...]:
        monom = sp.Poly(term[1][0], *gens).monoms()[0] if gens else (0,)
        return (-sum(monom), *(-e for e in monom))

    groups: dict[tuple[int, ...], list[_Term]] = {}
    for t in terms:
        groups.setdefault(key(t), []).append(t)
    if any(len(g) > 1 for g in groups.values()):
        out.add("group", [], _render(sorted(terms, key=key)))
        work = " and ".join(
            f"{_render(g)} = {plain(sum(s * f[0] for s, f in g))}"
            for g in groups.values()
            if len(g) > 1
        )
        out.add("combine", [work], target)
    out.add("order", [], target)
    return out


_PLANNERS: dict[str, Callable[[Problem], _Plan]] = {
    "arithmetic": _plan_numeric,
    "fraction": _plan_numeric,
    "percentage": _plan_percentage,
    "linear_equation": _plan_linear,
    "linear_inequality": _plan_linear,
    "quadratic_equation": _plan_quadratic,
    "linear_system": _plan_system,
    "simplify": _plan_polynomial,
    "expand": _plan_polynomial,
}
