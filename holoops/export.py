"""Reports from executed notebooks: HTML (code hidden, plotly figures offline) and Markdown (guides).

HTML: code cells and prompts hidden (nbconvert ``--no-input``), no require.js (it would capture plotly.js
as an AMD module) and no MathJax from a CDN. plotly.js is never inside a page: a page written to a folder
loads ``plotly.min.js`` from that same folder (one copy per folder, written by :func:`write_plotly_js`,
offline, no CDN); ``plotlyjs="inline"`` embeds it once instead (a single self-contained file).
Markdown: code hidden, command blocks kept as fenced blocks, figures replaced by a pointer to the HTML
report. Both redact secrets (:mod:`holoops.redact`) and drop the run-history record outputs.

Links to runbook notebooks (``runbooks/<name>.ipynb``, relative) would be dead in a reports folder: they
are pointed at the exported runbook page next to the report (``<name>.html``) when the folder has (or the
suite run writes) one, else at the runbook in JupyterLab (:func:`jupyterlab_url`).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from holoops.notebook import RECORD_MIME

_REQUIREJS = re.compile(r"<script[^>]*require(?:\.min)?\.js[^>]*>\s*</script>\s*", re.IGNORECASE)
#: nbconvert's MathJax block loads MathJax from a CDN on every page; reports have no LaTeX
_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->\s*", re.DOTALL)
_FIGURE_MARK = "plotly-graph-div"
#: the first line plotly.js starts with; counting it counts embedded copies
PLOTLYJS_SIGNATURE = "* plotly.js v"
#: the shared copy of plotly.js every page of a folder loads (relative, offline)
PLOTLYJS_FILE = "plotly.min.js"
#: where a runbook opens in JupyterLab when ``HOLOOPS_RUNBOOK_BASE`` is not set (``jupyter lab`` run in
#: the holoops checkout)
JUPYTERLAB_RUNBOOKS = "http://localhost:8888/lab/tree/runbooks"
#: a relative link to a runbook notebook: in HTML attributes and in Markdown link targets
_RUNBOOK_LINK = re.compile(r"""(?P<pre>\bhref=["']|\]\()(?:\./|\.\./)*runbooks/(?P<stem>[A-Za-z0-9_\-]+)\.ipynb"""
                           r"""(?:\?[^"'()#\s]*)?(?P<frag>#[^"'()\s]*)?""")


def _read(nb_or_path: Any):
    import nbformat

    if isinstance(nb_or_path, (str, Path)):
        return nbformat.read(str(nb_or_path), as_version=4)
    return copy.deepcopy(nb_or_path)


def plotly_js() -> str:
    """The plotly.js bundle shipped with the installed plotly."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def write_plotly_js(folder: str | Path) -> Path:
    """``<folder>/plotly.min.js``: the installed plotly.js, written once (rewritten only when it differs)."""
    path = Path(folder) / PLOTLYJS_FILE
    js = plotly_js().encode("utf-8")
    if path.is_file() and path.stat().st_size == len(js) and path.read_bytes() == js:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{PLOTLYJS_FILE}.{os.getpid()}.tmp")  # parallel exports never see half a file
    tmp.write_bytes(js)
    os.replace(tmp, path)
    return path


def jupyterlab_url(stem: str) -> str:
    """The runbook ``runbooks/<stem>.ipynb`` opened in JupyterLab: ``$HOLOOPS_RUNBOOK_BASE/<stem>.ipynb``,
    else ``http://localhost:8888/lab/tree/runbooks/<stem>.ipynb``."""
    base = os.environ.get("HOLOOPS_RUNBOOK_BASE") or JUPYTERLAB_RUNBOOKS
    return f"{base.rstrip('/')}/{stem}.ipynb"


def link_runbooks(text: str, folder: str | Path | None = None, pages: Iterable[str] = ()) -> str:
    """Point relative ``runbooks/<stem>.ipynb`` links of an exported page at ``<stem>.html`` when that page
    is in ``folder`` or among ``pages`` (stems a suite run writes there), else at :func:`jupyterlab_url`."""
    known = set(pages)

    def sub(m: re.Match) -> str:
        stem = m.group("stem")
        if stem in known or (folder is not None and (Path(folder) / f"{stem}.html").is_file()):
            return f"{m.group('pre')}{stem}.html{m.group('frag') or ''}"
        return f"{m.group('pre')}{jupyterlab_url(stem)}"

    return _RUNBOOK_LINK.sub(sub, text)


# --- figures: smaller without losing a point -------------------------------------------------------
_ISO_NAIVE = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]00:?00)?$")


