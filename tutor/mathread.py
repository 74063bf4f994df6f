"""Reading a problem: OCR lines, typed text or speech -> a `Problem`, or None.

None means "I could not read that reliably" (the caller asks to hold the page closer or
steadier): an ambiguous reading is refused rather than guessed, because a tutor that
confidently solves the wrong problem is worse than one that asks again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import sympy as sp

from tutor.problems import (
    MAX_TEXT,
    READ_ERRORS,
    MathSyntaxError,
    Node,
    Problem,
    ProblemKind,
    fractionize,
    parse_tree,
    plain,
    render_plain,
    split_relation,
    statement_latex,
    to_sympy,
    top_terms,
    walk,
)
from tutor.speech import words_to_math

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_VULGAR = {"½": "(1/2)", "⅓": "(1/3)", "⅔": "(2/3)", "¼": "(1/4)", "¾": "(3/4)", "⅕": "(1/5)"}
_CHARS = {
    **dict.fromkeys("−–—‒﹣－一", "-"),  # "一" is what a Chinese-trained OCR reads for a minus
    **dict.fromkeys("×✕✖⨯·∙⋅", "*"),
    **dict.fromkeys("⁄∕", "/"),
    "≤": "<=",
    "⩽": "<=",
    "≥": ">=",
    "⩾": ">=",
    "＝": "=",
}


def normalize_ocr(text: str) -> str:
    """Repair typical OCR confusions and return plain ASCII math.

    "2x+3=1l" -> "2x+3=11", "Zx" -> "2x", "1O" -> "10", "x² − 5x" -> "x^2 - 5x",
    "2 × 3" / "2 x 3" -> "2 * 3" (but "2x" stays a term), "x2 - 5x + 6 = 0" -> "x^2 - ...".
    Words of three or more letters are left alone (instructions are stripped elsewhere).
    """
    s = re.sub(
        r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+",
        lambda m: "^" + (t if len(t := m.group().translate(_SUPERSCRIPTS)) == 1 else f"({t})"),
        text,
    )
    for ch, repl in _VULGAR.items():
        s = s.replace(ch, repl)
    s = re.sub(r"√\s*(\d+(?:\.\d+)?|[A-Za-z])", r"sqrt(\1)", s).replace("√", "sqrt")
    for ch, repl in _CHARS.items():
        s = s.replace(ch, repl)
    # "3/4 ÷ 2/5" means (3/4) ÷ (2/5), as printed; a bare "/" would divide by 2 then by 5.
    frac = r"(\d+\s*/\s*\d+)"
    s = re.sub(frac + r"\s*÷\s*" + frac, r"(\1)/(\2)", s)
    s = re.sub(r"÷\s*" + frac, r"/(\1)", s).replace("÷", "/")
    s = unicodedata.normalize("NFKC", s)
    s = re.sub(r"(?<=\d)\s*:\s*(?=\d)", "/", s)  # 6 : 3, division in many countries
    s = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", s)  # 1,000
    s = re.sub(r"(?<=\d),(?=\d)", ".", s)  # 2,5 decimal comma
    s = s.replace("**", "^")
    s = re.sub(r"(?<=[\d)])\s*X\s*(?=[\d(])", " * ", s)  # a capital X between numbers is ×
    s = re.sub(r"(?<=[\d)])\s+x\s+(?=[\d(])", " * ", s)  # "2 x 3": spaced, so not a term
    s = re.sub(r"[A-Za-z|]+", _repair_letters, s)
    has_variable = re.search(r"(?<![a-z])[a-z](?![a-z])", s.replace("x", "")) is not None
    if not re.search(r"[=<>]", s) and not has_variable:
        s = re.sub(r"(?<=[\d)])x(?=[\d(])", "*", s)  # "2x3" in plain arithmetic is 2 × 3
    # A superscript 2 or 3 the OCR flattened: "x2 - 5x + 6" is x^2 (a variable is never
    # followed by a coefficient in print).
    s = re.sub(r"(?<![a-z])([a-z])([23])(?![\d.])", r"\1^\2", s)
    s = re.sub(r"\s+", " ", s).strip()
    return s


def _repair_letters(m: re.Match[str]) -> str:
    run = m.group()
    if len(run) >= 3 and "|" not in run:
        return run.lower() if run.lower() == "sqrt" else run  # a word, not math
    s, e = m.string, m.end()
    near_digit = (m.start() > 0 and s[m.start() - 1].isdigit()) or (e < len(s) and s[e].isdigit())
    out = []
    for ch in run:
        if ch == "Z":
            out.append("2")
        elif ch == "O":
            out.append("0")
        elif ch in "lI|":
            out.append("1")
        elif ch == "o" and near_digit:
            out.append("0")
        elif ch == "S" and near_digit:
            out.append("5")
        elif ch == "B" and near_digit:
            out.append("8")
        else:
            out.append(ch.lower())
    return "".join(out)


# ---------------------------------------------------------------- typed or OCR text

_INSTRUCTION = re.compile(
    r"^\s*(?:please\s+|now\s+|and\s+)?(?P<kw>solve\s+for\s+[a-z]|solve\s+the\s+system(?:\s+of\s+equations)?"
    r"|solve|simplify|expand\s+and\s+simplify|expand|multiply\s+out|evaluate|calculate|compute"
    r"|work\s+out|find\s+the\s+value\s+of|find\s+[a-z]|find|what\s+is|what's|whats|how\s+much\s+is"
    r"|(?:[a-h]|\d{1,2})[.)]\s|\([a-h]\)|q\d+\.?|problem\s+\d+)\s*[:.,-]?\s*",
    re.IGNORECASE,
)


def _strip_instructions(text: str) -> tuple[str | None, str]:
    """ "Solve for x: 2x + 3 = 11" -> ("solve", "2x + 3 = 11")."""
    keyword: str | None = None
    rest = text.strip()
    while m := _INSTRUCTION.match(rest):
        word = m.group("kw").lower()
        if word.startswith(("simplify", "expand and")):
            keyword = "simplify"
        elif word.startswith(("expand", "multiply out")):
            keyword = "expand"
        elif keyword is None and word.startswith("solve"):
            keyword = "solve"
        rest = rest[m.end() :]
    rest = re.sub(r"\s+for\s+[a-z]\s*[.?]?\s*$", "", rest, flags=re.IGNORECASE)
    rest = re.sub(r"\s*=\s*(\?|_+|\.\.\.|…)?\s*$", "", rest) if rest.count("=") == 1 else rest
    return keyword, rest.strip().rstrip("?.").strip()


_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:%|percent|per cent)\s+of\s+(\d+(?:\.\d+)?)$", re.I)


def parse_problem(text: str, source: str = "text") -> Problem | None:
    """Typed or OCR text -> Problem, or None when unreadable, ambiguous, or already solved."""
    if not text or len(text) > MAX_TEXT:
        return None
    try:
        return _parse(text, source)
    except READ_ERRORS:
        return None


def _parse(text: str, source: str) -> Problem | None:
    keyword, rest = _strip_instructions(text)
    s = normalize_ocr(rest)
    if m := _PERCENT.match(s):
        pct, base = m.group(1), m.group(2)
        latex = rf"{pct}\% \text{{ of }} {base}"
        return Problem("percentage", f"{pct}/100*{base}", latex, source)
    s = re.sub(r"\band\b", ";", s)
    if re.search(r"[a-z]{3,}", s.replace("sqrt", "")):
        return None  # leftover words: not (only) math
    parts = [p.strip() for p in re.split(r"[;,\n]", s) if p.strip()]
    if len(parts) in (2, 3) and all(re.search(r"[=<>]", p) for p in parts):
        return _system(parts, source)
    if len(parts) != 1:
        return None
    lhs, op, rhs = split_relation(parts[0])
    if op is None:
        return _expression(parse_tree(lhs), keyword, source)
    assert rhs is not None
    return _relation(parse_tree(lhs), op, parse_tree(rhs), source)


def _make(kind: ProblemKind, text: str, source: str) -> Problem:
    return Problem(kind, text, statement_latex(text), source)


def _degree(expr: Any, var: Any) -> int:
    if expr == 0:
        return 0
    if not expr.is_polynomial(var):
        raise MathSyntaxError("not a polynomial")
    return int(sp.Poly(expr, var).degree())


def _relation(left: Node, op: str, right: Node, source: str) -> Problem | None:
    lhs, rhs = to_sympy(left), to_sympy(right)
    variables = (lhs - rhs).free_symbols | lhs.free_symbols | rhs.free_symbols
    if len(variables) != 1:
        return None  # "3 + 4 = 7" is a statement; "y = 2x + 1" has no single answer
    (var,) = variables
    degrees = (_degree(sp.expand(lhs), var), _degree(sp.expand(rhs), var))
    solved = left.kind == "var" and fractionize(right).kind in ("num", "frac")
    text = f"{render_plain(left)} {op} {render_plain(right)}"
    if max(degrees) <= 1 and not solved:
        return _make("linear_equation" if op == "=" else "linear_inequality", text, source)
    if op == "=" and max(degrees) == 2 and _degree(sp.expand(lhs - rhs), var) == 2:
        return _make("quadratic_equation", text, source)
    return None


def _system(parts: list[str], source: str) -> Problem | None:
    eqs, texts = [], []
    for part in parts:
        lhs, op, rhs = split_relation(part)
        if op != "=" or rhs is None:
            return None
        left, right = parse_tree(lhs), parse_tree(rhs)
        eqs.append(sp.expand(to_sympy(left) - to_sympy(right)))
        texts.append(f"{render_plain(left)} = {render_plain(right)}")
    variables = sorted(set().union(*(e.free_symbols for e in eqs)), key=str)
    # As many unknowns as equations: two lines in x and y, or three in x, y and z.
    if len(variables) != len(eqs) or any(sp.Poly(e, *variables).total_degree() != 1 for e in eqs):
        return None
    matrix = sp.Matrix([[e.coeff(v) for v in variables] for e in eqs])
    if matrix.det() == 0:
        return None  # parallel or identical lines: no unique answer to walk towards
    return _make("linear_system", "; ".join(texts), source)


def has_bracket_product(node: Node) -> bool:
    """A product or power with a sum in it: something to multiply out."""
    for n in walk(node):
        if n.kind == "op" and n.text in "*^":
            operands = n.args if n.text == "*" else n.args[:1]
            if any(a.kind == "op" and a.text in "+-" for a in operands):
                return True
    return False


def _expression(tree: Node, keyword: str | None, source: str) -> Problem | None:
    value = to_sympy(tree)
    ops = [n for n in walk(tree) if n.kind in ("op", "neg", "sqrt")]
    if not any(n.kind == "var" for n in walk(tree)):
        if not value.is_Rational:
            return None  # sqrt(2): no exact arithmetic answer to step towards
        fr = fractionize(tree)
        has_decimal = any(n.kind == "num" and "." in n.text for n in walk(tree))
        fractions = [n for n in walk(fr) if n.kind == "frac"]
        if fractions and not has_decimal and any(sp.Rational(f.text).q != 1 for f in fractions):
            if fr.kind == "frac" and sp.gcd(*map(int, fr.text.split("/"))) == 1:
                return None  # already in lowest terms
            return _make("fraction", render_plain(fr), source)
        return _make("arithmetic", render_plain(tree), source) if ops else None
    if len(value.free_symbols) > 3:
        return None
    text = render_plain(tree)
    expanded = sp.expand(value)
    if tree.kind == "op" and tree.text == "/" and not value.is_polynomial():
        num, den = (sp.expand(to_sympy(a)) for a in tree.args)
        if not den.free_symbols and keyword != "expand":
            pass  # (2x + 4)/2: handled as a polynomial below
        elif sp.gcd(num, den) != 1 and keyword != "expand":
            return _make("simplify", f"simplify({text})", source)
        else:
            return None
    if not value.is_polynomial():
        return None
    written = top_terms(tree)
    if keyword == "expand" or (keyword is None and has_bracket_product(tree)):
        return _make("expand", f"expand({text})", source) if has_bracket_product(tree) else None
    # Something to do: brackets, like terms to collect, or a term not in its simplest
    # form ("x*x"); "3 + 2*x" only needs reordering, which is not a problem to solve.
    collect = len(sp.Add.make_args(expanded)) < len(written)
    unfinished = any(render_plain(t) != plain(to_sympy(t)) for t in written)
    if "(" in text or collect or unfinished:
        return _make("simplify", f"simplify({text})", source)
    return None


# ---------------------------------------------------------------- camera lines, speech


def _looks_like_math(line: str) -> bool:
    return bool(re.search(r"\d", line) and re.search(r"[-+*/^=<>×÷−–%²]|\d\s*[a-zA-Z]", line))


def problem_from_lines(lines: Sequence[str], source: str = "camera") -> Problem | None:
    """OCR lines, top to bottom -> the problem on the page.

    An instruction on its own line ("Solve the system:") applies to the lines below; two
    equation lines in a row are a system. The first line that looks like math decides:
    if it cannot be read the answer is None, not some other line that happens to parse."""
    candidates: list[str] = []
    pending = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        _, rest = _strip_instructions(line)
        if not rest:
            pending = f"{pending} {line}".strip()
            continue
        if _looks_like_math(rest):
            candidates.append(f"{pending} {line}".strip())
            pending = ""
    if not candidates:
        return None
    if len(candidates) >= 2 and all("=" in c for c in candidates[:2]):
        _, first = _strip_instructions(candidates[0])
        _, second = _strip_instructions(candidates[1])
        system = parse_problem(f"{first}; {second}", source)
        if system is not None:
            return system
    return parse_problem(candidates[0], source)


_POLITE = re.compile(
    r"^\s*(?:(?:ok(?:ay)?|so|um+|uh+|hey|hi|well|now|right)\b[\s,]*)*(?:(?:can|could|would) you\s+"
    r"|please\s+|help me\s+(?:to\s+)?|i (?:need|want|have) to\s+|let's\s+|how do (?:i|you)\s+)*",
    re.I,
)


def problem_from_speech(utterance: str) -> Problem | None:
    """A spoken problem ("solve two x plus three equals eleven", "what is fifteen percent
    of eighty") -> Problem, or None."""
    if not utterance or len(utterance) > MAX_TEXT:
        return None
    s = _POLITE.sub("", utterance.strip()).strip()
    s = re.sub(r"^(with|me)\s+", "", s, flags=re.I)
    math = words_to_math(s)
    math = re.sub(r"\s*\bplease\b\s*", " ", math).strip()
    return parse_problem(math, source="text")


def strip_instructions(text: str) -> tuple[str | None, str]:
    """ "Solve for x: 2x + 3 = 11" -> ("solve", "2x + 3 = 11"); see `_strip_instructions`."""
    return _strip_instructions(text)
