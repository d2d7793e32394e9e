"""The DNS client (dnsemu.dns.client) against fake DNS servers on loopback (UDP and TCP, each with a behaviour).

Failover (``resolve``, what forwarding uses), one exchange driven both ways
(blocking, as ``dnsemu query`` does, and in the event loop, as forwarding and
the fixture do: the same cases, the same outcomes), and the message helpers
(dnsemu.dns.message) checked against dnspython.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset
import pytest

from dnsemu.dns import message, names
from dnsemu.dns.client import DnsClient, ExchangeError, ExchangeTimeout, Response, ServersFailed
from dnsemu.dns.message import build_query
from dnsemu.server.server import bind_pair

HOST = "127.0.0.1"


def answer(query: bytes, rcode: int = dns.rcode.NOERROR, tc: bool = False, ident: int | None = None,
           records: int = 1) -> bytes:
    message = dns.message.from_wire(query)
    response = dns.message.make_response(message)
    response.set_rcode(rcode)
    if ident is not None:
        response.id = ident
    if tc:
        response.flags |= dns.flags.TC
    elif rcode == dns.rcode.NOERROR:
        name = message.question[0].name
        response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", *[f"192.0.2.{i + 1}" for i in range(records)]))
    return response.to_wire()


class FakeServer(asyncio.DatagramProtocol):
    """A DNS server on UDP and TCP (same port) whose UDP side misbehaves as told."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.udp_queries = 0
        self.tcp_queries = 0
        self.peers: list[tuple[str, str]] = []  # (proto, source address)
        self.transport: Any = None
        self.tcp: asyncio.base_events.Server | None = None
        self.port = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.udp_queries += 1
        self.peers.append(("udp", addr[0]))
        b = self.behaviour
        if b == "silent":
            return
        if b in ("tc", "tc-tcp-too", "tc-tcp-stranger"):
            self.transport.sendto(answer(data, tc=True), addr)
        elif b == "servfail":
            self.transport.sendto(answer(data, dns.rcode.SERVFAIL), addr)
        elif b == "nxdomain":
            self.transport.sendto(answer(data, dns.rcode.NXDOMAIN), addr)
        elif b == "wrong-id-first":
            ident = struct.unpack("!H", data[:2])[0]
            self.transport.sendto(answer(data, ident=(ident + 1) & 0xFFFF), addr)
            self.transport.sendto(b"\x00garbage", addr)
            self.transport.sendto(answer(data), addr)
        elif b == "strays-only":
            ident = struct.unpack("!H", data[:2])[0]
            self.transport.sendto(answer(data, ident=(ident + 1) & 0xFFFF), addr)
            self.transport.sendto(struct.pack("!H", ident) + b"\x81\x80\x00\x01garbage", addr)
        else:
            self.transport.sendto(answer(data), addr)

    async def handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                data = await reader.readexactly(length)
                self.tcp_queries += 1
                self.peers.append(("tcp", writer.get_extra_info("peername")[0]))
                if self.behaviour == "tc-tcp-too":
                    reply = answer(data, tc=True)
                elif self.behaviour == "tc-tcp-stranger":
                    reply = answer(data, ident=(struct.unpack("!H", data[:2])[0] + 1) & 0xFFFF)
                else:
                    reply = answer(data, records=40)
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def address(self) -> tuple[str, int]:
        return (HOST, self.port)


@pytest.fixture
async def fake() -> AsyncIterator[Any]:
    loop = asyncio.get_running_loop()
    servers: list[FakeServer] = []

    async def start(behaviour: str = "answer") -> FakeServer:
        server = FakeServer(behaviour)
        udp, tcp = bind_pair(HOST, 0)  # one port for both, retried when TCP finds it taken
        await loop.create_datagram_endpoint(lambda: server, sock=udp)
        server.port = udp.getsockname()[1]
        server.tcp = await asyncio.start_server(server.handle_tcp, sock=tcp)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.transport.close()
        assert server.tcp is not None
        server.tcp.close()
        await server.tcp.wait_closed()


