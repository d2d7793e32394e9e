"""The resolver's edges, each stated as a behaviour with its expected reply written down.

NxDomainRedirect per query type (facts §1.4: "Only applicable … for A, AAAA, CNAME
queries"), CNAME loops in private and public data, the hop and chain limits exactly at
their boundary, a chain too long, a chain that leaves the topology, an unreachable hop,
the root (``.``) conditional forwarder, escaped names, and NODATA in a public zone.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from test_resolver import ZONES, private_soa, q, summary

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import Options, Unreachable
from dnsemu.core.resolution import Outcome, Source
from dnsemu.core.resolver import REDIRECTABLE, resolve, resolve_from
from dnsemu.dns.records import RRType
from dnsemu.topology.load import load_topology, load_topology_data

SANDBOX = "10.3.0.4"  # links privatelink.blob.core.windows.net with NxDomainRedirect (zones/topology.yaml)
HUB = "10.0.2.4"  # links it with the Default policy
FABRIKAM_PL = "fabrikamstore.privatelink.blob.core.windows.net"  # an Approved endpoint in another tenant
BLOB_CLUSTER = "blob.eusprdstr01a.store.core.windows.net."
PL_BLOB_SOA = private_soa("privatelink.blob.core.windows.net.")
# the zone dnsemu synthesises for the cluster host carries Azure public DNS's SOA: negative TTL 300
CLUSTER_SOA = (
    "eusprdstr01a.store.core.windows.net. 300 SOA ns1-01.azure-dns.com. azuredns-hostmaster.microsoft.com. "
    "1 3600 300 2419200 300"
)


@pytest.fixture(scope="module")
def estate() -> Any:
    return compile_topology(load_topology(ZONES))


# --------------------------------------------------------------------------- NxDomainRedirect, type by type

# What the sandbox gets for the privatelink name of a partner's account, asked directly (facts §1.4 shows the
# privatelink name falling back too). The public chain: FABRIKAM_PL CNAME the cluster host, which has an A only.
REDIRECTED = {
    "A": (Outcome.ANSWER, (f"{FABRIKAM_PL}. 60 CNAME {BLOB_CLUSTER}", f"{BLOB_CLUSTER} 60 A 203.0.113.111"), ()),
    "AAAA": (Outcome.NODATA, (f"{FABRIKAM_PL}. 60 CNAME {BLOB_CLUSTER}",), (CLUSTER_SOA,)),
    "CNAME": (Outcome.ANSWER, (f"{FABRIKAM_PL}. 60 CNAME {BLOB_CLUSTER}",), ()),
}
NOT_REDIRECTED = ["TXT", "MX", "SRV", "PTR", "NS", "SOA", "CAA", "HTTPS", "ANY"]


def test_the_redirected_types_are_exactly_a_aaaa_and_cname() -> None:
    """Facts §1.4 (SDK text for PrivateDnsResolutionPolicy): A, AAAA, CNAME queries, nothing else."""
    assert frozenset(REDIRECTABLE) == {RRType.A, RRType.AAAA, RRType.CNAME}


@pytest.mark.parametrize("qtype", sorted(REDIRECTED))
def test_nxdomainredirect_retries_a_aaaa_and_cname_in_public_dns(estate: Any, qtype: str) -> None:
    outcome, answer, authority = REDIRECTED[qtype]
    result = resolve(estate, q(FABRIKAM_PL, qtype), SANDBOX)
    assert (result.outcome, result.source) == (outcome, Source.FALLBACK)
    assert summary(result.answer) == list(answer)
    assert summary(result.authority) == list(authority)
    assert any("NxDomainRedirect, so Azure DNS retries the name in public DNS" in t for t in result.trace_text())


@pytest.mark.parametrize("qtype", NOT_REDIRECTED)
def test_nxdomainredirect_leaves_other_types_nxdomain(estate: Any, qtype: str) -> None:
    result = resolve(estate, q(FABRIKAM_PL, qtype), SANDBOX)
    assert (result.outcome, result.source) == (Outcome.NXDOMAIN, Source.NXDOMAIN_PRIVATE)
    assert summary(result.answer) == []
    assert summary(result.authority) == [PL_BLOB_SOA]
    assert f"NxDomainRedirect covers A, AAAA and CNAME only, not {qtype}" in "\n".join(result.trace_text())


@pytest.mark.parametrize("qtype", sorted(REDIRECTED))
def test_the_default_policy_redirects_nothing(estate: Any, qtype: str) -> None:
    result = resolve(estate, q(FABRIKAM_PL, qtype), HUB)
    assert (result.outcome, result.source) == (Outcome.NXDOMAIN, Source.NXDOMAIN_PRIVATE)
    assert (summary(result.answer), summary(result.authority)) == ([], [PL_BLOB_SOA])
    assert "the link's policy is Default" in "\n".join(result.trace_text())


def test_a_name_that_exists_in_the_zone_is_never_redirected(estate: Any) -> None:
    """NODATA is not NXDOMAIN: the redirect is for names the zone lacks (facts §1.4 'non-existent domain')."""
    result = resolve(estate, q("mystorage.privatelink.blob.core.windows.net", "AAAA"), SANDBOX)
    assert (result.outcome, result.source) == (Outcome.NODATA, Source.PRIVATE)
    assert (summary(result.answer), summary(result.authority)) == ([], [PL_BLOB_SOA])


# --------------------------------------------------------------------------- a lab for limits and loops


def lab(records: list[str], public: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
        "private_dns_zones": {"lab.example": {"records": records, "virtual_network_links": [{"virtual_network": "v"}]}},
        "public_dns": {
            "zones": {
                "example.org": {
                    "records": ["@ 300 SOA ns1.example.org. host.example.org. 7 3600 600 86400 120", *(public or [])]
                }
            }
        },
    }
    data.update(extra)
    return data


def compiled(data: dict[str, Any], **options: Any) -> Any:
    return compile_topology(load_topology_data(data), Options(**options))


V = "10.50.0.5"
INTERNET = "198.51.100.7"
EXAMPLE_ORG_SOA = "example.org. 120 SOA ns1.example.org. host.example.org. 7 3600 600 86400 120"


def chain(count: int, zone: str, ttl: int = 60) -> tuple[list[str], list[str]]:
    """``count`` names c0 → c1 → … → c(count-1) A 192.0.2.1: the records, and the answer they make."""
    records = [f"c{i} {ttl} CNAME c{i + 1}" for i in range(count - 1)] + [f"c{count - 1} {ttl} A 192.0.2.1"]
    answer = [f"c{i}.{zone} {ttl} CNAME c{i + 1}.{zone}" for i in range(count - 1)]
    return records, [*answer, f"c{count - 1}.{zone} {ttl} A 192.0.2.1"]


def test_a_private_cname_loop_is_servfail_with_the_loop_in_the_answer() -> None:
    index = compiled(lab(["a 60 CNAME b", "b 60 CNAME c", "c 60 CNAME a"]))
    result = resolve(index, q("a.lab.example"), V)
    assert (result.outcome, result.source, result.view) == (Outcome.SERVFAIL, Source.ERROR, "vnet:v")
    assert summary(result.answer) == [
        "a.lab.example. 60 CNAME b.lab.example.",
        "b.lab.example. 60 CNAME c.lab.example.",
        "c.lab.example. 60 CNAME a.lab.example.",
    ]
    assert summary(result.authority) == []
    assert result.trace_text()[-1] == "the CNAME chain loops back to a.lab.example."


def test_a_public_cname_loop_is_servfail_too() -> None:
    index = compiled(lab([], ["l1 300 CNAME l2", "l2 300 CNAME l1"]))
    result = resolve(index, q("l1.example.org"), INTERNET)
    assert (result.outcome, result.source, result.view) == (Outcome.SERVFAIL, Source.ERROR, "internet")
    assert summary(result.answer) == [
        "l1.example.org. 300 CNAME l2.example.org.",
        "l2.example.org. 300 CNAME l1.example.org.",
    ]
    assert result.trace_text()[-1] == "the CNAME chain loops back to l1.example.org."


def test_a_loop_through_private_and_public_data_is_found() -> None:
    index = compiled(lab(["p 60 CNAME www.example.org."], ["www 300 CNAME p.lab.example."]))
    result = resolve(index, q("p.lab.example"), V)
    assert result.outcome is Outcome.SERVFAIL
    assert summary(result.answer) == [
        "p.lab.example. 60 CNAME www.example.org.",
        "www.example.org. 300 CNAME p.lab.example.",
    ]


def test_a_chain_of_exactly_max_chain_cnames_is_answered() -> None:
    """facts-2 §13: Azure's cap is undocumented and real chains pass 8; dnsemu follows 16 CNAMEs."""
    records, answer = chain(17, "lab.example.")  # 17 names: 16 CNAMEs, then the A
    result = resolve(compiled(lab(records)), q("c0.lab.example"), V)  # the default limit: 16 CNAMEs
    assert (result.outcome, result.source) == (Outcome.ANSWER, Source.PRIVATE)
    assert summary(result.answer) == answer


