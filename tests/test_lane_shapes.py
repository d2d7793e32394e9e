"""What the bare lane keeps per zone and per shape, held to the paths it shortcuts.

:meth:`PrecompiledAnswers.bare` finds a name's zone with one probe when it can, looks for a
label in a set of the zone's labels (:func:`label_set`) instead of the zone's names, and keeps
each NXDOMAIN shape's two parts and counter cells. Each shortcut is compared here with the
way it replaces: :func:`bare_question` and :meth:`Zone.exists`, :meth:`PrecompiledAnswers.answer`
(bytes and kind), the resolver's counters over UDP and TCP; the bytes with dnspython's reading.
"""

from __future__ import annotations

import random
import struct
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs
from test_bare_question import handler

import dnsemu.server.handler.handler as handler_module
import dnsemu.server.handler.precompiled as precompiled_module
from dnsemu.core.index import NegativePlan, NegativeTable
from dnsemu.core.zone import Zone, soa_record
from dnsemu.dns.records import Record, RRType
from dnsemu.dns.wire import bare_question, longest_suffix, peek
from dnsemu.server.handler.precompiled import LANE_TYPES, Held, PrecompiledAnswers, label_set

SPOKE = "10.0.2.4"  # a VM in spoke1 of the bundled estate, linked to privatelink.blob.core.windows.net
BLOB = b"\x0bprivatelink\x04blob\x04core\x07windows\x03net\x00"


def a(name: str, address: str = "10.9.0.1") -> Record:
    return Record(name, RRType.A, 300, (address,))


def zone(apex: str, owners: list[str]) -> Zone:
    return Zone(apex, soa_record(apex), [a(owner) for owner in owners], kind="private")


#: corp.test. with an empty non-terminal (x), an escaped dot inside a label, labels of every plain octet, and
#: inner.corp.test. linked too: a zone below another (the one-probe lookup must not stop at corp.test.)
CORP = zone("corp.test.", ["web.corp.test.", "deep.x.corp.test.", "a\\.b.corp.test.", "my-host_1.corp.test.",
                           "sp\\032ace.corp.test.", "inner.corp.test.", "UPPER.corp.test."])
#: and names with more than an A: an A and an AAAA, two A (a longer answer), a CNAME, a TXT, an MX (a name in rdata),
#: forty A
CORP = Zone("corp.test.", soa_record("corp.test."), [
    *(r for rrset in CORP.nodes.values() for rrs in rrset.values() for r in rrs if r.rtype == RRType.A),
    Record("web.corp.test.", RRType.AAAA, 300, ("2001:db8::1",)), a("two.corp.test.", "10.9.0.2"),
    a("two.corp.test.", "10.9.0.3"), Record("alias.corp.test.", RRType.CNAME, 300, ("web.corp.test.",)),
    Record("txt.corp.test.", RRType.TXT, 300, (b"v=1",)),
    Record("mx.corp.test.", RRType.MX, 300, (10, "web.corp.test.")),
    *(a("many.corp.test.", f"10.9.1.{n}") for n in range(40))],  # 40 A: over 512 octets, TC without EDNS
    kind="private")
INNER = zone("inner.corp.test.", ["db.inner.corp.test.", "two.levels.inner.corp.test."])
OTHER = zone("other.test.", ["www.other.test."])
TABLE = NegativeTable("vnet:t", {z.name: NegativePlan.of(z, redirects=False) for z in (CORP, INNER, OTHER)})


def wire(*labels: bytes) -> bytes:
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"


def query(qname: bytes, qtype: int = 1, *, flags: int = 0x0100, opt: bytes | None = None, ident: int = 0x4242) -> bytes:
    """A query written field by field (RFC 1035 §4.1.1-§4.1.2), with an OPT record if given (RFC 6891 §6.1.2)."""
    header = struct.pack("!HHHHHH", ident, flags, 1, 0, 0, 0 if opt is None else 1)
    return header + qname + struct.pack("!HH", qtype, 1) + (opt or b"")


def opt(size: int = 1232, do: bool = False) -> bytes:
    return b"\x00" + struct.pack("!HHBBHH", 41, size, 0, 0, 0x8000 if do else 0, 0)


# --------------------------------------------------------------------------- the label set is the zone's names


