"""dnsemu.dns.wire against dnspython, the independent implementation.

Queries are built with dnspython and parsed by us; our replies are parsed by
dnspython and compared section by section. Malformed packets are built by hand.
"""

from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.update
import pytest
from dnslib import DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsemu.dns import wire
from dnsemu.dns.records import Rcode, Record, make, rdata_text, type_name
from dnsemu.dns.wire import WireError, encode_forwarded, encode_response, parse_query, peek

NAME = "MyAccount.Blob.core.windows.net."
CANON = NAME.lower()
TARGET = "myaccount.privatelink.blob.core.windows.net."
CNAME = make(CANON, "CNAME", 3600, TARGET)
A = make(TARGET, "A", 10, "10.0.0.5")
SOA = make("privatelink.blob.core.windows.net.", "SOA", 300,
           "azureprivatedns.net. azureprivatedns-host.microsoft.com. 1 3600 300 2419200 10")


def query(name: str = NAME, rdtype: str = "A", *, qid: int = 0x1234, **kwargs) -> bytes:
    return dns.message.make_query(name, rdtype, id=qid, **kwargs).to_wire()


def edns_query(name: str = NAME, rdtype: str = "A", **kwargs) -> bytes:
    kwargs.setdefault("payload", 1232)
    return query(name, rdtype, use_edns=0, **kwargs)


def parsed(data: bytes) -> dns.message.Message:
    return dns.message.from_wire(data)


def rrsets(records: list[Record]) -> list[dns.rrset.RRset]:
    """The records as dnspython reads their presentation form (one RRset per record)."""
    return [dns.rrset.from_text(r.name, r.ttl, "IN", type_name(r.rtype),
                                rdata_text(r.rtype, r.rdata)) for r in records]


def flat(section: list[dns.rrset.RRset]) -> list[tuple[dns.name.Name, int, int, object]]:
    """Records in section order; within an RRset sorted (dnspython shuffles them on output)."""
    return [(rrset.name, rrset.ttl, rrset.rdtype, rdata) for rrset in section
            for rdata in sorted(rrset)]


def header_flags(reply: dns.message.Message) -> int:
    return reply.flags & ~0x780F  # without opcode and rcode


def same_records(section: list[dns.rrset.RRset], records: list[Record]) -> bool:
    return flat(section) == flat(rrsets(records))


# --------------------------------------------------------------------------- parse_query


@pytest.mark.parametrize("name", [NAME, "EXAMPLE.com.", "a.b.", ".", "xn--bcher-kva.Example."])
@pytest.mark.parametrize("rdtype", ["A", "AAAA", "CNAME", "TXT", "HTTPS", "ANY"])
def test_parse_plain_query_keeps_case_and_canonicalises(name: str, rdtype: str) -> None:
    q = parse_query(query(name, rdtype, qid=4242))
    assert q.id == 4242 and q.opcode == 0 and q.rd and not q.cd
    assert q.question.name == name.lower()
    assert q.question.qtype == dns.rdatatype.from_text(rdtype)
    assert q.question.qclass == 1
    assert q.qname_wire == dns.name.from_text(name).to_wire()
    assert q.qname_text == name
    assert q.edns is None


def test_parse_edns_do_cookie_and_flags() -> None:
    msg = dns.message.make_query(NAME, "AAAA", use_edns=0, payload=4096, want_dnssec=True, id=7,
                                 options=[dns.edns.CookieOption(b"clientck", b"")])
    msg.flags = dns.flags.CD  # RD clear, CD set
    q = parse_query(msg.to_wire())
    assert (q.rd, q.cd) == (False, True)
    assert q.edns is not None
    assert (q.edns.udp_size, q.edns.version, q.edns.do, q.edns.ecs) == (4096, 0, True, None)
    assert q.edns.options == ((10, b"clientck"),)


def test_parse_small_udp_size_reads_as_512_and_unknown_options_are_ignored() -> None:
    q = parse_query(edns_query(payload=100, options=[dns.edns.GenericOption(65001, b"xyz")]))
    assert q.edns is not None and q.edns.udp_size == 512
    assert q.edns.options == ((65001, b"xyz"),)


@pytest.mark.parametrize(("address", "prefix", "family"), [
    ("10.1.2.0", 24, 1), ("10.1.2.128", 25, 1), ("0.0.0.0", 0, 1), ("192.0.2.7", 32, 1),
    ("2001:db8:1::", 48, 2), ("2001:db8::", 56, 2), ("::", 0, 2),
])
def test_parse_ecs(address: str, prefix: int, family: int) -> None:
    q = parse_query(edns_query(options=[dns.edns.ECSOption(address, prefix)]))
    assert q.edns is not None
    assert q.edns.ecs == wire.ClientSubnet(family, prefix, 0, address)


def test_parse_binary_labels_and_class_any() -> None:
    name = dns.name.Name([b"\xff\x00A.b", b"Example", b""])
    q = parse_query(query(name, "A", rdclass="ANY"))
    assert q.question.qclass == 255
    assert q.question.name == "\\255\\000a\\.b.example."
    assert q.qname_text == "\\255\\000A\\.b.Example."
    assert q.qname_wire == name.to_wire()


