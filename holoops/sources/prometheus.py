"""Live Prometheus as a source of canonical metrics frames.

:class:`PrometheusSource` wraps ``prometheus_api_client.PrometheusConnect`` and adds what an incident
notebook needs: a timeout on every call (connect, read and a whole-response deadline), retries with
exponential backoff and jitter on connection errors, timeouts, HTTP 5xx and 429 (never on a 4xx bad
query, which raises :class:`~holoops.errors.PrometheusError` with Prometheus's message and the query),
raw samples at their own timestamps (:meth:`PrometheusSource.raw`, range vectors in 6-hour pieces: what
the analyses need, since a range query's step grid repeats samples), range queries with a step that
keeps every request under Prometheus's 11,000 points per series (long ranges are split into chunks and
joined without duplicated boundary points), an optional Parquet cache with stale fallback, and safe
PromQL building from user input (:func:`promql_selector`).
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from holoops import timeutil
from holoops.errors import PrometheusError
from holoops.sources.auth import PromAuth, load_auth, redact, strip_url_credentials

_log = logging.getLogger(__name__)

#: Prometheus rejects a range query when (end - start) / step > 11,000; we stay at <= 11,000 points
MAX_POINTS = 11_000
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RE2_SPECIAL = set("\\.+*?()|[]{}^$")
_BASE_COLUMNS = ("ts", "metric", "service", "instance", "value")

TimeLike = datetime | str | float | int


# ---------------------------------------------------------------- PromQL building (user input safe)
def escape_label_value(value: Any) -> str:
    """Escape a value for a double-quoted PromQL string: backslash, quote, newline (and CR/tab)."""
    s = str(value)
    return (s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            .replace("\r", "\\r").replace("\t", "\\t"))


def escape_regex(value: Any) -> str:
    """Make ``value`` match literally inside an RE2 regex (Prometheus ``=~``/``!~``)."""
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in str(value))


@dataclass(frozen=True)
class Matcher:
    """A label matcher. ``op`` is ``=``, ``!=``, ``=~`` or ``!~``. With ``literal=True`` (default) a
    regex value is escaped so it matches only itself; pass ``literal=False`` for a trusted regex."""

    op: str
    value: str
    literal: bool = True

    def render(self, label: str) -> str:
        if self.op not in ("=", "!=", "=~", "!~"):
            raise ValueError(f"label {label!r}: unknown matcher operator {self.op!r}")
        v = escape_regex(self.value) if (self.op in ("=~", "!~") and self.literal) else str(self.value)
        return f'{label}{self.op}"{escape_label_value(v)}"'


def promql_selector(metric: str | None = None, /, **labels: Any) -> str:
    """``metric{label="value",...}`` with every value escaped.

    A value may be a string (``=``), a list/tuple/set of strings (``=~`` alternation of the literal
    values), ``None`` (skipped) or a :class:`Matcher`. Metric and label names are validated.
    """
    parts = []
    for label, v in labels.items():
        if not _LABEL_NAME.match(label):
            raise ValueError(f"not a valid Prometheus label name: {label!r}")
        if v is None:
            continue
        if isinstance(v, Matcher):
            parts.append(v.render(label))
        elif isinstance(v, (list, tuple, set, frozenset)):
            alts = sorted({str(x) for x in v})
            if not alts:
                raise ValueError(f"label {label!r}: empty list of values matches nothing")
            parts.append(Matcher("=~", "|".join(escape_regex(a) for a in alts), literal=False).render(label))
        else:
            parts.append(Matcher("=", str(v)).render(label))
    if metric is not None and not _METRIC_NAME.match(metric):
        raise ValueError(f"not a valid Prometheus metric name: {metric!r}")
    if metric is None and not parts:
        raise ValueError("a selector needs a metric name or at least one label matcher")
    body = "{" + ",".join(parts) + "}" if parts else ""
    return f"{metric or ''}{body}"


# ---------------------------------------------------------------- time and step helpers
def to_epoch(t: TimeLike | None, *, default: float | None = None) -> float:
    """Seconds since the epoch of a time :func:`holoops.timeutil.parse_time` accepts (ISO, ``now``,
    ``-6h``, epoch, datetime; naive = UTC); ``default`` when ``t`` is None."""
    if t is None:
        if default is None:
            raise ValueError("a time is required")
        return default
    if isinstance(t, bool):
        raise TypeError("a time cannot be a bool")
    return timeutil.to_epoch(t)


def to_seconds(step: str | float | int | timedelta) -> float:
    """A step/duration as seconds (:func:`holoops.timeutil.parse_duration`)."""
    return timeutil.parse_duration(step)


def choose_step(start: float, end: float, min_step: float = 15.0, max_points: int = MAX_POINTS) -> int:
    """The smallest whole-second step >= ``min_step`` that keeps ``[start, end]`` within ``max_points``."""
    span = max(0.0, end - start)
    need = span / (max_points - 1) if max_points > 1 else span
    return max(1, int(math.ceil(max(min_step, need))))


def plan_chunks(start: float, end: float, step: float, max_points: int = MAX_POINTS) -> list[tuple[float, float]]:
    """Split ``[start, end]`` on the ``start + k*step`` grid into windows of <= ``max_points`` points.

    Windows share no grid point, so concatenating their results never duplicates a sample.
    """
    if step <= 0:
        raise ValueError("step must be positive")
    if end < start:
        raise ValueError("end must not be before start")
    n = int(math.floor((end - start) / step + 1e-9))  # last grid index
    chunks = []
    k = 0
    while k <= n:
        last = min(n, k + max_points - 1)
        chunks.append((start + k * step, start + last * step))
        k = last + 1
    return chunks


def _window(start: TimeLike, end: TimeLike) -> tuple[float, float]:
    """``(start, end)`` as epoch seconds; ValueError when end is before start."""
    t0, t1 = to_epoch(start), to_epoch(end)
    if t1 < t0:
        raise ValueError(f"end ({_dt(t1).isoformat()}) is before start ({_dt(t0).isoformat()})")
    return t0, t1


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


# ---------------------------------------------------------------- frames
def _empty_metrics():
    import pandas as pd

    return pd.DataFrame({
        "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
        "metric": pd.Series([], dtype=object), "service": pd.Series([], dtype=object),
        "instance": pd.Series([], dtype=object), "value": pd.Series([], dtype="float64"),
    })


def series_to_frame(series: Iterable[tuple[Mapping[str, str], Sequence[tuple[float, float]]]],
                    name: str | None = None):
    """Canonical pandas metrics frame from ``(labels, [(ts, value), ...])`` pairs.

    ``metric`` is ``__name__`` (else ``name``), ``service`` the ``service`` label (else ``job``);
    every other label becomes a column (null where a series lacks it).
    """
    import numpy as np
    import pandas as pd

    series = list(series)
    if not series:
        return _empty_metrics()
    extra: list[str] = []
    seen = set(_BASE_COLUMNS) | {"__name__"}
    for labels, _ in series:
        for k in labels:
            if k not in seen:
                seen.add(k)
                extra.append(k)
    extra.sort()
    cols: dict[str, list] = {c: [] for c in ("metric", "service", "instance", *extra)}
    ts_parts, val_parts = [], []
    for labels, points in series:
        n = len(points)
        if not n:
            continue
        arr = np.asarray(points, dtype="float64").reshape(n, 2)
        ts_parts.append(arr[:, 0])
        val_parts.append(arr[:, 1])
        cols["metric"].extend([labels.get("__name__", name)] * n)
        cols["service"].extend([labels.get("service", labels.get("job"))] * n)
        cols["instance"].extend([labels.get("instance")] * n)
        for k in extra:
            cols[k].extend([labels.get(k)] * n)
    if not ts_parts:
        return _empty_metrics()
    ts_ms = np.rint(np.concatenate(ts_parts) * 1000.0).astype("int64")
    out = {"ts": pd.to_datetime(ts_ms, unit="ms", utc=True).as_unit("ns")}
    out["metric"] = cols.pop("metric")
    out["service"] = cols.pop("service")
    out["instance"] = cols.pop("instance")
    out["value"] = np.concatenate(val_parts)
    out.update(cols)
    return pd.DataFrame(out)


def _parse_points(raw: Sequence[Sequence[Any]]) -> list[tuple[float, float]]:
    return [(float(t), float(v)) for t, v in raw]


# ---------------------------------------------------------------- the source
class _CallState(threading.local):
    deadline: float | None = None
    response: Any = None


_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class PrometheusSource:
    """Query a live Prometheus into canonical metrics frames (pandas by default; ``engine=``).

    ``timeout`` bounds each attempt (connect, read, and the whole response); ``retries`` extra attempts
    follow connection errors, timeouts, 5xx and 429 with ``backoff * 2**n`` (+ jitter, capped at
    ``max_backoff``) between them. So a call ends within about
    ``(retries + 1) * timeout + sum(backoffs)`` seconds, whatever the server does.
    ``auth=None`` reads credentials from the environment/config file (:func:`load_auth`); pass
    ``auth=False`` for none.
    """

    def __init__(self, url: str | None = None, *, auth: PromAuth | bool | None = None,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.5, max_backoff: float = 8.0,
                 cache: Any = None, allow_stale: bool = False, min_step: float = 15.0,
                 max_points: int = MAX_POINTS, fresh_window: float = 300.0, config: str | None = None,
                 raw_chunk_s: float = 6 * 3600.0):
        if auth is None:
            auth = load_auth(config)
        elif auth is False:
            auth = PromAuth()
        url = url or auth.url
        if not url:
            raise PrometheusError("no Prometheus URL: pass url= or set HOLOOPS_PROM_URL / 'url' in the config")
        url, user, password = strip_url_credentials(url.rstrip("/"))
        if user and not auth.user and not auth.token:
            auth = PromAuth(user=user, password=password, ca=auth.ca, cert=auth.cert, key=auth.key,
                            insecure=auth.insecure)
        if not 1 < max_points <= MAX_POINTS:
            raise ValueError(f"max_points must be in 2..{MAX_POINTS}")
        self.url = url
        self.auth = auth
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.min_step = float(min_step)
        self.max_points = int(max_points)
        if raw_chunk_s <= 0:
            raise ValueError("raw_chunk_s must be positive")
        self.raw_chunk_s = float(raw_chunk_s)  # one raw request's span (samples per series ~ span / scrape)
        self.fresh_window = float(fresh_window)
        self.allow_stale = allow_stale
        if cache is True:
            from holoops.sources.cache import QueryCache

            cache = QueryCache()
        elif isinstance(cache, (str,)) or hasattr(cache, "__fspath__"):
            from holoops.sources.cache import QueryCache

            cache = QueryCache(cache)
        self.cache = cache or None
        self.last_cache_info = None
        self.requests_sent = 0
        self._state = _CallState()
        self._client = None

    def __repr__(self) -> str:
        return f"PrometheusSource({self.url!r}, auth={self.auth.kind}, timeout={self.timeout:g})"

    # -- plumbing
    @property
    def client(self):
        """The underlying ``PrometheusConnect`` (its own retries off: this class retries)."""
        if self._client is None:
            import requests
            from prometheus_api_client import PrometheusConnect
            from urllib3.util.retry import Retry

            session = requests.Session()
            self.auth.apply(session)
            session.hooks["response"].append(self._on_response)
            self._client = PrometheusConnect(
                url=self.url, session=session, auth=self.auth.requests_auth(),
                retry=Retry(total=0, read=False, redirect=3, status_forcelist=()),
                timeout=(min(self.timeout, 5.0), self.timeout),
            )
        return self._client

    def close(self) -> None:
        """Close the HTTP session."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_response(self, r, *args, **kwargs):
        """Read the body under the per-attempt deadline (a trickling server cannot stall us)."""
        import requests

        self._state.response = r
        deadline = self._state.deadline
        chunks = []
        try:
            read1 = getattr(r.raw, "read1", None)  # one socket read per call: the deadline is checked often
            while True:
                chunk = read1(65536, decode_content=True) if read1 else r.raw.read(65536, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                if deadline is not None and time.monotonic() > deadline:
                    r.close()
                    raise requests.exceptions.ReadTimeout(f"response body not complete within {self.timeout:g}s")
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            raise
        except Exception as exc:  # urllib3 read errors -> a retryable connection error
            r.close()
            raise requests.exceptions.ConnectionError(f"reading the response failed: {type(exc).__name__}") from None
        r._content = b"".join(chunks)
        r._content_consumed = True
        return r

    def _sleep_for(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * (2 ** attempt))
        return base + random.uniform(0, base / 2)

    def _call(self, what: str, query: str, fn):
        """Run ``fn()`` with deadline, retries and error translation."""
        import requests
        from prometheus_api_client import PrometheusApiClientException

        last_err = ""
        for attempt in range(self.retries + 1):
            self._state.deadline = time.monotonic() + self.timeout
            self._state.response = None
            self.requests_sent += 1
            try:
                return fn()
            except PrometheusApiClientException:
                resp = self._state.response
                status = getattr(resp, "status_code", None)
                message = _error_message(resp)
                if status not in _RETRY_STATUS:
                    raise PrometheusError(redact(
                        f"Prometheus {self.url} rejected {what} (HTTP {status}): {message}; query: {query}")) from None
                last_err = f"HTTP {status}: {message}"
            except requests.exceptions.Timeout:
                last_err = f"no answer within {self.timeout:g}s"
            except (ValueError, KeyError, TypeError) as exc:  # 200 but not a Prometheus API body (bad JSON)
                raise PrometheusError(redact(
                    f"Prometheus {self.url} sent an unreadable answer to {what} ({type(exc).__name__}); "
                    f"query: {query}")) from None
            except requests.exceptions.RequestException as exc:
                last_err = f"cannot connect ({_short(exc)})"
            finally:
                self._state.deadline = None
            if attempt < self.retries:
                pause = self._sleep_for(attempt)
                _log.info("%s", redact(f"{what} to {self.url} failed ({last_err}); retry {attempt + 1}/"
                                       f"{self.retries} in {pause:.2f}s"))
                time.sleep(pause)
        err = PrometheusError(redact(f"Prometheus {self.url} failed {what} after {self.retries + 1} attempt(s): "
                                     f"{last_err}; query: {query}"))
        err.unreachable = True  # type: ignore[attr-defined]  # (a rejected query is not)
        raise err

    # -- queries
    def query_range(self, promql: str, start: TimeLike, end: TimeLike, step: str | float | timedelta | None = None,
                    *, engine: str = "pandas", name: str | None = None, use_cache: bool = True,
                    allow_stale: bool | None = None):
        """Range query as a metrics frame. ``step=None`` picks the finest step >= ``min_step`` that
        fits one request; an explicit step is honoured and long ranges are split into chunks."""
        t0, t1 = _window(start, end)
        step_s = (choose_step(t0, t1, self.min_step, self.max_points) if step is None
                  else max(1, int(math.ceil(to_seconds(step)))))
        t0 = float(math.floor(t0))  # the client sends whole seconds; keep the grid exact
        df = self._cached(promql, t0, t1, step_s, use_cache, allow_stale,
                          lambda: self._fetch_range(promql, t0, t1, step_s, name))
        return _engine(df, engine)

    def _fetch_range(self, promql: str, t0: float, t1: float, step_s: int, name: str | None):
        merged: dict[tuple, dict[float, float]] = {}
        labels_of: dict[tuple, dict] = {}
        for c0, c1 in plan_chunks(t0, t1, step_s, self.max_points):
            result = self._call("query_range", promql, lambda c0=c0, c1=c1: self.client.custom_query_range(
                promql, start_time=_dt(c0), end_time=_dt(c1), step=str(step_s),
                params={"timeout": f"{self.timeout:g}s"}))
            _merge_points(result, merged, labels_of)
        return series_to_frame(((labels_of[k], sorted(p.items())) for k, p in merged.items()),
                               name=name or promql)

    def query(self, promql: str, at: TimeLike | None = None, *, engine: str = "pandas", name: str | None = None):
        """Instant query (at ``at``, default now) as a metrics frame."""
        params = {"timeout": f"{self.timeout:g}s"}
        if at is not None:
            params["time"] = f"{to_epoch(at):.3f}"
        result = self._call("query", promql, lambda: self.client.custom_query(promql, params=dict(params)))
        if (isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict)):
            series = [({}, [(float(result[0]), float(result[1]))])]  # scalar
        else:
            series = []
            for item in result or []:
                if "values" in item:
                    series.append((item.get("metric", {}), _parse_points(item["values"])))
                elif "value" in item:
                    series.append((item.get("metric", {}), _parse_points([item["value"]])))
        return _engine(series_to_frame(series, name=name or promql), engine)

    def series(self, match: str | Sequence[str], start: TimeLike | None = None, end: TimeLike | None = None,
               *, engine: str = "pandas"):
        """Label sets of the series matching ``match`` (one row each; no ``ts``/``value`` data)."""
        import pandas as pd

        matches = [match] if isinstance(match, str) else list(match)
        t1 = to_epoch(end, default=time.time())
        t0 = to_epoch(start, default=t1 - 86400.0)
        result = self._call("series", " ".join(matches), lambda: self.client.get_series(
            _dt(t0), _dt(t1), params={"match[]": matches}))
        rows = []
        for labels in result or []:
            row = {"metric": labels.get("__name__"), "service": labels.get("service", labels.get("job")),
                   "instance": labels.get("instance")}
            row.update({k: v for k, v in labels.items() if k not in ("__name__", "service", "instance")})
            rows.append(row)
        df = pd.DataFrame(rows, columns=None if rows else ["metric", "service", "instance"])
        return _engine(df, engine)

    def targets(self, state: str | None = "active") -> dict[str, Any]:
        """``/api/v1/targets`` data: ``{"activeTargets": [...], "droppedTargets": [...]}``."""
        return self._call("targets", f"state={state}", lambda: self.client.get_targets(state=state))

    def raw(self, selector: str, start: TimeLike, end: TimeLike, *, engine: str = "pandas",
            name: str | None = None, use_cache: bool = True, allow_stale: bool | None = None):
        """The stored samples of ``selector`` in ``[start, end]``, at their own timestamps.

        A range query resamples onto its step grid (each point repeats the last sample seen within the
        lookback), which is not the data: counters then look flat and jump, and rates computed from
        them are wrong wherever step and scrape interval differ. This asks for range vectors instead
        (``selector[6h]`` evaluated at the end of each 6-hour piece, newest first), which return every
        stored sample once; pieces overlap by a second and samples are keyed by timestamp, so a
        boundary sample is kept once whichever way the server closes the range.
        """
        t0, t1 = _window(start, end)
        df = self._cached(selector, t0, t1, 0, use_cache, allow_stale,
                          lambda: self._fetch_raw(selector, t0, t1, name))
        return _engine(df, engine)

    def _fetch_raw(self, selector: str, t0: float, t1: float, name: str | None):
        merged: dict[tuple, dict[float, float]] = {}
        labels_of: dict[tuple, dict] = {}
        at = t1
        while True:
            span = min(self.raw_chunk_s, at - t0) + 1.0
            query = f"{selector}[{int(math.ceil(span))}s]"
            params = {"timeout": f"{self.timeout:g}s", "time": f"{at:.3f}"}
            result = self._call("query", query, lambda q=query, p=params: self.client.custom_query(q, params=p))
            _merge_points(result, merged, labels_of, (t0, t1))
            if at - self.raw_chunk_s <= t0:
                break
            at -= self.raw_chunk_s
        return series_to_frame(((labels_of[k], sorted(p.items())) for k, p in merged.items() if p),
                               name=name or selector)

    def metrics(self, names: str | Sequence[str], start: TimeLike, end: TimeLike,
                step: str | float | timedelta | None = None, *, engine: str = "pandas", **labels: Any):
        """Each metric name's series (with optional label matchers) over a window, one frame: the stored
        samples (:meth:`raw`), or resampled onto ``step`` when one is given (:meth:`query_range`)."""
        import pandas as pd

        names = [names] if isinstance(names, str) else list(names)
        frames = [self.raw(promql_selector(n, **labels), start, end) if step is None
                  else self.query_range(promql_selector(n, **labels), start, end, step) for n in names]
        frames = [f for f in frames if len(f)]
        df = pd.concat(frames, ignore_index=True) if frames else _empty_metrics()
        return _engine(df, engine)

    def ready(self) -> bool:
        """True when ``/-/ready`` answers 200 within the timeout (one attempt, no retries)."""
        import requests

        try:
            r = self.client._session.get(f"{self.url}/-/ready", timeout=(min(self.timeout, 5.0), self.timeout),
                                         auth=self.client.auth)
            return r.status_code == 200
        except requests.exceptions.RequestException:
            return False

    # -- cache
    def _cached(self, promql, t0, t1, step_s, use_cache, allow_stale, fetch):
        from holoops.sources.cache import cache_key

        self.last_cache_info = None
        if self.cache is None or not use_cache:
            return fetch()
        key = cache_key(self.url, promql, t0, t1, step_s)
        settled = t1 < time.time() - self.fresh_window  # recent windows may still change: refetch
        if settled:
            hit = self.cache.get(key)
            if hit is not None:
                self.last_cache_info = hit[1]
                return hit[0]
        try:
            df = fetch()
        except PrometheusError as exc:
            stale_ok = self.allow_stale if allow_stale is None else allow_stale
            if stale_ok and getattr(exc, "unreachable", False):
                hit = self.cache.get(key, stale=True)
                if hit is None and t1 >= time.time() - self.fresh_window:
                    # a window ending now (``-6h``..``now``) never repeats exactly: the newest copy of the
                    # query is the one to fall back to, and the report says how old it is
                    hit = self.cache.latest(self.url, promql)
                if hit is not None:
                    _log.warning("%s", redact(f"Prometheus unreachable; serving cached data "
                                              f"{hit[1].age_s:.0f}s old ({exc})"))
                    self.last_cache_info = hit[1]
                    return hit[0]
            raise
        meta = {"url": self.url, "query": promql, "start": _dt(t0).isoformat(), "end": _dt(t1).isoformat(),
                "step_s": step_s}
        info = self.cache.put(key, df, meta)
        df.attrs["cache"] = info
        self.last_cache_info = info
        return df


