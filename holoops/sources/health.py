"""Health probes and scrape targets for a fleet.

:func:`probe_fleet` GETs each service's ``health`` path (from the fleet profile) on its port, all
services at once, each with a timeout and a bounded number of retries; :func:`scrape_targets` reads
Prometheus's ``/api/v1/targets``; :func:`reconcile_targets` compares the two views of the fleet.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from holoops.sources.auth import redact


@dataclass(frozen=True)
class ProbeResult:
    """One health probe. ``ok`` is a 2xx answer within the timeout."""

    service: str
    url: str
    ok: bool
    status: int | None
    latency_ms: float | None
    error: str | None
    attempts: int


def _base_urls(fleet, base_urls: Mapping[str, str | Sequence[str]] | None, host: str,
               scheme: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, svc in fleet.services.items():
        given = (base_urls or {}).get(name)
        if given is None:
            out[name] = [f"{scheme}://{host}:{svc.port}"]
        else:
            out[name] = [given] if isinstance(given, str) else list(given)
    return out


def _probe_one(session, service: str, url: str, timeout: float, retries: int) -> ProbeResult:
    import requests

    status: int | None = None
    latency: float | None = None
    error: str | None = None
    attempt = 0
    for attempt in range(1, retries + 2):
        t0 = time.perf_counter()
        try:
            r = session.get(url, timeout=(timeout, timeout), allow_redirects=False)
            latency = (time.perf_counter() - t0) * 1000.0
            status = r.status_code
            if 200 <= status < 300:
                return ProbeResult(service, url, True, status, round(latency, 2), None, attempt)
            error = f"HTTP {status}"
            if status < 500:
                break  # a 4xx will not change on retry
        except requests.exceptions.Timeout:
            status, latency, error = None, None, f"timeout after {timeout:g}s"
        except requests.exceptions.RequestException as exc:
            text = str(exc)
            reason = next((s for s in ("Connection refused", "Connection reset", "Connection aborted",
                                       "Name or service not known", "SSL") if s in text), type(exc).__name__)
            status, latency, error = None, None, reason
        if attempt <= retries:
            time.sleep(min(0.2 * attempt, 1.0))
    return ProbeResult(service, url, False, status, None if latency is None else round(latency, 2),
                       redact(error) if error else None, attempt)


def probe_fleet(fleet: Any = None, base_urls: Mapping[str, str | Sequence[str]] | None = None, *,
                timeout: float = 2.0, retries: int = 1, host: str = "127.0.0.1", scheme: str = "http",
                services: Sequence[str] | None = None) -> list[ProbeResult]:
    """Probe every service's health endpoint (in parallel); one :class:`ProbeResult` per URL.

    ``fleet`` is a FleetProfile or a profile path (``None``: the bundled one). ``base_urls`` maps a
    service to its base URL(s) (default ``{scheme}://{host}:{port}``); the profile's ``health`` path
    is appended. Total time is bounded by about ``(retries + 1) * (timeout + 0.2)`` seconds.
    """
    from concurrent.futures import ThreadPoolExecutor

    import requests

    if fleet is None or isinstance(fleet, (str,)) or hasattr(fleet, "__fspath__"):
        from holoops.fleet import load_fleet

        fleet = load_fleet(fleet)
    urls = _base_urls(fleet, base_urls, host, scheme)
    jobs = [(name, base.rstrip("/") + fleet.services[name].health)
            for name in (services or list(fleet.services)) for base in urls[fleet.service(name).name]]
    with requests.Session() as session, ThreadPoolExecutor(max_workers=min(16, max(1, len(jobs)))) as pool:
        futures = [pool.submit(_probe_one, session, name, url, timeout, retries) for name, url in jobs]
        return [f.result() for f in futures]


def probes_frame(results: Sequence[ProbeResult]):
    """Probe results as a pandas frame (service, url, ok, status, latency_ms, error, attempts)."""
    import pandas as pd

    cols = ["service", "url", "ok", "status", "latency_ms", "error", "attempts"]
    return pd.DataFrame([asdict(r) for r in results], columns=cols)


def scrape_targets(source: Any, state: str | None = "active"):
    """Prometheus's scrape targets as a pandas frame.

    Columns: ``service`` (``service`` label, else ``job``), ``job``, ``instance``, ``health``
    (``up``/``down``/``unknown``), ``scrape_url``, ``last_error``, ``last_scrape``, ``scrape_pool``.
    """
    import pandas as pd

    data = source.targets(state=state) if hasattr(source, "targets") else source
    rows = []
    for t in data.get("activeTargets", []) if isinstance(data, dict) else data:
        labels = t.get("labels", {}) or {}
        disc = t.get("discoveredLabels", {}) or {}
        job = labels.get("job", disc.get("job"))
        rows.append({
            "service": labels.get("service", job), "job": job, "instance": labels.get("instance"),
            "health": t.get("health", "unknown"), "scrape_url": t.get("scrapeUrl"),
            "last_error": redact(t.get("lastError") or "") or None,
            "last_scrape": t.get("lastScrape"), "scrape_pool": t.get("scrapePool"),
        })
    df = pd.DataFrame(rows, columns=["service", "job", "instance", "health", "scrape_url", "last_error",
                                     "last_scrape", "scrape_pool"])
    df["last_scrape"] = pd.to_datetime(df["last_scrape"], utc=True, errors="coerce", format="ISO8601")
    return df


@dataclass
class Reconciliation:
    """Profile services vs. scrape targets."""

    missing_targets: list[str] = field(default_factory=list)   # in the profile, never scraped
    unknown_targets: list[str] = field(default_factory=list)   # scraped, not in the profile
    down_targets: list[str] = field(default_factory=list)      # profile service with a target not up

    @property
    def ok(self) -> bool:
        return not (self.missing_targets or self.unknown_targets or self.down_targets)

    def lines(self) -> list[str]:
        out = [f"no scrape target for profile service {s}" for s in self.missing_targets]
        out += [f"scrape target {s} is not in the fleet profile" for s in self.unknown_targets]
        out += [f"scrape target of {s} is down" for s in self.down_targets]
        return out


def reconcile_targets(fleet: Any, targets: Any, *, ignore: Sequence[str] = ("prometheus",)) -> Reconciliation:
    """Flag profile services with no scrape target, targets not in the profile, and down targets.

    ``targets`` is the :func:`scrape_targets` frame (or a PrometheusSource, read on the spot). A
    target matches a service by its ``service`` label, else ``job``. ``ignore`` lists jobs (like
    Prometheus scraping itself) that are never reported as unknown.
    """
    if hasattr(targets, "targets") and not hasattr(targets, "columns"):
        targets = scrape_targets(targets)
    if fleet is None or isinstance(fleet, str) or hasattr(fleet, "__fspath__"):
        from holoops.fleet import load_fleet

        fleet = load_fleet(fleet)
    from holoops.discover import INFRA_JOBS

    names = set(fleet.services)
    alias = {a: n for n, svc in fleet.services.items() for a in svc.names}
    seen: dict[str, list[str]] = {}
    for svc, health in zip(targets["service"], targets["health"], strict=True):
        if svc is None:
            continue
        seen.setdefault(alias.get(str(svc), str(svc)), []).append(str(health))
    rec = Reconciliation()
    rec.missing_targets = [s for s in fleet.services if s not in seen]
    # exporters (node_exporter, DCGM, ...) and the monitoring itself are infrastructure, not unknown services
    rec.unknown_targets = sorted(s for s in seen if s not in names and s not in ignore and not INFRA_JOBS.match(s))
    rec.down_targets = [s for s in fleet.services if s in seen and any(h != "up" for h in seen[s])]
    return rec
