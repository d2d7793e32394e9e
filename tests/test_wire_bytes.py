"""The wire codec's promises as bytes written down from the RFCs, not read back from dnsemu.

Each expected message here is put together by hand, field by field, from the RFC that
defines it: the header (RFC 1035 §4.1.1), the question (§4.1.2), resource records (§4.1.3),
compression pointers (§4.1.4: two octets, ``0xC000 | offset``), negative answers (RFC 2308
§2.1, §2.2, §5), the OPT pseudo-record (RFC 6891 §6.1.2, §6.1.3) and ECS (RFC 7871 §6,
§7.2.1). Where an expectation is a name's presentation form, dnspython (an independent
implementation) writes it. Answers that the handler decides from a query's bytes alone (the
precompiled NXDOMAIN and NODATA, a cache hit) are asked through ``Handler.handle`` only:
bytes and a source address in, bytes out, whatever the handler's insides look like.
"""

from __future__ import annotations

import struct
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.name
import pytest
from conftest import make_settings

from dnsemu.core.compile import compile_topology
from dnsemu.dns import wire
from dnsemu.server.handler import Handler
from dnsemu.topology.load import load_topology_data

QR, AA, TC, RD, RA, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0020, 0x0010
NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3
HUB = "10.0.2.4"  # the bundled estate's hub VNet: privatelink.blob.core.windows.net is linked to it


