"""Prometheus metrics of one :class:`~dnsemu.server.server.DnsServer`, read from its counters at scrape time.

The hot path counts with plain ints (:class:`dnsemu.server.handler.Stats`,
:class:`dnsemu.server.transport.ServerState` counters); nothing here runs per query.
:class:`DnsemuCollector` turns those counters into metric families when
Prometheus scrapes, and every server owns its own ``CollectorRegistry``
(:func:`create_registry`), so two servers in one process never mix.

The collector reads ``server.counters()`` (:class:`dnsemu.server.counters.Counters`):
one process's own, or, in the parent of ``dnsemu serve --workers N``, the sum of
what every worker sent when asked just before the scrape (``server.refresh_counters()``,
awaited by the ``/metrics`` route), plus what workers that ended had counted. That
is why this is not prometheus-client's multiprocess mode: that mode keeps every
value in a memory-mapped file written on each increment by the library's own
``Counter``/``Histogram`` objects, and does not take custom collectors such as this
one; here nothing is written per query and a process adds up its workers only when
scraped. The process_* families describe the process serving ``/metrics``.

Every name, label and bucket lives in this module (``FAMILIES`` lists them with
their help text). Labels have bounded values: protocol, the view (one per
modelled network), the query type from an allow-list (``other`` for the rest),
the rcode, the answer kind, an upstream server from the configuration or the
topology. Never a query name or a client address.

Upstream latency and failures are measured by
:class:`~dnsemu.server.forwarding.MeteredUpstreamClient` (forwarded queries only,
never the hot path); this module only reads its counters.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from dnsemu.server.forwarding import UPSTREAM_BUCKETS
from dnsemu.server.handler import DURATION_BUCKETS, SIZE_BUCKETS

if TYPE_CHECKING:
    from dnsemu.server.server import DnsServer

__all__ = ["FAMILIES", "DnsemuCollector", "create_registry"]

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
    "dnsemu_dns_policy_matches": (
        "counter", "Queries a DNS security policy rule matched, by policy, rule and action (Allow, Alert, Block); "
        "queries no rule matches are not counted.", ("policy", "rule", "action")),
    "dnsemu_azure_dns_limit_drops": (
        "counter", "Queries dropped unanswered by the emulation of Azure-provided DNS's per-VM limits: over the "
        "queries per second (rate) or the pending queries (pending) of their source address.", ("reason",)),
    "dnsemu_upstream_requests": ("counter", "Exchanges with one upstream server (each try counts).", ("server",)),
    "dnsemu_upstream_failures": (
        "counter", "Failed exchanges with one upstream server: timeout, refused (connection), network, rcode "
        "(SERVFAIL/REFUSED/FORMERR/NOTIMP), error.", ("server", "reason")),
    "dnsemu_upstream_request_duration_seconds": (
        "histogram", "Time one upstream server took to reply (exchanges that got a reply).", ("server",)),
    "dnsemu_dns_requests_in_flight": ("gauge", "Queries received and not yet answered: waiting for an upstream "
                                               "server, or read over TCP and waiting for a pipeline slot.", ()),
    "dnsemu_tcp_connections": ("gauge", "DNS TCP connections open now.", ()),
    "dnsemu_tcp_connections_accepted": ("counter", "DNS TCP connections accepted.", ()),
    "dnsemu_tcp_connections_rejected": (
        "counter", "DNS TCP connections closed at once: over tcp-max-connections, or while stopping.", ()),
    "dnsemu_tcp_connections_idle_closed": ("counter", "DNS TCP connections closed after tcp-idle-timeout.", ()),
    "dnsemu_tcp_oversize_messages": ("counter", "DNS TCP messages over tcp-max-message (the connection is closed).",
                                     ()),
    "dnsemu_udp_replies_dropped": ("counter", "UDP replies dropped because the socket buffer stayed full.", ()),
    "dnsemu_workers": ("gauge", "Worker processes answering queries (--workers; absent with one process).", ()),
    "dnsemu_worker_restarts": (
        "counter", "Workers started again after one ended on its own (exited: it died or was killed; unresponsive: "
        "it did not take a topology change in time and was replaced).", ("reason",)),
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
    "dnsemu_firewall_dns_proxy_cache_lookups": (
        "counter", "Lookups in the emulated cache of an Azure Firewall DNS proxy (emulate_cache), by firewall and "
        "result (hit or miss).", ("firewall", "result")),
}


def _version() -> str:
    import dnsemu

    return dnsemu.__version__


def _histogram(family: HistogramMetricFamily, labels: list[str], bounds: Iterable[float], counts: list[int],
               total: float) -> None:
    cumulative, buckets = 0, []
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        cumulative += count
        buckets.append((floatToGoString(bound), cumulative))
    family.add_metric(labels, buckets, sum_value=total)


class DnsemuCollector(Collector):
    """Reads one server's counters when the registry is collected (from the server's event loop)."""

    def __init__(self, server: DnsServer, http_errors: Callable[[], int] | None = None) -> None:
        self.server = server
        self.http_errors = http_errors or (lambda: 0)
        self._build = {"version": _version(), "python": ".".join(map(str, sys.version_info[:3]))}

    def describe(self) -> Iterator[Metric]:
        for name, (kind, help_text, labels) in FAMILIES.items():
            yield _family(name, kind, help_text, labels)

    def collect(self) -> Iterator[Metric]:
        families = {name: _family(name, kind, help_text, labels)
                    for name, (kind, help_text, labels) in FAMILIES.items()}
        server = self.server
        counters = server.counters()  # one process's, or the sum over the workers
        stats = counters.stats  # cache hits folded in
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
        internal = {"handler": 0, "task": counters.transport.get("handler_raised", 0), "http": self.http_errors()}
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
        # policy matches and limit drops: the handler of this process (a --workers parent has none yet)
        handler = getattr(server, "handler", None)
        if handler is not None:
            matches = dict.fromkeys(  # every enabled rule of the topology's policies shows, at 0 until it matches
                {(p.name, r.name, r.action) for p in handler.index.policies.values() for r in p.rules if r.enabled}, 0)
            matches.update(handler.policy_log.counts.copy())
            for (policy, rule, action), count in sorted(matches.items()):
                families["dnsemu_dns_policy_matches"].add_metric([policy, rule, action], count)
            for reason, count in handler.limits.dropped.copy().items():
                families["dnsemu_azure_dns_limit_drops"].add_metric([reason], count)
        upstream = counters.upstream
        for label, count in upstream.requests.copy().items():
            families["dnsemu_upstream_requests"].add_metric([label], count)
        for (label, reason), count in upstream.failures.copy().items():
            families["dnsemu_upstream_failures"].add_metric([label, reason], count)
        for label, counts in upstream.durations.copy().items():
            _histogram(families["dnsemu_upstream_request_duration_seconds"], [label], UPSTREAM_BUCKETS, list(counts),
                       upstream.duration_sum.get(label, 0.0))
        families["dnsemu_dns_requests_in_flight"].add_metric([], counters.in_flight)
        families["dnsemu_tcp_connections"].add_metric([], counters.tcp_connections)
        for name, key in (("dnsemu_tcp_connections_accepted", "tcp_accepted"),
                          ("dnsemu_tcp_connections_rejected", "tcp_rejected"),
                          ("dnsemu_tcp_connections_idle_closed", "tcp_idle_closed"),
                          ("dnsemu_tcp_oversize_messages", "tcp_oversize"),
                          ("dnsemu_udp_replies_dropped", "udp_send_dropped")):
            families[name].add_metric([], counters.transport.get(key, 0))
        if counters.workers is not None:
            families["dnsemu_workers"].add_metric([], counters.workers)
            for reason in ("exited", "unresponsive"):
                families["dnsemu_worker_restarts"].add_metric([reason], counters.worker_restarts.get(reason, 0))
        families["dnsemu_topology_generation"].add_metric([], server.generation)
        for result, key in (("success", "ok"), ("failure", "failed")):  # the server's own: workers only adopt
            families["dnsemu_topology_reloads"].add_metric([result], server.stats.reloads.get(key, 0))
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
            for (firewall, result), count in server.handler.proxy_caches.counts.copy().items():
                families["dnsemu_firewall_dns_proxy_cache_lookups"].add_metric([firewall, result], count)
        for family in families.values():
            if family.samples:
                yield family


def _family(name: str, kind: str, help_text: str, labels: tuple[str, ...]) -> Any:
    if kind == "counter":
        return CounterMetricFamily(name, help_text, labels=labels)
    if kind == "gauge":
        return GaugeMetricFamily(name, help_text, labels=labels)
    return HistogramMetricFamily(name, help_text, labels=labels)


def create_registry(server: DnsServer, *, http_errors: Callable[[], int] | None = None,
                    process: bool = True) -> CollectorRegistry:
    """A registry of its own for ``server``: the dnsemu families, and the process_* ones on Linux.

    ``http_errors`` reads how many HTTP requests the listener in front of the server failed on (none: 0).
    """
    registry = CollectorRegistry(auto_describe=True)
    registry.register(DnsemuCollector(server, http_errors))
    if process:
        ProcessCollector(registry=registry)
    return registry
