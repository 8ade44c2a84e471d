"""Local links of a reports folder: every ``href``/``src`` of its HTML pages and every link of its Markdown
files must resolve to a file (and anchor) in the folder.

:func:`check_links` walks a folder and returns each local link that does not resolve, with the page it is
on and why. Links with a scheme (``https:``, ``mailto:``, ``data:``, ...) are not local and not checked;
an absolute path or a ``file:`` URL is reported (a reports folder is copied and served elsewhere).
Anchors (``page.html#id``, ``#id``) are checked against the ``id``/``name`` attributes of HTML pages and
the heading slugs of Markdown files.

    from holoops.linkcheck import check_links
    for broken in check_links("reports"):
        print(broken)          # reports/20261108T.../diagnostics.html: runbooks/error_burst.ipynb: no such file
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: files whose links are checked
PAGE_SUFFIXES = (".html", ".htm", ".md")
_LINK_ATTRS = {"a": ("href",), "link": ("href",), "area": ("href",), "script": ("src",), "img": ("src",),
               "iframe": ("src",), "source": ("src",), "video": ("src",), "audio": ("src",), "embed": ("src",)}
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class BrokenLink:
    """A local link on ``page`` (a path) that does not resolve."""

    page: str
    link: str
    reason: str

    def __str__(self) -> str:
        return f"{self.page}: {self.link}: {self.reason}"


class _Page(HTMLParser):
    """Links and anchor targets of one HTML page (script and style bodies are not parsed as markup)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.anchors: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for attr in ("id", "name") if tag == "a" else ("id",):
            if values.get(attr):
                self.anchors.add(str(values[attr]))
        for attr in _LINK_ATTRS.get(tag, ()):
            if values.get(attr) is not None:
                self.links.append(str(values[attr]).strip())

    handle_startendtag = handle_starttag


_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_MD_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_MD_REF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
_MD_HTML = re.compile(r"""<(?:a|img|script|link)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_MD_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_MD_ID = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""")


def github_slug(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _markdown(text: str) -> tuple[list[str], set[str]]:
    """(links, anchors) of a Markdown file; code blocks and code spans hold no links."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for m in _MD_HEADING.finditer(_FENCE.sub("", text)):
        slug = github_slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    anchors.update(_MD_ID.findall(text))
    prose = _CODE_SPAN.sub("", _FENCE.sub("", text))
    links = _MD_LINK.findall(prose) + _MD_REF.findall(prose) + _MD_HTML.findall(prose)
    return links, anchors


def _html(text: str) -> tuple[list[str], set[str]]:
    page = _Page()
    page.feed(text)
    page.close()
    return page.links, page.anchors


def page_links(path: str | Path) -> tuple[list[str], set[str]]:
    """(every link, every anchor target) of one HTML or Markdown file."""
    p = Path(path)
    text = p.read_text(encoding="utf-8", errors="replace")
    return _markdown(text) if p.suffix.lower() == ".md" else _html(text)


def is_local(link: str) -> bool:
    """True for a link to a file next to the page (relative path, ``#anchor``, absolute path, ``file:``)."""
    if not link or link.startswith("//"):
        return False
    return not _SCHEME.match(link) or link.lower().startswith("file:")


def check_links(root: str | Path, *, anchors: bool = True) -> list[BrokenLink]:
    """Every local link of every HTML/Markdown file under ``root`` that does not resolve (empty: all good)."""
    root = Path(root)
    pages = sorted(p for p in root.rglob("*") if p.suffix.lower() in PAGE_SUFFIXES and p.is_file())
    parsed: dict[Path, tuple[list[str], set[str]]] = {}

    def parse(p: Path) -> tuple[list[str], set[str]]:
        if p not in parsed:
            parsed[p] = page_links(p)
        return parsed[p]

    broken: list[BrokenLink] = []
    for page in pages:
        links, _ = parse(page)
        for link in dict.fromkeys(links):
            reason = _resolve(page, link, root, parse if anchors else None)
            if reason:
                broken.append(BrokenLink(str(page), link, reason))
    return broken


def _resolve(page: Path, link: str, root: Path, parse) -> str | None:
    if not is_local(link):
        return None
    if link.lower().startswith("file:") or link.startswith("/"):
        return "absolute path (the folder is not portable)"
    parts = urlsplit(link)
    rel, fragment = unquote(parts.path), parts.fragment
    target = (page.parent / rel).resolve() if rel else page.resolve()
    if not target.exists():
        return "no such file"
    try:
        target.relative_to(root.resolve())
    except ValueError:
        return "outside the reports folder"
    if fragment and parse is not None and target.is_file() and target.suffix.lower() in PAGE_SUFFIXES:
        ids = parse(target)[1]
        # as browsers do: the fragment as written, then percent-decoded
        if fragment not in ids and unquote(fragment) not in ids:
            return f"no anchor #{unquote(fragment)} in {target.name}"
    return None


def format_report(broken: list[BrokenLink], root: str | Path | None = None) -> str:
    """One line per broken link, pages relative to ``root``."""
    if not broken:
        return "all local links resolve"
    lines = []
    for b in broken:
        page = b.page
        if root is not None and Path(b.page).is_relative_to(Path(root)):
            page = str(Path(b.page).relative_to(Path(root)))
        lines.append(f"{page}: {b.link}: {b.reason}")
    return "\n".join(lines)
