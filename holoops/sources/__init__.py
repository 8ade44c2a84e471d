"""Where data comes from: one registry of sources, each reading a window into a :class:`~holoops.dataset.Dataset`.

>>> from holoops.sources import open_source                                  # doctest: +SKIP
>>> src = open_source(params)            # demo | exports | prometheus, by params.source
>>> window = params.resolve_window(*src.extent())
>>> ds = src.read(window, services=None, engine="polars")

A source is registered by name (:func:`register_source`); notebooks, reports and runbooks never branch on
the source's name. Add one by subclassing :class:`Source` and registering its factory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from holoops.dataset import Dataset
    from holoops.timeutil import Window

#: source name -> factory(params, fleet) -> Source
SOURCES: dict[str, Callable[[Any, Any], Source]] = {}


class Source:
    """Reads windows of one fleet's data. Subclasses set ``name`` and implement :meth:`read`."""

    name = "source"
    #: whether this source can show live state (health probes, scrape targets)
    live = False

    def __init__(self, fleet: Any):
        self.fleet = fleet

    def extent(self) -> tuple[Any, Any]:
        """(first, last) time the source holds; (None, None) when it is live (ends now)."""
        return None, None

    @property
    def truth(self) -> list[dict[str, Any]] | None:
        """Labelled incidents, where the source has ground truth (the demo fleet)."""
        return None

    def read(self, window: Window, services: Sequence[str] | None = None, engine: str = "pandas") -> Dataset:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


def register_source(name: str) -> Callable[[Callable[[Any, Any], Source]], Callable[[Any, Any], Source]]:
    """Decorator: register a factory ``(params, fleet) -> Source`` under ``name``."""

    def deco(factory: Callable[[Any, Any], Source]) -> Callable[[Any, Any], Source]:
        SOURCES[name] = factory
        return factory

    return deco


def _builtin() -> None:
    """Import the built-in sources (each registers itself) on first use: imports stay lazy."""
    import holoops.sources.demo  # noqa: F401
    import holoops.sources.folder  # noqa: F401
    import holoops.sources.live  # noqa: F401


def source_names() -> list[str]:
    """The registered source names (built-ins first)."""
    _builtin()
    return list(SOURCES)


def open_source(params: Any, fleet: Any = None) -> Source:
    """The source ``params.source`` names, for ``fleet`` (default: ``params.load_fleet()``)."""
    from holoops.errors import ParameterError

    _builtin()
    fleet = fleet if fleet is not None else params.load_fleet()
    try:
        factory = SOURCES[params.source]
    except KeyError:
        raise ParameterError(f"parameter 'source': unknown source {params.source!r}; known: "
                             f"{', '.join(sorted(SOURCES))}") from None
    return factory(params, fleet)


def load_dataset(params: Any, *, engine: str = "pandas", fleet: Any = None, source: Source | None = None,
                 window: Window | None = None, services: Sequence[str] | None = None) -> Dataset:
    """Open the source, resolve the window once (``params``' start/end/window against the data's extent)
    and read it. ``services`` defaults to ``params.service`` (all when ``all``)."""
    src = source or open_source(params, fleet)
    if window is None:
        first, last = src.extent()
        window = params.resolve_window(data_end=last, data_start=first)
    if services is None and getattr(params, "service", "all") != "all":
        services = [params.service]
    return src.read(window, services=services, engine=engine)
