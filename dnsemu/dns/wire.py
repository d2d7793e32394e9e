"""DNS wire format: bytes in, questions out; core results in, bytes out.

The only module of dnsemu that imports dnslib, and it uses it for one thing:
``DNSRecord.parse`` checks the rdata of extra records a query carries (TSIG,
stray RRs in the additional section). Everything on the hot path is our own:

* :func:`parse_query` validates a query the way BIND and Knot do (RFC 1035,
  6891, 7871) and raises :class:`WireError` carrying a ready-made error reply;
* :func:`encode_response` writes a reply with ``struct`` and name compression;
* :func:`peek` and :func:`with_id_and_case` are the cache fast path, with
  :func:`query_from_peek` to turn a peeked miss into the parsed query without a second walk,
  :func:`question_of`, :func:`longest_suffix` and :func:`plain_name` to read a
  peeked query without parsing it, and :class:`NegativeAnswer` to answer NXDOMAIN
  from a template;
* :func:`reply_rcode`, :func:`is_truncated` and :func:`answer_count` read a reply's
  header, :func:`servfail_from_header` answers a header when nothing else can;
* :func:`encode_forwarded` splices an upstream reply behind our CNAME chain.

Choices where BIND and Knot differ:

* qclass IN and ANY are answered, any other is REFUSED (Knot; CHAOS not served).
* QTYPE OPT/TSIG/TKEY: FORMERR, MAILA/MAILB: NOTIMP (BIND; Knot answers them);
  QTYPE 0: NOTIMP (Knot; BIND answers it).
* No compression pointer in the question name (Knot; BIND follows it).
* ANCOUNT/NSCOUNT in a query: FORMERR (as NSD; IXFR may carry NSCOUNT).
* ECS family 0: FORMERR (Knot; BIND accepts it with prefix 0); ECS scope != 0
  in a query: FORMERR (BIND; Knot zeroes it); a second ECS is ignored (both).
* COOKIE is not implemented, so ignored (Knot without its module); a
  cookie-only QDCOUNT=0 query is FORMERR (Knot; BIND answers with a cookie).
* CD is echoed (BIND, Knot Resolver; the Knot authoritative server clears it).
* Opcodes other than QUERY: NOTIMP (Knot Resolver; BIND: per opcode).
* AXFR/IXFR: REFUSED (BIND without allow-transfer; Knot answers NOTIMP/NOTAUTH).
* Rdata of known shape in a query must fill its length (A, AAAA, names in NS,
  CNAME, SOA, MX, DNAME…), as Knot checks; a malformed TSIG is FORMERR, a
  well-formed one NOTAUTH (no keys; RFC 8945 §5.2.1), without a TSIG in the reply.
* If only the additional section does not fit, it is dropped without TC
  (RFC 2181 §9, both); otherwise TC=1 with all three sections empty.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from dnslib import DNSRecord

from dnsemu.dns import names
from dnsemu.dns.records import Question, Rcode, Record, RRType, type_name

__all__ = ["DEFAULT_UDP_SIZE", "QTYPE_RCODES", "ClientSubnet", "Edns", "NegativeAnswer", "Peek", "Query", "WireError",
           "answer_at_question", "answer_count", "answer_parts", "bare_question",
           "encode_forwarded", "encode_response", "is_truncated", "longest_suffix", "parse_query",
           "peek", "peek_bare", "plain_name", "query_from_peek", "question_of", "records_at_question",
           "reply_limit", "reply_rcode",
           "servfail_from_header",
           "with_id_and_case"]

DEFAULT_UDP_SIZE = 1232  # the DNS Flag Day 2020 payload size; used in error replies

_T = TypeVar("_T")

_HEADER = struct.Struct("!HHHHHH")
_U16 = struct.Struct("!H")
_QTAIL = struct.Struct("!HH")
_RR_FIXED = struct.Struct("!HHIH")  # type, class, TTL, rdlength
_RR_HEAD = struct.Struct("!HHI")
_OPT_FIXED = struct.Struct("!BHHBBHH")  # owner, type, size, ext rcode, version, flags, rdlen
_KEY_TAIL = struct.Struct("!BH")

_QR, _OPCODE, _AA, _TC, _RD, _RA, _CD = 0x8000, 0x7800, 0x0400, 0x0200, 0x0100, 0x0080, 0x0010
_DO = 0x8000
_CLASS_IN, _CLASS_ANY = 1, 255
_OPT, _IXFR, _TSIG = int(RRType.OPT), int(RRType.IXFR), 250
_ECS = 8
#: query types answered with an error rcode, never looked up (meta and unassigned ones; see the choices above)
QTYPE_RCODES = _QTYPE_RCODES = {0: Rcode.NOTIMP, 41: Rcode.FORMERR, 249: Rcode.FORMERR, 250: Rcode.FORMERR,
                                251: Rcode.REFUSED, 252: Rcode.REFUSED, 253: Rcode.NOTIMP, 254: Rcode.NOTIMP}
_ASCII_ONLY = bytes(range(128)) + b"x" * 128  # for dnslib, which rejects non-UTF-8 labels
_TEXT_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*/")


# --------------------------------------------------------------------------- values


class WireError(Exception):
    """A message we will not answer normally; ``reply`` is what to send.

    ``reply`` is None (drop silently) for less than a header and for responses.
    """

    def __init__(self, rcode: int, reason: str, reply: bytes | None = None) -> None:
        self.rcode = Rcode(rcode)
        self.reason = reason
        self.reply = reply
        super().__init__(f"{self.rcode.name}: {reason}")


@dataclass(frozen=True, slots=True)
class ClientSubnet:
    """RFC 7871 ECS: ``address`` as text, already masked to ``source_prefix``."""

    family: int
    source_prefix: int
    scope_prefix: int
    address: str


@dataclass(frozen=True, slots=True)
class Edns:
    """The query's OPT record; ``udp_size`` below 512 reads as 512 (RFC 6891 §6.2.5)."""

    udp_size: int
    version: int
    do: bool
    options: tuple[tuple[int, bytes], ...]
    ecs: ClientSubnet | None


@dataclass(frozen=True, slots=True)
class Query:
    id: int
    opcode: int
    rd: bool
    cd: bool
    question: Question  # canonical (lower case)
    qname_wire: bytes  # as received: original case, uncompressed labels + root 0
    edns: Edns | None

    @property
    def qname_text(self) -> str:
        """Presentation form in the client's case, for logs (computed when asked: the hot path never is)."""
        return _text(_labels(self.qname_wire))


