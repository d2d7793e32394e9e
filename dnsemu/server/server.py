"""``DnsServer``: sockets, the query handler and shutdown; the topology's life is :mod:`~dnsemu.server.live`.

::

    async with DnsServer(settings) as server:      # binds every listen address
        print(server.addresses)                     # [("127.0.0.1", 40123)], port 0 resolved
        await server.reload()                        # recompile the topology, swap it atomically
    # stopped: in-flight queries answered (bounded), every socket closed

``serve_forever()`` adds what a process needs: SIGTERM/SIGINT stop it, SIGHUP
reloads (handlers are installed only on the main thread, and removed after),
and when ``watch`` is on a poller reloads when a topology file changes.

Binding: each listen address gets a UDP and a TCP socket on the same port. For
port 0 the UDP socket picks the port and TCP takes the same one, retrying with
a fresh port when TCP finds it taken. IPv6 sockets are IPV6_V6ONLY so that
``0.0.0.0`` and ``[::]`` can be served side by side. ``reuse_port`` (for
``--workers``) sets SO_REUSEPORT so that several processes share the port.

Reloads and run-time changes (:meth:`DnsServer.reload`, :meth:`DnsServer.apply_change`,
:meth:`DnsServer.reset_changes`; the HTTP API and :mod:`dnsemu.testing` call them) are
the :class:`~dnsemu.server.live.LiveTopology`'s: it builds each new index off the
loop and hands it to the handler, which swaps index and reply cache with one
assignment. ``build_guard`` (from ``dnsemu serve`` only) tunes the process while
an index is built.

The server knows nothing of HTTP or Prometheus: its counters are plain
(``server.stats``, ``server.upstream_stats``, ``server.state.counters``) and
:mod:`dnsemu.http.metrics` reads them at scrape time. What stands in front of it
(:class:`dnsemu.app.App` puts the HTTP API there) registers a closer with
:meth:`DnsServer.on_stop`, run first when the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from dnsemu.core.index import Index, Options
from dnsemu.dns.addresses import format_hostport
from dnsemu.logs import get_logger, query_log
from dnsemu.server.counters import Counters
from dnsemu.server.forwarding import MeteredUpstreamClient, UpstreamStats
from dnsemu.server.handler import Handler, Stats
from dnsemu.server.indexcache import IndexCache
from dnsemu.server.live import BuildGuard, LiveTopology, index_stats
from dnsemu.server.settings import Settings
from dnsemu.server.transport import ServerState, TcpLimits, UdpEndpoint, start_tcp, start_udp
from dnsemu.topology.changes import Change, ChangeSet
from dnsemu.topology.loaded import LoadedTopology

__all__ = ["DnsServer", "ListenError", "bind_pair", "ready_line"]

_PORT_RETRIES = 64
_UDP_RCVBUF = 4 * 1024 * 1024

def bind_pair(host: str, port: int, *, reuse_port: bool = False,
              backlog: int = 1024) -> tuple[socket.socket, socket.socket]:
    """A UDP and a listening TCP socket bound to the same ``host`` and port (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    last_error: OSError | None = None
    for _ in range(_PORT_RETRIES if port == 0 else 1):
        udp = _socket(family, socket.SOCK_DGRAM, reuse_port)
        with contextlib.suppress(OSError):
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UDP_RCVBUF)
        try:
            udp.bind((host, port))
        except OSError:
            udp.close()
            raise
        actual = udp.getsockname()[1]
        tcp = _socket(family, socket.SOCK_STREAM, reuse_port)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((host, actual))
            tcp.listen(backlog)
        except OSError as exc:
            tcp.close()
            udp.close()
            if port == 0 and exc.errno == errno.EADDRINUSE:
                last_error = exc
                continue
            raise
        return udp, tcp
    raise OSError(errno.EADDRINUSE, f"no port free for both UDP and TCP on {host} after "
                                    f"{_PORT_RETRIES} tries: {last_error}")