def header(qid: int, flags: int, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    """RFC 1035 §4.1.1: ID, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT, each 16 bits, network order."""
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


def labels(*parts: bytes) -> bytes:
    """RFC 1035 §3.1: each label as a length octet and its octets, then the root's zero."""
    return b"".join(bytes([len(p)]) + p for p in parts) + b"\x00"


def pointer(offset: int) -> bytes:
    """RFC 1035 §4.1.4: the two top bits set, then the offset from the start of the message."""
    return struct.pack("!H", 0xC000 | offset)


def opt_rr(size: int, do: bool = False, options: bytes = b"", ext_rcode: int = 0) -> bytes:
    """RFC 6891 §6.1.2: root owner, TYPE 41, CLASS = UDP size, TTL = ext rcode, version 0, DO|Z; rdata."""
    return b"\x00" + struct.pack("!HHBBHH", 41, size, ext_rcode, 0, 0x8000 if do else 0, len(options)) + options


# --------------------------------------------------------------------------- reading a reply's header


@pytest.mark.parametrize(("flags", "rcode", "truncated"), [
    (0x8183, NXDOMAIN, False),  # QR RD RA, rcode 3
    (0x8380, NOERROR, True),  # QR TC RD RA
    (0x820F, 15, True),  # QR TC, the largest header rcode
    (0x81F2, SERVFAIL, False),  # RA Z AD CD set around rcode 2: only the low four bits count
    (0x7DF0, NOERROR, False),  # everything but QR, TC and the rcode
])
def test_the_header_readers_read_rfc_1035_fields(flags: int, rcode: int, truncated: bool) -> None:
    """RFC 1035 §4.1.1: RCODE is the low four bits of the second flags octet, TC is 0x0200, ANCOUNT the
    third count. The reply's ID and the other counts are chosen so that a reader taking a wrong octet
    reads something else."""
    reply = header(0x0F0F, flags, qd=0x0102, an=0x0304, ns=0x0506, ar=0x0708)
    assert wire.reply_rcode(reply) == rcode
    assert wire.is_truncated(reply) is truncated
    assert wire.answer_count(reply) == 0x0304
    assert wire.answer_count(header(1, 0x8180, an=1)) == 1
    assert wire.answer_count(header(1, 0x8180, an=0x0100)) == 256


@pytest.mark.parametrize(("flags", "expected"), [
    # RD and CD echoed, QR and RA set, rcode SERVFAIL; nothing else of the query's flags
    (0x0110, QR | RD | RA | CD | SERVFAIL),
    (0x0000, QR | RA | SERVFAIL),
    # opcode 2 (STATUS) echoed (RFC 1035 §4.1.1: "copied into the response"); AA, TC, RA, Z, AD and
    # the query's rcode bits are not
    (0x1000 | 0x0700 | 0x00FF, QR | 0x1000 | RD | RA | CD | SERVFAIL),
    (0x7F00 | 0x00EF, QR | 0x7800 | RD | RA | SERVFAIL),  # opcode 15, AA TC RD; RA Z AD, rcode 15, no CD
    (0x0200, QR | RA | SERVFAIL),  # TC alone: not echoed
])
def test_servfail_from_a_header_is_the_rfc_header(flags: int, expected: int) -> None:
    """What the handler sends when a query raised before it parsed: the query's ID, SERVFAIL, every count 0
    (no question: it did not parse)."""
    query = header(0xA55A, flags, qd=1, an=2, ns=3, ar=4) + b"\x03www\x00\x00\x01\x00\x01"
    assert wire.servfail_from_header(query) == header(0xA55A, expected, qd=0)
    assert wire.servfail_from_header(query[:12]) == header(0xA55A, expected, qd=0)  # a bare header is enough


@pytest.mark.parametrize("data", [b"", b"\x12", header(7, 0x0100)[:11], header(7, 0x8000), header(7, 0xFFFF),
                                  header(7, 0x8100) + b"\x00\x00\x01\x00\x01"],
                         ids=["empty", "one-octet", "eleven-octets", "qr", "all-flags", "qr-with-question"])
def test_servfail_from_a_header_never_answers_a_short_message_or_a_response(data: bytes) -> None:
    """Less than a header (RFC 1035 §4.1.1: 12 octets), or QR=1 (a response): nothing to answer."""
    assert wire.servfail_from_header(data) is None


# --------------------------------------------------------------------------- names in presentation form

ESCAPED_LABELS = [
    [b"www", b"Example", b"COM"],
    [b"a.b", b"test"],  # a dot inside a label: "\."
    [b"back\\slash", b"test"],  # a backslash: "\\"
    [b"sp ace", b"\x00\x07\x1f", b"test"],  # space and control octets: "\DDD"
    [b"\x7f\x80\xff", b"Test"],  # DEL and octets past ASCII: "\DDD"
    [b"under_score", b"hy-phen", b"x"],
]


@pytest.mark.parametrize("parts", ESCAPED_LABELS, ids=["plain", "dot", "backslash", "control", "high", "punct"])
def test_a_qname_reads_as_dnspython_writes_it(parts: list[bytes]) -> None:
    """RFC 1035 §5.1: ``\\X`` for a special character, ``\\DDD`` for an octet with no printable form; the
    client's case kept (RFC 4343 §2.1). dnspython writes these octets the same way, so its text is the
    expectation, both for a parsed query and for a query read straight from its bytes (a cache hit's log)."""
    name = dns.name.Name([*parts, b""])
    expected = name.to_text()
    for qtype in (1, 28, 257, 0x0102):  # A, AAAA, CAA and a type with both octets set
        data = header(1, RD) + name.to_wire() + struct.pack("!HH", qtype, 1)
        assert wire.parse_query(data).qname_text == expected
        assert wire.question_of(data) == (expected, qtype)


def test_the_root_name_reads_as_a_dot() -> None:
    data = header(1, RD) + b"\x00\x00\x02\x00\x01"  # ". NS"
    assert wire.parse_query(data).qname_text == "."
    assert wire.question_of(data) == (".", 2)


# --------------------------------------------------------------------------- answers decided from the bytes

SOA_TTL = 10  # RFC 2308 §5: min(the SOA's TTL 3600, its MINIMUM 10), Azure's private SOA (facts §1.1)


def handler(index: Any, **overrides: Any) -> Handler:
    overrides.setdefault("query_log", False)  # the precompiled path and the reply cache may answer
    return Handler(make_settings(**overrides), index)


def azure_soa(apex_at: int, net_at: int) -> bytes:
    """The private zone's SOA in authority, compressed against the question (RFC 1035 §4.1.4): the owner
    is the apex in the question; MNAME azureprivatedns.net. ends in the question's "net."; RNAME
    azureprivatedns-host.microsoft.com. shares nothing with what came before and is written whole."""
    rdata = (b"\x0fazureprivatedns" + pointer(net_at) + labels(b"azureprivatedns-host", b"microsoft", b"com")
             + struct.pack("!5I", 1, 3600, 300, 2419200, 10))
    return pointer(apex_at) + struct.pack("!HHIH", 6, 1, SOA_TTL, len(rdata)) + rdata


def ask(h: Handler, data: bytes, tcp: bool = False) -> bytes:
    reply = h.handle(data, (HUB, 5353), tcp)
    assert isinstance(reply, bytes), reply
    return reply


BLOB = [b"PrivateLink", b"Blob", b"Core", b"Windows", b"Net"]


@pytest.mark.parametrize(("first", "qflags"), [
    ([b"NoSuch"], RD), ([b"x"], 0), ([b"a", b"b-c", b"D"], RD | CD), ([b"0123456789" * 6 + b"abc"], CD),
], ids=["nosuch-rd", "x-no-rd", "three-labels-cd", "63-octets-cd"])
@pytest.mark.parametrize("edns", [None, (4096, True), (512, False), (100, True)],
                         ids=["no-edns", "4096-do", "512", "100-do"])
def test_a_name_the_zone_lacks_is_the_rfc_nxdomain(bundled: Any, first: list[bytes], qflags: int,
                                                   edns: tuple[int, bool] | None) -> None:
    """NXDOMAIN with the zone's SOA in authority (RFC 2308 §2.1), AA clear (facts §1.1), RD and CD copied
    (RFC 1035 §4.1.1, RFC 4035 §3.2.2), the OPT with the server's 1232 and the query's DO (RFC 6891
    §6.1.2, RFC 3225 §3), the question as the client wrote it. Asked twice: the first reply and the next."""
    qname = labels(*first, *BLOB)
    offsets, at = [], 12
    for label in [*first, *BLOB]:
        offsets.append(at)
        at += 1 + len(label)
    apex_at, net_at = offsets[len(first)], offsets[-1]
    query = header(0x4242, qflags, ar=1 if edns else 0) + qname + b"\x00\x01\x00\x01"
    if edns:
        query += opt_rr(edns[0], edns[1])
    expected = (header(0x4242, QR | qflags | RA | NXDOMAIN, ns=1, ar=1 if edns else 0) + qname
                + b"\x00\x01\x00\x01" + azure_soa(apex_at, net_at) + (opt_rr(1232, edns[1]) if edns else b""))
    h = handler(bundled)
    assert ask(h, query) == expected
    assert ask(h, query) == expected
    again = b"\x77\x77" + query[2:]
    assert ask(h, again) == b"\x77\x77" + expected[2:]
    assert ask(h, query, tcp=True) == expected


@pytest.mark.parametrize("qtype", [16, 28, 257], ids=["TXT", "AAAA", "CAA"])
@pytest.mark.parametrize("edns", [None, (1232, True), (4096, False)], ids=["no-edns", "do", "4096"])
def test_a_name_without_the_type_is_the_rfc_nodata(bundled: Any, qtype: int, edns: tuple[int, bool] | None) -> None:
    """mystorage holds an A record only: any other type is NODATA, NOERROR with the zone's SOA (RFC 2308 §2.2)."""
    qname = labels(b"MyStorage", b"privatelink", b"blob", b"core", b"windows", b"net")
    query = header(0x0101, RD, ar=1 if edns else 0) + qname + struct.pack("!HH", qtype, 1)
    if edns:
        query += opt_rr(edns[0], edns[1])
    apex_at, net_at = 12 + 10, 12 + 10 + 12 + 5 + 5 + 8
    expected = (header(0x0101, QR | RD | RA | NOERROR, ns=1, ar=1 if edns else 0) + qname + struct.pack("!HH", qtype, 1)
                + azure_soa(apex_at, net_at) + (opt_rr(1232, edns[1]) if edns else b""))
    h = handler(bundled)
    assert ask(h, query) == expected
    assert ask(h, query) == expected


@pytest.mark.parametrize("edns", [None, (1232, True), (512, False)], ids=["no-edns", "do", "512"])
@pytest.mark.parametrize("qflags", [RD, CD, 0], ids=["rd", "cd", "none"])
def test_an_address_at_the_name_is_the_rfc_answer(bundled: Any, edns: tuple[int, bool] | None, qflags: int) -> None:
    """A record of the zone at the question's name: its owner a pointer to the question (offset 12), TTL 10,
    the address's four octets (RFC 1035 §3.4.1); NOERROR, AA clear, RD and CD copied, nothing in authority."""
    qname = labels(b"mystorage", b"PRIVATELINK", b"blob", b"core", b"windows", b"net")
    query = header(0xBEEF, qflags, ar=1 if edns else 0) + qname + b"\x00\x01\x00\x01"
    if edns:
        query += opt_rr(edns[0], edns[1])
    answer = pointer(12) + struct.pack("!HHIH", 1, 1, 10, 4) + bytes([10, 0, 1, 4])
    expected = (header(0xBEEF, QR | qflags | RA, an=1, ar=1 if edns else 0) + qname + b"\x00\x01\x00\x01" + answer
                + (opt_rr(1232, edns[1]) if edns else b""))
    h = handler(bundled)
    for tcp in (False, True, False):
        assert ask(h, query, tcp) == expected


# --------------------------------------------------------------------------- records a query may carry

QUESTION = labels(b"example", b"com") + b"\x00\x01\x00\x01"  # at offset 12: "example" at 12, "com" at 20


def with_additional(*records: bytes) -> bytes:
    return header(0x0BAD, RD, ar=len(records)) + QUESTION + b"".join(records)


def rr(owner: bytes, rtype: int, rdata: bytes, rclass: int = 1) -> bytes:
    """RFC 1035 §4.1.3: owner, TYPE, CLASS, TTL, RDLENGTH, RDATA."""
    return owner + struct.pack("!HHIH", rtype, rclass, 0, len(rdata)) + rdata


@pytest.mark.parametrize("record", [
    rr(b"\x00", 15, b"\x00\x0a" + labels(b"mail", b"example", b"com")),  # MX: preference, exchange (§3.3.9)
    rr(b"\x00", 15, b"\x00\x0a" + b"\x04mail" + pointer(12)),  # its exchange compressed (RFC 1035 type)
    rr(b"\x00", 33, struct.pack("!HHH", 1, 2, 443) + labels(b"srv", b"example", b"com")),  # SRV (RFC 2782)
    rr(b"\x00", 18, b"\x00\x01" + labels(b"afs", b"example")),  # AFSDB: subtype, hostname (RFC 1183 §1)
], ids=["mx", "mx-compressed", "srv", "afsdb"])
def test_a_query_may_carry_records_whose_names_follow_fixed_fields(record: bytes) -> None:
    """A stray record in a query's additional section is ignored when well formed (BIND and Knot answer):
    the name in its rdata starts after the fixed fields before it (2 octets for MX and AFSDB, 6 for SRV)."""
    q = wire.parse_query(with_additional(record))
    assert (q.id, q.question.name, q.question.qtype, q.edns) == (0x0BAD, "example.com.", 1, None)


# RFC 8945 §4.2: algorithm name, time signed (48 bits), fudge, MAC size, MAC, original ID, error, other len, other
HMAC_SHA256 = labels(b"hmac-sha256")


def tsig(algorithm: bytes = HMAC_SHA256, mac: bytes = bytes(32), mac_size: int | None = None,
         other: bytes = b"") -> bytes:
    rdata = (algorithm + bytes(6) + struct.pack("!HH", 300, len(mac) if mac_size is None else mac_size) + mac
             + struct.pack("!HHH", 0x0BAD, 0, len(other)) + other)
    return rr(labels(b"key"), 250, rdata, rclass=255)


def rcode_of(data: bytes) -> int:
    """The rcode dnsemu answers ``data`` with (0: it would answer the question)."""
    try:
        wire.parse_query(data)
    except wire.WireError as error:
        assert error.reply is not None and error.reply[:2] == data[:2]
        assert error.reply[3] & 0x0F == error.rcode
        return error.rcode
    return 0


NOTAUTH, FORMERR = 9, 1


@pytest.mark.parametrize(("record", "rcode"), [
    (tsig(), NOTAUTH),  # well formed, a key dnsemu does not have (RFC 8945 §5.2.1)
    (tsig(other=bytes(6)), NOTAUTH),  # other data: the server's time after BADTIME (§4.2, §5.2.3)
    (tsig(mac=b""), NOTAUTH),  # an empty MAC is well formed too (a BADKEY reply has one)
    (tsig(other=bytes(6))[:-1], FORMERR),  # one octet of the other data missing
    (tsig(mac_size=33), FORMERR),  # a MAC one octet longer than the rdata holds
    (tsig(mac_size=35), FORMERR),
    (tsig(mac_size=38), FORMERR),  # the MAC ends where the rdata does: nothing after it
    (tsig(algorithm=pointer(12)), FORMERR),  # a compressed algorithm name (§4.2: MUST NOT, as RFC 3597)
    (tsig(algorithm=b"\x04hmac" + pointer(20)), FORMERR),
], ids=["good", "other-data", "empty-mac", "other-cut", "mac-33", "mac-35", "mac-38", "alg-pointer",
        "alg-label-pointer"])
def test_a_tsig_is_notauth_when_well_formed_and_formerr_when_not(record: bytes, rcode: int) -> None:
    assert rcode_of(with_additional(record)) == rcode


# --------------------------------------------------------------------------- an upstream's answer spliced

WWW = labels(b"www", b"example", b"com")  # at 12: www 12, example 16, com 24, root 28; the question ends at 33


def spliced_query() -> wire.Query:
    return wire.parse_query(header(0x1111, RD) + WWW + b"\x00\x01\x00\x01")


def upstream_answer() -> bytes:
    """What an upstream server says about edge.cdn.test (compressed as it pleases, RFC 1035 §4.1.4): a CNAME to
    srv.cdn.test, an SRV there (RFC 2782) and a record of a private type with empty rdata (RFC 3597), the last
    octets of the message."""
    question = labels(b"edge", b"cdn", b"test") + b"\x00\x01\x00\x01"  # edge at 12, cdn at 17; ends at 31
    cname = pointer(12) + struct.pack("!HHIH", 5, 1, 60, 6) + b"\x03srv" + pointer(17)  # rdata at 43: srv
    srv = pointer(43) + struct.pack("!HHIH", 33, 1, 60, 8) + struct.pack("!HHH", 0, 0, 443) + pointer(43)
    private = pointer(43) + struct.pack("!HHIH", 0xFF00, 1, 60, 0)
    return header(0x2222, QR | AA | RD | RA, an=3) + question + cname + srv + private


def test_an_upstream_answer_is_spliced_behind_the_chain_compressed_as_rfc_1035_allows() -> None:
    """The reply: our CNAME, then the upstream's records re-encoded for our message. Names in CNAME rdata
    compress (a type of RFC 1035, §4.1.4); the SRV target is written whole (RFC 2782: "name compression is
    not to be used for this field"; RFC 3597 §4); a record with no rdata is kept. AA is ours (clear)."""
    prefix = [wire.Record("www.example.com.", 5, 300, ("edge.cdn.test.",))]
    got = wire.encode_forwarded(spliced_query(), upstream_answer(), prefix, max_size=512)
    expected = (
        header(0x1111, QR | RD | RA, an=4) + WWW + b"\x00\x01\x00\x01"
        # 33: www.example.com. CNAME edge.cdn.test. (edge at 45, cdn at 50, test at 54)
        + pointer(12) + struct.pack("!HHIH", 5, 1, 300, 15) + labels(b"edge", b"cdn", b"test")
        # 60: edge.cdn.test. CNAME srv.cdn.test. (srv at 72)
        + pointer(45) + struct.pack("!HHIH", 5, 1, 60, 6) + b"\x03srv" + pointer(50)
        # 78: srv.cdn.test. SRV 0 0 443 srv.cdn.test. (the target whole)
        + pointer(72) + struct.pack("!HHIH", 33, 1, 60, 6 + 14) + struct.pack("!HHH", 0, 0, 443)
        + labels(b"srv", b"cdn", b"test")
        # srv.cdn.test. TYPE65280 \# 0
        + pointer(72) + struct.pack("!HHIH", 0xFF00, 1, 60, 0)
    )
    assert got == expected
    reply = dns.message.from_wire(got)  # and an independent codec reads it as meant
    assert [rrset.to_text().rstrip() for rrset in reply.answer] == [
        "www.example.com. 300 IN CNAME edge.cdn.test.", "edge.cdn.test. 60 IN CNAME srv.cdn.test.",
        "srv.cdn.test. 60 IN SRV 0 0 443 srv.cdn.test.", "srv.cdn.test. 60 IN TYPE65280 \\# 0"]


@pytest.mark.parametrize(("flags", "rcode"), [(QR | RA, NOERROR), (QR | AA | RA | NXDOMAIN, NXDOMAIN)])
def test_an_upstream_reply_of_a_bare_header_keeps_its_rcode(flags: int, rcode: int) -> None:
    """Twelve octets are a whole message (RFC 1035 §4.1.1: no question, no records): NODATA or NXDOMAIN with
    nothing from upstream; the chain in front stays."""
    prefix = [wire.Record("www.example.com.", 5, 300, ("edge.cdn.test.",))]
    got = wire.encode_forwarded(spliced_query(), header(0x2222, flags, qd=0), prefix, max_size=512)
    expected = (header(0x1111, QR | RD | RA | rcode, an=1) + WWW + b"\x00\x01\x00\x01"
                + pointer(12) + struct.pack("!HHIH", 5, 1, 300, 15) + labels(b"edge", b"cdn", b"test"))
    assert got == expected


@pytest.mark.parametrize("upstream", [
    header(0x2222, QR | RA)[:11],  # less than a header
    header(0x2222, QR | TC | RA),  # truncated: retry over TCP first
    header(0x2222, RD),  # a query, not a response
], ids=["short", "tc", "query"])
@pytest.mark.parametrize("server_size", [512, 1232, 4096])
def test_an_unusable_upstream_reply_is_servfail_with_the_servers_payload_size(upstream: bytes,
                                                                             server_size: int) -> None:
    """SERVFAIL for the client's query, its OPT with the server's payload size (RFC 6891 §6.2.3, §6.2.5) like
    every other reply, and a reason to log."""
    data = header(0x3333, RD | CD, ar=1) + WWW + b"\x00\x01\x00\x01" + opt_rr(4096, True)
    with pytest.raises(wire.WireError) as info:
        wire.encode_forwarded(wire.parse_query(data), upstream, [], max_size=4096, server_udp_size=server_size)
    assert info.value.rcode == SERVFAIL and isinstance(info.value.reason, str) and info.value.reason
    assert info.value.reply == (header(0x3333, QR | RD | RA | CD | SERVFAIL, ar=1) + WWW + b"\x00\x01\x00\x01"
                                + opt_rr(server_size, True))


@pytest.mark.parametrize("upstream_rcode", [5, 1, 2, 4], ids=["REFUSED", "FORMERR", "SERVFAIL", "NOTIMP"])
def test_an_upstream_failure_is_servfail_with_our_opt_and_the_ecs_echoed(upstream_rcode: int) -> None:
    """The upstream's rcode describes our query to it, not the client's: SERVFAIL, with the OPT every reply of
    ours carries (the server's size, RFC 6891 §6.2.3) and the client's ECS with our scope (RFC 7871 §7.2.1)."""
    ecs = struct.pack("!HH", 8, 7) + struct.pack("!HBB", 1, 24, 0) + bytes([10, 1, 2])  # 10.1.2.0/24
    data = header(0x4444, RD, ar=1) + WWW + b"\x00\x01\x00\x01" + opt_rr(1232, False, ecs)
    upstream = header(0x2222, QR | RA | upstream_rcode, qd=0)
    got = wire.encode_forwarded(wire.parse_query(data), upstream, [], max_size=1232, server_udp_size=4000, ecs_scope=20)
    echoed = struct.pack("!HH", 8, 7) + struct.pack("!HBB", 1, 24, 20) + bytes([10, 1, 2])
    assert got == (header(0x4444, QR | RD | RA | SERVFAIL, ar=1) + WWW + b"\x00\x01\x00\x01"
                   + opt_rr(4000, False, echoed))


@pytest.mark.parametrize(("ttl", "flags", "rcode"), [
    (0x00008000, QR | RA, NOERROR),  # DO set, extended rcode 0: the header's NOERROR
    (0x00008000, QR | RA | NXDOMAIN, NXDOMAIN),
    (0x0000FFFF, QR | RA | NXDOMAIN, NXDOMAIN),  # every flag bit set: still no extended rcode
    (0x01000000, QR | RA, SERVFAIL),  # extended rcode 1: BADVERS (16), our query's fault: SERVFAIL
    (0x01000000, QR | RA | NXDOMAIN, SERVFAIL),  # 16 + 3: not NXDOMAIN
])
def test_an_upstream_rcode_is_read_with_its_opt_extension(ttl: int, flags: int, rcode: int) -> None:
    """RFC 6891 §6.1.3: the OPT's TTL holds the upper 8 bits of the 12-bit rcode, then version and flags."""
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, ttl, 0)
    upstream = header(0x2222, flags, qd=0, ar=1) + opt
    data = header(0x5555, RD, ar=1) + WWW + b"\x00\x01\x00\x01" + opt_rr(1232, True, struct.pack("!HH", 8, 4)
                                                                        + struct.pack("!HBB", 1, 0, 0))
    got = wire.encode_forwarded(wire.parse_query(data), upstream, [], max_size=1232, ecs_scope=16)
    # the ECS of a /0 source is echoed with scope 0 (RFC 7871 §7.2.1: "scope prefix-length ... 0")
    echoed = struct.pack("!HH", 8, 4) + struct.pack("!HBB", 1, 0, 0)
    assert got == header(0x5555, QR | RD | RA | rcode, ar=1) + WWW + b"\x00\x01\x00\x01" + opt_rr(1232, True, echoed)


