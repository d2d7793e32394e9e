"""The handler's promises, through ``Handler.handle`` only (bytes and a source address in, bytes out).

Nothing here reaches into the handler's private parts, so these tests hold whatever its
insides look like. Expected replies are written down from the RFCs and the topology and
read back with dnspython (an independent codec):

* a reply never exceeds min(client's EDNS payload, server's payload), 512 without EDNS,
  counting the OPT record, and one of exactly that size goes out whole (RFC 6891 §6.2.5,
  RFC 1035 §4.2.1); sizes are counted by hand as in test_wire_limits.py;
* the first ECS option routes the query and is the one echoed (RFC 7871 §7.1.1 leaves a
  second undefined; BIND and Knot use the first);
* CD is echoed in every reply, the precompiled NXDOMAIN and cache hits included;
* a chain that leaves the topology asks the upstream for the chain's END name and keeps
  the chain in front of the upstream's answer.
"""

from __future__ import annotations

from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from conftest import BUNDLED_TOPOLOGY, make_settings
from structlog.testing import capture_logs

from dnsemu.core.compile import compile_topology
from dnsemu.server.handler import Handler
from dnsemu.topology.load import load_topology, load_topology_data

V = "10.50.0.5"
TALL = "abcdefghijklmnopqr.lab.example."  # 1+18 + 1+3 + 1+7 + 1 = 32 octets on the wire
MANY = "many.lab.example."  # 1+4 + 1+3 + 1+7 + 1 = 18 octets
HEADER, OPT_RR = 12, 11


def txt_rr(length: int) -> int:
    """A TXT record owned by the qname, one string: pointer 2 + fixed 10 + length octet 1 + the string."""
    return 2 + 10 + 1 + length

PL_SOA = ("privatelink.blob.core.windows.net. 10 IN SOA azureprivatedns.net. azureprivatedns-host.microsoft.com. "
          "1 3600 300 2419200 10")


def lab_topology() -> dict[str, Any]:
    return {
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
        "private_dns_zones": {
            "lab.example": {
                "records": [
                    f'abcdefghijklmnopqr 60 TXT "{"a" * 219}"',
                    f'abcdefghijklmnopqr 60 TXT "{"b" * 219}"',
                    f'many 60 TXT "{"a" * 227}"',
                    f'many 60 TXT "{"b" * 227}"',
                    "out 60 CNAME www.elsewhere.test.",
                    *(f"c{i} 60 CNAME c{i + 1}" for i in range(17)),
                    "c17 60 A 192.0.2.1",
                ],
                "virtual_network_links": [{"virtual_network": "v"}],
            }
        },
    }


@pytest.fixture(scope="module")
def lab() -> Any:
    return compile_topology(load_topology_data(lab_topology()), generation=1)


@pytest.fixture(scope="module")
def bundled() -> Any:
    return compile_topology(load_topology(BUNDLED_TOPOLOGY), generation=1)


def make(index: Any, **overrides: Any) -> Handler:
    overrides.setdefault("query_log", False)
    upstream = overrides.pop("upstream", None)
    return Handler(make_settings(**overrides), index, upstream=upstream)


def ask(h: Handler, name: str, rdtype: str = "A", source: str = V, *, flags: int = dns.flags.RD,
        tcp: bool = False, **kwargs: Any) -> tuple[bytes, dns.message.Message]:
    message = dns.message.make_query(name, rdtype, id=0x4242, **kwargs)
    message.flags = flags
    data = h.handle(message.to_wire(), (source, 5353), tcp)
    assert isinstance(data, bytes), data
    return data, dns.message.from_wire(data)


def records(section: list[dns.rrset.RRset]) -> list[str]:
    """Records in presentation form, names in lower case (names compress onto the question's case)."""
    return [f"{str(rrset.name).lower()} {rrset.ttl} IN {dns.rdatatype.to_text(rrset.rdtype)} "
            f"{rd.to_text().lower() if rrset.rdtype != dns.rdatatype.TXT else rd}"
            for rrset in section for rd in sorted(rrset, key=str)]


