"""Log files beside a metrics source: ``[SERVICE=]PATH`` specs read into one logs frame.

A live Prometheus has the metrics but not the logs, and many services keep their status codes and
latencies only in their access logs. Each spec names a file or a folder (every file in it), optionally
with the service that writes it. Without ``SERVICE=`` the service is found from the file: the only
service of the fleet, a service name in the path, or a port in the file name that matches a service's
port or one of its scrape targets (``access-18000.log`` -> the service scraped at ``127.0.0.1:18000``,
which is also the instance).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from holoops.errors import InputFileError


def parse_spec(spec: str) -> tuple[str | None, Path]:
    """``"vault=/var/log/vault/access.log"`` -> (``vault``, path); a bare path -> (None, path)."""
    if "=" in spec and not Path(spec).exists():
        svc, _, path = spec.partition("=")
        return svc.strip() or None, Path(path.strip()).expanduser()
    return None, Path(spec).expanduser()


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if path.is_file():
        return [path]
    raise InputFileError(path, "a log file or folder", "no such file or folder")


def _instances(metrics: Any) -> dict[str, list[str]]:
    """service -> its instances (scrape targets) in the metrics, for matching ports in file names."""
    import narwhals as nw

    if metrics is None or not len(metrics) or "instance" not in metrics.columns:
        return {}
    f = nw.from_native(metrics, eager_only=True).select(
        nw.col("service").cast(nw.String), nw.col("instance").cast(nw.String)).unique()
    out: dict[str, list[str]] = {}
    for svc, inst in f.rows():
        if svc and inst:
            out.setdefault(svc, []).append(inst)
    return out


def assign(path: Path, fleet: Any, instances: dict[str, list[str]], service: str | None = None
           ) -> tuple[str, str | None]:
    """(service, instance) of a log file; InputFileError naming the file when it cannot be told."""
    names = list(fleet.services)
    ports = [int(p) for p in re.findall(r"(?<!\d)(\d{2,5})(?!\d)", path.name)]
    if service is not None:
        if service not in fleet.services:
            raise InputFileError(path, f"a service of the fleet ({', '.join(names)})", f"service {service!r}")
        inst = next((i for i in instances.get(service, []) for p in ports if i.endswith(f":{p}")), None)
        return service, inst
    for svc, insts in instances.items():
        for i in insts:
            if svc in fleet.services and any(i.endswith(f":{p}") for p in ports):
                return svc, i
    for name, svc in fleet.services.items():
        if svc.port in ports:
            return name, None
    hits = [n for n in names if n in str(path)]
    if len(hits) == 1:
        return hits[0], None
    if len(names) == 1:
        return names[0], None
    raise InputFileError(path, "a log file holoops can attribute to a service (write SERVICE=PATH)",
                         f"a file whose name matches none of {', '.join(names)} or their ports")


def read_logs(specs: Sequence[str], fleet: Any, metrics: Any = None, *, dead_letter: Any = None
              ) -> tuple[Any, list[str], dict[str, str]]:
    """(logs frame (polars), notes, service -> where its logs came from) for ``specs``."""
    import polars as pl

    from holoops.ingest import DeadLetter
    from holoops.sources.exports import read_export

    instances = _instances(metrics)
    frames, notes, origin = [], [], {}
    own = not isinstance(dead_letter, DeadLetter)
    dl = DeadLetter(dead_letter, append=True) if own else dead_letter
    try:
        for spec in specs:
            svc_hint, path = parse_spec(spec)
            for p in _files(path):
                service, instance = assign(p, fleet, instances, svc_hint)
                res = read_export(p, "logs", engine="polars", dead_letter=dl)
                df = res.frame
                fill = [pl.lit(service).alias("service")] if "service" not in df.columns else [
                    pl.coalesce([pl.col("service").cast(pl.Utf8), pl.lit(service)]).alias("service")]
                if instance is not None:
                    fill.append(pl.lit(instance).alias("instance") if "instance" not in df.columns else
                                pl.coalesce([pl.col("instance").cast(pl.Utf8), pl.lit(instance)]).alias("instance"))
                df = df.with_columns(fill)
                frames.append(df)
                kind = "access log" if "status" in df.columns and df["status"].null_count() < df.height else "log"
                origin.setdefault(service, f"the {kind} {p.name}")
                if origin[service] != f"the {kind} {p.name}" and not origin[service].endswith("files"):
                    origin[service] = f"the {kind} files"
                notes.extend(getattr(res, "notes", None) or [])
                if res.rejected:
                    notes.append(f"{p.name}: {res.rejected:,} of {res.read:,} lines rejected "
                                 f"({', '.join(f'{k} {v}' for k, v in res.reasons.items())})")
    finally:
        if own:
            dl.close()
    logs = pl.concat(frames, how="diagonal_relaxed") if frames else None
    return logs, notes, origin
