"""Sans-socket glue: query bytes and a client address in, reply bytes out.

``Handler.handle(data, addr, tcp)`` returns the reply (``bytes``), ``None``
when the message is to be dropped (a response, a packet too short to answer),
or an awaitable resolving to one of those when the answer needs an upstream
server. The transports do nothing but call it and send what it returns.

The hot path is a reply cache in two levels, both keyed by the view of the
source network (one dict probe per source address) and the transport:

1. the query's bytes after the ID: a client that repeats itself (the common
   case) gets the stored reply behind its own ID, one concatenation;
2. :func:`dnsemu.dns.wire.peek` reads the cache key of an ordinary query without
   parsing it (name without case, type, class, RD/CD, EDNS shape and size);
   :func:`~dnsemu.dns.wire.with_id_and_case` readdresses the stored reply.

A hit builds no objects, parses nothing and formats nothing (unless query
logging is on): dict probes, a join, and counters. Only replies that depend on
nothing but (view, question) are stored: no ECS, no forwarding.
Everything else (EDNS Client Subnet, errors, forwarding, a miss) takes the slow
path: :func:`~dnsemu.dns.wire.parse_query`, :func:`~dnsemu.core.resolver.resolve`,
:func:`~dnsemu.dns.wire.encode_response`.

The index and its cache live together in one :class:`_State`; a reload builds
a new state and swaps one reference, so a reply never mixes two topologies and
never comes from a cache filled by the old one. Each query reads the state once.

EDNS Client Subnet (RFC 7871): when ``ecs`` is on and the *real* source is in
``ecs_trusted``, the option's address routes the query (a /0 source prefix
keeps the real source and answers scope 0) and the reply echoes the option with
SCOPE PREFIX-LENGTH = the shortest prefix around the address for which the
answer holds everywhere: :func:`ecs_scope`.

Counters are plain dicts aggregated here (:class:`Stats`); a metrics module
exports them. Nothing here talks to prometheus per query.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from time import perf_counter
from typing import Any

from dnsemu.core.index import AzureDns, Index, Network
from dnsemu.core.resolution import Outcome, Resolution
from dnsemu.core.resolver import REDIRECTABLE, resolve_classified
from dnsemu.dns.client import DnsClient, ServersFailed
from dnsemu.dns.records import Rcode, RRType, type_name
from dnsemu.dns.wire import (
    NegativeAnswer,
    Peek,
    Query,
    WireError,
    encode_forwarded,
    encode_response,
    parse_query,
    peek,
    with_id_and_case,
)
from dnsemu.logs import answer_summary, get_logger, json_str, query_log
from dnsemu.server.limits import QueryLimits
from dnsemu.server.proxycache import ProxyCaches
from dnsemu.server.security import PolicyLog
from dnsemu.server.settings import Settings

__all__ = ["DURATION_BUCKETS", "QTYPE_LABELS", "Handler", "Stats", "ecs_scope"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: qtypes that get their own metric label; anything else is "other" (bounded cardinality)
QTYPE_LABELS: Mapping[int, str] = {int(t): t.name for t in (
    RRType.A, RRType.AAAA, RRType.CNAME, RRType.MX, RRType.NS, RRType.PTR, RRType.SOA, RRType.SRV,
    RRType.TXT, RRType.CAA, RRType.HTTPS, RRType.SVCB, RRType.DS, RRType.DNSKEY, RRType.ANY)}
#: upper bounds (seconds) of the duration histogram; the last bucket is +Inf
DURATION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 0.5, 1.0, 2.5, 5.0)
#: upper bounds (octets) of the response size histogram; the last bucket is +Inf
SIZE_BUCKETS = (64, 128, 256, 512, 768, 1024, 1232, 1500, 2048, 4096, 8192, 16384, 32768, 65535)
_RCODE_NAMES = {int(r): r.name for r in Rcode}
_CACHEABLE = frozenset({Outcome.ANSWER, Outcome.NODATA, Outcome.NXDOMAIN, Outcome.YXDOMAIN, Outcome.REFUSED,
                        Outcome.SERVFAIL})
_WHERE_LIMIT = 65536
_FORWARD, _REFUSE_ALWAYS, _REFUSE_SOURCE = object(), object(), object()
#: a cached reply: (bytes, hit cell of :class:`Stats`, log fields, counter label)
_Entry = tuple[bytes, list[Any], Any, tuple[str, str, str, str, str]]
_FIRST_DURATION = DURATION_BUCKETS[0]


def _qtype_label(qtype: int) -> str:
    return QTYPE_LABELS.get(qtype, "other")


def _rcode_name(rcode: int) -> str:
    return _RCODE_NAMES.get(rcode) or f"RCODE{rcode}"


class Stats:
    """Counters for the metrics module, aggregated in the hot path as plain ints.

    * ``queries[(proto, view, qtype, rcode, kind)]`` — answered queries;
    * ``truncated[proto]`` — UDP replies sent with TC=1;
    * ``errors[kind]`` — formerr/notimp/badvers/refused/dropped (wire-level), internal, upstream;
    * ``cache[("hit"|"miss", proto)]``;
    * ``durations[proto]`` — per-bucket counts (``DURATION_BUCKETS`` then +Inf),
      ``duration_sum[proto]`` in seconds;
    * ``sizes[proto]`` — per-bucket counts of reply sizes (``SIZE_BUCKETS`` then +Inf), ``size_sum[proto]``;
    * ``forwarded[outcome]`` — "answered" / "failed" / "refused";
    * ``reloads[result]`` — "ok" / "failed" (kept by the server).

    A cache hit touches none of these: it bumps its reply's *cell* (see :meth:`cell`), one list
    shared by every cached reply with the same label, size and truncation, which :meth:`snapshot`
    folds into the counters above when they are read. Read through :meth:`snapshot`, not the
    attributes, to see every query.
    """

    __slots__ = ("cache", "cells", "duration_sum", "durations", "errors", "forwarded", "queries", "reloads",
                 "size_sum", "sizes", "truncated")

    def __init__(self) -> None:
        self.queries: dict[tuple[str, str, str, str, str], int] = {}
        self.truncated: dict[str, int] = {"udp": 0, "tcp": 0}
        self.errors: dict[str, int] = {}
        self.cache: dict[tuple[str, str], int] = {("hit", "udp"): 0, ("hit", "tcp"): 0,
                                                  ("miss", "udp"): 0, ("miss", "tcp"): 0}
        self.durations: dict[str, list[int]] = {p: [0] * (len(DURATION_BUCKETS) + 1) for p in ("udp", "tcp")}
        self.duration_sum: dict[str, float] = {"udp": 0.0, "tcp": 0.0}
        self.sizes: dict[str, list[int]] = {p: [0] * (len(SIZE_BUCKETS) + 1) for p in ("udp", "tcp")}
        self.size_sum: dict[str, int] = {"udp": 0, "tcp": 0}
        self.forwarded: dict[str, int] = {}
        self.reloads: dict[str, int] = {}
        #: (label, reply size, truncated) -> [hits, duration sum, per-bucket duration counts...]
        self.cells: dict[tuple[tuple[str, str, str, str, str], int, bool], list[Any]] = {}

    def cell(self, label: tuple[str, str, str, str, str], size: int, truncated: bool) -> list[Any]:
        """The hit counters of cached replies with this label, size and truncation (made on first use)."""
        key = (label, size, truncated)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0, 0.0] + [0] * (len(DURATION_BUCKETS) + 1)
        return cell

    def snapshot(self) -> Stats:
        """A copy with the hit cells folded in: what has been answered so far, every query counted.

        Only reads the live counters (never resets a cell), so it is safe from another thread.
        """
        out = Stats()
        out.queries = self.queries.copy()
        out.truncated = self.truncated.copy()
        out.errors = self.errors.copy()
        out.cache = self.cache.copy()
        out.durations = {proto: list(counts) for proto, counts in self.durations.copy().items()}
        out.duration_sum = self.duration_sum.copy()
        out.sizes = {proto: list(counts) for proto, counts in self.sizes.copy().items()}
        out.size_sum = self.size_sum.copy()
        out.forwarded = self.forwarded.copy()
        out.reloads = self.reloads.copy()
        for (label, size, truncated), cell in self.cells.copy().items():
            hits, elapsed, *buckets = cell  # one copy: the loop thread may be adding to it
            if not hits:
                continue
            proto = label[0]
            out.queries[label] = out.queries.get(label, 0) + hits
            out.cache["hit", proto] = out.cache.get(("hit", proto), 0) + hits
            if truncated:
                out.truncated[proto] = out.truncated.get(proto, 0) + hits
            out.sizes[proto][bisect_left(SIZE_BUCKETS, size)] += hits
            out.size_sum[proto] += size * hits
            counts = out.durations[proto]
            for i, n in enumerate(buckets):
                counts[i] += n
            out.duration_sum[proto] += elapsed
        return out

    def total(self) -> int:
        return sum(self.snapshot().queries.values())


def ecs_scope(networks: Iterable[tuple[int, int]], address: IPAddress) -> int:
    """SCOPE PREFIX-LENGTH for an answer routed by ``address`` (RFC 7871 §7.2.1).

    ``networks`` are the modelled prefixes of the address's family as
    ``(network address as int, prefix length)``. The answer holds for every
    address that resolves from the same network, so the scope is the shortest
    prefix length L such that ``address/L`` lies inside the longest matching
    network and overlaps no other network: for each network M, a block around
    the address that contains M's network address up to M's length would
    include M, so L must exceed the common prefix of the address and M (or
    reach M's own length when M holds the address). For the internet (no match)
    that is the widest block holding no modelled network; 0 when there is none.
    """
    width = address.max_prefixlen
    value = int(address)
    scope = 0
    for net, plen in networks:
        common = width - (value ^ net).bit_length()
        need = plen if common >= plen else common + 1
        if need > scope:
            scope = need
    return scope


class _State:
    """One topology generation: the index, its reply cache and the source memo."""

    __slots__ = ("cache", "exact", "generation", "index", "negative", "prefixes", "sources", "where")

    def __init__(self, index: Index) -> None:
        self.index = index
        self.generation = index.generation
        # FIFO-bounded: OrderedDict.popitem(last=False) is O(1), where deleting a plain dict's first
        # key makes the next ``next(iter(d))`` skip every slot freed before it (6 µs at 10k entries)
        #: (view key, tcp, peek key) -> (reply template, counter label, truncated, log fields)
        self.cache: OrderedDict[tuple[str, bool, bytes], _Entry] = OrderedDict()
        #: (source address, tcp, query bytes after the ID) -> (reply after the ID, label, truncated, log fields)
        self.exact: OrderedDict[tuple[str, bool, bytes], _Entry] = OrderedDict()
        #: source address text -> view key of its network (or "unknown")
        self.where: dict[str, str] = {}
        #: address text -> (address, network, matched prefix length): what resolving needs, parsed once
        self.sources: dict[str, tuple[IPAddress, Network | None, int]] = {}
        #: view key -> {zone apex wire: negative-answer plan} for VNets answered by Azure DNS without rules
        self.negative: dict[str, dict[bytes, Any] | None] = {}
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for network in index.networks.values():
            for text in network.prefixes:
                prefix = ipaddress.ip_network(text, strict=False)
                (v4 if prefix.version == 4 else v6).append((int(prefix.network_address), prefix.prefixlen))
        self.prefixes = {4: tuple(v4), 6: tuple(v6)}


class Handler:
    """Answers queries for one server: holds the current topology state, the upstream client and the stats."""

    def __init__(self, settings: Settings, index: Index, *, upstream: DnsClient | None = None,
                 stats: Stats | None = None, logger: Any = None) -> None:
        self.settings = settings
        self.stats = stats or Stats()
        self.log = logger if logger is not None else get_logger("dnsemu")
        #: one event per query is produced (for the log, or for an observer); the hot paths test only this
        self.query_log = settings.query_log
        self.write_log = settings.query_log
        self.observer: Callable[[dict[str, Any]], None] | None = None
        self.qlog = query_log() if settings.query_log and logger is None else None
        self.udp_size = settings.udp_payload_size
        self.cache_size = settings.cache_size
        self.ecs = settings.ecs
        self.ecs_trusted = tuple(settings.ecs_trusted_networks)
        self.open_resolver = settings.open_resolver
        self.forward_external = settings.forward_external_enabled
        self.has_upstreams = bool(settings.upstreams)
        self.upstream = upstream if upstream is not None else DnsClient(
            settings.upstream_addresses, timeout=settings.upstream_timeout,
            attempts=settings.upstream_attempts, udp_size=settings.udp_payload_size)
        self._state = _State(index)
        #: the emulated caches of firewall DNS proxies: they outlive topology swaps, as in Azure
        self.proxy_caches = ProxyCaches()
        self.limits = QueryLimits(settings.azure_dns_limits)  # Azure-provided DNS's per-VM limits (facts-2 §13)
        self.limits.use(index)
        self.policy_log = PolicyLog(self.log)  # DNS security policy decisions (facts-2 §10.9)

    # ------------------------------------------------------------------ topology

    @property
    def index(self) -> Index:
        return self._state.index

    @property
    def generation(self) -> int:
        return self._state.generation

    def swap(self, index: Index) -> None:
        """Serve ``index`` from the next query on, with a fresh cache (one reference swap)."""
        self._state = _State(index)
        self.limits.use(index)

    def observe(self, observer: Callable[[dict[str, Any]], None] | None) -> None:
        """Call ``observer`` with each query's ``dns_query`` fields (None: stop); it must not raise.

        While an observer is set, every query takes the logged paths (as with the query log on).
        """
        self.observer = observer
        self.query_log = self.write_log or observer is not None

    # ------------------------------------------------------------------ hot path

    def handle(self, data: bytes, addr: Any, tcp: bool = False) -> bytes | Awaitable[bytes | None] | None:
        """The reply to ``data`` from ``addr`` (``(host, port, ...)``); None to drop; or an awaitable.

        Never raises: an internal error is answered SERVFAIL and logged with its traceback.
        """
        try:  # free in CPython 3.11 while nothing raises
            start = perf_counter()
            state = self._state
            host = addr[0]
            if self.limits.active and self.limits.drop(host):
                return None  # over Azure-provided DNS's per-VM limits: dropped, never answered
            # level 1: the very same bytes as an earlier query from the same address (all but the
            # ID): only the ID changes. Keyed by address, not view, so that ECS answers (which
            # depend on whether this address is trusted) are cached here too.
            entry = state.exact.get((host, tcp, data[2:]))
            if entry is not None:
                reply = data[:2] + entry[0]
            else:
                # level 2: the same question from the same view, in another case or with another ID
                p = peek(data)
                if p is None:
                    return self._slow(data, addr, tcp, state, None, start)
                view = state.where.get(host)
                if view is None:
                    view = self._where(state, host)
                entry = state.cache.get((view, tcp, p.key))
                if entry is None:
                    negative = state.negative.get(view)
                    if negative is not None and not self.query_log:
                        fast = _fast_nxdomain(data, p, negative, self.udp_size)
                        if fast is not None:
                            self._count_fast(negative[b""], fast[1], tcp, data, p, start, fast[0])
                            return fast[0]
                    return self._slow(data, addr, tcp, state, p, start)
                reply = with_id_and_case(entry[0], p)
                exact = state.exact
                if len(exact) >= self.cache_size:
                    exact.popitem(last=False)
                exact[(host, tcp, data[2:])] = (reply[2:], *entry[1:])
            cell = entry[1]  # every counter of this hit, folded in by Stats.snapshot()
            cell[0] += 1
            elapsed = perf_counter() - start
            cell[1] += elapsed
            if elapsed < _FIRST_DURATION:
                cell[2] += 1
            else:
                cell[2 + bisect_left(DURATION_BUCKETS, elapsed)] += 1
            if self.query_log:
                self._log_hit(data, host, entry[3], entry[2], elapsed)
            return reply
        except Exception:
            return self._internal_error(data, addr, tcp, None)

    def _source(self, state: _State, text: str) -> tuple[IPAddress, Network | None, int]:
        """The parsed address and its classification, memoised per address text."""
        hit = state.sources.get(text)
        if hit is None:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            network, prefixlen = state.index.classify(address)
            hit = (address, network, prefixlen)
            if len(state.sources) >= _WHERE_LIMIT:
                state.sources.clear()
            state.sources[text] = hit
        return hit

    def _where(self, state: _State, host: str) -> str:
        network, _ = state.index.classify(host)
        view = network.view_key if network is not None else "unknown"
        if len(state.where) >= _WHERE_LIMIT:
            state.where.clear()
        state.where[host] = view
        if view not in state.negative:
            state.negative[view] = _negative_plans(network, state.index.policies)
        return view

    def _count_fast(self, view: str, kind: str, tcp: bool, data: bytes, p: Peek, start: float,
                    reply: bytes) -> None:
        """Counters for a precompiled NXDOMAIN (what :meth:`_account` counts for a resolved one)."""
        proto = "tcp" if tcp else "udp"
        qtype = data[p.question_end - 4] << 8 | data[p.question_end - 3]
        label = (proto, view, _qtype_label(qtype), "NXDOMAIN", kind)
        stats = self.stats
        queries = stats.queries
        queries[label] = queries.get(label, 0) + 1
        stats.cache["miss", proto] += 1
        stats.sizes[proto][bisect_left(SIZE_BUCKETS, len(reply))] += 1
        stats.size_sum[proto] += len(reply)
        elapsed = perf_counter() - start
        stats.durations[proto][bisect_left(DURATION_BUCKETS, elapsed)] += 1
        stats.duration_sum[proto] += elapsed

    # ------------------------------------------------------------------ slow path

    def _slow(self, data: bytes, addr: Any, tcp: bool, state: _State, p: Peek | None,
              start: float) -> bytes | Awaitable[bytes | None] | None:
        proto = "tcp" if tcp else "udp"
        stats = self.stats
        stats.cache["miss", proto] += 1
        try:
            query = parse_query(data)
        except WireError as exc:
            kind = exc.rcode.name.lower() if exc.reply is not None else "dropped"
            stats.errors[kind] = stats.errors.get(kind, 0) + 1
            if self.write_log:
                self.log.info("dns_query", client=addr[0], proto=proto, view="-", qname="", qtype="",
                              rcode=exc.rcode.name if exc.reply is not None else "DROPPED",
                              answer="", kind="error", reason=exc.reason,
                              duration_ms=round((perf_counter() - start) * 1000, 3), cached=False)
            return exc.reply
        try:
            return self._answer(query, data, addr, tcp, state, p, start)
        except Exception:
            return self._internal_error(data, addr, tcp, query)

    def _answer(self, query: Query, data: bytes, addr: Any, tcp: bool, state: _State, p: Peek | None,
                start: float) -> bytes | Awaitable[bytes | None]:
        host = addr[0]
        real, network, prefixlen = source = self._source(state, host)
        scope: int | None = None
        ecs_text = None
        edns = query.edns
        if edns is not None and edns.ecs is not None and self.ecs and self._trusted(real):
            ecs = edns.ecs
            ecs_text = f"{ecs.address}/{ecs.source_prefix}"
            if ecs.source_prefix:
                routing, network, prefixlen = source = self._source(state, ecs.address)
                scope = self._scope(state, routing)
            else:
                scope = 0
        resolution = resolve_classified(state.index, network, prefixlen, query.question, source[0])
        held = resolution.proxy_cache is not None
        if held:  # behind a firewall whose DNS proxy cache is emulated: the answer depends on time
            resolution = self.proxy_caches.answer(resolution.proxy_cache, query.question, resolution)
        if resolution.policy:
            self.policy_log.record(resolution, host, query.qname_text, query.question.qtype)
        if tcp:
            max_size = 65535
        elif edns is not None:
            max_size = min(edns.udp_size, self.udp_size)
        else:
            max_size = 512
        outcome = resolution.outcome
        if outcome is Outcome.FORWARD:
            verdict = self._may_forward(state, real, resolution)
            if verdict is _FORWARD:
                return self.limits.track(host, self._forward(query, resolution, host, tcp, max_size, scope,
                                                              ecs_text, start))
            reply = encode_response(query, Rcode.REFUSED, max_size=max_size, server_udp_size=self.udp_size,
                                    ecs_scope=scope)
            self.stats.forwarded["refused"] = self.stats.forwarded.get("refused", 0) + 1
            label = self._account(query, host, tcp, resolution.view, "refused", reply, start, resolution, ecs_text)
            if verdict is _REFUSE_ALWAYS and not held and not resolution.policy:  # refused by configuration
                self._store(state, data, host, tcp, p, scope, reply, label, resolution)
            return reply
        reply = encode_response(query, resolution.rcode, resolution.answer, resolution.authority,
                                max_size=max_size, server_udp_size=self.udp_size, ecs_scope=scope,
                                aa=resolution.authoritative)
        kind = resolution.source.value
        label = self._account(query, host, tcp, resolution.view, kind, reply, start, resolution, ecs_text)
        if outcome in _CACHEABLE and not held and not resolution.policy:  # a policy decision is logged per query
            self._store(state, data, host, tcp, p, scope, reply, label, resolution)
        return reply

    def _store(self, state: _State, data: bytes, host: str, tcp: bool, p: Peek | None, scope: int | None,
               reply: bytes, label: tuple[str, str, str, str, str], resolution: Resolution) -> None:
        """Keep ``reply``: for the same bytes from the same address, and (without ECS) for the same
        question from the same view."""
        if not self.cache_size:
            return
        log_fields = _log_fields(label, resolution.network, _answer_text(label[4], resolution, reply)) \
            if self.query_log else None
        cell = self.stats.cell(label, len(reply), bool(reply[2] & 0x02))
        if p is not None and scope is None:
            cache = state.cache
            if len(cache) >= self.cache_size:
                cache.popitem(last=False)  # the oldest entry
            view = state.where.get(host) or self._where(state, host)
            cache[(view, tcp, p.key)] = (reply, cell, log_fields, label)
        exact = state.exact
        if len(exact) >= self.cache_size:
            exact.popitem(last=False)
        exact[(host, tcp, data[2:])] = (reply[2:], cell, log_fields, label)

    def _trusted(self, address: IPAddress) -> bool:
        for network in self.ecs_trusted:
            if address in network:
                return True
        mapped = getattr(address, "ipv4_mapped", None)
        return mapped is not None and self._trusted(mapped)

    def _scope(self, state: _State, routing: IPAddress) -> int:
        mapped = getattr(routing, "ipv4_mapped", None)
        if mapped is not None:
            return 96 + ecs_scope(state.prefixes[4], mapped)
        return ecs_scope(state.prefixes[routing.version], routing)

    def _may_forward(self, state: _State, real: IPAddress, resolution: Resolution) -> object:
        """_FORWARD; _REFUSE_ALWAYS (nothing configured to forward to); _REFUSE_SOURCE (not for this source)."""
        forward = resolution.forward
        if forward is None:
            return _REFUSE_ALWAYS
        if forward.targets:
            if not self.forward_external:
                return _REFUSE_ALWAYS
        elif not self.has_upstreams:
            return _REFUSE_ALWAYS
        if self.open_resolver or real.is_loopback:
            return _FORWARD
        mapped = getattr(real, "ipv4_mapped", None)
        if mapped is not None and mapped.is_loopback:
            return _FORWARD
        network, _ = state.index.classify(real)
        return _FORWARD if network is not None else _REFUSE_SOURCE

    async def _forward(self, query: Query, resolution: Resolution, host: str, tcp: bool, max_size: int,
                       scope: int | None, ecs_text: str | None, start: float) -> bytes | None:
        forward = resolution.forward
        assert forward is not None
        stats = self.stats
        try:
            try:
                upstream_reply = await self.upstream.resolve(forward.name, forward.qtype, forward.targets)
                reply = encode_forwarded(query, upstream_reply, resolution.answer, max_size=max_size,
                                         server_udp_size=self.udp_size, ecs_scope=scope)
                stats.forwarded["answered"] = stats.forwarded.get("answered", 0) + 1
            except ServersFailed as exc:
                stats.forwarded["failed"] = stats.forwarded.get("failed", 0) + 1
                stats.errors["upstream"] = stats.errors.get("upstream", 0) + 1
                self.log.warning("upstream_failed", qname=forward.name, qtype=type_name(forward.qtype),
                                 via=forward.via, error=str(exc))
                reply = encode_response(query, Rcode.SERVFAIL, max_size=max_size, server_udp_size=self.udp_size,
                                        ecs_scope=scope)
            except WireError as exc:  # an upstream reply we cannot use
                stats.forwarded["failed"] = stats.forwarded.get("failed", 0) + 1
                stats.errors["upstream"] = stats.errors.get("upstream", 0) + 1
                self.log.warning("upstream_failed", qname=forward.name, qtype=type_name(forward.qtype),
                                 via=forward.via, error=exc.reason)
                reply = exc.reply or encode_response(query, Rcode.SERVFAIL, max_size=max_size,
                                                     server_udp_size=self.udp_size)
            self._account(query, host, tcp, resolution.view, "forwarded", reply, start, resolution, ecs_text)
            return reply
        except Exception:
            return self._internal_error(b"", (host, 0), tcp, query)

    # ------------------------------------------------------------------ accounting

    def _account(self, query: Query, host: str, tcp: bool, view: str, kind: str, reply: bytes,
                 start: float, resolution: Resolution | None, ecs_text: str | None) -> tuple[str, str, str, str, str]:
        proto = "tcp" if tcp else "udp"
        rcode = reply[3] & 0xF  # never an extended rcode here: BADVERS is a WireError reply
        label = (proto, view, _qtype_label(query.question.qtype), _rcode_name(rcode), kind)
        stats = self.stats
        stats.queries[label] = stats.queries.get(label, 0) + 1
        truncated = bool(reply[2] & 0x02)
        if truncated:
            stats.truncated[proto] += 1
        stats.sizes[proto][bisect_left(SIZE_BUCKETS, len(reply))] += 1
        stats.size_sum[proto] += len(reply)
        elapsed = perf_counter() - start
        stats.durations[proto][bisect_left(DURATION_BUCKETS, elapsed)] += 1
        stats.duration_sum[proto] += elapsed
        if self.query_log:
            fields: dict[str, Any] = {}
            if ecs_text is not None:
                fields["ecs"] = ecs_text
            if truncated:
                fields["truncated"] = True
            event = dict(client=host, proto=proto, view=view,
                         network=resolution.network if resolution is not None else "-",
                         qname=query.qname_text, qtype=type_name(query.question.qtype), rcode=label[3],
                         answer=_answer_text(kind, resolution, reply), kind=kind,
                         duration_ms=round(elapsed * 1000, 3), cached=False, **fields)
            if self.write_log:
                self.log.info("dns_query", **event)
            if self.observer is not None:
                self.observer(event)
        return label

    def _log_hit(self, data: bytes, host: str, label: tuple[str, str, str, str, str], fields: Any,
                 elapsed: float) -> None:
        """One ``dns_query`` line for a cache hit (``fields``: what :func:`_log_fields` rendered)."""
        if self.observer is not None:
            network, answer = fields[:2] if fields is not None else ("-", "")
            qname, qtype = _question(data)
            self.observer(dict(client=host, proto=label[0], view=label[1], network=network, qname=qname,
                               qtype=type_name(qtype), rcode=label[3], answer=answer, kind=label[4],
                               duration_ms=round(elapsed * 1000, 3), cached=True))
            if not self.write_log:
                return
        qlog = self.qlog
        if qlog is not None and fields is not None:  # pre-rendered: client, duration and time per query
            question = data[12:]
            middle = _LOG_MIDDLE.get((question, fields[2]))
            if middle is None:
                qname, qtype = _question(data)
                middle = f'{fields[2]}, "qname": {json_str(qname)}, "qtype": "{type_name(qtype)}", {fields[3]}'
                if len(_LOG_MIDDLE) >= 16384:
                    _LOG_MIDDLE.clear()
                _LOG_MIDDLE[(question, fields[2])] = middle
            qlog.emit(f'{{"client": "{host}", {middle}, "duration_ms": {round(elapsed * 1000, 3)}, "cached": true, '
                      f'"event": "dns_query", "level": "info", "timestamp": "{qlog.stamp()}"}}\n')
            return
        network, answer = fields[:2] if fields is not None else ("-", "")
        qname, qtype = _question(data)
        self.log.info("dns_query", client=host, proto=label[0], view=label[1], network=network,
                      qname=qname, qtype=type_name(qtype), rcode=label[3],
                      answer=answer, kind=label[4], duration_ms=round(elapsed * 1000, 3), cached=True)

    def _internal_error(self, data: bytes, addr: Any, tcp: bool, query: Query | None) -> bytes | None:
        """SERVFAIL for a query that raised, with the traceback logged; never raises itself."""
        stats = self.stats
        stats.errors["internal"] = stats.errors.get("internal", 0) + 1
        with contextlib.suppress(Exception):  # a broken logger must not take the server down either
            self.log.exception("internal_error", client=addr[0], proto="tcp" if tcp else "udp",
                               qname=query.qname_text if query is not None else None)
        try:
            if query is not None:
                return encode_response(query, Rcode.SERVFAIL, max_size=65535 if tcp else 512,
                                       server_udp_size=self.udp_size)
        except Exception:
            pass
        return servfail_from_header(data)


def _answer_text(kind: str, resolution: Resolution | None, reply: bytes) -> str:
    """The answer of a reply in a few words, for the query log."""
    if resolution is None or kind == "refused" or reply[3] & 0xF == Rcode.SERVFAIL:
        return ""
    if kind == "forwarded":
        total = reply[6] << 8 | reply[7]
        prefix = answer_summary(resolution.answer)
        upstream = f"{total - len(resolution.answer)} record(s) from upstream"
        return f"{prefix}, {upstream}" if prefix else upstream
    return answer_summary(resolution.answer)


def servfail_from_header(data: bytes) -> bytes | None:
    """A bare SERVFAIL (no question) answering the header of ``data``; None when there is none."""
    if len(data) < 12 or data[2] & 0x80:
        return None
    flags = 0x8000 | (data[2] & 0x79) << 8 | 0x80 | (data[3] & 0x10) | 2  # QR, opcode, RD, RA, CD, SERVFAIL
    return data[:2] + flags.to_bytes(2, "big") + bytes(8)


def _question(data: bytes) -> tuple[str, int]:
    """(qname in the client's case, qtype) of a query that :func:`~dnsemu.dns.wire.peek` accepted."""
    labels, i = [], 12
    while data[i]:
        labels.append(data[i + 1 : i + 1 + data[i]].decode("ascii", "backslashreplace"))
        i += data[i] + 1
    return (".".join(labels) + "." if labels else "."), data[i + 1] << 8 | data[i + 2]


#: (question bytes, pre-rendered head) -> the line's middle: qname in the client's case, qtype, rcode, answer
_LOG_MIDDLE: dict[tuple[bytes, str], str] = {}


def _log_fields(label: tuple[str, str, str, str, str], network: str, answer: str) -> tuple[str, str, str, str]:
    """What a cached reply's query-log line shares with every hit: also as JSON fragments, rendered once."""
    head = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in
                     (("proto", label[0]), ("view", label[1]), ("network", network)))
    tail = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in
                     (("rcode", label[3]), ("answer", answer), ("kind", label[4])))
    return network, answer, head, tail


