"""The query handler: bytes and a source address in, reply bytes out, without sockets.

One concern per module:

* :mod:`.handler` — :class:`Handler`: the hot path (the reply cache) and the slow path
  (parse, resolve, encode, forward), orchestrated;
* :mod:`.cache` — one topology generation: the index, the two-level reply cache, the
  memos per source address;
* :mod:`.precompiled` — answers the view and the zone decide alone (NXDOMAIN from the index's
  compiled negative answers, records at the question's name), as bytes, without resolving;
* :mod:`.ecs` — EDNS Client Subnet: whom to believe, and the scope of an answer;
* :mod:`.stats` — the counters, their buckets and labels;
* :mod:`.querylog` — the ``dns_query`` events (log lines, the observer).

Who gets forwarded answers, and the client that forwards, are :mod:`dnsemu.server.forwarding`;
the header work is the codec's (:mod:`dnsemu.dns.wire`). ``from dnsemu.server.handler import X``
keeps working for every name the single module had.
"""

from dnsemu.dns.wire import servfail_from_header
from dnsemu.server.handler.ecs import ecs_scope
from dnsemu.server.handler.handler import Handler
from dnsemu.server.handler.stats import DURATION_BUCKETS, QTYPE_LABELS, SIZE_BUCKETS, Stats

__all__ = ["DURATION_BUCKETS", "QTYPE_LABELS", "SIZE_BUCKETS", "Handler", "Stats", "ecs_scope",
           "servfail_from_header"]
