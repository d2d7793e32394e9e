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
and answers an absent name's NXDOMAIN there, the commonest miss of all. An A or AAAA question for a
name one label below the apex that the zone holds is answered there too: its records (or NODATA)
from the name's answer section, encoded once per name and type (:data:`LANE_TYPES`). Any other name
the zone holds leaves as a :class:`Held`: its :class:`~dnsemu.dns.wire.Peek` for the reply cache,
and what was found (the zone, the name) for :meth:`PrecompiledAnswers.held`, which answers it
without walking the name again. :meth:`PrecompiledAnswers.answer` takes any other peeked query the
cache does not hold.

Per query, the lane does only what depends on the query: what depends on its *shape* alone (the
zone, where the apex starts in the name, RD, CD, EDNS and DO) is made once per shape and kept
(the reply's header and tail, and its counter cells: :data:`Shape`). Whether a zone holds a name
one label below its apex is one set probe of the label's bytes (:func:`label_set`, made on the
zone's first query that needs it, for zones of up to :data:`LABELS_LIMIT` names), not the name's
text and the zone's lookup; what it holds there for A and AAAA is one more probe. A NOERROR answer
of the lane is kept in the reply cache for the same bytes from the same address, as the peek path
keeps it (the same question in another case or from another address is answered by the lane
again, about as fast as the cache's second level would find it); an NXDOMAIN is not kept.

A VNet with a DNS security policy (facts-2 §10) is answered here too, as long as no rule of the
policy can match: the policy matches the queried name and every name of the answer's chain
(§10.3), and these answers have no chain but the question's name (records at the name itself;
a CNAME asked for by type is declined by the wire today, and its target would be checked too).
When :meth:`~dnsemu.core.policy.SecurityPolicy.covers` says a rule may match, the resolver
answers: it applies Block, Alert or Allow in priority order, and the server logs and counts the
decision (Alert included) as for any other query, and never keeps a reply that carries one.
"""

from __future__ import annotations

from typing import Any

from dnsemu.core.index import NegativePlan, NegativeTable
from dnsemu.core.resolution import Source
from dnsemu.core.zone import Found, Zone, ZoneKind
from dnsemu.dns import names
from dnsemu.dns.records import Rcode, RRType
from dnsemu.dns.wire import (
    QTYPE_RCODES,
    NegativeAnswer,
    Peek,
    answer_at_question,
    answer_parts,
    bare_question,
    longest_suffix,
    peek_bare,
    records_at_question,
    reply_limit,
)

__all__ = ["LABELS_LIMIT", "LANE_ANSWERS_LIMIT", "LANE_TYPES", "ROUTE_SHAPES_LIMIT", "SHAPES_LIMIT", "Held",
           "PrecompiledAnswers", "Route", "Shape", "ZoneLane", "label_set"]

#: header octets 4-10 of a bare query: QD=1, AN=0, NS=0, AR < 256 (:func:`~dnsemu.dns.wire.bare_question`)
_ONE_QUESTION = b"\x00\x01\x00\x00\x00\x00\x00"
#: the octets of a plain label (lower case: the peek key is), and with the dot we join labels with
_LABEL = b"abcdefghijklmnopqrstuvwxyz0123456789-_"
_PLAIN = _LABEL + b"."

#: a zone with more names than this is asked whether it holds a name by the name's text (:meth:`Zone.exists`),
#: not by a set of its labels (:func:`label_set`), made on the zone's first query that needs it: about 30 ms and
#: 0.8 MB per 10,000 names on the benchmark machine, so a first query waits at most ~0.3 s
LABELS_LIMIT = 100_000
#: the shapes kept for one VNet (:data:`Shape`) start again when they reach this many (a flood of odd shapes)
SHAPES_LIMIT = 2048

#: one shape of the lane's replies for one VNet and zone (where the apex starts in the name, RD, CD, EDNS, DO, and
#: what the reply is: NXDOMAIN, NODATA, or so many answer records): [the reply's header after the ID, its tail
#: (authority and OPT, or OPT), the handler's counter cells by cell key, the kind label, and for a NOERROR shape
#: what the reply cache keeps with it by cell key (None for NXDOMAIN, which is not kept)]; the reply is the
#: query's ID, the header, the query's question, the name's answer records (none but in an answer) and the tail.
#: A cell key is ``qtype << 1 | tcp``, and for an answer also the length of its records above bit 17 (the
#: reply's size is the shape's and theirs)
Shape = list[Any]
#: what bare() keeps of a question's tail after its first label, one label below a linked zone's apex with a label
#: set: (the query's counts, header octets 4-11; the labels it leaves to the whole walk (the zone's label set, and
#: with a policy the labels its domain lists name below the apex); its NXDOMAIN shapes by ``first label's length
#: << 5 | RD | CD``, each [the head and the label's length, what follows the label in the question and the shape's
#: tail, and the shape's cells, kind and None]; the cell key less the transport)
Route = tuple[bytes, frozenset[bytes], dict[int, Shape], int]
#: the routes kept for one VNet start again when their shapes reach this many (a flood of odd types, OPT records
#: or label lengths): a shape is some 400 octets, so a VNet's routes take at most about 1.6 MB
ROUTE_SHAPES_LIMIT = 4096
#: the query types whose answers at a name one label below the apex the lane makes from the name's records
#: (the types stub resolvers ask for): at most two entries per name of a zone
LANE_TYPES = (1, 28)
#: the names of one zone whose answers of one of those types are kept start again at this many (about 200 octets
#: each: a zone of 100,000 names asked for all of them would otherwise keep 40 MB beside its records)
LANE_ANSWERS_LIMIT = 50_000
#: label -> (its answer records as encoded at the question, their count; 0 for NODATA), or False when the lane does
#: not answer it (a CNAME, a cut, a record with a name in its rdata)
Answers = dict[bytes, tuple[bytes, int] | bool]


def label_set(zone: Zone, apex: str) -> frozenset[bytes]:
    """The plain labels (lower-case octets of :data:`_LABEL`) ``L`` for which ``zone`` holds ``L.apex``: an
    owner or an empty non-terminal one label below the apex (RFC 8020: a name exists when a name below it does).

    For a plain label, ``label in label_set(zone, apex)`` is ``zone.exists(f"{label}.{apex}")`` (a test holds
    them to each other). Every owner below the apex gives the label just above the apex in its name.
    """
    tail = "." + apex
    cut = len(tail)
    firsts: set[str] = set()
    escaped: list[str] = []
    for owner in zone.nodes:
        if owner.endswith(tail):  # not the apex, nor a name outside the zone
            if "\\" in owner:
                escaped.append(owner)
            else:
                firsts.add(owner[owner.rfind(".", 0, len(owner) - cut) + 1 : len(owner) - cut])
    out = {label.encode("ascii") for label in firsts if label.isascii() and label.isalnum()}  # the quick yes, in C
    out.update(label for label in (label.encode("ascii") for label in firsts if not label.isalnum())
               if label and not label.translate(None, _LABEL))
    depth = len(names.to_labels(apex))
    for owner in escaped:  # an escaped dot is no label boundary: the codec splits it
        labels = names.to_labels(owner)
        if len(labels) > depth and labels[-depth:] == names.to_labels(apex):
            label = labels[-depth - 1]
            if label and not label.translate(None, _LABEL):
                out.add(label)
    return frozenset(out)


class ZoneLane:
    """What the lane makes of one zone, shared by the VNets of one generation linked to it: its reply template
    (rendered once), its label set (made on the first query that needs it) and its names' answers (encoded on
    first ask)."""

    __slots__ = ("answers", "labels", "template")

    def __init__(self, template: NegativeAnswer) -> None:
        self.template = template
        #: :func:`label_set` (None: not made yet; False: too large a zone, :data:`LABELS_LIMIT`)
        self.labels: frozenset[bytes] | bool | None = None
        #: for A and for AAAA (:data:`LANE_TYPES`), the answers of the zone's names one label below the apex
        self.answers: tuple[Answers, Answers] = ({}, {})


class _Zone:
    """One linked zone as one VNet's lane sees it."""

    __slots__ = ("apex", "index", "labels", "lane", "negative_kind", "nested", "plan", "positive_kind", "redirected",
                 "resolved", "stops", "template", "zone")

    def __init__(self, index: int, plan: NegativePlan, lane: ZoneLane, resolved: bool) -> None:
        #: its place among the VNet's zones (in the key of its shapes)
        self.index = index
        self.plan = plan
        self.zone = plan.zone
        self.apex = plan.apex
        self.lane = lane
        self.template = lane.template
        #: query types a link's NxDomainRedirect sends to public DNS
        self.redirected = plan.redirected
        #: the kind labels of its NXDOMAIN and of an answer from it (as the resolver labels them)
        self.negative_kind = plan.source.value
        self.positive_kind = (Source.PRIVATE if plan.zone.kind is ZoneKind.PRIVATE else Source.INTERNAL).value
        #: every name of the zone is the resolver's: the VNet's security policy covers the apex (§10.3), or the
        #: zone has wildcards
        self.resolved = resolved
        #: the lane's label set, read here once the first query that needs it had it made (None: not yet)
        self.labels: frozenset[bytes] | bool | None = None
        #: another of the VNet's zones lies below this one (a name under this apex may be the other's)
        self.nested = False
        #: with a policy: the label set and the labels its domain lists name one label below the apex (None: not
        #: yet made; :meth:`PrecompiledAnswers._stops`)
        self.stops: frozenset[bytes] | None = None