# --------------------------------------------------------------------------- precompiled negative answers

_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_.")


def _negative_plans(network: Any, policies: Mapping[str, Any]) -> dict[bytes, Any] | None:
    """Per linked zone (apex as lower-case wire): what an NXDOMAIN from it needs, precompiled.

    Only for a VNet whose queries Azure DNS answers itself (no forwarding ruleset, no custom DNS),
    where the resolver's first step is the linked-zone lookup, and no DNS security policy looks at
    the answer; None otherwise (the slow path).
    """
    if network is None or network.kind != "vnet" or not isinstance(network.entry, AzureDns) or network.entry.rules:
        return None
    if network.entry.view.vnet in policies:
        return None
    plans: dict[bytes, Any] = {}
    for apex, link in network.entry.view.links.items():
        zone = link.zone
        if zone.has_wildcards or apex == ".":
            continue
        wire = b"".join(bytes((len(label),)) + label.encode("ascii") for label in apex[:-1].split(".")) + b"\0"
        kind = "nxdomain_private" if zone.kind == "private" else "internal"  # as the resolver labels it
        plans[wire] = (zone, link.redirects, NegativeAnswer(apex, zone.negative), kind)
    plans[b""] = network.entry.view.name  # the counters' view label (no qname is b"")
    return plans


