"""dnsemu as a test fixture: a real server on 127.0.0.1 (port 0), driven from Python.

::

    from dnsemu.testing import Emulator

    with Emulator("zones/topology.yaml") as dns:          # a thread with its own event loop
        reply = dns.query("mystorage.blob.core.windows.net", source="hub")
        assert reply.addresses == ["10.0.1.4"]
        dns.add_private_endpoint("pe-new", {...})          # validated like a file; ChangeError when wrong
        dns.check()                                        # re-raise anything the server hit

    async with Emulator(topology) as dns:                  # in the running loop: methods are awaited
        reply = await dns.query("app.corp.test", source="10.0.2.4")

The topology is a path, a dict (the YAML file's data) or a
:class:`~dnsemu.topology.load.LoadedTopology`. Settings come from keyword
arguments only (never from ``DNSEMU_*`` variables): ``Emulator(t, upstreams=[...])``.
``http=True`` also serves the HTTP API and metrics on an ephemeral port
(``dns.http_url``), with run-time changes on.

``source`` picks who asks, as ``dnsemu explain --from`` does: an IP address, or
the name of a VNet, on-premises site or VM, or ``"internet"``. A loopback
address is used as the real source (bound, where the OS allows it); any other
is sent as EDNS Client Subnet from 127.0.0.1, which dnsemu trusts by default,
so a test can ask from ``10.0.2.4`` without owning that address.

Replies come back as :class:`QueryResult` (no dnspython needed): the rcode as
text, the answer and authority records, ``addresses`` for the A/AAAA values.
The query log (:attr:`Emulator.queries`) holds one dict per query the server
answered, the fields of the ``dns_query`` log line. ``check()`` raises the first
error the server could only log (a query answered SERVFAIL because the handler
raised, an HTTP 500, an exception on the server's loop), so a test fails with the
cause rather than a timeout.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnsemu.analysis.explain import source_address
from dnsemu.analysis.views import explain_json, topology_json
from dnsemu.app import App
from dnsemu.dns import probe
from dnsemu.logs import get_logger
from dnsemu.server.server import DnsServer
from dnsemu.server.settings import Settings, load_settings
from dnsemu.topology import changes
from dnsemu.topology.changes import Change, ChangeError
from dnsemu.topology.files import DEFAULT_MAX_FILE_BYTES
from dnsemu.topology.load import load_topology, load_topology_data
from dnsemu.topology.loaded import LoadedTopology, Provenance

__all__ = ["AsyncEmulator", "ChangeError", "Emulator", "EmulatorError", "QueryResult", "Record", "load"]

_LOG_LIMIT = 10_000


class EmulatorError(RuntimeError):
    """Misuse of an emulator (started twice, used after stop), or a server error with no exception object."""


def load(topology: Any, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> LoadedTopology:
    """A path, a dict of the topology file's data, or a LoadedTopology, as a validated LoadedTopology.

    A dict has no folder, so its zones give records or ``zone_text``, not ``zone_file``.
    """
    if isinstance(topology, LoadedTopology):
        return topology
    if isinstance(topology, Mapping):
        return load_topology_data(dict(topology), Provenance(max_file_bytes=max_file_bytes))
    if isinstance(topology, (str, os.PathLike)):
        return load_topology(topology, max_file_bytes=max_file_bytes)
    raise TypeError(f"a topology is a path, a dict or a LoadedTopology, not {type(topology).__name__}")


@dataclass(frozen=True)
class Record:
    name: str
    type: str
    ttl: int
    value: str

    def __str__(self) -> str:
        return f"{self.name} {self.ttl} {self.type} {self.value}"


@dataclass(frozen=True)
class QueryResult:
    """A reply, parsed by :mod:`dnsemu.dns.probe`'s standard-library parser."""

    rcode: str
    answer: tuple[Record, ...]
    authority: tuple[Record, ...]
    flags: tuple[str, ...]
    truncated: bool
    tcp: bool
    wire: bytes

    @property
    def addresses(self) -> list[str]:
        """The A and AAAA values of the answer, in order (the end of a CNAME chain)."""
        return [r.value for r in self.answer if r.type in ("A", "AAAA")]

    @property
    def cnames(self) -> list[str]:
        """CNAME targets in the answer, in order."""
        return [r.value for r in self.answer if r.type == "CNAME"]

    def __str__(self) -> str:
        records = ", ".join(f"{r.type} {r.value}" for r in self.answer)
        return f"{self.rcode} {records}".strip()