def _merge_points(result: Any, merged: dict[tuple, dict[float, float]], labels_of: dict[tuple, dict],
                  within: tuple[float, float] | None = None) -> None:
    """Add a matrix result's points to ``merged`` (series key -> {timestamp: value}); a point seen twice
    (a chunk boundary) is kept once. ``within``: keep only timestamps in that closed interval."""
    for item in result or []:
        labels = item.get("metric", {})
        key = tuple(sorted(labels.items()))
        labels_of[key] = labels
        pts = merged.setdefault(key, {})
        for t, v in _parse_points(item.get("values", [])):
            if within is None or within[0] <= t <= within[1]:
                pts[t] = v


def _engine(df, engine: str):
    if engine in (None, "pandas"):
        return df
    from holoops.frames import to_engine

    return to_engine(df, engine)


def _short(exc: BaseException) -> str:
    text = str(exc)
    for reason in ("Connection refused", "Connection reset", "timed out", "Name or service not known",
                   "RemoteDisconnected", "Connection aborted", "SSL", "Max retries exceeded"):
        if reason in text:
            return reason
    return type(exc).__name__


def _error_message(resp) -> str:
    """Prometheus's own ``error`` text from a failed response (else a short body excerpt)."""
    if resp is None:
        return "no response"
    try:
        body = resp.json()
        if isinstance(body, dict) and body.get("error"):
            kind = body.get("errorType")
            return f"{kind}: {body['error']}" if kind else str(body["error"])
    except Exception:
        pass
    text = (resp.text or "").strip().replace("\n", " ")
    return text[:300] or (resp.reason or "")