def _epoch_ms(values: Any):
    """Times as float64 ms since the epoch, the way plotly.js reads them (UTC; an ISO string's offset, if
    any, must be zero); None unless every value is a time. Takes what ``Figure.to_dict()`` holds: a
    ``datetime64`` array, or a list of ISO strings or datetimes."""
    import numpy as np

    if isinstance(values, np.ndarray):
        if values.dtype.kind != "M" or values.ndim != 1:
            return None
        ns = values.astype("datetime64[ns]")
    elif isinstance(values, (list, tuple)):
        if all(isinstance(v, str) and _ISO_NAIVE.match(v) for v in values):
            items: list[Any] = [re.sub(r"(?:Z|[+-]00:?00)$", "", v).replace(" ", "T") for v in values]
        elif all(isinstance(v, datetime) for v in values):
            items = [(v.astimezone(timezone.utc).replace(tzinfo=None) if v.tzinfo else v) for v in values]
        else:
            return None
        try:
            ns = np.array(items, dtype="datetime64[ns]")
        except (ValueError, TypeError, OverflowError):
            return None
    else:
        return None
    if np.isnat(ns).any():
        return None
    return ns.astype("int64") / 1e6


def compact_figure(fig: dict[str, Any], min_points: int = 64) -> dict[str, Any]:
    """The same figure in fewer bytes: a scatter trace's time axis (``datetime64`` values or ISO strings,
    22 bytes of JSON a point, repeated in every trace) becomes ``x0`` + ``dx`` when its points are evenly
    spaced, else float64 milliseconds (a base64 typed array, 11 bytes a point); its x axis is typed ``date``
    explicitly, which is what plotly.js infers from the times. Other traces, and axes typed otherwise, are
    left alone. Returns a copy."""
    import base64

    import numpy as np

    fig = copy.deepcopy(fig)
    layout = fig.setdefault("layout", {}) or {}
    fig["layout"] = layout
    for trace in fig.get("data", []) or []:
        x = trace.get("x")
        if trace.get("type", "scatter") not in ("scatter", "scattergl") or isinstance(x, (str, dict)) \
                or not hasattr(x, "__len__") or len(x) < min_points or "x0" in trace or "dx" in trace:
            continue
        axis_key = "xaxis" + str(trace.get("xaxis", "x"))[1:]
        axis = layout.get(axis_key) or {}
        if axis.get("type") not in (None, "-", "date") or axis.get("calendar") or trace.get("xcalendar"):
            continue
        ms = _epoch_ms(x)
        if ms is None:
            continue
        steps = np.diff(ms)
        if len(steps) and steps[0] > 0 and np.all(steps == steps[0]):
            trace.pop("x")
            trace["x0"] = str(np.datetime_as_string(np.datetime64(int(round(ms[0] * 1000)), "us")))
            trace["dx"] = float(steps[0])
        else:
            trace["x"] = {"dtype": "f8", "bdata": base64.b64encode(ms.astype("<f8").tobytes()).decode("ascii")}
        layout[axis_key] = {**axis, "type": "date"}
    return fig


def prepare(nb: Any, *, show_code: bool = False) -> Any:
    """A report copy of ``nb``: records dropped, plotly.js copies stripped, secrets redacted."""
    from holoops.redact import redact_notebook

    nb = _read(nb)
    js = None
    cells = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type == "code" and not show_code and "injected-parameters" in tags:
            continue
        outputs = []
        for out in cell.get("outputs", []) or []:
            data = out.get("data", {})
            if RECORD_MIME in data:
                continue
            html = data.get("text/html")
            if isinstance(html, list):
                html = "".join(html)
            if isinstance(html, str) and PLOTLYJS_SIGNATURE in html:
                js = js or plotly_js()
                data["text/html"] = html.replace(js, "")
            outputs.append(out)
        if cell.cell_type == "code":
            cell.outputs = outputs
        cells.append(cell)
    nb.cells = cells
    return redact_notebook(nb)


