"""`holoops run`/`report`/`history`: validation before kernels, failures, suites, history compare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from holoops.cli import main

NOTEBOOKS = Path(__file__).parent / "notebooks"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if papermill is asked to execute anything."""
    import papermill

    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: calls.append(a) or 1 / 0)
    return calls


@pytest.mark.parametrize("args,words", [
    (["-p", "no_such_param", "1"], ["no_such_param", "allowed:", "demo_days"]),
    (["-p", "demo_dyas", "2"], ["demo_dyas", "did you mean 'demo_days'?", "allowed:"]),
    (["-p", "demo_days", "abc"], ["demo_days", "expected int"]),
    (["-p", "engine", "gpu"], ["engine", "'pandas'", "'cudf'"]),
    (["-y", "{window: 3}"], ["'window'", "bad value 3", "expected a duration like 90s"]),
    (["-y", "{start: [1]}"], ["'start'", "expected an ISO time like"]),
])
def test_bad_parameters_fail_before_any_kernel(tmp_path, capsys, no_kernel, args, words):
    rc = main(["run", str(NOTEBOOKS / "tiny_report.ipynb"), *args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and no_kernel == []
    assert not (tmp_path / "out").exists()
    for w in words:
        assert w in err
    assert "expected str" not in err


def test_help_params_prints_schema(capsys):
    assert main(["run", "notebooks/capacity_planning.ipynb", "--help-params"]) == 0
    out = capsys.readouterr().out
    assert "growth" in out and "target_utilisation" in out and "0.3" in out


def _default_shown(text: str, name: str) -> str:
    line = next(x for x in text.splitlines() if x.split() and x.split()[0] == name)
    return line.split()[-1]


def test_help_params_shows_the_notebooks_own_defaults(tmp_path, capsys):
    """The defaults are the parameters cell's values (the schema's only where the cell sets none)."""
    nb = json.loads((ROOT / "notebooks" / "capacity_planning.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    lines = [("growth = 0.55" if x.startswith("growth") else "window = '30d'" if x.startswith("window") else x)
             for x in "".join(cell["source"]).splitlines() if not x.startswith("horizon_days")]
    cell["source"] = "\n".join(lines)
    copy = tmp_path / "capacity_planning.ipynb"
    copy.write_text(json.dumps(nb))
    assert main(["run", str(copy), "--help-params"]) == 0
    out = capsys.readouterr().out
    assert _default_shown(out, "growth") == "0.55" and _default_shown(out, "window") == "'30d'"
    assert _default_shown(out, "horizon_days") == "90"  # not in the cell: the schema's
    assert "float (gt -1, le 100)" in out  # the limits are still the schema's
    assert main(["run", str(NOTEBOOKS / "tiny_report.ipynb"), "--help-params"]) == 0
    assert _default_shown(capsys.readouterr().out, "demo_days") == "1"  # the schema says 7


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


def test_history_ranks_changes_and_shows_run_ids_and_parameters(tmp_path, capsys):
    """Each notebook's latest run per set of parameters, with its id and parameters, against earlier runs with
    the same parameters (moments like start/end aside); the largest change first."""
    from holoops import history

    now = datetime.now(timezone.utc)
    path = tmp_path / "h.jsonl"

    def run(nb, days_ago, value, run_id, **params):
        e = _entry(nb, days_ago, value, now)
        e.update(run_id=run_id, parameters=params)
        history.append(e, path)

    for i, v in enumerate((1.0, 1.0, 1.0)):
        run("diagnostics", 3 - i, v, f"nightly-{i}", window="7d", start=f"2026-11-0{i + 1}T00:00:00+00:00")
    run("diagnostics", 0, 1.1, "nightly-3", window="7d", start="2026-11-08T00:00:00+00:00")
    run("diagnostics", 0, 90.0, "test-run", window="7d", demo_days=2)     # a one-off: its own group
    run("capacity_planning", 2, 1.0, "cap-0")
    run("capacity_planning", 0, 4.0, "cap-1")
    rows = history.compare(history.load(path))
    ranked = [(r.run_id, r.key, round(r.change, 3) if r.change is not None else None) for r in rows]
    assert ranked[:2] == [("cap-1", "slo.router", 3.0), ("cap-1", "error_rate", 3.0)] or \
        ranked[:2] == [("cap-1", "error_rate", 3.0), ("cap-1", "slo.router", 3.0)]
    assert ("nightly-3", "error_rate", 0.1) in ranked
    assert [x[2] for x in ranked if x[0] == "test-run"] == [None] * 3  # no earlier run like it
    changes = [abs(r.change) for r in rows if r.change is not None]
    assert changes == sorted(changes, reverse=True) and rows[-1].change is None
    assert main(["history", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "nightly-3" in out and "test-run" in out and "demo_days=2, window=7d" in out
    assert out.index("cap-1") < out.index("nightly-3")
    assert out.index("+300.0%") < out.index("+10.0%")
    assert main(["history", "--path", str(path), "--runs", "--notebook", "diagnostics"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == 5 and "test-run" in listing[-1] and "demo_days=2" in listing[-1]
    assert main(["history", "--path", str(path), "--since", (now - timedelta(hours=1)).isoformat(), "--runs"]) == 0
    assert {line.split()[1] for line in capsys.readouterr().out.splitlines()} == {"nightly-3", "test-run", "cap-1"}


def test_history_location_follows_out_and_env(tmp_path, monkeypatch):
    from holoops import history

    monkeypatch.delenv("HOLOOPS_HOME", raising=False)
    monkeypatch.delenv("HOLOOPS_HISTORY", raising=False)
    assert history.default_path() == Path("reports/history.jsonl")
    assert history.default_path(tmp_path / "out") == tmp_path / "out" / "history.jsonl"
    monkeypatch.setenv("HOLOOPS_HOME", str(tmp_path / "home"))
    assert history.default_path(tmp_path / "out") == tmp_path / "home" / "history.jsonl"
    monkeypatch.setenv("HOLOOPS_HISTORY", str(tmp_path / "mine.jsonl"))
    assert history.default_path(tmp_path / "out") == tmp_path / "mine.jsonl"


def _holoops_cli() -> list[str]:
    script = Path(sys.executable).parent / "holoops"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "holoops.cli"]


def test_cli_run_with_out_never_touches_the_repos_reports(tmp_path):
    """`holoops run ... --out DIR` (no HOLOOPS_HOME/HOLOOPS_HISTORY, as a user runs it) records the run in
    DIR/history.jsonl; nothing under the repository's reports/ names it or changes."""
    reports = ROOT / "reports"
    hist = reports / "history.jsonl"
    before = hist.stat() if hist.exists() else None
    env = {k: v for k, v in os.environ.items() if k not in ("HOLOOPS_HOME", "HOLOOPS_HISTORY")}
    out = tmp_path / "out"
    t0 = time.time_ns()
    res = subprocess.run([*_holoops_cli(), "run", str(NOTEBOOKS / "tiny_report.ipynb"), "--out", str(out)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    (entry,) = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    assert entry["notebook"] == "tiny_report" and entry["run_id"] and entry["output"].startswith(str(out))
    after = hist.stat() if hist.exists() else None
    assert (before and (before.st_size, before.st_mtime_ns)) == (after and (after.st_size, after.st_mtime_ns))
    if reports.is_dir():  # other people's runs may write there meanwhile: none of it is this run's
        for p in reports.rglob("*"):
            if p.is_file() and p.stat().st_mtime_ns >= t0 and p.stat().st_size < 50 * 2**20:
                text = p.read_text(errors="replace")
                assert entry["run_id"] not in text and str(out) not in text, p
    listed = subprocess.run([*_holoops_cli(), "history", "--reports", str(out), "--runs"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and entry["run_id"] in listed.stdout and "tiny_report" in listed.stdout
