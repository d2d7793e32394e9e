"""The forwarding client against fake DNS servers on loopback (UDP and TCP, each with a behaviour)."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from dnsemu.dns.upstream import UpstreamClient, UpstreamError, build_query
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
        self.transport: Any = None
        self.tcp: asyncio.base_events.Server | None = None
        self.port = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.udp_queries += 1
        b = self.behaviour
        if b == "silent":
            return
        if b == "tc":
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
        else:
            self.transport.sendto(answer(data), addr)

    async def handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                data = await reader.readexactly(length)
                self.tcp_queries += 1
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


def test_build_query_is_a_recursive_edns_query() -> None:
    message = dns.message.from_wire(build_query("www.example.org.", 28, 0x1234, 1232))
    assert message.id == 0x1234 and message.flags == dns.flags.RD
    assert message.edns == 0 and message.payload == 1232 and not message.ednsflags & dns.flags.DO
    assert str(message.question[0].name) == "www.example.org." and message.question[0].rdtype == 28
    plain = dns.message.from_wire(build_query("a\\.b.example.", 1, 1, edns=False))
    assert plain.edns == -1 and plain.question[0].name.labels[0] == b"a.b"


async def test_answer_from_the_first_server(fake: Any) -> None:
    server = await fake()
    client = UpstreamClient([server.address], timeout=1)
    reply = dns.message.from_wire(await client.resolve("www.example.org.", 1))
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer[0][0].to_text() == "192.0.2.1"
    assert server.udp_queries == 1 and server.tcp_queries == 0


async def test_failover_past_a_silent_server(fake: Any) -> None:
    silent, good = await fake("silent"), await fake()
    client = UpstreamClient([silent.address, good.address], timeout=0.2)
    started = time.monotonic()
    reply = dns.message.from_wire(await client.resolve("www.example.org.", 1))
    assert reply.answer and time.monotonic() - started >= 0.2
    assert silent.udp_queries == 1 and good.udp_queries == 1


async def test_failover_past_servfail_and_a_closed_port(fake: Any) -> None:
    failing, good = await fake("servfail"), await fake()
    client = UpstreamClient([closed_port(), failing.address, good.address], timeout=2)
    started = time.monotonic()
    reply = dns.message.from_wire(await client.resolve("www.example.org.", 1))
    assert reply.answer and time.monotonic() - started < 1.5  # the closed port fails at once (ICMP)


async def test_nxdomain_is_an_answer_not_a_failure(fake: Any) -> None:
    nx, good = await fake("nxdomain"), await fake()
    client = UpstreamClient([nx.address, good.address], timeout=1)
    reply = dns.message.from_wire(await client.resolve("nope.example.org.", 1))
    assert reply.rcode() == dns.rcode.NXDOMAIN and good.udp_queries == 0


async def test_truncated_udp_is_retried_over_tcp(fake: Any) -> None:
    server = await fake("tc")
    client = UpstreamClient([server.address], timeout=1)
    reply = dns.message.from_wire(await client.resolve("big.example.org.", 1))
    assert not reply.flags & dns.flags.TC and len(reply.answer[0]) == 40
    assert server.udp_queries == 1 and server.tcp_queries == 1


async def test_stray_datagrams_are_ignored(fake: Any) -> None:
    server = await fake("wrong-id-first")
    client = UpstreamClient([server.address], timeout=1)
    query_id_reply = dns.message.from_wire(await client.resolve("www.example.org.", 1))
    assert query_id_reply.answer


async def test_all_failing_raises_with_every_reason(fake: Any) -> None:
    silent, failing = await fake("silent"), await fake("servfail")
    client = UpstreamClient([silent.address, failing.address, closed_port()], timeout=0.1, attempts=2)
    with pytest.raises(UpstreamError) as caught:
        await client.resolve("www.example.org.", 1)
    failures = caught.value.failures
    assert len(failures) == 6
    assert failures[0].endswith("timed out") and failures[1].endswith("answered rcode 2")
    assert failures[2].endswith("connection refused")
    assert silent.udp_queries == 2 and failing.udp_queries == 2


async def test_explicit_targets_replace_the_configured_servers(fake: Any) -> None:
    configured, target = await fake(), await fake()
    client = UpstreamClient([configured.address], timeout=1)
    await client.resolve("www.partner.test.", 1, targets=[target.address])
    assert configured.udp_queries == 0 and target.udp_queries == 1
    with pytest.raises(UpstreamError, match="no upstream servers"):
        await UpstreamClient([]).resolve("x.", 1)
