"""The handler without sockets: bytes and a client address in, reply bytes out.

dnspython builds the queries and reads the replies (an independent codec).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from conftest import ALPHA, BETA, BUNDLED_TOPOLOGY, OUTSIDE, TEST_TOPOLOGY, make_settings
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

import dnsemu.server.handler.handler as handler_module
import dnsemu.server.handler.querylog as querylog_module
from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Options
from dnsemu.dns.client import ServersFailed
from dnsemu.logs import get_logger
from dnsemu.server.handler import Handler, ecs_scope, servfail_from_header
from dnsemu.topology.load import load_topology

PRIVATE = "teststore.privatelink.blob.core.windows.net. a 127.0.1.4"
PUBLIC = "blob.eusprdstr01a.store.core.windows.net. a 203.0.113.111"


@pytest.fixture(autouse=True)
def _query_log_through_structlog(monkeypatch: Any) -> None:
    """These tests read query-log lines with structlog's capture_logs: keep the buffered JSON writer, which
    another test's logging set-up may have installed in this process, out of the way (order-independent)."""
    monkeypatch.setattr("dnsemu.logs._QUERY_LOG", None)


@pytest.fixture(scope="module")
def index() -> Any:
    return compile_topology(load_topology(TEST_TOPOLOGY), generation=1)


@pytest.fixture(scope="module")
def bundled() -> Any:
    return compile_topology(load_topology(BUNDLED_TOPOLOGY), generation=1)


def make(index: Any, **overrides: Any) -> Handler:
    overrides.setdefault("query_log", False)
    upstream = overrides.pop("upstream", None)
    # a logger of its own: every line goes through structlog (capture_logs sees it), never through the
    # process's buffered query log, which another test's logging configuration may have set up
    return Handler(make_settings(**overrides), index, upstream=upstream, logger=get_logger("dnsemu"))


def q(name: str, rdtype: str = "A", **kwargs: Any) -> bytes:
    kwargs.setdefault("use_edns", 0)
    return dns.message.make_query(name, rdtype, **kwargs).to_wire()


def reply_of(data: bytes | None) -> dns.message.Message:
    assert isinstance(data, bytes), data
    return dns.message.from_wire(data)


def answers(message: dns.message.Message) -> list[str]:
    return [f"{r.name} {dns.rdatatype.to_text(r.rdtype)} {d.to_text()}".lower() for r in message.answer for d in r]


def ecs_of(message: dns.message.Message) -> dns.edns.ECSOption | None:
    found = [o for o in message.options if isinstance(o, dns.edns.ECSOption)]
    return found[0] if found else None


# --------------------------------------------------------------------------- the cache


def test_a_repeated_query_is_a_cache_hit_with_its_own_id(index: Any) -> None:
    h = make(index)
    first = h.handle(q("teststore.blob.core.windows.net"), (ALPHA, 5000))
    again = q("teststore.blob.core.windows.net")
    second = h.handle(again, (ALPHA, 5001))
    assert isinstance(first, bytes) and isinstance(second, bytes)
    assert second[:2] == again[:2] and second[2:] == first[2:]
    assert h.stats.snapshot().cache[("miss", "udp")] == 1 and h.stats.snapshot().cache[("hit", "udp")] == 1
    assert answers(reply_of(second))[-1] == PRIVATE


def test_a_hit_keeps_the_question_case_of_each_client(index: Any) -> None:
    h = make(index)
    for name in ("teststore.blob.core.windows.net", "TESTSTORE.Blob.Core.Windows.Net",
                 "tEsTsToRe.bLoB.cOrE.wInDoWs.NeT"):
        message = reply_of(h.handle(q(name), (ALPHA, 1)))
        assert message.question[0].name.to_text() == name + "."
        assert answers(message)[0].startswith("teststore.blob.core.windows.net. cname")
    assert h.stats.snapshot().cache[("hit", "udp")] == 2


def test_the_cache_is_per_view_and_per_transport(index: Any) -> None:
    h = make(index)
    query = q("teststore.blob.core.windows.net")
    assert answers(reply_of(h.handle(query, (ALPHA, 1))))[-1] == PRIVATE
    assert answers(reply_of(h.handle(query, (BETA, 1))))[-1] == PUBLIC
    assert answers(reply_of(h.handle(query, (ALPHA, 1))))[-1] == PRIVATE
    big = q("big.example.test", "TXT")
    assert reply_of(h.handle(big, (ALPHA, 1))).flags & dns.flags.TC
    assert len(answers(reply_of(h.handle(big, (ALPHA, 1), True)))) == 10
    assert reply_of(h.handle(big, (ALPHA, 1))).flags & dns.flags.TC  # from the UDP cache, still truncated
    assert h.stats.snapshot().truncated["udp"] == 2 and h.stats.snapshot().truncated["tcp"] == 0


