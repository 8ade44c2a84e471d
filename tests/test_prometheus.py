"""PrometheusSource: PromQL escaping, step/chunk planning, auth and secrets, cache, faults, and a
real Prometheus serving backfilled data."""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path

import pytest
from faultserver import FaultServer, free_port

from holoops.errors import PrometheusError
from holoops.redact import MASK
from holoops.sources import auth as authmod
from holoops.sources.auth import PromAuth, Secret, load_auth, redact, register_secret
from holoops.sources.cache import QueryCache
from holoops.sources.prometheus import (
    MAX_POINTS,
    Matcher,
    PrometheusSource,
    choose_step,
    escape_label_value,
    escape_regex,
    plan_chunks,
    promql_selector,
)

HOSTILE = ['a"b', "back\\slash", "new\nline", 'x"} or vector(1) or up{a="', ".*", "a|b", "(x)+[y]{2}$^",
           "tab\there", "ünïcödé ✓", ""]


def _fast(url, **kw):
    kw.setdefault("auth", False)
    kw.setdefault("timeout", 1.0)
    kw.setdefault("retries", 2)
    kw.setdefault("backoff", 0.02)
    return PrometheusSource(url, **kw)


# ------------------------------------------------------------------ PromQL building
def test_escape_label_value_hostile():
    assert escape_label_value('a"b') == 'a\\"b'
    assert escape_label_value("a\\b") == "a\\\\b"
    assert escape_label_value("a\nb") == "a\\nb"
    sel = promql_selector("up", job='x"} or vector(1) or up{a="')
    assert sel == 'up{job="x\\"} or vector(1) or up{a=\\""}'
    # the string literal never terminates early: every quote inside is escaped
    body = sel[len('up{job="'):-2]
    assert all(body[i - 1] == "\\" for i, c in enumerate(body) if c == '"')


def test_selector_forms_and_validation():
    assert promql_selector("up") == "up"
    assert promql_selector("up", job=None) == "up"
    assert promql_selector(None, job="a") == '{job="a"}'
    assert promql_selector("up", code=["5.0", "a|b"]) == 'up{code=~"5\\\\.0|a\\\\|b"}'
    assert promql_selector("up", route=Matcher("!~", "/api/.*")) == 'up{route!~"/api/\\\\.\\\\*"}'
    assert promql_selector("up", route=Matcher("=~", "/api/.*", literal=False)) == 'up{route=~"/api/.*"}'
    for bad in ("up{", "1up", "up-time", 'up"'):
        with pytest.raises(ValueError):
            promql_selector(bad)
    with pytest.raises(ValueError):
        promql_selector("up", **{"bad-label": "x"})
    with pytest.raises(ValueError):
        promql_selector("up", job=Matcher("~=", "x"))
    with pytest.raises(ValueError):
        promql_selector(None)


def test_escape_regex_matches_literally():
    import re

    for v in HOSTILE:
        pat = escape_regex(v)
        assert re.fullmatch(pat, v), v  # RE2 and Python agree on these escapes
        if v:
            assert not re.fullmatch(pat, v + "x")


# ------------------------------------------------------------------ step and chunks
def test_choose_step_respects_limit_and_min():
    assert choose_step(0, 3600, 15) == 15
    assert choose_step(0, 30 * 86400, 15) == math.ceil(30 * 86400 / (MAX_POINTS - 1))
    for span in (60, 86400, 7 * 86400, 90 * 86400, 400 * 86400):
        s = choose_step(0, span, 60)
        assert s >= 60 and span / s + 1 <= MAX_POINTS


@pytest.mark.parametrize("span,step", [(0, 15), (14, 15), (15 * 10999, 15), (15 * 11000, 15),
                                       (7 * 86400, 15), (7 * 86400 + 7, 60), (86400, 1)])
