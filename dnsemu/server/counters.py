"""The traffic counters of a server as plain data: read once, added up across processes.

:class:`Counters` is what :mod:`dnsemu.http.metrics` shows of the queries a server
answered: the handler's :class:`~dnsemu.server.handler.Stats` (cache hits folded
in), the upstream exchanges, the transport's counters and two gauges (queries
waiting for an upstream, TCP connections open). It holds dicts, lists and
numbers only, so a worker of ``dnsemu serve --workers N`` pickles its own and
sends it to the parent, which adds them up with :func:`merge` (counters and
histogram buckets are summed bucket by bucket; so are the two gauges, which are
per process). The topology's numbers (generation, reloads, changes) are not
here: every worker serves the parent's topology, so the parent reports its own.

``workers`` and ``worker_restarts`` are filled by the parent only (None and
empty for a single process).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from dnsemu.server.forwarding import UpstreamStats
from dnsemu.server.handler import Stats

__all__ = ["Counters", "merge"]


@dataclasses.dataclass
class Counters:
    """One server's traffic counters at one moment (see the module docstring)."""

    stats: Stats = dataclasses.field(default_factory=Stats)
    upstream: UpstreamStats = dataclasses.field(default_factory=UpstreamStats)
    #: ServerState.counters: udp_send_dropped, tcp_accepted, tcp_rejected, ...
    transport: dict[str, int] = dataclasses.field(default_factory=dict)
    #: gauges: queries waiting for an upstream, TCP connections open
    in_flight: int = 0
    tcp_connections: int = 0
    #: processes answering queries (the parent of workers only)
    workers: int | None = None
    #: workers started again after they ended on their own, by reason
    worker_restarts: dict[str, int] = dataclasses.field(default_factory=dict)


def _add(into: dict[Any, Any], other: dict[Any, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, list):
            mine = into.get(key)
            if mine is None:
                into[key] = list(value)
            else:
                into[key] = [a + b for a, b in zip(mine, value, strict=True)]
        else:
            into[key] = into.get(key, 0) + value


_STATS_FIELDS = ("queries", "truncated", "errors", "cache", "durations", "duration_sum", "sizes", "size_sum",
                 "forwarded", "reloads")
_UPSTREAM_FIELDS = ("requests", "failures", "durations", "duration_sum")


def merge(parts: Iterable[Counters]) -> Counters:
    """The sum of several servers' counters (an empty iterable gives zeros)."""
    out = Counters()
    for name in ("durations", "sizes"):  # the zero buckets of a fresh Stats would not line up with a sum
        getattr(out.stats, name).clear()
    for name in ("truncated", "cache", "duration_sum", "size_sum"):
        getattr(out.stats, name).clear()
    for part in parts:
        for name in _STATS_FIELDS:
            _add(getattr(out.stats, name), getattr(part.stats, name))
        for name in _UPSTREAM_FIELDS:
            _add(getattr(out.upstream, name), getattr(part.upstream, name))
        _add(out.transport, part.transport)
        out.in_flight += part.in_flight
        out.tcp_connections += part.tcp_connections
    return out
