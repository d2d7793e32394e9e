"""The DNS client of dnsemu: one query to one server, blocking or in an event loop, and failover for forwarding.

Four users, one client: the forwarder (:mod:`dnsemu.server.forwarding`,
:meth:`DnsClient.resolve` from the server's event loop), ``dnsemu query``
(:mod:`dnsemu.cli.query`, :meth:`DnsClient.exchange`, blocking), ``dnsemu capture``
(:mod:`dnsemu.cli.capture`, blocking, from a chosen ``source``, recording the
address each query left from: :attr:`Response.local`, :attr:`ExchangeError.local`)
and the test fixture (:mod:`dnsemu.testing`, :meth:`DnsClient.exchange_async`).

One exchange (:meth:`~DnsClient.exchange`, :meth:`~DnsClient.exchange_async`):

* UDP from a connected socket (a random source port, or from ``source`` when
  the client has one; the kernel then drops datagrams from anyone but the
  server), asked again over TCP (RFC 7766 length prefix) when the reply is
  truncated; or TCP from the start with ``tcp=True``;
* a reply counts only when it is a response with our ID and our question
  (the name compared without case, RFC 5452); anything else arriving over
  UDP is ignored, and named in the timeout's message;
* one deadline, ``timeout`` seconds, for the whole exchange, UDP and TCP;
* :class:`ExchangeError` (an ``OSError``; :class:`ExchangeTimeout` is also a
  ``TimeoutError``) when no usable reply arrives, with a ``reason`` of
  ``timeout``, ``refused`` (ICMP port unreachable, or TCP refused), ``network``
  or ``error`` (the server broke the protocol).

Failover (:meth:`~DnsClient.resolve`): for each of ``attempts`` rounds, each
server in order; a server that fails the exchange, answers with one of
:data:`RETRY_RCODES` or truncates over TCP is skipped for the next. When every
try failed, :class:`ServersFailed` lists why, one line each.

The sync and async drivers share everything but their sockets: the query, the
matching of replies (:class:`_Pending`) and the errors. The async UDP exchange
is built on asyncio-dgram, which costs a queue hop per datagram: nothing next
to a network round trip, and the server's own receive path does not use it
(see :mod:`dnsemu.server.transport`). asyncio and asyncio-dgram are imported
by the async exchange when it first runs: ``dnsemu query``, the container's
health check, never starts an event loop and stays at the standard library's
start-up cost.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dnsemu.dns.addresses import Address, format_hostport
from dnsemu.dns.message import UDP_PAYLOAD, Reply, build_query, is_reply_to, mismatch, parse_reply
from dnsemu.dns.records import Rcode

if TYPE_CHECKING:
    import asyncio_dgram

__all__ = ["RETRY_RCODES", "DnsClient", "ExchangeError", "ExchangeTimeout", "Response", "ServersFailed",
           "failover_reason"]

#: rcodes that send failover on to the next server
RETRY_RCODES = frozenset({Rcode.FORMERR, Rcode.SERVFAIL, Rcode.NOTIMP, Rcode.REFUSED})

_U16 = struct.Struct("!H")


class ExchangeError(OSError):
    """No usable reply from one server. ``reason``: ``timeout``, ``refused``, ``network`` or ``error``."""

    #: the address the query left from, when a socket got that far (``dnsemu capture`` records it)
    local: str | None = None

    def __init__(self, message: str, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class ExchangeTimeout(ExchangeError, TimeoutError):
    """No reply in time (a ``TimeoutError`` too)."""

    def __init__(self, message: str = "timed out") -> None:
        super().__init__(message, "timeout")


class ServersFailed(Exception):
    """Every try of a failover failed; ``failures`` is one line per try (``server: why``)."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        super().__init__("; ".join(failures) or "no upstream servers")


@dataclass(frozen=True)
class Response:
    """The reply of one exchange: its bytes, whether TCP carried it, and the address it was asked from.

    ``local`` is the local address of the last socket of the exchange (blocking exchanges; None from
    the async ones).
    """

    wire: bytes
    tcp: bool
    local: str | None = None

    @property
    def transport(self) -> str:
        return "tcp" if self.tcp else "udp"

    @property
    def rcode(self) -> int:
        """The header's rcode (4 bits; an extended rcode needs :meth:`parse`)."""
        return self.wire[3] & 0x0F

    @property
    def truncated(self) -> bool:
        return bool(self.wire[2] & 0x02)

    def parse(self) -> Reply:
        """The reply, read by :func:`dnsemu.dns.message.parse_reply` (``MessageError`` when malformed)."""
        return parse_reply(self.wire)


