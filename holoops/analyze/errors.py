"""Error classification: rules are data (``holoops/catalogs/error_classes.yaml``), applied vectorised.

``classify_errors(logs)`` adds an ``error_category`` column: one of ``gpu``, ``network``, ``system``,
``security``, ``data``, ``application`` (or a class a user's rule file declares), ``unclassified`` for an
error line no rule matches, and null for a line that is not an error (see ``only_errors``).
``error_class_summary(logs)`` counts lines per time bucket, service and class.

A rule holds ``id``, ``class`` and conditions that must all hold: ``message`` (regex), ``service``
(regex, or a list of names), ``level`` (name or list), ``status`` (code, list, or ``{min, max}``),
``field`` (``{column: regex}``); ``priority`` (higher first, default 0). Regexes are Rust-regex syntax
(polars) and case-insensitive. Each rule is one vectorised ``str.contains`` over the whole column.
A bad rule file raises :class:`ErrorRuleError` naming the file, the rule id and the field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from holoops.errors import RuleError

CATALOG = Path(__file__).resolve().parents[1] / "catalogs" / "error_classes.yaml"
UNCLASSIFIED = "unclassified"
#: levels that make a line an error (lower-cased); a status >= 500 does too
ERROR_LEVELS = ("error", "err", "critical", "crit", "fatal", "alert", "emerg", "emergency", "panic",
                "severe")
_RULE_KEYS = {"id", "class", "message", "service", "level", "status", "field", "priority", "description"}


class ErrorRuleError(RuleError):
    """An error-class rule file is invalid. Names the file, the rule id and the field at fault."""

    def __init__(self, source: str, rule: str | None, key: str | None, problem: str):
        self.source, self.rule, self.key, self.problem = str(source), rule, key, problem
        where = str(source)
        if rule is not None:
            where += f": rule '{rule}'"
        if key is not None:
            where += f": field '{key}'"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class ErrorRule:
    id: str
    cls: str
    source: str
    order: int
    priority: int = 0
    message: str | None = None
    service: Any = None                     # regex str or tuple of names
    level: tuple[str, ...] | None = None
    status: Any = None                      # tuple of codes or (min, max) range dict
    fields: dict[str, str] = field(default_factory=dict)


def _check_regex(pattern: Any, source: str, rid: str, key: str) -> str:
    import polars as pl

    if not isinstance(pattern, str) or not pattern:
        raise ErrorRuleError(source, rid, key, f"expected a non-empty regex string, got {pattern!r}")
    try:
        pl.Series([""], dtype=pl.String).str.contains(f"(?i){pattern}")
    except Exception as exc:  # polars raises ComputeError for a bad regex
        raise ErrorRuleError(source, rid, key, f"invalid regex {pattern!r}: {str(exc).splitlines()[0]}") \
            from None
    return pattern


def _parse_status(value: Any, source: str, rid: str) -> Any:
    if isinstance(value, bool):
        raise ErrorRuleError(source, rid, "status", f"expected a code, a list or {{min, max}}, got {value!r}")
    if isinstance(value, int):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    if isinstance(value, dict) and set(value) <= {"min", "max"} and value and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
        return {"min": value.get("min"), "max": value.get("max")}
    raise ErrorRuleError(source, rid, "status", f"expected a code, a list of codes or {{min, max}}, got {value!r}")


def load_rules(path: str | Path | None = None, *, classes: set[str] | None = None,
               start: int = 0) -> tuple[list[ErrorRule], set[str]]:
    """Read and validate one rule file; returns (rules, classes declared). Raises ErrorRuleError."""
    import yaml

    path = Path(path) if path is not None else CATALOG
    source = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ErrorRuleError(source, None, None, "file not found") from None
    except yaml.YAMLError as exc:
        raise ErrorRuleError(source, None, None, f"not valid YAML ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise ErrorRuleError(source, None, "rules", "expected a mapping with a 'rules' list")
    declared = doc.get("classes", [])
    if not isinstance(declared, list) or not all(isinstance(c, str) for c in declared):
        raise ErrorRuleError(source, None, "classes", "expected a list of class names")
    known = set(classes or ()) | set(declared)
    rules: list[ErrorRule] = []
    seen: set[str] = set()
    for n, raw in enumerate(doc["rules"]):
        if not isinstance(raw, dict):
            raise ErrorRuleError(source, f"#{n + 1}", None, "expected a mapping")
        rid = raw.get("id")
        if not isinstance(rid, str) or not rid:
            raise ErrorRuleError(source, f"#{n + 1}", "id", "missing or not a string")
        if rid in seen:
            raise ErrorRuleError(source, rid, "id", "duplicate rule id")
        seen.add(rid)
        unknown = sorted(set(raw) - _RULE_KEYS)
        if unknown:
            raise ErrorRuleError(source, rid, unknown[0], f"unknown key (allowed: {', '.join(sorted(_RULE_KEYS))})")
        cls = raw.get("class")
        if not isinstance(cls, str) or cls not in known:
            raise ErrorRuleError(source, rid, "class", f"{cls!r} is not a declared class ({', '.join(sorted(known))})")
        if not any(raw.get(k) is not None for k in ("message", "service", "level", "status", "field")):
            raise ErrorRuleError(source, rid, None, "has no condition (message, service, level, status, field)")
        prio = raw.get("priority", 0)
        if not isinstance(prio, int) or isinstance(prio, bool):
            raise ErrorRuleError(source, rid, "priority", f"expected an integer, got {prio!r}")
        message = _check_regex(raw["message"], source, rid, "message") if raw.get("message") is not None else None
        service = raw.get("service")
        if service is not None:
            if isinstance(service, list) and all(isinstance(s, str) for s in service):
                service = tuple(service)
            else:
                service = _check_regex(service, source, rid, "service")
        level = raw.get("level")
        if level is not None:
            if isinstance(level, str):
                level = (level,)
            if not isinstance(level, (list, tuple)) or not all(isinstance(v, str) for v in level):
                raise ErrorRuleError(source, rid, "level", f"expected a level name or a list, got {level!r}")
            level = tuple(v.lower() for v in level)
        status = _parse_status(raw["status"], source, rid) if raw.get("status") is not None else None
        fields = raw.get("field") or {}
        if not isinstance(fields, dict):
            raise ErrorRuleError(source, rid, "field", "expected a mapping {column: regex}")
        fields = {str(c): _check_regex(r, source, rid, f"field.{c}") for c, r in fields.items()}
        rules.append(ErrorRule(id=rid, cls=cls, source=source, order=start + n, priority=prio, message=message,
                               service=service, level=level, status=status, fields=fields))
    return rules, known


def _all_rules(rules: Any, extra_rules: Any) -> list[ErrorRule]:
    if rules is None or isinstance(rules, (str, Path)):
        base, classes = load_rules(rules)
    else:  # an already-loaded list of ErrorRule
        base, classes = list(rules), {r.cls for r in rules}
    extra: list[ErrorRule] = []
    for path in ([extra_rules] if isinstance(extra_rules, (str, Path)) else list(extra_rules or ())):
        more, classes = load_rules(path, classes=classes, start=-1_000_000 + len(extra))
        extra.extend(more)
    # user files first at equal priority; then the catalog; higher priority before lower
    return sorted([*extra, *base], key=lambda r: (-r.priority, r.order))


def _rule_expr(rule: ErrorRule, columns: set[str]):
    import polars as pl

    conds = []
    if rule.message is not None:
        conds.append(pl.col("message").fill_null("").str.contains(f"(?i){rule.message}"))
    if rule.service is not None:
        if "service" not in columns:
            return None
        if isinstance(rule.service, tuple):
            conds.append(pl.col("service").is_in(list(rule.service)).fill_null(False))
        else:
            conds.append(pl.col("service").cast(pl.String).fill_null("").str.contains(f"(?i){rule.service}"))
    if rule.level is not None:
        conds.append(pl.col("level").cast(pl.String).str.to_lowercase().is_in(list(rule.level)).fill_null(False))
    if rule.status is not None:
        if "status" not in columns:
            return None
        st = pl.col("status").cast(pl.Int64, strict=False)
        if isinstance(rule.status, dict):
            c = pl.lit(True)
            if rule.status.get("min") is not None:
                c = c & (st >= rule.status["min"])
            if rule.status.get("max") is not None:
                c = c & (st <= rule.status["max"])
        else:
            c = st.is_in(list(rule.status))
        conds.append(c.fill_null(False))
    for col, regex in rule.fields.items():
        if col not in columns:
            return None
        conds.append(pl.col(col).cast(pl.String).fill_null("").str.contains(f"(?i){regex}"))
    expr = conds[0]
    for c in conds[1:]:
        expr = expr & c
    return expr


def classify_errors(logs: Any, rules: Any = None, extra_rules: Any = None, *, only_errors: bool = True,
                    column: str = "error_category") -> Any:
    """Return ``logs`` (pandas or polars, same engine back) with an ``error_category`` column.

    ``rules``: a rule file path (default the catalog) or a list from :func:`load_rules`.
    ``extra_rules``: more rule files (a path or a list); at equal priority they win over the catalog.
    ``only_errors``: classify only error lines (level in ``ERROR_LEVELS`` or status >= 500); other
    lines get null. With ``False`` every line is classified.
    """
    import polars as pl

    from holoops.frames import check_frame

    check_frame(logs, "logs")
    ordered = _all_rules(rules, extra_rules)
    mod = type(logs).__module__.split(".")[0]
    if mod == "polars":
        pdf = logs
    elif mod == "pandas":
        keep = [c for c in logs.columns if c != column]
        pdf = pl.from_pandas(logs[keep].reset_index(drop=True))
    else:
        raise TypeError(f"expected a pandas or polars logs frame, got {type(logs).__name__}")
    cols = set(pdf.columns)
    expr = pl.lit(UNCLASSIFIED)
    for rule in reversed(ordered):  # build the chain so the first rule in order is outermost
        cond = _rule_expr(rule, cols)
        if cond is not None:
            expr = pl.when(cond).then(pl.lit(rule.cls)).otherwise(expr)
    if only_errors:
        is_err = pl.col("level").cast(pl.String).str.to_lowercase().is_in(list(ERROR_LEVELS)).fill_null(False)
        if "status" in cols:
            is_err = is_err | (pl.col("status").cast(pl.Int64, strict=False) >= 500).fill_null(False)
        expr = pl.when(is_err).then(expr).otherwise(pl.lit(None, dtype=pl.String))
    cat = pdf.select(expr.alias(column)).get_column(column)
    if mod == "polars":
        return logs.with_columns(cat)
    out = logs.copy()
    import pandas as pd

    out[column] = pd.Series(cat.to_list(), index=out.index, dtype=object)
    return out


def error_class_summary(logs: Any, *, by: str = "service", bucket: str = "1h", rules: Any = None,
                        extra_rules: Any = None, column: str = "error_category") -> Any:
    """Counts per time bucket, ``by`` and class: columns ``ts`` (bucket start, UTC), ``by``,
    ``error_category``, ``count``; sorted. Classifies first when ``logs`` has no ``error_category``.
    Lines with a null category (not errors) are left out. Same engine back."""
    import polars as pl

    mod = type(logs).__module__.split(".")[0]
    cols = logs.columns
    if column not in cols:
        logs = classify_errors(logs, rules, extra_rules, column=column)
    pdf = logs if mod == "polars" else pl.from_pandas(logs[["ts", by, column]].reset_index(drop=True))
    every = bucket.replace("min", "m").replace("T", "m") if isinstance(bucket, str) else bucket
    out = (pdf.select(pl.col("ts").cast(pl.Datetime("ns", "UTC")), pl.col(by).cast(pl.String), pl.col(column))
           .filter(pl.col(column).is_not_null())
           .with_columns(pl.col("ts").dt.truncate(every))
           .group_by(["ts", by, column]).agg(pl.len().cast(pl.Int64).alias("count"))
           .sort(["ts", by, column]))
    if mod == "polars":
        return out
    res = out.to_pandas()
    res["ts"] = res["ts"].astype("datetime64[ns, UTC]")
    return res
