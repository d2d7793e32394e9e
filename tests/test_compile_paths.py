"""The compile paths of the newer parts of an estate, each against values written down by hand.

Virtual WAN hubs (facts-2 §12.4), Azure Firewall's DNS proxy (§12.1, §12.2), custom DNS servers and
on-premises sites (facts §4.3), AKS private clusters (§14.1), Azure-provided DNS's per-VM limits (§13)
and the names Azure reserves (facts §3.2, §4.2). Expected values are literals worked out from the facts
and the topology written here, never dnsemu's own output read back.
"""

from __future__ import annotations

import copy
from typing import Any

import test_custom_zones as hosted_cases
import test_firewall as firewall_cases
import test_precedence_edges as edge_cases
import test_resolver as resolver_cases
import test_resolver_limits as limit_cases
import yaml
from test_resolver import ZONES, q, summary

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import AzureDns, NetworkKind
from dnsemu.core.resolution import Outcome
from dnsemu.core.resolver import resolve
from dnsemu.topology.load import load_topology, load_topology_data


def compiled(data: dict[str, Any]) -> Any:
    return compile_topology(load_topology_data(data))


def _hub_estate() -> dict[str, Any]:
    return {
        "virtual_networks": {"spoke": {"address_space": ["10.60.0.0/16"]}},
        "virtual_hubs": {"hub1": {"address_prefix": "fd00:1234::/32"}},
        "private_dns_zones": {"lab.example": {"records": ["a 60 A 10.60.0.1"],
                                              "virtual_network_links": [{"virtual_network": "spoke"}]}},
    }


def test_a_virtual_hub_has_a_view_of_its_own_with_only_azure_provided_zones() -> None:
    """facts-2 §12.4: a hub is a VNet Microsoft manages, no zone can be linked to it. Its view holds
    internal.cloudapp.net, the RFC 6303 reverse zones and the reverse zone of its own prefix
    (fd00:1234::/32: eight nibbles, 4.3.2.1.0.0.d.f.ip6.arpa., ten labels: the view's deepest apex)."""
    index = compiled(_hub_estate())
    assert set(index.views) == {"spoke", "hub1"}
    view = index.views["hub1"]
    assert (view.name, view.vnet, view.max_labels) == ("hub:hub1", "hub1", 10)
    assert "lab.example." not in view.links
    assert {"internal.cloudapp.net.", "4.3.2.1.0.0.d.f.ip6.arpa.", "10.in-addr.arpa.", "d.f.ip6.arpa."} <= set(
        view.links)
    assert {link.link for link in view.links.values()} == {"Azure-provided"}
    network = index.networks["hub1"]
    assert (network.kind, network.prefixes) == (NetworkKind.VIRTUAL_HUB, ("fd00:1234::/32",))
    assert isinstance(network.entry, AzureDns) and network.entry.view is view
    assert index.azure_dns["hub1"] is network.entry


def test_a_query_from_a_hub_does_not_see_the_spokes_zones() -> None:
    """facts-2 §12.4: the hub has no zone links, so a spoke's private zone is invisible from it:
    the name goes to public DNS (forwarded, the zone being no public name), while the spoke answers it."""
    index = compiled(_hub_estate())
    from_hub = resolve(index, q("a.lab.example"), "fd00:1234::5")
    assert (from_hub.view, from_hub.outcome) == ("hub:hub1", Outcome.FORWARD)
    from_spoke = resolve(index, q("a.lab.example"), "10.60.0.9")
    assert summary(from_spoke.answer) == ["a.lab.example. 60 A 10.60.0.1"]


def test_a_ptr_query_in_the_hubs_own_reverse_zone_is_answered_by_azure_dns_in_the_hub() -> None:
    """facts §4.1: Azure-provided DNS holds the reverse zone of the network's private space; a name
    there with no record is NXDOMAIN with that zone's SOA, from the hub's view."""
    index = compiled(_hub_estate())
    name = "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.4.3.2.1.0.0.d.f.ip6.arpa"
    result = resolve(index, q(name, "PTR"), "fd00:1234::5")
    assert (result.view, result.outcome) == ("hub:hub1", Outcome.NXDOMAIN)
    assert [r.name for r in result.authority] == ["4.3.2.1.0.0.d.f.ip6.arpa."]


