"""HTML/Markdown export of a real run: code hidden, plotly offline exactly once, secrets redacted."""

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


def test_html_has_figures_and_plotlyjs_once_inline(report):
    from holoops.export import count_plotlyjs, plotly_js

    _, result = report
    html = Path(result.html).read_text(encoding="utf-8")
    assert html.count('class="plotly-graph-div"') == 2
    assert count_plotlyjs(html) == 1
    # plotly.js is inline, never loaded from a CDN; the only cdn.plot.ly text is inside the bundle itself
    assert 'src="https://cdn.plot.ly' not in html
    assert html.count("cdn.plot.ly") == plotly_js().count("cdn.plot.ly")
    assert "require.min.js" not in html and "require.js" not in html


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