def test_one_cname_more_than_max_chain_is_servfail_keeping_the_partial_chain() -> None:
    records, answer = chain(18, "lab.example.")  # 17 CNAMEs
    result = resolve(compiled(lab(records)), q("c0.lab.example"), V)
    assert (result.outcome, result.source, result.view) == (Outcome.SERVFAIL, Source.ERROR, "vnet:v")
    assert result.rcode == 2  # SERVFAIL
    assert summary(result.answer) == answer[:17]  # the 17 CNAMEs seen, the 17th not followed: no A
    assert summary(result.authority) == []
    assert result.trace_text()[-1] == (
        "the CNAME chain is longer than 16 CNAMEs: dnsemu stops there (Azure's own cap is undocumented; facts-2 §13)"
    )


@pytest.mark.parametrize(("limit", "names", "outcome"), [(3, 4, Outcome.ANSWER), (3, 5, Outcome.SERVFAIL)])
def test_the_chain_limit_is_an_option_and_holds_in_public_dns(limit: int, names: int, outcome: Outcome) -> None:
    records, answer = chain(names, "example.org.", ttl=300)  # names - 1 CNAMEs
    result = resolve(compiled(lab([], records), max_chain=limit), q("c0.example.org"), INTERNET)
    assert result.outcome is outcome
    assert summary(result.answer) == (answer if outcome is Outcome.ANSWER else answer[: limit + 1])


