"""``dnsemu query`` (dnsemu.cli.query on dnsemu.dns.client) against a tiny responder built with dnspython.

The responder is independent of dnsemu's server: it parses our hand-built query
with dnspython (so a malformed query fails here) and answers with whatever the
test asks for: a chain, NXDOMAIN, a wrong ID, garbage, silence, TC.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from dnsemu.cli import main as cli_main
from dnsemu.cli import query
from dnsemu.dns import message

ROOT = Path(__file__).resolve().parents[1]
NAME = "mystorage.blob.core.windows.net."
TARGET = "mystorage.privatelink.blob.core.windows.net."

Behaviour = Callable[[dns.message.Message, str], bytes | None]


def chain(query: dns.message.Message, proto: str) -> bytes:
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.RA
    qname = query.question[0].name
    reply.answer.append(dns.rrset.from_text(qname, 60, "IN", "CNAME", TARGET))
    reply.answer.append(dns.rrset.from_text(TARGET, 10, "IN", "A", "10.0.1.4"))
    return reply.to_wire()


def nxdomain(query: dns.message.Message, proto: str) -> bytes:
    reply = dns.message.make_response(query)
    reply.set_rcode(dns.rcode.NXDOMAIN)
    reply.authority.append(
        dns.rrset.from_text(
            "privatelink.blob.core.windows.net.",
            10,
            "IN",
            "SOA",
            "azureprivatedns.net. azureprivatedns-host.microsoft.com. 1 3600 300 2419200 10",
        )
    )
    return reply.to_wire()


def refused(query: dns.message.Message, proto: str) -> bytes:
    reply = dns.message.make_response(query)
    reply.set_rcode(dns.rcode.REFUSED)
    return reply.to_wire()


def silent(query: dns.message.Message, proto: str) -> None:
    return None


def wrong_id(query: dns.message.Message, proto: str) -> bytes:
    wire = bytearray(chain(query, proto))
    wire[0:2] = struct.pack("!H", (query.id + 1) & 0xFFFF)
    return bytes(wire)


def garbage(query: dns.message.Message, proto: str) -> bytes:
    return struct.pack("!H", query.id) + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x09truncated"


def truncated_over_udp(query: dns.message.Message, proto: str) -> bytes:
    if proto == "udp":
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.TC
        return reply.to_wire()
    return chain(query, proto)


def ptr_and_txt(query: dns.message.Message, proto: str) -> bytes:
    reply = dns.message.make_response(query)
    question = query.question[0]
    if question.rdtype == dns.rdatatype.PTR:
        reply.answer.append(dns.rrset.from_text(question.name, 10, "IN", "PTR", "hub-vm1.internal.cloudapp.net."))
    elif question.rdtype == dns.rdatatype.TXT:
        reply.answer.append(dns.rrset.from_text(question.name, 10, "IN", "TXT", '"v=1 a\\"b" "two"'))
    elif question.rdtype == dns.rdatatype.AAAA:
        reply.answer.append(dns.rrset.from_text(question.name, 10, "IN", "AAAA", "2001:db8::5"))
    elif question.rdtype == dns.rdatatype.MX:
        reply.answer.append(dns.rrset.from_text(question.name, 10, "IN", "MX", "10 mail.example."))
    return reply.to_wire()


class Responder:
    """UDP and TCP on the same 127.0.0.1 port, one thread, woken by a socketpair to stop."""

    def __init__(self) -> None:
        self.behaviour: Behaviour = chain
        self.queries: list[tuple[str, dns.message.Message]] = []
        self.errors: list[BaseException] = []
        self.udp, self.tcp = self._bind_pair()
        self.port = self.udp.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="probe-responder", daemon=True)
        self._thread.start()

    @staticmethod
    def _bind_pair(attempts: int = 50) -> tuple[socket.socket, socket.socket]:
        """UDP on a free port, then TCP on the same port; another port when TCP's is taken."""
        for _ in range(attempts):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT, never a listener
            try:
                tcp.bind(("127.0.0.1", udp.getsockname()[1]))
                tcp.listen(8)
            except OSError as exc:
                tcp.close()
                udp.close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            return udp, tcp
        raise RuntimeError(f"no port free for both UDP and TCP after {attempts} attempts")

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _answer(self, wire: bytes, proto: str) -> bytes | None:
        query = dns.message.from_wire(wire)  # our query must parse with dnspython
        self.queries.append((proto, query))
        return self.behaviour(query, proto)

    def _run(self) -> None:
        while True:
            readable, _, _ = select.select([self.udp, self.tcp, self._wake_r], [], [])
            if self._wake_r in readable:
                return
            try:
                if self.udp in readable:
                    wire, peer = self.udp.recvfrom(65535)
                    reply = self._answer(wire, "udp")
                    if reply is not None:
                        self.udp.sendto(reply, peer)
                if self.tcp in readable:
                    conn, _ = self.tcp.accept()
                    with conn:
                        conn.settimeout(5)
                        (length,) = struct.unpack("!H", conn.recv(2, socket.MSG_WAITALL))
                        reply = self._answer(conn.recv(length, socket.MSG_WAITALL), "tcp")
                        if reply is not None:
                            conn.sendall(struct.pack("!H", len(reply)) + reply)
            except Exception as exc:  # reported by the fixture, never swallowed
                self.errors.append(exc)

    def close(self) -> None:
        self._wake_w.send(b"x")
        self._thread.join(5)
        for sock in (self.udp, self.tcp, self._wake_r, self._wake_w):
            sock.close()