def test_a_forwarded_answer_echoes_the_ecs_with_our_scope() -> None:
    ecs = struct.pack("!HH", 8, 6) + struct.pack("!HBB", 1, 16, 0) + bytes([10, 9])  # 10.9.0.0/16
    data = header(0x6666, RD, ar=1) + WWW + b"\x00\x01\x00\x01" + opt_rr(1232, False, ecs)
    upstream = header(0x2222, QR | RA, qd=0)
    got = wire.encode_forwarded(wire.parse_query(data), upstream, [], max_size=1232, ecs_scope=12)
    echoed = struct.pack("!HH", 8, 6) + struct.pack("!HBB", 1, 16, 12) + bytes([10, 9])
    assert got == header(0x6666, QR | RD | RA, ar=1) + WWW + b"\x00\x01\x00\x01" + opt_rr(1232, False, echoed)


# --------------------------------------------------------------------------- the same view, many queries


@pytest.mark.parametrize("order", [(True, False, True), (False, True, False), (False, False, True, True, False)])
def test_each_precompiled_reply_carries_its_own_querys_do_bit(bundled: Any, order: tuple[bool, ...]) -> None:
    """One handler, one zone, the same size, DO set and clear in turn: each OPT copies its own query's DO
    (RFC 3225 §3), whatever the replies before it said. NXDOMAIN and NODATA alike."""
    h = handler(bundled)
    nx = labels(b"absent", *BLOB)
    nodata = labels(b"mystorage", b"privatelink", b"blob", b"core", b"windows", b"net")
    for do in order:
        query = header(0x0A0A, RD, ar=1) + nx + b"\x00\x01\x00\x01" + opt_rr(1232, do)
        expected = (header(0x0A0A, QR | RD | RA | NXDOMAIN, ns=1, ar=1) + nx + b"\x00\x01\x00\x01"
                    + azure_soa(19, 12 + 7 + 12 + 5 + 5 + 8) + opt_rr(1232, do))
        assert ask(h, query) == expected
        query = header(0x0B0B, RD, ar=1) + nodata + b"\x00\x10\x00\x01" + opt_rr(1232, do)
        expected = (header(0x0B0B, QR | RD | RA, ns=1, ar=1) + nodata + b"\x00\x10\x00\x01"
                    + azure_soa(22, 12 + 10 + 12 + 5 + 5 + 8) + opt_rr(1232, do))
        assert ask(h, query) == expected
        query = header(0x0C0C, RD, ar=1) + nodata + b"\x00\x01\x00\x01" + opt_rr(1232, do)
        answer = pointer(12) + struct.pack("!HHIH", 1, 1, 10, 4) + bytes([10, 0, 1, 4])
        expected = (header(0x0C0C, QR | RD | RA, an=1, ar=1) + nodata + b"\x00\x01\x00\x01" + answer
                    + opt_rr(1232, do))
        assert ask(h, query) == expected