def forwarder_chain(servers: int) -> dict[str, Any]:
    """VNet v asks custom DNS server s1, which forwards everything to s2, …, the last to Azure DNS in v."""
    custom = {}
    for i in range(1, servers + 1):
        nxt: Any = "azure" if i == servers else [f"10.50.0.{i + 1}"]
        custom[f"s{i}"] = {"virtual_network": "v", "private_ip_address": f"10.50.0.{i}", "default_forwarding": nxt}
    data = lab(["a 60 A 192.0.2.1"])
    data["virtual_networks"]["v"]["dns_servers"] = ["10.50.0.1"]
    data["custom_dns_servers"] = custom
    return data


def test_a_path_of_exactly_max_hops_servers_is_answered() -> None:
    result = resolve(compiled(forwarder_chain(7)), q("a.lab.example"), V)  # 7 servers + Azure DNS = 8 hops
    assert (result.outcome, result.view) == (Outcome.ANSWER, "vnet:v")
    assert summary(result.answer) == ["a.lab.example. 60 A 192.0.2.1"]
    assert sum(1 for t in result.trace_text() if " has no conditional forwarder " in t) == 7


def test_one_hop_more_than_max_hops_is_servfail() -> None:
    result = resolve(compiled(forwarder_chain(8)), q("a.lab.example"), V)  # 9 hops
    assert (result.outcome, result.source, result.view) == (Outcome.SERVFAIL, Source.ERROR, "loop")
    assert (result.answer, result.authority) == ((), ())
    path = " → ".join([*(f"custom DNS server 's{i}'" for i in range(1, 9)), "Azure DNS in VNet 'v'"])
    assert result.trace_text()[-1] == f"DNS resolution loops: {path}"


