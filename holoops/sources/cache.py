"""A local Parquet cache for Prometheus query results.

Entries are keyed by a hash of (url, query, start, end, step) and live under ``HOLOOPS_CACHE_DIR`` or
``~/.cache/holoops/prometheus``: ``<key>.parquet`` (the metrics frame) plus ``<key>.json`` (metadata:
url without credentials, query, window, step, ``fetched_at``, rows). Writes are atomic (temp file +
rename), so a crash never leaves a half entry that reads as valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


@dataclass(frozen=True)
class CacheInfo:
    """Where a result came from. ``stale`` means Prometheus was unreachable and the cache answered."""

    key: str
    hit: bool
    stale: bool
    fetched_at: datetime
    age_s: float
    path: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fetched_at"] = self.fetched_at.isoformat()
        return d


def default_cache_dir() -> Path:
    """``$HOLOOPS_CACHE_DIR`` or ``~/.cache/holoops``, with a ``prometheus`` sub-folder."""
    base = os.environ.get("HOLOOPS_CACHE_DIR")
    root = Path(base).expanduser() if base else Path("~/.cache/holoops").expanduser()
    return root / "prometheus"


def cache_key(url: str, query: str, start: float, end: float, step: float) -> str:
    """Stable hex key for one query window."""
    blob = json.dumps([FORMAT_VERSION, url.rstrip("/"), query, round(float(start), 3), round(float(end), 3),
                       round(float(step), 3)], separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


class QueryCache:
    """Parquet files + JSON sidecars in ``directory`` (see module doc)."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.directory / f"{key}.parquet", self.directory / f"{key}.json"

    def get(self, key: str, *, stale: bool = False):
        """``(frame, CacheInfo)`` for ``key``, or ``None`` when absent or unreadable."""
        data_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("version") != FORMAT_VERSION:
                return None
            import pandas as pd

            df = pd.read_parquet(data_path)
        except (OSError, ValueError):
            return None
        except Exception:  # a corrupt parquet file is a miss, not a failure
            return None
        fetched = datetime.fromisoformat(meta["fetched_at"])
        age = max(0.0, time.time() - fetched.timestamp())
        info = CacheInfo(key=key, hit=True, stale=stale, fetched_at=fetched, age_s=age, path=str(data_path))
        df.attrs["cache"] = info
        return df, info

    def put(self, key: str, df, meta: dict[str, Any]) -> CacheInfo:
        """Store ``df`` (pandas) under ``key`` with ``meta``; returns the (miss) CacheInfo."""
        self.directory.mkdir(parents=True, exist_ok=True)
        data_path, meta_path = self._paths(key)
        now = datetime.now(timezone.utc)
        tmp_data = data_path.with_suffix(f".parquet.{os.getpid()}.tmp")
        tmp_meta = meta_path.with_suffix(f".json.{os.getpid()}.tmp")
        clean = df.copy()
        clean.attrs = {}
        clean.to_parquet(tmp_data, index=False)
        record = {**meta, "version": FORMAT_VERSION, "fetched_at": now.isoformat(), "rows": int(len(df))}
        tmp_meta.write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
        os.replace(tmp_data, data_path)
        os.replace(tmp_meta, meta_path)  # the sidecar last: it marks the entry complete
        return CacheInfo(key=key, hit=False, stale=False, fetched_at=now, age_s=0.0, path=str(data_path))

    def latest(self, url: str, query: str, *, stale: bool = True):
        """The newest entry of ``query`` on ``url`` whatever its window (``(frame, CacheInfo)`` or None):
        the copy a report falls back to when Prometheus is unreachable and the window ends "now"."""
        best: tuple[str, str] | None = None
        if not self.directory.is_dir():
            return None
        for side in self.directory.glob("*.json"):
            try:
                meta = json.loads(side.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            same = meta.get("url", "").rstrip("/") == url.rstrip("/") and meta.get("query") == query
            if same and (best is None or meta.get("fetched_at", "") > best[0]):
                best = (meta.get("fetched_at", ""), side.stem)
        return self.get(best[1], stale=stale) if best else None

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        n = 0
        if self.directory.is_dir():
            for p in self.directory.glob("*.json"):
                p.unlink(missing_ok=True)
                p.with_suffix(".parquet").unlink(missing_ok=True)
                n += 1
        return n

    def __repr__(self) -> str:
        return f"QueryCache({str(self.directory)!r})"