@dataclass(frozen=True, slots=True)
class Peek:
    """What the cache needs from a query of the common shape.

    ``key`` covers everything in the reply that depends on the query except the
    ID and the qname's case: qname (lower case), qtype, qclass, RD, CD, EDNS, DO
    and the UDP size. It does not cover the transport or the client's view; a
    cache must add those itself.
    """

    id: int
    key: bytes
    qname_wire: bytes
    question_end: int

    @property
    def qname_key(self) -> bytes:
        """The qname in lower case, uncompressed wire form (the start of ``key``)."""
        return self.key[: len(self.qname_wire)]


class _Malformed(Exception):
    """Internal: the bytes do not parse; the message is the reason."""


# --------------------------------------------------------------------------- reading


def _read_name(data: bytes, pos: int, pointers: bool = True) -> tuple[int, bytes]:
    """(position after the name, the name uncompressed) for the name at ``pos``.

    A pointer must point before the start of the labels that led to it (as in
    BIND), which rules out loops and forward pointers, and past the header.
    """
    n = len(data)
    segment, end, size, parts = pos, 0, 1, []
    while True:
        if pos >= n:
            raise _Malformed("name runs past the end of the message")
        length = data[pos]
        if length == 0:
            parts.append(b"\x00")
            return (end or pos + 1), b"".join(parts)
        if length < 64:
            size += length + 1
            if size > 255:
                raise _Malformed("name longer than 255 octets")
            if pos + length >= n:
                raise _Malformed("label runs past the end of the message")
            parts.append(data[pos : pos + length + 1])
            pos += length + 1
        elif length < 0xC0:
            raise _Malformed(f"label length {length} (over 63, or an obsolete label type)")
        elif not pointers:
            raise _Malformed("compression pointer in the question name")
        else:
            if pos + 1 >= n:
                raise _Malformed("truncated compression pointer")
            target = (length & 0x3F) << 8 | data[pos + 1]
            if target < 12 or target >= segment:
                raise _Malformed("compression pointer that does not point backwards (loop)")
            end = end or pos + 2
            segment = pos = target


def _labels(wire: bytes) -> list[bytes]:
    out, i = [], 0
    while wire[i]:
        out.append(wire[i + 1 : i + 1 + wire[i]])
        i += wire[i] + 1
    return out


def _escape(label: bytes) -> str:
    if _TEXT_SAFE.issuperset(label):
        return label.decode("ascii")
    return "".join(
        chr(b) if b in _TEXT_SAFE else "\\." if b == 0x2E else "\\\\" if b == 0x5C else f"\\{b:03d}"
        for b in label
    )


def _text(labels: list[bytes]) -> str:
    """Presentation form keeping case: ``\\.``, ``\\\\`` and ``\\DDD`` escapes."""
    return ".".join(_escape(label) for label in labels) + "." if labels else "."


_Opt = tuple[int, int, tuple[tuple[int, bytes], ...]]  # UDP size, TTL, options
_Walk = tuple[int, _Opt | None, bool, bool]  # end, the OPT record, whether there were others, a TSIG


def _read_records(data: bytes, pos: int, an: int, ns: int, ar: int) -> _Walk:
    """Walk resource records, checking framing and where the OPT may be."""
    n, others, tsig = len(data), False, False
    opt: _Opt | None = None
    for index in range(an + ns + ar):
        pos, owner = _read_name(data, pos)
        if pos + 10 > n:
            raise _Malformed("record header runs past the end of the message")
        rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, pos)
        pos += 10
        if pos + rdlen > n:
            raise _Malformed("rdata runs past the end of the message")
        if rtype == _OPT:
            if index < an + ns:
                raise _Malformed("OPT record outside the additional section")
            if opt is not None:
                raise _Malformed("more than one OPT record")
            if owner != b"\x00":
                raise _Malformed("OPT record not owned by the root")
            opt = (rclass, ttl, _read_options(data[pos : pos + rdlen]))
        else:
            others = True
            _check_rdata(data, pos, rtype, rdlen)
            if rtype == _TSIG:
                if index != an + ns + ar - 1:
                    raise _Malformed("TSIG is not the last record (RFC 8945 §5.1)")
                tsig = True
        pos += rdlen
    return pos, opt, others, tsig


def _check_rdata(data: bytes, pos: int, rtype: int, rdlen: int) -> None:
    """Rdata whose shape is known must fill its length exactly (Knot's checks; dnslib is lenient)."""
    if _FIXED_RDLEN.get(rtype, rdlen) != rdlen:
        raise _Malformed(f"{type_name(rtype)} rdata of {rdlen} octets")
    end = pos + rdlen
    layout = _NAME_LAYOUTS.get(rtype)
    if layout is not None:
        before, count, after = layout
        p = pos + before
        for _ in range(count):
            if p >= end:
                raise _Malformed(f"{type_name(rtype)} rdata ends before its names")
            p, _name = _read_name(data, p)
        if p + after != end:
            raise _Malformed(f"{type_name(rtype)} rdata does not match its length")
    elif rtype == _TSIG:
        p, _name = _read_name(data, pos, pointers=False)  # the algorithm name
        if p + 10 > end:
            raise _Malformed("TSIG rdata cut short")
        (mac_size,) = _U16.unpack_from(data, p + 8)
        p += 10 + mac_size
        if p + 6 > end:
            raise _Malformed("TSIG rdata cut short")
        (other,) = _U16.unpack_from(data, p + 4)
        if p + 6 + other != end:
            raise _Malformed("TSIG rdata does not match its length")


def _read_options(rdata: bytes) -> tuple[tuple[int, bytes], ...]:
    out, i, n = [], 0, len(rdata)
    while i < n:
        if i + 4 > n:
            raise _Malformed("truncated EDNS option header")
        code, length = _QTAIL.unpack_from(rdata, i)
        if i + 4 + length > n:
            raise _Malformed(f"EDNS option {code} runs past the OPT record")
        out.append((code, rdata[i + 4 : i + 4 + length]))
        i += 4 + length
    return tuple(out)


