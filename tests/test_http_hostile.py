"""The HTTP listener against a hostile client on the same machine (issue 11, findings 3 to 5), over raw sockets.

* Header parsing takes ASCII only: a ``Content-Length`` of ``²`` (octet 0xB2, which
  ``str.isdigit`` calls a digit) is a 400, never a traceback or an internal error.
* DNS rebinding: a loopback listener answers only a ``Host`` that names it, and an
  unsafe method only from its own ``Origin``.
* A slowloris holding every connection slot does not starve ``/healthz`` and ``/readyz``.

Servers are :class:`dnsemu.testing.Emulator` instances with ``http=True`` (an
ephemeral port on 127.0.0.1, run-time changes on, no token: the default that a
local attacker meets).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ROOT, TEST_TOPOLOGY, LogSink

from dnsemu.server.settings import SettingsError, load_settings
from dnsemu.testing import Emulator

HOST = "127.0.0.1"
RECORD = b'{"ttl": 60, "values": ["127.0.1.77"]}'
RECORD_PATH = "/v1/private-dns-zones/corp.test/records/A/rebound"


@pytest.fixture(scope="module")
def shared() -> Iterator[Emulator]:
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False) as running:
        yield running


@pytest.fixture
def api(shared: Emulator, server_logs: LogSink) -> Iterator[Emulator]:
    shared.reset()
    yield shared
    shared.check()


def exchange(emulator: Emulator, data: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` on a new connection; read one response (the server closes or says its length)."""
    with socket.create_connection(emulator.app.http_address, timeout=timeout) as sock:
        sock.sendall(data)
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed without a response after {buf!r}")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body[:length]


def port_of(emulator: Emulator) -> int:
    address = emulator.app.http_address
    assert address is not None
    return address[1]