def _labels_to_try(z: Zone) -> set[bytes]:
    tried = {b"nosuch", b"x", b"deep", b"a", b"b", b"a.b", b"inner", b"db", b"www", b"web", b"upper", b"sp ace",
             b"my-host_1", b"levels", b"two", b"*", b"-", b"_"}
    for owner in z.nodes:
        tried.update(label.encode() for label in owner.replace("\\.", "").split(".") if label)
    return tried


def test_a_label_is_in_the_set_exactly_when_the_zone_holds_the_name(bundled: Any) -> None:
    """RFC 8020 §2: a name with names below it exists (an empty non-terminal). For every plain label, the
    lane's probe (the label set) says what :meth:`Zone.exists` says of the name one label above the apex, in
    handmade zones (an empty non-terminal, an escaped dot, a nested zone) and in every zone of the bundled
    estate."""
    zones = {plan.zone for table in bundled.negative.values() for plan in table.plans.values()} | {CORP, INNER,
                                                                                                   OTHER}
    checked = held = 0
    for z in zones:
        labels = label_set(z, z.name)
        for label in _labels_to_try(z):
            if not label or label.translate(None, precompiled_module._LABEL):
                continue  # not plain: the lane declines it before asking
            exists = z.exists(f"{label.decode()}.{z.name}")
            assert (label in labels) == exists, (z.name, label)
            checked += 1
            held += exists
    assert checked > 100 and held > 20  # neither answer is vacuous
    assert b"x" in label_set(CORP, "corp.test.")  # the empty non-terminal
    assert b"a" not in label_set(CORP, "corp.test.") and b"b" not in label_set(CORP, "corp.test.")  # a\.b is one
    assert label_set(CORP, "corp.test.") >= {b"web", b"my-host_1", b"inner"}


# --------------------------------------------------------------------------- the lane against the paths it shortcuts


_LABELS = st.sampled_from([b"nosuch", b"web", b"WEB", b"x", b"deep", b"a.b", b"a", b"inner", b"db", b"two",
                           b"alias", b"txt", b"mx", b"Two", b"many",
                           b"levels", b"my-host_1", b"sp ace", b"\xc3\xa9", b"UpPeR", b"*", b"www", b"A" * 63,
                           b"corp", b"test", b"other"])
_APEXES = st.sampled_from([wire(b"corp", b"test"), wire(b"inner", b"corp", b"test"), wire(b"other", b"test"),
                           wire(b"test"), wire(b"elsewhere", b"example"), b"\x00"])
_OPTS = st.sampled_from([None, opt(), opt(do=True), opt(512), opt(4096, do=True), opt(100)])


@settings(max_examples=500, deadline=None)
@given(labels=st.lists(_LABELS, max_size=3), apex=_APEXES, qtype=st.sampled_from([1, 28, 16, 5, 15, 255, 252]),
       flags=st.sampled_from([0x0100, 0x0000, 0x0110, 0x0010]), extra=_OPTS, tcp=st.booleans(),
       udp_size=st.sampled_from([1232, 1400, 512]), limit=st.sampled_from([precompiled_module.LABELS_LIMIT, 0]))
def test_the_lane_is_the_peek_path_in_every_case(labels: list[bytes], apex: bytes, qtype: int, flags: int,
                                                 extra: bytes | None, tcp: bool, udp_size: int, limit: int) -> None:
    """Whatever :meth:`bare` does with a query, the peek path would do the same: an NXDOMAIN is :meth:`answer`'s
    reply with its kind; a held name is the zone :func:`longest_suffix` finds, and :meth:`held` answers as
    :meth:`answer` does; nothing is declined that :meth:`answer` would make (and nothing taken that
    :func:`bare_question` leaves). With the zones' label sets, and without (a zone over the size limit)."""
    saved = precompiled_module.LABELS_LIMIT
    precompiled_module.LABELS_LIMIT = limit
    try:
        answers = PrecompiledAnswers(TABLE, {})
        _check_the_lane(answers, labels, apex, qtype, flags, extra, tcp, udp_size)
        assert all(entry.labels in (None, False) if not limit else entry.labels is not False
                   for entry in answers.plans.values())
    finally:
        precompiled_module.LABELS_LIMIT = saved


