"""What the compiler derives from a topology, each stated with the fact or RFC it follows.

Zone-group records (facts §1.5), autoregistration (§3.3), Azure-provided names in a VNet
(§4.1), the forwarding paths of on-premises sites and custom DNS servers (§4.2, §4.3),
and RRsets as RFC 2181 §5 wants them (no duplicates, one TTL).
"""

from __future__ import annotations

from typing import Any

from test_resolver import ZONES, private_soa, q, summary

from dnsemu.core.compile import compile_topology
from dnsemu.core.resolution import Outcome, Source
from dnsemu.core.resolver import resolve
from dnsemu.topology.load import load_topology, load_topology_data


def compiled(data: dict[str, Any]) -> Any:
    return compile_topology(load_topology_data(data))


def vnet(**extra: Any) -> dict[str, Any]:
    return {"virtual_networks": {"v": {"address_space": ["10.50.0.0/16"], **extra}}}


def test_the_bundled_estates_counts() -> None:
    """Counted by hand from zones/topology.yaml and svc.contoso.internal.zone."""
    stats = compile_topology(load_topology(ZONES)).stats
    assert {k: stats[k] for k in ("private_endpoints", "zone_group_records", "autoregistered_records", "records",
                                  "private_zones", "virtual_networks", "on_premises")} == {
        "private_endpoints": 7,  # eight endpoints; pe-partner-api reaches a Private Link Service by alias
        "zone_group_records": 9,  # blob, file, vault, sql, 2 for ACR, 2 for the web app, pendingstore
        "autoregistered_records": 1,  # hub-vm1: the only VM of the registration VNet
        "records": 16,  # those 9, hub-vm1, build, the zone file's api, api-v2, SRV and TXT, and corp's app
        "private_zones": 9,  # corp.contoso.com, spoke2's own, is the ninth
        "virtual_networks": 5,  # hub, spoke1, spoke2, spoke3 (behind the hub's firewall), sandbox
        "on_premises": 2,
    }


def test_a_record_set_holds_each_value_once_with_one_ttl() -> None:
    """RFC 2181 §5: an RRset has no duplicate records; §5.2: all its records have the same TTL (the lowest)."""
    data = vnet()
    data["private_dns_zones"] = {"lab.example": {
        "records": ["a 60 A 10.0.0.1", "a 60 A 10.0.0.1", "a 30 A 10.0.0.2"],
        "virtual_network_links": [{"virtual_network": "v"}]}}
    answer = summary(resolve(compiled(data), q("a.lab.example"), "10.50.0.5").answer)
    assert answer == ["a.lab.example. 30 A 10.0.0.1", "a.lab.example. 30 A 10.0.0.2"]


def test_a_zone_group_writes_only_into_the_zones_it_names() -> None:
    """facts §1.5: the zone group writes the records; a service zone it does not name gets none."""
    data = vnet()
    data["private_dns_zones"] = {
        "privatelink.azurecr.io": {"virtual_network_links": [{"virtual_network": "v"}]}}
    data["private_endpoints"] = {"pe": {
        "virtual_network": "v", "private_ip_addresses": ["10.50.1.4", "10.50.1.5"], "group_id": "registry",
        "resource": {"type": "Microsoft.ContainerRegistry/registries", "name": "reg1"},
        "private_dns_zone_group": []}}
    result = resolve(compiled(data), q("reg1.azurecr.io"), "10.50.0.5")
    assert (result.outcome, summary(result.authority)) == (Outcome.NXDOMAIN, [private_soa("privatelink.azurecr.io.")])


def test_a_manual_record_set_wins_over_autoregistration() -> None:
    """facts §3.3: autoregistration does not overwrite a record set someone wrote by hand."""
    data = vnet(subnets={"s": {"address_prefix": "10.50.0.0/24"}})
    data["private_dns_zones"] = {"corp.example": {
        "records": ["vm1 300 A 10.50.9.9"],
        "virtual_network_links": [{"virtual_network": "v", "registration_enabled": True}]}}
    data["virtual_machines"] = {
        "vm1": {"virtual_network": "v", "private_ip_address": "10.50.0.4", "subnet": "s"},
        "vm2": {"virtual_network": "v", "private_ip_address": "10.50.0.5", "subnet": "s"},
    }
    index = compiled(data)
    assert summary(resolve(index, q("vm1.corp.example"), "10.50.0.9").answer) == ["vm1.corp.example. 300 A 10.50.9.9"]
    assert summary(resolve(index, q("vm2.corp.example"), "10.50.0.9").answer) == ["vm2.corp.example. 10 A 10.50.0.5"]


def test_a_vnet_dns_suffix_names_its_vms_too() -> None:
    """facts §4.1: a VM answers as <vm>.internal.cloudapp.net and under its VNet's unique DHCP suffix
    (<vnet id>.<region code>.internal.cloudapp.net, as Azure writes it)."""
    data = vnet(subnets={"s": {"address_prefix": "10.50.0.0/24"}},
                internal_domain_name_suffix="abc.bx.internal.cloudapp.net")
    data["virtual_machines"] = {"vm1": {"virtual_network": "v", "private_ip_address": "10.50.0.4", "subnet": "s"}}
    index = compiled(data)
    result = resolve(index, q("vm1.abc.bx.internal.cloudapp.net"), "10.50.0.9")
    assert (result.source, summary(result.answer)) == (
        Source.INTERNAL, ["vm1.abc.bx.internal.cloudapp.net. 10 A 10.50.0.4"])
    ptr = resolve(index, q("4.0.50.10.in-addr.arpa", "PTR"), "10.50.0.9")
    assert summary(ptr.answer) == ["4.0.50.10.in-addr.arpa. 10 PTR vm1.internal.cloudapp.net.",
                                   "4.0.50.10.in-addr.arpa. 10 PTR vm1.abc.bx.internal.cloudapp.net."]


def test_an_on_premises_site_may_send_everything_to_an_inbound_endpoint() -> None:
    """facts §4.3: the site's default forwarder can be the resolver's inbound endpoint, which answers as the VNet."""
    data = vnet()
    data["private_dns_zones"] = {"lab.example": {"records": ["a 60 A 10.50.0.1"],
                                                 "virtual_network_links": [{"virtual_network": "v"}]}}
    data["dns_private_resolvers"] = {"r": {"virtual_network": "v", "outbound_endpoints": ["out"],
                                           "inbound_endpoints": {"in": {"private_ip_address": "10.50.0.4"}}}}
    data["on_premises"] = {"site": {"address_space": ["192.168.0.0/16"], "dns_servers": ["192.168.0.10"],
                                    "default_forwarding": ["10.50.0.4"]}}
    result = resolve(compiled(data), q("a.lab.example"), "192.168.1.1")
    assert (result.view, summary(result.answer)) == ("vnet:v", ["a.lab.example. 60 A 10.50.0.1"])
    assert "inbound endpoint r/in" in "\n".join(result.trace_text())


def test_a_resource_the_catalog_cannot_name_gets_no_public_chain() -> None:
    """A managed instance's FQDN needs its dnsPrefix (facts §2.2: privatelink.{dnsPrefix}.database.windows.net);
    without one there is nothing to synthesise, and the estate still compiles."""
    data = vnet()
    data["resources"] = {"mi1": {"type": "Microsoft.Sql/managedInstances"}}
    index = compiled(data)
    assert not any(zone.endswith("database.windows.net.") for zone in index.public.zones)
    result = resolve(index, q("mi1.database.windows.net"), "198.51.100.7")
    assert (result.outcome, result.forward and result.forward.name) == (Outcome.FORWARD, "mi1.database.windows.net.")
