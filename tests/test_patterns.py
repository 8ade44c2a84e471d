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
            _random_lines(9, 25_000),  # above the dict-first threshold
            *(_unseen_shapes(s)[0] for s in range(3))]
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
             "é", "日", "_a", "0", "07", "<", ">", "*", "x=", "a=b", "|", "&", "conf", "a/b", "x:", "k="]
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


# --------------------------------------------------------------------------------------------------
# logs the defaults were never fitted to: invented lines in the shapes of other systems' logs (proxy
# logs, syslog auth and kernel lines, Windows servicing, Android, OpenStack, a health app), where the
# variable parts are often words (host, user, file, class names) rather than numbers

_WORDS = ["alpha", "bravo", "delta", "echo", "gamma", "kilo", "lima", "nova", "orbit", "pixel", "quartz", "river",
          "sigma", "tango", "ultra", "vivid", "zenith", "amber", "cobalt", "ember", "fjord", "harbor", "indigo",
          "jasper", "lumen", "mosaic", "nectar", "onyx", "prism", "saffron"]


def _unseen_shapes(seed: int = 0, n: int = 3000):
    """(lines, truth) mixing many invented templates; the truth is the template each line came from."""
    import random

    rng = random.Random(seed)
    w = _WORDS

    def host():
        return f"{rng.choice(['www.', 'api.', 'cdn.', 'mail.', ''])}{rng.choice(w)}.{rng.choice(w)}." \
               f"{rng.choice(['com', 'net', 'org', 'io', 'edu'])}"

    hosts = [host() for _ in range(80)]
    proxies = ["gate.campus.example.edu", "relay.corp.example.net", "proxy.example.org"]
    users = ["root", "news", "cyrus", "alice", "bob", "carol", "mallory", "admin"]
    files = [f"{rng.choice(w)}_{rng.choice(w)}.{rng.choice(['log', 'txt', 'cfg', 'dat'])}" for _ in range(40)]
    pkgs = [f"com.{rng.choice(w)}.{rng.choice(w)}" for _ in range(20)]
    classes = [f"{rng.choice(pkgs)}.{rng.choice(w).capitalize()}{rng.choice(['Activity', 'Service'])}"
               for _ in range(25)]

    def hx(k):
        return "".join(rng.choice("0123456789abcdef") for _ in range(k))

    def uuid():
        return f"{hx(8)}-{hx(4)}-{hx(4)}-{hx(4)}-{hx(12)}"

    def ip():
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))

    def num(a=0, b=99999):
        return str(rng.randint(a, b))

    def wpath():
        return "C:\\" + "\\".join(rng.choice(["Windows", "System32", "Temp", "Logs", rng.choice(w)])
                                  for _ in range(rng.randint(1, 3))) + "\\" + rng.choice(files)

    # a chain of state changes: each "from" goes with one "to" (pair_ratio's rule; a branch such as
    # RUNNING -> FAILED besides RUNNING -> DONE would be a fifth pair over four values, above 1.2 x 4)
    states = [("NEW", "QUEUED"), ("QUEUED", "ASSIGNED"), ("ASSIGNED", "RUNNING"), ("RUNNING", "DONE")]
    makers = {
        # proxy log: host names on both sides, with and without ports, host first
        "px_open": lambda: f"{rng.choice(hosts)}:{rng.choice([80, 443])} open through proxy "
                           f"{rng.choice(proxies)}:{rng.choice([5070, 8080])} HTTPS",
        "px_socks": lambda: f"{rng.choice(hosts)}:{rng.choice([80, 443])} open through proxy "
                            f"{rng.choice(proxies)}:{rng.choice([5070, 8080])} SOCKS5",
        "px_close": lambda: f"{rng.choice(hosts)}:{rng.choice([80, 443])} close, {num()} bytes sent, {num()} bytes "
                            f"received, lifetime {rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        "px_cancel": lambda: f"{rng.choice(hosts)} error : A connection request was canceled before the completion.",
        # syslog auth: user names
        "auth_open": lambda: f"session opened for user {rng.choice(users)} by (uid={rng.choice([0, 0, 500])})",
        "auth_close": lambda: f"session closed for user {rng.choice(users)}",
        "auth_fail": lambda: f"Authentication failed for user {rng.choice(users)} from {rng.choice(hosts)}",
        "auth_ok": lambda: f"Accepted publickey for {rng.choice(users)} from {ip()} port {num(1024, 65535)} ssh2",
        "ntp": lambda: f"synchronized to {ip()}, stratum {rng.randint(1, 4)}",
        "cron": lambda: "(root) CMD (run-parts /etc/cron.hourly)",
        # file names, relative paths, e-mail addresses, Windows paths
        "del": lambda: f"Deleting file {rng.choice(files)}",
        "conf": lambda: f"loading config {rng.choice(w)}/{rng.choice(w)}/{rng.choice(files)} for {rng.choice(w)}",
        "mail": lambda: f"sent alert to {rng.choice(w)}.{rng.choice(w)}@{rng.choice(w)}.example.com",
        "win_open": lambda: f"Opened file {wpath()} for writing",
        "win_fail": lambda: f"Failed to open {wpath()}, error {rng.choice(['0x80070002', '0x80070005'])}",
        "upload": lambda: f"uploading {rng.choice(files)} to {rng.choice(hosts)} as {rng.choice(users)}",
        # Android: package and class names
        "proc": lambda: f"Start proc {num()}:{rng.choice(pkgs)}/u0a{num(1, 300)} for activity {rng.choice(classes)}",
        "shown": lambda: f"Displayed {rng.choice(classes)}: +{num(50, 999)}ms",
        # OpenStack: request ids, instance ids; GET and POST are different events
        "req": lambda: f"[req-{uuid()} {hx(32)} {hx(32)} - - -] Creating image",
        "vm": lambda: f"[instance: {uuid()}] VM Started (Lifecycle Event)",
        "get": lambda: f"{ip()} \"GET /v2/{hx(32)}/servers/detail HTTP/1.1\" status: 200 len: {num()} time: "
                       f"0.{num(1000000, 9999999)}",
        "post": lambda: f"{ip()} \"POST /v2/{hx(32)}/os-server-external-events HTTP/1.1\" status: 200 len: "
                        f"{num()} time: 0.{num(1000000, 9999999)}",
        # a health app's key=value|key=value lines and glued numbers
        "totals": lambda: f"totalAltitude={num()}|totalCalories={num()}|totalDistance={num()}|totalSteps={num()}",
        "extend": lambda: f"onExtend:{num()} {num(0, 20)} {num(0, 9)} {num(0, 9)}",
        "steps": lambda: f"getTodayTotalDetailSteps = {num()}##{num()}##{num()}##{num()}",
        # constants stay apart: a command word first (four of them), state pairs
        **{f"cmd_{c}": (lambda c=c: f"{c} (command {num()})") for c in ("boot", "halt", "wait", "kill")},
        **{f"state_{a}_{b}": (lambda a=a, b=b: f"task_{num()} Transitioned from {a} to {b}") for a, b in states},
    }
    names = list(makers)
    weights = [rng.randint(1, 10) for _ in names]
    truth = rng.choices(names, weights=weights, k=n)
    lines = [makers[t]() for t in truth]
    # kernel boot lines: each one its own event, several sharing words and token counts
    kernel = ["Memory: 125312k/129720k available", "CPU: L2 cache: 256K", "ACPI: Interpreter disabled.",
              "PCI: Using configuration type 1", "ACPI: PCI Root Bridge [PCI0]", "Console: colour VGA+ 80x25",
              "Checking 'hlt' instruction... OK.", "NET: Registered protocol family 2",
              "audit: initializing netlink socket (disabled)", "Freeing unused kernel memory: 144k freed"]
    for i, line in enumerate(kernel):
        lines.append(line)
        truth.append(f"kernel{i}")
    return lines, truth