def _check_the_lane(answers: PrecompiledAnswers, labels: list[bytes], apex: bytes, qtype: int, flags: int,
                    extra: bytes | None, tcp: bool, udp_size: int) -> None:
    data = query(b"".join(bytes([len(label)]) + label for label in labels) + apex, qtype, flags=flags, opt=extra)
    for _ in range(2):  # the second time from what the first one kept (the label set, the shape)
        out = answers.bare(data, udp_size, tcp)
        p = peek(data)
        expected = answers.answer(data, p, udp_size, tcp) if p is not None else None
        if bare_question(data, answers.plans) is None:
            assert out is None
        elif out is None:
            assert expected is None or expected[1] != "nxdomain_private", expected  # declined: resolved alike
        elif isinstance(out, Held):
            assert p is not None and out.key == p.key and (out.id, out.qname_wire, out.question_end) == (
                p.id, p.qname_wire, p.question_end)
            assert longest_suffix(answers.plans, p.qname_key) == (out.found[0], out.found[2])
            assert answers.held(data, out, udp_size, tcp) == expected
        else:  # an NXDOMAIN, or an A or AAAA answer (or NODATA) of a held name: answer()'s reply and kind
            reply, shape, qkey = out
            assert expected is not None and (reply, shape[3]) == (expected[0], expected[1])
            if shape[4] is None:  # NXDOMAIN: one cell per type and transport (the reply's size is the shape's)
                assert qkey == qtype << 1 | tcp
            else:  # NOERROR: the answer's records are not the shape's, and their length is in the cell key
                question_end = len(data) - (11 if extra is not None else 0)  # a bare query's OPT has no options
                records = len(reply) - 2 - len(shape[0]) - (question_end - 12) - len(shape[1])  # ID, head, question
                assert qkey == records << 17 | qtype << 1 | tcp
            assert expected[1] == "nxdomain_private" or (qtype in LANE_TYPES and expected[1] == "private"
                                                           and reply[3] & 0x0F == 0)


#: a zone whose apex leaves room for a first label of at most 56 octets (a name is at most 255, RFC 1035 §3.1)
LONG = zone(".".join(c * 63 for c in "abc") + ".test.", [])
LONG_WIRE = wire(b"a" * 63, b"b" * 63, b"c" * 63, b"test")


def _routed_question(rng: random.Random, apexes: list[bytes]) -> tuple[bytes, bool]:
    """Mostly names of a few lengths under a few tails (so that tails and lengths come round again), odd ones too."""
    alphabet = rng.choice(["abcxyz0189", "abcxyz0189", "abc-_", "ABCabc", "abc.", "\xc3\xa9a", "0123"])
    label = "".join(rng.choice(alphabet) for _ in range(rng.choice([1, 2, 3, 4, 20, 56, 57, 63])))
    if rng.random() < 0.25:
        label = rng.choice(["web", "two", "many", "x", "db", "inner", "WEB", "Two"])
    qtype, extra = (1, None) if rng.random() < 0.6 else (rng.choice([1, 28, 16, 15]),
                                                         rng.choice([None, opt(), opt(do=True), opt(700)]))
    data = query(bytes([len(label.encode())]) + label.encode() + rng.choice(apexes), qtype,
                 flags=rng.choice([0x0100, 0x0100, 0x0000, 0x0110]), opt=extra, ident=rng.randrange(65536))
    return data, rng.random() < 0.3


