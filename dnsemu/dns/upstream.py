"""The forwarding client: one question to a list of DNS servers, the first good reply back.

Used for the configured upstream servers (names outside the topology) and for
the servers a topology declares external. For each attempt round, each server
in order: a UDP query (asyncio-dgram, a connected socket with a random source
port and a random ID), retried over TCP when the reply is truncated; a server
that times out, refuses the connection or answers SERVFAIL/REFUSED/FORMERR/
NOTIMP is skipped for the next. When every server failed,
:class:`UpstreamError` says why each one did.

A reply is accepted only when it is a response, carries our ID and echoes our
question (name compared without case), so a stray or spoofed datagram is
ignored rather than taken. asyncio-dgram costs a queue hop per datagram, which
does not matter here (one or two datagrams per forwarded query) and keeps this
client short; the server's receive path does not use it (see transport.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import struct
from collections.abc import Sequence

import asyncio_dgram

from dnsemu.dns import names

__all__ = ["UpstreamClient", "UpstreamError", "build_query"]

_HEADER = struct.Struct("!HHHHHH")
_U16 = struct.Struct("!H")
#: FORMERR, SERVFAIL, NOTIMP, REFUSED: rcodes that send the client on to the next server
RETRY_RCODES = frozenset({1, 2, 4, 5})
_QR, _TC = 0x8000, 0x0200

Server = tuple[str, int]


class UpstreamError(Exception):
    """Every server failed; ``failures`` is one line per try."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        super().__init__("; ".join(failures) or "no upstream servers")


def name_wire(name: str) -> bytes:
    return b"".join(bytes((len(label),)) + label for label in names.to_labels(name)) + b"\x00"


def build_query(name: str, qtype: int, ident: int, udp_size: int = 1232, *, edns: bool = True) -> bytes:
    """A recursive query (RD=1) for ``name``/``qtype``, with an EDNS(0) OPT unless ``edns`` is off."""
    header = _HEADER.pack(ident, 0x0100, 1, 0, 0, 1 if edns else 0)
    question = name_wire(name) + struct.pack("!HH", qtype, 1)
    opt = struct.pack("!BHHIH", 0, 41, udp_size, 0, 0) if edns else b""
    return header + question + opt


def _matches(reply: bytes, query: bytes) -> bool:
    """A response to ``query``: QR set, the same ID, the same question (case-insensitive)."""
    if len(reply) < 12 or reply[:2] != query[:2] or not reply[2] & 0x80:
        return False
    if reply[4:6] != b"\x00\x01":
        return False
    end = len(query) - _opt_len(query)  # where the question of our query ends
    return reply[12:end].lower() == query[12:end].lower()


def _opt_len(query: bytes) -> int:
    return 11 if query[11] else 0


class UpstreamClient:
    """Forward questions to ``servers`` (or to explicit targets), with timeouts and failover."""

    def __init__(self, servers: Sequence[Server] = (), *, timeout: float = 1.5, attempts: int = 2,
                 udp_size: int = 1232, tcp_max: int = 65535) -> None:
        self.servers = tuple(servers)
        self.timeout = timeout
        self.attempts = attempts
        self.udp_size = udp_size
        self.tcp_max = tcp_max

    async def resolve(self, name: str, qtype: int, targets: Sequence[Server] = ()) -> bytes:
        """The first acceptable reply from ``targets`` (default: the configured servers)."""
        servers = tuple(targets) or self.servers
        if not servers:
            raise UpstreamError(["no upstream servers configured"])
        failures: list[str] = []
        for _ in range(self.attempts):
            for server in servers:
                query = build_query(name, qtype, secrets.randbits(16), self.udp_size)
                try:
                    reply = await self.exchange(server, query)
                except (TimeoutError, OSError, asyncio_dgram.TransportClosed, _Unusable) as exc:
                    failures.append(f"{_fmt(server)}: {_describe(exc)}")
                    continue
                rcode = reply[3] & 0xF
                if rcode in RETRY_RCODES:
                    failures.append(f"{_fmt(server)}: answered rcode {rcode}")
                    continue
                return reply
        raise UpstreamError(failures)

    async def exchange(self, server: Server, query: bytes) -> bytes:
        """One query to one server: UDP, then TCP when the UDP reply is truncated."""
        reply = await asyncio.wait_for(self._udp(server, query), self.timeout)
        if reply[2] & 0x02:  # TC
            reply = await asyncio.wait_for(self._tcp(server, query), self.timeout)
        return reply

    async def _udp(self, server: Server, query: bytes) -> bytes:
        stream = await asyncio_dgram.connect(server)
        try:
            await stream.send(query)
            while True:
                data = await _recv(stream)
                if _matches(data, query):
                    return data
        finally:
            stream.close()

    async def _tcp(self, server: Server, query: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(server[0], server[1])
        try:
            writer.write(_U16.pack(len(query)) + query)
            await writer.drain()
            while True:
                (length,) = _U16.unpack(await reader.readexactly(2))
                data = await reader.readexactly(length)
                if _matches(data, query):
                    if data[2] & 0x02:
                        raise _Unusable("truncated reply over TCP")
                    return data
        except asyncio.IncompleteReadError:
            raise _Unusable("connection closed before a full reply") from None
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class _Unusable(Exception):
    pass


async def _recv(stream: asyncio_dgram.DatagramClient) -> bytes:
    """``stream.recv()``, except that a socket error (ICMP port unreachable) ends the wait at once.

    asyncio-dgram queues an error that arrives while ``recv`` waits and raises it
    only on the next call, so a closed port would otherwise cost the whole timeout.
    """
    task = asyncio.ensure_future(stream.recv())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.02)
            if done:
                return task.result()[0]
            _ = stream.exception  # raises the queued error, if there is one
    finally:
        task.cancel()


def _fmt(server: Server) -> str:
    host, port = server
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__