def test_unseen_log_shapes_group_correctly(monkeypatch):
    """Host, user, file, path, e-mail and class names vary without digits (two at once in a line), and
    still each template is one group; constants with few values (GET/POST, a command word, state pairs)
    stay apart; unrelated kernel lines stay apart. Both the C core and pure Python."""
    for seed in (0, 1):
        lines, truth = _unseen_shapes(seed)
        for res in (mine_templates(lines), _pure(monkeypatch, lines)):
            assert grouping_accuracy(truth, res.ids) == 1.0
            got = set(res.templates)
            assert {"<*> open through proxy <*> HTTPS", "<*> open through proxy <*> SOCKS<*>",
                    "<*> error : A connection request was canceled before the completion.",
                    "session opened for user <*> by (uid=<*>)", "Deleting file <*>", "loading config <*> for <*>",
                    "sent alert to <*>", "Opened file <*> for writing", "uploading <*> to <*> as <*>",
                    "[req-<*> <*> - - -] Creating image", "totalAltitude=<*>|totalCalories=<*>|"
                    "totalDistance=<*>|totalSteps=<*>", "boot (command <*>)",
                    "task_<*> Transitioned from NEW to QUEUED"} <= got


def test_unseen_shapes_need_the_general_rules():
    """What each rule buys on the shapes above: without the pair rule the state pairs merge; with the first
    token as a plain column the command words merge; both are in the defaults."""
    lines, truth = _unseen_shapes(2)
    assert grouping_accuracy(truth, mine_templates(lines).ids) == 1.0
    no_pairs = mine_templates(lines, config=MinerConfig(pair_ratio=0))
    assert "task_<*> Transitioned from <*> to <*>" in no_pairs.templates
    plain_first = mine_templates(lines, config=MinerConfig(first_token_max=0))
    assert "<*> (command <*>)" in plain_first.templates
    for cfg in (MinerConfig(pair_ratio=0), MinerConfig(first_token_max=0)):
        assert grouping_accuracy(truth, mine_templates(lines, config=cfg).ids) < 1.0


