"""The commonest miss, a name the VNet's linked zone lacks asked plainly, answered from the query's bytes.

:func:`dnsemu.dns.wire.bare_question` finds where the question ends from the packet's length
and walks the name only down to a linked zone's apex; :meth:`PrecompiledAnswers.bare`
answers from it. Both are shortcuts of paths that exist already (:func:`peek` with
:func:`longest_suffix`, and :meth:`PrecompiledAnswers.answer`), so they are held to those
paths, and the reply to dnspython's reading of RFC 1035 §4.1 and RFC 2308 §3.
"""

from __future__ import annotations

import random
import struct
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from conftest import make_settings
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from dnsemu.dns.wire import bare_question, longest_suffix, peek, peek_bare
from dnsemu.logs import get_logger
from dnsemu.server.handler import Handler
from dnsemu.server.handler.precompiled import PrecompiledAnswers

BLOB = b"\x0bprivatelink\x04blob\x04core\x07windows\x03net\x00"
CORE = b"\x04core\x07windows\x03net\x00"
TABLE = {BLOB: "blob", CORE: "core", b"\x04test\x00": "test"}
SPOKE = "10.0.2.4"  # a VM in spoke1 of the bundled estate, linked to privatelink.blob.core.windows.net


def handler(index: Any, **overrides: Any) -> Handler:
    overrides.setdefault("query_log", False)
    return Handler(make_settings(**overrides), index, logger=get_logger("dnsemu"))


def query(qname: bytes, qtype: int = 1, qclass: int = 1, *, flags: int = 0x0100, opt: bytes | None = None,
          ident: int = 0x1234) -> bytes:
    """A query written field by field (RFC 1035 §4.1.1-§4.1.2), with an OPT record if given (RFC 6891 §6.1.2)."""
    header = struct.pack("!HHHHHH", ident, flags, 1, 0, 0, 0 if opt is None else 1)
    return header + qname + struct.pack("!HH", qtype, qclass) + (opt or b"")


def opt(size: int = 1232, do: bool = False, version: int = 0, options: bytes = b"") -> bytes:
    return b"\x00" + struct.pack("!HHBBHH", 41, size, 0, version, 0x8000 if do else 0, len(options)) + options


# --------------------------------------------------------------------------- the shape it takes


@pytest.mark.parametrize(("data", "found"), [
    (query(b"\x06nosuch" + BLOB), ("blob", 0, 7, 0)),
    (query(b"\x06NoSuch" + BLOB.upper()), ("blob", 0, 7, 0)),  # case does not matter (RFC 4343)
    (query(b"\x01a\x01b" + CORE), ("core", 0, 4, 0)),
    (query(b"\x06nosuch" + BLOB, opt=opt()), ("blob", 4, 7, 11)),  # an OPT without options
    (query(b"\x06nosuch" + BLOB, opt=opt(do=True)), ("blob", 12, 7, 11)),  # with DO
    (query(BLOB), ("blob", 0, 0, 0)),  # the apex itself (which its zone holds: the caller's business)
    (query(b"\x03www" + BLOB[12:]), ("core", 0, 9, 0)),  # www.blob.core.windows.net: core's
], ids=["plain", "upper-case", "two-labels", "opt", "opt-do", "apex", "shorter-zone"])
def test_a_bare_query_finds_its_longest_suffix(data: bytes, found: tuple[str, int, int, int]) -> None:
    entry, edns, offset, tail = found
    assert bare_question(data, TABLE) == (entry, data[12 : len(data) - tail - 4].lower(), offset, len(data) - tail,
                                          edns)


