"""Every notebook in notebooks/ runs headless on the demo fleet and records what the demo's truth says.

One test per notebook (xdist spreads them), each through ``holoops.run.run_notebook`` (papermill), with
small demo spans so the whole file stays well under four minutes on two cores.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@lru_cache(maxsize=4)
def demo(days: int):
    from holoops.demo import simulate

    return simulate(days=days)


def run(tmp_path: Path, name: str, **params):
    from holoops.run import run_notebook

    res = run_notebook(NOTEBOOKS / f"{name}.ipynb", params, out_dir=tmp_path, record_history=False,
                       timeout=300)
    assert res.ok, res.failure_text()
    import nbformat

    nb = nbformat.read(res.output, as_version=4)
    noise = [o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    assert not noise, f"the report shows stream output (warnings?): {noise[:2]}"
    return res


def test_every_notebook_is_committed_clean():
    import nbformat

    names = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == ["alerting_review", "capacity_planning", "deployment_guide", "diagnostics",
                     "error_analysis", "service_communication"]
    for p in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(str(p), as_version=4)
        assert "parameters" in nb.cells[0].metadata.get("tags", []), p
        assert f'holoops.notebook.setup(globals(), "{p.stem}")' in nb.cells[1].source, p  # names its schema
        for c in nb.cells:
            if c.cell_type == "code":
                assert not c.outputs and c.execution_count is None, f"{p.name}: outputs not stripped"


def test_diagnostics_finds_the_demo_incidents(tmp_path):
    res = run(tmp_path, "diagnostics", demo_days=2)
    truth = {i["service"] for i in demo(2).truth}
    found = {i["service"] for i in res.records["incidents"]}
    assert found == truth
    incident_findings = [f for f in res.records["findings"] if f["service"] in truth and f["runbook"]]
    assert {f["service"] for f in incident_findings} == truth
    assert all(f["runbook"].startswith("runbooks/") and "-" not in f["runbook"] for f in incident_findings)
    assert len(res.records["health"]) == 7
    assert res.records["saturation_peaks"]["holographic-memory/gpu_memory"] > 0.95  # the GPU incident


def test_capacity_interval_contains_true_disk_exhaustion(tmp_path):
    res = run(tmp_path, "capacity_planning", demo_days=7)
    truth = pd.Timestamp(demo(7).incident("disk_exhaustion")["exhausts_at"])
    disk = [a for a in res.records["exhaustion"] if (a["service"], a["resource"]) == ("telemetry", "disk")]
    assert disk, res.records["exhaustion"]
    lo, hi = pd.Timestamp(disk[0]["earliest"]), pd.Timestamp(disk[0]["latest"])
    assert lo <= truth <= hi
    assert any(f["service"] == "telemetry" and f["runbook"] == "runbooks/disk_exhaustion.ipynb"
               for f in res.records["findings"])
    assert res.records["growth_scenario"]["growth"] == 0.3


def test_alerting_review_detects_every_incident(tmp_path):
    res = run(tmp_path, "alerting_review", demo_days=2)
    ttd = res.records["time_to_detect"]
    assert len(ttd) == len(demo(2).truth)
    assert all(v is not None for v in ttd.values())
    assert res.records["rules"]["rules"] > 5
    assert res.records["noise"]["pages"] > 0


def test_error_analysis_flags_patterns_against_earlier_data(tmp_path):
    res = run(tmp_path, "error_analysis", demo_days=2, window="1d")
    classes = res.records["error_classes"]
    assert sum(classes.values()) > 100 and "gpu" in classes  # CUDA OOM lines of the GPU incident
    assert res.records["patterns"]["new"] + res.records["patterns"]["surge"] > 0
    assert sum(res.records["errors_per_service"].values()) == sum(classes.values())


def test_service_communication_matches_trace_truth(tmp_path):
    res = run(tmp_path, "service_communication", demo_days=2)
    comms = demo(2).meta["comms"]
    assert res.records["critical_path"]["bottleneck"] == comms["bottleneck_service"]
    assert "->".join(comms["retry_storm_edge"]) in res.records["retry_storms"]
    kinds = {(r["kind"], r["edge"]) for r in res.records["recommendations"]}
    assert ("batching", " → ".join(comms["batching_pair"])) in kinds


def test_deployment_guide_exports_clean_markdown(tmp_path):
    res = run(tmp_path, "deployment_guide", environment="staging", platform="compose")
    md = Path(res.markdown).read_text(encoding="utf-8")
    assert md.lstrip().startswith("# Deployment guide")
    assert "```bash" in md and "docker compose" in md
    for junk in ("<table", "<div", "hx = ", "import holoops", "application/vnd.holoops"):
        assert junk not in md, junk
    html = Path(res.html).read_text(encoding="utf-8")
    assert "hx = holoops.notebook.setup" not in html  # code hidden
    assert all(v == "ok" or v == "skipped" for v in res.records["guide_validation"].values()), \
        res.records["guide_validation"]
