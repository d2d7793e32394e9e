"""Azure-provided DNS limits (facts-2 §13): per-VM query rate and pending queries, and CNAME chain length.

The limiter is checked with a clock of our own (no timing in the assertions), then
through the real server: a burst from one source address in a VNet on Azure-provided
DNS loses what is over the limit — no reply at all — and the metric counts exactly
what the client missed, while the same burst through a resolver inbound endpoint is
answered whole. Sources: 127.0.31.0/24 is VNet ``direct`` (168.63.129.16),
127.0.32.0/24 VNet ``via-inbound`` (its DNS server is an inbound endpoint).
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest
import yaml

from dnsemu.core.compile import compile_topology
from dnsemu.core.resolution import Outcome
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.server.limits import QueryLimits
from dnsemu.testing import Emulator
from dnsemu.topology.load import load_topology_data

ESTATE = """
virtual_networks:
  direct: {address_space: [10.1.0.0/16, 127.0.31.0/24]}
  via-inbound: {address_space: [10.2.0.0/16, 127.0.32.0/24], dns_servers: [10.0.0.4]}
  hub: {address_space: [10.0.0.0/16]}
on_premises:
  site: {address_space: [192.168.0.0/16], conditional_forwarders: {corp.test: [10.0.0.4]}}
dns_private_resolvers:
  res: {virtual_network: hub, inbound_endpoints: {in1: {private_ip_address: 10.0.0.4}}}
private_dns_zones:
  corp.test:
    records: ["app 60 A 10.1.0.9"]
    virtual_network_links: [{virtual_network: direct}, {virtual_network: hub}]
azure_provided_dns: {query_limits: true}
"""


def data(**azure: Any) -> dict[str, Any]:
    d = yaml.safe_load(ESTATE)
    d["azure_provided_dns"].update(azure)
    return d


def index_of(d: dict[str, Any]):
    return compile_topology(load_topology_data(d))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- the limiter


def test_defaults_are_azures() -> None:
    """facts-2 §13: 1000 queries per second and 200 pending per VM."""
    limits = QueryLimits()
    limits.use(index_of(data()))
    assert limits.active and (limits.rate, limits.pending_max) == (1000, 200)


def test_rate_per_source_address() -> None:
    """facts-2 §13: past 1000 queries in a second, the rest are dropped; per VM (source), not per VNet."""
    clock = Clock()
    limits = QueryLimits(clock=clock)
    limits.use(index_of(data()))
    assert not any(limits.drop("10.1.2.4") for _ in range(1000))
    assert limits.drop("10.1.2.4") and limits.drop("10.1.2.4")
    assert not limits.drop("10.1.2.5")  # another VM of the same VNet has its own budget
    clock.now += 0.5  # half a second refills half the bucket
    assert sum(not limits.drop("10.1.2.4") for _ in range(600)) == 500
    assert limits.dropped == {"rate": 102, "pending": 0}


def test_pending_queries() -> None:
    """facts-2 §13: at most 200 queries of a VM pending; more are dropped until one is answered."""
    limits = QueryLimits(clock=Clock())
    limits.use(index_of(data(pending_queries=3)))
    gate = asyncio.Event()

    async def upstream() -> bytes:
        await gate.wait()
        return b"reply"

    async def run() -> None:
        waiting = [asyncio.ensure_future(limits.track("10.1.2.4", upstream())) for _ in range(3)]
        await asyncio.sleep(0)
        assert limits.drop("10.1.2.4") and not limits.drop("10.1.2.5")
        gate.set()
        assert await asyncio.gather(*waiting) == [b"reply"] * 3
        assert not limits.drop("10.1.2.4")

    asyncio.run(run())
    assert limits.dropped["pending"] == 1


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("10.2.2.4", "a VNet whose DNS server is a resolver inbound endpoint"),
        ("10.0.0.4", "the inbound endpoint's own address"),
        ("192.168.2.4", "an on-premises site"),
        ("198.51.100.7", "the internet"),
    ],
)
def test_never_applied_outside_azure_provided_dns(source: str, why: str) -> None:
    """facts-2 §13: the limit is the default resolver's; inbound endpoints have their own (not emulated)."""
    limits = QueryLimits(clock=Clock())
    limits.use(index_of(data(queries_per_second=1)))
    assert not any(limits.drop(source) for _ in range(50)), why
    assert limits.dropped == {"rate": 0, "pending": 0}


