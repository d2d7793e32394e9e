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
from dnsemu.dns.wire import NegativeAnswer, Peek, longest_suffix, plain_name

__all__ = ["NegativeAnswers"]


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
        name = plain_name(qname)
        if name is None or zone.exists(name):
            return None  # escapes or odd bytes need the parser; a name the zone holds is not negative
        return template.reply(data, p, offset, udp_size), kind, qtype
