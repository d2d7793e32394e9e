"""The resolution core, table-driven, with no sockets: each scenario of Azure private DNS.

Scenarios come from the facts file's section 9 (and the bundled estate in zones/).
Every case states the whole reply, written down from the topology and the facts, not
copied from dnsemu: the answer section and the authority section as records in
presentation form with their TTLs, in order, so a wrong chain, a wrong TTL or a
missing (or extra) SOA fails. TTLs follow from the topology: zone-group and
autoregistered records 10 s (facts §1.5), synthesised public records
``public_dns.ttl`` (60), records the topology writes their own TTL, and the SOA of a
negative answer min(SOA TTL, SOA MINIMUM) (RFC 2308 §5; facts §1.3 shows Azure's 10).

Synthesised public addresses (``public_dns.address_pool``) are stable per cluster host
(docs/topology.md); the one for ``blob.eusprdstr01a.store.core.windows.net`` is the
address the README shows, so a change to the synthesis shows up as a reviewed diff.
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


def _value(value: object) -> str:
    if isinstance(value, bytes):  # a TXT character-string
        return '"' + value.decode("ascii") + '"'
    return str(value)


def summary(records) -> list[str]:
    """Records as ``owner TTL TYPE rdata`` (written here, not with dnsemu's own formatter)."""
    return [f"{r.name} {r.ttl} {RRType(r.rtype).name} {' '.join(_value(v) for v in r.rdata)}" for r in records]


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    name: str
    qtype: str
    outcome: Outcome
    kind: Source
    answer: tuple[str, ...] = ()  # the whole answer section, ``owner TTL TYPE rdata``, in order
    authority: tuple[str, ...] = ()  # the whole authority section, the same way
    view: str | None = None
    trace_has: tuple[str, ...] = ()
    trace_lacks: tuple[str, ...] = ()
    forward: str | None = None  # for FORWARD: the name handed to the forwarder (the chain's end)


# Azure's SOA of a private zone in a negative answer: TTL min(3600, 10) = 10 (RFC 2308 §5, facts §1.3/§3.4)
def private_soa(zone: str) -> str:
    return f"{zone} 10 SOA azureprivatedns.net. azureprivatedns-host.microsoft.com. 1 3600 300 2419200 10"


BLOB = "mystorage.blob.core.windows.net"
PRIVATE_BLOB = (
    "mystorage.blob.core.windows.net. 60 CNAME mystorage.privatelink.blob.core.windows.net.",
    "mystorage.privatelink.blob.core.windows.net. 10 A 10.0.1.4",
)
#: the catalog's cluster host for blob in East US, and the address synthesised for it (the README's)
BLOB_CLUSTER = "blob.eusprdstr01a.store.core.windows.net."
BLOB_CLUSTER_A = f"{BLOB_CLUSTER} 60 A 203.0.113.111"
FILE_CLUSTER = "file.eusprdstr01a.store.core.windows.net."


def public_blob(account: str) -> tuple[str, ...]:
    """The public chain of a storage account with an Approved private endpoint (facts §1.1, TTL 60)."""
    return (
        f"{account}.blob.core.windows.net. 60 CNAME {account}.privatelink.blob.core.windows.net.",
        f"{account}.privatelink.blob.core.windows.net. 60 CNAME {BLOB_CLUSTER}",
        BLOB_CLUSTER_A,
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
        public_blob("mystorage"),
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
        public_blob("mystorage"),
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
        (
            "mystorage.file.core.windows.net. 60 CNAME mystorage.privatelink.file.core.windows.net.",
            f"mystorage.privatelink.file.core.windows.net. 60 CNAME {FILE_CLUSTER}",
            f"{FILE_CLUSTER} 60 A 203.0.113.80",
        ),
        view="vnet:sandbox",
    ),
    Case(
        "another tenant's account: NXDOMAIN from the linked zone",
        "10.0.2.4",
        "fabrikamstore.blob.core.windows.net",
        "A",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        ("fabrikamstore.blob.core.windows.net. 60 CNAME fabrikamstore.privatelink.blob.core.windows.net.",),
        authority=(private_soa("privatelink.blob.core.windows.net."),),
        view="vnet:hub",
        trace_has=("Default",),
    ),
    Case(
        "NxDomainRedirect falls back to the public chain",
        "10.3.0.4",
        "fabrikamstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.FALLBACK,
        public_blob("fabrikamstore"),
        view="vnet:sandbox",
        trace_has=("NxDomainRedirect",),
    ),
    Case(
        "NxDomainRedirect does not cover MX",
        "10.3.0.4",
        "fabrikamstore.blob.core.windows.net",
        "MX",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        ("fabrikamstore.blob.core.windows.net. 60 CNAME fabrikamstore.privatelink.blob.core.windows.net.",),
        authority=(private_soa("privatelink.blob.core.windows.net."),),
        trace_has=("NxDomainRedirect covers A, AAAA and CNAME only, not MX",),
    ),
    Case(
        "querying the privatelink name directly falls back too",
        "10.3.0.4",
        "fabrikamstore.privatelink.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.FALLBACK,
        public_blob("fabrikamstore")[1:],
    ),
    Case(
        "Pending connection: no privatelink alias, public address",
        "10.0.2.4",
        "pendingstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        (f"pendingstore.blob.core.windows.net. 60 CNAME {BLOB_CLUSTER}", BLOB_CLUSTER_A),
        trace_has=("Microsoft.Storage/storageAccounts 'blob' has no Approved private endpoint connection "
                   "(pe-pendingstore (Pending)): public DNS carries no privatelink alias",),
    ),
    Case(
        "service endpoint: DNS unchanged",
        "10.1.0.4",
        "legacystore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        (f"legacystore.blob.core.windows.net. 60 CNAME {BLOB_CLUSTER}", BLOB_CLUSTER_A),
    ),
    Case(
        "service endpoint note when asked through Azure DNS in the VNet",
        "10.1.0.4",
        "legacystore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        (f"legacystore.blob.core.windows.net. 60 CNAME {BLOB_CLUSTER}", BLOB_CLUSTER_A),
        view="vnet:hub",  # spoke1 asks the hub's inbound endpoint; the note is about spoke1's own subnet (§5)
        trace_has=("subnet 'snet-app' has service endpoints (Microsoft.Storage): DNS is unchanged",),
    ),
    Case(
        "no service endpoint note for a subnet without service endpoints",
        "10.2.0.4",
        "legacystore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        (f"legacystore.blob.core.windows.net. 60 CNAME {BLOB_CLUSTER}", BLOB_CLUSTER_A),
        trace_lacks=("service endpoints",),
    ),
    Case(
        "Key Vault: vault.azure.net aliases into privatelink.vaultcore",
        "10.0.2.4",
        "contoso-kv.vault.azure.net",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        (
            "contoso-kv.vault.azure.net. 60 CNAME contoso-kv.privatelink.vaultcore.azure.net.",
            "contoso-kv.privatelink.vaultcore.azure.net. 10 A 10.0.1.6",
        ),
    ),
    Case(
        "SQL server",
        "10.2.0.4",
        "contoso-sql.database.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        (
            "contoso-sql.database.windows.net. 60 CNAME contoso-sql.privatelink.database.windows.net.",
            "contoso-sql.privatelink.database.windows.net. 10 A 10.0.1.7",
        ),
        view="vnet:hub",
    ),
    Case(
        "ACR registry endpoint",
        "10.0.2.4",
        "contosoacr.azurecr.io",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        (
            "contosoacr.azurecr.io. 60 CNAME contosoacr.privatelink.azurecr.io.",
            "contosoacr.privatelink.azurecr.io. 10 A 10.0.1.8",
        ),
    ),
    Case(
        "ACR regional data endpoint lives in privatelink.azurecr.io",
        "10.0.2.4",
        "contosoacr.eastus.data.azurecr.io",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        (
            "contosoacr.eastus.data.azurecr.io. 60 CNAME contosoacr.eastus.data.privatelink.azurecr.io.",
            "contosoacr.eastus.data.privatelink.azurecr.io. 10 A 10.0.1.9",
        ),
    ),
    Case(
        "App Service scm endpoint",
        "10.0.2.4",
        "contoso-web.scm.azurewebsites.net",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        (
            "contoso-web.scm.azurewebsites.net. 60 CNAME contoso-web.scm.privatelink.azurewebsites.net.",
            "contoso-web.scm.privatelink.azurewebsites.net. 10 A 10.0.1.11",
        ),
    ),
    Case(
        "Private Link Service by alias: our own zone",
        "10.0.2.4",
        "api-v2.svc.contoso.internal",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        (
            "api-v2.svc.contoso.internal. 300 CNAME api.svc.contoso.internal.",
            "api.svc.contoso.internal. 300 A 10.0.1.10",
        ),
    ),
    Case(
        "private zones are never seen from the internet",
        "198.51.100.7",
        "api.svc.contoso.internal",
        "A",
        Outcome.FORWARD,
        Source.FORWARDED,
        view="internet",
        forward="api.svc.contoso.internal.",
    ),
    Case(
        "NODATA after the chain carries the private zone's SOA",
        "10.0.2.4",
        BLOB,
        "AAAA",
        Outcome.NODATA,
        Source.PRIVATE,
        ("mystorage.blob.core.windows.net. 60 CNAME mystorage.privatelink.blob.core.windows.net.",),
        authority=(private_soa("privatelink.blob.core.windows.net."),),
    ),
    Case(
        "autoregistered VM",
        "10.0.2.4",
        "hub-vm1.azure.contoso.com",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("hub-vm1.azure.contoso.com. 10 A 10.0.2.4",),
        trace_has=("private zone azure.contoso.com. answers A 10.0.2.4",),
    ),
    Case(
        "CNAME inside a private zone",
        "10.0.2.4",
        "build.azure.contoso.com",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("build.azure.contoso.com. 300 CNAME hub-vm1.azure.contoso.com.", "hub-vm1.azure.contoso.com. 10 A 10.0.2.4"),
    ),
    Case(
        "VMs outside the registration VNet are not registered",
        "10.0.2.4",
        "app-vm1.azure.contoso.com",
        "A",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        authority=(private_soa("azure.contoso.com."),),
    ),
    Case(
        "internal.cloudapp.net inside the VM's VNet",
        "10.3.0.9",
        "lab-vm1.internal.cloudapp.net",
        "A",
        Outcome.ANSWER,
        Source.INTERNAL,
        ("lab-vm1.internal.cloudapp.net. 10 A 10.3.0.4",),
        view="vnet:sandbox",
        trace_has=("Azure-provided zone internal.cloudapp.net. answers A 10.3.0.4", "in VNet 'sandbox'"),
    ),
    Case(
        "internal.cloudapp.net names do not cross VNets",
        "10.3.0.9",
        "hub-vm1.internal.cloudapp.net",
        "A",
        Outcome.NXDOMAIN,
        Source.INTERNAL,
        authority=(private_soa("internal.cloudapp.net."),),
    ),
    Case(
        "PTR in the VM's own VNet: both names",
        "10.0.2.9",
        "4.2.0.10.in-addr.arpa",
        "PTR",
        Outcome.ANSWER,
        Source.INTERNAL,
        (
            "4.2.0.10.in-addr.arpa. 10 PTR hub-vm1.internal.cloudapp.net.",
            "4.2.0.10.in-addr.arpa. 10 PTR hub-vm1.azure.contoso.com.",
        ),
    ),
    Case(
        "PTR for a peered VNet's VM: NXDOMAIN",
        "10.0.2.9",
        "4.0.2.10.in-addr.arpa",
        "PTR",
        Outcome.NXDOMAIN,
        Source.INTERNAL,
        authority=(private_soa("10.in-addr.arpa."),),
    ),
    Case(
        "private reverse lookups from the internet are local NXDOMAIN",
        "198.51.100.7",
        "4.2.0.10.in-addr.arpa",
        "PTR",
        Outcome.NXDOMAIN,
        Source.PUBLIC,
        # RFC 6303 locally served zone, SOA as BIND's empty zones write it; negative TTL min(10800, 86400)
        authority=("10.in-addr.arpa. 10800 SOA 10.in-addr.arpa. . 0 28800 7200 604800 86400",),
    ),
    Case(
        "disabled rule is skipped",
        "10.2.0.4",
        "www.old.contoso.com",
        "A",
        Outcome.FORWARD,
        Source.FORWARDED,
        view="vnet:spoke2",
        trace_has=("no enabled rule",),
        forward="www.old.contoso.com.",
    ),
    Case(
        "spoke2 links its own corp.contoso.com: the zone answers before the ruleset's corp rule (facts-2 §11.1)",
        "10.2.0.4",
        "intranet.corp.contoso.com",
        "A",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        authority=(private_soa("corp.contoso.com."),),
        view="vnet:spoke2",
        trace_has=("linked zones come first", "spoke-rules/corp for corp.contoso.com. does not fire"),
    ),
    Case(
        "names outside the topology go upstream",
        "10.0.2.4",
        "pypi.org",
        "A",
        Outcome.FORWARD,
        Source.FORWARDED,
        view="vnet:hub",
        forward="pypi.org.",
    ),
    Case(
        "an unknown storage account goes upstream (unknown_service_names: forward)",
        "10.0.2.4",
        "nosuchaccount.file.core.windows.net",
        "A",
        Outcome.FORWARD,
        Source.FORWARDED,
        forward="nosuchaccount.file.core.windows.net.",
    ),
    Case(
        "a name missing from a linked privatelink zone is NXDOMAIN even asked directly",
        "10.0.2.4",
        "nosuch.privatelink.blob.core.windows.net",
        "A",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        authority=(private_soa("privatelink.blob.core.windows.net."),),
    ),
    Case(
        "SOA of a linked zone is Azure's",
        "10.0.2.4",
        "privatelink.blob.core.windows.net",
        "SOA",
        Outcome.ANSWER,
        Source.PRIVATE,
        # facts §3.4: owner TTL 3600, MINIMUM 10
        (
            "privatelink.blob.core.windows.net. 3600 SOA azureprivatedns.net. azureprivatedns-host.microsoft.com. "
            "1 3600 300 2419200 10",
        ),
    ),
    Case(
        "SRV in a master file",
        "10.0.2.4",
        "_https._tcp.svc.contoso.internal",
        "SRV",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("_https._tcp.svc.contoso.internal. 300 SRV 0 10 443 api.svc.contoso.internal.",),
    ),
]


