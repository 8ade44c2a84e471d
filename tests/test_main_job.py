"""The README's first command: `holoops demo` leaves a browsable reports folder with everything linked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_main_job_leaves_linked_reports(tmp_path):
    out = tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "holoops.cli", "demo", "--out", str(out), "--days", "2",
                          "--formats", "parquet,jsonl"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    index = (out / "index.html").read_text()
    links = re.findall(r'href="([^"#?]+)"', index) + re.findall(r"href='([^'#?]+)'", index)
    for link in links:
        assert (out / link).exists(), f"index.html links a missing file: {link}"
    expected = {p.stem for d in ("notebooks", "runbooks") for p in (ROOT / d).glob("*.ipynb")}
    reports = {Path(link).stem for link in links if link.endswith(".html") and "/guides/" not in f"/{link}"}
    assert expected <= reports, f"reports missing from index.html: {expected - reports}"
    assert f"{len(expected)}/{len(expected)} notebooks and runbooks ran cleanly" in index
    assert (out / "demo-data" / "ground_truth.json").is_file() and (out / "demo-data" / "summary.md").is_file()
    assert len(list((out / "guides").glob("*/*/guide.md"))) == 9
    assert (out / "alerts" / "alertmanager.yml").is_file() and list((out / "alerts" / "rules").glob("*.yml"))
    assert "FAILED" not in index
