"""Math to words and words to math.

`speak_math` reads plain math aloud the way a tutor says it ("two x plus three equals
eleven"), so the TTS never spells out "2 asterisk x". `words_to_math` goes the other way
for what the student said (Whisper writes "x equals four", "2x plus 3 = 11" or a mix).
"""

from __future__ import annotations

import re

# Word lists read better as one string each.
_ONES = (  # noqa: SIM905
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()  # noqa: SIM905
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINALS = {
    2: "half",
    3: "third",
    4: "quarter",
    5: "fifth",
    6: "sixth",
    7: "seventh",
    8: "eighth",
    9: "ninth",
    10: "tenth",
    11: "eleventh",
    12: "twelfth",
    13: "thirteenth",
    14: "fourteenth",
    15: "fifteenth",
    16: "sixteenth",
    17: "seventeenth",
    18: "eighteenth",
    19: "nineteenth",
    20: "twentieth",
    100: "hundredth",
}


def _plural(word: str) -> str:
    return "halves" if word == "half" else word + "s"


def int_to_words(n: int) -> str:
    if n < 0:
        return "negative " + int_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, rest = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[rest]}" if rest else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {int_to_words(rest)}" if rest else "")
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return f"{int_to_words(high)} {name}" + (f" {int_to_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


def number_to_words(text: str | int) -> str:
    """ "42" -> "forty two", "-3" -> "negative three", "0.15" -> "zero point one five"."""
    s = str(text).strip()
    sign = ""
    if s.startswith("-"):
        sign, s = "negative ", s[1:]
    whole, _, frac = s.partition(".")
    words = int_to_words(int(whole or "0"))
    if frac:
        words += " point " + " ".join(_ONES[int(d)] for d in frac)
    return sign + words


def fraction_to_words(n: int, d: int) -> str:
    """3/4 -> "three quarters"; improper or unusual ones -> "nineteen over twelve"."""
    if d in _ORDINALS and 0 < abs(n) < d:
        word = _ORDINALS[d] if abs(n) == 1 else _plural(_ORDINALS[d])
        return f"{number_to_words(n)} {word}"
    return f"{number_to_words(n)} over {number_to_words(d)}"


_SPEAK_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|[A-Za-z]+|<=|>=|\*\*|[-+*/^()=<>;%,]")
_REL_WORDS = {
    "=": "equals",
    "<": "is less than",
    ">": "is greater than",
    "<=": "is less than or equal to",
    ">=": "is greater than or equal to",
}
_OPERATORS = {"+", "-", "*", "/", "^", "(", "=", "<", ">", "<=", ">=", ";", ",", "or", "and"}


def _is_num(tok: str | None) -> bool:
    return tok is not None and (tok[0].isdigit() or tok[0] == ".")


def _proper_or_odd(n: str, d: str) -> bool:
    """Whether "n/d" is said as a fraction: "12/3" is a division ("twelve divided by three")."""
    return int(d) != 0 and int(n) % int(d) != 0


def speak_math(math: str) -> str:
    """Plain math -> natural speech: "2*x + 3 = 11" -> "two x plus three equals eleven"."""
    # Problem texts: "simplify(...)" / "expand(...)" are instructions, "15/100*80" is 15%.
    if wrapped := re.fullmatch(r"\s*(simplify|expand)\((.*)\)\s*", math):
        return f"{wrapped.group(1)} {speak_math(wrapped.group(2))}"
    if percent := re.fullmatch(r"\s*(\d+(?:\.\d+)?)/100\*(\d+(?:\.\d+)?)\s*", math):
        return f"{number_to_words(percent.group(1))} percent of {number_to_words(percent.group(2))}"
    toks = ["^" if t == "**" else t for t in _SPEAK_TOKEN.findall(math)]
    out: list[str] = []
    i = 0

    def at(k: int) -> str | None:
        return toks[k] if 0 <= k < len(toks) else None

    while i < len(toks):
        tok, prev, nxt = toks[i], at(i - 1), at(i + 1)
        if _is_num(tok):
            neg = prev == "-" and (at(i - 2) is None or at(i - 2) in _OPERATORS)
            fraction = (
                nxt == "/" and _is_num(at(i + 2)) and at(i + 3) != "^" and prev not in ("/", "^")
            )
            if fraction and "." not in tok + toks[i + 2] and _proper_or_odd(tok, toks[i + 2]):
                n = -int(tok) if neg else int(tok)
                if neg:
                    out.pop()  # the "negative" said for the minus sign
                out.append(fraction_to_words(n, int(toks[i + 2])))
                i += 3
                continue
            out.append(number_to_words(tok))
            if nxt == "*" and at(i + 2) is not None and str(at(i + 2)).isalpha():
                i += 1  # "2*x" is said "two x"
        elif tok.isalpha():
            if tok == "sqrt":
                out.append("the square root of")
                if nxt == "(" and at(i + 3) == ")":  # sqrt(20): no "quantity"
                    out.append(number_to_words(toks[i + 2]) if _is_num(at(i + 2)) else toks[i + 2])
                    i += 3
            elif (
                len(tok) == 1 and nxt == "*" and at(i + 2) is not None and str(at(i + 2)).isalpha()
            ):
                out.append(tok)
                i += 1  # "x*y" is said "x y"
            else:
                out.append(tok)
        elif tok == "-":
            unary = prev is None or prev in _OPERATORS
            out.append("negative" if unary else "minus")
        elif tok == "+":
            out.append("plus")
        elif tok == "*":
            out.append("times")
        elif tok == "/":
            whole = _is_num(prev) and _is_num(nxt) and "." not in f"{prev}{nxt}"
            out.append(
                "divided by" if whole and not _proper_or_odd(str(prev), str(nxt)) else "over"
            )
        elif tok == "^":
            power = at(i + 1)
            if power in ("2", "3") and at(i + 2) != "/":
                out.append("squared" if power == "2" else "cubed")
                i += 1
            else:
                out.append("to the power of")
        elif tok == "(":
            simple_negative = nxt == "-" and _is_num(at(i + 2)) and at(i + 3) == ")"
            if not simple_negative and not (_is_num(nxt) and at(i + 2) == ")"):
                out.append("the quantity")
        elif tok == ")":
            inner_simple = (_is_num(prev) and at(i - 2) in ("(", "-")) or prev is None
            if not inner_simple and at(i + 1) is not None:
                out.append(",")
        elif tok in _REL_WORDS:
            out.append(_REL_WORDS[tok])
        elif tok == ";":
            out.append(", and")
        elif tok == "%":
            out.append("percent")
        elif tok == ",":
            out.append(",")
        i += 1
    text = " ".join(out)
    text = re.sub(r"\s+,", ",", text)
    text = re.sub(r",(\s*,)+", ",", text)
    return re.sub(r"\s+", " ", text).strip(" ,")


# ---------------------------------------------------------------- words -> math

_WORD_VALUES = {w: i for i, w in enumerate(_ONES)} | {
    w: 10 * i for i, w in enumerate(_TENS) if i > 1
}
_WORD_VALUES |= {"oh": 0, "fourty": 40}
_SCALE_WORDS = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_DENOMINATORS: dict[str, int] = {}
for _d, _w in _ORDINALS.items():
    _DENOMINATORS[_w] = _d
    _DENOMINATORS[_plural(_w)] = _d
_DENOMINATORS |= {"fourth": 4, "fourths": 4}

# Longest phrases first: "greater than or equal to" before "greater than".
_PHRASES: tuple[tuple[str, str], ...] = (
    (r"\b(is )?(greater|bigger|more|larger) than or equal to\b", " >= "),
    (r"\b(is )?(less|smaller) than or equal to\b", " <= "),
    (r"\b(is )?at least\b", " >= "),
    (r"\b(is )?at most\b", " <= "),
    (r"\b(is )?(greater|bigger|more|larger|higher) than\b", " > "),
    (r"\b(is )?(less|smaller|lower|fewer) than\b", " < "),
    (r"\b(is equal to|is the same as|equals to|equals|equal to|equal|makes)\b", " = "),
    # "x is 4" but not "what is 3 + 4" or "is it 4": those are questions, not relations.
    (r"(?<!\bwhat )(?<!\bwhat's )(?<!\bhow much )\bis\b(?! it\b| that\b| this\b| the\b)", " = "),
    (r"\b(divided by|over)\b", " / "),
    (r"\b(multiplied by|times)\b", " * "),
    (r"\bplus\b", " + "),
    (r"\b(minus|negative|take away)\b", " - "),
    (r"\bsquared\b", "^2"),
    (r"\bcubed\b", "^3"),
    (r"\b(raised )?to the power of\b", "^"),
    (r"\b(the )?square root of\b", " sqrt "),
    (r"\bclose (bracket|parenthesis)\b", " ) "),
    (r"\b(open )?(bracket|parenthesis)\b", " ( "),
    (r"\b(per cent|percent)\b", " % "),
)


def _read_number(words: list[str], i: int) -> tuple[str, int] | None:
    """A spoken number starting at words[i] -> (digits, next index)."""
    total, current, j, seen = 0, 0, i, False
    while j < len(words):
        w = words[j]
        if w in _WORD_VALUES:
            value = _WORD_VALUES[w]
            # "twenty one" is one number; "four two" or "twelve three" are two.
            if current % 100 and not (value < 10 and current % 100 >= 20 and current % 10 == 0):
                break
            current += value
        elif w in _SCALE_WORDS and (seen or w == "hundred"):
            scale = _SCALE_WORDS[w]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * scale
                current = 0
        elif w == "a" and j + 1 < len(words) and words[j + 1] in _SCALE_WORDS and not seen:
            current = 1
        elif (
            w == "and"
            and j > i
            and words[j - 1] in _SCALE_WORDS
            and j + 1 < len(words)
            and words[j + 1] in _WORD_VALUES
        ):
            # "one hundred and five", but "three and two" are two numbers
            j += 1
            continue
        else:
            break
        seen = True
        j += 1
    if not seen:
        return None
    text = str(total + current)
    if j + 1 < len(words) and words[j] == "point" and words[j + 1] in _WORD_VALUES:
        digits = ""
        j += 1
        while j < len(words) and words[j] in _WORD_VALUES and _WORD_VALUES[words[j]] < 10:
            digits += str(_WORD_VALUES[words[j]])
            j += 1
        text += "." + digits
    return text, j


def words_to_math(utterance: str) -> str:
    """Spoken math -> plain-ish math: "two x plus three equals eleven" -> "2 x + 3 = 11".

    Words that are not math are kept (callers strip fillers and reject leftovers)."""
    s = utterance.lower()
    s = s.replace("\u2212", "-").replace("\u00d7", "*").replace("\u00f7", "/")
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)  # 1,000
    s = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", s)  # sentence full stops, not decimal points
    s = re.sub(r"[?!\"“”]", " ", s)
    s = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", s)  # "twenty-one"
    s = re.sub(r"(\d)-(?=[a-z])", r"\1 ", s)
    s = s.replace("-", " - ")
    for pattern, repl in _PHRASES:
        s = re.sub(pattern, repl, s)
    words = re.findall(r"\d+(?:\.\d+)?|[a-z]+(?:'[a-z]+)?|<=|>=|[-+*/^()=<>;,%]", s)
    out: list[str] = []
    i = 0
    while i < len(words):
        got = _read_number(words, i)
        if got is None and words[i][0].isdigit():
            got = (words[i], i + 1)
        if got is None and words[i] == "a" and i + 1 < len(words) and words[i + 1] in _DENOMINATORS:
            got = ("1", i + 1)
        if got is None:
            out.append(words[i])
            i += 1
            continue
        text, j = got
        if j < len(words) and words[j] in _DENOMINATORS and "." not in text:
            out.append(f"({text}/{_DENOMINATORS[words[j]]})")
            j += 1
        else:
            out.append(text)
        i = j
    text = " ".join(out)
    text = re.sub(r"sqrt\s+(\d+(?:\.\d+)?|[a-z])\b", r"sqrt(\1)", text)
    text = re.sub(r"\s*\^\s*", "^", text)
    return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------- what the steps say
