"""Run notebooks through papermill: validate parameters first, execute, redact, export, record history.

:func:`run_notebook` runs one; :func:`run_suite` runs a suite in parallel kernels (one process each) and
writes ``reports/<run-id>/`` with an ``index.html`` linking every report. Parameters are validated against
the notebook's schema (:mod:`holoops.params`) before any kernel starts. On failure the output notebook is
still written (papermill's banner and the failing cell in it) and the result names the cell and the error.
"""

from __future__ import annotations

import html as _html
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from holoops.errors import ParameterError

SUITES_FILE = Path(__file__).parent / "catalogs" / "suites.yaml"
DEFAULT_FOLDERS = ("notebooks", "runbooks")
#: schemas whose reports also get a Markdown export
MARKDOWN_SCHEMAS = ("deployment_guide",)


@dataclass
class RunResult:
    """What one notebook run produced."""

    notebook: str
    path: str
    output: str
    status: str                      # "ok" | "failed"
    duration_s: float
    started_at: str
    finished_at: str
    parameters: dict[str, Any] = field(default_factory=dict)   # redacted
    records: dict[str, Any] = field(default_factory=dict)
    html: str | None = None
    markdown: str | None = None
    error: str | None = None
    failed_cell: int | None = None
    failed_source: str | None = None
    run_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_entry(self) -> dict[str, Any]:
        """The history line of this run."""
        return asdict(self)

    def failure_text(self, lines: int = 8) -> str:
        """The failing cell (index and source excerpt) and the error, for the terminal."""
        if self.ok:
            return ""
        out = [f"{self.path}: failed"]
        if self.failed_cell is not None:
            out[0] += f" at cell {self.failed_cell} (0-based, as in the input notebook)"
            src = (self.failed_source or "").splitlines()
            out += [f"    {line}" for line in src[:lines]] + (["    ..."] if len(src) > lines else [])
        out.append(f"  {self.error}")
        out.append(f"  output notebook: {self.output}")
        return "\n".join(out)


