"""Bad input to the real ``holoops`` command (a subprocess, as typed at 3 a.m.): exit status 2 or more, one
line on stderr naming the problem and what is expected, never a traceback, and no kernel started."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NB = str(ROOT / "notebooks" / "diagnostics.ipynb")
RUNBOOK = str(ROOT / "runbooks" / "error_burst.ipynb")


def _holoops() -> list[str]:
    script = Path(sys.executable).parent / "holoops"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "holoops.cli"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad-input")
    (d / "notes.txt").write_text("restart the router, then check /healthz\n")
    (d / "broken.ipynb").write_text('{"cells": [{"cell_type": "code", "source": ')
    (d / "empty.ipynb").write_text("{}")
    (d / "binary.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    (d / "list.yaml").write_text("- window\n- 1d\n")
    (d / "bad.yaml").write_text("window: [1d\n")
    (d / "history.jsonl").write_text(json.dumps({"notebook": "diagnostics", "started_at": "2026-11-08T02:00:00Z",
                                                 "status": "ok", "duration_s": 1.0}) + "\n")
    (d / "folder").mkdir()
    return d


CASES = {
    # the four from the issue
    "not a notebook": (["run", "{d}/notes.txt"], ["notes.txt", "expected a Jupyter notebook", "not JSON"]),
    "broken notebook": (["run", "{d}/broken.ipynb"], ["broken.ipynb", "expected a Jupyter notebook", "broken JSON"]),
    "missing -f file": (["run", NB, "-f", "{d}/missing.yaml"], ["-f", "missing.yaml", "no such parameters file"]),
    "history --since 3x": (["history", "--path", "{d}/history.jsonl", "--since", "3x"],
                           ["--since", "'3x'", "a duration like 14d", "an ISO time"]),
    # type errors say the form, not the Python type; unknown names get the nearest one
    "window of the wrong type": (["run", NB, "-y", "{{window: 3}}"],
                                 ["'window'", "bad value 3", "expected a duration like 90s, 5m, 2h"]),
    "time of the wrong type": (["run", RUNBOOK, "-y", "{{around: [1]}}"], ["'around'", "expected an ISO time like"]),
    "bad time": (["run", NB, "-p", "start", "3x"], ["'start'", "'3x'", "an ISO time like", "-6h"]),
    "bad duration": (["run", RUNBOOK, "-p", "lookback", "2 hours"], ["'lookback'", "a duration like"]),
    "bool": (["run", NB, "-p", "cache", "maybe"], ["'cache'", "expected true or false"]),
    "unknown parameter": (["run", NB, "-p", "sevrice", "vault"], ["'sevrice'", "did you mean 'service'?"]),
    "unknown service": (["run", NB, "-p", "service", "vualt"], ["'vualt'", "did you mean 'vault'?"]),
    "unknown source": (["run", NB, "-p", "source", "promethues"], ["'promethues'", "did you mean 'prometheus'?"]),
    # more files that are not what they should be
    "missing notebook": (["run", "{d}/missing.ipynb"], ["missing.ipynb", "no such notebook"]),
    "folder as notebook": (["run", "{d}/folder"], ["folder", "not a notebook"]),
    "JSON that is not a notebook": (["run", "{d}/empty.ipynb"], ["empty.ipynb", "not a notebook"]),
    "binary notebook": (["run", "{d}/binary.ipynb"], ["binary.ipynb", "expected a Jupyter notebook"]),
    "--help-params of a non-notebook": (["run", "{d}/notes.txt", "--help-params"], ["notes.txt", "not JSON"]),
    "-f list": (["run", NB, "-f", "{d}/list.yaml"], ["list.yaml", "expected a YAML mapping", "found a list"]),
    "-f bad YAML": (["run", NB, "-f", "{d}/bad.yaml"], ["bad.yaml", "not valid YAML at line"]),
    "-f folder": (["run", NB, "-f", "{d}/folder"], ["folder", "is a folder"]),
    "-y bad YAML": (["run", NB, "-y", "[1, 2"], ["-y", "not valid YAML"]),
    "bad timeout": (["run", NB, "--timeout", "-5"], ["--timeout", "seconds > 0"]),
    "missing suite file": (["report", "{d}/nightly.yaml"], ["nightly.yaml", "no such suite file"]),
    "history of a folder": (["history", "--path", "{d}/folder"], ["folder", "is a folder"]),
    "history --since garbage without a file": (["history", "--path", "{d}/none.jsonl", "--since", "lately"],
                                               ["--since", "'lately'"]),
    "baseline days": (["history", "--baseline-days", "0"], ["--baseline-days", ">= 1"]),
    "demo --days 0": (["demo", "--days", "0", "--out", "{d}/demo"], ["--days", "1 to 90 days"]),
    "demo --start": (["demo", "--start", "yesterday-ish", "--data-only", "--out", "{d}/demo"],
                     ["--start", "an ISO time"]),
    "demo --formats": (["demo", "--formats", "parqet", "--out", "{d}/demo"], ["'parqet'", "did you mean 'parquet'?"]),
    "demo --incidents": (["demo", "--incidents", "fire", "--out", "{d}/demo"], ["'fire'", "error_burst"]),
    # usage errors are one line too
    "no notebook": (["run"], ["holoops run: error:", "notebook", "holoops run --help"]),
    "unknown command": (["restart"], ["invalid choice: 'restart'", "holoops --help"]),
    "not a number": (["history", "--baseline-days", "x"], ["--baseline-days", "invalid int value"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_without_traceback(case, files, tmp_path):
    args, words = CASES[case]
    argv = [a.format(d=files) for a in args]
    res = subprocess.run([*_holoops(), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode >= 2, (res.returncode, res.stdout[-500:], res.stderr[-2000:])
    assert "Traceback" not in res.stderr + res.stdout, res.stderr[-3000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "error:" in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert "expected str" not in lines[0]
    assert not list(tmp_path.rglob("*.ipynb")) and not (files / "demo").exists()  # nothing ran, nothing written
