"""Zones that DNS servers hold themselves, and Azure's 20 records per record set (issue 13, item 6).

A custom DNS server in the hub is a domain controller holding the AD-integrated zone
``corp.contoso.com``; it forwards a subdomain to the hub's inbound endpoint and sends the
rest to Azure DNS from its VNet (facts-1 §4.1: custom DNS servers reach 168.63.129.16).
The on-premises site's server holds ``onprem.contoso.local``, which a forwarding ruleset
sends Azure clients to (facts-1 §4.2).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest
from conftest import ServerThread, make_settings

from dnsemu.analysis.explain import question, render
from dnsemu.core.compile import compile_topology
from dnsemu.core.resolution import Outcome, Source
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import load_topology, load_topology_data

ESTATE: dict = {
    "virtual_networks": {
        "hub": {"address_space": ["10.0.0.0/16"]},
        "spoke-dc": {"address_space": ["10.1.0.0/16"], "dns_servers": ["10.0.3.10"]},
        "spoke-rs": {"address_space": ["10.2.0.0/16"]},
    },
    "on_premises": {
        "dc": {
            "address_space": ["192.168.0.0/16"],
            "dns_servers": ["192.168.1.10"],
            "conditional_forwarders": {"blob.core.windows.net": ["10.0.0.4"]},
            "zones": {"onprem.contoso.local": {"records": ["files 600 A 192.168.5.5"]}},
        },
    },
    "custom_dns_servers": {
        "dc1": {
            "virtual_network": "hub",
            "private_ip_address": "10.0.3.10",
            "conditional_forwarders": {
                "azure.corp.contoso.com": ["10.0.0.4"],
                "contoso.com": ["192.168.1.10"],
                "onprem.contoso.local": ["192.168.1.10"],
            },
            "default_forwarding": "azure",
            "zones": {
                "corp.contoso.com": {
                    "records": [
                        "app 300 A 10.0.3.50",
                        "www 300 CNAME app",
                        "storage 300 CNAME mystorage.blob.core.windows.net.",
                        "files 300 CNAME files.onprem.contoso.local.",
                        "loop1 300 CNAME loop2",
                        "loop2 300 CNAME loop1",
                    ],
                },
                "lab.contoso.com": {
                    "zone_text": "@ 3600 SOA dc1.lab.contoso.com. admins.contoso.com. 7 900 600 86400 120\n"
                                 "test 60 A 10.0.3.77\n",
                },
            },
        },
    },
    "dns_private_resolvers": {
        "res": {"virtual_network": "hub", "inbound_endpoints": {"in1": {"private_ip_address": "10.0.0.4"}},
                "outbound_endpoints": ["out1"]},
    },
    "dns_forwarding_rulesets": {
        "rs": {
            "dns_resolver_outbound_endpoints": ["res/out1"],
            "virtual_network_links": ["spoke-rs"],
            "forwarding_rules": {
                "onprem": {"domain_name": "onprem.contoso.local.", "target_dns_servers": ["192.168.1.10"]},
                "corp": {"domain_name": "corp.contoso.com.", "target_dns_servers": ["10.0.3.10"]},
            },
        },
    },
    "private_dns_zones": {
        "privatelink.blob.core.windows.net": {"virtual_network_links": [{"virtual_network": "hub"}]},
        "azure.corp.contoso.com": {
            "records": ["vm1 10 A 10.0.2.10"], "virtual_network_links": [{"virtual_network": "hub"}],
        },
    },
    "private_endpoints": {
        "pe-blob": {
            "virtual_network": "hub",
            "private_ip_addresses": ["10.0.1.4"],
            "resource": {"type": "Microsoft.Storage/storageAccounts", "name": "mystorage"},
            "group_id": "blob",
            "private_dns_zone_group": ["privatelink.blob.core.windows.net"],
        },
    },
}

SPOKE_DC, SPOKE_RS, HUB, ONPREM = "10.1.0.4", "10.2.0.4", "10.0.2.4", "192.168.0.4"


@pytest.fixture(scope="module")
def index():
    return compile_topology(load_topology_data(copy.deepcopy(ESTATE)))


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    name: str
    qtype: str
    outcome: Outcome
    kind: Source
    answer: tuple[str, ...] = ()  # "TYPE value" of each answer record, in order
    authoritative: bool = False
    authority: str | None = None  # the SOA owner in authority
    trace_has: tuple[str, ...] = ()


CASES = [
    Case("the DC answers from its AD zone, authoritatively", SPOKE_DC, "app.corp.contoso.com", "A", Outcome.ANSWER,
         Source.HOSTED, ("A 10.0.3.50",), True, None,
         ("custom DNS server 'dc1' holds zone corp.contoso.com. and answers A 10.0.3.50",)),
    Case("a CNAME inside the zone", SPOKE_DC, "www.corp.contoso.com", "A", Outcome.ANSWER, Source.HOSTED,
         ("CNAME app.corp.contoso.com.", "A 10.0.3.50"), True),
    Case("a CNAME out of the zone: the DC resolves it through Azure DNS in its VNet", SPOKE_DC,
         "storage.corp.contoso.com", "A", Outcome.ANSWER, Source.PRIVATE,
         ("CNAME mystorage.blob.core.windows.net.", "CNAME mystorage.privatelink.blob.core.windows.net.",
          "A 10.0.1.4"), False, None,
         ("with CNAME mystorage.blob.core.windows.net.", "sends it to Azure DNS (168.63.129.16) in VNet 'hub'")),
    Case("a CNAME to another server's zone: through its conditional forwarder", SPOKE_DC,
         "files.corp.contoso.com", "A", Outcome.ANSWER, Source.HOSTED,
         ("CNAME files.onprem.contoso.local.", "A 192.168.5.5"), False),
    Case("a name the zone lacks: NXDOMAIN with its SOA", SPOKE_DC, "nothere.corp.contoso.com", "A",
         Outcome.NXDOMAIN, Source.HOSTED, (), True, "corp.contoso.com."),
    Case("a type the name lacks: NODATA", SPOKE_DC, "app.corp.contoso.com", "MX", Outcome.NODATA, Source.HOSTED,
         (), True, "corp.contoso.com."),
    Case("a CNAME loop in the zone", SPOKE_DC, "loop1.corp.contoso.com", "A", Outcome.SERVFAIL, Source.ERROR,
         ("CNAME loop2.corp.contoso.com.", "CNAME loop1.corp.contoso.com.")),
    Case("a more specific conditional forwarder wins over the zone", SPOKE_DC, "vm1.azure.corp.contoso.com", "A",
         Outcome.ANSWER, Source.PRIVATE, ("A 10.0.2.10",), False, None,
         ("custom DNS server 'dc1' forwards azure.corp.contoso.com.",)),
    Case("a less specific forwarder does not take the zone's names", SPOKE_DC, "app.corp.contoso.com", "A",
         Outcome.ANSWER, Source.HOSTED, ("A 10.0.3.50",), True),
    Case("the zone's own SOA when it has one", SPOKE_DC, "none.lab.contoso.com", "A", Outcome.NXDOMAIN,
         Source.HOSTED, (), True, "lab.contoso.com."),
    Case("through a ruleset: answered by the DC, not authoritatively", SPOKE_RS, "www.corp.contoso.com", "A",
         Outcome.ANSWER, Source.HOSTED, ("CNAME app.corp.contoso.com.", "A 10.0.3.50"), False, None,
         ("rule rs/corp",)),
    Case("the on-premises server's own zone", ONPREM, "files.onprem.contoso.local", "A", Outcome.ANSWER,
         Source.HOSTED, ("A 192.168.5.5",), True, None,
         ("the DNS server of on-premises site 'dc' holds zone onprem.contoso.local.",)),
    Case("the on-premises zone from Azure, through a ruleset", SPOKE_RS, "files.onprem.contoso.local", "A",
         Outcome.ANSWER, Source.HOSTED, ("A 192.168.5.5",), False),
    Case("a VNet on Azure DNS never sees the DC's zone", HUB, "app.corp.contoso.com", "A", Outcome.FORWARD,
         Source.FORWARDED),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hosted_zone_cases(index, case: Case) -> None:
    result = resolve(index, Question(case.name + ".", RRType.make(case.qtype)), case.source)
    trace = "\n".join(result.trace_text())
    assert result.outcome is case.outcome, trace
    assert result.source is case.kind, trace
    assert [f"{RRType(r.rtype).name} {r.rdata[0]}" for r in result.answer] == list(case.answer), trace
    assert result.authoritative is case.authoritative, trace
    if case.authority is not None:
        assert [r.name for r in result.authority] == [case.authority]
    for piece in case.trace_has:
        assert piece in trace, trace


def test_negative_answers_carry_the_servers_soa(index) -> None:
    """A synthesised SOA names the server and uses Windows DNS's timers; a written one is kept."""
    miss = resolve(index, Question("nothere.corp.contoso.com.", RRType.A), SPOKE_DC)
    soa = miss.authority[0]
    assert soa.rdata == ("dc1.corp.contoso.com.", "hostmaster.corp.contoso.com.", 1, 900, 600, 86400, 3600)
    assert soa.ttl == 3600
    own = resolve(index, Question("none.lab.contoso.com.", RRType.A), SPOKE_DC).authority[0]
    assert own.rdata[:2] == ("dc1.lab.contoso.com.", "admins.contoso.com.") and own.ttl == 120  # min(TTL, MINIMUM)


