"""The codec at its boundaries, with sizes counted by hand from RFC 1035 §4.1 and RFC 6891 §6.1.2.

A reply's size is the header (12) + the question (qname + 4) + each record; a record
whose owner is the qname is a compression pointer (2) + type, class, TTL, rdlength
(10) + rdata (4 for A); the OPT pseudo-record is root (1) + 10 + its options; an ECS
option is 4 + family, source, scope (4) + the address octets of the source prefix.
So the numbers below are written down, not measured with dnsemu's own encoder, and
dnspython (an independent codec) reads every reply.

Also: the FIRST ECS option of a query is the one used (the wire docstring's promise,
as BIND and Knot do), and CD is echoed in every reply, error replies included.
"""

from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import pytest

from dnsemu.dns.records import Rcode, make
from dnsemu.dns.wire import WireError, encode_response, parse_query

QNAME = "example.com."  # 13 octets on the wire
HEADER, QUESTION, A_RR, OPT_RR = 12, 13 + 4, 2 + 10 + 4, 1 + 10


def a_records(n: int) -> list:
    return [make(QNAME, "A", 60, f"192.0.2.{i + 1}") for i in range(n)]


def query(*, payload: int | None = None, options: list | None = None, flags: int = dns.flags.RD) -> bytes:
    if payload is None:
        message = dns.message.make_query(QNAME, "A", use_edns=False)
    else:
        message = dns.message.make_query(QNAME, "A", use_edns=0, payload=payload, options=options or [])
    message.flags = flags
    return message.to_wire()


def size_without_edns(n: int) -> int:
    return HEADER + QUESTION + n * A_RR


# --------------------------------------------------------------------------- truncation exactly at the limit


@pytest.mark.parametrize("n", [1, 20, 30])
def test_a_reply_of_exactly_max_size_is_sent_whole(n: int) -> None:
    q = parse_query(query())
    limit = size_without_edns(n)
    data = encode_response(q, Rcode.NOERROR, a_records(n), max_size=limit)
    assert len(data) == limit
    reply = dns.message.from_wire(data)
    assert not reply.flags & dns.flags.TC and len(reply.answer[0]) == n


@pytest.mark.parametrize("n", [1, 20, 30])
def test_one_octet_less_truncates(n: int) -> None:
    q = parse_query(query())
    data = encode_response(q, Rcode.NOERROR, a_records(n), max_size=size_without_edns(n) - 1)
    reply = dns.message.from_wire(data)
    assert reply.flags & dns.flags.TC
    assert (reply.answer, reply.authority, reply.additional) == ([], [], [])
    assert len(data) == HEADER + QUESTION  # header and question only (RFC 2181 §9 / RFC 1035 §4.2.1)


def test_the_opt_record_counts_toward_the_limit() -> None:
    """The answer alone fits the client's 520 octets; with the OPT (11) it does not: TC, never 531 octets."""
    n = 30
    q = parse_query(query(payload=4096))
    assert size_without_edns(n) + OPT_RR == 520
    whole = encode_response(q, Rcode.NOERROR, a_records(n), max_size=520)
    assert len(whole) == 520 and not dns.message.from_wire(whole).flags & dns.flags.TC
    cut = encode_response(q, Rcode.NOERROR, a_records(n), max_size=519)
    reply = dns.message.from_wire(cut)
    assert reply.flags & dns.flags.TC and reply.answer == [] and reply.edns == 0  # the OPT stays (RFC 6891 §7)
    assert len(cut) == HEADER + QUESTION + OPT_RR


def test_the_ecs_option_counts_toward_the_limit_too() -> None:
    n = 30
    ecs_opt = 4 + 4 + 3  # 192.0.2.0/24: three address octets
    limit = size_without_edns(n) + OPT_RR + ecs_opt
    q = parse_query(query(payload=4096, options=[dns.edns.ECSOption("192.0.2.0", 24)]))
    whole = encode_response(q, Rcode.NOERROR, a_records(n), max_size=limit, ecs_scope=24)
    assert len(whole) == limit and not dns.message.from_wire(whole).flags & dns.flags.TC
    cut = encode_response(q, Rcode.NOERROR, a_records(n), max_size=limit - 1, ecs_scope=24)
    reply = dns.message.from_wire(cut)
    assert reply.flags & dns.flags.TC and len(cut) == HEADER + QUESTION + OPT_RR + ecs_opt
    assert reply.options[0].scopelen == 24


