"""A small PromQL evaluator for the subset the alert catalog uses, vectorised over time with numpy.

It evaluates an expression at every step of a time grid at once (a "range query"), over the canonical
metrics frame (``ts, metric, service, instance, value`` + label columns). Semantics follow the Prometheus
release promtool here ships (2.x): range selectors are closed ``[t - range, t]``, instant selectors look
back 5 minutes, ``rate``/``increase`` handle counter resets and extrapolate as Prometheus does.

Supported: selectors with ``= != =~ !~`` matchers, ``[range]``; ``rate increase resets delta
predict_linear avg_over_time sum_over_time count_over_time max_over_time min_over_time
histogram_quantile absent clamp_min clamp_max abs vector``; ``sum avg max min count`` with ``by``/
``without``; arithmetic, comparisons (with ``bool``), ``and or unless``, ``on``/``ignoring``.
Anything else raises :class:`PromQLSyntaxError` at parse time, so the catalog stays evaluable.
A sample that is absent is NaN in the value matrix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from holoops.timeutil import parse_duration

LOOKBACK_S = 300.0
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<dur>\d+(?:ms|s|m|h|d|w|y)(?:\d+(?:ms|s|m|h|d|w|y))*(?![A-Za-z0-9_:]))
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=(){}\[\],])
""", re.X)
AGGREGATORS = {"sum", "avg", "max", "min", "count"}
RANGE_FUNCS = {"rate", "increase", "resets", "delta", "predict_linear", "avg_over_time", "sum_over_time",
               "count_over_time", "max_over_time", "min_over_time"}
FUNCS = RANGE_FUNCS | {"histogram_quantile", "absent", "clamp_min", "clamp_max", "abs", "vector"}
COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
_PREC = {"or": 1, "and": 2, "unless": 2, **{c: 3 for c in COMPARISONS}, "+": 4, "-": 4, "*": 5, "/": 5,
         "%": 5, "^": 6}


class PromQLSyntaxError(ValueError):
    """The expression is not PromQL, or uses something outside the supported subset."""




# --- AST -----------------------------------------------------------------------------------------
@dataclass
class Num:
    value: float


@dataclass
class Selector:
    name: str | None
    matchers: list[tuple[str, str, str]]
    range_s: float | None = None

    def equality_labels(self) -> dict[str, str]:
        out = {k: v for k, op, v in self.matchers if op == "=" and k != "__name__"}
        return out

    def text(self) -> str:
        """The instant selector as PromQL (no range), values escaped: ``name{k="v",...}``."""
        from holoops.sources.prometheus import escape_label_value

        body = ",".join(f'{k}{op}"{escape_label_value(v)}"' for k, op, v in self.matchers)
        return f"{self.name or ''}{{{body}}}" if body or not self.name else str(self.name)


@dataclass
class Call:
    fn: str
    args: list[Any]


@dataclass
class Agg:
    op: str
    expr: Any
    by: list[str] | None = None
    without: list[str] | None = None


@dataclass
class Binary:
    op: str
    lhs: Any
    rhs: Any
    bool_: bool = False
    on: list[str] | None = None
    ignoring: list[str] | None = None


