// A tiny renderer for the tutor's plain ASCII math ("2*x + 3 = 11", "x^2 - 5*x + 6 = 0",
// "(x + 1)/2", "x = 7; y = 3", "x = 2 or x = 3", "simplify(2*x + 3*x - 4)") into HTML:
// implicit products, superscripts, stacked fractions, square roots, real minus signs and
// relation symbols. It builds DOM nodes (never innerHTML), so untrusted text is safe.

const RELATIONS = { "=": "=", "<": "<", ">": ">", "<=": "\u2264", ">=": "\u2265", "!=": "\u2260" };
const MINUS = "\u2212";
const DOT = "\u00b7";

class MathError extends Error {}

function tokenize(src) {
  const tokens = [];
  const re = /\s*(?:(\d+(?:\.\d*)?|\.\d+)|([A-Za-z]+)|(<=|>=|!=|\*\*|[-+*/^()=<>,:])|(\S))/y;
  let m;
  while (re.lastIndex < src.length && (m = re.exec(src)) !== null) {
    if (m[1] !== undefined) tokens.push({ t: "num", v: m[1] });
    else if (m[2] !== undefined) tokens.push({ t: "word", v: m[2] });
    else if (m[3] !== undefined) tokens.push({ t: "op", v: m[3] === "**" ? "^" : m[3] });
    else if (m[4] !== undefined) throw new MathError(`unexpected ${m[4]}`);
    if (m[0] === "") break;
  }
  return tokens;
}

const CONNECTORS = new Set(["or", "and"]);

class Parser {
  constructor(tokens) {
    this.tokens = tokens;
    this.i = 0;
  }
  peek() {
    return this.tokens[this.i];
  }
  isOp(v) {
    const t = this.peek();
    return t !== undefined && t.t === "op" && t.v === v;
  }
  take() {
    const t = this.tokens[this.i];
    if (t === undefined) throw new MathError("unexpected end");
    this.i += 1;
    return t;
  }
  expect(v) {
    if (!this.isOp(v)) throw new MathError(`expected ${v}`);
    this.i += 1;
  }
  // A list of relations joined by "or"/"and"/",".
  list() {
    const parts = [this.relation()];
    for (;;) {
      const t = this.peek();
      if (t === undefined) break;
      if (t.t === "word" && CONNECTORS.has(t.v.toLowerCase())) {
        this.i += 1;
        parts.push({ t: "text", v: ` ${t.v} ` }, this.relation());
      } else if (t.t === "op" && t.v === ",") {
        this.i += 1;
        parts.push({ t: "text", v: ", " }, this.relation());
      } else {
        throw new MathError(`unexpected ${t.v}`);
      }
    }
    return parts.length === 1 ? parts[0] : { t: "seq", parts };
  }
  relation() {
    const items = [this.additive()];
    for (;;) {
      const t = this.peek();
      if (t === undefined || t.t !== "op" || !(t.v in RELATIONS)) break;
      this.i += 1;
      items.push(t.v, this.additive());
    }
    return items.length === 1 ? items[0] : { t: "rel", items };
  }
  additive() {
    let left = this.multiplicative();
    while (this.isOp("+") || this.isOp("-")) {
      const op = this.take().v;
      left = { t: "bin", op, a: left, b: this.multiplicative() };
    }
    return left;
  }
  startsFactor() {
    const t = this.peek();
    if (t === undefined) return false;
    if (t.t === "num") return true;
    if (t.t === "word") return !CONNECTORS.has(t.v.toLowerCase());
    return t.t === "op" && t.v === "(";
  }
  multiplicative() {
    let left = this.unary();
    for (;;) {
      if (this.isOp("*")) {
        this.i += 1;
        left = { t: "mul", a: left, b: this.unary() };
      } else if (this.isOp("/")) {
        this.i += 1;
        left = { t: "frac", a: left, b: this.unary() };
      } else if (this.isOp(":")) {
        this.i += 1;
        left = { t: "div", a: left, b: this.unary() };
      } else if (this.startsFactor()) {
        left = { t: "mul", a: left, b: this.power(), implicit: true };
      } else {
        return left;
      }
    }
  }
  unary() {
    if (this.isOp("-")) {
      this.i += 1;
      return { t: "neg", a: this.unary() };
    }
    if (this.isOp("+")) {
      this.i += 1;
      return this.unary();
    }
    return this.power();
  }
  power() {
    const base = this.atom();
    if (this.isOp("^")) {
      this.i += 1;
      return { t: "pow", a: base, b: this.unary() };
    }
    return base;
  }
  atom() {
    const t = this.take();
    if (t.t === "num") return { t: "num", v: t.v };
    if (t.t === "word") {
      if (this.isOp("(")) {
        this.i += 1;
        const args = [this.relation()];
        while (this.isOp(",")) {
          this.i += 1;
          args.push(this.relation());
        }
        this.expect(")");
        return { t: "call", name: t.v, args };
      }
      // "xy" written without a star is a product of single-letter variables.
      if (t.v.length > 1 && /^[a-z]+$/.test(t.v) && t.v.length <= 3) {
        return t.v
          .split("")
          .map((v) => ({ t: "var", v }))
          .reduce((a, b) => ({ t: "mul", a, b, implicit: true }));
      }
      return { t: "var", v: t.v };
    }
    if (t.t === "op" && t.v === "(") {
      const inner = this.relation();
      this.expect(")");
      return { t: "group", a: inner };
    }
    throw new MathError(`unexpected ${t.v}`);
  }
}