@pytest.mark.parametrize("low", [0x01, 0x0F, 0x20, 0x40, 0x6F, 0x7F], ids=lambda b: f"{b:#04x}")
def test_a_querys_z_ad_and_rcode_bits_are_not_copied(bundled: Any, low: int) -> None:
    """A query's second flags octet may hold Z, AD (RFC 6840 §5.7: "understands AD") and RCODE bits; none is
    echoed (RFC 1035 §4.1.1: RCODE is "set as part of responses"): a reply has QR RD RA, CD when asked, and
    its own rcode."""
    h = handler(bundled)
    cd = low & CD
    nodata = labels(b"mystorage", b"privatelink", b"blob", b"core", b"windows", b"net")
    query = header(0x0D0D, RD | low) + nodata + b"\x00\x10\x00\x01"
    expected = (header(0x0D0D, QR | RD | RA | cd, ns=1) + nodata + b"\x00\x10\x00\x01"
                + azure_soa(22, 12 + 10 + 12 + 5 + 5 + 8))
    assert ask(h, query) == expected
    query = header(0x0E0E, RD | low) + nodata + b"\x00\x01\x00\x01"
    answer = pointer(12) + struct.pack("!HHIH", 1, 1, 10, 4) + bytes([10, 0, 1, 4])
    assert ask(h, query) == header(0x0E0E, QR | RD | RA | cd, an=1) + nodata + b"\x00\x01\x00\x01" + answer
    qname = labels(b"mystorage", b"blob", b"core", b"windows", b"net")  # resolved: a CNAME into the zone
    query = header(0x1010, RD | low) + qname + b"\x00\x01\x00\x01"
    assert ask(h, query) == chain_reply(0x1010, qname, RD | cd, None)
    nx = labels(b"absent", *BLOB)
    query = header(0x0F0F, RD | low) + nx + b"\x00\x01\x00\x01"
    expected = (header(0x0F0F, QR | RD | RA | cd | NXDOMAIN, ns=1) + nx + b"\x00\x01\x00\x01"
                + azure_soa(19, 12 + 7 + 12 + 5 + 5 + 8))
    assert ask(h, query) == expected