def test_a_hit_does_no_parsing_resolving_or_encoding(index: Any, monkeypatch: Any) -> None:
    h = make(index, query_log=True)
    query = q("app.corp.test")
    with capture_logs():
        expected = h.handle(query, (ALPHA, 1))

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("called on a cache hit")

    for name in ("parse_query", "resolve_classified", "encode_response"):
        monkeypatch.setattr(handler_module, name, forbidden)
    monkeypatch.setattr(querylog_module, "answer_summary", forbidden)
    monkeypatch.setattr("dnslib.DNSRecord.parse", forbidden)
    with capture_logs() as logs:
        assert h.handle(query, (ALPHA, 2)) == expected
        other_case = dns.message.make_query("APP.corp.test", "A", use_edns=0)
        message = reply_of(h.handle(other_case.to_wire(), (ALPHA, 3)))
    assert message.id == other_case.id and answers(message) == ["app.corp.test. a 127.0.1.10"]
    assert [e["cached"] for e in logs] == [True, True] and logs[1]["qname"] == "APP.corp.test."


def test_reload_swaps_index_and_cache_together(index: Any, tmp_path: Any) -> None:
    h = make(index)
    query = q("app.corp.test")
    assert answers(reply_of(h.handle(query, (ALPHA, 1)))) == ["app.corp.test. a 127.0.1.10"]
    changed = tmp_path / "topology.yaml"
    changed.write_text(TEST_TOPOLOGY.read_text().replace("127.0.1.10", "127.0.1.99"))
    h.swap(compile_topology(load_topology(changed), generation=2))
    assert h.generation == 2
    assert answers(reply_of(h.handle(query, (ALPHA, 1)))) == ["app.corp.test. a 127.0.1.99"]
    assert h.stats.snapshot().cache[("hit", "udp")] == 0  # the old generation's reply was never used


def test_the_cache_is_bounded(index: Any) -> None:
    h = make(index, cache_size=3)
    for i in range(20):
        h.handle(q(f"n{i}.example.test"), (ALPHA, 1))
    state = h._state
    assert len(state.cache) <= 3 and len(state.exact) <= 3
    h = make(index, cache_size=0)
    for _ in range(3):
        assert reply_of(h.handle(q("www.example.test"), (ALPHA, 1))).rcode() == dns.rcode.NOERROR
    assert h.stats.snapshot().cache[("hit", "udp")] == 0


# --------------------------------------------------------------------------- errors


def test_a_resolver_exception_is_servfail_with_a_logged_traceback(index: Any, monkeypatch: Any) -> None:
    h = make(index)

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(handler_module, "resolve_classified", broken)
    with capture_logs() as logs:
        message = reply_of(h.handle(q("Www.Example.Test"), (ALPHA, 1)))
    assert message.rcode() == dns.rcode.SERVFAIL
    assert message.question[0].name.to_text() == "Www.Example.Test."
    (event,) = [e for e in logs if e["event"] == "internal_error"]
    assert event["exc_info"] is True and event["log_level"] == "error"
    assert h.stats.errors["internal"] == 1


def test_an_exception_anywhere_in_the_hot_path_is_servfail(index: Any, monkeypatch: Any) -> None:
    h = make(index)
    monkeypatch.setattr(handler_module, "peek", lambda data: 1 / 0)
    with capture_logs():
        data = q("www.example.test")
        reply = h.handle(data, (ALPHA, 1))
    assert reply is not None and reply[:2] == data[:2] and reply[3] & 0xF == dns.rcode.SERVFAIL


def test_servfail_from_a_bare_header() -> None:
    query = struct.pack("!HHHHHH", 7, 0x0110, 1, 0, 0, 0)  # RD and CD
    reply = servfail_from_header(query)
    assert reply is not None
    ident, flags, qd = struct.unpack("!HHH", reply[:6])
    assert ident == 7 and flags == 0x8000 | 0x0100 | 0x0080 | 0x0010 | 2 and qd == 0
    assert servfail_from_header(b"\x00") is None
    assert servfail_from_header(struct.pack("!HHHHHH", 7, 0x8000, 1, 0, 0, 0)) is None  # never answer a response


def test_wire_errors_are_answered_or_dropped_and_counted(index: Any) -> None:
    h = make(index)
    formerr = struct.pack("!HHHHHH", 1, 0x0100, 0, 0, 0, 0)
    assert reply_of(h.handle(formerr, (ALPHA, 1))).rcode() == dns.rcode.FORMERR
    assert h.handle(b"\x00\x01\x81\x80" + bytes(8), (ALPHA, 1)) is None  # a response: dropped
    badvers = dns.message.make_query("www.example.test", "A", use_edns=1).to_wire()
    assert reply_of(h.handle(badvers, (ALPHA, 1))).rcode() == dns.rcode.BADVERS
    assert h.stats.errors == {"formerr": 1, "dropped": 1, "badvers": 1}


