"""Fuzzing the whole per-packet path: ``Handler.handle(data, addr, tcp)``, not only the parser.

``Handler.handle`` is what both transports call for every datagram and every
TCP message: the cache probe (``wire.peek``), parsing, source-to-view mapping,
EDNS Client Subnet, resolution, encoding, the reply cache and the query log.
Hypothesis builds messages from their parts (header bits, names from the
estate and mangled ones, types, classes, OPT records and options, ECS, extra
records) and each example is then mutated a number of times at the byte level
(flips, truncations, splices, inserted pointers), so one example yields many
packets. For every packet:

* nothing escapes ``handle`` and the handler counts no internal error (an
  exception caught at the edge is still a bug: the client got SERVFAIL);
* a response (QR=1) or a message shorter than a header gets no reply;
* a reply parses with dnspython, echoes the ID, has QR=1, AA=0, RA=1, AD=0,
  and carries records only with NOERROR or NXDOMAIN;
* a UDP reply without OPT fits 512 octets, and with an OPT fits the smaller of the
  client's payload size (read from the query's OPT here, at least 512: RFC 6891 §6.2.5)
  and the server's (RFC 6891 §6.2.3: never more than the requestor can take).

Budget: a fixed, derandomized run in CI (about 20 s, hundreds of thousands of
packets; the count is printed). ``DNSEMU_LONG=1`` makes it random and ten times
longer; ``scripts/fuzz_long.py`` runs by hand for as long as you like (atheris
when installed) and writes any crash to ``corpus/`` as a new corpus entry.
"""

from __future__ import annotations

import io
import logging
import random
import struct
import time
from collections.abc import Callable

import dns.flags
import dns.message
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsemu.core.compile import compile_topology
from dnsemu.server.handler import Handler
from dnsemu.server.settings import load_settings
from dnsemu.topology.load import load_topology

from .corpus import ENTRIES
from .helpers import ESTATE, LONG

EXAMPLES = 20_000 if LONG else 1_200
MUTATIONS = 100  # byte-level variants per example
SOURCES = [("127.0.0.1", 5353), ("127.0.1.9", 1), ("127.0.2.9", 65535), ("10.1.2.3", 53), ("::1", 5, 0, 0),
           ("fe80::1%lo", 9, 0, 1), ("::ffff:127.0.1.4", 7, 0, 0), ("2001:db8::1", 1, 0, 0)]
NAMES = [b"www.contoso.com", b"contoso.com", b"mystorage.blob.core.windows.net", b"x.apps.corp.example",
         b"alias1.corp.example", b"big.contoso.com", b"partnerstore.blob.core.windows.net", b"",
         b"130.1.0.127.in-addr.arpa", b"vm1.internal.cloudapp.net", b"nothing.example.org", b"*.cdn.contoso.com",
         b"corp.example", b"outside.fabrikam.net"]


class Counter:
    packets = 0
    replies = 0
    dropped = 0


def make_handler(query_log: bool) -> tuple[Handler, io.StringIO]:
    sink = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.WriteLogger(sink),
        processors=[structlog.processors.add_log_level, structlog.processors.dict_tracebacks,
                    structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )
    values = {"topology": str(ESTATE), "query_log": query_log, "cache_size": 64}
    handler = Handler(load_settings(values, env={}), compile_topology(load_topology(ESTATE)), logger=logger)
    return handler, sink


HANDLERS = {True: make_handler(True), False: make_handler(False)}


# --------------------------------------------------------------------------- strategies


def encode_name(labels: list[bytes]) -> bytes:
    return b"".join(bytes((len(label) & 0xFF,)) + label for label in labels) + b"\x00"


@st.composite
def names(draw: Callable) -> bytes:
    kind = draw(st.integers(0, 5))
    if kind <= 2:
        base = draw(st.sampled_from(NAMES))
        labels = [label for label in base.split(b".") if label]
        if kind == 1:  # DNS 0x20: random case
            labels = [bytes(c ^ 0x20 if 0x61 <= c <= 0x7A and draw(st.booleans()) else c for c in label)
                      for label in labels]
        if kind == 2:
            labels = draw(st.lists(st.binary(min_size=1, max_size=8), max_size=3)) + labels
        return encode_name(labels)
    if kind == 3:  # arbitrary labels, possibly long
        return encode_name(draw(st.lists(st.binary(min_size=0, max_size=70), max_size=6)))
    if kind == 4:  # compression pointers and odd label types
        return draw(st.binary(max_size=6)) + bytes([draw(st.integers(0x40, 0xFF)), draw(st.integers(0, 255))])
    return draw(st.binary(max_size=40))


