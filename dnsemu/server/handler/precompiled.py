"""Answers decided by the view and the zone alone, without parsing or resolving.

For a VNet whose linked zones answer its queries first and nothing looks at the answer
afterwards (:class:`~dnsemu.core.index.NegativeTable`, compiled with the index), a name under
a linked zone gets what that zone says, from the bytes of the query:

* a name the zone lacks: NXDOMAIN with the zone's SOA, from the plan's reply template
  (:class:`~dnsemu.dns.wire.NegativeAnswer`, one per zone), unless the link redirects the type;
* a name the zone holds without the type (NODATA): NOERROR with the same SOA, same template;
* a name the zone holds with records of the type at the name itself (A, AAAA, TXT…): NOERROR
  with them, assembled from records encoded once (:func:`~dnsemu.dns.wire.answer_at_question`).

Whatever it cannot decide from the bytes alone (an escape in the name, a zone with wildcards,
a type the link redirects, a CNAME to follow, a reply that needs TC) goes to the resolver.

Two ways in. :meth:`PrecompiledAnswers.bare` comes first, before the query is peeked: for a
bare query (no OPT record, or one without options: what stub resolvers send) it finds the
zone from the packet's length and the name's first labels (:func:`~dnsemu.dns.wire.bare_question`)
and answers an absent name's NXDOMAIN there, the commonest miss of all; a name the zone holds
leaves with its :class:`~dnsemu.dns.wire.Peek` for the reply cache. :meth:`PrecompiledAnswers.answer`
takes any peeked query the cache does not hold.

A VNet with a DNS security policy (facts-2 §10) is answered here too, as long as no rule of the
policy can match: the policy matches the queried name and every name of the answer's chain
(§10.3), and these answers have no chain but the question's name (records at the name itself;
a CNAME asked for by type is declined by the wire today, and its target would be checked too).
When :meth:`~dnsemu.core.policy.SecurityPolicy.covers` says a rule may match, the resolver
answers: it applies Block, Alert or Allow in priority order, and the server logs and counts the
decision (Alert included) as for any other query, and never keeps a reply that carries one.
"""

from __future__ import annotations

from dnsemu.core.index import NegativePlan, NegativeTable
from dnsemu.core.resolution import Source
from dnsemu.core.zone import Found, Zone, ZoneKind
from dnsemu.dns.records import Rcode, RRType
from dnsemu.dns.wire import NegativeAnswer, Peek, answer_at_question, bare_question, longest_suffix, peek_bare

__all__ = ["PrecompiledAnswers"]

#: the octets of a plain label (lower case: the peek key is), and with the dot we join labels with
_LABEL = b"abcdefghijklmnopqrstuvwxyz0123456789-_"
_PLAIN = _LABEL + b"."

#: (plan, reply template, kind label of its NXDOMAIN, kind label of an answer from the zone, whether every name
#: of the zone is the resolver's: the VNet's security policy covers the apex (§10.3), or the zone has wildcards)
_Entry = tuple[NegativePlan, NegativeAnswer, str, str, bool]


