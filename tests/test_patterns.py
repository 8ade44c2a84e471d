"""Template mining: GA metric, recovery of known templates, new/surge flags, pandas == polars."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from holoops.analyze.patterns import MinerConfig, error_patterns, grouping_accuracy, mine_templates

ROOT = Path(__file__).resolve().parents[1]


def test_grouping_accuracy_hand_labelled():
    truth = ["A", "A", "B", "B", "C"]
    assert grouping_accuracy(truth, [1, 1, 2, 2, 3]) == 1.0
    # B split in two: its 2 lines wrong; A and C right
    assert grouping_accuracy(truth, [1, 1, 2, 4, 3]) == pytest.approx(3 / 5)
    # B and C merged: 3 lines wrong
    assert grouping_accuracy(truth, [1, 1, 2, 2, 2]) == pytest.approx(2 / 5)
    assert grouping_accuracy([], []) == 1.0
    with pytest.raises(ValueError):
        grouping_accuracy(["A"], [1, 2])


def _synthetic(seed: int = 0):
    rng = np.random.default_rng(seed)
    users = ["alice", "bob", "carol", "dave", "erin", "frank"]
    makers = {
        "Accepted password for <*> from <*> port <*> ssh<*>":
            lambda: f"Accepted password for {rng.choice(users)} from 10.0.{rng.integers(256)}.{rng.integers(256)} "
                    f"port {rng.integers(1024, 65535)} ssh2",
        "Received block blk_<*> of size <*> from /<*>":
            lambda: f"Received block blk_{rng.integers(-10**12, 10**12)} of size {rng.integers(10**6)} "
                    f"from /10.1.{rng.integers(256)}.{rng.integers(256)}:{rng.integers(1024, 65535)}",
        "request <*> took <*>":
            lambda: f"request {rng.integers(10**6):x}{rng.integers(10**6):x}deadbeef took {rng.integers(1, 900)}ms",
        "worker started":
            lambda: "worker started",
        "job <*> failed: disk quota exceeded on <*>":
            lambda: f"job {rng.integers(1000)} failed: disk quota exceeded on /data/vol{rng.integers(9)}/x",
    }
    names = list(makers)
    truth = rng.integers(len(names), size=3000)
    lines = [makers[names[t]]() for t in truth]
    return lines, [names[t] for t in truth], names


def test_mining_recovers_synthetic_templates_with_exact_counts():
    lines, truth, names = _synthetic()
    res = mine_templates(lines)
    assert grouping_accuracy(truth, res.ids) == 1.0
    assert len(res) == len(names)
    got = dict(zip(res.templates, res.counts, strict=True))
    expected = pd.Series(truth).value_counts().to_dict()
    assert got == {t: expected[t] for t in names}
    # ids are numbered by descending count and index the templates table
    assert res.counts == sorted(res.counts, reverse=True)
    table = res.frame()
    assert list(table.columns) == ["template_id", "template", "count"]
    assert res.template_of()[:3] == [res.templates[i] for i in res.ids[:3]]


def test_mining_accepts_series_and_nulls_and_is_stable():
    lines, truth, _ = _synthetic(1)
    a = mine_templates(lines)
    b = mine_templates(pd.Series(lines))
    c = mine_templates(pl.Series(lines))
    assert a.templates == b.templates == c.templates
    assert (a.ids == b.ids).all() and (a.ids == c.ids).all()
    r = mine_templates(["x 1", None, "x 2"])
    assert len(r.ids) == 3
    assert len(mine_templates([])) == 0
    # a user mask runs before the defaults
    cfg = MinerConfig(extra_masks=((r"\bsess-[a-z]+\b", "<*>"),))
    assert mine_templates(["open sess-abc", "open sess-xyz"], config=cfg).templates == ["open <*>"]


def _logs(n: int = 600):
    rng = np.random.default_rng(3)
    ts = pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(np.sort(rng.integers(0, 6 * 3600, n)), unit="s")
    svc = rng.choice(["api", "worker"], n)
    msgs = [f"GET /items/{rng.integers(1000)} 200 in {rng.integers(1, 90)}ms" for _ in range(n)]
    levels = ["info"] * n
    late = ts >= pd.Timestamp("2024-05-01 05:00", tz="UTC")
    for i in np.flatnonzero(late)[::3]:  # a new error appears only in the last hour
        msgs[i] = f"CUDA out of memory. Tried to allocate {rng.integers(1, 9)} GiB on device {rng.integers(4)}"
        levels[i] = "error"
    for i in np.flatnonzero(~late)[::40]:  # a rare warning that surges in the last hour
        msgs[i] = f"retrying connection to db-{rng.integers(3)} after timeout"
        levels[i] = "warn"
    for i in np.flatnonzero(late)[1::3]:
        msgs[i] = f"retrying connection to db-{rng.integers(3)} after timeout"
        levels[i] = "warn"
    return pd.DataFrame({"ts": ts, "service": svc, "level": levels, "message": msgs})


def test_error_patterns_new_and_surge_flags():
    logs = _logs()
    out = error_patterns(logs, window="1h")
    by = {t: row for t, row in zip(out["template"], out.to_dict("records"), strict=True)}
    oom = next(r for t, r in by.items() if t.startswith("CUDA out of memory"))
    retry = next(r for t, r in by.items() if t.startswith("retrying connection"))
    get = next(r for t, r in by.items() if t.startswith("GET"))
    assert oom["new"] and oom["baseline_count"] == 0 and oom["surge"]
    assert oom["first_seen"] >= pd.Timestamp("2024-05-01 05:00", tz="UTC")
    assert not retry["new"] and retry["surge"] and retry["surge_ratio"] > 5
    assert not get["new"] and not get["surge"]
    assert oom["levels"].startswith("error=")
    assert sum(oom["trend"]) == oom["count"] and len(oom["trend"]) == 24
    assert oom["trend"][:18] == [0] * 18
    assert set(oom["services"].split(", ")) <= {"api", "worker"}
    assert int(out["count"].sum()) == len(logs)


def test_error_patterns_pandas_equals_polars():
    logs = _logs()
    a = error_patterns(logs, window=("2024-05-01 05:00", "2024-05-01 06:00"))
    b = error_patterns(pl.from_pandas(logs), window=("2024-05-01 05:00", "2024-05-01 06:00"))
    assert isinstance(b, pl.DataFrame)
    bp = b.to_pandas()
    assert list(a.columns) == list(bp.columns)
    for col in a.columns:
        if col == "trend":
            assert [list(x) for x in a[col]] == [list(x) for x in bp[col]]
        else:
            assert a[col].tolist() == bp[col].tolist(), col


@pytest.mark.skipif(
    not (ROOT / ".." / "shared" / "data" / "loghub-dev" / "Apache_2k.log_structured.csv").exists(),
    reason="loghub-dev evaluation data not present at ../shared/data/loghub-dev")
def test_loghub_apache_ga_at_least_published_drain():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _loghub import DRAIN_PUBLISHED, load

    for name in ("Apache", "OpenSSH"):
        messages, truth = load(name)
        assert grouping_accuracy(truth, mine_templates(messages).ids) >= DRAIN_PUBLISHED[name]


def test_fast_path_matches_plain_masking():
    """Digit zeroing, hashed dedupe and staged masking give exactly what masking every line does."""
    from holoops.analyze.patterns import DEFAULT_MASKS

    lines, _, _ = _synthetic(2)
    lines += ["node-17 up 0x1F after 5x3 ms", "uuid 3f2504e0-4f89-11d3-9a0c-0305e82c3301 at 10.0.0.1:80",
              "mac a4:5e:60:c2:1d:e9 id deadbeef12 size 4 KB", ""]
    plain = MinerConfig(masks=(*DEFAULT_MASKS, (r"\x00never\x00", "")))  # any other masks: plain path
    # the one-pass byte path, the dict-first dedupe (many lines), a line with a newline (fallback)
    odd = ["tab\there 12\tx", "nbsp\u00a0ip 10.0.0.12 done", "ünïcode 12 ms", "trailing newline 7\n", "\r\n",
           "Thu Aug 4 12:00 done", "key=val 3 and path /a/b0/c9", "", " ", "9 9 9", "blk_-42 +7 -<8>"]
    for data in (lines, lines * 12, [*lines, "multi\nline 7"], [*lines, *odd] * 2, ["", ""], odd):
        a = mine_templates(data)
        b = mine_templates(data, config=plain)
        assert a.templates == b.templates and (a.ids == b.ids).all() and a.counts == b.counts


def _pure(monkeypatch, data, **kw):
    with monkeypatch.context() as m:
        m.setenv("HOLOOPS_PURE_PYTHON", "1")
        return mine_templates(data, **kw)


def _random_lines(seed: int, n: int) -> list[str]:
    """Lines built from a small vocabulary of words, numbers, ids and odd characters, so that templates
    repeat, numbers vary, runs of masks appear and single-token lines merge."""
    import random

    rng = random.Random(seed)
    words = ["open", "close", "user", "bglio7", "bglio<*>x", "rdd_3", "node-17", "ünï", "日本", "a", "=", "x=1",
             "/var/log/a1", "0x1f", "10.0.0.1:80", "12 KB", "3ms", "deadbeef0011", "-", "<*>", "\t", "\u00a0"]
    out = []
    for _ in range(n):
        k = rng.choice((1, 1, 2, 3, 4, 6, 9))
        toks = [rng.choice(words) if rng.random() < 0.7 else str(rng.randint(0, 10 ** rng.randint(1, 9)))
                for _ in range(k)]
        out.append(" ".join(toks))
    return out


def test_native_core_equals_pure_python(monkeypatch):
    """The C accelerator (holoops.analyze._minecore) gives exactly the pure-Python result: per-line ids,
    templates and counts, on random lines, the edge cases and (where present) every Loghub dataset."""
    from holoops.analyze import patterns

    if patterns._core() is None:
        if os.environ.get("HOLOOPS_REQUIRE_NATIVE"):
            pytest.fail("HOLOOPS_REQUIRE_NATIVE is set but holoops.analyze._minecore is not built")
        pytest.skip("holoops.analyze._minecore is not built (no C compiler at install time)")
    lines, _, _ = _synthetic(2)
    odd = ["tab\there 12\tx", "nbsp\u00a0ip 10.0.0.12 done", "ünïcode 12 ms", "trailing newline 7\n", "\r\n",
           "Thu Aug 4 12:00 done", "", " ", "9 9 9", "blk_-42 +7 -<8>", "\ud800 lone surrogate 5", "𝔘 12",
           "bglio<*>", "bglio<*>x", "bglio<*>", "<*> <*> <*>", "a <*>1 <*>1 b"]
    sets = [lines, odd, odd * 3, [*lines, *odd], *(_random_lines(s, 3000) for s in range(4)),
            _random_lines(9, 25_000)]  # above the dict-first threshold
    loghub = ROOT / ".." / "shared" / "data" / "loghub-dev"
    if loghub.exists():
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from _loghub import DATASETS, load

        sets += [load(name)[0] for name in DATASETS]
    for data in sets:
        a = mine_templates(data)
        b = _pure(monkeypatch, data)
        assert a.templates == b.templates and a.counts == b.counts and (a.ids == b.ids).all()
    # items that are not str take the converting path (and still agree)
    mixed = [*odd, None, 7, 3.5]
    a, b = mine_templates(mixed), _pure(monkeypatch, mixed)
    assert a.templates == b.templates and (a.ids == b.ids).all()


def test_single_token_lines_that_merge():
    """Regression: two one-token lines that are one identifier with variable parts used to crash the
    grouping (max() of no other positions)."""
    res = mine_templates(["bglio7x", "bglio12", "bglio7x", "other"])
    assert len(res.ids) == 4 and res.ids[0] == res.ids[2]


def test_native_masks_equal_the_regexes():
    """The C core applies the default masks after the identifier regex without a regex engine; on
    generated strings dense in the characters those regexes care about (masks, units, hex, paths,
    signs, separators, Unicode spaces) it gives exactly what polars' replace_all of the regexes gives."""
    import random

    from holoops.analyze import patterns

    core = patterns._core()
    if core is None:
        if os.environ.get("HOLOOPS_REQUIRE_NATIVE"):
            pytest.fail("HOLOOPS_REQUIRE_NATIVE is set but holoops.analyze._minecore is not built")
        pytest.skip("holoops.analyze._minecore is not built (no C compiler at install time)")
    rng = random.Random(11)
    atoms = ["<*>", "<*>", "<*>", "/", "/a", "/var", "=", "-", "+", ".", ":", "_", ",", ";", "(", ")", "[", "]",
             " ", "  ", "\t", "\u00a0", "\u3000", "\n", "K", "M", "G", "T", "P", "E", "i", "B", "KB", "MiB",
             "bytes", "byte", "ms", "µs", "us", "ns", "s", "m", "h", "d", "x", "ab", "ff", "c0", "e", "g", "Z",
             "é", "日", "_a", "0", "07", "<", ">", "*", "x=", "a=b"]
    lines = ["".join(rng.choice(atoms) for _ in range(rng.randint(0, 30))) for _ in range(40_000)]
    digits = patterns._replace_all(pl.Series("m", lines, dtype=pl.String), patterns.DEFAULT_MASKS[1:2], 1)
    assert core.mask_digit_runs(lines) == digits.to_list()
    want = patterns._replace_all(digits, patterns.DEFAULT_MASKS[2:], 1).to_list()
    got = core.mask_tail(digits.to_list())
    bad = [(d, g, w) for d, g, w in zip(digits.to_list(), got, want, strict=True) if g != w]
    assert not bad, bad[:5]


def test_many_unhashable_items_are_converted_not_crashed():
    """Above the dict-dedupe threshold a plain list goes straight to the fast path; an unhashable item
    there (a list) must send it through the converting path like any other non-str item."""
    res = mine_templates([["x", 1]] * 25_000 + ["a 1", "a 2"])
    assert sum(res.counts) == 25_002 and res.counts[0] == 25_000