def test_ixfr_may_carry_an_soa_in_authority_and_is_refused() -> None:
    msg = dns.message.make_query("example.com.", "IXFR", id=9)
    msg.authority.append(dns.rrset.from_text("example.com.", 0, "IN", "SOA", ". . 1 2 3 4 5"))
    with pytest.raises(WireError) as info:  # not FORMERR: the shape is right; transfers are not offered
        parse_query(msg.to_wire())
    assert info.value.rcode == Rcode.REFUSED
    assert dns.message.from_wire(info.value.reply).rcode() == dns.rcode.REFUSED


def test_transfers_tsig_and_rdata_shapes() -> None:
    axfr = dns.message.make_query("example.com.", "AXFR", id=7)
    with pytest.raises(WireError) as info:
        parse_query(axfr.to_wire())
    assert info.value.rcode == Rcode.REFUSED
    signed = dns.message.make_query("example.com.", "A", id=8)
    signed.use_tsig(dns.tsig.Key("k.", "c2VjcmV0c2VjcmV0", "hmac-sha256"))
    with pytest.raises(WireError) as info:
        parse_query(signed.to_wire())
    assert info.value.rcode == Rcode.NOTAUTH
    assert dns.message.from_wire(info.value.reply, ignore_trailing=True).rcode() == dns.rcode.NOTAUTH
    long_a = dns.message.make_query("example.com.", "A", id=9)
    wire = bytearray(long_a.to_wire())
    wire[11] = 1  # ARCOUNT 1: a root-owned A record with 5 octets of rdata
    wire += b"\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x05\x7f\x00\x00\x01\x00"
    with pytest.raises(WireError) as info:
        parse_query(bytes(wire))
    assert info.value.rcode == Rcode.FORMERR


# --------------------------------------------------------------------------- malformed corpus


def header(qid: int = 0xBEEF, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0,
           ar: int = 0) -> bytes:
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


QNAME = b"\x07example\x03com\x00"
QUESTION = QNAME + b"\x00\x01\x00\x01"


def opt(options: bytes = b"", *, owner: bytes = b"\x00", ttl: int = 0, size: int = 1232) -> bytes:
    return owner + struct.pack("!HHIH", 41, size, ttl, len(options)) + options


def option(code: int, data: bytes) -> bytes:
    return struct.pack("!HH", code, len(data)) + data


def ecs(family: int, source: int, scope: int, address: bytes) -> bytes:
    return option(8, struct.pack("!HBB", family, source, scope) + address)


def rr(owner: bytes, rtype: int, rdata: bytes = b"") -> bytes:
    return owner + struct.pack("!HHIH", rtype, 1, 0, len(rdata)) + rdata


CAA_BAD_UTF8 = rr(b"\x00", 257, b"\x00\x05issue\xff\xfe")
EDNS = header(ar=1) + QUESTION
FORMERR, NOTIMP, REFUSED, BADVERS = Rcode.FORMERR, Rcode.NOTIMP, Rcode.REFUSED, Rcode.BADVERS


def bad(name: str, packet: bytes, rcode: Rcode | None, question: bool, has_opt: bool) -> object:
    """A malformed packet: the rcode (None: dropped), and whether question and OPT are echoed."""
    return pytest.param(packet, rcode, question, has_opt, id=name)