# --------------------------------------------------------------------------- ECS


def ecs_query(address: str, prefix: int, name: str = "mystorage.blob.core.windows.net") -> bytes:
    return q(name, options=[dns.edns.ECSOption(address, prefix)])


@pytest.mark.parametrize(("address", "prefix", "last", "scope"), [
    ("10.0.2.4", 32, "a 10.0.1.4", 16),        # hub
    ("10.1.0.0", 24, "a 10.0.1.4", 16),        # spoke1 -> hub resolver
    ("10.3.0.4", 32, "a 10.0.1.4", 16),        # sandbox links the zone itself
    ("10.0.0.0", 8, "a 10.0.1.4", 16),         # /8 is not enough to tell: the scope says /16
    ("8.8.8.8", 32, "a 203.0.113.111", 7),     # 8.0.0.0/7 holds no modelled network
    ("10.4.0.4", 32, "a 10.0.1.4", 16),        # spoke3 -> the hub firewall's DNS proxy
    ("10.8.0.0", 16, "a 203.0.113.111", 13),   # 10.8.0.0/13 holds no VNet (10.0-10.4 are in 10.0/13)
    ("192.169.0.1", 32, "a 203.0.113.111", 16),  # next to onprem 192.168/16
    ("0.0.0.0", 0, "a 203.0.113.111", 0),      # source /0: the real source, scope 0
])
def test_ecs_routes_trusted_queries_and_echoes_the_scope(bundled: Any, address: str, prefix: int, last: str,
                                                         scope: int) -> None:
    h = make(bundled)
    message = reply_of(h.handle(ecs_query(address, prefix), ("127.0.0.1", 1)))
    assert answers(message)[-1].endswith(last)
    option = ecs_of(message)
    assert option is not None and (option.address, option.srclen, option.scopelen) == (address, prefix, scope)


def test_ecs_from_an_untrusted_source_or_when_off_is_ignored(bundled: Any) -> None:
    for h, source in ((make(bundled, ecs_trusted=["127.0.0.1/32"]), "127.0.0.2"), (make(bundled, ecs=False), OUTSIDE)):
        message = reply_of(h.handle(ecs_query("10.0.2.4", 32), (source, 1)))
        assert answers(message)[-1].endswith("a 203.0.113.111")  # the real source: the internet
        assert ecs_of(message) is None


def test_ecs_replies_are_cached_per_address_and_bytes_only(bundled: Any) -> None:
    h = make(bundled)
    for address in ("10.0.2.4", "8.8.8.8", "10.0.2.4"):
        message = reply_of(h.handle(ecs_query(address, 32), ("127.0.0.1", 1)))
        assert answers(message)[-1].endswith("10.0.1.4" if address.startswith("10.") else "203.0.113.111")
    # never in the per-view cache: the answer depends on the option, not on the view
    assert not h._state.cache
    assert {key[0] for key in h._state.exact} == {"127.0.0.1"}
    assert len(h._state.exact) == 2  # one entry per distinct query
    # the same bytes from an untrusted address are not answered from the trusted address's entry
    message = reply_of(h.handle(ecs_query("10.0.2.4", 32), ("198.51.100.9", 1)))
    assert answers(message)[-1].endswith("203.0.113.111")


def networks_of(prefixes: list[str]) -> list[tuple[int, int]]:
    nets = [ipaddress.ip_network(p) for p in prefixes]
    return [(int(n.network_address), n.prefixlen) for n in nets]