@pytest.fixture
def responder() -> Iterator[Responder]:
    server = Responder()
    try:
        yield server
    finally:
        server.close()
    assert not server.errors, server.errors


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = query.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- replies


def test_answer_chain_over_udp(responder: Responder, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, NAME, "--server", responder.server)
    assert code == 0, err
    assert out.startswith(f"NOERROR {NAME} A: CNAME {TARGET}, A 10.0.1.4 (udp {responder.server}, ")
    assert out.count("\n") == 1
    proto, query = responder.queries[0]
    assert proto == "udp"
    assert query.flags & dns.flags.RD
    assert query.question[0].name.to_text() == NAME
    assert query.question[0].rdtype == dns.rdatatype.A
    assert query.edns == 0 and query.payload == message.UDP_PAYLOAD


def test_tcp(responder: Responder, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, NAME, "--server", responder.server, "--tcp")
    assert code == 0
    assert f"(tcp {responder.server}," in out
    assert [proto for proto, _ in responder.queries] == ["tcp"]


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (nxdomain, f"NXDOMAIN {NAME} A: no answer (SOA privatelink.blob.core.windows.net.)"),
        (refused, f"REFUSED {NAME} A: no answer"),
    ],
    ids=["nxdomain", "refused"],
)
def test_any_rcode_is_a_reply(
    responder: Responder, capsys: pytest.CaptureFixture[str], behaviour: Behaviour, expected: str
) -> None:
    responder.behaviour = behaviour
    code, out, _ = run(capsys, NAME, "--server", responder.server)
    assert code == 0
    assert out.startswith(expected + " (udp")


