"""Forwarding as the server does it: the DNS client, timed and counted per upstream server.

:class:`MeteredUpstreamClient` is the forwarding client the server hands to its
handler: :class:`dnsemu.dns.client.DnsClient` (failover with ``resolve``), timing
each exchange with one server (forwarded queries only, never the hot path) into
plain counters (:class:`UpstreamStats`), which the metrics collector
(:mod:`dnsemu.http.metrics`) reads at scrape time.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from typing import Any

from dnsemu.dns.addresses import Address, format_hostport
from dnsemu.dns.client import RETRY_RCODES, DnsClient, ExchangeError, Response, failover_reason

__all__ = ["UPSTREAM_BUCKETS", "MeteredUpstreamClient", "UpstreamStats"]

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
