"""Sans-socket glue: query bytes and a client address in, reply bytes out.

``Handler.handle(data, addr, tcp)`` returns the reply (``bytes``), ``None``
when the message is to be dropped (a response, a packet too short to answer),
or an awaitable resolving to one of those when the answer needs an upstream
server. The transports do nothing but call it and send what it returns.

The hot path is the reply cache of the current :class:`~.cache.Generation`
(one dict probe per source address, then one for the reply). A hit builds no
objects, parses nothing and formats nothing (unless query logging is on): dict
probes, a join, and counters. Only replies that depend on nothing but (view,
question) are stored: no ECS, no forwarding, no security-policy decision.

A miss in a VNet whose negative answers are compiled with the index may be
answered without parsing or resolving when the view and the zone decide it
alone (:mod:`.precompiled`: NXDOMAIN from the compiled plan, records at the
question's name); everything else
(EDNS Client Subnet, errors, forwarding, a miss) takes the slow path:
:func:`~dnsemu.dns.wire.parse_query`, :func:`~dnsemu.core.resolver.resolve_classified`,
:func:`~dnsemu.dns.wire.encode_response`.
"""

from __future__ import annotations

import contextlib
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from dnsemu.core.index import Index
from dnsemu.core.resolution import Outcome, Resolution, Source
from dnsemu.core.resolver import resolve_classified
from dnsemu.dns.client import DnsClient, ServersFailed
from dnsemu.dns.records import Rcode, type_name
from dnsemu.dns.wire import (
    Peek,
    Query,
    WireError,
    encode_forwarded,
    encode_response,
    is_truncated,
    parse_query,
    peek,
    query_from_peek,
    reply_rcode,
    servfail_from_header,
    with_id_and_case,
)
from dnsemu.logs import get_logger, query_log
from dnsemu.server.forwarding import ForwardPolicy, Verdict, refusal
from dnsemu.server.handler.cache import Generation
from dnsemu.server.handler.ecs import IgnoredEcs, trusted
from dnsemu.server.handler.precompiled import Shape
from dnsemu.server.handler.querylog import QueryLogger, answer_text, log_fields
from dnsemu.server.handler.stats import DURATION_BUCKETS, Label, Stats, label_of
from dnsemu.server.limits import QueryLimits
from dnsemu.server.proxycache import ProxyCaches
from dnsemu.server.security import PolicyLog
from dnsemu.server.settings import Settings

__all__ = ["Handler"]

#: outcomes whose reply depends on nothing but (view, question): they may be cached
_CACHEABLE = frozenset({Outcome.ANSWER, Outcome.NODATA, Outcome.NXDOMAIN, Outcome.YXDOMAIN, Outcome.REFUSED,
                        Outcome.SERVFAIL})
_FIRST_DURATION = DURATION_BUCKETS[0]
#: the memo of precompiled answers' counter cells is cleared when it holds this many (a flood of odd qtypes)
MISS_CELLS_LIMIT = 4096


