"""A live Prometheus (plus, optionally, log files) as a source.

The series read are those the signal map names (:func:`holoops.signalmap.prometheus_selectors`), as stored
samples (:meth:`PrometheusSource.raw`), through the on-disk query cache by default: a re-run over a settled
window does not hit Prometheus again, and when Prometheus is unreachable the newest cached copy is used and
the report says how old it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from holoops.sources import Source, register_source


class PrometheusLive(Source):
    name = "prometheus"
    live = True

    def __init__(self, fleet: Any, url: str, *, token: str | None = None, cache: bool = True,
                 logs: Sequence[str] = ()):
        super().__init__(fleet)
        self.url, self._token, self.use_cache, self.logs = url, token, cache, list(logs)

    @cached_property
    def client(self):
        """The :class:`~holoops.sources.prometheus.PrometheusSource` this reads through."""
        from holoops.sources.prometheus import PrometheusSource

        auth = None
        if self._token:  # a token given as a parameter; otherwise auth comes from env/config
            from holoops.sources.auth import PromAuth, Secret

            auth = PromAuth(token=Secret(self._token))
        return PrometheusSource(self.url, auth=auth, cache=True if self.use_cache else None, allow_stale=True)

    def read(self, window, services: Sequence[str] | None = None, engine: str = "pandas"):
        import pandas as pd

        from holoops.signalmap import prometheus_selectors
        from holoops.sources._assemble import assemble
        from holoops.sources.logfiles import read_logs

        parts, stale = [], None
        for sel in prometheus_selectors(self.fleet):
            df = self.client.raw(sel, window.start, window.end)
            info = self.client.last_cache_info
            if info is not None and info.stale:
                stale = max(stale or 0.0, info.age_s)
            if len(df):
                parts.append(df)
        metrics = pd.concat(parts, ignore_index=True) if parts else None
        notes, origin, logs = [], {}, None
        if self.logs:
            logs, notes, origin = read_logs(self.logs, self.fleet, metrics)
        return assemble({"metrics": metrics, "logs": logs}, window, self.fleet, source=self.name,
                        engine=engine, services=services, notes=notes, stale_s=stale, log_origin=origin,
                        meta={"prometheus": self.client.url})

    def describe(self) -> str:
        return f"Prometheus at {self.client.url}"


@register_source("prometheus")
def _prometheus(params: Any, fleet: Any) -> PrometheusLive:
    return PrometheusLive(fleet, params.prometheus_url, token=params.prometheus_token, cache=params.cache,
                          logs=params.logs or ())
