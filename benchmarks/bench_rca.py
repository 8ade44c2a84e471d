"""Root-cause localisation on labelled fault cases (Nezha layout): top-1 / top-3 / no answer per fault kind.

    .venv/bin/python benchmarks/bench_rca.py --data /work/shared/data/rca-dev      # every labelled case
    .venv/bin/python benchmarks/bench_rca.py --data DIR --cases 5                    # the first 5 per day

``DIR`` is searched for ``*fault_list.json`` files (Nezha's labels: ``{"HH": [{"inject_time",
"inject_pod", "inject_type"}]}``); each one's folder is a day of exports (``metric/``, ``trace/``,
``log/``). A folder holding only ``.tgz`` archives is extracted to a temporary folder first (never into
the project). Nothing here knows a system, a service or a day: it reads each day as a user would --

1. ``holoops.discover.discover_exports(day)``: the fleet profile (services from the data, dependencies
   from the spans' caller/callee pairs, default SLOs);
2. an exports source over the day folder (``holoops.sources.folder.ExportsSource``, the same reader the
   notebooks use), and per case the dataset of the window ``[inject - 6h, inject + 4m]``
   (``inject_time`` read as UTC wall-clock time; ``inject_timestamp`` is not used);
3. ``holoops.analyze.rca``: evidence for ``[inject, inject + 3m]`` against everything before it, ranked.

The answer of a case is the service of ``inject_pod`` (its pod suffixes stripped by the readers' own
``service_of_pod``). A case counts as top-k when that service is among the first k suspects, and as
"no answer" when the diagnosis abstains (an abstention is a miss for top-1 and top-3).

Protocol: the evidence of every case is collected once; the ranking weights (``GRID``) are then chosen
leave-one-case-out -- for each case, the grid point with the most top-1 (then top-3) hits on the OTHER
cases (ties: the earlier grid point; the shipped defaults come first) -- and the case is scored with that
choice. The table printed as "held-out" is that score; "defaults" is the shipped ``RCAConfig()`` on every
case (the defaults are the full-data choice of the same selection; the script says if they are not).
Time per case is the read of its window plus the analysis. Writes the tables to
``benchmarks/out/rca.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from holoops.analyze import rca  # noqa: E402

#: the ranking knobs chosen leave-one-case-out (the evidence does not depend on them)
GRID = {  # the shipped RCAConfig() values first
    "w_cpu": (4.0, 1.0),
    "w_latency": (1.0, 0.5),
    "w_metrics": (0.5, 0.25),
    "w_traces": (1.0, 2.0),
    "victim_share": (1.01, 0.5),
}
BEFORE_H = 6
AFTER_MIN = 4


@dataclass
class Case:
    day: Path
    at: object
    service: str
    kind: str
    pod: str
    evidence: list = field(default_factory=list)
    seconds: float = 0.0
    notes: list = field(default_factory=list)


def _walk(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    import os

    out = []
    for d, _dirs, files in os.walk(root, followlinks=True):
        out += [Path(d) / f for f in files if f.endswith(suffixes)]
    return sorted(out)


def find_days(data: Path, tmp: Path) -> list[Path]:
    lists = _walk(data, ("fault_list.json",))
    if not lists:
        for tgz in _walk(data, (".tgz", ".tar.gz")):
            with tarfile.open(tgz) as tf:
                tf.extractall(tmp / tgz.name.split(".")[0], filter="data")
        lists = _walk(tmp, ("fault_list.json",))
    return [p.parent for p in lists]


def cases_of(day: Path) -> list[Case]:
    from holoops.sources.formats._canon import service_of_pod
    from holoops.timeutil import parse_time

    label = next(day.glob("*fault_list.json"))
    out = []
    for entries in json.loads(label.read_text()).values():
        for c in entries:
            at = parse_time(str(c["inject_time"]).replace(" ", "T") + "Z")  # wall-clock UTC
            out.append(Case(day, at, service_of_pod(c["inject_pod"]), str(c["inject_type"]), c["inject_pod"]))
    return sorted(out, key=lambda c: c.at)


def collect_day(day: Path, cases: list[Case], cfg: rca.RCAConfig) -> float:
    """Evidence of every case of one day; returns the seconds spent reading the folder once."""
    import datetime as dt

    from holoops.discover import discover_exports
    from holoops.sources.folder import ExportsSource
    from holoops.timeutil import Window, utc

    t0 = time.perf_counter()
    src = ExportsSource(None, day)
    disc = discover_exports(day, read=src.folder)
    src.fleet = disc.fleet
    first, _last = src.extent()
    setup = time.perf_counter() - t0
    print(f"{day}: {len(disc.fleet.services)} services, {len(disc.fleet.edges)} dependencies, "
          f"{len(cases)} cases; folder read and profile in {setup:.1f}s", flush=True)
    for c in cases:
        t = time.perf_counter()
        at = utc(c.at).to_pydatetime()
        a = at - dt.timedelta(hours=BEFORE_H)
        if first is not None:
            a = max(a, utc(first).to_pydatetime())
        ds = src.read(Window(a, at + dt.timedelta(minutes=AFTER_MIN)), engine="pandas")
        start, end = rca.window_of(ds, at=c.at, config=cfg)
        c.evidence, c.notes = rca.collect(ds, start, end, cfg)
        c.fleet = disc.fleet
        c.seconds = time.perf_counter() - t
        runbook_view(c, ds, start, end, cfg)
    return setup


def runbook_view(c: Case, ds, start, end, cfg: rca.RCAConfig) -> None:
    """What a runbook shows for the case (not timed): the top hypothesis (service, kind) with the ranking
    as evidence, and whether the incident detector raises an incident within 2 minutes before to 4 after."""
    import pandas as pd

    from holoops.analyze import hypotheses as H
    from holoops.analyze.timeline import detect_incidents

    ds = ds.pandas()
    diag = rca.rank(c.evidence, ds.fleet, start, end, cfg)
    cat = H.load_catalog()
    wd = H.window_data(ds.metrics, ds.fleet, start - pd.Timedelta("30min"), end, logs=ds.logs, spans=ds.spans,
                       events=ds.events, baseline=cat["baseline"], diagnosis=diag)
    ranked = H.evaluate(wd, ds.fleet, cat)
    c.hypothesis = (ranked[0].service, ranked[0].kind) if ranked and ranked[0].score >= cat["threshold"] else None
    found = detect_incidents({"metrics": ds.metrics, "events": ds.events}, ds.fleet, rank="onset")
    a, b = start - pd.Timedelta("2min"), start + pd.Timedelta("4min")
    c.detected = [f.service for f in found if f.onset is not None and a <= pd.Timestamp(f.onset) <= b]


def outcome(c: Case, cfg: rca.RCAConfig) -> tuple[int | None, bool, str | None]:
    d = rca.rank(c.evidence, c.fleet, None, None, cfg)
    top = f"{d.suspects[0].service} ({d.suspects[0].score:.1f})" if d.suspects else None
    return (None if d.abstain else d.rank_of(c.service)), d.abstain, top


def score(cases: list[Case], cfg: rca.RCAConfig) -> tuple[int, int]:
    t1 = t3 = 0
    for c in cases:
        r, _abst, _top = outcome(c, cfg)
        t1 += r == 1
        t3 += r is not None and r <= 3
    return t1, t3


def grid() -> list[rca.RCAConfig]:
    keys = list(GRID)
    return [replace(rca.RCAConfig(), **dict(zip(keys, vals, strict=True)))
            for vals in itertools.product(*(GRID[k] for k in keys))]


def choose(cases: list[Case], configs: list[rca.RCAConfig]) -> rca.RCAConfig:
    best, best_s = configs[0], None
    for cfg in configs:
        s = score(cases, cfg)
        if best_s is None or s > best_s:
            best, best_s = cfg, s
    return best


def table(rows: list[tuple[Case, int | None, bool]]) -> list[str]:
    import statistics

    kinds = sorted({c.kind for c, _r, _a in rows})
    out = ["| fault kind | cases | top-1 | top-3 | no answer | s/case (median, max) |",
           "|---|---:|---:|---:|---:|---:|"]
    for k in [*kinds, "all"]:
        sel = [(c, r, a) for c, r, a in rows if k in ("all", c.kind)]
        n = len(sel)
        t1 = sum(r == 1 for _c, r, _a in sel)
        t3 = sum(r is not None and r <= 3 for _c, r, _a in sel)
        na = sum(a for _c, _r, a in sel)
        secs = [c.seconds for c, _r, _a in sel]
        out.append(f"| {k} | {n} | {t1}/{n} ({t1 / n:.0%}) | {t3}/{n} ({t3 / n:.0%}) | {na}/{n} ({na / n:.0%}) | "
                   f"{statistics.median(secs):.1f}, {max(secs):.1f} |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with Nezha-layout days (or .tgz archives of them)")
    ap.add_argument("--cases", type=int, default=0, help="at most this many cases per day (0: all)")
    ap.add_argument("--out", default=str(HERE / "out" / "rca.md"))
    args = ap.parse_args(argv)
    data = Path(args.data)
    if not data.exists():
        print(f"no data at {data}: nothing to score")
        return 0
    cfg0 = rca.RCAConfig()
    with tempfile.TemporaryDirectory(prefix="holoops-rca-") as tmp:
        days = find_days(data, Path(tmp))
        if not days:
            print(f"no *fault_list.json under {data}: nothing to score")
            return 0
        cases: list[Case] = []
        for day in days:
            cs = cases_of(day)
            if args.cases:
                cs = cs[: args.cases]
            collect_day(day, cs, cfg0)
            cases += cs
    configs = grid()
    held: list[tuple[Case, int | None, bool]] = []
    dflt: list[tuple[Case, int | None, bool]] = []
    lines = ["| case | kind | answer | held-out rank | top suspect (score) | s |", "|---|---|---|---:|---|---:|"]
    for i, c in enumerate(cases):
        others = cases[:i] + cases[i + 1:]
        cfg = choose(others, configs) if len(configs) > 1 else cfg0
        r, abst, top = outcome(c, cfg)
        held.append((c, r, abst))
        r0, a0, _t0 = outcome(c, cfg0)
        dflt.append((c, r0, a0))
        lines.append(f"| {c.day.name} {c.at:%H:%M:%S} | {c.kind} | {c.service} | "
                     f"{'abstain' if abst else r} | {top} | {c.seconds:.1f} |")
    full = choose(cases, configs)
    kinds = sorted({c.kind for c in cases})
    view = ["| fault kind | cases | top hypothesis names the service | its kind | detector raised an incident | "
            "incident's first suspect |", "|---|---:|---:|---|---:|---:|"]
    for k in [*kinds, "all"]:
        sel = [c for c in cases if k in ("all", c.kind)]
        n = len(sel)
        hyp = sum(c.hypothesis is not None and c.hypothesis[0] == c.service for c in sel)
        kk = sorted({c.hypothesis[1] for c in sel if c.hypothesis is not None and c.hypothesis[0] == c.service})
        det = sum(bool(c.detected) for c in sel)
        first = sum(bool(c.detected) and c.detected[0] == c.service for c in sel)
        view.append(f"| {k} | {n} | {hyp}/{n} ({hyp / n:.0%}) | {', '.join(kk) or '-'} | {det}/{n} ({det / n:.0%}) | "
                    f"{first}/{n} |")
    report = ["## Held-out (leave-one-case-out choice of the ranking weights)", "", *table(held), "",
              "## Shipped defaults (RCAConfig()) on every case", "", *table(dflt), "",
              "## What a runbook shows (shipped defaults): top hypothesis at the catalog threshold, and the "
              "incident detector (metrics only) from 2 minutes before the injection to 4 after", "", *view, "",
              "## Cases", "", *lines, ""]
    if full != cfg0:
        changed = {k: getattr(full, k) for k in GRID if getattr(full, k) != getattr(cfg0, k)}
        report.append(f"Note: the full-data choice differs from the shipped defaults: {changed}")
    text = "\n".join(report)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