class _Pending:
    """One query waiting for its reply: what the blocking and the async drivers share."""

    __slots__ = ("ignored", "local", "query")

    def __init__(self, query: bytes) -> None:
        self.query = query
        self.ignored: bytes | None = None  # the last datagram that was not our reply
        self.local: str | None = None  # the address the last socket sent from

    def sent_from(self, sock: socket.socket) -> None:
        self.local = str(sock.getsockname()[0]).split("%", 1)[0]

    def takes(self, data: bytes) -> bool:
        """True when ``data`` is the reply; otherwise it is remembered for the timeout's message."""
        if is_reply_to(data, self.query):
            return True
        self.ignored = data
        return False

    def tcp_reply(self, data: bytes) -> bytes:
        """A message over our own TCP connection must be the reply: anything else is an error at once."""
        if not is_reply_to(data, self.query):
            raise ExchangeError(f"the TCP reply is {mismatch(data, self.query)}")
        return data

    def timed_out(self) -> ExchangeTimeout:
        if self.ignored is None:
            return ExchangeTimeout()
        return ExchangeTimeout(f"ignored {mismatch(self.ignored, self.query)}, then timed out")


def _os_error(exc: OSError) -> ExchangeError:
    if isinstance(exc, ConnectionRefusedError):
        return ExchangeError("connection refused", "refused")
    return ExchangeError(exc.strerror or str(exc) or type(exc).__name__, "network")


