"""One topology generation as the handler serves it: the index, its reply cache, and memos per source.

The reply cache has two levels, both keyed by the transport and by where the query comes from:

1. ``exact``: the query's bytes after the ID, per source address: a client that repeats itself
   (the common case) gets the stored reply behind its own ID, one concatenation. Keyed by
   address, not view, so that ECS answers (which depend on whether the address is trusted)
   are cached here too;
2. ``cache``: :func:`dnsemu.dns.wire.peek`'s key (name without case, type, class, RD/CD, EDNS
   shape and size) per view: :func:`~dnsemu.dns.wire.with_id_and_case` readdresses the reply.

Both are FIFO-bounded. A reload builds a new :class:`Generation` and the handler swaps one
reference, so a reply never mixes two topologies and never comes from a cache the old one filled.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from typing import Any

from dnsemu.core.index import Index, Network
from dnsemu.core.zone import Zone
from dnsemu.server.handler.ecs import EcsScopes, IPAddress
from dnsemu.server.handler.precompiled import PrecompiledAnswers, ZoneLane
from dnsemu.server.handler.querylog import LogFields
from dnsemu.server.handler.stats import Label

__all__ = ["Entry", "Generation"]

#: a cached reply: (bytes, hit cell of :class:`~.stats.Stats`, log fields, counter label)
Entry = tuple[bytes, list[Any], LogFields | None, Label]
#: memos per source address are cleared when they reach this size (a flood of sources)
MEMO_LIMIT = 65536


class Generation:
    """One topology generation: the index, its reply cache and the memos per source address."""

    __slots__ = ("_lanes", "cache", "ecs", "exact", "generation", "index", "miss_cells", "precompiled", "sources",
                 "where")

    def __init__(self, index: Index) -> None:
        self.index = index
        self.generation = index.generation
        # FIFO-bounded: OrderedDict.popitem(last=False) is O(1), where deleting a plain dict's first
        # key makes the next ``next(iter(d))`` skip every slot freed before it (6 µs at 10k entries)
        #: (view key, tcp, peek key) -> entry
        self.cache: OrderedDict[tuple[str, bool, bytes], Entry] = OrderedDict()
        #: (source address, tcp, query bytes after the ID) -> entry (the reply after its ID)
        self.exact: OrderedDict[tuple[str, bool, bytes], Entry] = OrderedDict()
        #: source address text -> view key of its network (or "unknown")
        self.where: dict[str, str] = {}
        #: address text -> (address, network, matched prefix length): what resolving needs, parsed once
        self.sources: dict[str, tuple[IPAddress, Network | None, int]] = {}
        #: view key -> the answers its VNet's view and zones decide alone, as bytes (None: it has none)
        self.precompiled: dict[str, PrecompiledAnswers | None] = {}
        #: zone -> what the VNets' lanes share of it (its template, label set, names' answers)
        self._lanes: dict[Zone, ZoneLane] = {}
        #: (view, kind, qtype, tcp, rcode, size) -> (miss cell, and for a NOERROR answer what it is cached with: its
        #: hit cell, no log fields, its label) of a precompiled answer, found once
        self.miss_cells: dict[tuple[str, str, int, bool, int, int],
                              tuple[list[Any], tuple[list[Any], None, Label] | None]] = {}
        #: the modelled prefixes, for ECS scopes
        self.ecs = EcsScopes(index)

    def source(self, text: str) -> tuple[IPAddress, Network | None, int]:
        """The parsed address and its classification, memoised per address text."""
        hit = self.sources.get(text)
        if hit is None:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            network, prefixlen = self.index.classify(address)
            hit = (address, network, prefixlen)
            if len(self.sources) >= MEMO_LIMIT:
                self.sources.clear()
            self.sources[text] = hit
        return hit

    def view_of(self, host: str) -> str:
        """The view key of the network holding ``host`` ("unknown": none), memoised (the hot path reads
        :attr:`where` first and calls this on a miss)."""
        network, _ = self.index.classify(host)
        view = network.view_key if network is not None else "unknown"
        if len(self.where) >= MEMO_LIMIT:
            self.where.clear()
        self.where[host] = view
        if view not in self.precompiled:
            table = self.index.negative.get(network.name) if network is not None else None
            self.precompiled[view] = (
                PrecompiledAnswers(table, self._lanes)
                if table is not None else None)
        return view

    def store(self, limit: int, view: str | None, host: str, tcp: bool, key: bytes | None, data: bytes,
              reply: bytes, entry_tail: tuple[list[Any], LogFields | None, Label]) -> None:
        """Keep ``reply``: for the same bytes from the same address, and (``key`` given) for the same
        question from the same view."""
        cell, fields, label = entry_tail  # the entries are built whole (cheaper than ``(reply, *entry_tail)``)
        if key is not None and view is not None:
            cache = self.cache
            if len(cache) >= limit:
                cache.popitem(last=False)  # the oldest entry
            cache[(view, tcp, key)] = (reply, cell, fields, label)
        exact = self.exact
        if len(exact) >= limit:
            exact.popitem(last=False)
        exact[(host, tcp, data[2:])] = (reply[2:], cell, fields, label)