@st.composite
def options(draw: Callable) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 3))):
        code = draw(st.sampled_from([8, 8, 10, 12, 3, 15, 65001, draw(st.integers(0, 65535))]))
        if code == 8:
            family = draw(st.sampled_from([1, 2, 0, 3]))
            source = draw(st.integers(0, 130))
            scope = draw(st.sampled_from([0, 0, 0, draw(st.integers(0, 255))]))
            width = (source + 7) // 8 + draw(st.sampled_from([0, 0, 0, -1, 1]))
            address = draw(st.sampled_from([b"\x7f\x00\x01\x09", b"\x7f\x00\x02\x01", b"\x0a\x01\x02\x03",
                                            bytes(16), b"\xfe\x80" + bytes(14)]))
            data = struct.pack("!HBB", family, source, scope) + (address * 4)[: max(0, width)]
        else:
            data = draw(st.binary(max_size=12))
        length = len(data) if draw(st.integers(0, 9)) else draw(st.integers(0, 65535))
        out += struct.pack("!HH", code, length) + data
    return out


@st.composite
def messages(draw: Callable) -> bytes:
    ident = draw(st.integers(0, 65535))
    opcode = draw(st.sampled_from([0, 0, 0, 0, 1, 2, 4, 5, 15]))
    flags = opcode << 11
    flags |= draw(st.sampled_from([0x0100, 0x0100, 0, 0x0110, 0x0130, 0x8000, 0x0340, 0x0587]))
    flags |= draw(st.sampled_from([0, 0, 0, 1, 5, 15]))
    qd = draw(st.sampled_from([1, 1, 1, 1, 0, 2]))
    body = b""
    for _ in range(qd):
        qtype = draw(st.sampled_from([1, 28, 5, 15, 16, 33, 6, 2, 12, 255, 257, 65, 0, 41, 250, 251, 252, 253, 99,
                                      65535]))
        qclass = draw(st.sampled_from([1, 1, 1, 255, 3, 4, 254, 0]))
        body += draw(names()) + struct.pack("!HH", qtype, qclass)
    counts = [0, 0, 0]
    extra = b""
    for section in draw(st.lists(st.sampled_from([0, 1, 2, 2, 2]), max_size=3)):
        counts[section] += 1
        if draw(st.booleans()):  # an OPT
            ttl = draw(st.sampled_from([0, 0, 0x8000, 0x00010000, draw(st.integers(0, 2**32 - 1))]))
            rdata = draw(options())
            owner = draw(st.sampled_from([b"\x00", b"\x00", b"\x03www\x00"]))
            extra += owner + struct.pack("!HHIH", 41, draw(st.sampled_from([512, 1232, 4096, 0, 65535])), ttl,
                                         len(rdata)) + rdata
        else:
            rtype = draw(st.sampled_from([1, 2, 5, 6, 12, 13, 15, 16, 28, 33, 39, 43, 46, 47, 48, 64, 65, 250,
                                          257, 65280]))
            rdata = draw(st.binary(max_size=24))
            extra += draw(names()) + struct.pack("!HHIH", rtype, 1, 0, len(rdata)) + rdata
    if draw(st.integers(0, 9)) == 0:
        counts = [draw(st.integers(0, 65535)) for _ in range(3)]
    if draw(st.integers(0, 9)) == 0:
        qd = draw(st.integers(0, 65535))
    return struct.pack("!HHHHHH", ident, flags, qd, *counts) + body + extra


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if op == 0 and buf:  # flip bits
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # truncate
            del buf[rng.randrange(len(buf)):]
        elif op == 2:  # insert random bytes
            i = rng.randrange(len(buf) + 1)
            buf[i:i] = rng.randbytes(rng.randint(1, 6))
        elif op == 3 and len(buf) > 12:  # a compression pointer somewhere
            i = rng.randrange(12, len(buf))
            buf[i:i + 2] = struct.pack("!H", 0xC000 | rng.randrange(0, max(13, len(buf) + 8)))
        elif op == 4 and buf:  # set a byte to a boundary value
            buf[rng.randrange(len(buf))] = rng.choice([0, 1, 0x3F, 0x40, 0x7F, 0x80, 0xBF, 0xC0, 0xFF])
        elif op == 5 and len(buf) >= 12:  # section counts
            i = rng.choice([4, 6, 8, 10])
            buf[i:i + 2] = struct.pack("!H", rng.choice([0, 1, 2, 255, 65535]))
        elif op == 6:  # splice a corpus entry
            other = rng.choice(ENTRIES).wire
            cut = rng.randrange(len(buf) + 1)
            buf = buf[:cut] + other[rng.randrange(len(other) + 1):]
    return bytes(buf)


