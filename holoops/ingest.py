"""Dead-letter accounting: every record read is either ingested or rejected with file, line, field, reason.

A *record* is one log line, one metric sample, one span or one event row. Readers count what they read,
keep the good records and hand each bad one to a :class:`DeadLetter` with the reason. The resulting
:class:`IngestResult` always satisfies ``ingested + rejected == read`` (checked when it is built).

Dead-letter files are JSON lines: ``{"file", "line", "record", "field", "reason", "detail", "raw"}``.
``line`` is the 1-based line (text formats), the 1-based row (Parquet), or null for records inside a JSON
document, where ``record`` holds a JSON path instead (e.g. ``data[0].spans[3]``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: reasons a record can be rejected for (stable strings; tests and dashboards key on them)
REASONS: dict[str, str] = {
    "malformed_json": "the line is not valid JSON",
    "not_an_object": "the line is valid JSON but not an object",
    "truncated_line": "the last line of the file is cut short (no newline, does not parse)",
    "wrong_encoding": "the bytes are not valid UTF-8",
    "missing_field": "a required field is absent or empty",
    "mistyped_field": "a field holds a value of the wrong type",
    "bad_timestamp": "a timestamp cannot be parsed",
    "negative_value": "a value that must be >= 0 is negative",
    "nan_value": "a latency, duration or size that must be a number is NaN (NaN metric samples are kept)",
    "bad_line": "the line does not match the expected line format",
    "api_error": "the export holds an API error response instead of data",
    "outside_window": "the timestamp is far from the rest of the data (a broken clock) or in the future",
}

RAW_LIMIT = 512  # characters of the raw record kept in a dead-letter entry
SAMPLE_LIMIT = 1000  # dead-letter entries kept in memory when no dead-letter file is given


def _raw_text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", errors="backslashreplace")
    elif not isinstance(raw, str):
        raw = str(raw)
    return raw if len(raw) <= RAW_LIMIT else raw[:RAW_LIMIT] + "...[truncated]"


class DeadLetter:
    """Collects rejected records for one or more files; writes them as JSON lines when given a path.

    ``DeadLetter(None)`` keeps the first :data:`SAMPLE_LIMIT` entries in ``samples`` only.
    """

    def __init__(self, path: str | Path | None = None, *, append: bool = False):
        self.path = Path(path) if path is not None else None
        self.counts: Counter[str] = Counter()
        self.samples: list[dict[str, Any]] = []
        self._fh = None
        self._append = append
        self.file = ""

    @property
    def rejected(self) -> int:
        """Number of records rejected so far."""
        return sum(self.counts.values())

    def _write(self, entry: dict[str, Any]) -> None:
        if len(self.samples) < SAMPLE_LIMIT:
            self.samples.append(entry)
        if self.path is not None:
            if self._fh is None:
                import orjson

                self._dumps = orjson.dumps
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "ab" if self._append else "wb")  # noqa: SIM115
                self._append = True
            self._fh.write(self._dumps(entry) + b"\n")

    def reject(self, line: int | None, field: str | None, reason: str, raw: Any = None, *,
               record: str | None = None, detail: str | None = None, file: str | None = None) -> None:
        """Record one rejected record."""
        if reason not in REASONS:
            raise ValueError(f"unknown dead-letter reason {reason!r}")
        self.counts[reason] += 1
        self._write({"file": file or self.file, "line": None if line is None else int(line),
                     "record": record, "field": field, "reason": reason,
                     "detail": detail or REASONS[reason], "raw": _raw_text(raw)})

    def reject_many(self, lines: Iterable[int | None], fields: Iterable[str | None], reasons: Iterable[str],
                    raws: Iterable[Any], details: Iterable[str | None] | None = None,
                    records: Iterable[str | None] | None = None) -> None:
        """Record many rejected records (parallel iterables)."""
        lines, fields, reasons, raws = list(lines), list(fields), list(reasons), list(raws)
        details = list(details) if details is not None else [None] * len(lines)
        records = list(records) if records is not None else [None] * len(lines)
        for ln, f, r, raw, d, rec in zip(lines, fields, reasons, raws, details, records, strict=False):
            self.reject(ln, f, r, raw, detail=d, record=rec)

    def close(self) -> None:
        """Flush and close the dead-letter file (if any)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> DeadLetter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class IngestResult:
    """What one read produced: the canonical ``frame`` and the accounting for every record read."""

    frame: Any
    read: int
    ingested: int
    rejected: int
    kind: str
    format: str
    path: str
    dead_letter: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    #: values kept but rewritten (e.g. an unknown log level became "unknown"): {field: count}
    normalised: dict[str, int] = field(default_factory=dict)
    #: the first dead-letter entries (also available without a dead-letter file)
    samples: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: sentences a report should show about how the file was read, e.g. that its records carry no time and
    #: were given estimated ones (``normalised["estimated_ts"]`` counts those records)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.ingested + self.rejected == self.read, (
            f"{self.path}: dead-letter accounting broken: ingested {self.ingested} + rejected "
            f"{self.rejected} != read {self.read}")
        assert sum(self.reasons.values()) == self.rejected, (
            f"{self.path}: reason counts {self.reasons} do not add up to rejected {self.rejected}")

    def summary(self) -> str:
        """One line: ``file: read N, ingested N, rejected N (reason: n, ...)``."""
        why = ", ".join(f"{k}: {v}" for k, v in sorted(self.reasons.items()))
        return (f"{self.path} [{self.format} -> {self.kind}]: read {self.read}, ingested {self.ingested}, "
                f"rejected {self.rejected}" + (f" ({why})" if why else ""))
