"""The firewall-proxied spoke through the real server, and the emulated proxy cache (facts-2 §12.1, §12.2).

The estate lives in 127/8 so a client picks its VNet by the source address it binds: the hub
is 127.20/16 (its firewall 127.20.3.4), the proxied spoke 127.21/16, a spoke that asks Azure
DNS itself (and links nothing) 127.22/16, and a spoke behind a second firewall whose cache is
emulated 127.23/16. dnspython is the client.
"""

from __future__ import annotations

import copy
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from conftest import ServerThread, make_settings

from dnsemu.core.compile import compile_topology
from dnsemu.core.resolution import Outcome, ProxyCache, Resolution, Source
from dnsemu.dns.records import Question, Record, RRType
from dnsemu.server.handler import Handler
from dnsemu.server.proxycache import ProxyCaches
from dnsemu.topology.load import load_topology_data

HOST = "127.0.0.1"
HUB, PROXIED, DIRECT, CACHED = "127.20.2.5", "127.21.0.5", "127.22.0.5", "127.23.0.5"

ESTATE: dict = {
    "virtual_networks": {
        "hub": {
            "address_space": ["127.20.0.0/16"],
            "subnets": {"AzureFirewallSubnet": {"address_prefix": "127.20.3.0/26"}},
        },
        "spoke-fw": {"address_space": ["127.21.0.0/16"], "dns_servers": ["127.20.3.4"]},
        "spoke-direct": {"address_space": ["127.22.0.0/16"]},
        "spoke-cached": {"address_space": ["127.23.0.0/16"], "dns_servers": ["127.20.3.5"]},
    },
    "azure_firewalls": {
        "fw-hub": {
            "virtual_network": "hub", "private_ip_address": "127.20.3.4", "dns_settings": {"enable_proxy": True},
        },
        "fw-cached": {
            "virtual_network": "hub",
            "private_ip_address": "127.20.3.5",
            "dns_settings": {"enable_proxy": True, "emulate_cache": True},
        },
    },
    "private_dns_zones": {
        "privatelink.blob.core.windows.net": {"virtual_network_links": [{"virtual_network": "hub"}]},
        "corp.internal": {"records": ["app 3600 A 127.20.9.1"], "virtual_network_links": [{"virtual_network": "hub"}]},
    },
    "private_endpoints": {
        "pe-blob": {
            "virtual_network": "hub",
            "private_ip_addresses": ["127.20.1.4"],
            "resource": {"type": "Microsoft.Storage/storageAccounts", "name": "teststore"},
            "group_id": "blob",
            "private_dns_zone_group": ["privatelink.blob.core.windows.net"],
        },
    },
}


def estate(**zone_records: list[str]) -> Any:
    data = copy.deepcopy(ESTATE)
    for zone, records in zone_records.items():
        data["private_dns_zones"][zone.replace("_", ".")]["records"] = records
    return load_topology_data(data)


def answers(reply: dns.message.Message) -> list[str]:
    return [f"{rrset.name} {rrset.ttl} {dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}".lower()
            for rrset in reply.answer for rd in rrset]


@pytest.fixture
def running():
    with ServerThread(make_settings(), estate()) as server:
        yield server


def ask(server: ServerThread, name: str, source: str, tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, "A", use_edns=0)
    if tcp:
        return dns.query.tcp(q, HOST, port=server.port, source=source, timeout=5)
    return dns.query.udp(q, HOST, port=server.port, source=source, timeout=5)