@dataclass
class Unary:
    op: str
    expr: Any


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise PromQLSyntaxError(f"unexpected character {text[pos]!r} at position {pos}")
            pos = m.end()
            if m.lastgroup != "ws":
                self.toks.append((m.lastgroup, m.group()))
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str]:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("eof", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise PromQLSyntaxError(f"expected {value!r}, found {tok[1] or 'end of expression'!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        node = self.expr(0)
        if self.peek()[0] != "eof":
            raise PromQLSyntaxError(f"unexpected {self.peek()[1]!r} after a complete expression")
        return node

    def expr(self, min_prec: int) -> Any:
        lhs = self.unary()
        while True:
            kind, val = self.peek()
            op = val if kind in ("op", "ident") else None
            if op not in _PREC or _PREC[op] < min_prec or (kind == "ident" and op not in ("and", "or", "unless")):
                return lhs
            self.take()
            node = Binary(op, lhs, None)
            if self.peek()[1] == "bool":
                if op not in COMPARISONS:
                    raise PromQLSyntaxError("bool modifier only allowed on comparisons")
                self.take()
                node.bool_ = True
            if self.peek()[1] in ("on", "ignoring"):
                which = self.take()[1]
                setattr(node, which, self.label_list())
            if self.peek()[1] in ("group_left", "group_right"):
                raise PromQLSyntaxError("group_left/group_right are outside the supported subset")
            nxt = _PREC[op] if op == "^" else _PREC[op] + 1
            node.rhs = self.expr(nxt)
            lhs = node

    def label_list(self) -> list[str]:
        self.take("(")
        out: list[str] = []
        while self.peek()[1] != ")":
            kind, val = self.take()
            if kind != "ident":
                raise PromQLSyntaxError(f"expected a label name, found {val!r}")
            out.append(val)
            if self.peek()[1] == ",":
                self.take()
        self.take(")")
        return out

    def unary(self) -> Any:
        if self.peek()[1] in ("-", "+"):
            op = self.take()[1]
            return Unary(op, self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Any) -> Any:
        if self.peek()[1] == "[":
            if not isinstance(node, Selector) or node.range_s is not None:
                raise PromQLSyntaxError("subqueries are outside the supported subset")
            self.take("[")
            kind, val = self.take()
            if kind != "dur":
                raise PromQLSyntaxError(f"expected a duration in [...], found {val!r}")
            self.take("]")
            node.range_s = parse_duration(val)
        if self.peek()[1] == "offset":
            raise PromQLSyntaxError("offset is outside the supported subset")
        return node

    def primary(self) -> Any:
        kind, val = self.peek()
        if kind == "num":
            self.take()
            return Num(float(int(val, 16)) if val.startswith("0x") else float(val))
        if kind == "dur":
            raise PromQLSyntaxError(f"unexpected duration {val!r} outside [...]")
        if val == "(":
            self.take()
            node = self.expr(0)
            self.take(")")
            return node
        if val == "{":
            return Selector(None, self.matchers())
        if kind == "ident":
            self.take()
            if val in AGGREGATORS:
                return self.aggregation(val)
            if self.peek()[1] == "(":
                if val not in FUNCS:
                    raise PromQLSyntaxError(f"function {val!r} is unknown or outside the supported subset")
                self.take("(")
                args = []
                while self.peek()[1] != ")":
                    args.append(self.expr(0))
                    if self.peek()[1] == ",":
                        self.take()
                self.take(")")
                return self._check_call(Call(val, args))
            if val in ("by", "without", "on", "ignoring", "bool", "and", "or", "unless", "offset"):
                raise PromQLSyntaxError(f"unexpected keyword {val!r}")
            matchers = self.matchers() if self.peek()[1] == "{" else []
            return Selector(val, matchers)
        raise PromQLSyntaxError(f"unexpected {val or 'end of expression'!r}")

    def _check_call(self, call: Call) -> Call:
        want = {"histogram_quantile": 2, "predict_linear": 2, "clamp_min": 2, "clamp_max": 2}.get(call.fn, 1)
        if len(call.args) != want:
            raise PromQLSyntaxError(f"{call.fn}() takes {want} argument(s), got {len(call.args)}")
        if call.fn in RANGE_FUNCS:
            a = call.args[0]
            if not (isinstance(a, Selector) and a.range_s is not None):
                raise PromQLSyntaxError(f"{call.fn}() needs a range selector like metric[5m]")
        elif call.fn != "vector":
            for a in call.args:
                if isinstance(a, Selector) and a.range_s is not None:
                    raise PromQLSyntaxError(f"{call.fn}() takes an instant vector, not a range")
        return call

    def matchers(self) -> list[tuple[str, str, str]]:
        self.take("{")
        out = []
        while self.peek()[1] != "}":
            kind, name = self.take()
            if kind != "ident":
                raise PromQLSyntaxError(f"expected a label name in {{...}}, found {name!r}")
            op = self.take()[1]
            if op not in ("=", "!=", "=~", "!~"):
                raise PromQLSyntaxError(f"expected a label matcher operator after {name!r}, found {op!r}")
            kind, s = self.take()
            if kind != "str":
                raise PromQLSyntaxError(f"expected a quoted string after {name}{op}, found {s!r}")
            value = unquote(s)
            if op in ("=~", "!~"):
                try:
                    re.compile(value)
                except re.error as exc:
                    raise PromQLSyntaxError(f"bad regex {value!r}: {exc}") from None
            out.append((name, op, value))
            if self.peek()[1] == ",":
                self.take()
        self.take("}")
        return out

    def aggregation(self, op: str) -> Agg:
        node = Agg(op, None)
        if self.peek()[1] in ("by", "without"):
            which = self.take()[1]
            setattr(node, which, self.label_list())
        self.take("(")
        node.expr = self.expr(0)
        self.take(")")
        if self.peek()[1] in ("by", "without"):
            which = self.take()[1]
            setattr(node, which, self.label_list())
        return node


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
            "'": "'", '"': '"'}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[0-7]{3}|.)", re.S)