def _fast_nxdomain(data: bytes, p: Peek, plans: dict[bytes, Any], udp_size: int) -> tuple[bytes, str] | None:
    """NXDOMAIN from the longest linked zone holding the qname, without parsing, resolving or dnslib.

    None (take the slow path) unless the name is plain ASCII, a linked zone encloses it, the zone lacks
    it (and has no wildcard), and the link does not redirect this type to public DNS.
    """
    key = p.key
    qlen = len(p.qname_wire)
    wire = key[:qlen]
    i = 0
    plan = None
    while wire[i]:
        plan = plans.get(wire[i:])
        if plan is not None:
            break
        i += wire[i] + 1
    if plan is None:
        return None
    zone, redirects, negative, kind = plan
    qtype = key[qlen] << 8 | key[qlen + 1]
    if redirects and qtype in REDIRECTABLE:
        return None
    labels = []
    j = 0
    while wire[j]:
        labels.append(wire[j + 1 : j + 1 + wire[j]])
        j += wire[j] + 1
    joined = b".".join(labels)
    if not _NAME_BYTES.issuperset(joined):
        return None  # escapes or odd bytes: the canonical text needs the slow path
    if zone.exists(joined.decode("ascii") + "."):
        return None  # the name exists (records, a CNAME or NODATA): not a negative answer from here
    return negative.reply(data, p, i, udp_size), kind