export function parseMath(src) {
  const parser = new Parser(tokenize(src));
  if (parser.peek() === undefined) throw new MathError("empty");
  const tree = parser.list();
  if (parser.peek() !== undefined) throw new MathError("trailing input");
  return tree;
}

function el(tag, cls, ...children) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  for (const child of children) {
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function strip(node) {
  return node.t === "group" ? node.a : node;
}

// The leftmost printed thing of a node: decides whether a product can be written "2x".
function leftmost(node) {
  switch (node.t) {
    case "bin":
    case "mul":
    case "div":
    case "pow":
      return leftmost(node.a);
    default:
      return node;
  }
}

function needsDot(a, b) {
  const right = leftmost(b);
  if (right.t === "num" || right.t === "neg" || right.t === "frac") return true;
  if (a.t === "frac" && right.t !== "var" && right.t !== "group") return true;
  return false;
}

function render(node) {
  switch (node.t) {
    case "num":
      return el("span", "mn", node.v);
    case "var":
      return el("span", node.v.length === 1 ? "mi" : "mi word", node.v);
    case "text":
      return el("span", "mtext", node.v);
    case "seq":
      return el("span", "mrow", ...node.parts.map(render));
    case "rel": {
      const row = el("span", "mrow");
      node.items.forEach((item, k) => {
        row.append(k % 2 ? el("span", "mo rel", RELATIONS[item]) : render(item));
      });
      return row;
    }
    case "bin": {
      const b = node.b.t === "neg" ? parens(render(node.b)) : render(node.b);
      return el("span", "mrow", render(node.a), el("span", "mo bin", node.op === "-" ? MINUS : "+"), b);
    }
    case "neg": {
      const inner = node.a.t === "bin" ? parens(render(node.a)) : render(node.a);
      return el("span", "mrow", el("span", "mo prefix", MINUS), inner);
    }
    case "mul": {
      const a = node.a.t === "bin" ? parens(render(node.a)) : render(node.a);
      const bNode = node.b;
      const b = bNode.t === "bin" || bNode.t === "neg" ? parens(render(bNode)) : render(bNode);
      return needsDot(node.a, bNode) && bNode.t !== "neg"
        ? el("span", "mrow", a, el("span", "mo bin", DOT), b)
        : el("span", "mrow", a, b);
    }
    case "div":
      return el("span", "mrow", render(node.a), el("span", "mo bin", "\u00f7"), render(node.b));
    case "frac":
      return el(
        "span",
        "mfrac",
        el("span", "num", render(strip(node.a))),
        el("span", "den", render(strip(node.b))),
      );
    case "pow": {
      const base = node.a;
      const wrapped = ["bin", "neg", "frac", "mul", "pow", "div"].includes(base.t)
        ? parens(render(base))
        : render(base);
      return el("span", "mrow", wrapped, el("sup", "msup", render(strip(node.b))));
    }
    case "group":
      return parens(render(node.a));
    case "call": {
      if (node.name === "sqrt" && node.args.length === 1) {
        return el("span", "msqrt", el("span", "radical", "\u221a"), el("span", "radicand", render(node.args[0])));
      }
      const args = [];
      node.args.forEach((arg, k) => {
        if (k) args.push(el("span", "mo", ", "));
        args.push(render(arg));
      });
      return el("span", "mrow", el("span", "mi word", node.name), parens(el("span", "mrow", ...args)));
    }
    default:
      throw new MathError(`cannot render ${node.t}`);
  }
}

function parens(inner) {
  return el("span", "mrow", el("span", "mo paren", "("), inner, el("span", "mo paren", ")"));
}

function fallback(src) {
  return src
    .replace(/<=/g, "\u2264")
    .replace(/>=/g, "\u2265")
    .replace(/\*\*/g, "^")
    .replace(/\*/g, DOT)
    .replace(/(^|[\s(=])-/g, `$1${MINUS}`)
    .replace(/ - /g, ` ${MINUS} `);
}

// Render one line of plain math (a system's equations, separated by ";", become rows).
export function renderMath(src) {
  const text = String(src ?? "");
  const box = el("span", "math");
  box.setAttribute("role", "math");
  box.setAttribute("aria-label", text);
  box.title = text;
  const lines = text.split(";").map((s) => s.trim()).filter(Boolean);
  if (lines.length > 1) box.classList.add("system");
  for (const line of lines) {
    let row;
    try {
      row = render(parseMath(line));
    } catch (err) {
      row = el("span", "mtext raw", fallback(line));
    }
    box.append(el("span", "mline", row));
  }
  return box;
}