MALFORMED = [
    bad("empty", b"", None, False, False),
    bad("short-header", header()[:11], None, False, False),
    bad("response", header(flags=0x8100) + QUESTION, None, False, False),
    bad("qdcount-0", header(qd=0), FORMERR, False, False),
    bad("qd0-cookie", header(qd=0, ar=1) + opt(option(10, b"12345678")), FORMERR, False, True),
    bad("qdcount-2", header(qd=2) + QUESTION + QUESTION, FORMERR, False, False),
    bad("truncated-question", header() + QUESTION[:-2], FORMERR, False, False),
    bad("truncated-name", header() + b"\x07exam", FORMERR, False, False),
    bad("ptr-in-question", header() + b"\x03www\xc0\x0c\x00\x01\x00\x01", FORMERR, False, False),
    bad("pointer-loop", EDNS + rr(b"\x01a\xc0\x1d", 1), FORMERR, True, False),
    bad("self-pointer", EDNS + rr(b"\xc0\x1d", 1), FORMERR, True, False),
    bad("forward-pointer", EDNS + rr(b"\xc0\x30", 1) + bytes(8), FORMERR, True, False),
    bad("pointer-into-header", EDNS + rr(b"\xc0\x02", 1), FORMERR, True, False),
    bad("label-64", header() + b"\x40" + b"a" * 64 + QUESTION[-5:], FORMERR, False, False),
    bad("label-type-0x80", header() + b"\x80abc" + QUESTION[-5:], FORMERR, False, False),
    bad("name-256", header() + (b"\x3f" + b"a" * 63) * 4 + QUESTION[-5:], FORMERR, False, False),
    bad("trailing-garbage", header() + QUESTION + b"\x00", FORMERR, True, False),
    bad("trailing-after-opt", EDNS + opt() + b"junk", FORMERR, True, False),
    bad("two-opts", header(ar=2) + QUESTION + opt() + opt(), FORMERR, True, False),
    bad("opt-not-root", EDNS + opt(owner=QNAME), FORMERR, True, False),
    bad("opt-in-answer", header(an=1) + QUESTION + opt(), FORMERR, True, False),
    bad("opt-option-overrun", EDNS + opt(b"\x00\x0a\x00\x10abc"), FORMERR, True, False),
    bad("opt-option-stub", EDNS + opt(option(10, b"12345678") + b"\x00\x0a"), FORMERR, True, False),
    bad("rdata-overrun", EDNS + rr(b"\x00", 1, bytes(9))[:-7], FORMERR, True, False),
    bad("ecs-family-3", EDNS + opt(ecs(3, 0, 0, b"")), FORMERR, True, True),
    bad("ecs-family-0", EDNS + opt(ecs(0, 0, 0, b"")), FORMERR, True, True),
    bad("ecs-v4-prefix-33", EDNS + opt(ecs(1, 33, 0, bytes(5))), FORMERR, True, True),
    bad("ecs-v6-prefix-129", EDNS + opt(ecs(2, 129, 0, bytes(17))), FORMERR, True, True),
    bad("ecs-addr-long", EDNS + opt(ecs(1, 24, 0, b"\x0a\x01\x02\x00")), FORMERR, True, True),
    bad("ecs-addr-short", EDNS + opt(ecs(1, 24, 0, b"\x0a\x01")), FORMERR, True, True),
    bad("ecs-bits-past-prefix", EDNS + opt(ecs(1, 23, 0, b"\x0a\x01\x03")), FORMERR, True, True),
    bad("ecs-scope-in-query", EDNS + opt(ecs(1, 24, 16, b"\x0a\x01\x02")), FORMERR, True, True),
    bad("ecs-too-short", EDNS + opt(option(8, b"\x00\x01")), FORMERR, True, True),
    bad("answer-rr", header(an=1) + QUESTION + rr(QNAME, 1, bytes(4)), FORMERR, True, False),
    bad("authority-rr", header(ns=1) + QUESTION + rr(QNAME, 1, bytes(4)), FORMERR, True, False),
    bad("caa-unicode-error", EDNS + CAA_BAD_UTF8, FORMERR, True, False),
    bad("edns-version-1", EDNS + opt(ttl=1 << 16), BADVERS, True, True),
    bad("opcode-iquery", header(flags=0x0800) + QUESTION, NOTIMP, True, False),
    bad("opcode-status", header(flags=0x1000) + QUESTION, NOTIMP, True, False),
    bad("opcode-notify", header(flags=0x2000, ar=1) + QUESTION + opt(), NOTIMP, True, True),
    bad("class-chaos", header() + QNAME + b"\x00\x10\x00\x03", REFUSED, True, False),
    bad("class-hesiod", header(ar=1) + QNAME + b"\x00\x01\x00\x04" + opt(), REFUSED, True, True),
    bad("class-none", header() + QNAME + b"\x00\x01\x00\xfe", REFUSED, True, False),
    bad("qtype-opt", header() + QNAME + b"\x00\x29\x00\x01", FORMERR, True, False),
    bad("qtype-tsig", header() + QNAME + b"\x00\xfa\x00\x01", FORMERR, True, False),
    bad("qtype-mailb", header() + QNAME + b"\x00\xfd\x00\x01", NOTIMP, True, False),
    bad("qtype-0", header() + QNAME + b"\x00\x00\x00\x01", NOTIMP, True, False),
]


@pytest.mark.parametrize(("packet", "rcode", "echoes_question", "has_opt"), MALFORMED)
def test_malformed(packet: bytes, rcode: Rcode | None, echoes_question: bool,
                   has_opt: bool) -> None:
    with pytest.raises(WireError) as caught:
        parse_query(packet)
    error = caught.value
    assert error.reason
    assert peek(packet) is None
    if rcode is None:
        assert error.reply is None
        return
    assert error.rcode == rcode
    assert error.reply is not None
    reply = parsed(error.reply)
    assert reply.id == 0xBEEF
    assert reply.rcode() == rcode
    assert header_flags(reply) & ~(dns.flags.RD | dns.flags.CD) == dns.flags.QR | dns.flags.RA
    assert bool(reply.flags & dns.flags.RD) == bool(packet[2] & 1)
    assert reply.opcode() == packet[2] >> 3 & 0xF
    assert (len(reply.question) == 1) == echoes_question
    if echoes_question:
        assert error.reply[12 : 12 + len(QNAME)] == packet[12 : 12 + len(QNAME)]
    assert (reply.edns == 0) == has_opt
    assert not reply.answer and not reply.authority


def test_dnslib_really_raises_unicode_error_on_that_caa() -> None:
    with pytest.raises(UnicodeDecodeError):
        DNSRecord.parse(EDNS + CAA_BAD_UTF8)


