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
    p.add_argument("--out", metavar="DIR", help="output folder (default: reports/<run-id>)")
    p.add_argument("--kernel", help="kernel name (default: the notebook's)")
    p.add_argument("--timeout", type=float, help="per-cell timeout in seconds")
    p.add_argument("--markdown", action="store_true", help="also export Markdown")
    p.add_argument("--no-html", action="store_true", help="skip the HTML report")
    p.add_argument("--help-params", action="store_true", help="print the notebook's parameters and exit")
    p.set_defaults(handler=_run)

    r = sub.add_parser("report", help="run a suite of notebooks in parallel kernels; writes reports/<run-id>/",
                       description="SUITE: a name from holoops/catalogs/suites.yaml (nightly, demo), a "
                                   "folder, or a suite YAML file. Default: every notebook in notebooks/ "
                                   "and runbooks/.")
    r.add_argument("suite", nargs="?", help="suite name, folder or YAML file")
    r.add_argument("--parallel", type=int, default=2, metavar="N", help="kernels at once (default 2)")
    r.add_argument("--out", default="reports", metavar="DIR", help="reports folder (default: reports)")
    r.add_argument("--notify", metavar="CONFIG", help="receivers YAML (default: $HOLOOPS_NOTIFY, if set)")
    r.add_argument("--kernel", help="kernel name (default: each notebook's)")
    r.add_argument("--timeout", type=float, help="per-cell timeout in seconds")
    r.add_argument("--no-progress", action="store_true", help="no progress display")
    r.set_defaults(handler=_report)


def _run(args) -> int:
    from pathlib import Path

    if args.help_params:
        import nbformat

        from holoops.params import describe, schema_for

        nb = nbformat.read(args.notebook, as_version=4) if Path(args.notebook).is_file() else None
        print(describe(schema_for(args.notebook, nb.metadata if nb else None)))
        return 0
    from holoops.run import new_run_id, run_notebook, validate_notebook

    cli = {"params": args.parameters, "raw": args.parameters_raw, "yaml": args.parameters_yaml,
           "files": args.parameters_file}
    validate_notebook(args.notebook, cli=cli)  # ParameterError here: nothing started, nothing written
    run_id = new_run_id()
    out = args.out or str(Path("reports") / run_id)
    result = run_notebook(args.notebook, out_dir=out, cli=cli, html=not args.no_html,
                          markdown=True if args.markdown else None, kernel_name=args.kernel,
                          timeout=args.timeout, run_id=run_id)
    if not result.ok:
        print(f"holoops: error: {result.failure_text()}", file=sys.stderr)
        return 1
    print(f"ok {result.notebook} in {result.duration_s:.1f}s")
    for label, path in (("notebook", result.output), ("html", result.html), ("markdown", result.markdown)):
        if path:
            print(f"  {label}: {path}")
    return 0


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
