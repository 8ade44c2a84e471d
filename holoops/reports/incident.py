"""The runbooks' steps (runbooks/*.ipynb): triage -> evidence -> hypotheses -> remediation -> record.

Each step is a function of ``hx`` (``holoops.notebook.setup``) returning a :class:`Section`; a runbook
is these five calls. The window comes from the parameters (``onset``/``around``; on the demo with
neither, the labelled incident of ``incident_kind``). Hypotheses are ranked across all kinds by
:mod:`holoops.analyze.hypotheses`; remediation runs the top one's catalog actions through the gate of
:class:`holoops.runbook.Runbook` (dry-run unless ``allow_actions``); the record gets TTD/TTR.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from holoops.reports import Section
from holoops.timeutil import utc as _ts

#: incident kind -> the runbook that handles it (file stem under runbooks/)
RUNBOOK_OF = {"gpu_memory_exhaustion": "gpu_memory_pressure", "latency_regression": "latency_regression",
              "disk_exhaustion": "disk_exhaustion", "error_burst": "error_burst",
              "dependency_outage": "dependency_outage", "code_exception": "error_burst",
              "error_response": "error_burst", "cpu_contention": "latency_regression",
              "network_delay": "latency_regression"}
_STATE = "_incident_state"


def runbook_path(kind: str) -> str:
    """``runbooks/<name>.ipynb`` for an incident kind."""
    return f"runbooks/{RUNBOOK_OF.get(kind, kind)}.ipynb"


# --- executors ----------------------------------------------------------------------------------
def record_executor(path: str | Path | None = None):
    """An executor that runs nothing: it appends ``{"argv": [...], "at": ...}`` lines to ``path``."""
    from datetime import datetime, timezone

    from holoops.runbook import ExecResult

    target = Path(path or os.environ.get("HOLOOPS_ACTION_LOG") or "holoops-actions.jsonl")

    def run(argv: list[str], timeout_s: float) -> ExecResult:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"argv": list(argv), "at": datetime.now(timezone.utc).isoformat()}) + "\n")
        return ExecResult(0, f"recorded to {target}", "")

    return run


def executor_for(params: Any):
    """The executor the parameters name (``action_executor``): None = the real subprocess one."""
    if getattr(params, "action_executor", "subprocess") == "record":
        return record_executor(getattr(params, "action_log", None))
    return None


# --- the run's state ----------------------------------------------------------------------------
@dataclass
class IncidentState:
    start: Any
    end: Any
    how: str
    frames: Any
    ranked: list = field(default_factory=list)
    threshold: float = 0.5
    detected: Any = None        # timeline.detect_incidents findings in the window
    signals: Any = None
    saturation: Any = None
    runbook: Any = None
    record: Any = None
    #: the root-cause ranking (holoops.analyze.rca.Diagnosis) at the incident's onset, when one is known
    diagnosis: Any = None
    focus: Any = None

    @property
    def top(self):
        return self.ranked[0] if self.found else None

    @property
    def found(self) -> bool:
        return bool(self.ranked) and self.ranked[0].score >= self.threshold


def incident_window(hx: Any) -> tuple[Any, Any, str]:
    """(start, end, how): onset/around when given; where the source has labelled incidents (the demo) the
    one of this runbook's kind (onset - lookback ... end + 30m); else ``window`` ending at the data's end."""
    import pandas as pd

    from holoops.timeutil import parse_timedelta

    p = hx.params
    if p.onset or p.around:
        a, b = p.incident_range()
        return _ts(a), _ts(b), f"onset {p.onset}" if p.onset else f"around {p.around} ± {p.lookback}"
    first, last = hx.source.extent()
    truth = next((i for i in (hx.source.truth or []) if i["kind"] == p.incident_kind), None)
    if truth:
        a = _ts(truth["onset"]) - pd.Timedelta(parse_timedelta(p.lookback))
        b = _ts(truth["end"]) + pd.Timedelta(minutes=30)
        if last is not None:
            b = min(b, _ts(last))
        return a, b, f"the labelled {p.incident_kind} ({truth.get('id', '')})"
    w = p.resolve_window(data_end=last, data_start=first)
    return _ts(w.start), _ts(w.end), f"the last {p.window} of the data"


#: history read before the incident window: seasonal baselines and "new"/"surging" log patterns need it
BASELINE = "1d"


def _dataset(hx: Any, start: Any, end: Any):
    """All services (the ranking compares them) from a day before ``start`` to ``end``, as pandas."""
    from holoops.reports._data import memo
    from holoops.sources import load_dataset
    from holoops.timeutil import Window, parse_timedelta

    first, _ = hx.source.extent()
    a = start - parse_timedelta(BASELINE)
    if first is not None:
        a = max(a, _ts(first))
    win = Window(a.to_pydatetime(), end.to_pydatetime())
    return memo(hx, f"incident_dataset_{win.start.isoformat()}_{win.end.isoformat()}", lambda: load_dataset(
        hx.params, engine=hx.engine, fleet=hx.fleet, source=hx.source, window=win, services=[]).pandas())


def state(hx: Any) -> IncidentState:
    """Compute (once per parameters) the window, the ranked hypotheses and what triage shows."""
    from holoops.analyze import hypotheses as H

    key = json.dumps(hx.params.model_dump(mode="json"), sort_keys=True)
    cached = hx.__dict__.get(_STATE)
    if cached and cached[0] == key:
        return cached[1]
    start, end, how = incident_window(hx)
    frames = _dataset(hx, start, end)
    cat = H.load_catalog()
    # detected incidents: seasonal baselines need history, so look from a day before the window
    from holoops.analyze.timeline import detect_incidents

    detected, detect_error = [], None
    try:
        found = detect_incidents(frames, hx.fleet)
        detected = [f for f in found if f.onset is not None and start <= _ts(f.onset) <= end]
    except Exception as exc:  # triage still shows the hypotheses
        detect_error = f"{type(exc).__name__}: {exc}"
    focus = _focus(hx, detected)
    diagnosis = None
    if focus is not None:
        from holoops.analyze.rca import diagnose

        diagnosis = diagnose(frames, at=focus)
    wd = H.window_data(frames.metrics, hx.fleet, start, end, logs=frames.logs, spans=frames.spans,
                       events=frames.events, baseline=cat["baseline"], diagnosis=diagnosis)
    st = IncidentState(start, end, how, frames, H.evaluate(wd, hx.fleet, cat), float(cat["threshold"]))
    st.wd = wd  # type: ignore[attr-defined]
    st.detected, st.diagnosis, st.focus = detected, diagnosis, focus
    if detect_error:
        st.detect_error = detect_error  # type: ignore[attr-defined]
    hx.__dict__[_STATE] = (key, st)
    return st


def _focus(hx: Any, detected: list) -> Any:
    """When the incident began, for the root-cause ranking: ``onset``, else ``around``, else the labelled
    incident's onset (demo), else the worst detected incident's onset; None when none is known."""
    p = hx.params
    if p.onset:
        return _ts(p.onset)
    if p.around:
        return _ts(p.around)
    truth = next((i for i in (hx.source.truth or []) if i["kind"] == p.incident_kind), None)
    if truth:
        return _ts(truth["onset"])
    return _ts(detected[0].onset) if detected else None


def _services(hx: Any, st: IncidentState) -> list[str]:
    out = []
    if hx.params.service != "all":
        out.append(hx.params.service)
    if st.top is not None and st.top.service not in out:
        out.append(st.top.service)
    return out or list(hx.fleet.services)[:1]


def _fmt_t(t: Any) -> str:
    return "-" if t is None else f"{_ts(t):%Y-%m-%d %H:%M}"


def _window_metrics(st: IncidentState, extra: str = "30m"):
    import pandas as pd

    m = st.frames.metrics
    return m[(m["ts"] >= st.start - pd.Timedelta(extra)) & (m["ts"] <= st.end)]


def _window_signals(hx: Any, st: IncidentState):
    """Golden signals over the window (errors from the access logs where the counters have no codes)."""
    import pandas as pd

    from holoops.analyze.signals import golden_signals
    from holoops.signalmap import probe_routes

    logs = st.frames.logs
    if logs is not None and len(logs):
        logs = logs[(logs["ts"] >= st.start - pd.Timedelta("30m")) & (logs["ts"] <= st.end)]
    gs = golden_signals(_window_metrics(st), hx.fleet, logs=logs, exclude_routes=sorted(probe_routes(hx.fleet)))
    return gs[(gs["ts"] >= st.start) & (gs["ts"] <= st.end)] if len(gs) else gs


# --- the five steps -----------------------------------------------------------------------------
def triage(hx: Any) -> Section:
    """What is wrong now: the window, the affected service's golden signals and saturation, SLO burn,
    and the incidents :func:`holoops.analyze.timeline.detect_incidents` finds in the window."""
    import pandas as pd

    from holoops.analyze.signals import saturation
    from holoops.analyze.slo import slo_report

    st = state(hx)
    svcs = _services(hx, st)
    m = _window_metrics(st)
    gs = _window_signals(hx, st)
    sat = saturation(m, hx.fleet)
    sat = sat[(sat["ts"] >= st.start) & (sat["ts"] <= st.end)] if len(sat) else sat
    st.signals, st.saturation = gs, sat
    rows = []
    for svc in svcs:
        g = gs[gs["service"] == svc]
        s = sat[sat["service"] == svc]
        row = {"service": svc, "max rps": g["rps"].max(), "max 5xx ratio": g["error_ratio"].max(),
               "max p99 ms": g["p99_ms"].max(), "median p99 ms": g["p99_ms"].median()}
        for res, grp in s.groupby("resource"):
            row[f"max {res}"] = grp["value"].max()
        rows.append(row)
    table = pd.DataFrame(rows)
    hx.record("incident_window", {"start": st.start.isoformat(), "end": st.end.isoformat(), "how": st.how})
    sec = Section("Triage", f"Window {_fmt_t(st.start)} … {_fmt_t(st.end)} UTC ({st.how}); "
                            f"services in focus: {', '.join(svcs)}.")
    sec.add("**Golden signals and saturation in the window** (worst values):", table)
    gaps = st.frames.coverage_notes()
    if gaps:
        sec.add("**Signal coverage**: " + "; ".join(gaps))
    try:
        rep = slo_report(m, hx.fleet)
        burning = [f for f in rep.findings() if f.service in svcs or f.severity == "critical"]
        if burning:
            sec.add("**SLO burn**: " + "; ".join(f"{f.severity}: {f.summary}" for f in burning))
        else:
            sec.add("**SLO burn**: no SLO of these services is burning its budget fast.")
    except Exception as exc:  # an SLO problem must not hide the rest of triage
        sec.add(f"SLO burn not computed: {type(exc).__name__}: {exc}")
    if st.detected:
        det = pd.DataFrame([{"severity": f.severity, "service": f.service, "onset": _fmt_t(f.onset),
                             "summary": f.summary, "runbook": f.runbook} for f in st.detected])
        sec.add(f"**Detected incidents in the window** ({len(det)}):", det)
    else:
        sec.add("**Detected incidents in the window**: none.")
    hx.record("detected_incidents", [{"service": f.service, "severity": f.severity,
                                      "onset": _fmt_t(f.onset)} for f in st.detected])
    sec.data.update(window=(st.start, st.end), signals=gs, saturation=sat, detected=st.detected)
    return sec


def evidence(hx: Any) -> Section:
    """Charts with deploy/config/restart and incident overlays, the window's log patterns, and for
    the services in focus the traces' critical path and retry storms."""
    import pandas as pd

    from holoops import viz
    from holoops.analyze.signals import saturation

    st = state(hx)
    svcs = _services(hx, st)
    fr = st.frames
    ev = getattr(fr, "events", None)
    ev_w = ev[(ev["ts"] >= st.start) & (ev["ts"] <= st.end)] if ev is not None and len(ev) else ev
    gs = st.signals
    if gs is None:
        gs = _window_signals(hx, st)
    sec = Section("Evidence", "What the data shows in the window, with the changes (deploy/config/restart) "
                              "and detected incidents overlaid.")
    incidents = list(st.detected)  # Findings: shaded from onset to the end their evidence gives
    sec.add(viz.golden_signals_figure(gs, services=svcs, events=ev_w, incidents=incidents,
                                      title=f"Golden signals: {', '.join(svcs)}"))
    kind = st.top.kind if st.top is not None else hx.params.incident_kind
    if kind in ("gpu_memory_exhaustion", "disk_exhaustion", "latency_regression"):
        sat = st.saturation
        if sat is None:
            sat = saturation(_window_metrics(st), hx.fleet)
        sat = sat[sat["service"].isin(svcs)]
        if len(sat):
            sec.add(viz.saturation_figure(sat, events=ev_w, incidents=incidents))
    if ev_w is not None and len(ev_w):
        sec.add("**Changes in the window**:", ev_w[["ts", "kind", "service", "detail"]].astype({"ts": str}))
    logs = getattr(fr, "logs", None)
    if logs is not None and len(logs):
        from holoops.analyze.patterns import error_patterns

        lw = logs[(logs["ts"] >= st.start - pd.Timedelta(days=1)) & (logs["ts"] <= st.end)]
        lw = lw[lw["level"].isin(["warning", "error", "critical", "debug"])]
        if len(lw):
            pats = error_patterns(lw, window=(st.start, st.end))
            pats = pats[pats["window_count"] > 0]
            cols = [c for c in ("template", "window_count", "baseline_count", "services", "levels", "new",
                                "surge") if c in pats.columns]
            top = pats.sort_values("window_count", ascending=False).head(10)[cols]
            sec.add("**Log patterns in the window** (warnings/errors; `new`/`surge` against the day before):",
                    top)
            sec.data["patterns"] = top
    spans = getattr(fr, "spans", None)
    if spans is not None and len(spans):
        from holoops.analyze.comms import critical_path_summary, retry_storms

        sw = spans[(spans["start"] >= st.start) & (spans["start"] <= st.end)]
        if len(sw):
            try:
                cp = critical_path_summary(sw)
                sec.add("**Where request time goes** (critical path of the window's traces):", cp.head(8))
                storms = retry_storms(sw, min_calls=3)
                storms = storms[storms["storm"]] if len(storms) else storms
                if len(storms):
                    agg = storms.groupby(["caller", "callee"]).agg(minutes=("ts", "size"),
                                                                   max_amplification=("amplification", "max"))
                    sec.add("**Retry storms**:", agg.reset_index())
            except Exception as exc:
                sec.add(f"Traces not analysed: {type(exc).__name__}: {exc}")
    return sec


