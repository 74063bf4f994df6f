"""Step plans for linear equations and inequalities, quadratics, systems, simplify and expand."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import reduce
from typing import Any

import sympy as sp

from tutor.plan_base import FLIP, Plan, draft
from tutor.problems import (
    RELATION_CLASSES,
    Node,
    Problem,
    fmt_number,
    fmt_value,
    free_vars,
    parse_tree,
    plain,
    solution_text,
    split_relation,
    sympify_plain,
    to_sympy,
    top_terms,
    unwrap,
    walk,
)

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
) -> Plan:
    """Solve a*x + b (op) c*x + d the way it is taught: tidy each side, clear fractions,
    gather the x terms on the left, move the number, divide (flipping an inequality for a
    negative). `wrap` turns this equation's state into the whole state (for systems)."""
    out = Plan(wrap(current))
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
        lhs, rhs, op = rhs, lhs, FLIP[op]
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
    op = FLIP[op] if flip else op
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


def plan_linear(problem: Problem) -> Plan:
    lhs, op, rhs = split_relation(problem.text)
    (var,) = free_vars(problem.text)
    return _linear_moves(
        sympify_plain(lhs), str(op), sympify_plain(str(rhs)), var, problem.text, lambda s: s
    )


# ---------------------------------------------------------------- quadratics


def plan_quadratic(problem: Problem) -> Plan:
    lhs, _, rhs = split_relation(problem.text)
    (var,) = free_vars(problem.text)
    v = str(var)
    poly = sp.expand(sympify_plain(lhs) - sympify_plain(str(rhs)))
    out = Plan(problem.text)

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
    out.drafts.append(draft("formula", [str(a), str(b), str(c)], out.last))
    work = f"{_paren(b)}^2 - 4*{_paren(a)}*{_paren(c)}"
    out.drafts.append(draft("discriminant", ["b^2 - 4*a*c", f"{work} = {disc}"], out.last))
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


def plan_system(problem: Problem) -> Plan:
    parts = [p.strip() for p in problem.text.split(";")]
    x, y = free_vars(problem.text)
    out = Plan(problem.text)
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
    out: Plan, parts: list[str], i: int, var: Any, expr: Any, variables: list[Any]
) -> Plan:
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


def _eliminate(out: Plan, rows: list[list[int]], k: int, variables: list[Any]) -> Plan:
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


def _multiply_out(terms: list[_Term], out: Plan) -> list[_Term]:
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


def _work_products(terms: list[_Term], out: Plan) -> list[_Term]:
    """Multiply out the plain factors of each term ("2*x*3*x" -> "6*x^2"), brackets kept."""
    done = []
    for sign, fs in terms:
        plain_factors, brackets = [f for f in fs if not f.is_Add], [f for f in fs if f.is_Add]
        done.append(
            _norm(sign, (sp.Mul(*plain_factors), *brackets)) if plain_factors else (sign, fs)
        )
    out.add("products", [], _render(done))
    return done


def plan_polynomial(problem: Problem) -> Plan:
    inner = unwrap(problem.text)[1]
    tree = parse_tree(inner)
    target = solution_text(problem)
    out = Plan(inner)
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