def test_additional_records_dropped_exactly_at_the_limit() -> None:
    """RFC 2181 §9: when only the additional section does not fit, it goes, without TC; the boundary included."""
    q = parse_query(query(payload=4096))
    extra = [make("ns.example.com.", "A", 60, "192.0.2.200")]
    limit = size_without_edns(2) + OPT_RR
    data = encode_response(q, Rcode.NOERROR, a_records(2), additional=extra, max_size=limit)
    reply = dns.message.from_wire(data)
    assert len(data) == limit and not reply.flags & dns.flags.TC
    assert len(reply.answer[0]) == 2 and reply.additional == [] and reply.edns == 0
    cut = dns.message.from_wire(encode_response(q, Rcode.NOERROR, a_records(2), additional=extra, max_size=limit - 1))
    assert cut.flags & dns.flags.TC and cut.answer == []


# --------------------------------------------------------------------------- the first ECS option


def two_ecs(first: dns.edns.ECSOption, second: dns.edns.ECSOption) -> bytes:
    return query(payload=1232, options=[first, second])


def test_the_first_ecs_option_is_the_one_used() -> None:
    q = parse_query(two_ecs(dns.edns.ECSOption("10.0.2.0", 24), dns.edns.ECSOption("10.3.0.4", 32)))
    assert q.edns is not None and q.edns.ecs is not None
    assert (q.edns.ecs.family, q.edns.ecs.source_prefix, q.edns.ecs.address) == (1, 24, "10.0.2.0")
    reply = dns.message.from_wire(encode_response(q, Rcode.NOERROR, a_records(1), max_size=1232, ecs_scope=16))
    assert [(o.address, o.srclen, o.scopelen) for o in reply.options] == [("10.0.2.0", 24, 16)]


def test_a_malformed_first_ecs_is_formerr_even_with_a_good_second() -> None:
    bad = dns.edns.GenericOption(8, struct.pack("!HBB", 1, 24, 5) + bytes(3))  # scope 5 in a query
    data = query(payload=1232, options=[bad, dns.edns.ECSOption("10.3.0.4", 32)])
    with pytest.raises(WireError) as info:
        parse_query(data)
    assert info.value.rcode == Rcode.FORMERR


def test_a_malformed_second_ecs_is_ignored() -> None:
    bad = dns.edns.GenericOption(8, struct.pack("!HBB", 9, 24, 0))
    q = parse_query(query(payload=1232, options=[dns.edns.ECSOption("10.3.0.4", 32), bad]))
    assert q.edns is not None and q.edns.ecs is not None and q.edns.ecs.address == "10.3.0.4"


# --------------------------------------------------------------------------- CD echoed in error replies


def error_reply(data: bytes) -> dns.message.Message:
    with pytest.raises(WireError) as info:
        parse_query(data)
    assert info.value.reply is not None
    return dns.message.from_wire(info.value.reply)


def edited(data: bytes, **fields: int) -> bytes:
    """A query with header fields replaced: flags, qdcount, or the class of the (only) question."""
    out = bytearray(data)
    if "flags" in fields:
        struct.pack_into("!H", out, 2, fields["flags"])
    if "qdcount" in fields:
        struct.pack_into("!H", out, 4, fields["qdcount"])
    if "qclass" in fields:
        struct.pack_into("!H", out, HEADER + 13 + 2, fields["qclass"])
    return bytes(out)


ERRORS = {
    "FORMERR (no question)": (lambda d, f: edited(d, flags=f, qdcount=0)[:HEADER], dns.rcode.FORMERR),
    "NOTIMP (opcode STATUS)": (lambda d, f: edited(d, flags=f | dns.opcode.to_flags(dns.opcode.STATUS)),
                               dns.rcode.NOTIMP),
    "REFUSED (class CH)": (lambda d, f: edited(d, flags=f, qclass=dns.rdataclass.CH), dns.rcode.REFUSED),
}


@pytest.mark.parametrize("cd", [True, False], ids=["CD=1", "CD=0"])
@pytest.mark.parametrize("error", sorted(ERRORS))
def test_error_replies_echo_cd_and_rd(error: str, cd: bool) -> None:
    build, rcode = ERRORS[error]
    flags = dns.flags.RD | (dns.flags.CD if cd else 0)
    reply = error_reply(build(query(), flags))
    assert reply.rcode() == rcode
    assert bool(reply.flags & dns.flags.CD) is cd
    assert reply.flags & dns.flags.QR and reply.flags & dns.flags.RD and reply.flags & dns.flags.RA
    assert not reply.flags & dns.flags.AA