@pytest.mark.parametrize("data", [
    query(b"\x06nosuch" + BLOB, opt=opt(options=b"\x00\x0a\x00\x08" + b"c" * 8)),  # a COOKIE: peek's
    query(b"\x06nosuch" + BLOB, opt=opt(version=1)),  # EDNS version 1: BADVERS, the parser's
    query(b"\x06nosuch" + BLOB, qclass=3),  # CHAOS
    query(b"\x06nosuch" + BLOB, qclass=255),  # ANY: peek's
    query(b"\x06nosuch" + BLOB, qtype=252),  # AXFR over UDP: refused by the parser
    query(b"\x06nosuch" + BLOB, qtype=41),  # OPT as a question: FORMERR
    query(b"\x06nosuch" + BLOB, flags=0x8100),  # a response
    query(b"\x06nosuch" + BLOB, flags=0x2100),  # opcode UPDATE... (4 << 11): not QUERY
    query(b"\x06nosuch" + BLOB)[:-1],  # one octet short
    query(b"\x06nosuch" + BLOB) + b"\x00",  # one octet more than the question
    query(b"\x06nosuch\x00"),  # no suffix in the table
    query(b"\x40" + b"a" * 64 + BLOB),  # a 64-octet label (RFC 1035 §2.3.4)
    query(b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) + BLOB),  # a name over 255 octets
    query(b"\x12ab\x04core\x07windows\x03net" + b"\x00"),  # core's wire inside a label, not at a boundary
    query(b"\xc0\x0c"),  # a pointer as the question's name
    query(b"\x00"),  # the root: never looked up
    query(b"\x03ab\x00"),  # a label that runs to the end of the name: no root label left to find
    query(b"\x04ab\x00"),  # ... and one past it
], ids=["cookie", "edns-version-1", "class-chaos", "class-any", "axfr", "opt-as-qtype", "response", "update",
        "short", "long", "no-suffix", "label-64", "name-over-255", "suffix-inside-a-label", "pointer", "root",
        "label-to-the-end", "label-past-the-end"])
def test_anything_else_is_left_to_the_other_paths(data: bytes) -> None:
    assert bare_question(data, TABLE) is None


_LABELS = st.sampled_from([b"\x06nosuch", b"\x01a", b"\x05Mixed", b"\x03a.b", b"\x01\x00", b"\x02\xc0\x0c",
                           b"\x3f" + b"x" * 63, b"\x40" + b"y" * 64, b"\x04test", b"\x04core"])
_SUFFIXES = st.sampled_from([BLOB, CORE, b"\x04test\x00", b"\x07windows\x03net\x00", b"\x00", b"\xc0\x0c", b""])
_OPTS = st.sampled_from([None, opt(), opt(do=True), opt(512, version=1), opt(options=b"\x00\x0c\x00\x00"),
                         opt()[:-1], b"\x00\x00\x29", opt(512), opt(513), opt(100)])


@settings(max_examples=400, deadline=None)
@given(labels=st.lists(_LABELS, max_size=5), suffix=_SUFFIXES, qtype=st.sampled_from([1, 28, 16, 0, 41, 252, 255]),
       qclass=st.sampled_from([1, 3, 255]), flags=st.sampled_from([0x0100, 0x0000, 0x0110, 0x8100, 0x2800]),
       extra=_OPTS, cut=st.integers(0, 3), noise=st.binary(max_size=3))
def test_whatever_it_takes_peek_takes_and_reads_alike(labels: list[bytes], suffix: bytes, qtype: int, qclass: int,
                                                      flags: int, extra: bytes | None, cut: int, noise: bytes) -> None:
    """A subset of :func:`peek`'s queries, read the same: the same name, question end and EDNS bits, and the
    longest suffix :func:`longest_suffix` finds in the peeked name."""
    data = query(b"".join(labels) + suffix, qtype, qclass, flags=flags, opt=extra)
    for candidate in (data, data[: len(data) - cut], data + noise):
        found = bare_question(candidate, TABLE)
        if found is None:
            continue
        entry, qname, offset, end, edns = found
        p = peek(candidate)
        assert p is not None, candidate
        assert (p.qname_key, p.question_end, p.key[-3] & 12) == (qname, end, edns)
        assert longest_suffix(TABLE, p.qname_key) == (entry, offset)
        assert peek_bare(candidate, qname, end, edns) == p  # the peek made from what was found is peek's


# --------------------------------------------------------------------------- the answer it gives


