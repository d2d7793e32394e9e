"""``DnsServer``: sockets, the topology's life cycle, reload and shutdown, in one process.

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

Reload compiles the new index in a worker thread (the loop keeps answering
from the old one), then swaps index and reply cache with one assignment; a
topology that fails to load or compile is logged with every problem and the
old one keeps serving.

Run-time changes (:meth:`DnsServer.apply_change`, :meth:`DnsServer.reset_changes`;
the HTTP API and :mod:`dnsemu.testing` call them) go through a
:class:`~dnsemu.topology.changes.ChangeSet`: each is validated like a file load,
compiled, and swapped in the same way, so the very next query sees it; a change
that does not hold raises :class:`~dnsemu.topology.changes.ChangeError` and
changes nothing. A reload of the files re-applies the accepted changes
(``ChangeSet.rebase``); when they no longer hold on the new files the reload is
refused like an invalid file, and the old topology keeps serving.

Each server owns a Prometheus ``CollectorRegistry`` (``server.registry``, read
from its counters at scrape time: :mod:`dnsemu.metrics`) and, with the ``http``
setting, an HTTP listener (:mod:`dnsemu.api`) on the same loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import functools
import gc
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Index, Options
from dnsemu.handler import Handler, Stats
from dnsemu.logs import get_logger, query_log
from dnsemu.metrics import MeteredUpstreamClient, UpstreamStats, create_registry
from dnsemu.settings import Settings, format_hostport
from dnsemu.topology.changes import Change, ChangeError, ChangeSet
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import LoadedTopology, load_topology
from dnsemu.transport import ServerState, TcpLimits, UdpEndpoint, start_tcp, start_udp

if TYPE_CHECKING:
    from dnsemu.http import HttpServer

__all__ = ["DnsServer", "ListenError", "bind_pair", "ready_line"]

_PORT_RETRIES = 64
_UDP_RCVBUF = 4 * 1024 * 1024

Signature = dict[str, tuple[int, int, int] | None]


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
    """``dnsemu ready udp://127.0.0.1:5353 tcp://127.0.0.1:5353 ...``: what scripts wait for.

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
                 reuse_port: bool = False, stats: Stats | None = None, logger: Any = None) -> None:
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
        #: this server's Prometheus registry (never the global one)
        self.registry = create_registry(self)
        #: errors the server hit that it could only log (bugs): a test fixture re-raises them
        self.errors: list[BaseException] = []
        #: unix time of the last successful topology load (start included)
        self.last_reload_success: float | None = None
        self.change_counts: dict[str, int] = {"applied": 0, "rejected": 0}
        #: why the last reload failed (one line per problem), for the API
        self.last_reload_problems: list[str] = []
        self.changes: ChangeSet | None = None
        self.http: HttpServer | None = None
        self.http_address: tuple[str, int] | None = None
        self._base_index: Index | None = None
        self._loaded = loaded_topology
        self._generation = 0
        self._udp: list[UdpEndpoint] = []
        self._tcp: list[asyncio.base_events.Server] = []
        self._signature: Signature = {}
        self._watch_task: asyncio.Task[None] | None = None
        self._reload_lock: asyncio.Lock | None = None
        self._stop_event: asyncio.Event | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------------ properties

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def index(self) -> Index:
        assert self.handler is not None, "the server is not started"
        return self.handler.index

    @property
    def loaded(self) -> LoadedTopology | None:
        return self._loaded

    @property
    def port(self) -> int:
        """The port of the first listen address (convenient with port 0)."""
        return self.addresses[0][1]

    @property
    def topology_path(self) -> Path | None:
        if self._loaded is not None:
            return Path(self._loaded.source.file) if self._loaded.source.file else None
        return self.settings.topology

    def ready_line(self) -> str:
        return ready_line(self.addresses, self.http_address)

    @property
    def ready(self) -> bool:
        """Topology loaded, every socket bound, not stopping: what ``GET /readyz`` reports."""
        return self._started and not self._stopped and self.handler is not None and bool(self.addresses)

    @property
    def active_changes(self) -> int:
        return len(self.changes.changes) if self.changes is not None else 0

    @property
    def http_errors(self) -> int:
        return self.http.errors if self.http is not None else 0

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
        self._reload_lock = asyncio.Lock()
        self._stop_event = asyncio.Event()
        settings = self.settings
        if self._loaded is None:
            self._signature = _signature([str(settings.topology)])
            self._loaded = load_topology(settings.topology, max_file_bytes=settings.max_file_bytes)
        self._generation = 1
        index = compile_topology(self._loaded, self._options(), generation=1)
        self._base_index = index
        self.changes = ChangeSet(self._loaded)
        self.last_reload_success = time.time()
        self._signature = {f: self._signature.get(f) or _stat(f) for f in self._watched(self._loaded)}
        upstream = MeteredUpstreamClient(settings.upstream_addresses, timeout=settings.upstream_timeout,
                                         attempts=settings.upstream_attempts, udp_size=settings.udp_payload_size,
                                         stats=self.upstream_stats)
        self.handler = Handler(settings, index, stats=self.stats, upstream=upstream, logger=self.query_logger)
        gc.collect()
        gc.freeze()  # the index is immutable: keep the cyclic collector from walking it on every full pass
        limits = TcpLimits(settings.tcp_idle_timeout, settings.tcp_max_connections, settings.tcp_max_message,
                           settings.tcp_max_pipelined)
        handle = self.handler.handle
        try:
            for host, port in settings.listen_addresses:
                udp, tcp = bind_pair(host, port, reuse_port=self.reuse_port)
                try:
                    self._udp.append(await start_udp(udp, handle, self.state, settings.udp_batch))
                    self._tcp.append(await start_tcp(tcp, handle, self.state, limits))
                except BaseException:
                    udp.close()
                    tcp.close()
                    raise
                self.addresses.append((host, udp.getsockname()[1]))
            if settings.http:
                await self._start_http()
        except BaseException:
            await self._close_http()
            await self._close_sockets()
            raise
        if settings.watch and self._signature:
            self._watch_task = asyncio.create_task(self._watch(), name="dnsemu-watch")
        qlog = query_log() if settings.query_log else None
        if qlog is not None:  # the buffered query log goes out every 100 ms (and on stop)
            task = asyncio.create_task(_flush_every(qlog, 0.1), name="dnsemu-query-log")
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self.log.info("server_started", addresses=[format_hostport(h, p) for h, p in self.addresses],
                      http=format_hostport(*self.http_address) if self.http_address else None,
                      generation=self._generation, topology=str(self.topology_path or "<data>"),
                      udp=self._udp[0].mode if self._udp else "", loop=type(asyncio.get_running_loop()).__module__,
                      pid=os.getpid(), **_index_stats(index))

    async def _start_http(self) -> None:
        from dnsemu.api import Api
        from dnsemu.http import HostPolicy, HttpServer

        settings = self.settings
        host, port = settings.http_address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise ListenError(exc, f"{settings.http_listen} (HTTP)") from None
        api = Api(self)
        self.http = HttpServer(api.handle, max_body=settings.http_max_body, timeout=settings.http_timeout,
                               on_error=self.record_error,
                               host_policy=HostPolicy.for_listener(host, settings.http_allowed_hosts),
                               priority_paths=("/healthz", "/readyz"))
        try:
            await self.http.start(sock)
        except BaseException:
            sock.close()
            raise
        self.http_address = (host, sock.getsockname()[1])

    async def _close_http(self) -> None:
        if self.http is not None:
            await self.http.close(grace=min(1.0, self.settings.shutdown_grace))

    async def stop(self) -> None:
        """Stop accepting, answer what is in flight (at most ``shutdown_grace`` seconds), close every socket."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        if self._stop_event is not None:
            self._stop_event.set()
        self.log.info("server_stopping", in_flight=len(self.state.tasks), connections=len(self.state.connections))
        await self._close_http()
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

    async def serve_forever(self) -> None:
        """Start (unless started), serve until SIGTERM/SIGINT or :meth:`request_stop`, then stop."""
        if not self._started:
            await self.start()
        assert self._stop_event is not None
        loop = asyncio.get_running_loop()
        installed: list[int] = []
        if threading.current_thread() is threading.main_thread():
            for sig, callback in ((signal.SIGTERM, self.request_stop), (signal.SIGINT, self.request_stop),
                                  (getattr(signal, "SIGHUP", None), self._on_sighup)):
                if sig is None:
                    continue
                try:
                    loop.add_signal_handler(sig, callback)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        try:
            await self._stop_event.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
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
        assert self._reload_lock is not None
        async with self._reload_lock:  # wait for the reload in progress: the files are read after it
            self._hup_waiting = False
        return await self.reload(reason="SIGHUP")

    # ------------------------------------------------------------------ reload

    def _options(self) -> Options:
        return Options(unknown_sources=self.settings.unknown_sources)

    def _watched(self, loaded: LoadedTopology) -> list[str]:
        files = list(loaded.files)
        if not files and loaded.source.file:
            files = [loaded.source.file]
        return files

    async def reload(self, loaded: LoadedTopology | None = None, *, reason: str = "request") -> bool:
        """Recompile the topology (``loaded``, or its file again) and swap it in; False when it is invalid.

        ``loaded`` (or the file read again) becomes the new base of the run-time
        changes, which are re-applied on top of it.
        """
        if self.handler is None or self._reload_lock is None:
            raise RuntimeError("the server is not started")
        loop = asyncio.get_running_loop()
        async with self._reload_lock, _building():
            generation = self._generation + 1
            signature: Signature | None = None
            changes = self.changes
            assert changes is not None
            saved = (changes.base, list(changes.changes), changes.current)
            try:
                if loaded is None:
                    path = self.topology_path
                    if path is None:
                        self.last_reload_problems = ["the topology was given as data, not read from a file"]
                        self.log.warning("topology_reload_skipped", reason=reason,
                                         why="the topology was given as data, not read from a file")
                        return False
                    signature = _signature(self._signature or [str(path)])
                    loaded = await loop.run_in_executor(
                        None, functools.partial(load_topology, path, max_file_bytes=self.settings.max_file_bytes))
                base = loaded
                current = await loop.run_in_executor(None, changes.rebase, base)
                index = await loop.run_in_executor(None, compile_topology, current, self._options(), generation)
            except TopologyError as exc:
                changes.base, changes.changes[:], changes.current = saved
                if signature is not None:
                    self._signature = signature  # judged: retry when the files change again
                self.stats.reloads["failed"] = self.stats.reloads.get("failed", 0) + 1
                self.last_reload_problems = [str(p) for p in exc.problems]
                self.log.error("topology_reload_failed", reason=reason, generation=self._generation,
                               problems=[str(p) for p in exc.problems], error=str(exc),
                               changes=len(changes.changes))
                return False
            except Exception as exc:
                changes.base, changes.changes[:], changes.current = saved
                if signature is not None:
                    self._signature = signature
                self.stats.reloads["failed"] = self.stats.reloads.get("failed", 0) + 1
                self.last_reload_problems = [f"{type(exc).__name__}: {exc}"]
                self.record_error(exc)
                self.log.exception("topology_reload_failed", reason=reason, generation=self._generation,
                                   error=f"{type(exc).__name__}: {exc}")
                return False
            self._base_index = index if not changes.changes else None
            self._install(current, index, generation)
            before = signature or {}
            self._signature = {f: before[f] if f in before else _stat(f) for f in self._watched(current)}
            self.stats.reloads["ok"] = self.stats.reloads.get("ok", 0) + 1
            self.last_reload_success = time.time()
            self.log.info("topology_loaded", reason=reason, generation=generation, changes=len(changes.changes),
                          **_index_stats(index))
            return True

    def _install(self, loaded: LoadedTopology, index: Index, generation: int) -> None:
        assert self.handler is not None
        self.handler.swap(index)
        self._generation = generation
        self._loaded = loaded

    async def apply_change(self, change: Change) -> LoadedTopology:
        """Validate ``change`` like a file load and serve the result from the next query on.

        Raises :class:`~dnsemu.topology.changes.ChangeError` (with ``.problems``)
        and changes nothing when the change does not hold.
        """
        if self.handler is None or self._reload_lock is None or self.changes is None:
            raise RuntimeError("the server is not started")
        loop = asyncio.get_running_loop()
        async with self._reload_lock, _building():
            changes = self.changes
            saved = (list(changes.changes), changes.current)
            generation = self._generation + 1
            try:
                candidate = await loop.run_in_executor(None, changes.apply, change)
                try:
                    index = await loop.run_in_executor(None, compile_topology, candidate, self._options(),
                                                       generation)
                except TopologyError as exc:
                    raise ChangeError(exc.problems) from None
            except ChangeError as exc:
                changes.changes[:], changes.current = saved
                self.change_counts["rejected"] += 1
                self.log.info("topology_change_rejected", op=change.op, target=change.target,
                              problems=[str(p) for p in exc.problems])
                raise
            self._install(candidate, index, generation)
            self.change_counts["applied"] += 1
            self.log.info("topology_changed", op=change.op, target=change.target, generation=generation,
                          changes=len(changes.changes))
            return candidate

    async def reset_changes(self) -> bool:
        """Drop every run-time change and serve the files' topology again; False when there was none."""
        if self.handler is None or self._reload_lock is None or self.changes is None:
            raise RuntimeError("the server is not started")
        async with self._reload_lock:
            changes = self.changes
            if not changes.changes:
                return False
            generation = self._generation + 1
            base = changes.base
            if self._base_index is not None:  # compiled before: a copy with the new generation is enough
                index = dataclasses.replace(self._base_index, generation=generation)
            else:
                loop = asyncio.get_running_loop()
                index = await loop.run_in_executor(None, compile_topology, base, self._options(), generation)
            dropped = len(changes.changes)
            changes.reset()
            self._base_index = index
            self._install(base, index, generation)
            self.log.info("topology_reset", generation=generation, dropped=dropped)
            return True

    async def _watch(self) -> None:
        interval = self.settings.watch_interval
        while True:
            await asyncio.sleep(interval)
            try:
                current = _signature(self._signature)
                if current != self._signature:
                    await self.reload(reason="file changed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the watcher must survive anything
                self.record_error(exc)
                self.log.exception("watch_failed")


@contextlib.asynccontextmanager
async def _building() -> Any:
    """While a new index is built in a thread, next to the one serving.

    The builder would hold the GIL 5 ms at a time: hand it to the serving thread every 0.5 ms.
    A build allocates millions of objects, which with the collector on triggers full collections
    over both indexes (about 100 ms each at 100k records, the GIL held throughout): collect
    nothing until the new index is in, then freeze what is alive (an index never changes).
    """
    switch = sys.getswitchinterval()
    enabled = gc.isenabled()
    sys.setswitchinterval(0.0005)
    gc.disable()
    try:
        yield
    finally:
        sys.setswitchinterval(switch)
        if enabled:
            gc.freeze()
            gc.enable()


async def _flush_every(qlog: Any, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        qlog.flush()


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _signature(files: Any) -> Signature:
    return {f: _stat(f) for f in files}


def _index_stats(index: Index) -> dict[str, int]:
    keys = ("virtual_networks", "on_premises", "private_zones", "private_endpoints", "records")
    return {k: int(index.stats[k]) for k in keys if k in index.stats}
