"""The hostile-input corpus: messages a DNS server meets on the internet, each with what it must get.

Every entry is raw wire bytes (as a client would put in a UDP datagram, or in
a TCP frame after the length prefix) and an expectation taken from
``dnsemu/wire.py``'s documented choices, which follow BIND and Knot:

``DROP``
    no reply at all: less than a header, or a response (QR=1), so that two
    servers can never be made to bounce errors at each other;
``FORMERR`` / ``NOTIMP`` / ``REFUSED`` / ``BADVERS``
    an error reply: same ID, QR=1, opcode/RD/CD echoed, no answer and no
    authority records (never an invented answer), the question echoed when it
    parsed, an OPT when the query had a readable one;
``ERROR``
    an error reply with any of FORMERR, NOTIMP, REFUSED, NOTAUTH (servers differ), never data;
``ANSWER``
    a well-formed query in a strange shape: the reply must be the very reply
    the same question gets in its ordinary shape (same rcode and sections).

Entries found by fuzzing are stored as files under ``corpus/`` (``*.bin``,
expectation in the file name: ``fuzz-<what>.<EXPECT>.bin``) and join the table.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"

QID = 0xBEEF
RD = 0x0100
WWW = b"\x03www\x07contoso\x03com\x00"  # www.contoso.com. (exists publicly in the estate)


@dataclass(frozen=True)
class Entry:
    name: str
    wire: bytes
    expect: str  # DROP | FORMERR | NOTIMP | REFUSED | BADVERS | ANSWER
    note: str = ""
    #: for ANSWER: the ordinary query whose reply this one must equal
    same_as: bytes | None = None
    #: over TCP, closing the connection is also acceptable (oversized frames)
    tcp_may_close: bool = False


def header(qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0, *, flags: int = RD, ident: int = QID) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def question(name: bytes = WWW, qtype: int = 1, qclass: int = 1) -> bytes:
    return name + struct.pack("!HH", qtype, qclass)


def rr(owner: bytes, rtype: int, rdata: bytes, *, rclass: int = 1, ttl: int = 0, rdlen: int | None = None) -> bytes:
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata) if rdlen is None else rdlen) + rdata


def opt(size: int = 1232, *, version: int = 0, do: bool = False, options: bytes = b"", owner: bytes = b"\x00",
        ext_rcode: int = 0, rdlen: int | None = None) -> bytes:
    ttl = ext_rcode << 24 | version << 16 | (0x8000 if do else 0)
    return rr(owner, 41, options, rclass=size, ttl=ttl, rdlen=rdlen)


def option(code: int, data: bytes) -> bytes:
    return struct.pack("!HH", code, len(data)) + data


def ecs(family: int, source: int, scope: int, address: bytes) -> bytes:
    return option(8, struct.pack("!HBB", family, source, scope) + address)


def name_of(*labels: bytes) -> bytes:
    return b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"


PLAIN = header() + question()  # the ordinary query every ANSWER entry is measured against
PLAIN_EDNS = header(ar=1) + question() + opt()
PLAIN_EDNS_DO = header(ar=1) + question() + opt(do=True)
PLAIN_CAA = header() + question(qtype=257)


def _mangled_additional() -> list[Entry]:
    """Every record type's rdata mangled, in the additional section of an otherwise fine query."""
    bad = {
        "A-short": (1, b"\x7f\x00\x01"),
        "A-long": (1, b"\x7f\x00\x00\x01\x00"),
        "NS-label-overrun": (2, b"\x3fab"),
        "CNAME-pointer-loop": (5, b"\xc0\x00"),
        "SOA-truncated": (6, b"\x00\x00\x00\x00\x01"),
        "PTR-empty": (12, b""),
        "HINFO-overrun": (13, b"\x09ab"),
        "MX-one-octet": (15, b"\x00"),
        "MX-bad-name": (15, b"\x00\x0a\x05ab"),
        "TXT-string-overrun": (16, b"\x0aabc"),
        "RP-truncated": (17, b"\x01"),
        "AAAA-short": (28, b"\x20\x01\x0d\xb8" + bytes(11)),
        "LOC-short": (29, b"\x00\x01"),
        "SRV-four-octets": (33, b"\x00\x01\x00\x02"),
        "NAPTR-truncated": (35, b"\x00\x01\x00"),
        "DNAME-pointer-forward": (39, b"\xc0\xff"),
        "DS-two-octets": (43, b"\x00\x01"),
        "SSHFP-one-octet": (44, b"\x01"),
        "RRSIG-five-octets": (46, b"\x00\x01\x08\x02\x00"),
        "NSEC-bad-bitmap": (47, b"\x00\x00\xff\x01"),
        "DNSKEY-one-octet": (48, b"\x01"),
        "NSEC3-truncated": (50, b"\x01\x00\x00\x0a\x04ab"),
        "TLSA-short": (52, b"\x03"),
        "SVCB-garbage": (64, b"\x00\x01\x07abc"),
        "HTTPS-key-overrun": (65, b"\x00\x01\x00\x00\x01\x00\xff"),
        "CAA-non-utf8-tag": (257, b"\x00\x03\xff\xfe\xfdx"),  # dnslib raises UnicodeDecodeError here
        "CAA-tag-overrun": (257, b"\x00\x40issue"),
        "TSIG-garbage": (250, b"\x03abc"),
    }
    #: rdata that both Knot and dnslib keep opaque (not checked): answered as if it were not there
    opaque = {"HINFO-overrun", "NSEC3-truncated", "SVCB-garbage"}
    out = []
    for label, (rtype, rdata) in bad.items():
        wire = header(ar=1) + question() + rr(b"\x00", rtype, rdata)
        if label in opaque:
            out.append(Entry(f"additional-{label}", wire, "ANSWER", f"type {rtype} rdata opaque to Knot and dnsemu",
                             same_as=PLAIN))
        else:
            out.append(Entry(f"additional-{label}", wire, "FORMERR", f"type {rtype} rdata mangled"))
    return out


