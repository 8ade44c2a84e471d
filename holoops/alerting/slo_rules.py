"""SLO recording rules and multi-window, multi-burn-rate alerts generated from the fleet profile.

Per service: ``slo:sli_error:ratio_rate<W>`` (5xx share) and ``slo:sli_latency:ratio_rate<W>`` (share of
requests slower than the histogram bucket that stands for the latency threshold: the smallest exported
``le`` bound >= the threshold, matched exactly, e.g. ``le="0.5"`` for 400 ms on the default buckets; see
:func:`holoops.alerting.mapping.threshold_bucket`) for every window in ``catalogs/alerts/slo.yaml``; then ``ErrorBudgetBurn`` and
``LatencyBudgetBurn`` alerts: page (critical) at 14.4x over 1h and 5m or 6x over 6h and 30m, ticket
(warning) at 3x over 1d and 2h or 1x over 3d and 6h. Budget = 1 - availability (1 - quantile for latency).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from holoops.alerting.catalog import CATALOG_DIR, Rule, RuleGroup, runbook_base, runbook_url
from holoops.alerting.mapping import escape

SLO_POLICY = CATALOG_DIR / "slo.yaml"


def load_policy(path: str | Path | None = None) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(Path(path or SLO_POLICY).read_text(encoding="utf-8"))


def _good_share(lat, le: str, window: str) -> str:
    """1 - (rate of requests in the ``le`` bucket) / (rate of all requests): the share slower than it."""
    good = f'sum by (service) (rate({lat("_bucket", le=le)}[{window}]))'
    total = f'sum by (service) (rate({lat("_count")}[{window}]))'
    return f"1 - {good} / {total}"


def bucket_line(name: str, svc, lat, le: str, how: str, source: str) -> str:
    """The build summary's line on which bucket stands for a service's latency threshold."""
    thr = f"{svc.slo.latency.threshold_ms:g} ms"
    bound = f"{float(le) * lat.scale * 1000:g} ms"
    head = f"{name}: p{svc.slo.latency.quantile * 100:g} < {thr} -> {lat.name}_bucket{{le=\"{le}\"}}"
    why = "a bucket bound" if how == "exact" else f"{bound}: no bound at {thr}, requests up to {bound} count as fast"
    return f"{head} ({why}; bounds: {source})"


def build_slo_groups(fleet, policy: dict[str, Any] | None = None, runbook_base_url: str | None = None,
                     notes=None) -> list[RuleGroup]:
    """One group per service: SLI recording rules first, then the burn-rate alerts that read them.

    Selectors come from what each service exports (:mod:`holoops.alerting.mapping`); an SLI a service
    cannot have (no status codes, no latency histogram, ...) is left out and recorded in ``notes``."""
    from holoops.alerting.mapping import NotBuilt, Notes, fleet_signals
    from holoops.timeutil import parse_duration

    policy = policy or load_policy()
    notes = notes if notes is not None else Notes()
    sigs = fleet_signals(fleet)
    base = runbook_base(runbook_base_url)
    groups = []
    for name, svc in fleet.services.items():
        s = sigs[name]
        rules: list[Rule] = []
        slis: dict[str, tuple[str, float, str]] = {}
        sli_exprs: dict[str, dict[str, str]] = {}
        bucket_note: dict[str, str] = {}
        try:
            req = s.requests
            sli_exprs["error"] = {
                w: (f'sum by (service) (rate({req(regex={"code": "5.."})}[{w}]))'
                    f' / sum by (service) (rate({req()}[{w}]))') for w in policy["windows"]}
            slis["error"] = ("errors", 1 - svc.slo.availability, "availability")
        except NotBuilt as exc:
            notes.skip(exc, "ErrorBudgetBurn, slo:sli_error:*")
        if svc.slo.latency is not None:
            try:
                lat = s.latency
                le, how, source = lat.slo_bucket(svc.slo.latency.threshold_ms / 1000)
                sli_exprs["latency"] = {w: _good_share(lat, le, w) for w in policy["windows"]}
                slis["latency"] = ("latency", 1 - svc.slo.latency.quantile, "latency")
                bound_ms = float(le) * lat.scale * 1000
                bucket_note["slo_bucket"] = (
                    f'le="{le}" ({bound_ms:g} ms) stands for the {svc.slo.latency.threshold_ms:g} ms threshold'
                    + ("" if how == "exact" else " (the smallest bucket bound above it)"))
                notes.buckets[name] = bucket_line(name, svc, lat, le, how, source)
            except NotBuilt as exc:
                notes.skip(exc, "LatencyBudgetBurn, slo:sli_latency:*")
        for sli in slis:
            for w in policy["windows"]:
                rules.append(Rule(f"slo:sli_{sli}:ratio_rate{w}", sli_exprs[sli][w], "record",
                                  labels={"service": name}, service=name, source=f"slo.yaml: {sli} SLI {w}"))
        sel_svc = f'service="{escape(name)}"'
        for sli, (kind, budget, slo_name) in slis.items():
            alert = "ErrorBudgetBurn" if sli == "error" else "LatencyBudgetBurn"
            budget = round(budget, 10)
            for severity in ("critical", "warning"):
                pairs = [b for b in policy["burn_rates"] if b["severity"] == severity]
                if not pairs:
                    continue
                expr = " or ".join(
                    f'(slo:sli_{sli}:ratio_rate{b["long"]}{{{sel_svc}}} > ({b["factor"]} * {budget})'
                    f' and slo:sli_{sli}:ratio_rate{b["short"]}{{{sel_svc}}} > ({b["factor"]} * {budget}))'
                    for b in pairs)
                what = "5xx responses" if sli == "error" else "requests slower than the latency threshold"
                rate_text = " or ".join(f'{b["factor"]}x over {b["long"]}/{b["short"]}' for b in pairs)
                target = (f"{svc.slo.availability:.4%} availability" if sli == "error" else
                          f"p{svc.slo.latency.quantile * 100:g} < {svc.slo.latency.threshold_ms:g} ms")
                annotations = {
                    "summary": f"{{{{ $labels.service }}}} is burning its {slo_name} error budget "
                               f"({'page' if severity == 'critical' else 'ticket'})",
                    "description": f"{what.capitalize()} of {{{{ $labels.service }}}} burn the {target} "
                                   f"budget at {rate_text}.",
                    "runbook_url": runbook_url(base, policy["runbooks"][kind], ["service"])}
                if sli == "latency":
                    annotations.update(bucket_note)
                scenario = "errors" if sli == "error" else "latency"
                try:
                    fixture = {"scenario": scenario, "quiet_at": "5m",
                               "firing_at": "30m" if severity == "critical" else "60m",
                               "series": scenario_series(scenario, s)}
                except NotBuilt as exc:
                    notes.skip(exc, f"{alert} unit test")
                    fixture = None
                rules.append(Rule(
                    alert, expr, "alert", parse_duration(policy["for"][severity]),
                    {"severity": severity, "service": name, "slo": slo_name}, annotations,
                    service=name, source=f"slo.yaml: {alert} {severity}", fixture=fixture))
        groups.append(RuleGroup(f"slo:{name}", rules))
    return groups


def scenario_series(kind: str, service, minutes: int = 90) -> list[tuple[str, str]]:
    """promtool input series for a generated test: quiet for 10 minutes, then 75% bad requests.

    ``service``: the service's :class:`~holoops.alerting.mapping.ServiceSignals` (or a name: the
    canonical demo names with ``service="<name>"``)."""
    if isinstance(service, str):
        from holoops.alerting.mapping import ServiceSignals, SignalSel
        from holoops.signalmap import candidates

        m = {"service": service}
        service = ServiceSignals(service, m, {k: SignalSel(service, k, m, candidates(k)[0], (candidates(k)[0].name,))
                                              for k in ("requests", "latency")})
    n = minutes
    if kind == "errors":
        req = service.requests
        return [(req.series(route="/t", code="200"), f"0+600x{n}"),
                (req.series(route="/t", code="500"), f"0x10 0+1800x{n - 10}")]
    if kind == "latency":
        lat = service.latency
        out = []
        for b in lat.buckets()[0]:
            if b == "+Inf":
                values = f"0+600x10 7800+2400x{n - 10}"
                out.append((lat.series("_bucket", le="+Inf"), values))
                out.append((lat.series("_count"), values))
            else:
                out.append((lat.series("_bucket", le=b), f"0+600x{n}"))
        return out
    raise ValueError(f"unknown test scenario {kind!r}")
