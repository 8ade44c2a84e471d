"""What notebooks and runbooks display: one module per notebook, each a row of sentence-like calls.

A notebook cell reads like a sentence of the report, e.g. ``dx.golden_signals(hx)``: the function
computes through :mod:`holoops.analyze`, records the key numbers with ``hx.record``, and returns a
:class:`Section` that displays itself (a heading, a short summary, then tables, findings and figures).
The computation lives in ``holoops.analyze`` and is tested there; these modules only choose what to
show, so they stay short.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Section:
    """A titled block of a report. Displays in Jupyter and exports to HTML/Markdown through nbconvert.

    ``blocks`` holds, in order, any of: str (Markdown), pandas DataFrame, plotly Figure, or an object
    with ``_repr_html_``/``_repr_markdown_``. ``data`` keeps the computed results for the caller.
    """

    title: str
    summary: str = ""
    blocks: list[Any] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    level: int = 2

    def add(self, *blocks: Any) -> Section:
        self.blocks.extend(b for b in blocks if b is not None)
        return self

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def _ipython_display_(self) -> None:
        from IPython.display import Markdown, display

        display(Markdown(f"{'#' * self.level} {self.title}\n\n{self.summary}".rstrip()))
        for block in self.blocks:
            if isinstance(block, str):
                display(Markdown(block))
            elif _is_frame(block):
                display(_frame_html(block))
            else:
                display(block)

    def _repr_html_(self) -> str:  # for contexts without the IPython display hook
        parts = [f"<h{self.level}>{html.escape(self.title)}</h{self.level}>"]
        if self.summary:
            parts.append(f"<p>{html.escape(self.summary)}</p>")
        for block in self.blocks:
            if isinstance(block, str):
                parts.append(f"<p>{html.escape(block)}</p>")
            elif _is_frame(block):
                parts.append(_frame_html(block).data)
            elif hasattr(block, "_repr_html_"):
                parts.append(block._repr_html_())
            elif hasattr(block, "to_html"):
                parts.append(block.to_html(full_html=False, include_plotlyjs=False))
        return "\n".join(parts)


def _is_frame(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "columns")


def _frame_html(df: Any, max_rows: int = 40):
    """A compact HTML table (pandas or polars), numbers rounded for reading."""
    from IPython.display import HTML

    from holoops.fmt import display_frame
    from holoops.frames import to_pandas

    pdf = to_pandas(df)
    if len(pdf) > max_rows:
        pdf = pdf.head(max_rows)
    styled = display_frame(pdf).to_html(index=False, border=0, classes="holoops-table", na_rep="")
    return HTML(styled)


def note(text: str) -> Section:
    """A one-line section (e.g. "no incident in this window")."""
    return Section(title="", summary=text, level=4)
