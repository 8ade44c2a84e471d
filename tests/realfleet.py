"""Run the REAL HolographicMemory service under a real Prometheus, node_exporter and Alertmanager, for
end-to-end tests. Everything listens on 127.0.0.1, on free ports chosen at run time.

The service is not part of this repository: it is the read-only folder ``../shared/fleet/holographic-memory``
next to the checkout (``HOLOOPS_HM_FLEET`` overrides the path). Its ``start.sh`` builds the service once into
``$HM_HOME`` (default ``/tmp/holographic-memory-seed``, about 70 s the first time) and starts one uvicorn
replica per port; its ``traffic.py`` drives bounded traffic and prints the status counts it saw (the ground
truth). :func:`real_fleet` starts, in this order, the replicas (``start.sh``, one call per replica, under a
file lock so that concurrent sessions do not build at once), ``prometheus-node-exporter``,
``prometheus-alertmanager`` (clustering off) and ``prometheus`` (lifecycle API on, scraping jobs
``holographic-memory``, ``node`` and ``prometheus``, alerting to the Alertmanager, with the given rule files),
waits for each to be ready, and on exit stops everything it started (terminate, wait, kill), even when the
body or the start-up failed. Replicas are stopped by the pids that ``start.sh`` recorded for *our* ports
only (``stop.sh`` would stop every replica recorded in ``$HM_HOME``, other people's too); their access logs
are moved into ``workdir/hm`` and their data folders removed, so ``RealFleet.logs`` stays readable after exit.

Failures:

- :class:`RealFleetUnavailable`: the shared folder is missing (``folder_missing`` is True), the service
  could not be built, or a binary is not installed (``scripts/setup.sh`` installs them). Tests
  ``pytest.skip`` **only** when ``folder_missing`` is True (see :func:`fleet_dir_or_none`): on CI the folder
  exists, so a broken build or a missing binary must fail the test, not skip it.
- :class:`RealFleetError`: a process did not come up; the message names it and ends with its log's tail.

Known hazard on a shared machine: someone running the shared ``stop.sh`` with the default ``HM_HOME`` stops
our replicas too (it kills every recorded pid); the harness then reports the replica as gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promserver import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
DEFAULT_HM_HOME = "/tmp/holographic-memory-seed"
HM_JOB, NODE_JOB, PROM_JOB = "holographic-memory", "node", "prometheus"
# node_exporter: only cheap, quiet collectors (no systemd/textfile/hwmon/... probing)
NODE_COLLECTORS = ("cpu", "meminfo", "filesystem", "loadavg", "diskstats", "netdev", "stat", "time", "uname")
ACCESS_LINE = re.compile(r'^INFO:\s+\S+ - "(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})\b')


class RealFleetUnavailable(RuntimeError):
    """The real service cannot be run here: folder missing, build failed or a binary not installed."""

    def __init__(self, reason: str, *, folder_missing: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.folder_missing = folder_missing


class RealFleetError(RuntimeError):
    """A process of the fleet did not start, did not become ready, or a reload failed."""


def fleet_dir() -> Path:
    """``$HOLOOPS_HM_FLEET`` or ``<repo>/../shared/fleet/holographic-memory``."""
    env = os.environ.get("HOLOOPS_HM_FLEET")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[1].parent / "shared" / "fleet" / "holographic-memory"


def fleet_dir_or_none() -> Path | None:
    """The fleet folder when it exists (with ``start.sh`` and ``traffic.py``), else None: the only skip case."""
    d = fleet_dir()
    return d if (d / "start.sh").is_file() and (d / "traffic.py").is_file() else None


def hm_home() -> Path:
    return Path(os.environ.get("HM_HOME") or DEFAULT_HM_HOME)


def parse_access_log(path: str | Path) -> list[tuple[str, str, int]]:
    """``[(method, path, status), ...]`` for every uvicorn access line (tracebacks in between are skipped)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        m = ACCESS_LINE.match(line)
        if m:
            out.append((m["method"], m["path"], int(m["status"])))
    return out


