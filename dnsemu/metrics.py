"""Prometheus metrics of one :class:`~dnsemu.server.DnsServer`, read from its counters at scrape time.

The hot path counts with plain ints (:class:`dnsemu.handler.Stats`,
:class:`dnsemu.transport.ServerState` counters); nothing here runs per query.
:class:`DnsemuCollector` turns those counters into metric families when
Prometheus scrapes, and every server owns its own ``CollectorRegistry``
(:func:`create_registry`), so two servers in one process never mix.

Every name, label and bucket lives in this module (``FAMILIES`` lists them with
their help text). Labels have bounded values: protocol, the view (one per
modelled network), the query type from an allow-list (``other`` for the rest),
the rcode, the answer kind, an upstream server from the configuration or the
topology. Never a query name or a client address.

Upstream latency and failures are measured by :class:`MeteredUpstreamClient`,
a subclass of the forwarding client the server hands to its handler: it times
each exchange with one server (forwarded queries only, never the hot path).
"""

from __future__ import annotations

import asyncio
import sys
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from dnsemu.handler import DURATION_BUCKETS, SIZE_BUCKETS
from dnsemu.upstream import UpstreamClient

if TYPE_CHECKING:
    from dnsemu.server import DnsServer

__all__ = [
    "FAMILIES",
    "UPSTREAM_BUCKETS",
    "DnsemuCollector",
    "MeteredUpstreamClient",
    "UpstreamStats",
    "create_registry",
]

#: upper bounds (seconds) of one exchange with an upstream server
UPSTREAM_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_RETRY_RCODES = frozenset({1, 2, 4, 5})  # what UpstreamClient skips to the next server for
#: wire-level outcomes, shown from the start
_REJECTED = ("formerr", "notimp", "notauth", "badvers", "refused", "dropped")

#: name -> (type, help, labels): every dnsemu_* family, in exposition order
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "dnsemu_build_info": ("gauge", "Always 1; the labels say which dnsemu and Python run.", ("version", "python")),
    "dnsemu_dns_queries": (
        "counter", "DNS queries answered, by transport, view (the source's network), query type (an allow-list, "
        "other for the rest), rcode and answer kind.", ("proto", "view", "type", "rcode", "kind")),
    "dnsemu_dns_request_duration_seconds": (
        "histogram", "Time from receiving a query to having its reply (forwarded queries include the upstream).",
        ("proto",)),
    "dnsemu_dns_response_size_bytes": ("histogram", "Size of DNS replies in octets.", ("proto",)),
    "dnsemu_dns_truncated_responses": ("counter", "UDP replies sent with TC=1 (the client should retry over TCP).",
                                       ("proto",)),
    "dnsemu_dns_rejected_queries": (
        "counter", "Messages refused before resolution: formerr, notimp, notauth (TSIG), badvers, refused, or dropped "
        "(not answerable).", ("reason",)),
    "dnsemu_internal_errors": (
        "counter", "Bugs: a query answered SERVFAIL because the handler raised (handler), a reply task that raised "
        "(task), an HTTP request answered 500 (http).", ("where",)),
    "dnsemu_cache_hits": ("counter", "Replies served from the reply cache.", ("proto",)),
    "dnsemu_cache_misses": ("counter", "Queries the reply cache could not answer.", ("proto",)),
    "dnsemu_forwarded_queries": (
        "counter", "Queries whose name lies outside the topology: answered by an upstream, failed (SERVFAIL), or "
        "refused (nothing configured to forward to, or a source that may not use forwarding).", ("result",)),
    "dnsemu_upstream_requests": ("counter", "Exchanges with one upstream server (each try counts).", ("server",)),
    "dnsemu_upstream_failures": (
        "counter", "Failed exchanges with one upstream server: timeout, refused (connection), network, rcode "
        "(SERVFAIL/REFUSED/FORMERR/NOTIMP), error.", ("server", "reason")),
    "dnsemu_upstream_request_duration_seconds": (
        "histogram", "Time one upstream server took to reply (exchanges that got a reply).", ("server",)),
    "dnsemu_dns_requests_in_flight": ("gauge", "Queries waiting for an upstream server.", ()),
    "dnsemu_tcp_connections": ("gauge", "DNS TCP connections open now.", ()),
    "dnsemu_tcp_connections_accepted": ("counter", "DNS TCP connections accepted.", ()),
    "dnsemu_tcp_connections_rejected": (
        "counter", "DNS TCP connections closed at once: over tcp-max-connections, or while stopping.", ()),
    "dnsemu_tcp_connections_idle_closed": ("counter", "DNS TCP connections closed after tcp-idle-timeout.", ()),
    "dnsemu_tcp_oversize_messages": ("counter", "DNS TCP messages over tcp-max-message (the connection is closed).",
                                     ()),
    "dnsemu_udp_replies_dropped": ("counter", "UDP replies dropped because the socket buffer stayed full.", ()),
    "dnsemu_topology_generation": ("gauge", "Generation of the topology being served (1 at start, +1 per swap).",
                                   ()),
    "dnsemu_topology_reloads": ("counter", "Topology reloads (file changes, SIGHUP, POST /v1/reload), by result.",
                                ("result",)),
    "dnsemu_topology_last_reload_success_timestamp_seconds": (
        "gauge", "Unix time of the last successful topology load (the start counts).", ()),
    "dnsemu_topology_changes": ("counter", "Run-time changes (API or fixture), by result.", ("result",)),
    "dnsemu_topology_changes_active": ("gauge", "Run-time changes in effect on top of the topology files.", ()),
    "dnsemu_topology_virtual_networks": ("gauge", "Virtual networks in the topology.", ()),
    "dnsemu_topology_on_premises_sites": ("gauge", "On-premises sites in the topology.", ()),
    "dnsemu_topology_private_endpoints": ("gauge", "Private endpoints in the topology.", ()),
    "dnsemu_topology_zones": ("gauge", "DNS zones compiled, private and public (public includes those dnsemu "
                                       "synthesises for Azure service domains).", ("kind",)),
    "dnsemu_topology_records": ("gauge", "Records in the compiled zones, private and public.", ("kind",)),
}