def _socket(family: int, kind: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except (OSError, AttributeError):
        sock.close()
        raise
    return sock


def ready_line(addresses: Sequence[tuple[str, int]], http: tuple[str, int] | None = None) -> str:
    """``dnsemu ready udp://127.0.0.1:5390 tcp://127.0.0.1:5390 ...``: what scripts wait for.

    With an HTTP listener, ``http://HOST:PORT`` comes last.
    """
    parts = []
    for host, port in addresses:
        hp = format_hostport(host, port)
        parts += [f"udp://{hp}", f"tcp://{hp}"]
    if http is not None:
        parts.append(f"http://{format_hostport(*http)}")
    return "dnsemu ready " + " ".join(parts)


class ListenError(OSError):
    """A socket that could not be bound; ``listen_address`` says which listener."""

    def __init__(self, exc: OSError, listen_address: str) -> None:
        super().__init__(exc.errno, exc.strerror or str(exc))
        self.listen_address = listen_address


class DnsServer:
    """A DNS server answering from a topology, per source address. See the module docstring."""

    def __init__(self, settings: Settings, loaded_topology: LoadedTopology | None = None, *,
                 reuse_port: bool = False, stats: Stats | None = None, logger: Any = None,
                 build_guard: BuildGuard | None = None, index_cache: IndexCache | None = None) -> None:
        self.settings = settings
        self.reuse_port = reuse_port
        self.stats = stats or Stats()
        self.state = ServerState()
        self.addresses: list[tuple[str, int]] = []
        self.handler: Handler | None = None
        self.log = get_logger("dnsemu.server")
        #: the query logger handed to the handler (None: structlog's "dnsemu")
        self.query_logger = logger
        self.upstream_stats = UpstreamStats()
        #: errors the server hit that it could only log (bugs): a test fixture re-raises them
        self.errors: list[BaseException] = []
        #: the topology served, its reloads and run-time changes
        self.live = LiveTopology(None if loaded_topology is not None else settings.topology, loaded_topology,
                                 options=Options(unknown_sources=settings.unknown_sources), install=self._install,
                                 log=self.log, reloads=self.stats.reloads, record_error=self.record_error,
                                 build_guard=build_guard, max_file_bytes=settings.max_file_bytes,
                                 index_cache=index_cache)
        #: coroutines run first when the server stops (what stands in front of it: the HTTP API)
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._udp: list[UdpEndpoint] = []
        self._tcp: list[asyncio.base_events.Server] = []
        self._watch_task: asyncio.Task[None] | None = None
        self._stop_event: asyncio.Event | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._started = False
        self._bound = False  # every socket bound: what a stop is logged for
        self._stopped = False
        self._signals: list[int] | None = None  # the signals handled while serving (handle_signals)

    # ------------------------------------------------------------------ properties

    @property
    def generation(self) -> int:
        return self.live.generation

    @property
    def index(self) -> Index:
        assert self.handler is not None, "the server is not started"
        return self.handler.index

    @property
    def loaded(self) -> LoadedTopology | None:
        return self.live.loaded

    @property
    def changes(self) -> ChangeSet | None:
        return self.live.changes

    @property
    def last_reload_success(self) -> float | None:
        return self.live.last_reload_success

    @property
    def last_reload_problems(self) -> list[str]:
        return self.live.last_reload_problems

    @property
    def change_counts(self) -> dict[str, int]:
        return self.live.change_counts

    @property
    def port(self) -> int:
        """The port of the first listen address (convenient with port 0)."""
        return self.addresses[0][1]

    @property
    def topology_path(self) -> Path | None:
        return self.live.path

    def ready_line(self) -> str:
        return ready_line(self.addresses)

    @property
    def ready(self) -> bool:
        """Topology loaded, every socket bound, not stopping: what ``GET /readyz`` reports."""
        return self._started and not self._stopped and self.handler is not None and bool(self.addresses)

    @property
    def active_changes(self) -> int:
        return self.live.active_changes

    def on_stop(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run ``closer`` first when the server stops (before it stops accepting DNS)."""
        self._closers.append(closer)

    def counters(self) -> Counters:
        """The traffic counters now, as plain data (what ``/metrics`` shows of the queries answered)."""
        state = self.state
        return Counters(self.stats.snapshot(), _copy_upstream(self.upstream_stats), state.counters.copy(),
                        state.in_flight(), len(state.connections))

    async def refresh_counters(self) -> None:
        """Bring :meth:`counters` up to date before a scrape (one process: always current; workers: ask them)."""

    def observe_queries(self, observer: Callable[[dict[str, Any]], None] | None) -> None:
        """Call ``observer`` with each query's ``dns_query`` fields (None: stop); see ``Handler.observe``."""
        if self.handler is not None:
            self.handler.observe(observer)

    def record_error(self, exc: BaseException) -> None:
        """Keep an error the server could only log (a bug), for ``dnsemu.testing``'s ``check()``."""
        if len(self.errors) < 100:
            self.errors.append(exc)

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Load and compile the topology (unless given), bind every listen address, start serving."""
        if self._started:
            raise RuntimeError("the server is already started")
        self._started = True
        self._stop_event = asyncio.Event()
        settings = self.settings
        index = self.live.load()
        await self._listen()
        if settings.watch and self.live.watched:
            self._watch_task = asyncio.create_task(self.live.watch(settings.watch_interval), name="dnsemu-watch")
        qlog = query_log() if settings.query_log else None
        if qlog is not None:  # the buffered query log goes out every 100 ms (and on stop)
            task = asyncio.create_task(_flush_every(qlog, 0.1), name="dnsemu-query-log")
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if self.live.deferred or self.live.to_store is not None:  # zones to make, an entry to write
            task = asyncio.create_task(self._after_start(), name="dnsemu-after-start")
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self._bound = True
        self.log.info("server_started", addresses=[format_hostport(h, p) for h, p in self.addresses],
                      generation=self.generation, topology=str(self.topology_path or "<data>"),
                      udp=self._udp[0].mode if self._udp else "", loop=type(asyncio.get_running_loop()).__module__,
                      pid=os.getpid(), **index_stats(index))

    async def _after_start(self) -> None:
        """Once serving: make the record sets of the zones the first load left for later, then write the
        index cache's entry.

        A restart from the index cache leaves every zone's record sets on their shelves, and a
        first start defers its large private zones (``compile_topology(defer_zones=True)``): a
        zone is made per turn of the loop (a query reaching one first has it made then), so the
        first query into a zone does not wait for it and the memory is taken now rather than
        under load. The entry is written after that (by a child process: :meth:`IndexCache.store_later`),
        so the child forks a process that has finished starting and pickles zones already made.
        """
        await asyncio.sleep(0)  # after the start's own callbacks (the readiness line)
        zones = self.live.deferred
        if zones:
            started = time.perf_counter()
            made = 0
            for zone in zones:
                if self._stopped or self.live.deferred is not zones:
                    return  # stopping, or another topology is served: its zones are not these
                if zone.pending:
                    zone.materialize()
                    made += 1
                    await asyncio.sleep(0)
            self.live.deferred = ()
            self.log.info("index_zones_warmed", zones=len(zones), made=made,
                          seconds=round(time.perf_counter() - started, 3))
        if not self._stopped:
            self.live.store_pending()

    async def _listen(self) -> None:
        """Bind every listen address and serve it; on failure none is left open (the parent of workers: start them)."""
        settings = self.settings
        assert self.handler is not None
        limits = TcpLimits(settings.tcp_idle_timeout, settings.tcp_max_connections, settings.tcp_max_message,
                           settings.tcp_max_pipelined)
        handle = self.handler.handle
        try:
            for host, port in settings.listen_addresses:
                try:
                    udp, tcp = bind_pair(host, port, reuse_port=self.reuse_port)
                except OSError as exc:  # say which listener (dnsemu serve adds what to do about it)
                    raise ListenError(exc, format_hostport(host, port)) from None
                try:
                    self._udp.append(await start_udp(udp, handle, self.state, settings.udp_batch))
                    self._tcp.append(await start_tcp(tcp, handle, self.state, limits))
                except BaseException:
                    udp.close()
                    tcp.close()
                    raise
                self.addresses.append((host, udp.getsockname()[1]))
        except BaseException:
            await self._close_sockets()
            raise

    async def stop(self) -> None:
        """Stop accepting, answer what is in flight (at most ``shutdown_grace`` seconds), close every socket."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        if self._stop_event is not None:
            self._stop_event.set()
        if not self._bound:  # start failed (a port in use...): close what was opened, log no stop
            for closer in self._closers:
                with contextlib.suppress(Exception):
                    await closer()
            await self._close_sockets()
            return
        self.log.info("server_stopping", in_flight=len(self.state.tasks), connections=len(self.state.connections))
        for closer in self._closers:
            with contextlib.suppress(Exception):
                await closer()
        state = self.state
        state.accepting = False
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch_task
        for task in list(self._background):
            task.cancel()
        for server in self._tcp:
            server.close()
        for endpoint in self._udp:
            endpoint.stop_receiving()  # the socket stays open for replies in flight
        for conn in list(state.connections):
            conn.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_grace
        while (state.tasks or state.connections) and loop.time() < deadline:
            if state.tasks:
                await asyncio.wait(list(state.tasks), timeout=min(0.05, max(0.0, deadline - loop.time())))
            else:
                await asyncio.sleep(0.01)
        for task in list(state.tasks):
            task.cancel()
        for conn in list(state.connections):
            conn.abort()
        await self._close_sockets()
        qlog = query_log()
        if qlog is not None:
            qlog.flush()
        self.log.info("server_stopped", answered=self.stats.total())

    async def _close_sockets(self) -> None:
        for endpoint in self._udp:
            endpoint.close()
        for server in self._tcp:
            server.close()
        for server in self._tcp:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        await asyncio.sleep(0)  # let transports run their close callbacks

    async def __aenter__(self) -> DnsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def request_stop(self) -> None:
        """Ask :meth:`serve_forever` to return (safe from a signal handler)."""
        if self._stop_event is not None:
            self._stop_event.set()

    def handle_signals(self) -> None:
        """From now on SIGTERM/SIGINT stop the server and SIGHUP reloads (main thread only; once).

        :meth:`serve_forever` does it too; ``dnsemu serve`` calls it before it prints its readiness
        line, so that a SIGTERM sent as soon as the line is read stops the server cleanly instead of
        killing the process before the handlers are in.
        """
        if self._signals is not None or threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        self._signals = []
        for sig, callback in ((signal.SIGTERM, self.request_stop), (signal.SIGINT, self.request_stop),
                              (getattr(signal, "SIGHUP", None), self._on_sighup)):
            if sig is None:
                continue
            try:
                loop.add_signal_handler(sig, callback)
                self._signals.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    async def serve_forever(self) -> None:
        """Start (unless started), serve until SIGTERM/SIGINT or :meth:`request_stop`, then stop."""
        if not self._started:
            await self.start()
        assert self._stop_event is not None
        loop = asyncio.get_running_loop()
        self.handle_signals()
        try:
            await self._stop_event.wait()
        finally:
            for sig in self._signals or ():
                loop.remove_signal_handler(sig)
            self._signals = None
            await self.stop()

    def _on_sighup(self) -> None:
        # coalesce: one reload running and at most one waiting; a SIGHUP storm is not a queue of reloads
        if self._hup_waiting:
            return
        self._hup_waiting = True
        task = asyncio.ensure_future(self._reload_after_hup())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    _hup_waiting = False

    async def _reload_after_hup(self) -> bool:
        await self.live.settled()  # wait for the reload in progress: the files are read after it
        self._hup_waiting = False
        return await self.reload(reason="SIGHUP")

    # ------------------------------------------------------------------ topology

    def _install(self, index: Index) -> None:
        """Serve ``index`` from the next query on (the first one makes the handler)."""
        if self.handler is not None:
            self.handler.swap(index)
            return
        settings = self.settings
        upstream = MeteredUpstreamClient(settings.upstream_addresses, timeout=settings.upstream_timeout,
                                         attempts=settings.upstream_attempts, udp_size=settings.udp_payload_size,
                                         stats=self.upstream_stats)
        self.handler = Handler(settings, index, stats=self.stats, upstream=upstream, logger=self.query_logger)

    async def reload(self, loaded: LoadedTopology | None = None, *, reason: str = "request") -> bool:
        """Recompile the topology (``loaded``, or its files again) and serve it; False when it is invalid."""
        return await self.live.reload(loaded, reason=reason)

    async def apply_change(self, change: Change) -> LoadedTopology:
        """Validate ``change`` like a file load and serve the result; :class:`ChangeError` when it does not hold."""
        return await self.live.apply_change(change)

    async def reset_changes(self) -> bool:
        """Drop every run-time change and serve the files' topology again; False when there was none."""
        return await self.live.reset_changes()


def _copy_upstream(stats: UpstreamStats) -> UpstreamStats:
    out = UpstreamStats()
    out.requests = stats.requests.copy()
    out.failures = stats.failures.copy()
    out.durations = {label: list(counts) for label, counts in stats.durations.copy().items()}
    out.duration_sum = stats.duration_sum.copy()
    return out


async def _flush_every(qlog: Any, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        qlog.flush()


