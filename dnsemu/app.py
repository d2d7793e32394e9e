"""The application: a :class:`~dnsemu.server.server.DnsServer` and, when the settings ask
for it, the HTTP API in front of it, started and stopped together on one event loop.

::

    async with App(settings) as app:               # DNS bound, then HTTP
        print(app.ready_line())                    # dnsemu ready udp://… tcp://… http://…
        await app.server.reload()
    # HTTP closed first, then DNS: in-flight queries answered

``dnsemu serve`` and :mod:`dnsemu.testing` build one of these; the server itself
knows nothing of HTTP. The app owns the Prometheus registry (``app.registry``),
which reads the server's plain counters at scrape time.

What serves HTTP (:mod:`dnsemu.http`, prometheus-client) is imported when it is first
needed: by :meth:`App.start` when the settings ask for HTTP (before the readiness line,
so the listener answers its first request at once), or on the first read of
``app.registry``. A server without ``--http`` never imports it, and so answers its first
query sooner (issue 18: start-up time).
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

from dnsemu.dns.addresses import format_hostport
from dnsemu.server.server import DnsServer, ListenError, ready_line
from dnsemu.topology.load import load_topology

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from dnsemu.http.api import Api
    from dnsemu.http.listener import HttpServer
    from dnsemu.server.indexcache import IndexCache
    from dnsemu.server.live import BuildGuard
    from dnsemu.server.settings import Settings
    from dnsemu.topology.loaded import LoadedTopology

__all__ = ["App"]


class App:
    """A DNS server and, with ``settings.http``, its HTTP listener (API, metrics, health)."""

    def __init__(self, settings: Settings, loaded_topology: LoadedTopology | None = None, *,
                 reuse_port: bool = False, logger: Any = None, build_guard: BuildGuard | None = None,
                 server: DnsServer | None = None, compare: LoadedTopology | None = None,
                 index_cache: IndexCache | None = None) -> None:
        self.settings = settings
        #: the estate GET /v1/diff?against=compare compares with (``settings.compare``, read by start() if not given)
        self.compare = compare
        #: ``server``: one built already (``dnsemu serve --workers``: the parent that runs the workers)
        self.server = server or DnsServer(settings, loaded_topology, reuse_port=reuse_port, logger=logger,
                                          build_guard=build_guard, index_cache=index_cache)
        self.http: HttpServer | None = None
        #: the API behind the HTTP listener (once started)
        self.api: Api | None = None
        self.http_address: tuple[str, int] | None = None
        self._registry: CollectorRegistry | None = None

    @property
    def registry(self) -> CollectorRegistry:
        """This app's Prometheus registry (never the global one): made on first use, then always the same."""
        if self._registry is None:
            from dnsemu.http.metrics import create_registry

            self._registry = create_registry(self.server, http_errors=self._http_errors)
        return self._registry

    def _http_errors(self) -> int:
        return self.http.errors if self.http is not None else 0

    def ready_line(self) -> str:
        return ready_line(self.server.addresses, self.http_address)

    async def start(self) -> None:
        """Start the DNS server, then the HTTP listener; on failure nothing is left open."""
        await self.server.start()
        if not self.settings.http:
            return
        try:
            await self._start_http()
        except BaseException:
            await self.server.stop()
            raise

    async def _start_http(self) -> None:
        from dnsemu.http.api import Api
        from dnsemu.http.listener import HostPolicy, HttpServer

        settings = self.settings
        if settings.compare is not None and self.compare is None:  # read like the topology: confined, bounded
            self.compare = await asyncio.to_thread(load_topology, settings.compare,
                                                   max_file_bytes=settings.max_file_bytes)
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
        api = Api(self.server, self.registry, compare=self.compare)
        http = HttpServer(api.handle, max_body=settings.http_max_body, timeout=settings.http_timeout,
                          on_error=self.server.record_error,
                          host_policy=HostPolicy.for_listener(host, settings.http_allowed_hosts),
                          priority_paths=("/healthz", "/readyz"))
        try:
            await http.start(sock)
        except BaseException:
            sock.close()
            raise
        self.http = http
        self.api = api
        self.http_address = (host, sock.getsockname()[1])
        self.server.on_stop(self._close_http)
        self.server.log.info("http_started", address=format_hostport(*self.http_address))

    async def _close_http(self) -> None:
        if self.http is not None:
            await self.http.close(grace=min(1.0, self.settings.shutdown_grace))

    async def stop(self) -> None:
        """Close HTTP, then stop the DNS server (in-flight queries answered, bounded)."""
        await self.server.stop()

    async def serve_forever(self) -> None:
        """Serve until SIGTERM/SIGINT or :meth:`request_stop` (SIGHUP reloads), then stop."""
        if not self.server.addresses:
            await self.start()
        await self.server.serve_forever()

    def request_stop(self) -> None:
        self.server.request_stop()

    def handle_signals(self) -> None:
        """SIGTERM/SIGINT stop, SIGHUP reloads, from now on (before a readiness line is printed)."""
        self.server.handle_signals()

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