def test_ecs_scope_examples() -> None:
    nets = networks_of(["10.0.0.0/16", "10.1.0.0/16", "10.0.5.0/24"])
    assert ecs_scope(nets, ipaddress.ip_address("10.1.2.3")) == 16
    assert ecs_scope(nets, ipaddress.ip_address("10.0.5.9")) == 24
    # inside 10.0/16 but next to the nested 10.0.5/24: the answer holds for 10.0.4.0/24 only
    assert ecs_scope(nets, ipaddress.ip_address("10.0.4.1")) == 24
    # 10.0.128.0/16 would include 10.0.5/24 too: /17 is the widest block with one answer
    assert ecs_scope(nets, ipaddress.ip_address("10.0.128.1")) == 17
    assert ecs_scope(nets, ipaddress.ip_address("11.0.0.1")) == 8
    assert ecs_scope([], ipaddress.ip_address("11.0.0.1")) == 0
    assert ecs_scope(networks_of(["fd00::/48"]), ipaddress.ip_address("fd00:0:1::1")) == 48


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 32)), max_size=6), st.integers(0, 2**32 - 1))
def test_ecs_scope_is_the_widest_block_with_one_answer(raw: list[tuple[int, int]], value: int) -> None:
    nets = [ipaddress.ip_network((addr, plen), strict=False) for addr, plen in raw]
    address = ipaddress.IPv4Address(value)
    scope = ecs_scope([(int(n.network_address), n.prefixlen) for n in nets], address)

    def uniform(length: int) -> bool:
        """Every address of address/length resolves from the same (longest-matching) network."""
        block = ipaddress.ip_network((value, length), strict=False)
        for net in nets:
            if address in net:
                if length < net.prefixlen:
                    return False
            elif block.overlaps(net):
                return False
        return True

    assert uniform(scope)
    if scope > 0:
        assert not uniform(scope - 1)


# --------------------------------------------------------------------------- forwarding


class FakeUpstream:
    def __init__(self, reply: Any = None, error: Exception | None = None) -> None:
        self.reply = reply
        self.error = error
        self.asked: list[tuple[str, int, tuple[Any, ...]]] = []

    async def resolve(self, name: str, qtype: int, targets: Any = ()) -> bytes:
        self.asked.append((name, qtype, tuple(targets)))
        if self.error is not None:
            raise self.error
        if self.reply is not None:
            return self.reply
        query = dns.message.make_query(name, qtype)
        response = dns.message.make_response(query)
        response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "192.0.2.80"))
        return response.to_wire()


@pytest.mark.parametrize(("source", "overrides", "forwards"), [
    (ALPHA, {}, False),                                               # no upstreams: REFUSED
    (ALPHA, {"upstreams": ["192.0.2.53"]}, True),                     # a modelled network
    (OUTSIDE, {"upstreams": ["192.0.2.53"]}, True),                   # loopback
    ("8.8.8.8", {"upstreams": ["192.0.2.53"]}, False),                # the internet: not an open resolver
    ("8.8.8.8", {"upstreams": ["192.0.2.53"], "open_resolver": True}, True),
])
async def test_who_gets_forwarded_answers(index: Any, source: str, overrides: dict[str, Any], forwards: bool) -> None:
    upstream = FakeUpstream()
    h = make(index, upstream=upstream, **overrides)
    result = h.handle(q("WWW.example.org"), (source, 1))
    if not forwards:
        assert isinstance(result, bytes) and reply_of(result).rcode() == dns.rcode.REFUSED
        assert not upstream.asked
        # refused for want of upstreams: the same for everyone, cached; refused for this source: not
        assert h.handle(q("WWW.example.org"), (source, 1)) is not None
        assert h.stats.snapshot().cache[("hit", "udp")] == (0 if "upstreams" in overrides else 1)
        return
    assert not isinstance(result, bytes | None)
    message = reply_of(await result)
    assert message.rcode() == dns.rcode.NOERROR and answers(message) == ["www.example.org. a 192.0.2.80"]
    assert message.question[0].name.to_text() == "WWW.example.org."
    assert upstream.asked == [("www.example.org.", 1, ())]
    assert h.stats.forwarded == {"answered": 1}


async def test_forwarded_answers_are_logged_and_never_cached(index: Any) -> None:
    h = make(index, upstream=FakeUpstream(), upstreams=["192.0.2.53"], query_log=True)
    with capture_logs() as logs:
        for _ in range(2):
            message = reply_of(await h.handle(q("www.example.org"), (ALPHA, 1)))  # type: ignore[misc]
            assert answers(message) == ["www.example.org. a 192.0.2.80"]
    assert [(e["kind"], e["answer"], e["cached"]) for e in logs] == [
        ("forwarded", "1 record(s) from upstream", False)] * 2
    assert h.stats.snapshot().cache[("hit", "udp")] == 0


async def test_failing_upstreams_answer_servfail(index: Any) -> None:
    for upstream in (FakeUpstream(error=ServersFailed(["192.0.2.53:53: timed out"])), FakeUpstream(reply=b"junk")):
        h = make(index, upstream=upstream, upstreams=["192.0.2.53"])
        with capture_logs() as logs:
            message = reply_of(await h.handle(q("www.example.org"), (ALPHA, 1)))  # type: ignore[misc]
        assert message.rcode() == dns.rcode.SERVFAIL and not message.answer
        assert h.stats.forwarded == {"failed": 1} and h.stats.errors["upstream"] == 1
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["upstream_failed"]


