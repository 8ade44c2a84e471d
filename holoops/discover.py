"""``holoops fleet discover``: a fleet profile from what a live Prometheus (and the services' logs) show.

It reads the scrape targets, the series of every job and their label values, and maps them to the signals
the analyses need (:mod:`holoops.signalmap`); access logs add status codes and latency where the metrics
lack them. The profile it writes pins each service's signal mapping, so reports, rules and ``fleet check``
use exactly what was found; the coverage table says, per service, where each signal came from or that it
is missing. Jobs of well-known exporters (node_exporter, DCGM, cAdvisor, ...) are infrastructure, not
services: their series join the services on the same host.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: scrape jobs that are exporters or the monitoring itself, not services of the fleet
INFRA_JOBS = re.compile(r"^(prometheus|alertmanager|pushgateway|grafana|node(-?exporter)?|node_exporter|dcgm.*|"
                        r"nvidia.*|cadvisor|kubelet|kube-state-metrics|blackbox.*|.*-exporter|.*_exporter)$")
HEALTH_PATHS = ("/healthz", "/health", "/livez", "/readyz", "/-/healthy", "/status")
#: the default SLO a discovered service starts with: edit it to the service's real objective
DEFAULT_AVAILABILITY = 0.99


@dataclass
class Discovery:
    profile: dict[str, Any]
    coverage: Any
    targets: Any
    notes: list[str] = field(default_factory=list)
    choices: dict = field(default_factory=dict)

    @property
    def fleet(self):
        from holoops.fleet import parse_fleet

        return parse_fleet(self.profile, "<discovered>")

    def yaml(self) -> str:
        import yaml

        head = ("# Written by `holoops fleet discover`: services, ports and health endpoints from Prometheus's\n"
                "# scrape targets; `signals` pins where each signal was found (see holoops/catalogs/signal_map.yaml).\n"
                "# Review the SLOs and resource limits: they are defaults, not measurements of your objectives.\n")
        return head + yaml.safe_dump(self.profile, sort_keys=False, width=110)

    def write(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.yaml(), encoding="utf-8")
        return p

    def table(self) -> str:
        return self.coverage.text()


def _slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return s or "fleet"


def _probe_health(scrape_url: str, timeout: float = 2.0) -> str | None:
    """The first health path that answers 2xx on the target's host, else None."""
    from urllib.parse import urlsplit

    import requests

    parts = urlsplit(scrape_url)
    base = f"{parts.scheme}://{parts.netloc}"
    for path in HEALTH_PATHS:
        try:
            r = requests.get(base + path, timeout=timeout, allow_redirects=False)
        except requests.exceptions.RequestException:
            return None
        if 200 <= r.status_code < 300:
            return path
    return None


