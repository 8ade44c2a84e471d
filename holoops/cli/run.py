"""``holoops run NOTEBOOK`` and ``holoops report [SUITE]``: execute notebooks, write reports."""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("run", help="run one notebook (parameters validated first); writes .ipynb and .html",
                       description="Run a notebook through papermill. Parameters follow papermill's "
                                   "conventions and are checked against the notebook's schema before any "
                                   "kernel starts.")
    p.add_argument("notebook", help="notebook path, e.g. notebooks/diagnostics.ipynb")
    p.add_argument("-p", "--parameters", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="a parameter, coerced to the schema's type")
    p.add_argument("-r", "--parameters_raw", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="a parameter kept as a string")
    p.add_argument("-y", "--parameters_yaml", metavar="YAML", help="parameters as a YAML string")
    p.add_argument("-f", "--parameters_file", action="append", default=[], metavar="FILE",
                   help="parameters from a YAML file")
    p.add_argument("--out", metavar="DIR", help="output folder (default: reports/<run-id>); the run is recorded "
                                              "in DIR/history.jsonl (default: reports/history.jsonl; "
                                              "$HOLOOPS_HISTORY or $HOLOOPS_HOME override)")
    p.add_argument("--kernel", help="kernel name (default: the notebook's)")
    p.add_argument("--timeout", type=float, help="per-cell timeout in seconds")
    p.add_argument("--markdown", action="store_true", help="also export Markdown")
    p.add_argument("--no-html", action="store_true", help="skip the HTML report")
    p.add_argument("--help-params", action="store_true",
                   help="print the notebook's parameters (defaults from its parameters cell) and exit")
    p.set_defaults(handler=_run)

    r = sub.add_parser("report", help="run a suite of notebooks in parallel kernels; writes reports/<run-id>/",
                       description="SUITE: a name from holoops/catalogs/suites.yaml (nightly, demo), a "
                                   "folder, or a suite YAML file. Default: every notebook in notebooks/ "
                                   "and runbooks/.")
    r.add_argument("suite", nargs="?", help="suite name, folder or YAML file")
    r.add_argument("--parallel", type=int, default=2, metavar="N", help="kernels at once (default 2)")
    r.add_argument("--out", default="reports", metavar="DIR",
                   help="reports folder (default: reports); runs are recorded in DIR/history.jsonl")
    r.add_argument("--notify", metavar="CONFIG", help="receivers YAML (default: $HOLOOPS_NOTIFY, if set)")
    r.add_argument("--kernel", help="kernel name (default: each notebook's)")
    r.add_argument("--timeout", type=float, help="per-cell timeout in seconds")
    r.add_argument("--no-progress", action="store_true", help="no progress display")
    r.set_defaults(handler=_report)


def _run(args) -> int:
    from pathlib import Path

    if args.help_params:
        print(help_params(args.notebook))
        return 0
    from holoops import history
    from holoops.errors import ParameterError
    from holoops.run import new_run_id, run_notebook, validate_notebook

    if args.timeout is not None and not args.timeout > 0:
        raise ParameterError(f"--timeout: bad value {args.timeout:g}: expected seconds > 0")
    cli = {"params": args.parameters, "raw": args.parameters_raw, "yaml": args.parameters_yaml,
           "files": args.parameters_file}
    validate_notebook(args.notebook, cli=cli)  # ParameterError here: nothing started, nothing written
    run_id = new_run_id()
    out = args.out or str(Path("reports") / run_id)
    result = run_notebook(args.notebook, out_dir=out, cli=cli, html=not args.no_html,
                          markdown=True if args.markdown else None, kernel_name=args.kernel,
                          timeout=args.timeout, run_id=run_id,
                          history_path=history.default_path(args.out or "reports"))
    if not result.ok:
        print(f"holoops: error: {result.failure_text()}", file=sys.stderr)
        return 1
    print(f"ok {result.notebook} in {result.duration_s:.1f}s")
    for label, path in (("notebook", result.output), ("html", result.html), ("markdown", result.markdown)):
        if path:
            print(f"  {label}: {path}")
    return 0


def help_params(notebook: str) -> str:
    """The notebook's parameters: type, the default its parameters cell sets (the schema's where the cell
    sets none), and what each means. A file that is not a notebook is an error, as for ``holoops run``."""
    from holoops.params import describe, schema_for
    from holoops.run import _read_nb, cell_defaults

    nb = _read_nb(notebook)
    schema = schema_for(notebook, nb.metadata)
    own = {k: v for k, v in cell_defaults(nb).items() if k in schema.model_fields}
    return describe(_with_defaults(schema, own)) + (
        "\n\ndefaults: the notebook's parameters cell" + (", else the schema" if set(own) < set(schema.model_fields)
                                                         else ""))


def _with_defaults(schema, defaults: dict):
    """``schema`` with ``defaults`` as its fields' defaults (for display; validation is unchanged)."""
    import copy

    from pydantic import create_model

    changed = {k: v for k, v in defaults.items() if schema.model_fields[k].default != v}
    if not changed:
        return schema
    fields = {}
    for name, value in changed.items():
        info = copy.copy(schema.model_fields[name])
        info.default = value
        fields[name] = (schema.model_fields[name].annotation, info)
    return create_model(schema.__name__, __base__=schema, __doc__=schema.__doc__, **fields)


def _report(args) -> int:
    from holoops.run import load_suite, run_suite

    items = load_suite(args.suite)
    if not items:
        print("holoops: error: no notebooks to run (suite empty or notebooks missing)", file=sys.stderr)
        return 2
    suite = run_suite(items, args.out, parallel=max(1, args.parallel), kernel_name=args.kernel,
                      timeout=args.timeout, progress=None if args.no_progress else "auto")
    for r in suite.results:
        if not r.ok:
            print(f"holoops: error: {r.failure_text()}", file=sys.stderr)
    print(f"{sum(r.ok for r in suite.results)}/{len(suite.results)} ok; index: {suite.index}")
    import os

    if args.notify or os.environ.get("HOLOOPS_NOTIFY"):
        from holoops.notify import load_config, notify

        for d in notify(suite.results, load_config(args.notify), run_id=suite.run_id, index_path=suite.index):
            print(f"notify {d.receiver}: {'ok' if d.ok else 'FAILED'} {d.detail}")
    return 0 if suite.ok else 1