def _client_subnet(data: bytes) -> ClientSubnet:
    """RFC 7871 §6 checks, like BIND's ``process_ecs`` (family 0 refused as Knot does)."""
    if len(data) < 4:
        raise _Malformed("ECS option shorter than 4 octets")
    family, source, scope = struct.unpack_from("!HBB", data)
    if family not in (1, 2):
        raise _Malformed(f"ECS family {family} is neither IPv4 (1) nor IPv6 (2)")
    width = 32 if family == 1 else 128
    if source > width:
        raise _Malformed(f"ECS source prefix /{source} is longer than /{width}")
    if scope:
        raise _Malformed("ECS scope prefix must be 0 in a query")
    address = data[4:]
    if len(address) != (source + 7) // 8:
        raise _Malformed(f"ECS address of {len(address)} octets for prefix /{source}")
    if source % 8 and address[-1] & (0xFF >> (source % 8)):
        raise _Malformed("ECS address has bits set past the source prefix")
    family_af = socket.AF_INET if family == 1 else socket.AF_INET6
    text = socket.inet_ntop(family_af, address + bytes(width // 8 - len(address)))
    return ClientSubnet(family, source, 0, text)


def parse_query(data: bytes) -> Query:
    """Validate a query and return it; :class:`WireError` (with its reply) otherwise.

    Checks run in the order BIND and Knot run them: framing (FORMERR), EDNS
    version (BADVERS), ECS (FORMERR), opcode (NOTIMP), section counts (FORMERR),
    class (REFUSED) and meta qtypes.
    """
    if len(data) < 12:
        raise WireError(Rcode.FORMERR, "message shorter than a DNS header")
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if flags & _QR:
        raise WireError(Rcode.FORMERR, "message is a response (QR=1), never answered")
    opcode = flags >> 11 & 0xF
    question, qname = b"", b""

    def fail(rcode: int, reason: str, do: bool | None = None) -> WireError:
        return WireError(rcode, reason, _bare_reply(ident, flags, rcode, question, do))

    try:
        pos = 12
        for _ in range(qdcount):
            start = pos
            pos, name = _read_name(data, pos, pointers=False)
            if pos + 4 > len(data):
                raise _Malformed("question runs past the end of the message")
            pos += 4
            if qdcount == 1:
                question, qname = data[start:pos], name
        pos, opt, others, tsig = _read_records(data, pos, ancount, nscount, arcount)
        if pos != len(data):
            raise _Malformed(f"{len(data) - pos} octets of trailing garbage")
        if tsig:
            raise fail(Rcode.NOTAUTH, "TSIG-signed query: dnsemu has no keys (RFC 8945 §5.2.1, BADKEY)")
        if others and opcode == 0:
            safe = data[:12] + qname.translate(_ASCII_ONLY) + data[12 + len(qname) :]
            try:  # dnslib raises more than DNSError (UnicodeDecodeError in CAA, ...)
                DNSRecord.parse(safe)
            except Exception as exc:  # any failure is the packet's fault
                raise _Malformed(f"unparsable record: {type(exc).__name__}: {exc}") from None
    except _Malformed as exc:
        raise fail(Rcode.FORMERR, str(exc)) from None

    edns, do = None, None
    if opt is not None:
        udp_size, ttl, options = opt
        do, version = bool(ttl & _DO), ttl >> 16 & 0xFF
        if version != 0:
            raise fail(Rcode.BADVERS, f"EDNS version {version} (only 0 is supported)", do)
        ecs = None
        for code, value in options:
            if code == _ECS:
                try:
                    ecs = _client_subnet(value)
                except _Malformed as exc:
                    raise fail(Rcode.FORMERR, str(exc), do) from None
                break  # BIND and Knot both use the first ECS option only
        edns = Edns(max(udp_size, 512), 0, do, options, ecs)

    if opcode != 0:
        raise fail(Rcode.NOTIMP, f"opcode {opcode} is not QUERY", do)
    if qdcount != 1:
        raise fail(Rcode.FORMERR, f"QDCOUNT is {qdcount}, not 1", do)
    qtype, qclass = _QTAIL.unpack_from(question, len(question) - 4)
    if ancount or (nscount and qtype != _IXFR):
        raise fail(Rcode.FORMERR, "records in the answer or authority section of a query", do)
    if qclass not in (_CLASS_IN, _CLASS_ANY):
        raise fail(Rcode.REFUSED, f"class {qclass} is not served (only IN)", do)
    if qtype in _QTYPE_RCODES:
        raise fail(_QTYPE_RCODES[qtype], f"{type_name(qtype)} cannot be asked for", do)
    return Query(
        ident, opcode, bool(flags & _RD), bool(flags & _CD),
        Question(names.from_labels(_labels(qname)), qtype, qclass), qname, edns,
    )


# --------------------------------------------------------------------------- cache fast path

_new = object.__new__  # hot-path bindings: each saves a global plus an attribute lookup
_unpack_hh, _unpack_opt, _pack_tail = _QTAIL.unpack_from, _OPT_FIXED.unpack_from, _KEY_TAIL.pack
_set_id, _set_key = Peek.id.__set__, Peek.key.__set__  # type: ignore[attr-defined]
_set_qname, _set_end = Peek.qname_wire.__set__, Peek.question_end.__set__  # type: ignore[attr-defined]
_set_qn, _set_qt, _set_qc = Question.name.__set__, Question.qtype.__set__, Question.qclass.__set__  # type: ignore[attr-defined]
_set_qid, _set_op, _set_rd, _set_cd = (Query.id.__set__, Query.opcode.__set__,  # type: ignore[attr-defined]
                                       Query.rd.__set__, Query.cd.__set__)  # type: ignore[attr-defined]
_set_question, _set_wire, _set_edns = (Query.question.__set__, Query.qname_wire.__set__,  # type: ignore[attr-defined]
                                       Query.edns.__set__)  # type: ignore[attr-defined]


def peek(data: bytes) -> Peek | None:
    """The cache key of a query of the common shape, or None (take the slow path).

    Accepted: QR=0, opcode QUERY, QD=1, AN=NS=0, an uncompressed qname, class
    IN or ANY, no meta qtype, and AR=0 or one root OPT of version 0 whose
    options are only COOKIE or PADDING, with nothing after it. Whatever peek
    accepts, :func:`parse_query` accepts too.
    """
    n = len(data)
    if n < 17 or data[2] & 0xF8 or data[4:11] != b"\x00\x01\x00\x00\x00\x00\x00":
        return None
    pos = 12
    length = data[12]
    try:
        while length:  # walk the qname: plain labels only
            if length > 63:
                return None
            pos += length + 1
            length = data[pos]
    except IndexError:
        return None
    pos += 1
    question_end = pos + 4
    if pos > 267 or question_end > n:
        return None
    qtype, qclass = _unpack_hh(data, pos)
    if (qclass != 1 and qclass != 255) or qtype in _QTYPE_RCODES:
        return None
    bits = (data[2] & 1) | (data[3] & 0x10) >> 3  # RD=1, CD=2, EDNS=4, DO=8
    if data[11] == 0:
        if question_end != n:
            return None
        size = 512
    elif data[11] == 1 and question_end + 11 <= n:
        owner, rtype, size, _, version, zflags, rdlen = _unpack_opt(data, question_end)
        i = question_end + 11
        if owner or rtype != 41 or version or i + rdlen != n:
            return None
        while i < n:  # only options that cannot change the answer
            if i + 4 > n:
                return None
            code, length = _unpack_hh(data, i)
            if code != 10 and code != 12:  # COOKIE, PADDING
                return None
            i += 4 + length
        if i != n:
            return None
        bits |= 12 if zflags & 0x8000 else 4  # DO
        if size < 512:
            size = 512
    else:
        return None
    qname = data[12:pos]
    result = _new(Peek)  # the frozen dataclass __init__ costs 0.35 µs, slot setters do not
    _set_id(result, data[0] << 8 | data[1])
    _set_key(result, qname.lower() + data[pos:question_end] + _pack_tail(bits, size))
    _set_qname(result, qname)
    _set_end(result, question_end)
    return result


#: header octets 4-10 of a query of the common shape: QD=1, AN=0, NS=0, and AR < 256
_ONE_QUESTION = b"\x00\x01\x00\x00\x00\x00\x00"


def bare_question(data: bytes, suffixes: Mapping[bytes, _T]) -> tuple[_T, bytes, int, int, int] | None:
    """The longest suffix of a bare query's name that ``suffixes`` holds, found without walking the name
    past it: ``(entry, qname, offset, question end, EDNS bits)``, or None.

    Bare: what :func:`peek` takes, of class IN, with nothing after the question or one OPT
    record without options (RFC 6891 §6.1.2: a resolver's stub or a ``dig +noedns``-like
    client; dig itself sends a COOKIE and goes to :func:`peek`). Where the question ends follows
    from the packet's length then, so the name is walked from its first label down to the
    suffix only, not to its root: a suffix key (lower-case wire, ending in the root label)
    that matches at a label boundary ends exactly where the question's name must. ``qname``
    is the name in lower case, ``offset`` where the suffix starts in it; the EDNS bits are
    those of :attr:`Peek.key` (4: OPT, 12: OPT with DO; RD and CD are not included). The
    root is never looked up, as in :func:`longest_suffix`.
    """
    n = len(data)
    if n < 17 or data[2] & 0xF8 or data[4:11] != _ONE_QUESTION:
        return None
    if data[11] == 0:
        end, edns = n, 0
    elif data[11] == 1 and n >= 28 and data[n - 11 : n - 8] == b"\x00\x00\x29" and data[n - 2 : n] == b"\x00\x00" \
            and data[n - 5] == 0:  # root owner, type OPT, version 0, no options
        end, edns = n - 11, 12 if data[n - 4] & 0x80 else 4
    else:
        return None
    if data[end - 2 : end] != b"\x00\x01" or (data[end - 4] << 8 | data[end - 3]) in _QTYPE_RCODES:
        return None
    qname = data[12 : end - 4].lower()
    last = len(qname) - 1
    if last > 254:
        return None
    offset = 0
    length = qname[0]
    while length:
        if length > 63:
            return None
        entry = suffixes.get(qname[offset:])
        if entry is not None:
            return entry, qname, offset, end, edns
        offset += length + 1
        if offset >= last:
            return None
        length = qname[offset]
    return None


def peek_bare(data: bytes, qname: bytes, end: int, edns: int, kind: type[Peek] = Peek) -> Peek:
    """:func:`peek` of a query :func:`bare_question` took, from what it found: the name is not walked again.

    ``kind`` may be a subclass of :class:`Peek` with slots of its own (left unset here)."""
    bits = (data[2] & 1) | (data[3] & 0x10) >> 3 | edns  # RD=1, CD=2, EDNS=4, DO=8
    size = max(data[end + 3] << 8 | data[end + 4], 512) if edns else 512
    result = _new(kind)
    _set_id(result, data[0] << 8 | data[1])
    _set_key(result, qname + data[end - 4 : end] + _pack_tail(bits, size))
    _set_qname(result, data[12 : end - 4])
    _set_end(result, end)
    return result


def query_from_peek(data: bytes, peek: Peek) -> Query:
    """The :class:`Query` that :func:`parse_query` returns for ``data``, built from its :func:`peek`.

    Whatever peek accepts parses (QD=1, an uncompressed qname, at most one OPT with options
    that cannot change the answer), so nothing is validated again and the qname is not walked
    a second time: a cache miss parses its question once, for the cache key and the resolver.
    """
    qname = peek.qname_wire
    end = peek.question_end
    lower = peek.key[: len(qname)]
    name = plain_name(lower)
    if name is None:
        name = names.from_labels(_labels(qname))
    qtype, qclass = _unpack_hh(data, end - 4)
    edns = None
    if data[11]:
        bits = peek.key[-3]
        size = peek.key[-2] << 8 | peek.key[-1]
        edns = Edns(size, 0, bool(bits & 8), _read_options(data[end + 11:]), None)
    question = _new(Question)  # as in peek: slot setters cost less than the frozen dataclasses' __init__
    _set_qn(question, name)
    _set_qt(question, qtype)
    _set_qc(question, qclass)
    query = _new(Query)
    _set_qid(query, peek.id)
    _set_op(query, 0)
    _set_rd(query, bool(data[2] & 1))
    _set_cd(query, bool(data[3] & 0x10))
    _set_question(query, question)
    _set_wire(query, qname)
    _set_edns(query, edns)
    return query


def with_id_and_case(template: bytes, peek: Peek) -> bytes:
    """A cached reply (with the same key) readdressed: new ID, the client's qname case."""
    qname = peek.qname_wire
    return b"".join((_U16.pack(peek.id), template[2:12], qname, template[12 + len(qname) :]))


def question_of(data: bytes) -> tuple[str, int]:
    """(qname in the client's case, in presentation form, qtype) of a query :func:`peek` accepts.

    Read straight from the bytes (one uncompressed question after the header), without
    parsing the query again: what a cache hit's log line needs. The same text as
    :attr:`Query.qname_text`, escapes included.
    """
    labels, i = [], 12
    while data[i]:
        labels.append(data[i + 1 : i + 1 + data[i]])
        i += data[i] + 1
    return _text(labels), data[i + 1] << 8 | data[i + 2]


def longest_suffix(table: Mapping[bytes, _T], name: bytes) -> tuple[_T, int] | None:
    """The entry of the longest suffix of ``name`` that ``table`` holds, and where that suffix starts.

    ``name`` and the keys are uncompressed wire names in the same case (:attr:`Peek.qname_key`
    and lower-case keys); the root is never looked up. None when no suffix is in ``table``.
    """
    i = 0
    while name[i]:
        hit = table.get(name[i:])
        if hit is not None:
            return hit, i
        i += name[i] + 1
    return None


_PLAIN_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_.")


def plain_name(name: bytes) -> str | None:
    """The canonical text of a lower-case uncompressed wire name that needs no escape, else None.

    Plain means letters, digits, ``-`` and ``_`` only: such a name reads the same in
    presentation form as the resolver's canonical names (:func:`dnsemu.dns.names.from_labels`).
    Anything else (an escape, a dot inside a label, upper case) is None: parse it instead.
    """
    end = len(name) - 1  # the root label
    if end < 1:
        return "."
    text = bytearray(name[1:end])  # the labels; each length octet after the first becomes a dot
    dots = 0
    i = name[0] + 1
    while i < end:
        text[i - 1] = 46  # "."
        dots += 1
        i += name[i] + 1
    if dots != text.count(46) or not _PLAIN_BYTES.issuperset(text):  # a dot inside a label, or an escape
        return None
    return text.decode("ascii") + "."


# --------------------------------------------------------------------------- reading a reply's header
# RFC 1035 §4.1.1: ID (2 octets), flags (QR opcode AA TC RD | RA Z AD CD rcode), then the four counts.


def reply_rcode(reply: bytes) -> int:
    """The header's 4-bit RCODE (an extended rcode lives in the OPT record; our replies carry none here)."""
    return reply[3] & 0xF


def is_truncated(reply: bytes) -> bool:
    """Whether the header's TC bit is set."""
    return bool(reply[2] & 0x02)


def answer_count(reply: bytes) -> int:
    """ANCOUNT: the number of records in the answer section."""
    return reply[6] << 8 | reply[7]


def servfail_from_header(data: bytes) -> bytes | None:
    """A bare SERVFAIL answering the header of ``data`` (no question, no OPT); None when there is none.

    What to send when a query raised before it parsed: the ID, opcode, RD and CD of the
    query are echoed, QR and RA set; a message shorter than a header or a response
    (QR=1, never answered) gets nothing.
    """
    if len(data) < 12 or data[2] & 0x80:
        return None
    flags = _QR | (data[2] & 0x79) << 8 | _RA | (data[3] & 0x10) | Rcode.SERVFAIL  # opcode, RD; CD
    return data[:2] + flags.to_bytes(2, "big") + bytes(8)


# --------------------------------------------------------------------------- writing

Parts = tuple[tuple[bytes, bytes], ...]  # per label: (lower-case suffix wire: the key, label wire)


@lru_cache(maxsize=8192)
def _wire_parts(wire: bytes) -> Parts:
    parts, i = [], 0
    while wire[i]:
        parts.append((wire[i:].lower(), wire[i : i + wire[i] + 1]))
        i += wire[i] + 1
    return tuple(parts)


@lru_cache(maxsize=8192)
def _text_parts(name: str) -> Parts:
    return _wire_parts(names.to_wire(name))


Plan = tuple[Parts, bytes, tuple[Any, ...]]  # owner, type+class+TTL, rdata pieces (bytes | Parts)


@lru_cache(maxsize=16384)
def _plan(record: Record) -> Plan:
    """How to write a record: names in CNAME/NS/PTR/MX/SOA rdata stay compressible (DNAME/SRV targets do not)."""
    t, rd = record.rtype, record.rdata
    if t == RRType.A:
        pieces: tuple[Any, ...] = (socket.inet_pton(socket.AF_INET, rd[0]),)
    elif t == RRType.AAAA:
        pieces = (socket.inet_pton(socket.AF_INET6, rd[0]),)
    elif t in (RRType.CNAME, RRType.NS, RRType.PTR):
        pieces = (_text_parts(rd[0]),)
    elif t == RRType.MX:
        pieces = (_U16.pack(rd[0]), _text_parts(rd[1]))
    elif t == RRType.DNAME:  # RFC 6672 §2.5: the target is never compressed
        pieces = (names.to_wire(rd[0]),)
    elif t == RRType.SRV:  # RFC 2782: the target is never compressed
        pieces = (struct.pack("!HHH", *rd[:3]) + names.to_wire(rd[3]),)
    elif t == RRType.TXT:
        pieces = (b"".join(bytes((len(s),)) + s for s in rd),)
    elif t == RRType.SOA:
        pieces = (_text_parts(rd[0]), _text_parts(rd[1]), struct.pack("!5I", *rd[2:]))
    elif t == RRType.CAA:
        pieces = (bytes((rd[0], len(rd[1]))) + rd[1] + rd[2],)
    else:
        raise ValueError(f"cannot encode {type_name(t)} records")
    return _text_parts(record.name), _RR_HEAD.pack(t, 1, record.ttl), pieces


#: types whose rdata holds no compressible name: their records are the same bytes in every message
_FIXED_RDATA = frozenset({RRType.A, RRType.AAAA, RRType.TXT, RRType.CAA, RRType.SRV, RRType.DNAME})


_inet_pton, _AF_INET, _AF_INET6 = socket.inet_pton, socket.AF_INET, socket.AF_INET6
_pack_rr = _RR_FIXED.pack
_POINTER_TO_QUESTION = b"\xc0\x0c"


def _at_question(record: Record) -> bytes:
    """A fixed-rdata record owned by the question's name: the owner is a pointer to the question
    (offset 12, RFC 1035 §4.1.4), what the full encoder writes for it in any message. An address is
    packed on the spot (cheaper than hashing the record for a cache); other rdata comes from the
    record's cached plan."""
    t = record.rtype
    if t == 1:  # A
        rdata = _inet_pton(_AF_INET, record.rdata[0])
        return _POINTER_TO_QUESTION + _pack_rr(1, 1, record.ttl, 4) + rdata
    if t == 28:  # AAAA
        rdata = _inet_pton(_AF_INET6, record.rdata[0])
        return _POINTER_TO_QUESTION + _pack_rr(28, 1, record.ttl, 16) + rdata
    rdata = b"".join(_plan(record)[2])
    return _POINTER_TO_QUESTION + _pack_rr(t, 1, record.ttl, len(rdata)) + rdata


def _put_name(buf: bytearray, comp: dict[bytes, int], parts: Parts) -> None:
    for key, label in parts:
        offset = comp.get(key)
        if offset is not None:
            buf += _U16.pack(0xC000 | offset)
            return
        if len(buf) < 0x4000:
            comp[key] = len(buf)
        buf += label
    buf.append(0)


def _put_records(buf: bytearray, comp: dict[bytes, int], plans: Sequence[Plan]) -> None:
    for owner, fixed, pieces in plans:
        _put_name(buf, comp, owner)
        buf += fixed
        at = len(buf)
        buf += b"\x00\x00"
        for piece in pieces:
            if piece.__class__ is bytes:
                buf += piece
            else:
                _put_name(buf, comp, piece)
        _U16.pack_into(buf, at, len(buf) - at - 2)


def _opt_record(udp_size: int, rcode: int, do: bool, options: bytes = b"") -> bytes:
    flags = _DO if do else 0
    return _OPT_FIXED.pack(0, _OPT, udp_size, rcode >> 4, 0, flags, len(options)) + options


def _ecs_option(ecs: ClientSubnet | None, scope: int | None) -> bytes:
    """The query's ECS echoed with our scope (RFC 7871 §7.2.1; /0 sources get scope 0)."""
    if ecs is None or scope is None:
        return b""
    family = socket.AF_INET if ecs.family == 1 else socket.AF_INET6
    scope = 0 if ecs.source_prefix == 0 else max(0, min(scope, 32 if ecs.family == 1 else 128))
    address = socket.inet_pton(family, ecs.address)[: (ecs.source_prefix + 7) // 8]
    body = struct.pack("!HBB", ecs.family, ecs.source_prefix, scope) + address
    return _QTAIL.pack(_ECS, len(body)) + body


def _bare_reply(ident: int, qflags: int, rcode: int, question: bytes, do: bool | None) -> bytes:
    """An error reply: header, the question when it parsed, an OPT when the query's did."""
    flags = _QR | qflags & (_OPCODE | _RD | _CD) | _RA | rcode & 0xF
    opt = b"" if do is None else _opt_record(DEFAULT_UDP_SIZE, rcode, do)
    return _HEADER.pack(ident, flags, 1 if question else 0, 0, 0, 1 if opt else 0) + question + opt


def _encode(query: Query, rcode: int, answer: Sequence[Plan], authority: Sequence[Plan],
            additional: Sequence[Plan], max_size: int, udp_size: int,
            ecs_scope: int | None, aa: bool) -> bytes:
    edns = query.edns
    if rcode > 15 and edns is None:
        rcode = Rcode.SERVFAIL  # an extended rcode needs an OPT to carry it (as Knot does)
    flags = _QR | query.opcode << 11 | _RA | rcode & 0xF
    flags |= (_AA if aa else 0) | (_RD if query.rd else 0) | (_CD if query.cd else 0)
    qname = query.qname_wire
    buf = bytearray(12)
    buf += qname
    buf += _QTAIL.pack(query.question.qtype, query.question.qclass)
    question_end = len(buf)
    counts = [len(answer), len(authority), len(additional)]
    if answer or authority or additional:
        comp, offset = {}, 12
        for key, label in _wire_parts(qname):
            comp[key] = offset
            offset += len(label)
        _put_records(buf, comp, answer)
        _put_records(buf, comp, authority)
        cut = len(buf)
        _put_records(buf, comp, additional)
    opt = b"" if edns is None else _opt_record(udp_size, rcode, edns.do,
                                               _ecs_option(edns.ecs, ecs_scope))
    if len(buf) + len(opt) > max_size:
        if additional and cut + len(opt) <= max_size:
            del buf[cut:]  # additional data is optional: drop it without TC (RFC 2181 §9)
            counts[2] = 0
        else:
            del buf[question_end:]
            counts = [0, 0, 0]
            flags |= _TC
    buf += opt
    counts[2] += 1 if opt else 0
    _HEADER.pack_into(buf, 0, query.id, flags, 1, *counts)
    return bytes(buf)


def encode_response(query: Query, rcode: int, answer: Sequence[Record] = (),
                    authority: Sequence[Record] = (), additional: Sequence[Record] = (), *,
                    max_size: int, server_udp_size: int = DEFAULT_UDP_SIZE,
                    ecs_scope: int | None = None, aa: bool = False) -> bytes:
    """The reply to ``query``. Flags: QR RA, AA on request, RD/CD/opcode echoed, AD=Z=0.

    ``max_size`` is min(client, server) UDP size for UDP and 65535 for TCP; a
    reply that would exceed it goes out as header + question (+ OPT) with TC=1.
    With EDNS, the OPT carries ``server_udp_size``, version 0, the query's DO,
    the high rcode bits, and the query's ECS with ``ecs_scope`` when that is set.
    """
    if answer and not authority and not additional:
        name = query.question.name
        for record in answer:
            if record.name != name or record.rtype not in _FIXED_RDATA:
                break
        else:  # the common positive answer: RRsets at the question's name, assembled from encoded records
            return _encode_at_question(query, rcode, answer, max_size, server_udp_size, ecs_scope, aa)
    return _encode(query, rcode, [_plan(r) for r in answer], [_plan(r) for r in authority],
                   [_plan(r) for r in additional], max_size, server_udp_size, ecs_scope, aa)


def _encode_at_question(query: Query, rcode: int, answer: Sequence[Record], max_size: int, udp_size: int,
                        ecs_scope: int | None, aa: bool) -> bytes:
    """:func:`_encode` for an answer of fixed-rdata records owned by the question's name (the same bytes)."""
    edns = query.edns
    if rcode > 15 and edns is None:
        rcode = Rcode.SERVFAIL  # as _encode: an extended rcode needs an OPT to carry it
    flags = _QR | query.opcode << 11 | _RA | rcode & 0xF
    flags |= (_AA if aa else 0) | (_RD if query.rd else 0) | (_CD if query.cd else 0)
    question = query.qname_wire + _QTAIL.pack(query.question.qtype, query.question.qclass)
    body = b"".join([_at_question(r) for r in answer])
    opt = b"" if edns is None else _opt_record(udp_size, rcode, edns.do, _ecs_option(edns.ecs, ecs_scope))
    count = len(answer)
    if 12 + len(question) + len(body) + len(opt) > max_size:
        body, count = b"", 0
        flags |= _TC
    return _HEADER.pack(query.id, flags, 1, count, 0, 1 if opt else 0) + question + body + opt


def records_at_question(answer: Sequence[Record]) -> bytes | None:
    """The answer section of ``answer``, records owned by the question's name, each behind a pointer to
    the question (:func:`_at_question`): the same bytes in every reply to the name. None when one of
    them has a name in its rdata (the full encoder compresses it against the message)."""
    for record in answer:
        if record.rtype not in _FIXED_RDATA:
            return None
    return b"".join([_at_question(r) for r in answer])


def answer_parts(count: int, bits: int, udp_size: int, b2: int, b3: int) -> tuple[bytes, bytes]:
    """The header after the ID and the OPT record of a NOERROR reply with ``count`` answers, for a query of
    the :func:`peek` shape whose flag bits are ``bits`` (its key's: EDNS=4, DO=8) and header octets 2 and 3
    ``b2`` and ``b3``: RD and CD echoed, RA set, no AA (the resolver's answers are not authoritative
    either); the OPT carries our UDP size and the query's DO (RFC 6891 §6.1.1, RFC 3225 §3)."""
    opt = _opt_record(udp_size, 0, bool(bits & 8)) if bits & 4 else b""
    flags = _QR | _RA | (b2 & 0x01) << 8 | (b3 & 0x10)  # RD and CD echoed; opcode QUERY, NOERROR
    return _HEADER.pack(0, flags, 1, count, 0, 1 if opt else 0)[2:], opt


def answer_at_question(data: bytes, peek: Peek, answer: Sequence[Record], udp_size: int, tcp: bool) -> bytes | None:
    """NOERROR with ``answer`` for a query of the :func:`peek` shape, without parsing it; None when it does
    not apply (a record not owned by the question's name, rdata with a compressible name, a reply that
    would not fit and needs TC): then :func:`encode_response` writes it.

    The same bytes as :func:`encode_response` for the parsed query (``aa`` false, no ECS: peek accepts
    none): the question as the client sent it, RD and CD echoed, the OPT with our size and the query's DO.
    """
    body = records_at_question(answer)
    if body is None:
        return None
    end = peek.question_end
    key = peek.key
    head, opt = answer_parts(len(answer), key[-3], udp_size, data[2], data[3])
    size = end + len(body) + len(opt)
    if size > 512 and size > reply_limit(key[-3], key[-2] << 8 | key[-1], udp_size, tcp):
        return None
    return data[:2] + head + data[12:end] + body + opt


def reply_limit(bits: int, client_size: int, udp_size: int, tcp: bool) -> int:
    """The largest reply a query may get without TC: 65,535 octets over TCP; over UDP the query's EDNS
    size (at least 512) capped by ours, or 512 without EDNS (RFC 1035 §4.2.1, RFC 6891 §6.2.5)."""
    if tcp:
        return 65535
    return min(max(client_size, 512), udp_size) if bits & 4 else 512


# --------------------------------------------------------------------------- precompiled negative answers


class NegativeAnswer:
    """NXDOMAIN (or NODATA: NOERROR) with one zone's SOA in authority, rendered without encoding on each query.

    The SOA's names compress against the zone's apex inside the question, so the
    authority bytes depend only on where the apex starts in the question: they are
    rendered once per offset and reused. Replies are byte-identical to
    :func:`encode_response` for the same records.
    """

    __slots__ = ("_apex_len", "_keys", "_plans", "_shapes", "key")

    def __init__(self, apex: str, soa: Sequence[Record]) -> None:
        wire = names.to_wire(apex)
        #: the apex as a lower-case wire name (what :func:`longest_suffix` finds in a :attr:`Peek.qname_key`)
        self.key = wire.lower()
        self._apex_len = len(wire)
        self._keys = tuple((key, len(wire) - len(key)) for key, _ in _wire_parts(wire))  # suffix, offset
        self._plans = [_plan(r) for r in soa]
        #: (apex offset, rcode, EDNS/DO/RD/CD bits, server UDP size) -> (header after the ID, authority and OPT)
        self._shapes: dict[tuple[int, int, int, int], tuple[bytes, bytes]] = {}

    def reply(self, data: bytes, peek: Peek, apex_offset: int, udp_size: int, rcode: int = Rcode.NXDOMAIN) -> bytes:
        """The reply to ``data`` (of the :func:`peek` shape) whose qname holds the apex at ``apex_offset``:
        NXDOMAIN, or with ``rcode`` NOERROR the NODATA answer (the same SOA, RFC 2308 §2.2)."""
        return self.render(data, apex_offset, peek.question_end, peek.key[-3] & 12, udp_size, rcode)

    def render(self, data: bytes, apex_offset: int, question_end: int, edns: int, udp_size: int,
               rcode: int = Rcode.NXDOMAIN) -> bytes:
        """:meth:`reply` from what it needs of the query: where the question ends and its EDNS bits
        (4: an OPT record, 12: with DO set, 0: none; the :class:`Peek` key's bits).

        The reply is the query's ID, a header and a tail rendered once per shape (where the apex
        starts, RD, CD, EDNS, DO, rcode), and the query's own question between them.
        """
        shape = (apex_offset, rcode, edns | (data[2] & 0x01) | (data[3] & 0x10), udp_size)
        parts = self._shapes.get(shape)
        if parts is None:
            parts = self._shapes[shape] = self._render(apex_offset, edns, udp_size, rcode, data[2], data[3])
        return data[:2] + parts[0] + data[12:question_end] + parts[1]

    def parts(self, apex_offset: int, edns: int, udp_size: int, rcode: int, b2: int, b3: int) -> tuple[bytes, bytes]:
        """The two parts :meth:`render` puts around the query's ID and question, for queries whose header octets
        2 and 3 are ``b2`` and ``b3`` (RD and CD are read from them): the reply is ``data[:2] + parts[0] +
        data[12:question_end] + parts[1]``. For a caller that keeps them per shape itself."""
        shape = (apex_offset, rcode, edns | (b2 & 0x01) | (b3 & 0x10), udp_size)
        parts = self._shapes.get(shape)
        if parts is None:
            parts = self._shapes[shape] = self._render(apex_offset, edns, udp_size, rcode, b2, b3)
        return parts

    def _render(self, apex_offset: int, edns: int, udp_size: int, rcode: int, b2: int, b3: int) -> tuple[bytes, bytes]:
        """(header after the ID, authority and OPT) of one shape: the SOA's names compressed against the apex
        where it starts in the question; the OPT's extended rcode is 0 for NXDOMAIN and NOERROR alike."""
        base = 12 + apex_offset
        end = base + self._apex_len + 4
        buf = bytearray(end)
        _put_records(buf, {key: base + offset for key, offset in self._keys}, self._plans)
        opt = _opt_record(udp_size, rcode, bool(edns & 8)) if edns else b""
        flags = _QR | _RA | rcode | (b2 & 0x01) << 8 | (b3 & 0x10)  # RD and CD echoed
        return _HEADER.pack(0, flags, 1, 0, 1, 1 if edns else 0)[2:], bytes(buf[end:]) + opt


# --------------------------------------------------------------------------- forwarding

# rdata layouts whose names may arrive compressed (RFC 3597 §4): (octets before, names, after)
_NAME_LAYOUTS = {2: (0, 1, 0), 3: (0, 1, 0), 4: (0, 1, 0), 5: (0, 1, 0), 6: (0, 2, 20),
                 7: (0, 1, 0), 8: (0, 1, 0), 9: (0, 1, 0), 12: (0, 1, 0), 14: (0, 2, 0),
                 15: (2, 1, 0), 17: (0, 2, 0), 18: (2, 1, 0), 21: (2, 1, 0), 26: (2, 2, 0),
                 33: (6, 1, 0), 36: (2, 1, 0), 39: (0, 1, 0)}
_COMPRESSIBLE = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15})  # RFC 1035 types only
_FIXED_RDLEN = {1: 4, 28: 16}


def _upstream_plans(data: bytes, pos: int, count: int) -> tuple[int, list[Plan]]:
    """Records of an upstream reply, decompressed into plans for our own message."""
    n, plans = len(data), []
    for _ in range(count):
        pos, owner = _read_name(data, pos)
        if pos + 10 > n:
            raise _Malformed("record header runs past the end of the message")
        rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, pos)
        pos += 10
        end = pos + rdlen
        if end > n or rtype == _OPT or _FIXED_RDLEN.get(rtype, rdlen) != rdlen:
            raise _Malformed(f"bad {type_name(rtype)} record")
        layout = _NAME_LAYOUTS.get(rtype)
        if layout is None:
            pieces: list[Any] = [data[pos:end]]
        else:
            before, count_names, after = layout
            p = pos + before
            pieces = [data[pos:p]]
            for _ in range(count_names):
                p, name = _read_name(data, p)
                pieces.append(_wire_parts(name) if rtype in _COMPRESSIBLE else name)
            if p + after != end:
                raise _Malformed(f"{type_name(rtype)} rdata does not match its length")
            pieces.append(data[p:end])
        plans.append((_wire_parts(owner), _RR_HEAD.pack(rtype, rclass, ttl), tuple(pieces)))
        pos = end
    return pos, plans