# --------------------------------------------------------------------------- sizes at the transport's limits


def txt_rrs(total: int) -> list[list[str]]:
    """TXT records (at most 20, Azure's limit for a record set; distinct) whose answer, each record owned by
    a pointer to the question, takes exactly ``total`` octets: per record 2 + 10, per string 1 + its
    characters (RFC 1035 §3.3.14, §4.1.3)."""
    count = min(20, -(-total // 3300))
    out = []
    for i in range(count):
        left = total // count + (total % count if i == count - 1 else 0) - 12  # this record's rdata
        strings = []
        while left:
            size = 256 if left - 256 >= 2 or left == 256 else left if left <= 256 else left - 2
            strings.append((f"{i:02d}" if not strings else "") + "x" * (size - 1 - (0 if strings else 2)))
            left -= size
        out.append(strings)
    assert sum(12 + sum(1 + len(s) for s in strings) for strings in out) == total
    assert all(1 <= len(s) <= 255 for strings in out for s in strings)
    return out


#: labels of every length a label may have (RFC 1035 §2.3.4: 63 octets at most), each a CNAME to t.size.example
LONG_LABELS = [("n" + "a1b2c3d4e5" * 7)[:length] for length in range(1, 64)]
#: name -> (EDNS, reply size): the qname is 1+4 + 1+4 + 1+7 + 1 = 19 octets, the question 23
SIZES = {"u512": (False, 512), "u513": (False, 513), "t64k": (False, 65535), "t64l": (False, 65536),
         "e64k": (True, 65535), "e64l": (True, 65536)}


@pytest.fixture(scope="module")
def sizes() -> Any:
    records = ["t 60 A 192.0.2.7", "a.b 60 A 192.0.2.8"]
    records += [f"{label} 60 CNAME t" for label in LONG_LABELS]
    for name, (edns, size) in SIZES.items():
        for strings in txt_rrs(size - 12 - 23 - (11 if edns else 0)):
            records.append(f"{name} 60 TXT " + " ".join(f'"{text}"' for text in strings))
    data = {"virtual_networks": {"v": {"address_space": ["10.60.0.0/16"]}},
            "private_dns_zones": {"size.example": {"records": records,
                                                   "virtual_network_links": [{"virtual_network": "v"}]}}}
    return compile_topology(load_topology_data(data), generation=1)


@pytest.mark.parametrize(("name", "tcp", "whole"), [
    ("u512", False, True), ("u513", False, False),  # 512 octets without EDNS (RFC 1035 §4.2.1)
    ("t64k", True, True), ("t64l", True, False),  # 65535 over TCP: its two-octet length (§4.2.2)
    ("e64k", True, True), ("e64l", True, False),
])
def test_a_reply_fits_its_transport_to_the_octet(sizes: Any, name: str, tcp: bool, whole: bool) -> None:
    """A reply of exactly the limit goes whole; one octet more is TC=1 with the answer dropped (RFC 2181 §9),
    never a message the transport cannot carry."""
    edns, size = SIZES[name]
    h = Handler(make_settings(query_log=False, udp_payload_size=4096), sizes)
    qname = labels(name.encode(), b"size", b"example")
    query = header(0x1234, RD, ar=1 if edns else 0) + qname + b"\x00\x10\x00\x01"
    if edns:
        query += opt_rr(4096)
    for _ in range(2):  # the first reply, then the same question again
        reply = h.handle(query, ("10.60.0.9", 53), tcp)
        assert isinstance(reply, bytes)
        if whole:
            assert len(reply) == size
            assert reply[:12] == header(0x1234, QR | RD | RA, an=wire.answer_count(reply), ar=1 if edns else 0)
            assert dns.message.from_wire(reply).answer[0].rdtype == 16
        else:
            expected = header(0x1234, QR | TC | RD | RA, ar=1 if edns else 0) + qname + b"\x00\x10\x00\x01"
            assert reply == expected + (opt_rr(4096) if edns else b"")


# --------------------------------------------------------------------------- ECS in a query


def ecs_option(family: int, source: int, address: bytes, scope: int = 0) -> bytes:
    """RFC 7871 §6: OPTION-CODE 8, length, FAMILY, SOURCE PREFIX-LENGTH, SCOPE PREFIX-LENGTH, ADDRESS."""
    body = struct.pack("!HBB", family, source, scope) + address
    return struct.pack("!HH", 8, len(body)) + body


@pytest.mark.parametrize(("source", "address", "rcode"), [
    (23, bytes([10, 1, 2]), 0),  # 0x02 is the 23rd bit: inside the prefix
    (23, bytes([10, 1, 3]), FORMERR),  # 0x01 is the 24th: past it ("MUST be set to 0", RFC 7871 §6)
    (17, bytes([10, 1, 128]), 0),  # the 17th bit
    (17, bytes([10, 1, 64]), FORMERR),  # the 18th
    (18, bytes([10, 1, 192]), 0),
    (18, bytes([10, 1, 224]), FORMERR),
    (20, bytes([10, 1, 0xF0]), 0),
    (20, bytes([10, 1, 0xF8]), FORMERR),
    (31, bytes([192, 0, 2, 0xFE]), 0),
    (31, bytes([192, 0, 2, 0xFF]), FORMERR),
], ids=lambda v: v.hex() if isinstance(v, bytes) else str(v))
def test_an_ecs_address_has_no_bits_past_its_source_prefix(source: int, address: bytes, rcode: int) -> None:
    data = header(0x7777, RD, ar=1) + WWW + b"\x00\x01\x00\x01" + opt_rr(1232, False, ecs_option(1, source, address))
    assert rcode_of(data) == rcode
    if rcode == 0:  # and it is echoed as it came, with our scope (RFC 7871 §7.2.1)
        got = wire.encode_response(wire.parse_query(data), 0, max_size=1232, ecs_scope=16)
        assert got == (header(0x7777, QR | RD | RA, ar=1) + WWW + b"\x00\x01\x00\x01"
                       + opt_rr(1232, False, ecs_option(1, source, address, scope=16)))


# --------------------------------------------------------------------------- one question in every shape


def chain_reply(qid: int, qname: bytes, flags: int, edns: tuple[int, bool] | None) -> bytes:
    """mystorage.blob.core.windows.net A from the hub (facts §1.1): the public CNAME (TTL 60) into the linked
    privatelink zone, then its A (TTL 10). qname: mystorage at 12, blob at 22; the question ends at 49; the
    CNAME's rdata starts at 61 (mystorage) and ends in a pointer to blob.core.windows.net."""
    cname = (pointer(12) + struct.pack("!HHIH", 5, 1, 60, 24) + b"\x09mystorage\x0bprivatelink" + pointer(22))
    a = pointer(61) + struct.pack("!HHIH", 1, 1, 10, 4) + bytes([10, 0, 1, 4])
    return (header(qid, QR | RA | flags, an=2, ar=1 if edns else 0) + qname + b"\x00\x01\x00\x01" + cname + a
            + (opt_rr(1232, edns[1]) if edns else b""))


SHAPES = [  # (ID, the qname's case, RD/CD flags, EDNS (size, DO) or None, TCP)
    (0x0001, b"MyStorage", RD, None, False),
    (0x0002, b"mystorage", RD, None, False),
    (0x0003, b"MYSTORAGE", 0, None, False),
    (0x0004, b"mystorage", RD | CD, None, False),
    (0x0005, b"mystorage", CD, (1232, False), False),
    (0x0006, b"mystorage", RD, (1232, True), False),
    (0x0007, b"MyStorage", RD, (4096, True), False),
    (0x0008, b"mystorage", RD, (512, False), True),
    (0x0009, b"mystorage", RD, None, True),
    (0x000A, b"mYsToRaGe", RD, None, False),
    (0x000B, b"mystorage", RD | CD, (1232, True), False),
    (0x000C, b"mystorage", RD, (1232, False), False),
    (0x000D, b"mystorage", 0, (1232, True), False),
    (0x000E, b"mystorage", CD, (1232, True), True),
]


@pytest.mark.parametrize("rotate", [0, 3, 7])
def test_every_shape_of_a_question_gets_its_own_reply(bundled: Any, rotate: int) -> None:
    """The reply cache keys a reply by what changes it (RD, CD, EDNS, DO, the transport; the qname without
    case): one handler asked the same question in every shape, in three orders, answers each with its own ID,
    its own qname case (RFC 4343 §4.1), its own RD and CD (RFC 1035 §4.1.1, RFC 4035 §3.2.2) and its own DO
    (RFC 3225 §3); the OPT says the server's size (RFC 6891 §6.2.3) whatever the client offered."""
    h = handler(bundled)
    shapes = SHAPES[rotate:] + SHAPES[:rotate]
    for qid, first, flags, edns, tcp in shapes * 2:
        qname = labels(first, b"Blob", b"Core", b"Windows", b"Net")
        query = header(qid, flags, ar=1 if edns else 0) + qname + b"\x00\x01\x00\x01"
        if edns:
            query += opt_rr(*edns)
        assert ask(h, query, tcp) == chain_reply(qid, qname, flags, edns), (qid, first, flags, edns, tcp)


@pytest.mark.parametrize("order", [(512, 1232, 512, None, 1232), (1232, 512, None, 513, 1232), (None, 1232, 600)])
def test_the_clients_payload_size_decides_truncation_in_any_order(sizes: Any, order: tuple[int | None, ...]) -> None:
    """u513's TXT answer is 513 octets, 524 with an OPT: it fits a client's 1232 or 600, not 512 (a size
    below 512 reads as 512, RFC 6891 §6.2.5), and never a client without EDNS (512, RFC 1035 §4.2.1)."""
    h = Handler(make_settings(query_log=False, udp_payload_size=4096), sizes)
    qname = labels(b"u513", b"size", b"example")
    for size in order * 2:
        query = header(0x2468, RD, ar=0 if size is None else 1) + qname + b"\x00\x10\x00\x01"
        if size is not None:
            query += opt_rr(size)
        reply = ask_from(h, query, "10.60.0.9")
        fits = size is not None and size >= 524
        assert len(reply) == (524 if fits else 12 + 23 + (0 if size is None else 11))
        assert bool(reply[2] & 0x02) is not fits
        assert reply.endswith(b"" if size is None else opt_rr(4096))


def ask_from(h: Handler, data: bytes, source: str, tcp: bool = False) -> bytes:
    reply = h.handle(data, (source, 5353), tcp)
    assert isinstance(reply, bytes), reply
    return reply


@pytest.mark.parametrize("label", LONG_LABELS, ids=len)
def test_a_name_resolved_from_its_bytes_is_the_name_asked(sizes: Any, label: str) -> None:
    """A CNAME is followed by the resolver, so the handler turns the query's bytes into the name it resolves:
    whatever the label's length, the reply answers that name (a CNAME to t.size.example, then its A)."""
    h = handler(sizes)
    n = len(label)
    qname = labels(label.upper().encode(), b"size", b"example")  # "size" at 13 + n; the question ends at 31 + n
    query = header(0x1357, RD) + qname + b"\x00\x01\x00\x01"
    cname = pointer(12) + struct.pack("!HHIH", 5, 1, 60, 4) + b"\x01t" + pointer(13 + n)  # t at 43 + n
    a = pointer(43 + n) + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 7])
    expected = header(0x1357, QR | RD | RA, an=2) + qname + b"\x00\x01\x00\x01" + cname + a
    assert ask_from(h, query, "10.60.0.9") == expected
    assert ask_from(h, query, "10.60.0.9") == expected  # and again, from the cache


