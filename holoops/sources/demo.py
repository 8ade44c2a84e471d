"""The embedded demo fleet as a source (simulated once per arguments, cached on disk)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from holoops.sources import Source, register_source


class DemoSource(Source):
    """The simulated fleet of ``holoops.demo`` with its labelled incidents."""

    name = "demo"

    def __init__(self, fleet: Any, *, days: int = 7, seed: int = 7, profile: str | None = None):
        super().__init__(fleet)
        self.days, self.seed, self.profile = days, seed, profile

    @cached_property
    def fleet_data(self):
        """The simulated fleet as pandas frames (its window, truth and metadata)."""
        return self.frames_in("pandas")

    def frames_in(self, engine: str):
        """The simulated fleet in ``engine`` (pandas or polars, read from the cache directly: no conversion)."""
        from holoops.demo import cached_simulate

        cache = self.__dict__.setdefault("_by_engine", {})
        if engine not in cache:
            cache[engine] = cached_simulate(engine if engine in ("pandas", "polars") else "pandas",
                                            days=self.days, seed=self.seed, fleet=self.profile)
        return cache[engine]

    def extent(self) -> tuple[Any, Any]:
        a, b = self.fleet_data.window
        return a, b

    @property
    def truth(self) -> list[dict[str, Any]]:
        return list(self.fleet_data.truth)

    def read(self, window, services: Sequence[str] | None = None, engine: str = "pandas"):
        from holoops.frames import resolve_engine
        from holoops.sources._assemble import assemble

        d = self.frames_in(resolve_engine(engine)) if type(self).fleet_data is DemoSource.fleet_data \
            else self.fleet_data  # a subclass that rewrites fleet_data (tests) keeps its frames
        return assemble({"metrics": d.metrics, "logs": d.logs, "spans": d.spans, "events": d.events}, window,
                        self.fleet, source=self.name, engine=engine, services=services, truth=self.truth,
                        meta=dict(d.meta))

    def describe(self) -> str:
        return f"demo fleet ({self.days} days, seed {self.seed})"


@register_source("demo")
def _demo(params: Any, fleet: Any) -> DemoSource:
    return DemoSource(fleet, days=params.demo_days, seed=params.demo_seed, profile=params.fleet)
