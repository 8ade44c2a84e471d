"""`holoops run`/`report`/`history`: validation before kernels, failures, suites, history compare."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from holoops.cli import main

NOTEBOOKS = Path(__file__).parent / "notebooks"


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if papermill is asked to execute anything."""
    import papermill

    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: calls.append(a) or 1 / 0)
    return calls


@pytest.mark.parametrize("args,words", [
    (["-p", "no_such_param", "1"], ["no_such_param", "allowed:", "demo_days"]),
    (["-p", "demo_days", "abc"], ["demo_days", "expected int"]),
    (["-p", "engine", "gpu"], ["engine", "'pandas'", "'cudf'"]),
])
def test_bad_parameters_fail_before_any_kernel(tmp_path, capsys, no_kernel, args, words):
    rc = main(["run", str(NOTEBOOKS / "tiny_report.ipynb"), *args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and no_kernel == []
    assert not (tmp_path / "out").exists()
    for w in words:
        assert w in err


def test_help_params_prints_schema(capsys):
    assert main(["run", "notebooks/capacity_planning.ipynb", "--help-params"]) == 0
    out = capsys.readouterr().out
    assert "growth" in out and "target_utilisation" in out and "0.3" in out


def test_failing_notebook_keeps_output_and_names_cell(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOLOOPS_HOME", str(tmp_path / "home"))
    rc = main(["run", str(NOTEBOOKS / "tiny_fail.ipynb"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "cell 2" in err and "ratio = 1 / 0" in err and "ZeroDivisionError" in err
    out_nb = tmp_path / "out" / "tiny_fail.ipynb"
    assert out_nb.is_file() and (tmp_path / "out" / "tiny_fail.html").is_file()
    assert "ZeroDivisionError" in out_nb.read_text()
    (run,) = [json.loads(x) for x in (tmp_path / "home" / "history.jsonl").read_text().splitlines()]
    assert run["status"] == "failed" and run["failed_cell"] == 2


def test_suite_runs_in_parallel_and_writes_index(tmp_path, monkeypatch):
    from holoops.run import load_suite, run_suite

    monkeypatch.setenv("HOLOOPS_HOME", str(tmp_path / "home"))
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(f"""
notebooks:
  - {{path: {NOTEBOOKS / 'tiny_report.ipynb'}, parameters: {{demo_days: 2}}}}
  - {NOTEBOOKS / 'tiny_fail.ipynb'}
parameters: {{demo_seed: 3, growth: 0.5}}
""")
    items = load_suite(str(suite_file), root="/")
    assert items[0].parameters == {"demo_seed": 3, "growth": 0.5, "demo_days": 2}
    seen = []
    suite = run_suite(items, tmp_path / "reports", parallel=2, progress="plain", on_result=seen.append)
    assert [r.notebook for r in suite.results] == ["tiny_report", "tiny_fail"]
    assert [r.status for r in suite.results] == ["ok", "failed"] and len(seen) == 2
    assert suite.results[0].records["error_rate"] == 0.5  # demo_days=2 reached the kernel
    index = Path(suite.index).read_text()
    assert 'href="tiny_report.html"' in index and 'href="tiny_fail.html"' in index
    assert (Path(suite.folder) / "tiny_report.html").is_file()
    assert len((tmp_path / "home" / "history.jsonl").read_text().splitlines()) == 2


def test_named_suites_and_bad_suite_parameters(tmp_path, no_kernel):
    from holoops.errors import ParameterError
    from holoops.run import SuiteItem, load_suite, run_suite

    for name in ("nightly", "demo"):
        assert isinstance(load_suite(name), list)
    with pytest.raises(ParameterError, match="no suite 'nope'"):
        load_suite("nope")
    with pytest.raises(ParameterError, match="demo_days"):
        run_suite([SuiteItem(str(NOTEBOOKS / "tiny_report.ipynb"), {"demo_days": "x"})], tmp_path)
    assert no_kernel == []


def _entry(nb, days_ago, value, now, status="ok"):
    t = (now - timedelta(days=days_ago)).isoformat()
    return {"notebook": nb, "started_at": t, "finished_at": t, "status": status, "duration_s": 10.0,
            "records": {"error_rate": value, "slo": {"router": value * 10}, "note": "text"}, "parameters": {}}


def test_history_compares_latest_to_median_of_previous_week(tmp_path, capsys):
    from holoops import history

    now = datetime.now(timezone.utc)
    path = tmp_path / "h.jsonl"
    for e in [_entry("diagnostics", 9, 100.0, now),            # outside the 7-day baseline
              _entry("diagnostics", 5, 0.01, now), _entry("diagnostics", 3, 0.03, now),
              _entry("diagnostics", 2, 0.02, now), _entry("diagnostics", 1, 9.0, now, "failed"),
              _entry("diagnostics", 0, 0.04, now), _entry("capacity_planning", 0, 1.0, now)]:
        history.append(e, path)
    rows = {(r.notebook, r.key): r for r in history.compare(history.load(path, since="14d"))}
    er = rows[("diagnostics", "error_rate")]
    assert (er.latest, er.baseline, er.runs) == (0.04, 0.02, 3)
    assert er.change == pytest.approx(1.0)
    assert rows[("diagnostics", "slo.router")].baseline == pytest.approx(0.2)
    assert rows[("capacity_planning", "error_rate")].baseline is None
    assert ("diagnostics", "note") not in rows
    assert main(["history", "--path", str(path), "--notebook", "diagnostics"]) == 0
    out = capsys.readouterr().out
    assert "error_rate" in out and "+100.0%" in out and "capacity_planning" not in out
