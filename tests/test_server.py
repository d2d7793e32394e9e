"""The real server on loopback, checked with independent clients: dnspython, dig and kdig.

Each client binds a source address: 127.0.1.x is VNet alpha, 127.0.2.x VNet beta,
127.0.0.1 the internet (see tests/data/topology.yaml). The bundled estate
(zones/topology.yaml) is reached from loopback through EDNS Client Subnet.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import yaml
from conftest import (
    ALPHA,
    BETA,
    DATA,
    OUTSIDE,
    TEST_TOPOLOGY,
    ServerThread,
    closed_by_peer,
    descendants,
    make_settings,
    need_tool,
    recv_exact,
)

from dnsemu.topology.load import load_topology, load_topology_data

HOST = "127.0.0.1"
PRIVATE_BLOB = ["teststore.blob.core.windows.net. CNAME teststore.privatelink.blob.core.windows.net.",
                "teststore.privatelink.blob.core.windows.net. A 127.0.1.4"]
PUBLIC_BLOB = ["teststore.blob.core.windows.net. CNAME teststore.privatelink.blob.core.windows.net.",
               "teststore.privatelink.blob.core.windows.net. CNAME blob.eusprdstr01a.store.core.windows.net.",
               "blob.eusprdstr01a.store.core.windows.net. A 203.0.113.111"]


# --------------------------------------------------------------------------- helpers


def query(name: str, rdtype: str = "A", **kwargs: Any) -> dns.message.Message:
    kwargs.setdefault("use_edns", 0)
    return dns.message.make_query(name, rdtype, **kwargs)


def ask(server: ServerThread, q: dns.message.Message, source: str = ALPHA, tcp: bool = False,
        timeout: float = 3.0) -> dns.message.Message:
    if tcp:
        return dns.query.tcp(q, HOST, port=server.port, source=source, timeout=timeout)
    return dns.query.udp(q, HOST, port=server.port, source=source, timeout=timeout, ignore_trailing=False)


def answer_text(reply: dns.message.Message) -> list[str]:
    out = []
    for rrset in reply.answer:
        for rdata in rrset:
            out.append(f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {rdata.to_text()}".lower())
    return out


def raw_udp(port: int, data: bytes, source: str = ALPHA, timeout: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        sock.sendto(data, (HOST, port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def tcp_connect(port: int, source: str = ALPHA, timeout: float = 3.0) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=timeout, source_address=(source, 0))
    return sock


def recv_message(sock: socket.socket) -> bytes:
    (length,) = struct.unpack("!H", recv_exact(sock, 2))
    return recv_exact(sock, length)


def frame(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def tool(name: str) -> str:
    return need_tool(name, "dnsutils" if name == "dig" else "knot-dnsutils")


def run_tool(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=20, check=False)
    assert result.returncode == 0, f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


# --------------------------------------------------------------------------- split horizon


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_private_and_public_answers_by_source_address(server: ServerThread, tcp: bool) -> None:
    name = "teststore.blob.core.windows.net"
    assert answer_text(ask(server, query(name), ALPHA, tcp)) == [r.lower() for r in PRIVATE_BLOB]
    assert answer_text(ask(server, query(name), BETA, tcp)) == [r.lower() for r in PUBLIC_BLOB]
    assert answer_text(ask(server, query(name), OUTSIDE, tcp)) == [r.lower() for r in PUBLIC_BLOB]
    # a zone linked to both VNets, and invisible from the internet (no upstream: REFUSED)
    assert answer_text(ask(server, query("app.corp.test"), BETA, tcp)) == ["app.corp.test. a 127.0.1.10"]
    assert ask(server, query("app.corp.test"), OUTSIDE, tcp).rcode() == dns.rcode.REFUSED


def test_dig_split_horizon(server: ServerThread) -> None:
    dig = tool("dig")
    common = [f"@{HOST}", "-p", str(server.port), "teststore.blob.core.windows.net", "A", "+short", "+time=2",
              "+tries=1"]
    assert run_tool(dig, "-b", ALPHA, *common).split() == ["teststore.privatelink.blob.core.windows.net.", "127.0.1.4"]
    assert run_tool(dig, "-b", BETA, *common).split()[-1] == "203.0.113.111"
    assert run_tool(dig, "-b", ALPHA, "+tcp", *common).split()[-1] == "127.0.1.4"


def test_kdig_split_horizon(server: ServerThread) -> None:
    kdig = tool("kdig")
    common = [f"@{HOST}", "-p", str(server.port), "teststore.blob.core.windows.net", "A", "+short", "+time=2",
              "+retry=0"]
    assert run_tool(kdig, "-b", ALPHA, *common).split() == ["teststore.privatelink.blob.core.windows.net.",
                                                            "127.0.1.4"]
    assert run_tool(kdig, "-b", BETA, *common).split()[-1] == "203.0.113.111"
    assert run_tool(kdig, "-b", ALPHA, "+tcp", *common).split()[-1] == "127.0.1.4"


# --------------------------------------------------------------------------- ECS on the bundled estate


def test_dig_ecs_picks_the_vnet_and_echoes_the_scope(bundled_server: ServerThread) -> None:
    dig = tool("dig")
    common = [f"@{HOST}", "-p", str(bundled_server.port), "mystorage.blob.core.windows.net", "A", "+time=2",
              "+tries=1"]
    hub = run_tool(dig, *common, "+subnet=10.0.2.4/32")
    assert re.search(r"mystorage\.privatelink\.blob\.core\.windows\.net\.\s+\d+\s+IN\s+A\s+10\.0\.1\.4", hub)
    assert "CLIENT-SUBNET: 10.0.2.4/32/16" in hub  # scope: the hub's /16
    internet = run_tool(dig, *common, "+subnet=8.8.8.8/32")
    assert "203.0.113.111" in internet and "10.0.1.4" not in internet
    # the widest block around 8.8.8.8 holding no modelled network: 8.0.0.0/7 (10/8 shares 6 bits)
    assert "CLIENT-SUBNET: 8.8.8.8/32/7" in internet
    plain = run_tool(dig, *common)  # no ECS: the real source (127.0.0.1) is on the internet
    assert "203.0.113.111" in plain and "CLIENT-SUBNET" not in plain


def test_kdig_ecs(bundled_server: ServerThread) -> None:
    kdig = tool("kdig")
    out = run_tool(kdig, f"@{HOST}", "-p", str(bundled_server.port), "mystorage.blob.core.windows.net", "A",
                   "+subnet=10.1.0.5/32", "+time=2", "+retry=0")
    assert re.search(r"\s10\.0\.1\.4\b", out), out  # spoke1 asks the hub resolver: private
    assert re.search(r"CLIENT-SUBNET: 10\.1\.0\.5/32/16", out), out


def test_ecs_with_dnspython(bundled_server: ServerThread) -> None:
    def ecs_query(address: str, prefix: int) -> dns.message.Message:
        q = query("mystorage.blob.core.windows.net", options=[dns.edns.ECSOption(address, prefix)])
        return dns.query.udp(q, HOST, port=bundled_server.port, source=OUTSIDE, timeout=3)

    reply = ecs_query("10.3.0.0", 24)  # sandbox links the zone itself
    assert answer_text(reply)[-1].endswith("a 10.0.1.4")
    (ecs,) = [o for o in reply.options if isinstance(o, dns.edns.ECSOption)]
    assert (ecs.address, ecs.srclen, ecs.scopelen) == ("10.3.0.0", 24, 16)
    reply = ecs_query("0.0.0.0", 0)  # source prefix 0: answer for the real source, scope 0
    assert answer_text(reply)[-1].endswith("a 203.0.113.111")
    (ecs,) = [o for o in reply.options if isinstance(o, dns.edns.ECSOption)]
    assert (ecs.srclen, ecs.scopelen) == (0, 0)


# --------------------------------------------------------------------------- the header, EDNS, case


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_flags_are_set_on_purpose(server: ServerThread, tcp: bool) -> None:
    q = query("teststore.blob.core.windows.net")
    q.flags = dns.flags.RD | dns.flags.CD | dns.flags.AD
    reply = ask(server, q, ALPHA, tcp)
    assert reply.flags == dns.flags.QR | dns.flags.RD | dns.flags.RA | dns.flags.CD  # AA and AD clear
    q = query("teststore.blob.core.windows.net")
    q.flags = 0
    reply = ask(server, q, ALPHA, tcp)
    assert reply.flags == dns.flags.QR | dns.flags.RA
    assert reply.id == q.id


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_question_case_is_preserved(server: ServerThread, tcp: bool) -> None:
    for name in ("TestStore.BLOB.core.windows.net", "tESTsTORE.blob.CORE.windows.NET",
                 "teststore.blob.core.windows.net"):
        q = query(name)
        reply = ask(server, q, ALPHA, tcp)  # the second and third come from the cache
        assert reply.question[0].name.to_text() == name + "."
        assert answer_text(reply) == [r.lower() for r in PRIVATE_BLOB]


def test_dig_shows_the_question_in_its_case(server: ServerThread) -> None:
    dig = tool("dig")
    out = run_tool(dig, "-b", ALPHA, f"@{HOST}", "-p", str(server.port), "App.Corp.TEST", "A", "+noall", "+question",
                   "+answer", "+time=2", "+tries=1")
    assert ";App.Corp.TEST." in out
    assert re.search(r"App\.Corp\.TEST\.\s+60\s+IN\s+A\s+127\.0\.1\.10", out)


def test_edns_is_echoed_with_our_size_and_the_do_bit(server: ServerThread) -> None:
    q = query("www.example.test", use_edns=0, payload=4096, want_dnssec=True)
    reply = ask(server, q, ALPHA)
    assert reply.edns == 0 and reply.payload == 1232
    assert reply.ednsflags & dns.flags.DO
    q = query("www.example.test", use_edns=0, payload=4096,
              options=[dns.edns.GenericOption(65001, b"\x01\x02")])  # unknown option: ignored
    reply = ask(server, q, ALPHA)
    assert reply.rcode() == dns.rcode.NOERROR and not reply.ednsflags & dns.flags.DO
    assert reply.options == ()
    assert answer_text(reply) == ["www.example.test. a 198.51.100.7"]
    reply = ask(server, query("www.example.test", use_edns=False), ALPHA)
    assert reply.edns == -1  # no OPT in, no OPT out


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_unknown_edns_version_is_badvers(server: ServerThread, tcp: bool) -> None:
    q = query("www.example.test", use_edns=1)
    reply = ask(server, q, ALPHA, tcp)
    assert reply.rcode() == dns.rcode.BADVERS
    assert reply.edns == 0 and not reply.answer


def test_dig_badvers(server: ServerThread) -> None:
    dig = tool("dig")
    out = run_tool(dig, "-b", ALPHA, f"@{HOST}", "-p", str(server.port), "www.example.test", "+edns=1", "+noednsneg",
                   "+time=2", "+tries=1")
    assert "status: BADVERS" in out


# --------------------------------------------------------------------------- truncation


def test_udp_truncates_and_tcp_carries_the_whole_answer(server: ServerThread) -> None:
    reply = ask(server, query("big.example.test", "TXT"), ALPHA)
    assert reply.flags & dns.flags.TC and not reply.answer
    reply = ask(server, query("big.example.test", "TXT"), ALPHA, tcp=True)
    assert not reply.flags & dns.flags.TC and len(answer_text(reply)) == 10
    # without EDNS the limit is 512 octets
    reply = ask(server, query("medium.example.test", "TXT", use_edns=False), ALPHA)
    assert reply.flags & dns.flags.TC and not reply.answer
    reply = ask(server, query("medium.example.test", "TXT"), ALPHA)
    assert not reply.flags & dns.flags.TC and len(answer_text(reply)) == 4
    assert server.stats.snapshot().truncated["udp"] >= 2


def test_dig_retries_over_tcp_on_truncation(server: ServerThread) -> None:
    dig = tool("dig")
    out = run_tool(dig, "-b", ALPHA, f"@{HOST}", "-p", str(server.port), "big.example.test", "TXT", "+time=2",
                   "+tries=1")
    assert "Truncated, retrying in TCP mode" in out
    assert "(TCP)" in out and out.count("\tTXT\t") == 10


def test_kdig_retries_over_tcp_on_truncation(server: ServerThread) -> None:
    kdig = tool("kdig")
    out = run_tool(kdig, "-b", ALPHA, f"@{HOST}", "-p", str(server.port), "big.example.test", "TXT", "+time=2",
                   "+retry=0")
    assert out.count("\tTXT\t") == 10 and "TCP" in out


# --------------------------------------------------------------------------- TCP (RFC 7766)


def test_pipelined_tcp_queries_are_all_answered(server: ServerThread) -> None:
    names = ["teststore.blob.core.windows.net", "app.corp.test", "www.example.test", "nope.example.test",
             "example.org", "big.example.test"]
    queries = []
    for i in range(50):
        q = query(names[i % len(names)], "TXT" if names[i % len(names)].startswith("big") else "A")
        q.id = 1000 + i
        queries.append(q)
    with tcp_connect(server.port, ALPHA) as sock:
        sock.sendall(b"".join(frame(q.to_wire()) for q in queries))  # all 50 before reading anything
        replies = {}
        for _ in range(50):
            reply = dns.message.from_wire(recv_message(sock))
            replies[reply.id] = reply
    assert sorted(replies) == [q.id for q in queries]
    expected_rcodes = {"nope.example.test.": dns.rcode.NXDOMAIN, "example.org.": dns.rcode.REFUSED}
    for q in queries:
        reply = replies[q.id]
        assert reply.question == q.question
        assert reply.rcode() == expected_rcodes.get(str(q.question[0].name), dns.rcode.NOERROR)
    assert answer_text(replies[1000])[-1].endswith("a 127.0.1.4")
    assert len(replies[1005].answer[0]) == 10  # the big answer, whole over TCP


# --------------------------------------------------------------------------- malformed and odd messages


def header(ident: int = 0x4242, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


QUESTION = b"\x03www\x07example\x04test\x00\x00\x01\x00\x01"
ERROR_CASES = [
    ("qdcount-0", header(qd=0), dns.rcode.FORMERR),
    ("qdcount-2", header(qd=2) + QUESTION + QUESTION, dns.rcode.FORMERR),
    ("question-cut-short", header() + QUESTION[:7], dns.rcode.FORMERR),
    ("notify", header(flags=4 << 11) + QUESTION, dns.rcode.NOTIMP),
    ("update", header(flags=5 << 11) + QUESTION, dns.rcode.NOTIMP),
    ("response", header(flags=0x8180) + QUESTION, None),  # never answered: dropped
    ("shorter-than-a-header", b"\x42\x42\x01", None),
]


@pytest.mark.parametrize(("data", "rcode"), [(d, r) for _, d, r in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_error_cases_over_udp(server: ServerThread, data: bytes, rcode: int | None) -> None:
    reply = raw_udp(server.port, data, timeout=0.3 if rcode is None else 2.0)
    if rcode is None:
        assert reply is None
        return
    assert reply is not None
    ident, flags = struct.unpack_from("!HH", reply)
    assert ident == 0x4242 and flags & 0x8000 and flags & 0xF == rcode
    assert flags & 0x7800 == struct.unpack_from("!H", data, 2)[0] & 0x7800  # the opcode is echoed


def test_error_cases_over_tcp_keep_the_connection(server: ServerThread) -> None:
    with tcp_connect(server.port, ALPHA) as sock:
        for name, data, rcode in ERROR_CASES:
            sock.sendall(frame(data))
            if rcode is not None:
                flags = struct.unpack_from("!H", recv_message(sock), 2)[0]
                assert flags & 0x8000 and flags & 0xF == rcode, name
            # whatever came before, the connection still answers a good query
            q = query("www.example.test")
            sock.sendall(frame(q.to_wire()))
            reply = dns.message.from_wire(recv_message(sock))
            assert reply.id == q.id and answer_text(reply) == ["www.example.test. a 198.51.100.7"], name


def test_names_outside_the_topology_are_refused_without_upstream(server: ServerThread) -> None:
    for source in (ALPHA, OUTSIDE):
        reply = ask(server, query("example.org"), source)
        assert reply.rcode() == dns.rcode.REFUSED and not reply.answer
        assert reply.flags & 0xFFF0 == dns.flags.QR | dns.flags.RD | dns.flags.RA


def test_tcp_limits() -> None:
    settings = make_settings(tcp_idle_timeout=0.3, tcp_max_connections=2, tcp_max_message=512)
    with ServerThread(settings) as srv:
        # an idle connection is closed; a client trickling bytes does not keep it open either
        with tcp_connect(srv.port) as idle:
            assert closed_by_peer(idle)
        with tcp_connect(srv.port) as trickle:
            data = frame(query("www.example.test").to_wire())
            for byte in data[:-1]:
                try:
                    trickle.send(bytes([byte]))
                except OSError:
                    break
                if closed_by_peer(trickle, 0.05):
                    break
            else:
                assert closed_by_peer(trickle)
        # a message over the limit closes the connection
        with tcp_connect(srv.port) as big:
            big.sendall(struct.pack("!H", 1000) + bytes(1000))
            assert closed_by_peer(big)
        # two connections at most: the third is closed at once, the first two still work
        with tcp_connect(srv.port) as a, tcp_connect(srv.port) as b:
            for sock in (a, b):
                sock.sendall(frame(query("www.example.test").to_wire()))
                assert dns.message.from_wire(recv_message(sock)).rcode() == dns.rcode.NOERROR
            with tcp_connect(srv.port) as c:
                assert closed_by_peer(c)
        counters = srv.server.state.counters
        assert counters["tcp_rejected"] >= 1 and counters["tcp_oversize"] >= 1 and counters["tcp_idle_closed"] >= 2


def test_ipv6_listener() -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with ServerThread(make_settings(listen=["[::1]:0", "127.0.0.1:0"])) as srv:
        (host6, port6), (_, port4) = srv.server.addresses
        assert host6 == "::1" and port6 and port4
        assert srv.server.ready_line().startswith(f"dnsemu ready udp://[::1]:{port6} tcp://[::1]:{port6} ")
        for tcp in (False, True):
            q = query("www.example.test")
            send = dns.query.tcp if tcp else dns.query.udp
            reply = send(q, "::1", port=port6, timeout=3)
            assert answer_text(reply) == ["www.example.test. a 198.51.100.7"]


# --------------------------------------------------------------------------- forwarding


@pytest.fixture(scope="module")
def upstream_server(dnsemu_logging: Any) -> Any:
    """A second dnsemu that plays the upstream: example.org and partner.test in public DNS."""
    with ServerThread(make_settings(topology=str(DATA / "upstream.yaml"))) as srv:
        yield srv


@pytest.fixture
def black_hole() -> Any:
    """A UDP port that takes queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        yield f"{HOST}:{sock.getsockname()[1]}"


