"""A DNS client with nothing but the standard library: one query, one parsed reply.

``dnsemu query`` (:mod:`dnsemu.cli.query`) is built on it and is the container's
health check, so it uses nothing but the standard
library: no dig, no dnspython, no dnslib. The query is built with ``struct``
and the reply is parsed by hand, just far enough to print it::

    $ dnsemu query mystorage.blob.core.windows.net --server 127.0.0.1:5353 --subnet 10.0.2.4/32
    NOERROR mystorage.blob.core.windows.net. A: CNAME mystorage.privatelink.blob.core.windows.net., A 10.0.1.4 \
(udp 127.0.0.1:5353, 2 ms)

Exit status: 0 when a reply with our ID and question arrives, whatever its
rcode (a server that answers REFUSED is alive); 1 on timeout, a network error
or a reply that does not parse; 2 on bad arguments.

A truncated UDP reply is asked again over TCP, as dig does. ``NAME`` may be an
IP address: the query is then for its reverse name, type PTR.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time
from dataclasses import dataclass, field

__all__ = ["ProbeError", "Reply", "build_query", "exchange", "parse_reply", "summary"]

DEFAULT_SERVER = "127.0.0.1:5353"  # where `dnsemu serve` listens by default
DEFAULT_TIMEOUT = 2.0
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


class ProbeError(Exception):
    """No usable reply: a timeout, a network error, or bytes that are not a DNS reply to our query."""


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


def encode_name(name: str) -> bytes:
    """An absolute name in wire format, uncompressed. ``"."`` is the root."""
    text = name.strip()
    if text in ("", "."):
        return b"\x00"
    out = bytearray()
    for label in text.rstrip(".").split("."):
        try:
            raw = label.encode("ascii")
        except UnicodeEncodeError:
            raw = label.encode("idna")
        if not raw:
            raise ValueError(f"{name!r}: empty label")
        if len(raw) > 63:
            raise ValueError(f"{name!r}: label {label[:20]!r}... is longer than 63 octets")
        out += bytes((len(raw),)) + raw
    out += b"\x00"
    if len(out) > 255:
        raise ValueError(f"{name!r}: longer than 255 octets")
    return bytes(out)


def ecs_option(subnet: str) -> bytes:
    """An EDNS Client Subnet option (RFC 7871) for ``subnet``, source scope 0."""
    network = ipaddress.ip_network(subnet, strict=False)
    family = 1 if network.version == 4 else 2
    length = (network.prefixlen + 7) // 8
    address = network.network_address.packed[:length]
    data = struct.pack("!HBB", family, network.prefixlen, 0) + address
    return struct.pack("!HH", _ECS, len(data)) + data


def build_query(name: str, qtype: int, qid: int, *, subnet: str | None = None, edns: bool = True) -> bytes:
    """A recursive query (RD=1) with an EDNS OPT record, and ECS when ``subnet`` is given."""
    options = ecs_option(subnet) if subnet else b""
    additional = 1 if edns or options else 0
    out = _HEADER.pack(qid, _RD, 1, 0, 0, additional) + encode_name(name) + struct.pack("!HH", qtype, 1)
    if additional:
        out += b"\x00" + struct.pack("!HHIH", _OPT, UDP_PAYLOAD, 0, len(options)) + options
    return out


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
    additional: tuple[RR, ...] = field(default=())

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
            raise ProbeError("a name runs past the end of the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise ProbeError("a compression pointer runs past the end of the message")
            if end is None:
                end = offset + 2
            jumps += 1
            if jumps > 64:
                raise ProbeError("a compression pointer loop")
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        if length & 0xC0:
            raise ProbeError(f"unsupported label type 0x{length:02x}")
        offset += 1
        if length == 0:
            break
        if offset + length > len(data):
            raise ProbeError("a label runs past the end of the message")
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
            raise ProbeError("a character-string runs past its record")
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
            raise ProbeError("a SOA record is too short")
        serial, refresh, retry, expire, minimum = struct.unpack_from("!IIIII", data, offset)
        return f"{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}"
    if rtype == 16:
        return _character_strings(rdata)
    return f"\\# {length} {rdata.hex()}" if length else "\\# 0"


def parse_reply(data: bytes) -> Reply:
    """Parse a reply; raise :class:`ProbeError` for anything that is not a well-formed DNS response."""
    if len(data) < _HEADER.size:
        raise ProbeError(f"{len(data)} octets: shorter than a DNS header")
    qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if not flags & _QR:
        raise ProbeError("the message is a query, not a response")
    offset = _HEADER.size
    question = None
    for _ in range(qdcount):
        qname, offset = _read_name(data, offset)
        if offset + 4 > len(data):
            raise ProbeError("the question runs past the end of the message")
        qtype, _qclass = struct.unpack_from("!HH", data, offset)
        offset += 4
        question = question or (qname, qtype)
    rcode = flags & 0x000F
    sections: list[list[RR]] = [[], [], []]
    for index, count in enumerate((ancount, nscount, arcount)):
        for _ in range(count):
            name, offset = _read_name(data, offset)
            if offset + _RR_FIXED.size > len(data):
                raise ProbeError("a record runs past the end of the message")
            rtype, _rclass, ttl, rdlength = _RR_FIXED.unpack_from(data, offset)
            offset += _RR_FIXED.size
            if offset + rdlength > len(data):
                raise ProbeError(f"the rdata of a {type_text(rtype)} record runs past the end of the message")
            if rtype == _OPT:
                rcode |= (ttl >> 24) << 4  # extended rcode
                offset += rdlength
                continue
            sections[index].append(RR(name, rtype, ttl, _rdata_text(data, rtype, offset, rdlength)))
            offset += rdlength
    return Reply(qid, flags, rcode, question, tuple(sections[0]), tuple(sections[1]), tuple(sections[2]))


def _matches(reply: Reply, qid: int, name: str, qtype: int) -> bool:
    if reply.qid != qid:
        return False
    if reply.question is None:  # FORMERR and friends may leave the question out
        return True
    qname, rtype = reply.question
    return rtype == qtype and qname.lower().rstrip(".") == name.lower().rstrip(".")


# --------------------------------------------------------------------------- transport


def parse_server(text: str) -> tuple[str, int]:
    """``HOST[:PORT]``, ``[IPv6]:PORT`` or a bare IPv6 address → (host, port); port 53 when left out."""
    text = text.strip()
    host, port = text, "53"
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected ':PORT' after ']'")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host:
        raise ValueError(f"{text!r}: no host")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return host, int(port)


def _address(host: str, port: int, transport: int) -> tuple[int, tuple]:
    infos = socket.getaddrinfo(host, port, type=transport)
    if not infos:
        raise ProbeError(f"cannot resolve {host!r}")
    family, _type, _proto, _canon, sockaddr = infos[0]
    return family, sockaddr


def _udp(query: bytes, qid: int, name: str, qtype: int, host: str, port: int, deadline: float) -> bytes:
    family, sockaddr = _address(host, port, socket.SOCK_DGRAM)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect(sockaddr)  # a connected socket only takes datagrams from the server
        sock.send(query)
        last_problem = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProbeError(last_problem or "timed out waiting for a reply")
            sock.settimeout(remaining)
            try:
                data = sock.recv(65535)
            except TimeoutError:
                raise ProbeError(last_problem or "timed out waiting for a reply") from None
            try:
                reply = parse_reply(data)
            except ProbeError as exc:
                last_problem = f"ignored a malformed datagram ({exc}), then timed out"
                continue
            if _matches(reply, qid, name, qtype):
                return data
            last_problem = f"ignored a reply with id {reply.qid} or another question, then timed out"


def _recv_exactly(sock: socket.socket, count: int, deadline: float) -> bytes:
    out = bytearray()
    while len(out) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeError("timed out waiting for a reply")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(count - len(out))
        except TimeoutError:
            raise ProbeError("timed out waiting for a reply") from None
        if not chunk:
            raise ProbeError(f"the server closed the connection after {len(out)} of {count} octets")
        out += chunk
    return bytes(out)


def _tcp(query: bytes, host: str, port: int, deadline: float) -> bytes:
    family, sockaddr = _address(host, port, socket.SOCK_STREAM)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            sock.connect(sockaddr)
        except TimeoutError:
            raise ProbeError("timed out connecting") from None
        sock.sendall(struct.pack("!H", len(query)) + query)
        (length,) = struct.unpack("!H", _recv_exactly(sock, 2, deadline))
        return _recv_exactly(sock, length, deadline)


def exchange(
    name: str,
    qtype: int,
    host: str,
    port: int,
    *,
    tcp: bool = False,
    subnet: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[Reply, str]:
    """Send one query and return the reply and the transport that carried it (``"udp"`` or ``"tcp"``).

    A truncated UDP reply is asked again over TCP within the same ``timeout``.
    Raises :class:`ProbeError` when no matching, well-formed reply arrives in time.
    """
    qid = int.from_bytes(os.urandom(2), "big")
    query = build_query(name, qtype, qid, subnet=subnet)
    deadline = time.monotonic() + timeout
    try:
        if not tcp:
            reply = parse_reply(_udp(query, qid, name, qtype, host, port, deadline))
            if not reply.truncated:
                return reply, "udp"
        data = _tcp(query, host, port, deadline)
    except OSError as exc:
        raise ProbeError(f"{exc.strerror or exc}") from None
    reply = parse_reply(data)
    if not _matches(reply, qid, name, qtype):
        raise ProbeError(f"the TCP reply has id {reply.qid} or another question, not ours ({qid})")
    return reply, "tcp"


# --------------------------------------------------------------------------- command


def summary(name: str, qtype: int, reply: Reply) -> str:
    """``NOERROR name. A: CNAME target., A 10.0.1.4`` (the answer section, short form)."""
    head = f"{reply.rcode_text} {name} {type_text(qtype)}"
    if reply.answer:
        return f"{head}: " + ", ".join(rr.short() for rr in reply.answer)
    soa = next((rr for rr in reply.authority if rr.rtype == 6), None)
    return f"{head}: no answer" + (f" (SOA {soa.name})" if soa else "")
