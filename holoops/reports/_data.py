"""The data every report works on: ``dataset(hx)`` -> :class:`~holoops.dataset.Dataset`.

The source the parameters name is opened once (``hx.source``) and read once over the resolved window and
service, in the notebook's engine; :func:`memo` caches any derived result the same way (keyed on the
parameters, so a changed widget value recomputes), so a notebook never computes the same analysis twice.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from holoops.dataset import Dataset

_CACHE_ATTR = "_holoops_report_cache"


def quiet_warnings() -> None:
    """Library FutureWarnings/DeprecationWarnings are noise in a report; real errors still raise."""
    for cat in (FutureWarning, DeprecationWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=cat)
    warnings.filterwarnings("ignore", message=".*(DataFrameGroupBy.apply|observed=False|Downcasting).*")


def _store(hx: Any) -> dict[str, Any]:
    key = hx.params.model_dump_json()
    store = getattr(hx, _CACHE_ATTR, None)
    if store is None or store.get("__key__") != key:
        store = {"__key__": key}
        setattr(hx, _CACHE_ATTR, store)
    return store


def memo(hx: Any, name: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per notebook run (and per parameter set), cached on ``hx`` under ``name``."""
    store = _store(hx)
    if name not in store:
        store[name] = compute()
    return store[name]


def dataset(hx: Any) -> Dataset:
    """The data of ``hx.params``' source over its window and service (read once per parameters)."""
    from holoops.sources import load_dataset

    def load() -> Dataset:
        quiet_warnings()
        ds = load_dataset(hx.params, engine=hx.engine, fleet=hx.fleet, source=hx.source)
        announce(hx, ds)
        return ds

    return memo(hx, "dataset", load)


def announce(hx: Any, ds: Dataset) -> None:
    """Say at the top of the report (the first cell that reads data) when the data is stale: a report
    built on a cached copy because Prometheus was unreachable shows its age before any number."""
    if ds.stale_s is None:
        return
    from holoops.timeutil import human_duration

    hx.finding("warning", f"stale data: Prometheus was unreachable; results come from a cached copy "
                          f"{human_duration(ds.stale_s)} old")
    try:
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover
        return
    display(Markdown(f"> {ds.header()}"))