def unquote(token: str) -> str:
    """A PromQL string literal's value (Go escapes: ``\\"``, ``\\\\``, ``\\n``, ``\\xHH``, ``\\u....``);
    text that is not an escape is kept as it is (UTF-8 names stay intact)."""
    body = token[1:-1]

    def one(m: re.Match) -> str:
        e = m.group(1)
        if e[0] in "uUx":
            return chr(int(e[1:], 16))
        if e[0] in "01234567" and len(e) == 3:
            return chr(int(e, 8))
        if e in _ESCAPES:
            return _ESCAPES[e]
        raise PromQLSyntaxError(f"unknown escape sequence \\{e} in {token}")

    return _ESCAPE.sub(one, body)


def parse(expr: str) -> Any:
    """Parse ``expr`` into an AST; raises PromQLSyntaxError outside the supported subset."""
    return _Parser(expr).parse()


def selectors(node: Any) -> list[Selector]:
    """Every selector an AST reads (to know which metrics an expression needs)."""
    if isinstance(node, Selector):
        return [node]
    out: list[Selector] = []
    for child in (getattr(node, "args", None) or []) + [getattr(node, a, None) for a in ("expr", "lhs", "rhs")]:
        if child is not None and not isinstance(child, (str, float, int, list)):
            out += selectors(child)
    return out


_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = _LIST_KEYWORDS | {"bool", "and", "or", "unless", "offset", "atan2", "inf", "nan", "Inf", "NaN"}


def scan_selectors(expr: str) -> list[Selector]:
    """Every selector of ``expr`` by a token scan, for PromQL outside the evaluable subset (subqueries,
    ``offset``, ``@``, other functions): what :func:`selectors` of :func:`parse` gives on the subset.
    Raises PromQLSyntaxError for a selector whose matchers do not parse."""
    toks: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:  # a character outside the subset's tokens (@, :, ...): not part of a selector
            pos += 1
            continue
        pos = m.end()
        if m.lastgroup != "ws":
            toks.append((m.lastgroup, m.group()))
    out: list[Selector] = []
    i, square = 0, 0
    while i < len(toks):
        kind, val = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
        if val == "[":
            square += 1
        elif val == "]":
            square = max(0, square - 1)
        elif square:
            pass
        elif kind == "ident" and val in _LIST_KEYWORDS and nxt == "(":
            i += 2
            while i < len(toks) and toks[i][1] != ")":
                i += 1
        elif kind == "ident" and (nxt in ("(", "by", "without") or val in _KEYWORDS or val.startswith(":")):
            pass
        elif kind == "ident" or val == "{":
            name = val if kind == "ident" else None
            matchers: list[tuple[str, str, str]] = []
            j = i + 1 if kind == "ident" else i
            if j < len(toks) and toks[j][1] == "{":
                sub = _Parser("")
                sub.toks, sub.i = toks, j
                matchers = sub.matchers()
                i = sub.i - 1
            out.append(Selector(name, matchers))
        i += 1
    return out


# --- data ----------------------------------------------------------------------------------------
@dataclass
class Series:
    """One raw series: labels (with ``__name__``), sample times (s) and values."""

    labels: dict[str, str]
    t: np.ndarray
    v: np.ndarray
    _cum: np.ndarray | None = field(default=None, repr=False)

    def reset_cum(self) -> tuple[np.ndarray, np.ndarray]:
        """(values plus the value lost at each counter reset, cumulative reset count)."""
        if self._cum is None:
            drop = np.zeros_like(self.v)
            if len(self.v) > 1:
                d = self.v[1:] < self.v[:-1]
                drop[1:] = np.where(d, self.v[:-1], 0.0)
            self._cum = (self.v + np.cumsum(drop), np.cumsum(drop > 0))
        return self._cum


@dataclass
class Vector:
    """An instant vector at every step: ``labels[i]`` owns row ``values[i]`` (NaN = absent)."""

    labels: list[dict[str, str]]
    values: np.ndarray

    @staticmethod
    def empty(steps: int) -> Vector:
        return Vector([], np.empty((0, steps)))