def test_a_question_whose_tail_was_seen_is_answered_as_the_first_was() -> None:
    """bare() keeps what follows the first label of a question one label below an apex (as sent): a later
    question with the same tail is answered from it with the label alone looked at. Thousands of questions
    through one lane (labels of every length up to past the 255-octet limit, odd octets and case, held names,
    types, flags, OPT records, transports, a change of UDP size) get what a new VNet's lane (no routes, no
    shapes) gives, and answer()'s reply where it is one; dnspython reads each reply as the response to its
    query (ID, question in its case, RD and CD echoed, QR and RA set, no AA) with the zone's SOA in authority
    when it is negative."""
    rng = random.Random(3)
    apexes = [wire(b"inner", b"corp", b"test"), wire(b"other", b"test"), LONG_WIRE, wire(b"corp", b"test"),
              wire(b"OTHER", b"test")]
    table = NegativeTable("vnet:t", {z.name: NegativePlan.of(z, redirects=False) for z in (CORP, INNER, OTHER, LONG)})
    lanes: dict[Any, Any] = {}  # shared, as the VNets of one generation share them
    routed = PrecompiledAnswers(table, lanes)
    questions = [_routed_question(rng, apexes) for _ in range(4000)]
    # and held names in another case than the zone's, behind an absent name of their length under the same tail
    questions += [(query(bytes([len(label)]) + label + apex), False) for apex in apexes
                  for label in (b"abc", b"Two", b"TWO", b"two", b"ab", b"DB", b"Db", b"WEB", b"Web", b"web")]
    for i, (data, tcp) in enumerate(questions):
        udp_size = 1400 if 3000 <= i < 4000 else 1232  # the server's own size changes: kept routes must not answer
        out = routed.bare(data, udp_size, tcp)
        fresh = PrecompiledAnswers(table, lanes).bare(data, udp_size, tcp)
        if isinstance(out, Held) or out is None:
            assert type(out) is type(fresh) and (out is None or out.key == fresh.key), data  # type: ignore[union-attr]
        else:
            assert fresh is not None and out[0] == fresh[0] and out[1][2:] == fresh[1][2:] and out[2] == fresh[2], data
            p = peek(data)
            assert p is not None and out[0] == routed.answer(data, p, udp_size, tcp)[0]  # type: ignore[index]
            asked, reply = dns.message.from_wire(data), dns.message.from_wire(out[0])
            assert asked.is_response(reply) and reply.question[0].name.to_text() == asked.question[0].name.to_text()
            assert reply.flags & 0x8590 == 0x8080 | asked.flags & 0x0110  # QR, RA; RD and CD as asked; no AA
            if reply.rcode() == dns.rcode.NXDOMAIN or not reply.answer:
                (soa,) = reply.authority
                assert soa.rdtype == dns.rdatatype.SOA and asked.question[0].name.is_subdomain(soa.name)
    assert routed._routes and not any(tail != tail.lower() for tail in routed._routes)  # kept; none in mixed case
    # under the long apex: the first NXDOMAIN keeps a route; another label of that length is answered from it; one
    # of the longest length the name may have, and one octet longer (no name), are not (no shape of theirs yet)
    lane = PrecompiledAnswers(table, lanes)
    asked = [query(bytes([n]) + bytes([c]) * n + LONG_WIRE) for n, c in ((10, 113), (10, 114), (56, 113), (57, 113))]
    made = [lane.bare(data, 1232, False) for data in asked]
    route = lane._routes[LONG_WIRE + b"\x00\x01\x00\x01"]
    assert made[0][1] not in route[2].values() and made[1][1] in route[2].values()  # type: ignore[index]
    assert [m[0] for m in made[:3]] == [lane.answer(d, peek(d), 1232, False)[0] for d in asked[:3]]  # type: ignore
    assert made[3] is None  # 1 + 57 + 198 octets: no name
    # a route holds the server's OPT: asked with another size of the server's, the route does not answer
    data = query(b"\x03qqq" + LONG_WIRE, opt=opt())
    sizes = [dns.message.from_wire(lane.bare(data, size, False)[0]).payload for size in (1232, 1232, 1400)]  # type: ignore
    assert sizes == [1232, 1232, 1400]
    # the same when the new size comes first to a held name's answer: the routes start again there too
    lane = PrecompiledAnswers(table, lanes)
    absent, held = (query(label + wire(b"other", b"test"), opt=opt()) for label in (b"\x03qqq", b"\x03www"))
    lane.bare(absent, 1232, False)
    lane.bare(absent, 1232, False)
    assert lane._routes and isinstance(lane.bare(held, 1400, False), tuple)
    assert dns.message.from_wire(lane.bare(absent, 1400, False)[0]).payload == 1400  # type: ignore[index]