# --------------------------------------------------------------------------- sizes


def test_a_512_octet_reply_without_edns_goes_out_whole(lab: Any) -> None:
    h = make(lab)
    assert HEADER + 32 + 4 + 2 * txt_rr(219) == 512
    data, reply = ask(h, TALL, "TXT", use_edns=False)
    assert len(data) == 512 and not reply.flags & dns.flags.TC and len(reply.answer[0]) == 2


def test_over_512_without_edns_truncates(lab: Any) -> None:
    h = make(lab)
    data, reply = ask(h, MANY, "TXT", use_edns=False)  # 12 + 22 + 2 * 240 = 514
    assert reply.flags & dns.flags.TC and reply.answer == [] and len(data) == HEADER + 18 + 4
    _, whole = ask(h, MANY, "TXT", use_edns=False, tcp=True)
    assert not whole.flags & dns.flags.TC and len(whole.answer[0]) == 2


FULL = HEADER + 18 + 4 + 2 * txt_rr(227) + OPT_RR  # 525: MANY's TXT with EDNS


@pytest.mark.parametrize(("client", "server", "truncated"), [
    (FULL, 1232, False),      # exactly the client's size
    (FULL - 1, 1232, True),   # the answer without the OPT would fit 524: the OPT counts
    (4096, FULL, False),      # exactly the server's size
    (4096, FULL - 1, True),   # the server's size is a limit too, whatever the client offers
    (FULL - 1, 4096, True),
])
def test_a_reply_never_exceeds_the_smaller_payload_size(lab: Any, client: int, server: int, truncated: bool) -> None:
    h = make(lab, udp_payload_size=server)
    data, reply = ask(h, MANY, "TXT", use_edns=0, payload=client)
    assert len(data) <= min(client, server)
    assert bool(reply.flags & dns.flags.TC) is truncated
    assert reply.edns == 0 and reply.payload == server  # the OPT stays, with the server's size
    if truncated:
        assert reply.answer == [] and len(data) == HEADER + 18 + 4 + OPT_RR
    else:
        assert len(data) == FULL == 525 and len(reply.answer[0]) == 2


# --------------------------------------------------------------------------- chains


class Upstream:
    """Answers any name with one A record, and remembers what it was asked."""

    def __init__(self, error: Exception | None = None) -> None:
        self.asked: list[tuple[str, int, tuple[Any, ...]]] = []
        self.error = error

    async def resolve(self, name: str, qtype: int, targets: Any = ()) -> bytes:
        self.asked.append((name, qtype, tuple(targets)))
        if self.error is not None:
            raise self.error
        response = dns.message.make_response(dns.message.make_query(name, qtype))
        response.answer.append(dns.rrset.from_text(name, 120, "IN", "A", "192.0.2.80"))
        return response.to_wire()


async def test_a_chain_leaving_the_topology_asks_for_its_end_and_keeps_the_chain(lab: Any) -> None:
    upstream = Upstream()
    h = make(lab, upstream=upstream, upstreams=["192.0.2.53"])
    pending = h.handle(dns.message.make_query("Out.Lab.Example", "A").to_wire(), (V, 1))
    assert not isinstance(pending, bytes | None)
    reply = dns.message.from_wire(await pending)
    assert upstream.asked == [("www.elsewhere.test.", 1, ())]
    assert reply.rcode() == dns.rcode.NOERROR
    assert records(reply.answer) == [
        "out.lab.example. 60 IN CNAME www.elsewhere.test.",
        "www.elsewhere.test. 120 IN A 192.0.2.80",
    ]
    assert reply.question[0].name.to_text() == "Out.Lab.Example."