class Held(Peek):
    """A bare query of a name its linked zone holds (:meth:`PrecompiledAnswers.bare`): its :class:`Peek` (for the
    reply cache), with what the lane found for :meth:`PrecompiledAnswers.held` in :attr:`found`: the zone's
    entry, the name's canonical text (None: one plain label above the apex, made when it is answered) and
    where the apex starts in the name."""

    __slots__ = ("found",)

    found: tuple[_Zone, str | None, int]


_set_found = Held.found.__set__  # type: ignore[attr-defined]  # Peek is frozen: its slots are set this way


class PrecompiledAnswers:
    """One VNet's :class:`~dnsemu.core.index.NegativeTable` keyed by apex wire, each plan with its template."""

    __slots__ = ("_route_shapes", "_routes", "_shapes", "_udp_size", "covered", "plans", "policy", "view")

    def __init__(self, table: NegativeTable, lanes: dict[Zone, ZoneLane]) -> None:
        """``lanes`` is shared by the VNets of one index (:class:`ZoneLane`: a zone's template rendered once, its
        label set made once, a name's answer encoded once); the zones it lacks are added to it."""
        #: the counters' view label for these answers
        self.view = table.view
        #: the VNet's DNS security policy (the names it covers are resolved); None: none applies
        policy = self.policy = table.policy
        #: the policy's domain list entries as wire names: a plain qname with one of them as a suffix below
        #: its zone's apex is covered (the apex and above: the entry's flag), one set probe per label
        self.covered = policy.wires if policy is not None else None
        #: key (zone index, apex offset, EDNS/RD/CD bits) -> :data:`Shape`, for the server's UDP size
        self._shapes: dict[int, Shape] = {}
        #: what follows the first label of a bare query one label below an apex (:data:`Route`), as sent
        self._routes: dict[bytes, Route] = {}
        #: the shapes the routes hold, all told
        self._route_shapes = 0
        self._udp_size = 0
        #: lower-case apex wire -> entry
        self.plans: dict[bytes, _Zone] = {}
        for apex, plan in table.plans.items():
            lane = lanes.get(plan.zone)
            if lane is None:
                lane = lanes[plan.zone] = ZoneLane(NegativeAnswer(apex, plan.authority))
            resolved = plan.zone.has_wildcards or (policy is not None and policy.covers(apex))
            self.plans[lane.template.key] = _Zone(len(self.plans), plan, lane, resolved)
        for key in self.plans:  # each zone above another is marked: bare() then walks the name to the lower one
            i = key[0] + 1
            while key[i]:
                above = self.plans.get(key[i:])
                if above is not None:
                    above.nested = True
                i += key[i] + 1

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
        if entry.resolved:
            return None  # a rule may match every name of the zone (§10.3), or a wildcard may: the resolver
        name = self._name(qname, offset, entry.apex)
        if name is None:
            return None
        key = p.key
        qtype = key[len(qname)] << 8 | key[len(qname) + 1]
        if not entry.zone.exists(name):
            if qtype in entry.redirected:
                return None  # NxDomainRedirect: public DNS answers it
            return entry.template.reply(data, p, offset, udp_size), entry.negative_kind, qtype
        return self._records(data, p, entry, name, offset, qtype, udp_size, tcp)

    def held(self, data: bytes, held: Held, udp_size: int, tcp: bool) -> tuple[bytes, str, int] | None:
        """:meth:`answer` for a query :meth:`bare` found its zone holds the name of: the name is not walked or
        looked for again."""
        entry, name, offset = held.found
        if name is None:
            name = f"{held.key[1:offset].decode('ascii')}.{entry.apex}"
        end = held.question_end
        return self._records(data, held, entry, name, offset, data[end - 4] << 8 | data[end - 3], udp_size, tcp)

    def _records(self, data: bytes, p: Peek, entry: _Zone, name: str, offset: int, qtype: int, udp_size: int,
                 tcp: bool) -> tuple[bytes, str, int] | None:
        """The answer from ``entry``'s zone, which holds ``name``: its records of the type, or NODATA."""
        found, records = entry.zone.lookup(name, qtype)
        if found is Found.NODATA:  # the name without the type: NOERROR with the zone's SOA
            return entry.template.reply(data, p, offset, udp_size, Rcode.NOERROR), entry.positive_kind, qtype
        if found is not Found.RECORDS:
            return None  # a CNAME to follow: the resolver
        policy = self.policy
        if policy is not None and any(r.rtype == RRType.CNAME and policy.covers(r.rdata[0]) for r in records):
            return None  # a CNAME asked for by type: its target is in the answer's chain too (§10.3)
        reply = answer_at_question(data, p, records, udp_size, tcp)
        return None if reply is None else (reply, entry.positive_kind, qtype)

    def bare(self, data: bytes, udp_size: int, tcp: bool) -> tuple[bytes, Shape, int] | Held | None:
        """For a bare query (:func:`~dnsemu.dns.wire.bare_question`) of a name a linked zone lacks, the NXDOMAIN
        reply, its :data:`Shape` and the key of its counter cell in the shape; the same for an A or AAAA question
        of a name one label below the apex that the zone holds (its answer, or NODATA), unless the reply would
        need TC; for any other name the zone holds, a :class:`Held`; None for anything else.

        The commonest miss (a crawler's or a search list's absent names) gets the least work: the
        name is walked down to its zone's apex only, and a name one label above an apex with no
        other zone below it is found with one probe (:func:`~dnsemu.dns.wire.bare_question` is
        written out here for it, and a test holds the two to each other); its label is looked for by
        its bytes (nothing is decoded or built), and the reply is three slices of the query around
        the shape's two parts. The bytes are :meth:`answer`'s (a test compares them).

        Once such an NXDOMAIN has been made, what follows the question's first label (the apex, type,
        class and OPT, as sent in lower case) is kept as a :data:`Route`: a later query with the same
        tail is one probe of that tail, a check of its counts, and its label's; nothing else is read,
        and the reply is the ID, the route shape's head, the label and the route shape's tail. A label
        in another case, of other octets or that the zone holds takes the way above (a test holds the
        two ways to each other over thousands of questions). Routes are bounded by their shapes
        (:data:`ROUTE_SHAPES_LIMIT`).
        """
        n = len(data)
        route = self._routes.get(data[13 + data[12]:]) if n > 17 else None
        if route is not None and not data[2] & 0xF8 and data.startswith(route[0], 4) and udp_size == self._udp_size:
            # the question's tail was seen before, one label below the apex: only the label is new
            first = data[12]
            label = data[13 : 13 + first]
            if label not in route[1] and label.islower() and (label.isalnum() or not label.translate(None, _LABEL)):
                # a shape for this label's length was made by a name that was one (at most 255 octets)
                shape = route[2].get(first << 5 | (data[2] & 0x01) | (data[3] & 0x10))
                if shape is not None:
                    return data[:2] + shape[0] + label + shape[1], shape, route[3] | tcp
        # bare_question's checks, in its order
        if n < 17 or data[2] & 0xF8 or data[4:11] != _ONE_QUESTION:
            return None
        if data[11] == 0:
            end = n
            edns = 0
        elif data[11] == 1 and n >= 28 and data[n - 11 : n - 8] == b"\x00\x00\x29" and data[n - 2 : n] == b"\x00\x00" \
                and data[n - 5] == 0:  # root owner, type OPT, version 0, no options
            end = n - 11
            edns = 12 if data[n - 4] & 0x80 else 4
        else:
            return None
        qtype = data[end - 4] << 8 | data[end - 3]
        if data[end - 2 : end] != b"\x00\x01" or qtype in QTYPE_RCODES:
            return None
        qname = data[12 : end - 4].lower()
        last = len(qname) - 1
        first = qname[0]
        if last > 254 or first > 63:
            return None
        offset = first + 1
        entry = self.plans.get(qname[offset:]) if offset < last else None
        probed = entry is not None and not entry.nested
        if not probed:  # deeper below an apex, itself one, or above a nested zone: the walk
            found = bare_question(data, self.plans)
            if found is None:
                return None
            entry, qname, offset, end, edns = found
        if entry.resolved:
            return None
        covered = self.covered
        if offset == first + 1 and (covered is None or qname not in covered):  # one label above the apex
            label = qname[1:offset]
            labels = entry.labels
            if labels is None:
                labels = self._labels(entry)
            if labels is not False:
                if label in labels:  # type: ignore[operator]
                    if qtype in LANE_TYPES:
                        made = self._held_reply(entry, label, qtype, offset, edns, data, end, udp_size, tcp)
                        if made is not None:
                            return made
                    held = peek_bare(data, qname, end, edns, Held)
                    _set_found(held, (entry, None, offset))
                    return held  # type: ignore[return-value]
                if not label.isalnum() and label.translate(None, _LABEL):  # isalnum(): the quick yes, in C
                    return None  # an escape or an odd byte: the parser knows its canonical text
            else:  # a zone too large for a label set: the name's text
                if not label.isalnum() and label.translate(None, _LABEL):
                    return None
                name = f"{label.decode('ascii')}.{entry.apex}"
                if entry.zone.exists(name):
                    held = peek_bare(data, qname, end, edns, Held)
                    _set_found(held, (entry, name, offset))
                    return held  # type: ignore[return-value]
        else:  # deeper below the apex, or a name the policy may cover
            name = self._name(qname, offset, entry.apex)
            if name is None:
                return None
            if entry.zone.exists(name):
                held = peek_bare(data, qname, end, edns, Held)
                _set_found(held, (entry, name, offset))
                return held  # type: ignore[return-value]
        if qtype in entry.redirected:
            return None  # NxDomainRedirect: public DNS answers it
        if udp_size != self._udp_size:
            self._use_size(udp_size)
        key = entry.index << 13 | offset << 5 | edns | (data[2] & 0x01) | (data[3] & 0x10)
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shape(key, entry, offset, edns, udp_size, data)
        if probed and entry.labels.__class__ is frozenset:
            self._route(data, first, end, entry, qtype, shape)
        return data[:2] + shape[0] + data[12:end] + shape[1], shape, qtype << 1 | tcp

    def _use_size(self, udp_size: int) -> None:
        """One server, one size: the shapes and the routes hold the OPT it writes, and start again for another."""
        self._shapes.clear()
        self._routes.clear()
        self._route_shapes = 0
        self._udp_size = udp_size

    def _route(self, data: bytes, first: int, end: int, entry: _Zone, qtype: int, shape: Shape) -> None:
        """Keep the :data:`Route` of this question's tail (after its first label, one label below ``entry``'s
        apex; written as sent, and only in lower case: a client that mixes case would only churn them), with
        the shape of this NXDOMAIN for its first label's length and RD/CD."""
        tail = data[13 + first:]
        if tail.lower() != tail:
            return
        key = first << 5 | (data[2] & 0x01) | (data[3] & 0x10)
        routes = self._routes
        route = routes.get(tail)
        if route is not None and key in route[2]:
            return  # made already (this query took the long way for its label: its case, or an odd octet)
        if self._route_shapes >= ROUTE_SHAPES_LIMIT:
            routes.clear()
            self._route_shapes = 0
            route = None
        if route is None:
            route = routes[tail] = (data[4:12], self._stops(entry), {}, qtype << 1)
        # the reply is the query's ID, the shape's head and the first label's length, the label, and what follows
        # it in the question (as sent) with the shape's tail
        route[2][key] = [shape[0] + data[12:13], data[13 + first:end] + shape[1], shape[2], shape[3], None]
        self._route_shapes += 1

    def _stops(self, entry: _Zone) -> frozenset[bytes]:
        """The first labels a route leaves to the way that reads the whole name under ``entry``'s apex: the
        zone's (names it holds), and with a policy those its domain lists name one label below the apex (the
        resolver applies the policy there, §10.3; entries at the apex or above resolve the whole zone)."""
        covered = self.covered
        if covered is None:
            return entry.labels  # type: ignore[return-value]
        if entry.stops is None:
            apex = entry.template.key
            named = {wire[1 : 1 + wire[0]] for wire in covered if wire[0] and wire[1 + wire[0]:] == apex}
            entry.stops = entry.labels | named  # type: ignore[operator]
        return entry.stops

    def _held_reply(self, entry: _Zone, label: bytes, qtype: int, offset: int, edns: int, data: bytes, end: int,
                    udp_size: int, tcp: bool) -> tuple[bytes, Shape, int] | None:
        """:meth:`bare`'s reply to an A or AAAA question (``qtype``) of ``label`` one label below ``entry``'s
        apex, which the zone holds: its answer records or NODATA, as :meth:`held` would answer; None when the
        lane does not answer it (:meth:`held` does) or the reply would need TC."""
        answers = entry.lane.answers[qtype == 28]  # A, AAAA
        made = answers.get(label)
        if made is None:
            if len(answers) >= LANE_ANSWERS_LIMIT:
                answers.clear()
            made = answers[label] = self._answer_of(entry, label, qtype)
        if made is False:
            return None
        body, count = made  # type: ignore[misc]
        if udp_size != self._udp_size:
            self._use_size(udp_size)
        # above NXDOMAIN's keys: NODATA (no records), then one shape per number of records
        key = (count + 1) << 40 | entry.index << 13 | offset << 5 | edns | (data[2] & 0x01) | (data[3] & 0x10)
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shape(key, entry, offset, edns, udp_size, data, count)
        reply = b"".join((data[:2], shape[0], data[12:end], body, shape[1]))
        size = len(reply)
        if size > 512 and size > reply_limit(edns, data[end + 3] << 8 | data[end + 4] if edns else 0, udp_size, tcp):
            return None
        return reply, shape, len(body) << 17 | qtype << 1 | tcp

    @staticmethod
    def _answer_of(entry: _Zone, label: bytes, qtype: int) -> tuple[bytes, int] | bool:
        """What the lane answers for ``label`` (plain, lower case) one label below ``entry``'s apex and
        ``qtype``: the records as :meth:`held` finds them, encoded at the question, and their count (0: NODATA);
        False when :meth:`held` answers otherwise (a CNAME to follow, a cut, rdata with a name)."""
        found, records = entry.zone.lookup(f"{label.decode('ascii')}.{entry.apex}", qtype)
        if found is Found.NODATA:
            return b"", 0
        if found is Found.RECORDS:
            body = records_at_question(records)
            if body is not None:
                return body, len(records)
        return False

    def _shape(self, key: int, entry: _Zone, offset: int, edns: int, udp_size: int, data: bytes,
               count: int | None = None) -> Shape:
        """The :data:`Shape` of ``key``: NXDOMAIN (``count`` None), NODATA (0) or an answer of ``count`` records."""
        shapes = self._shapes
        if len(shapes) >= SHAPES_LIMIT:
            shapes.clear()  # the counter cells live on in the stats
        if count is None:
            head, tail = entry.template.parts(offset, edns, udp_size, Rcode.NXDOMAIN, data[2], data[3])
            shape = shapes[key] = [head, tail, {}, entry.negative_kind, None]
        else:
            head, tail = entry.template.parts(offset, edns, udp_size, Rcode.NOERROR, data[2], data[3]) \
                if not count else answer_parts(count, edns, udp_size, data[2], data[3])
            shape = shapes[key] = [head, tail, {}, entry.positive_kind, {}]
        return shape

    @staticmethod
    def _labels(entry: _Zone) -> frozenset[bytes] | bool:
        lane, zone = entry.lane, entry.zone
        if lane.labels is None:
            lane.labels = label_set(zone, entry.apex) if len(zone.nodes) <= LABELS_LIMIT else False
        entry.labels = lane.labels
        return lane.labels

    def _name(self, qname: bytes, offset: int, apex: str) -> str | None:
        """The canonical text of ``qname`` (lower case, plain labels) whose apex ``apex`` starts at ``offset``;
        None when the policy may match a name above the apex (§10.3) or a label needs escaping (the parser
        knows its canonical text)."""
        covered = self.covered
        if offset == qname[0] + 1 and covered is None:  # one label above the apex, no policy: the usual name
            label = qname[1:offset]
            if not label.isalnum() and label.translate(None, _LABEL):
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
