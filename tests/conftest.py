"""Shared fixtures. The demo fleet is simulated once per test process and shared (read-only)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _holoops_state_in_tmp(tmp_path_factory):
    """Nothing a test runs writes into the user's state: the run history (``$HOLOOPS_HOME``), the caches
    (``$HOLOOPS_CACHE_DIR``: demo fleets, Prometheus results) and the runbook action log all live under the
    session's temp folder (the cache one shared by xdist workers). Session-scoped and autouse, so it is set
    before any other fixture runs a notebook; tests that set these themselves still can."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    mp = pytest.MonkeyPatch()
    mp.setenv("HOLOOPS_HOME", str(base / "holoops-home"))
    mp.delenv("HOLOOPS_HISTORY", raising=False)
    mp.setenv("HOLOOPS_CACHE_DIR", str(shared / "holoops-cache"))
    mp.setenv("HOLOOPS_ACTION_LOG", str(base / "holoops-home" / "holoops-actions.jsonl"))
    try:
        yield base / "holoops-home"
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def demo_week():
    """Seven days of the demo fleet with all five labelled incidents (seed 7)."""
    from holoops.demo import simulate

    return simulate(days=7, seed=7)
