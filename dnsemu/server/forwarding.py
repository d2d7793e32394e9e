"""Forwarding as the server does it: the upstream client, timed and counted per server.

:class:`MeteredUpstreamClient` is the forwarding client the server hands to its
handler; it times each exchange with one server (forwarded queries only, never
the hot path) into plain counters (:class:`UpstreamStats`), which the metrics
collector (:mod:`dnsemu.http.metrics`) reads at scrape time.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from typing import Any

from dnsemu.dns.upstream import RETRY_RCODES, UpstreamClient

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
        if len(reply) > 3 and reply[3] & 0xF in RETRY_RCODES:
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