async def test_external_targets_need_forward_external(index: Any) -> None:
    import yaml

    from dnsemu.topology.load import load_topology_data

    data = yaml.safe_load(TEST_TOPOLOGY.read_text())
    data["dns_private_resolvers"] = {"res": {"virtual_network": "alpha", "outbound_endpoints": ["out"]}}
    data["dns_forwarding_rulesets"] = {"rules": {
        "dns_resolver_outbound_endpoints": ["res/out"], "virtual_network_links": ["alpha"],
        "forwarding_rules": {"p": {"domain_name": "partner.test.", "target_dns_servers": ["192.0.2.7:5300"]}}}}
    data["external_dns_servers"] = {"partner": {"address": "192.0.2.7:5300"}}
    external = compile_topology(load_topology_data(data))
    upstream = FakeUpstream()
    h = make(external, upstream=upstream)  # auto, no upstreams: off
    assert reply_of(h.handle(q("www.partner.test"), (ALPHA, 1))).rcode() == dns.rcode.REFUSED
    h = make(external, upstream=upstream, forward_external=True)
    message = reply_of(await h.handle(q("www.partner.test"), (ALPHA, 1)))  # type: ignore[misc]
    assert answers(message) == ["www.partner.test. a 192.0.2.80"]
    assert upstream.asked == [("www.partner.test.", 1, (("192.0.2.7", 5300),))]


# --------------------------------------------------------------------------- logs and counters


def test_one_canonical_log_line_per_query(index: Any) -> None:
    h = make(index, query_log=True)
    with capture_logs() as logs:
        h.handle(q("TestStore.blob.core.windows.net"), (ALPHA, 1))
        h.handle(q("TestStore.blob.core.windows.net"), (BETA, 1), True)
        h.handle(q("teststore.blob.core.windows.net"), (ALPHA, 1))
    assert [e["event"] for e in logs] == ["dns_query"] * 3
    first, second, third = logs
    assert {k: first[k] for k in ("client", "proto", "view", "network", "qname", "qtype", "rcode", "kind",
                                  "cached")} == {
        "client": ALPHA, "proto": "udp", "view": "vnet:alpha", "network": "alpha",
        "qname": "TestStore.blob.core.windows.net.", "qtype": "A", "rcode": "NOERROR", "kind": "private",
        "cached": False}
    assert first["answer"] == ("CNAME teststore.privatelink.blob.core.windows.net., A 127.0.1.4")
    assert isinstance(first["duration_ms"], float)
    assert (second["proto"], second["kind"], second["view"]) == ("tcp", "public", "vnet:beta")
    assert third["cached"] is True and third["answer"] == first["answer"]


def test_no_log_lines_when_query_logging_is_off(index: Any) -> None:
    h = make(index, query_log=False)
    with capture_logs() as logs:
        for _ in range(3):
            h.handle(q("www.example.test"), (ALPHA, 1))
    assert logs == []


def test_counters(index: Any) -> None:
    h = make(index)
    h.handle(q("www.example.test"), (ALPHA, 1))
    h.handle(q("www.example.test"), (ALPHA, 1))
    h.handle(q("nope.example.test"), (BETA, 1), True)
    h.handle(q("www.example.test", "TYPE65280"), (OUTSIDE, 1))
    h.handle(q("example.org"), (OUTSIDE, 1))
    stats = h.stats.snapshot()  # the second query was a cache hit: counted in its cell, folded here
    assert stats.queries == {
        ("udp", "vnet:alpha", "A", "NOERROR", "public"): 2,
        ("tcp", "vnet:beta", "A", "NXDOMAIN", "public"): 1,
        ("udp", "internet", "other", "NOERROR", "public"): 1,
        ("udp", "internet", "A", "REFUSED", "refused"): 1,
    }
    assert sum(stats.durations["udp"]) == 4 and sum(stats.durations["tcp"]) == 1
    assert stats.duration_sum["udp"] > 0
    assert stats.cache[("hit", "udp")] == 1
    assert sum(stats.sizes["udp"]) == 4 and sum(stats.sizes["tcp"]) == 1 and stats.size_sum["udp"] > 0
    assert h.stats.total() == 5
    assert h.stats.queries[("udp", "vnet:alpha", "A", "NOERROR", "public")] == 1  # the miss only, unfolded


def test_unknown_sources_refused(index: Any) -> None:
    loaded = load_topology(TEST_TOPOLOGY)
    h = make(compile_topology(loaded, Options(unknown_sources="refuse")))
    assert reply_of(h.handle(q("www.example.test"), (OUTSIDE, 1))).rcode() == dns.rcode.REFUSED
    assert reply_of(h.handle(q("www.example.test"), (ALPHA, 1))).rcode() == dns.rcode.NOERROR


