"""A folder of exported files as a source (every file sniffed by content; see holoops.sources.exports)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from holoops.sources import Source, register_source


class ExportsSource(Source):
    """Metrics, logs, traces and events exported to files (Prometheus JSON/text, CSV, Parquet, JSON lines,
    access logs, Jaeger/OTLP). Records that cannot be read go to ``dead_letter`` with their reason."""

    name = "exports"

    def __init__(self, fleet: Any, path: str | Path, *, logs: Sequence[str] = (), dead_letter: str | None = None):
        super().__init__(fleet)
        self.path = Path(path)
        self.extra_logs = list(logs)
        self.dead_letter_path = dead_letter or str(_default_dead_letter(self.path))

    @cached_property
    def folder(self):
        from holoops.ingest import DeadLetter
        from holoops.sources.exports import read_folder

        folder = read_folder(self.path, engine="polars", dead_letter=self.dead_letter_path)
        self._dl = DeadLetter(self.dead_letter_path, append=True)
        return folder

    @cached_property
    def _frames(self) -> dict[str, Any]:
        from holoops.sources.logfiles import read_logs

        frames = {k: self.folder[k] for k in ("metrics", "logs", "spans", "events")}
        if self.extra_logs:
            logs, self._log_notes, self._log_origin = read_logs(self.extra_logs, self.fleet, frames["metrics"],
                                                                dead_letter=self.dead_letter_path)
            import polars as pl

            frames["logs"] = pl.concat([frames["logs"], logs], how="diagonal_relaxed") if len(frames["logs"]) else logs
        return frames

    def extent(self) -> tuple[Any, Any]:
        """The span the bulk of the data covers (samples in the future do not count)."""
        import polars as pl

        from holoops.timeutil import now_utc

        limit = now_utc()
        firsts, lasts = [], []
        for kind, col in (("metrics", "ts"), ("logs", "ts"), ("spans", "start")):
            df = self._frames[kind]
            if df is None or not len(df) or col not in df.columns:
                continue
            ok = df.filter(pl.col(col) <= pl.lit(limit).cast(df.schema[col]))
            if ok.height:
                firsts.append(ok[col].min())
                lasts.append(ok[col].max())
        return (min(firsts) if firsts else None), (max(lasts) if lasts else None)

    def read(self, window, services: Sequence[str] | None = None, engine: str = "pandas"):
        from holoops.sources._assemble import assemble

        frames = dict(self._frames)
        notes = []
        if self.folder.rejected:
            notes.append(f"{self.folder.rejected:,} exported records were rejected on read "
                         f"(dead letter: {self.dead_letter_path})")
        notes += getattr(self, "_log_notes", [])
        ds = assemble(frames, window, self.fleet, source=self.name, engine=engine, services=services,
                      notes=notes, dead_letter=self._dl, rejected=self.folder.rejected,
                      log_origin=getattr(self, "_log_origin", None))
        return ds

    def describe(self) -> str:
        return f"exports in {self.path}"


def _default_dead_letter(path: Path) -> Path:
    """``<cache dir>/dead-letter/<folder name>-<hash>.jsonl``: never inside the user's export folder."""
    import hashlib

    from holoops.sources.cache import default_cache_dir

    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    out = default_cache_dir() / "dead-letter"
    out.mkdir(parents=True, exist_ok=True)
    return out / f"{path.name or 'exports'}-{digest}.jsonl"


@register_source("exports")
def _exports(params: Any, fleet: Any) -> ExportsSource:
    return ExportsSource(fleet, params.exports_path, logs=params.logs or ())