def _entries() -> list[Entry]:
    e: list[Entry] = []
    add = e.append
    # --- truncated headers: nothing to answer with
    for n in (0, 1, 2, 4, 11):
        add(Entry(f"header-{n}-octets", PLAIN[:n], "DROP", "shorter than a header"))
    # --- section counts
    add(Entry("qdcount-0-empty", header(qd=0), "FORMERR"))
    add(Entry("qdcount-0-with-opt", header(qd=0, ar=1) + opt(), "FORMERR", "cookie-only shape without a cookie"))
    add(Entry("qdcount-0-cookie", header(qd=0, ar=1) + opt(options=option(10, bytes(8))), "FORMERR",
              "client cookie only (Knot: FORMERR)"))
    add(Entry("qdcount-2", header(qd=2) + question() + question(qtype=28), "FORMERR"))
    add(Entry("qdcount-2-one-present", header(qd=2) + question(), "FORMERR"))
    add(Entry("qdcount-65535", header(qd=65535) + question(), "FORMERR"))
    add(Entry("qdcount-1-no-question", header(), "FORMERR"))
    add(Entry("question-name-cut", header() + WWW[:7], "FORMERR"))
    add(Entry("question-no-type", header() + WWW, "FORMERR"))
    add(Entry("question-half-type", header() + WWW + b"\x00", "FORMERR"))
    add(Entry("question-no-class", header() + WWW + b"\x00\x01", "FORMERR"))
    add(Entry("trailing-garbage", PLAIN + b"\x00garbage", "FORMERR"))
    add(Entry("ancount-1", header(an=1) + question() + rr(WWW, 1, b"\x01\x02\x03\x04"), "FORMERR",
              "an answer record in a query"))
    add(Entry("nscount-1", header(ns=1) + question() + rr(WWW, 1, b"\x01\x02\x03\x04"), "FORMERR"))
    add(Entry("arcount-claims-more", header(ar=3) + question() + opt(), "FORMERR"))
    add(Entry("udp-65000-octets", PLAIN + bytes(65000 - len(PLAIN)), "FORMERR",
              "a huge datagram: trailing garbage; over TCP over tcp_max_message", tcp_may_close=True))
    # --- names
    loop_q = header() + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    add(Entry("question-pointer-to-itself", loop_q, "FORMERR", "compression pointer loop"))
    add(Entry("question-pointer-into-header", header() + b"\xc0\x00\x00\x01\x00\x01", "FORMERR"))
    add(Entry("question-pointer-forward", header() + b"\xc0\x12\x00\x01\x00\x01" + WWW, "FORMERR"))
    add(Entry("question-compressed-backwards", header(qd=2) + question() + b"\x03abc\xc0\x0c\x00\x01\x00\x01",
              "FORMERR", "QDCOUNT 2 with a legal pointer: still two questions"))
    base = len(header()) + len(question())
    add(Entry("additional-owner-pointer-loop", header(ar=1) + question() + rr(struct.pack("!H", 0xC000 | base), 1,
                                                                               bytes(4)), "FORMERR"))
    add(Entry("additional-owner-pointer-forward", header(ar=1) + question()
              + rr(struct.pack("!H", 0xC000 | (base + 40)), 1, bytes(4)) + bytes(40), "FORMERR"))
    add(Entry("additional-owner-ping-pong", header(ar=1) + question()
              + b"\x01a" + struct.pack("!H", 0xC000 | (base + 4)) + b"\x01b" + struct.pack("!H", 0xC000 | base)
              + struct.pack("!HHIH", 1, 1, 0, 4) + bytes(4), "FORMERR", "two pointers pointing at each other"))
    add(Entry("label-64", header() + question(name_of(b"a" * 64, b"com")), "FORMERR"))
    add(Entry("label-type-0x40", header() + question(b"\x41" + b"a" * 65 + b"\x00"), "FORMERR",
              "extended label type (RFC 6891 §5)"))
    add(Entry("label-type-0x80", header() + question(b"\x80\x00"), "FORMERR"))
    long_name = name_of(*([b"a" * 63] * 4))  # 4 * 64 + 1 = 257 octets
    add(Entry("name-257-octets", header() + question(long_name), "FORMERR"))
    add(Entry("name-256-octets", header() + question(name_of(*([b"a" * 63] * 3), b"a" * 62)), "FORMERR"))
    add(Entry("name-255-octets", header() + question(name_of(*([b"a" * 63] * 3), b"a" * 61)),
              "REFUSED", "the longest legal name, outside every zone: REFUSED (no upstream)"))
    add(Entry("name-128-labels", header() + question(name_of(*([b"a"] * 128))), "FORMERR"))
    add(Entry("name-binary-labels", header() + question(name_of(b"\x00\xff.", b"\\x", b"com")), "REFUSED",
              "octets that are legal in a label; outside the topology"))
    # --- EDNS
    add(Entry("opt-owner-not-root", header(ar=1) + question() + opt(owner=WWW), "FORMERR"))
    add(Entry("opt-in-answer", header(an=1) + question() + opt(), "FORMERR"))
    add(Entry("opt-in-authority", header(ns=1) + question() + opt(), "FORMERR"))
    add(Entry("opt-twice", header(ar=2) + question() + opt() + opt(), "FORMERR"))
    add(Entry("opt-option-header-cut", header(ar=1) + question() + opt(options=b"\x00\x0a\x00"), "FORMERR"))
    add(Entry("opt-option-overrun", header(ar=1) + question() + opt(options=b"\x00\x0a\x00\x20ab"), "FORMERR"))
    add(Entry("opt-rdlen-overrun", header(ar=1) + question() + opt(rdlen=40), "FORMERR"))
    add(Entry("opt-version-1", header(ar=1) + question() + opt(version=1), "BADVERS"))
    add(Entry("opt-version-255-do", header(ar=1) + question() + opt(version=255, do=True), "BADVERS"))
    add(Entry("opt-payload-0", header(ar=1) + question() + opt(size=0), "ANSWER", "reads as 512",
              same_as=PLAIN_EDNS))
    add(Entry("opt-payload-65535", header(ar=1) + question() + opt(size=65535), "ANSWER", same_as=PLAIN_EDNS))
    add(Entry("opt-unknown-option", header(ar=1) + question() + opt(options=option(65001, b"hello")), "ANSWER",
              "unknown options are ignored, not echoed", same_as=PLAIN_EDNS))
    add(Entry("opt-do", PLAIN_EDNS_DO, "ANSWER", same_as=PLAIN_EDNS_DO))
    add(Entry("opt-ext-rcode-set", header(ar=1) + question() + opt(ext_rcode=0xFF), "ANSWER",
              "extended rcode bits in a query mean nothing", same_as=PLAIN_EDNS))
    add(Entry("ecs-family-3", header(ar=1) + question() + opt(options=ecs(3, 0, 0, b"")), "FORMERR"))
    add(Entry("ecs-family-0", header(ar=1) + question() + opt(options=ecs(0, 0, 0, b"")), "FORMERR"))
    add(Entry("ecs-source-33", header(ar=1) + question() + opt(options=ecs(1, 33, 0, bytes(5))), "FORMERR"))
    add(Entry("ecs-scope-set", header(ar=1) + question() + opt(options=ecs(1, 24, 24, b"\x7f\x00\x01")),
              "FORMERR"))
    add(Entry("ecs-bits-past-prefix", header(ar=1) + question() + opt(options=ecs(1, 20, 0, b"\x7f\x00\xff")),
              "FORMERR"))
    add(Entry("ecs-address-too-long", header(ar=1) + question() + opt(options=ecs(1, 8, 0, b"\x7f\x00")),
              "FORMERR"))
    add(Entry("ecs-two-octets", header(ar=1) + question() + opt(options=option(8, b"\x00\x01")), "FORMERR"))
    # --- opcodes, classes, meta types
    for opcode in range(1, 16):  # UPDATE (5) gets a well-formed zone section (SOA), as dnspython insists
        add(Entry(f"opcode-{opcode}", header(flags=RD | opcode << 11) + question(qtype=6 if opcode == 5 else 1),
                  "NOTIMP"))
    for qclass in (2, 3, 4, 254, 1234):
        add(Entry(f"class-{qclass}", header() + question(qclass=qclass), "REFUSED", "only IN (and ANY) served"))
    add(Entry("class-any", header() + question(qclass=255), "ANSWER", "ANY class reads as IN",
              same_as=header() + question(qclass=255)))
    for qtype, expect in ((0, "NOTIMP"), (41, "FORMERR"), (249, "FORMERR"), (250, "FORMERR"),
                          (253, "NOTIMP"), (254, "NOTIMP")):
        add(Entry(f"qtype-{qtype}", header() + question(qtype=qtype), expect))
    soa = rr(name_of(b"contoso", b"com"), 6, b"\x00\x00" + struct.pack("!5I", 1, 0, 0, 0, 0))
    add(Entry("qtype-252-axfr", header() + question(name_of(b"contoso", b"com"), qtype=252), "ERROR",
              "zone transfer: Knot NOTIMP over UDP and NOTAUTH over TCP; BIND REFUSED (allow-transfer)"))
    add(Entry("qtype-251-ixfr", header(ns=1) + question(name_of(b"contoso", b"com"), qtype=251) + soa, "ERROR",
              "incremental transfer with its SOA: Knot NOTAUTH; BIND REFUSED"))
    # --- header flags in a query
    add(Entry("flag-z-set", header(flags=RD | 0x0040) + question(), "ANSWER", "Z is cleared", same_as=PLAIN))
    add(Entry("flag-ad-set", header(flags=RD | 0x0020) + question(), "ANSWER", "AD is never set", same_as=PLAIN))
    add(Entry("flag-aa-ra-set", header(flags=RD | 0x0480) + question(), "ANSWER", same_as=PLAIN))
    add(Entry("flag-tc-set", header(flags=RD | 0x0200) + question(), "ANSWER", same_as=PLAIN))
    add(Entry("rcode-in-query", header(flags=RD | 0x0005) + question(), "ANSWER", same_as=PLAIN))
    add(Entry("no-rd", header(flags=0) + question(), "ANSWER", same_as=header(flags=0) + question()))
    add(Entry("mixed-case", header() + question(b"\x03wWw\x07CoNtOsO\x03cOM\x00"), "ANSWER",
              "the question's case is echoed (0x20)", same_as=PLAIN))
    # --- responses: never answered
    response = struct.pack("!HHHHHH", QID, 0x8180, 1, 1, 0, 0) + question() + rr(b"\xc0\x0c", 1, b"\x01\x02\x03\x04")
    add(Entry("qr-response", response, "DROP", "a response is never answered"))
    add(Entry("qr-formerr-reply", struct.pack("!HHHHHH", QID, 0x8101, 0, 0, 0, 0), "DROP",
              "an error reply: answering it would start a loop"))
    add(Entry("qr-header-only", header(qd=0, flags=0x8000), "DROP"))
    add(Entry("qr-garbage", header(flags=0x8000) + b"\xff" * 40, "DROP"))
    add(Entry("qr-notimp-opcode", header(flags=0x8000 | 5 << 11) + question(), "DROP"))
    # --- the rdata of every record type, mangled
    e.extend(_mangled_additional())
    add(Entry("additional-unknown-type-raw", header(ar=1) + question() + rr(b"\x00", 65280, b"anything"), "ANSWER",
              "an unknown type's rdata is opaque: fine", same_as=PLAIN))
    add(Entry("caa-query-with-bad-caa", header(ar=1) + question(qtype=257) + rr(WWW[:0] + b"\x00", 257,
                                                                                   b"\x00\x02\xc3\x28"), "FORMERR",
              "the 60-byte CAA shape that makes dnslib raise UnicodeDecodeError"))
    return e


def file_entries() -> list[Entry]:
    out = []
    for path in sorted(CORPUS_DIR.glob("*.bin")):
        parts = path.name.split(".")
        expect = parts[-2] if len(parts) >= 3 else "ANY"
        out.append(Entry(f"file:{path.name}", path.read_bytes(), expect, "found by fuzzing"))
    return out


ENTRIES: list[Entry] = _entries() + file_entries()