@pytest.mark.parametrize("parts", [[b"a.b"], [b"x", b"a.b"], [b"a.b", b"x"]], ids=["a.b", "x.a.b", "a.b.x"])
def test_a_dot_inside_a_label_is_part_of_the_label(sizes: Any, parts: list[bytes]) -> None:
    """RFC 1035 §3.1 / RFC 4343 §2.1: a label may hold any octet, a dot too ("a\\.b"); such a name is not
    a.b.size.example (which holds an A): NXDOMAIN with the zone's SOA (RFC 2308 §2.1), MNAME and RNAME
    written whole (nothing in the question to point to but the apex)."""
    h = handler(sizes)
    qname = labels(*parts, b"size", b"example")
    apex_at = 12 + sum(1 + len(p) for p in parts)
    rdata = (labels(b"azureprivatedns", b"net") + labels(b"azureprivatedns-host", b"microsoft", b"com")
             + struct.pack("!5I", 1, 3600, 300, 2419200, 10))
    soa = pointer(apex_at) + struct.pack("!HHIH", 6, 1, SOA_TTL, len(rdata)) + rdata
    query = header(0x2B2B, RD) + qname + b"\x00\x01\x00\x01"
    assert ask_from(h, query, "10.60.0.9") == header(0x2B2B, QR | RD | RA | NXDOMAIN, ns=1) + qname + query[-4:] + soa



# --------------------------------------------------------------------------- queries the fast path must not take


