"""Run a real Prometheus on 127.0.0.1 over backfilled data, for tests.

``promtool tsdb create-blocks-from openmetrics`` turns an OpenMetrics file into TSDB blocks; then
``prometheus`` serves them (no scrape targets, retention 100y so old data is kept) on a free port.
:func:`prometheus_from_openmetrics` does both and stops the server on exit (terminate, wait, kill).
:func:`write_openmetrics` writes a small file (counters, gauges, a histogram) when the demo package is
not there to make one.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
DEFAULT_START = datetime(2026, 11, 2, tzinfo=timezone.utc)


def have_prometheus() -> bool:
    return os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_openmetrics(path: str | Path, start: datetime = DEFAULT_START, hours: float = 6.0,
                      interval: int = 60) -> Path:
    """A deterministic OpenMetrics file: a counter, a gauge and a histogram for two services."""
    t0 = int(start.timestamp())
    times = [t0 + i * interval for i in range(int(hours * 3600 / interval) + 1)]
    targets = [("router", "router-0:8001"), ("vault", "vault-0:8002")]
    codes = ("200", "500")
    bounds = ("0.05", "0.1", "0.5", "+Inf")
    lines = ["# TYPE http_requests counter", "# HELP http_requests Requests served."]
    for si, (svc, inst) in enumerate(targets):
        for code in codes:
            rate = (20.0 + 5 * si) if code == "200" else 0.5
            total = 0.0
            for i, t in enumerate(times):
                total += rate * interval * (1.0 + 0.3 * math.sin(i / 17.0))
                lines.append(f'http_requests_total{{job="{svc}",instance="{inst}",code="{code}"}} '
                             f"{total:.1f} {t}")
    lines += ["# TYPE process_resident_memory_bytes gauge", "# UNIT process_resident_memory_bytes bytes",
              "# HELP process_resident_memory_bytes Resident memory."]
    for si, (svc, inst) in enumerate(targets):
        for i, t in enumerate(times):
            v = 2.0e8 * (si + 1) + 1.0e6 * ((i * 7919) % 97) + 0.25
            lines.append(f'process_resident_memory_bytes{{job="{svc}",instance="{inst}"}} {v!r} {t}')
    lines += ["# TYPE http_request_duration_seconds histogram",
              "# HELP http_request_duration_seconds Request latency."]
    for svc, inst in targets:
        counts = dict.fromkeys(bounds, 0.0)
        total_sum = 0.0
        for i, t in enumerate(times):
            n = 1000.0 + 10 * (i % 13)
            shares = {"0.05": 0.5, "0.1": 0.8, "0.5": 0.95, "+Inf": 1.0}
            for b in bounds:
                counts[b] += n * shares[b]
            total_sum += n * 0.08
            for b in bounds:
                lines.append(f'http_request_duration_seconds_bucket{{job="{svc}",instance="{inst}",le="{b}"}} '
                             f"{counts[b]:.1f} {t}")
            lines.append(f'http_request_duration_seconds_sum{{job="{svc}",instance="{inst}"}} {total_sum:.3f} {t}')
            lines.append(f'http_request_duration_seconds_count{{job="{svc}",instance="{inst}"}} '
                         f"{counts['+Inf']:.1f} {t}")
    lines.append("# EOF")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def backfill(openmetrics: str | Path, tsdb_dir: str | Path, timeout: float = 180) -> Path:
    """``promtool tsdb create-blocks-from openmetrics``; raises with promtool's output on failure."""
    out = Path(tsdb_dir)
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(out)],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"promtool backfill failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return out


@contextlib.contextmanager
def run_prometheus(tsdb_dir: str | Path, workdir: str | Path, ready_timeout: float = 60) -> Iterator[str]:
    """Serve ``tsdb_dir`` on 127.0.0.1:<free port>; yields the base URL; stops the server on exit."""
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 60s\nscrape_configs: []\n", encoding="utf-8")
    port = free_port()
    log = open(work / "prometheus.log", "wb")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tsdb_dir}",
         "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=work)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited ({proc.returncode}): "
                                   f"{(work / 'prometheus.log').read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus not ready within {ready_timeout}s")
            time.sleep(0.2)
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()


@contextlib.contextmanager
def prometheus_from_openmetrics(openmetrics: str | Path, workdir: str | Path) -> Iterator[str]:
    """Backfill ``openmetrics`` into ``workdir/tsdb`` and serve it; yields the URL."""
    work = Path(workdir)
    tsdb = backfill(openmetrics, work / "tsdb")
    with run_prometheus(tsdb, work) as url:
        yield url


def parse_openmetrics(path: str | Path) -> dict[tuple, list[tuple[float, float]]]:
    """Minimal reader for the files above: ``{(name, sorted labels): [(ts, value), ...]}``."""
    import re

    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(\S+))?$')
    label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    out: dict[tuple, list[tuple[float, float]]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        m = sample.match(line)
        if not m or m.group(4) is None:
            continue
        labels = tuple(sorted(label.findall(m.group(2) or "")))
        out.setdefault((m.group(1), labels), []).append((float(m.group(4)), float(m.group(3))))
    return out
