"""Shared fixtures. The demo fleet is simulated once per test process and shared (read-only)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_week():
    """Seven days of the demo fleet with all five labelled incidents (seed 7)."""
    from holoops.demo import simulate

    return simulate(days=7, seed=7)
