"""Resource records as plain, immutable values.

The core never touches wire format. A :class:`Record` holds its owner name
(canonical, see :mod:`dnsemu.dns.names`), its type, its TTL and its rdata as a
tuple of Python values whose shape depends on the type:

=========  =====================================================================
type       rdata
=========  =====================================================================
A, AAAA    ``(address: str,)``  (compressed text form)
CNAME/NS/  ``(target: str,)``   (canonical name)
PTR/DNAME
MX         ``(preference: int, exchange: str)``
SRV        ``(priority: int, weight: int, port: int, target: str)``
TXT        ``(string: bytes, ...)``  (one or more character-strings)
SOA        ``(mname, rname, serial, refresh, retry, expire, minimum)``
CAA        ``(flags: int, tag: bytes, value: bytes)``
=========  =====================================================================

These are the record types Azure private DNS zones hold (A, AAAA, CNAME, MX,
PTR, SOA, SRV, TXT) plus NS, DNAME and CAA for public data: an NS below a public
zone's apex is a delegation and a DNAME redirects the names below its owner
(RFC 6672); :mod:`dnsemu.core.zone` says how lookups treat them.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from dnsemu.dns import names
from dnsemu.text import excerpt


class RRType(enum.IntEnum):
    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    PTR = 12
    MX = 15
    TXT = 16
    AAAA = 28
    SRV = 33
    DNAME = 39
    OPT = 41
    DS = 43
    RRSIG = 46
    NSEC = 47
    DNSKEY = 48
    HTTPS = 65
    SVCB = 64
    AXFR = 252
    IXFR = 251
    ANY = 255
    CAA = 257

    @classmethod
    def make(cls, value: str | int) -> int:
        """The type code for ``"A"``, ``"TYPE65"``, ``65`` …; ValueError when unknown."""
        if isinstance(value, int):
            if not 0 <= value <= 0xFFFF:
                raise ValueError(f"type code {value} is out of range")
            return value
        text = value.strip().upper()
        if text in cls.__members__:
            return int(cls[text])
        if text.startswith("TYPE") and text[4:].isdigit():
            return cls.make(int(text[4:]))
        raise ValueError(f"unknown record type {excerpt(value)}")


def type_name(code: int) -> str:
    name = _TYPE_NAMES.get(code)
    return name if name is not None else f"TYPE{code}"


_TYPE_NAMES = {int(member): member.name for member in RRType}


class Rcode(enum.IntEnum):
    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5
    YXDOMAIN = 6
    NOTAUTH = 9
    BADVERS = 16


#: Record types that Azure private DNS zones accept.
PRIVATE_ZONE_TYPES = frozenset(
    {RRType.A, RRType.AAAA, RRType.CNAME, RRType.MX, RRType.PTR, RRType.SOA, RRType.SRV, RRType.TXT}
)
#: Record types the core can hold and answer with (public zones: all of them).
SUPPORTED_TYPES = PRIVATE_ZONE_TYPES | {RRType.NS, RRType.DNAME, RRType.CAA}


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    rtype: int
    ttl: int
    rdata: tuple[Any, ...]

    def text(self) -> str:
        """The record in master-file presentation form."""
        return f"{self.name}\t{self.ttl}\tIN\t{type_name(self.rtype)}\t{rdata_text(self.rtype, self.rdata)}"

    def with_ttl(self, ttl: int) -> Record:
        return Record(self.name, self.rtype, ttl, self.rdata)

    def with_name(self, name: str) -> Record:
        return Record(name, self.rtype, self.ttl, self.rdata)

    def __reduce__(self) -> tuple[Any, tuple[str, int, int, tuple[Any, ...]]]:
        # four values and a constructor that sets the slots directly: a quarter of the work of a frozen
        # dataclass's own state dict when a compiled index of a million records is pickled (the
        # compiled-index cache) or sent to a worker
        return _restore_record, (self.name, self.rtype, self.ttl, self.rdata)


_new_object = object.__new__
_SET_NAME, _SET_RTYPE, _SET_TTL, _SET_RDATA = (Record.__dict__[f].__set__ for f in ("name", "rtype", "ttl", "rdata"))


def _restore_record(name: str, rtype: int, ttl: int, rdata: tuple[Any, ...]) -> Record:
    """``Record(name, rtype, ttl, rdata)`` for the unpickler and the zone-file reader's commonest line: the
    slots set through their descriptors, without the frozen dataclass's ``__init__`` (a third of its cost;
    the values come from a Record, or were checked by the reader)."""
    record = _new_object(Record)
    _SET_NAME(record, name)
    _SET_RTYPE(record, rtype)
    _SET_TTL(record, ttl)
    _SET_RDATA(record, rdata)
    return record


def _quote(data: bytes) -> str:
    out = []
    for b in data:
        if b in (0x22, 0x5C):
            out.append("\\" + chr(b))
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return '"' + "".join(out) + '"'


def rdata_text(rtype: int, rdata: tuple[Any, ...]) -> str:
    if rtype in (RRType.TXT,):
        return " ".join(_quote(s) for s in rdata)
    if rtype == RRType.CAA:
        flags, tag, value = rdata
        return f"{flags} {tag.decode('ascii', 'replace')} {_quote(value)}"
    return " ".join(str(v) for v in rdata)


@dataclass(frozen=True, slots=True)
class Question:
    """A question in canonical form: ``name`` lower case and absolute, ``qtype`` a type code."""

    name: str
    qtype: int
    qclass: int = 1

    def __str__(self) -> str:
        return f"{self.name} {type_name(self.qtype)}"


class RdataError(ValueError):
    """Rdata text that does not fit its record type; the message says what would."""


def _name(text: str, origin: str | None) -> str:
    try:
        return names.parse(text, origin)
    except names.NameError_ as exc:
        raise RdataError(f"{excerpt(text)} is not a domain name: {exc}") from None


def _int(text: str, what: str, bits: int) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise RdataError(f"{what} must be a number, not {excerpt(text)}") from None
    if not 0 <= value < (1 << bits):
        raise RdataError(f"{what} must be between 0 and {(1 << bits) - 1}, not {value}")
    return value


def _want(fields: list[str], count: int, shape: str) -> None:
    if len(fields) != count:
        raise RdataError(f"expected {shape}, got {len(fields)} field(s): {excerpt(' '.join(fields))}")


def _unquote(text: str) -> bytes:
    body = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1 : i + 4]
            if len(nxt) == 3 and nxt.isdigit():
                out.append(int(nxt) & 0xFF)
                i += 4
                continue
            out.extend(body[i + 1].encode("utf-8"))
            i += 2
            continue
        out.extend(c.encode("utf-8"))
        i += 1
    if len(out) > 255:
        raise RdataError(f"character-string of {len(out)} octets is over 255")
    return bytes(out)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_PLAIN_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")


def _is_plain_ipv4(text: str) -> bool:
    """A dotted quad already in canonical form (no leading zeros): what ipaddress would print back."""
    return _PLAIN_IPV4.fullmatch(text) is not None


def parse_rdata(rtype: int, fields: list[str], origin: str | None = None) -> tuple[Any, ...]:
    """Typed rdata from presentation-form fields (already split, quotes kept on strings)."""
    if rtype == RRType.A:
        _want(fields, 1, "one IPv4 address")
        if _is_plain_ipv4(fields[0]):
            return (fields[0],)
        try:
            return (str(ipaddress.IPv4Address(fields[0])),)
        except ValueError:
            raise RdataError(f"{excerpt(fields[0])} is not an IPv4 address") from None
    if rtype == RRType.AAAA:
        _want(fields, 1, "one IPv6 address")
        try:
            return (str(ipaddress.IPv6Address(fields[0])),)
        except ValueError:
            raise RdataError(f"{excerpt(fields[0])} is not an IPv6 address") from None
    if rtype in (RRType.CNAME, RRType.NS, RRType.PTR, RRType.DNAME):
        _want(fields, 1, "one domain name")
        return (_name(fields[0], origin),)
    if rtype == RRType.MX:
        _want(fields, 2, "'preference exchange'")
        return (_int(fields[0], "MX preference", 16), _name(fields[1], origin))
    if rtype == RRType.SRV:
        _want(fields, 4, "'priority weight port target'")
        return (
            _int(fields[0], "SRV priority", 16),
            _int(fields[1], "SRV weight", 16),
            _int(fields[2], "SRV port", 16),
            _name(fields[3], origin),
        )
    if rtype == RRType.TXT:
        if not fields:
            raise RdataError("TXT needs at least one character-string")
        return tuple(_unquote(f) for f in fields)
    if rtype == RRType.SOA:
        _want(fields, 7, "'mname rname serial refresh retry expire minimum'")
        return (
            _name(fields[0], origin),
            _name(fields[1], origin),
            *(
                _int(f, what, 32)
                for f, what in zip(fields[2:], ("serial", "refresh", "retry", "expire", "minimum"), strict=True)
            ),
        )
    if rtype == RRType.CAA:
        _want(fields, 3, "'flags tag value'")
        tag = fields[1].encode("ascii", "replace")
        if not tag.isalnum() or len(tag) > 15:
            raise RdataError(f"CAA tag {excerpt(fields[1])} must be 1-15 letters and digits")
        return (_int(fields[0], "CAA flags", 8), tag.lower(), _unquote(fields[2]))
    raise RdataError(
        f"record type {type_name(rtype)} is not supported (supported: "
        + ", ".join(sorted(type_name(t) for t in SUPPORTED_TYPES))
        + ")"
    )


def make(name: str, rtype: str | int, ttl: int, value: str, origin: str | None = None) -> Record:
    """Convenience for tests and the topology loader: one record from presentation text."""
    code = RRType.make(rtype)
    fields = split_fields(value)
    return Record(names.parse(name, origin), code, ttl, parse_rdata(code, fields, origin))


def split_fields(text: str) -> list[str]:
    """Split rdata text on blanks, keeping quoted strings (with their quotes) whole."""
    fields: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        if text[i] == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                raise RdataError(f"unterminated quoted string in {excerpt(text)}")
            i += 1
        else:
            while i < n and not text[i].isspace():
                i += 2 if text[i] == "\\" else 1
        fields.append(text[start:i])
    return fields


#: :func:`_restore_record` for readers that have checked every field themselves
trusted_record = _restore_record


def trusted_records(owners: Sequence[str], rtype: int, ttls: int | Iterable[int],
                    rdatas: Iterable[tuple[Any, ...]]) -> list[Record]:
    """``[Record(owner, rtype, ttl, rdata) ...]`` for a run of records a reader has checked every field of:
    one type, one TTL for all (an int) or one per owner, one rdata per owner (as many as ``owners``).

    Built a slot at a time over the whole run (the loops in C, no Python frame per record): a large zone
    file's common lines (:mod:`dnsemu.topology.zonefile`) in about half the time of a call per record.
    """
    records = list(map(_new_object, repeat(Record, len(owners))))
    deque(map(_SET_NAME, records, owners), 0)
    deque(map(_SET_RTYPE, records, repeat(rtype)), 0)
    deque(map(_SET_TTL, records, repeat(ttls) if isinstance(ttls, int) else ttls), 0)
    deque(map(_SET_RDATA, records, rdatas), 0)
    return records