MYSTORAGE = labels(b"mystorage", b"privatelink", b"blob", b"core", b"windows", b"net")
A_10_0_1_4 = pointer(12) + struct.pack("!HHIH", 1, 1, 10, 4) + bytes([10, 0, 1, 4])


def formerr_with_question(qid: int, question: bytes) -> bytes:
    """FORMERR echoing the question that parsed, no OPT (the query's did not parse): RFC 1035 §4.1.1."""
    return header(qid, QR | RD | RA | FORMERR) + question


@pytest.mark.parametrize(("extra", "arcount", "expected_opt"), [
    (opt_rr(1232), 2, None),  # ARCOUNT says two records, one follows: FORMERR (RFC 1035 §4.1.1)
    (opt_rr(1232)[:6], 1, None),  # an OPT cut after five of its eleven fixed octets: FORMERR
    (opt_rr(1232, options=struct.pack("!HH", 10, 5) + b"abc"), 1, None),  # an option 2 octets past the OPT
    (opt_rr(1232, options=struct.pack("!HH", 3, 0)), 1, opt_rr(1232)),  # an empty NSID request (RFC 5001 §2.1)
    (opt_rr(1232, options=struct.pack("!HH", 12, 0)), 1, opt_rr(1232)),  # empty PADDING (RFC 7830 §3)
    (opt_rr(1232, options=struct.pack("!HH", 10, 8) + bytes(8) + struct.pack("!HH", 65001, 0)), 1, opt_rr(1232)),
    (b"\x00" + struct.pack("!HHIH", 41, 1232, 0x00000001, 0), 1, opt_rr(1232)),  # a Z bit: ignored (§6.1.4)
    (b"\x00" + struct.pack("!HHIH", 41, 1232, 0x00007FFF, 0), 1, opt_rr(1232)),
    (b"\x00" + struct.pack("!HHIH", 41, 1232, 0x0000FFFF, 0), 1, opt_rr(1232, True)),  # DO and every Z bit
    # a root-owned A record is not an OPT (RFC 6891 §6.1.1: TYPE 41 makes one): answered without EDNS
    (b"\x00" + struct.pack("!HHIH", 1, 1, 0, 4) + bytes([0, 10, 0, 0]), 1, b""),
], ids=["arcount-2", "opt-cut", "option-overrun", "nsid-empty", "padding-empty", "cookie-then-empty",
        "z-bit", "z-bits", "do-and-z", "root-a"])
def test_the_additional_section_is_read_as_it_is(bundled: Any, extra: bytes, arcount: int,
                                                 expected_opt: bytes | None) -> None:
    question = MYSTORAGE + b"\x00\x01\x00\x01"
    query = header(0x3C3C, RD, ar=arcount) + question + extra
    h = handler(bundled)
    for _ in range(2):
        if expected_opt is None:
            assert ask(h, query) == formerr_with_question(0x3C3C, question)
        else:
            assert ask(h, query) == (header(0x3C3C, QR | RD | RA, an=1, ar=1 if expected_opt else 0) + question
                                     + A_10_0_1_4 + expected_opt)


def test_a_name_of_256_octets_is_formerr_and_255_is_answered(bundled: Any) -> None:
    """RFC 1035 §3.1: "the total length of a domain name ... is restricted to 255 octets or less"."""
    h = handler(bundled)
    below = [b"a" * 63, b"b" * 63, b"c" * 63]  # 3 * 64 octets, then a fourth label and the zone's 34 + root
    longest = labels(*below, b"d" * 27, *[p.lower() for p in BLOB])
    assert len(longest) == 255
    apex_at = 12 + 3 * 64 + 28
    expected = (header(0x4D4D, QR | RD | RA | NXDOMAIN, ns=1) + longest + b"\x00\x01\x00\x01"
                + azure_soa(apex_at, apex_at + 12 + 5 + 5 + 8))
    assert ask(h, header(0x4D4D, RD) + longest + b"\x00\x01\x00\x01") == expected
    for over in (labels(*below, b"d" * 28, *BLOB), labels(*below, b"d" * 62)):
        assert len(over) == 256
        reply = ask(h, header(0x4E4E, RD) + over + b"\x00\x01\x00\x01")
        assert reply == header(0x4E4E, QR | RD | RA | FORMERR, qd=0)  # the question did not parse: not echoed


# --------------------------------------------------------------------------- rcodes and the header's four bits

WWW_QUESTION = WWW + b"\x00\x01\x00\x01"
WWW_A = wire.Record("www.example.com.", 1, 60, ("192.0.2.1",))
WWW_CNAME = wire.Record("www.example.com.", 5, 300, ("edge.cdn.test.",))
EDGE_A = wire.Record("edge.cdn.test.", 1, 60, ("192.0.2.1",))
CHAIN = (pointer(12) + struct.pack("!HHIH", 5, 1, 300, 15) + labels(b"edge", b"cdn", b"test")
         + pointer(45) + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1]))
AT_QUESTION = pointer(12) + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])


@pytest.mark.parametrize(("records", "body"), [([WWW_A], AT_QUESTION), ([WWW_CNAME, EDGE_A], CHAIN)],
                         ids=["at-question", "chain"])
@pytest.mark.parametrize(("rcode", "edns", "header_rcode", "ext"), [
    (15, False, 15, None),  # four bits hold 0-15 (RFC 1035 §4.1.1)
    (15, True, 15, 0),
    (16, True, 0, 1),  # BADVERS: 16 = 1 << 4 | 0, the upper bits in the OPT (RFC 6891 §6.1.3)
    (16, False, SERVFAIL, None),  # no OPT to carry it: SERVFAIL (as Knot)
    (23, True, 7, 1),
    (23, False, SERVFAIL, None),
    (NXDOMAIN, False, NXDOMAIN, None),
])
def test_an_rcode_is_split_between_the_header_and_the_opt(records: list[Any], body: bytes, rcode: int, edns: bool,
                                                          header_rcode: int, ext: int | None) -> None:
    data = header(0x5A5A, RD | CD, ar=1 if edns else 0) + WWW_QUESTION + (opt_rr(1232) if edns else b"")
    got = wire.encode_response(wire.parse_query(data), rcode, records, max_size=512)
    opt = b"" if ext is None else opt_rr(1232, ext_rcode=ext)
    assert got == header(0x5A5A, QR | RD | RA | CD | header_rcode, an=len(records), ar=1 if opt else 0) + \
        WWW_QUESTION + body + opt


@pytest.mark.parametrize(("records", "body"), [([WWW_A], AT_QUESTION), ([WWW_CNAME, EDGE_A], CHAIN),
                                               ([WWW_CNAME, EDGE_A, EDGE_A], CHAIN + CHAIN[-16:])],
                         ids=["at-question", "chain", "chain-and-more"])
@pytest.mark.parametrize("edns", [False, True])
def test_a_reply_of_exactly_the_limit_is_whole_and_one_octet_less_truncates(records: list[Any], body: bytes,
                                                                            edns: bool) -> None:
    """RFC 1035 §4.2.1, RFC 6891 §6.2.5: the limit is the largest message allowed, OPT included."""
    data = header(0x6B6B, RD, ar=1 if edns else 0) + WWW_QUESTION + (opt_rr(1232) if edns else b"")
    opt = opt_rr(1232) if edns else b""
    whole = header(0x6B6B, QR | RD | RA, an=len(records), ar=1 if edns else 0) + WWW_QUESTION + body + opt
    q = wire.parse_query(data)
    assert wire.encode_response(q, 0, records, max_size=len(whole)) == whole
    truncated = header(0x6B6B, QR | TC | RD | RA, ar=1 if edns else 0) + WWW_QUESTION + opt
    assert wire.encode_response(q, 0, records, max_size=len(whole) - 1) == truncated


