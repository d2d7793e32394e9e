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
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Index, Options
from dnsemu.handler import Handler, Stats
from dnsemu.logs import get_logger
from dnsemu.settings import Settings, format_hostport
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import LoadedTopology, load_topology
from dnsemu.transport import ServerState, TcpLimits, UdpEndpoint, start_tcp, start_udp

__all__ = ["DnsServer", "bind_pair", "ready_line"]

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


def ready_line(addresses: Sequence[tuple[str, int]]) -> str:
    """``dnsemu ready udp://127.0.0.1:5353 tcp://127.0.0.1:5353 ...``: what scripts wait for."""
    parts = []
    for host, port in addresses:
        hp = format_hostport(host, port)
        parts += [f"udp://{hp}", f"tcp://{hp}"]
    return "dnsemu ready " + " ".join(parts)


class DnsServer:
    """A DNS server answering from a topology, per source address. See the module docstring."""

    def __init__(self, settings: Settings, loaded_topology: LoadedTopology | None = None, *,
                 reuse_port: bool = False, stats: Stats | None = None) -> None:
        self.settings = settings
        self.reuse_port = reuse_port
        self.stats = stats or Stats()
        self.state = ServerState()
        self.addresses: list[tuple[str, int]] = []
        self.handler: Handler | None = None
        self.log = get_logger("dnsemu.server")
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
        return ready_line(self.addresses)

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
            self._loaded = load_topology(settings.topology)
        self._generation = 1
        index = compile_topology(self._loaded, self._options(), generation=1)
        self._signature = {f: self._signature.get(f) or _stat(f) for f in self._watched(self._loaded)}
        self.handler = Handler(settings, index, stats=self.stats)
        limits = TcpLimits(settings.tcp_idle_timeout, settings.tcp_max_connections, settings.tcp_max_message,
                           settings.tcp_max_pipelined)
        handle = self.handler.handle
        try:
            for host, port in settings.listen_addresses:
                udp, tcp = bind_pair(host, port, reuse_port=self.reuse_port)
                try:
                    self._udp.append(await start_udp(udp, handle, self.state))
                    self._tcp.append(await start_tcp(tcp, handle, self.state, limits))
                except BaseException:
                    udp.close()
                    tcp.close()
                    raise
                self.addresses.append((host, udp.getsockname()[1]))
        except BaseException:
            await self._close_sockets()
            raise
        if settings.watch and self._signature:
            self._watch_task = asyncio.create_task(self._watch(), name="dnsemu-watch")
        self.log.info("server_started", addresses=[format_hostport(h, p) for h, p in self.addresses],
                      generation=self._generation, topology=str(self.topology_path or "<data>"),
                      udp=self._udp[0].mode if self._udp else "", loop=type(asyncio.get_running_loop()).__module__,
                      pid=os.getpid(), **_index_stats(index))

    async def stop(self) -> None:
        """Stop accepting, answer what is in flight (at most ``shutdown_grace`` seconds), close every socket."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        if self._stop_event is not None:
            self._stop_event.set()
        self.log.info("server_stopping", in_flight=len(self.state.tasks), connections=len(self.state.connections))
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
        task = asyncio.ensure_future(self.reload(reason="SIGHUP"))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ reload

    def _options(self) -> Options:
        return Options(unknown_sources=self.settings.unknown_sources)

    def _watched(self, loaded: LoadedTopology) -> list[str]:
        files = list(loaded.files)
        if not files and loaded.source.file:
            files = [loaded.source.file]
        return files

    async def reload(self, loaded: LoadedTopology | None = None, *, reason: str = "request") -> bool:
        """Recompile the topology (``loaded``, or its file again) and swap it in; False when it is invalid."""
        if self.handler is None or self._reload_lock is None:
            raise RuntimeError("the server is not started")
        loop = asyncio.get_running_loop()
        async with self._reload_lock:
            generation = self._generation + 1
            signature: Signature | None = None
            try:
                if loaded is None:
                    path = self.topology_path
                    if path is None:
                        self.log.warning("topology_reload_skipped", reason=reason,
                                         why="the topology was given as data, not read from a file")
                        return False
                    signature = _signature(self._signature or [str(path)])
                    loaded = await loop.run_in_executor(None, load_topology, path)
                index = await loop.run_in_executor(None, compile_topology, loaded, self._options(), generation)
            except TopologyError as exc:
                if signature is not None:
                    self._signature = signature  # judged: retry when the files change again
                self.stats.reloads["failed"] = self.stats.reloads.get("failed", 0) + 1
                self.log.error("topology_reload_failed", reason=reason, generation=self._generation,
                               problems=[str(p) for p in exc.problems], error=str(exc))
                return False
            except Exception as exc:
                if signature is not None:
                    self._signature = signature
                self.stats.reloads["failed"] = self.stats.reloads.get("failed", 0) + 1
                self.log.exception("topology_reload_failed", reason=reason, generation=self._generation,
                                   error=f"{type(exc).__name__}: {exc}")
                return False
            self.handler.swap(index)
            self._generation = generation
            self._loaded = loaded
            before = signature or {}
            self._signature = {f: before[f] if f in before else _stat(f) for f in self._watched(loaded)}
            self.stats.reloads["ok"] = self.stats.reloads.get("ok", 0) + 1
            self.log.info("topology_loaded", reason=reason, generation=generation, **_index_stats(index))
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
            except Exception:  # the watcher must survive anything
                self.log.exception("watch_failed")


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