# -- end to end ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_proxied_spoke_gets_the_hub_view(running, tcp: bool) -> None:
    """§12.2: the spoke links nothing, yet behind the hub firewall it sees the hub's private zone."""
    reply = ask(running, "TestStore.blob.core.windows.net", PROXIED, tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.RA and not reply.flags & dns.flags.AA
    assert reply.question[0].name.to_text() == "TestStore.blob.core.windows.net."  # case kept
    assert answers(reply) == [
        "teststore.blob.core.windows.net. 60 cname teststore.privatelink.blob.core.windows.net.",
        "teststore.privatelink.blob.core.windows.net. 10 a 127.20.1.4",
    ]


def test_a_spoke_asking_azure_dns_itself_gets_the_public_chain(running) -> None:
    reply = ask(running, "teststore.blob.core.windows.net", DIRECT)
    assert answers(reply)[-1].startswith("blob.eusprdstr01a.store.core.windows.net. 60 a 203.0.113.")


def test_proxied_spoke_gets_nxdomain_with_the_hub_zone_soa(running) -> None:
    reply = ask(running, "nothere.corp.internal", PROXIED)
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert [rrset.name.to_text() for rrset in reply.authority] == ["corp.internal."]
    assert reply.authority[0].ttl == 10


def test_emulated_cache_outlives_a_reload(running) -> None:
    """§12.1: the proxy holds an answer (up to 1 h): a change behind it is not seen until the entry expires."""
    before = ask(running, "app.corp.internal", CACHED)
    assert answers(before) == ["app.corp.internal. 3600 a 127.20.9.1"]
    assert running.reload(estate(corp_internal=["app 3600 A 127.20.9.2"]))
    # the hub itself (and the uncached firewall) see the change at once
    assert answers(ask(running, "app.corp.internal", HUB)) == ["app.corp.internal. 3600 a 127.20.9.2"]
    assert answers(ask(running, "app.corp.internal", PROXIED)) == ["app.corp.internal. 3600 a 127.20.9.2"]
    held = ask(running, "app.corp.internal", CACHED)
    [line] = answers(held)
    name, ttl, rtype, address = line.split()
    assert (name, rtype, address) == ("app.corp.internal.", "a", "127.20.9.1") and 0 < int(ttl) <= 3600
    counts = running.server.handler.proxy_caches.counts
    assert counts[("fw-cached", "miss")] == 1 and counts[("fw-cached", "hit")] == 1


# -- the cache itself, with a clock of our own --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


SOA = Record("corp.internal.", RRType.SOA, 3600,
             ("azureprivatedns.net.", "azureprivatedns-host.microsoft.com.", 1, 3600, 300, 2419200, 3600))


def answer(ttl: int, address: str = "10.0.0.1") -> Resolution:
    return Resolution(Outcome.ANSWER, Source.PRIVATE, "vnet:hub",
                      (Record("app.corp.internal.", RRType.A, ttl, (address,)),))


def nxdomain(negative_ttl: int) -> Resolution:
    return Resolution(Outcome.NXDOMAIN, Source.NXDOMAIN_PRIVATE, "vnet:hub", (), (SOA.with_ttl(negative_ttl),))


CACHE = ProxyCache("fw")
QUESTION = Question("app.corp.internal.", RRType.A)


@pytest.mark.parametrize(
    ("facts", "first", "held_for"),
    [
        ("§12.1 positive answers: bounded by their TTL", answer(10), 10),
        ("§12.1 positive answers: at most one hour", answer(86400), 3600),
        ("§12.1 negative answers: bounded by the SOA's TTL", nxdomain(10), 10),
        ("§12.1 negative answers: at most 30 minutes", nxdomain(3600), 1800),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_cache_caps(facts: str, first: Resolution, held_for: int) -> None:
    clock = Clock()
    caches = ProxyCaches(clock=clock)
    assert caches.answer(CACHE, QUESTION, first) is first  # a miss answers as resolved, and is held
    fresh = answer(60, "10.0.0.2")
    clock.now += 1
    hit = caches.answer(CACHE, QUESTION, fresh)
    assert (hit.outcome, hit.answer[:1]) == (first.outcome, tuple(r.with_ttl(held_for - 1) for r in first.answer))
    assert {r.ttl for r in (*hit.answer, *hit.authority)} == {held_for - 1}  # what is left of the entry
    clock.now += held_for - 1.5
    late = caches.answer(CACHE, QUESTION, fresh)  # half a second left: still held, TTL 1
    assert late is not fresh and late.outcome is first.outcome
    assert {r.ttl for r in (*late.answer, *late.authority)} == {1}
    clock.now += 0.5
    assert caches.answer(CACHE, QUESTION, fresh) is fresh  # expired: the new answer, held from now
    assert caches.counts == {("fw", "miss"): 2, ("fw", "hit"): 2}


def test_cache_keys_and_what_it_never_holds() -> None:
    clock = Clock()
    caches = ProxyCaches(clock=clock)
    caches.answer(CACHE, QUESTION, answer(60))
    other_type = Question("app.corp.internal.", RRType.AAAA)
    other_firewall = ProxyCache("fw2")
    upper = Question("APP.corp.internal.", RRType.A)
    assert caches.answer(CACHE, upper, answer(60, "10.9.9.9")).answer[0].rdata == ("10.0.0.1",)  # no case
    assert caches.answer(CACHE, other_type, answer(60, "10.9.9.9")).answer[0].rdata == ("10.9.9.9",)
    assert caches.answer(other_firewall, QUESTION, answer(60, "10.9.9.8")).answer[0].rdata == ("10.9.9.8",)
    servfail = Resolution(Outcome.SERVFAIL, Source.ERROR, "loop")
    q = Question("broken.corp.internal.", RRType.A)
    assert caches.answer(CACHE, q, servfail) is servfail
    assert caches.answer(CACHE, q, answer(60)).outcome is Outcome.ANSWER  # SERVFAIL was not held
    assert caches.answer(CACHE, Question("zero.", RRType.A), answer(0)) is not None
    assert len(caches) == 4  # TTL 0 is not held either
    small = ProxyCaches(size=2, clock=clock)
    for i in range(3):
        small.answer(CACHE, Question(f"n{i}.", RRType.A), answer(60))
    assert len(small) == 2


def test_handler_never_puts_a_held_answer_in_its_reply_cache() -> None:
    """The reply cache would freeze the TTLs the proxy counts down: answers behind it take the slow path."""
    clock = Clock()
    handler = Handler(make_settings(query_log=False), compile_topology(estate()))
    handler.proxy_caches = ProxyCaches(clock=clock)
    query = dns.message.make_query("app.corp.internal", "A", use_edns=0)
    query.id = 7
    first = dns.message.from_wire(handler.handle(query.to_wire(), (CACHED, 5353)))
    clock.now += 100
    second = dns.message.from_wire(handler.handle(query.to_wire(), (CACHED, 5353)))
    assert first.answer[0].ttl == 3600 and second.answer[0].ttl == 3500
    handler.swap(compile_topology(estate(corp_internal=["app 60 A 127.20.9.3"])))
    third = dns.message.from_wire(handler.handle(query.to_wire(), (CACHED, 5353)))
    assert third.answer[0].to_text().endswith("127.20.9.1") and third.answer[0].ttl == 3500
