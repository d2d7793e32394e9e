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
:class:`~dnsemu.topology.load.LoadedTopology`; left out, it is ``zones/topology.yaml``
of the working directory, else the bundled example estate (as ``dnsemu serve``
chooses; the ``topology_selected`` log line says which). Settings come from keyword
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

An emulator prints nothing: its log lines go to the standard ``logging`` logger
``dnsemu`` (pytest shows them with ``--log-cli-level=INFO``; any program with
``logging.getLogger("dnsemu").setLevel(logging.INFO)`` and a handler, or with
``DNSEMU_LOG=info`` in the environment).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import os
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from dnsemu.analysis.explain import source_address
from dnsemu.analysis.views import explain_json, topology_json
from dnsemu.app import App
from dnsemu.dns import message
from dnsemu.dns.addresses import format_hostport
from dnsemu.dns.client import DnsClient, Response
from dnsemu.logs import get_logger
from dnsemu.server.server import DnsServer
from dnsemu.server.settings import Settings, load_settings
from dnsemu.topology import changes
from dnsemu.topology.changes import Change, ChangeError
from dnsemu.topology.files import DEFAULT_MAX_FILE_BYTES
from dnsemu.topology.load import default_topology_choice, load_topology, load_topology_data
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
    """A reply, parsed by :mod:`dnsemu.dns.message`'s standard-library parser."""

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


def _result(response: Response) -> QueryResult:
    reply = response.parse()

    def records(rrs: tuple[message.RR, ...]) -> tuple[Record, ...]:
        return tuple(Record(rr.name, message.type_text(rr.rtype), rr.ttl, rr.data) for rr in rrs)

    return QueryResult(reply.rcode_text, records(reply.answer), records(reply.authority),
                       tuple(reply.flag_text.split()), reply.truncated, response.tcp, response.wire)


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
        if topology is None:  # as dnsemu serve: ./zones/topology.yaml, else the bundled example estate
            topology, why = default_topology_choice()
            get_logger("dnsemu.testing").info("topology_selected", topology=str(topology), why=why)
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


# What an operation returns: Emulator's methods return the value, AsyncEmulator's an awaitable of it.
_Result = TypeVar("_Result", QueryResult, Awaitable[QueryResult])
_Done = TypeVar("_Done", None, Awaitable[None])
_Flag = TypeVar("_Flag", bool, Awaitable[bool])