class Store:
    """Raw series from a canonical metrics frame, plus recorded series (rule outputs on the grid)."""

    def __init__(self, metrics: Any = None, metric_names: set[str] | None = None):
        self.series: dict[str, list[Series]] = {}
        self.recorded: dict[str, Vector] = {}
        if metrics is not None:
            self._load(metrics, metric_names)

    def _load(self, df: Any, names: set[str] | None) -> None:
        from holoops.frames import check_frame, to_pandas

        df = to_pandas(check_frame(df, "metrics"))
        if names is not None:
            df = df[df["metric"].isin(sorted(names))]
        if df.empty:
            return
        import pandas as pd

        label_cols = [c for c in df.columns if c not in ("ts", "metric", "value")]
        if str(df["ts"].dtype).startswith("datetime"):
            ts = pd.to_datetime(df["ts"], utc=True).dt.as_unit("ns").astype("int64").to_numpy() / 1e9
        else:
            ts = df["ts"].to_numpy(dtype=float)
        vals = df["value"].to_numpy(dtype=float)
        cols = ["metric", *label_cols]
        codes, uniques = [], []
        for c in cols:
            code, uniq = pd.factorize(df[c], use_na_sentinel=True)
            codes.append(code.astype(np.int64))
            uniques.append(np.asarray(uniq, dtype=object))
        key = np.zeros(len(df), dtype=np.int64)
        for code, uniq in zip(codes, uniques, strict=False):
            key = key * (len(uniq) + 1) + (code + 1)
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        order = np.lexsort((ts, inverse))
        bounds = np.flatnonzero(np.diff(inverse[order])) + 1
        for idx in np.split(order, bounds):
            row = idx[0]
            labels = {"__name__": str(uniques[0][codes[0][row]])}
            for c, code, uniq in zip(label_cols, codes[1:], uniques[1:], strict=False):
                if code[row] >= 0 and str(uniq[code[row]]) != "":
                    labels[c] = str(uniq[code[row]])
            t, v = ts[idx], vals[idx]
            keep = np.concatenate([t[1:] != t[:-1], [True]]) if len(t) > 1 else np.ones(len(t), bool)
            self.series.setdefault(labels["__name__"], []).append(Series(labels, t[keep], v[keep]))

    def select(self, sel: Selector) -> list[Series]:
        names = [sel.name] if sel.name else list(self.series)
        out = []
        for name in names:
            for s in self.series.get(name, []):
                if _matches(s.labels, sel.matchers):
                    out.append(s)
        return out

    def time_range(self) -> tuple[float, float]:
        ts = [(s.t[0], s.t[-1]) for ss in self.series.values() for s in ss if len(s.t)]
        if not ts:
            raise ValueError("no samples")
        return min(a for a, _ in ts), max(b for _, b in ts)


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for name, op, value in matchers:
        have = labels.get(name, "")
        if op == "=" and have != value or op == "!=" and have == value:
            return False
        if op in ("=~", "!~") and (re.fullmatch(value, have) is not None) != (op == "=~"):
            return False
    return True


