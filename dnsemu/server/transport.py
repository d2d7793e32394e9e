"""Sockets to handler and back: UDP and TCP framing, limits, backpressure. No DNS semantics.

Both transports call ``handler(data, addr, tcp) -> bytes | None | awaitable`` and
send what it gives back; an awaitable (an answer waiting for an upstream server)
runs as a task registered in :class:`ServerState` so that shutdown can wait for it.

UDP, three receive paths:

* on Linux, batches (:mod:`dnsemu.server.mmsg`): on readiness, ``recvmmsg`` reads up to
  ``udp_batch`` datagrams with one system call and ``sendmmsg`` sends their
  replies with one more, on either event loop. The kernel's per-call cost is
  most of a cache hit's price, so this is the fastest path (benchmarks/README.md).
  On a wildcard address it also answers each query from the address it was sent
  to (IP_PKTINFO), which the other paths cannot: they log ``udp_wildcard_source``;
* otherwise on uvloop, a :class:`asyncio.DatagramProtocol` (uvloop reads with a small
  buffer in C: about 4 µs per query end to end in the peer benchmark);
* otherwise on the stock loop, a non-blocking socket with ``loop.add_reader`` whose
  callback drains ``recvfrom_into`` a reused 64 KiB buffer until EAGAIN (or a
  batch limit, for fairness). The stock ``_SelectorDatagramTransport`` reads
  every datagram into a fresh 256 KiB buffer (mmap/munmap per packet), which
  the benchmark measured at 25 µs per query against 3.8 µs for the drain loop.

Replies that meet a full socket buffer wait in a bounded queue drained by
``add_writer`` (beyond it they are dropped and counted, as UDP allows).
asyncio-dgram is not used on this path: its queue and two awaits per datagram
cost 30-40 % of throughput in the same benchmark.

TCP (RFC 7766) is an :class:`asyncio.Protocol` per connection: any number of
length-prefixed messages per connection, pipelined and answered as each
completes (cache hits at once, forwarded ones when the upstream replies); at
most ``max_pipelined`` in flight before reading pauses; an idle timeout that only
complete messages and written replies reset (a client trickling a byte at a time
does not keep its slot); a maximum message size; a maximum number of
connections (beyond it new ones are closed at once); when the client stops
reading its replies the transport's write buffer fills, reading pauses, and a
client that stays stuck past the idle timeout is cut off. A connection handles
at most a batch of messages per loop iteration, so one busy client cannot starve
the others.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from dnsemu.logs import get_logger
from dnsemu.server import mmsg

__all__ = ["HandlerFn", "ServerState", "TcpConnection", "UdpEndpoint", "start_tcp", "start_udp"]

HandlerFn = Callable[[bytes, Any, bool], "bytes | Awaitable[bytes | None] | None"]
#: ancillary data for ``socket.sendmsg``: the packet info that makes a reply leave from the address asked
_Ancillary = Sequence[tuple[int, int, bytes]]

_U16 = struct.Struct("!H")
_UDP_BATCH = 256  # datagrams per readiness callback before yielding to the loop
_UDP_SEND_QUEUE = 4096  # replies waiting for socket buffer space
_TCP_BATCH = 64  # messages handled per data_received before yielding
_log = get_logger("dnsemu.transport")


class ServerState:
    """What shutdown needs to see: live TCP connections and in-flight tasks; plus transport counters."""

    def __init__(self) -> None:
        self.connections: set[TcpConnection] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.counters: dict[str, int] = {
            "udp_send_dropped": 0, "tcp_rejected": 0, "tcp_oversize": 0, "tcp_idle_closed": 0,
            "tcp_accepted": 0, "handler_raised": 0,
        }
        self.accepting = True

    def in_flight(self) -> int:
        """Queries received and not answered yet: those waiting for an upstream server (a task each) and
        complete TCP messages read but waiting for a free pipeline slot or the next turn of the loop.

        A query answered at once (a cache hit, anything resolved from the topology) is answered within the
        callback that read it, so no scrape ever sees it in flight. Safe from another thread: it only reads.
        """
        return len(self.tasks) + sum(conn.queued() for conn in list(self.connections))

    def spawn(self, awaitable: Awaitable[bytes | None], done: Callable[[bytes | None], None]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(awaitable)
        self.tasks.add(task)

        def finished(t: asyncio.Task[Any]) -> None:
            self.tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                self.counters["handler_raised"] += 1
                _log.error("internal_error", where="task", error=repr(exc))
                return
            done(t.result())

        task.add_done_callback(finished)
        return task


# --------------------------------------------------------------------------- UDP


class UdpEndpoint:
    """One bound UDP socket being served; :meth:`close` stops it."""

    def __init__(self, sock: socket.socket, handler: HandlerFn, state: ServerState) -> None:
        self.sock = sock
        self.handler = handler
        self.state = state
        self.mode = ""
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _UdpProtocol | None = None
        self._buf = bytearray(65535)
        self._view = memoryview(self._buf)
        self._pending: collections.deque[tuple[bytes, Any, _Ancillary]] = collections.deque()
        self._writing = False
        self._closed = False
        self._batch: mmsg.Batch | None = None

    async def start(self, prefer_protocol: bool, batch: int = 0) -> None:
        self.sock.setblocking(False)
        wildcard = self.sock.getsockname()[0] in ("0.0.0.0", "::")
        if batch > 1 and mmsg.available():
            try:
                # on a wildcard address, answer from the address each query was sent to (IP_PKTINFO)
                self._batch = mmsg.Batch(self.sock, size=batch, pktinfo=wildcard)
                self._loop.add_reader(self.sock.fileno(), self._on_readable_batch)
                self.mode = "recvmmsg"
                return
            except (OSError, NotImplementedError):
                self._batch = None
        if wildcard:
            _log.warning("udp_wildcard_source", address=self.sock.getsockname()[0],
                         detail="without recvmmsg batches, UDP replies leave from the address the kernel routes "
                                "by, which on a host with several addresses may not be the one a client asked")
        if not prefer_protocol:
            try:
                self._loop.add_reader(self.sock.fileno(), self._on_readable)
                self.mode = "add_reader"
                return
            except NotImplementedError:  # e.g. the Windows proactor loop
                pass
        transport, protocol = await self._loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=self.sock)
        self._protocol = protocol
        if hasattr(transport, "max_size"):  # the stock selector transport: no 256 KiB per datagram
            transport.max_size = 65535  # type: ignore[attr-defined]
        self._transport = transport
        self.mode = "protocol"

    # -- add_reader path

    def _on_readable(self) -> None:
        sock, view, handler = self.sock, self._view, self.handler
        recv = sock.recvfrom_into
        for _ in range(_UDP_BATCH):
            try:
                n, addr = recv(self._buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                if self._closed:
                    return
                continue  # an ICMP error reported on the socket: nothing to answer
            data = view[:n].tobytes()
            result = handler(data, addr, False)
            if result is None:
                continue
            if result.__class__ is bytes:
                self._send(result, addr)  # type: ignore[arg-type]
            else:
                self.state.spawn(result, lambda reply, addr=addr: self._send_later(reply, addr))  # type: ignore[arg-type]

    # -- recvmmsg/sendmmsg path (Linux)

    def _on_readable_batch(self) -> None:
        batch = self._batch
        assert batch is not None
        for _ in range(max(1, _UDP_BATCH // batch.size)):
            try:
                if batch.run(self.handler, self._answer_later, self._send) < batch.size:
                    return
            except OSError:
                if self._closed:
                    return
                # an ICMP error reported on the socket: nothing to answer; read on

    def _answer_later(self, result: Awaitable[bytes | None], addr: Any, ancillary: _Ancillary) -> None:
        self.state.spawn(result, lambda reply: self._send_later(reply, addr, ancillary))

    def _send(self, reply: bytes, addr: Any, ancillary: _Ancillary = ()) -> None:
        """Send now, or queue if the socket buffer is full; ``ancillary``: the source address to use."""
        if self._pending:
            self._queue(reply, addr, ancillary)
            return
        try:
            self._sendto(reply, addr, ancillary)
        except (BlockingIOError, InterruptedError):
            self._queue(reply, addr, ancillary)
        except OSError:
            pass  # the client's address is unreachable: nothing to do for UDP

    def _sendto(self, reply: bytes, addr: Any, ancillary: _Ancillary) -> None:
        if ancillary:
            self.sock.sendmsg([reply], ancillary, 0, addr)
        else:
            self.sock.sendto(reply, addr)

    def _send_later(self, reply: bytes | None, addr: Any, ancillary: _Ancillary = ()) -> None:
        if reply is None or self._closed:
            return
        if self._transport is not None:
            self._transport.sendto(reply, addr)
        else:
            self._send(reply, addr, ancillary)

    def _queue(self, reply: bytes, addr: Any, ancillary: _Ancillary) -> None:
        if len(self._pending) >= _UDP_SEND_QUEUE:
            self.state.counters["udp_send_dropped"] += 1
            return
        self._pending.append((reply, addr, ancillary))
        if not self._writing:
            self._writing = True
            self._loop.add_writer(self.sock.fileno(), self._on_writable)

    def _on_writable(self) -> None:
        pending = self._pending
        while pending:
            reply, addr, ancillary = pending[0]
            try:
                self._sendto(reply, addr, ancillary)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                pass
            pending.popleft()
        self._loop.remove_writer(self.sock.fileno())
        self._writing = False

    def stop_receiving(self) -> None:
        """Drop every new datagram; replies still in flight can be sent until :meth:`close`."""
        self.handler = _drop
        if self._protocol is not None:
            self._protocol._handler = _drop

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._transport is not None:
            self._transport.close()
            return
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self.sock.fileno())
        if self._writing:
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self.sock.fileno())
        self.sock.close()


def _drop(data: bytes, addr: Any, tcp: bool) -> None:
    return None


class _UdpProtocol(asyncio.DatagramProtocol):
    __slots__ = ("_endpoint", "_handler", "_transport")

    def __init__(self, endpoint: UdpEndpoint) -> None:
        self._endpoint = endpoint
        self._handler = endpoint.handler
        self._transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        result = self._handler(data, addr, False)
        if result is None:
            return
        if result.__class__ is bytes:
            self._transport.sendto(result, addr)
        else:
            self._endpoint.state.spawn(result, lambda reply: self._endpoint._send_later(reply, addr))  # type: ignore[arg-type]

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors for earlier replies: nothing to answer


async def start_udp(sock: socket.socket, handler: HandlerFn, state: ServerState, batch: int = 0) -> UdpEndpoint:
    """Serve ``sock``: recvmmsg batches of ``batch`` where possible, else DatagramProtocol on uvloop, else
    the add_reader drain loop."""
    endpoint = UdpEndpoint(sock, handler, state)
    loop = asyncio.get_running_loop()
    await endpoint.start(prefer_protocol=type(loop).__module__.startswith("uvloop"), batch=batch)
    return endpoint


# --------------------------------------------------------------------------- TCP


class TcpLimits:
    __slots__ = ("idle_timeout", "max_connections", "max_message", "max_pipelined")

    def __init__(self, idle_timeout: float = 10.0, max_connections: int = 512, max_message: int = 16384,
                 max_pipelined: int = 64) -> None:
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.max_message = max_message
        self.max_pipelined = max_pipelined


class TcpConnection(asyncio.Protocol):
    """One DNS-over-TCP client connection (RFC 7766)."""

    def __init__(self, handler: HandlerFn, state: ServerState, limits: TcpLimits) -> None:
        self.handler = handler
        self.state = state
        self.limits = limits
        self.transport: asyncio.Transport | None = None
        self.peer: Any = None
        self._loop = asyncio.get_running_loop()
        self._buf = bytearray()
        self._inflight = 0
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._reading = True
        self._write_paused = False
        self._eof = False
        self._draining = False  # shutdown: no new queries, close after the in-flight ones
        self._scheduled = False
        self._closed = False

    # -- lifecycle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  (uvloop's is not an asyncio.Transport)
        state = self.state
        if not state.accepting or len(state.connections) >= self.limits.max_connections:
            state.counters["tcp_rejected"] += 1
            self._closed = True
            transport.abort()
            return
        state.counters["tcp_accepted"] += 1
        state.connections.add(self)
        self.peer = transport.get_extra_info("peername")
        transport.set_write_buffer_limits(high=65536)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._last = self._loop.time()
        self._timer = self._loop.call_later(self.limits.idle_timeout, self._idle_check)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.state.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def eof_received(self) -> bool:
        self._eof = True
        self._maybe_finish()
        return True  # keep the transport open to write the replies still owed

    def close(self) -> None:
        """Stop reading; close once the queries already received are answered (graceful)."""
        self._draining = True
        self._pause()
        self._buf.clear()
        self._maybe_finish()

    def abort(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.abort()

    def _maybe_finish(self) -> None:
        if (self._eof or self._draining) and self._inflight == 0 and not self._scheduled and not self._closed:
            self._closed = True
            assert self.transport is not None
            self.transport.close()  # flushes what is buffered, then closes

    def _idle_check(self) -> None:
        self._timer = None
        if self._closed:
            return
        now = self._loop.time()
        remaining = self._last + self.limits.idle_timeout - now
        if remaining > 0:
            self._timer = self._loop.call_later(remaining, self._idle_check)
            return
        if self._inflight and not self._write_paused:
            # waiting on an upstream: those queries have their own timeouts
            self._timer = self._loop.call_later(self.limits.idle_timeout, self._idle_check)
            return
        self.state.counters["tcp_idle_closed"] += 1
        assert self.transport is not None
        if self._write_paused:
            self.transport.abort()  # the client does not read its replies
        else:
            self._closed = True
            self.transport.close()

    def queued(self) -> int:
        """Complete messages in the read buffer, not yet handed to the handler (at most a buffer's worth)."""
        buf = bytes(self._buf)  # a snapshot: the loop may be appending
        count = pos = 0
        while len(buf) - pos >= 2:
            length = buf[pos] << 8 | buf[pos + 1]
            if length == 0 or len(buf) - pos < 2 + length:
                break
            count += 1
            pos += 2 + length
        return count

    # -- reading

    def data_received(self, data: bytes) -> None:
        if self._draining or self._closed:
            return
        self._buf += data
        if not self._scheduled:
            self._process()

    def _process(self) -> None:
        self._scheduled = False
        buf = self._buf
        limits = self.limits
        handled = pos = 0
        try:
            while len(buf) - pos >= 2 and not self._closed and not self._draining:
                length = buf[pos] << 8 | buf[pos + 1]
                if length == 0 or length > limits.max_message:
                    self.state.counters["tcp_oversize"] += 1
                    _log.debug("tcp_message_rejected", peer=str(self.peer), length=length)
                    self._closed = True
                    assert self.transport is not None
                    self.transport.abort()
                    return
                if len(buf) - pos < 2 + length:
                    break
                if handled >= _TCP_BATCH or self._inflight >= limits.max_pipelined:
                    # yield to the loop (or wait for in-flight answers); reading stays paused meanwhile
                    self._pause()
                    if self._inflight < limits.max_pipelined:
                        self._scheduled = True
                        self._loop.call_soon(self._process)
                    return
                message = bytes(buf[pos + 2 : pos + 2 + length])
                pos += 2 + length
                handled += 1
                self._last = self._loop.time()
                self._dispatch(message)
        finally:
            del buf[:pos]  # once per batch, not once per message
        if not self._write_paused and not self._draining:
            self._resume()
        self._maybe_finish()

    def _dispatch(self, message: bytes) -> None:
        result = self.handler(message, self.peer, True)
        if result is None:
            return
        if result.__class__ is bytes:
            self._write(result)  # type: ignore[arg-type]
            return
        self._inflight += 1
        self.state.spawn(result, self._answered)  # type: ignore[arg-type]

    def _answered(self, reply: bytes | None) -> None:
        self._inflight -= 1
        if reply is not None:
            self._write(reply)
        if self._buf and not self._scheduled and not self._closed and not self._draining:
            self._process()  # messages waited for a free pipeline slot
        elif not self._write_paused and not self._draining:
            self._resume()
        self._maybe_finish()

    def _write(self, reply: bytes) -> None:
        if self._closed or self.transport is None or self.transport.is_closing():
            return
        self.transport.write(_U16.pack(len(reply)) + reply)
        self._last = self._loop.time()

    # -- flow control

    def _pause(self) -> None:
        if self._reading and self.transport is not None and not self._closed:
            self._reading = False
            self.transport.pause_reading()

    def _resume(self) -> None:
        if not self._reading and self.transport is not None and not self._closed:
            self._reading = True
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._pause()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._last = self._loop.time()
        if self._buf and not self._scheduled:
            self._process()
        else:
            self._resume()


async def start_tcp(sock: socket.socket, handler: HandlerFn, state: ServerState,
                    limits: TcpLimits) -> asyncio.base_events.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: TcpConnection(handler, state, limits), sock=sock,
                                    backlog=min(1024, max(128, limits.max_connections)))