def test_the_per_vm_limits_are_compiled_only_when_asked_for() -> None:
    """facts-2 §13: 1000 queries per second and 200 pending per VM by default; emulated on request only."""
    data = {"virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}}}
    assert compiled(data).query_limits is None
    assert compiled({**data, "azure_provided_dns": {"query_limits": True}}).query_limits == (1000, 200)
    custom = {"query_limits": True, "queries_per_second": 50, "pending_queries": 7}
    assert compiled({**data, "azure_provided_dns": custom}).query_limits == (50, 7)
    off = {"query_limits": False, "queries_per_second": 50, "pending_queries": 7}
    assert compiled({**data, "azure_provided_dns": off}).query_limits is None


def test_the_reserved_names_are_both_lists() -> None:
    """facts §3.2: zone names Azure reserves (cloudapp.net, trafficmanager.net); facts §4.2: the two-label names
    a wildcard rule ignores (windows.net, azure.com). The index keeps every one of both lists."""
    reserved = compiled({"virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}}}).reserved_names
    assert {"cloudapp.net.", "trafficmanager.net.", "msidentity.com.", "windows.net.", "azure.com.",
            "azure.net."} <= reserved


# -- DNS servers of an estate: custom DNS, on-premises sites, external servers, rulesets (facts §4.2, §4.3) ------

SERVERS: dict[str, Any] = {
    "region": "westeurope",
    "virtual_networks": {
        "hub": {
            "address_space": ["10.0.0.0/16"],
            "subnets": {
                "snet-in": {"address_prefix": "10.0.0.0/28"},
                "web": {"address_prefix": "10.0.5.0/24", "service_endpoints": ["Microsoft.Storage"]},
            },
        },
        # its DNS server is the domain controller dc1 (a custom DNS server in the hub)
        "spoke-dc": {"address_space": ["10.1.0.0/16", "172.16.1.0/24"], "dns_servers": ["10.0.3.10"]},
        # 168.63.129.16 first: Azure-provided DNS, whatever follows it
        "spoke-azure": {"address_space": ["10.2.0.0/16"], "dns_servers": ["168.63.129.16", "10.0.3.10"]},
        # a server outside the model, on a port of its own
        "spoke-ext": {"address_space": ["10.9.0.0/16"], "dns_servers": ["203.0.113.53"]},
        "spoke-rs": {"address_space": ["10.4.0.0/16"]},
        "spoke-dc2": {"address_space": ["10.5.0.0/16"], "dns_servers": ["10.0.3.11"]},
        "spoke-dc3": {"address_space": ["10.6.0.0/16"], "dns_servers": ["10.0.3.12"]},
    },
    "on_premises": {
        "dc": {
            "address_space": ["192.168.0.0/16"],
            "dns_servers": ["192.168.1.10", "192.168.1.11"],
            "conditional_forwarders": {"privatelink.blob.core.windows.net": ["10.0.0.4", "192.168.1.11"]},
            "zones": {"onprem.example": {"records": ["files 600 A 192.168.5.5"]}},
        },
        "branch": {
            "address_space": ["172.20.0.0/16"],
            "dns_servers": ["172.20.0.10"],
            "default_forwarding": ["10.0.0.4"],
        },
    },
    "custom_dns_servers": {
        "dc1": {
            "virtual_network": "hub",
            "private_ip_address": "10.0.3.10",
            "conditional_forwarders": {"Corp.Example": ["192.168.1.10", "10.0.0.4"], "ext.example.": ["203.0.113.53"]},
            "default_forwarding": "azure",
            "zones": {"ad.example": {"records": ["app 300 A 10.0.3.50"]}},
        },
        "dc2": {"virtual_network": "hub", "private_ip_address": "10.0.3.11", "default_forwarding": "internet"},
        "DC_3": {"virtual_network": "hub", "private_ip_address": "10.0.3.12", "default_forwarding": ["192.168.1.10"],
                 "zones": {"three.example": {"records": ["x 60 A 10.0.3.3"]}}},
    },
    "external_dns_servers": {"isp": {"address": "203.0.113.53:5353"}},
    "dns_private_resolvers": {
        "res": {"virtual_network": "hub", "inbound_endpoints": {"in1": {"private_ip_address": "10.0.0.4"}},
                "outbound_endpoints": ["out1"]},
    },
    "dns_forwarding_rulesets": {
        "rs": {
            "dns_resolver_outbound_endpoints": ["res/out1"],
            "virtual_network_links": ["spoke-rs"],
            "forwarding_rules": {
                "corp": {"domain_name": "Corp.Example.", "target_dns_servers": ["10.0.3.10", "192.168.1.10"]},
                "all": {"domain_name": " . ", "target_dns_servers": ["203.0.113.53"]},
                "old": {"domain_name": "old.example", "target_dns_servers": ["192.168.1.10"], "state": "Disabled"},
            },
        },
    },
    "private_dns_zones": {
        "privatelink.blob.core.windows.net": {
            "virtual_network_links": [
                {"virtual_network": "hub", "name": "hub-blob", "resolution_policy": "NxDomainRedirect"}]},
        "lab.example": {
            "records": ["a 60 A 10.0.0.9"],
            "virtual_network_links": [
                {"virtual_network": "hub", "registration_enabled": True}],
        },
    },
}


def test_each_dns_server_becomes_a_hop_with_its_forwarders_and_default() -> None:
    """facts §4.3: a DNS server forwards by domain (the most specific conditional forwarder) and sends the
    rest to its default; a custom DNS server in a VNet reaches 168.63.129.16 there (facts §4.1). The first
    target of a list is the one used; a domain is written canonical (absolute, lower case)."""
    index = compiled(SERVERS)
    dc1 = index.networks["spoke-dc"].entry
    assert (type(dc1).__name__, dc1.kind, dc1.name, dc1.label) == (
        "Forwarder", "custom", "dc1", "custom DNS server 'dc1'")
    assert set(dc1.forwarders) == {"corp.example.", "ext.example."}
    corp = dc1.forwarders["corp.example."]
    assert (corp.domain, corp.target, corp.via) == (
        "corp.example.", "192.168.1.10", "conditional forwarder (DNS server of on-premises site 'dc')")
    site = index.networks["dc"].entry
    assert corp.hop is site
    ext = dc1.forwarders["ext.example."]
    assert (type(ext.hop).__name__, ext.hop.label, ext.hop.address, ext.hop.port, ext.via) == (
        "External", "external DNS server 'isp'", "203.0.113.53", 5353,
        "conditional forwarder (external DNS server 'isp')")
    assert (dc1.default, dc1.default_target) == (index.azure_dns["hub"], "Azure DNS (168.63.129.16) in VNet 'hub'")

    dc2 = index.networks["spoke-dc2"].entry
    assert (dc2.label, dc2.forwarders, dc2.default_target) == ("custom DNS server 'dc2'", {}, "the internet")
    assert type(dc2.default).__name__ == "Internet" and dc2.default.label == "public DNS (the internet)"
    assert index.internet.entry is dc2.default

    dc3 = index.networks["spoke-dc3"].entry
    assert (dc3.default, dc3.default_target) == (site, "DNS server of on-premises site 'dc'")

    assert (type(site).__name__, site.kind, site.name, site.label) == (
        "Forwarder", "on_premises", "dc", "the DNS server of on-premises site 'dc'")
    blob = site.forwarders["privatelink.blob.core.windows.net."]
    assert (blob.target, blob.hop, blob.via) == (
        "10.0.0.4", index.azure_dns["hub"], "conditional forwarder (inbound endpoint res/in1 of VNet 'hub')")
    assert (site.default, site.default_target) == (index.internet.entry, "the internet")
    branch = index.networks["branch"].entry
    assert (branch.forwarders, branch.default, branch.default_target) == (
        {}, index.azure_dns["hub"], "inbound endpoint res/in1 of VNet 'hub'")


def test_the_networks_and_where_their_clients_ask() -> None:
    """facts §4.1: a VNet without DNS servers, or whose first one is 168.63.129.16, uses Azure-provided DNS;
    otherwise its clients ask the first server listed. An on-premises site asks its own server (facts §4.3)."""
    index = compiled(SERVERS)
    hub = index.networks["hub"]
    assert (hub.kind, hub.entry, hub.entry_note, hub.prefixes) == (
        NetworkKind.VNET, index.azure_dns["hub"], "uses Azure-provided DNS (168.63.129.16)", ("10.0.0.0/16",))
    assert [(name, str(prefix), providers) for name, prefix, providers in hub.subnets] == [
        ("snet-in", "10.0.0.0/28", ()), ("web", "10.0.5.0/24", ("Microsoft.Storage",))]
    azure = index.networks["spoke-azure"]
    assert (azure.entry, azure.entry_note) == (
        index.azure_dns["spoke-azure"], "uses Azure-provided DNS (168.63.129.16)")
    dc = index.networks["spoke-dc"]
    assert (dc.entry_note, dc.prefixes) == (
        "uses custom DNS server 10.0.3.10 (custom DNS server 'dc1' in VNet 'hub')", ("10.1.0.0/16", "172.16.1.0/24"))
    ext = index.networks["spoke-ext"]
    assert (type(ext.entry).__name__, ext.entry_note) == (
        "External", "uses custom DNS server 203.0.113.53 (external DNS server 'isp')")
    site = index.networks["dc"]
    assert (site.kind, site.entry_note, site.prefixes, site.subnets) == (
        NetworkKind.ON_PREMISES, "asks the site's own DNS server", ("192.168.0.0/16",), ())
    internet = index.internet
    assert (internet.name, internet.kind, internet.entry_note, internet.prefixes) == (
        "internet", NetworkKind.INTERNET, "resolves through public DNS", ())
    assert set(index.networks) == {"hub", "spoke-dc", "spoke-azure", "spoke-ext", "spoke-rs", "spoke-dc2",
                                   "spoke-dc3", "dc", "branch"}
    # the classifier holds every prefix of every network (the longest match)
    for address, network in [("10.1.2.3", "spoke-dc"), ("172.16.1.9", "spoke-dc"), ("192.168.200.1", "dc"),
                              ("172.20.9.9", "branch"), ("10.0.5.5", "hub")]:
        assert index.classify(address)[0].name == network
    assert index.classify("172.16.2.1") == (None, 0)
    # whose clients ask 168.63.129.16 themselves (facts-2 §13's per-VM limits), and the inbound endpoints
    assert index.azure_provided == {"hub", "spoke-azure", "spoke-rs"}
    assert index.inbound_endpoints == {"10.0.0.4"}


def test_a_ruleset_compiles_to_rules_on_the_linked_vnets_azure_dns() -> None:
    """facts §4.2: a ruleset linked to a VNet is consulted by Azure DNS there; rules are dot-terminated domains,
    `.` is the wildcard, the first target is used, Disabled rules are ignored (listed for traces), and a
    wildcard rule ignores the names Azure reserves."""
    index = compiled(SERVERS)
    hop = index.azure_dns["spoke-rs"]
    assert hop.ruleset == "rs"
    assert set(hop.rules) == {"corp.example.", "."}
    corp = hop.rules["corp.example."]
    assert (corp.domain, corp.target, corp.via) == (
        "corp.example.", "10.0.3.10", "rule rs/corp (custom DNS server 'dc1' in VNet 'hub')")
    assert corp.hop is index.networks["spoke-dc"].entry
    wildcard = hop.rules["."]
    assert (wildcard.domain, wildcard.target, wildcard.via) == (
        ".", "203.0.113.53", "rule rs/all (external DNS server 'isp')")
    assert index.disabled_rules == {"rs": {"old.example.": "old"}}
    assert {"windows.net.", "azure.com."} <= hop.ignored_by_wildcard
    # a VNet without the ruleset has none of it
    other = index.azure_dns["hub"]
    assert (other.ruleset, other.rules, other.ignored_by_wildcard) == (None, {}, frozenset())


def test_the_links_of_a_vnet_as_its_view_holds_them() -> None:
    """facts §3.1: a link has a name (dnsemu names an unnamed one after its VNet), a resolution policy and
    autoregistration; the view also holds the VNet's Azure-provided zones (facts §4.1)."""
    index = compiled(SERVERS)
    view = index.views["hub"]
    assert (view.name, view.vnet) == ("vnet:hub", "hub")
    blob, lab = view.links["privatelink.blob.core.windows.net."], view.links["lab.example."]
    assert (blob.link, blob.policy, blob.registration) == ("hub-blob", "NxDomainRedirect", False)
    assert (lab.link, lab.policy, lab.registration) == ("hub", "Default", True)
    assert blob.zone is index.private_zones["privatelink.blob.core.windows.net."]
    assert view.links["internal.cloudapp.net."].link == "Azure-provided"
    assert view.links["0.10.in-addr.arpa."].link == "Azure-provided"
    # the deepest apex: privatelink.blob.core.windows.net. (five labels)
    assert view.max_labels == 5
    assert "lab.example." not in index.views["spoke-rs"].links


def test_the_counts_of_the_servers_estate() -> None:
    """Counted by hand from SERVERS: two on-premises sites, seven VNets, three hosted zones (dc1's, DC_3's and
    the site's), two private zones and no record other than lab.example's a."""
    stats = compiled(SERVERS).stats
    assert {k: stats.get(k, 0) for k in ("virtual_networks", "on_premises", "hosted_zones", "private_zones",
                                          "records", "private_endpoints", "managed_clusters")} == {
        "virtual_networks": 7, "on_premises": 2, "hosted_zones": 3, "private_zones": 2, "records": 1,
        "private_endpoints": 0, "managed_clusters": 0}


def test_a_hosted_zone_without_an_soa_gets_the_servers_windows_dns_soa() -> None:
    """docs/topology.md (zones held by DNS servers): a missing name is NXDOMAIN with the zone's SOA, the one
    written or `<server>.<zone> hostmaster.<zone> 1 900 600 86400 3600` (Windows DNS's timers); a server
    name that is no host label (DC_3) gives ns1.<zone>, and an on-premises site's server is `dns`. The
    negative TTL is min(SOA TTL 3600, minimum 3600) (RFC 2308 §5)."""
    index = compiled(SERVERS)
    cases = [
        ("10.1.0.4", "nope.ad.example",
         "ad.example. 3600 SOA dc1.ad.example. hostmaster.ad.example. 1 900 600 86400 3600"),
        ("10.6.0.4", "nope.three.example",
         "three.example. 3600 SOA ns1.three.example. hostmaster.three.example. 1 900 600 86400 3600"),
        ("192.168.0.4", "nope.onprem.example",
         "onprem.example. 3600 SOA dns.onprem.example. hostmaster.onprem.example. 1 900 600 86400 3600"),
    ]
    for source, name, soa in cases:
        result = resolve(index, q(name), source)
        assert (result.outcome, summary(result.authority), result.answer) == (Outcome.NXDOMAIN, [soa], ()), name
    found = resolve(index, q("app.ad.example"), "10.1.0.4")
    assert summary(found.answer) == ["app.ad.example. 300 A 10.0.3.50"]
    soa = resolve(index, q("ad.example", "SOA"), "10.1.0.4")
    assert summary(soa.answer) == ["ad.example. 3600 SOA dc1.ad.example. hostmaster.ad.example. 1 900 600 86400 3600"]
    servers = index.networks["spoke-dc"].entry, index.networks["spoke-dc2"].entry, index.networks["dc"].entry
    assert [sorted(s.zones) for s in servers] == [["ad.example."], [], ["onprem.example."]]


def test_a_hosted_zone_keeps_the_soa_written_for_it_and_no_second_one() -> None:
    """docs/topology.md: the SOA written for a hosted zone is its SOA (an SOA record written for a name
    below the apex is an ordinary record)."""
    data = {
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"], "dns_servers": ["10.50.0.10"]}},
        "custom_dns_servers": {"dc": {"virtual_network": "v", "private_ip_address": "10.50.0.10", "zones": {
            "ad.example": {"zone_text": "@ 600 SOA dc.ad.example. admins.ad.example. 7 900 600 86400 120\n"
                                        "app 60 A 10.50.0.50\n"}}}},
    }
    index = compiled(data)
    soa = resolve(index, q("ad.example", "SOA"), "10.50.0.4")
    assert summary(soa.answer) == ["ad.example. 600 SOA dc.ad.example. admins.ad.example. 7 900 600 86400 120"]
    miss = resolve(index, q("nope.ad.example"), "10.50.0.4")
    assert summary(miss.authority) == ["ad.example. 120 SOA dc.ad.example. admins.ad.example. 7 900 600 86400 120"]



def test_a_hosted_zones_apex_records_stay_beside_its_soa() -> None:
    """RFC 1035 §5.2 / RFC 1034 §4.3.2: the zone's apex holds its SOA and may hold other record sets (an A here,
    written before the SOA); the SOA is the apex's SOA record, the apex's A is an ordinary answer. Without a
    written SOA, the apex's A is still no SOA (docs/topology.md: the Windows DNS one is synthesised)."""
    data = {
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"], "dns_servers": ["10.50.0.10"]}},
        "custom_dns_servers": {"dc": {"virtual_network": "v", "private_ip_address": "10.50.0.10", "zones": {
            "ad.example": {"zone_text": "@ 300 A 10.50.0.51\n"
                                        "@ 600 SOA dc.ad.example. admins.ad.example. 7 900 600 86400 120\n"},
            "two.example": {"records": ["@ 300 A 10.50.0.52", "www 60 A 10.50.0.53"]}}}},
    }
    index = compiled(data)
    expected = {
        ("ad.example", "SOA"): ["ad.example. 600 SOA dc.ad.example. admins.ad.example. 7 900 600 86400 120"],
        ("ad.example", "A"): ["ad.example. 300 A 10.50.0.51"],
        ("two.example", "SOA"): ["two.example. 3600 SOA dc.two.example. hostmaster.two.example. 1 900 600 86400 3600"],
        ("two.example", "A"): ["two.example. 300 A 10.50.0.52"],
        ("www.two.example", "A"): ["www.two.example. 60 A 10.50.0.53"],
    }
    for (name, qtype), answer in expected.items():
        assert summary(resolve(index, q(name, qtype), "10.50.0.4").answer) == answer, (name, qtype)
    nodata = resolve(index, q("ad.example", "TXT"), "10.50.0.4")
    assert (nodata.outcome, summary(nodata.authority)) == (
        Outcome.NODATA, ["ad.example. 120 SOA dc.ad.example. admins.ad.example. 7 900 600 86400 120"])

# -- Azure Firewall DNS proxy (facts-2 §12) -------------------------------------------------------------------

FIREWALLS: dict[str, Any] = {
    "virtual_networks": {
        "hub": {"address_space": ["10.0.0.0/16"],
                "subnets": {"AzureFirewallSubnet": {"address_prefix": "10.0.3.0/26"}}},
        "spoke": {"address_space": ["10.4.0.0/16"], "dns_servers": ["10.0.3.4"]},
        "spoke-off": {"address_space": ["10.5.0.0/16"], "dns_servers": ["10.0.3.5"]},
        "spoke-two": {"address_space": ["10.6.0.0/16"], "dns_servers": ["10.0.3.6"]},
        "spoke-hub": {"address_space": ["10.7.0.0/16"], "dns_servers": ["10.100.0.132"]},
        "spoke-nocache": {"address_space": ["10.8.0.0/16"], "dns_servers": ["10.0.3.8"]},
    },
    "virtual_hubs": {"vhub": {"address_prefix": "10.100.0.0/23", "virtual_network_connections": ["spoke-hub"]}},
    "custom_dns_servers": {"dc": {"virtual_network": "hub", "private_ip_address": "10.0.2.10"}},
    "azure_firewalls": {
        "fw": {"virtual_network": "hub", "private_ip_address": "10.0.3.4",
               "dns_settings": {"enable_proxy": True, "emulate_cache": True}},
        "fw-off": {"virtual_network": "hub", "private_ip_address": "10.0.3.5",
                   "dns_settings": {"emulate_cache": True}},
        "fw-two": {"virtual_network": "hub", "private_ip_address": "10.0.3.6",
                   "dns_settings": {"enable_proxy": True, "servers": ["10.0.2.10", "168.63.129.16:53"]}},
        "fw-nocache": {"virtual_network": "hub", "private_ip_address": "10.0.3.8",
                       "dns_settings": {"enable_proxy": True}},
        "fw-vhub": {"virtual_hub": "vhub", "private_ip_address": "10.100.0.132",
                    "dns_settings": {"enable_proxy": True}},
    },
    "private_dns_zones": {
        "lab.example": {"records": ["a 60 A 10.0.0.9"], "virtual_network_links": [{"virtual_network": "hub"}]},
    },
}


def test_a_firewall_is_a_dns_server_at_its_private_address() -> None:
    """facts-2 §12.1: with DNS proxy on, the firewall listens on its private IP and forwards to its DNS servers,
    Azure DNS when none are set; §12.2: then the zones linked to the firewall's own network apply. A
    168.63.129.16 server of a firewall asks Azure DNS in the firewall's network (§12.4 for a hub)."""
    index = compiled(FIREWALLS)
    assert set(index.firewalls) == {"fw", "fw-off", "fw-two", "fw-nocache", "fw-vhub"}
    fw = index.firewalls["fw"]
    assert index.networks["spoke"].entry is fw
    assert index.networks["spoke"].entry_note == (
        "uses custom DNS server 10.0.3.4 (DNS proxy of Azure Firewall 'fw' in VNet 'hub')")
    assert (fw.label, fw.name, fw.network, fw.proxy) == ("Azure Firewall 'fw'", "fw", "hub", True)
    assert (fw.cache.firewall, fw.cache.positive, fw.cache.negative) == ("fw", 3600, 1800)
    [edge] = fw.servers
    assert (edge.domain, edge.target, edge.hop, edge.via) == (
        ".", "168.63.129.16", index.azure_dns["hub"],
        "Azure DNS in the firewall's VNet 'hub' (the zones linked to it apply, not those of the client's VNet)")
    off = index.firewalls["fw-off"]
    assert (off.proxy, off.cache) == (False, None)  # no proxy, nothing to cache
    assert index.firewalls["fw-nocache"].cache is None
    two = index.firewalls["fw-two"]
    assert [(e.domain, e.target, e.via) for e in two.servers] == [
        (".", "10.0.2.10", "custom DNS server 'dc' in VNet 'hub'"),
        (".", "168.63.129.16:53", "Azure DNS (168.63.129.16) in VNet 'hub'")]
    assert two.servers[1].hop is index.azure_dns["hub"]
    assert type(two.servers[0].hop).__name__ == "Forwarder" and two.servers[0].hop.name == "dc"
    vhub = index.firewalls["fw-vhub"]
    assert (vhub.network, index.networks["spoke-hub"].entry_note) == (
        "vhub", "uses custom DNS server 10.100.0.132 (DNS proxy of Azure Firewall 'fw-vhub' in virtual hub 'vhub')")
    [hub_edge] = vhub.servers
    assert (hub_edge.hop, hub_edge.via) == (
        index.azure_dns["vhub"],
        "Azure DNS in the firewall's virtual hub 'vhub' (the zones linked to it apply, not those of the client's VNet)")
    hub_network = index.networks["vhub"]
    assert (hub_network.entry, hub_network.entry_note) == (
        index.azure_dns["vhub"], "uses Azure-provided DNS (168.63.129.16), without zone links: a hub cannot have them")
    assert index.azure_dns["vhub"].label == "Azure DNS in virtual hub 'vhub'"
    assert index.azure_dns["hub"].label == "Azure DNS in VNet 'hub'"


def test_through_a_firewall_the_firewalls_links_apply() -> None:
    """facts-2 §12.2: a spoke behind the hub's firewall sees the hub's zones; with the proxy off the query
    goes nowhere (SERVFAIL); a cache is reported where it is emulated (facts-2 §12.1)."""
    index = compiled(FIREWALLS)
    result = resolve(index, q("a.lab.example"), "10.4.0.4")
    assert (result.view, summary(result.answer)) == ("vnet:hub", ["a.lab.example. 60 A 10.0.0.9"])
    assert result.proxy_cache is index.firewalls["fw"].cache
    assert resolve(index, q("a.lab.example"), "10.8.0.4").proxy_cache is None
    assert resolve(index, q("a.lab.example"), "10.5.0.4").outcome is Outcome.SERVFAIL
    from_hub = resolve(index, q("a.lab.example"), "10.7.0.4")
    assert (from_hub.view, from_hub.outcome) == ("hub:vhub", Outcome.FORWARD)


# -- AKS private clusters (facts-2 §14.1) ----------------------------------------------------------------------

GUID_ZONE = "0a1b2c3d-0000-4000-8000-00000000abcd.privatelink.westeurope.azmk8s.io"
CLUSTERS: dict[str, Any] = {
    "region": "westeurope",
    "virtual_networks": {
        "aks": {"address_space": ["10.50.0.0/16"]},
        "aks2": {"address_space": ["10.51.0.0/16"]},
        "hub": {"address_space": ["10.0.0.0/16"]},
    },
    "private_dns_zones": {
        # a custom zone, linked to the hub by its owner and to aks2 under a name of the owner's
        "privatelink.westeurope.azmk8s.io": {
            "records": ["api2-old 300 A 10.51.9.9", "other 300 A 10.51.9.8"],
            "virtual_network_links": [{"virtual_network": "hub"}, {"virtual_network": "aks2", "name": "mine"}],
        },
    },
    "managed_clusters": {
        "aks1": {"virtual_network": "aks", "private_ip_address": "10.50.1.4",
                 "private_fqdn": f"aks1-abc.{GUID_ZONE}", "fqdn": "aks1-abc.hcp.westeurope.azmk8s.io"},
        "aks2": {"virtual_network": "aks2", "private_ip_address": "10.51.1.4",
                 "private_dns_zone": "privatelink.westeurope.azmk8s.io",
                 "private_fqdn": "api2-old.privatelink.westeurope.azmk8s.io", "fqdn": "api.aks.example.com"},
        "aks3": {"virtual_network": "aks", "private_ip_address": "10.50.1.5", "private_dns_zone": "none",
                 "fqdn": "westeurope.azmk8s.io"},
        "aks4": {"virtual_network": "hub", "private_ip_address": "10.0.1.6",
                 "private_fqdn": f"aks4-abc.{GUID_ZONE.replace('0a1b', '9a1b')}",
                 "enable_private_cluster_public_fqdn": False},
    },
}


def test_a_system_zone_cluster_answers_privately_in_its_vnet_only_and_publicly_everywhere() -> None:
    """facts-2 §14.1: AKS creates <guid>.privatelink.<region>.azmk8s.io, links it only to the cluster VNet and
    writes the API server's A record (TTL 10, like a zone group's, facts §1.5); the public FQDN is an A record
    in public DNS to the *private* address (public DNS's TTL, 60 here)."""
    index = compiled(CLUSTERS)
    private = resolve(index, q(f"aks1-abc.{GUID_ZONE}"), "10.50.0.4")
    assert summary(private.answer) == [f"aks1-abc.{GUID_ZONE}. 10 A 10.50.1.4"]
    link = index.views["aks"].links[f"{GUID_ZONE}."]
    assert (link.link, link.policy, link.registration) == ("aks-aks1", "Default", False)
    assert f"{GUID_ZONE}." not in index.views["hub"].links
    assert f"{GUID_ZONE}." in index.private_zones
    public = resolve(index, q("aks1-abc.hcp.westeurope.azmk8s.io"), "198.51.100.7")
    assert summary(public.answer) == ["aks1-abc.hcp.westeurope.azmk8s.io. 60 A 10.50.1.4"]
    # the public record lives in the region's azmk8s.io zone
    assert "westeurope.azmk8s.io." in index.public.zones
    assert index.stats["managed_clusters"] == 4


def test_a_custom_zone_cluster_writes_its_record_over_an_older_one_and_keeps_the_owners_link() -> None:
    """facts-2 §14.1: with a custom zone AKS writes the API server's record into it and links the zone to the
    cluster VNet (a link already there stays as its owner named it); the record replaces any the name had."""
    index = compiled(CLUSTERS)
    answer = resolve(index, q("api2-old.privatelink.westeurope.azmk8s.io"), "10.51.0.4")
    assert summary(answer.answer) == ["api2-old.privatelink.westeurope.azmk8s.io. 10 A 10.51.1.4"]
    other = resolve(index, q("other.privatelink.westeurope.azmk8s.io"), "10.0.0.4")
    assert summary(other.answer) == ["other.privatelink.westeurope.azmk8s.io. 300 A 10.51.9.8"]
    assert index.views["aks2"].links["privatelink.westeurope.azmk8s.io."].link == "mine"
    # a public FQDN outside <region>.azmk8s.io gets a zone of its parent
    public = resolve(index, q("api.aks.example.com"), "198.51.100.7")
    assert summary(public.answer) == ["api.aks.example.com. 60 A 10.51.1.4"]
    assert "aks.example.com." in index.public.zones


def test_clusters_without_a_private_zone_or_without_a_public_fqdn() -> None:
    """facts-2 §14.1: `none` writes no private record (the public FQDN is the only name; written at a zone's
    own apex here, it is still answered); with the public FQDN off nothing is published."""
    index = compiled(CLUSTERS)
    public = resolve(index, q("westeurope.azmk8s.io"), "198.51.100.7")
    assert summary(public.answer) == ["westeurope.azmk8s.io. 60 A 10.50.1.5"]
    assert "azmk8s.io." in index.public.zones
    hidden = GUID_ZONE.replace("0a1b", "9a1b")
    assert summary(resolve(index, q(f"aks4-abc.{hidden}"), "10.0.0.4").answer) == [
        f"aks4-abc.{hidden}. 10 A 10.0.1.6"]
    assert not any(r.rdata == ("10.0.1.6",) for zone in index.public.zones.values()
                   for rrsets in zone.nodes.values() for rrset in rrsets.values() for r in rrset)


# -- Azure-provided names per cloud, autoregistration, reverse zones (facts §3.3, §4.1; RFC 6303) ---------------


def _one_vm(cloud: str, region: str, **vm: Any) -> dict[str, Any]:
    return {
        "cloud": cloud, "region": region,
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"],
                                   "subnets": {"s": {"address_prefix": "10.50.0.0/24"}}}},
        "virtual_machines": {"VM1": {"virtual_network": "v", "private_ip_address": "10.50.0.4", "subnet": "s", **vm}},
    }


def test_each_cloud_has_its_own_internal_suffix() -> None:
    """facts §4.1: Azure-provided DNS names a VM <vm>.internal.cloudapp.net in the public cloud; the sovereign
    clouds use their own domains (internal.usgovcloudapp.net, internal.chinacloudapp.cn), and the PTR
    record points at that name. The VM's name is written lower case."""
    for cloud, region, suffix in [("AzureCloud", "eastus", "internal.cloudapp.net"),
                                  ("AzureUSGovernment", "usgovarizona", "internal.usgovcloudapp.net"),
                                  ("AzureChinaCloud", "chinaeast2", "internal.chinacloudapp.cn")]:
        index = compiled(_one_vm(cloud, region))
        found = resolve(index, q(f"vm1.{suffix}"), "10.50.0.9")
        assert summary(found.answer) == [f"vm1.{suffix}. 10 A 10.50.0.4"], cloud
        ptr = resolve(index, q("4.0.50.10.in-addr.arpa", "PTR"), "10.50.0.9")
        assert summary(ptr.answer) == [f"4.0.50.10.in-addr.arpa. 10 PTR vm1.{suffix}."], cloud
        assert f"{suffix}." in index.views["v"].links


def test_autoregistration_writes_dynamic_vms_only() -> None:
    """facts §3.3: autoregistration writes an A record (TTL 10) for each VM of a registration VNet, and its PTR
    answers with both names; a VM with a static address is not registered (dnsemu's reading of
    `ip_allocation: Static`: the record is the owner's to write)."""
    zone = {"corp.example": {"virtual_network_links": [{"virtual_network": "v", "registration_enabled": True}]}}
    dynamic = compiled({**_one_vm("AzureCloud", "eastus"), "private_dns_zones": zone})
    assert summary(resolve(dynamic, q("vm1.corp.example"), "10.50.0.9").answer) == ["vm1.corp.example. 10 A 10.50.0.4"]
    assert summary(resolve(dynamic, q("4.0.50.10.in-addr.arpa", "PTR"), "10.50.0.9").answer) == [
        "4.0.50.10.in-addr.arpa. 10 PTR vm1.internal.cloudapp.net.", "4.0.50.10.in-addr.arpa. 10 PTR vm1.corp.example."]
    assert dynamic.stats["autoregistered_records"] == 1
    static = compiled({**_one_vm("AzureCloud", "eastus", ip_allocation="Static"), "private_dns_zones": zone})
    miss = resolve(static, q("vm1.corp.example"), "10.50.0.9")
    assert (miss.outcome, static.stats.get("autoregistered_records", 0)) == (Outcome.NXDOMAIN, 0)
    assert summary(resolve(static, q("4.0.50.10.in-addr.arpa", "PTR"), "10.50.0.9").answer) == [
        "4.0.50.10.in-addr.arpa. 10 PTR vm1.internal.cloudapp.net."]
    # a VNet that only links the zone (no registration) does not register
    linked = {"corp.example": {"virtual_network_links": [{"virtual_network": "v"}]}}
    plain = compiled({**_one_vm("AzureCloud", "eastus"), "private_dns_zones": linked})
    assert resolve(plain, q("vm1.corp.example"), "10.50.0.9").outcome is Outcome.NXDOMAIN


def test_reverse_zones_on_label_boundaries() -> None:
    """RFC 1035 §3.5 / RFC 3596 §2.5: reverse names go by octet (IPv4) and by nibble (IPv6); a prefix's reverse
    zone is the one on the label boundary at or above it, the root of the tree for /0."""
    from ipaddress import ip_network

    from dnsemu.core.compile import _reverse_zone

    assert [_reverse_zone(ip_network(p)) for p in ("10.0.0.0/8", "10.50.0.0/16", "10.50.0.0/23", "10.50.7.0/24",
                                                   "10.50.7.128/25", "0.0.0.0/0", "0.0.0.0/7")] == [
        "10.in-addr.arpa.", "50.10.in-addr.arpa.", "50.10.in-addr.arpa.", "7.50.10.in-addr.arpa.",
        "7.50.10.in-addr.arpa.", "in-addr.arpa.", "in-addr.arpa."]
    assert [_reverse_zone(ip_network(p)) for p in ("fd00::/8", "fd12:3400::/24", "fd12:3400::/27", "::/0",
                                                   "::/3")] == [
        "d.f.ip6.arpa.", "4.3.2.1.d.f.ip6.arpa.", "4.3.2.1.d.f.ip6.arpa.", "ip6.arpa.", "ip6.arpa."]


def test_the_vnets_reverse_zone_holds_its_ptr_records_and_answers_nxdomain_for_the_rest() -> None:
    """facts §4.1: Azure-provided DNS answers PTR for the VNet's own addresses; an address of the VNet with no
    VM is NXDOMAIN from the VNet's reverse zone (the most specific one), under Azure's private SOA."""
    data = _one_vm("AzureCloud", "eastus")
    data["virtual_networks"]["v"]["address_space"] = ["10.50.0.0/16", "172.16.4.0/24"]
    index = compiled(data)
    miss = resolve(index, q("9.0.50.10.in-addr.arpa", "PTR"), "10.50.0.9")
    assert (miss.outcome, [r.name for r in miss.authority]) == (Outcome.NXDOMAIN, ["50.10.in-addr.arpa."])
    other = resolve(index, q("9.4.16.172.in-addr.arpa", "PTR"), "10.50.0.9")
    assert (other.outcome, [r.name for r in other.authority]) == (Outcome.NXDOMAIN, ["4.16.172.in-addr.arpa."])
    assert summary(miss.authority) == [
        "50.10.in-addr.arpa. 10 SOA azureprivatedns.net. azureprivatedns-host.microsoft.com. 1 3600 300 2419200 10"]


def test_locally_served_reverse_zones_answer_nxdomain_on_the_internet() -> None:
    """RFC 6303 §4: the reverse zones of private (RFC 1918), link-local and ULA space are served locally, empty,
    by every resolver; their SOA is the one BIND's built-in empty zones carry (<zone> . 0 28800 7200 604800
    86400, TTL 10800), so the negative TTL is 10800 (RFC 2308 §5). A zone the user declares wins."""
    index = compiled({"virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}}})
    expected = {
        "9.9.9.10.in-addr.arpa": "10.in-addr.arpa.",
        "9.9.31.172.in-addr.arpa": "31.172.in-addr.arpa.",
        "9.9.16.172.in-addr.arpa": "16.172.in-addr.arpa.",
        "9.9.168.192.in-addr.arpa": "168.192.in-addr.arpa.",
        "9.9.254.169.in-addr.arpa": "254.169.in-addr.arpa.",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa": "d.f.ip6.arpa.",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa": "8.e.f.ip6.arpa.",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.e.f.ip6.arpa": "b.e.f.ip6.arpa.",
    }
    for name, zone in expected.items():
        result = resolve(index, q(name, "PTR"), "198.51.100.7")
        assert (result.outcome, summary(result.authority)) == (
            Outcome.NXDOMAIN, [f"{zone} 10800 SOA {zone} . 0 28800 7200 604800 86400"]), name
    outside = resolve(index, q("9.9.32.172.in-addr.arpa", "PTR"), "198.51.100.7")
    assert outside.outcome is Outcome.FORWARD
    assert [z for z in index.public.zones if z.endswith("172.in-addr.arpa.")] == [
        f"{n}.172.in-addr.arpa." for n in range(16, 32)]
    owned = compiled({"virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
                      "public_dns": {"zones": {"10.in-addr.arpa": {"records": ["4.3.2 300 PTR host.example."]}}}})
    assert summary(resolve(owned, q("4.3.2.10.in-addr.arpa", "PTR"), "198.51.100.7").answer) == [
        "4.3.2.10.in-addr.arpa. 300 PTR host.example."]


# -- public DNS as dnsemu synthesises it (facts §1.1, §1.3; docs/topology.md "public_dns") -----------------------


def _storage(names_: list[str], **public_dns: Any) -> dict[str, Any]:
    return {
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
        "resources": {n: {"type": "Microsoft.Storage/storageAccounts"} for n in names_},
        "public_dns": public_dns,
    }


def _chain_end(index: Any, name: str) -> str:
    answer = resolve(index, q(name), "198.51.100.7").answer
    assert [r.rtype for r in answer][-1] == 1, summary(answer)
    return answer[-1].rdata[0]


def test_synthesised_addresses_come_from_the_pool_and_skip_its_network_and_broadcast_addresses() -> None:
    """docs/topology.md: the chain's last host gets an address from `address_pool`. An IPv4 pool of more than two
    addresses never hands out its network or broadcast address (RFC 919 §7); a /31 has no such addresses
    (RFC 3021), and an IPv6 pool none either (RFC 4291 has no broadcast)."""
    services = ["blob", "file", "queue", "table", "dfs", "web"]
    fqdns = [f"acct.{s}.core.windows.net" for s in services]

    def addresses(pool: str) -> set[str]:
        index = compiled({**_storage(["acct"], address_pool=pool)})
        return {_chain_end(index, f) for f in fqdns}

    # /30: .1 and .2 only; six chain ends (distinct cluster hosts) land on both
    assert addresses("198.51.100.0/30") == {"198.51.100.1", "198.51.100.2"}
    assert addresses("198.51.100.8/31") <= {"198.51.100.8", "198.51.100.9"}
    assert len(addresses("198.51.100.8/31")) == 2
    six = addresses("2001:db8::/126")
    assert six <= {"2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8::3"} and len(six) >= 3
    wide = addresses("203.0.113.0/24")
    assert all(a.startswith("203.0.113.") and a not in ("203.0.113.0", "203.0.113.255") for a in wide)


def test_a_synthesised_service_zone_is_authoritative_only_when_asked_to_be() -> None:
    """docs/topology.md: a name under a service domain dnsemu has no data for is forwarded by default, NXDOMAIN
    with `unknown_service_names: nxdomain`, then under the SOA Azure public DNS zones carry
    (ns1-01.azure-dns.com., negative TTL min(3600, 300))."""
    forward = compiled(_storage(["acct"]))
    assert resolve(forward, q("other.blob.core.windows.net"), "198.51.100.7").outcome is Outcome.FORWARD
    nx = compiled(_storage(["acct"], unknown_service_names="nxdomain"))
    miss = resolve(nx, q("other.blob.core.windows.net"), "198.51.100.7")
    soa = "ns1-01.azure-dns.com. azuredns-hostmaster.microsoft.com. 1 3600 300 2419200 300"
    assert (miss.outcome, summary(miss.authority)) == (Outcome.NXDOMAIN, [f"blob.core.windows.net. 300 SOA {soa}"])


def test_a_public_zone_the_user_owns_is_authoritative_and_its_records_win() -> None:
    """docs/topology.md: public zones you own are authoritative (NXDOMAIN for names they lack), with the SOA you
    write or a synthesised one; a record you write for a name dnsemu also synthesises replaces the synthesised
    record set. TTLs are as written; synthesised records carry public_dns.ttl."""
    data = _storage(["acct", "acct2"], ttl=120, zones={
        "contoso.com": {"records": ["www 300 A 198.51.100.80"]},
        "example.org": {"records": ["@ 300 A 198.51.100.82",
                                    "@ 600 SOA ns1.example.org. host.example.org. 7 3600 600 86400 120",
                                    "www 300 A 198.51.100.81"]},
        "blob.core.windows.net": {"records": ["acct 30 CNAME www.example.org."]},
    })
    index = compiled(data)
    miss = resolve(index, q("nope.contoso.com"), "198.51.100.7")
    assert (miss.outcome, summary(miss.authority)) == (Outcome.NXDOMAIN, [
        "contoso.com. 300 SOA ns1-01.azure-dns.com. azuredns-hostmaster.microsoft.com. 1 3600 300 2419200 300"])
    own = resolve(index, q("nope.example.org"), "198.51.100.7")
    assert summary(own.authority) == ["example.org. 120 SOA ns1.example.org. host.example.org. 7 3600 600 86400 120"]
    soa = resolve(index, q("example.org", "SOA"), "198.51.100.7")
    assert summary(soa.answer) == ["example.org. 600 SOA ns1.example.org. host.example.org. 7 3600 600 86400 120"]
    replaced = resolve(index, q("acct.blob.core.windows.net"), "198.51.100.7")
    assert summary(replaced.answer) == ["acct.blob.core.windows.net. 30 CNAME www.example.org.",
                                        "www.example.org. 300 A 198.51.100.81"]
    apex = resolve(index, q("example.org"), "198.51.100.7")
    assert summary(apex.answer) == ["example.org. 300 A 198.51.100.82"]
    # a synthesised record the user did not replace stays in the user's zone
    assert summary(resolve(index, q("acct2.blob.core.windows.net"), "198.51.100.7").answer)[0] == (
        "acct2.blob.core.windows.net. 120 CNAME blob.eusprdstr01a.store.core.windows.net.")
    # the user's zone is authoritative even though the service domain default is to forward
    assert resolve(index, q("nobody.blob.core.windows.net"), "198.51.100.7").outcome is Outcome.NXDOMAIN
    chain = resolve(index, q("acct.file.core.windows.net"), "198.51.100.7").answer
    assert {r.ttl for r in chain} == {120}


# -- private endpoints and the public chain (facts §1.1, §1.3, §1.5) --------------------------------------------


def _acr(**pe: Any) -> dict[str, Any]:
    return {
        "region": "eastus",
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"], "region": "northeurope"}},
        "private_dns_zones": {"privatelink.azurecr.io": {"virtual_network_links": [{"virtual_network": "v"}]}},
        "private_endpoints": {"pe": {
            "virtual_network": "v", "group_id": "registry",
            "resource": {"type": "Microsoft.ContainerRegistry/registries", "name": "Reg1"},
            "private_dns_zone_group": ["privatelink.azurecr.io"], **pe}},
    }


def test_a_registrys_two_names_take_the_endpoints_two_addresses_in_its_region() -> None:
    """facts §1.5: ACR's zone group writes <registry>.azurecr.io and <registry>.<region>.data.azurecr.io, one
    address each (the endpoint's first and second), TTL 10. The region is the resource's, else its private
    endpoint's VNet's, else the estate's."""
    two = compiled(_acr(private_ip_addresses=["10.50.1.4", "10.50.1.5"]))
    assert summary(resolve(two, q("reg1.privatelink.azurecr.io"), "10.50.0.9").answer) == [
        "reg1.privatelink.azurecr.io. 10 A 10.50.1.4"]
    assert summary(resolve(two, q("reg1.northeurope.data.privatelink.azurecr.io"), "10.50.0.9").answer) == [
        "reg1.northeurope.data.privatelink.azurecr.io. 10 A 10.50.1.5"]
    assert summary(resolve(two, q("reg1.northeurope.data.azurecr.io"), "10.50.0.9").answer) == [
        "reg1.northeurope.data.azurecr.io. 60 CNAME reg1.northeurope.data.privatelink.azurecr.io.",
        "reg1.northeurope.data.privatelink.azurecr.io. 10 A 10.50.1.5"]
    assert (two.stats["zone_group_records"], two.stats["private_endpoints"]) == (2, 1)
    one = compiled(_acr(private_ip_addresses=["10.50.1.4"]))
    assert summary(resolve(one, q("reg1.northeurope.data.privatelink.azurecr.io"), "10.50.0.9").answer) == [
        "reg1.northeurope.data.privatelink.azurecr.io. 10 A 10.50.1.4"]
    data = _acr(private_ip_addresses=["10.50.1.4"])
    data["private_endpoints"]["pe"]["resource"]["region"] = "WestUS"
    west = compiled(data)
    assert resolve(west, q("reg1.westus.data.azurecr.io"), "10.50.0.9").outcome is Outcome.ANSWER
    data = _acr(private_ip_addresses=["10.50.1.4"])
    del data["virtual_networks"]["v"]["region"]
    assert resolve(compiled(data), q("reg1.eastus.data.azurecr.io"), "10.50.0.9").outcome is Outcome.ANSWER


def test_a_chain_without_a_cluster_host_in_the_catalog_ends_in_the_clouds_own_domain() -> None:
    """docs/topology.md: where the catalog names no cluster host, the chain ends at
    <service>-prod-<hash>.<region>.<domain>, the domain being the cloud's own (cloudapp.azure.com here); facts
    §1.1: the privatelink name CNAMEs to it in public DNS while the connection is Approved."""
    import re

    index = compiled(_acr(private_ip_addresses=["10.50.1.4"]))
    chain = summary(resolve(index, q("reg1.azurecr.io"), "198.51.100.7").answer)
    assert chain[0] == "reg1.azurecr.io. 60 CNAME reg1.privatelink.azurecr.io."
    assert re.fullmatch(r"reg1\.privatelink\.azurecr\.io\. 60 CNAME azurecr-prod-[0-9a-f]{4}\.northeurope\."
                        r"cloudapp\.azure\.com\.", chain[1]), chain
    assert re.fullmatch(r"azurecr-prod-[0-9a-f]{4}\.northeurope\.cloudapp\.azure\.com\. 60 A 203\.0\.113\.\d+",
                        chain[2]), chain
    assert len(chain) == 3


def test_the_last_endpoint_to_write_a_name_wins_and_replaces_what_the_zone_had() -> None:
    """facts §1.5: the zone group writes the record; a second endpoint for the same resource overwrites it, and
    the zone group's record set replaces one written by hand at that name."""
    data = _acr(private_ip_addresses=["10.50.1.4"])
    data["private_dns_zones"]["privatelink.azurecr.io"]["records"] = ["reg1 300 A 10.50.9.9", "keep 300 A 10.50.9.8"]
    data["private_endpoints"]["pe2"] = {**data["private_endpoints"]["pe"], "private_ip_addresses": ["10.50.2.4"]}
    index = compiled(data)
    assert summary(resolve(index, q("reg1.privatelink.azurecr.io"), "10.50.0.9").answer) == [
        "reg1.privatelink.azurecr.io. 10 A 10.50.2.4"]
    assert summary(resolve(index, q("keep.privatelink.azurecr.io"), "10.50.0.9").answer) == [
        "keep.privatelink.azurecr.io. 300 A 10.50.9.8"]
    assert index.stats["zone_group_records"] == 4  # two names, written twice


def test_a_pending_connection_publishes_no_alias_and_the_note_names_every_endpoint() -> None:
    """facts §1.1: public DNS gains the privatelink CNAME only while a connection is Approved; with none, the
    public name goes straight to the service's host and the trace says which endpoints wait."""
    data = _acr(private_ip_addresses=["10.50.1.4"], connection_state="Pending")
    data["private_endpoints"]["pe2"] = {**data["private_endpoints"]["pe"], "connection_state": "Rejected",
                                        "private_ip_addresses": ["10.50.2.4"]}
    index = compiled(data)
    chain = summary(resolve(index, q("reg1.azurecr.io"), "10.50.0.9").answer)
    assert chain[0].startswith("reg1.azurecr.io. 60 CNAME azurecr-prod-") and len(chain) == 2
    assert index.public.notes["reg1.azurecr.io."] == (
        "Microsoft.ContainerRegistry/registries 'registry' has no Approved private endpoint connection "
        "(pe (Pending), pe2 (Rejected)): public DNS carries no privatelink alias")
    # one Approved connection among them is enough
    data["private_endpoints"]["pe3"] = {**data["private_endpoints"]["pe"], "connection_state": "Approved",
                                        "private_ip_addresses": ["10.50.3.4"]}
    approved = compiled(data)
    assert summary(resolve(approved, q("reg1.azurecr.io"), "198.51.100.7").answer)[0] == (
        "reg1.azurecr.io. 60 CNAME reg1.privatelink.azurecr.io.")
    assert "reg1.azurecr.io." not in approved.public.notes


def test_another_tenants_endpoint_publishes_the_alias_and_the_linked_zone_says_nxdomain() -> None:
    """facts §1.3: a resource with an Approved private endpoint in someone else's network has the privatelink
    CNAME in public DNS; a VNet that links the privatelink zone without the record gets NXDOMAIN, the
    internet gets the public address."""
    data = {
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
        "private_dns_zones": {"privatelink.blob.core.windows.net": {
            "virtual_network_links": [{"virtual_network": "v"}]}},
        "resources": {"key": {"type": "Microsoft.Storage/storageAccounts", "name": "TheirStore",
                              "region": "westus", "private_endpoint_groups": ["blob"]},
                      "plain": {"type": "Microsoft.Storage/storageAccounts"}},
    }
    index = compiled(data)
    inside = resolve(index, q("theirstore.blob.core.windows.net"), "10.50.0.9")
    assert (inside.outcome, summary(inside.answer)) == (Outcome.NXDOMAIN, [
        "theirstore.blob.core.windows.net. 60 CNAME theirstore.privatelink.blob.core.windows.net."])
    outside = summary(resolve(index, q("theirstore.blob.core.windows.net"), "198.51.100.7").answer)
    # the catalog's cluster host for blob in westus (region code wus)
    private = "theirstore.privatelink.blob.core.windows.net."
    assert outside[:2] == [f"theirstore.blob.core.windows.net. 60 CNAME {private}",
                           f"{private} 60 CNAME blob.wusprdstr01a.store.core.windows.net."]
    assert len(outside) == 3
    # a resource named by its key, with no endpoint: the public chain without the alias
    plain = summary(resolve(index, q("plain.blob.core.windows.net"), "10.50.0.9").answer)
    assert plain[0] == "plain.blob.core.windows.net. 60 CNAME blob.eusprdstr01a.store.core.windows.net."
    assert len(plain) == 2


def test_azure_monitors_shared_hosts_always_go_through_the_privatelink_alias() -> None:
    """facts-2 §14.6: Azure Monitor's hosts CNAME through *.privatelink.monitor.azure.com in public DNS whether or
    not a private endpoint exists, so an empty privatelink.monitor.azure.com linked to a VNet answers NXDOMAIN
    there. Without that zone declared, the estate synthesises nothing for them."""
    base = {"region": "westeurope", "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}}}
    declared = {**base, "private_dns_zones": {"privatelink.monitor.azure.com": {
        "virtual_network_links": [{"virtual_network": "v"}]}}}
    index = compiled(declared)
    for host in ("api.monitor.azure.com", "westeurope.in.ai.monitor.azure.com", "global.in.ai.monitor.azure.com"):
        private = host.replace(".monitor.azure.com", ".privatelink.monitor.azure.com")
        inside = resolve(index, q(host), "10.50.0.9")
        assert (inside.outcome, summary(inside.answer)) == (
            Outcome.NXDOMAIN, [f"{host}. 60 CNAME {private}."]), host
        outside = summary(resolve(index, q(host), "198.51.100.7").answer)
        assert outside[0] == f"{host}. 60 CNAME {private}." and len(outside) == 3, outside
        assert index.public.notes[f"{host}."] == (
            f"Microsoft.Insights/privateLinkScopes publishes the privatelink alias of {host}. whether or not a "
            "private endpoint exists")
    # names that depend on the resource (a workspace's) are not shared hosts: nothing for them
    assert not any(n.endswith("oms.opinsights.azure.com.") for n in index.public.notes)
    assert resolve(compiled(base), q("api.monitor.azure.com"), "10.50.0.9").outcome is Outcome.FORWARD
    # a scope in the estate without an endpoint of ours: its hosts go through the alias all the same
    scoped = compiled({**declared, "resources": {"scope": {"type": "Microsoft.Insights/privateLinkScopes"}}})
    assert summary(resolve(scoped, q("live.monitor.azure.com"), "10.50.0.9").answer) == [
        "live.monitor.azure.com. 60 CNAME live.privatelink.monitor.azure.com."]


def test_every_app_of_a_container_apps_environment_resolves_through_its_one_record() -> None:
    """facts-2 §14.2: one record per environment in privatelink.<region>.azurecontainerapps.io; every app
    <app>.<uniq>.<region>.azurecontainerapps.io resolves through <uniq>.privatelink.<region>... (public DNS's
    wildcard CNAME, the facts' inference)."""
    data = {
        "region": "westeurope",
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
        "private_dns_zones": {"privatelink.westeurope.azurecontainerapps.io": {
            "virtual_network_links": [{"virtual_network": "v"}]}},
        "private_endpoints": {"pe": {
            "virtual_network": "v", "private_ip_addresses": ["10.50.1.4"], "group_id": "managedEnvironments",
            "resource": {"type": "Microsoft.App/managedEnvironments", "name": "kindtree-1a2b3c4d"},
            "private_dns_zone_group": ["privatelink.westeurope.azurecontainerapps.io"]}},
    }
    index = compiled(data)
    env = "kindtree-1a2b3c4d.westeurope.azurecontainerapps.io"
    private = "kindtree-1a2b3c4d.privatelink.westeurope.azurecontainerapps.io"
    for name in (env, f"myapp.{env}", f"other-app.{env}"):
        assert summary(resolve(index, q(name), "10.50.0.9").answer) == [
            f"{name}. 60 CNAME {private}.", f"{private}. 10 A 10.50.1.4"], name


def test_without_an_approved_connection_the_environments_apps_go_to_the_public_host() -> None:
    """facts §1.1 with facts-2 §14.2: no Approved connection, no privatelink alias, for the apps below the
    environment as for the environment's own name: public DNS sends both to the service's host."""
    data = {
        "region": "westeurope",
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
        "private_endpoints": {"pe": {
            "virtual_network": "v", "private_ip_addresses": ["10.50.1.4"], "group_id": "managedEnvironments",
            "connection_state": "Pending",
            "resource": {"type": "Microsoft.App/managedEnvironments", "name": "kindtree-1a2b3c4d"}}},
    }
    index = compiled(data)
    env = "kindtree-1a2b3c4d.westeurope.azurecontainerapps.io"
    own, app = (summary(resolve(index, q(n), "10.50.0.9").answer) for n in (env, f"myapp.{env}"))
    # the catalog names no host: the chain ends at a synthesised one in the cloud's domain (docs/topology.md)
    assert own[0].startswith(f"{env}. 60 CNAME ") and own[0].endswith(".westeurope.cloudapp.azure.com."), own
    assert "privatelink" not in own[0] and len(own) == 2, own
    assert app[0] == own[0].replace(env, f"myapp.{env}", 1) and app[1:] == own[1:], app

def test_a_redis_enterprise_variant_publishes_only_its_own_names() -> None:
    """facts §2.2: Azure Managed Redis (<name>.<region>.redis.azure.net) and Azure Cache for Redis Enterprise
    (<name>.<region>.redisenterprise.cache.azure.net) share a resource type; the variant picks the names."""
    base = {"region": "westeurope", "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}}}
    managed = compiled({**base, "resources": {"r1": {"type": "Microsoft.Cache/RedisEnterprise",
                                                     "variant": "azure managed redis"}}})
    assert resolve(managed, q("r1.westeurope.redis.azure.net"), "198.51.100.7").outcome is Outcome.ANSWER
    either = compiled({**base, "resources": {"r1": {"type": "Microsoft.Cache/RedisEnterprise"}}})
    for name in ("r1.westeurope.redis.azure.net", "r1.westeurope.redisenterprise.cache.azure.net"):
        assert resolve(either, q(name), "198.51.100.7").outcome is Outcome.ANSWER, name
    assert resolve(managed, q("r1.westeurope.redisenterprise.cache.azure.net"), "198.51.100.7").outcome is (
        Outcome.FORWARD)


# -- the case tables of the resolver's tests, on an index compiled inside the test ----------------------------------
# Those modules compile their estates once, in module-scoped fixtures; mutation testing credits a fixture's work to
# the first test that uses it only, so a change to the compiler would meet one case of each table. Here every
# table runs whole against an index this test compiles: each case's expected reply is the table's own literal
# (written from the facts, in those modules), never this compile's output.


def test_the_bundled_estates_cases_hold_on_a_fresh_compile() -> None:
    """test_resolver.ESTATE_CASES and the checks that take the bundled estate (facts §1-§4, RFC 2308)."""
    index = compile_topology(load_topology(ZONES))
    for case in resolver_cases.ESTATE_CASES:
        resolver_cases.check_case(index, case)
    resolver_cases.test_negative_answers_use_soa_minimum_as_ttl(index)
    resolver_cases.test_zone_group_records_have_ttl_10(index)
    resolver_cases.test_service_endpoint_note(index)
    resolver_cases.test_same_answer_from_every_address_of_a_network(index)
    for qtype in sorted(limit_cases.REDIRECTED):
        limit_cases.test_nxdomainredirect_retries_a_aaaa_and_cname_in_public_dns(index, qtype)
        limit_cases.test_the_default_policy_redirects_nothing(index, qtype)
    for qtype in limit_cases.NOT_REDIRECTED:
        limit_cases.test_nxdomainredirect_leaves_other_types_nxdomain(index, qtype)
    limit_cases.test_a_name_that_exists_in_the_zone_is_never_redirected(index)


def test_the_lab_cases_hold_on_a_fresh_compile() -> None:
    """test_resolver.LAB_CASES: reverse zones, IPv6, public zones of the user's (facts §4.1, RFC 2308)."""
    index = compile_topology(load_topology_data(resolver_cases.LAB))
    for case in resolver_cases.LAB_CASES:
        resolver_cases.check_case(index, case)
    resolver_cases.test_public_soa_ttl_follows_rfc2308(index)
    resolver_cases.test_record_set_has_one_ttl(index)
    resolver_cases.test_forward_carries_the_remaining_name(index)


def test_the_firewall_cases_hold_on_a_fresh_compile() -> None:
    """test_firewall.CASES (facts-2 §12.1, §12.2, §12.4)."""
    loaded = load_topology_data(firewall_cases.copy.deepcopy(firewall_cases.ESTATE))
    index = compile_topology(loaded)
    for case in firewall_cases.CASES:
        firewall_cases.test_firewall_cases(index, case)
    firewall_cases.test_two_servers_one_picked_per_name_by_a_hash(index)
    firewall_cases.test_proxy_cache_is_named_only_where_it_is_emulated(index)
    firewall_cases.test_explain_shows_the_proxy_hop(loaded, index)


def test_the_hosted_zone_cases_hold_on_a_fresh_compile() -> None:
    """test_custom_zones.CASES: zones held by custom and on-premises DNS servers (docs/topology.md, facts §4.3)."""
    index = compile_topology(load_topology_data(hosted_cases.copy.deepcopy(hosted_cases.ESTATE)))
    for case in hosted_cases.CASES:
        hosted_cases.test_hosted_zone_cases(index, case)
    hosted_cases.test_negative_answers_carry_the_servers_soa(index)
    hosted_cases.test_explain_shows_the_aa_flag(index)


def test_the_precedence_edge_cases_hold_on_a_fresh_compile() -> None:
    """test_precedence_edges: Disabled rules and NxDomainRedirect beside rules (facts-2 §11.1, §11.3)."""
    index = compile_topology(load_topology_data(yaml.safe_load(edge_cases.ESTATE)))
    tests = [getattr(edge_cases, n) for n in dir(edge_cases) if n.startswith("test_")]
    assert len(tests) >= 4
    for test in tests:
        test(index)


def test_negative_tables_are_compiled_for_vnets_that_answer_from_their_links_first() -> None:
    """facts-2 §11.1: a VNet on Azure-provided DNS with no forwarding rule answers a name under a linked zone from
    that zone, nothing before it, so its negative answers can be compiled; a VNet with a ruleset (spoke-rs), one
    behind a custom DNS server or an external one, and an on-premises site cannot have them."""
    index = compiled(SERVERS)
    assert set(index.negative) == {"hub", "spoke-azure"}
    hub = index.negative["hub"]
    assert hub.view == "vnet:hub"
    assert {"privatelink.blob.core.windows.net.", "lab.example.", "internal.cloudapp.net.",
            "0.10.in-addr.arpa."} <= set(hub.plans)
    assert hub.plans["privatelink.blob.core.windows.net."].redirected  # the link's NxDomainRedirect (facts §1.4)
    assert not hub.plans["lab.example."].redirected


def test_an_estate_without_public_names_has_only_the_locally_served_zones() -> None:
    """RFC 6303 §4: 10, 16-31.172, 168.192 and 254.169 in-addr.arpa., d.f, 8.e.f, 9.e.f, a.e.f and b.e.f ip6.arpa.:
    24 zones, the deepest (8.e.f.ip6.arpa. and its kin) of five labels."""
    index = compiled(SERVERS)
    local = {"10.in-addr.arpa.", "168.192.in-addr.arpa.", "254.169.in-addr.arpa.", "d.f.ip6.arpa.",
             "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.", "b.e.f.ip6.arpa.",
             *(f"{n}.172.in-addr.arpa." for n in range(16, 32))}
    assert set(index.public.zones) == local
    assert (index.public.max_labels, index.stats["public_zones"]) == (5, 24)
    assert {zone.kind for zone in index.public.zones.values()} == {"local"}


def test_a_zone_declared_in_capitals_with_its_final_dot_is_the_same_zone() -> None:
    """RFC 4343 §2: names compare case-insensitively; RFC 1034 §3.1: a name with its final dot is absolute, the
    same name. The zone answers under its canonical name."""
    data = {"virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
            "private_dns_zones": {"Lab.Example.": {"records": ["a 60 A 10.50.0.1"],
                                                   "virtual_network_links": [{"virtual_network": "v"}]}}}
    index = compiled(data)
    assert set(index.private_zones) == {"lab.example."}
    assert summary(resolve(index, q("A.LAB.example"), "10.50.0.5").answer) == ["a.lab.example. 60 A 10.50.0.1"]
    miss = resolve(index, q("b.lab.example"), "10.50.0.5")
    assert (miss.outcome, [r.name for r in miss.authority]) == (Outcome.NXDOMAIN, ["lab.example."])


def test_the_options_and_generation_travel_with_the_index() -> None:
    """The index carries the compile-time options (Options' own defaults: chains of 16, facts-2 §13/§16.7; 8
    hops) and the generation a reload gives it (0 for the first)."""
    from dnsemu.core.index import Options

    loaded = load_topology_data({"virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}}})
    first = compile_topology(loaded)
    assert (first.generation, first.options.max_chain, first.options.max_hops) == (0, 16, 8)
    again = compile_topology(loaded, Options(max_hops=3, unknown_sources="refuse"), generation=7)
    assert (again.generation, again.options.max_hops, again.options.unknown_sources) == (7, 3, "refuse")
    assert resolve(again, q("example.org"), "198.51.100.7").outcome is Outcome.REFUSED


def test_an_endpoint_to_a_private_link_service_writes_nothing_even_with_a_group_id() -> None:
    """facts §6: a customer's Private Link Service is reached by alias; no zone group record and no public chain
    come with it (the consumer writes its own record), whatever group id the export carries."""
    data = {
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
        "private_dns_zones": {"partner.example": {"records": ["api 60 A 10.50.1.9"],
                                                  "virtual_network_links": [{"virtual_network": "v"}]}},
        "private_endpoints": {"pe": {
            "virtual_network": "v", "private_ip_addresses": ["10.50.1.9"], "group_id": "api",
            "private_link_service_alias": "partner-api.6b3f2a51-9d1e-4c2b-8f4a-0c7d5e9b1a23.eastus.azure."
                                          "privatelinkservice"}},
    }
    index = compiled(data)
    answer = resolve(index, q("api.partner.example"), "10.50.0.4").answer
    assert summary(answer) == ["api.partner.example. 60 A 10.50.1.9"]
    assert (index.stats.get("private_endpoints", 0), index.stats.get("zone_group_records", 0)) == (0, 0)
    assert index.stats["records"] == 1


def test_a_dns_security_policy_linked_to_a_vnet_reaches_the_index() -> None:
    """facts-2 §10.4: a Block rule of a policy linked to the VNet answers NOERROR with a CNAME to
    blockpolicy.azuredns.invalid. (TTL 60) and that name's SOA in authority; a VNet the policy is not linked to
    resolves the name as usual. The VNet's compiled negative answers carry the policy."""
    data = {
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}, "w": {"address_space": ["10.60.0.0/16"]}},
        "dns_resolver_domain_lists": {"bad": {"domains": ["malware.example"]}},
        "dns_resolver_policies": {"pol": {
            "dns_security_rules": {"block": {"priority": 100, "action": "Block",
                                             "dns_resolver_domain_lists": ["bad"]}},
            "virtual_network_links": ["v"]}},
        "public_dns": {"zones": {"malware.example": {"records": ["www 60 A 198.51.100.66"]}}},
    }
    index = compiled(data)
    assert set(index.policies) == {"v"}
    blocked = resolve(index, q("www.malware.example"), "10.50.0.4")
    assert (blocked.outcome, summary(blocked.answer), summary(blocked.authority)) == (
        Outcome.ANSWER, ["www.malware.example. 60 CNAME blockpolicy.azuredns.invalid."],
        ["blockpolicy.azuredns.invalid. 60 SOA ns1.azure-dns.com. support.azure.com. 1000 3600 600 1800 60"])
    assert summary(resolve(index, q("www.malware.example"), "10.60.0.4").answer) == [
        "www.malware.example. 60 A 198.51.100.66"]
    assert index.negative["v"].policy is index.policies["v"]
    assert index.negative["w"].policy is None


def test_a_zone_group_may_name_its_zone_in_capitals_with_the_final_dot() -> None:
    """RFC 4343 §2 and RFC 1034 §3.1: `PrivateLink.AzureCR.io.` is privatelink.azurecr.io.; the zone group writes
    there (facts §1.5)."""
    data = _acr(private_ip_addresses=["10.50.1.4"])
    data["private_endpoints"]["pe"]["private_dns_zone_group"] = ["PrivateLink.AzureCR.io."]
    answer = resolve(compiled(data), q("reg1.azurecr.io"), "10.50.0.9").answer
    assert summary(answer) == ["reg1.azurecr.io. 60 CNAME reg1.privatelink.azurecr.io.",
                               "reg1.privatelink.azurecr.io. 10 A 10.50.1.4"]


def test_a_managed_instance_with_its_dns_prefix_gets_its_chain() -> None:
    """facts §2.2: Microsoft.Sql/managedInstances publishes {name}.{dnsPrefix}.database.windows.net, aliased to
    privatelink.{dnsPrefix}.database.windows.net while a connection is Approved; another tenant's endpoint
    (facts §1.3) is enough for the alias."""
    data = {
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
        "resources": {"mi1": {"type": "Microsoft.Sql/managedInstances", "dns_prefix": "abc123",
                              "private_endpoint_groups": ["managedInstance"]}},
    }
    import re

    answer = summary(resolve(compiled(data), q("mi1.abc123.database.windows.net"), "198.51.100.7").answer)
    assert answer[0] == "mi1.abc123.database.windows.net. 60 CNAME mi1.privatelink.abc123.database.windows.net."
    # no cluster host in the catalog: the synthesised end, in the estate's region (eastus), lower case
    assert re.fullmatch(r"mi1\.privatelink\.abc123\.database\.windows\.net\. 60 CNAME abc123-prod-[0-9a-f]{4}\."
                        r"eastus\.cloudapp\.azure\.com\.", answer[1]), answer
    assert len(answer) == 3


def test_the_second_redis_enterprise_variant_publishes_its_names_too() -> None:
    """facts §2.2: a RedisEnterprise resource of the variant Azure Cache for Redis Enterprise publishes
    <name>.<region>.redisenterprise.cache.azure.net and not the Azure Managed Redis name."""
    base = {"region": "westeurope", "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}}}
    index = compiled({**base, "resources": {"r1": {"type": "Microsoft.Cache/RedisEnterprise",
                                                   "variant": "Azure Cache for Redis Enterprise"}}})
    assert resolve(index, q("r1.westeurope.redisenterprise.cache.azure.net"), "198.51.100.7").outcome is (
        Outcome.ANSWER)
    assert resolve(index, q("r1.westeurope.redis.azure.net"), "198.51.100.7").outcome is Outcome.FORWARD


def _scopes(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    return {
        "region": "westeurope",
        "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
        "private_endpoints": {"pe": {"virtual_network": "v", "private_ip_addresses": ["10.50.1.4"],
                                     "group_id": "azuremonitor", **first}},
        "resources": {"scope2": {"type": "Microsoft.Insights/privateLinkScopes", **second}},
    }


def test_a_shared_host_carries_the_alias_when_any_of_its_resources_has_an_approved_connection() -> None:
    """facts §1.1: the privatelink CNAME is published while a connection is Approved; facts-2 §14.6: several
    scopes share the blob host scadvisorcontentpl.blob.core.windows.net. One Approved connection among them,
    whichever is declared first, puts the alias in public DNS."""
    scope1 = {"resource": {"type": "Microsoft.Insights/privateLinkScopes", "name": "scope1"}}
    alias = "scadvisorcontentpl.blob.core.windows.net. 60 CNAME scadvisorcontentpl.privatelink.blob.core.windows.net."
    # scope1 Approved (ours), scope2 without any endpoint (declared after it)
    first = compiled(_scopes(scope1, {}))
    assert summary(resolve(first, q("scadvisorcontentpl.blob.core.windows.net"), "198.51.100.7").answer)[0] == alias
    # scope1 Pending, scope2 with another tenant's Approved endpoint
    second = compiled(_scopes({**scope1, "connection_state": "Pending"}, {"private_endpoint_groups": ["azuremonitor"]}))
    assert summary(resolve(second, q("scadvisorcontentpl.blob.core.windows.net"), "198.51.100.7").answer)[0] == alias
    # neither: no alias
    neither = compiled(_scopes({**scope1, "connection_state": "Pending"}, {}))
    chain = summary(resolve(neither, q("scadvisorcontentpl.blob.core.windows.net"), "198.51.100.7").answer)
    assert "privatelink" not in chain[0]


def test_a_shared_hosts_synthesised_end_does_not_move_when_another_scope_is_declared() -> None:
    """docs/topology.md: synthesised hosts and addresses are stable. A second scope in another region, declared
    after the first, leaves api.monitor.azure.com's chain ending in the first one's region (facts-2 §14.6: the
    host is shared by every scope)."""
    import re

    scope1 = {"resource": {"type": "Microsoft.Insights/privateLinkScopes", "name": "scope1", "region": "northeurope"}}
    alone = compiled({**_scopes(scope1, {}), "resources": {}})
    both = compiled(_scopes(scope1, {"region": "eastus", "private_endpoint_groups": ["azuremonitor"]}))
    ends = [summary(resolve(i, q("api.monitor.azure.com"), "198.51.100.7").answer) for i in (alone, both)]
    assert ends[0] == ends[1]
    assert re.fullmatch(r"api\.privatelink\.monitor\.azure\.com\. 60 CNAME monitor-prod-[0-9a-f]{4}\.northeurope\."
                        r"cloudapp\.azure\.com\.", ends[0][1]), ends[0]


def test_azure_monitors_hosts_end_in_the_estates_region_in_lower_case() -> None:
    """docs/topology.md: with no resource of theirs, the shared hosts' synthesised end lies in the estate's region,
    written as a DNS name in lower case (RFC 4343 §4.1 leaves case to the data: dnsemu writes region names lower)."""
    import re

    data = {"region": "WestEurope", "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
            "private_dns_zones": {"privatelink.monitor.azure.com": {
                "virtual_network_links": [{"virtual_network": "v"}]}}}
    chain = summary(resolve(compiled(data), q("api.monitor.azure.com"), "198.51.100.7").answer)
    assert re.fullmatch(r"api\.privatelink\.monitor\.azure\.com\. 60 CNAME monitor-prod-[0-9a-f]{4}\.westeurope\."
                        r"cloudapp\.azure\.com\.", chain[1]), chain


def test_a_registration_zone_declared_with_its_final_dot_registers_all_the_same() -> None:
    """facts §3.3 with RFC 1034 §3.1: `Corp.Example.` is corp.example.; autoregistration writes vm1 there."""
    zone = {"Corp.Example.": {"virtual_network_links": [{"virtual_network": "v", "registration_enabled": True}]}}
    index = compiled({**_one_vm("AzureCloud", "eastus"), "private_dns_zones": zone})
    assert summary(resolve(index, q("vm1.corp.example"), "10.50.0.9").answer) == ["vm1.corp.example. 10 A 10.50.0.4"]


def test_a_custom_dns_server_may_forward_to_168_63_129_16_of_its_own_vnet() -> None:
    """facts §4.1: a DNS server in a VNet reaches Azure-provided DNS at 168.63.129.16, which answers as that VNet
    (its links); as a conditional forwarder and as the default alike."""
    data = {
        "virtual_networks": {
            "hub": {"address_space": ["10.0.0.0/16"]},
            "spoke": {"address_space": ["10.1.0.0/16"], "dns_servers": ["10.0.3.10"]},
        },
        "custom_dns_servers": {"dc1": {
            "virtual_network": "hub", "private_ip_address": "10.0.3.10",
            "conditional_forwarders": {"lab.example": ["168.63.129.16"]},
            "default_forwarding": ["168.63.129.16:53"]}},
        "private_dns_zones": {"lab.example": {"records": ["a 60 A 10.0.0.9"],
                                              "virtual_network_links": [{"virtual_network": "hub"}]}},
    }
    index = compiled(data)
    dc1 = index.networks["spoke"].entry
    edge = dc1.forwarders["lab.example."]
    assert (edge.hop, edge.target, edge.via) == (
        index.azure_dns["hub"], "168.63.129.16", "conditional forwarder (Azure DNS (168.63.129.16) in VNet 'hub')")
    assert (dc1.default, dc1.default_target) == (index.azure_dns["hub"], "Azure DNS (168.63.129.16) in VNet 'hub'")
    result = resolve(index, q("a.lab.example"), "10.1.0.4")
    assert (result.view, summary(result.answer)) == ("vnet:hub", ["a.lab.example. 60 A 10.0.0.9"])


def test_the_public_record_count_leaves_out_the_soa() -> None:
    """Counted by hand: contoso.com's www and mail, example.org's www (its SOA is the zone's, not a record of it);
    the locally served zones hold none (RFC 6303)."""
    data = {"public_dns": {"zones": {
        "contoso.com": {"records": ["www 300 A 198.51.100.80", "mail 300 A 198.51.100.81"]},
        "example.org": {"records": ["@ 600 SOA ns1.example.org. host.example.org. 7 3600 600 86400 120",
                                    "www 300 A 198.51.100.82"]}}}}
    stats = compiled(data).stats
    assert (stats["public_records"], stats["public_zones"]) == (3, 26)


def test_a_vnet_dns_suffix_written_with_its_final_dot_and_capitals_names_the_vms_the_same() -> None:
    """facts §4.1: a VM also answers under its VNet's DHCP suffix; RFC 1034 §3.1 / RFC 4343 §2: the suffix
    `Abc.BX.internal.cloudapp.net.` is abc.bx.internal.cloudapp.net."""
    data = _one_vm("AzureCloud", "eastus")
    data["virtual_networks"]["v"]["internal_domain_name_suffix"] = "Abc.BX.internal.cloudapp.net."
    index = compiled(data)
    assert summary(resolve(index, q("vm1.abc.bx.internal.cloudapp.net"), "10.50.0.9").answer) == [
        "vm1.abc.bx.internal.cloudapp.net. 10 A 10.50.0.4"]
    assert summary(resolve(index, q("4.0.50.10.in-addr.arpa", "PTR"), "10.50.0.9").answer) == [
        "4.0.50.10.in-addr.arpa. 10 PTR vm1.internal.cloudapp.net.",
        "4.0.50.10.in-addr.arpa. 10 PTR vm1.abc.bx.internal.cloudapp.net."]


def test_every_registered_vm_is_counted() -> None:
    """facts §3.3: autoregistration writes one record per VM of the registration VNet: two VMs, two records."""
    data = _one_vm("AzureCloud", "eastus")
    data["virtual_machines"]["vm2"] = {"virtual_network": "v", "private_ip_address": "10.50.0.5", "subnet": "s"}
    data["private_dns_zones"] = {"corp.example": {
        "virtual_network_links": [{"virtual_network": "v", "registration_enabled": True}]}}
    index = compiled(data)
    assert (index.stats["autoregistered_records"], index.stats["records"]) == (2, 2)
    assert summary(resolve(index, q("vm2.corp.example"), "10.50.0.9").answer) == ["vm2.corp.example. 10 A 10.50.0.5"]


def test_a_disabled_rule_listed_first_leaves_the_rules_after_it_in_force() -> None:
    """facts-2 §11.3: a rule's state is Enabled or Disabled, each rule on its own: a Disabled rule written before
    an enabled one takes nothing from it."""
    data = copy.deepcopy(SERVERS)
    data["dns_forwarding_rulesets"]["rs"]["forwarding_rules"] = {
        "old": {"domain_name": "old.example", "target_dns_servers": ["192.168.1.10"], "state": "Disabled"},
        "corp": {"domain_name": "corp.example.", "target_dns_servers": ["10.0.3.10"]},
    }
    index = compiled(data)
    assert set(index.azure_dns["spoke-rs"].rules) == {"corp.example."}
    assert index.disabled_rules == {"rs": {"old.example.": "old"}}


def test_a_synthesised_host_is_named_by_its_service_and_region() -> None:
    """docs/topology.md: where the catalog names no cluster host, the chain ends at <service>-prod-<hash>.<region>.
    <domain>; the hash is the first four hex digits of SHA-256 of "<service>/<region>" (dnsemu's rule: stable per
    service and region), the region in lower case whatever case the estate writes it in, so `WestEurope` and
    `westeurope` name the same host (Azure's region names are case-insensitive)."""
    import hashlib

    digest = hashlib.sha256(b"monitor/westeurope").hexdigest()[:4]
    host = f"monitor-prod-{digest}.westeurope.cloudapp.azure.com."
    for region in ("WestEurope", "westeurope"):
        data = {"region": region, "virtual_networks": {"v": {"address_space": ["10.50.0.0/16"]}},
                "private_dns_zones": {"privatelink.monitor.azure.com": {
                    "virtual_network_links": [{"virtual_network": "v"}]}}}
        chain = summary(resolve(compiled(data), q("api.monitor.azure.com"), "198.51.100.7").answer)
        assert chain[1] == f"api.privatelink.monitor.azure.com. 60 CNAME {host}", (region, chain)