def test_log_format_follows_the_terminal(dnsemu_logging: Any) -> None:
    import io
    import json

    from dnsemu.logs import configure_logging, get_logger

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    try:
        for stream, expected in ((io.StringIO(), "json"), (Tty(), "console")):
            assert configure_logging("info", "auto", stream, cache=False) == expected
            get_logger("t").info("server_started", port=53)
            get_logger("t").debug("hidden")
            text = stream.getvalue()
            if expected == "json":
                entry = json.loads(text)
                assert entry["event"] == "server_started" and entry["level"] == "info" and entry["port"] == 53
            else:
                assert "server_started" in text and "port" in text and "\x1b[" in text
            assert "hidden" not in text
    finally:
        configure_logging("info", "json", dnsemu_logging, cache=False)


def test_logged_tracebacks_hold_no_local_variables(dnsemu_logging: Any) -> None:
    """A bug's traceback names frames only: a request's Authorization header (a local) stays out of the log."""
    import io

    from dnsemu.logs import configure_logging, get_logger

    def failing(headers: dict[str, str]) -> None:
        raise RuntimeError("a bug")

    headers = {"authorization": "Bearer tok-5e9b1"}  # (a traceback may quote the failing lines, not this one)
    try:
        for fmt in ("json", "console"):
            stream = io.StringIO()
            configure_logging("info", fmt, stream, cache=False)
            try:
                failing(headers)
            except RuntimeError:
                get_logger("t").exception("http_internal_error")
            text = stream.getvalue()
            assert "a bug" in text and "failing" in text, text
            assert "tok-5e9b1" not in text, text
    finally:
        configure_logging("info", "json", dnsemu_logging, cache=False)


# --------------------------------------------------------------------------- precompiled negative answers

NEGATIVE_QUERIES = [
    ("nosuch.privatelink.blob.core.windows.net", "A", {}),
    ("NoSuch.PrivateLink.Blob.Core.Windows.Net", "A", {"use_edns": 0, "payload": 1232}),
    ("a.b.c.privatelink.vaultcore.azure.net", "TXT", {"use_edns": 0, "want_dnssec": True}),
    ("gone.azure.contoso.com", "AAAA", {"use_edns": False}),
    ("nobody.internal.cloudapp.net", "A", {}),
    ("9.9.9.10.in-addr.arpa", "PTR", {}),
]


@pytest.mark.parametrize(("name", "rdtype", "options"), NEGATIVE_QUERIES)
def test_precompiled_nxdomain_is_byte_identical_to_the_resolved_one(bundled: Any, name: str, rdtype: str,
                                                                    options: dict[str, Any]) -> None:
    fast = make(bundled)  # query log off: the precompiled path may answer
    slow = make(bundled, query_log=True)  # query log on: every miss is resolved and encoded
    wire = dns.message.make_query(name, rdtype, id=4321, **{"use_edns": 0, **options}).to_wire()
    with capture_logs():
        expected = slow.handle(wire, ("10.0.2.4", 5))
    got = fast.handle(wire, ("10.0.2.4", 5))
    assert got == expected
    assert not fast._state.cache and slow._state.cache  # answered without resolving (nothing to cache)
    message = reply_of(got)
    assert message.rcode() == dns.rcode.NXDOMAIN
    assert message.question[0].name.to_text() == name + "."  # the client's case
    assert [r.rdtype for r in message.authority] == [dns.rdatatype.SOA]


# --------------------------------------------------------------------------- negative answers compiled with the index


def nested_topology() -> Any:
    """The test estate plus what the precompiled path must not shortcut: a zone with a wildcard nested in a
    linked zone, a link with NxDomainRedirect, and a VNet whose queries a forwarding rule may take away."""
    import yaml

    from dnsemu.topology.load import load_topology_data

    data = yaml.safe_load(TEST_TOPOLOGY.read_text())
    zones = data["private_dns_zones"]
    zones["sub.corp.test"] = {"virtual_network_links": [{"virtual_network": "alpha"}],
                              "records": ["* 60 A 127.0.1.77", "host.deeper 60 A 127.0.1.78"]}
    zones["privatelink.vaultcore.azure.net"] = {"virtual_network_links": [
        {"virtual_network": "alpha", "resolution_policy": "NxDomainRedirect"}, {"virtual_network": "beta"}],
        "records": ["there 60 A 127.0.1.80"]}
    data["dns_private_resolvers"] = {"res": {"virtual_network": "beta", "outbound_endpoints": ["out"]}}
    data["dns_forwarding_rulesets"] = {"rules": {
        "dns_resolver_outbound_endpoints": ["res/out"], "virtual_network_links": ["beta"],
        "forwarding_rules": {"p": {"domain_name": "partner.test.", "target_dns_servers": ["192.0.2.7:5300"]}}}}
    data["external_dns_servers"] = {"partner": {"address": "192.0.2.7:5300"}}
    return compile_topology(load_topology_data(data), generation=1)