@pytest.mark.parametrize(("limit", "outcome"), [(3, Outcome.ANSWER), (2, Outcome.SERVFAIL)])
def test_the_hop_limit_is_an_option(limit: int, outcome: Outcome) -> None:
    result = resolve(compiled(forwarder_chain(2), max_hops=limit), q("a.lab.example"), V)  # 3 hops
    assert result.outcome is outcome


# --------------------------------------------------------------------------- chains that leave the topology


def test_a_chain_leaving_the_topology_forwards_its_end_and_keeps_the_chain() -> None:
    index = compiled(lab(["out 60 CNAME www.elsewhere.test."], ["hop 300 CNAME out.lab.example."]))
    result = resolve(index, q("hop.example.org"), V)
    assert (result.outcome, result.source, result.view) == (Outcome.FORWARD, Source.FORWARDED, "vnet:v")
    assert summary(result.answer) == [
        "hop.example.org. 300 CNAME out.lab.example.",
        "out.lab.example. 60 CNAME www.elsewhere.test.",
    ]
    assert result.forward is not None
    assert (result.forward.name, result.forward.qtype, result.forward.targets) == ("www.elsewhere.test.", 1, ())
    assert result.rcode == 2  # what the reply is when nobody forwards it


def test_a_chain_into_a_non_authoritative_service_zone_forwards_its_end() -> None:
    """unknown_service_names: forward (the default): a service zone's miss at the chain's end goes upstream."""
    data = lab([], ["acct 300 CNAME nosuch.file.core.windows.net."])
    data["resources"] = {"known": {"type": "Microsoft.Storage/storageAccounts"}}  # makes file.core.windows.net
    result = resolve(compiled(data), q("acct.example.org"), INTERNET)
    assert (result.outcome, result.source) == (Outcome.FORWARD, Source.FORWARDED)
    assert summary(result.answer) == ["acct.example.org. 300 CNAME nosuch.file.core.windows.net."]
    assert result.forward is not None and result.forward.name == "nosuch.file.core.windows.net."
    assert "dnsemu has no data for it in file.core.windows.net." in result.trace_text()[-1]


# --------------------------------------------------------------------------- hops that lead nowhere, the root forwarder


def test_an_unreachable_hop_is_servfail(estate: Any) -> None:
    """A path that ends nowhere (168.63.129.16 asked from outside a VNet) is SERVFAIL, never REFUSED.

    Validation refuses such a topology (validate.py: '168.63.129.16 is reachable only from inside a
    virtual network'), so the hop is put into a compiled index directly: the resolver's contract for it.
    """
    nowhere = Unreachable("168.63.129.16", "answers only in a VNet")
    onprem = dataclasses.replace(estate.networks["onprem"], entry=nowhere)
    result = resolve_from(estate, onprem, q("mystorage.blob.core.windows.net"), [])
    assert (result.outcome, result.source, result.view, result.network) == (
        Outcome.SERVFAIL, Source.ERROR, "unreachable", "onprem")
    assert result.rcode == 2
    assert (result.answer, result.authority, result.forward) == ((), (), None)
    assert result.trace_text()[-1] == "answers only in a VNet"


def test_a_root_conditional_forwarder_catches_every_name() -> None:
    """A conditional forwarder for ``.`` matches names no longer suffix matches (the root fallback)."""
    data = lab(["a 60 A 192.0.2.1"])
    data["virtual_networks"]["v"]["dns_servers"] = ["10.50.0.53"]
    data["custom_dns_servers"] = {"dc": {"virtual_network": "v", "private_ip_address": "10.50.0.53",
                                         "conditional_forwarders": {".": ["203.0.113.53:5300"],
                                                                    "lab.example": ["168.63.129.16"]},
                                         "default_forwarding": "internet"}}
    data["external_dns_servers"] = {"x": {"address": "203.0.113.53:5300"}}
    index = compiled(data)
    result = resolve(index, q("www.somewhere.test"), V)
    assert (result.outcome, result.view) == (Outcome.FORWARD, "external:203.0.113.53")
    assert result.forward is not None and result.forward.targets == (("203.0.113.53", 5300),)
    assert "forwards . to 203.0.113.53:5300" in "\n".join(result.trace_text())
    # a longer suffix still wins over the root
    assert summary(resolve(index, q("a.lab.example"), V).answer) == ["a.lab.example. 60 A 192.0.2.1"]