def test_plan_chunks_cover_grid_once(span, step):
    start = 1_700_000_000
    chunks = plan_chunks(start, start + span, step)
    grid = []
    for a, b in chunks:
        assert (b - a) / step + 1 <= MAX_POINTS
        assert (a - start) % step == 0
        grid += [a + i * step for i in range(int((b - a) // step) + 1)]
    assert grid == [start + i * step for i in range(int(span // step) + 1)]  # each point exactly once


# ------------------------------------------------------------------ secrets and auth
def test_secret_never_shows():
    s = Secret("hunter2-very-secret")
    assert str(s) == "***" and repr(s) == "Secret('***')"
    assert f"{s}" == "***" and "hunter2" not in repr([s, {"k": s}])
    assert s.reveal() == "hunter2-very-secret"
    assert redact("token=hunter2-very-secret;") == f"token={MASK};"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(s)


def test_register_secret_redacts_longest_first():
    register_secret("abcdef123456")
    register_secret("abcdef123456-extended")
    assert redact("x abcdef123456-extended y abcdef123456") == f"x {MASK} y {MASK}"
    n = authmod.registered_count()
    register_secret("ab")  # too short to redact safely: ignored
    assert authmod.registered_count() == n


def test_load_auth_env_file_and_precedence(tmp_path):
    tok = tmp_path / "tok"
    tok.write_text("file-token-XYZ123\n")
    a = load_auth(env={"HOLOOPS_PROM_TOKEN_FILE": str(tok), "HOLOOPS_PROM_CA": "/etc/ca.pem"},
                  path=_cfg(tmp_path, "url: http://prom:9090\ninsecure: false\n"))
    assert a.kind == "bearer" and a.token.reveal() == "file-token-XYZ123" and a.ca == "/etc/ca.pem"
    assert a.url == "http://prom:9090"
    assert "file-token-XYZ123" not in repr(a)
    b = load_auth(path=_cfg(tmp_path, "user: alice\npassword: pw-from-file-777\ncert: c.pem\nkey: k.pem\n"),
                  env={"HOLOOPS_PROM_PASSWORD": "pw-from-env-888"})
    assert b.kind == "basic" and b.password.reveal() == "pw-from-env-888" and b.cert == "c.pem"
    assert redact("pw-from-file-777 pw-from-env-888") == f"{MASK} {MASK}"
    c = load_auth(path=_cfg(tmp_path, "insecure: true\n"), env={})
    assert c.insecure and c.kind == "none"


def _cfg(tmp_path: Path, text: str) -> Path:
    p = tmp_path / f"prom-{abs(hash(text))}.yaml"
    p.write_text(text)
    return p


def test_auth_config_errors_do_not_echo_secrets(tmp_path):
    with pytest.raises(authmod.AuthConfigError, match="unknown key"):
        load_auth(path=_cfg(tmp_path, "tokn: s3cr3t-typo-value\n"), env={})
    with pytest.raises(authmod.AuthConfigError) as ei:
        load_auth(path=_cfg(tmp_path, "token: [unclosed s3cr3t-value-999\n"), env={})
    assert "s3cr3t-value-999" not in str(ei.value)
    with pytest.raises(authmod.AuthConfigError, match="not found"):
        load_auth(path=tmp_path / "nope.yaml", env={})
    with pytest.raises(authmod.AuthConfigError, match="choose one"):
        PromAuth(token="t-123456", user="u")
    with pytest.raises(authmod.AuthConfigError, match="token file"):
        load_auth(env={"HOLOOPS_PROM_TOKEN_FILE": str(tmp_path / "missing")}, path=_cfg(tmp_path, "{}\n"))


@pytest.mark.timeout(30)
def test_bearer_and_basic_reach_server_but_not_messages():
    token = "tok-" + "Z" * 24
    with FaultServer() as fs:
        src = _fast(fs.url, auth=PromAuth(token=token))
        src.query("up")
        assert fs.requests[-1]["headers"]["Authorization"] == f"Bearer {token}"
        assert token not in repr(src) and token not in repr(src.auth)
        fs.push(("status", 400, {"status": "error", "errorType": "bad_data", "error": f"echo {token}"}))
        with pytest.raises(PrometheusError) as ei:
            src.query(f'up{{x="{token}"}}')
        assert token not in str(ei.value) and "***" in str(ei.value)
        basic = _fast(f"http://bob:pa55-in-url-0@127.0.0.1:{fs.port}")
        assert "pa55-in-url-0" not in basic.url and basic.auth.kind == "basic"
        basic.query("up")
        assert fs.requests[-1]["headers"]["Authorization"].startswith("Basic ")
        assert redact(fs.requests[-1]["headers"]["Authorization"]) == f"Basic {MASK}"


# ------------------------------------------------------------------ faults (nothing hangs)
@pytest.mark.timeout(20)
def test_down_retries_then_fails_fast():
    src = _fast(f"http://127.0.0.1:{free_port()}", retries=3)
    t0 = time.monotonic()
    with pytest.raises(PrometheusError, match="after 4 attempt.*Connection refused.*query: up"):
        src.query_range("up", 0, 600, 60)
    assert time.monotonic() - t0 < 5
    assert src.requests_sent == 4


@pytest.mark.timeout(30)
def test_slow_response_times_out_bounded():
    with FaultServer() as fs:
        fs.push(("slow", 5), ("slow", 5), ("slow", 5))
        src = _fast(fs.url, timeout=0.5, retries=2)
        t0 = time.monotonic()
        with pytest.raises(PrometheusError, match="no answer within 0.5s"):
            src.query("up")
        took = time.monotonic() - t0
        assert took < 3 * 0.5 + 2, took
        assert len(fs.api_requests("/api/v1/query")) == 3


@pytest.mark.timeout(30)
def test_slow_then_fast_retry_succeeds():
    with FaultServer() as fs:
        fs.push(("slow", 3))
        df = _fast(fs.url, timeout=0.5).query("up")
        assert len(df) == 1 and len(fs.api_requests("/api/v1/query")) == 2


@pytest.mark.timeout(30)
def test_trickling_body_cannot_stall():
    with FaultServer() as fs:
        fs.push(("trickle", 6), ("trickle", 6))
        src = _fast(fs.url, timeout=0.7, retries=1)
        t0 = time.monotonic()
        with pytest.raises(PrometheusError, match="no answer within"):
            src.query("up")
        assert time.monotonic() - t0 < 4


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fault", [("status", 503), ("status", 502), ("status", 429), "drop"])
def test_transient_fault_then_success(fault):
    with FaultServer() as fs:
        fs.push(fault)
        df = _fast(fs.url).query_range("fault_metric", 0, 600, 60)
        assert len(df) == 11 and len(fs.api_requests()) == 2


@pytest.mark.timeout(20)
def test_bad_query_400_no_retry_with_message():
    body = {"status": "error", "errorType": "bad_data",
            "error": 'invalid parameter "query": 1:5: parse error: unexpected end of input'}
    with FaultServer() as fs:
        fs.push(("status", 400, body))
        with pytest.raises(PrometheusError) as ei:
            _fast(fs.url, retries=3).query_range("rate(", 0, 600, 60)
        msg = str(ei.value)
        assert "HTTP 400" in msg and "parse error: unexpected end of input" in msg and "query: rate(" in msg
        assert len(fs.api_requests()) == 1
        fs.push(("status", 422, {"status": "error", "errorType": "execution", "error": "many-to-many"}))
        with pytest.raises(PrometheusError, match="execution: many-to-many"):
            _fast(fs.url).query("a / b")
        fs.push(("status", 200, "<html>proxy login</html>"))
        with pytest.raises(PrometheusError, match="unreadable"):
            _fast(fs.url).query("up")


@pytest.mark.timeout(60)
def test_long_range_is_split_under_point_limit():
    with FaultServer() as fs:  # the fault server rejects > 11,000 points like Prometheus does
        src = _fast(fs.url)
        start = 1_762_041_600
        end = start + 7 * 86400
        df = src.query_range("fault_metric", start, end, step=15)
        sent = fs.api_requests()
        assert len(sent) == math.ceil((7 * 86400 / 15 + 1) / MAX_POINTS) == 4
        for r in sent:
            p = r["params"]
            assert (float(p["end"]) - float(p["start"])) / float(p["step"]) + 1 <= MAX_POINTS
        assert len(df) == 7 * 86400 // 15 + 1
        assert df["ts"].is_unique and df["ts"].is_monotonic_increasing
        assert (df["value"].to_numpy() == df["ts"].astype("int64").to_numpy() / 1e9).all()
        # an automatic step fits one request
        auto = src.query_range("fault_metric", start, start + 90 * 86400)
        assert len(fs.api_requests()) == 5 and len(auto) <= MAX_POINTS
        for r in fs.api_requests():
            p = r["params"]
            assert (float(p["end"]) - float(p["start"])) / float(p["step"]) + 1 <= MAX_POINTS


@pytest.mark.timeout(20)
def test_frame_shape_and_engine():
    with FaultServer() as fs:
        src = _fast(fs.url)
        df = src.query_range("fault_metric", 0, 120, 60)
        assert list(df.columns[:5]) == ["ts", "metric", "service", "instance", "value"]
        assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
        assert df["service"].tolist() == ["fault"] * 3 and "job" in df.columns
        pl = src.query_range("fault_metric", 0, 120, 60, engine="polars")
        assert pl.height == 3 and str(pl.schema["ts"]) == "Datetime(time_unit='ns', time_zone='UTC')"


# ------------------------------------------------------------------ cache
@pytest.mark.timeout(30)
def test_cache_hit_skips_prometheus_and_stale_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLOOPS_CACHE_DIR", str(tmp_path / "c"))
    fs = FaultServer().start()
    try:
        src = _fast(fs.url, cache=True, allow_stale=True)
        a = src.query_range("fault_metric", 0, 3600, 60)
        assert len(fs.api_requests()) == 1 and src.last_cache_info.hit is False
        b = src.query_range("fault_metric", 0, 3600, 60)
        assert len(fs.api_requests()) == 1, "second run of the same window must not hit Prometheus"
        assert src.last_cache_info.hit and b.attrs["cache"].hit and not b.attrs["cache"].stale
        assert a.reset_index(drop=True).equals(b.reset_index(drop=True))
        assert str(b["ts"].dtype) == "datetime64[ns, UTC]"
        files = sorted(p.suffix for p in (tmp_path / "c" / "prometheus").iterdir())
        assert files == [".json", ".parquet"]
        # a different window is a different key
        src.query_range("fault_metric", 0, 7200, 60)
        assert len(fs.api_requests()) == 2
        # a recent window is always refetched while Prometheus is up
        now = time.time()
        src.query_range("fault_metric", now - 600, now, 60)
        src.query_range("fault_metric", now - 600, now, 60)
        assert len(fs.api_requests()) == 4
    finally:
        fs.stop()
    # Prometheus gone: the recent window is served stale, with its age
    time.sleep(0.05)
    stale = src.query_range("fault_metric", now - 600, now, 60)
    info = stale.attrs["cache"]
    assert info.stale and info.hit and info.age_s >= 0 and info.fetched_at.tzinfo is not None
    with pytest.raises(PrometheusError):
        src.query_range("fault_metric", now - 600, now, 60, allow_stale=False)
    with pytest.raises(PrometheusError):  # never cached
        src.query_range("fault_metric", 0, 60, 60)


def test_cache_corrupt_entry_is_a_miss(tmp_path):
    c = QueryCache(tmp_path)
    assert c.get("nope") is None
    (tmp_path / "k.json").write_text('{"version": 1, "fetched_at": "2026-01-01T00:00:00+00:00"}')
    (tmp_path / "k.parquet").write_bytes(b"not parquet")
    assert c.get("k") is None
    assert c.clear() == 1


# ------------------------------------------------------------------ a real Prometheus
def _make_openmetrics(folder: Path):
    """(openmetrics path, window start, window end, scrape interval s, used_demo)."""
    import pandas as pd

    try:
        from holoops.demo import simulate

        demo = simulate(start="2026-11-02T00:00:00Z", days=1, seed=7, scrape_interval="60s")
        demo.write(folder / "demo", formats=("openmetrics",))
        files = [f for f in sorted((folder / "demo").rglob("*")) if f.is_file() and _is_openmetrics(f)]
        if files:
            w0, w1 = demo.window
            return files[0], pd.Timestamp(w0), pd.Timestamp(w1), 60, True
    except Exception:  # the demo package is being written in parallel; fall back to our own file
        pass
    from promserver import DEFAULT_START, write_openmetrics

    p = write_openmetrics(folder / "metrics.om", DEFAULT_START, hours=6, interval=60)
    return p, pd.Timestamp(DEFAULT_START), pd.Timestamp(DEFAULT_START) + pd.Timedelta(hours=6), 60, False


def _is_openmetrics(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096)
        fh.seek(max(0, path.stat().st_size - 64))
        tail = fh.read()
    return head.startswith(b"# ") and tail.rstrip().endswith(b"# EOF")


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    from promserver import have_prometheus, prometheus_from_openmetrics

    if not have_prometheus():
        pytest.skip("prometheus/promtool not installed (apt install prometheus)")
    work = tmp_path_factory.mktemp("prom")
    om, w0, w1, interval, used_demo = _make_openmetrics(work)
    with prometheus_from_openmetrics(om, work) as url:
        yield {"url": url, "om": om, "start": w0, "end": w1, "interval": interval, "demo": used_demo}


@functools.lru_cache(maxsize=2)
def _expected_series(om: Path):
    from promserver import parse_openmetrics

    return parse_openmetrics(om)


@functools.lru_cache(maxsize=2)
def _expected_frame(om: Path):
    """The export read back as a canonical metrics frame: ``read_export`` when that module exists,
    else our minimal parser. Returns (frame, reader name)."""
    try:
        from holoops.sources.exports import read_export
    except ImportError:
        from holoops.sources.prometheus import series_to_frame

        parsed = _expected_series(om)
        return series_to_frame(((dict(lab) | {"__name__": n}, pts) for (n, lab), pts in parsed.items())), "parse"
    return read_export(om, engine="pandas").frame, "read_export"


@pytest.mark.prometheus
@pytest.mark.timeout(300)
def test_raw_series_match_the_export(prom):
    import numpy as np

    src = PrometheusSource(prom["url"], auth=False, timeout=30, min_step=prom["interval"])
    exp, _reader = _expected_frame(prom["om"])
    labels = [c for c in exp.columns if c not in ("ts", "value", "metric", "service", "instance", "job")]
    keys = exp[["metric", "service", "instance", *labels]].astype(object).where(exp.notna(), None)
    groups: dict[tuple, list[int]] = {}
    for i, k in enumerate(keys.itertuples(index=False, name=None)):
        groups.setdefault(k, []).append(i)
    picked = sorted(groups)[:: max(1, len(groups) // 12)][:12]
    assert picked
    for key in picked:
        rows = exp.iloc[groups[key]].sort_values("ts")
        metric, service, instance, *vals = key
        matchers = {k: v for k, v in zip(labels, vals, strict=True) if v is not None}
        t0 = rows["ts"].iloc[0].timestamp()
        t1 = rows["ts"].iloc[-1].timestamp()
        df = src.query_range(promql_selector(metric, instance=instance, **matchers), t0, t1, step=prom["interval"])
        df = df[df["service"] == service]
        assert len(df), key
        got = dict(zip(df["ts"].astype("int64") // 10**9, df["value"], strict=True))
        exp_t = (rows["ts"].astype("int64") // 10**9).to_numpy()
        got_v = np.array([got.get(int(t), np.nan) for t in exp_t])
        assert np.allclose(got_v, rows["value"].to_numpy(), rtol=1e-9, atol=1e-9, equal_nan=True), key
        assert set(df["metric"]) == {metric} and set(df["instance"]) == {instance}


@pytest.mark.prometheus
@pytest.mark.timeout(300)
def test_rate_and_histogram_quantile(prom):
    import numpy as np

    src = PrometheusSource(prom["url"], auth=False, timeout=30)
    a, b = prom["start"] + (prom["end"] - prom["start"]) / 3, prom["start"] + (prom["end"] - prom["start"]) / 2
    expected = _expected_series(prom["om"])
    counters = sorted({k[0] for k in expected if k[0].endswith("_total")})
    buckets = sorted({k[0] for k in expected if k[0].endswith("_bucket")})
    assert counters
    rate = src.query_range(f"sum by (job) (rate({counters[0]}[5m]))", a, b, "5m", name="rate")
    assert len(rate) and (rate["value"] >= 0).all() and rate["metric"].eq("rate").all()
    if not prom["demo"]:  # our file: router 200s run at 20/s * (1 + 0.3 sin)
        r = rate[rate["service"] == "router"]["value"]
        assert 20 * 0.6 < r.mean() < 21 * 1.4
    if buckets:
        q = src.query_range(f"histogram_quantile(0.9, sum by (job, le) (rate({buckets[0]}[5m])))", a, b, "10m")
        assert len(q) and np.isfinite(q["value"]).any()
        if not prom["demo"]:  # 80 % < 0.1 s, 95 % < 0.5 s: p90 interpolates to 0.1 + 0.4 * 10/15
            assert np.allclose(q["value"], 0.1 + 0.4 * (0.9 - 0.8) / (0.95 - 0.8), rtol=1e-6)
    inst = src.query(f"count({counters[0]})", at=b)
    assert len(inst) == 1 and inst["value"].iloc[0] >= 1


@pytest.mark.prometheus
@pytest.mark.timeout(300)
def test_hostile_selectors_are_inert_on_real_prometheus(prom):
    src = PrometheusSource(prom["url"], auth=False, timeout=30)
    expected = _expected_series(prom["om"])
    name = sorted(k[0] for k in expected)[0]
    for v in HOSTILE:
        for sel in (promql_selector(name, instance=v), promql_selector(name, instance=[v, "zz"]),
                    promql_selector(name, instance=Matcher("=~", v))):
            df = src.query_range(sel, prom["start"], prom["start"] + (prom["end"] - prom["start"]) / 4)
            assert len(df) == 0, sel  # parsed fine (no 400) and matched nothing: no injection
    with pytest.raises(PrometheusError, match="parse error"):
        src.query("rate(")


@pytest.mark.prometheus
@pytest.mark.timeout(300)
def test_series_targets_and_metrics_helper(prom, tmp_path):
    src = PrometheusSource(prom["url"], auth=False, timeout=30, cache=tmp_path)
    expected = _expected_series(prom["om"])
    name = sorted(k[0] for k in expected)[0]
    s = src.series(name, prom["start"], prom["end"])
    assert len(s) == sum(1 for k in expected if k[0] == name)
    assert src.targets()["activeTargets"] == []  # no scrape config
    a = prom["start"]
    b = a + (prom["end"] - a) / 6
    m = src.metrics([name], a, b, step=60)
    assert set(m["metric"]) == {name}
    before = src.requests_sent
    again = src.metrics([name], a, b, step=60)
    assert src.requests_sent == before and len(again) == len(m)


@pytest.mark.prometheus
@pytest.mark.timeout(600)
def test_diagnostics_notebook_on_live_prometheus_equals_the_export(prom, tmp_path):
    """The diagnostics notebook with ``source="prometheus"`` (a real server, backfilled from the demo's
    OpenMetrics) reports the same fleet as with ``source="exports"`` over the same file: the same golden
    signals and saturation peaks. (Live, fleet health is probes and scrape targets instead: this
    backfilled server scrapes nothing and the fleet's hosts don't exist here, so none answer.)"""
    import shutil

    from holoops.run import run_notebook

    if not prom["demo"]:
        pytest.skip("needs the demo fleet's OpenMetrics export")
    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(prom["om"], folder / "metrics.om")
    window = {"start": prom["start"].isoformat(), "end": prom["end"].isoformat()}
    nb = Path(__file__).resolve().parents[1] / "notebooks" / "diagnostics.ipynb"
    live = run_notebook(nb, {"source": "prometheus", "prometheus_url": prom["url"], **window},
                        out_dir=tmp_path / "live", record_history=False, timeout=400)
    assert live.ok, live.failure_text()
    export = run_notebook(nb, {"source": "exports", "exports_path": str(folder), **window},
                          out_dir=tmp_path / "export", record_history=False, timeout=400)
    assert export.ok, export.failure_text()
    a, b = live.records, export.records
    assert a["probes"]["probes"] == 7 and a["probes"]["targets"] == 0
    assert len(a["health"]) == 7 and len(b["health"]) == 7
    # nothing answers the probes here (the demo's hosts do not exist): live, no service is judged ok
    assert set(a["health"]) == set(b["health"]) and "ok" not in a["health"].values()
    assert set(a["golden_signals"]) == set(b["golden_signals"]) and len(a["golden_signals"]) >= 6
    diffs = {(svc, k): (v, b["golden_signals"][svc][k]) for svc, row in a["golden_signals"].items()
             for k, v in row.items() if v != pytest.approx(b["golden_signals"][svc][k], rel=1e-6, abs=1e-9)}
    assert not diffs, diffs
    assert a["saturation_peaks"] == pytest.approx(b["saturation_peaks"], rel=1e-6)


@pytest.mark.prometheus
@pytest.mark.timeout(300)
def test_raw_returns_stored_samples_once_across_pieces(prom):
    """``raw()`` gives every stored sample once at its own timestamp, also across its range-vector pieces
    (1-hour pieces here over a day); a range query at the default 15 s step repeats each 60 s sample."""
    import numpy as np

    exp, _ = _expected_frame(prom["om"])
    one = exp[exp["metric"] == exp["metric"].iloc[0]]
    inst = one["instance"].iloc[0]
    one = one[one["instance"] == inst].sort_values("ts")
    metric = one["metric"].iloc[0]
    extra = {c: one[c].iloc[0] for c in exp.columns
             if c not in ("ts", "value", "metric", "service", "instance") and one[c].notna().all()}
    one = one[np.logical_and.reduce([one[c] == v for c, v in extra.items()])] if extra else one
    sel = promql_selector(metric, instance=inst, **extra)
    src = PrometheusSource(prom["url"], auth=False, timeout=30, raw_chunk_s=3600)
    got = src.raw(sel, prom["start"], prom["end"]).sort_values("ts")
    assert src.requests_sent >= 24  # one request per hour of the day
    assert got["ts"].is_unique and len(got) == len(one)
    assert (got["ts"].to_numpy() == one["ts"].to_numpy()).all()
    assert np.allclose(got["value"].to_numpy(), one["value"].to_numpy(), rtol=1e-12)
    grid = PrometheusSource(prom["url"], auth=False, timeout=30).query_range(sel, prom["start"], prom["end"])
    assert len(grid) > 3 * len(one)  # the step grid is not the data


@pytest.mark.prometheus
@pytest.mark.timeout(600)
def test_url_credentials_never_reach_outputs(prom, tmp_path, monkeypatch):
    """A password in ``prometheus_url`` is moved into auth: the run works, and the output notebook, the HTML
    export and the run history hold the URL without it (grepped byte for byte)."""
    from urllib.parse import urlsplit

    from holoops.run import run_notebook

    for k in ("HOLOOPS_PROM_USER", "HOLOOPS_PROM_PASSWORD", "HOLOOPS_PROM_TOKEN"):
        monkeypatch.delenv(k, raising=False)  # restored after the test, whatever the run sets
    password = "Zq8-uRL-s3cr3t-" + str(tmp_path.name)[-6:]
    host = urlsplit(prom["url"]).netloc
    url = f"http://ops:{password}@{host}"
    nb = Path(__file__).resolve().parents[1] / "notebooks" / "diagnostics.ipynb"
    hist = tmp_path / "history.jsonl"
    res = run_notebook(nb, {"source": "prometheus", "prometheus_url": url, "start": prom["start"].isoformat(),
                            "end": prom["end"].isoformat()}, out_dir=tmp_path / "out", history_path=hist,
                       timeout=400)
    assert res.ok, res.failure_text()
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()] + [hist]
    assert any(p.suffix == ".html" for p in written) and hist.is_file()
    for p in written:
        data = p.read_bytes()
        assert password.encode() not in data, f"{p} holds the password"
    assert f"http://{host}".encode() in (tmp_path / "out" / "diagnostics.ipynb").read_bytes()


@pytest.mark.prometheus
@pytest.mark.timeout(300)
def test_report_data_from_a_stale_cache_says_so(tmp_path, monkeypatch):
    """Notebook reads go through the cache by default; when Prometheus is gone, a window ending now is
    served from the newest cached copy and the dataset's header (the report's first line) says how old."""
    from promserver import have_prometheus, prometheus_from_openmetrics, write_openmetrics

    from holoops.fleet import load_fleet
    from holoops.sources.live import PrometheusLive
    from holoops.timeutil import Window, now_utc, parse_timedelta

    if not have_prometheus():
        pytest.skip("prometheus/promtool not installed (apt install prometheus)")
    monkeypatch.setenv("HOLOOPS_CACHE_DIR", str(tmp_path / "cache"))
    om = write_openmetrics(tmp_path / "m.om", start=now_utc() - parse_timedelta("3h"), hours=2.5)
    fleet = load_fleet()
    with prometheus_from_openmetrics(om, tmp_path / "prom") as url:
        end = now_utc()
        fresh = PrometheusLive(fleet, url).read(Window(end - parse_timedelta("2h"), end))
        assert fresh.stale_s is None and len(fresh.metrics) > 0
    time.sleep(1.0)
    end = now_utc()
    src = PrometheusLive(fleet, url)
    src.client.retries, src.client.timeout = 0, 1.0
    stale = src.read(Window(end - parse_timedelta("2h"), end))
    assert stale.stale_s is not None and stale.stale_s >= 1.0
    assert len(stale.metrics) == len(fresh.metrics)
    assert stale.header().startswith("⚠ **Stale data**") and " s old" in stale.header()