async def test_an_exception_while_forwarding_is_servfail(lab: Any) -> None:
    h = make(lab, upstream=Upstream(RuntimeError("boom")), upstreams=["192.0.2.53"])
    with capture_logs() as logs:
        pending = h.handle(dns.message.make_query("out.lab.example", "A").to_wire(), (V, 1))
        assert not isinstance(pending, bytes | None)
        reply = dns.message.from_wire(await pending)
    assert reply.rcode() == dns.rcode.SERVFAIL and reply.answer == []
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["internal_error"]


def test_a_chain_too_long_is_servfail_with_the_chain_walked(lab: Any) -> None:
    _, reply = ask(make(lab), "c0.lab.example", use_edns=0, payload=4096)
    assert reply.rcode() == dns.rcode.SERVFAIL
    # 17 CNAMEs, one more than the 16 dnsemu follows (facts-2 §13): all 17 are given, c17's A is not
    assert records(reply.answer) == [f"c{i}.lab.example. 60 IN CNAME c{i + 1}.lab.example." for i in range(17)]
    assert reply.authority == []


# --------------------------------------------------------------------------- the first ECS option


def two_ecs(first: str, second: str) -> dict[str, Any]:
    return {"use_edns": 0, "payload": 1232,
            "options": [dns.edns.ECSOption(first, 32), dns.edns.ECSOption(second, 32)]}


@pytest.mark.parametrize(("first", "second", "rcode", "answer", "authority"), [
    # hub first: the hub's link is Default, the partner's account is NXDOMAIN with the zone's SOA (facts §1.3)
    ("10.0.2.4", "10.3.0.4", dns.rcode.NXDOMAIN,
     ["fabrikamstore.blob.core.windows.net. 60 IN CNAME fabrikamstore.privatelink.blob.core.windows.net."],
     [PL_SOA]),
    # sandbox first: NxDomainRedirect, the public chain (facts §1.4)
    ("10.3.0.4", "10.0.2.4", dns.rcode.NOERROR,
     ["fabrikamstore.blob.core.windows.net. 60 IN CNAME fabrikamstore.privatelink.blob.core.windows.net.",
      "fabrikamstore.privatelink.blob.core.windows.net. 60 IN CNAME blob.eusprdstr01a.store.core.windows.net.",
      "blob.eusprdstr01a.store.core.windows.net. 60 IN A 203.0.113.111"],
     []),
])
def test_the_first_ecs_option_routes_the_query_and_is_echoed(bundled: Any, first: str, second: str, rcode: int,
                                                             answer: list[str], authority: list[str]) -> None:
    _, reply = ask(make(bundled), "fabrikamstore.blob.core.windows.net", source="127.0.0.1", **two_ecs(first, second))
    assert reply.rcode() == rcode
    assert (records(reply.answer), records(reply.authority)) == (answer, authority)
    assert [(o.address, o.srclen, o.scopelen) for o in reply.options] == [(first, 32, 16)]


# --------------------------------------------------------------------------- CD everywhere


@pytest.mark.parametrize("edns", [False, True, "DO=0"], ids=["no EDNS", "EDNS DO", "EDNS without DO"])
@pytest.mark.parametrize("cd", [False, True], ids=["CD=0", "CD=1"])
def test_the_precompiled_nxdomain_is_the_rfc_reply(bundled: Any, cd: bool, edns: bool | str) -> None:
    """The hub answers a miss in a linked zone without resolving; the reply is what RFC 1035/2308/6891 say,
    the OPT's DO bit copied from the query's (RFC 3225 §3)."""
    h = make(bundled)
    flags = dns.flags.RD | (dns.flags.CD if cd else 0)
    kwargs: dict[str, Any] = {"use_edns": 0, "payload": 4096, "want_dnssec": edns is True} if edns else {
        "use_edns": False}
    for _ in range(2):  # the first answer, then the same question again
        _, reply = ask(h, "NoSuch.PrivateLink.Blob.Core.Windows.Net", source="10.0.2.4", flags=flags, **kwargs)
        assert reply.id == 0x4242 and reply.rcode() == dns.rcode.NXDOMAIN
        expected = dns.flags.QR | dns.flags.RD | dns.flags.RA | (dns.flags.CD if cd else 0)
        assert reply.flags & 0xFFF0 == expected  # AA clear (facts §1.1), AD clear, CD echoed
        assert reply.question[0].name.to_text() == "NoSuch.PrivateLink.Blob.Core.Windows.Net."
        assert (reply.answer, records(reply.authority), reply.additional) == ([], [PL_SOA], [])
        if edns:
            assert (reply.edns, reply.payload, reply.ednsflags) == (0, 1232, dns.flags.DO if edns is True else 0)
        else:
            assert reply.edns == -1


