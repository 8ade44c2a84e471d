"""Real browsers: a notebook run in JupyterLab shows plotly charts and ipywidgets controls; an exported
report renders its plotly figures offline (every network request blocked).

Marked ``browser``; skipped (saying why) when Chromium or Playwright is missing. Screenshots go to
``tests/artifacts/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("HOLOOPS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


def _need_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (set HOLOOPS_CHROMIUM or install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")


@pytest.fixture
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook_copy(src: Path, dest: Path, **params) -> Path:
    """``src`` with its parameters cell overridden (plain literals), written to ``dest``."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    cell = nb["cells"][0]
    lines = "".join(cell["source"]).splitlines()
    for k, v in params.items():
        lines = [f"{k} = {v!r}" if line.split("=")[0].strip() == k else line for line in lines]
    cell["source"] = "\n".join(lines)
    dest.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return dest


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 (token auth) serving a temp root that holds one notebook."""
    _need_browser()
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
    root = tmp_path / "root"
    root.mkdir()
    src = ROOT / "runbooks" / "error_burst.ipynb"  # a runbook: parameter widgets, charts, confirm buttons
    nb = _notebook_copy(src, root / src.name, demo_days=2)
    port, token = _free_port(), uuid.uuid4().hex
    # user settings: no "receive Jupyter news?" toast over the screenshots
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings")}
    env.pop("HOLOOPS_HEADLESS", None)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.open_browser=False",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=", "--ServerApp.allow_root=True", "--LabApp.expose_app_in_browser=True",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = open(tmp_path / "jupyterlab.log", "w")  # noqa: SIM115 (closed in teardown)
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield f"{base}/lab/tree/{nb.name}?token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""


def test_jupyterlab_runs_runbook_with_charts_and_widgets(jupyterlab, browser):
    """A runbook opened in a real JupyterLab runs top to bottom: widgets, plotly charts, no traceback."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(jupyterlab)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_function(KERNEL_IDLE, timeout=180_000)  # the kernel is up: no clicks into a starting UI
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(".js-plotly-plot, .plot-container", timeout=300_000)
    page.wait_for_selector(".widget-dropdown, .jupyter-widgets", timeout=120_000)
    page.wait_for_function(r"""() => {
      const cells = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
      return cells.length > 0 && cells.every(c => /\[\d+\]/.test(c.textContent));
    }""", timeout=300_000)  # every code cell has run
    assert page.locator(".js-plotly-plot, .plot-container").count() > 0
    assert page.locator(".widget-dropdown, .jupyter-widgets").count() > 0
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert not any("Traceback" in t for t in errors.all_inner_texts())
    page.locator(".js-plotly-plot, .plot-container").first.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "jupyterlab.png"), full_page=False)


def _offline_page(browser, viewport=(1300, 1000)):
    """A page that may load file:// URLs only; everything else is aborted (the network is 'off')."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", only_files)
    return page


def test_exported_guide_shows_commands_without_code(tmp_path, browser):
    """The deployment_guide notebook exported for staging/Kubernetes: commands visible, notebook code hidden."""
    from holoops.run import run_notebook

    res = run_notebook(ROOT / "notebooks" / "deployment_guide.ipynb",
                       {"environment": "staging", "platform": "kubernetes"}, out_dir=tmp_path,
                       record_history=False, timeout=300)
    assert res.ok, res.failure_text()
    assert res.markdown and "```bash" in Path(res.markdown).read_text(encoding="utf-8")
    assert Path(res.html).stat().st_size <= 2 * 1024 * 1024
    page = _offline_page(browser, (1300, 1400))
    page.goto(Path(res.html).as_uri())
    blocks = page.locator("pre")  # nbconvert: <div class="highlight"><pre> with highlighting spans
    page.wait_for_selector("pre", timeout=30_000)
    texts = blocks.all_inner_texts()
    assert any("kubectl apply" in t for t in texts), texts[:3]
    assert any("/healthz" in t for t in texts)  # post-deploy checks hit the real health endpoints
    assert blocks.first.is_visible()
    assert page.locator("button.holoops-copy").count() == blocks.count()  # every command block is copyable
    body = page.locator("body").inner_text()
    assert "holoops.notebook.setup" not in body and "from holoops.reports" not in body  # code hidden
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "guide.png"), full_page=False)


MAX_PAGE = 2 * 1024 * 1024


def test_exported_report_renders_plotly_offline(tmp_path, browser):
    """The diagnostics report renders every figure from the folder's shared plotly.min.js with the network
    off (no request leaves file://, nothing from a CDN); the page itself stays under 2 MiB; the compact time
    axes still read as dates."""
    from holoops.export import PLOTLYJS_FILE, count_plotlyjs
    from holoops.linkcheck import check_links

    res = run_notebook_for_browser(tmp_path)
    html = Path(res.html)
    text = html.read_text(encoding="utf-8")
    n_figures = text.count('class="plotly-graph-div"')
    assert n_figures > 0
    assert html.stat().st_size <= MAX_PAGE, f"{html.name}: {html.stat().st_size} bytes"
    assert count_plotlyjs(text) == 0 and (html.parent / PLOTLYJS_FILE).is_file()
    assert check_links(tmp_path) == []
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    blocked: list[str] = []
    loaded: list[str] = []

    def only_files(route):
        if route.request.url.startswith("file://"):
            loaded.append(route.request.url)
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_files)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(str(e)))
    page.goto(html.as_uri())
    page.wait_for_selector("svg.main-svg", timeout=60_000)
    page.wait_for_function(f"document.querySelectorAll('.plotly-graph-div .main-svg').length >= {n_figures}",
                           timeout=60_000)
    assert page.locator("svg.main-svg").count() > 0
    assert not [c for c in console if "plotly" in c.lower() or "Plotly" in c], console
    assert blocked == [], blocked  # fully offline: no CDN, nothing but the page and its folder
    assert any(u.endswith("/" + PLOTLYJS_FILE) for u in loaded), loaded
    # every figure drew data, and time axes (x0/dx or millisecond arrays) are labelled as dates
    drawn = page.evaluate("""() => [...document.querySelectorAll('.plotly-graph-div')].map(
        d => (d.data || []).length)""")
    assert len(drawn) == n_figures and all(n > 0 for n in drawn), drawn
    ticks = page.evaluate("""() => [...document.querySelectorAll('.plotly-graph-div .xtick text')].map(
        t => t.textContent)""")
    assert any(re.search(r"Nov|\d\d:\d\d", t) for t in ticks), ticks[:20]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
    shutil.copy(html, tmp_path / "kept.html")  # the report stays with the test's tmp dir for inspection


def run_notebook_for_browser(tmp_path):
    from holoops.run import run_notebook

    res = run_notebook(ROOT / "notebooks" / "diagnostics.ipynb", {"demo_days": 1}, out_dir=tmp_path,
                       record_history=False, timeout=300)
    assert res.ok, res.failure_text()
    return res
