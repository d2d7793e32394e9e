"""Forwarding as the server does it: who may have a query forwarded, and the DNS client that forwards it.

:class:`ForwardPolicy` is the handler's decision, per query the resolver hands to a
forwarder (:attr:`~dnsemu.core.resolution.Outcome.FORWARD`): forward it, or answer
REFUSED (:class:`Verdict`).

:class:`MeteredUpstreamClient` is the forwarding client the server hands to its
handler: :class:`dnsemu.dns.client.DnsClient` (failover with ``resolve``), timing
each exchange with one server (forwarded queries only, never the hot path) into
plain counters (:class:`UpstreamStats`), which the metrics collector
(:mod:`dnsemu.http.metrics`) reads at scrape time.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import time
from bisect import bisect_left
from typing import Any

from dnsemu.core.index import Index
from dnsemu.core.resolution import Forward
from dnsemu.dns.addresses import Address, format_hostport
from dnsemu.dns.client import RETRY_RCODES, DnsClient, ExchangeError, Response, failover_reason

__all__ = ["UPSTREAM_BUCKETS", "ForwardPolicy", "MeteredUpstreamClient", "UpstreamStats", "Verdict", "refusal"]


class Verdict(enum.Enum):
    """What the handler does with a query the resolver hands to a forwarder."""

    FORWARD = "forward"
    #: nothing is configured to forward to: REFUSED whoever asks (the reply may be cached)
    REFUSE = "refuse"
    #: forwarding is not for this source (not an open resolver): REFUSED, for this source only
    REFUSE_SOURCE = "refuse_source"


class ForwardPolicy:
    """Who may have a query forwarded, as configured.

    A name for the configured upstreams needs some (``upstreams``); one for an external
    server the topology declares needs ``external`` (forwarding to external servers on).
    Then, unless ``open_resolver`` is on, only loopback sources and sources in a modelled
    network are served: the emulator is not an open resolver for the internet.
    """

    __slots__ = ("external", "open_resolver", "upstreams")

    def __init__(self, *, upstreams: bool, external: bool, open_resolver: bool) -> None:
        self.upstreams = upstreams
        self.external = external
        self.open_resolver = open_resolver

    def decide(self, index: Index, real: ipaddress.IPv4Address | ipaddress.IPv6Address,
               forward: Forward | None) -> Verdict:
        """The verdict for ``forward`` (the resolution's) asked from the real source address ``real``."""
        if forward is None:
            return Verdict.REFUSE
        if forward.targets:
            if not self.external:
                return Verdict.REFUSE
        elif not self.upstreams:
            return Verdict.REFUSE
        if self.open_resolver or real.is_loopback:
            return Verdict.FORWARD
        mapped = getattr(real, "ipv4_mapped", None)
        if mapped is not None and mapped.is_loopback:
            return Verdict.FORWARD
        network, _ = index.classify(real)
        return Verdict.FORWARD if network is not None else Verdict.REFUSE_SOURCE


def refusal(verdict: Verdict, forward: Forward | None) -> str:
    """Why a name outside the topology is REFUSED, for the query log (what to change to get an answer)."""
    if verdict is Verdict.REFUSE_SOURCE:
        return ("the source is outside the modelled networks and loopback: forwarding is not for it "
                "(--open-resolver)")
    if forward is not None and forward.targets:
        return f"forwarding to {forward.via} is off (--forward-external, or give --upstream)"
    return "the name is outside the topology and no upstream server is set (--upstream ADDRESS)"

#: upper bounds (seconds) of one exchange with an upstream server
UPSTREAM_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class UpstreamStats:
    """Plain counters of exchanges with upstream servers, filled by :class:`MeteredUpstreamClient`."""

    __slots__ = ("duration_sum", "durations", "failures", "requests")

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.failures: dict[tuple[str, str], int] = {}
        self.durations: dict[str, list[int]] = {}
        self.duration_sum: dict[str, float] = {}


class MeteredUpstreamClient(DnsClient):
    """The forwarding client, timing and counting each exchange with one server."""

    def __init__(self, *args: Any, stats: UpstreamStats, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stats = stats
        for server in self.servers:  # configured upstreams show from the start, at 0
            stats.requests.setdefault(format_hostport(*server), 0)

    async def exchange_async(self, server: Address, query: bytes, *, tcp: bool = False,
                             retry_truncated: bool = True) -> Response:
        stats = self.stats
        label = format_hostport(*server)
        stats.requests[label] = stats.requests.get(label, 0) + 1
        start = time.perf_counter()
        try:
            response = await super().exchange_async(server, query, tcp=tcp, retry_truncated=retry_truncated)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(label, exc.reason if isinstance(exc, ExchangeError) else "error")
            raise
        elapsed = time.perf_counter() - start
        if label not in stats.durations:
            stats.durations[label] = [0] * (len(UPSTREAM_BUCKETS) + 1)
            stats.duration_sum[label] = 0.0
        stats.durations[label][bisect_left(UPSTREAM_BUCKETS, elapsed)] += 1
        stats.duration_sum[label] += elapsed
        if failover_reason(response) is not None:
            self._fail(label, "rcode" if response.rcode in RETRY_RCODES else "error")
        return response

    def _fail(self, label: str, reason: str) -> None:
        key = (label, reason)
        self.stats.failures[key] = self.stats.failures.get(key, 0) + 1