def test_forwarding_with_failover(upstream_server: ServerThread, black_hole: str) -> None:
    upstream = f"{HOST}:{upstream_server.port}"
    settings = make_settings(upstreams=[black_hole, upstream], upstream_timeout=0.3)
    with ServerThread(settings) as srv:
        for tcp in (False, True):
            reply = ask(srv, query("WWW.Example.org"), ALPHA, tcp)
            assert reply.rcode() == dns.rcode.NOERROR
            assert answer_text(reply) == ["www.example.org. a 192.0.2.80"]
            assert reply.question[0].name.to_text() == "WWW.Example.org."
            assert reply.flags & 0xFFF0 == dns.flags.QR | dns.flags.RD | dns.flags.RA
        reply = ask(srv, query("nx.example.org"), ALPHA)
        assert reply.rcode() == dns.rcode.NXDOMAIN  # the upstream's NXDOMAIN, with its SOA
        assert reply.authority and reply.authority[0].rdtype == dns.rdatatype.SOA
        # names the topology knows are still answered locally
        assert answer_text(ask(srv, query("teststore.blob.core.windows.net"), ALPHA))[-1].endswith("127.0.1.4")
        assert srv.stats.forwarded.get("answered", 0) >= 3


@pytest.mark.parametrize("batch", [64, 0])
def test_a_wildcard_listener_answers_from_the_address_asked(upstream_server: ServerThread, server_logs: Any,
                                                            batch: int) -> None:
    """On 0.0.0.0 the kernel would send a reply to a query for 127.0.0.2 from 127.0.0.1, and clients drop
    a reply from a stranger (dnspython raises UnexpectedSource, dig times out). The batch path answers
    from the address asked (IP_PKTINFO), local answers and forwarded ones alike; without batches the
    server says at start that it cannot."""
    settings = make_settings(listen=["0.0.0.0:0"], upstreams=[f"{HOST}:{upstream_server.port}"], udp_batch=batch)
    with ServerThread(settings) as srv:
        warned = [e for e in server_logs.events("udp_wildcard_source") if e.get("address") == "0.0.0.0"]
        if batch == 0:
            assert warned
            return
        assert srv.server._udp[0].mode == "recvmmsg"
        for dest in ("127.0.0.2", "127.0.3.7", "127.0.0.1"):
            local = dns.query.udp(query("TestStore.blob.core.windows.net"), dest, port=srv.port, source=ALPHA,
                                  timeout=3)
            assert answer_text(local)[-1].endswith("127.0.1.4")
            forwarded = dns.query.udp(query("www.example.org"), dest, port=srv.port, source=ALPHA, timeout=3)
            assert answer_text(forwarded) == ["www.example.org. a 192.0.2.80"]
        out = subprocess.run([tool("dig"), "@127.0.0.2", "-p", str(srv.port), "-b", ALPHA, "+tries=1", "+time=3",
                              "+short", "teststore.blob.core.windows.net"],
                             capture_output=True, text=True, timeout=20)
        assert out.stdout.split()[-1:] == ["127.0.1.4"], out.stdout + out.stderr