#: command blocks in reports look like blocks and carry a copy button (offline: no external assets)
_COMMAND_BLOCKS = """<style>
.jp-RenderedMarkdown .highlight{position:relative;margin:.6em 0}
.jp-RenderedMarkdown .highlight pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;
  padding:.7em 1em;overflow-x:auto;font-size:12.5px;line-height:1.45}
.holoops-copy{position:absolute;top:6px;right:6px;font-size:11px;padding:2px 8px;border:1px solid #d0d7de;
  border-radius:4px;background:#fff;cursor:pointer;opacity:.75}
.holoops-copy:hover{opacity:1}
</style>
<script>
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".jp-RenderedMarkdown .highlight").forEach(block => {
    const pre = block.querySelector("pre");
    if (!pre) return;
    const button = document.createElement("button");
    button.className = "holoops-copy"; button.type = "button"; button.textContent = "copy";
    button.addEventListener("click", () => {
      navigator.clipboard.writeText(pre.innerText).then(() => { button.textContent = "copied"; },
                                                        () => { button.textContent = "select + copy"; });
    });
    block.appendChild(button);
  });
});
</script>
"""


def to_html(nb_or_path: Any, out_path: str | Path | None = None, *, show_code: bool = False,
            title: str | None = None, plotlyjs: str | None = None, pages: Iterable[str] = ()) -> str:
    """Export to an offline HTML report; written to ``out_path`` when given. Returns the HTML.

    ``plotlyjs``: "shared" (the default with ``out_path``) loads ``plotly.min.js`` from the page's folder
    and writes it there once; "inline" (the default without) embeds it, making one self-contained file.
    ``pages``: stems of the pages a suite run writes next to this one (runbook links point at them).
    """
    from nbconvert import HTMLExporter

    from holoops.redact import redact

    mode = plotlyjs or ("shared" if out_path is not None else "inline")
    if mode not in ("shared", "inline"):
        raise ValueError(f"plotlyjs: {mode!r}; expected 'shared' or 'inline'")
    nb = prepare(nb_or_path, show_code=show_code)
    exporter = HTMLExporter(template_name="lab", exclude_input=not show_code, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    resources = {"metadata": {"name": title or _title(nb_or_path)}}
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    html = _MATHJAX.sub("", _REQUIREJS.sub("", html))
    html = html.replace("</head>", _COMMAND_BLOCKS + "</head>", 1) if "</head>" in html else _COMMAND_BLOCKS + html
    if _FIGURE_MARK in html:
        js = f'<script src="{PLOTLYJS_FILE}" charset="utf-8"></script>' if mode == "shared" else \
            f'<script type="text/javascript">{plotly_js()}</script>'
        script = f'<script type="text/javascript">window.PlotlyConfig = {{MathJaxConfig: "local"}};</script>\n{js}\n'
        html = html.replace("</head>", script + "</head>", 1) if "</head>" in html else script + html
        if mode == "shared" and out_path is not None:
            write_plotly_js(Path(out_path).parent)
    folder = Path(out_path).parent if out_path is not None else None
    html = link_runbooks(redact(html), folder, pages)
    if out_path is not None:
        Path(out_path).write_text(html, encoding="utf-8")
    return html


def to_markdown(nb_or_path: Any, out_path: str | Path | None = None, *, show_code: bool = False,
                pages: Iterable[str] = ()) -> str:
    """Export to Markdown: code hidden, ``text/markdown`` outputs verbatim (fenced commands kept); runbook
    links as in :func:`to_html`."""
    from nbconvert import MarkdownExporter

    from holoops.redact import redact

    nb = prepare(nb_or_path, show_code=show_code)
    for cell in nb.cells:
        for out in cell.get("outputs", []) or []:
            data = out.get("data", {})
            html = data.get("text/html")
            if isinstance(html, str) and _FIGURE_MARK in html:
                out["data"] = {"text/markdown": f"_[figure{_figure_title(html)}: see the HTML report]_"}
            elif "text/markdown" in data:  # prefer markdown over html/plain
                out["data"] = {"text/markdown": data["text/markdown"]}
    exporter = MarkdownExporter(exclude_input=not show_code, exclude_input_prompt=True,
                                exclude_output_prompt=True)
    text, _ = exporter.from_notebook_node(nb)
    text = redact(re.sub(r"\n{3,}", "\n\n", text)).strip() + "\n"
    text = link_runbooks(text, Path(out_path).parent if out_path is not None else None, pages)
    if out_path is not None:
        Path(out_path).write_text(text, encoding="utf-8")
    return text


def _figure_title(html: str) -> str:
    m = re.search(r'"title":\{"text":"([^"]{1,120})"', html)
    return f" '{m.group(1)}'" if m else ""


def _title(nb_or_path: Any) -> str:
    if isinstance(nb_or_path, (str, Path)):
        return Path(str(nb_or_path)).stem
    return "report"


def count_plotlyjs(text: str) -> int:
    """How many copies of plotly.js a file embeds (tests and checks)."""
    return text.count(PLOTLYJS_SIGNATURE)