def closed_port() -> tuple[str, int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        return (HOST, sock.getsockname()[1])


# --------------------------------------------------------------------------- messages


def test_build_query_is_a_recursive_edns_query() -> None:
    message = dns.message.from_wire(build_query("www.example.org.", 28, 0x1234, udp_size=1232))
    assert message.id == 0x1234 and message.flags == dns.flags.RD
    assert message.edns == 0 and message.payload == 1232 and not message.ednsflags & dns.flags.DO
    assert str(message.question[0].name) == "www.example.org." and message.question[0].rdtype == 28
    plain = dns.message.from_wire(build_query("a\\.b.example.", 1, 1, edns=False))
    assert plain.edns == -1 and plain.question[0].name.labels[0] == b"a.b"


@pytest.mark.parametrize("text", [
    "www.Example.ORG.", "www.example.org", "a\\.b.example.", "\\065pp.example.", "_sip._tcp.example.",
    "b\u00fccher.example.", ".",
])
def test_names_encode_as_dnspython_encodes_them(text: str) -> None:
    assert names.to_wire(text) == dns.name.from_text(text).to_wire()


@pytest.mark.parametrize(("text", "why"), [
    ("a..b.", "empty label"), (".a.", "empty label"), ("a" * 64 + ".example.", "over 63"),
    (".".join(["abcdefgh"] * 29) + ".", "over 255"), ("a\\", "lone backslash"),
])
def test_names_that_cannot_be_encoded(text: str, why: str) -> None:
    with pytest.raises(names.NameError_, match=why):
        names.to_wire(text)


def test_query_is_what_dnspython_would_send() -> None:
    ours = dns.message.from_wire(message.build_query("Example.COM", 28, 0xBEEF, subnet="192.0.2.0/24"))
    assert ours.id == 0xBEEF
    assert ours.question[0].name.to_text() == "Example.COM."
    assert ours.question[0].rdtype == 28
    (option,) = ours.options
    assert (option.address, option.srclen) == ("192.0.2.0", 24)


def test_compression_loop_is_garbage() -> None:
    wire = struct.pack("!HHHHHH", 1, 0x8180, 1, 0, 0, 0) + b"\xc0\x0c"
    with pytest.raises(message.MessageError, match="loop"):
        message.parse_reply(wire)


def test_a_query_is_not_a_reply() -> None:
    with pytest.raises(message.MessageError, match="not a response"):
        message.parse_reply(message.build_query("example.", 1, 7))


def test_which_reply_answers_the_query() -> None:
    query = build_query("www.Example.org.", 1, 0x4242)
    reply = answer(query)
    assert message.is_reply_to(reply, query)
    assert message.is_reply_to(reply, build_query("WWW.example.ORG.", 1, 0x4242))  # case is not compared
    assert not message.is_reply_to(reply, build_query("www.example.org.", 28, 0x4242))  # another type
    assert not message.is_reply_to(reply, build_query("www.example.net.", 1, 0x4242))  # another name
    assert not message.is_reply_to(answer(query, ident=0x4243), query)
    assert not message.is_reply_to(query, query)  # not a response
    assert not message.is_reply_to(reply[:11], query)
    bare = struct.pack("!HHHHHH", 0x4242, 0x8181, 0, 0, 0, 0)  # FORMERR without the question: taken
    assert message.is_reply_to(bare, query)
    assert not message.is_reply_to(struct.pack("!HHHHHH", 0x4242, 0x8180, 0, 0, 0, 0), query)  # NOERROR: not
    assert message.mismatch(answer(query, ident=0x4243), query) == "a reply with ID 16963, not ours (16962)"
    assert message.mismatch(b"\x42\x42\x81", query).startswith("a malformed message (3 octets")


# --------------------------------------------------------------------------- failover (forwarding)


async def test_answer_from_the_first_server(fake: Any) -> None:
    server = await fake()
    client = DnsClient([server.address], timeout=1)
    reply = dns.message.from_wire(await client.resolve("www.example.org.", 1))
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer[0][0].to_text() == "192.0.2.1"
    assert server.udp_queries == 1 and server.tcp_queries == 0


async def test_failover_past_a_silent_server(fake: Any) -> None:
    silent, good = await fake("silent"), await fake()
    client = DnsClient([silent.address, good.address], timeout=0.2)
    started = time.monotonic()
    reply = dns.message.from_wire(await client.resolve("www.example.org.", 1))
    assert reply.answer and time.monotonic() - started >= 0.2
    assert silent.udp_queries == 1 and good.udp_queries == 1


async def test_failover_past_servfail_and_a_closed_port(fake: Any) -> None:
    failing, good = await fake("servfail"), await fake()
    client = DnsClient([closed_port(), failing.address, good.address], timeout=2)
    started = time.monotonic()
    reply = dns.message.from_wire(await client.resolve("www.example.org.", 1))
    assert reply.answer and time.monotonic() - started < 1.5  # the closed port fails at once (ICMP)


async def test_nxdomain_is_an_answer_not_a_failure(fake: Any) -> None:
    nx, good = await fake("nxdomain"), await fake()
    client = DnsClient([nx.address, good.address], timeout=1)
    reply = dns.message.from_wire(await client.resolve("nope.example.org.", 1))
    assert reply.rcode() == dns.rcode.NXDOMAIN and good.udp_queries == 0


async def test_truncated_udp_is_retried_over_tcp(fake: Any) -> None:
    server = await fake("tc")
    client = DnsClient([server.address], timeout=1)
    reply = dns.message.from_wire(await client.resolve("big.example.org.", 1))
    assert not reply.flags & dns.flags.TC and len(reply.answer[0]) == 40
    assert server.udp_queries == 1 and server.tcp_queries == 1


async def test_stray_datagrams_are_ignored(fake: Any) -> None:
    server = await fake("wrong-id-first")
    client = DnsClient([server.address], timeout=1)
    query_id_reply = dns.message.from_wire(await client.resolve("www.example.org.", 1))
    assert query_id_reply.answer


async def test_all_failing_raises_with_every_reason(fake: Any) -> None:
    silent, failing = await fake("silent"), await fake("servfail")
    client = DnsClient([silent.address, failing.address, closed_port()], timeout=0.1, attempts=2)
    with pytest.raises(ServersFailed) as caught:
        await client.resolve("www.example.org.", 1)
    failures = caught.value.failures
    assert len(failures) == 6
    assert failures[0].startswith(f"{HOST}:{silent.port}: ")
    assert failures[0].endswith("timed out") and failures[1].endswith("answered rcode 2")
    assert failures[2].endswith("connection refused")
    assert silent.udp_queries == 2 and failing.udp_queries == 2


async def test_explicit_targets_replace_the_configured_servers(fake: Any) -> None:
    configured, target = await fake(), await fake()
    client = DnsClient([configured.address], timeout=1)
    await client.resolve("www.partner.test.", 1, targets=[target.address])
    assert configured.udp_queries == 0 and target.udp_queries == 1
    with pytest.raises(ServersFailed, match="no upstream servers"):
        await DnsClient([]).resolve("x.", 1)


async def test_truncated_over_tcp_too_sends_failover_on(fake: Any) -> None:
    broken, good = await fake("tc-tcp-too"), await fake()
    client = DnsClient([broken.address, good.address], timeout=1)
    reply = dns.message.from_wire(await client.resolve("big.example.org.", 1))
    assert reply.answer and broken.tcp_queries == 1 and good.udp_queries == 1
    with pytest.raises(ServersFailed, match="truncated reply over TCP"):
        await DnsClient([broken.address], timeout=1, attempts=1).resolve("big.example.org.", 1)


# --------------------------------------------------------------------------- one exchange, both drivers


@pytest.fixture(params=["blocking", "async"])
def exchange(request: pytest.FixtureRequest) -> Any:
    """``exchange(client, server, query, **options)``: the blocking driver (in a thread: the fake servers
    run in this loop) or the async one; the same cases must come out the same."""

    async def run(client: DnsClient, server: tuple[str, int], query: bytes, **options: Any) -> Response:
        if request.param == "blocking":
            return await asyncio.to_thread(client.exchange, server, query, **options)
        return await client.exchange_async(server, query, **options)

    return run


async def test_exchange_over_udp(fake: Any, exchange: Any) -> None:
    server = await fake()
    client = DnsClient(timeout=2)
    query = client.make_query("www.example.org.", 1, subnet="10.1.0.0/24")
    response = await exchange(client, server.address, query)
    assert not response.tcp and response.transport == "udp" and response.rcode == 0
    assert response.wire[:2] == query[:2]
    assert response.parse().answer[0].data == "192.0.2.1"
    assert server.peers == [("udp", HOST)]


async def test_exchange_retries_a_truncated_reply_over_tcp(fake: Any, exchange: Any) -> None:
    server = await fake("tc")
    client = DnsClient(timeout=2)
    response = await exchange(client, server.address, client.make_query("big.example.org.", 1))
    assert response.tcp and not response.truncated and len(response.parse().answer) == 40
    kept = await exchange(client, server.address, client.make_query("big.example.org.", 1), retry_truncated=False)
    assert not kept.tcp and kept.truncated and not kept.parse().answer
    assert (server.udp_queries, server.tcp_queries) == (2, 1)


async def test_exchange_over_tcp_from_the_start(fake: Any, exchange: Any) -> None:
    server = await fake()
    client = DnsClient(timeout=2)
    response = await exchange(client, server.address, client.make_query("www.example.org.", 1), tcp=True)
    assert response.tcp and (server.udp_queries, server.tcp_queries) == (0, 1)


async def test_exchange_from_a_source_address(fake: Any, exchange: Any) -> None:
    server = await fake("tc")
    client = DnsClient(timeout=2, source="127.0.3.9")  # any 127.x.y.z is this host's
    await exchange(client, server.address, client.make_query("www.example.org.", 1))
    assert server.peers == [("udp", "127.0.3.9"), ("tcp", "127.0.3.9")]


async def test_exchange_ignores_strays_and_names_them_on_timeout(fake: Any, exchange: Any) -> None:
    server = await fake("wrong-id-first")
    client = DnsClient(timeout=2)
    query = client.make_query("www.example.org.", 1)
    assert (await exchange(client, server.address, query)).wire[:2] == query[:2]
    silent = await fake("silent")
    with pytest.raises(ExchangeTimeout) as caught:
        await exchange(DnsClient(timeout=0.2), silent.address, query)
    assert isinstance(caught.value, TimeoutError) and caught.value.reason == "timeout"
    assert str(caught.value) == "timed out"


async def test_exchange_timeout_names_what_it_ignored(fake: Any, exchange: Any) -> None:
    server = await fake("strays-only")
    client = DnsClient(timeout=0.3)
    with pytest.raises(ExchangeTimeout, match=r"^ignored a malformed message \(.*\), then timed out$"):
        await exchange(client, server.address, client.make_query("www.example.org.", 1))  # the last: garbage


async def test_exchange_refused_fails_at_once(exchange: Any) -> None:
    client = DnsClient(timeout=5)
    started = time.monotonic()
    with pytest.raises(ExchangeError) as caught:
        await exchange(client, closed_port(), client.make_query("www.example.org.", 1))
    assert caught.value.reason == "refused" and str(caught.value) == "connection refused"
    assert time.monotonic() - started < 4  # ICMP port unreachable, not the timeout


async def test_exchange_refuses_a_stranger_over_tcp(fake: Any, exchange: Any) -> None:
    server = await fake("tc-tcp-stranger")
    client = DnsClient(timeout=5)
    with pytest.raises(ExchangeError, match=r"^the TCP reply is a reply with ID \d+, not ours") as caught:
        await exchange(client, server.address, client.make_query("www.example.org.", 1))
    assert caught.value.reason == "error" and not isinstance(caught.value, TimeoutError)