def test_explain_shows_the_aa_flag(index) -> None:
    q = question("app.corp.contoso.com")
    text = render(q, SPOKE_DC, resolve(index, q, SPOKE_DC))
    assert ";; flags: qr aa rd ra;" in text and ";; view: server:dc1; answer: hosted" in text


def test_the_wire_sets_aa_only_for_the_servers_own_data() -> None:
    """Through the real server (dnspython): AA for the DC's zone asked of the DC, never via Azure DNS."""
    data = copy.deepcopy(ESTATE)
    data["virtual_networks"]["spoke-dc"]["address_space"] = ["127.31.0.0/16"]
    data["virtual_networks"]["spoke-rs"]["address_space"] = ["127.32.0.0/16"]
    with ServerThread(make_settings(), load_topology_data(data)) as server:
        def ask(name: str, source: str) -> dns.message.Message:
            return dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=server.port, source=source,
                                 timeout=5)

        direct = ask("app.corp.contoso.com", "127.31.0.5")
        assert direct.rcode() == dns.rcode.NOERROR and direct.flags & dns.flags.AA
        assert direct.flags & dns.flags.RA
        assert not ask("app.corp.contoso.com", "127.32.0.5").flags & dns.flags.AA
        miss = ask("nothere.corp.contoso.com", "127.31.0.5")
        assert miss.rcode() == dns.rcode.NXDOMAIN and miss.flags & dns.flags.AA
        assert miss.authority[0].name.to_text() == "corp.contoso.com."


