"""The ``dns_query`` events: one per query, for the log and for an observer (the /ui page).

A miss's event is a dict handed to structlog (and to the observer). A cache hit's line is
mostly rendered once, when its reply is stored (:func:`log_fields`): per hit only the client,
the duration and the time are new, and with the buffered JSON writer
(:func:`dnsemu.logs.query_log`) the line is joined from pre-rendered JSON fragments.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from dnsemu.core.resolution import Resolution, Source
from dnsemu.dns.records import Rcode, type_name
from dnsemu.dns.wire import answer_count, question_of, reply_rcode
from dnsemu.logs import QueryLog, answer_summary, json_str, milliseconds
from dnsemu.server.handler.stats import Label

__all__ = ["LogFields", "QueryLogger", "answer_text", "log_fields"]

#: what a stored reply's hits share in their log lines: network, answer, then as JSON: head, tail; the reason
LogFields = tuple[str, str, str, str, str | None]
_MIDDLE_LIMIT = 16384


def answer_text(kind: Source, resolution: Resolution | None, reply: bytes) -> str:
    """The answer of a reply in a few words, for the query log."""
    if resolution is None or kind is Source.REFUSED or reply_rcode(reply) == Rcode.SERVFAIL:
        return ""
    if kind is Source.FORWARDED:
        prefix = answer_summary(resolution.answer)
        upstream = f"{answer_count(reply) - len(resolution.answer)} record(s) from upstream"
        return f"{prefix}, {upstream}" if prefix else upstream
    return answer_summary(resolution.answer)


def log_fields(label: Label, network: str, answer: str, reason: str | None = None) -> LogFields:
    """What a cached reply's query-log line shares with every hit: also as JSON fragments, rendered once."""
    head = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in
                     (("proto", label[0]), ("view", label[1]), ("network", network)))
    tail_fields: tuple[tuple[str, str], ...] = (("rcode", label[3]), ("answer", answer), ("kind", label[4]))
    if reason is not None:
        tail_fields += (("reason", reason),)
    tail = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in tail_fields)
    return network, answer, head, tail, reason


class QueryLogger:
    """Where ``dns_query`` events go: the log (``write``), an observer, or both.

    ``qlog`` is the buffered JSON writer when the log is configured for it (None: structlog).
    """

    __slots__ = ("_middle", "log", "observer", "qlog", "write")

    def __init__(self, log: Any, qlog: QueryLog | None, write: bool) -> None:
        self.log = log
        self.qlog = qlog
        self.write = write
        self.observer: Callable[[dict[str, Any]], None] | None = None
        #: (question bytes, pre-rendered head) -> the line's middle: qname in the client's case, qtype, rcode, answer
        self._middle: dict[tuple[bytes, str], str] = {}

    @property
    def active(self) -> bool:
        """Whether each query makes an event (the handler's hot paths test this once per query)."""
        return self.write or self.observer is not None

    def event(self, event: dict[str, Any]) -> None:
        """A resolved (not cached) query's event."""
        if self.write:
            self.log.info("dns_query", **event)
        if self.observer is not None:
            self.observer(event)

    def hit(self, data: bytes, host: str, label: Label, fields: LogFields | None, elapsed: float) -> None:
        """One ``dns_query`` event for a cache hit (``fields``: what :func:`log_fields` rendered)."""
        if self.observer is not None:
            network, answer, reason = (fields[0], fields[1], fields[4]) if fields is not None else ("-", "", None)
            qname, qtype = question_of(data)
            self.observer(dict(client=host, proto=label[0], view=label[1], network=network, qname=qname,
                               qtype=type_name(qtype), rcode=label[3], answer=answer, kind=label[4],
                               duration_ms=round(elapsed * 1000, 3), cached=True,
                               **({"reason": reason} if reason is not None else {})))
            if not self.write:
                return
        qlog = self.qlog
        if qlog is not None and fields is not None:  # pre-rendered: client, duration and time per query
            question = data[12:]
            middles = self._middle
            middle = middles.get((question, fields[2]))
            if middle is None:
                qname, qtype = question_of(data)
                middle = f'{fields[2]}, "qname": {json_str(qname)}, "qtype": "{type_name(qtype)}", {fields[3]}'
                if len(middles) >= _MIDDLE_LIMIT:
                    middles.clear()
                middles[(question, fields[2])] = middle
            qlog.emit(f'{{"client": "{host}", {middle}, "duration_ms": {milliseconds(elapsed)}, "cached": true, '
                      f'"event": "dns_query", "level": "info", "timestamp": "{qlog.stamp()}"}}\n')
            return
        network, answer, reason = (fields[0], fields[1], fields[4]) if fields is not None else ("-", "", None)
        qname, qtype = question_of(data)
        extra = {"reason": reason} if reason is not None else {}
        self.log.info("dns_query", client=host, qname=qname, qtype=type_name(qtype), rcode=label[3],
                      answer=answer, view=label[1], duration_ms=round(elapsed * 1000, 3), **extra, proto=label[0],
                      network=network, kind=label[4], cached=True)

    def error(self, host: str, proto: str, rcode: str, reason: str, elapsed: float) -> None:
        """A query that did not parse (answered with an error rcode, or dropped)."""
        if self.write:
            self.log.info("dns_query", client=host, qname="", qtype="", rcode=rcode, answer="", view="-",
                          duration_ms=round(elapsed * 1000, 3), reason=reason, proto=proto, kind="error", cached=False)