def test_forwarding_answers_slow_queries_as_they_complete(upstream_server: ServerThread, black_hole: str) -> None:
    upstream = f"{HOST}:{upstream_server.port}"
    settings = make_settings(upstreams=[black_hole, upstream], upstream_timeout=0.3)
    with ServerThread(settings) as srv, tcp_connect(srv.port, ALPHA) as sock:
        slow = query("www.example.org")
        fast = [query("www.example.test") for _ in range(5)]
        sock.sendall(b"".join(frame(q.to_wire()) for q in [slow, *fast]))
        order = [dns.message.from_wire(recv_message(sock)).id for _ in range(6)]
        assert order[-1] == slow.id  # the forwarded one waited 0.3 s on the black hole; the others did not
        assert sorted(order[:-1]) == sorted(q.id for q in fast)


def test_pipeline_limit_and_batches_lose_nothing(upstream_server: ServerThread) -> None:
    """At most 2 forwarded queries in flight per connection, 300 messages in one write: all answered."""
    settings = make_settings(upstreams=[f"{HOST}:{upstream_server.port}"], tcp_max_pipelined=2)
    with ServerThread(settings) as srv, tcp_connect(srv.port, ALPHA) as sock:
        queries = []
        for i in range(300):
            q = query("www.example.org" if i % 10 == 0 else "www.example.test")
            q.id = i
            queries.append(q)
        sock.sendall(b"".join(frame(q.to_wire()) for q in queries))
        replies = [dns.message.from_wire(recv_message(sock)) for _ in queries]
        assert sorted(r.id for r in replies) == list(range(300))
        for reply in replies:
            expected = "192.0.2.80" if reply.id % 10 == 0 else "198.51.100.7"
            assert answer_text(reply)[-1].endswith(expected), reply