class PrecompiledAnswers:
    """One VNet's :class:`~dnsemu.core.index.NegativeTable` keyed by apex wire, each plan with its template."""

    __slots__ = ("covered", "plans", "policy", "view")

    def __init__(self, table: NegativeTable, templates: dict[Zone, NegativeAnswer]) -> None:
        """``templates`` is shared by the VNets of one index: a zone's template is rendered once."""
        #: the counters' view label for these answers
        self.view = table.view
        #: the VNet's DNS security policy (the names it covers are resolved); None: none applies
        policy = self.policy = table.policy
        #: the policy's domain list entries as wire names: a plain qname with one of them as a suffix below
        #: its zone's apex is covered (the apex and above: the entry's flag), one set probe per label
        self.covered = policy.wires if policy is not None else None
        #: lower-case apex wire -> entry
        self.plans: dict[bytes, _Entry] = {}
        for apex, plan in table.plans.items():
            template = templates.get(plan.zone)
            if template is None:
                template = templates[plan.zone] = NegativeAnswer(apex, plan.authority)
            positive = Source.PRIVATE if plan.zone.kind is ZoneKind.PRIVATE else Source.INTERNAL  # as the resolver
            resolved = plan.zone.has_wildcards or (policy is not None and policy.covers(apex))
            self.plans[template.key] = (plan, template, plan.source.value, positive.value, resolved)

    def answer(self, data: bytes, p: Peek, udp_size: int, tcp: bool) -> tuple[bytes, str, int] | None:
        """The reply to ``data`` (peeked as ``p``), its kind label and the qtype; None to resolve it.

        The zone with the longest apex holding the qname decides, as in the resolver (a nested
        zone with a wildcard included: it decides by resolving). An NXDOMAIN reply has rcode
        NXDOMAIN in its header, an answer NOERROR.
        """
        qname = p.key[: len(p.qname_wire)]  # Peek.qname_key, without the property call
        found = longest_suffix(self.plans, qname)  # the longest linked zone holding the name
        if found is None:
            return None
        entry, offset = found
        plan, template, negative_kind, positive_kind, resolved = entry
        if resolved:
            return None  # a rule may match every name of the zone (§10.3), or a wildcard may: the resolver
        name = self._name(qname, offset, plan.apex)
        if name is None:
            return None
        key = p.key
        qtype = key[len(qname)] << 8 | key[len(qname) + 1]
        if not plan.zone.exists(name):
            if qtype in plan.redirected:
                return None  # NxDomainRedirect: public DNS answers it
            return template.reply(data, p, offset, udp_size), negative_kind, qtype
        found, records = plan.zone.lookup(name, qtype)
        if found is Found.NODATA:  # the name without the type: NOERROR with the zone's SOA
            return template.reply(data, p, offset, udp_size, Rcode.NOERROR), positive_kind, qtype
        if found is not Found.RECORDS:
            return None  # a CNAME to follow: the resolver
        policy = self.policy
        if policy is not None and any(r.rtype == RRType.CNAME and policy.covers(r.rdata[0]) for r in records):
            return None  # a CNAME asked for by type: its target is in the answer's chain too (§10.3)
        reply = answer_at_question(data, p, records, udp_size, tcp)
        return None if reply is None else (reply, positive_kind, qtype)

    def bare(self, data: bytes, udp_size: int) -> tuple[bytes, str, int] | Peek | None:
        """For a bare query (:func:`~dnsemu.dns.wire.bare_question`) of a name a linked zone lacks, the NXDOMAIN
        reply, its kind label and the qtype; for a name the zone holds, the query's :class:`Peek`, made from
        what was found (for the cache and :meth:`answer`); None for anything else.

        The commonest miss (a crawler's or a search list's absent names) gets the least work: the
        name is walked down to its zone's apex only, and nothing is parsed or built but the name's
        text for the zone's lookup. The bytes are :meth:`answer`'s (a test compares them).
        """
        found = bare_question(data, self.plans)
        if found is None:
            return None
        (plan, template, negative_kind, _, resolved), qname, offset, end, edns = found
        if resolved:
            return None
        if offset == qname[0] + 1 and self.covered is None:  # _name's commonest case, inlined: one plain label
            label = qname[1:offset]
            name = None if label.translate(None, _LABEL) else f"{label.decode('ascii')}.{plan.apex}"
        else:
            name = self._name(qname, offset, plan.apex)
        if name is None:
            return None
        if plan.zone.exists(name):
            return peek_bare(data, qname, end, edns)
        qtype = data[end - 4] << 8 | data[end - 3]
        if qtype in plan.redirected:
            return None  # NxDomainRedirect: public DNS answers it
        return template.render(data, offset, end, edns, udp_size), negative_kind, qtype

    def _name(self, qname: bytes, offset: int, apex: str) -> str | None:
        """The canonical text of ``qname`` (lower case, plain labels) whose apex ``apex`` starts at ``offset``;
        None when the policy may match a name above the apex (§10.3) or a label needs escaping (the parser
        knows its canonical text)."""
        covered = self.covered
        if offset == qname[0] + 1 and covered is None:  # one label above the apex, no policy: the usual name
            label = qname[1:offset]
            if label.translate(None, _LABEL):
                return None
            return f"{label.decode('ascii')}.{apex}"
        labels = []
        i = 0
        while i < offset:
            if covered is not None and qname[i:] in covered:
                return None  # a rule may match the queried name (§10.3): the resolver applies the policy
            length = qname[i]
            labels.append(qname[i + 1 : i + 1 + length])
            i += length + 1
        joined = b".".join(labels)
        if joined.translate(None, _PLAIN) or joined.count(46) != len(labels) - 1:
            return None  # an escape, an odd byte or a dot inside a label
        return f"{joined.decode('ascii')}.{apex}" if labels else apex