def _errors(mutate) -> str:
    data = copy.deepcopy(ESTATE)
    mutate(data)
    with pytest.raises(TopologyError) as info:
        load_topology_data(data)
    return str(info.value)


def dc1(d: dict) -> dict:
    return d["custom_dns_servers"]["dc1"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: dc1(d)["conditional_forwarders"].update({"corp.contoso.com": ["192.168.1.10"]}),
         "custom_dns_servers.dc1.zones.corp.contoso.com: corp.contoso.com. is both a zone of this server and a "
         "conditional forwarder"),
        (lambda d: dc1(d)["zones"]["corp.contoso.com"]["records"].append("old 300 DNAME corp.example."),
         "dnsemu models a DNS server's own zone without delegations or DNAME"),
        (lambda d: dc1(d)["zones"]["corp.contoso.com"]["records"].append("sub 300 NS ns1.example."),
         "sub.corp.contoso.com. NS: dnsemu models a DNS server's own zone"),
        (lambda d: dc1(d)["zones"].update({"contoso": {}}), "zone 'contoso' has a single label"),
        (lambda d: dc1(d)["zones"]["corp.contoso.com"]["records"].append("bad 300 A not-an-address"),
         "custom_dns_servers.dc1.zones.corp.contoso.com.records[6]"),
        (lambda d: d["on_premises"]["dc"]["zones"].update({"Onprem.Contoso.Local.": {}}),
         "zone 'Onprem.Contoso.Local.' is the same zone as 'onprem.contoso.local'"),
        (lambda d: dc1(d)["zones"]["corp.contoso.com"]["records"].append(
            "sub 300 SOA ns1.example. admins.example. 1 900 600 86400 120"),
         "sub.corp.contoso.com. SOA: a zone's SOA sits at its apex corp.contoso.com."),
    ],
    ids=["zone-and-forwarder", "dname", "delegation", "single-label", "bad-record", "same-zone-twice",
         "soa-below-the-apex"],
)
def test_invalid_hosted_zones(mutate, message: str) -> None:
    assert message in _errors(mutate)


