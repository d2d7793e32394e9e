"""The resolution core, table-driven, with no sockets: each scenario of Azure private DNS.

Scenarios come from the facts file's section 9 (and the bundled estate in zones/).
Answers are compared as presentation text, in order, so a wrong chain fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Options
from dnsemu.core.resolution import Outcome, Source
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Question, RRType
from dnsemu.topology.load import load_topology, load_topology_data

ZONES = Path(__file__).resolve().parent.parent / "zones" / "topology.yaml"


@pytest.fixture(scope="module")
def estate():
    return compile_topology(load_topology(ZONES))


def q(name: str, qtype: str = "A") -> Question:
    return Question(name.lower().rstrip(".") + ".", RRType.make(qtype))


def summary(records) -> list[str]:
    out = []
    for r in records:
        value = " ".join(str(v) for v in r.rdata)
        out.append(f"{r.name} {RRType(r.rtype).name} {value}")
    return out


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    name: str
    qtype: str
    outcome: Outcome
    kind: Source
    answer_has: tuple[str, ...] = ()  # substrings that must appear, in this order, one per record
    authority: str | None = None  # the SOA owner expected in authority
    view: str | None = None
    trace_has: tuple[str, ...] = ()


BLOB = "mystorage.blob.core.windows.net"
PRIVATE_BLOB = (
    "mystorage.blob.core.windows.net. CNAME mystorage.privatelink.blob.core.windows.net.",
    "mystorage.privatelink.blob.core.windows.net. A 10.0.1.4",
)

ESTATE_CASES = [
    Case(
        "hub VM, linked VNet: CNAME then the private IP",
        "10.0.2.4",
        BLOB,
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        PRIVATE_BLOB,
        view="vnet:hub",
    ),
    Case(
        "internet: the whole public chain to a public address",
        "198.51.100.7",
        BLOB,
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        (
            "CNAME mystorage.privatelink.blob.core.windows.net.",
            "mystorage.privatelink.blob.core.windows.net. CNAME ",
            " A 203.0.113.",
        ),
        view="internet",
    ),
    Case(
        "spoke1 uses the hub inbound endpoint (centralized)",
        "10.1.0.4",
        BLOB,
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        PRIVATE_BLOB,
        view="vnet:hub",
        trace_has=("inbound endpoint hub-resolver/in1",),
    ),
    Case(
        "spoke2 forwards by ruleset (distributed)",
        "10.2.0.4",
        BLOB,
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        PRIVATE_BLOB,
        view="vnet:hub",
        trace_has=("spoke-rules/blob",),
    ),
    Case(
        "on-premises with the right forwarder",
        "192.168.20.5",
        BLOB,
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        PRIVATE_BLOB,
        view="vnet:hub",
        trace_has=("forwards blob.core.windows.net.",),
    ),
    Case(
        "on-premises with a privatelink forwarder gets the public chain",
        "172.16.3.3",
        BLOB,
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        ("CNAME mystorage.privatelink", "CNAME ", " A 203.0.113."),
        view="internet",
        trace_has=("no conditional forwarder",),
    ),
    Case(
        "sandbox links the zone itself (links ignore peering)",
        "10.3.0.4",
        BLOB,
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        PRIVATE_BLOB,
        view="vnet:sandbox",
    ),
    Case(
        "sandbox has no file zone linked: public",
        "10.3.0.4",
        "mystorage.file.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        ("CNAME mystorage.privatelink.file", "CNAME ", " A 203.0.113."),
    ),
    Case(
        "another tenant's account: NXDOMAIN from the linked zone",
        "10.0.2.4",
        "fabrikamstore.blob.core.windows.net",
        "A",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        ("fabrikamstore.blob.core.windows.net. CNAME fabrikamstore.privatelink.blob.core.windows.net.",),
        authority="privatelink.blob.core.windows.net.",
        trace_has=("Default",),
    ),
    Case(
        "NxDomainRedirect falls back to the public chain",
        "10.3.0.4",
        "fabrikamstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.FALLBACK,
        ("CNAME fabrikamstore.privatelink", "CNAME ", " A 203.0.113."),
        trace_has=("NxDomainRedirect",),
    ),
    Case(
        "NxDomainRedirect does not cover MX",
        "10.3.0.4",
        "fabrikamstore.blob.core.windows.net",
        "MX",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        ("CNAME fabrikamstore.privatelink",),
        authority="privatelink.blob.core.windows.net.",
    ),
    Case(
        "querying the privatelink name directly falls back too",
        "10.3.0.4",
        "fabrikamstore.privatelink.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.FALLBACK,
        ("fabrikamstore.privatelink.blob.core.windows.net. CNAME ", " A 203.0.113."),
    ),
    Case(
        "Pending connection: no privatelink alias, public address",
        "10.0.2.4",
        "pendingstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        ("pendingstore.blob.core.windows.net. CNAME ", " A 203.0.113."),
        trace_has=("Pending",),
    ),
    Case(
        "service endpoint: DNS unchanged",
        "10.1.0.4",
        "legacystore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        ("legacystore.blob.core.windows.net. CNAME ", " A 203.0.113."),
    ),
    Case(
        "service endpoint note when asked through Azure DNS in the VNet",
        "10.1.0.4",
        "legacystore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        ("CNAME", " A "),
    ),
    Case(
        "Key Vault: vault.azure.net aliases into privatelink.vaultcore",
        "10.0.2.4",
        "contoso-kv.vault.azure.net",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        (
            "contoso-kv.vault.azure.net. CNAME contoso-kv.privatelink.vaultcore.azure.net.",
            "contoso-kv.privatelink.vaultcore.azure.net. A 10.0.1.6",
        ),
    ),
    Case(
        "SQL server",
        "10.2.0.4",
        "contoso-sql.database.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("CNAME contoso-sql.privatelink.database.windows.net.", "A 10.0.1.7"),
    ),
    Case(
        "ACR registry endpoint",
        "10.0.2.4",
        "contosoacr.azurecr.io",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("CNAME contosoacr.privatelink.azurecr.io.", "contosoacr.privatelink.azurecr.io. A 10.0.1.8"),
    ),
    Case(
        "ACR regional data endpoint lives in privatelink.azurecr.io",
        "10.0.2.4",
        "contosoacr.eastus.data.azurecr.io",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        (
            "CNAME contosoacr.eastus.data.privatelink.azurecr.io.",
            "contosoacr.eastus.data.privatelink.azurecr.io. A 10.0.1.9",
        ),
    ),
    Case(
        "App Service scm endpoint",
        "10.0.2.4",
        "contoso-web.scm.azurewebsites.net",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("CNAME contoso-web.scm.privatelink.azurewebsites.net.", "A 10.0.1.11"),
    ),
    Case(
        "Private Link Service by alias: our own zone",
        "10.0.2.4",
        "api-v2.svc.contoso.internal",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("CNAME api.svc.contoso.internal.", "api.svc.contoso.internal. A 10.0.1.10"),
    ),
    Case(
        "private zones are never seen from the internet",
        "198.51.100.7",
        "api.svc.contoso.internal",
        "A",
        Outcome.FORWARD,
        Source.FORWARDED,
    ),
    Case(
        "NODATA after the chain carries the private zone's SOA",
        "10.0.2.4",
        BLOB,
        "AAAA",
        Outcome.NODATA,
        Source.PRIVATE,
        ("CNAME mystorage.privatelink",),
        authority="privatelink.blob.core.windows.net.",
    ),
    Case(
        "autoregistered VM",
        "10.0.2.4",
        "hub-vm1.azure.contoso.com",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("hub-vm1.azure.contoso.com. A 10.0.2.4",),
    ),
    Case(
        "CNAME inside a private zone",
        "10.0.2.4",
        "build.azure.contoso.com",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("build.azure.contoso.com. CNAME hub-vm1.azure.contoso.com.", "A 10.0.2.4"),
    ),
    Case(
        "VMs outside the registration VNet are not registered",
        "10.0.2.4",
        "app-vm1.azure.contoso.com",
        "A",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        authority="azure.contoso.com.",
    ),
    Case(
        "internal.cloudapp.net inside the VM's VNet",
        "10.3.0.9",
        "lab-vm1.internal.cloudapp.net",
        "A",
        Outcome.ANSWER,
        Source.INTERNAL,
        ("lab-vm1.internal.cloudapp.net. A 10.3.0.4",),
    ),
    Case(
        "internal.cloudapp.net names do not cross VNets",
        "10.3.0.9",
        "hub-vm1.internal.cloudapp.net",
        "A",
        Outcome.NXDOMAIN,
        Source.INTERNAL,
        authority="internal.cloudapp.net.",
    ),
    Case(
        "PTR in the VM's own VNet: both names",
        "10.0.2.9",
        "4.2.0.10.in-addr.arpa",
        "PTR",
        Outcome.ANSWER,
        Source.INTERNAL,
        ("PTR hub-vm1.internal.cloudapp.net.", "PTR hub-vm1.azure.contoso.com."),
    ),
    Case(
        "PTR for a peered VNet's VM: NXDOMAIN",
        "10.0.2.9",
        "4.0.2.10.in-addr.arpa",
        "PTR",
        Outcome.NXDOMAIN,
        Source.INTERNAL,
    ),
    Case(
        "private reverse lookups from the internet are local NXDOMAIN",
        "198.51.100.7",
        "4.2.0.10.in-addr.arpa",
        "PTR",
        Outcome.NXDOMAIN,
        Source.PUBLIC,
        authority="10.in-addr.arpa.",
    ),
    Case(
        "disabled rule is skipped",
        "10.2.0.4",
        "www.old.contoso.com",
        "A",
        Outcome.FORWARD,
        Source.FORWARDED,
        trace_has=("no enabled rule",),
    ),
    Case(
        "spoke2 links its own corp.contoso.com: the zone answers before the ruleset's corp rule (facts-2 §11.1)",
        "10.2.0.4",
        "intranet.corp.contoso.com",
        "A",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        authority="corp.contoso.com.",
        trace_has=("linked zones come first", "spoke-rules/corp for corp.contoso.com. does not fire"),
    ),
    Case("names outside the topology go upstream", "10.0.2.4", "pypi.org", "A", Outcome.FORWARD, Source.FORWARDED),
    Case(
        "an unknown storage account goes upstream (unknown_service_names: forward)",
        "10.0.2.4",
        "nosuchaccount.file.core.windows.net",
        "A",
        Outcome.FORWARD,
        Source.FORWARDED,
    ),
    Case(
        "a name missing from a linked privatelink zone is NXDOMAIN even asked directly",
        "10.0.2.4",
        "nosuch.privatelink.blob.core.windows.net",
        "A",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        authority="privatelink.blob.core.windows.net.",
    ),
    Case(
        "SOA of a linked zone is Azure's",
        "10.0.2.4",
        "privatelink.blob.core.windows.net",
        "SOA",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("SOA azureprivatedns.net. azureprivatedns-host.microsoft.com. 1 3600 300 2419200 10",),
    ),
    Case(
        "SRV in a master file",
        "10.0.2.4",
        "_https._tcp.svc.contoso.internal",
        "SRV",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("SRV 0 10 443 api.svc.contoso.internal.",),
    ),
]


def check_case(index, case: Case) -> None:
    result = resolve(index, q(case.name, case.qtype), case.source)
    trace = "\n".join(result.trace_text())
    assert result.outcome is case.outcome, trace
    assert result.source is case.kind, trace
    got = summary(result.answer)
    assert len(got) == len(case.answer_has) or not case.answer_has, (got, trace)
    for fragment, line in zip(case.answer_has, got, strict=False):
        assert fragment in line, (fragment, got, trace)
    if case.authority is not None:
        assert [r.name for r in result.authority] == [case.authority]
        assert result.authority[0].rtype == RRType.SOA
    elif case.outcome in (Outcome.ANSWER,):
        assert result.authority == ()
    if case.view is not None:
        assert result.view == case.view, trace
    for fragment in case.trace_has:
        assert fragment in trace, (fragment, trace)


@pytest.mark.parametrize("case", ESTATE_CASES, ids=lambda c: c.id)
def test_bundled_estate(estate, case: Case) -> None:
    check_case(estate, case)


def test_negative_answers_use_soa_minimum_as_ttl(estate) -> None:
    result = resolve(estate, q("fabrikamstore.blob.core.windows.net"), "10.0.2.4")
    soa = result.authority[0]
    assert soa.ttl == 10
    assert soa.rdata == ("azureprivatedns.net.", "azureprivatedns-host.microsoft.com.", 1, 3600, 300, 2419200, 10)


def test_zone_group_records_have_ttl_10(estate) -> None:
    result = resolve(estate, q(BLOB), "10.0.2.4")
    assert result.answer[-1].ttl == 10


def test_service_endpoint_note(estate) -> None:
    result = resolve(estate, q("legacystore.blob.core.windows.net"), "10.1.0.4")
    # spoke1 resolves in the hub (custom DNS), the note belongs to the client's own subnet
    assert any("service endpoints (Microsoft.Storage)" in line for line in result.trace_text())


def test_same_answer_from_every_address_of_a_network(estate) -> None:
    a = resolve(estate, q(BLOB), "10.0.255.254")
    b = resolve(estate, q(BLOB), "10.0.0.1")
    assert summary(a.answer) == summary(b.answer) == list(PRIVATE_BLOB)


# -- a lab topology for the rules the bundled estate does not exercise ---------------------------------

LAB = {
    "virtual_networks": {
        "a": {"address_space": ["10.10.0.0/16"]},
        "b": {"address_space": ["10.20.0.0/16"], "peerings": ["a"]},
        "c": {"address_space": ["10.30.0.0/16", "fd00:30::/48"], "dns_servers": ["10.30.0.53"]},
        "loopy": {"address_space": ["10.40.0.0/16"]},
        "v6": {"address_space": ["fd00:60::/48"]},
    },
    "dns_private_resolvers": {
        "r": {
            "virtual_network": "loopy",
            "inbound_endpoints": {"in": {"private_ip_address": "10.40.0.4"}},
            "outbound_endpoints": ["out"],
        },
    },
    "dns_forwarding_rulesets": {
        "bad": {
            "dns_resolver_outbound_endpoints": ["r/out"],
            "virtual_network_links": ["loopy"],
            "forwarding_rules": {"all": {"domain_name": ".", "target_dns_servers": ["10.40.0.4"]}},
        },
    },
    "custom_dns_servers": {
        "dc": {
            "virtual_network": "c",
            "private_ip_address": "10.30.0.53",
            "conditional_forwarders": {"ext.example": ["203.0.113.53:5300"]},
            "default_forwarding": "azure",
        },
    },
    "external_dns_servers": {"partner": {"address": "203.0.113.53:5300"}},
    "private_dns_zones": {
        "privatelink.blob.core.windows.net": {
            "virtual_network_links": [{"virtual_network": "a"}, {"virtual_network": "c"}, {"virtual_network": "v6"}],
        },
        "9.10.10.in-addr.arpa": {
            "records": ["9 300 PTR printer.lab.example."],
            "virtual_network_links": [{"virtual_network": "a"}],
        },
        "lab.example": {
            "records": [
                "* 60 A 10.10.9.9",
                '*.wild 60 TXT "wildcard"',
                "exact.wild 60 A 10.10.9.1",
                "deep.empty.nonterminal 60 A 10.10.9.2",
                "loop1 60 CNAME loop2",
                "loop2 60 CNAME loop1",
                {"name": "multi", "type": "A", "ttl": 30, "values": ["10.10.1.1", "10.10.1.2"]},
                "mail 60 MX 10 mx1.lab.example.",
                'txt 60 TXT "a b" "c"',
                "v6 60 AAAA fd00::1",
            ],
            "virtual_network_links": [{"virtual_network": "a"}],
        },
    },
    "private_endpoints": {
        "pe": {
            "virtual_network": "a",
            "private_ip_addresses": ["10.10.1.4"],
            "resource": {"type": "Microsoft.Storage/storageAccounts", "name": "labstore"},
            "group_id": "blob",
            "private_dns_zone_group": ["privatelink.blob.core.windows.net"],
        },
        "pe6": {
            "virtual_network": "v6",
            "private_ip_addresses": ["fd00:60::4"],
            "resource": {"type": "Microsoft.Storage/storageAccounts", "name": "sixstore"},
            "group_id": "blob",
            "private_dns_zone_group": ["privatelink.blob.core.windows.net"],
        },
    },
    "public_dns": {
        "zones": {
            "example.org": {
                "records": [
                    "@ 300 SOA ns1.example.org. host.example.org. 7 3600 600 86400 120",
                    "www 300 A 198.51.100.80",
                ]
            }
        },
        "unknown_service_names": "nxdomain",
    },
}


@pytest.fixture(scope="module")
def lab():
    return compile_topology(load_topology_data(LAB))


LAB_CASES = [
    Case(
        "a reverse zone the user declares and links answers PTR",
        "10.10.0.5",
        "9.9.10.10.in-addr.arpa",
        "PTR",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("PTR printer.lab.example.",),
    ),
    Case(
        "a declared reverse zone is NXDOMAIN for addresses it lacks (no fallback)",
        "10.10.0.5",
        "8.9.10.10.in-addr.arpa",
        "PTR",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        authority="9.10.10.in-addr.arpa.",
    ),
    Case(
        "an unlinked VNet does not see the declared reverse zone",
        "10.20.0.5",
        "9.9.10.10.in-addr.arpa",
        "PTR",
        Outcome.NXDOMAIN,
        Source.INTERNAL,
        authority="10.in-addr.arpa.",
    ),
    Case(
        "wildcard synthesises the queried name",
        "10.10.0.5",
        "anything.lab.example",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("anything.lab.example. A 10.10.9.9",),
    ),
    Case(
        "wildcard several labels down",
        "10.10.0.5",
        "x.y.z.lab.example",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("x.y.z.lab.example. A 10.10.9.9",),
    ),
    Case(
        "wildcard: existing name of another type is NODATA",
        "10.10.0.5",
        "exact.wild.lab.example",
        "TXT",
        Outcome.NODATA,
        Source.PRIVATE,
        authority="lab.example.",
    ),
    Case(
        "wildcard below the closest encloser",
        "10.10.0.5",
        "q.wild.lab.example",
        "TXT",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("q.wild.lab.example. TXT",),
    ),
    Case("wildcard of another type is NODATA", "10.10.0.5", "q.wild.lab.example", "A", Outcome.NODATA, Source.PRIVATE),
    Case(
        "empty non-terminal is NODATA, not the wildcard (RFC 4592)",
        "10.10.0.5",
        "empty.nonterminal.lab.example",
        "A",
        Outcome.NODATA,
        Source.PRIVATE,
    ),
    Case(
        "below an empty non-terminal the wildcard does not apply",
        "10.10.0.5",
        "x.nonterminal.lab.example",
        "A",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
    ),
    Case(
        "CNAME loop is SERVFAIL",
        "10.10.0.5",
        "loop1.lab.example",
        "A",
        Outcome.SERVFAIL,
        Source.ERROR,
        ("CNAME loop2", "CNAME loop1"),
        trace_has=("loops back",),
    ),
    Case(
        "query type CNAME returns the CNAME only",
        "10.10.0.5",
        "loop1.lab.example",
        "CNAME",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("loop1.lab.example. CNAME loop2.lab.example.",),
    ),
    Case(
        "several values in one record set",
        "10.10.0.5",
        "multi.lab.example",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("A 10.10.1.1", "A 10.10.1.2"),
    ),
    Case(
        "ANY returns every record set",
        "10.10.0.5",
        "mail.lab.example",
        "ANY",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("MX 10 mx1.lab.example.",),
    ),
    Case(
        "peered VNet without its own link sees the public chain",
        "10.20.0.5",
        "labstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        ("CNAME labstore.privatelink", "CNAME ", " A 203.0.113."),
    ),
    Case(
        "linked VNet gets the endpoint",
        "10.10.0.5",
        "labstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("CNAME labstore.privatelink", "A 10.10.1.4"),
    ),
    Case(
        "custom DNS bypasses the VNet's own link... and forwards to Azure DNS in its own VNet",
        "10.30.0.5",
        "labstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("CNAME", "A 10.10.1.4"),
        view="vnet:c",
        trace_has=("custom DNS server 'dc'",),
    ),
    Case(
        "custom DNS server forwards a domain to an external server",
        "10.30.0.5",
        "host.ext.example",
        "A",
        Outcome.FORWARD,
        Source.FORWARDED,
        view="external:203.0.113.53",
    ),
    Case(
        "IPv6 client in a dual-stack VNet",
        "fd00:30::5",
        "labstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
    ),
    Case(
        "IPv6 endpoint gets an AAAA record",
        "fd00:60::9",
        "sixstore.blob.core.windows.net",
        "AAAA",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("CNAME", "AAAA fd00:60::4"),
    ),
    Case(
        "a ruleset that loops back into its own VNet: SERVFAIL",
        "10.40.0.5",
        "anything.example.com",
        "A",
        Outcome.SERVFAIL,
        Source.ERROR,
        trace_has=("loops",),
    ),
    Case(
        "the wildcard rule leaves Azure-reserved domains alone",
        "10.40.0.5",
        "labstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
    ),
    Case(
        "authoritative public zone: NXDOMAIN with its own SOA",
        "198.51.100.7",
        "nope.example.org",
        "A",
        Outcome.NXDOMAIN,
        Source.PUBLIC,
        authority="example.org.",
    ),
    Case(
        "public zone answer",
        "198.51.100.7",
        "www.example.org",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        ("www.example.org. A 198.51.100.80",),
    ),
    Case(
        "unknown_service_names: nxdomain answers for the service zone",
        "198.51.100.7",
        "nosuch.blob.core.windows.net",
        "A",
        Outcome.NXDOMAIN,
        Source.PUBLIC,
    ),
]


@pytest.mark.parametrize("case", LAB_CASES, ids=lambda c: c.id)
def test_lab(lab, case: Case) -> None:
    check_case(lab, case)


def test_unknown_sources_refused_by_option() -> None:
    index = compile_topology(load_topology_data(LAB), Options(unknown_sources="refuse"))
    result = resolve(index, q("www.example.org"), "198.51.100.7")
    assert result.outcome is Outcome.REFUSED
    assert resolve(index, q("labstore.blob.core.windows.net"), "10.10.0.1").outcome is Outcome.ANSWER


def test_public_soa_ttl_follows_rfc2308(lab) -> None:
    result = resolve(lab, q("nope.example.org"), "198.51.100.7")
    assert result.authority[0].ttl == 120


def test_record_set_has_one_ttl(lab) -> None:
    result = resolve(lab, q("multi.lab.example"), "10.10.0.5")
    assert {r.ttl for r in result.answer} == {30}


def test_forward_carries_the_remaining_name(lab) -> None:
    result = resolve(lab, q("host.ext.example"), "10.30.0.5")
    assert result.forward is not None
    assert result.forward.targets == (("203.0.113.53", 5300),)
    assert result.forward.name == "host.ext.example."


def test_trace_steps_render(estate) -> None:
    result = resolve(estate, q("fabrikamstore.blob.core.windows.net"), "10.0.2.4")
    lines = result.trace_text()
    assert lines[0].startswith("10.0.2.4 is in virtual network 'hub'")
    assert any("NXDOMAIN" in line for line in lines)
    for step in result.trace:
        assert step.as_dict()["text"] == step.text
