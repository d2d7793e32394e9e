"""The compile paths of the newer parts of an estate, each against values written down by hand.

Virtual WAN hubs (facts-2 §12.4), Azure Firewall's DNS proxy (§12.1, §12.2), custom DNS servers and
on-premises sites (facts §4.3), AKS private clusters (§14.1), Azure-provided DNS's per-VM limits (§13)
and the names Azure reserves (facts §3.2, §4.2). Expected values are literals worked out from the facts
and the topology written here, never dnsemu's own output read back.
"""

from __future__ import annotations

from typing import Any

from test_resolver import q, summary

from dnsemu.core.compile import compile_topology
from dnsemu.core.index import AzureDns, NetworkKind
from dnsemu.core.resolution import Outcome
from dnsemu.core.resolver import resolve
from dnsemu.topology.load import load_topology_data


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
