"""Azure Firewall DNS proxy and Virtual WAN hubs (facts-2 §12), table-driven through the core.

The estate below has a hub VNet with a firewall whose DNS proxy is on and which asks Azure
DNS from the hub; spokes that point their DNS servers at it; a firewall in another VNet that
asks the hub's inbound endpoint; a firewall with the proxy off; a firewall with two servers
that disagree; and two Virtual WAN hubs: one whose firewall asks Azure DNS from the hub (the
documented failure: public addresses), one whose firewall asks a DNS spoke's inbound endpoint
(the documented "virtual hub extension" pattern: private addresses).
"""

from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass

import pytest

from dnsemu.analysis.explain import question, render
from dnsemu.analysis.lint import check
from dnsemu.core.compile import compile_topology
from dnsemu.core.resolution import Outcome, ProxyCache, Source
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import load_topology_data

ESTATE: dict = {
    "region": "eastus",
    "virtual_networks": {
        "hub": {
            "address_space": ["10.0.0.0/16"],
            "subnets": {
                "AzureFirewallSubnet": {"address_prefix": "10.0.3.0/26"},
                "snet-in": {"address_prefix": "10.0.0.0/28"},
                "snet-out": {"address_prefix": "10.0.0.16/28"},
            },
        },
        # resolves through the hub firewall; its own link (spoke.example) never applies behind the proxy
        "spoke-fw": {"address_space": ["10.4.0.0/16"], "dns_servers": ["10.0.3.4"]},
        "edge": {
            "address_space": ["10.5.0.0/16"], "subnets": {"AzureFirewallSubnet": {"address_prefix": "10.5.0.0/26"}},
        },
        "spoke-edge": {"address_space": ["10.15.0.0/16"], "dns_servers": ["10.5.0.4"]},
        "spoke-off": {"address_space": ["10.16.0.0/16"], "dns_servers": ["10.5.0.5"]},
        "spoke-two": {"address_space": ["10.17.0.0/16"], "dns_servers": ["10.5.0.6"]},
        "spoke-cache": {"address_space": ["10.18.0.0/16"], "dns_servers": ["10.5.0.7"]},
        "dns-spoke": {"address_space": ["10.7.0.0/16"]},
        "spoke-a": {"address_space": ["10.6.0.0/16"], "dns_servers": ["10.100.0.132"]},
        "spoke-b": {"address_space": ["10.8.0.0/16"], "dns_servers": ["10.100.2.132"]},
    },
    "on_premises": {
        "dc": {
            "address_space": ["192.168.0.0/16"],
            "dns_servers": ["192.168.1.10"],
            "zones": {"corp.contoso.com": {"records": ["app 300 A 192.168.10.20"]}},
        },
    },
    "virtual_hubs": {
        "vhub": {"address_prefix": "10.100.0.0/23", "virtual_network_connections": ["spoke-a"]},
        "vhub2": {"address_prefix": "10.100.2.0/23", "virtual_network_connections": ["spoke-b", "dns-spoke"]},
    },
    "azure_firewalls": {
        "fw-hub": {"virtual_network": "hub", "private_ip_address": "10.0.3.4", "dns_settings": {"enable_proxy": True}},
        "fw-edge": {
            "virtual_network": "edge",
            "private_ip_address": "10.5.0.4",
            "dns_settings": {"enable_proxy": True, "servers": ["10.0.0.4"]},
        },
        "fw-off": {"virtual_network": "edge", "private_ip_address": "10.5.0.5"},
        "fw-two": {
            "virtual_network": "edge",
            "private_ip_address": "10.5.0.6",
            "dns_settings": {"enable_proxy": True, "servers": ["10.0.0.4", "192.168.1.10"]},
        },
        "fw-cache": {
            "virtual_network": "edge",
            "private_ip_address": "10.5.0.7",
            "dns_settings": {"enable_proxy": True, "servers": ["10.0.0.4"], "emulate_cache": True},
        },
        "fw-vhub": {
            "virtual_hub": "vhub", "private_ip_address": "10.100.0.132", "dns_settings": {"enable_proxy": True},
        },
        "fw-vhub2": {
            "virtual_hub": "vhub2",
            "private_ip_address": "10.100.2.132",
            "dns_settings": {"enable_proxy": True, "servers": ["10.7.0.4"]},
        },
    },
    "dns_private_resolvers": {
        "hub-resolver": {
            "virtual_network": "hub",
            "inbound_endpoints": {"in1": {"private_ip_address": "10.0.0.4", "subnet": "snet-in"}},
            "outbound_endpoints": ["out1"],
        },
        "spoke-resolver": {
            "virtual_network": "dns-spoke", "inbound_endpoints": {"in1": {"private_ip_address": "10.7.0.4"}},
        },
    },
    "dns_forwarding_rulesets": {
        # linked to the firewall's own VNet: the proxy's queries go through it (facts §12.2: its ruleset)
        "hub-rules": {
            "dns_resolver_outbound_endpoints": ["hub-resolver/out1"],
            "virtual_network_links": ["hub"],
            "forwarding_rules": {"corp": {"domain_name": "corp.contoso.com.", "target_dns_servers": ["192.168.1.10"]}},
        },
    },
    "private_dns_zones": {
        "privatelink.blob.core.windows.net": {
            "virtual_network_links": [{"virtual_network": "hub"}, {"virtual_network": "dns-spoke"}],
        },
        "spoke.example": {
            "records": ["app 60 A 10.4.0.10"], "virtual_network_links": [{"virtual_network": "spoke-fw"}],
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
    "virtual_machines": {
        "vm-fw": {"virtual_network": "spoke-fw", "private_ip_address": "10.4.0.4"},
        "vm-edge": {"virtual_network": "spoke-edge", "private_ip_address": "10.15.0.4"},
        "vm-off": {"virtual_network": "spoke-off", "private_ip_address": "10.16.0.4"},
        "vm-two": {"virtual_network": "spoke-two", "private_ip_address": "10.17.0.4"},
        "vm-a": {"virtual_network": "spoke-a", "private_ip_address": "10.6.0.4"},
        "vm-b": {"virtual_network": "spoke-b", "private_ip_address": "10.8.0.4"},
    },
    "check": {"accept": ["endpoint-resolves-public:spoke-two:*"]},
}

BLOB = "mystorage.blob.core.windows.net"
PRIVATE = ("CNAME mystorage.privatelink.blob.core.windows.net.", "A 10.0.1.4")
PUBLIC = ("CNAME mystorage.privatelink.blob.core.windows.net.", "CNAME blob.eusprdstr01a.store.core.windows.net.", "A")


@pytest.fixture(scope="module")
def loaded():
    return load_topology_data(copy.deepcopy(ESTATE))


@pytest.fixture(scope="module")
def index(loaded):
    return compile_topology(loaded)


def texts(records) -> list[str]:
    return [f"{RRType(r.rtype).name} {' '.join(map(str, r.rdata))}" for r in records]


@dataclass(frozen=True)
class Case:
    id: str
    facts: str  # the section of the facts each case checks
    source: str
    name: str
    outcome: Outcome
    kind: Source
    answer: tuple[str, ...] = ()  # prefixes of each answer record's "TYPE value", in order
    view: str | None = None
    trace_has: tuple[str, ...] = ()


CASES = [
    Case("proxied spoke resolves in the firewall's VNet", "§12.2", "10.4.0.4", BLOB, Outcome.ANSWER, Source.PRIVATE,
         PRIVATE, "vnet:hub",
         ("DNS proxy of Azure Firewall 'fw-hub' in VNet 'hub'",
          "Azure Firewall 'fw-hub' (DNS proxy) forwards it to 168.63.129.16, Azure DNS in the firewall's VNet 'hub'")),
    Case("the spoke's own links do not apply behind the proxy", "§12.2", "10.4.0.4", "app.spoke.example",
         Outcome.FORWARD, Source.FORWARDED, (), "vnet:hub", ("resolving app.spoke.example. A in VNet 'hub'",)),
    Case("the ruleset of the firewall's VNet applies", "§12.2", "10.4.0.4", "app.corp.contoso.com", Outcome.ANSWER,
         Source.HOSTED, ("A 192.168.10.20",), "server:dc",
         ("forwarding ruleset 'hub-rules' is consulted", "rule hub-rules/corp", "holds zone corp.contoso.com.")),
    Case("custom servers: the inbound endpoint's VNet decides", "§12.2", "10.15.0.4", BLOB, Outcome.ANSWER,
         Source.PRIVATE, PRIVATE, "vnet:hub",
         ("Azure Firewall 'fw-edge' (DNS proxy) forwards it to 10.0.0.4, inbound endpoint hub-resolver/in1",)),
    Case("DNS proxy off: nothing listens on port 53", "§12.1", "10.16.0.4", BLOB, Outcome.SERVFAIL, Source.ERROR, (),
         "unreachable", ("Azure Firewall 'fw-off' has DNS proxy off",)),
    Case("virtual hub firewall asking Azure DNS: public address", "§12.4", "10.6.0.4", BLOB, Outcome.ANSWER,
         Source.PUBLIC, PUBLIC, "hub:vhub",
         ("Azure DNS in the firewall's virtual hub 'vhub'", "in virtual hub 'vhub'")),
    Case("virtual hub extension: a DNS spoke's inbound endpoint", "§12.4", "10.8.0.4", BLOB, Outcome.ANSWER,
         Source.PRIVATE, PRIVATE, "vnet:dns-spoke",
         ("Azure Firewall 'fw-vhub2' (DNS proxy) forwards it to 10.7.0.4, inbound endpoint spoke-resolver/in1",)),
    Case("a query from the hub itself never sees a private zone", "§12.4", "10.100.0.4", BLOB, Outcome.ANSWER,
         Source.PUBLIC, PUBLIC, "hub:vhub", ("is in Virtual WAN hub 'vhub'", "a hub cannot have them")),
    Case("a VNet that asks Azure DNS directly is unaffected", "§12.2", "10.0.3.10", BLOB, Outcome.ANSWER,
         Source.PRIVATE, PRIVATE, "vnet:hub"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.facts} {c.id}")
def test_firewall_cases(index, case: Case) -> None:
    result = resolve(index, Question(case.name.lower() + ".", RRType.A), case.source)
    trace = "\n".join(result.trace_text())
    assert result.outcome is case.outcome, trace
    assert result.source is case.kind, trace
    got = texts(result.answer)
    assert len(got) == len(case.answer), (got, trace)
    for text, prefix in zip(got, case.answer, strict=True):
        assert text.startswith(prefix), (got, trace)
    if case.view is not None:
        assert result.view == case.view
    for piece in case.trace_has:
        assert piece in trace, trace


def test_two_servers_one_picked_per_name_by_a_hash(index) -> None:
    """§12.1: a query goes to one of the servers (at random in Azure; by a hash of the name here)."""
    picks = {}
    for i in range(40):
        name = f"acct{i}.blob.core.windows.net."
        first = resolve(index, Question(name, RRType.A), "10.17.0.4")
        again = resolve(index, Question(name, RRType.A), "10.17.0.4")
        assert first.trace_text() == again.trace_text()  # repeatable
        step = next(t for t in first.trace_text() if "fw-two" in t and "(DNS proxy)" in t)
        assert "one of its 2 DNS servers, picked by a hash of the name (Azure picks at random per query)" in step
        expected = ["10.0.0.4", "192.168.1.10"][zlib.crc32(name.encode()) % 2]
        assert f"forwards it to {expected}," in step
        picks[expected] = first.view
    assert picks == {"10.0.0.4": "vnet:hub", "192.168.1.10": "internet"}


def test_proxy_cache_is_named_only_where_it_is_emulated(index) -> None:
    """§12.1: the caps (1 h positive, 30 min negative) travel with the resolution; the server holds the cache."""
    cached = resolve(index, Question(BLOB + ".", RRType.A), "10.18.0.4")
    assert cached.proxy_cache == ProxyCache("fw-cache", 3600, 1800)
    assert any("its cache holds answers up to 3600 s, negative ones up to 1800 s" in t for t in cached.trace_text())
    assert resolve(index, Question(BLOB + ".", RRType.A), "10.4.0.4").proxy_cache is None
    assert resolve(index, Question(BLOB + ".", RRType.A), "10.0.3.10").proxy_cache is None


def test_explain_shows_the_proxy_hop(loaded, index) -> None:
    q = question(BLOB)
    text = render(q, "10.4.0.4", resolve(index, q, "10.4.0.4"))
    assert ";; 3. Azure Firewall 'fw-hub' (DNS proxy) forwards it to 168.63.129.16" in text
    assert ";; view: vnet:hub; answer: private" in text


# -- check (facts §12) -----------------------------------------------------------------------------------


def test_check_findings(loaded, index) -> None:
    findings = {(f.code, f.subject): f for f in check(loaded, index)}
    off = findings[("firewall-proxy-off", "fw-off")]
    assert "'spoke-off' uses Azure Firewall 'fw-off' (10.5.0.5) as DNS server, and its DNS proxy is off" in off.message
    two = findings[("firewall-servers-disagree", "fw-two")]
    assert "asks one of its DNS servers at random" in two.message and "10.0.0.4" in two.message
    hub = findings[("endpoint-resolves-public", "spoke-a:privatelink.blob.core.windows.net")]
    assert "virtual hub 'vhub', which can have no zone links" in hub.fix
    assert "virtual hub extension pattern" in hub.fix
    assert not any(subject.startswith(("spoke-b:", "spoke-fw:", "spoke-edge:")) for _code, subject in findings)


def test_check_fix_for_a_vnet_firewall_names_its_vnet() -> None:
    data = copy.deepcopy(ESTATE)
    data["private_dns_zones"]["privatelink.blob.core.windows.net"]["virtual_network_links"] = [
        {"virtual_network": "dns-spoke"}
    ]
    loaded = load_topology_data(data)
    findings = {(f.code, f.subject): f for f in check(loaded, compile_topology(loaded))}
    fix = findings[("endpoint-resolves-public", "spoke-fw:privatelink.blob.core.windows.net")].fix
    assert fix.startswith("link privatelink.blob.core.windows.net to 'hub', where Azure Firewall 'fw-hub' resolves")


# -- validation (facts §12.1, §12.4) --------------------------------------------------------------------------


def _errors(mutate) -> str:
    data = copy.deepcopy(ESTATE)
    mutate(data)
    with pytest.raises(TopologyError) as info:
        load_topology_data(data)
    return str(info.value)


INVALID = [
    ("§12.4 a zone linked to a virtual hub",
     lambda d: d["private_dns_zones"]["privatelink.blob.core.windows.net"]["virtual_network_links"].append(
         {"virtual_network": "vhub"}),
     "private_dns_zones.privatelink.blob.core.windows.net.virtual_network_links[2].virtual_network: 'vhub' is a "
     "Virtual WAN hub: Microsoft manages its network, so it cannot have private DNS zone links"),
    ("§12.4 a ruleset linked to a virtual hub",
     lambda d: d["dns_forwarding_rulesets"]["hub-rules"]["virtual_network_links"].append("vhub2"),
     "cannot have forwarding ruleset links"),
    ("§12.4 a resolver in a virtual hub",
     lambda d: d["dns_private_resolvers"]["spoke-resolver"].update(virtual_network="vhub2"),
     "cannot have a DNS private resolver of yours"),
    ("§12.4 a VM in a virtual hub",
     lambda d: d["virtual_machines"]["vm-a"].update(virtual_network="vhub"), "cannot have VMs of yours"),
    ("§12.4 a hub's prefix overlaps a VNet",
     lambda d: d["virtual_hubs"]["vhub"].update(address_prefix="10.6.0.0/23"), "overlaps 10.6.0.0/16"),
    ("§12.3 a firewall in a VNet and a hub",
     lambda d: d["azure_firewalls"]["fw-hub"].update(virtual_hub="vhub"),
     "azure_firewalls.fw-hub: give exactly one of virtual_network and virtual_hub"),
    ("§12.3 a firewall outside its hub",
     lambda d: d["azure_firewalls"]["fw-vhub"].update(private_ip_address="10.100.4.4"),
     "10.100.4.4 is outside virtual hub 'vhub' (10.100.0.0/23)"),
    ("§12.3 a firewall outside AzureFirewallSubnet",
     lambda d: d["azure_firewalls"]["fw-hub"].update(private_ip_address="10.0.9.4"),
     "10.0.9.4 is outside subnet 'AzureFirewallSubnet' (10.0.3.0/26)"),
    ("§12.1 a DNS server inside AzureFirewallSubnet",
     lambda d: (d["on_premises"]["dc"]["dns_servers"].append("192.168.1.11"),
                d.setdefault("custom_dns_servers", {}).update(
                    {"dns1": {"virtual_network": "hub", "private_ip_address": "10.0.3.20"}}),
                d["azure_firewalls"]["fw-hub"]["dns_settings"].update(servers=["10.0.3.20"])),
     "azure_firewalls.fw-hub.dns_settings.servers[0]: 10.0.3.20 is inside AzureFirewallSubnet (10.0.3.0/26)"),
    ("§12.1 the firewall as its own DNS server",
     lambda d: d["azure_firewalls"]["fw-edge"]["dns_settings"].update(servers=["10.5.0.4"]),
     "a firewall cannot use its own DNS proxy as its DNS server"),
    ("§12.1 a DNS server that is not modelled",
     lambda d: d["azure_firewalls"]["fw-edge"]["dns_settings"].update(servers=["10.9.9.9"]),
     "10.9.9.9 is not a modelled DNS server"),
    ("§12.1 at most 15 DNS servers",
     lambda d: d["azure_firewalls"]["fw-edge"]["dns_settings"].update(servers=["10.0.0.4"] * 16),
     "azure_firewalls.fw-edge.dns_settings.servers"),
    ("§12.3 two DNS servers on one address",
     lambda d: d["azure_firewalls"]["fw-hub"].update(private_ip_address="10.0.0.4"),
     "10.0.0.4 is already the address of inbound endpoint"),
]


@pytest.mark.parametrize(("rule", "mutate", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid(rule: str, mutate, message: str) -> None:
    assert message in _errors(mutate)
