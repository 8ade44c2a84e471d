"""The fleet profile: the bundled default, user profiles, and errors that name the key at fault."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from holoops.errors import FleetProfileError
from holoops.fleet import DEFAULT_PROFILE, load_fleet, parse_bytes, parse_fleet

EXPECTED = {"orchestrator", "router", "vault", "telemetry", "math-core", "dashboard", "holographic-memory"}


def _raw() -> dict:
    return yaml.safe_load(DEFAULT_PROFILE.read_text())


def test_bundled_profile_describes_holographic_memory():
    fleet = load_fleet()
    assert set(fleet.services) == EXPECTED
    assert all(s.health == "/healthz" for s in fleet.services.values())
    hm = fleet.service("holographic-memory")
    assert hm.uses_gpu and fleet.gpu_services == ["holographic-memory"]
    assert hm.resources.gpu.memory_bytes == 80 * 2**30
    assert {"holographic_store_requests_total", "holographic_retrieve_requests_total",
            "holographic_search_requests_total"} <= set(hm.counters)
    assert ("holographic-memory", "math-core") in fleet.edges
    assert fleet.upstream("math-core") == ["holographic-memory"]
    assert fleet.slo_window_seconds == 30 * 86400
    assert len({s.port for s in fleet.services.values()}) == len(EXPECTED), "ports must be unique"


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda d: d["services"]["vault"]["slo"].update(availability=1.5), "services.vault.slo.availability"),
        (lambda d: d["services"]["router"].pop("port"), "services.router.port"),
        (lambda d: d["services"]["router"].update(helth="/healthz"), "services.router.helth"),
        (lambda d: d["services"]["telemetry"]["resources"]["memory"].update(limit="lots"),
         "services.telemetry.resources.memory.limit"),
        (lambda d: d["services"]["router"]["depends_on"].append("nope"), "services.router.depends_on.1"),
        (lambda d: d["services"]["dashboard"].update(health="healthz"), "services.dashboard.health"),
        (lambda d: d.update(slo_window="a month"), "slo_window"),
    ],
)
def test_invalid_profile_names_the_key(mutate, key):
    data = _raw()
    mutate(data)
    with pytest.raises(FleetProfileError) as err:
        parse_fleet(data, "my-fleet.yaml")
    assert err.value.key == key
    assert key in str(err.value) and "my-fleet.yaml" in str(err.value)


def test_user_profile_and_yaml_errors(tmp_path: Path):
    own = tmp_path / "own.yaml"
    data = _raw()
    data["name"] = "shop"
    data["services"] = {"web": data["services"]["dashboard"] | {"depends_on": []}}
    own.write_text(yaml.safe_dump(data))
    assert list(load_fleet(own).services) == ["web"]

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nservices: [\n")
    with pytest.raises(FleetProfileError, match=r"broken.yaml.*line \d+"):
        load_fleet(broken)
    with pytest.raises(FleetProfileError, match="cannot read"):
        load_fleet(tmp_path / "missing.yaml")


def test_sizes():
    assert parse_bytes("512Mi") == 512 * 2**20
    assert parse_bytes("10G") == 10 * 10**9
    with pytest.raises(ValueError):
        parse_bytes("ten gigs")


def test_cli_fleet_show_and_check(tmp_path: Path):
    out = subprocess.run([sys.executable, "-m", "holoops.cli", "fleet", "show"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for name in EXPECTED:
        assert name in out.stdout
    bad = tmp_path / "bad.yaml"
    data = _raw()
    data["services"]["vault"]["slo"]["availability"] = 2
    bad.write_text(yaml.safe_dump(data))
    out = subprocess.run([sys.executable, "-m", "holoops.cli", "fleet", "check", str(bad)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "services.vault.slo.availability" in out.stderr


def test_discover_from_an_export_folder_on_the_command_line(tmp_path):
    """``holoops fleet discover --exports DIR`` writes a profile with the data's services and the
    dependencies its traces show, and the profile loads."""
    from holoops.demo import cached_simulate

    d = cached_simulate(days=1, seed=7)
    folder = tmp_path / "exports"
    folder.mkdir()
    cut = d.window[0] + (d.window[1] - d.window[0]) / 8
    d.metrics[d.metrics["ts"] < cut].to_parquet(folder / "metrics.parquet", index=False)
    d.spans[d.spans["start"] < cut].to_parquet(folder / "spans.parquet", index=False)
    out = tmp_path / "fleet.yaml"
    run = subprocess.run([sys.executable, "-m", "holoops.cli", "fleet", "discover", "--exports", str(folder),
                          "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    fleet = load_fleet(out)
    assert set(fleet.services) == set(load_fleet().services)
    assert ("orchestrator", "vault") in fleet.edges and ("router", "holographic-memory") in fleet.edges
    assert "http_requests_total" in run.stdout