def test_the_nxdomain_of_a_bare_query_is_the_rfc_reply(bundled: Any) -> None:
    """NXDOMAIN (RFC 1035 §4.1.1) with the zone's SOA in authority, TTL min(SOA TTL, minimum) (RFC 2308 §3,
    Azure's private zone SOA, facts §1), the question echoed in the client's case (RFC 4343 §4), RD and CD
    echoed, RA set, AA clear (Azure-provided DNS is a recursive resolver, facts §2), no answer."""
    h = handler(bundled)
    data = query(b"\x06NoSuch" + b"\x0bPrivateLink\x04Blob\x04core\x07windows\x03net\x00", flags=0x0110,
                 ident=0xBEEF)
    reply = h.handle(data, (SPOKE, 5))
    assert isinstance(reply, bytes)
    message = dns.message.from_wire(reply)
    assert message.id == 0xBEEF and message.rcode() == dns.rcode.NXDOMAIN
    assert message.flags == dns.flags.QR | dns.flags.RD | dns.flags.RA | dns.flags.CD | dns.rcode.NXDOMAIN
    assert reply[12 : len(data)] == data[12:]  # the question, byte for byte
    assert message.answer == [] and message.additional == [] and message.edns == -1
    (soa,) = message.authority
    assert soa.name.to_text() == "PrivateLink.Blob.core.windows.net."  # compressed against the question
    assert soa.rdtype == dns.rdatatype.SOA and soa.ttl == 10
    assert soa[0].to_text() == "azureprivatedns.net. azureprivatedns-host.microsoft.com. 1 3600 300 2419200 10"
    assert reply[len(data) : len(data) + 2] == struct.pack("!H", 0xC000 | 19)  # the owner: a pointer to the apex


def test_with_edns_the_reply_carries_the_servers_opt_and_do(bundled: Any) -> None:
    """RFC 6891 §6.1.1 and §7: an OPT in the reply with the server's payload size, DO echoed (RFC 3225 §3)."""
    h = handler(bundled, udp_payload_size=1400)
    reply = h.handle(query(b"\x06nosuch" + BLOB, opt=opt(4096, do=True)), (SPOKE, 5))
    message = dns.message.from_wire(reply)
    assert message.rcode() == dns.rcode.NXDOMAIN and message.edns == 0 and message.payload == 1400
    assert message.ednsflags & dns.flags.DO and not message.options


def test_bare_answers_are_the_resolvers_and_counted_as_misses(bundled: Any, monkeypatch: Any) -> None:
    """Over distinct names under every linked zone of the bundled estate, absent ones and the ones the zones
    hold, asked plainly from each VNet: every reply equals the resolver's byte for byte (the query log on makes
    the handler resolve each miss), asked twice (the second a cache hit on both sides); the lane answers most
    of them (the comparison is not vacuous), and the counters agree: each query under the same label, reply
    size and rcode; as hits, the repeats of what the fast side keeps (NOERROR, not the NXDOMAIN it makes again).
    """
    fast = handler(bundled)
    slow = handler(bundled, query_log=True)
    lane: list[bytes] = []
    real = PrecompiledAnswers.bare

    def spy(self: PrecompiledAnswers, data: bytes, udp_size: int, tcp: bool) -> Any:
        out = real(self, data, udp_size, tcp)
        if out is not None:
            lane.append(data)
        return out

    monkeypatch.setattr(PrecompiledAnswers, "bare", spy)
    rng = random.Random(7)
    zones = {plan.zone.name: plan.zone for table in bundled.negative.values() for plan in table.plans.values()}
    held = sorted(name for zone in zones.values() for name in zone.nodes if "*" not in name)
    rng.shuffle(held)
    sources = [SPOKE, "10.0.1.4", "10.1.0.4", "10.0.0.4"]
    kept = 0  # NOERROR replies: kept by both sides, so the second ask is a hit; an NXDOMAIN only by the resolver
    for i in range(600):
        ghost = f"ghost{i}.{rng.choice(['', 'deep.'])}{rng.choice(sorted(zones))}"
        name = held.pop() if i % 3 == 0 and held else ghost
        name = "".join(c.upper() if rng.random() < 0.2 else c for c in name)
        wire = dns.message.make_query(name, rng.choice(["A", "AAAA", "TXT", "MX", "PTR", "SRV"]), id=i,
                                      use_edns=rng.choice([None, 0]), want_dnssec=rng.random() < 0.2).to_wire()
        source = (rng.choice(sources), 5)
        for _ in range(2):
            with capture_logs():
                expected = slow.handle(wire, source)
            assert fast.handle(wire, source) == expected, (name, source)
        kept += dns.message.from_wire(expected).rcode() == dns.rcode.NOERROR
    assert len(lane) >= 300, len(lane)
    got, want = fast.stats.snapshot(), slow.stats.snapshot()
    assert any(dns.message.from_wire(fast.handle(d, (SPOKE, 5))).rcode() == dns.rcode.NOERROR for d in lane)
    assert got.queries == want.queries
    assert got.cache["hit", "udp"] == kept and want.cache["hit", "udp"] == 600  # (the precompiled NXDOMAIN: not kept)
    assert sum(got.cache.values()) == sum(want.cache.values()) == 1200
    assert (got.sizes, got.size_sum, got.truncated) == (want.sizes, want.size_sum, want.truncated)


