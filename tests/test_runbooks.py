"""The five runbooks, executed headless through papermill on the demo fleet.

Each run is its own test (xdist spreads them). Actions never run for real: dry-run by default, and the
``action_executor="record"`` executor appends argv lines to a file instead of running anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNBOOKS = {"gpu_memory_pressure": "gpu_memory_exhaustion", "latency_regression": "latency_regression",
            "disk_exhaustion": "disk_exhaustion", "error_burst": "error_burst",
            "dependency_outage": "dependency_outage"}


def _run(stem: str, tmp_path: Path, **params):
    from holoops.run import run_notebook

    res = run_notebook(ROOT / "runbooks" / f"{stem}.ipynb", params, out_dir=tmp_path, html=False,
                       record_history=False, timeout=300)
    assert res.ok, res.failure_text()
    return res


def test_runbooks_committed_without_outputs():
    import nbformat

    for stem, kind in RUNBOOKS.items():
        nb = nbformat.read(ROOT / "runbooks" / f"{stem}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", [])
        assert f'incident_kind = "{kind}"' in code[0].source
        assert f'holoops.notebook.setup(globals(), "{stem}")' in code[1].source  # names its own schema
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), stem


def test_alert_catalog_links_existing_runbooks():
    import yaml

    names = set()
    for f in (ROOT / "holoops" / "catalogs" / "alerts").glob("*.yaml"):
        text = yaml.safe_load(f.read_text())

        def walk(x):
            if isinstance(x, dict):
                if isinstance(x.get("runbook"), str):
                    names.add(x["runbook"])
                for v in x.values():
                    walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)
        walk(text)
    assert names, "no runbook links in the alert catalog"
    for name in names:
        stem = name.removeprefix("runbooks/").removesuffix(".ipynb")
        assert (ROOT / "runbooks" / f"{stem}.ipynb").exists(), name


@pytest.mark.parametrize("stem", sorted(RUNBOOKS))
def test_runbook_default_run_finds_the_labelled_incident(stem, tmp_path, demo_week):
    res = _run(stem, tmp_path)
    truth = demo_week.incident(RUNBOOKS[stem])
    top = res.records["top_hypothesis"]
    assert (top["service"], top["kind"]) == (truth["service"], truth["kind"])
    assert top["score"] >= 0.5 and res.records["incident"] is True
    # dry-run: every action shown and logged, none executed
    acts = res.records["actions"]
    assert acts and all(a["status"] == "dry-run" for a in acts)
    assert res.records["actions_taken"] == 0
    assert res.records["runbook"]["onset"] is not None and res.records["ttd_minutes"] is not None
    assert 0 <= res.records["ttd_minutes"] <= 30


def test_quiet_window_records_no_incident(tmp_path):
    res = _run("error_burst", tmp_path, around="2026-11-02T11:00:00Z")
    assert res.records["incident"] is False
    assert res.records["top_hypothesis"] is None
    assert res.records.get("actions") is None and res.records["actions_taken"] == 0
    out = (tmp_path / "error_burst.ipynb").read_text()
    assert "No incident in this window" in out and "Nothing to do" in out


def test_wrong_runbook_still_names_the_true_cause(tmp_path, demo_week):
    truth = demo_week.incident("error_burst")
    res = _run("latency_regression", tmp_path, onset=truth["onset"], service="vault")
    top = res.records["top_hypothesis"]
    assert (top["service"], top["kind"]) == ("router", "error_burst")
    assert "runbooks/error_burst.ipynb" in (tmp_path / "latency_regression.ipynb").read_text()


def test_allowed_actions_run_through_the_injected_executor(tmp_path):
    log = tmp_path / "actions.jsonl"
    res = _run("dependency_outage", tmp_path, allow_actions=True, action_executor="record", action_log=str(log))
    acts = res.records["actions"]
    assert acts and all(a["status"] == "ran" for a in acts)
    assert res.records["actions_taken"] == len(acts)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [" ".join(x["argv"]) for x in lines] == [a["command"] for a in acts]
    assert lines[-1]["argv"][:2] == ["kubectl", "-n"]