def test_update_gets_notimp_with_its_zone() -> None:
    update = dns.update.UpdateMessage("Example.com.", id=77)
    update.add("www", 300, "A", "192.0.2.1")
    update.delete("old")
    with pytest.raises(WireError) as caught:
        parse_query(update.to_wire())
    assert caught.value.rcode == Rcode.NOTIMP and caught.value.reply is not None
    reply = parsed(caught.value.reply)
    assert (reply.id, reply.opcode(), reply.rcode()) == (77, dns.opcode.UPDATE, dns.rcode.NOTIMP)
    assert reply.zone[0].name.to_text() == "Example.com."


def test_badvers_reply_is_version_0_and_keeps_do() -> None:
    data = edns_query(want_dnssec=True)
    data = data[:-5] + b"\x01" + data[-4:]  # OPT TTL: version byte
    with pytest.raises(WireError) as caught:
        parse_query(data)
    assert caught.value.reply is not None
    reply = parsed(caught.value.reply)
    assert reply.rcode() == dns.rcode.BADVERS
    assert reply.edns == 0 and reply.ednsflags & dns.flags.DO
    assert reply.question[0].name.to_text() == NAME


# --------------------------------------------------------------------------- encode_response

ALL_TYPES = [
    make(CANON, "A", 60, "192.0.2.1"),
    make(CANON, "AAAA", 60, "2001:db8::1"),
    make(CANON, "CNAME", 60, TARGET),
    make(CANON, "NS", 60, "ns1-01.azure-dns.com."),
    make("5.0.0.10.in-addr.arpa.", "PTR", 60, "vm1.internal.cloudapp.net."),
    make(CANON, "MX", 60, "10 mail.blob.core.windows.net."),
    make("_sip._tcp.blob.core.windows.net.", "SRV", 60, "10 60 5060 sip.blob.core.windows.net."),
    make(CANON, "TXT", 60, '"v=spf1 -all" "second \\"quoted\\" \\255\\000"'),
    SOA,
    make(CANON, "CAA", 60, '0 issue "digicert.com; cansignhttpexchanges=yes"'),
]


@pytest.mark.parametrize("record", ALL_TYPES, ids=lambda r: type_name(r.rtype))
@pytest.mark.parametrize("section", ["answer", "authority", "additional"])
def test_every_type_in_every_section(record: Record, section: str) -> None:
    q = parse_query(edns_query())
    data = encode_response(q, Rcode.NOERROR, **{section: [record, A]}, max_size=65535)
    reply = parsed(data)
    assert same_records(getattr(reply, section), [record, A])


def test_cname_chain_answer_flags_and_question_case() -> None:
    msg = dns.message.make_query(NAME, "A", id=0xABCD)
    msg.flags |= dns.flags.AD | dns.flags.CD
    q = parse_query(msg.to_wire())
    reply = parsed(encode_response(q, Rcode.NOERROR, [CNAME, A], max_size=512))
    assert reply.id == 0xABCD
    assert header_flags(reply) == dns.flags.QR | dns.flags.RD | dns.flags.RA | dns.flags.CD
    assert reply.rcode() == dns.rcode.NOERROR and reply.edns == -1
    assert reply.question[0].name.to_text() == NAME  # DNS 0x20: the client's case
    assert same_records(reply.answer, [CNAME, A])


def test_aa_rd_clear_nxdomain_with_soa() -> None:
    q = parse_query(query(flags=0))
    reply = parsed(encode_response(q, Rcode.NXDOMAIN, authority=[SOA], aa=True, max_size=512))
    assert header_flags(reply) == dns.flags.QR | dns.flags.AA | dns.flags.RA
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert same_records(reply.authority, [SOA]) and not reply.answer


def test_opt_echo_do_payload_and_nothing_else() -> None:
    cookie = dns.edns.CookieOption(b"clientck", b"")
    q = parse_query(edns_query(payload=4096, want_dnssec=True, options=[cookie]))
    reply = parsed(encode_response(q, Rcode.NOERROR, [A], max_size=4096, server_udp_size=1400))
    assert reply.edns == 0 and reply.payload == 1400
    assert reply.ednsflags == dns.flags.DO
    assert reply.options == ()
    reply = parsed(encode_response(parse_query(edns_query()), Rcode.NOERROR, [A], max_size=1232))
    assert reply.ednsflags == 0


def test_badvers_and_extended_rcode_without_edns() -> None:
    q = parse_query(edns_query())
    assert parsed(encode_response(q, Rcode.BADVERS, max_size=512)).rcode() == dns.rcode.BADVERS
    q = parse_query(query())
    assert parsed(encode_response(q, Rcode.BADVERS, max_size=512)).rcode() == dns.rcode.SERVFAIL


