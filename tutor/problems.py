"""Problems, steps, and the plain math form the tutor writes them in.

Plain form (PROTOCOL `tutor.problem` / `tutor.step`, same conventions as tests/imagegen.py):
ASCII that sympy parses; `*` for every product, `^` for powers, `/` for division and
fractions; one space around binary `+ - = < > <= >=`, none around `* / ^`; the equations of
a system joined by "; "; simplify/expand problems written as the sympy call
("simplify(2*x + 3*x - 4)", "expand((x + 2)*(x - 3))"); a percentage "15% of 80" is written
"15/100*80" with kind "percentage" (the kind, not the text, says it was a percentage).

Text is read by a small recursive-descent parser (`parse_tree`) that knows only numbers,
single-letter variables, `+ - * / ^`, brackets and `sqrt`, and builds sympy objects itself:
nothing a student or the camera produced ever reaches `eval` (sympy's `parse_expr` uses it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import Any, Literal, get_args

import sympy as sp
from sympy.polys.polyerrors import PolynomialError

ProblemKind = Literal[
    "arithmetic",
    "fraction",
    "linear_equation",
    "linear_inequality",
    "quadratic_equation",
    "linear_system",
    "simplify",
    "expand",
    "percentage",
]
KINDS: tuple[ProblemKind, ...] = get_args(ProblemKind)
EXPRESSION_KINDS = frozenset({"arithmetic", "fraction", "simplify", "expand", "percentage"})
RELATION_CLASSES = {"=": sp.Eq, "<": sp.Lt, ">": sp.Gt, "<=": sp.Le, ">=": sp.Ge}

# Guards against input that is legal but explodes (2^99999, 40-digit numbers): a photo of
# homework never needs more, and the CAS must answer within a spoken turn.
MAX_DIGITS = 12
MAX_EXPONENT = 12
MAX_TEXT = 200


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    text: str  # plain form, see the module docstring
    latex: str
    source: str = "text"  # "camera" | "text" | "image"

    def as_event(self) -> dict[str, str]:
        """The payload of `tutor.problem`."""
        return {"text": self.text, "latex": self.latex, "kind": self.kind, "source": self.source}


@dataclass(frozen=True)
class Step:
    index: int  # 0-based
    text: str  # one short sentence explaining the move
    math: str  # the state after the move, plain form
    final: bool
    spoken: str  # the move and the state in words, ready for TTS
    hint: str  # the same move explained more simply, phrased for speech
    # The move in a form answers.py compares a student's proposal with: "verb n1 n2",
    # alternatives separated by "|" ("add|eliminate"). Not part of the event.
    move: str = ""

    def as_event(self) -> dict[str, object]:
        """The payload of `tutor.step`."""
        return {"index": self.index, "text": self.text, "math": self.math, "final": self.final}


class MathSyntaxError(ValueError):
    """Text that is not plain math the tutor can read (or that would be unsafe to compute)."""


# What reading or checking untrusted math may raise; callers turn these into None/False.
READ_ERRORS = (
    MathSyntaxError,
    ValueError,
    ArithmeticError,
    TypeError,
    PolynomialError,
    RecursionError,
    NotImplementedError,  # sympy's solvers, on shapes they do not handle
)


# ---------------------------------------------------------------- the expression tree

NodeKind = Literal["num", "frac", "var", "op", "neg", "sqrt"]


@dataclass(frozen=True)
class Node:
    """A parsed expression that keeps what was written (brackets, unreduced fractions),
    which sympy would evaluate away; the step planners need that shape."""

    kind: NodeKind
    text: str = ""  # number literal, "n/d" of a fraction, variable name, or operator
    args: tuple[Node, ...] = ()
    paren: bool = False  # written in brackets


def num(value: Any) -> Node:
    """A number node for an exact value (integer, "n/d" fraction, or finite decimal text)."""
    if isinstance(value, str):
        return Node("num", value)
    v = sp.Rational(value)
    return Node("num", str(v.p)) if v.q == 1 else Node("frac", f"{v.p}/{v.q}")


_TOKEN = re.compile(r"\s*(?:(\d+\.\d*|\.\d+|\d+)|(sqrt|[a-z])|(<=|>=|\*\*|[-+*/^()=<>]))")


def tokenize(text: str) -> list[str]:
    if len(text) > MAX_TEXT:
        raise MathSyntaxError("too long")
    tokens: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise MathSyntaxError(f"unexpected {text[pos:].strip()[:10]!r}")
        tok = m.group(1) or m.group(2) or m.group(3)
        if m.group(1) and len(tok.replace(".", "")) > MAX_DIGITS:
            raise MathSyntaxError("number too long")
        tokens.append("^" if tok == "**" else tok)
        pos = m.end()
    return tokens


def _is_number(tok: str | None) -> bool:
    return tok is not None and (tok[0].isdigit() or tok[0] == ".")


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise MathSyntaxError("unexpected end")
        self.i += 1
        return tok

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            node = Node("op", op, (node, self.term()))
        return node

    def term(self) -> Node:
        node = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "/"):
                self.take()
                node = Node("op", tok, (node, self.unary()))
            elif tok is not None and (tok == "(" or tok[0].isalpha()):
                node = Node("op", "*", (node, self.power()))  # implicit: 2x, 2(x+1), (x+1)(x-1)
            elif _is_number(tok):
                # "1 2" or "x2" is an OCR or speech ambiguity (12? x^2? 1*2?): refuse, don't guess.
                raise MathSyntaxError("two numbers in a row")
            else:
                return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            inner = self.unary()
            if inner.kind == "num" and not inner.paren:
                text = inner.text[1:] if inner.text.startswith("-") else "-" + inner.text
                return Node("num", text)
            return Node("neg", "-", (inner,))
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            return Node("op", "^", (base, self.unary()))
        return base

    def atom(self) -> Node:
        tok = self.take()
        if _is_number(tok):
            return Node("num", tok)
        if tok == "sqrt":
            if self.take() != "(":
                raise MathSyntaxError("sqrt without brackets")
            inner = self.expr()
            if self.take() != ")":
                raise MathSyntaxError("unbalanced brackets")
            return Node("sqrt", "sqrt", (inner,))
        if tok[0].isalpha():
            return Node("var", tok)
        if tok == "(":
            inner = self.expr()
            if self.take() != ")":
                raise MathSyntaxError("unbalanced brackets")
            return replace(inner, paren=True)
        raise MathSyntaxError(f"unexpected {tok!r}")


def parse_tree(text: str) -> Node:
    """Plain expression text -> tree. Raises MathSyntaxError."""
    tokens = tokenize(text)
    if not tokens:
        raise MathSyntaxError("empty")
    parser = _Parser(tokens)
    node = parser.expr()
    if parser.peek() is not None:
        raise MathSyntaxError(f"unexpected {parser.peek()!r}")
    return replace(node, paren=False)


def split_relation(text: str) -> tuple[str, str | None, str | None]:
    """ "2*x + 3 = 11" -> ("2*x + 3", "=", "11"); an expression -> (text, None, None)."""
    parts = re.split(r"(<=|>=|=|<|>)", text)
    if len(parts) == 1:
        return text.strip(), None, None
    if len(parts) != 3 or not parts[0].strip() or not parts[2].strip():
        raise MathSyntaxError("not one relation")
    return parts[0].strip(), parts[1], parts[2].strip()


_WRAPPER = re.compile(r"^\s*(simplify|expand)\((.*)\)\s*$")


def unwrap(text: str) -> tuple[str | None, str]:
    """ "simplify(2*x + 3*x)" -> ("simplify", "2*x + 3*x"); other text -> (None, text)."""
    m = _WRAPPER.match(text)
    return (m.group(1), m.group(2)) if m else (None, text)


def fractionize(node: Node) -> Node:
    """Integer-over-integer divisions become fraction leaves, as the page shows them.

    `a*p/q` parses as (a*p)/q; it is rewritten a*(p/q), which has the same value, so
    "1/2*3/4" is a product of two fractions."""
    if node.kind != "op":
        if node.kind in ("neg", "sqrt"):
            return Node(node.kind, node.text, (fractionize(node.args[0]),), node.paren)
        return node
    left, right = node.args
    ints = ("num",)
    if node.text == "/" and right.kind in ints and "." not in right.text and not right.paren:
        if left.kind in ints and "." not in left.text and not left.paren:
            return Node("frac", f"{left.text}/{right.text}", (), node.paren)
        if left.kind == "op" and left.text == "*" and not left.paren:
            inner = left.args[1]
            if inner.kind in ints and "." not in inner.text and not inner.paren:
                leaf = Node("frac", f"{inner.text}/{right.text}")
                return Node("op", "*", (fractionize(left.args[0]), leaf), node.paren)
    return Node("op", node.text, (fractionize(left), fractionize(right)), node.paren)


def top_terms(node: Node) -> list[Node]:
    """The terms of a sum as written: "2*x + 3 - x" -> [2*x, 3, x] (signs dropped)."""
    if node.kind == "op" and node.text in "+-" and not node.paren:
        return top_terms(node.args[0]) + top_terms(node.args[1])
    return [node]


def is_number(n: Node) -> bool:
    return n.kind in ("num", "frac")


def get_path(node: Node, path: tuple[int, ...]) -> Node:
    for i in path:
        node = node.args[i]
    return node


def put_path(node: Node, path: tuple[int, ...], new: Node) -> Node:
    if not path:
        return new
    args = list(node.args)
    args[path[0]] = put_path(args[path[0]], path[1:], new)
    return Node(node.kind, node.text, tuple(args), node.paren)


def fold_negatives(node: Node) -> Node:
    """-(7) is just -7, and (7) is 7: neither is a step of its own."""
    if is_number(node):
        return Node(node.kind, node.text)
    args = tuple(fold_negatives(a) for a in node.args)
    if node.kind == "neg" and is_number(args[0]):
        return num(-sp.Rational(args[0].text))
    return Node(node.kind, node.text, args, node.paren)


def walk(node: Node) -> list[Node]:
    out = [node]
    for arg in node.args:
        out.extend(walk(arg))
    return out


# ---------------------------------------------------------------- to sympy


def to_sympy(node: Node) -> Any:
    """Exact sympy value of a tree (decimals become rationals)."""
    kind = node.kind
    if kind == "num":
        return sp.Rational(node.text)
    if kind == "frac":
        n, d = node.text.split("/")
        if int(d) == 0:
            raise MathSyntaxError("division by zero")
        return sp.Rational(int(n), int(d))
    if kind == "var":
        return sp.Symbol(node.text)
    if kind == "neg":
        return -to_sympy(node.args[0])
    if kind == "sqrt":
        return sp.sqrt(to_sympy(node.args[0]))
    a, b = (to_sympy(arg) for arg in node.args)
    if node.text == "+":
        return a + b
    if node.text == "-":
        return a - b
    if node.text == "*":
        return a * b
    if node.text == "/":
        if b == 0:
            raise MathSyntaxError("division by zero")
        return a / b
    if not (b.is_Integer and abs(int(b)) <= MAX_EXPONENT) or (a == 0 and b < 0):
        raise MathSyntaxError("unsupported power")
    return a**b


def sympify_plain(text: str) -> Any:
    """Plain expression text -> sympy expression; refuses anything non-real or infinite."""
    expr = to_sympy(parse_tree(text))
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo, sp.I):
        raise MathSyntaxError("not a real finite value")
    return expr


def plain(expr: Any) -> str:
    """A sympy expression in plain form ("x^2 - 5*x + 6")."""
    return str(expr).replace("**", "^")


def fmt_number(value: Any, decimal: bool = False) -> str:
    """An exact number as "12", "5/6", "-7/2", or with `decimal` "6.75" when it terminates."""
    v = sp.Rational(value)
    if v.q == 1:
        return str(v.p)
    if decimal:
        q = int(v.q)
        for f in (2, 5):
            while q % f == 0:
                q //= f
        if q == 1:
            with localcontext() as ctx:
                ctx.prec = 50
                return format(Decimal(int(v.p)) / Decimal(int(v.q)), "f")
    return f"{v.p}/{v.q}"


# ---------------------------------------------------------------- rendering

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}


def _prec(node: Node) -> int:
    if node.kind == "op":
        return _PREC[node.text]
    if node.kind == "neg" or (node.kind in ("num", "frac") and node.text.startswith("-")):
        return 3
    if node.kind == "frac":
        return 2
    return 5


def _wraps(node: Node, child: Node, right: bool) -> bool:
    # Brackets as written, except around a lone fraction in a sum ("(3/4) + (5/6)", as
    # said aloud), where they carry nothing.
    lone_fraction = child.kind == "frac" and node.text in ("+", "-")
    if child.paren and not lone_fraction:
        return True
    if node.kind == "neg":
        return _prec(child) <= 3 and not (child.kind == "op" and child.text in "*/^")
    op, p, c = node.text, _PREC[node.text], _prec(child)
    if op == "^":
        return c < 5 if right else c <= 4
    if c == 3:  # a negative operand: "-3*x" is fine first, brackets elsewhere ("4 - (-3)")
        return right
    return c < p or (right and c == p and op in "-/")


def render_plain(node: Node) -> str:
    """The tree in plain form, keeping the brackets that were written."""
    kind = node.kind
    if kind in ("num", "frac", "var"):
        return node.text
    if kind == "sqrt":
        return f"sqrt({render_plain(node.args[0])})"
    parts = []
    for i, child in enumerate(node.args):
        s = render_plain(child)
        parts.append(f"({s})" if _wraps(node, child, right=i == 1) else s)
    if kind == "neg":
        return "-" + parts[0]
    sep = f" {node.text} " if node.text in "+-" else node.text
    return sep.join(parts)


def _starts_letter(node: Node) -> bool:
    while node.kind == "op" and node.text in "*^" and not node.paren:
        node = node.args[0]
    return node.paren or node.kind in ("var", "sqrt")


def render_latex(node: Node) -> str:
    kind = node.kind
    if kind in ("num", "var"):
        return node.text
    if kind == "frac":
        n, d = node.text.split("/")
        sign, n = ("-", n[1:]) if n.startswith("-") else ("", n)
        return f"{sign}\\frac{{{n}}}{{{d}}}"
    if kind == "sqrt":
        return f"\\sqrt{{{render_latex(node.args[0])}}}"
    if kind == "op" and node.text == "/":
        a, b = (render_latex(replace(c, paren=False)) for c in node.args)
        return f"\\frac{{{a}}}{{{b}}}"
    parts = []
    for i, child in enumerate(node.args):
        s = render_latex(child)
        parts.append(f"\\left({s}\\right)" if _wraps(node, child, right=i == 1) else s)
    if kind == "neg":
        return "-" + parts[0]
    if node.text == "^":
        return f"{parts[0]}^{{{parts[1]}}}"
    if node.text == "*":
        left, right = node.args
        implicit = _starts_letter(right) or (right.paren and left.kind != "num")
        return parts[0] + ("" if implicit else " \\times ") + parts[1]
    return f"{parts[0]} {node.text} {parts[1]}"


_LATEX_REL = {"=": "=", "<": "<", ">": ">", "<=": "\\le", ">=": "\\ge"}


def statement_latex(text: str) -> str:
    """LaTeX of a plain statement: expression, relation, or system ("; ")."""
    wrapper, inner = unwrap(text)
    parts = [p.strip() for p in inner.split(";")]
    rendered = []
    for part in parts:
        lhs, op, rhs = split_relation(part)
        s = render_latex(fractionize(parse_tree(lhs)))
        if op is not None and rhs is not None:
            s += f" {_LATEX_REL[op]} {render_latex(fractionize(parse_tree(rhs)))}"
        rendered.append(s)
    if len(rendered) > 1:
        return "\\begin{cases} " + " \\\\ ".join(rendered) + " \\end{cases}"
    if wrapper:
        return f"\\text{{{wrapper.capitalize()}: }} {rendered[0]}"
    return rendered[0]


def free_vars(text: str) -> list[Any]:
    """The variables of a plain statement, sorted by name."""
    names = set(re.findall(r"(?<![a-z])[a-z](?![a-z])", unwrap(text)[1]))
    return [sp.Symbol(n) for n in sorted(names)]


# ---------------------------------------------------------------- meaning of a state
# Shared by the step planner (a step must keep the meaning) and the answer checker.


def meaning(problem: Problem, math: str) -> Any:
    """What a state says, in a form two equivalent states share: a value (expressions), the
    real solution set (one unknown), or the solution set of the system."""
    return _meaning(problem.kind, tuple(free_vars(problem.text)), math)


@lru_cache(maxsize=1024)  # a plan checks the same states again and again
def _meaning(kind: str, variables: tuple[Any, ...], math: str) -> Any:
    if kind in EXPRESSION_KINDS:
        return sympify_plain(unwrap(math)[1])
    if kind == "linear_system":
        eqs = []
        for part in math.split(";"):
            lhs, op, rhs = split_relation(part)
            if op != "=" or rhs is None:
                raise MathSyntaxError("a system state is equations")
            eqs.append(sympify_plain(lhs) - sympify_plain(rhs))
        return sp.linsolve(eqs, list(variables))
    (var,) = variables
    total: Any = sp.S.EmptySet
    for part in re.split(r"\s+or\s+", math.strip()):
        if part in ("no solution", "no real solution"):
            continue
        if part == "all real numbers":
            return sp.S.Reals
        lhs, op, rhs = split_relation(part)
        if op is None or rhs is None:
            raise MathSyntaxError("a state of an equation is a relation")
        total = sp.Union(total, _solve(sympify_plain(lhs) - sympify_plain(rhs), op, var))
    return total


def _solve(diff: Any, op: str, var: Any) -> Any:
    """Real solutions of `diff op 0`. Linear and quadratic shapes are solved directly
    (solveset is exact too, but ten times slower, and a plan checks every state)."""
    diff = sp.expand(diff)
    if diff.is_polynomial(var) and sp.degree(diff, var) <= 2:
        poly = sp.Poly(diff, var)
        if poly.degree() <= 0:
            holds = bool(RELATION_CLASSES[op](diff, 0))
            return sp.S.Reals if holds else sp.S.EmptySet
        if op == "=":
            return sp.FiniteSet(*(r for r in sp.roots(poly) if r.is_real))
        if poly.degree() == 1:
            a, b = poly.all_coeffs()
            edge = -b / a
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}[op] if a < 0 else op
            if op in ("<", "<="):
                return sp.Interval(-sp.oo, edge, True, op == "<")
            return sp.Interval(edge, sp.oo, op == ">", True)
    return sp.solveset(RELATION_CLASSES[op](diff, 0), var, sp.S.Reals)


def same_meaning(a: Any, b: Any) -> bool:
    if a == b:
        return True
    if isinstance(a, sp.Set) or isinstance(b, sp.Set):
        if isinstance(a, sp.FiniteSet) and isinstance(b, sp.FiniteSet) and len(a) == len(b):
            return all(any(_zero(x - y) for y in b) for x in a)
        return bool(sp.Complement(a, b) == sp.S.EmptySet and sp.Complement(b, a) == sp.S.EmptySet)
    return _zero(a - b)


def _zero(d: Any) -> bool:
    if isinstance(d, sp.Tuple):
        return all(_zero(x) for x in d)
    return bool(d == 0 or sp.expand(d) == 0 or sp.simplify(d) == 0)


# ---------------------------------------------------------------- the solution


def fmt_value(value: Any) -> str:
    """A real number in plain form; a surd as (p + q*sqrt(n))/d, the way it is written."""
    value = sp.nsimplify(value) if value.is_Float else value
    if value.is_Rational:
        return fmt_number(value)
    rat, irr = value.as_coeff_Add()
    coeff, surd = irr.as_coeff_Mul()
    den = sp.ilcm(sp.Rational(rat).q, sp.Rational(coeff).q)
    p, q = int(rat * den), int(coeff * den)
    root = plain(surd)
    body = root if abs(q) == 1 else f"{abs(q)}*{root}"
    text = (f"{p} {'-' if q < 0 else '+'} {body}") if p else ("-" if q < 0 else "") + body
    return text if den == 1 else f"({text})/{den}"


def roots_text(var: Any, roots: Sequence[Any]) -> str:
    ordered = sorted(roots, key=lambda r: float(r))
    return " or ".join(f"{var} = {fmt_value(r)}" for r in ordered)


def solution_text(problem: Problem) -> str:
    """The answer in plain form, computed with sympy independently of the step plan."""
    kind = problem.kind
    inner = unwrap(problem.text)[1]
    if kind in ("arithmetic", "fraction", "percentage"):
        decimal = kind == "percentage" or (kind == "arithmetic" and "." in inner)
        return fmt_number(sympify_plain(inner), decimal=decimal)
    if kind in ("simplify", "expand"):
        tree = parse_tree(inner)
        value = to_sympy(tree)
        if tree.kind == "op" and tree.text == "/" and not value.is_polynomial():
            return plain(sp.cancel(value))
        return plain(sp.expand(value))
    found = meaning(problem, problem.text)
    variables = free_vars(problem.text)
    if kind == "linear_system":
        (values,) = found
        return "; ".join(f"{v} = {fmt_value(x)}" for v, x in zip(variables, values, strict=True))
    (var,) = variables
    if found == sp.S.EmptySet:
        return "no real solution" if kind == "quadratic_equation" else "no solution"
    if found == sp.S.Reals:
        return "all real numbers"
    if isinstance(found, sp.FiniteSet):
        return roots_text(var, list(found))
    if isinstance(found, sp.Interval):
        if found.start == -sp.oo:
            return f"{var} {'<' if found.right_open else '<='} {fmt_value(found.end)}"
        return f"{var} {'>' if found.left_open else '>='} {fmt_value(found.start)}"
    raise MathSyntaxError(f"unexpected solution set {found}")
