"""Hypotheses ranked from the catalog's checks: the right service and cause first, nothing on quiet windows."""

from __future__ import annotations

import pandas as pd
import pytest

from holoops.analyze import hypotheses as H

KINDS = ["latency_regression", "error_burst", "gpu_memory_exhaustion", "dependency_outage", "disk_exhaustion"]
#: faults inside a service without a change (the root-cause ranking names the service)
CODE_KINDS = ["code_exception", "error_response", "cpu_contention", "network_delay"]


@pytest.fixture(scope="module")
def fleet():
    from holoops.fleet import load_fleet

    return load_fleet()


def _rank(demo, fleet, start, end):
    return H.rank_window(demo.metrics, fleet, start, end, logs=demo.logs, spans=demo.spans, events=demo.events)


@pytest.mark.parametrize("kind", KINDS)
def test_true_cause_ranks_first(demo_week, fleet, kind):
    truth = demo_week.incident(kind)
    start = pd.Timestamp(truth["onset"]) - pd.Timedelta("2h")
    end = pd.Timestamp(truth["end"]) + pd.Timedelta("30min")
    ranked = _rank(demo_week, fleet, start, end)
    top = ranked[0]
    assert (top.service, top.kind) == (truth["service"], kind), [h.to_dict() for h in ranked[:3]]
    assert H.incident_found(ranked)
    # the best hypothesis about another service or cause is clearly behind
    runner = next(h for h in ranked if (h.service, h.kind) != (top.service, top.kind))
    assert top.score - runner.score >= 0.25
    # evidence carries numbers, and the symptom is dated near the labelled onset
    assert top.supporting and any(ch.isdigit() for ch in " ".join(top.supporting))
    assert abs(pd.Timestamp(top.onset) - pd.Timestamp(truth["onset"])) <= pd.Timedelta("20min")


@pytest.mark.parametrize("window", [("2026-11-02T00:00Z", "2026-11-02T23:59Z"),
                                    ("2026-11-02T10:00Z", "2026-11-02T14:00Z"),
                                    ("2026-11-03T00:00Z", "2026-11-03T11:00Z")])
def test_quiet_window_scores_nothing(demo_week, fleet, window):
    ranked = _rank(demo_week, fleet, *window)
    threshold = H.load_catalog()["threshold"]
    assert ranked and ranked[0].score < threshold, ranked[0].to_dict()
    assert not H.incident_found(ranked)


def test_refuting_check_lowers_victims(demo_week, fleet):
    """Callers of a slow/down dependency are refuted: their own hypotheses score low."""
    truth = demo_week.incident("dependency_outage")
    ranked = _rank(demo_week, fleet, pd.Timestamp(truth["onset"]) - pd.Timedelta("1h"),
                   pd.Timestamp(truth["end"]) + pd.Timedelta("30min"))
    hm = next(h for h in ranked if h.service == "holographic-memory" and h.kind == "error_burst")
    assert any("dependency" in t for t in hm.against)
    assert hm.score < 0.5


def test_score_rules():
    ok = H.CheckResult({"signal": "x", "weight": 2, "required": True}, True, "a")
    miss = H.CheckResult({"event": "deploy"}, False, "b")
    ref = H.CheckResult({"signal": "x", "refutes": True}, True, "c")
    assert H.score([ok, miss]) == pytest.approx(2 / 3)
    assert H.score([ok, miss, ref], refute_factor=0.4) == pytest.approx(2 / 3 * 0.4)
    req_fail = H.CheckResult({"signal": "x", "required": True}, False, "d")
    assert H.score([req_fail, miss], required_penalty=0.3) == 0.0
    assert H.score([req_fail, H.CheckResult({}, True, "e")], required_penalty=0.3) == pytest.approx(0.15)


def test_catalog_is_valid_and_remediations_exist():
    import yaml

    from holoops.runbook import ACTIONS_FILE

    cat = H.load_catalog()
    actions = yaml.safe_load(ACTIONS_FILE.read_text())["kinds"]
    kinds = {h["kind"] for h in cat["hypotheses"]}
    assert kinds == set(KINDS) | set(CODE_KINDS)
    for h in cat["hypotheses"]:
        assert h.get("remediation", h["kind"]) in actions


def test_bad_catalog_names_the_entry(tmp_path):
    from holoops.errors import RuleError

    bad = tmp_path / "h.yaml"
    bad.write_text("hypotheses:\n  - {id: a, kind: error_burst, cause: c, checks: [{signal: nope, op: '>', value: 1}]}\n")
    with pytest.raises(RuleError, match="a.*unknown signal 'nope'"):
        H.load_catalog(bad)
    bad.write_text("hypotheses:\n  - {id: a, kind: error_burst, cause: c, checks: [{signal: error_ratio, op: '=>', value: 1}]}\n")
    with pytest.raises(RuleError, match="op must be"):
        H.load_catalog(bad)


def test_check_text_and_dependency_closure(demo_week, fleet):
    truth = demo_week.incident("latency_regression")
    wd = H.window_data(demo_week.metrics, fleet, pd.Timestamp(truth["onset"]) - pd.Timedelta("1h"),
                       pd.Timestamp(truth["onset"]) + pd.Timedelta("1h"), logs=demo_week.logs,
                       events=demo_week.events)
    r = H.evaluate_check({"signal": "p99_x", "op": ">=", "value": 2}, wd, "vault", fleet)
    assert r.ok and "vault" in r.text and "x" in r.text
    dep = H.evaluate_check({"signal": "p99_x", "op": ">=", "value": 2, "of": "dependency", "refutes": True},
                           wd, "dashboard", fleet)  # dashboard -> orchestrator -> vault
    assert dep.ok and "vault" in dep.text
    ev = H.evaluate_check({"event": "deploy"}, wd, "vault", fleet)
    assert ev.ok and "2.4.1" in ev.text