@pytest.mark.parametrize("cd", [True, False], ids=["CD=1", "CD=0"])
def test_badvers_echoes_cd(cd: bool) -> None:
    message = dns.message.make_query(QNAME, "A", use_edns=1, payload=1232)
    message.flags = dns.flags.RD | (dns.flags.CD if cd else 0)
    reply = error_reply(message.to_wire())
    assert reply.rcode() == dns.rcode.BADVERS
    assert bool(reply.flags & dns.flags.CD) is cd


@pytest.mark.parametrize("cd", [True, False], ids=["CD=1", "CD=0"])
def test_answers_echo_cd(cd: bool) -> None:
    q = parse_query(query(flags=dns.flags.RD | (dns.flags.CD if cd else 0)))
    reply = dns.message.from_wire(encode_response(q, Rcode.SERVFAIL, max_size=512))
    assert bool(reply.flags & dns.flags.CD) is cd and reply.rcode() == dns.rcode.SERVFAIL


# --------------------------------------------------------------------------- records a query may not carry


def with_additional(*records: bytes) -> bytes:
    """A query for example.com A with ``records`` in its additional section (built by hand)."""
    head = struct.pack("!6H", 0x0BAD, 0x0100, 1, 0, 0, len(records))
    return head + b"\x07example\x03com\x00\x00\x01\x00\x01" + b"".join(records)


def rr(owner: bytes, rtype: int, rdata: bytes) -> bytes:
    return owner + struct.pack("!HHIH", rtype, 1 if rtype != 250 else 255, 0, len(rdata)) + rdata


def tsig_rdata(mac: bytes = b"\x00" * 16, *, mac_size: int | None = None, other: bytes = b"",
               other_len: int | None = None) -> bytes:
    """RFC 8945 §4.2: algorithm, time signed (48 bits), fudge, MAC size, MAC, original ID, error, other len, other."""
    algorithm = b"\x0bhmac-sha256\x00"
    size = len(mac) if mac_size is None else mac_size
    length = len(other) if other_len is None else other_len
    return (algorithm + bytes(6) + struct.pack("!HH", 300, size) + mac + struct.pack("!HHH", 0x0BAD, 0, length)
            + other)


TSIG = 250
MALFORMED_EXTRAS = {
    "owner ends in half a compression pointer": (b"\xc0",),
    "TSIG not the last record (RFC 8945 §5.1)": (rr(b"\x00", TSIG, tsig_rdata()), rr(b"\x00", 16, b"\x01x")),
    "NS rdata shorter than its name": (rr(b"\x00", 2, b""),),
    "MX rdata longer than its name": (rr(b"\x00", 15, b"\x00\x0a\x00" + b"\x00"),),
    "TSIG cut before its MAC size": (rr(b"\x00", TSIG, tsig_rdata()[:18]),),
    "TSIG MAC longer than the rdata": (rr(b"\x00", TSIG, tsig_rdata(mac_size=200)),),
    "TSIG other data not matching its length": (rr(b"\x00", TSIG, tsig_rdata(other=b"ab", other_len=5)),),
}
REASONS = {  # what each is, in the words dnsemu logs (the reason of the FORMERR)
    "owner ends in half a compression pointer": "truncated compression pointer",
    "TSIG not the last record (RFC 8945 §5.1)": "TSIG is not the last record (RFC 8945 §5.1)",
    "NS rdata shorter than its name": "NS rdata ends before its names",
    "MX rdata longer than its name": "MX rdata does not match its length",
    "TSIG cut before its MAC size": "TSIG rdata cut short",
    "TSIG MAC longer than the rdata": "TSIG rdata cut short",
    "TSIG other data not matching its length": "TSIG rdata does not match its length",
}


@pytest.mark.parametrize("extra", sorted(MALFORMED_EXTRAS))
def test_malformed_additional_records_are_formerr_with_the_question(extra: str) -> None:
    data = with_additional(*MALFORMED_EXTRAS[extra])
    with pytest.raises(WireError) as info:
        parse_query(data)
    assert info.value.reason == REASONS[extra]
    reply = error_reply(data)
    assert reply.rcode() == dns.rcode.FORMERR and reply.id == 0x0BAD
    assert str(reply.question[0].name) == "example.com."


def test_a_well_formed_tsig_is_notauth_without_a_tsig_in_the_reply() -> None:
    """RFC 8945 §5.2.1: a key we do not have is BADKEY, NOTAUTH in the header; we have no keys, so no TSIG back."""
    reply = error_reply(with_additional(rr(b"\x00", TSIG, tsig_rdata())))
    assert reply.rcode() == dns.rcode.NOTAUTH and reply.additional == [] and reply.tsig is None


