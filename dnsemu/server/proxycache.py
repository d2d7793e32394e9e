"""The cache of Azure Firewall's DNS proxy, emulated when a firewall asks for it (``emulate_cache``).

Facts §12.1: the proxy caches positive answers up to one hour (bounded by their TTL) and
negative answers up to 30 minutes. The core says which cache a query's path passes through
(:class:`~dnsemu.core.resolution.ProxyCache`); this module holds the entries, because holding
them needs a clock.

What dnsemu does (the facts give the caps, the rest is a choice, listed in docs/topology.md):

* one entry per firewall and question (name without case, type), shared by every client
  behind that firewall, whatever VNet it asks from;
* an answer (NOERROR with records) is held for the smallest TTL of its records, at most
  ``positive`` seconds; NXDOMAIN and NODATA for the TTL of the SOA in authority, at most
  ``negative`` seconds; other outcomes (SERVFAIL, REFUSED, forwarded names) are not held;
* a hit returns the held records with every TTL set to the whole seconds the entry has
  left (at least 1);
* entries outlive topology reloads and run-time changes, as they outlive a change in
  Azure: a record added after the firewall cached NXDOMAIN stays unseen behind it until the
  entry expires;
* at most ``size`` entries; the oldest goes first.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable

from dnsemu.core.resolution import Outcome, ProxyCache, Resolution
from dnsemu.dns.records import Question

__all__ = ["ProxyCaches"]

_HELD = frozenset({Outcome.ANSWER, Outcome.NODATA, Outcome.NXDOMAIN})


class ProxyCaches:
    """Every emulated firewall cache of one server, and their hit and miss counts."""

    __slots__ = ("_clock", "_entries", "counts", "size")

    def __init__(self, size: int = 10000, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self._clock = clock
        #: (firewall, name, type) -> (stored at, held for, resolution as stored)
        self._entries: OrderedDict[tuple[str, str, int], tuple[float, int, Resolution]] = OrderedDict()
        #: (firewall, "hit" | "miss") -> count
        self.counts: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def answer(self, cache: ProxyCache, question: Question, resolution: Resolution) -> Resolution:
        """The resolution as the client behind the firewall sees it: held, or fresh (and held from now)."""
        key = (cache.firewall, question.name.lower(), question.qtype)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None:
            stored, hold, held = entry
            left = hold - (now - stored)
            if left > 0:
                self._count(cache.firewall, "hit")
                ttl = max(1, int(left))  # whole seconds; the last fraction of a second still says 1
                return dataclasses.replace(
                    held,
                    answer=tuple(r.with_ttl(ttl) for r in held.answer),
                    authority=tuple(r.with_ttl(ttl) for r in held.authority),
                    trace=resolution.trace,
                    network=resolution.network,
                )
            del self._entries[key]
        self._count(cache.firewall, "miss")
        hold = _hold(cache, resolution)
        if hold > 0 and self.size > 0:
            if len(self._entries) >= self.size:
                self._entries.popitem(last=False)
            self._entries[key] = (now, hold, resolution)
        return resolution

    def _count(self, firewall: str, result: str) -> None:
        self.counts[(firewall, result)] = self.counts.get((firewall, result), 0) + 1


def _hold(cache: ProxyCache, resolution: Resolution) -> int:
    """Seconds the proxy holds ``resolution``: 0 when it does not hold it."""
    if resolution.outcome not in _HELD:
        return 0
    if resolution.outcome is Outcome.ANSWER:
        if not resolution.answer:
            return 0
        return min(min(r.ttl for r in resolution.answer), cache.positive)
    if not resolution.authority:
        return 0
    return min(min(r.ttl for r in resolution.authority), cache.negative)
