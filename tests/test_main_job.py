"""The README's first command: `holoops demo` leaves a browsable reports folder with everything linked,
every local link resolving, one shared plotly.js, pages under 2 MiB and the demo data small by default."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_PAGE = 2 * 1024 * 1024
MAX_DEMO_DATA = 300 * 1000 * 1000


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    """One run of the main job (2 days, the default export formats), shared by the tests below."""
    out = tmp_path_factory.mktemp("main-job") / "reports"
    env = {k: v for k, v in os.environ.items() if k not in ("HOLOOPS_HOME", "HOLOOPS_HISTORY")}  # as a user runs it
    run = subprocess.run([sys.executable, "-m", "holoops.cli", "demo", "--out", str(out), "--days", "2"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


@pytest.mark.slow
def test_main_job_leaves_linked_reports(main_job):
    out = main_job
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
    assert (out / "history.jsonl").is_file()  # the history follows --out


@pytest.mark.slow
def test_every_local_link_resolves(main_job):
    """Every href/src of every HTML and Markdown page (guides, reports, runbook records, index pages),
    anchors included, points at something in the reports folder."""
    from holoops.linkcheck import check_links, format_report, page_links

    broken = check_links(main_job)
    assert broken == [], format_report(broken, main_job)
    (run,) = [p for p in main_job.iterdir() if (p / "index.html").is_file() and p.name != "guides"]
    links, _ = page_links(run / "deployment_guide.html")  # runbook links go to the runbooks' pages
    assert {"error_burst.html", "disk_exhaustion.html"} <= set(links)
    links, _ = page_links(main_job / "guides" / "production" / "kubernetes" / "guide.md")
    assert f"../../../{run.name}/error_burst.html" in links
    assert not [x for x in links if x.startswith("runbooks/") or x.startswith("../runbooks/")]


@pytest.mark.slow
def test_pages_share_one_plotlyjs_and_stay_small(main_job):
    from holoops.export import PLOTLYJS_FILE, count_plotlyjs

    pages = sorted(main_job.rglob("*.html"))
    assert len(pages) >= 11 + 9
    sizes = {str(p.relative_to(main_job)): p.stat().st_size for p in pages}
    assert max(sizes.values()) <= MAX_PAGE, {k: v for k, v in sizes.items() if v > MAX_PAGE}
    for p in pages:
        text = p.read_text(encoding="utf-8")
        assert count_plotlyjs(text) == 0, p
        if "plotly-graph-div" in text:
            assert (p.parent / PLOTLYJS_FILE).is_file() and f'src="{PLOTLYJS_FILE}"' in text, p
    copies = list(main_job.rglob(PLOTLYJS_FILE))
    assert len(copies) == 1 and count_plotlyjs(copies[0].read_text(encoding="utf-8")) == 1
    for nb in main_job.rglob("*.ipynb"):  # the output notebooks do not carry plotly.js either
        assert nb.stat().st_size <= MAX_PAGE and count_plotlyjs(nb.read_text(encoding="utf-8")) == 0, nb
    data = main_job / "demo-data"
    assert {p.name for p in data.iterdir()} >= {"metrics.parquet", "logs.jsonl", "query_range"}
    assert not (data / "metrics.om").exists() and not (data / "metrics.csv").exists()  # on request only


@pytest.mark.slow
def test_demo_data_stays_under_300_mb_by_default(tmp_path):
    """A week of demo data in the default formats (the other formats come with --formats)."""
    out = tmp_path / "reports"
    (out / "demo-data").mkdir(parents=True)
    (out / "demo-data" / "metrics.om").write_text("# an earlier run's OpenMetrics export\n")
    run = subprocess.run([sys.executable, "-m", "holoops.cli", "demo", "--out", str(out), "--data-only"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    data = out / "demo-data"
    assert _size(data) <= MAX_DEMO_DATA, {p.name: _size(p) for p in data.iterdir()}
    assert not (data / "metrics.om").exists()  # formats not asked for are not left behind
    assert (data / "logs.jsonl").is_file() and (data / "spans.parquet").is_file()
    assert list((data / "query_range").glob("*.json"))
    help_text = subprocess.run([sys.executable, "-m", "holoops.cli", "demo", "--help"], cwd=ROOT,
                               capture_output=True, text=True).stdout
    assert "'all'" in help_text and "openmetrics" in help_text


@pytest.mark.slow
@pytest.mark.browser
def test_the_first_screen_leads_with_the_answer_and_each_service_keeps_its_colour(main_job):
    """In real Chromium: the diagnostics page's first screen (1280x900) holds what is wrong, each row with a
    runbook link that resolves; in every figure of the page each service has one colour, and no two
    services share one."""
    from test_browser import ARGS, ARTIFACTS, CHROMIUM, _need_browser

    _need_browser()
    from playwright.sync_api import sync_playwright

    (run,) = [p for p in main_job.iterdir() if (p / "diagnostics.html").is_file()]
    page_path = run / "diagnostics.html"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = b.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_path.as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0", timeout=60_000)
            head = page.get_by_text("What is wrong", exact=False).first
            box = head.bounding_box()
            assert box is not None and box["y"] < 900, f"'What is wrong' is at y={box}"
            table = page.locator("table", has_text="runbook").first
            hrefs = table.locator("a").evaluate_all("els => els.map(a => [a.getAttribute('href'), "
                                                    "a.getBoundingClientRect().top])")
            assert hrefs, "no runbook links in the first table"
            for href, _top in hrefs:
                assert (run / href.split("#")[0]).is_file(), f"runbook link {href} does not resolve"
            assert hrefs[0][1] < 900, "the first runbook link is below the first screen"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "diagnostics-first-screen.png"))
            traces = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
                .flatMap(gd => gd.data.map(t => [t.legendgroup || '', (t.line || {}).color || '']))""")
        finally:
            b.close()
    colours: dict[str, set[str]] = {}
    for group, colour in traces:
        if group and colour:
            colours.setdefault(group, set()).add(colour)
    assert len(colours) >= 5, colours
    assert all(len(c) == 1 for c in colours.values()), colours
    assert len({next(iter(c)) for c in colours.values()}) == len(colours), colours