def test_escaped_dots_are_part_of_a_label_not_label_boundaries() -> None:
    r"""``a\.lab.example.`` has the labels ``a.lab`` and ``example``: it is not in zone lab.example."""
    index = compiled(lab(["* 60 A 192.0.2.9"]))
    inside = resolve(index, q(r"x\.y.lab.example"), V)  # labels x.y, lab, example: the zone's wildcard
    assert summary(inside.answer) == [r"x\.y.lab.example. 60 A 192.0.2.9"]
    outside = resolve(index, q(r"a\.lab.example"), V)
    assert (outside.outcome, outside.forward and outside.forward.name) == (Outcome.FORWARD, r"a\.lab.example.")


# --------------------------------------------------------------------------- public NODATA


def test_public_nodata_carries_the_zone_soa() -> None:
    """RFC 2308 §2.2: NODATA has the SOA in authority, TTL min(SOA TTL, MINIMUM) (§5)."""
    index = compiled(lab([], ["www 300 A 198.51.100.80"]))
    for source in (INTERNET, V):  # from the internet, and from a VNet whose links do not cover the name
        result = resolve(index, q("www.example.org", "AAAA"), source)
        assert (result.outcome, result.source) == (Outcome.NODATA, Source.PUBLIC)
        assert (summary(result.answer), summary(result.authority)) == ([], [EXAMPLE_ORG_SOA])
        last = result.trace[-1]
        assert (last.code, last.text) == ("public-nodata", "www.example.org.: public DNS has no AAAA record: NODATA")


# --------------------------------------------------------------------------- what explain shows


def test_a_loop_that_does_not_return_to_the_first_name_is_found_too() -> None:
    index = compiled(lab(["x 60 CNAME a", "a 60 CNAME b", "b 60 CNAME a"]))
    result = resolve(index, q("x.lab.example"), V)
    assert result.outcome is Outcome.SERVFAIL
    assert summary(result.answer) == [
        "x.lab.example. 60 CNAME a.lab.example.",
        "a.lab.example. 60 CNAME b.lab.example.",
        "b.lab.example. 60 CNAME a.lab.example.",
    ]
    assert result.trace_text()[-1] == "the CNAME chain loops back to a.lab.example."


def test_the_first_step_says_where_the_source_is(estate: Any) -> None:
    """explain's JSON: the address, the kind of network, its name and the prefix that matched."""
    step = resolve(estate, q("mystorage.blob.core.windows.net"), HUB).trace[0].as_dict()
    assert step == {"step": "source", "text": "10.0.2.4 is in virtual network 'hub'", "address": "10.0.2.4",
                    "kind": "virtual network", "network": "hub", "prefix_length": 16}


def test_the_service_endpoint_note_names_every_provider() -> None:
    """facts §5: service endpoints leave DNS alone; the trace says which ones the client's subnet has."""
    data = lab(["inside 60 A 10.50.9.9"], ["www 300 A 198.51.100.80"])
    data["virtual_networks"]["v"]["subnets"] = {
        "app": {"address_prefix": "10.50.0.0/24", "service_endpoints": ["Microsoft.Storage", "Microsoft.KeyVault"]}}
    result = resolve(compiled(data), q("www.example.org"), V)
    assert result.source is Source.PUBLIC
    assert result.trace_text()[-1] == (
        "subnet 'app' has service endpoints (Microsoft.Storage, Microsoft.KeyVault): DNS is unchanged and "
        "answers the public address; traffic reaches it over the Azure backbone")
    private = resolve(compiled(data), q("inside.lab.example"), V)  # a private answer: nothing to say about it
    assert private.source is Source.PRIVATE and "service endpoints" not in "\n".join(private.trace_text())