def hypotheses(hx: Any, top_n: int = 8) -> Section:
    """The ranked hypotheses (all kinds, all services) with the evidence for and against; the top one
    highlighted, or "no incident in this window" when none reaches the catalog's threshold."""
    import pandas as pd

    st = state(hx)
    rows = []
    for i, h in enumerate(st.ranked[:top_n], 1):
        rows.append({"#": i, "score": round(h.score, 2), "kind": h.kind, "service": h.service,
                     "hypothesis": h.cause, "evidence for": "; ".join(h.supporting) or "-",
                     "evidence against": "; ".join(h.against) or "-"})
    table = pd.DataFrame(rows)
    hx.record("hypotheses", [h.to_dict() | {"for": h.supporting[:4], "against": h.against[:4]}
                             for h in st.ranked[:5]])
    d = st.diagnosis
    if d is not None:
        hx.record("rca", {"at": _fmt_t(st.focus), "abstain": d.abstain, "reason": d.reason,
                          "ranking": d.ranking[:5], "scores": [round(x.score, 2) for x in d.suspects[:5]],
                          "kind": d.top.kind if d.top else None})
    if not st.found:
        best = st.ranked[0] if st.ranked else None
        hx.record("top_hypothesis", None)
        hx.record("incident", False)
        sec = Section("Hypotheses", f"**No incident in this window**: no hypothesis reaches the threshold "
                                    f"{st.threshold:.2f}" + (f" (best: {best.id} on {best.service}, "
                                                              f"{best.score:.2f})." if best else "."))
        _add_rca(sec, st)
        sec.add(table)
        return sec
    top = st.top
    hx.record("incident", True)
    hx.record("top_hypothesis", {"id": top.id, "service": top.service, "kind": top.kind,
                                 "score": round(top.score, 3)})
    runner = next((h for h in st.ranked[1:] if (h.service, h.kind) != (top.service, top.kind)), None)
    summary = (f"**Most likely: {top.cause} — `{top.kind}` on `{top.service}` (score {top.score:.2f}).**"
               + (f" Runner-up: {runner.kind} on {runner.service} ({runner.score:.2f})." if runner else ""))
    sec = Section("Hypotheses", summary)
    _add_rca(sec, st)
    sec.add("**Evidence for the top hypothesis**:\n\n" + "\n".join(f"- ✔ {t}" for t in top.supporting)
            + ("\n\n**Against**:\n\n" + "\n".join(f"- ✘ {t}" for t in top.against) if top.against else ""))
    if top.kind != hx.params.incident_kind:
        sec.add(f"⚠ This runbook was opened for `{hx.params.incident_kind}`, but the evidence points to "
                f"`{top.kind}`: read next [{runbook_path(top.kind)}]({runbook_path(top.kind)}"
                f"?service={top.service}). Remediation below follows the evidence.")
    sec.add(table)
    sec.data.update(ranked=st.ranked, top=top)
    return sec