# --------------------------------------------------------------------------- memory stays bounded


def test_per_source_memos_and_miss_cells_are_bounded_and_still_count(bundled: Any, monkeypatch: Any) -> None:
    """A flood of sources (every address of a /16 asking once) or of odd qtypes must not grow the handler's
    memos without end: past their bound they start again, and every query is still answered and counted."""
    import dnsemu.server.handler.cache as cache_module
    import dnsemu.server.handler.handler as handler_module

    monkeypatch.setattr(cache_module, "MEMO_LIMIT", 3)
    monkeypatch.setattr(handler_module, "MISS_CELLS_LIMIT", 2)
    h = handler(bundled)
    sources = [f"10.0.2.{i}" for i in range(4, 12)]
    for i, source in enumerate(sources):  # spoke1's VMs: each one a new source
        reply = h.handle(query(b"\x06nosuch" + BLOB, qtype=[1, 28, 16, 15][i % 4], ident=i), (source, 5))
        assert dns.message.from_wire(reply).rcode() == dns.rcode.NXDOMAIN
        resolved = query(bytes([4]) + f"www{i}".encode() + b"\x07example\x03com\x00", ident=i)
        h.handle(resolved, (source, 5))  # a name no cache holds, resolved: the per-source memo of the slow path
    state = h._state
    assert len(state.where) <= 3 and len(state.sources) <= 3 and len(state.miss_cells) <= 2
    counted = h.stats.snapshot()
    assert sum(counted.queries.values()) == 2 * len(sources)
    assert sum(n for (_, _, _, rcode, _), n in counted.queries.items() if rcode == "NXDOMAIN") >= len(sources)


def test_a_query_with_a_cookie_is_answered_from_the_zone_after_the_peek(bundled: Any) -> None:
    """Not bare (dig sends a COOKIE, RFC 7873): the absent name's NXDOMAIN comes from the precompiled answer
    after the peek, the same bytes as the resolver's, with the OPT the client's EDNS asks for."""
    fast, slow = handler(bundled), handler(bundled, query_log=True)
    data = query(b"\x06nosuch" + BLOB, opt=opt(options=b"\x00\x0a\x00\x08" + b"c" * 8))
    assert bare_question(data, TABLE) is None
    with capture_logs():
        expected = slow.handle(data, (SPOKE, 5))
    got = fast.handle(data, (SPOKE, 5))
    assert got == expected and dns.message.from_wire(got).rcode() == dns.rcode.NXDOMAIN
    assert not fast._state.cache  # answered precompiled: nothing resolved, nothing kept


def test_each_reply_echoes_its_own_rd_and_cd_from_one_template(bundled: Any) -> None:
    """RFC 1035 §4.1.1 (RD copied into the response) and RFC 4035 §3.2.2 (CD copied): one zone's reply
    shapes are rendered once and reused, so queries that differ only in RD, CD or DO, asked one after
    another through one handler, must each get their own bits back."""
    h = handler(bundled)
    for flags in (0x0100, 0x0000, 0x0110, 0x0010, 0x0100):
        for extra in (None, opt(do=True), opt()):
            message = dns.message.from_wire(h.handle(query(b"\x06nosuch" + BLOB, flags=flags, opt=extra), (SPOKE, 5)))
            assert bool(message.flags & dns.flags.RD) == bool(flags & 0x0100), (flags, extra)
            assert bool(message.flags & dns.flags.CD) == bool(flags & 0x0010), (flags, extra)
            assert bool(message.ednsflags & dns.flags.DO) == (extra is not None and extra == opt(do=True))


@pytest.mark.parametrize("size", [0, 100, 511, 512, 513, 1232, 65535], ids=str)
def test_the_peek_made_on_the_way_is_peeks_for_every_payload_size(size: int) -> None:
    """RFC 6891 §6.2.5: a payload size under 512 is read as 512; the key of the peek the lane makes for a name
    its zone holds is then the one :func:`peek` makes (the reply cache is shared by both ways in)."""
    data = query(b"\x04host" + BLOB, opt=opt(size))
    _, qname, _, end, edns = bare_question(data, TABLE)  # type: ignore[misc]
    assert peek_bare(data, qname, end, edns) == peek(data)
    assert peek(data).key[-2:] == max(size, 512).to_bytes(2, "big")  # type: ignore[union-attr]