def test_routes_are_bounded_by_their_shapes_and_still_answer(monkeypatch: Any) -> None:
    """A flood of absent names of every type and label length keeps at most ROUTE_SHAPES_LIMIT route shapes (then
    starts again), and every reply is still answer()'s; a query that takes the long way again (its label in
    upper case) does not count a shape twice."""
    monkeypatch.setattr(precompiled_module, "ROUTE_SHAPES_LIMIT", 16)
    lane = PrecompiledAnswers(TABLE, {})
    rng = random.Random(9)
    for i in range(3000):
        length = rng.randint(1, 30)
        qtype = rng.choice([1, 28, 16, rng.randrange(256, 65000)])
        data = query(bytes([length]) + b"q" * length + wire(b"other", b"test"), qtype, ident=i)
        out = lane.bare(data, 1232, False)
        assert out is not None and out[0] == lane.answer(data, peek(data), 1232, False)[0]  # type: ignore
        assert sum(len(route[2]) for route in lane._routes.values()) == lane._route_shapes <= 16
    lane = PrecompiledAnswers(TABLE, {})
    for label in (b"qq", b"qq", b"QQ", b"QQ", b"Qq"):
        lane.bare(query(b"\x02" + label + wire(b"other", b"test")), 1232, False)
    assert lane._route_shapes == 1


def test_the_answers_kept_per_zone_are_bounded_and_still_right(monkeypatch: Any) -> None:
    """A held name's encoded answer is kept per zone and type, at most LANE_ANSWERS_LIMIT of them (then they start
    again): every name of corp.test. asked for A and AAAA, twice, the lane keeps no more and answers as answer()."""
    monkeypatch.setattr(precompiled_module, "LANE_ANSWERS_LIMIT", 3)
    lane = PrecompiledAnswers(TABLE, {})
    answered = 0
    for _ in range(2):
        for label in (b"web", b"two", b"many", b"txt", b"mx", b"x", b"alias", b"my-host_1", b"upper"):
            for qtype in LANE_TYPES:
                data = query(bytes([len(label)]) + label + wire(b"corp", b"test"), qtype)
                out = lane.bare(data, 1232, False)
                if isinstance(out, tuple):
                    assert out[0] == lane.answer(data, peek(data), 1232, False)[0]  # type: ignore[arg-type,index]
                    answered += 1
    assert answered >= 24 and all(len(kept) <= 3 for entry in lane.plans.values() for kept in entry.lane.answers)


def test_the_one_probe_stops_at_no_zone_above_a_nested_one() -> None:
    """The longest linked apex decides (as in the resolver): inner.corp.test. lies below corp.test., so a name
    one label above corp.test. that is itself inner's apex, or one above inner, is inner's."""
    answers = PrecompiledAnswers(TABLE, {})
    assert answers.plans[wire(b"corp", b"test")].nested and not answers.plans[wire(b"inner", b"corp", b"test")].nested
    found = answers.bare(query(wire(b"db", b"inner", b"corp", b"test"), 16), 1232, False)  # TXT: not the lane's
    assert isinstance(found, Held) and found.found[0].apex == "inner.corp.test."
    data = query(wire(b"db", b"inner", b"corp", b"test"))  # an A: the lane's, from inner's records
    assert answers.bare(data, 1232, False)[0] == answers.answer(data, peek(data), 1232, False)[0]  # type: ignore
    reply, _, _ = answers.bare(query(wire(b"nosuch", b"inner", b"corp", b"test")), 1232, False)  # type: ignore
    assert dns.message.from_wire(reply).authority[0].name.to_text() == "inner.corp.test."
    data = query(wire(b"inner", b"corp", b"test"))  # inner's apex itself, one label above corp: inner's, resolved
    assert answers.bare(data, 1232, False) is None and answers.answer(data, peek(data), 1232, False) is None  # type: ignore[arg-type]


# --------------------------------------------------------------------------- replies and counters