def test_off_by_default_on_by_topology_or_flag() -> None:
    plain = data()
    del plain["azure_provided_dns"]
    for forced, topology, active in [(None, plain, False), (None, data(), True), (False, data(), False),
                                     (True, plain, True)]:
        limits = QueryLimits(forced)
        limits.use(index_of(topology))
        assert limits.active is active, (forced, topology.get("azure_provided_dns"))


# --------------------------------------------------------------------------- the real server


def burst(port: int, source: str, count: int, name: str = "app.corp.test") -> int:
    """Send ``count`` queries at once from ``source``; the number of replies that came back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        for i in range(count):
            sock.sendto(dns.message.make_query(name, "A", id=i).to_wire(), ("127.0.0.1", port))
        got: set[int] = set()
        sock.settimeout(2.0)  # silence this long means the rest were dropped
        while len(got) < count:
            try:
                got.add(dns.message.from_wire(sock.recv(65535)).id)
            except TimeoutError:
                break
        return len(got)


def test_server_drops_over_the_rate_and_counts_it() -> None:
    with Emulator(data(queries_per_second=5), http=True, query_log=False) as running:
        answered = burst(running.port, "127.0.31.5", 60)
        assert 5 <= answered < 60  # the first second's budget at least; never all of them
        dropped = running.metric("dnsemu_azure_dns_limit_drops_total", {"reason": "rate"})
        assert dropped == 60 - answered
        # through the inbound endpoint: no limit at all
        assert burst(running.port, "127.0.32.5", 60) == 60
        assert running.metric("dnsemu_azure_dns_limit_drops_total", {"reason": "rate"}) == dropped


def test_server_flag_turns_the_topology_setting_off() -> None:
    with Emulator(data(queries_per_second=5), azure_dns_limits=False) as running:
        assert burst(running.port, "127.0.31.5", 40) == 40


def test_server_drops_over_the_pending_queries() -> None:
    """Forwarded queries wait for an upstream that never answers: the fourth is dropped, not answered."""
    blackhole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blackhole.bind(("127.0.0.1", 0))
    try:
        upstream = f"127.0.0.1:{blackhole.getsockname()[1]}"
        with Emulator(data(pending_queries=3), http=True, query_log=False, upstreams=[upstream],
                      upstream_timeout=3.0, upstream_attempts=1) as running:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.31.7", 0))
                for i in range(5):
                    sock.sendto(dns.message.make_query(f"n{i}.outside.test", "A", id=i).to_wire(),
                                ("127.0.0.1", running.port))
                deadline = time.monotonic() + 20
                while running.metric("dnsemu_azure_dns_limit_drops_total", {"reason": "pending"}) != 2:
                    assert time.monotonic() < deadline, "the two queries over the pending limit were not dropped"
                    time.sleep(0.05)
                sock.settimeout(15)
                replies = [dns.message.from_wire(sock.recv(65535)) for _ in range(3)]
                assert sorted(r.id for r in replies) == [0, 1, 2]
                assert {r.rcode() for r in replies} == {dns.rcode.SERVFAIL}  # the upstream never answered
            # answered: no longer pending, the next query is taken
            reply = dns.query.udp(dns.message.make_query("app.corp.test", "A"), "127.0.0.1", port=running.port,
                                  source="127.0.31.7", timeout=5)
            assert [r.to_text() for rrset in reply.answer for r in rrset] == ["10.1.0.9"]
    finally:
        blackhole.close()


# --------------------------------------------------------------------------- CNAME chains (facts-2 §13, §16.7)


def chain_index(length: int):
    records = [f"c{i} 60 CNAME c{i + 1}.chain.test." for i in range(length)] + [f"c{length} 60 A 198.51.100.9"]
    d = {"virtual_networks": {"v": {"address_space": ["10.1.0.0/16"]}},
         "public_dns": {"zones": {"chain.test": {"records": records}}}}
    return compile_topology(load_topology_data(d))


def test_chains_of_16_cnames_are_followed() -> None:
    """facts-2 §13: Azure's cap is undocumented and real chains pass 8: dnsemu follows 16 CNAMEs."""
    result = resolve(chain_index(16), Question("c0.chain.test.", RRType.A), "10.1.2.4")
    assert result.outcome is Outcome.ANSWER
    assert len(result.answer) == 17 and result.answer[-1].rdata == ("198.51.100.9",)


def test_a_longer_chain_is_servfail_and_says_why() -> None:
    result = resolve(chain_index(17), Question("c0.chain.test.", RRType.A), "10.1.2.4")
    assert result.outcome is Outcome.SERVFAIL
    assert "longer than 16 CNAMEs" in result.trace_text()[-1] and "facts-2 §13" in result.trace_text()[-1]
