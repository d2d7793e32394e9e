"""Shared fixtures: real dnsemu servers on loopback, each in its own thread and event loop.

The test topology (``tests/data/topology.yaml``) puts VNet ``alpha`` on
127.0.1.0/24 and ``beta`` on 127.0.2.0/24, so a test picks the VNet by the
source address it binds (all of 127/8 is loopback on Linux); 127.0.0.1 is an
internet client.

Servers bind 127.0.0.1 port 0 and report the port they got: nothing waits by
sleeping. Settings are built with an empty environment so a developer's
``DNSEMU_*`` variables never leak into a test.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from dnsemu.logs import configure_logging
from dnsemu.server.server import DnsServer
from dnsemu.server.settings import Settings, load_settings
from dnsemu.topology.loaded import LoadedTopology

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
TEST_TOPOLOGY = DATA / "topology.yaml"
BUNDLED_TOPOLOGY = ROOT / "zones" / "topology.yaml"
ALPHA = "127.0.1.5"  # a client in VNet alpha
BETA = "127.0.2.5"  # a client in VNet beta
OUTSIDE = "127.0.0.1"  # an internet client


# --------------------------------------------------------------------------- tools a test needs


def in_ci() -> bool:
    """True under CI (``.ci/run`` exports CI=true): there every tool is installed, so a missing one is a failure."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip with ``reason`` on a developer's machine; fail under CI, where nothing may be skipped silently."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: .ci/run installs what the suite needs, so this is a failure)")
    pytest.skip(reason)


def need_tool(name: str, package: str, *extra_paths: str) -> str:
    """The path of the program ``name``; skips locally with the package to install, fails under CI."""
    found = shutil.which(name) or next(
        (p for p in (*extra_paths, f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    unavailable(f"{name} is not installed (Debian package {package!r}; .ci/run installs it)")
    raise AssertionError("unreachable")


class LogSink:
    """Where the in-process servers' logs go: the last lines, parsed back from JSON."""

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=5000)
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.lines.extend(line for line in text.splitlines() if line)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            lines = list(self.lines)
        out = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if name is None or entry.get("event") == name:
                out.append(entry)
        return out


LOGS = LogSink()


@pytest.fixture(scope="session")
def dnsemu_logging() -> Iterator[LogSink]:
    """JSON logs into :data:`LOGS` (uncached, so ``structlog.testing.capture_logs`` still works)."""
    configure_logging("info", "json", LOGS, cache=False)
    yield LOGS
    structlog.reset_defaults()


@pytest.fixture
def server_logs(dnsemu_logging: LogSink) -> LogSink:
    return dnsemu_logging


def make_settings(**overrides: Any) -> Settings:
    """Test settings: the test topology on 127.0.0.1:0, no watching, no environment."""
    values: dict[str, Any] = {"topology": str(TEST_TOPOLOGY), "listen": ["127.0.0.1:0"], "watch": False,
                              "upstream_timeout": 0.5, "upstream_attempts": 1, "shutdown_grace": 2.0}
    values.update(overrides)
    return load_settings(values, env={})


class ServerThread:
    """A :class:`DnsServer` running in a thread with its own event loop, for synchronous clients."""

    def __init__(self, settings: Settings, loaded: LoadedTopology | None = None) -> None:
        self.settings = settings
        self.server = DnsServer(settings, loaded)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="dnsemu-test-server", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.server.stop())
        self.loop.close()

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the test server did not start in 30 s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(30)

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def reload(self, loaded: LoadedTopology | None = None) -> bool:
        return self.call(self.server.reload(loaded))

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def stats(self) -> Any:
        return self.server.stats

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def server(dnsemu_logging: LogSink) -> Iterator[ServerThread]:
    """The test topology, defaults otherwise (no upstreams: names outside it are REFUSED)."""
    with ServerThread(make_settings(query_log=True)) as running:
        yield running


@pytest.fixture(scope="module")
def bundled() -> Any:
    """The bundled zones/topology.yaml compiled (generation 1), once per module: an index is never changed."""
    from dnsemu.core.compile import compile_topology
    from dnsemu.topology.load import load_topology

    return compile_topology(load_topology(BUNDLED_TOPOLOGY), generation=1)


@pytest.fixture(scope="session")
def bundled_server(dnsemu_logging: LogSink) -> Iterator[ServerThread]:
    """The bundled zones/topology.yaml (hub 10.0/16 ...): reached by ECS from loopback."""
    with ServerThread(make_settings(topology=str(BUNDLED_TOPOLOGY))) as running:
        yield running


# --------------------------------------------------------------------------- subprocess servers


class ServeProcess:
    """``python -m dnsemu serve ...`` in a subprocess, ready once it printed its readiness line."""

    def __init__(self, args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> None:
        self.stderr_path = tmp_path / f"serve-{time.monotonic_ns()}.err"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 (closed in close())
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
        environment.update(env or {})
        self.proc = subprocess.Popen([sys.executable, "-m", "dnsemu", "serve", *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=self._stderr, env=environment)
        self.line = self._read_line(120)  # generous: a busy machine (2 shared cores) starts Python slowly
        self.addresses = parse_ready_line(self.line)

    def _read_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.close()
                raise AssertionError(f"no readiness line in {timeout} s; stderr:\n{self.stderr()}")
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            self.proc.wait(10)
            raise AssertionError(f"exited {self.proc.returncode} without readiness; stderr:\n{self.stderr()}")
        return line

    @property
    def port(self) -> int:
        return self.addresses[0][1]

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def terminate(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


def descendants(pid: int) -> dict[int, int]:
    """Every process below ``pid`` (Linux /proc): child pid -> its parent's pid."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        parents[int(stat.parent.name)] = int(text.rpartition(")")[2].split()[1])
    out: dict[int, int] = {}
    frontier = {pid}
    while frontier:
        found = {child: parent for child, parent in parents.items() if parent in frontier and child not in out}
        out.update(found)
        frontier = set(found)
    return out


def parse_ready_line(line: str) -> list[tuple[str, int]]:
    """``dnsemu ready udp://127.0.0.1:5390 tcp://127.0.0.1:5390`` -> [("127.0.0.1", 5390)] (UDP = TCP)."""
    words = line.split()
    assert words[:2] == ["dnsemu", "ready"], line
    udp = [w.removeprefix("udp://") for w in words[2:] if w.startswith("udp://")]
    tcp = [w.removeprefix("tcp://") for w in words[2:] if w.startswith("tcp://")]
    assert udp == tcp, line
    out = []
    for hp in udp:
        host, _, port = hp.rpartition(":")
        out.append((host.strip("[]"), int(port)))
    return out


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[Any]:
    started: list[ServeProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServeProcess:
        proc = ServeProcess(list(args), tmp_path, env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` octets from a stream socket; ConnectionError when the peer closes first."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} octets")
        buf += chunk
    return buf


def closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True when the server closes the connection within ``timeout`` (EOF or reset)."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