def test_a_private_step_names_the_zone_the_link_and_its_policy(estate: Any) -> None:
    step = resolve(estate, q("mystorage.privatelink.blob.core.windows.net"), SANDBOX).trace[-1].as_dict()
    assert {k: step[k] for k in ("step", "name", "zone", "link", "policy", "kind", "type", "values")} == {
        "step": "private", "name": "mystorage.privatelink.blob.core.windows.net.",
        "zone": "privatelink.blob.core.windows.net.", "link": "sandbox-link", "policy": "NxDomainRedirect",
        "kind": "private", "type": "A", "values": "10.0.1.4"}


# --------------------------------------------------------------------------- whole traces, as explain shows them

INTERNET_STEPS = [
    ("source", "198.51.100.7 is in no modelled network: it asks as a client on the internet"),
    ("client-dns", "internet resolves through public DNS"),
]
#: (name, type) -> (outcome, source, forwarded (name, type) or None, the steps after the first two)
TRACES = {
    ("hop.example.org", "A"): (Outcome.FORWARD, Source.FORWARDED, ("out.lab.example.", 1), [
        ("view", "resolving hop.example.org. A in public DNS"),
        ("public", "hop.example.org.: public DNS holds CNAME out.lab.example."),
        ("forward", "out.lab.example. is outside every zone dnsemu knows: it goes to the upstream forwarder")]),
    ("nope.example.org", "A"): (Outcome.NXDOMAIN, Source.PUBLIC, None, [
        ("view", "resolving nope.example.org. A in public DNS"),
        ("public-nxdomain", "nope.example.org.: no such name in public zone example.org.: NXDOMAIN")]),
    ("acct.example.org", "A"): (Outcome.FORWARD, Source.FORWARDED, ("nosuch.file.core.windows.net.", 1), [
        ("view", "resolving acct.example.org. A in public DNS"),
        ("public", "acct.example.org.: public DNS holds CNAME nosuch.file.core.windows.net."),
        ("forward", "nosuch.file.core.windows.net.: dnsemu has no data for it in file.core.windows.net.: it goes "
                    "to the upstream forwarder")]),
    ("c0.example.org", "A"): (Outcome.SERVFAIL, Source.ERROR, None, [
        ("view", "resolving c0.example.org. A in public DNS"),
        ("public", "c0.example.org.: public DNS holds CNAME c1.example.org."),
        ("public", "c1.example.org.: public DNS holds CNAME c2.example.org."),
        ("public", "c2.example.org.: public DNS holds CNAME c3.example.org."),
        ("public", "c3.example.org.: public DNS holds CNAME c4.example.org."),
        ("chain", "the CNAME chain is longer than 3 CNAMEs: dnsemu stops there (Azure's own cap is undocumented; "
                  "facts-2 §13)")]),
    ("www.old.example.org", "CNAME"): (Outcome.ANSWER, Source.PUBLIC, None, [  # RFC 6672 §3.1: the DNAME and the CNAME
        ("view", "resolving www.old.example.org. CNAME in public DNS"),
        ("dname", "www.old.example.org.: DNAME at old.example.org. synthesised CNAME www.example.net.")]),
    ("www.old.example.org", "A"): (Outcome.ANSWER, Source.PUBLIC, None, [
        ("view", "resolving www.old.example.org. A in public DNS"),
        ("dname", "www.old.example.org.: DNAME at old.example.org. synthesised CNAME www.example.net."),
        ("public", "www.example.net.: public DNS answers A 198.51.100.9")]),
    ("x.sub.example.org", "AAAA"): (Outcome.FORWARD, Source.FORWARDED, ("x.sub.example.org.", 28), [
        ("view", "resolving x.sub.example.org. AAAA in public DNS"),
        ("delegation", "x.sub.example.org.: delegated at sub.example.org. by public zone example.org. (NS "
                       "ns1.sub.example.org.); dnsemu models no zone there, so the name is outside its model: it goes "
                       "to the upstream forwarder")]),
    ("x.la.example.org", "A"): (Outcome.SERVFAIL, Source.ERROR, None, [  # DNAMEs sending names back and forth
        ("view", "resolving x.la.example.org. A in public DNS"),
        ("dname", "x.la.example.org.: DNAME at la.example.org. synthesised CNAME x.lb.example.org."),
        ("dname", "x.lb.example.org.: DNAME at lb.example.org. synthesised CNAME x.la.example.org."),
        ("loop", "the CNAME chain loops back to x.la.example.org.")]),
}