def _add_rca(sec: Section, st: IncidentState) -> None:
    """The root-cause ranking the hypotheses use (suspect_rank, *_evidence), with its evidence."""
    d = st.diagnosis
    if d is None:
        sec.add("**Root-cause ranking**: no onset known (give `onset` or `around`), so services were not "
                "ranked from their own baselines.")
        return
    sec.add(f"**Root-cause ranking at {_fmt_t(st.focus)}** (every signal against each service's own baseline; "
            f"callees before the callers they explain): {d.summary()}")
    if d.suspects:
        sec.add(d.frame(6))
    sec.data["diagnosis"] = d


def remediation(hx: Any) -> Section:
    """The top hypothesis's catalog actions rendered from the fleet profile, through the gate: dry-run
    by default, run headless only with ``allow_actions=True``, a confirmation widget interactively."""
    import pandas as pd

    from holoops.runbook import Record, Runbook

    st = state(hx)
    p = hx.params
    if not st.found:
        st.record = st.record or Record(kind=p.incident_kind, service=None if p.service == "all" else p.service)
        return Section("Remediation", "Nothing to do: no incident in this window, so no action is proposed.")
    top = st.top
    kind = top.remediation or top.kind
    rb = Runbook(kind, top.service, fleet=hx.fleet, platform=p.platform, allow_actions=p.allow_actions,
                 interactive=hx.interactive, executor=executor_for(p))
    rb.record.kind = top.kind
    st.runbook, st.record = rb, rb.record
    actions = rb.actions()
    outcomes = rb.remediate(actions)
    mode = ("interactive: tick the box and press Run for each step" if hx.interactive else
            "allow_actions=True: steps were executed" if p.allow_actions else
            "dry-run (allow_actions=False): the commands are shown, nothing was executed")
    if p.allow_actions and p.action_executor == "record":
        mode += " by the 'record' executor (argv appended to the action log; nothing real ran)"
    sec = Section("Remediation", f"For `{top.kind}` on `{top.service}` ({p.platform}) — {mode}.")
    if hx.interactive:  # each gate shows its step's title, reason and command once, above its Run button
        sec.add(*outcomes)
    else:
        for a in actions:
            sec.add(a)
        sec.add(pd.DataFrame([{"status": e.status, "step": e.title, "command": e.command, "reason": e.reason}
                              for e in outcomes]))
    hx.record("actions", [{"status": e.status, "title": e.title, "command": e.command}
                          for e in rb.record.actions])
    return sec