def _result(data: bytes, tcp: bool) -> QueryResult:
    reply = probe.parse_reply(data)

    def records(rrs: tuple[probe.RR, ...]) -> tuple[Record, ...]:
        return tuple(Record(rr.name, probe.type_text(rr.rtype), rr.ttl, rr.data) for rr in rrs)

    return QueryResult(reply.rcode_text, records(reply.answer), records(reply.authority),
                       tuple(reply.flag_text.split()), reply.truncated, tcp, data)


class _Capture:
    """The handler's logger: keeps ``dns_query`` events and the exceptions it logs, then passes them on."""

    def __init__(self, core: _Core) -> None:
        self.core = core
        self.inner = get_logger("dnsemu")

    def info(self, event: str, **fields: Any) -> None:
        if event == "dns_query":
            self.core.queries.append({"time": time.time(), **fields})
        self.inner.info(event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        exc = sys.exc_info()[1]
        self.core.errors.append(exc if exc is not None else EmulatorError(f"{event}: {fields}"))
        self.inner.exception(event, **fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _Core:
    """What a synchronous and an asynchronous emulator share: topology, settings, server, logs, errors."""

    def __init__(self, topology: Any, http: bool, overrides: Mapping[str, Any]) -> None:
        values: dict[str, Any] = {"listen": ["127.0.0.1:0"], "watch": False, "query_log": True,
                                  "shutdown_grace": 1.0}
        if isinstance(topology, LoadedTopology):
            if topology.provenance.file:
                values["topology"] = topology.provenance.file
        elif isinstance(topology, (str, os.PathLike)):
            values["topology"] = str(Path(topology))
        if http:
            values.update(http=True, http_listen="127.0.0.1:0", api_changes=True)
        values.update(overrides)
        self.settings: Settings = load_settings(values, env={})
        self.loaded = load(topology, max_file_bytes=self.settings.max_file_bytes)
        self.queries: collections.deque[dict[str, Any]] = collections.deque(maxlen=_LOG_LIMIT)
        self.errors: list[BaseException] = []
        self.app = App(self.settings, self.loaded, logger=_Capture(self))
        self.server = self.app.server
        self.state = "new"
        self.task_errors_seen = 0

    def claim(self, mode: str) -> None:
        if self.state in ("starting", "running"):
            raise EmulatorError("this emulator is already running (start it once)")
        if self.state in ("stopping", "stopped"):
            raise EmulatorError("this emulator was stopped; an emulator runs once, create a new one")
        self.state = mode

    def running(self) -> DnsServer:
        if self.state != "running":
            raise EmulatorError(f"the emulator is not running ({self.state}); use it inside 'with'")
        return self.server


class _Base:
    _core: _Core

    # -- where it listens

    @property
    def server(self) -> DnsServer:
        """The :class:`~dnsemu.server.server.DnsServer` underneath (its ``stats``, ``index`` ...)."""
        return self._core.server

    @property
    def app(self) -> App:
        """The :class:`~dnsemu.app.App`: the server, and its HTTP listener with ``http=True``."""
        return self._core.app

    @property
    def settings(self) -> Settings:
        return self._core.settings

    @property
    def address(self) -> tuple[str, int]:
        """``("127.0.0.1", port)``: where DNS is served over UDP and TCP."""
        return self._core.running().addresses[0]

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the HTTP API and metrics (``Emulator(..., http=True)``)."""
        self._core.running()
        address = self._core.app.http_address
        if address is None:
            raise EmulatorError("no HTTP listener: create the emulator with http=True")
        return f"http://{address[0]}:{address[1]}"

    # -- what happened

    @property
    def queries(self) -> list[dict[str, Any]]:
        """The query log: one dict per answered query (client, proto, view, network, qname, qtype, rcode,
        answer, kind, duration_ms, cached, and ecs when ECS routed it), oldest first."""
        return list(self._core.queries.copy())

    def clear_queries(self) -> None:
        self._core.queries.clear()

    def check(self) -> None:
        """Raise the first error the server hit since the last check (the others are attached as notes)."""
        core = self._core
        errors = [*core.errors, *core.server.errors]
        raised = core.server.state.counters.get("handler_raised", 0)
        if raised > core.task_errors_seen:
            errors.append(EmulatorError(f"{raised - core.task_errors_seen} reply task(s) raised; see the "
                                        "internal_error log lines"))
            core.task_errors_seen = raised
        core.errors.clear()
        core.server.errors.clear()
        if not errors:
            return
        first = errors[0]
        for other in errors[1:]:
            first.add_note(f"dnsemu also hit: {type(other).__name__}: {other}")
        raise first

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """One sample of the server's Prometheus registry (``dnsemu_dns_queries_total``, {...}), or None."""
        return self._core.app.registry.get_sample_value(name, dict(labels or {}))

    def topology(self) -> dict[str, Any]:
        """The topology as compiled, as ``GET /v1/topology`` returns it."""
        server = self._core.running()
        applied = list(server.changes.changes) if server.changes is not None else []
        return topology_json(server.index, server.loaded, server.generation, applied)

    def explain(self, name: str, type: str = "A", source: str = "internet") -> dict[str, Any]:
        """The resolver's trace, as ``dnsemu explain --json`` prints it."""
        server = self._core.running()
        assert server.loaded is not None
        return explain_json(server.index, server.loaded, name, type, source)

    # -- asking

    def _route(self, source: str | None, subnet: str | None) -> tuple[str, str | None]:
        """(address to bind, ECS subnet or None) for a query from ``source``."""
        if source is None:
            return "127.0.0.1", subnet
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            server = self._core.running()
            assert server.loaded is not None
            address = source_address(server.loaded.topology, server.index, source)
        if address.version == 4 and address.is_loopback:
            return str(address), subnet
        if subnet is None:
            if not self.settings.ecs:
                raise ValueError(f"source {source!r} is not a loopback address, so it is sent as EDNS Client "
                                 "Subnet, but the emulator runs with ecs off")
            subnet = f"{address}/{address.max_prefixlen}"
        return "127.0.0.1", subnet

    def _message(self, name: str, type: str | int, source: str | None,
                 subnet: str | None) -> tuple[str, int, bytes]:
        """(address to bind, query ID, query bytes) for ``name`` asked from ``source``."""
        bind, ecs = self._route(source, subnet)
        if bind != "127.0.0.1" and not _bindable(bind):
            bind, ecs = "127.0.0.1", ecs or f"{bind}/32"
        qtype = type if isinstance(type, int) else probe.type_code(type)
        qid = int.from_bytes(os.urandom(2), "big")
        return bind, qid, probe.build_query(name, qtype, qid, subnet=ecs)

    @staticmethod
    def _matches(data: bytes, qid: int) -> bool:
        return len(data) >= 12 and data[:2] == qid.to_bytes(2, "big") and bool(data[2] & 0x80)

    # -- changes, as values

    @staticmethod
    def _endpoint(name: str, spec: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> Change:
        return changes.put_private_endpoint(name, {**(spec or {}), **fields})

    @staticmethod
    def _link(zone: str, vnet: str, resolution_policy: str, registration_enabled: bool, name: str | None) -> Change:
        return changes.put_virtual_network_link(zone, vnet, registration_enabled=registration_enabled,
                                                resolution_policy=resolution_policy, name=name)


def _udp_socket(bind: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((bind, 0))
    except OSError:
        sock.close()
        raise
    return sock


def _bindable(address: str) -> bool:
    if address == "127.0.0.1":
        return True
    try:
        _udp_socket(address).close()
    except OSError:
        return False
    return True


class Emulator(_Base):
    """A dnsemu server in a thread with its own event loop; see the module docstring.

    ``with Emulator(t) as dns`` starts and stops it; ``async with Emulator(t) as dns``
    runs it in the caller's loop instead and hands back an :class:`AsyncEmulator`.
    """

    def __init__(self, topology: Any, *, http: bool = False, **settings: Any) -> None:
        self._core = _Core(topology, http, settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._async: AsyncEmulator | None = None

    def __repr__(self) -> str:
        where = f" {self.host}:{self.port}" if self._core.state == "running" else ""
        return f"<Emulator {self._core.state}{where}>"

    # -- life cycle

    def start(self) -> Emulator:
        """Start the server in its thread; return once every socket is bound. Raises what start-up raised."""
        self._core.claim("starting")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(self._loop_error)
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.app.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.run_until_complete(self.server.stop())
                loop.close()
                return
            ready.set()
            try:
                loop.run_until_complete(self.app.serve_forever())
            except BaseException as exc:  # pragma: no cover - serve_forever handles its own errors
                self._core.errors.append(exc)
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="dnsemu-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._core.state = "stopped"
            self._thread.join(10)
            raise failure[0]
        self._core.state = "running"
        return self

    def stop(self) -> None:
        """Stop the server (answering what is in flight); again is a no-op."""
        core = self._core
        if core.state == "running" and self._async is not None:
            raise EmulatorError("this emulator runs in an event loop (async with): it stops when the block ends")
        if core.state != "running":  # never started, or stopped already: nothing to do
            return
        core.state = "stopping"
        assert self._loop is not None and self._thread is not None
        with contextlib.suppress(RuntimeError):  # the loop already closed
            self._loop.call_soon_threadsafe(self.server.request_stop)
        self._thread.join(30)
        core.state = "stopped"

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        self._core.errors.append(exc if isinstance(exc, BaseException) else EmulatorError(context.get("message", "")))
        loop.default_exception_handler(context)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> AsyncEmulator:
        self._async = AsyncEmulator._from_core(self._core)
        return await self._async.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        assert self._async is not None
        await self._async.__aexit__(*exc)

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        self._core.running()
        if self._async is not None:
            coro.close()
            raise EmulatorError("this emulator runs in an event loop (async with): await the methods of the "
                                "object 'async with' gave you")
        if threading.current_thread() is self._thread:
            coro.close()
            raise EmulatorError("called from the emulator's own loop thread")
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- asking

    def query(self, name: str, type: str | int = "A", source: str | None = None, *, tcp: bool = False,
              subnet: str | None = None, timeout: float = 2.0) -> QueryResult:
        """Ask ``name``/``type`` from ``source`` (see the module docstring) over UDP, or TCP with ``tcp=True``.

        A truncated UDP reply is returned as it is (``truncated`` True): ask again with ``tcp=True``.
        """
        self._core.running()
        if self._async is not None:
            raise EmulatorError("this emulator runs in an event loop: use 'await dns.query(...)'")
        bind, qid, wire = self._message(name, type, source, subnet)
        try:
            data = self._tcp(wire, bind, timeout) if tcp else self._udp(wire, qid, bind, timeout)
        except TimeoutError:
            self.check()  # a server error explains the silence better than the timeout
            raise TimeoutError(f"no reply from dnsemu at {self.host}:{self.port} in {timeout:g} s "
                               f"({name} {type} from {source or bind})") from None
        return _result(data, tcp)

    def _udp(self, wire: bytes, qid: int, bind: str, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        with _udp_socket(bind) as sock:
            sock.connect(self.address)
            sock.send(wire)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                data = sock.recv(65535)
                if self._matches(data, qid):
                    return data

    def _tcp(self, wire: bytes, bind: str, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        with socket.create_connection(self.address, timeout=timeout, source_address=(bind, 0)) as sock:
            sock.sendall(struct.pack("!H", len(wire)) + wire)

            def read(count: int) -> bytes:
                out = b""
                while len(out) < count:
                    sock.settimeout(max(deadline - time.monotonic(), 0.001))
                    chunk = sock.recv(count - len(out))
                    if not chunk:
                        raise ConnectionError("dnsemu closed the TCP connection before replying")
                    out += chunk
                return out

            (length,) = struct.unpack("!H", read(2))
            return read(length)

    # -- run-time changes (validated like a file; ChangeError when they do not hold)

    def apply(self, change: Change) -> None:
        """Apply one :mod:`dnsemu.topology.changes` change; the next query sees it."""
        self._call(self.server.apply_change(change))

    def add_private_endpoint(self, name: str, spec: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        """Create or replace a private endpoint (as under ``private_endpoints:``); its zone records follow."""
        self.apply(self._endpoint(name, spec, fields))

    def remove_private_endpoint(self, name: str) -> None:
        self.apply(changes.delete_private_endpoint(name))

    def add_zone(self, zone: str, spec: Mapping[str, Any] | None = None) -> None:
        """Create or replace a private DNS zone (as under ``private_dns_zones:``)."""
        self.apply(changes.put_private_dns_zone(zone, dict(spec or {})))

    def remove_zone(self, zone: str) -> None:
        self.apply(changes.delete_private_dns_zone(zone))

    def add_record(self, zone: str, record: str | Mapping[str, Any], *, public: bool = False) -> None:
        """Add ``"name [ttl] TYPE value"`` or replace a record set ``{"name", "type", "ttl", "values"}``."""
        self.apply(changes.add_record(zone, record if isinstance(record, str) else dict(record), public=public))

    def remove_record(self, zone: str, name: str, type: str | None = None, *, public: bool = False) -> None:
        self.apply(changes.delete_record(zone, name, type, public=public))

    def link(self, zone: str, vnet: str, *, resolution_policy: str = "Default", registration_enabled: bool = False,
             name: str | None = None) -> None:
        """Link a private zone to a VNet, or change the link's resolution policy."""
        self.apply(self._link(zone, vnet, resolution_policy, registration_enabled, name))

    def unlink(self, zone: str, vnet: str) -> None:
        self.apply(changes.delete_virtual_network_link(zone, vnet))

    def reset(self) -> None:
        """Drop every run-time change, the query log and unchecked errors: the state right after start."""
        self._call(self.server.reset_changes())
        self.clear_queries()
        core = self._core
        core.errors.clear()
        core.server.errors.clear()
        core.task_errors_seen = core.server.state.counters.get("handler_raised", 0)

    def reload(self) -> bool:
        """Read the topology file again (changes are re-applied); False when it does not load."""
        return bool(self._call(self.server.reload(reason="Emulator.reload")))


class AsyncEmulator(_Base):
    """A dnsemu server in the running event loop: ``async with AsyncEmulator(t) as dns``; methods are awaited."""

    def __init__(self, topology: Any, *, http: bool = False, **settings: Any) -> None:
        self._core = _Core(topology, http, settings)

    @classmethod
    def _from_core(cls, core: _Core) -> AsyncEmulator:
        self = cls.__new__(cls)
        self._core = core
        return self

    def __repr__(self) -> str:
        return f"<AsyncEmulator {self._core.state}>"

    async def start(self) -> AsyncEmulator:
        self._core.claim("starting")
        try:
            await self.app.start()
        except BaseException:
            self._core.state = "stopped"
            await self.server.stop()
            raise
        self._core.state = "running"
        return self

    async def stop(self) -> None:
        if self._core.state != "running":
            return
        self._core.state = "stopping"
        try:
            await self.server.stop()
        finally:
            self._core.state = "stopped"

    async def __aenter__(self) -> AsyncEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def query(self, name: str, type: str | int = "A", source: str | None = None, *, tcp: bool = False,
                    subnet: str | None = None, timeout: float = 2.0) -> QueryResult:
        """As :meth:`Emulator.query`, without blocking the loop the server runs in."""
        self._core.running()
        bind, qid, wire = self._message(name, type, source, subnet)
        try:
            async with asyncio.timeout(timeout):
                data = await (self._tcp(wire, bind) if tcp else self._udp(wire, qid, bind))
        except TimeoutError:
            self.check()
            raise TimeoutError(f"no reply from dnsemu at {self.host}:{self.port} in {timeout:g} s "
                               f"({name} {type} from {source or bind})") from None
        return _result(data, tcp)

    async def _udp(self, wire: bytes, qid: int, bind: str) -> bytes:
        loop = asyncio.get_running_loop()
        with _udp_socket(bind) as sock:
            sock.setblocking(False)
            sock.connect(self.address)
            await loop.sock_sendall(sock, wire)
            while True:
                data = await loop.sock_recv(sock, 65535)
                if self._matches(data, qid):
                    return data

    async def _tcp(self, wire: bytes, bind: str) -> bytes:
        reader, writer = await asyncio.open_connection(self.host, self.port, local_addr=(bind, 0))
        try:
            writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            return await reader.readexactly(length)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def apply(self, change: Change) -> None:
        self._core.running()
        await self.server.apply_change(change)

    async def add_private_endpoint(self, name: str, spec: Mapping[str, Any] | None = None, /,
                                   **fields: Any) -> None:
        await self.apply(self._endpoint(name, spec, fields))

    async def remove_private_endpoint(self, name: str) -> None:
        await self.apply(changes.delete_private_endpoint(name))

    async def add_zone(self, zone: str, spec: Mapping[str, Any] | None = None) -> None:
        await self.apply(changes.put_private_dns_zone(zone, dict(spec or {})))

    async def remove_zone(self, zone: str) -> None:
        await self.apply(changes.delete_private_dns_zone(zone))

    async def add_record(self, zone: str, record: str | Mapping[str, Any], *, public: bool = False) -> None:
        await self.apply(changes.add_record(zone, record if isinstance(record, str) else dict(record), public=public))

    async def remove_record(self, zone: str, name: str, type: str | None = None, *, public: bool = False) -> None:
        await self.apply(changes.delete_record(zone, name, type, public=public))

    async def link(self, zone: str, vnet: str, *, resolution_policy: str = "Default",
                   registration_enabled: bool = False, name: str | None = None) -> None:
        await self.apply(self._link(zone, vnet, resolution_policy, registration_enabled, name))

    async def unlink(self, zone: str, vnet: str) -> None:
        await self.apply(changes.delete_virtual_network_link(zone, vnet))

    async def reset(self) -> None:
        self._core.running()
        await self.server.reset_changes()
        self.clear_queries()
        core = self._core
        core.errors.clear()
        core.server.errors.clear()
        core.task_errors_seen = core.server.state.counters.get("handler_raised", 0)

    async def reload(self) -> bool:
        self._core.running()
        return bool(await self.server.reload(reason="AsyncEmulator.reload"))
