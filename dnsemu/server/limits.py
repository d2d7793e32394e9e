"""The per-VM limits of Azure-provided DNS (168.63.129.16), emulated on request (facts-2 §13).

Azure drops a VM's queries to 168.63.129.16 beyond **1,000 per second** or beyond **200
pending** ones: no SERVFAIL, no REFUSED, nothing; the client times out and retries. The
limit is per VM, and it is the default resolver's only: DNS private resolver endpoints
have limits of their own (about 10,000 queries per second per endpoint, not emulated).

:class:`QueryLimits` does the same per source address, for sources in a VNet whose DNS
servers are Azure-provided (the address a query arrives from is the VM). Queries from
VNets whose DNS server is a resolver inbound endpoint or a custom DNS server, from an
inbound endpoint's own address, from on-premises sites and from the internet are never
limited. Off by default; on with
``azure_provided_dns: {query_limits: true}`` in the topology (which may also change the
two numbers) or the ``--azure-dns-limits`` flag, which wins over the topology either way.

The rate is a token bucket per address holding one second's worth of queries, refilled
continuously; "pending" counts the queries of that address still waiting for an upstream
server (only forwarded queries ever wait: the rest are answered at once). Dropped queries
are counted by reason (``rate``, ``pending``) for the metrics. Memory is bounded: the
per-address tables are emptied when they reach :data:`MAX_SOURCES` addresses.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable
from typing import Any

from dnsemu.core.index import Index, NetworkKind

__all__ = ["DEFAULT_PENDING", "DEFAULT_QPS", "MAX_SOURCES", "QueryLimits"]

DEFAULT_QPS = 1000
DEFAULT_PENDING = 200
MAX_SOURCES = 65536


class QueryLimits:
    """Drops what Azure-provided DNS would drop; ``active`` is False (and nothing is done) unless asked."""

    __slots__ = ("_buckets", "_clock", "_index", "_limited", "_pending", "active", "dropped", "forced", "pending_max",
                 "rate")

    def __init__(self, forced: bool | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        #: the flag: True/False override the topology, None follows it
        self.forced = forced
        self.active = False
        self.rate = DEFAULT_QPS
        self.pending_max = DEFAULT_PENDING
        #: reason ("rate" | "pending") -> queries dropped
        self.dropped: dict[str, int] = {"rate": 0, "pending": 0}
        self._clock = clock
        self._index: Index | None = None
        self._limited: dict[str, bool] = {}
        self._buckets: dict[str, list[float]] = {}
        self._pending: dict[str, int] = {}

    def use(self, index: Index) -> None:
        """Follow ``index`` (a new topology): whether limits are on, their numbers, which sources they concern."""
        limits = index.query_limits
        self.active = self.forced if self.forced is not None else limits is not None
        self.rate, self.pending_max = limits if limits is not None else (DEFAULT_QPS, DEFAULT_PENDING)
        self._index = index
        self._limited.clear()
        self._buckets.clear()

    def limited(self, host: str) -> bool:
        """Whether queries from ``host`` count against a VM's limits (a VNet on Azure-provided DNS)."""
        hit = self._limited.get(host)
        if hit is None:
            hit = False
            index = self._index
            if index is not None:
                try:
                    address = ipaddress.ip_address(host.split("%", 1)[0])
                    network, _ = index.classify(address)
                except ValueError:
                    network = None
                hit = (network is not None and network.kind is NetworkKind.VNET and network.name in index.azure_provided
                       and str(address) not in index.inbound_endpoints)
            if len(self._limited) >= MAX_SOURCES:
                self._limited.clear()
            self._limited[host] = hit
        return hit

    def drop(self, host: str) -> bool:
        """True when this query from ``host`` is over a limit: the caller sends nothing back."""
        if not self.limited(host):
            return False
        if self._pending.get(host, 0) >= self.pending_max:
            self.dropped["pending"] += 1
            return True
        now = self._clock()
        bucket = self._buckets.get(host)
        if bucket is None:
            if len(self._buckets) >= MAX_SOURCES:
                self._buckets.clear()
            bucket = self._buckets[host] = [float(self.rate), now]
        tokens = min(float(self.rate), bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            self.dropped["rate"] += 1
            return True
        bucket[0] = tokens - 1.0
        return False

    def track(self, host: str, reply: Awaitable[Any]) -> Awaitable[Any]:
        """``reply`` (a query waiting for an upstream server), counted as pending for ``host`` until it is done."""
        if not self.active or not self.limited(host):
            return reply
        pending = self._pending
        pending[host] = pending.get(host, 0) + 1

        async def wait() -> Any:
            try:
                return await reply
            finally:
                left = pending.get(host, 1) - 1
                if left > 0:
                    pending[host] = left
                else:
                    pending.pop(host, None)

        return wait()