# --------------------------------------------------------------------------- what the log says


@pytest.mark.parametrize(("data", "rcode", "reason", "reply"), [
    (header(1, RD)[:11], FORMERR, "message shorter than a DNS header", None),
    (header(1, QR | RD) + QUESTION, FORMERR, "message is a response (QR=1), never answered", None),
    (with_additional(tsig()), NOTAUTH, "TSIG-signed query: dnsemu has no keys (RFC 8945 §5.2.1, BADKEY)",
     header(0x0BAD, QR | RD | RA | NOTAUTH) + QUESTION),
], ids=["short", "response", "tsig"])
def test_a_refused_message_says_why_in_the_log(data: bytes, rcode: int, reason: str, reply: bytes | None) -> None:
    """The query log's ``reason`` of a message not answered normally (an operator reads it, so it is written
    down here), and the exception's text: rcode name, then the reason. Less than a header and a response get
    no reply at all (RFC 1035 §4.1.1: there is no ID to answer, or nothing to answer)."""
    with pytest.raises(wire.WireError) as info:
        wire.parse_query(data)
    assert (info.value.rcode, info.value.reason, info.value.reply) == (rcode, reason, reply)
    assert str(info.value) == f"{'FORMERR' if rcode == FORMERR else 'NOTAUTH'}: {reason}"


def test_an_unusable_upstream_reply_says_why() -> None:
    with pytest.raises(wire.WireError) as info:
        wire.encode_forwarded(spliced_query(), header(0x2222, QR | TC | RA), [], max_size=512)
    assert info.value.reason == "unusable upstream reply: truncated (TC=1)"


# --------------------------------------------------------------------------- the slow path's own checks


@pytest.mark.parametrize(("qtype_or_counts", "rcode"), [
    ((1, 1, 0), FORMERR),  # an answer record in a query (as NSD)
    ((1, 0, 1), FORMERR),  # an authority record, not IXFR
    ((252, 0, 0), 5),  # AXFR: REFUSED
    ((253, 0, 0), 4),  # MAILB: NOTIMP
    ((41, 0, 0), FORMERR),  # QTYPE OPT
], ids=["ancount", "nscount", "axfr", "mailb", "qtype-opt"])
@pytest.mark.parametrize("do", [False, True])
def test_an_error_reply_to_an_edns_query_carries_an_opt(qtype_or_counts: tuple[int, int, int], rcode: int,
                                                        do: bool) -> None:
    """RFC 6891 §7: a responder answering a query that had an OPT includes one (with the query's DO, RFC 3225
    §3), error replies included; the question is echoed."""
    qtype, an, ns = qtype_or_counts
    question = QUESTION[:-4] + struct.pack("!HH", qtype, 1)
    record = labels(b"x") + struct.pack("!HHIH", 1, 1, 0, 4) + bytes(4)
    data = header(0x0BAD, RD, an=an, ns=ns, ar=1) + question + record * (an + ns) + opt_rr(4096, do)
    with pytest.raises(wire.WireError) as info:
        wire.parse_query(data)
    assert info.value.reply == header(0x0BAD, QR | RD | RA | rcode, ar=1) + question + opt_rr(1232, do)


def test_a_name_of_255_octets_parses_and_256_does_not() -> None:
    """RFC 1035 §3.1, read by the full parser (an NSID option keeps the fast path away)."""
    nsid = opt_rr(1232, options=struct.pack("!HH", 3, 0))
    for last, ok in ((61, True), (62, False)):
        name = labels(b"a" * 63, b"b" * 63, b"c" * 63, b"d" * last)
        data = header(0x0BAD, RD, ar=1) + name + b"\x00\x01\x00\x01" + nsid
        assert rcode_of(data) == (0 if ok else FORMERR)
        upstream = header(0x2222, QR | RA, qd=0, an=1) + name + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(4)
        if ok:
            got = wire.encode_forwarded(spliced_query(), upstream, [], max_size=4096)
            assert got[12 + 17 + 4:] == name + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(4)
        else:
            with pytest.raises(wire.WireError):
                wire.encode_forwarded(spliced_query(), upstream, [], max_size=4096)


def test_records_past_the_end_or_in_the_wrong_section_are_formerr() -> None:
    """A TSIG whose RDLENGTH runs past the message (and whose MAC size runs past what is there); an OPT in the
    authority section of an IXFR query (RFC 6891 §6.1.1: the additional section only)."""
    rdata = HMAC_SHA256 + bytes(6) + struct.pack("!HH", 300, 40) + bytes(32)
    runs_past = labels(b"key") + struct.pack("!HHIH", 250, 255, 0, len(rdata) + 100) + rdata
    assert rcode_of(with_additional(runs_past)) == FORMERR
    soa = labels(b"example", b"com") + struct.pack("!HHIH", 6, 1, 0, 22) + b"\x00\x00" + bytes(20)
    ixfr = QUESTION[:-4] + struct.pack("!HH", 251, 1)
    assert rcode_of(header(0x0BAD, 0, ns=1) + ixfr + opt_rr(1232)) == FORMERR
    assert rcode_of(header(0x0BAD, 0, ns=1) + ixfr + soa) == 5  # IXFR with its SOA: REFUSED (no transfers)
    # signed: the TSIG last of all, after the authority's SOA: NOTAUTH (RFC 8945 §5.1, §5.2.1)
    assert rcode_of(header(0x0BAD, 0, ns=1, ar=1) + ixfr + soa + tsig()) == NOTAUTH


def test_every_section_given_is_written() -> None:
    """An answer at the question's name with an authority or additional section, and an MX at the name (its
    exchange compressed against the question, RFC 1035 §3.3.9 and §4.1.4): each section as given."""
    q = wire.parse_query(header(0x7A7A, RD) + WWW_QUESTION)
    soa = wire.Record("example.com.", 6, 300, ("ns.example.com.", "host.example.com.", 1, 2, 3, 4, 5))
    soa_rr = (pointer(16) + struct.pack("!HHIH", 6, 1, 300, 5 + 7 + 20) + b"\x02ns" + pointer(16)
              + b"\x04host" + pointer(16) + struct.pack("!5I", 1, 2, 3, 4, 5))
    got = wire.encode_response(q, 0, [WWW_A], authority=[soa], max_size=512)
    assert got == header(0x7A7A, QR | RD | RA, an=1, ns=1) + WWW_QUESTION + AT_QUESTION + soa_rr
    extra = wire.Record("edge.cdn.test.", 1, 60, ("192.0.2.1",))
    got = wire.encode_response(q, 0, [WWW_A], additional=[extra], max_size=512)
    assert got == (header(0x7A7A, QR | RD | RA, an=1, ar=1) + WWW_QUESTION + AT_QUESTION
                   + labels(b"edge", b"cdn", b"test") + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1]))
    mx = wire.Record("www.example.com.", 15, 60, (10, "mail.example.com."))
    got = wire.encode_response(q, 0, [mx], max_size=512)
    assert got == (header(0x7A7A, QR | RD | RA, an=1) + WWW_QUESTION + pointer(12)
                   + struct.pack("!HHIHH", 15, 1, 60, 9, 10) + b"\x04mail" + pointer(16))