def test_shutdown_answers_the_queries_in_flight(upstream_server: ServerThread, black_hole: str) -> None:
    settings = make_settings(upstreams=[black_hole, f"{HOST}:{upstream_server.port}"], upstream_timeout=0.3)
    srv = ServerThread(settings).start()
    try:
        results: list[Any] = []
        client = threading.Thread(target=lambda: results.append(ask(srv, query("www.example.org"), ALPHA, timeout=5)))
        client.start()
        deadline = time.monotonic() + 5
        while not srv.server.state.tasks:  # the query is waiting on the black hole
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        srv.stop()  # graceful: the forwarded query still gets its answer
    client.join(5)
    assert results and answer_text(results[0]) == ["www.example.org. a 192.0.2.80"]
    with pytest.raises(OSError):  # and the port is closed
        tcp_connect(srv.port, ALPHA, timeout=1).close()


def test_all_upstreams_failing_is_servfail(black_hole: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind((HOST, 0))
        closed_port = closed.getsockname()[1]
    settings = make_settings(upstreams=[black_hole, f"{HOST}:{closed_port}"], upstream_timeout=0.2)
    with ServerThread(settings) as srv:
        reply = ask(srv, query("www.example.org"), ALPHA, timeout=5)
        assert reply.rcode() == dns.rcode.SERVFAIL and not reply.answer
        assert srv.stats.forwarded.get("failed") == 1


def external_topology(port: int) -> Any:
    data = yaml.safe_load(TEST_TOPOLOGY.read_text())
    data["dns_private_resolvers"] = {"res": {"virtual_network": "alpha", "outbound_endpoints": ["out"]}}
    data["dns_forwarding_rulesets"] = {"rules": {
        "dns_resolver_outbound_endpoints": ["res/out"], "virtual_network_links": ["alpha"],
        "forwarding_rules": {"partner": {"domain_name": "partner.test.", "target_dns_servers": [f"{HOST}:{port}"]}}}}
    data["external_dns_servers"] = {"partner-dns": {"address": f"{HOST}:{port}"}}
    return load_topology_data(data)


def test_external_servers_of_the_topology_are_reached_on_the_wire(upstream_server: ServerThread) -> None:
    loaded = external_topology(upstream_server.port)
    with ServerThread(make_settings(forward_external=True), loaded) as srv:
        reply = ask(srv, query("www.partner.test"), ALPHA)
        assert answer_text(reply) == ["www.partner.test. a 192.0.2.99"]
        # beta has no ruleset: the name goes to the (absent) upstreams
        assert ask(srv, query("www.partner.test"), BETA).rcode() == dns.rcode.REFUSED
    with ServerThread(make_settings(), loaded) as srv:  # auto: off without upstreams
        assert ask(srv, query("www.partner.test"), ALPHA).rcode() == dns.rcode.REFUSED


# --------------------------------------------------------------------------- reload


def test_reload_while_queries_flow(tmp_path: Path, server_logs: Any) -> None:
    topology = tmp_path / "topology.yaml"
    original = TEST_TOPOLOGY.read_text()
    topology.write_text(original)

    def replace(text: str) -> None:
        tmp = tmp_path / "next.yaml"
        tmp.write_text(text)
        os.replace(tmp, topology)

    settings = make_settings(topology=str(topology), watch=True, watch_interval=0.05)
    with ServerThread(settings) as srv:
        seen: list[str] = []
        per_thread: list[list[str]] = [[], []]
        problems: list[str] = []
        stop = threading.Event()

        def client(mine: list[str], source: str) -> None:
            while not stop.is_set():
                try:
                    reply = ask(srv, query("app.corp.test"), source, timeout=2)
                except Exception as exc:  # a lost query
                    problems.append(repr(exc))
                    continue
                texts = answer_text(reply)
                if reply.rcode() != dns.rcode.NOERROR or len(texts) != 1:
                    problems.append(f"{dns.rcode.to_text(reply.rcode())} {texts}")
                    continue
                address = texts[0].rsplit(" ", 1)[-1]
                mine.append(address)
                seen.append(address)

        def wait_for(predicate: Any, what: str) -> None:
            deadline = time.monotonic() + 10
            while not predicate():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                time.sleep(0.01)

        threads = [threading.Thread(target=client, args=(per_thread[0], ALPHA)),
                   threading.Thread(target=client, args=(per_thread[1], "127.0.1.6"))]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: len(seen) > 20, "first answers")
            replace(original.replace("app 60 A 127.0.1.10", "app 60 A 127.0.1.11"))  # good: watched
            wait_for(lambda: "127.0.1.11" in seen[-5:], "the reloaded answer")
            failed_before = srv.stats.reloads.get("failed", 0)
            replace(original.replace("app 60 A 127.0.1.10", "app 60 A 127.0.1.12").replace("alpha:", "alpha: [", 1))
            wait_for(lambda: srv.stats.reloads.get("failed", 0) > failed_before, "the bad file to be rejected")
            count = len(seen)
            wait_for(lambda: len(seen) > count + 20, "answers after the bad file")
            assert not srv.reload()  # an explicit reload (what SIGHUP does) rejects it too
            replace(original.replace("app 60 A 127.0.1.10", "app 60 A 127.0.1.13"))
            wait_for(lambda: "127.0.1.13" in seen[-5:], "the third topology")
            count = len(seen)
            wait_for(lambda: len(seen) > count + 20, "answers after the last reload")
        finally:
            stop.set()
            for t in threads:
                t.join(10)
    assert not problems, problems[:5]
    assert set(seen) == {"127.0.1.10", "127.0.1.11", "127.0.1.13"}  # never the rejected .12
    # each client moves forward only: never an answer from an older topology after a newer one
    order = {"127.0.1.10": 0, "127.0.1.11": 1, "127.0.1.13": 2}
    for mine in per_thread:
        ranks = [order[a] for a in mine]
        assert ranks == sorted(ranks) and ranks[0] == 0 and ranks[-1] == 2
    failures = server_logs.events("topology_reload_failed")
    assert failures and any("topology.yaml" in p for p in failures[-1]["problems"])


