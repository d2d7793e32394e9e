"""``dnsemu serve --workers N``: N processes answer DNS on one port, and the parent is the one server the world sees.

::

    parent (Supervisor: a DnsServer that binds no DNS socket)
      ├── the topology: reads files, watches them, SIGHUP, validates and applies run-time changes
      ├── the HTTP listener (App): /metrics, /healthz, /readyz and the /v1 API, for all workers
      └── forkserver ── worker 0 … worker N-1: a DnsServer each, SO_REUSEPORT on the same port

Each worker is a :class:`~dnsemu.server.server.DnsServer` with SO_REUSEPORT: the
kernel spreads queries over their sockets (by a hash of the source address and
port). The parent talks to each over its own socketpair with length-prefixed
pickled messages (:class:`Channel`; the peer is always our own process).

One estate. The parent's :class:`~dnsemu.server.live.LiveTopology` is the only
one that reads the topology files, watches them and takes changes; after each new
topology it installs (``POST``/``PUT``/``DELETE`` under ``/v1``, ``POST /v1/reload``,
SIGHUP, a file change) it sends every worker a
:class:`~dnsemu.server.live.Snapshot` and waits, still holding the topology's lock,
until each one serves it (:meth:`Supervisor._publish`). So an API request returns
only once every worker answers with the change, and all of them serve the very
same estate under the same generation. A worker that does not take the snapshot in
time is killed and started again; it starts from the current snapshot, so no
process answers from an older estate once the request has returned.

One ``/metrics``. prometheus-client's multiprocess mode does not fit: it keeps
each value in a memory-mapped file written on every increment by the library's
own metric objects, and it does not take custom collectors, while dnsemu counts
with plain ints on the hot path and turns them into metrics only when scraped
(:mod:`dnsemu.http.metrics`). Here, when ``/metrics`` is scraped the parent asks
every worker for its :class:`~dnsemu.server.counters.Counters` and adds them up;
what a worker that ended had counted (as of the last scrape) is kept, so the sums
never go down. Nothing is added to the hot path, and nothing runs between scrapes.

Workers that die are started again (with a growing pause when they keep dying
young) and counted in ``dnsemu_worker_restarts_total``. Shutdown is the
parent's: SIGTERM or SIGINT closes HTTP, then tells every worker to stop (each
finishes its in-flight queries, bounded by ``shutdown_grace``). Workers ignore
SIGINT and SIGHUP (a terminal's Ctrl-C reaches the whole process group; reloads
come from the parent) and stop by themselves when the parent goes away.

Workers are started by multiprocessing's forkserver, not forked from the parent:
the parent runs an event loop, threads and the HTTP listener, none of which a
child should inherit. The forkserver imports dnsemu once, so a worker starts in
the time it takes to compile the topology. (It keeps its socket in a private
temporary folder: with a read-only root file system, give it a writable ``/tmp``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import itertools
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import signal
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from dnsemu.dns.addresses import format_hostport
from dnsemu.logs import get_logger
from dnsemu.server.counters import Counters, merge
from dnsemu.server.indexcache import IndexCache
from dnsemu.server.live import BuildGuard, Snapshot
from dnsemu.server.server import DnsServer, ListenError
from dnsemu.server.settings import Settings
from dnsemu.topology.loaded import LoadedTopology

__all__ = ["Channel", "Supervisor", "run_worker"]

_FRAME = struct.Struct("!Q")
START_TIMEOUT = 120.0  # seconds a worker has to compile the topology and bind
ADOPT_TIMEOUT = 120.0  # seconds a worker has to compile a new topology
COUNTERS_TIMEOUT = 5.0  # seconds a worker has to send its counters for a scrape
QUERY_BATCH = 0.1  # seconds between batches of query events sent to the parent (the /ui stream)
QUERY_BACKLOG = 2000  # query events a worker keeps between batches before dropping the oldest
RESTART_PAUSE = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # pause before each restart of a worker that keeps dying
STABLE = 30.0  # seconds a worker must live for its next death to restart it at once


class Channel:
    """Pickled messages over one end of a socketpair, in both directions. Only ever between our own processes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, sock: socket.socket) -> Channel:
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        return cls(reader, writer)

    async def send(self, message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        async with self._lock:
            self.writer.write(_FRAME.pack(len(data)) + data)
            await self.writer.drain()

    async def recv(self) -> Any:
        """The next message; ``asyncio.IncompleteReadError`` when the peer is gone."""
        (size,) = _FRAME.unpack(await self.reader.readexactly(_FRAME.size))
        return pickle.loads(await self.reader.readexactly(size))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


# --------------------------------------------------------------------------- the worker's side


def run_worker(number: int, settings: Settings, sock: socket.socket, *, build_guard: BuildGuard | None = None,
               loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
               after_start: Callable[[], None] | None = None) -> int:
    """A worker process's life: take the parent's snapshot, serve it, follow the parent until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # reloads come from the parent
    import structlog

    from dnsemu.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    structlog.contextvars.bind_contextvars(worker=number)
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_serve_worker(settings, sock, build_guard, after_start))


async def _serve_worker(settings: Settings, sock: socket.socket, build_guard: BuildGuard | None,
                        after_start: Callable[[], None] | None) -> int:
    channel = await Channel.open(sock)
    try:
        kind, snapshot = await channel.recv()
    except (asyncio.IncompleteReadError, ConnectionError):
        return 1  # the parent went away before we began
    assert kind == "start"
    server = DnsServer(settings, snapshot.current, reuse_port=True, build_guard=build_guard)
    server.live.resume(snapshot)
    try:
        await server.start()
    except OSError as exc:
        where = getattr(exc, "listen_address", None) or ", ".join(settings.listen)
        await channel.send(("error", exc.errno or 0, exc.strerror or str(exc), where))
        await server.stop()
        channel.close()
        return 1
    if after_start is not None:
        after_start()
    await channel.send(("ready", server.addresses, os.getpid()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    worker = _Worker(server, channel, stop)
    control = asyncio.create_task(worker.follow(), name="dnsemu-worker-control")
    try:
        await stop.wait()
    finally:
        worker.observe(False)
        control.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await control
        await server.stop()
        channel.close()
    return 0


class _Worker:
    """What a worker does on the parent's messages."""

    def __init__(self, server: DnsServer, channel: Channel, stop: asyncio.Event) -> None:
        self.server = server
        self.channel = channel
        self.stop = stop
        self.events: list[dict[str, Any]] = []
        self.dropped = 0
        self.flusher: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def follow(self) -> None:
        try:
            while True:
                message = await self.channel.recv()
                kind = message[0]
                if kind == "adopt":  # in its own task, to answer a scrape while it compiles (the lock keeps order)
                    task = asyncio.create_task(self.adopt(message[1], pickle.loads(message[2])))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
                elif kind == "counters":
                    await self.channel.send(("done", message[1], self.server.counters()))
                elif kind == "observe":
                    self.observe(message[1])
                elif kind == "stop":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the parent is gone: stop
        finally:
            self.stop.set()

    async def adopt(self, seq: int, snapshot: Snapshot) -> None:
        try:
            if snapshot.generation != self.server.generation:  # a worker started after the change has it already
                await self.server.live.adopt(snapshot)
        except Exception as exc:  # the parent replaces a worker that cannot follow
            get_logger("dnsemu.workers").exception("adopt_failed", generation=snapshot.generation)
            await self.channel.send(("failed", seq, f"{type(exc).__name__}: {exc}"))
            return
        await self.channel.send(("done", seq, self.server.generation))

    def observe(self, on: bool) -> None:
        """Send the parent a batch of query events every QUERY_BATCH seconds while it asks (its /ui stream)."""
        if on and self.flusher is None:
            self.server.observe_queries(self._event)
            self.flusher = asyncio.create_task(self._flush(), name="dnsemu-worker-queries")
        elif not on and self.flusher is not None:
            self.server.observe_queries(None)
            self.flusher.cancel()
            self.flusher = None
            self.events = []

    def _event(self, event: dict[str, Any]) -> None:
        if len(self.events) >= QUERY_BACKLOG:
            self.events.pop(0)
            self.dropped += 1
        self.events.append(event)

    async def _flush(self) -> None:
        while True:
            await asyncio.sleep(QUERY_BATCH)
            if self.events or self.dropped:
                batch, self.events = self.events, []
                dropped, self.dropped = self.dropped, 0
                await self.channel.send(("queries", batch, dropped))


# --------------------------------------------------------------------------- the parent's side


class WorkerGone(Exception):
    """The worker ended (or was replaced) before it answered."""


@dataclasses.dataclass(eq=False)
class _Handle:
    """One worker slot: the process in it now, its channel, what it last said."""

    number: int
    process: Any = None
    channel: Channel | None = None
    pid: int | None = None
    ready: bool = False
    started: float = 0.0
    deaths: int = 0  # deaths in a row, each soon after its start
    last: Counters | None = None
    welcome: asyncio.Future[tuple[Any, ...]] | None = None
    exited: asyncio.Future[int | None] | None = None
    pending: dict[int, asyncio.Future[Any]] = dataclasses.field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = dataclasses.field(default_factory=set)
    replacing: bool = False


class Supervisor(DnsServer):
    """The parent of ``--workers N``: a :class:`DnsServer` whose listening is done by worker processes.

    ``target(number, settings, sock)`` runs in each worker process (``dnsemu serve``
    passes one that calls :func:`run_worker` with its process tuning); it must be
    importable by name, since the forkserver pickles it.
    """

    def __init__(self, settings: Settings, loaded_topology: LoadedTopology | None = None, *,
                 target: Callable[[int, Settings, socket.socket], Any], build_guard: BuildGuard | None = None,
                 preload: tuple[str, ...] = (), index_cache: IndexCache | None = None) -> None:
        super().__init__(settings, loaded_topology, build_guard=build_guard, index_cache=index_cache)
        self.target = target
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload([__name__, *preload])
        # start it now: it imports dnsemu while this process compiles the topology
        multiprocessing.forkserver.ensure_running()
        self.slots = [_Handle(i) for i in range(settings.workers)]
        self.restarts: dict[str, int] = {"exited": 0, "unresponsive": 0}
        #: what workers that ended had counted (as of their last report): the sums never go down
        self.retired = Counters()
        self.exit_code = 0
        self._worker_settings: Settings | None = None
        self._observer: Callable[[dict[str, Any]], None] | None = None
        self._seq = itertools.count(1)
        self._stopping = False
        self._serving = False  # every worker started once: from now on, one that ends is started again
        self._tasks: set[asyncio.Task[Any]] = set()
        self.wlog = get_logger("dnsemu.workers")
        self.live.on_install = self._publish

    # ------------------------------------------------------------------ DnsServer's face

    @property
    def ready(self) -> bool:
        """Serving while one worker at least answers (the others may be starting again)."""
        return super().ready and any(slot.ready for slot in self.slots)

    @property
    def worker_pids(self) -> list[int]:
        return [slot.pid for slot in self.slots if slot.ready and slot.pid is not None]

    def counters(self) -> Counters:
        out = merge([self.retired, *(slot.last for slot in self.slots if slot.last is not None)])
        out.workers = sum(1 for slot in self.slots if slot.ready)
        out.worker_restarts = dict(self.restarts)
        return out

    async def refresh_counters(self) -> None:
        slots = [slot for slot in self.slots if slot.ready]
        results = await asyncio.gather(*(self._request(slot, COUNTERS_TIMEOUT, "counters") for slot in slots),
                                       return_exceptions=True)
        for slot, result in zip(slots, results, strict=True):
            if isinstance(result, Counters):
                slot.last = result

    def observe_queries(self, observer: Callable[[dict[str, Any]], None] | None) -> None:
        self._observer = observer
        for slot in self.slots:
            if slot.ready:
                self._spawn_task(self._send(slot, ("observe", observer is not None)))

    async def _listen(self) -> None:
        """Start the workers: the first binds (and resolves port 0), the others bind what it got."""
        first = self.slots[0]
        settings = self.settings.model_copy(update={"workers": 1, "http": False, "watch": False, "ready_file": None,
                                                    "api_token": None})
        await self._start(first, settings)
        self._worker_settings = settings.model_copy(
            update={"listen": [format_hostport(h, p) for h, p in self.addresses]})
        await asyncio.gather(*(self._start(slot, self._worker_settings) for slot in self.slots[1:]))
        self._serving = True
        self.wlog.info("workers_started", workers=len(self.slots), pids=self.worker_pids)

    async def stop(self) -> None:
        """Close HTTP (the DnsServer's closers), then stop every worker: each finishes its queries in flight."""
        await super().stop()
        await self._stop_workers()

    # ------------------------------------------------------------------ one worker

    async def _start(self, slot: _Handle, settings: Settings) -> None:
        """Start a worker in ``slot`` and wait until it serves; ListenError when it cannot."""
        loop = asyncio.get_running_loop()
        parent_end, child_end = socket.socketpair()
        process = self.context.Process(target=self.target, args=(slot.number, settings, child_end),
                                       name=f"dnsemu-worker-{slot.number}", daemon=True)
        try:
            await loop.run_in_executor(None, process.start)  # pickles the settings and hands the socket over
        finally:
            child_end.close()
        slot.process, slot.started, slot.ready, slot.pid = process, time.monotonic(), False, process.pid
        slot.welcome, slot.exited = loop.create_future(), loop.create_future()
        loop.add_reader(process.sentinel, self._on_exit, slot, process)
        slot.channel = await Channel.open(parent_end)
        self._spawn_task(self._read(slot, slot.channel), slot)
        await slot.channel.send(("start", self.live.snapshot()))
        try:
            welcome = await asyncio.wait_for(asyncio.shield(slot.welcome), START_TIMEOUT)
        except TimeoutError:
            welcome = ("error", errno.ETIMEDOUT, f"not ready after {START_TIMEOUT:.0f} s", None)
        if welcome[0] != "ready":
            self._kill(slot)
            where = welcome[3] or ", ".join(settings.listen)
            raise ListenError(OSError(welcome[1], f"worker {slot.number}: {welcome[2]}"), where)
        if not self.addresses:
            self.addresses = [tuple(a) for a in welcome[1]]  # type: ignore[misc]
        slot.pid = welcome[2]
        slot.ready = True
        if self._observer is not None:
            await self._send(slot, ("observe", True))
        self.wlog.info("worker_ready", worker=slot.number, pid=slot.pid, generation=self.generation)

    async def _read(self, slot: _Handle, channel: Channel) -> None:
        """Dispatch what a worker says, until it is gone."""
        try:
            while True:
                message = await channel.recv()
                kind = message[0]
                if kind in ("done", "failed"):
                    future = slot.pending.pop(message[1], None)
                    if future is not None and not future.done():
                        if kind == "done":
                            future.set_result(message[2])
                        else:
                            future.set_exception(RuntimeError(message[2]))
                elif kind == "queries":
                    observer = self._observer
                    if observer is not None:
                        for event in message[1]:
                            observer(event)
                elif kind in ("ready", "error") and slot.welcome is not None and not slot.welcome.done():
                    slot.welcome.set_result(tuple(message))
        except (asyncio.IncompleteReadError, ConnectionError, EOFError, pickle.UnpicklingError):
            pass
        finally:
            if slot.welcome is not None and not slot.welcome.done():
                slot.welcome.set_result(("error", 0, "exited before it was ready", None))
            for future in slot.pending.values():
                if not future.done():
                    future.set_exception(WorkerGone(f"worker {slot.number} is gone"))
            slot.pending.clear()

    async def _request(self, slot: _Handle, timeout: float, kind: str, *args: Any) -> Any:
        channel = slot.channel
        if channel is None:
            raise WorkerGone(f"worker {slot.number} is gone")
        seq = next(self._seq)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        slot.pending[seq] = future
        try:
            await channel.send((kind, seq, *args))
            return await asyncio.wait_for(future, timeout)
        finally:
            slot.pending.pop(seq, None)
            if future.done() and not future.cancelled():
                # a worker gone while this was being sent: its reader failed the future, and the send's own
                # error is what this call raises; retrieved, so asyncio does not print it on stderr
                future.exception()

    async def _send(self, slot: _Handle, message: Any) -> None:
        if slot.channel is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await slot.channel.send(message)

    def _spawn_task(self, coro: Any, slot: _Handle | None = None) -> None:
        task = asyncio.ensure_future(coro)
        owner = slot.tasks if slot is not None else self._tasks
        owner.add(task)
        task.add_done_callback(owner.discard)

    def _kill(self, slot: _Handle) -> None:
        process = slot.process
        if process is not None and process.pid is not None:
            with contextlib.suppress(ProcessLookupError, OSError):
                os.kill(process.pid, signal.SIGKILL)

    def _on_exit(self, slot: _Handle, process: Any) -> None:
        """A worker process ended: forget it; unless we are stopping, start another in its slot."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            loop.remove_reader(process.sentinel)
        if slot.process is not process:
            return
        code = process.exitcode
        if slot.exited is not None and not slot.exited.done():
            slot.exited.set_result(code)
        slot.ready = False
        if slot.channel is not None:
            slot.channel.close()
            slot.channel = None
        if slot.last is not None:  # keep what it counted; its gauges went with it
            slot.last.in_flight = slot.last.tcp_connections = 0
            self.retired = merge([self.retired, slot.last])
            slot.last = None
        if self._stopping or not self._serving:
            return  # stopping, or a first start failed (reported by _listen)
        reason = "unresponsive" if slot.replacing else "exited"
        slot.replacing = False
        self.restarts[reason] += 1
        lived = time.monotonic() - slot.started
        slot.deaths = slot.deaths + 1 if lived < STABLE else 1
        pause = RESTART_PAUSE[min(slot.deaths - 1, len(RESTART_PAUSE) - 1)]
        self.wlog.warning("worker_exited", worker=slot.number, pid=slot.pid, exitcode=code, reason=reason,
                          lived_s=round(lived, 1), restart_in_s=pause)
        self._spawn_task(self._restart(slot, pause))

    async def _restart(self, slot: _Handle, pause: float) -> None:
        await asyncio.sleep(pause)
        if self._stopping:
            return
        assert self._worker_settings is not None
        try:
            await self._start(slot, self._worker_settings)
        except Exception as exc:  # try again later; the slot stays empty meanwhile
            self.wlog.error("worker_restart_failed", worker=slot.number, error=str(exc))
            if not self._stopping and slot.process is not None and slot.process.exitcode is None:
                self._kill(slot)  # its exit schedules the next try

    # ------------------------------------------------------------------ the estate, for every worker

    async def _publish(self, snapshot: Snapshot) -> None:
        """Every worker serves ``snapshot`` when this returns (called under the topology's lock).

        A worker that cannot (an error, or no answer within ADOPT_TIMEOUT) is killed: it
        starts again from the current snapshot. A worker starting now gets it first or next.
        """
        slots = [slot for slot in self.slots if slot.channel is not None]
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        blob = await loop.run_in_executor(None, pickle.dumps, snapshot, pickle.HIGHEST_PROTOCOL)  # once for all
        results = await asyncio.gather(*(self._request(slot, ADOPT_TIMEOUT, "adopt", blob) for slot in slots),
                                       return_exceptions=True)
        for slot, result in zip(slots, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, WorkerGone):
                self.wlog.error("worker_did_not_adopt", worker=slot.number, generation=snapshot.generation,
                                error=f"{type(result).__name__}: {result}")
                slot.replacing = True
                self._kill(slot)
        self.wlog.info("workers_adopted", generation=snapshot.generation,
                       workers=sum(1 for r in results if not isinstance(r, BaseException)),
                       seconds=round(time.monotonic() - started, 3))

    # ------------------------------------------------------------------ stopping

    async def _stop_workers(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        running = [slot for slot in self.slots if slot.process is not None and slot.exited is not None
                   and not slot.exited.done()]
        for slot in running:
            await self._send(slot, ("stop",))
        waits = [slot.exited for slot in running if slot.exited is not None]
        if waits:
            _, late = await asyncio.wait(waits, timeout=self.settings.shutdown_grace + 5)
            for slot in running:
                if slot.exited in late:
                    self.wlog.error("worker_killed", worker=slot.number, pid=slot.pid,
                                    why="still running after the shutdown grace")
                    self._kill(slot)
                    self.exit_code = 1
            if late:
                await asyncio.wait(late, timeout=5)
        for slot in self.slots:
            for task in list(slot.tasks):
                task.cancel()
            if slot.exited is not None and slot.exited.done() and slot.exited.result() not in (0, None):
                self.exit_code = 1
            if slot.process is not None:
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_reader(slot.process.sentinel)
                with contextlib.suppress(Exception):
                    slot.process.join(1.0)
            if slot.channel is not None:
                slot.channel.close()
                slot.channel = None
        if self._serving:  # a start that failed (a port in use...) logs no stop of workers that never all ran
            self.wlog.info("workers_stopped", restarts=dict(self.restarts))