class _Emulator(Generic[_Result, _Done, _Flag]):
    """Every member of an emulator, written once for both kinds.

    An operation that needs the server's event loop is a coroutine, handed to
    :meth:`_run`: :class:`Emulator` runs it on its thread's loop and waits for
    the value; :class:`AsyncEmulator` gives the coroutine back to be awaited in
    the caller's loop, which is the server's. Nothing else differs.
    """

    _core: _Core

    def _run(self, coro: Coroutine[Any, Any, Any], wait: float = 30.0) -> Any:
        raise NotImplementedError

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
        return f"http://{format_hostport(*address)}"

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

    def query(self, name: str, type: str | int = "A", source: str | None = None, *, tcp: bool = False,
              subnet: str | None = None, timeout: float = 2.0) -> _Result:
        """Ask ``name``/``type`` from ``source`` (see the module docstring) over UDP, or TCP with ``tcp=True``.

        A truncated UDP reply is returned as it is (``truncated`` True): ask again with ``tcp=True``.
        """
        return self._run(self._query(name, type, source, tcp, subnet, timeout), wait=timeout + 30)

    async def _query(self, name: str, type: str | int, source: str | None, tcp: bool, subnet: str | None,
                     timeout: float) -> QueryResult:
        bind, ecs = self._route(source, subnet)
        if bind != "127.0.0.1" and not _bindable(bind):
            bind, ecs = "127.0.0.1", ecs or f"{bind}/32"
        qtype = type if isinstance(type, int) else message.type_code(type)
        client = DnsClient(timeout=timeout, source=bind)
        try:
            response = await client.exchange_async(self.address, client.make_query(name, qtype, subnet=ecs),
                                                   tcp=tcp, retry_truncated=False)
        except TimeoutError:
            self.check()  # a server error explains the silence better than the timeout
            raise TimeoutError(f"no reply from dnsemu at {format_hostport(*self.address)} in {timeout:g} s "
                               f"({name} {type} from {source or bind})") from None
        return _result(response)

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

    # -- run-time changes (validated like a file; ChangeError when they do not hold)

    def apply(self, change: Change) -> _Done:
        """Apply one :mod:`dnsemu.topology.changes` change; the next query sees it."""
        return self._run(self._core.server.apply_change(change))

    def add_private_endpoint(self, name: str, spec: Mapping[str, Any] | None = None, /, **fields: Any) -> _Done:
        """Create or replace a private endpoint (as under ``private_endpoints:``); its zone records follow."""
        return self.apply(changes.put_private_endpoint(name, {**(spec or {}), **fields}))

    def remove_private_endpoint(self, name: str) -> _Done:
        return self.apply(changes.delete_private_endpoint(name))

    def add_zone(self, zone: str, spec: Mapping[str, Any] | None = None) -> _Done:
        """Create or replace a private DNS zone (as under ``private_dns_zones:``)."""
        return self.apply(changes.put_private_dns_zone(zone, dict(spec or {})))

    def remove_zone(self, zone: str) -> _Done:
        return self.apply(changes.delete_private_dns_zone(zone))

    def add_record(self, zone: str, record: str | Mapping[str, Any], *, public: bool = False) -> _Done:
        """Add ``"name [ttl] TYPE value"`` or replace a record set ``{"name", "type", "ttl", "values"}``."""
        return self.apply(changes.add_record(zone, record if isinstance(record, str) else dict(record),
                                             public=public))

    def remove_record(self, zone: str, name: str, type: str | None = None, *, public: bool = False) -> _Done:
        return self.apply(changes.delete_record(zone, name, type, public=public))

    def link(self, zone: str, vnet: str, *, resolution_policy: str = "Default", registration_enabled: bool = False,
             name: str | None = None) -> _Done:
        """Link a private zone to a VNet, or change the link's resolution policy."""
        return self.apply(changes.put_virtual_network_link(zone, vnet, registration_enabled=registration_enabled,
                                                           resolution_policy=resolution_policy, name=name))

    def unlink(self, zone: str, vnet: str) -> _Done:
        return self.apply(changes.delete_virtual_network_link(zone, vnet))

    def reset(self) -> _Done:
        """Drop every run-time change, the query log and unchecked errors: the state right after start."""
        return self._run(self._reset())

    async def _reset(self) -> None:
        core = self._core
        await core.server.reset_changes()
        self.clear_queries()
        core.errors.clear()
        core.server.errors.clear()
        core.task_errors_seen = core.server.state.counters.get("handler_raised", 0)

    def reload(self) -> _Flag:
        """Read the topology file again (changes are re-applied); False when it does not load."""
        return self._run(self._reload(f"{type(self).__name__}.reload"))

    async def _reload(self, reason: str) -> bool:
        return bool(await self._core.server.reload(reason=reason))


def _bindable(address: str) -> bool:
    """Whether this host lets a socket bind ``address`` (any 127.x.y.z on Linux; only 127.0.0.1 elsewhere)."""
    if address == "127.0.0.1":
        return True
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((address, 0))
    except OSError:
        return False
    return True


class Emulator(_Emulator[QueryResult, None, bool]):
    """A dnsemu server in a thread with its own event loop; see the module docstring.

    ``with Emulator(t) as dns`` starts and stops it; ``async with Emulator(t) as dns``
    runs it in the caller's loop instead and hands back an :class:`AsyncEmulator`.
    """

    def __init__(self, topology: Any = None, *, http: bool = False, **settings: Any) -> None:
        self._core = _Core(topology, http, settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._async: AsyncEmulator | None = None

    def __repr__(self) -> str:
        where = f" {format_hostport(self.host, self.port)}" if self._core.state == "running" else ""
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

    def _run(self, coro: Coroutine[Any, Any, Any], wait: float = 30.0) -> Any:
        """Run ``coro`` on the emulator's loop, from the caller's thread, and wait for its value."""
        try:
            self._core.running()
            if self._async is not None:
                raise EmulatorError("this emulator runs in an event loop (async with): await the methods of the "
                                    "object 'async with' gave you")
            if threading.current_thread() is self._thread:
                raise EmulatorError("called from the emulator's own loop thread")
        except EmulatorError:
            coro.close()
            raise
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(wait)


class AsyncEmulator(_Emulator[Awaitable[QueryResult], Awaitable[None], Awaitable[bool]]):
    """A dnsemu server in the running event loop: ``async with AsyncEmulator(t) as dns``; methods are awaited."""

    def __init__(self, topology: Any = None, *, http: bool = False, **settings: Any) -> None:
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

    def _run(self, coro: Coroutine[Any, Any, Any], wait: float = 30.0) -> Any:
        """``coro`` itself, for the caller to await in its loop (the server's)."""
        try:
            self._core.running()
        except EmulatorError:
            coro.close()
            raise
        return coro
