"""Error classification: catalog rules, user extra rules, broken rule files, pandas == polars."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from holoops.analyze.errors import ErrorRuleError, classify_errors, error_class_summary, load_rules
from holoops.errors import HoloopsError, RuleError

CASES = [
    ("RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB", "gpu"),
    ("cudaMalloc failed: out of memory", "gpu"),
    ("NCCL error: unhandled system error", "gpu"),
    ("NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus", "gpu"),
    ("connect ECONNREFUSED 10.0.0.7:5432", "network"),
    ("upstream request timeout", "network"),
    ("read: connection reset by peer", "network"),
    ("dial tcp: lookup db.internal: no such host", "network"),
    ("upstream connect error: 503 Service Unavailable", "network"),
    ("container killed: OOMKilled", "system"),
    ("write /var/lib/data: No space left on device", "system"),
    ("accept4: too many open files", "system"),
    ("authentication failure for user bob", "security"),
    ("rejecting request: invalid token", "security"),
    ("open /etc/shadow: permission denied", "security"),
    ("TLS handshake error from 10.0.0.9:443: remote error", "security"),
    ("validation error: field 'qty' must be positive", "data"),
    ("schema mismatch: expected 7 columns", "data"),
    ("JSON parse error at line 3", "data"),
    ("segment 12 is corrupt", "data"),
    ("Traceback (most recent call last):", "application"),
    ("unhandled exception in handler", "application"),
    ("GET /api/items returned 500", "application"),
    ("the flux capacitor wobbled", "unclassified"),
]


def _logs():
    n = len(CASES) + 2
    return pd.DataFrame({
        "ts": pd.date_range("2024-01-01", periods=n, freq="20min", tz="UTC"),
        "service": ["api", "worker"] * (n // 2),
        "level": ["error"] * len(CASES) + ["info", "warn"],
        "message": [m for m, _ in CASES] + ["GET /health 200", "slow request"],
        "status": [0] * len(CASES) + [200, 200],
    })


def test_catalog_classifies_typical_messages():
    out = classify_errors(_logs())
    got = out["error_category"].tolist()
    assert got[:len(CASES)] == [c for _, c in CASES]
    assert got[len(CASES):] == [None, None]  # not error lines
    every = classify_errors(_logs(), only_errors=False)["error_category"].tolist()
    assert every[len(CASES)] == "unclassified"


def test_status_rules_and_priority():
    df = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=3, freq="1min", tz="UTC"),
                       "service": "api", "level": "error",
                       "message": ["gateway gave up", "boom", "nope"], "status": [503, 500, 403]})
    assert classify_errors(df)["error_category"].tolist() == ["network", "application", "security"]


def test_pandas_and_polars_agree():
    a = classify_errors(_logs())
    b = classify_errors(pl.from_pandas(_logs()))
    assert isinstance(b, pl.DataFrame)
    assert a["error_category"].tolist() == b["error_category"].to_list()
    sa = error_class_summary(_logs(), bucket="1h")
    sb = error_class_summary(pl.from_pandas(_logs()), bucket="1h").to_pandas()
    assert sa.to_dict("list") == sb.to_dict("list")
    assert int(sa["count"].sum()) == len(CASES)
    assert list(sa.columns) == ["ts", "service", "error_category", "count"]


def test_user_extra_rule_file(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text(
        "classes: [hardware]\n"
        "rules:\n"
        "  - id: flux\n    class: hardware\n    message: 'flux capacitor'\n"
        "  - id: worker-oom-is-app\n    class: application\n    service: [worker]\n"
        "    message: 'OOMKilled'\n"
        "  - id: route-data\n    class: data\n    field: {route: '^/import'}\n",
        encoding="utf-8")
    logs = _logs()
    logs["route"] = ["/import/x" if i == 0 else "/" for i in range(len(logs))]
    out = classify_errors(logs, extra_rules=[extra])["error_category"].tolist()
    assert out[CASES.index(("the flux capacitor wobbled", "unclassified"))] == "hardware"
    assert out[0] == "data"  # the user's field rule wins over the catalog at equal priority
    i = CASES.index(("container killed: OOMKilled", "system"))
    assert out[i] == ("application" if logs["service"][i] == "worker" else "system")


@pytest.mark.parametrize("body, rule, key", [
    ("rules:\n  - id: r1\n    class: gpu\n    message: '(unclosed'\n", "r1", "message"),
    ("rules:\n  - id: r2\n    class: nonsense\n    message: 'x'\n", "r2", "class"),
    ("rules:\n  - id: r3\n    class: gpu\n    mesage: 'x'\n", "r3", "mesage"),
    ("rules:\n  - id: r4\n    class: gpu\n    status: {min: 'a'}\n", "r4", "status"),
    ("rules:\n  - id: r5\n    class: gpu\n", "r5", None),
    ("rules:\n  - id: r6\n    class: gpu\n    message: x\n  - id: r6\n    class: gpu\n    message: y\n", "r6", "id"),
])
def test_broken_rule_file_names_file_rule_and_field(tmp_path, body, rule, key):
    bad = tmp_path / "bad.yaml"
    bad.write_text(body, encoding="utf-8")
    with pytest.raises(ErrorRuleError) as info:
        classify_errors(_logs(), extra_rules=[bad])
    err = info.value
    assert isinstance(err, RuleError) and isinstance(err, HoloopsError)
    assert str(bad) in str(err) and f"rule '{rule}'" in str(err)
    assert err.rule == rule and err.key == key


def test_unreadable_rule_files(tmp_path):
    with pytest.raises(ErrorRuleError, match="file not found"):
        load_rules(tmp_path / "missing.yaml")
    (tmp_path / "x.yaml").write_text("just text\n", encoding="utf-8")
    with pytest.raises(ErrorRuleError, match="'rules'"):
        load_rules(tmp_path / "x.yaml")


def test_catalog_loads():
    rules, classes = load_rules()
    assert {"gpu", "network", "system", "security", "data", "application"} <= classes
    assert len({r.id for r in rules}) == len(rules)