# --------------------------------------------------------------------------- the dnsemu serve process


def test_serve_subprocess_ready_line_sighup_and_sigterm(serve_process: Any, tmp_path: Path) -> None:
    topology = tmp_path / "topology.yaml"
    topology.write_text(TEST_TOPOLOGY.read_text())
    ready_file = tmp_path / "ready"
    proc = serve_process("--topology", str(topology), "--listen", "127.0.0.1:0", "--ready-file", str(ready_file),
                         "--no-watch", "--log-format", "json")
    assert ready_file.read_text().strip() == proc.line  # written before the line was printed
    q = query("app.corp.test")
    first = ["app.corp.test. a 127.0.1.10"]
    assert answer_text(dns.query.udp(q, HOST, port=proc.port, source=ALPHA, timeout=3)) == first
    assert answer_text(dns.query.tcp(q, HOST, port=proc.port, source=ALPHA, timeout=3)) == first
    topology.write_text(TEST_TOPOLOGY.read_text().replace("127.0.1.10", "127.0.1.20"))
    proc.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    second = ["app.corp.test. a 127.0.1.20"]
    while answer_text(dns.query.udp(q, HOST, port=proc.port, source=ALPHA, timeout=3)) != second:
        assert time.monotonic() < deadline, proc.stderr()
        time.sleep(0.02)
    assert proc.terminate() == 0, proc.stderr()
    assert not ready_file.exists()
    log = proc.stderr()
    assert '"event": "server_stopped"' in log and '"reason": "SIGHUP"' in log