def test_a_cache_hit_echoes_the_cd_of_its_own_query(lab: Any) -> None:
    h = make(lab)
    for cd in (False, True, False, True):
        _, reply = ask(h, "c17.lab.example", "TXT", flags=dns.flags.RD | (dns.flags.CD if cd else 0))
        assert bool(reply.flags & dns.flags.CD) is cd and reply.rcode() == dns.rcode.NOERROR
    assert h.stats.snapshot().cache[("hit", "udp")] == 2


def test_a_name_with_other_bytes_is_answered_nxdomain_too(bundled: Any) -> None:
    """A label with octets outside letters, digits and hyphen (RFC 1035 §3.1 allows any) gets the same NXDOMAIN."""
    name = dns.name.Name([b"caf\xc3\xa9", b"privatelink", b"blob", b"core", b"windows", b"net", b""])
    _, reply = ask(make(bundled), name, source="10.0.2.4", use_edns=False)  # type: ignore[arg-type]
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.question[0].name == name
    assert records(reply.authority) == [PL_SOA]


def test_the_reply_cache_is_bounded_and_still_answers(lab: Any) -> None:
    """With room for two replies, a third question evicts the oldest; every reply is still right."""
    h = make(lab, cache_size=2)
    names = ["c14.lab.example", "c15.lab.example", "c16.lab.example", "c14.lab.example", "C14.lab.example"]
    for name in names:  # CNAME chains: resolved, and kept at both levels
        _, reply = ask(h, name)
        assert reply.rcode() == dns.rcode.NOERROR and reply.answer[-1][0].to_text() == "192.0.2.1"
    cache = h.stats.snapshot().cache
    assert (cache[("miss", "udp")], cache[("hit", "udp")]) == (4, 1)  # c14 again: evicted, a miss; C14: a hit


# --------------------------------------------------------------------------- paths the estate's shape decides


def test_nxdomainredirect_takes_the_resolved_path_for_a_aaaa_cname_only(bundled: Any) -> None:
    """The sandbox's link redirects A, AAAA and CNAME (facts §1.4): those are resolved; TXT is NXDOMAIN at once."""
    h = make(bundled)
    _, redirected = ask(h, "fabrikamstore.privatelink.blob.core.windows.net", source="10.3.0.4", use_edns=False)
    assert redirected.rcode() == dns.rcode.NOERROR
    assert records(redirected.answer)[-1] == "blob.eusprdstr01a.store.core.windows.net. 60 IN A 203.0.113.111"
    _, txt = ask(h, "fabrikamstore.privatelink.blob.core.windows.net", "TXT", source="10.3.0.4", use_edns=False)
    assert txt.rcode() == dns.rcode.NXDOMAIN and records(txt.authority) == [PL_SOA]


def test_a_linked_zone_with_a_wildcard_answers_the_wildcard(lab: Any) -> None:
    data = lab_topology()
    data["private_dns_zones"]["wild.example"] = {"records": ["* 60 A 192.0.2.77"],
                                                 "virtual_network_links": [{"virtual_network": "v"}]}
    h = make(compile_topology(load_topology_data(data)))
    _, reply = ask(h, "anything.wild.example", use_edns=False)
    assert records(reply.answer) == ["anything.wild.example. 60 IN A 192.0.2.77"]