@pytest.mark.parametrize(("address", "prefix", "scope", "echoed"), [
    ("10.1.2.0", 24, 24, 24), ("10.1.2.0", 24, 16, 16), ("2001:db8::", 56, 64, 64),
    ("192.0.2.0", 24, 99, 32), ("0.0.0.0", 0, 24, 0),  # clamped; /0 sources get scope 0
])
def test_ecs_echo_with_scope(address: str, prefix: int, scope: int, echoed: int) -> None:
    q = parse_query(edns_query(options=[dns.edns.ECSOption(address, prefix)]))
    reply = parsed(encode_response(q, Rcode.NOERROR, [A], max_size=1232, ecs_scope=scope))
    (option,) = reply.options
    assert isinstance(option, dns.edns.ECSOption)
    assert (option.address, option.srclen, option.scopelen) == (address, prefix, echoed)
    no_scope = parsed(encode_response(q, Rcode.NOERROR, [A], max_size=1232))
    assert no_scope.options == ()


def test_compression_matches_dnspython() -> None:
    records = [CNAME, A, make(TARGET, "A", 10, "10.0.0.6"), ALL_TYPES[5], ALL_TYPES[6]]
    q = parse_query(query())
    ours = encode_response(q, Rcode.NOERROR, records, [SOA], max_size=65535)
    theirs = dns.message.make_response(dns.message.from_wire(query()))
    theirs.answer = rrsets(records)
    theirs.authority = rrsets([SOA])
    uncompressed = 12 + len(QUESTION) + sum(
        len(rrset.name.to_wire()) + 10 + len(rdata.to_wire())
        for rrset in rrsets([*records, SOA]) for rdata in rrset)
    assert len(ours) == len(theirs.to_wire()) < uncompressed - 100
    srv_target = dns.name.from_text("sip.blob.core.windows.net.").to_wire()
    assert srv_target in ours  # never compressed (RFC 2782)


def test_truncation_at_512_without_edns() -> None:
    many = [make(TARGET, "A", 10, f"10.0.{i // 256}.{i % 256}") for i in range(40)]
    q = parse_query(query())
    data = encode_response(q, Rcode.NOERROR, [CNAME, *many], [SOA], max_size=512)
    reply = parsed(data)
    assert reply.flags & dns.flags.TC and reply.rcode() == dns.rcode.NOERROR
    assert not reply.answer and not reply.authority and not reply.additional
    assert reply.question[0].name.to_text() == NAME and len(data) == 12 + len(q.qname_wire) + 4
    fits = encode_response(q, Rcode.NOERROR, [CNAME, *many[:20]], max_size=512)
    assert len(fits) <= 512 and not parsed(fits).flags & dns.flags.TC


def test_truncation_at_edns_size_keeps_opt() -> None:
    many = [make(TARGET, "AAAA", 10, f"2001:db8::{i:x}") for i in range(60)]
    q = parse_query(edns_query(payload=1232, options=[dns.edns.ECSOption("10.1.0.0", 16)]))
    data = encode_response(q, Rcode.NOERROR, many, max_size=1232, ecs_scope=16)
    reply = parsed(data)
    assert reply.flags & dns.flags.TC and not reply.answer
    assert reply.edns == 0 and reply.payload == 1232 and reply.options[0].scopelen == 16
    assert len(data) <= 1232
    full = parsed(encode_response(q, Rcode.NOERROR, many, max_size=65535))  # TCP
    assert not full.flags & dns.flags.TC and len(full.answer[0]) == 60


def test_additional_that_does_not_fit_is_dropped_without_tc() -> None:
    extra = [make("ns.example.", "A", 10, f"10.9.{i // 256}.{i % 256}") for i in range(40)]
    q = parse_query(edns_query(payload=512))
    reply = parsed(encode_response(q, Rcode.NOERROR, [CNAME, A], additional=extra, max_size=512))
    assert not reply.flags & dns.flags.TC
    assert same_records(reply.answer, [CNAME, A]) and not reply.additional and reply.edns == 0


def test_unsupported_record_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="HTTPS"):
        encode_response(parse_query(query()), 0, [Record(CANON, 65, 60, (b"",))], max_size=512)


# ------------------------------------------------------------------- peek / with_id_and_case


def test_peek_key_ignores_id_and_case_only() -> None:
    base = peek(edns_query(qid=1))
    assert base is not None and base.id == 1
    same = peek(edns_query(NAME.upper(), qid=2))
    assert same is not None and same.key == base.key and same.id == 2
    assert same.qname_wire == dns.name.from_text(NAME.upper()).to_wire()
    assert same.question_end == 12 + len(same.qname_wire) + 4
    variants = [
        edns_query(rdtype="AAAA"), edns_query(flags=0), edns_query(want_dnssec=True),
        edns_query(payload=4096), query(), query(rdclass="ANY"), edns_query(CANON + "x."),
    ]
    cd = dns.message.make_query(NAME, "A", use_edns=0, payload=1232)
    cd.flags |= dns.flags.CD
    variants.append(cd.to_wire())
    keys = {base.key} | {p.key for p in map(peek, variants) if p is not None}
    assert len(keys) == len(variants) + 1


def test_peek_size_clamped_and_cookie_padding_ignored() -> None:
    base = peek(edns_query(payload=512))
    assert base is not None
    small = peek(edns_query(payload=100))
    assert small is not None and small.key == base.key
    padded = peek(edns_query(payload=512, options=[
        dns.edns.CookieOption(b"clientck", b""), dns.edns.GenericOption(12, bytes(20))]))
    assert padded is not None and padded.key == base.key
    assert base.key.endswith(b"\x05\x02\x00")  # RD | EDNS, 512


