"""NXDOMAIN without resolving: a VNet's compiled negative answers as reply templates, keyed by wire name.

The core decides which VNets qualify and what a name missing from a linked zone gets
(:class:`~dnsemu.core.index.NegativeTable`, compiled with the index); this module only renders
that decision as bytes: one :class:`~dnsemu.dns.wire.NegativeAnswer` per zone, found by the
query's lower-case wire name, without parsing the query, resolving or dnslib. Whatever it
cannot decide from the bytes alone (an escape in the name, a zone with wildcards, a type the
link redirects, a name the zone holds) goes to the resolver.
"""

from __future__ import annotations

from dnsemu.core.index import NegativePlan, NegativeTable
from dnsemu.core.zone import Zone
from dnsemu.dns.wire import NegativeAnswer, Peek, longest_suffix

__all__ = ["NegativeAnswers"]

#: the octets of a plain label (lower case: the peek key is), and the dot we join labels with
_PLAIN = b"abcdefghijklmnopqrstuvwxyz0123456789-_."


class NegativeAnswers:
    """One VNet's :class:`~dnsemu.core.index.NegativeTable` keyed by apex wire, each plan with its template."""

    __slots__ = ("plans", "view")

    def __init__(self, table: NegativeTable, templates: dict[Zone, NegativeAnswer]) -> None:
        """``templates`` is shared by the VNets of one index: a zone's template is rendered once."""
        #: the counters' view label for these answers
        self.view = table.view
        #: lower-case apex wire -> (plan, reply template, the plan's kind label)
        self.plans: dict[bytes, tuple[NegativePlan, NegativeAnswer, str]] = {}
        for apex, plan in table.plans.items():
            template = templates.get(plan.zone)
            if template is None:
                template = templates[plan.zone] = NegativeAnswer(apex, plan.authority)
            self.plans[template.key] = (plan, template, plan.source.value)

    def answer(self, data: bytes, p: Peek, udp_size: int) -> tuple[bytes, str, int] | None:
        """The NXDOMAIN reply to ``data`` (peeked as ``p``), its kind label and the qtype; None to resolve it.

        The zone with the longest apex holding the qname decides, as in the resolver (a nested
        zone with a wildcard included: it decides by resolving): a name it lacks is NXDOMAIN
        unless its link redirects this type to public DNS.
        """
        qname = p.qname_key
        found = longest_suffix(self.plans, qname)
        if found is None:
            return None
        (plan, template, kind), offset = found
        zone = plan.zone
        qtype = p.qtype
        if zone.has_wildcards or qtype in plan.redirected:
            return None
        # the canonical text: the labels above the apex, then the apex's own (names.from_labels for plain labels)
        labels = []
        i = 0
        while i < offset:
            length = qname[i]
            labels.append(qname[i + 1 : i + 1 + length])
            i += length + 1
        joined = b".".join(labels)
        if joined.translate(None, _PLAIN) or joined.count(46) != len(labels) - 1:
            return None  # an escape, an odd byte or a dot inside a label: the parser knows its canonical text
        if zone.exists(f"{joined.decode('ascii')}.{plan.apex}" if labels else plan.apex):
            return None  # a name the zone holds (records, a CNAME or NODATA) is not a negative answer
        return template.reply(data, p, offset, udp_size), kind, qtype