def test_an_ipv4_mapped_ecs_address_routes_like_the_ipv4_one(bundled: Any) -> None:
    """RFC 7871 ECS family 2 with ::ffff:10.0.2.4: the hub; the scope counts the 96 bits of the mapping."""
    option = dns.edns.ECSOption("::ffff:10.0.2.4", 128)
    _, reply = ask(make(bundled), "mystorage.blob.core.windows.net", source="127.0.0.1", use_edns=0,
                   options=[option])
    assert records(reply.answer)[-1] == "mystorage.privatelink.blob.core.windows.net. 10 IN A 10.0.1.4"
    assert [(o.address, o.srclen, o.scopelen) for o in reply.options] == [("::ffff:10.0.2.4", 128, 96 + 16)]


async def test_an_ipv4_mapped_loopback_client_may_use_the_upstream(lab: Any) -> None:
    upstream = Upstream()
    h = make(lab, upstream=upstream, upstreams=["192.0.2.53"])
    pending = h.handle(dns.message.make_query("out.lab.example", "A").to_wire(), ("::ffff:127.0.0.1", 1))
    assert not isinstance(pending, bytes | None)
    reply = dns.message.from_wire(await pending)
    # an internet client (127.0.0.1, as the mapped address says) sees no private zone: the whole name goes up
    assert reply.rcode() == dns.rcode.NOERROR and upstream.asked == [("out.lab.example.", 1, ())]


def test_the_handler_serves_the_index_it_was_given(lab: Any, bundled: Any) -> None:
    h = make(lab)
    assert h.index is lab and h.generation == 1
    h.swap(bundled)
    assert h.index is bundled


@pytest.fixture
def structlog_only(monkeypatch: Any) -> None:
    monkeypatch.setattr("dnsemu.logs._QUERY_LOG", None)  # read the lines with capture_logs


def test_the_query_log_names_ecs_truncation_and_wire_errors(lab: Any, bundled: Any, structlog_only: None) -> None:
    h = make(bundled, query_log=True)
    with capture_logs() as logs:
        ask(h, "mystorage.blob.core.windows.net", source="127.0.0.1", use_edns=0,
            options=[dns.edns.ECSOption("10.0.2.4", 32)])
    assert [(e["event"], e["ecs"]) for e in logs] == [("dns_query", "10.0.2.4/32")]
    h = make(lab, query_log=True)
    with capture_logs() as logs:
        ask(h, MANY, "TXT", use_edns=False)
        h.handle(b"\x00\x01\x01\x00" + bytes(8), (V, 1))  # QDCOUNT 0: FORMERR
    assert [e.get("truncated") for e in logs] == [True, None]
    assert (logs[1]["rcode"], logs[1]["kind"], logs[1]["reason"]) == ("FORMERR", "error", "QDCOUNT is 0, not 1")


def test_cached_replies_are_logged_by_the_buffered_writer(lab: Any, monkeypatch: Any) -> None:
    """A hit's log line, written without structlog, has the same keys and the client's own qname case."""
    import io
    import json

    from dnsemu.logs import QueryLog

    out = io.StringIO()
    writer = QueryLog(out, batch=1)
    monkeypatch.setattr("dnsemu.logs._QUERY_LOG", writer)
    h = make(lab, query_log=True)
    with capture_logs():
        ask(h, "c17.lab.example", use_edns=False)  # a miss: through structlog
    ask(h, "C17.Lab.Example", use_edns=False, source="10.50.0.6")  # a hit: the buffered writer
    writer.flush()
    (line,) = [json.loads(text) for text in out.getvalue().splitlines()]
    assert {k: line[k] for k in ("event", "client", "qname", "qtype", "rcode", "view", "cached", "kind")} == {
        "event": "dns_query", "client": "10.50.0.6", "qname": "C17.Lab.Example.", "qtype": "A", "rcode": "NOERROR",
        "view": "vnet:v", "cached": True, "kind": "private"}
    assert line["answer"] == "A 192.0.2.1"
