"""SLO recording rules and multi-window, multi-burn-rate alerts generated from the fleet profile.

Per service: ``slo:sli_error:ratio_rate<W>`` (5xx share) and ``slo:sli_latency:ratio_rate<W>`` (share of
requests slower than the latency threshold, linearly interpolated between histogram buckets as
``histogram_quantile`` does) for every window in ``catalogs/alerts/slo.yaml``; then ``ErrorBudgetBurn`` and
``LatencyBudgetBurn`` alerts: page (critical) at 14.4x over 1h and 5m or 6x over 6h and 30m, ticket
(warning) at 3x over 1d and 2h or 1x over 3d and 6h. Budget = 1 - availability (1 - quantile for latency).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from holoops.alerting.catalog import CATALOG_DIR, Rule, RuleGroup, runbook_base, runbook_url, signal_names

SLO_POLICY = CATALOG_DIR / "slo.yaml"


def load_policy(path: str | Path | None = None) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(Path(path or SLO_POLICY).read_text(encoding="utf-8"))


def le_matcher(bound: float) -> str:
    """A regex matching how exporters print a bucket bound (``1``, ``1.0``, ``0.25``, ``0.250``)."""
    if math.isinf(bound):
        return r"\\+Inf"
    text = repr(float(bound))
    if text.endswith(".0"):
        return re.escape(text[:-2]).replace("\\", "\\\\") + r"(\\.0*)?"
    return re.escape(text).replace("\\", "\\\\") + "0*"


def _good_share(hist: str, service: str, threshold_s: float, window: str, buckets: list[float]) -> str:
    finite = sorted(b for b in buckets if not math.isinf(b))
    sel = f'{hist}_bucket{{service="{service}",le=~"{{le}}"}}'

    def rate_le(b: float) -> str:
        return f'sum by (service) (rate({sel.replace("{le}", le_matcher(b))}[{window}]))'

    hi = next((b for b in finite if b >= threshold_s), None)
    if hi is None:
        good = rate_le(finite[-1])
    elif math.isclose(hi, threshold_s):
        good = rate_le(hi)
    else:
        lo = max((b for b in finite if b < threshold_s), default=None)
        frac = round((threshold_s - (lo or 0.0)) / (hi - (lo or 0.0)), 6)
        good = (f"({rate_le(lo)} + ({rate_le(hi)} - {rate_le(lo)}) * {frac})" if lo is not None
                else f"({rate_le(hi)} * {frac})")
    total = f'sum by (service) (rate({hist}_count{{service="{service}"}}[{window}]))'
    return f"1 - {good} / {total}"


def build_slo_groups(fleet, policy: dict[str, Any] | None = None, runbook_base_url: str | None = None,
                     ) -> list[RuleGroup]:
    """One group per service: SLI recording rules first, then the burn-rate alerts that read them."""
    from holoops.timeutil import parse_duration

    policy = policy or load_policy()
    m = signal_names()
    buckets = [math.inf if str(b) == "+Inf" else float(b) for b in m["buckets"]]
    base = runbook_base(runbook_base_url)
    groups = []
    for name, svc in fleet.services.items():
        rules: list[Rule] = []
        slis = {"error": ("errors", 1 - svc.slo.availability, "availability")}
        if svc.slo.latency is not None:
            slis["latency"] = ("latency", 1 - svc.slo.latency.quantile, "latency")
        for sli in slis:
            for w in policy["windows"]:
                if sli == "error":
                    expr = (f'sum by (service) (rate({m["requests"]}{{service="{name}",code=~"5.."}}[{w}]))'
                            f' / sum by (service) (rate({m["requests"]}{{service="{name}"}}[{w}]))')
                else:
                    expr = _good_share(m["histogram"], name, svc.slo.latency.threshold_ms / 1000, w, buckets)
                rules.append(Rule(f"slo:sli_{sli}:ratio_rate{w}", expr, "record", service=name,
                                  source=f"slo.yaml: {sli} SLI {w}"))
        for sli, (kind, budget, slo_name) in slis.items():
            alert = "ErrorBudgetBurn" if sli == "error" else "LatencyBudgetBurn"
            budget = round(budget, 10)
            for severity in ("critical", "warning"):
                pairs = [b for b in policy["burn_rates"] if b["severity"] == severity]
                if not pairs:
                    continue
                expr = " or ".join(
                    f'(slo:sli_{sli}:ratio_rate{b["long"]}{{service="{name}"}} > ({b["factor"]} * {budget})'
                    f' and slo:sli_{sli}:ratio_rate{b["short"]}{{service="{name}"}} > ({b["factor"]} * {budget}))'
                    for b in pairs)
                what = "5xx responses" if sli == "error" else "requests slower than the latency threshold"
                rate_text = " or ".join(f'{b["factor"]}x over {b["long"]}/{b["short"]}' for b in pairs)
                target = (f"{svc.slo.availability:.4%} availability" if sli == "error" else
                          f"p{svc.slo.latency.quantile * 100:g} < {svc.slo.latency.threshold_ms:g} ms")
                rules.append(Rule(
                    alert, expr, "alert", parse_duration(policy["for"][severity]),
                    {"severity": severity, "service": name, "slo": slo_name},
                    {"summary": f"{{{{ $labels.service }}}} is burning its {slo_name} error budget "
                                f"({'page' if severity == 'critical' else 'ticket'})",
                     "description": f"{what.capitalize()} of {{{{ $labels.service }}}} burn the {target} "
                                    f"budget at {rate_text}.",
                     "runbook_url": runbook_url(base, policy["runbooks"][kind], ["service"])},
                    service=name, source=f"slo.yaml: {alert} {severity}",
                    fixture={"scenario": "errors" if sli == "error" else "latency", "quiet_at": "5m",
                             "firing_at": "30m" if severity == "critical" else "60m"}))
        groups.append(RuleGroup(f"slo:{name}", rules))
    return groups


def scenario_series(kind: str, service: str, minutes: int = 90) -> list[tuple[str, str]]:
    """promtool input series for a generated test: quiet for 10 minutes, then 75% bad requests."""
    m = signal_names()
    inst = f'service="{service}",instance="{service}-0"'
    n = minutes
    if kind == "errors":
        return [(f'{m["requests"]}{{{inst},route="/t",code="200"}}', f"0+600x{n}"),
                (f'{m["requests"]}{{{inst},route="/t",code="500"}}', f"0x10 0+1800x{n - 10}")]
    if kind == "latency":
        out = []
        for b in m["buckets"]:
            if str(b) == "+Inf":
                values = f"0+600x10 7800+2400x{n - 10}"
                out.append((f'{m["histogram"]}_bucket{{{inst},le="+Inf"}}', values))
                out.append((f'{m["histogram"]}_count{{{inst}}}', values))
            else:
                out.append((f'{m["histogram"]}_bucket{{{inst},le="{b}"}}', f"0+600x{n}"))
        return out
    raise ValueError(f"unknown test scenario {kind!r}")
