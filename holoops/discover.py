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
    #: (service, signal, description) of candidates present but not chosen (another one came first)
    also: list[tuple[str, str, str]] = field(default_factory=list)

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
        if ch.no_code and "labels" in spec:  # pin only the labels the series carry
            spec["labels"] = {k: v for k, v in spec["labels"].items() if k != "code"} or None
            if spec["labels"] is None:
                del spec["labels"]
        own = _own_match(sdf, ch, aliases, profile["services"][svc].get("match") or {})
        if own:
            spec["match"] = own
        if ch.candidate.kind == "histogram":
            buckets = _buckets(sdf, ch, aliases)
            if buckets:
                spec["buckets"] = buckets
        profile["services"][svc].setdefault("signals", {})[signal] = spec
    found = _also_found(pairs, fleet, choices, labelled)
    for svc, signal, text in found:
        notes.append(f"{svc}: {signal} also exported as {text} (not used: the first candidate wins)")
    for svc in profile["services"]:
        for signal in signalmap.signal_names():  # pinned as missing: rules and checks never guess a name
            profile["services"][svc].setdefault("signals", {}).setdefault(signal, "missing")
        missing = coverage.missing(svc)
        if missing:
            notes.append(f"{svc}: no {', '.join(missing)} signal")
    _parse(profile)  # the written profile must load
    return Discovery(profile, coverage, tdf, notes, choices, found)


def _also_found(pairs: set, fleet: Any, choices: dict, labelled: dict) -> list[tuple[str, str, str]]:
    from holoops.signalmap import candidates, signal_names

    by_service: dict[str, set[str]] = {}
    for m, s in pairs:
        by_service.setdefault(str(s), set()).add(str(m))
    out = []
    for name in fleet.services:
        own = by_service.get(name, set())
        for signal in signal_names():
            chosen = choices.get((name, signal))
            for cand in candidates(signal):
                hit = sorted(set(cand.present(own, labelled)) - set(chosen.metrics if chosen else ()))
                if hit:
                    out.append((name, signal, cand.describe(hit)))
    return out


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


def _own_match(sdf: Any, ch: Any, aliases: dict[str, str], service_match: dict[str, str]) -> dict[str, str]:
    """Matchers for a signal whose series do not carry the service's own (a sidecar exporter scraped under
    its own job, labelling its series ``service="x"``): ``{service: x}``; empty when the service's do."""
    if ch.host or not service_match or "job" not in sdf.columns:
        return {}
    svc = sdf["service"].map(lambda s: aliases.get(s, s))
    sub = sdf[sdf["metric"].isin(ch.metrics) & (svc == ch.service)]
    if not len(sub) or all(str(sub.get(k, "").iloc[0]) == v if k in sub.columns else False
                           for k, v in service_match.items()):
        return {}
    labels = sub["service"].dropna().astype(str).unique().tolist()
    return {"service": labels[0]} if len(labels) == 1 else {}


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
                own = ",".join(f'{k}="{_esc(v)}"' for k, v in cand.match) if cand.match else matchers
                scope = "" if cand.scope == "host" else "," + own
                checks.append((signal, f'{{__name__=~"{body}"{scope}}}'))
        for signal, sel in checks:
            if not len(client.series(sel, start, end)):
                bad.append({"service": name, "signal": signal, "selector": sel})
    return bad


# --- a fleet profile from an export folder -----------------------------------------------------------
def discover_exports(folder: str | Path, *, name: str | None = None, read: Any = None,
                     availability: float = DEFAULT_AVAILABILITY) -> Discovery:
    """A fleet profile for a folder of exported files (metrics, logs, traces; see
    :func:`holoops.sources.exports.read_folder`), as a :class:`Discovery` (``.profile``, ``.fleet``,
    ``.write(path)``).

    Services are every service the data names (metrics, spans, logs); ``depends_on`` is every
    (caller, callee) service pair of a span and its parent span in another service; each service gets the
    default SLO (availability ``availability``, no latency objective) and default resources: edit them to
    your objectives and limits. ``read``: the folder already read (an ``ExportFolder``), to read it once."""
    import polars as pl

    from holoops.sources.exports import read_folder

    root = Path(folder)
    data = read if read is not None else read_folder(root, engine="polars")

    def frame(kind: str) -> Any:
        df = data[kind]
        return df if isinstance(df, pl.DataFrame) else pl.from_pandas(df)

    services: dict[str, int] = {}
    for kind in ("spans", "logs", "metrics"):
        df = frame(kind)
        if df is None or not len(df) or "service" not in df.columns:
            continue
        counts = df.select(pl.col("service").cast(pl.Utf8)).drop_nulls().group_by("service").len()
        for svc, n in counts.iter_rows():
            if svc:
                services[svc] = services.get(svc, 0) + int(n)
    if not services:
        from holoops.errors import InputFileError

        raise InputFileError(root, "exports naming at least one service", "no service column with values")
    deps: dict[str, set[str]] = {}
    spans = frame("spans")
    if spans is not None and len(spans) and {"span_id", "parent_id", "service"} <= set(spans.columns):
        s = spans.select(pl.col("span_id").cast(pl.Utf8), pl.col("parent_id").cast(pl.Utf8),
                         pl.col("service").cast(pl.Utf8))
        parents = s.select(pl.col("span_id").alias("parent_id"), pl.col("service").alias("caller")).unique("parent_id")
        pairs = (s.join(parents, on="parent_id", how="inner")
                 .filter(pl.col("caller") != pl.col("service")).select("caller", "service").unique())
        for caller, callee in pairs.iter_rows():
            deps.setdefault(caller, set()).add(callee)
    title = name or root.resolve().name or "exports"
    out: dict[str, Any] = {}
    for svc in sorted(services):
        out[svc] = {
            "description": f"found in the exports of {root}",
            "port": 8080,
            "health": "/healthz",
            "depends_on": sorted(deps.get(svc, set()) & set(services)),
            "slo": {"availability": availability},
            "resources": {"cpu": {"request": 0.1, "limit": 1.0},
                          "memory": {"request": "128Mi", "limit": "1Gi"}},
        }
    profile = {"name": title, "namespace": _slug(title),
               "description": f"Discovered from the exports in {root}: services from the data, dependencies "
                              "from the traces' caller/callee pairs; SLOs and limits are defaults.",
               "services": out}
    fleet = _parse(profile)
    notes = [f"{len(out)} services, {sum(len(v) for v in deps.values())} caller->callee dependencies from spans"]
    if not deps:
        notes.append("no traces with parent spans in another service: no dependencies (depends_on empty)")
    from holoops import signalmap

    metrics = frame("metrics")
    pairs = set()
    if metrics is not None and len(metrics):
        pairs = set(metrics.select(pl.col("metric").cast(pl.Utf8), pl.col("service").cast(pl.Utf8))
                    .unique().iter_rows())
    choices = signalmap.choose(pairs, fleet) if pairs else {}
    coverage = signalmap.coverage_of(choices, fleet, {})
    return Discovery(profile, coverage, None, notes, choices)