class DnsClient:
    """Queries to DNS servers; see the module docstring.

    ``servers`` are the failover list of :meth:`resolve`; ``timeout`` bounds one
    exchange; ``source`` is the address to send from (any port), or None for
    the kernel's choice; ``udp_size`` is the EDNS payload size the queries offer.
    """

    def __init__(self, servers: Sequence[Address] = (), *, timeout: float = 2.0, attempts: int = 2,
                 udp_size: int = UDP_PAYLOAD, source: str | None = None) -> None:
        self.servers = tuple(servers)
        self.timeout = timeout
        self.attempts = attempts
        self.udp_size = udp_size
        self.source = source

    def make_query(self, name: str, qtype: int, *, subnet: str | None = None) -> bytes:
        """A recursive EDNS query with a random ID (and ECS for ``subnet``)."""
        return build_query(name, qtype, int.from_bytes(os.urandom(2), "big"), udp_size=self.udp_size,
                           subnet=subnet)

    # ------------------------------------------------------------------ blocking

    def exchange(self, server: Address, query: bytes, *, tcp: bool = False,
                 retry_truncated: bool = True) -> Response:
        """Send ``query`` to ``server`` and wait for its reply (blocking); see the module docstring.

        ``server``'s host may be a name (resolved by the system). With
        ``retry_truncated`` off, a truncated UDP reply is returned as it is.
        """
        pending = _Pending(query)
        deadline = time.monotonic() + self.timeout
        try:
            if not tcp:
                data = self._udp(pending, server, deadline)
                if not (retry_truncated and data[2] & 0x02):
                    return Response(data, False, pending.local)
            return Response(self._tcp(pending, server, deadline), True, pending.local)
        except ExchangeError as exc:
            exc.local = pending.local or self.source
            raise
        except TimeoutError:
            problem = pending.timed_out()
            problem.local = pending.local or self.source
            raise problem from None
        except OSError as exc:
            problem = _os_error(exc)
            problem.local = pending.local or self.source
            raise problem from None

    def _socket(self, server: Address, kind: int, *, numeric: bool = False) -> tuple[socket.socket, Any]:
        """A socket for ``server`` (bound to ``source``) and the address to connect it to."""
        infos = socket.getaddrinfo(server[0], server[1], type=kind, flags=socket.AI_NUMERICHOST if numeric else 0)
        if not infos:  # pragma: no cover - getaddrinfo raises instead
            raise ExchangeError(f"cannot resolve {server[0]!r}", "network")
        family, _type, _proto, _canonical, sockaddr = infos[0]
        sock = socket.socket(family, kind)
        try:
            if self.source is not None:
                sock.bind((self.source, 0))
        except OSError:
            sock.close()
            raise
        return sock, sockaddr

    def _udp(self, pending: _Pending, server: Address, deadline: float) -> bytes:
        sock, sockaddr = self._socket(server, socket.SOCK_DGRAM)
        with sock:
            sock.connect(sockaddr)
            pending.sent_from(sock)
            sock.send(pending.query)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                data = sock.recv(65535)
                if pending.takes(data):
                    return data

    def _tcp(self, pending: _Pending, server: Address, deadline: float) -> bytes:
        sock, sockaddr = self._socket(server, socket.SOCK_STREAM)
        with sock:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.connect(sockaddr)
            pending.sent_from(sock)
            sock.sendall(_U16.pack(len(pending.query)) + pending.query)
            (length,) = _U16.unpack(_read_exactly(sock, 2, deadline))
            return pending.tcp_reply(_read_exactly(sock, length, deadline))

    # ------------------------------------------------------------------ in an event loop

    async def exchange_async(self, server: Address, query: bytes, *, tcp: bool = False,
                             retry_truncated: bool = True) -> Response:
        """:meth:`exchange` without blocking the running event loop (``server``'s host: an IP address)."""
        import asyncio

        import asyncio_dgram

        pending = _Pending(query)
        try:
            async with asyncio.timeout(self.timeout):
                if not tcp:
                    data = await self._udp_async(pending, server)
                    if not (retry_truncated and data[2] & 0x02):
                        return Response(data, False)
                return Response(await self._tcp_async(pending, server), True)
        except ExchangeError:
            raise
        except TimeoutError:
            raise pending.timed_out() from None
        except OSError as exc:
            raise _os_error(exc) from None
        except asyncio_dgram.TransportClosed:
            raise ExchangeError("the UDP socket closed before a reply") from None

    async def _udp_async(self, pending: _Pending, server: Address) -> bytes:
        import asyncio_dgram

        if self.source is None:
            stream = await asyncio_dgram.connect(server)
        else:
            sock, sockaddr = self._socket(server, socket.SOCK_DGRAM, numeric=True)  # never blocks the loop
            try:
                sock.setblocking(False)
                sock.connect(sockaddr)  # an IP address: no lookup, no wait
                stream = await asyncio_dgram.from_socket(sock)
            except BaseException:
                sock.close()
                raise
        try:
            await stream.send(pending.query)
            while True:
                data = await _recv(stream)
                if pending.takes(data):
                    return data
        finally:
            stream.close()

    async def _tcp_async(self, pending: _Pending, server: Address) -> bytes:
        import asyncio

        local = (self.source, 0) if self.source is not None else None
        reader, writer = await asyncio.open_connection(server[0], server[1], local_addr=local)
        try:
            writer.write(_U16.pack(len(pending.query)) + pending.query)
            await writer.drain()
            try:
                (length,) = _U16.unpack(await reader.readexactly(2))
                return pending.tcp_reply(await reader.readexactly(length))
            except asyncio.IncompleteReadError as exc:
                expected = exc.expected if exc.expected is not None else "more"
                raise ExchangeError(f"the server closed the connection after {len(exc.partial)} of "
                                    f"{expected} octets") from None
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    # ------------------------------------------------------------------ failover

    async def resolve(self, name: str, qtype: int, targets: Sequence[Address] = ()) -> bytes:
        """The first usable reply to ``name``/``qtype`` from ``targets`` (default: the client's servers).

        Raises :class:`ServersFailed` when every try failed.
        """
        servers = tuple(targets) or self.servers
        if not servers:
            raise ServersFailed(["no upstream servers configured"])
        failures: list[str] = []
        for _ in range(self.attempts):
            for server in servers:
                try:
                    response = await self.exchange_async(server, self.make_query(name, qtype))
                except ExchangeError as exc:
                    failures.append(f"{format_hostport(*server)}: {exc}")
                    continue
                unusable = failover_reason(response)
                if unusable is not None:
                    failures.append(f"{format_hostport(*server)}: {unusable}")
                    continue
                return response.wire
        raise ServersFailed(failures)


def failover_reason(response: Response) -> str | None:
    """Why failover skips a server that replied (an rcode in :data:`RETRY_RCODES`, TC over TCP), or None."""
    if response.rcode in RETRY_RCODES:
        return f"answered rcode {response.rcode}"
    if response.tcp and response.truncated:
        return "truncated reply over TCP"
    return None


def _read_exactly(sock: socket.socket, count: int, deadline: float) -> bytes:
    out = bytearray()
    while len(out) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(count - len(out))
        if not chunk:
            raise ExchangeError(f"the server closed the connection after {len(out)} of {count} octets")
        out += chunk
    return bytes(out)


async def _recv(stream: asyncio_dgram.DatagramClient) -> bytes:
    """``stream.recv()``, except that a socket error (ICMP port unreachable) ends the wait at once.

    asyncio-dgram queues an error that arrives while ``recv`` waits and raises it
    only on the next call, so a closed port would otherwise cost the whole timeout.
    """
    import asyncio

    task = asyncio.ensure_future(stream.recv())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.02)
            if done:
                return task.result()[0]
            _ = stream.exception  # raises the queued error, if there is one
    finally:
        task.cancel()