@pytest.fixture(scope="module")
def public_lab() -> Any:
    data = lab(["out 60 CNAME www.elsewhere.test."], [
        "hop 300 CNAME out.lab.example.", "acct 300 CNAME nosuch.file.core.windows.net.",
        "old 300 DNAME example.net.", "sub 300 NS ns1.sub.example.org.",
        "la 300 DNAME lb.example.org.", "lb 300 DNAME la.example.org.",
        "c0 300 CNAME c1", "c1 300 CNAME c2", "c2 300 CNAME c3", "c3 300 CNAME c4", "c4 300 A 192.0.2.1"])
    data["resources"] = {"known": {"type": "Microsoft.Storage/storageAccounts"}}  # makes file.core.windows.net
    data["public_dns"]["zones"]["example.net"] = {"records": ["www 300 A 198.51.100.9"]}
    return compiled(data, max_chain=3)


@pytest.mark.parametrize("question", sorted(TRACES), ids=" ".join)
def test_the_whole_trace(public_lab: Any, question: tuple[str, str]) -> None:
    outcome, source, forwarded, steps = TRACES[question]
    result = resolve(public_lab, q(*question), INTERNET)
    assert (result.outcome, result.source, result.view, result.network) == (outcome, source, "internet", "internet")
    assert (result.forward and (result.forward.name, result.forward.qtype)) == forwarded
    assert [(step.code, step.text) for step in result.trace] == [*INTERNET_STEPS, *steps]


# --------------------------------------------------------------------------- a chain inside a DNS server's own zone


def hosted_chain(cnames: int) -> Any:
    """A custom DNS server holding corp.test, where c0 → … → c<cnames> A 192.0.2.7, all inside the zone."""
    records = [f"c{i} 300 CNAME c{i + 1}" for i in range(cnames)] + [f"c{cnames} 300 A 192.0.2.7"]
    return compiled({
        "virtual_networks": {
            "hub": {"address_space": ["10.0.0.0/16"]},
            "spoke": {"address_space": ["10.1.0.0/16"], "dns_servers": ["10.0.3.10"]},
        },
        "custom_dns_servers": {
            "dc1": {"virtual_network": "hub", "private_ip_address": "10.0.3.10", "default_forwarding": "azure",
                    "zones": {"corp.test": {"records": records}}},
        },
    })


def test_a_hosted_chain_of_max_chain_cnames_is_answered() -> None:
    """facts-2 §13: 16 CNAMEs are followed, in a custom DNS server's zone as in Azure's."""
    result = resolve(hosted_chain(16), q("c0.corp.test"), "10.1.0.4")
    assert (result.outcome, result.source) == (Outcome.ANSWER, Source.HOSTED)
    assert summary(result.answer)[-1] == "c16.corp.test. 300 A 192.0.2.7" and len(result.answer) == 17


def test_a_hosted_chain_one_cname_longer_is_servfail_with_the_chain_walked() -> None:
    result = resolve(hosted_chain(17), q("c0.corp.test"), "10.1.0.4")
    assert (result.outcome, result.source) == (Outcome.SERVFAIL, Source.ERROR)
    assert summary(result.answer) == [f"c{i}.corp.test. 300 CNAME c{i + 1}.corp.test." for i in range(17)]
    assert result.trace[-1].code == "chain"
    # worded as the chain limit is everywhere else: it counts CNAMEs, not names
    assert result.trace[-1].text == "the CNAME chain is longer than 16 CNAMEs"
