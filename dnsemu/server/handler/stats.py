"""The handler's counters: plain dicts and lists bumped in the hot path, read through a snapshot.

A metrics collector (:mod:`dnsemu.http.metrics`) exports them at scrape time; nothing here
talks to prometheus per query. The buckets and the label vocabulary are defined here, once.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

from dnsemu.dns.records import Rcode, RRType

__all__ = ["DURATION_BUCKETS", "QTYPE_LABELS", "SIZE_BUCKETS", "Label", "Stats", "label_of", "qtype_label",
           "rcode_name"]

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

#: a query's counter label: (proto, view, qtype, rcode, kind)
Label = tuple[str, str, str, str, str]


def qtype_label(qtype: int) -> str:
    return QTYPE_LABELS.get(qtype, "other")


def rcode_name(rcode: int) -> str:
    return _RCODE_NAMES.get(rcode) or f"RCODE{rcode}"


def label_of(tcp: bool, view: str, qtype: int, rcode: int, kind: str) -> Label:
    """The counters' label of an answer: (transport, view, qtype label, rcode name, kind)."""
    return ("tcp" if tcp else "udp"), view, qtype_label(qtype), rcode_name(rcode), kind


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
    folds into the counters above when they are read. A precompiled answer bumps a miss cell the
    same way. Read through :meth:`snapshot`, not the
    attributes, to see every query.
    """

    __slots__ = ("cache", "cells", "duration_sum", "durations", "errors", "forwarded", "miss_cells", "queries",
                 "reloads", "size_sum", "sizes", "truncated")

    def __init__(self) -> None:
        self.queries: dict[Label, int] = {}
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
        self.cells: dict[tuple[Label, int, bool], list[Any]] = {}
        #: the same for answers counted as misses without going through :meth:`count` (precompiled ones)
        self.miss_cells: dict[tuple[Label, int, bool], list[Any]] = {}

    def cell(self, label: Label, size: int, truncated: bool, *, hit: bool = True) -> list[Any]:
        """The counters of replies with this label, size and truncation, bumped in the hot path (made on first
        use): cached replies' (``hit``), or precompiled answers' (not hits, yet as cheap to count)."""
        cells = self.cells if hit else self.miss_cells
        key = (label, size, truncated)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [0, 0.0] + [0] * (len(DURATION_BUCKETS) + 1)
        return cell

    def count(self, label: Label, size: int, truncated: bool, elapsed: float) -> None:
        """One answered query that was not a cache hit: its label, reply size, truncation and duration."""
        proto = label[0]
        queries = self.queries
        queries[label] = queries.get(label, 0) + 1
        if truncated:
            self.truncated[proto] += 1
        self.sizes[proto][bisect_left(SIZE_BUCKETS, size)] += 1
        self.size_sum[proto] += size
        self.durations[proto][bisect_left(DURATION_BUCKETS, elapsed)] += 1
        self.duration_sum[proto] += elapsed

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
        for cells, outcome in ((self.cells, "hit"), (self.miss_cells, "miss")):
            for (label, size, truncated), cell in cells.copy().items():
                n, elapsed, *buckets = cell  # one copy: the loop thread may be adding to it
                if not n:
                    continue
                proto = label[0]
                out.queries[label] = out.queries.get(label, 0) + n
                out.cache[outcome, proto] = out.cache.get((outcome, proto), 0) + n
                if outcome == "hit" and label[4] == "refused" and label[1] != "refused":
                    # a cached refusal to forward (nothing to forward to) counts like the first one did; the
                    # resolver's own refusals (unknown sources refused) have the view "refused" and are no forwards
                    out.forwarded["refused"] = out.forwarded.get("refused", 0) + n
                if truncated:
                    out.truncated[proto] = out.truncated.get(proto, 0) + n
                out.sizes[proto][bisect_left(SIZE_BUCKETS, size)] += n
                out.size_sum[proto] += size * n
                counts = out.durations[proto]
                for i, k in enumerate(buckets):
                    counts[i] += k
                out.duration_sum[proto] += elapsed
        return out

    def total(self) -> int:
        return sum(self.snapshot().queries.values())