@pytest.mark.parametrize("data", [
    edns_query(options=[dns.edns.ECSOption("10.0.0.0", 8)]),
    edns_query(options=[dns.edns.GenericOption(3, b"")]),  # NSID: slow path
    header(ar=2) + QUESTION + opt() + opt(),
    header(ar=1) + QUESTION + opt(ttl=1 << 16),
    header(ar=1) + QUESTION + opt(option(10, b"12345678") + b"\x00"),
    header(ar=1) + QUESTION + opt(owner=b"\x01a\x00"),
    header(flags=0x2000) + QUESTION,
    header() + QUESTION + b"x",
    header() + QNAME + b"\x00\x01\x00\x03",
    header() + QNAME + b"\x00\xfa\x00\x01",
    header() + b"\x03www\xc0\x0c\x00\x01\x00\x01",
], ids=["ecs", "nsid", "two-opts", "version", "opt-stub", "opt-owner", "notify", "trailing",
        "chaos", "tsig", "pointer"])
def test_peek_declines_other_shapes(data: bytes) -> None:
    assert peek(data) is None


@pytest.mark.parametrize("data", [
    query(), edns_query(), edns_query(NAME.upper(), want_dnssec=True, payload=100), query(rdclass="ANY"),
    edns_query(options=[dns.edns.CookieOption(b"clientck", b""), dns.edns.GenericOption(12, bytes(20))]),
    edns_query("a\\.b.x\\032y.test."), edns_query("*.Wild/Card_x.test."), edns_query("\\200.test."),
    edns_query(rdtype="AAAA", flags=0), edns_query("."),
], ids=["plain", "edns", "upper-do-small", "class-any", "cookie-padding", "escapes", "star-slash", "high-byte",
        "aaaa-no-rd", "root"])
def test_query_from_peek_is_what_parse_query_returns(data: bytes) -> None:
    """The miss path builds its query from the peek (the question parsed once): the same query, escapes,
    case, EDNS size and options, RD/CD/DO included."""
    fast = peek(data)
    assert fast is not None
    assert wire.query_from_peek(data, fast) == parse_query(data)


def test_with_id_and_case_equals_a_fresh_encode() -> None:
    first = parse_query(edns_query(CANON, qid=1))
    template = encode_response(first, Rcode.NOERROR, [CNAME, A], max_size=1232)
    mixed = edns_query("mYaCcOuNt.BLOB.core.Windows.NET.", qid=0xF00D)
    p = peek(mixed)
    assert p is not None and p.key == peek(edns_query(CANON)).key  # type: ignore[union-attr]
    reused = with_id = wire.with_id_and_case(template, p)
    assert with_id == encode_response(parse_query(mixed), Rcode.NOERROR, [CNAME, A], max_size=1232)
    reply = parsed(reused)
    assert reply.id == 0xF00D
    assert reply.question[0].name.to_text() == "mYaCcOuNt.BLOB.core.Windows.NET."
    assert same_records(reply.answer, [CNAME, A])


# --------------------------------------------------------------------------- encode_forwarded


def upstream(name: str, records: list[dns.rrset.RRset], rcode: int = dns.rcode.NOERROR,
             authority: list[dns.rrset.RRset] | None = None, **kwargs) -> bytes:
    request = dns.message.make_query(name, "A", **kwargs)
    response = dns.message.make_response(request)
    response.flags |= dns.flags.AA | dns.flags.AD
    response.set_rcode(rcode)
    response.answer = records
    response.authority = authority or []
    response.additional = [dns.rrset.from_text("ns.example.", 60, "IN", "A", "192.0.2.53")]
    return response.to_wire()


def test_forwarded_splice_prefix_and_upstream_answer() -> None:
    q = parse_query(edns_query(qid=99))
    chain = [dns.rrset.from_text(TARGET, 30, "IN", "CNAME", "edge.Example.NET."),
             dns.rrset.from_text("edge.example.net.", 20, "IN", "A", "203.0.113.1", "203.0.113.2")]
    data = encode_forwarded(q, upstream(TARGET, chain, use_edns=0), [CNAME], max_size=1232)
    reply = parsed(data)
    assert reply.id == 99 and reply.question[0].name.to_text() == NAME
    assert header_flags(reply) == dns.flags.QR | dns.flags.RD | dns.flags.RA  # ours: no AA, no AD
    assert flat(reply.answer) == flat(rrsets([CNAME]) + chain)
    assert not reply.authority and not reply.additional and reply.edns == 0