#: the network each test source is in, from the two topologies' address spaces (anything else: the internet)
NETWORKS = [("10.0.", "hub"), ("10.1.", "spoke1"), ("10.2.", "spoke2"), ("10.3.", "sandbox"), ("192.168.", "onprem"),
            ("172.16.", "branch"), ("10.10.", "a"), ("10.20.", "b"), ("10.30.", "c"), ("fd00:30:", "c"),
            ("10.40.", "loopy"), ("fd00:60:", "v6")]
#: the step codes of a trace (explain's JSON "step" field): a client reads them, so they are part of the answer
TRACE_CODES = frozenset({
    "source", "client-dns", "rule", "forwarder", "forward", "unreachable", "loop", "view", "private",
    "private-nodata", "fallback", "private-nxdomain", "note", "public", "public-nodata", "dname", "delegation",
    "public-nxdomain", "chain", "service-endpoint",
    # the second Azure pass (facts-2): precedence of zones over rules, DNS security policies, the DNS proxy
    "precedence", "assumption", "rule-disabled", "hosted", "dns-proxy",
    "policy", "policy-allow", "policy-alert", "policy-block", "policy-disabled", "policy-note",
})


def check_case(index, case: Case) -> None:
    result = resolve(index, q(case.name, case.qtype), case.source)
    trace = "\n".join(result.trace_text())
    assert result.outcome is case.outcome, trace
    assert result.source is case.kind, trace
    assert summary(result.answer) == list(case.answer), trace
    assert summary(result.authority) == list(case.authority), trace
    if case.view is not None:
        assert result.view == case.view, trace
    if case.outcome is Outcome.FORWARD:
        assert case.forward is not None, "a FORWARD case names what goes to the forwarder"
        assert result.forward is not None and result.forward.name == case.forward, trace
    else:
        assert case.forward is None and result.forward is None, trace
    for fragment in case.trace_has:
        assert fragment in trace, (fragment, trace)
    for fragment in case.trace_lacks:
        assert fragment not in trace, (fragment, trace)
    network = next((name for prefix, name in NETWORKS if case.source.startswith(prefix)), "internet")
    assert result.network == network
    codes = [step.code for step in result.trace]
    assert codes[:2] == ["source", "client-dns"] and set(codes) <= TRACE_CODES, codes


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