def discover(prometheus: str | Any, *, logs: Sequence[str] = (), base: Any = None, name: str | None = None,
             since: str = "1h", probe: bool = True) -> Discovery:
    """Discover the fleet behind ``prometheus`` (a URL or a PrometheusSource).

    ``base``: an existing profile whose services (by name, aliases or matched job) keep their settings;
    ``logs``: ``[SERVICE=]PATH`` specs of log files (access logs give status codes and latency)."""
    import pandas as pd

    from holoops import signalmap
    from holoops.sources.prometheus import PrometheusSource
    from holoops.timeutil import parse_time

    client = prometheus if isinstance(prometheus, PrometheusSource) else PrometheusSource(prometheus)
    targets = [t for t in client.targets().get("activeTargets", [])]
    if not targets:
        from holoops.errors import PrometheusError

        raise PrometheusError(f"{client.url} has no active scrape targets: nothing to discover")
    start, end = parse_time(f"-{since}"), parse_time("now")
    notes: list[str] = []
    rows = []
    for t in targets:
        labels = t.get("labels", {}) or {}
        rows.append({"job": labels.get("job"), "service": labels.get("service", labels.get("job")),
                     "instance": labels.get("instance"), "health": t.get("health"),
                     "scrape_url": t.get("scrapeUrl")})
    tdf = pd.DataFrame(rows)
    base_profile = base.model_dump(mode="json", exclude_defaults=False) if base is not None else None
    services = [s for s in dict.fromkeys(tdf["service"]) if s and not INFRA_JOBS.match(str(s))]
    if not services:
        from holoops.errors import PrometheusError

        raise PrometheusError(f"{client.url}: every scrape job looks like an exporter or Prometheus itself "
                              f"({', '.join(sorted(set(tdf['job'])))}); no service to discover")
    # every series of the last `since`, per job (label sets only)
    series = []
    for job in sorted(set(tdf["job"].dropna())):
        s = client.series(f'{{job="{_esc(job)}"}}', start, end)
        if len(s):
            series.append(s)
    sdf = pd.concat(series, ignore_index=True) if series else pd.DataFrame(columns=["metric", "service", "instance"])
    profile = _profile(services, tdf, sdf, client, base_profile, name, probe)
    fleet = _parse(profile)
    # the same choice the reports make, on the series' label sets
    triples = {(str(m), str(s) if s is not None else None, str(i) if i is not None else None)
               for m, s, i in sdf[["metric", "service", "instance"]].itertuples(index=False)}
    aliases = {a: n for n, svc in fleet.services.items() for a in svc.names if a != n}
    pairs = {(m, aliases.get(s, s)) for m, s, _ in triples}
    hosts: dict[str, set[str]] = {}
    host_metrics: dict[str, set[str]] = {}
    for m, s, inst in triples:
        h = signalmap._host(inst)
        if h is None:
            continue
        host_metrics.setdefault(h, set()).add(m)
        if aliases.get(s, s) in fleet.services:
            hosts.setdefault(aliases.get(s, s), set()).add(h)
    labelled = {str(m): {"quantile"} for m in sdf.loc[sdf.get("quantile", pd.Series(dtype=object)).notna(), "metric"]} \
        if "quantile" in sdf.columns else {}
    choices = signalmap.choose(pairs, fleet, labelled=labelled, hosts=hosts, host_metrics=host_metrics)
    _mark_codes(sdf, choices, aliases)
    # log files: what they hold per service
    log_signals: dict[str, dict[str, str]] = {}
    if logs:
        from holoops.sources.logfiles import read_logs

        inst = pd.DataFrame({"service": [aliases.get(s, s) for s in tdf["service"]], "instance": tdf["instance"]})
        frame, lnotes, origin = read_logs(logs, fleet, inst)
        notes += lnotes
        if frame is not None and frame.height:
            from holoops.sources._assemble import _log_signals

            log_signals = _log_signals(frame, fleet, origin)
            for svc in set(frame["service"].drop_nulls().to_list()):
                if svc in profile["services"]:
                    specs = [spec.partition("=")[2] if "=" in spec else spec for spec in logs]
                    profile["services"][svc].setdefault("logs", [])
                    for sp in specs:
                        if sp not in profile["services"][svc]["logs"]:
                            profile["services"][svc]["logs"].append(sp)
    coverage = signalmap.coverage_of(choices, fleet, log_signals)
    for (svc, signal), ch in choices.items():
        spec = ch.candidate.to_spec()
        if ch.candidate.kind == "histogram":
            buckets = _buckets(sdf, ch, aliases)
            if buckets:
                spec["buckets"] = buckets
        profile["services"][svc].setdefault("signals", {})[signal] = spec
    for svc in profile["services"]:
        missing = coverage.missing(svc)
        if missing:
            notes.append(f"{svc}: no {', '.join(missing)} signal")
    _parse(profile)  # the written profile must load
    return Discovery(profile, coverage, tdf, notes, choices)


def _esc(value: str) -> str:
    from holoops.sources.prometheus import escape_label_value

    return escape_label_value(value)


def _parse(profile: dict[str, Any]):
    from holoops.fleet import parse_fleet

    return parse_fleet(profile, "<discovered>")


def _mark_codes(sdf: Any, choices: dict, aliases: dict[str, str]) -> None:
    for ch in choices.values():
        if ch.signal != "requests":
            continue
        srcs = [s for k, v in ch.candidate.labels if k == "code" for s in v if s in sdf.columns]
        if not srcs or ch.host:
            ch.no_code = True
            continue
        svc = sdf["service"].map(lambda s: aliases.get(s, s))
        sub = sdf[sdf["metric"].isin(ch.metrics) & (svc == ch.service)]
        ch.no_code = not any(sub[s].notna().any() for s in srcs)


def _buckets(sdf: Any, ch: Any, aliases: dict[str, str]) -> list[str]:
    if "le" not in sdf.columns:
        return []
    svc = sdf["service"].map(lambda s: aliases.get(s, s))
    les = sdf.loc[sdf["metric"].isin([m for m in ch.metrics if m.endswith("_bucket")]) & (svc == ch.service), "le"]
    vals = sorted({str(v) for v in les.dropna()}, key=lambda x: float("inf") if x == "+Inf" else float(x))
    return vals