# --------------------------------------------------------------------------- the oracle


def _skip_name(data: bytes, pos: int) -> int:
    """The position after the (possibly compressed) name at ``pos``; IndexError when it runs off the end."""
    while True:
        length = data[pos]
        if length == 0:
            return pos + 1
        if length >= 0xC0:
            if pos + 1 >= len(data):
                raise IndexError("pointer cut short")
            return pos + 2
        pos += length + 1


def client_udp_size(data: bytes) -> int | None:
    """The UDP payload size of the query's first OPT record (RFC 6891 §6.1.2: its CLASS), None without one.

    Read here, byte by byte, rather than with dnsemu's parser or dnspython's (which refuses some
    options dnsemu rightly ignores): the size check must not depend on the code it checks.
    """
    try:
        qd, an, ns, ar = struct.unpack_from("!4H", data, 4)
        pos = 12
        for _ in range(qd):
            pos = _skip_name(data, pos) + 4
        for _ in range(an + ns + ar):
            pos = _skip_name(data, pos)
            rtype, rclass, _ttl, rdlen = struct.unpack_from("!HHIH", data, pos)
            if rtype == 41:
                return rclass
            pos += 10 + rdlen
    except (IndexError, struct.error):
        return None
    return None


def check_packet(data: bytes, addr: tuple, tcp: bool, query_log: bool) -> None:
    handler = HANDLERS[query_log][0]
    internal = handler.stats.errors.get("internal", 0)
    Counter.packets += 1
    reply = handler.handle(data, addr, tcp)
    assert not hasattr(reply, "__await__"), "no upstreams: nothing may wait for one"
    assert handler.stats.errors.get("internal", 0) == internal, (
        f"internal error on {data.hex()} from {addr} tcp={tcp}:\n{HANDLERS[query_log][1].getvalue()[-3000:]}")
    if reply is None:
        Counter.dropped += 1
        return
    Counter.replies += 1
    assert isinstance(reply, bytes)
    assert len(data) >= 12 and not data[2] & 0x80, f"replied to a response or a runt: {data.hex()}"
    wire = reply
    if reply[2] & 0x78 == 0x28:  # UPDATE: dnspython insists on an SOA zone section; check the framing as QUERY
        wire = reply[:2] + bytes([reply[2] & 0x87]) + reply[3:]
    message = dns.message.from_wire(wire)
    assert message.id == struct.unpack("!H", data[:2])[0]
    flags = message.flags
    assert flags & dns.flags.QR and flags & dns.flags.RA and not flags & (dns.flags.AA | dns.flags.AD)
    if message.answer or message.authority:
        assert message.rcode() in (0, 3), f"records with rcode {message.rcode()}: {data.hex()}"
    if not tcp:
        if message.edns < 0:
            limit = 512
        else:
            client = client_udp_size(data)
            limit = min(max(client if client is not None else handler.udp_size, 512), handler.udp_size)
        assert len(reply) <= limit, (len(reply), limit, data.hex())


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=messages(), source=st.sampled_from(SOURCES), tcp=st.booleans(), query_log=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_fuzz_handler(data: bytes, source: tuple, tcp: bool, query_log: bool, seed: int) -> None:
    check_packet(data, source, tcp, query_log)
    rng = random.Random(seed)
    for _ in range(MUTATIONS):
        check_packet(mutate(data, rng), source, tcp, query_log)


@settings(max_examples=EXAMPLES // 5, deadline=None, derandomize=not LONG, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=600), tcp=st.booleans())
def test_fuzz_raw_bytes(data: bytes, tcp: bool) -> None:
    check_packet(data, SOURCES[0], tcp, False)
    check_packet(data[:2] + b"\x01\x00" + data[4:], SOURCES[1], tcp, True)  # the same bytes as a query


def test_fuzz_corpus_mutations() -> None:
    rng = random.Random(1)
    for entry in ENTRIES:
        for _ in range(300):
            check_packet(mutate(entry.wire, rng), rng.choice(SOURCES), rng.random() < 0.5, rng.random() < 0.5)


def test_report_packets_fuzzed() -> None:
    """Runs last in this module: the figure for the closing note."""
    started = time.monotonic()
    assert Counter.packets > 0
    print(f"\nfuzz: {Counter.packets} packets through Handler.handle, {Counter.replies} replies, "
          f"{Counter.dropped} dropped; internal errors: "
          f"{sum(h.stats.errors.get('internal', 0) for h, _ in HANDLERS.values())}")
    assert time.monotonic() - started < 1