@dataclass(frozen=True)
class SuiteItem:
    path: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class SuiteResult:
    run_id: str
    folder: str
    index: str
    results: list[RunResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def new_run_id() -> str:
    """``20261108T020000Z-1a2b3c``: sortable, unique."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def _read_nb(path: str | Path):
    """The notebook at ``path``; ParameterError/InputFileError (one line, no traceback) when there is none."""
    from holoops.notebook import skip_slow_format_checkers

    skip_slow_format_checkers()
    import nbformat

    from holoops.errors import InputFileError

    p = Path(path)
    if p.is_dir():
        raise ParameterError(f"{p}: is a folder, not a notebook (give a .ipynb file in it)")
    if not p.is_file():
        raise ParameterError(f"{p}: no such notebook")
    expected = "a Jupyter notebook (.ipynb, nbformat 4 JSON)"
    try:
        nb = nbformat.read(str(p), as_version=4)
    except UnicodeDecodeError:
        raise InputFileError(p, expected, "a binary file") from None
    except OSError as exc:
        raise InputFileError(p, expected, f"a file that cannot be read ({exc.strerror or exc})") from None
    except Exception as exc:  # nbformat's NotJSONError, a JSON error, a missing key, an old format
        raise InputFileError(p, expected, _notebook_problem(p, exc)) from None
    if not isinstance(nb.get("cells"), list):
        raise InputFileError(p, expected, "JSON without a 'cells' list")
    return nb


def _notebook_problem(p: Path, exc: Exception) -> str:
    """What is wrong with a file that nbformat cannot read, in a few words."""
    import json

    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        what = "text that is not JSON" if p.suffix != ".ipynb" or err.pos == 0 else "broken JSON"
        return f"{what} (line {err.lineno}, column {err.colno}: {err.msg})"
    except (OSError, UnicodeDecodeError):
        return type(exc).__name__
    if not isinstance(doc, dict) or "cells" not in doc:
        return "JSON that is not a notebook (no 'cells')"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"a notebook nbformat cannot read ({first[:160]})"


def _check_cli_files(cli: dict[str, Any] | None) -> None:
    """``-f`` files and ``-y`` text: each must exist and hold a YAML mapping (ParameterError otherwise)."""
    import yaml

    if not cli:
        return
    sources = [(f"-f {f}", f) for f in cli.get("files") or []]
    if cli.get("yaml"):
        sources.append(("-y", None))
    for label, f in sources:
        if f is not None:
            p = Path(f)
            if p.is_dir():
                raise ParameterError(f"{label}: is a folder, not a YAML file of parameters")
            if not p.is_file():
                raise ParameterError(f"{label}: no such parameters file")
            try:
                text = p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ParameterError(f"{label}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
        else:
            text = cli["yaml"]
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ParameterError(f"{label}: not valid YAML{where}: {problem}") from None
        if data is not None and not isinstance(data, dict):
            raise ParameterError(f"{label}: expected a YAML mapping of parameter names to values "
                                 f"(name: value), found a {type(data).__name__}")


def validate_notebook(path: str | Path, parameters: dict[str, Any] | None = None,
                      cli: dict[str, Any] | None = None) -> tuple[str, dict[str, Any], Any]:
    """Check ``parameters`` (typed) and ``cli`` (papermill-style strings) against the notebook's schema.

    Returns (schema name, validated overrides to inject, schema). Raises ParameterError; starts nothing.
    """
    from holoops import params as P

    nb = _read_nb(path)
    name = P.schema_name(path, nb.metadata)
    schema = P.schema_for(path, nb.metadata)
    overrides = dict(parameters or {})
    _check_cli_files(cli)
    if cli:
        overrides.update(P.parse_cli_params(schema, cli.get("params"), cli.get("raw"), cli.get("yaml"),
                                            cli.get("files"), where=str(path)))
    # the parameters cell's own values count too: a default the fleet does not have fails here, not in a kernel
    model = P.validate(schema, {**cell_defaults(nb), **overrides}, where=str(path))
    dumped = model.model_dump(mode="json")
    return name, {k: dumped[k] for k in overrides if k in dumped}, schema


def cell_defaults(nb) -> dict[str, Any]:
    """``name = literal`` assignments of the notebook's ``parameters`` cell (others are ignored)."""
    import ast

    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in (cell.metadata.get("tags") or []):
            out: dict[str, Any] = {}
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                return {}
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        out[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        continue
            return out
    return {}


def _harvest_records(nb) -> dict[str, Any]:
    from holoops.notebook import RECORD_MIME

    records: dict[str, Any] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []) or []:
            rec = out.get("data", {}).get(RECORD_MIME)
            if isinstance(rec, dict) and "key" in rec:
                records[rec["key"]] = rec.get("value")
    return records


def _ipc_kernel_manager() -> str:
    """Kernels talk over Unix sockets, not TCP: no listening ports, nothing in plain text on the network."""
    return "holoops.run.IPCKernelManager"


def _make_ipc_manager():
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any):
            kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)
            import tempfile

            # the ipc socket files live in a private temp folder, removed with the kernel
            self._ipc_dir = Path(tempfile.mkdtemp(prefix="holoops-kernel-"))
            self.ip = str(self._ipc_dir / "kernel")

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:
                import shutil

                shutil.rmtree(self._ipc_dir, ignore_errors=True)

    return IPCKernelManager