def test_truncated_udp_reply_is_asked_again_over_tcp(responder: Responder, capsys: pytest.CaptureFixture[str]) -> None:
    responder.behaviour = truncated_over_udp
    code, out, _ = run(capsys, NAME, "--server", responder.server)
    assert code == 0
    assert "A 10.0.1.4 (tcp" in out
    assert [proto for proto, _ in responder.queries] == ["udp", "tcp"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["10.0.2.4"], "NOERROR 4.2.0.10.in-addr.arpa. PTR: PTR hub-vm1.internal.cloudapp.net."),
        (["host.example.", "TXT"], 'NOERROR host.example. TXT: TXT "v=1 a\\034b" "two"'),
        (["host.example", "--type", "aaaa"], "NOERROR host.example. AAAA: AAAA 2001:db8::5"),
        (["host.example", "-t", "MX"], "NOERROR host.example. MX: MX 10 mail.example."),
        (["host.example", "TYPE16"], 'NOERROR host.example. TXT: TXT "v=1 a\\034b" "two"'),
    ],
    ids=["reverse", "txt-positional", "aaaa-option", "mx", "type-number"],
)
def test_types(responder: Responder, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    responder.behaviour = ptr_and_txt
    code, out, err = run(capsys, *argv, "--server", responder.server)
    assert code == 0, err
    assert out.startswith(expected + " (udp")


@pytest.mark.parametrize(
    ("subnet", "address", "prefix"),
    [("10.0.2.4/32", "10.0.2.4", 32), ("10.1.7.9/20", "10.1.0.0", 20), ("2001:db8::/48", "2001:db8::", 48)],
)
def test_client_subnet_option(
    responder: Responder, capsys: pytest.CaptureFixture[str], subnet: str, address: str, prefix: int
) -> None:
    code, _, _ = run(capsys, NAME, "--server", responder.server, "--subnet", subnet)
    assert code == 0
    _, query = responder.queries[0]
    (option,) = [o for o in query.options if o.otype == dns.edns.ECS]
    assert (option.address, option.srclen, option.scopelen) == (address, prefix, 0)


def test_verbose_prints_flags_and_authority(responder: Responder, capsys: pytest.CaptureFixture[str]) -> None:
    responder.behaviour = nxdomain
    code, out, _ = run(capsys, NAME, "--server", responder.server, "-v")
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == ";; flags: qr rd"
    assert lines[2].startswith(";; authority: privatelink.blob.core.windows.net. 10 SOA azureprivatedns.net. ")


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize("behaviour", [silent, wrong_id, garbage], ids=["silent", "wrong-id", "garbage"])
def test_no_usable_reply_exits_1(
    responder: Responder, capsys: pytest.CaptureFixture[str], behaviour: Behaviour
) -> None:
    responder.behaviour = behaviour
    code, out, err = run(capsys, NAME, "--server", responder.server, "--timeout", "0.3")
    assert code == 1
    assert out == ""
    assert err.startswith(f"dnsemu query: no usable reply from {responder.server} for {NAME} A: ")


def test_garbage_over_tcp_exits_1(responder: Responder, capsys: pytest.CaptureFixture[str]) -> None:
    responder.behaviour = garbage
    code, _, err = run(capsys, NAME, "--server", responder.server, "--tcp", "--timeout", "1")
    assert code == 1
    assert "runs past the end" in err


def test_connection_refused_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: TCP is refused
        port = sock.getsockname()[1]
        code, _, err = run(capsys, NAME, "--server", f"127.0.0.1:{port}", "--tcp", "--timeout", "1")
    assert code == 1
    assert "refused" in err.lower()


@pytest.mark.parametrize(
    "argv",
    [
        [NAME, "--type", "BOGUS"],
        [NAME, "A", "--type", "AAAA"],
        [NAME, "--server", "127.0.0.1:99999"],
        [NAME, "--server", "[::1"],
        [NAME, "--subnet", "10.0.0.0/99"],
        [NAME, "--timeout", "0"],
        ["a" * 64 + ".example."],
        [],
    ],
    ids=["type", "two-types", "port", "bracket", "subnet", "timeout", "label", "no-name"],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "health check" in " ".join(out.split())


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a host alone asks where `dnsemu serve` listens by default (issue 16: it used to drop to 53)
        ("127.0.0.1", ("127.0.0.1", 5390)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:53", ("::1", 53)),
        ("::1", ("::1", 5390)),
        ("[fd00::1]", ("fd00::1", 5390)),
        ("localhost:53", ("localhost", 53)),
    ],
)
def test_parse_server(text: str, expected: tuple[str, int]) -> None:
    assert query.parse_server(text) == expected


# --------------------------------------------------------------------------- entry points


def test_cli_dispatches_query(responder: Responder, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["query", NAME, "--server", responder.server]) == 0
    assert "A 10.0.1.4" in capsys.readouterr().out


def test_runs_with_the_standard_library_only(responder: Responder) -> None:
    """The container's health check: no dnslib, dnspython, pydantic or YAML may be imported."""
    blocked = ["dnslib", "dns", "pydantic", "pydantic_settings", "yaml", "structlog", "prometheus_client",
               "asyncio_dgram"]
    script = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "from dnsemu.cli import main\n"
        f"code = main(['query', {NAME!r}, '--server', {responder.server!r}])\n"
        f"leaked = sorted(m for m in sys.modules if m.split('.')[0] in {blocked!r} and sys.modules[m] is not None)\n"
        "assert not leaked, leaked\n"
        "assert 'asyncio' not in sys.modules, 'the blocking exchange needs no event loop'\n"
        "raise SystemExit(code)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 0, done.stderr
    assert "A 10.0.1.4" in done.stdout