def test_forwarded_nxdomain_keeps_soa_and_all_shapes_survive() -> None:
    q = parse_query(query())
    soa = [dns.rrset.from_text("example.net.", 60, "IN", "SOA", "ns.example.net. h. 1 2 3 4 5")]
    data = encode_forwarded(q, upstream(TARGET, [], dns.rcode.NXDOMAIN, soa), [CNAME], max_size=512)
    reply = parsed(data)
    assert reply.rcode() == dns.rcode.NXDOMAIN and flat(reply.authority) == flat(soa)
    assert flat(reply.answer) == flat(rrsets([CNAME]))
    shapes = [dns.rrset.from_text(TARGET, 60, "IN", t, v) for t, v in [
        ("MX", "5 mx.Example.net."), ("SRV", "1 2 3 srv.example.net."), ("NS", "ns.example.net."),
        ("TXT", '"a" "b"'), ("HTTPS", '1 . alpn="h2"'), ("AAAA", "2001:db8::5"),
        ("PTR", "ptr.example.net."), ("CAA", '0 issue "x"'),
        ("SOA", "a.example.net. b.example.net. 1 2 3 4 5"), ("TYPE65280", "\\# 3 010203")]]
    reply = parsed(encode_forwarded(q, upstream(TARGET, shapes), [], max_size=65535))
    assert flat(reply.answer) == flat(shapes)


@pytest.mark.parametrize("rcode", [dns.rcode.REFUSED, dns.rcode.FORMERR, dns.rcode.SERVFAIL,
                                   dns.rcode.BADVERS])
def test_forwarded_failures_become_servfail(rcode: int) -> None:
    q = parse_query(edns_query())
    data = upstream(TARGET, [], rcode, use_edns=0)
    reply = parsed(encode_forwarded(q, data, [CNAME], max_size=1232))
    assert reply.rcode() == dns.rcode.SERVFAIL and not reply.answer


@pytest.mark.parametrize("data", [
    b"", b"\x00" * 11, query(),  # a query, not a response
    upstream(TARGET, [])[:-3],  # cut short
    upstream(TARGET, []) + b"\x00",  # trailing
    bytes([0, 0, 0x83]) + upstream(TARGET, [])[3:],  # TC=1
], ids=["empty", "short", "query", "cut", "trailing", "truncated"])
def test_forwarded_garbage_raises_servfail_with_reply(data: bytes) -> None:
    q = parse_query(edns_query(qid=5))
    with pytest.raises(WireError) as caught:
        encode_forwarded(q, data, [CNAME], max_size=1232)
    assert caught.value.rcode == Rcode.SERVFAIL and caught.value.reply is not None
    reply = parsed(caught.value.reply)
    assert (reply.id, reply.rcode()) == (5, dns.rcode.SERVFAIL)


def test_forwarded_truncates_to_max_size() -> None:
    many = [dns.rrset.from_text(TARGET, 60, "IN", "A", *[f"10.1.0.{i}" for i in range(60)])]
    q = parse_query(query())
    reply = parsed(encode_forwarded(q, upstream(TARGET, many), [CNAME], max_size=512))
    assert reply.flags & dns.flags.TC and not reply.answer


# --------------------------------------------------------------------------- fuzz

SEEDS = [
    query(), edns_query(want_dnssec=True), edns_query(options=[dns.edns.ECSOption("10.1.2.0", 24)]),
    edns_query(options=[dns.edns.CookieOption(b"clientck", b"")]), EDNS + CAA_BAD_UTF8,
    dns.update.UpdateMessage("example.com.").to_wire(), EDNS + rr(b"\x01a\xc0\x0c", 16, b"\x01z"),
]
FUZZ = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_wire_contract(data: bytes) -> None:
    """Only WireError escapes; peek never disagrees with parse_query; replies parse."""
    fast = peek(data)
    try:
        q = parse_query(data)
    except WireError as exc:
        assert fast is None
        if exc.reply is not None:
            assert exc.reply[:2] == data[:2]
            if data[2] >> 3 & 0xF != dns.opcode.UPDATE:  # dnspython checks UPDATE zones itself
                assert parsed(exc.reply).id == int.from_bytes(data[:2], "big")
        return
    if fast is not None:
        bits = q.rd | q.cd << 1 | (q.edns is not None) << 2 | bool(q.edns and q.edns.do) << 3
        size = q.edns.udp_size if q.edns else 512
        assert fast.key == (q.qname_wire.lower() + struct.pack("!HHBH", q.question.qtype,
                                                               q.question.qclass, bits, size))
        assert wire.query_from_peek(data, fast) == q  # a miss parses its question once, to the same query
    reply = parsed(encode_response(q, Rcode.NOERROR, [A], max_size=512))
    assert reply.id == q.id


@FUZZ
@given(st.binary(max_size=700))
def test_fuzz_random_bytes(data: bytes) -> None:
    check_wire_contract(data)


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)),
                                        max_size=4), st.integers(0, 400))