def _profile(services: list[str], tdf: Any, sdf: Any, client: Any, base: dict[str, Any] | None,
             name: str | None, probe: bool) -> dict[str, Any]:
    """The profile dict: the base profile's services kept, discovered ones added with their port,
    health path, metrics path and replicas, and resources from node_exporter on their host."""
    from urllib.parse import urlsplit

    prof: dict[str, Any] = {k: v for k, v in (base or {}).items() if k != "services"}
    prof.setdefault("name", name or "discovered")
    if name:
        prof["name"] = name
    prof.setdefault("namespace", _slug(prof["name"]))
    prof.setdefault("description", f"Discovered from Prometheus at {client.url}")
    base_services = (base or {}).get("services", {})
    out: dict[str, Any] = {}
    limits = _host_limits(client)
    for svc in services:
        rows = tdf[tdf["service"] == svc]
        job = str(rows["job"].iloc[0])
        known = next((n for n, s in base_services.items() if svc in (n, *(s.get("aliases") or []),
                                                                      *(s.get("match") or {}).values())), None)
        if known:
            entry = dict(base_services[known])
            entry.pop("name", None)
            entry["match"] = {"job": job} if "service" not in set(sdf.columns) else entry.get("match") or {"job": job}
            out[known] = entry
            continue
        url = urlsplit(str(rows["scrape_url"].iloc[0]))
        health = _probe_health(str(rows["scrape_url"].iloc[0])) if probe else None
        host = url.hostname or "127.0.0.1"
        cores, mem = limits.get(host, (None, None))
        entry = {
            "description": f"scrape job {job} ({len(rows)} target{'s' if len(rows) != 1 else ''})",
            "port": url.port or (443 if url.scheme == "https" else 80),
            "health": health or "/healthz",
            "metrics_path": url.path or "/metrics",
            "replicas": len(rows),
            "match": {"job": job},
            "slo": {"availability": DEFAULT_AVAILABILITY},
            "resources": {"cpu": {"request": 0.1, "limit": float(cores or 1)},
                          "memory": {"request": "128Mi", "limit": _mi(mem) if mem else "1Gi"}},
        }
        if health is None and probe:
            entry["description"] += "; no health endpoint answered (/healthz assumed)"
        out[svc] = entry
    prof["services"] = out
    return prof


def _mi(n_bytes: float) -> str:
    return f"{int(n_bytes // 2**20)}Mi"


def _host_limits(client: Any) -> dict[str, tuple[float | None, float | None]]:
    """host -> (CPU cores, memory bytes) from node_exporter, when it is scraped: a process without a
    container limit is limited by its host."""
    from holoops.signalmap import _host

    out: dict[str, list] = {}
    try:
        cpus = client.query('count by (instance) (node_cpu_seconds_total{mode="idle"})')
        mem = client.query("node_memory_MemTotal_bytes")
    except Exception:  # no node_exporter: defaults stay
        return {}
    for df, i in ((cpus, 0), (mem, 1)):
        for r in df.itertuples():
            out.setdefault(_host(r.instance), [None, None])[i] = float(r.value)
    return {h: (v[0], v[1]) for h, v in out.items()}


# --- fleet check --prometheus ------------------------------------------------------------------
def check_selectors(fleet: Any, prometheus: str | Any, *, since: str = "1h") -> list[dict[str, str]]:
    """Every pinned signal selector of ``fleet`` (and each service's ``up``) that matches no series in
    Prometheus: ``[{"service", "signal", "selector"}]`` (empty when all match)."""
    from holoops.signalmap import candidates
    from holoops.sources.prometheus import PrometheusSource
    from holoops.timeutil import parse_time

    client = prometheus if isinstance(prometheus, PrometheusSource) else PrometheusSource(prometheus)
    start, end = parse_time(f"-{since}"), parse_time("now")
    bad = []
    for name, svc in fleet.services.items():
        matchers = ",".join(f'{k}="{_esc(v)}"' for k, v in svc.matchers.items())
        checks = [("up", f"up{{{matchers}}}")]
        for signal, spec in (svc.signals or {}).items():
            if spec == "missing":
                continue
            for cand in candidates(signal, {signal: spec})[: len(spec) if isinstance(spec, list) else 1]:
                body = cand.selector().replace("\\", "\\\\").replace('"', '\\"')
                scope = "" if cand.scope == "host" else "," + matchers
                checks.append((signal, f'{{__name__=~"{body}"{scope}}}'))
        for signal, sel in checks:
            if not len(client.series(sel, start, end)):
                bad.append({"service": name, "signal": signal, "selector": sel})
    return bad