def encode_forwarded(query: Query, upstream_reply: bytes, prefix: Sequence[Record], *,
                     max_size: int, server_udp_size: int = DEFAULT_UDP_SIZE,
                     ecs_scope: int | None = None) -> bytes:
    """Our reply when an upstream server answered for the end of our CNAME chain.

    The answer is ``prefix`` then the upstream answer; the authority is the
    upstream's; its additional section is dropped. The rcode is the upstream's
    when NOERROR or NXDOMAIN; any other (FORMERR, REFUSED, ...) describes our
    query to it, not the client's, so the client gets SERVFAIL, as from BIND or
    Knot Resolver forwarding. A reply that does not parse, is not a response, or
    is truncated (retry over TCP first) raises WireError(SERVFAIL).
    """
    data = upstream_reply
    try:
        if len(data) < 12:
            raise _Malformed("shorter than a DNS header")
        _, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
        if not flags & _QR or flags & _OPCODE:
            raise _Malformed("not a response to a QUERY")
        if flags & _TC:
            raise _Malformed("truncated (TC=1)")
        pos = 12
        for _ in range(qdcount):
            pos = _read_name(data, pos)[0] + 4
        pos, answer = _upstream_plans(data, pos, ancount)
        pos, authority = _upstream_plans(data, pos, nscount)
        pos, opt, _, _ = _read_records(data, pos, 0, 0, arcount)
        if pos != len(data):
            raise _Malformed(f"{len(data) - pos} octets of trailing garbage")
    except _Malformed as exc:
        reply = encode_response(query, Rcode.SERVFAIL, max_size=max_size,
                                server_udp_size=server_udp_size)
        raise WireError(Rcode.SERVFAIL, f"unusable upstream reply: {exc}", reply) from None
    rcode = (opt[1] >> 24 << 4 if opt else 0) | flags & 0xF
    if rcode not in (Rcode.NOERROR, Rcode.NXDOMAIN):
        return encode_response(query, Rcode.SERVFAIL, max_size=max_size,
                               server_udp_size=server_udp_size, ecs_scope=ecs_scope)
    return _encode(query, rcode, [_plan(r) for r in prefix] + answer, authority, (),
                   max_size, server_udp_size, ecs_scope, False)