def __getattr__(name: str) -> Any:  # IPCKernelManager is built on first use: jupyter_client loads lazily
    if name == "IPCKernelManager":
        cls = _make_ipc_manager()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def _quiet_papermill() -> None:
    """papermill warns about parameters a notebook's parameters cell does not list. holoops has already
    validated every parameter against the notebook's schema (stricter than that warning), so it is noise."""
    import logging

    class _Reserved(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "Passed unknown parameter" not in record.getMessage()

    log = logging.getLogger("papermill")
    if not any(isinstance(f, _Reserved) or type(f).__name__ == "_Reserved" for f in log.filters):
        log.addFilter(_Reserved())


def run_notebook(path: str | Path, parameters: dict[str, Any] | None = None, out_dir: str | Path = "reports",
                 *, cli: dict[str, Any] | None = None, html: bool = True, markdown: bool | None = None,
                 kernel_name: str | None = None, timeout: float | None = None, run_id: str | None = None,
                 record_history: bool = True, history_path: str | Path | None = None,
                 validated: bool = False, pages: Iterable[str] = ()) -> RunResult:
    """Validate, execute with papermill, write ``<out_dir>/<stem>.ipynb`` (redacted) and ``.html``.

    ``parameters`` are Python values; ``cli`` holds papermill-style ``params``/``raw``/``yaml``/``files``.
    Never raises for a failing notebook: the result has ``status="failed"`` and the failing cell.
    The run is recorded in ``history_path``, by default :func:`holoops.history.default_path` of
    ``out_dir`` (``$HOLOOPS_HISTORY``, ``$HOLOOPS_HOME/history.jsonl``, else ``<out_dir>/history.jsonl``).
    ``pages``: stems of the pages a suite writes next to this one (runbook links point at them).
    """
    from holoops import redact

    if validated:
        from holoops import params as P

        nb0 = _read_nb(path)
        name, overrides, schema = P.schema_name(path, nb0.metadata), dict(parameters or {}), \
            P.schema_for(path, nb0.metadata)
    else:
        name, overrides, schema = validate_notebook(path, parameters, cli)
    secret_names = schema.secret_fields()
    redact.register_params(overrides, secret_names)
    shown = {k: (redact.MASK if k in secret_names and v else v) for k, v in overrides.items()}

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(path).stem
    output = out / f"{stem}.ipynb"
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    error = failed_cell = failed_source = None
    private = Path(tempfile.mkdtemp(prefix="holoops-run-"))  # mode 0700: the unredacted notebook lives here
    raw_out = private / output.name
    try:
        import papermill as pm
        from papermill.exceptions import PapermillExecutionError

        _quiet_papermill()

        try:
            pm.execute_notebook(str(path), str(raw_out), parameters={**overrides, "holoops_notebook": name},
                                kernel_name=kernel_name, progress_bar=False, log_output=False,
                                execution_timeout=timeout, kernel_manager_class=_ipc_kernel_manager())
        except PapermillExecutionError as exc:
            failed_cell, failed_source = exc.cell_index, exc.source
            error = f"{exc.ename}: {exc.evalue}"
        except Exception as exc:  # kernel died, timeout, missing kernel: still a result, never a crash
            error = f"{type(exc).__name__}: {exc}"
        import nbformat

        nb = nbformat.read(str(raw_out), as_version=4) if raw_out.exists() else _read_nb(path)
        if failed_cell is not None:  # papermill counts its injected cell; report the input notebook's index
            failed_cell = sum("injected-parameters" not in c.get("metadata", {}).get("tags", [])
                              for c in nb.cells[:failed_cell])
    finally:
        shutil.rmtree(private, ignore_errors=True)
    redact.redact_notebook(nb)
    if error:
        error = redact.redact(error)
        failed_source = redact.redact(failed_source or "")
    import nbformat

    nbformat.write(nb, str(output))
    records = _harvest_records(nb)
    result = RunResult(
        notebook=stem, path=str(path), output=str(output), status="failed" if error else "ok",
        duration_s=round(time.perf_counter() - t0, 3), started_at=started.isoformat(),
        finished_at=datetime.now(timezone.utc).isoformat(), parameters=shown, records=records,
        error=error, failed_cell=failed_cell, failed_source=failed_source, run_id=run_id)
    if html:
        from holoops.export import to_html

        result.html = str(out / f"{stem}.html")
        show_code = bool(overrides.get("show_code", False))
        to_html(nb, result.html, show_code=show_code, title=stem, pages=pages)
    if markdown or (markdown is None and name in MARKDOWN_SCHEMAS):
        from holoops.export import to_markdown

        result.markdown = str(out / f"{stem}.md")
        to_markdown(nb, result.markdown, pages=pages)
    if record_history:
        from holoops import history

        history.append(result.to_entry(), history_path or history.default_path(out_dir))
    return result


# --- suites -------------------------------------------------------------------------------------
def default_suite(root: str | Path = ".") -> list[SuiteItem]:
    """Every notebook present in ``notebooks/`` and ``runbooks/``."""
    root = Path(root)
    return [SuiteItem(str(p)) for d in DEFAULT_FOLDERS for p in sorted((root / d).glob("*.ipynb"))
            if not p.name.startswith(".")]


def load_suite(name: str | None = None, suites_file: str | Path | None = None,
               root: str | Path = ".") -> list[SuiteItem]:
    """A suite by name (``holoops/catalogs/suites.yaml``), a folder, a YAML file, or the default suite."""
    import yaml

    if not name:
        return default_suite(root)
    p = Path(name)
    if p.is_dir():
        return [SuiteItem(str(n)) for n in sorted(p.glob("*.ipynb"))]
    if p.suffix in (".yaml", ".yml") and not p.is_file():
        raise ParameterError(f"{p}: no such suite file")
    source = p if p.suffix in (".yaml", ".yml") and p.is_file() else Path(suites_file or SUITES_FILE)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ParameterError(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{source}: expected a mapping of suite names (or 'notebooks:'), "
                             f"found a {type(data).__name__}")
    suites = data.get("suites", data)
    spec = suites if source == p and "notebooks" in suites else suites.get(name)
    if spec is None:
        raise ParameterError(f"{source}: no suite {name!r}; known: {', '.join(suites)}")
    common = spec.get("parameters", {}) or {}
    items = []
    for i, entry in enumerate(spec.get("notebooks", [])):
        path, own = (entry, {}) if isinstance(entry, str) else (entry.get("path"), entry.get("parameters") or {})
        if not path:
            raise ParameterError(f"{source}: suite {name!r} notebooks.{i}: missing 'path'")
        full = Path(root) / path
        if not full.exists() and spec.get("skip_missing", True):
            continue
        items.append(SuiteItem(str(full), {**common, **own}))
    return items


def _fit(schema: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Suite-wide parameters apply only to notebooks whose schema has them."""
    return {k: v for k, v in values.items() if k in schema.model_fields}


def _worker(kwargs: dict[str, Any]) -> RunResult:
    return run_notebook(**kwargs)


def run_suite(items: list[SuiteItem], out_dir: str | Path = "reports", *, parallel: int = 2,
              run_id: str | None = None, progress: str | None = "auto", kernel_name: str | None = None,
              timeout: float | None = None, history_path: str | Path | None = None,
              on_result: Callable[[RunResult], None] | None = None, workers: str = "thread") -> SuiteResult:
    """Run ``items`` in up to ``parallel`` kernels; write ``<out_dir>/<run-id>/`` and its ``index.html``.

    Every notebook's parameters are validated before the first kernel starts. ``workers``: "thread"
    (default: kernels are processes anyway; measured 2x faster on 2 cores) or "process" (spawned; isolated).
    Runs are recorded in ``history_path``, by default :func:`holoops.history.default_path` of ``out_dir``.
    """
    import concurrent.futures as cf
    import multiprocessing as mp

    from holoops import history
    from holoops import params as P

    run_id = run_id or new_run_id()
    history_path = history_path or history.default_path(out_dir)
    folder = Path(out_dir) / run_id
    jobs = []
    for item in items:
        nb = _read_nb(item.path)
        schema = P.schema_for(item.path, nb.metadata)
        _, overrides, _ = validate_notebook(item.path, _fit(schema, item.parameters))
        jobs.append({"path": item.path, "parameters": overrides, "out_dir": str(folder), "run_id": run_id,
                     "record_history": False, "kernel_name": kernel_name, "timeout": timeout,
                     "validated": True})
    pages = tuple(Path(j["path"]).stem for j in jobs)  # every page this run writes into its folder
    for job in jobs:
        job["pages"] = pages
    folder.mkdir(parents=True, exist_ok=True)
    show = _progress(len(jobs), progress)
    results: list[RunResult] = []

    if parallel <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(_done(_worker(job), show, history, history_path, on_result))
    else:
        if workers == "thread":
            pool_cm: cf.Executor = cf.ThreadPoolExecutor(max_workers=parallel)
        else:  # spawn: fork with a kernel client's threads is unsafe
            pool_cm = cf.ProcessPoolExecutor(max_workers=parallel, mp_context=mp.get_context("spawn"))
        with pool_cm as pool:
            futures = {pool.submit(_worker, job): job for job in jobs}
            for fut in cf.as_completed(futures):
                try:
                    res = fut.result()
                except Exception as exc:  # the worker itself died
                    job = futures[fut]
                    now = datetime.now(timezone.utc).isoformat()
                    res = RunResult(Path(job["path"]).stem, job["path"], "", "failed", 0.0, now, now,
                                    error=f"{type(exc).__name__}: {exc}", run_id=run_id)
                results.append(_done(res, show, history, history_path, on_result))
    show(None)
    order = {j["path"]: i for i, j in enumerate(jobs)}
    results.sort(key=lambda r: order.get(r.path, 0))
    index = write_index(folder, results, run_id)
    return SuiteResult(run_id, str(folder), str(index), results)


def _done(res: RunResult, show, history, history_path, on_result) -> RunResult:
    history.append(res.to_entry(), history_path)
    show(res)
    if on_result:
        on_result(res)
    return res


def _progress(total: int, mode: str | None) -> Callable[[RunResult | None], None]:
    """A progress callback: rich bar when rich is installed (and mode allows), else plain lines."""
    if mode is None:
        return lambda r: None
    done = [0]
    if mode in ("auto", "rich"):
        try:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            bar = Progress(TextColumn("report"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            task = bar.add_task("run", total=total)
            bar.start()

            def rich_show(r: RunResult | None) -> None:
                if r is None:
                    bar.stop()
                    return
                mark = "[green]ok[/]" if r.ok else "[red]FAILED[/]"
                bar.console.print(f"{mark:>16} {r.notebook:<28} {r.duration_s:7.1f}s")
                bar.advance(task)

            return rich_show
        except ImportError:
            pass

    def plain(r: RunResult | None) -> None:
        if r is None:
            return
        done[0] += 1
        print(f"[{done[0]}/{total}] {'ok' if r.ok else 'FAILED':<6} {r.notebook:<28} {r.duration_s:7.1f}s",
              flush=True)

    return plain


def write_index(folder: str | Path, results: list[RunResult], run_id: str = "") -> Path:
    """``index.html`` linking every report of a suite run, with status, duration and findings."""
    folder = Path(folder)
    rows = []
    for r in results:
        link = (f'<a href="{_html.escape(Path(r.html).name)}">{_html.escape(r.notebook)}</a>'
                if r.html else _html.escape(r.notebook))
        nb_link = f'<a href="{_html.escape(Path(r.output).name)}">ipynb</a>' if r.output else ""
        findings = r.records.get("findings") or []
        n = len(findings) if isinstance(findings, list) else 0
        err = _html.escape(r.error or "")
        rows.append(f"<tr class='{r.status}'><td>{link}</td><td>{r.status}</td><td>{r.duration_s:.1f}s</td>"
                    f"<td>{n}</td><td>{nb_link}</td><td>{err}</td></tr>")
    ok = sum(r.ok for r in results)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>holoops report {run_id}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 10px;text-align:left}}
tr.failed td{{color:#b00}}</style></head><body>
<h1>holoops report {_html.escape(run_id)}</h1><p>{ok}/{len(results)} notebooks ok</p>
<table><tr><th>notebook</th><th>status</th><th>duration</th><th>findings</th><th></th><th>error</th></tr>
{''.join(rows)}
</table></body></html>
"""
    from holoops.redact import redact

    path = folder / "index.html"
    path.write_text(redact(page), encoding="utf-8")
    return path