LAB_SOA = private_soa("lab.example.")

LAB_CASES = [
    Case(
        "a reverse zone the user declares and links answers PTR",
        "10.10.0.5",
        "9.9.10.10.in-addr.arpa",
        "PTR",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("9.9.10.10.in-addr.arpa. 300 PTR printer.lab.example.",),
    ),
    Case(
        "a declared reverse zone is NXDOMAIN for addresses it lacks (no fallback)",
        "10.10.0.5",
        "8.9.10.10.in-addr.arpa",
        "PTR",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        authority=(private_soa("9.10.10.in-addr.arpa."),),
    ),
    Case(
        "an unlinked VNet does not see the declared reverse zone",
        "10.20.0.5",
        "9.9.10.10.in-addr.arpa",
        "PTR",
        Outcome.NXDOMAIN,
        Source.INTERNAL,
        authority=(private_soa("10.in-addr.arpa."),),
    ),
    Case(
        "wildcard synthesises the queried name",
        "10.10.0.5",
        "anything.lab.example",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("anything.lab.example. 60 A 10.10.9.9",),
    ),
    Case(
        "wildcard several labels down",
        "10.10.0.5",
        "x.y.z.lab.example",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("x.y.z.lab.example. 60 A 10.10.9.9",),
    ),
    Case(
        "wildcard: existing name of another type is NODATA",
        "10.10.0.5",
        "exact.wild.lab.example",
        "TXT",
        Outcome.NODATA,
        Source.PRIVATE,
        authority=(LAB_SOA,),
    ),
    Case(
        "wildcard below the closest encloser",
        "10.10.0.5",
        "q.wild.lab.example",
        "TXT",
        Outcome.ANSWER,
        Source.PRIVATE,
        ('q.wild.lab.example. 60 TXT "wildcard"',),
    ),
    Case(
        "wildcard of another type is NODATA",
        "10.10.0.5",
        "q.wild.lab.example",
        "A",
        Outcome.NODATA,
        Source.PRIVATE,
        authority=(LAB_SOA,),
    ),
    Case(
        "empty non-terminal is NODATA, not the wildcard (RFC 4592)",
        "10.10.0.5",
        "empty.nonterminal.lab.example",
        "A",
        Outcome.NODATA,
        Source.PRIVATE,
        authority=(LAB_SOA,),
    ),
    Case(
        "below an empty non-terminal the wildcard does not apply",
        "10.10.0.5",
        "x.nonterminal.lab.example",
        "A",
        Outcome.NXDOMAIN,
        Source.NXDOMAIN_PRIVATE,
        authority=(LAB_SOA,),
    ),
    Case(
        "CNAME loop is SERVFAIL",
        "10.10.0.5",
        "loop1.lab.example",
        "A",
        Outcome.SERVFAIL,
        Source.ERROR,
        ("loop1.lab.example. 60 CNAME loop2.lab.example.", "loop2.lab.example. 60 CNAME loop1.lab.example."),
        trace_has=("the CNAME chain loops back to loop1.lab.example.",),
    ),
    Case(
        "query type CNAME returns the CNAME only",
        "10.10.0.5",
        "loop1.lab.example",
        "CNAME",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("loop1.lab.example. 60 CNAME loop2.lab.example.",),
    ),
    Case(
        "several values in one record set",
        "10.10.0.5",
        "multi.lab.example",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("multi.lab.example. 30 A 10.10.1.1", "multi.lab.example. 30 A 10.10.1.2"),
    ),
    Case(
        "ANY returns every record set",
        "10.10.0.5",
        "mail.lab.example",
        "ANY",
        Outcome.ANSWER,
        Source.PRIVATE,
        ("mail.lab.example. 60 MX 10 mx1.lab.example.",),
    ),
    Case(
        "peered VNet without its own link sees the public chain",
        "10.20.0.5",
        "labstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        public_blob("labstore"),
        view="vnet:b",
    ),
    Case(
        "linked VNet gets the endpoint",
        "10.10.0.5",
        "labstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        (
            "labstore.blob.core.windows.net. 60 CNAME labstore.privatelink.blob.core.windows.net.",
            "labstore.privatelink.blob.core.windows.net. 10 A 10.10.1.4",
        ),
        view="vnet:a",
    ),
    Case(
        "custom DNS bypasses the VNet's own link... and forwards to Azure DNS in its own VNet",
        "10.30.0.5",
        "labstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        (
            "labstore.blob.core.windows.net. 60 CNAME labstore.privatelink.blob.core.windows.net.",
            "labstore.privatelink.blob.core.windows.net. 10 A 10.10.1.4",
        ),
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
        forward="host.ext.example.",
    ),
    Case(
        "IPv6 client in a dual-stack VNet",
        "fd00:30::5",
        "labstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PRIVATE,
        (
            "labstore.blob.core.windows.net. 60 CNAME labstore.privatelink.blob.core.windows.net.",
            "labstore.privatelink.blob.core.windows.net. 10 A 10.10.1.4",
        ),
        view="vnet:c",
    ),
    Case(
        "IPv6 endpoint gets an AAAA record",
        "fd00:60::9",
        "sixstore.blob.core.windows.net",
        "AAAA",
        Outcome.ANSWER,
        Source.PRIVATE,
        (
            "sixstore.blob.core.windows.net. 60 CNAME sixstore.privatelink.blob.core.windows.net.",
            "sixstore.privatelink.blob.core.windows.net. 10 AAAA fd00:60::4",
        ),
    ),
    Case(
        "a ruleset that loops back into its own VNet: SERVFAIL",
        "10.40.0.5",
        "anything.example.com",
        "A",
        Outcome.SERVFAIL,
        Source.ERROR,
        view="loop",
        trace_has=("DNS resolution loops: Azure DNS in VNet 'loopy' → Azure DNS in VNet 'loopy'",),
    ),
    Case(
        "the wildcard rule leaves Azure-reserved domains alone",
        "10.40.0.5",
        "labstore.blob.core.windows.net",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        public_blob("labstore"),
        view="vnet:loopy",
    ),
    Case(
        "authoritative public zone: NXDOMAIN with its own SOA",
        "198.51.100.7",
        "nope.example.org",
        "A",
        Outcome.NXDOMAIN,
        Source.PUBLIC,
        # the zone's own SOA, negative TTL min(300, MINIMUM 120) (RFC 2308 §5)
        authority=("example.org. 120 SOA ns1.example.org. host.example.org. 7 3600 600 86400 120",),
    ),
    Case(
        "public zone answer",
        "198.51.100.7",
        "www.example.org",
        "A",
        Outcome.ANSWER,
        Source.PUBLIC,
        ("www.example.org. 300 A 198.51.100.80",),
        trace_has=("resolving www.example.org. A in public DNS",),
    ),
    Case(
        "unknown_service_names: nxdomain answers for the service zone",
        "198.51.100.7",
        "nosuch.blob.core.windows.net",
        "A",
        Outcome.NXDOMAIN,
        Source.PUBLIC,
        # Azure public DNS's SOA (owner TTL 3600, MINIMUM 300): negative TTL 300
        authority=(
            "blob.core.windows.net. 300 SOA ns1-01.azure-dns.com. azuredns-hostmaster.microsoft.com. "
            "1 3600 300 2419200 300",
        ),
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


# --------------------------------------------------------------------------- the question's name at the boundary
# resolve() takes a Question from a library user as dig takes a name on its command line: absolute whether or not
# it ends with a dot, and case-insensitively (RFC 4343 §2: "Foo.example" and "foo.example" are the same name). A
# name without its final dot used to send the suffix lookup round forever, so these run in a thread with a bound.


def resolve_bounded(index, question: Question, source: str):
    import threading

    box: list = []
    worker = threading.Thread(target=lambda: box.append(_outcome(index, question, source)), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert box, f"resolve() did not return for {question.name!r} within 60 s"
    if isinstance(box[0], Exception):
        raise box[0]
    return box[0]


def _outcome(index, question: Question, source: str):
    try:
        return resolve(index, question, source)
    except Exception as exc:  # handed back to the test's thread
        return exc


@pytest.mark.parametrize("name", [
    "mystorage.blob.core.windows.net",
    "MyStorage.Blob.Core.Windows.NET",
    "MYSTORAGE.BLOB.CORE.WINDOWS.NET.",
])
def test_a_name_without_its_final_dot_or_in_capitals_is_the_same_name(estate, name: str) -> None:
    result = resolve_bounded(estate, Question(name, RRType.A), "10.0.2.4")
    assert (result.outcome, result.source, result.view) == (Outcome.ANSWER, Source.PRIVATE, "vnet:hub")
    assert summary(result.answer) == list(PRIVATE_BLOB)  # the owners canonical: lower case, absolute


@pytest.mark.parametrize(("name", "forwarded"), [("pypi.org", "pypi.org."), ("Intranet", "intranet.")])
def test_a_relative_name_outside_the_topology_goes_upstream_absolute(estate, name: str, forwarded: str) -> None:
    """One label or two, no final dot: the forwarder is asked for the absolute name (nothing appended)."""
    result = resolve_bounded(estate, Question(name, RRType.A), "10.0.2.4")
    assert (result.outcome, result.source) == (Outcome.FORWARD, Source.FORWARDED)
    assert result.forward is not None and result.forward.name == forwarded


def test_a_relative_name_inside_a_private_zone_gets_the_zones_nxdomain(estate) -> None:
    result = resolve_bounded(estate, Question("nosuch.corp.contoso.com", RRType.A), "10.2.0.4")
    assert (result.outcome, result.source) == (Outcome.NXDOMAIN, Source.NXDOMAIN_PRIVATE)
    assert summary(result.authority) == [private_soa("corp.contoso.com.")]  # facts §1.3


@pytest.mark.parametrize(("name", "reason"), [
    ("a..example", "empty label"),
    ("", "empty name"),
    ("x" * 64 + ".example", "over 63"),
])
def test_a_question_whose_name_is_not_a_domain_name_is_refused_with_the_reason(estate, name: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        resolve_bounded(estate, Question(name, RRType.A), "10.0.2.4")


def test_a_sources_zone_index_is_not_part_of_its_address(estate) -> None:
    """``fe80::1%eth0`` (RFC 4007 §11: the zone index after ``%``) is the source fe80::1, from the internet."""
    import ipaddress

    result = resolve(estate, q("pypi.org"), "fe80::1%eth0")
    assert result.network == "internet"
    assert result.trace[0].code == "source"
    address = dict(result.trace[0].data)["address"]
    assert address == ipaddress.IPv6Address("fe80::1") and address.scope_id is None
