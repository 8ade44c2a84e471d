"""Runbook machinery: actions from the catalog, the dry-run/confirmation gate, the record."""

from __future__ import annotations

import pytest

from holoops.runbook import ExecResult, Hypothesis, Record, Runbook, actions_for, rank


class FakeShell:
    def __init__(self, rc: int = 0):
        self.calls: list[list[str]] = []
        self.rc = rc

    def __call__(self, argv, timeout_s):
        self.calls.append(list(argv))
        return ExecResult(self.rc, "done", "")


def test_actions_rendered_from_fleet_profile():
    k8s = actions_for("error_burst", "router")
    assert k8s[0].argv == ("curl", "-fsS", "--max-time", "5",
                           "http://router.holographic-memory.svc.cluster.local:8001/healthz")
    assert k8s[1].command == "kubectl -n holographic-memory rollout undo deployment/router"
    gpu = actions_for("gpu_memory_exhaustion", "holographic-memory")
    assert any("--replicas=" in a for a in gpu[1].argv)
    assert actions_for("dependency_outage", "math-core", platform="systemd")[1].argv == \
        ("systemctl", "restart", "math-core.service")
    from holoops.errors import FleetProfileError, ParameterError

    with pytest.raises(ParameterError, match="platform 'nomad'"):
        actions_for("error_burst", "router", platform="nomad")
    with pytest.raises(FleetProfileError, match="no such service"):
        actions_for("error_burst", "nope")


def test_dry_run_by_default_executes_only_with_allow_actions():
    shell = FakeShell()
    rb = Runbook("error_burst", "router", executor=shell)
    logs = rb.remediate()
    assert shell.calls == [] and [x.status for x in logs] == ["dry-run", "dry-run"]
    assert "allow_actions=False" in logs[0].reason
    allowed = Runbook("error_burst", "router", executor=shell, allow_actions=True)
    logs = allowed.remediate()
    assert shell.calls[1] == ["kubectl", "-n", "holographic-memory", "rollout", "undo", "deployment/router"]
    assert [x.status for x in logs] == ["ran", "ran"]
    failing = Runbook("error_burst", "router", executor=FakeShell(rc=3), allow_actions=True)
    assert failing.remediate()[0].status == "failed"


def test_interactive_gate_needs_confirmation():
    shell = FakeShell()
    rb = Runbook("latency_regression", "vault", executor=shell, interactive=True)
    gate_history, gate_undo = rb.remediate()
    assert gate_undo.button.disabled and gate_undo.run() is None and shell.calls == []
    gate_undo.confirm.value = True
    assert not gate_undo.button.disabled
    gate_undo.button.click()
    assert shell.calls == [["kubectl", "-n", "holographic-memory", "rollout", "undo", "deployment/vault"]]
    assert gate_undo.run() is None and len(shell.calls) == 1  # never twice
    record = rb.finish(resolved="2026-11-08T15:00Z")
    statuses = {a.title: (a.status, a.reason) for a in record.actions}
    assert statuses[gate_undo.action.title] == ("ran", "confirmed by the operator")
    assert statuses[gate_history.action.title] == ("skipped", "not confirmed by the operator")


def test_record_ttd_ttr_and_publish():
    rec = Record("error_burst", "router")
    rec.mark(onset="2026-11-08T14:00Z", detected="2026-11-08T14:06Z", resolved="2026-11-08T14:45Z")
    rec.findings.append("router 5xx at 20 %")
    assert (rec.ttd_s, rec.ttr_s) == (360.0, 2700.0)
    assert [w for _, w in rec.timeline] == ["onset", "detected", "resolved"]

    class FakeHx:
        records: dict = {}

        def record(self, key, value):
            self.records[key] = value

    hx = FakeHx()
    rec.publish(hx)
    assert hx.records["ttd_minutes"] == 6.0 and hx.records["ttr_minutes"] == 45.0
    assert hx.records["runbook"]["kind"] == "error_burst" and hx.records["actions_taken"] == 0
    assert "TTD 6.0 min" in rec._repr_html_()


def test_hypotheses_ranked():
    ranked = rank([Hypothesis("bad config", 0.4, ["config event at onset"], "router", "config"),
                   Hypothesis("upstream outage", 0.9, ["math-core up=0"], "math-core", "crash")])
    assert ranked.best.name == "upstream outage" and "math-core up=0" in ranked._repr_html_()


def test_interactive_remediation_shows_each_command_once(tmp_path, monkeypatch):
    """Interactively each step is one confirmation gate (title, reason, command, Run button): the
    section does not also list the plain action, which showed every command twice."""
    import holoops.notebook
    from holoops.reports import incident
    from holoops.runbook import Action, ActionGate

    monkeypatch.chdir(tmp_path)
    g = {"source": "demo", "incident_kind": "latency_regression", "service": "vault", "onset": None,
         "around": None, "lookback": "2h", "allow_actions": False, "platform": "kubernetes",
         "action_executor": "subprocess", "action_log": None, "demo_days": 7}
    hx = holoops.notebook.setup(g, "latency_regression", interactive=True)
    incident.triage(hx)
    sec = incident.remediation(hx)
    gates = [b for b in sec.blocks if isinstance(b, ActionGate)]
    assert gates, "an incident in the default window proposes steps"
    assert not [b for b in sec.blocks if isinstance(b, Action)]
    for gate in gates:
        assert gate.entry.status == "pending" and gate.button.disabled