# All the tutor's step wording lives here, next to how math is said, so it can be tuned
# (or translated) without touching the planner.


def say_numbers(sentence: str) -> str:
    """Numbers left in a spoken sentence (from the templates) in words."""
    return re.sub(
        r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])", lambda m: number_to_words(m.group()), sentence
    )


# What each step of a plan (tutor/steps.py) says, one per line: key | text | hint | move. "{0}", "{1}"... are math
# fragments, written in plain form in the text and said in words in the speech and the
# hint (the hint is only ever spoken, for "I don't get it"). The move is what answers.py
# compares a student's proposal with ("verb n1 n2", alternatives separated by "|").
_ORDER = (
    "We always go in the same order: brackets first, then powers, then times and divide, "
    "then plus and minus, each from left to right. So {1} comes next."
)
_ZERO = "If two things multiply to make zero, one of them has to be zero."
_PHRASE_TABLE = """
brackets | Work out the brackets first: {0}. | <order> | {2}
power | Powers and roots come first: {0}. | <order> | {2}
mul_first | Multiply before you add or subtract: {0}. | <order> | {2}
div_first | Divide before you add or subtract: {0}. | <order> | {2}
op | {3}: {0}. | <order> | {2}
reduce | Simplify by dividing the top and the bottom by {1}: {0}. | Find the biggest number that goes into both the top and the bottom, and divide both by it. | simplify {1}
reciprocal | Dividing by {0} is the same as multiplying by {1}. | Dividing by a fraction is the same as multiplying by it turned upside down: {0} becomes {1}. | multiply|reciprocal
lcd | Use the common denominator {0}: {1}. | We can only add or take away pieces of the same size, and {0} is the smallest number both bottoms go into, so we cut every piece to that size. | common_denominator {0}
add_tops | The denominators match, so add the numerators: {0}. | The bottom says what size the pieces are, so it stays the same; the top counts the pieces. | add {1} {2}
sub_tops | The denominators match, so subtract the numerators: {0}. | The bottom says what size the pieces are, so it stays the same; the top counts the pieces. | subtract {1} {2}
mul_fracs | Multiply the numerators and multiply the denominators: {0}. | Top times top, and bottom times bottom. | multiply {1} {2}
pct_frac | {0} means {1} out of 100, which is the fraction {2}. | Per cent means out of a hundred, so {0} is the fraction {2}; taking a fraction of a number means sharing it into equal parts. | convert
pct_share | Divide by {0}: {1}. | Taking {2} of something means sharing it into {0} equal parts. | divide {0}
pct_part | Divide by {0} to find one part: {1}. | Share it into {0} equal parts first; that is one part. | divide {0}
pct_times | Then multiply by {0}: {1}. | We want {0} of those parts. | multiply {0}
pct_dec | {0} means {1} hundredths, so write it as the decimal {2}. | Per cent means out of a hundred: divide {1} by a hundred, which moves the decimal point two places to the left, to get {2}. | convert|divide 100
pct_mul | Multiply: {0}. | Multiply the numbers as if there were no decimal point, then put the point back. | multiply {1}
tidy_brackets | Multiply out the brackets and tidy up each side. | Make each side as short as it can be before moving anything across. | expand|combine|simplify
tidy | Tidy up each side by working it out and combining like terms. | Make each side as short as it can be before moving anything across. | combine|simplify
clear | Multiply both sides by {0} to clear the fractions. | Fractions are awkward. Multiplying every term on both sides by {0} makes them whole numbers, and the two sides stay equal. | multiply {0}
swap | Swap the two sides so that {0} is on the left. | Swapping the two sides says the same thing; it is just easier to read with {0} first. | swap
swap_ineq | Swap the two sides so that {0} is on the left, turning the sign around so it still points at the same side. | Swapping the two sides says the same thing, as long as the sign still points at the smaller side. | swap
sub_var | Subtract {0} from both sides to get the {1} terms together. | We want all the {1} terms on one side. Doing the same to both sides keeps them balanced, and this clears {0} off the right. | subtract {0}
add_var | Add {0} to both sides to get the {1} terms together. | We want all the {1} terms on one side. Doing the same to both sides keeps them balanced, and this clears negative {0} off the right. | add {0}
sub_num | Subtract {0} from both sides. | Right now {0} is being added to the {1} term. To undo that, take it away from both sides, so they stay balanced. | subtract {0}
add_num | Add {0} to both sides. | Right now {0} is being taken away from the {1} term. To undo that, add it to both sides, so they stay balanced. | add {0}
divide | Divide both sides by {0}. | {0} {1} means {0} times {1}. To get one {1} on its own, do the opposite of times: divide both sides by {0}. | divide {0}
divide_flip | Divide both sides by {0}, and flip the inequality sign because we divided by a negative number. | {0} {1} means {0} times {1}, so divide both sides by {0}. Dividing by a negative number swaps which side is bigger, so the sign has to turn around. | divide {0}|flip
negate | Multiply both sides by -1. | Negative {1} is minus one times {1}, so multiplying both sides by minus one leaves {1}. | multiply -1|divide -1
negate_flip | Multiply both sides by -1, and flip the inequality sign because we multiplied by a negative number. | Multiplying by minus one gives {1} on its own, but it swaps which side is bigger, so the sign has to turn around. | multiply -1|divide -1|flip
always | The {0} terms cancel, and what is left is always true, so every number is a solution. | There is no {0} left, and the statement that is left is true whatever {0} is. | solve
never | The {0} terms cancel, and what is left can never be true, so there is no solution. | There is no {0} left, and the statement that is left is false whatever {0} is. | solve
order_eq | Write the left side in order, highest power first. | It is the same expression, just tidier to read. | order
tidy_left | Multiply out and tidy up the left side. | Make the left side as short as it can be, with the highest power first. | expand|combine|simplify
to_zero | Move everything to the left side, so the right side is 0. | A quadratic is easiest to solve when one side is zero, so take the right side away from both sides. | subtract|rearrange
to_zero_brackets | Multiply out the brackets and move everything to the left side, so the right side is 0. | A quadratic is easiest to solve when one side is zero: multiply out, then take the right side away from both sides. | expand|subtract|rearrange
positive | Multiply both sides by -1 so the {0} term is positive. | Changing every sign keeps the equation true, and factoring is easier with a positive first term. | multiply -1|divide -1
smaller | Divide both sides by {0} to make the numbers smaller. | Every number divides by {0}, and zero divided by anything is still zero. | divide {0}
factor_x | Both terms contain {0}, so factor it out. | Both terms have {0} in them, so it can come out in front of a bracket. | factor
two_numbers | Find two numbers that multiply to {0} and add to {1}: {2}. | Look for a pair of numbers whose product is {0} and whose sum is {1}; they go into the brackets. | factor
factor | Factor the left side. | Write the left side as two brackets multiplied together. | factor
square | The left side is a perfect square: {0}. | It is something times itself. | factor
zero_product | A product is zero only when one of its factors is zero. | <zero> | zero
zero_square | A square is zero only when what is inside is zero. | Only zero times zero gives zero. | zero
solve_each | Solve each one. | Each small equation is a linear one: move the number, then divide. | solve
solve_it | Solve it. | Move the number across, then divide. | solve
formula | It does not factor nicely, so use the quadratic formula with a = {0}, b = {1}, c = {2}. | When it does not factor nicely, the formula always works: x equals minus b, plus or minus the square root of b squared minus four a c, all over two a. | formula
discriminant | Work out the discriminant: {0} = {1}. | The discriminant is the part under the square root; it tells us how many solutions there are. | discriminant
no_real | The discriminant is negative, so there is no real solution. | No real number squared gives a negative number. | solve
plug_in | Put the numbers into the formula. | Minus b on top, plus or minus the square root of the discriminant, over two a. | formula
simplify_root | Simplify the square root and the fraction. | Take any square factor out of the root, then divide through. | simplify
standard | Write both equations in the form a*x + b*y = c. | Line the equations up the same way, letters on the left in the same order and the number on the right. | rearrange
rearrange | Rearrange the {0} equation to get {1} on its own. | Get {1} on its own by moving the other term to the right side. | rearrange|substitute
substitute | Substitute {0} into the {1} equation. | The two equations share the same letters, so wherever {2} appears in the {1} equation we can write its value instead. | substitute
back | Put {0} back into {1}. | Now that we know {0}, put it back in to find the last letter. | substitute
scale | Multiply {0} so the {1} terms match. | We want the {1} terms to be the same size, so that adding or subtracting the equations makes them disappear. | multiply {2} {3}
eliminate_add | Add the two equations to get rid of {0}. | The {0} terms are opposites, so adding the equations cancels them and leaves only {1}. | add|eliminate
eliminate3 | To get rid of {0}, take {1} and {2}. | Adding or subtracting whole equations keeps them true; with the right multiples the {0} terms cancel, and what is left has one letter fewer. | eliminate|add|subtract
eliminate_sub | Subtract the second equation from the first to get rid of {0}. | The {0} terms are the same, so subtracting the equations cancels them and leaves only {1}. | subtract|eliminate
power_to_product | Write the power of the bracket as a product: {0}. | Squaring means multiplying something by itself. | expand|multiply
foil | Multiply each term in the first bracket by each term in the second. | Every term in the first bracket meets every term in the second: first times first, then first times second, and so on. | expand|multiply|foil
distribute | Multiply out the brackets: the factor in front multiplies every term inside. | The number in front of a bracket multiplies everything inside it, not just the first term. | expand|multiply|distribute
unbracket_minus | Remove the brackets, changing the sign of every term inside. | A minus in front of a bracket means take away everything inside, so every sign inside flips. | expand
unbracket | Remove the brackets. | A plus in front of a bracket changes nothing inside. | expand
products | Work out each product. | Multiply the numbers, and put the letters together: x times x is x squared. | multiply
group | Put the like terms next to each other. | Like terms have exactly the same letters and powers; plain numbers go together too. | group
combine | Combine like terms: {0}. | Add up the numbers in front of matching terms, the way three apples plus two apples is five apples. | combine|simplify|add
order | Write the terms in order, highest power first. | Tidy the answer so the biggest power comes first. | order
factor_both | Factor the top and the bottom. | Write the top and the bottom as things multiplied together, so we can see what they share. | factor
cancel | Cancel the common factor {0} from the top and the bottom. | Anything divided by itself is one, so a factor on both the top and the bottom cancels, as long as it is not zero. | cancel|simplify|divide
"""
STEP_PHRASES: dict[str, tuple[str, str, str]] = {}
for _line in _PHRASE_TABLE.strip().splitlines():
    _key, _text, _hint, _move = (p.strip() for p in _line.split(" | "))
    STEP_PHRASES[_key] = (_text, _hint.replace("<order>", _ORDER).replace("<zero>", _ZERO), _move)


def pretty(math: str) -> str:
    """Plain math the way it is written by hand, for feedback sentences: "2*x = 8" -> "2x = 8"."""
    s = re.sub(r"(?<=[\d)])\*(?=[a-z(])", "", math)
    s = re.sub(r"(?<=[a-z)])\*(?=[a-z(])", "", s)
    return s.replace("*", " × ")
