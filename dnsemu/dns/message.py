"""The client's side of a DNS message, standard library only: build a query, recognise and read its reply.

:mod:`dnsemu.dns.client` sends what :func:`build_query` builds and takes a
datagram as the answer only when :func:`is_reply_to` says so. :func:`parse_reply`
reads a reply just far enough to show it (``dnsemu query``, the test
fixture's :class:`~dnsemu.testing.QueryResult`): names, types, TTLs and the
rdata of common types as text, anything else as RFC 3597 ``\\# len hex``.

``dnsemu query`` is the container's health check, so this module imports
nothing but the standard library and :mod:`dnsemu.dns.names` (no dnslib, which
stays the server's codec in :mod:`dnsemu.dns.wire`).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from dnsemu.dns import names

__all__ = [
    "RCODES",
    "RR",
    "TYPES",
    "UDP_PAYLOAD",
    "MessageError",
    "Reply",
    "build_query",
    "ecs_option",
    "is_reply_to",
    "mismatch",
    "parse_reply",
    "type_code",
    "type_text",
]

#: the EDNS UDP payload size a query offers (DNS Flag Day 2020's 1232)
UDP_PAYLOAD = 1232

_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
_QR, _TC, _RD = 0x8000, 0x0200, 0x0100
_FLAG_BITS = (
    ("qr", 0x8000),
    ("aa", 0x0400),
    ("tc", 0x0200),
    ("rd", 0x0100),
    ("ra", 0x0080),
    ("ad", 0x0020),
    ("cd", 0x0010),
)
_OPT, _ECS = 41, 8

TYPES = {
    "A": 1,
    "NS": 2,
    "CNAME": 5,
    "SOA": 6,
    "PTR": 12,
    "HINFO": 13,
    "MX": 15,
    "TXT": 16,
    "AAAA": 28,
    "SRV": 33,
    "NAPTR": 35,
    "DNAME": 39,
    "OPT": 41,
    "DS": 43,
    "RRSIG": 46,
    "NSEC": 47,
    "DNSKEY": 48,
    "SVCB": 64,
    "HTTPS": 65,
    "ANY": 255,
    "CAA": 257,
}
TYPE_NAMES = {code: name for name, code in TYPES.items()}
RCODES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
    16: "BADVERS",
}
_NAME_TYPES = frozenset({2, 5, 12, 39})  # NS, CNAME, PTR, DNAME: rdata is one domain name


class MessageError(ValueError):
    """Bytes that are not a well-formed DNS response."""


# --------------------------------------------------------------------------- query


def type_code(text: str) -> int:
    """``"AAAA"`` → 28, ``"TYPE65"`` → 65, ``"28"`` → 28."""
    upper = text.strip().upper()
    if upper in TYPES:
        return TYPES[upper]
    digits = upper.removeprefix("TYPE")
    if digits.isdigit() and 0 <= int(digits) <= 0xFFFF:
        return int(digits)
    raise ValueError(f"unknown query type {text!r} (known: {', '.join(TYPES)}, or TYPEnnn)")


def type_text(code: int) -> str:
    return TYPE_NAMES.get(code, f"TYPE{code}")


def ecs_option(subnet: str) -> bytes:
    """An EDNS Client Subnet option (RFC 7871) for ``subnet``, source scope 0."""
    network = ipaddress.ip_network(subnet, strict=False)
    family = 1 if network.version == 4 else 2
    length = (network.prefixlen + 7) // 8
    address = network.network_address.packed[:length]
    data = struct.pack("!HBB", family, network.prefixlen, 0) + address
    return struct.pack("!HH", _ECS, len(data)) + data


def build_query(name: str, qtype: int, qid: int, *, udp_size: int = UDP_PAYLOAD, subnet: str | None = None,
                edns: bool = True) -> bytes:
    """A recursive query (RD=1) for ``name``/``qtype`` with ID ``qid``.

    With an EDNS(0) OPT record offering ``udp_size`` unless ``edns`` is off (DO
    clear), carrying an ECS option when ``subnet`` is given. ``name`` keeps its
    case (see :func:`dnsemu.dns.names.to_wire`).
    """
    options = ecs_option(subnet) if subnet else b""
    additional = 1 if edns or options else 0
    out = _HEADER.pack(qid, _RD, 1, 0, 0, additional) + names.to_wire(name) + struct.pack("!HH", qtype, 1)
    if additional:
        out += b"\x00" + struct.pack("!HHIH", _OPT, udp_size, 0, len(options)) + options
    return out


# --------------------------------------------------------------------------- is it our reply?


def _qname_end(query: bytes) -> int:
    """Where the name of the (only, uncompressed) question of a query we built ends."""
    pos = 12
    while query[pos]:
        pos += query[pos] + 1
    return pos + 1


def is_reply_to(reply: bytes, query: bytes) -> bool:
    """``reply`` answers ``query``: a response, the same ID, and the same question (name without case).

    A reply without a question is taken only with an error rcode (a server may
    leave the question out of FORMERR and the like): a NOERROR without one
    cannot be told from a stray datagram.
    """
    if len(reply) < 12 or reply[:2] != query[:2] or not reply[2] & 0x80:
        return False
    if reply[4:6] == b"\x00\x00":
        return bool(reply[3] & 0x0F)
    if reply[4:6] != b"\x00\x01":
        return False
    end = _qname_end(query)
    return reply[12:end].lower() == query[12:end].lower() and reply[end : end + 4] == query[end : end + 4]


def mismatch(reply: bytes, query: bytes) -> str:
    """Why ``reply`` is not the reply to ``query``, in a few words (for an error message)."""
    try:
        parsed = parse_reply(reply)
    except MessageError as exc:
        return f"a malformed message ({exc})"
    qid = int.from_bytes(query[:2], "big")
    if parsed.qid != qid:
        return f"a reply with ID {parsed.qid}, not ours ({qid})"
    return "a reply to another question"


# --------------------------------------------------------------------------- reply


@dataclass(frozen=True)
class RR:
    name: str
    rtype: int
    ttl: int
    data: str

    def short(self) -> str:
        return f"{type_text(self.rtype)} {self.data}"


@dataclass(frozen=True)
class Reply:
    qid: int
    flags: int
    rcode: int
    question: tuple[str, int] | None
    answer: tuple[RR, ...] = ()
    authority: tuple[RR, ...] = ()
    additional: tuple[RR, ...] = ()
    #: the EDNS Client Subnet option the server echoed: (address, source prefix, scope prefix)
    client_subnet: tuple[str, int, int] | None = None

    @property
    def truncated(self) -> bool:
        return bool(self.flags & _TC)

    @property
    def rcode_text(self) -> str:
        return RCODES.get(self.rcode, f"RCODE{self.rcode}")

    @property
    def flag_text(self) -> str:
        return " ".join(name for name, bit in _FLAG_BITS if self.flags & bit)


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` (following compression pointers) and the offset after it."""
    labels: list[str] = []
    end = None
    jumps = 0
    while True:
        if offset >= len(data):
            raise MessageError("a name runs past the end of the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise MessageError("a compression pointer runs past the end of the message")
            if end is None:
                end = offset + 2
            jumps += 1
            if jumps > 64:
                raise MessageError("a compression pointer loop")
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        if length & 0xC0:
            raise MessageError(f"unsupported label type 0x{length:02x}")
        offset += 1
        if length == 0:
            break
        if offset + length > len(data):
            raise MessageError("a label runs past the end of the message")
        labels.append(_label_text(data[offset : offset + length]))
        offset += length
    return (".".join(labels) + "." if labels else "."), (end if end is not None else offset)


def _label_text(raw: bytes) -> str:
    out = []
    for byte in raw:
        char = chr(byte)
        if char in ".\\":
            out.append("\\" + char)
        elif 0x21 <= byte <= 0x7E:
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def _character_strings(rdata: bytes) -> str:
    parts, offset = [], 0
    while offset < len(rdata):
        length = rdata[offset]
        chunk = rdata[offset + 1 : offset + 1 + length]
        if len(chunk) != length:
            raise MessageError("a character-string runs past its record")
        text = "".join(chr(b) if 0x20 <= b <= 0x7E and chr(b) not in '"\\' else f"\\{b:03d}" for b in chunk)
        parts.append(f'"{text}"')
        offset += 1 + length
    return " ".join(parts)


def _rdata_text(data: bytes, rtype: int, start: int, length: int) -> str:
    rdata = data[start : start + length]
    if rtype == 1 and length == 4:
        return str(ipaddress.IPv4Address(rdata))
    if rtype == 28 and length == 16:
        return str(ipaddress.IPv6Address(rdata))
    if rtype in _NAME_TYPES:
        return _read_name(data, start)[0]
    if rtype == 15 and length >= 3:
        return f"{struct.unpack_from('!H', data, start)[0]} {_read_name(data, start + 2)[0]}"
    if rtype == 33 and length >= 7:
        priority, weight, port = struct.unpack_from("!HHH", data, start)
        return f"{priority} {weight} {port} {_read_name(data, start + 6)[0]}"
    if rtype == 6:
        mname, offset = _read_name(data, start)
        rname, offset = _read_name(data, offset)
        if offset + 20 > start + length:
            raise MessageError("a SOA record is too short")
        serial, refresh, retry, expire, minimum = struct.unpack_from("!IIIII", data, offset)
        return f"{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}"
    if rtype == 16:
        return _character_strings(rdata)
    return f"\\# {length} {rdata.hex()}" if length else "\\# 0"


def parse_reply(data: bytes) -> Reply:
    """Parse a reply; raise :class:`MessageError` for anything that is not a well-formed DNS response."""
    if len(data) < _HEADER.size:
        raise MessageError(f"{len(data)} octets: shorter than a DNS header")
    qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if not flags & _QR:
        raise MessageError("the message is a query, not a response")
    offset = _HEADER.size
    question = None
    for _ in range(qdcount):
        qname, offset = _read_name(data, offset)
        if offset + 4 > len(data):
            raise MessageError("the question runs past the end of the message")
        qtype, _qclass = struct.unpack_from("!HH", data, offset)
        offset += 4
        question = question or (qname, qtype)
    rcode = flags & 0x000F
    client_subnet = None
    sections: list[list[RR]] = [[], [], []]
    for index, count in enumerate((ancount, nscount, arcount)):
        for _ in range(count):
            name, offset = _read_name(data, offset)
            if offset + _RR_FIXED.size > len(data):
                raise MessageError("a record runs past the end of the message")
            rtype, _rclass, ttl, rdlength = _RR_FIXED.unpack_from(data, offset)
            offset += _RR_FIXED.size
            if offset + rdlength > len(data):
                raise MessageError(f"the rdata of a {type_text(rtype)} record runs past the end of the message")
            if rtype == _OPT:
                rcode |= (ttl >> 24) << 4  # extended rcode
                client_subnet = client_subnet or _client_subnet(data[offset : offset + rdlength])
                offset += rdlength
                continue
            sections[index].append(RR(name, rtype, ttl, _rdata_text(data, rtype, offset, rdlength)))
            offset += rdlength
    return Reply(
        qid, flags, rcode, question, tuple(sections[0]), tuple(sections[1]), tuple(sections[2]), client_subnet
    )


def _client_subnet(rdata: bytes) -> tuple[str, int, int] | None:
    """The ECS option among an OPT record's options (RFC 7871 §6), or None."""
    offset = 0
    while offset + 4 <= len(rdata):
        code, length = struct.unpack_from("!HH", rdata, offset)
        body = rdata[offset + 4 : offset + 4 + length]
        offset += 4 + length
        if code != _ECS or len(body) < 4:
            continue
        family, source, scope = struct.unpack_from("!HBB", body)
        width = {1: 4, 2: 16}.get(family)
        if width is None or len(body) - 4 > width:
            return None
        packed = body[4:] + bytes(width - (len(body) - 4))
        address = ipaddress.IPv4Address(packed) if family == 1 else ipaddress.IPv6Address(packed)
        return str(address), source, scope
    return None