def test_fuzz_mutated_queries(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(seed)
    for at, value in flips:
        if at < len(data):
            data[at] = value
    check_wire_contract(bytes(data[: max(cut, 12)]) if cut < len(data) else bytes(data))


@FUZZ
@given(st.binary(max_size=300) | st.sampled_from([upstream(TARGET, [])]).map(bytearray).flatmap(
    lambda b: st.tuples(st.integers(0, len(b) - 1), st.integers(0, 255)).map(
        lambda f: bytes(b[: f[0]]) + bytes([f[1]]) + bytes(b[f[0] + 1 :]))))
def test_fuzz_upstream_replies(data: bytes) -> None:
    q = parse_query(edns_query())
    try:
        parsed(encode_forwarded(q, data, [CNAME], max_size=1232))
    except WireError as exc:
        assert exc.rcode == Rcode.SERVFAIL and exc.reply is not None


@pytest.mark.parametrize("qname", [b"\xc0\x04", b"\x03www\xc0\x04"], ids=["pointer", "label then pointer"])
def test_a_question_name_with_a_pointer_is_formerr(qname: bytes) -> None:
    """Nothing precedes a query's question but the header, so a pointer there can only point into it (RFC 1035
    §4.1.4): offset 4 holds QDCOUNT's 0x00, a root label, which would make the name "." or "www."."""
    data = header() + qname + b"\x00\x01\x00\x01"
    with pytest.raises(WireError) as info:
        parse_query(data)
    assert info.value.rcode == Rcode.FORMERR


# --------------------------------------------------------------------------- answers at the question's name

AT_QUESTION = [
    make(CANON, "A", 60, "192.0.2.1"), make(CANON, "A", 60, "192.0.2.2"), make(CANON, "AAAA", 30, "2001:db8::1"),
    make(CANON, "TXT", 60, '"v=spf1 -all" "second string"'), make(CANON, "CAA", 60, '0 issue "ca.example"'),
    make(CANON, "SRV", 60, "0 10 443 target.example."), make(CANON, "DNAME", 60, "elsewhere.example."),
]


@pytest.mark.parametrize("records", [AT_QUESTION[:1], AT_QUESTION[:2], AT_QUESTION[2:3], AT_QUESTION[3:4],
                                     AT_QUESTION[4:5], AT_QUESTION[5:6], AT_QUESTION[6:], [A] * 40],
                         ids=["a", "two-a", "aaaa", "txt", "caa", "srv", "dname", "forty-a"])
@pytest.mark.parametrize("data", [
    query(NAME), edns_query(NAME.upper(), want_dnssec=True), edns_query(NAME, flags=dns.flags.CD),
    edns_query(NAME, options=[dns.edns.ECSOption("10.1.2.0", 24)]), query(NAME, rdtype="AAAA", flags=0),
], ids=["plain", "upper-do", "cd-no-rd", "ecs", "aaaa-no-rd"])
@pytest.mark.parametrize("max_size", [65535, 512, 60])
def test_an_answer_at_the_question_is_the_full_encoders_bytes(records: list[Record], data: bytes,
                                                              max_size: int) -> None:
    """The records at the question's name are assembled from bytes encoded once (owner: a pointer to the
    question), and the message is the full encoder's, byte for byte: case, flags, EDNS, ECS scope, TC."""
    q = parse_query(data)
    if records[0] is A:  # another owner: the full encoder
        records = [Record(q.question.name, r.rtype, r.ttl, r.rdata) for r in records]
    for aa in (False, True):
        fast = encode_response(q, Rcode.NOERROR, records, max_size=max_size, server_udp_size=1232, ecs_scope=16,
                               aa=aa)
        full = wire._encode(q, Rcode.NOERROR, [wire._plan(r) for r in records], [], [], max_size, 1232, 16, aa)
        assert fast == full
        assert parsed(fast).id == q.id


@pytest.mark.parametrize("records", [AT_QUESTION[:2], AT_QUESTION[2:3], AT_QUESTION[3:6], [A]],
                         ids=["two-a", "aaaa", "txt-caa-srv", "one-a"])
@pytest.mark.parametrize("data", [query(NAME), edns_query(NAME.upper(), want_dnssec=True, payload=600),
                                  edns_query(NAME, flags=dns.flags.CD), query(NAME, rdtype="AAAA", flags=0)],
                         ids=["plain", "upper-do-600", "cd-no-rd", "aaaa-no-rd"])
@pytest.mark.parametrize("tcp", [False, True])
def test_an_answer_from_the_bytes_of_the_query_is_the_encoders(records: list[Record], data: bytes,
                                                               tcp: bool) -> None:
    """answer_at_question (no parse) writes what encode_response writes for the parsed query, or declines."""
    fast = peek(data)
    assert fast is not None
    q = parse_query(data)
    records = [Record(q.question.name, r.rtype, r.ttl, r.rdata) for r in records]
    many = records * 30  # over 512 octets: TC over UDP, which answer_at_question leaves to the encoder
    for answer in (records, many):
        got = wire.answer_at_question(data, fast, answer, 1232, tcp)
        max_size = 65535 if tcp else min(q.edns.udp_size, 1232) if q.edns else 512
        expected = encode_response(q, Rcode.NOERROR, answer, max_size=max_size, server_udp_size=1232)
        if got is None:
            assert parsed(expected).flags & dns.flags.TC
        else:
            assert got == expected
    ns = make(q.question.name, "NS", 60, "ns1.example.")
    assert wire.answer_at_question(data, fast, [ns], 1232, tcp) is None  # a name in rdata: the encoder's