def test_pairs_must_recur_to_count_as_constants():
    """Two columns in one-to-one correspondence are constants (split) only when their pairs recur in the
    lines; a rare message whose two names correspond once each is one template (pair_repeat)."""
    names = _WORDS[:8]
    copies = [f"copying {w}.txt to {w}.txt.bak" for w in names]
    res = mine_templates(copies)
    assert res.templates == ["copying <*> to <*>"]
    assert len(mine_templates(copies, config=MinerConfig(pair_repeat=0))) == len(names)
    states = [("NEW", "QUEUED"), ("QUEUED", "ASSIGNED"), ("ASSIGNED", "RUNNING"), ("RUNNING", "DONE")]
    moves = [f"task_{i} Transitioned from {a} to {b}" for i in range(12) for a, b in states]
    assert len(mine_templates(moves)) == len(states)


def test_two_variables_changing_at_once_do_not_split():
    """The failure this grouping replaced: 'position p varies with all others fixed' split a template whose
    two host names change together into one template per pair."""
    import random

    rng = random.Random(5)
    a = [f"{x}.{y}.net" for x in _WORDS[:12] for y in ("east", "west")]
    b = [f"{x}.example.org" for x in _WORDS[12:20]]
    lines = [f"{rng.choice(a)} open through proxy {rng.choice(b)} HTTPS" for _ in range(400)]
    res = mine_templates(lines)
    assert res.templates == ["<*> open through proxy <*> HTTPS"]


def test_new_masks():
    """E-mail addresses, Windows and UNC paths, relative paths of three or more segments, and key=value
    pairs joined by | or & (each value masked, each key kept)."""
    from holoops.analyze.patterns import mask_messages

    got = mask_messages(["mail to a.b+c@mx.example.com now", r"open C:\Windows\System32\x.dll, ok",
                         r"share \\srv\data\x.txt gone", "load conf/app/settings.yaml now", "load a/b now",
                         "a=1|b=two&c=3", " path=/var/log/x", "GET /v2/a/b HTTP/1.1"])
    assert got == ["mail to <*> now", "open <*>, ok", "share <*> gone", "load <*> now", "load a/b now",
                   "a=<*>|b=<*>&c=<*>", " path=<*>", "GET <*> HTTP/<*>"]


def test_native_ident_mask_equals_the_regex():
    """The C core's identifier mask (URLs, UUIDs, 0x and long hex, IPv4[:port], MACs, dates, e-mail,
    Windows/UNC paths; no regex engine) gives exactly polars' replace_all of DEFAULT_MASKS[0] on generated
    strings dense in what those alternatives look at."""
    import random

    from holoops.analyze import patterns

    core = patterns._core()
    if core is None:
        if os.environ.get("HOLOOPS_REQUIRE_NATIVE"):
            pytest.fail("HOLOOPS_REQUIRE_NATIVE is set but holoops.analyze._minecore is not built")
        pytest.skip("holoops.analyze._minecore is not built (no C compiler at install time)")
    rng = random.Random(7)
    atoms = ["0", "00", "000", "0000", "1", "12", "123", "1234", ".", ".", ":", ":", "-", "-", "x", "X", "0x", "0X1f",
             "a", "f", "F", "A", "g", "G", "z", "_", "ab", "dead", "beef", "DEAD", "deadbeef", "abcdef012345",
             "ABCDEF012345", "@", "@", "\\", "\\\\", "C:\\", "c:\\x", "://", "http://", "a+b.c-d://", " ", "  ",
             "\t", "\u00a0", "\u2003", "\x1c", ",", ";", "\"", "'", "<", ">", "|", "%", "+", "/", "é", "日", "Mon",
             "Monday", "Sat", "Thu,", " Aug", " Jan", "Decem", " 4", " 12", " 123", "u@x.y", "a.b@c-d.e", "a@b",
             "a@b.", "1.2.3.4", "10.0.0.1:80", "255.255.255.255:8080a", "aa:bb:cc:dd:ee:ff", "01-23-45-67-89-ab",
             "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "Thu Aug  4", "Mon, Jan 12", "(", ")", "=", "<*>"]
    lines = ["".join(rng.choice(atoms) for _ in range(rng.randint(0, 25))) for _ in range(40_000)]
    want = patterns._replace_all(pl.Series("m", lines, dtype=pl.String), patterns.DEFAULT_MASKS[:1], 1).to_list()
    got = core.mask_ident(lines)
    bad = [(x, g, w) for x, g, w in zip(lines, got, want, strict=True) if g != w]
    assert not bad, bad[:5]


@pytest.mark.skipif(
    not (ROOT / ".." / "shared" / "data" / "loghub-dev" / "Apache_2k.log_structured.csv").exists(),
    reason="loghub-dev evaluation data not present at ../shared/data/loghub-dev")
def test_default_config_is_the_full_dev_selection():
    """The shipped MinerConfig() is what benchmarks/bench_patterns.py selects on all eight development
    datasets (its leave-one-dataset-out protocol picks from the same grid)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _loghub import DATASETS, load
    from bench_patterns import lodo

    result = lodo({name: load(name) for name in DATASETS})
    assert result["default_is_full"]
