"""HTML/Markdown export of a real run: code hidden, plotly offline (one shared copy per folder), secrets
redacted, runbook links pointed at pages that exist, time axes written compactly."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).parent / "notebooks"
SECRET_PARAM, SECRET_ENV = "s3cr3t-xyz", "s3cr3t-env-abc"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One kernel: tiny_report run with a secret parameter and a secret env var."""
    from holoops import redact
    from holoops.run import run_notebook

    out = tmp_path_factory.mktemp("export")
    mp = pytest.MonkeyPatch()
    mp.setenv("HOLOOPS_PROM_TOKEN", SECRET_ENV)
    mp.setenv("HOLOOPS_HOME", str(out / "home"))
    try:
        result = run_notebook(NOTEBOOKS / "tiny_report.ipynb", {"prometheus_token": SECRET_PARAM},
                              out / "run", markdown=True)
    finally:
        mp.undo()
        redact.forget_secrets()
    assert result.ok, result.failure_text()
    return out, result


def test_html_has_figures_and_loads_the_folders_one_plotlyjs(report):
    from holoops.export import PLOTLYJS_FILE, count_plotlyjs, plotly_js

    _, result = report
    html = Path(result.html).read_text(encoding="utf-8")
    assert html.count('class="plotly-graph-div"') == 2
    assert count_plotlyjs(html) == 0  # not in the page, nor in the output notebook
    assert count_plotlyjs(Path(result.output).read_text(encoding="utf-8")) == 0
    assert html.count(f'<script src="{PLOTLYJS_FILE}" charset="utf-8"></script>') == 1
    shared = Path(result.html).parent / PLOTLYJS_FILE
    assert shared.read_text(encoding="utf-8") == plotly_js() and count_plotlyjs(shared.read_text()) == 1
    # offline: nothing from a CDN (plotly, MathJax), no require.js
    assert "cdn.plot.ly" not in html and "mathjax/2.7.7" not in html and 'src="http' not in html
    assert "require.min.js" not in html and "require.js" not in html
    assert len(html.encode()) < 2 * 1024 * 1024


def test_inline_export_is_one_self_contained_file(report, tmp_path):
    from holoops.export import PLOTLYJS_FILE, count_plotlyjs, to_html

    _, result = report
    html = to_html(result.output, tmp_path / "one.html", plotlyjs="inline")
    assert count_plotlyjs(html) == 1 and f'src="{PLOTLYJS_FILE}"' not in html
    assert not (tmp_path / PLOTLYJS_FILE).exists()
    assert count_plotlyjs(to_html(result.output)) == 1  # no folder to share a copy in: inline
    again = tmp_path / "shared"
    again.mkdir()
    to_html(result.output, again / "a.html")
    before = (again / PLOTLYJS_FILE).stat().st_mtime_ns
    to_html(result.output, again / "b.html")
    assert (again / PLOTLYJS_FILE).stat().st_mtime_ns == before  # written once per folder
    assert sorted(p.name for p in again.iterdir()) == ["a.html", "b.html", PLOTLYJS_FILE]


def test_html_hides_code_and_record_outputs(report):
    _, result = report
    html = Path(result.html).read_text(encoding="utf-8")
    assert "holoops.notebook.setup" not in html and "go.Figure" not in html
    import re

    text = re.sub(r"<[^>]+>", "", html)  # the command is syntax-highlighted into spans
    assert "kubectl -n holo rollout restart deployment/router" in text  # outputs stay
    assert "vnd.holoops.record" not in html


def test_markdown_keeps_command_fences_hides_code(report):
    _, result = report
    md = Path(result.markdown).read_text(encoding="utf-8")
    assert "```bash\nkubectl -n holo rollout restart deployment/router\n```" in md
    assert "import plotly" not in md and "plotly-graph-div" not in md
    assert "[figure 'first figure': see the HTML report]" in md


def test_records_harvested_for_history(report):
    out, result = report
    assert result.records["error_rate"] == 0.02
    assert result.records["services"] == {"router": {"p99_ms": 120.0}}
    assert [f["level"] for f in result.records["findings"]] == ["critical", "info"]
    assert (out / "home" / "history.jsonl").is_file()