def test_a_nested_zone_with_a_wildcard_is_not_skipped_by_the_precompiled_path() -> None:
    """§9 step 2 (the longest linked zone holding the name answers): sub.corp.test's wildcard answers
    x.sub.corp.test, never corp.test's NXDOMAIN. The precompiled path once left zones with wildcards out
    of its table and fell through to corp.test."""
    h = make(nested_topology())  # query log off: the precompiled path may answer
    message = reply_of(h.handle(q("x.sub.corp.test"), (ALPHA, 1)))
    assert message.rcode() == dns.rcode.NOERROR and answers(message) == ["x.sub.corp.test. a 127.0.1.77"]
    kept = len(h._state.cache)
    message = reply_of(h.handle(q("nothing.corp.test"), (ALPHA, 1)))
    assert message.rcode() == dns.rcode.NXDOMAIN
    assert len(h._state.cache) == kept  # corp.test's own miss: answered precompiled, nothing resolved to keep


def test_the_negative_tables_are_compiled_with_the_index_and_follow_the_resolver() -> None:
    """§1.3/§1.4: a linked zone's miss is NXDOMAIN with its SOA, or public DNS for A/AAAA/CNAME under
    NxDomainRedirect; §11.1: a VNet with a forwarding ruleset consults its rules first (no table)."""
    import pickle

    index = nested_topology()
    alpha = index.negative["alpha"]
    assert alpha.view == "vnet:alpha"
    assert "beta" not in index.negative  # a forwarding rule is consulted before beta's linked zones
    plan = alpha.plans["privatelink.vaultcore.azure.net."]
    assert plan.redirected == {1, 28, 5} and plan.source.value == "nxdomain_private"
    assert alpha.plans["corp.test."].redirected == frozenset()
    assert alpha.plans["sub.corp.test."].zone.has_wildcards  # in the table: it decides by resolving
    assert alpha.plans["internal.cloudapp.net."].source.value == "internal"
    assert plan.authority == plan.zone.negative
    # the link the resolver walks carries the very same plan
    assert index.networks["alpha"].entry.view.links["corp.test."].negative is alpha.plans["corp.test."]
    # an index cache on start-up pickles the index: the plans go with it
    again = pickle.loads(pickle.dumps(index))
    assert again.negative["alpha"].plans["corp.test."].redirected == frozenset()
    assert again.networks["alpha"].entry.view.links["corp.test."].negative.source.value == "nxdomain_private"


def test_a_security_policy_on_the_vnet_goes_with_its_negative_table() -> None:
    """§10: a DNS security policy looks at every answer, NXDOMAIN included, so the table carries it and
    leaves the names it covers to the resolver (tests/test_policy_precompiled.py); spoke2's ruleset is
    consulted first, so spoke2 has no table at all."""
    index = compile_topology(load_topology(BUNDLED_TOPOLOGY))
    assert set(index.policies) == {"spoke2"} and "spoke2" not in index.negative
    assert index.negative and all(table.policy is None for table in index.negative.values())


def test_precompiled_negative_answers_are_the_resolvers_byte_for_byte() -> None:
    """Whatever the precompiled path answers, the resolver would have answered the same bytes: names under
    every kind of linked zone, in odd cases and with odd bytes, every common type, from both VNets."""
    import random

    index = nested_topology()
    fast = make(index)
    slow = make(index, query_log=True)
    rng = random.Random(12)
    suffixes = ["corp.test", "sub.corp.test", "deeper.sub.corp.test", "privatelink.vaultcore.azure.net",
                "privatelink.blob.core.windows.net", "internal.cloudapp.net", "1.0.127.in-addr.arpa",
                "example.test", "partner.test", "unknown.test"]
    labels = ["app", "alias", "host", "there", "teststore", "nosuch", "a-b", "x_y", "A\\.B", "sp\\032ace",
              "\\200", "*", "deeper", "Mixed"]
    precompiled = 0
    for i in range(400):
        name = ".".join([*rng.sample(labels, rng.randint(0, 2)), rng.choice(suffixes)])
        name = "".join(c.upper() if rng.random() < 0.2 else c for c in name)
        query = dns.message.make_query(name, rng.choice(["A", "AAAA", "CNAME", "TXT", "MX", "PTR"]), id=i,
                                       use_edns=rng.choice([None, 0]))
        wire = query.to_wire()
        source = (rng.choice([ALPHA, BETA]), 5)
        with capture_logs():
            expected = slow.handle(wire, source)
        misses = len(fast._state.exact)
        got = fast.handle(wire, source)
        assert isinstance(expected, bytes) and got == expected, (name, source)
        if len(fast._state.exact) == misses and reply_of(got).rcode() == dns.rcode.NXDOMAIN:
            precompiled += 1  # answered and not kept: the precompiled path
    assert precompiled >= 20  # the comparison is not vacuous
    # and counted alike: every query under the same (proto, view, qtype, rcode, kind) label
    assert fast.stats.snapshot().queries == slow.stats.snapshot().queries