def record(hx: Any) -> Section:
    """Close the incident record (timeline, findings, actions, TTD/TTR) and publish it to the run history."""
    import pandas as pd

    from holoops.runbook import Record

    st = state(hx)
    p = hx.params
    rec = st.record or Record(kind=p.incident_kind, service=None if p.service == "all" else p.service)
    ev = getattr(st.frames, "events", None)
    if ev is not None and len(ev):
        for _, e in ev[(ev["ts"] >= st.start) & (ev["ts"] <= st.end)].iterrows():
            rec.event(f"{e['kind']} {e['service']}: {e['detail']}", _ts(e["ts"]).to_pydatetime())
    for f in st.detected or []:
        rec.event(f"detected: {f.summary[:160]}", _ts(f.onset).to_pydatetime())
    if st.found:
        top = st.top
        onset = top.onset
        detected = top.detected
        for f in st.detected or []:  # the detector's onset (attributed to a change) when it agrees
            if f.service == top.service and f.onset is not None:
                onset = min(_ts(onset), _ts(f.onset)) if onset is not None else _ts(f.onset)
        onset = max(_ts(onset), st.start) if onset is not None else None
        last = top.last_seen
        resolved = None
        if last is not None and _ts(last) < st.end - pd.Timedelta("10min"):
            resolved = _ts(last) + pd.Timedelta("1min")
        rec.mark(onset=onset and onset.to_pydatetime(), detected=detected and _ts(detected).to_pydatetime(),
                 resolved=resolved and resolved.to_pydatetime())
        rec.hypotheses = [h.to_hypothesis() for h in st.ranked[:5]]
        rec.findings = [f"{top.kind} on {top.service}: {top.cause} (score {top.score:.2f})", *top.supporting]
        level = "critical" if top.score >= 0.8 else "warning"
        hx.finding(level, f"{top.kind} on {top.service}: {top.cause}", service=top.service,
                   detail="; ".join(top.supporting[:3]), runbook=runbook_path(top.kind))
    else:
        rec.findings = [f"no incident in {_fmt_t(st.start)} … {_fmt_t(st.end)}"]
        hx.finding("info", "no incident in this window", detail=f"{_fmt_t(st.start)} … {_fmt_t(st.end)}")
    if st.runbook is not None:
        st.runbook.finish()
    rec.publish(hx)
    ttd = "-" if rec.ttd_s is None else f"{rec.ttd_s / 60:.0f} min"
    ttr = "-" if rec.ttr_s is None else f"{rec.ttr_s / 60:.0f} min"
    sec = Section("Record", f"TTD {ttd} · TTR {ttr}" + ("" if rec.resolved_at or not st.found else
                                                        " (not resolved inside the window)") +
                  f" · {sum(a.status == 'ran' for a in rec.actions)} action(s) taken, "
                  f"{sum(a.status != 'ran' for a in rec.actions)} not.")
    sec.add(rec)
    sec.data["record"] = rec
    return sec
