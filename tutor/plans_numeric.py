"""Step plans for arithmetic (order of operations), fractions and percentages."""

from __future__ import annotations

import re

import sympy as sp

from tutor.plan_base import Plan, PlanError
from tutor.problems import (
    Node,
    Problem,
    fmt_number,
    fold_negatives,
    fractionize,
    get_path,
    is_number,
    num,
    parse_tree,
    put_path,
    render_plain,
    to_sympy,
    walk,
)

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


def plan_numeric(problem: Problem) -> Plan:
    fraction = problem.kind == "fraction"
    tree = fold_negatives(
        fractionize(parse_tree(problem.text)) if fraction else parse_tree(problem.text)
    )
    out = Plan(problem.text)
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


def _simple_op(tree: Node, path: tuple[int, ...], out: Plan, decimal: bool) -> Node:
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


def _reduce(tree: Node, path: tuple[int, ...], out: Plan) -> Node:
    leaf = get_path(tree, path)
    n, d = _as_frac(leaf)
    g = int(sp.gcd(n, d))
    if g == 1 and d != 1:
        return tree
    new = num(sp.Rational(n, d))
    new_tree = put_path(tree, path, new)
    out.add("reduce", [f"{leaf.text} = {new.text}", str(g)], render_plain(new_tree))
    return new_tree


def _fraction_op(tree: Node, path: tuple[int, ...], out: Plan) -> Node:
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


def plan_percentage(problem: Problem) -> Plan:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)/100\*(\d+(?:\.\d+)?)", problem.text)
    if not m:
        raise PlanError("not a percentage")
    pct, base = m.group(1), sp.Rational(m.group(2))
    frac = sp.Rational(pct) / 100
    result, b = fmt_number(frac * base, decimal=True), fmt_number(base, decimal=True)
    out = Plan(problem.text)
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