def test_records_at_the_question_are_answered_without_resolving(monkeypatch: Any) -> None:
    """§9: in a VNet whose linked zones answer first, app.corp.test's A records are the zone's, whatever
    else: the reply is assembled from the encoded records, the resolver's bytes, kept for the same bytes
    from the same address (another case is assembled again); a type the name lacks is NODATA with the
    zone's SOA (RFC 2308), from the zone's template."""
    index = nested_topology()
    slow = make(index, query_log=True)
    queries = [q("App.Corp.test"), q("app.corp.test", use_edns=0, payload=4096, want_dnssec=True),
               q("there.privatelink.vaultcore.azure.net", use_edns=None), q("app.corp.test", flags=0),
               q("APP.corp.test", "AAAA"), q("app.corp.test", "MX", use_edns=None)]  # the last two: NODATA
    with capture_logs():
        expected = [slow.handle(data, (ALPHA, 1)) for data in queries]
        expected_tcp = slow.handle(queries[0], (ALPHA, 1), True)
    fast = make(index)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("resolved")

    monkeypatch.setattr(handler_module, "resolve_classified", forbidden)
    monkeypatch.setattr(handler_module, "parse_query", forbidden)
    monkeypatch.setattr(handler_module, "query_from_peek", forbidden)
    assert [fast.handle(data, (ALPHA, 1)) for data in queries] == expected
    assert fast.handle(queries[0], (ALPHA, 1), True) == expected_tcp
    again = dns.message.make_query("APP.corp.test", "A", use_edns=0, id=7).to_wire()
    assert fast.handle(again, (ALPHA, 2)) == slow.handle(again, (ALPHA, 2))  # another case: made again
    assert fast.stats.snapshot().cache[("hit", "udp")] == 0
    again = again[:1] + b"\x08" + again[2:]  # the same bytes but the ID, from the same address: a hit
    assert fast.handle(again, (ALPHA, 2)) == slow.handle(again, (ALPHA, 2))
    snapshot = fast.stats.snapshot()
    assert snapshot.cache[("hit", "udp")] == 1
    assert snapshot.queries[("udp", "vnet:alpha", "A", "NOERROR", "private")] == 6
    assert snapshot.queries[("udp", "vnet:alpha", "AAAA", "NOERROR", "private")] == 1
    nodata = reply_of(expected[4])
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert [r.rdtype for r in nodata.authority] == [dns.rdatatype.SOA]
    # a CNAME to follow, or a VNet with rules, is the resolver's
    monkeypatch.undo()
    assert answers(reply_of(fast.handle(q("alias.corp.test"), (ALPHA, 1))))[-1] == "app.corp.test. a 127.0.1.10"


def test_the_forwarding_policy_decides_per_source_and_configuration(index: Any) -> None:
    """Who may have a name forwarded: nothing configured is REFUSED for everyone (cacheable); an external
    server needs forward_external; the internet is served only by an open resolver."""
    import ipaddress

    from dnsemu.core.resolution import Forward
    from dnsemu.server.forwarding import ForwardPolicy, Verdict

    upstream, external = Forward("x.test.", 1), Forward("x.test.", 1, (("192.0.2.7", 53),), via="partner")
    inside, outside, loop = (ipaddress.ip_address(a) for a in (ALPHA, "198.51.100.9", "::ffff:127.0.0.1"))
    closed = ForwardPolicy(upstreams=False, external=False, open_resolver=False)
    assert closed.decide(index, inside, upstream) is Verdict.REFUSE
    assert closed.decide(index, inside, None) is Verdict.REFUSE
    assert closed.decide(index, inside, external) is Verdict.REFUSE
    served = ForwardPolicy(upstreams=True, external=True, open_resolver=False)
    assert served.decide(index, inside, upstream) is Verdict.FORWARD
    assert served.decide(index, inside, external) is Verdict.FORWARD
    assert served.decide(index, loop, upstream) is Verdict.FORWARD  # loopback, even IPv4-mapped
    assert served.decide(index, outside, upstream) is Verdict.REFUSE_SOURCE
    assert ForwardPolicy(upstreams=True, external=False, open_resolver=True).decide(
        index, outside, upstream) is Verdict.FORWARD