def get(emulator: Emulator, path: str, host: bytes | None, *, version: bytes = b"1.1",
        extra: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    host_line = b"" if host is None else b"Host: " + host + b"\r\n"
    return exchange(emulator, b"GET " + path.encode() + b" HTTP/" + version + b"\r\n" + host_line + extra +
                    b"Connection: close\r\n\r\n")


def error(reply: tuple[int, dict[str, str], bytes]) -> tuple[int, str]:
    status, headers, body = reply
    assert headers["content-type"] == "application/json", headers
    return status, json.loads(body)["error"]


class NoInternalError:
    """Nothing reaches the traceback path from here on: no error log line, no internal-error count, nothing for
    ``check()`` (the log sink is the session's, so only lines logged after the start count)."""

    EVENTS = ("http_connection_failed", "http_internal_error")

    def __init__(self, emulator: Emulator, logs: LogSink) -> None:
        self.emulator, self.logs = emulator, logs
        self.before = self._logged()
        self.errors = emulator.app.http.errors

    def _logged(self) -> int:
        return sum(len(self.logs.events(name)) for name in self.EVENTS)

    def check(self) -> None:
        assert self._logged() == self.before, [e for n in self.EVENTS for e in self.logs.events(n)][-3:]
        assert self.emulator.app.http.errors == self.errors
        assert self.emulator.metric("dnsemu_internal_errors_total", {"where": "http"}) == self.errors
        self.emulator.check()


# --------------------------------------------------------------------------- header parsing: ASCII only


@pytest.mark.parametrize("length", [
    b"\xb2",  # '²' in Latin-1: str.isdigit() says yes, int() says no
    b"\xb9",  # '¹'
    b"1\xb3",  # '1³'
    b"\xc2\xb2",  # '²' in UTF-8
    b"\xd9\xa3",  # ARABIC-INDIC DIGIT THREE in UTF-8
    b"\xef\xbc\x95",  # FULLWIDTH DIGIT FIVE in UTF-8
    b"+5",
    b"-1",
    b"0x10",
    b"1_000",
    b"5 5",
])
def test_content_length_is_ascii_digits(api: Emulator, server_logs: LogSink, length: bytes) -> None:
    watch = NoInternalError(api, server_logs)
    request = b"PUT " + RECORD_PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + length + \
        b"\r\nContent-Type: application/json\r\n\r\n" + RECORD
    status, headers, body = exchange(api, request)
    assert (status, json.loads(body)["error"]) == (400, "bad_content_length")
    assert headers["connection"] == "close"
    message = json.loads(body)["message"]
    assert message.isascii() and len(message) < 200, message  # quoted short and escaped
    watch.check()
    assert api.server.active_changes == 0


@pytest.mark.parametrize(("data", "code"), [
    (b"GET /healthz HTTP/1.1\n\r\nHost: 127.0.0.1\r\n\r\n", "bad_request_line"),  # a bare LF ends the line
    (b"GET /healthz HTTP/\xb9.1\r\nHost: 127.0.0.1\r\n\r\n", "bad_request_line"),
    (b"GET /health\xc3\xa9 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "bad_request_line"),
    (b"GET /healthz\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "bad_request_line"),
    (b"GET /healthz#top HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "bad_request_line"),
    (b"GET healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "bad_request_line"),
    (b"GET http://[::1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "bad_request_line"),
    (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: a\x00b\r\n\r\n", "bad_header"),
    (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: a\nContent-Length: 5\r\n\r\n", "bad_header"),
    (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note\n: a\r\n\r\n", "bad_header"),
    (b"GET /healthz HTTP/1.1\r\nHost\xb2: 127.0.0.1\r\n\r\n", "bad_header"),
    (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:\xb2\r\n\r\n", "bad_host"),
    (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:99999\r\n\r\n", "bad_host"),
    (b"GET /healthz HTTP/1.1\r\nHost: \xe2\x84\xaaocalhost\r\n\r\n", "bad_host"),
    (b"GET /healthz HTTP/1.1\r\nHost: [::1\r\n\r\n", "bad_host"),
    (b"GET /healthz HTTP/1.1\r\nHost: [127.0.0.1]\r\n\r\n", "bad_host"),
    (b"GET /healthz HTTP/1.1\r\nHost: ::1\r\n\r\n", "bad_host"),
    (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n", "bad_host"),
    (b"GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", "bad_host"),
    (b"GET /healthz HTTP/1.1\r\n\r\n", "bad_host"),  # RFC 9112 section 3.2: HTTP/1.1 needs Host
])
def test_malformed_requests_are_400(api: Emulator, server_logs: LogSink, data: bytes, code: str) -> None:
    watch = NoInternalError(api, server_logs)
    status, headers, body = exchange(api, data)
    assert (status, json.loads(body)["error"]) == (400, code)
    assert headers["connection"] == "close"
    assert json.loads(body)["message"].replace("\u00a7", "").isascii()  # input quoted escaped
    watch.check()


def test_a_double_slash_is_a_path_not_a_host(api: Emulator) -> None:
    # urlsplit would read //attacker.example/... as a host and a path; origin-form is a path
    assert error(get(api, "//attacker.example/v1/topology", b"127.0.0.1")) == (404, "not_found")


def test_http_1_0_without_host_is_served(api: Emulator) -> None:
    status, _, body = get(api, "/v1/changes", None, version=b"1.0")
    assert status == 200 and json.loads(body)["changes"] == []


# --------------------------------------------------------------------------- Host: DNS rebinding


@pytest.mark.parametrize("host", [
    b"attacker.example",
    b"attacker.example:{port}",
    b"localhost.attacker.example:{port}",
    b"127.0.0.1.attacker.example:{port}",
    b"sub.localhost:{port}",
    b"127.1:{port}",  # a browser writes 127.0.0.1; a name that only looks like it is a name
    b"10.0.0.1:{port}",  # an address, but not one this loopback listener has
    b"",
])
def test_a_host_that_does_not_name_the_listener_is_misdirected(api: Emulator, host: bytes) -> None:
    host = host.replace(b"{port}", str(port_of(api)).encode())
    for path in ("/v1/topology", "/v1/changes", "/metrics", "/healthz"):
        status, headers, body = get(api, path, host)
        assert (status, json.loads(body)["error"]) == (421, "host_not_allowed"), (path, body)
        assert b'"generation"' not in body and b"corp.test" not in body
        assert headers["connection"] == "close"


def test_an_absolute_target_names_the_host(api: Emulator) -> None:
    # RFC 9112 section 3.2.2: the authority of an absolute-form target wins over Host
    target = f"http://attacker.example:{port_of(api)}/v1/topology"
    assert error(get(api, target, b"127.0.0.1")) == (421, "host_not_allowed")
    status, _, body = get(api, f"http://127.0.0.1:{port_of(api)}/v1/changes", b"attacker.example")
    assert status == 200 and json.loads(body)["changes"] == []


@pytest.mark.parametrize("host", [
    b"127.0.0.1", b"127.0.0.1:{port}", b"localhost", b"localhost:{port}", b"LocalHost:{port}",
    b"localhost.:{port}", b"[::1]", b"[::1]:{port}", b"[0:0:0:0:0:0:0:1]:{port}",
    b"127.0.0.1:8080",  # a forwarded port (ssh -L, kubectl port-forward) keeps the name
])
def test_the_listener_s_own_names_are_answered(api: Emulator, host: bytes) -> None:
    host = host.replace(b"{port}", str(port_of(api)).encode())
    status, _, body = get(api, "/v1/topology", host)
    assert status == 200 and "corp.test." in {z["name"] for z in json.loads(body)["private_zones"]}


def test_the_client_libraries_send_a_host_that_passes(api: Emulator) -> None:
    for host in (HOST, "localhost"):
        conn = http.client.HTTPConnection(host, port_of(api), timeout=5)
        try:
            conn.request("GET", "/v1/topology")
            assert conn.getresponse().status == 200
        except OSError as exc:  # localhost may resolve to ::1 only, where nothing listens
            if host == HOST:
                raise
            pytest.skip(f"localhost does not reach 127.0.0.1 here: {exc}")
        finally:
            conn.close()


def test_allowed_hosts_setting() -> None:
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False, http_allowed_hosts=["dnsemu.test."]) as named:
        port = str(port_of(named)).encode()
        assert get(named, "/v1/changes", b"DNSEMU.test:" + port)[0] == 200
        assert get(named, "/v1/changes", b"127.0.0.1:" + port)[0] == 200  # its own names stay
        assert error(get(named, "/v1/changes", b"attacker.example")) == (421, "host_not_allowed")
    with Emulator(TEST_TOPOLOGY, http=True, query_log=False, http_allowed_hosts=["*"]) as anyone:
        assert get(anyone, "/v1/changes", b"attacker.example")[0] == 200
        assert error(get(anyone, "/v1/changes", None)) == (400, "bad_host")  # still HTTP/1.1's rule


def test_allowed_hosts_validation() -> None:
    settings = load_settings({"http_allowed_hosts": ["Dnsemu.Test.", "[::1]", "*"]}, env={})
    assert settings.http_allowed_hosts == ["dnsemu.test", "::1", "*"]
    env = load_settings(env={"DNSEMU_HTTP_ALLOWED_HOSTS": "a.test, b.test"})
    assert env.http_allowed_hosts == ["a.test", "b.test"]
    for bad in ("a.test:80", "bad name", "caf\u00e9.test", "http://a.test", ""):
        with pytest.raises(SettingsError, match="http-allowed-hosts"):
            load_settings({"http_allowed_hosts": [bad]}, env={})


def test_host_policy_by_bind_address() -> None:
    from dnsemu.http.listener import HostPolicy, parse_authority

    def allows(policy: Any, host: str) -> bool:
        return policy.allows(parse_authority(host))

    loopback = HostPolicy.for_listener("127.0.0.1")
    assert all(allows(loopback, h) for h in ("127.0.0.1:9153", "localhost", "[::1]:9153"))
    assert not any(allows(loopback, h) for h in ("127.0.0.2", "10.0.2.53", "dnsemu", "attacker.example"))
    other_loopback = HostPolicy.for_listener("127.0.5.5")
    assert allows(other_loopback, "127.0.5.5:9153") and allows(other_loopback, "localhost")
    # bound elsewhere: reached under addresses it cannot know (published ports, NAT), but never under a
    # name nobody listed: a rebinding page always sends its own name
    for address in ("0.0.0.0", "::", "10.0.2.53"):
        policy = HostPolicy.for_listener(address)
        assert all(allows(policy, h) for h in ("10.0.2.53:9153", "127.0.0.1", "[fd00::53]:80", "localhost"))
        assert not any(allows(policy, h) for h in ("dnsemu:9153", "attacker.example", "127.1"))
    named = HostPolicy.for_listener("0.0.0.0", ["dnsemu"])
    assert allows(named, "dnsemu:9153") and not allows(named, "dnsemu.attacker.example")
    assert allows(HostPolicy.for_listener("127.0.0.1", ["*"]), "attacker.example")


def test_parse_authority() -> None:
    from dnsemu.dns.addresses import Authority, normalise_host, parse_authority

    assert parse_authority("LocalHost.:80") == Authority("localhost", 80, None)
    assert parse_authority("[::1]") == Authority("::1", None, parse_authority("[::1]").ip)
    assert parse_authority("127.0.0.1:").port is None
    for bad in ("[::1", "[::1]x", "::1", "a:b:c", "a:99999", "a:\u00b2", "\u212aelvin", "a b", "[\u0661::1]"):
        with pytest.raises(ValueError):
            parse_authority(bad)
    assert normalise_host("[::1]") == "::1" and normalise_host("*") == "*"


# --------------------------------------------------------------------------- Origin: no changes from other pages


def put(emulator: Emulator, origin: bytes | None, host: bytes = b"127.0.0.1:{port}",
        path: str = RECORD_PATH, body: bytes = RECORD, method: bytes = b"PUT") -> tuple[int, dict[str, str], bytes]:
    port = str(port_of(emulator)).encode()
    lines = [method + b" " + path.encode() + b" HTTP/1.1", b"Host: " + host.replace(b"{port}", port),
             b"Content-Type: application/json", b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    if origin is not None:
        lines.append(b"Origin: " + origin.replace(b"{port}", port))
    return exchange(emulator, b"\r\n".join(lines) + b"\r\n\r\n" + body)


@pytest.mark.parametrize("origin", [
    b"http://attacker.example",
    b"http://attacker.example:{port}",
    b"null",  # a sandboxed frame, a file: page, a redirect across origins
    b"http://localhost:{port}",  # an allowed name, but another origin than the one asked (127.0.0.1)
    b"http://127.0.0.1:3000",  # another local web application
    b"https://127.0.0.1",
    b"file://",
    b"http://127.0.0.1:{port}/path",
    b"http://127.0.0.1:{port} http://attacker.example",
    b"http://127.0.0.1:\xb2",
])
def test_changes_from_another_origin_are_refused(api: Emulator, origin: bytes) -> None:
    assert error(put(api, origin)) == (403, "origin_not_allowed")
    assert error(put(api, origin, path="/v1/reset", body=b"", method=b"POST")) == (403, "origin_not_allowed")
    assert error(put(api, origin, body=b"", method=b"DELETE")) == (403, "origin_not_allowed")
    assert api.server.active_changes == 0


@pytest.mark.parametrize(("origin", "host"), [
    (None, b"127.0.0.1:{port}"),
    (b"http://127.0.0.1:{port}", b"127.0.0.1:{port}"),
    (b"HTTP://LOCALHOST:{port}", b"localhost:{port}"),
    (b"http://[::1]:{port}", b"[::1]:{port}"),
    (b"http://127.0.0.1", b"127.0.0.1"),
    (b"http://127.0.0.1:80", b"127.0.0.1"),
])
def test_changes_from_the_listener_s_own_origin_pass(api: Emulator, origin: bytes | None, host: bytes) -> None:
    status, _, body = put(api, origin, host)
    assert status == 200, body
    assert api.server.active_changes == 1


def test_reads_do_not_check_origin(api: Emulator) -> None:
    # a browser does not let a page read a cross-origin reply without CORS headers, which dnsemu never sends
    status, headers, _ = get(api, "/v1/changes", b"127.0.0.1", extra=b"Origin: http://attacker.example\r\n")
    assert status == 200 and not any(k.startswith("access-control-") for k in headers)


# --------------------------------------------------------------------------- health under a slowloris


class Slowloris:
    """``count`` connections that each send a request line and then one header octet at a time, never ending."""

    def __init__(self, address: tuple[str, int], count: int) -> None:
        self.socks: list[socket.socket] = []
        for _ in range(count):
            sock = socket.create_connection(address, timeout=5)
            sock.sendall(b"GET /v1/topology HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            self.socks.append(sock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, name="slowloris", daemon=True)
        self._thread.start()

    def _drip(self) -> None:
        while not self._stop.wait(0.5):
            for sock in self.socks:
                with contextlib.suppress(OSError):
                    sock.send(b"a")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.socks:
            sock.close()


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_health_answers_while_slow_connections_hold_every_slot(server_logs: LogSink) -> None:
    with Emulator(TEST_TOPOLOGY, http=True, http_timeout=120, query_log=False) as emulator:
        http_server = emulator.app.http
        assert http_server is not None
        cap = http_server.max_connections
        watch = NoInternalError(emulator, server_logs)
        slow = Slowloris(emulator.app.http_address, 200)
        try:
            wait_for(lambda: len(http_server.connections) == cap)
            for _ in range(5):  # not luck: again and again while the slow ones drip
                for path, status in (("/healthz", "ok"), ("/readyz", "ready")):
                    conn = http.client.HTTPConnection(*emulator.app.http_address, timeout=5)
                    try:
                        conn.request("GET", path)
                        response = conn.getresponse()
                        assert response.status == 200 and json.loads(response.read())["status"] == status
                        assert response.getheader("Connection") == "close"
                    finally:
                        conn.close()
                time.sleep(0.3)
            # everything else waits for a slot; a health probe with a bad Host is still refused
            assert error(get(emulator, "/v1/topology", b"127.0.0.1")) == (503, "busy")
            assert error(get(emulator, "/healthz", b"attacker.example")) == (421, "host_not_allowed")
            assert len(http_server.connections) == cap  # the slow ones still hold their slots
            assert http_server.overflow.keys().isdisjoint(http_server.connections)
            assert len(http_server.overflow) <= http_server.max_overflow
        finally:
            slow.close()
        wait_for(lambda: not http_server.connections)
        assert get(emulator, "/v1/changes", b"127.0.0.1")[0] == 200
        watch.check()


def test_over_the_cap_a_probe_cannot_send_a_body_or_dawdle(server_logs: LogSink) -> None:
    with Emulator(TEST_TOPOLOGY, http=True, http_timeout=120, query_log=False) as emulator:
        http_server = emulator.app.http
        assert http_server is not None
        http_server.max_connections = 1
        watch = NoInternalError(emulator, server_logs)
        with socket.create_connection(emulator.app.http_address, timeout=5) as holder:
            holder.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            wait_for(lambda: len(http_server.connections) == 1)
            status, _, body = exchange(emulator, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                 b"Content-Length: 3\r\n\r\nabc")
            assert (status, json.loads(body)["error"]) == (503, "busy")
            started = time.monotonic()
            with socket.create_connection(emulator.app.http_address, timeout=30) as dawdler:
                dawdler.sendall(b"GET /healthz HTTP/1.1\r\n")  # and nothing more
                status, _, body = read_response(dawdler)
            assert (status, json.loads(body)["error"]) == (408, "timeout")
            assert time.monotonic() - started < 60  # a short timeout over the cap, not http-timeout's 120 s
        watch.check()


# --------------------------------------------------------------------------- the container's health check


def test_the_container_health_check_command(api: Emulator) -> None:
    from test_container import FINAL

    health = FINAL.last("HEALTHCHECK")
    assert health is not None
    command = health.exec_form()
    assert command is not None
    url = f"http://127.0.0.1:{port_of(api)}"
    argv = [sys.executable if command[0] == "python" else command[0],
            *[arg.replace("http://127.0.0.1:9153", url) for arg in command[1:]]]
    assert any(url in arg for arg in argv), command
    proxied = {**os.environ, "http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "no_proxy": ""}
    ok = subprocess.run(argv, cwd=ROOT, env=proxied, capture_output=True, text=True, timeout=30, check=False)
    assert ok.returncode == 0, ok.stderr  # straight to the server, whatever proxy the environment names
    assert ok.stdout.startswith("200 ready (generation ")
    with socket.socket() as unused:
        unused.bind((HOST, 0))
        dead = [arg.replace(url, f"http://127.0.0.1:{unused.getsockname()[1]}") for arg in argv]
    failed = subprocess.run(dead, cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
    assert failed.returncode == 1 and "Traceback" not in failed.stdout + failed.stderr