def test_serve_workers_share_the_port(serve_process: Any) -> None:
    proc = serve_process("--topology", str(TEST_TOPOLOGY), "--listen", "127.0.0.1:0", "--workers", "2", "--no-watch",
                         "--no-query-log")
    if Path("/proc/self/stat").exists():  # the forkserver, and the two workers it started
        below = descendants(proc.proc.pid)
        assert sum(1 for parent in below.values() if parent != proc.proc.pid) == 2, below
    for i in range(40):  # many source ports: the kernel spreads them over both sockets
        q = query("teststore.blob.core.windows.net")
        reply = dns.query.udp(q, HOST, port=proc.port, source=ALPHA if i % 2 else BETA, timeout=3)
        assert answer_text(reply)[-1].endswith("127.0.1.4" if i % 2 else "203.0.113.111")
    reply = dns.query.tcp(query("www.example.test"), HOST, port=proc.port, source=ALPHA, timeout=3)
    assert answer_text(reply) == ["www.example.test. a 198.51.100.7"]
    assert proc.terminate() == 0, proc.stderr()


def serve_exit(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSEMU_")}
    return subprocess.run([sys.executable, "-m", "dnsemu", "serve", *args], capture_output=True, text=True,
                          timeout=30, env=env, check=False)


def test_serve_rejects_bad_settings_and_topologies(tmp_path: Path, capsys: Any) -> None:
    from dnsemu.cli.serve import main

    assert main(["--listen", "nonsense", "--topology", str(TEST_TOPOLOGY)]) == 2
    assert "listen: 'nonsense'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("virtual_networks: [\n")
    result = serve_exit("--topology", str(bad), "--listen", "127.0.0.1:0")
    assert result.returncode == 2 and "bad.yaml" in result.stderr and not result.stdout


def test_serve_cannot_listen_on_a_taken_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((HOST, 0))
        port = taken.getsockname()[1]
        result = serve_exit("--topology", str(TEST_TOPOLOGY), "--listen", f"{HOST}:{port}", "--no-watch")
    assert result.returncode == 1 and "cannot listen" in result.stderr and not result.stdout


def test_topology_is_loaded_once_per_reload(server: ServerThread) -> None:
    assert server.server.generation >= 1
    loaded = load_topology(TEST_TOPOLOGY)
    before = server.server.generation
    assert server.reload(loaded)
    assert server.server.generation == before + 1
    assert answer_text(ask(server, query("app.corp.test"), ALPHA)) == ["app.corp.test. a 127.0.1.10"]