# --------------------------------------------------------------------------- big replies and upstream replies


def test_names_past_16_kib_are_written_whole_and_read_back() -> None:
    """Compression pointers have 14 bits (RFC 1035 §4.1.4): names after offset 16383 cannot be targets."""
    q = parse_query(query())
    records = [make(f"host{i}.example.com.", "A", 60, f"192.0.2.{i % 250 + 1}") for i in range(800)]
    data = encode_response(q, Rcode.NOERROR, records, max_size=65535)
    assert len(data) > 0x4000
    reply = dns.message.from_wire(data)
    names = [str(r.name) for r in reply.answer]
    assert names == [f"host{i}.example.com." for i in range(800)]


def upstream_reply(answer: bytes, count: int = 1) -> bytes:
    head = struct.pack("!6H", 0x0BAD, 0x8180, 1, count, 0, 0)
    return head + b"\x07example\x03com\x00\x00\x01\x00\x01" + answer


UNUSABLE = {
    "a record header cut short": b"\xc0\x0c\x00\x01\x00",
    "an A record of five octets": b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 5) + b"\x01\x02\x03\x04\x05",
    "an OPT record in the answer": b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0),
    "an MX whose name ends before its rdata": b"\xc0\x0c" + struct.pack("!HHIH", 15, 1, 60, 6) + b"\x00\x0a\xc0\x0c"
    + b"\x00\x00",
}


@pytest.mark.parametrize("what", sorted(UNUSABLE))
def test_an_unusable_upstream_reply_is_servfail(what: str) -> None:
    from dnsemu.dns.wire import encode_forwarded

    answer = UNUSABLE[what]
    q = parse_query(query())
    with pytest.raises(WireError) as info:
        encode_forwarded(q, upstream_reply(answer), [], max_size=512)
    assert info.value.rcode == Rcode.SERVFAIL, what
    reply = dns.message.from_wire(info.value.reply or b"")
    assert reply.rcode() == dns.rcode.SERVFAIL and reply.answer == []


def test_an_upstream_reply_with_a_pointer_past_offset_255_is_read_whole() -> None:
    """RFC 1035 §4.1.4: a pointer's offset has 14 bits, so a name compressed onto one past octet 255 is read
    from there. The reply is built by hand: a 300-octet TXT, then ``a.far.test`` (first written past 255),
    then ``b.a.far.test`` whose suffix is a pointer to it."""
    from dnsemu.dns.wire import encode_forwarded

    txt = b"\xff" + b"t" * 255 + b"\x2c" + b"u" * 44  # two strings: 256 + 45 octets
    first = b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 60, len(txt)) + txt
    # header 12, question 17 (13 + 4), so the second record's owner starts at 29 + len(first)
    far = 12 + 17 + len(first)
    assert far > 255
    second = b"\x01a\x03far\x04test\x00" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 8])
    third = b"\x01b" + struct.pack("!H", 0xC000 | far) + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 9])
    reply = encode_forwarded(parse_query(query(payload=4096)), upstream_reply(first + second + third, 3), [],
                             max_size=4096)
    message = dns.message.from_wire(reply)
    assert [(str(r.name), r.ttl, r[0].to_text()) for r in message.answer[1:]] == [
        ("a.far.test.", 60, "192.0.2.8"),
        ("b.a.far.test.", 60, "192.0.2.9"),
    ]


@pytest.mark.parametrize(("family_address", "prefix", "asked", "scope"), [
    ("192.0.2.0", 24, 0, 0),     # RFC 7871 §7.2.1: scope 0, the answer fits every address (not raised to 1)
    ("192.0.2.0", 24, 40, 32),   # capped at the family's 32 bits
    ("2001:db8::", 48, 200, 128),  # and at 128 for IPv6
    ("192.0.2.0", 24, -3, 0),    # never below 0
])
def test_the_ecs_scope_in_the_reply_is_the_servers_within_the_family(
    family_address: str, prefix: int, asked: int, scope: int,
) -> None:
    q = parse_query(query(payload=1232, options=[dns.edns.ECSOption(family_address, prefix)]))
    reply = dns.message.from_wire(encode_response(q, Rcode.NOERROR, a_records(1), max_size=1232, ecs_scope=asked))
    (option,) = reply.options
    assert isinstance(option, dns.edns.ECSOption)
    assert (option.address, option.srclen, option.scopelen) == (family_address, prefix, scope)