class UpstreamStats:
    """Plain counters of exchanges with upstream servers, filled by :class:`MeteredUpstreamClient`."""

    __slots__ = ("duration_sum", "durations", "failures", "requests")

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.failures: dict[tuple[str, str], int] = {}
        self.durations: dict[str, list[int]] = {}
        self.duration_sum: dict[str, float] = {}


class MeteredUpstreamClient(UpstreamClient):
    """The forwarding client, timing and counting each exchange with one server."""

    def __init__(self, *args: Any, stats: UpstreamStats, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stats = stats
        for server in self.servers:  # configured upstreams show from the start, at 0
            stats.requests.setdefault(_server_label(server), 0)

    async def exchange(self, server: tuple[str, int], query: bytes) -> bytes:
        stats = self.stats
        label = _server_label(server)
        stats.requests[label] = stats.requests.get(label, 0) + 1
        start = time.perf_counter()
        try:
            reply = await super().exchange(server, query)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(label, _reason(exc))
            raise
        elapsed = time.perf_counter() - start
        if label not in stats.durations:
            stats.durations[label] = [0] * (len(UPSTREAM_BUCKETS) + 1)
            stats.duration_sum[label] = 0.0
        stats.durations[label][bisect_left(UPSTREAM_BUCKETS, elapsed)] += 1
        stats.duration_sum[label] += elapsed
        if len(reply) > 3 and reply[3] & 0xF in _RETRY_RCODES:
            self._fail(label, "rcode")
        return reply

    def _fail(self, label: str, reason: str) -> None:
        key = (label, reason)
        self.stats.failures[key] = self.stats.failures.get(key, 0) + 1


def _server_label(server: tuple[str, int]) -> str:
    return f"[{server[0]}]:{server[1]}" if ":" in server[0] else f"{server[0]}:{server[1]}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, OSError):
        return "network"
    return "error"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("dnsemu")
    except Exception:  # not installed (a source tree on sys.path)
        return "unknown"


def _histogram(family: HistogramMetricFamily, labels: list[str], bounds: Iterable[float], counts: list[int],
               total: float) -> None:
    cumulative, buckets = 0, []
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        cumulative += count
        buckets.append((floatToGoString(bound), cumulative))
    family.add_metric(labels, buckets, sum_value=total)


class DnsemuCollector(Collector):
    """Reads one server's counters when the registry is collected (from the server's event loop)."""

    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self._build = {"version": _version(), "python": ".".join(map(str, sys.version_info[:3]))}

    def describe(self) -> Iterator[Metric]:
        for name, (kind, help_text, labels) in FAMILIES.items():
            yield _family(name, kind, help_text, labels)

    def collect(self) -> Iterator[Metric]:
        families = {name: _family(name, kind, help_text, labels)
                    for name, (kind, help_text, labels) in FAMILIES.items()}
        server = self.server
        stats = server.stats.snapshot()  # cache hits folded in
        families["dnsemu_build_info"].add_metric([self._build["version"], self._build["python"]], 1)
        queries = families["dnsemu_dns_queries"]
        for label, count in stats.queries.copy().items():
            queries.add_metric(list(label), count)
        for proto, counts in stats.durations.copy().items():
            _histogram(families["dnsemu_dns_request_duration_seconds"], [proto], DURATION_BUCKETS, list(counts),
                       stats.duration_sum.get(proto, 0.0))
        for proto, counts in stats.sizes.copy().items():
            _histogram(families["dnsemu_dns_response_size_bytes"], [proto], SIZE_BUCKETS, list(counts),
                       float(stats.size_sum.get(proto, 0)))
        for proto, count in stats.truncated.copy().items():
            families["dnsemu_dns_truncated_responses"].add_metric([proto], count)
        internal = {"handler": 0, "task": server.state.counters.get("handler_raised", 0), "http": server.http_errors}
        rejected = dict.fromkeys(_REJECTED, 0)
        for kind, count in stats.errors.copy().items():
            if kind == "internal":
                internal["handler"] = count
            elif kind != "upstream":  # counted as forwarded failures
                rejected[kind] = count
        for kind, count in rejected.items():
            families["dnsemu_dns_rejected_queries"].add_metric([kind], count)
        for where, count in internal.items():
            families["dnsemu_internal_errors"].add_metric([where], count)
        for (result, proto), count in stats.cache.copy().items():
            name = "dnsemu_cache_hits" if result == "hit" else "dnsemu_cache_misses"
            families[name].add_metric([proto], count)
        for result in ("answered", "failed", "refused"):
            families["dnsemu_forwarded_queries"].add_metric([result], stats.forwarded.get(result, 0))
        upstream = server.upstream_stats
        for label, count in upstream.requests.copy().items():
            families["dnsemu_upstream_requests"].add_metric([label], count)
        for (label, reason), count in upstream.failures.copy().items():
            families["dnsemu_upstream_failures"].add_metric([label, reason], count)
        for label, counts in upstream.durations.copy().items():
            _histogram(families["dnsemu_upstream_request_duration_seconds"], [label], UPSTREAM_BUCKETS, list(counts),
                       upstream.duration_sum.get(label, 0.0))
        state = server.state
        counters = state.counters
        families["dnsemu_dns_requests_in_flight"].add_metric([], len(state.tasks))
        families["dnsemu_tcp_connections"].add_metric([], len(state.connections))
        for name, key in (("dnsemu_tcp_connections_accepted", "tcp_accepted"),
                          ("dnsemu_tcp_connections_rejected", "tcp_rejected"),
                          ("dnsemu_tcp_connections_idle_closed", "tcp_idle_closed"),
                          ("dnsemu_tcp_oversize_messages", "tcp_oversize"),
                          ("dnsemu_udp_replies_dropped", "udp_send_dropped")):
            families[name].add_metric([], counters.get(key, 0))
        families["dnsemu_topology_generation"].add_metric([], server.generation)
        for result, key in (("success", "ok"), ("failure", "failed")):
            families["dnsemu_topology_reloads"].add_metric([result], stats.reloads.get(key, 0))
        if server.last_reload_success is not None:
            families["dnsemu_topology_last_reload_success_timestamp_seconds"].add_metric([], server.last_reload_success)
        for result, count in server.change_counts.copy().items():
            families["dnsemu_topology_changes"].add_metric([result], count)
        families["dnsemu_topology_changes_active"].add_metric([], server.active_changes)
        if server.handler is not None:
            loaded = server.index.stats
            families["dnsemu_topology_virtual_networks"].add_metric([], loaded.get("virtual_networks", 0))
            families["dnsemu_topology_on_premises_sites"].add_metric([], loaded.get("on_premises", 0))
            families["dnsemu_topology_private_endpoints"].add_metric([], loaded.get("private_endpoints", 0))
            families["dnsemu_topology_zones"].add_metric(["private"], loaded.get("private_zones", 0))
            families["dnsemu_topology_zones"].add_metric(["public"], loaded.get("public_zones", 0))
            families["dnsemu_topology_records"].add_metric(["private"], loaded.get("records", 0))
            families["dnsemu_topology_records"].add_metric(["public"], loaded.get("public_records", 0))
        for family in families.values():
            if family.samples:
                yield family


def _family(name: str, kind: str, help_text: str, labels: tuple[str, ...]) -> Any:
    if kind == "counter":
        return CounterMetricFamily(name, help_text, labels=labels)
    if kind == "gauge":
        return GaugeMetricFamily(name, help_text, labels=labels)
    return HistogramMetricFamily(name, help_text, labels=labels)


def create_registry(server: DnsServer, *, process: bool = True) -> CollectorRegistry:
    """A registry of its own for ``server``: the dnsemu families, and the process_* ones on Linux."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(DnsemuCollector(server))
    if process:
        ProcessCollector(registry=registry)
    return registry