class Handler:
    """Answers queries for one server: holds the current topology generation, the upstream client and the stats."""

    def __init__(self, settings: Settings, index: Index, *, upstream: DnsClient | None = None,
                 stats: Stats | None = None, logger: Any = None) -> None:
        self.settings = settings
        self.stats = stats or Stats()
        self.log = logger if logger is not None else get_logger("dnsemu")
        #: where each query's ``dns_query`` event goes (the log, an observer)
        self.events = QueryLogger(self.log, query_log() if settings.query_log and logger is None else None,
                                  settings.query_log)
        #: one event per query is produced (for the log, or for an observer); the hot paths test only this
        self.query_log = self.events.active
        self.udp_size = settings.udp_payload_size
        self.cache_size = settings.cache_size
        self.ecs = settings.ecs
        self.ecs_trusted = tuple(settings.ecs_trusted_networks)
        self.forwarding = ForwardPolicy(upstreams=bool(settings.upstreams),
                                        external=settings.forward_external_enabled,
                                        open_resolver=settings.open_resolver)
        self.upstream = upstream if upstream is not None else DnsClient(
            settings.upstream_addresses, timeout=settings.upstream_timeout,
            attempts=settings.upstream_attempts, udp_size=settings.udp_payload_size)
        self._state = Generation(index)
        #: says (rate-limited) that an untrusted source's ECS option was ignored
        self.ecs_ignored = IgnoredEcs(self.log, self.ecs_trusted)
        #: the emulated caches of firewall DNS proxies: they outlive topology swaps, as in Azure
        self.proxy_caches = ProxyCaches()
        self.limits = QueryLimits(settings.azure_dns_limits)  # Azure-provided DNS's per-VM limits (facts-2 §13)
        self.limits.use(index)
        self.policy_log = PolicyLog(self.log)  # DNS security policy decisions (facts-2 §10.9)

    # ------------------------------------------------------------------ topology and observers

    @property
    def index(self) -> Index:
        return self._state.index

    @property
    def generation(self) -> int:
        return self._state.generation

    @property
    def write_log(self) -> bool:
        """Whether ``dns_query`` lines are logged (the query log setting)."""
        return self.events.write

    @property
    def observer(self) -> Callable[[dict[str, Any]], None] | None:
        return self.events.observer

    def swap(self, index: Index) -> None:
        """Serve ``index`` from the next query on, with a fresh cache (one reference swap)."""
        self._state = Generation(index)
        self.limits.use(index)

    def observe(self, observer: Callable[[dict[str, Any]], None] | None) -> None:
        """Call ``observer`` with each query's ``dns_query`` fields (None: stop); it must not raise.

        While an observer is set, every query takes the logged paths (as with the query log on).
        """
        self.events.observer = observer
        self.query_log = self.events.active

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
            # level 1: the very same bytes as an earlier query from the same address (all but the ID)
            entry = state.exact.get((host, tcp, data[2:]))
            if entry is not None:
                reply = data[:2] + entry[0]
            else:
                view = state.where.get(host)
                if view is None:
                    view = state.view_of(host)
                precompiled = state.precompiled.get(view) if not self.query_log else None
                held = precompiled.bare(data, self.udp_size, tcp) if precompiled is not None else None
                if held.__class__ is tuple:  # asked plainly: a name the linked zone lacks (the commonest miss), or
                    reply, shape, qkey = held  # type: ignore[misc]  # an address of a name it holds
                    cell = shape[2].get(qkey)  # the shape's counter cell for this qtype and transport (and size)
                    if cell is None:
                        cell = self._lane_cell(precompiled.view, shape, qkey, reply)  # type: ignore[union-attr]
                    cell[0] += 1  # bumped as a hit's cell is (below), in a miss cell
                    elapsed = perf_counter() - start
                    cell[1] += elapsed
                    if elapsed < _FIRST_DURATION:
                        cell[2] += 1
                    else:
                        cell[2 + bisect_left(DURATION_BUCKETS, elapsed)] += 1
                    kept = shape[4]
                    if kept is not None and self.cache_size:  # NOERROR: kept for these bytes from this address
                        state.store(self.cache_size, None, host, tcp, None, data, reply, kept[qkey])
                    return reply
                # level 2: the same question from the same view, in another case or with another ID
                if held is not None:  # a name the linked zone holds, asked plainly: peeked on the way
                    p = held  # type: ignore[assignment]
                else:
                    p = peek(data)
                    if p is None:
                        return self._slow(data, addr, tcp, state, None, start)
                entry = state.cache.get((view, tcp, p.key))
                if entry is None:
                    if precompiled is not None:
                        fast = precompiled.answer(data, p, self.udp_size, tcp) if held is None else \
                            precompiled.held(data, held, self.udp_size, tcp)  # type: ignore[arg-type]
                        if fast is not None:
                            reply, kind, qtype = fast
                            tail = self._count_fast(state, precompiled.view, kind, qtype, tcp, start, reply)
                            if tail is not None and self.cache_size:  # records or NODATA (never truncated here)
                                state.store(self.cache_size, view, host, tcp, p.key, data, reply, tail)
                            return reply
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
                self.events.hit(data, host, entry[3], entry[2], elapsed)
            return reply
        except Exception:
            return self._internal_error(data, addr, tcp, None)

    def _count_fast(self, state: Generation, view: str, kind: str, qtype: int, tcp: bool, start: float,
                    reply: bytes) -> tuple[list[Any], None, Label] | None:
        """Count a precompiled answer as :meth:`_account` counts a resolved one, in a miss cell (folded in by
        :meth:`Stats.snapshot`, as a hit's cell is); for a NOERROR answer, what to cache it with.

        A NOERROR answer (records, or NODATA: an AAAA question for a name with only an A is the
        commonest repeat) is kept as the slow path keeps it; an NXDOMAIN is not (cheap to make
        again, and a stream of distinct absent names would only churn the cache).
        """
        rcode = reply[3] & 0x0F  # NXDOMAIN or NOERROR: no extended rcode
        size = len(reply)
        key = (view, kind, qtype, tcp, rcode, size)
        cells = state.miss_cells
        cells_of = cells.get(key)
        if cells_of is None:
            if len(cells) >= MISS_CELLS_LIMIT:  # any qtype and size may come: bounded (the cells live on in the stats)
                cells.clear()
            label = label_of(tcp, view, qtype, rcode, kind)
            # a NOERROR answer is cached with its hit cell: found here once, with its miss cell
            kept = None if rcode else (self.stats.cell(label, size, False), None, label)
            cells_of = cells[key] = (self.stats.cell(label, size, False, hit=False), kept)
        cell = cells_of[0]  # bumped as handle() bumps a hit's cell (written out there: the hit path calls nothing)
        cell[0] += 1
        elapsed = perf_counter() - start
        cell[1] += elapsed
        if elapsed < _FIRST_DURATION:
            cell[2] += 1
        else:
            cell[2 + bisect_left(DURATION_BUCKETS, elapsed)] += 1
        return cells_of[1]

    def _lane_cell(self, view: str, shape: Shape, qkey: int, reply: bytes) -> list[Any]:
        """The miss cell of the lane's ``reply`` (of ``shape``, for the cell key ``qkey``: ``qtype << 1 | tcp`` and
        for an answer its records' length), found once per shape and key: the cell :meth:`_count_fast` bumps for
        the same answer; for a NOERROR shape also what the reply cache keeps with it (as :meth:`_count_fast`)."""
        cells, kept = shape[2], shape[4]
        if len(cells) >= MISS_CELLS_LIMIT:  # any qtype may come: bounded (the cells live on in the stats)
            cells.clear()
            if kept is not None:
                kept.clear()
        label = label_of(bool(qkey & 1), view, qkey >> 1 & 0xFFFF, reply[3] & 0x0F, shape[3])
        cell = cells[qkey] = self.stats.cell(label, len(reply), False, hit=False)
        if kept is not None:
            kept[qkey] = (self.stats.cell(label, len(reply), False), None, label)
        return cell

    # ------------------------------------------------------------------ slow path

    def _slow(self, data: bytes, addr: Any, tcp: bool, state: Generation, p: Peek | None,
              start: float) -> bytes | Awaitable[bytes | None] | None:
        proto = "tcp" if tcp else "udp"
        stats = self.stats
        stats.cache["miss", proto] += 1
        try:
            query = parse_query(data) if p is None else query_from_peek(data, p)  # the question parsed once
        except WireError as exc:
            kind = exc.rcode.name.lower() if exc.reply is not None else "dropped"
            stats.errors[kind] = stats.errors.get(kind, 0) + 1
            self.events.error(addr[0], proto, exc.rcode.name if exc.reply is not None else "DROPPED", exc.reason,
                              perf_counter() - start)
            return exc.reply
        try:
            return self._answer(query, data, addr, tcp, state, p, start)
        except Exception:
            return self._internal_error(data, addr, tcp, query)

    def _answer(self, query: Query, data: bytes, addr: Any, tcp: bool, state: Generation, p: Peek | None,
                start: float) -> bytes | Awaitable[bytes | None]:
        host = addr[0]
        real, network, prefixlen = source = state.source(host)
        scope: int | None = None
        ecs_text = None
        edns = query.edns
        if edns is not None and edns.ecs is not None and self.ecs and not trusted(real, self.ecs_trusted):
            self.ecs_ignored(host, edns.ecs)
        elif edns is not None and edns.ecs is not None and self.ecs:
            ecs = edns.ecs
            ecs_text = f"{ecs.address}/{ecs.source_prefix}"
            if ecs.source_prefix:
                routing, network, prefixlen = source = state.source(ecs.address)
                scope = state.ecs.scope(routing)
            else:
                scope = 0
        # the trace is built only for whoever reads it (the query log, an observer); the answer is the same
        resolution = resolve_classified(state.index, network, prefixlen, query.question, source[0], self.query_log)
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
            verdict = self.forwarding.decide(state.index, real, resolution.forward)
            if verdict is Verdict.FORWARD:
                return self.limits.track(host, self._forward(query, resolution, host, tcp, max_size, scope,
                                                              ecs_text, start))
            reply = encode_response(query, Rcode.REFUSED, max_size=max_size, server_udp_size=self.udp_size,
                                    ecs_scope=scope)
            self.stats.forwarded["refused"] = self.stats.forwarded.get("refused", 0) + 1
            label = self._account(query, host, tcp, resolution.view, Source.REFUSED, reply, start, resolution,
                                  ecs_text, reason=refusal(verdict, resolution.forward))
            if verdict is Verdict.REFUSE and not held and not resolution.policy:  # refused by configuration
                self._store(state, data, host, tcp, p, scope, reply, label, Source.REFUSED, resolution)
            return reply
        reply = encode_response(query, resolution.rcode, resolution.answer, resolution.authority,
                                max_size=max_size, server_udp_size=self.udp_size, ecs_scope=scope,
                                aa=resolution.authoritative)
        kind = resolution.source
        label = self._account(query, host, tcp, resolution.view, kind, reply, start, resolution, ecs_text)
        if outcome in _CACHEABLE and not held and not resolution.policy:  # a policy decision is logged per query
            self._store(state, data, host, tcp, p, scope, reply, label, kind, resolution)
        return reply

    def _store(self, state: Generation, data: bytes, host: str, tcp: bool, p: Peek | None, scope: int | None,
               reply: bytes, label: Label, kind: Source, resolution: Resolution) -> None:
        """Keep ``reply``: for the same bytes from the same address, and (without ECS) for the same
        question from the same view."""
        if not self.cache_size:
            return
        fields = None
        if self.query_log:
            reason = None
            if kind is Source.REFUSED:  # stored refusals: nothing to forward to, or the resolver's own
                reason = resolution.trace[-1].text if resolution.outcome is Outcome.REFUSED and resolution.trace \
                    else refusal(Verdict.REFUSE, resolution.forward)
            fields = log_fields(label, resolution.network, answer_text(kind, resolution, reply), reason)
        cell = self.stats.cell(label, len(reply), is_truncated(reply))
        shared = p is not None and scope is None
        view = (state.where.get(host) or state.view_of(host)) if shared else None
        state.store(self.cache_size, view, host, tcp, p.key if shared and p is not None else None, data, reply,
                    (cell, fields, label))

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
            self._account(query, host, tcp, resolution.view, Source.FORWARDED, reply, start, resolution, ecs_text)
            return reply
        except Exception:
            return self._internal_error(b"", (host, 0), tcp, query)

    # ------------------------------------------------------------------ accounting

    def _account(self, query: Query, host: str, tcp: bool, view: str, kind: Source, reply: bytes,
                 start: float, resolution: Resolution | None, ecs_text: str | None, reason: str | None = None) -> Label:
        # never an extended rcode here: BADVERS is a WireError reply
        label = label_of(tcp, view, query.question.qtype, reply_rcode(reply), kind.value)
        proto = label[0]
        truncated = is_truncated(reply)
        elapsed = perf_counter() - start
        self.stats.count(label, len(reply), truncated, elapsed)
        if self.query_log:
            fields: dict[str, Any] = {}
            if reason is None and kind is Source.REFUSED and resolution is not None and resolution.trace:
                reason = resolution.trace[-1].text  # the resolver's own refusal says why in its last step
            if reason is not None:
                fields["reason"] = reason
            if ecs_text is not None:
                fields["ecs"] = ecs_text
            if truncated:
                fields["truncated"] = True
            # the order a reader wants on a console line: who asked what, what came back, from where, how fast
            self.events.event(dict(client=host, qname=query.qname_text, qtype=type_name(query.question.qtype),
                                   rcode=label[3], answer=answer_text(kind, resolution, reply), view=view,
                                   duration_ms=round(elapsed * 1000, 3), **fields, proto=proto,
                                   network=resolution.network if resolution is not None else "-", kind=kind.value,
                                   cached=False))
        return label

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