def _tail(path: Path | None, n: int = 3000) -> str:
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        return f"(no log {path}: {e})"
    return text[-n:] if text else f"(log {path} is empty)"


def _http(method: str, url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _pid_state(pid: int) -> str | None:
    """Process state letter from /proc (``Z`` for a zombie), or None when the pid is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _alive(pid: int) -> bool:
    return _pid_state(pid) not in (None, "Z", "X")


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


@dataclass
class _Server:
    """A process we started with Popen (node_exporter, Alertmanager, Prometheus)."""

    name: str
    proc: subprocess.Popen
    log: Path
    port: int

    def alive(self) -> bool:
        return self.proc.poll() is None

    def describe(self) -> str:
        return f"{self.name} (pid {self.proc.pid}, exit {self.proc.returncode})"

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass
class _Replica:
    """A HolographicMemory replica that start.sh launched (not our child: start.sh exits, it is reparented)."""

    port: int
    pid: int
    log: Path
    pidfile: Path
    datadir: Path

    def alive(self) -> bool:
        return _alive(self.pid)

    def describe(self) -> str:
        return f"holographic-memory replica {self.port} (pid {self.pid})"

    def stop(self, timeout: float = 15) -> None:
        # only a process that still is *our* uvicorn on *our* port (the pid may have been reused)
        if _alive(self.pid) and str(self.port) in _cmdline(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                deadline = time.monotonic() + 10
                while _alive(self.pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
        with contextlib.suppress(OSError):
            if self.pidfile.read_text().strip() == str(self.pid):
                self.pidfile.unlink()


@dataclass
class RealFleet:
    """Handles to the running fleet; built by :func:`real_fleet`."""

    workdir: Path
    fleet_dir: Path
    ports: list[int]
    prometheus_url: str
    alertmanager_url: str | None
    node_instance: str
    prometheus_instance: str
    logs: list[Path]
    scrape_interval: str
    evaluation_interval: str
    rule_files: list[Path] = field(default_factory=list)
    #: more scrape jobs (job name -> targets), e.g. an exporter started beside the fleet
    extra_jobs: dict[str, list[str]] = field(default_factory=dict)
    _config_path: Path | None = None
    _procs: list[Any] = field(default_factory=list)

    def dead(self) -> str:
        """'' when every process of the fleet runs, else which died, with their logs' tails (for errors)."""
        gone = [p for p in self._procs if not p.alive()]
        return "".join(f"\n{p.describe()} is not running; log {p.log}:\n{_tail(p.log, 1500)}" for p in gone)

    @property
    def instances(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.ports]

    @property
    def targets(self) -> set[tuple[str, str]]:
        """Every (job, instance) Prometheus is told to scrape."""
        return ({(HM_JOB, i) for i in self.instances} | {(NODE_JOB, self.node_instance)}
                | {(PROM_JOB, self.prometheus_instance)})

    # -- Prometheus API -------------------------------------------------------------------------------------
    def api(self, path: str, params: dict[str, Any] | None = None, timeout: float = 10) -> Any:
        """GET ``/api/v1/<path>``; returns ``data``; raises RealFleetError on an API error."""
        url = f"{self.prometheus_url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body = _http("GET", url, timeout=timeout)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        if status != 200 or doc.get("status") != "success":
            raise RealFleetError(f"prometheus {path} {params or ''} -> {status}: {body[:1000]!r}")
        return doc["data"]

    def query(self, promql: str, at: float | None = None) -> list[dict]:
        """Instant query; returns ``data.result`` (a vector's ``[{"metric": {...}, "value": [ts, "v"]}]``)."""
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = at
        return self.api("query", params)["result"]

    def values(self, promql: str, by: str = "instance") -> dict[str, float]:
        """Instant vector as ``{label value: float}`` (label ``by``)."""
        return {r["metric"].get(by, ""): float(r["value"][1]) for r in self.query(promql)}

    def wait_for(self, promql: str, predicate: Callable[[list[dict]], bool], timeout: float = 30,
                 what: str = "") -> list[dict]:
        """Poll ``query(promql)`` until ``predicate(result)``; returns the result, else RealFleetError."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                last = self.query(promql)
                if predicate(last):
                    return last
            except (RealFleetError, OSError) as e:
                last = e
            if time.monotonic() > deadline:
                raise RealFleetError(f"timed out after {timeout}s waiting for {what or promql}; last: {last!r}"
                                     f"{self.dead()}")
            time.sleep(0.25)

    def wait_for_scrapes(self, min_samples: int = 1, timeout: float = 60) -> dict[tuple[str, str], int]:
        """Wait until ``up == 1`` for every target and each has at least ``min_samples`` scrapes recorded;
        returns ``{(job, instance): scrapes}``. The error names the targets that are not there yet."""
        expected = self.targets
        deadline = time.monotonic() + timeout
        while True:
            problems: list[str] = []
            counts: dict[tuple[str, str], int] = {}
            try:
                up = {(r["metric"].get("job"), r["metric"].get("instance")): float(r["value"][1])
                      for r in self.query("up")}
                n = {(r["metric"].get("job"), r["metric"].get("instance")): int(float(r["value"][1]))
                     for r in self.query("count_over_time(up[1h])")}
                for t in sorted(expected):
                    counts[t] = n.get(t, 0)
                    if up.get(t) != 1.0:
                        problems.append(f"{t[0]} {t[1]}: up={up.get(t)}")
                    elif counts[t] < min_samples:
                        problems.append(f"{t[0]} {t[1]}: {counts[t]} < {min_samples} scrapes")
            except (RealFleetError, OSError) as e:
                problems.append(repr(e))
            if not problems:
                return counts
            if time.monotonic() > deadline:
                detail = ""
                with contextlib.suppress(RealFleetError, OSError):
                    detail = "; ".join(f"{t['labels'].get('job')} {t['labels'].get('instance')}: "
                                       f"{t.get('health')} {t.get('lastError')}"
                                       for t in self.api("targets")["activeTargets"])
                raise RealFleetError(f"scrapes not there after {timeout}s: {'; '.join(problems)}"
                                     f" (targets: {detail}){self.dead()}")
            time.sleep(0.25)

    def alerts(self) -> list[dict]:
        """Prometheus's active alerts (``/api/v1/alerts``)."""
        return self.api("alerts")["alerts"]

    def alertmanager_alerts(self) -> list[dict]:
        """Alerts the Alertmanager holds (``/api/v2/alerts``)."""
        if not self.alertmanager_url:
            raise RealFleetError("this fleet runs without an Alertmanager")
        status, body = _http("GET", f"{self.alertmanager_url}/api/v2/alerts")
        if status != 200:
            raise RealFleetError(f"alertmanager /api/v2/alerts -> {status}: {body[:1000]!r}")
        return json.loads(body)

    # -- rules ----------------------------------------------------------------------------------------------
    def set_rule_files(self, paths: Iterable[str | Path], timeout: float = 30) -> None:
        """Rewrite the config with these rule files, POST ``/-/reload`` and wait until ``/api/v1/rules``
        lists exactly the files that hold groups. A rejected reload restores the previous config and raises
        RealFleetError with Prometheus's message."""
        new = [Path(p).resolve() for p in paths]
        missing = [str(p) for p in new if not p.is_file()]
        if missing:
            raise RealFleetError(f"rule files not found: {missing}")
        old = self.rule_files
        self.rule_files = new
        self._write_config()
        status, body = _http("POST", f"{self.prometheus_url}/-/reload", timeout=timeout)
        if status != 200:
            self.rule_files = old
            self._write_config()
            _http("POST", f"{self.prometheus_url}/-/reload", timeout=timeout)
            raise RealFleetError(f"prometheus rejected the rule files {[str(p) for p in new]}: "
                                 f"{body.decode(errors='replace')[:2000]}")
        self._wait_rules_loaded(timeout)

    def add_scrape_job(self, job: str, targets: list[str], timeout: float = 30) -> None:
        """Scrape ``targets`` under ``job`` too (config rewritten, ``/-/reload``), and wait until they are up."""
        self.extra_jobs[job] = list(targets)
        self._write_config()
        status, body = _http("POST", f"{self.prometheus_url}/-/reload", timeout=timeout)
        if status != 200:
            raise RealFleetError(f"prometheus rejected scrape job {job}: {body.decode(errors='replace')[:2000]}")
        self.wait_for(f'up{{job="{job}"}} == 1', lambda r: len(r) == len(targets), timeout=timeout,
                      what=f"scrape job {job} up")

    def _wait_rules_loaded(self, timeout: float) -> None:
        import yaml

        want = set()
        for p in self.rule_files:
            doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
            if doc.get("groups"):
                want.add(str(p))
        deadline = time.monotonic() + timeout
        while True:
            got = {g["file"] for g in self.api("rules")["groups"]}
            if got == want:
                return
            if time.monotonic() > deadline:
                raise RealFleetError(f"rules not loaded after {timeout}s: want {sorted(want)}, got {sorted(got)}"
                                 f"{self.dead()}")
            time.sleep(0.2)

    def _write_config(self) -> None:
        assert self._config_path is not None
        cfg: dict[str, Any] = {
            "global": {"scrape_interval": self.scrape_interval, "scrape_timeout": self.scrape_interval,
                       "evaluation_interval": self.evaluation_interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {"job_name": HM_JOB, "static_configs": [{"targets": self.instances}]},
                {"job_name": NODE_JOB, "static_configs": [{"targets": [self.node_instance]}]},
                {"job_name": PROM_JOB, "static_configs": [{"targets": [self.prometheus_instance]}]},
                *({"job_name": j, "static_configs": [{"targets": t}]} for j, t in self.extra_jobs.items()),
            ],
        }
        if self.alertmanager_url:
            am = self.alertmanager_url.removeprefix("http://")
            cfg["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [am]}]}]}
        tmp = self._config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")  # JSON is YAML
        tmp.replace(self._config_path)

    # -- traffic --------------------------------------------------------------------------------------------
    def traffic(self, seconds: float, rate: float = 20, seed: int = 1) -> dict:
        """Run the service's ``traffic.py`` (with this Python) against every replica; returns its JSON truth
        ``{"requests": n, "status": {"200": .., "500": .., ...}}``."""
        cmd = [sys.executable, str(self.fleet_dir / "traffic.py"), "--ports", ",".join(map(str, self.ports)),
               "--seconds", str(seconds), "--rate", str(rate), "--seed", str(seed)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
        if proc.returncode != 0:
            raise RealFleetError(f"traffic.py failed ({proc.returncode}): {proc.stderr[-2000:]}{self.dead()}")
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        try:
            return json.loads(lines[-1])
        except (IndexError, ValueError) as e:
            raise RealFleetError(f"traffic.py printed no JSON: {proc.stdout[-2000:]!r}") from e


# -- start-up -----------------------------------------------------------------------------------------------
def _wait_ready(name: str, url: str, alive: Callable[[], bool], log: Path, timeout: float,
                exited: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        if not alive():
            raise RealFleetError(f"{name} exited before it was ready{exited()}; log {log}:\n{_tail(log)}")
        try:
            status, _ = _http("GET", url, timeout=2)
            if status == 200:
                return
            last = f"HTTP {status}"
        except OSError as e:
            last = repr(e)
        if time.monotonic() > deadline:
            raise RealFleetError(f"{name} not ready at {url} within {timeout}s ({last}); log {log}:\n{_tail(log)}")
        time.sleep(0.2)


def _port_taken(log: Path) -> bool:
    return "address already in use" in _tail(log, 5000).lower()


def _start_server(name: str, argv: Callable[[int], list[str]], ready_path: str, work: Path,
                  used: set[int], timeout: float, attempts: int = 3) -> _Server:
    """Popen ``argv(port)`` on a fresh free port, retrying when the port was taken meanwhile."""
    for attempt in range(attempts):
        port = _fresh_port(used)
        log = work / f"{name}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(argv(port), stdout=fh, stderr=subprocess.STDOUT, cwd=work,
                                    stdin=subprocess.DEVNULL)
        server = _Server(name, proc, log, port)
        try:
            _wait_ready(name, f"http://127.0.0.1:{port}{ready_path}", lambda p=proc: p.poll() is None, log,
                        timeout, exited=lambda p=proc: f" (exit {p.returncode})")
            return server
        except RealFleetError:
            server.stop()
            if attempt + 1 < attempts and _port_taken(log):
                continue
            raise
    raise AssertionError("unreachable")


def _fresh_port(used: set[int]) -> int:
    while True:
        p = free_port()
        if p not in used:
            used.add(p)
            return p


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Serialise start.sh calls that may build (the build is not safe to run twice at once)."""
    lock = Path(tempfile.gettempdir()) / "holoops-hm-build.lock"
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _start_replica(fdir: Path, home: Path, used: set[int], stack: contextlib.ExitStack,
                   attempted: list[_Replica], build_timeout: float, attempts: int = 3) -> _Replica:
    env = dict(os.environ, HM_HOME=str(home))
    run = home / "run"
    for attempt in range(attempts):
        port = _fresh_port(used)
        log, pidfile, datadir = run / f"access-{port}.log", run / f"replica-{port}.pid", run / f"data-{port}"
        building = not (home / ".built").is_file()
        try:
            with _build_lock() if building else contextlib.nullcontext():
                proc = subprocess.run(["bash", str(fdir / "start.sh"), str(port)], env=env, capture_output=True,
                                      text=True, timeout=build_timeout, stdin=subprocess.DEVNULL)
            rc, out = proc.returncode, (proc.stdout + proc.stderr)
        except subprocess.TimeoutExpired as e:
            rc, out = None, f"start.sh timed out after {build_timeout}s: {e.stdout or ''}{e.stderr or ''}"
        # whatever happened, a replica it recorded for our port is ours to stop
        replica = None
        with contextlib.suppress(OSError, ValueError):
            replica = _Replica(port, int(pidfile.read_text().strip()), log, pidfile, datadir)
            attempted.append(replica)
            stack.callback(replica.stop)
        if not (home / ".built").is_file():
            raise RealFleetUnavailable(
                f"the HolographicMemory build failed (start.sh exit {rc}) in {home}: {out[-1500:]}\n"
                f"build.log:\n{_tail(home / 'build.log', 1500)}")
        if rc == 0 and replica is not None and _alive(replica.pid):
            # start.sh only checks that *something* answers /healthz on the port: make sure it is ours
            deadline = time.monotonic() + 10
            running = f"running on http://127.0.0.1:{port}"
            while running not in _tail(log, 100_000) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(replica.pid) and running in _tail(log, 100_000):
                return replica
        if replica is not None:
            replica.stop()
        if attempt + 1 < attempts and _port_taken(log):
            continue
        raise RealFleetError(f"holographic-memory replica on port {port} did not start (start.sh exit {rc}): "
                             f"{out[-1500:]}\nlog {log}:\n{_tail(log)}")
    raise AssertionError("unreachable")


def _require(binary: str, package: str) -> None:
    if not os.access(binary, os.X_OK):
        raise RealFleetUnavailable(f"{binary} is not installed (scripts/setup.sh installs the Debian "
                                   f"package {package})")


@contextlib.contextmanager
def real_fleet(workdir: str | Path, *, replicas: int = 2, scrape_interval: str = "2s",
               rule_files: Sequence[str | Path] = (), evaluation_interval: str = "2s",
               alertmanager: bool = True, ready_timeout: float = 60,
               build_timeout: float = 600) -> Iterator[RealFleet]:
    """Start the real fleet (see the module docstring); yields a :class:`RealFleet`; stops it all on exit.

    ``workdir`` receives the configs, the servers' logs and TSDB/Alertmanager storage, and (on exit) the
    replicas' access logs under ``workdir/hm``."""
    work = Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    fdir = fleet_dir_or_none()
    if fdir is None:
        raise RealFleetUnavailable(f"the HolographicMemory fleet folder is missing: {fleet_dir()} "
                                   "(set HOLOOPS_HM_FLEET)", folder_missing=True)
    _require(PROMETHEUS, "prometheus")
    _require(NODE_EXPORTER, "prometheus-node-exporter")
    if alertmanager:
        _require(ALERTMANAGER, "prometheus-alertmanager")
    home = hm_home()
    used: set[int] = set()
    with contextlib.ExitStack() as stack:
        # 1. replicas (stopped last: registered first); their logs are moved into workdir on exit
        attempted: list[_Replica] = []
        stack.callback(_collect_replica_files, attempted, work / "hm")
        reps = [_start_replica(fdir, home, used, stack, attempted, build_timeout) for _ in range(replicas)]

        # 2. node_exporter
        collectors = [f"--collector.{c}" for c in NODE_COLLECTORS]
        node = _start_server("node-exporter", lambda p: [
            NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{p}", "--collector.disable-defaults", *collectors],
            "/metrics", work, used, ready_timeout)
        stack.callback(node.stop)

        # 3. Alertmanager
        am_url = None
        if alertmanager:
            am_cfg = work / "alertmanager.yml"
            am_cfg.write_text('route:\n  receiver: "null"\n  group_wait: 1s\n  group_interval: 1s\n'
                              'receivers:\n  - name: "null"\n', encoding="utf-8")
            (work / "alertmanager-data").mkdir(exist_ok=True)
            am = _start_server("alertmanager", lambda p: [
                ALERTMANAGER, f"--config.file={am_cfg}", f"--storage.path={work / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{p}", "--cluster.listen-address="],
                "/-/ready", work, used, ready_timeout)
            stack.callback(am.stop)
            am_url = f"http://127.0.0.1:{am.port}"

        # 4. Prometheus: its own port must be known before the config is written
        fleet = RealFleet(workdir=work, fleet_dir=fdir, ports=[r.port for r in reps], prometheus_url="",
                          alertmanager_url=am_url, node_instance=f"127.0.0.1:{node.port}",
                          prometheus_instance="", logs=[r.log for r in reps], scrape_interval=scrape_interval,
                          evaluation_interval=evaluation_interval,
                          rule_files=[Path(p).resolve() for p in rule_files],
                          _config_path=work / "prometheus.yml")
        stack.callback(_point_logs_at_copies, fleet, work / "hm")  # runs before the logs move: paths only
        (work / "tsdb").mkdir(exist_ok=True)

        def prom_argv(port: int) -> list[str]:
            fleet.prometheus_instance = f"127.0.0.1:{port}"
            fleet.prometheus_url = f"http://127.0.0.1:{port}"
            fleet._write_config()
            return [PROMETHEUS, f"--config.file={fleet._config_path}", f"--storage.tsdb.path={work / 'tsdb'}",
                    "--storage.tsdb.retention.time=1d", f"--web.listen-address=127.0.0.1:{port}",
                    "--web.enable-lifecycle"]

        prom = _start_server("prometheus", prom_argv, "/-/ready", work, used, ready_timeout)
        stack.callback(prom.stop)
        fleet._procs = [*reps, node, *([am] if alertmanager else []), prom]
        if fleet.rule_files:
            fleet._wait_rules_loaded(ready_timeout)
        yield fleet
        # on exit (LIFO) the stack stops Prometheus, Alertmanager, node_exporter, then the replicas, and
        # moves the replicas' logs into workdir/hm


def _collect_replica_files(reps: list[_Replica], dest: Path) -> None:
    """After the replicas stopped: move their access logs into ``dest``, drop their data and pid files."""
    dest.mkdir(parents=True, exist_ok=True)
    for r in reps:
        with contextlib.suppress(OSError):
            shutil.move(str(r.log), dest / r.log.name)
        shutil.rmtree(r.datadir, ignore_errors=True)


def _point_logs_at_copies(fleet: RealFleet, dest: Path) -> None:
    fleet.logs = [dest / p.name for p in fleet.logs]
