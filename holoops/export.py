"""Reports from executed notebooks: HTML (code hidden, plotly figures offline) and Markdown (guides).

HTML: code cells and prompts hidden (nbconvert ``--no-input``), plotly.js embedded exactly once per file,
inline (no CDN), and no require.js (it would capture plotly.js as an AMD module). Markdown: code hidden,
command blocks kept as fenced blocks, figures replaced by a pointer to the HTML report. Both redact
secrets (:mod:`holoops.redact`) and drop the run-history record outputs.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from holoops.notebook import RECORD_MIME

_REQUIREJS = re.compile(r"<script[^>]*require(?:\.min)?\.js[^>]*>\s*</script>\s*", re.IGNORECASE)
_FIGURE_MARK = "plotly-graph-div"
#: the first line plotly.js starts with; counting it counts embedded copies
PLOTLYJS_SIGNATURE = "* plotly.js v"


def _read(nb_or_path: Any):
    import nbformat

    if isinstance(nb_or_path, (str, Path)):
        return nbformat.read(str(nb_or_path), as_version=4)
    return copy.deepcopy(nb_or_path)


def plotly_js() -> str:
    """The plotly.js bundle shipped with the installed plotly."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


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
            title: str | None = None) -> str:
    """Export to a self-contained HTML report; written to ``out_path`` when given. Returns the HTML."""
    from nbconvert import HTMLExporter

    from holoops.redact import redact

    nb = prepare(nb_or_path, show_code=show_code)
    exporter = HTMLExporter(template_name="lab", exclude_input=not show_code, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    resources = {"metadata": {"name": title or _title(nb_or_path)}}
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    html = _REQUIREJS.sub("", html)
    html = html.replace("</head>", _COMMAND_BLOCKS + "</head>", 1) if "</head>" in html else _COMMAND_BLOCKS + html
    if _FIGURE_MARK in html:
        script = f'<script type="text/javascript">window.PlotlyConfig = {{MathJaxConfig: "local"}};</script>\n' \
                 f'<script type="text/javascript">{plotly_js()}</script>\n'
        html = html.replace("</head>", script + "</head>", 1) if "</head>" in html else script + html
    html = redact(html)
    if out_path is not None:
        Path(out_path).write_text(html, encoding="utf-8")
    return html


def to_markdown(nb_or_path: Any, out_path: str | Path | None = None, *, show_code: bool = False) -> str:
    """Export to Markdown: code hidden, ``text/markdown`` outputs verbatim (fenced commands kept)."""
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