# -- 20 records per record set (facts-1 §3.2), however they are written ---------------------------------------


def zone_with(records: list, **extra) -> dict:
    return {"virtual_networks": {"hub": {"address_space": ["10.0.0.0/16"]}},
            "private_dns_zones": {"corp.example": {"records": records, **extra}}}


def lines(n: int, start: int = 1) -> list[str]:
    return [f"big 60 A 10.0.9.{i}" for i in range(start, start + n)]


def test_twenty_lines_are_fine_and_repeats_count_once() -> None:
    load_topology_data(zone_with(lines(20) + lines(5)))  # 25 lines, 20 distinct records


@pytest.mark.parametrize(
    ("records", "where"),
    [
        (lines(21), "private_dns_zones.corp.example.records[20]"),
        ([{"name": "big", "type": "A", "values": [f"10.0.9.{i}" for i in range(1, 16)]}, *lines(6, 16)],
         "private_dns_zones.corp.example.records[6]"),
    ],
    ids=["lines", "values-and-lines"],
)
def test_twenty_one_records_in_a_record_set(records: list, where: str) -> None:
    with pytest.raises(TopologyError) as info:
        load_topology_data(zone_with(records))
    text = str(info.value)
    assert f"{where}: big.corp.example. A: more than 20 records in one record set" in text


def test_the_limit_holds_in_zone_text_and_zone_files(tmp_path: Path) -> None:
    text = "\n".join(f"big 60 A 10.0.9.{i}" for i in range(1, 22)) + "\n"
    with pytest.raises(TopologyError, match="more than 20 records in one record set"):
        load_topology_data(zone_with([], zone_text=text))
    (tmp_path / "corp.example.zone").write_text("$TTL 60\n" + text)
    (tmp_path / "topology.yaml").write_text(
        "virtual_networks: {hub: {address_space: [10.0.0.0/16]}}\n"
        "private_dns_zones: {corp.example: {zone_file: corp.example.zone}}\n"
    )
    with pytest.raises(TopologyError) as info:
        load_topology(tmp_path / "topology.yaml")
    problem = info.value.problems[0]
    assert problem.file.endswith("corp.example.zone") and problem.line == 22
    assert "more than 20 records" in problem.message


def test_the_limit_is_azures_only() -> None:
    """Public zones and a DNS server's own zones are not Azure private DNS: no such limit."""
    load_topology_data({"public_dns": {"zones": {"example.com": {"records": lines(25)}}}})
    data = copy.deepcopy(ESTATE)
    dc1(data)["zones"]["corp.contoso.com"]["records"] += [f"big 60 A 10.0.9.{i}" for i in range(1, 26)]
    load_topology_data(data)