# --- evaluation ----------------------------------------------------------------------------------
class Evaluator:
    """Evaluate parsed expressions at every step of ``steps`` (seconds since the epoch)."""

    def __init__(self, store: Store, steps: np.ndarray, lookback_s: float = LOOKBACK_S):
        self.store, self.steps, self.lookback = store, np.asarray(steps, dtype=float), lookback_s
        self._cache: dict[str, Vector] = {}

    def eval(self, node: Any) -> Vector | np.ndarray:
        """A Vector, or a 1-D array for a scalar expression."""
        if isinstance(node, str):
            node = parse(node)
        return self._eval(node)

    def _eval(self, node: Any) -> Vector | np.ndarray:
        n = len(self.steps)
        if isinstance(node, Num):
            return np.full(n, node.value)
        if isinstance(node, Unary):
            x = self._eval(node.expr)
            if node.op == "+":
                return x
            if isinstance(x, Vector):
                return Vector([_drop_name(lb) for lb in x.labels], -x.values)
            return -x
        if isinstance(node, Selector):
            if node.range_s is not None:
                raise PromQLSyntaxError("a range selector must be the argument of a range function")
            return self._instant(node)
        if isinstance(node, Call):
            return self._call(node)
        if isinstance(node, Agg):
            return self._agg(node)
        if isinstance(node, Binary):
            return self._binary(node)
        raise PromQLSyntaxError(f"cannot evaluate {node!r}")

    # selectors
    def _instant(self, sel: Selector) -> Vector:
        if sel.name in self.store.recorded:
            rec = self.store.recorded[sel.name]
            rows = [i for i, lb in enumerate(rec.labels) if _matches(lb, sel.matchers)]
            return Vector([rec.labels[i] for i in rows], rec.values[rows])
        series = self.store.select(sel)
        vals = np.full((len(series), len(self.steps)), np.nan)
        for i, s in enumerate(series):
            idx = np.searchsorted(s.t, self.steps, "right") - 1
            ok = idx >= 0
            j = np.clip(idx, 0, None)
            ok &= s.t[j] >= self.steps - self.lookback
            vals[i] = np.where(ok, s.v[j], np.nan)
        return Vector([dict(s.labels) for s in series], vals)

    def _windows(self, s: Series, rng: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        first = np.searchsorted(s.t, self.steps - rng, "left")
        last = np.searchsorted(s.t, self.steps, "right") - 1
        return first, last, last - first + 1

    def _call(self, node: Call) -> Vector | np.ndarray:
        fn = node.fn
        if fn in RANGE_FUNCS:
            return self._range_fn(node)
        if fn == "vector":
            x = self._eval(node.args[0])
            return Vector([{}], np.asarray(x, float)[None, :]) if not isinstance(x, Vector) else x
        if fn == "absent":
            arg = node.args[0]
            x = self._eval(arg)
            present = np.zeros(len(self.steps), bool) if not isinstance(x, Vector) or not len(x.labels) \
                else (~np.isnan(x.values)).any(axis=0)
            labels = arg.equality_labels() if isinstance(arg, Selector) else {}
            return Vector([labels], np.where(present, np.nan, 1.0)[None, :])
        if fn == "histogram_quantile":
            q = self._eval(node.args[0])
            vec = self._eval(node.args[1])
            return _histogram_quantile(np.asarray(q), vec)
        x = self._eval(node.args[0])
        if not isinstance(x, Vector):
            raise PromQLSyntaxError(f"{fn}() needs an instant vector")
        if fn == "abs":
            vals = np.abs(x.values)
        else:
            bound = np.asarray(self._eval(node.args[1]))
            vals = np.maximum(x.values, bound) if fn == "clamp_min" else np.minimum(x.values, bound)
            vals = np.where(np.isnan(x.values), np.nan, vals)
        return Vector([_drop_name(lb) for lb in x.labels], vals)

    def _range_fn(self, node: Call) -> Vector:
        sel: Selector = node.args[0]
        key = f"{node.fn}|{sel}|{node.args[1:]}"
        if key in self._cache:
            return self._cache[key]
        if sel.name in self.store.recorded:
            raise PromQLSyntaxError(f"range functions over recorded series ({sel.name}) are not supported")
        series = self.store.select(sel)
        rng = float(sel.range_s)
        out = np.full((len(series), len(self.steps)), np.nan)
        for i, s in enumerate(series):
            out[i] = self._range_one(node, s, rng)
        vec = Vector([_drop_name(s.labels) for s in series], out)
        self._cache[key] = vec
        return vec

    def _range_one(self, node: Call, s: Series, rng: float) -> np.ndarray:
        fn, steps = node.fn, self.steps
        first, last, n = self._windows(s, rng)
        if len(s.t) == 0:
            return np.full(len(steps), np.nan)
        f, lst = np.clip(first, 0, len(s.t) - 1), np.clip(last, 0, len(s.t) - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            if fn in ("rate", "increase", "delta"):
                counter = fn != "delta"
                cum, _ = s.reset_cum()
                vals = s.v
                result = (cum[lst] - cum[f]) if counter else (vals[lst] - vals[f])
                t0, tl = s.t[f], s.t[lst]
                to_start = t0 - (steps - rng)
                to_end = steps - tl
                sampled = tl - t0
                avg = sampled / np.maximum(n - 1, 1)
                if counter:
                    v0 = vals[f]
                    zero = np.where(result > 0, sampled * (v0 / np.where(result > 0, result, 1.0)), np.inf)
                    to_start = np.where((result > 0) & (v0 >= 0) & (zero < to_start), zero, to_start)
                thr = avg * 1.1
                ext = sampled + np.where(to_start < thr, to_start, avg / 2) + np.where(to_end < thr, to_end, avg / 2)
                result = result * (ext / sampled)
                if fn == "rate":
                    result = result / rng
                return np.where(n >= 2, result, np.nan)
            if fn == "resets":
                _, nres = s.reset_cum()
                return np.where(n >= 1, (nres[lst] - nres[f]).astype(float), np.nan)
            if fn in ("avg_over_time", "sum_over_time", "count_over_time"):
                pre = np.concatenate([[0.0], np.cumsum(s.v)])
                total = pre[lst + 1] - pre[f]
                res = {"sum_over_time": total, "avg_over_time": total / np.maximum(n, 1),
                       "count_over_time": n.astype(float)}[fn]
                return np.where(n >= 1, res, np.nan)
            if fn in ("max_over_time", "min_over_time"):
                red = np.max if fn == "max_over_time" else np.min
                return np.array([red(s.v[a:b + 1]) if b >= a else np.nan for a, b in zip(first, last, strict=False)])
            if fn == "predict_linear":
                horizon = np.asarray(self._eval(node.args[1]), float)
                x0, y0 = s.t[0], s.v[0]
                x, y = s.t - x0, s.v - y0
                px, py = np.concatenate([[0.0], np.cumsum(x)]), np.concatenate([[0.0], np.cumsum(y)])
                pxx = np.concatenate([[0.0], np.cumsum(x * x)])
                pxy = np.concatenate([[0.0], np.cumsum(x * y)])
                chg = np.concatenate([[0], np.cumsum(np.concatenate([[0], (s.v[1:] != s.v[:-1]).astype(int)]))])
                cnt = n.astype(float)
                sx, sy = px[lst + 1] - px[f], py[lst + 1] - py[f]
                sxx, sxy = pxx[lst + 1] - pxx[f], pxy[lst + 1] - pxy[f]
                cov = sxy - sx * sy / cnt
                var = sxx - sx * sx / cnt
                slope = cov / var
                # intercept at the evaluation time: x measured from the step
                xt = steps - x0
                intercept = sy / cnt - slope * (sx / cnt - xt)
                const = (chg[lst + 1] - chg[f + 1]) == 0
                res = np.where(const, s.v[f], slope * horizon + intercept + y0)
                return np.where(n >= 2, res, np.nan)
        raise PromQLSyntaxError(f"unsupported function {fn}")

    def _agg(self, node: Agg) -> Vector:
        x = self._eval(node.expr)
        if not isinstance(x, Vector):
            raise PromQLSyntaxError(f"{node.op}() needs an instant vector")
        groups: dict[tuple, list[int]] = {}
        glabels: dict[tuple, dict[str, str]] = {}
        for i, lb in enumerate(x.labels):
            if node.by is not None:
                g = {k: lb[k] for k in node.by if k in lb}
            else:
                drop = set(node.without or []) | {"__name__"}
                g = {k: v for k, v in lb.items() if k not in drop}
            key = tuple(sorted(g.items()))
            groups.setdefault(key, []).append(i)
            glabels[key] = g
        out = np.full((len(groups), len(self.steps)), np.nan)
        for j, rows in enumerate(groups.values()):
            block = x.values[rows]
            present = (~np.isnan(block)).sum(axis=0)
            with np.errstate(invalid="ignore"), _quiet():
                if node.op == "sum":
                    r = np.nansum(block, axis=0)
                elif node.op == "count":
                    r = present.astype(float)
                elif node.op == "avg":
                    r = np.nansum(block, axis=0) / np.maximum(present, 1)
                elif node.op == "max":
                    r = np.nanmax(block, axis=0)
                else:
                    r = np.nanmin(block, axis=0)
            out[j] = np.where(present > 0, r, np.nan)
        return Vector([glabels[k] for k in groups], out)

    def _binary(self, node: Binary) -> Vector | np.ndarray:
        lhs, rhs = self._eval(node.lhs), self._eval(node.rhs)
        op = node.op
        if op in ("and", "or", "unless"):
            if not (isinstance(lhs, Vector) and isinstance(rhs, Vector)):
                raise PromQLSyntaxError(f"{op} needs vectors on both sides")
            return self._set_op(op, lhs, rhs, node)
        lv, rv = isinstance(lhs, Vector), isinstance(rhs, Vector)
        if not lv and not rv:
            return _apply(op, lhs, rhs, True) if op in COMPARISONS else _apply(op, lhs, rhs, False)
        if lv and rv:
            rindex: dict[tuple, int] = {}
            for j, lb in enumerate(rhs.labels):
                rindex.setdefault(_sig(lb, node), j)
            rows, labels = [], []
            for i, lb in enumerate(lhs.labels):
                j = rindex.get(_sig(lb, node))
                if j is not None:
                    rows.append((i, j))
                    keep = lb if (op in COMPARISONS and not node.bool_) else _drop_name(lb)
                    if node.on is not None and op not in COMPARISONS:
                        keep = {k: v for k, v in keep.items() if k in node.on}
                    labels.append(keep)
            a = lhs.values[[i for i, _ in rows]] if rows else np.empty((0, len(self.steps)))
            b = rhs.values[[j for _, j in rows]] if rows else np.empty((0, len(self.steps)))
            return Vector(labels, _cmp_or_arith(op, a, b, node.bool_, filter_from=a))
        vec, sc = (lhs, rhs) if lv else (rhs, lhs)
        a, b = (vec.values, sc[None, :]) if lv else (sc[None, :], vec.values)
        keep_name = op in COMPARISONS and not node.bool_
        labels = [dict(lb) if keep_name else _drop_name(lb) for lb in vec.labels]
        return Vector(labels, _cmp_or_arith(op, a, b, node.bool_, filter_from=vec.values))

    def _set_op(self, op: str, lhs: Vector, rhs: Vector, node: Binary) -> Vector:
        rsig: dict[tuple, list[int]] = {}
        for j, lb in enumerate(rhs.labels):
            rsig.setdefault(_sig(lb, node), []).append(j)
        rpresent = {k: (~np.isnan(rhs.values[v])).any(axis=0) for k, v in rsig.items()}
        none = np.zeros(len(self.steps), bool)
        lvals = lhs.values.copy()
        for i, lb in enumerate(lhs.labels):
            pres = rpresent.get(_sig(lb, node), none)
            lvals[i] = np.where(pres if op == "and" else ~pres, lvals[i], np.nan) if op != "or" else lvals[i]
        if op != "or":
            return Vector([dict(lb) for lb in lhs.labels], lvals)
        lsig: dict[tuple, np.ndarray] = {}
        for i, lb in enumerate(lhs.labels):
            k = _sig(lb, node)
            p = ~np.isnan(lhs.values[i])
            lsig[k] = lsig[k] | p if k in lsig else p
        rvals = rhs.values.copy()
        for j, lb in enumerate(rhs.labels):
            rvals[j] = np.where(lsig.get(_sig(lb, node), none), np.nan, rvals[j])
        # merge rows with identical label sets (same alert from both sides)
        labels, rows = [], []
        seen: dict[tuple, int] = {}
        for lb, row in zip(lhs.labels + rhs.labels, list(lvals) + list(rvals), strict=False):
            k = tuple(sorted(lb.items()))
            if k in seen:
                rows[seen[k]] = np.where(np.isnan(rows[seen[k]]), row, rows[seen[k]])
            else:
                seen[k] = len(rows)
                labels.append(dict(lb))
                rows.append(row)
        return Vector(labels, np.array(rows) if rows else np.empty((0, len(self.steps))))


class _quiet:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def _drop_name(lb: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in lb.items() if k != "__name__"}


def _sig(lb: dict[str, str], node: Binary) -> tuple:
    if node.on is not None:
        return tuple(sorted((k, lb[k]) for k in node.on if k in lb))
    drop = set(node.ignoring or []) | {"__name__"}
    return tuple(sorted((k, v) for k, v in lb.items() if k not in drop))


def _apply(op: str, a: Any, b: Any, comparison: bool) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return np.true_divide(a, b)
        if op == "%":
            return np.fmod(a, b)
        if op == "^":
            return np.power(a, b)
        res = {"==": np.equal, "!=": np.not_equal, ">": np.greater, "<": np.less,
               ">=": np.greater_equal, "<=": np.less_equal}[op](a, b)
        return res.astype(float)


def _cmp_or_arith(op: str, a: np.ndarray, b: np.ndarray, bool_: bool, filter_from: np.ndarray) -> np.ndarray:
    both = ~(np.isnan(a) | np.isnan(b))
    if op not in COMPARISONS:
        return np.where(both, _apply(op, a, b, False), np.nan)
    truth = _apply(op, a, b, True) > 0
    if bool_:
        return np.where(both, truth.astype(float), np.nan)
    return np.where(both & truth, np.broadcast_to(filter_from, truth.shape), np.nan)


def _histogram_quantile(q: np.ndarray, vec: Vector) -> Vector:
    groups: dict[tuple, list[tuple[float, int]]] = {}
    glabels: dict[tuple, dict[str, str]] = {}
    for i, lb in enumerate(vec.labels):
        if "le" not in lb:
            continue
        g = {k: v for k, v in lb.items() if k not in ("le", "__name__")}
        key = tuple(sorted(g.items()))
        groups.setdefault(key, []).append((float(lb["le"]), i))
        glabels[key] = g
    steps = vec.values.shape[1]
    out = np.full((len(groups), steps), np.nan)
    for j, bk in enumerate(groups.values()):
        bk.sort()
        ub = np.array([b for b, _ in bk])
        counts = vec.values[[i for _, i in bk]]
        if not np.isinf(ub[-1]) or len(bk) < 2:
            continue
        inf_missing = np.isnan(counts[-1])
        counts = np.fmax.accumulate(np.where(np.isnan(counts), -np.inf, counts), axis=0)
        counts = np.where(np.isinf(counts), 0.0, counts)
        obs = counts[-1]
        rank = q * obs
        ge = counts[:-1] >= rank[None, :]
        b = np.where(ge.any(axis=0), ge.argmax(axis=0), len(ub) - 1)
        bucket_end = ub[np.minimum(b, len(ub) - 1)]
        bucket_start = np.where(b > 0, ub[np.maximum(b - 1, 0)], 0.0)
        cnt_b = counts[np.minimum(b, len(ub) - 1), np.arange(steps)]
        cnt_prev = np.where(b > 0, counts[np.maximum(b - 1, 0), np.arange(steps)], 0.0)
        with np.errstate(all="ignore"):
            val = bucket_start + (bucket_end - bucket_start) * ((rank - cnt_prev) / (cnt_b - cnt_prev))
        val = np.where(b == len(ub) - 1, ub[-2], val)
        val = np.where((b == 0) & (ub[0] <= 0), ub[0], val)
        val = np.where((obs == 0) | inf_missing, np.nan, val)
        out[j] = val
    return Vector([glabels[k] for k in groups], out)


# --- promtool series notation ----------------------------------------------------------------------
_EXPAND = re.compile(r"^(-?[\d.]+(?:e[+-]?\d+)?)(?:([+-])([\d.]+(?:e[+-]?\d+)?))?x(\d+)$")


def expand_values(text: str) -> list[float | None]:
    """promtool's ``input_series`` values: ``1 2 _ 3``, ``0+10x5`` (6 values), ``1x3``, ``_x4`` (4 gaps)."""
    out: list[float | None] = []
    for tok in str(text).split():
        if tok in ("_", "stale"):
            out.append(None)
        elif tok.startswith("_x"):
            out += [None] * int(tok[2:])
        elif (m := _EXPAND.match(tok)) is not None:
            a, sign, b, n = float(m.group(1)), m.group(2), float(m.group(3) or 0), int(m.group(4))
            step = -b if sign == "-" else b
            out += [a + step * i for i in range(n + 1)]
        else:
            try:
                out.append(float(tok))
            except ValueError:
                raise PromQLSyntaxError(f"bad input series value {tok!r}") from None
    return out


def parse_series(selector: str) -> dict[str, str]:
    """``name{a="b"}`` -> ``{"__name__": "name", "a": "b"}``."""
    node = parse(selector)
    if not isinstance(node, Selector) or node.range_s is not None or any(op != "=" for _, op, _ in node.matchers):
        raise PromQLSyntaxError(f"not a series like name{{label=\"value\"}}: {selector!r}")
    return {"__name__": node.name or "", **{k: v for k, _, v in node.matchers}}


def store_from_series(items: list[tuple[str, str]], interval_s: float = 60.0, start_s: float = 0.0) -> Store:
    """A Store from promtool-style ``(series, values)`` pairs (sample i at ``start + i*interval``)."""
    store = Store()
    for sel, values in items:
        labels = parse_series(sel)
        vals = expand_values(values)
        t = np.array([start_s + i * interval_s for i, v in enumerate(vals) if v is not None], float)
        v = np.array([x for x in vals if x is not None], float)
        store.series.setdefault(labels["__name__"], []).append(Series(labels, t, v))
    return store