def test_the_lanes_replies_read_as_the_rfcs_say_in_every_shape(bundled: Any) -> None:
    """Each NXDOMAIN the lane makes from a kept shape, read by dnspython: the query's ID and question (its
    case), RD and CD echoed, RA set, the zone's SOA compressed against the apex where it starts in this
    question (RFC 1035 §4.1.4), the OPT with the server's size and the query's DO (RFC 6891 §6.1.1, RFC 3225)."""
    h = handler(bundled, udp_payload_size=1400)
    rng = random.Random(11)
    for i in range(200):
        label = "".join(rng.choice("abcXYZ019-_") for _ in range(rng.randint(1, 20)))
        flags = rng.choice([0x0100, 0x0000, 0x0110, 0x0010])
        extra = rng.choice([None, opt(), opt(do=True), opt(600)])
        data = query(bytes([len(label)]) + label.encode() + BLOB, flags=flags, opt=extra, ident=i)
        message = dns.message.from_wire(h.handle(data, (SPOKE, 5), rng.random() < 0.3))  # type: ignore[arg-type]
        assert message.id == i and message.rcode() == dns.rcode.NXDOMAIN
        assert message.question[0].name.to_text() == f"{label}.privatelink.blob.core.windows.net."
        assert bool(message.flags & dns.flags.RD) == bool(flags & 0x0100)
        assert bool(message.flags & dns.flags.CD) == bool(flags & 0x0010)
        assert message.flags & dns.flags.RA and not message.flags & dns.flags.AA
        (soa,) = message.authority
        assert soa.name.to_text().lower() == "privatelink.blob.core.windows.net." and soa.ttl == 10
        assert message.edns == (-1 if extra is None else 0)
        if extra is not None:
            assert message.payload == 1400 and bool(message.ednsflags & dns.flags.DO) == (extra == opt(do=True))
    assert 0 < len(h._state.precompiled[h._state.where[SPOKE]]._shapes) <= 200  # shapes were kept and reused


def test_the_lanes_counters_are_the_resolvers_on_each_transport(bundled: Any) -> None:
    """Absent names, held names and their types, asked over UDP and TCP through one handler: the counters
    under the same labels (the transport's among them), sizes and durations' count as the resolver's."""
    fast, slow = handler(bundled), handler(bundled, query_log=True)
    rng = random.Random(5)
    for i in range(400):
        name = rng.choice([f"ghost{i % 50}", "mystorage", f"g{i}.deeper", "MyStorage"]) + \
            ".privatelink.blob.core.windows.net"
        data = dns.message.make_query(name, rng.choice(["A", "AAAA", "TXT", "MX"]), id=i,
                                      use_edns=rng.choice([None, 0])).to_wire()
        tcp = rng.random() < 0.5
        with capture_logs():
            expected = slow.handle(data, (SPOKE, 5), tcp)
        assert fast.handle(data, (SPOKE, 5), tcp) == expected, name
    got, want = fast.stats.snapshot(), slow.stats.snapshot()
    assert got.queries == want.queries and {label[0] for label in got.queries} == {"tcp", "udp"}
    assert (got.sizes, got.size_sum, got.truncated) == (want.sizes, want.size_sum, want.truncated)
    assert sum(got.durations["tcp"]) + sum(got.durations["udp"]) == 400


def test_shapes_and_their_cells_are_bounded_and_still_count(bundled: Any, monkeypatch: Any) -> None:
    """A flood of shapes (labels of every length, every flag) and of query types must not grow the lane's
    memos without end: past their bounds they start again, and every query is still answered and counted."""
    monkeypatch.setattr(precompiled_module, "SHAPES_LIMIT", 3)
    monkeypatch.setattr(handler_module, "MISS_CELLS_LIMIT", 2)
    h = handler(bundled)
    for i in range(40):
        data = query(bytes([i % 7 + 1]) + b"n" * (i % 7 + 1) + BLOB, qtype=[1, 28, 16, 15, 33][i % 5],
                     flags=[0x0100, 0x0110][i % 2], opt=[None, opt()][i // 20], ident=i)
        assert dns.message.from_wire(h.handle(data, (SPOKE, 5))).rcode() == dns.rcode.NXDOMAIN
    answers = h._state.precompiled[h._state.where[SPOKE]]
    assert len(answers._shapes) <= 3 and all(len(shape[2]) <= 2 for shape in answers._shapes.values())
    counted = h.stats.snapshot()
    assert sum(counted.queries.values()) == 40 and counted.cache["miss", "udp"] == 40


def test_another_udp_size_gets_its_own_opt(bundled: Any) -> None:
    """The shapes hold the server's OPT (RFC 6891 §6.2.3: its own payload size): asked with another size, the
    same VNet's answers start again instead of answering with the first size."""
    answers = PrecompiledAnswers(bundled.negative["spoke1"], {})
    data = query(b"\x06nosuch" + BLOB, opt=opt(4096))
    for size in (1232, 1400, 1232):
        reply, _, _ = answers.bare(data, size, False)  # type: ignore[misc]
        assert dns.message.from_wire(reply).payload == size
