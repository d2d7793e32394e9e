"""Differential test: dnsemu against Knot DNS, view by view, a few hundred queries each run.

The test estate (estate/topology.yaml: vnet1 on 127.0.1.0/24, vnet2 on
127.0.2.0/24, everything else the internet) is rendered into one knotd per
view (knot.py says how). The same queries go to dnsemu, from a source address
inside the view's network, and to that view's knotd, with dnspython; the
replies are compared field by field: rcode (extended included), opcode, QR,
TC, RD, CD, AD, Z, the question (case and all: DNS 0x20), every RRset of the
answer and authority sections (owner, type, class, TTL, rdata; order of
RRsets kept, order inside an RRset ignored), the additional section, and the
OPT record (presence, version, payload size, DO, options).

Every difference that remains is deliberate, listed in :data:`DEVIATIONS`,
normalised by one function each, and each has a test below that shows it
happening (so the list cannot go stale):

AA
    Knot is authoritative and sets AA; dnsemu answers as Azure's recursive
    resolver (168.63.129.16): AA clear, RA set (issue 3: "every flag set on
    purpose"). Asserted on every reply instead of compared.
CD
    Knot's authoritative server clears CD; dnsemu echoes it as BIND and Knot
    Resolver do (wire.py's documented choice, RFC 4035 §3.2.2 for resolvers).
ADDITIONAL
    Knot does RFC 1035 additional-section processing (A/AAAA of in-zone MX,
    SRV and NS targets); dnsemu sends minimal responses, as Unbound does by
    default and as a forwarder answering stub clients may (RFC 1035 §4.3.2
    leaves it optional). dnsemu's additional section holds only the OPT.
ANY
    Knot answers ANY with a single RRset (RFC 8482 §4.1); dnsemu returns every
    RRset of the name. Checked: Knot's RRset is among dnsemu's, and dnsemu's
    set equals the union of Knot's answers to each of those types.
EDE
    Knot attaches Extended DNS Errors (RFC 8914, e.g. 20 "Not Authoritative"
    on REFUSED); dnsemu sends none (optional). Knot's EDE options are removed
    before the OPT records are compared.
REFUSED_CHAIN
    A CNAME chain that leaves every zone the topology knows (no upstream
    configured): Knot, chased, gives the CNAMEs then REFUSED from the last
    lookup; dnsemu answers REFUSED with empty sections (handler.py: a query
    it may not forward is refused whole, no partial chain).
REFERRAL
    A name at or below a zone cut whose child zone is not modelled: Knot,
    authoritative, answers with a referral (NOERROR, AA clear, the cut's NS in
    authority, glue in additional); dnsemu, a recursive resolver, would have
    to ask the child, which lies outside the model, so it answers as for any
    name outside the model: REFUSED without an upstream. Checked before it is
    normalised: Knot's referral names a cut that encloses the question, so
    Knot agrees the name is delegated (and serves none of the occluded data).
YXDOMAIN
    A DNAME substitution longer than 255 octets: Knot 3.2 answers NXDOMAIN
    with the DNAME and the zone's SOA; RFC 6672 §2.2 says YXDOMAIN with the
    DNAME as its proof, as BIND and Unbound answer, and so does dnsemu. The
    DNAME RRset is compared; the rcode and Knot's SOA are normalised.
TC_PARTIAL
    A UDP reply that does not fit: Knot keeps the RRsets that fit (and the
    rcode of the moment) beside TC=1; dnsemu sends TC=1 with all sections
    empty (wire.py's documented choice). Both tell the client to retry over
    TCP, where the full replies are compared like any other.

Method, not a difference: Knot follows a CNAME chain only inside one zone,
so the Knot side finishes chains across zones as a recursive resolver does
(knot.knot_resolve, RFC 1034 §5.3.3); the number of such queries is reported.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from dnsemu.core.index import Index

from . import knot
from .helpers import ServeProcess, need_tool

# view -> a source address inside it (the internet: plain 127.0.0.1, in no modelled network)
SOURCES = {"vnet1": "127.0.1.77", "vnet2": "127.0.2.77", None: "127.0.0.1"}

COMMON: list[tuple[str, str]] = [
    ("www.contoso.com.", "A"), ("www.contoso.com.", "AAAA"), ("www.contoso.com.", "TXT"),
    ("www.contoso.com.", "HTTPS"), ("www.contoso.com.", "TYPE999"),
    ("contoso.com.", "SOA"), ("contoso.com.", "NS"), ("contoso.com.", "MX"), ("contoso.com.", "TXT"),
    ("contoso.com.", "CAA"), ("contoso.com.", "AAAA"), ("contoso.com.", "SRV"), ("contoso.com.", "ANY"),
    ("_sip._udp.contoso.com.", "SRV"), ("_sip._udp.contoso.com.", "A"), ("_udp.contoso.com.", "A"),
    ("shop.contoso.com.", "A"), ("shop.contoso.com.", "AAAA"), ("shop.contoso.com.", "MX"),
    ("shop.contoso.com.", "CNAME"),
    ("x.cdn.contoso.com.", "A"), ("a.b.cdn.contoso.com.", "AAAA"), ("cdn.contoso.com.", "A"),
    ("*.cdn.contoso.com.", "A"), ("y.img.contoso.com.", "TXT"), ("y.img.contoso.com.", "A"),
    ("nx.contoso.com.", "A"), ("deep.nx.contoso.com.", "MX"), ("big.contoso.com.", "TXT"),
    ("ns1.contoso.com.", "A"),
    ("edge.fabrikam.net.", "A"), ("edge.fabrikam.net.", "AAAA"), ("www.fabrikam.net.", "ANY"),
    ("fabrikam.net.", "SOA"), ("outside.fabrikam.net.", "A"), ("nope.fabrikam.net.", "TXT"),
    # zone cuts: unmodelled child (lab), modelled child (sub); DNAME to another zone, inside, and overflowing
    ("x.lab.fabrikam.net.", "A"), ("lab.fabrikam.net.", "NS"), ("ns1.lab.fabrikam.net.", "A"),
    ("lab.fabrikam.net.", "DS"), ("app.sub.fabrikam.net.", "A"), ("host.sub.fabrikam.net.", "A"),
    ("sub.fabrikam.net.", "NS"), ("www.old.fabrikam.net.", "A"), ("x.cdn.old.fabrikam.net.", "A"),
    ("old.fabrikam.net.", "A"), ("old.fabrikam.net.", "DNAME"), ("old.fabrikam.net.", "TXT"),
    ("www.old.fabrikam.net.", "CNAME"), ("nx.old.fabrikam.net.", "A"), ("www.v1.fabrikam.net.", "AAAA"),
    ("edge.v1.fabrikam.net.", "A"), ("f" * 48 + ".long.fabrikam.net.", "A"), ("s" * 49 + ".long.fabrikam.net.", "A"),
    ("mystorage.blob.core.windows.net.", "A"), ("mystorage.blob.core.windows.net.", "AAAA"),
    ("mystorage.blob.core.windows.net.", "TXT"), ("mystorage.privatelink.blob.core.windows.net.", "A"),
    ("partnerstore.blob.core.windows.net.", "A"), ("nosuch.blob.core.windows.net.", "A"),
    ("mystorage-secondary.blob.core.windows.net.", "A"), ("mystorage.dfs.core.windows.net.", "A"),
    ("contoso-kv.vault.azure.net.", "A"), ("contoso-kv.privatelink.vaultcore.azure.net.", "A"),
    ("other.privatelink.vaultcore.azure.net.", "A"), ("nosuchkv.vault.azure.net.", "A"),
    ("privatelink.blob.core.windows.net.", "SOA"),
    ("nothing.example.org.", "A"), (".", "SOA"), ("corp.example.", "SOA"),
    ("vm1.internal.cloudapp.net.", "A"), ("1.1.1.10.in-addr.arpa.", "PTR"),
    ("130.1.0.127.in-addr.arpa.", "PTR"),
]
PRIVATE: list[tuple[str, str]] = [
    ("www.corp.example.", "A"), ("www.corp.example.", "AAAA"), ("www.corp.example.", "MX"),
    ("corp.example.", "MX"), ("corp.example.", "TXT"), ("corp.example.", "NS"), ("corp.example.", "ANY"),
    ("app.corp.example.", "A"), ("app.corp.example.", "CNAME"), ("alias1.corp.example.", "A"),
    ("alias1.corp.example.", "TXT"), ("alias2.corp.example.", "AAAA"), ("outbound.corp.example.", "A"),
    ("x.apps.corp.example.", "A"), ("x.apps.corp.example.", "TXT"), ("x.apps.corp.example.", "AAAA"),
    ("a.b.apps.corp.example.", "A"), ("apps.corp.example.", "A"), ("deep.x.y.corp.example.", "A"),
    ("x.y.corp.example.", "A"), ("y.corp.example.", "TXT"), ("nx.corp.example.", "A"),
    ("nx.nx.corp.example.", "SRV"), ("_ldap._tcp.corp.example.", "SRV"), ("v6.corp.example.", "AAAA"),
    ("v6.corp.example.", "A"), ("vm1.corp.example.", "A"), ("mail2.corp.example.", "A"),
    ("vm2.internal.cloudapp.net.", "A"), ("4.1.0.127.in-addr.arpa.", "PTR"), ("1.0.127.in-addr.arpa.", "SOA"),
    ("internal.cloudapp.net.", "SOA"), ("10.2.0.127.in-addr.arpa.", "PTR"),
]
VNET2: list[tuple[str, str]] = [
    ("vm2.internal.cloudapp.net.", "A"), ("10.2.0.127.in-addr.arpa.", "PTR"), ("www.corp.example.", "A"),
]


@dataclass(frozen=True)
class Case:
    view: str | None
    name: str
    rdtype: str
    tcp: bool
    edns: bool
    do: bool = False
    cd: bool = False

    @property
    def source(self) -> str:
        return SOURCES[self.view]

    def message(self) -> dns.message.Message:
        msg = dns.message.make_query(self.name, self.rdtype, use_edns=0 if self.edns else False, payload=1232,
                                     want_dnssec=self.do)
        if self.cd:
            msg.flags |= dns.flags.CD
        return msg

    def __str__(self) -> str:
        flags = "+".join(f for f, on in (("tcp", self.tcp), ("edns", self.edns), ("do", self.do),
                                         ("cd", self.cd)) if on) or "udp-plain"
        return f"{self.view or 'internet'}:{self.name}/{self.rdtype}[{flags}]"


def mixed_case(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c for c in name)


def cases() -> list[Case]:
    """The query set: every (name, type) of a view three ways, case-mixed, with and without EDNS, UDP and TCP."""
    rng = random.Random(7)
    out: list[Case] = []
    per_view = {"vnet1": COMMON + PRIVATE, "vnet2": COMMON + VNET2, None: COMMON + PRIVATE[:6]}
    for view, pairs in per_view.items():
        for i, (name, rdtype) in enumerate(pairs):
            out.append(Case(view, mixed_case(name, rng), rdtype, tcp=False, edns=True, do=i % 3 == 0))
            out.append(Case(view, name, rdtype, tcp=False, edns=False))
            out.append(Case(view, mixed_case(name, rng), rdtype, tcp=True, edns=i % 2 == 0, cd=i % 7 == 0))
    return out


# --------------------------------------------------------------------------- comparison


@dataclass
class Outcome:
    case: Case
    ours: dns.message.Message
    theirs: dns.message.Message
    hops: int
    applied: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def rrset_key(rrset: dns.rrset.RRset) -> tuple[str, int, int, int, tuple[str, ...]]:
    return (rrset.name.to_text().lower(), rrset.rdclass, rrset.rdtype, rrset.ttl,
            tuple(sorted(rd.to_text().lower() for rd in rrset)))


def section(rrsets: list[dns.rrset.RRset]) -> list[tuple[str, int, int, int, tuple[str, ...]]]:
    return [rrset_key(r) for r in rrsets]


def opt_view(message: dns.message.Message, *, strip_ede: bool) -> tuple | None:
    if message.edns < 0:
        return None
    options = tuple(sorted((o.otype, o.to_wire()) for o in message.options
                           if not (strip_ede and o.otype == dns.edns.EDE)))
    return (message.edns, message.payload, bool(message.ednsflags & dns.flags.DO), options)


def normalise(outcome: Outcome, ask_knot: Callable[[str, str], dns.message.Message]) -> None:
    """Apply each deliberate deviation where it applies, recording which ones did."""
    ours, theirs, case = outcome.ours, outcome.theirs, outcome.case
    # AA / RA: asserted, never compared
    if ours.flags & dns.flags.AA or not ours.flags & dns.flags.RA:
        outcome.problems.append(f"dnsemu flags {dns.flags.to_text(ours.flags)}: want RA set, AA clear")
    if theirs.flags & dns.flags.AA:
        outcome.applied.add("AA")
    # CD: Knot clears it, dnsemu echoes it
    if case.cd:
        if not ours.flags & dns.flags.CD:
            outcome.problems.append("dnsemu did not echo CD")
        if not theirs.flags & dns.flags.CD:
            outcome.applied.add("CD")
            theirs.flags |= dns.flags.CD
    # additional-section processing
    extra = [r for r in theirs.additional if r.rdtype != dns.rdatatype.OPT]
    if extra:
        outcome.applied.add("ADDITIONAL")
        theirs.additional = [r for r in theirs.additional if r.rdtype == dns.rdatatype.OPT]
    if [r for r in ours.additional if r.rdtype != dns.rdatatype.OPT]:
        outcome.problems.append("dnsemu sent records in the additional section")
    # EDE
    if theirs.edns >= 0 and any(o.otype == dns.edns.EDE for o in theirs.options):
        outcome.applied.add("EDE")
    # truncated: Knot keeps what fitted, dnsemu keeps nothing (retried over TCP by any client)
    if ours.flags & dns.flags.TC and theirs.flags & dns.flags.TC and (theirs.answer or theirs.authority):
        outcome.applied.add("TC_PARTIAL")
        if ours.answer or ours.authority:
            outcome.problems.append("dnsemu's truncated reply is not empty")
        theirs.answer, theirs.authority = [], []
        theirs.set_rcode(ours.rcode())
    # a cut whose child is not modelled: Knot refers, dnsemu (without an upstream) refuses
    referral = [r for r in theirs.authority if r.rdtype == dns.rdatatype.NS]
    if (ours.rcode() == dns.rcode.REFUSED and theirs.rcode() == dns.rcode.NOERROR and referral
            and not theirs.answer and not theirs.flags & dns.flags.AA
            and not any(r.rdtype == dns.rdatatype.SOA for r in theirs.authority)):
        qname = theirs.question[0].name
        if not all(qname.is_subdomain(r.name) for r in referral):
            outcome.problems.append(f"Knot's referral {referral} does not enclose {qname}")
        if ours.answer or ours.authority:
            outcome.problems.append("dnsemu's REFUSED carries records")
        outcome.applied.add("REFERRAL")
        theirs.authority = []
        theirs.set_rcode(dns.rcode.REFUSED)
    # a DNAME substitution over 255 octets: RFC 6672 §2.2 YXDOMAIN (dnsemu) against Knot's NXDOMAIN
    if ours.rcode() == dns.rcode.YXDOMAIN and theirs.rcode() == dns.rcode.NXDOMAIN:
        if not ours.answer or ours.answer[-1].rdtype != dns.rdatatype.DNAME:
            outcome.problems.append("dnsemu's YXDOMAIN does not end its answer with the DNAME")
        outcome.applied.add("YXDOMAIN")
        theirs.authority = [r for r in theirs.authority if r.rdtype != dns.rdatatype.SOA]
        theirs.set_rcode(dns.rcode.YXDOMAIN)
    # chains that leave the topology
    if (ours.rcode() == dns.rcode.REFUSED and theirs.rcode() == dns.rcode.REFUSED and theirs.answer
            and not ours.answer):
        outcome.applied.add("REFUSED_CHAIN")
        theirs.answer = []
    # ANY: Knot gives one RRset; compare dnsemu's against Knot's answer for each type it holds
    if case.rdtype == "ANY" and ours.rcode() == dns.rcode.NOERROR and theirs.rcode() == dns.rcode.NOERROR:
        mine = {rrset_key(r) for r in ours.answer}
        knot_one = {rrset_key(r) for r in theirs.answer}
        if not knot_one <= mine:
            outcome.problems.append(f"ANY: Knot's {knot_one} not among dnsemu's {mine}")
        union = set()
        # every type a zone of the estate can hold, not only those dnsemu returned: one it left out shows
        owner = dns.name.from_text(case.name)
        for rdtype in ANY_TYPES:
            union |= {rrset_key(r) for r in ask_knot(case.name, rdtype).answer
                      if r.name == owner and dns.rdatatype.to_text(r.rdtype) == rdtype}
        if union != mine:
            outcome.problems.append(f"ANY: dnsemu {sorted(mine)} != union of Knot's per-type answers {sorted(union)}")
        if len(ours.answer) > len(theirs.answer):
            outcome.applied.add("ANY")
        theirs.answer = ours.answer = []


def compare(outcome: Outcome) -> list[str]:
    ours, theirs = outcome.ours, outcome.theirs
    problems = list(outcome.problems)
    mask = ~(dns.flags.AA | dns.flags.RA) & 0xFFFF

    def check(what: str, a: object, b: object) -> None:
        if a != b:
            problems.append(f"{what}: dnsemu {a!r} != knot {b!r}")

    check("rcode", ours.rcode(), theirs.rcode())
    check("opcode", ours.opcode(), theirs.opcode())
    check("flags", dns.flags.to_text(ours.flags & mask), dns.flags.to_text(theirs.flags & mask))
    check("id", ours.id, outcome.case_id)  # type: ignore[attr-defined]
    check("question", [q.to_text() for q in ours.question], [q.to_text() for q in theirs.question])
    check("question case", [q.name.to_text() for q in ours.question], [q.name.to_text() for q in theirs.question])
    check("answer", section(ours.answer), section(theirs.answer))
    check("authority", section(ours.authority), section(theirs.authority))
    check("additional", section(ours.additional), section(theirs.additional))
    check("opt", opt_view(ours, strip_ede=False), opt_view(theirs, strip_ede=True))
    return problems


# --------------------------------------------------------------------------- fixtures


@dataclass
class Knots:
    servers: dict[str | None, knot.KnotServer]


@pytest.fixture(scope="module")
def knots(estate_index: Index, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Knots]:
    knotd = need_tool("knotd", "knot")
    workdir: Path = tmp_path_factory.mktemp("knot")
    servers: dict[str | None, knot.KnotServer] = {}
    try:
        for view in SOURCES:
            servers[view] = knot.KnotServer(knotd, workdir, knot.render_view(estate_index, view),
                                            name=view or "internet").start()
        yield Knots(servers)
    finally:
        for srv in servers.values():
            srv.stop()


def run_case(case: Case, dnsemu_proc: ServeProcess, knots: Knots) -> Outcome:
    query = case.message()
    address = knots.servers[case.view].address
    target = dnsemu_proc.tcp if case.tcp else dnsemu_proc.udp
    wire = knot.exchange(query.to_wire(), target, tcp=case.tcp, source=case.source)
    ours = dns.message.from_wire(wire)
    chased = knot.knot_resolve(query, address, tcp=case.tcp)
    outcome = Outcome(case, ours, chased.message, chased.hops)
    outcome.case_id = query.id  # type: ignore[attr-defined]
    chased.message.id = query.id

    def ask_knot(name: str, rdtype: str) -> dns.message.Message:
        return knot.knot_resolve(dns.message.make_query(name, rdtype), address, tcp=True).message

    normalise(outcome, ask_knot)
    return outcome


@pytest.fixture(scope="module")
def outcomes(dnsemu_proc: ServeProcess, knots: Knots) -> list[Outcome]:
    return [run_case(case, dnsemu_proc, knots) for case in cases()]


# --------------------------------------------------------------------------- tests

ANY_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS", "SOA", "PTR", "DNAME")
DEVIATIONS = ("AA", "CD", "ADDITIONAL", "ANY", "EDE", "REFUSED_CHAIN", "REFERRAL", "YXDOMAIN", "TC_PARTIAL")


def test_rendering_keeps_each_view_apart(estate_index: Index) -> None:
    vnet1 = knot.view_zones(estate_index, "vnet1")
    internet = knot.view_zones(estate_index, None)
    assert vnet1["privatelink.blob.core.windows.net."].kind == "private"
    assert internet["privatelink.blob.core.windows.net."].kind == "public"
    assert "corp.example." in vnet1 and "corp.example." not in internet
    text = knot.render_view(estate_index, "vnet1")["blob.core.windows.net."]
    assert "privatelink.blob.core.windows.net.\t3600\tIN\tNS\tns.delegation.invalid." in text


def test_query_set_is_a_few_hundred() -> None:
    all_cases = cases()
    assert len(all_cases) >= 300
    assert {c.tcp for c in all_cases} == {True, False} and {c.edns for c in all_cases} == {True, False}
    assert any(c.name != c.name.lower() for c in all_cases)


def test_dnsemu_matches_knot(outcomes: list[Outcome]) -> None:
    failures = []
    for outcome in outcomes:
        problems = compare(outcome)
        if problems:
            failures.append(f"{outcome.case}:\n  " + "\n  ".join(problems)
                            + f"\n--- dnsemu\n{outcome.ours.to_text()}\n--- knot ({outcome.hops} hops)\n"
                            + outcome.theirs.to_text())
    chased = sum(1 for o in outcomes if o.hops)
    applied = {d: sum(d in o.applied for o in outcomes) for d in DEVIATIONS}
    print(f"\nknot differential: {len(outcomes)} queries, {chased} finished across zones, "
          f"{len(failures)} unexplained differences; documented deviations applied: {applied}")
    assert not failures, f"{len(failures)} of {len(outcomes)} differ:\n\n" + "\n\n".join(failures[:15])


@pytest.mark.parametrize("deviation", DEVIATIONS)
def test_each_documented_deviation_occurs(outcomes: list[Outcome], deviation: str) -> None:
    """A deviation that never happens any more is removed from the list (and the docstring)."""
    hits = [o for o in outcomes if deviation in o.applied]
    assert hits, f"{deviation} never applied: drop it from DEVIATIONS"


def test_outcomes_cover_every_kind_of_answer(outcomes: list[Outcome]) -> None:
    rcodes = {o.ours.rcode() for o in outcomes}
    assert {dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.REFUSED} <= rcodes
    assert any(o.ours.flags & dns.flags.TC for o in outcomes), "no truncated UDP reply compared"
    assert any(o.hops for o in outcomes), "no chain across zones compared"
    nodata = [o for o in outcomes if o.ours.rcode() == 0 and not o.ours.answer and o.ours.authority]
    assert nodata, "no NODATA compared"
    chains = [o for o in outcomes if sum(r.rdtype == dns.rdatatype.CNAME for r in o.ours.answer) >= 3]
    assert chains, "no long CNAME chain compared"