def test_secrets_never_in_any_output_file(report):
    out, result = report
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {Path(result.output), Path(result.html), Path(result.markdown)} <= set(files)
    for p in files:
        text = p.read_text(encoding="utf-8", errors="replace")
        assert SECRET_PARAM not in text, p
        assert SECRET_ENV not in text, p
    assert "***REDACTED***" in Path(result.output).read_text(encoding="utf-8")  # the echo cell was masked
    assert result.parameters["prometheus_token"] == "***REDACTED***"


def test_runbook_links_point_at_pages_that_exist_else_jupyterlab(tmp_path, monkeypatch):
    from holoops.export import jupyterlab_url, link_runbooks

    monkeypatch.delenv("HOLOOPS_RUNBOOK_BASE", raising=False)
    (tmp_path / "error_burst.html").write_text("<html></html>")
    text = ('<a href="runbooks/error_burst.ipynb">x</a> <a href="../runbooks/disk_exhaustion.ipynb?around=1">y</a>'
            " [z](../runbooks/latency_regression.ipynb#Triage) runbooks/error_burst.ipynb stays text")
    out = link_runbooks(text, tmp_path, pages=["latency_regression"])
    assert '<a href="error_burst.html">x</a>' in out
    assert f'<a href="{jupyterlab_url("disk_exhaustion")}">y</a>' in out
    assert jupyterlab_url("disk_exhaustion") == "http://localhost:8888/lab/tree/runbooks/disk_exhaustion.ipynb"
    assert "[z](latency_regression.html#Triage)" in out
    assert out.endswith("runbooks/error_burst.ipynb stays text")
    monkeypatch.setenv("HOLOOPS_RUNBOOK_BASE", "https://jupyter.example.com/lab/tree/runbooks/")
    assert link_runbooks("[a](runbooks/x.ipynb)") == "[a](https://jupyter.example.com/lab/tree/runbooks/x.ipynb)"


def test_compact_figure_keeps_every_point_in_fewer_bytes():
    import base64
    import json

    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go

    from holoops.export import compact_figure

    times = pd.date_range("2026-11-02", periods=500, freq="7min", tz="UTC")
    even = [t.strftime("%Y-%m-%dT%H:%M:%S") for t in times]
    uneven = even[:100] + even[101:]
    fig = {"data": [{"type": "scattergl", "x": even, "y": list(range(500))},
                    {"type": "scatter", "x": uneven, "y": list(range(499)), "xaxis": "x2"},
                    {"type": "bar", "x": even, "y": list(range(500))},
                    {"type": "scatter", "x": list(range(500)), "y": list(range(500)), "xaxis": "x3"},
                    {"type": "scatter", "x": even, "y": list(range(500)), "xaxis": "x4"},
                    {"type": "scatter", "x": list(times[:100].to_pydatetime()) + list(times[101:].to_pydatetime()),
                     "y": list(range(499)), "xaxis": "x5"}],
            "layout": {"xaxis4": {"type": "category"}}}
    small = compact_figure(fig)
    assert fig["data"][0]["x"] is even  # the input is left as it was
    a, b, bar, numbers, category, aware = small["data"]
    assert "x" not in a and a["x0"].startswith("2026-11-02T00:00:00") and a["dx"] == 7 * 60 * 1000
    for trace in (b, aware):
        ms = np.frombuffer(base64.b64decode(trace["x"]["bdata"]), dtype="<f8")
        assert trace["x"]["dtype"] == "f8" and len(ms) == 499
        assert list(pd.to_datetime(ms, unit="ms").strftime("%Y-%m-%dT%H:%M:%S")) == uneven
    assert {small["layout"][f"xaxis{n}"]["type"] for n in ("", "2", "5")} == {"date"}
    assert bar["x"] == even and numbers["x"] == list(range(500)) and category["x"] == even
    assert small["layout"]["xaxis4"] == {"type": "category"} and "xaxis3" not in small["layout"]
    # what the renderer gets from a figure built from a frame: datetime64 arrays (tz-aware times as UTC)
    real = go.Figure(go.Scattergl(x=pd.Series(times), y=np.arange(500.0))).to_dict()
    assert real["data"][0]["x"].dtype.kind == "M"
    (trace,) = compact_figure(real)["data"]
    assert "x" not in trace and trace["x0"].startswith("2026-11-02T00:00:00") and trace["dx"] == 420_000
    assert len(json.dumps(a["x0"])) < 30 and len(json.dumps(b["x"])) < len(json.dumps(uneven)) * 0.55
