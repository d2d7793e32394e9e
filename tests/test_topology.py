"""Loading and validating topologies: every rule Azure enforces, each with file, line and field."""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from dnsemu.topology.errors import TopologyError
from dnsemu.topology.load import load_topology, load_topology_data, load_topology_text

BASE: dict = {
    "virtual_networks": {
        "hub": {"address_space": ["10.0.0.0/16"], "subnets": {"pe": {"address_prefix": "10.0.1.0/24"}}},
        "spoke": {"address_space": ["10.1.0.0/16"], "peerings": ["hub"]},
    },
    "on_premises": {"dc": {"address_space": ["192.168.0.0/16"], "dns_servers": ["192.168.0.10"]}},
    "dns_private_resolvers": {
        "res": {
            "virtual_network": "hub",
            "inbound_endpoints": {"in": {"private_ip_address": "10.0.0.4"}},
            "outbound_endpoints": ["out"],
        },
    },
    "dns_forwarding_rulesets": {
        "rs": {
            "dns_resolver_outbound_endpoints": ["res/out"],
            "virtual_network_links": ["spoke"],
            "forwarding_rules": {"blob": {"domain_name": "blob.core.windows.net.", "target_dns_servers": ["10.0.0.4"]}},
        },
    },
    "private_dns_zones": {
        "privatelink.blob.core.windows.net": {"virtual_network_links": [{"virtual_network": "hub"}]},
        "corp.example": {
            "records": ["www 60 A 10.0.1.80"],
            "virtual_network_links": [{"virtual_network": "hub", "registration_enabled": True}],
        },
    },
    "private_endpoints": {
        "pe1": {
            "virtual_network": "hub",
            "subnet": "pe",
            "private_ip_addresses": ["10.0.1.4"],
            "resource": {"type": "Microsoft.Storage/storageAccounts", "name": "acct"},
            "group_id": "blob",
            "private_dns_zone_group": ["privatelink.blob.core.windows.net"],
        },
    },
    "virtual_machines": {"vm1": {"virtual_network": "hub", "private_ip_address": "10.0.1.10"}},
}


def test_base_is_valid() -> None:
    loaded = load_topology_data(copy.deepcopy(BASE))
    assert "corp.example." in loaded.zone_records


def mutate(fn: Callable[[dict], None]) -> dict:
    data = copy.deepcopy(BASE)
    fn(data)
    return data


def vnets(d):
    return d["virtual_networks"]


def zones(d):
    return d["private_dns_zones"]


INVALID = [
    (
        "unknown key",
        lambda d: vnets(d)["hub"].update(adress_space=["10.9.0.0/16"]),
        "virtual_networks.hub.adress_space",
        "unknown key 'adress_space'",
    ),
    ("unknown top-level key names the allowed ones", lambda d: d.update(vnets={}), "vnets", "allowed here:"),
    (
        "bad CIDR",
        lambda d: vnets(d)["hub"].update(address_space=["10.0.0.0/33"]),
        "virtual_networks.hub.address_space[0]",
        "10.0.0.0/33",
    ),
    (
        "bad IP",
        lambda d: d["virtual_machines"]["vm1"].update(private_ip_address="10.0.1.300"),
        "virtual_machines.vm1.private_ip_address",
        "10.0.1.300",
    ),
    (
        "overlapping VNets",
        lambda d: vnets(d)["spoke"].update(address_space=["10.0.128.0/17"]),
        "virtual_networks.spoke.address_space[0]",
        "overlaps 10.0.0.0/16 of 'hub'",
    ),
    (
        "VNet overlapping on-premises",
        lambda d: d["on_premises"]["dc"].update(address_space=["10.1.5.0/24"]),
        "address_space[0]",
        "overlaps",
    ),
    (
        "endpoint IP outside its VNet",
        lambda d: d["private_endpoints"]["pe1"].update(private_ip_addresses=["10.1.0.4"]),
        "private_endpoints.pe1.private_ip_addresses[0]",
        "outside virtual network 'hub'",
    ),
    (
        "endpoint IP outside its subnet",
        lambda d: d["private_endpoints"]["pe1"].update(private_ip_addresses=["10.0.2.4"]),
        "private_endpoints.pe1.private_ip_addresses[0]",
        "outside subnet 'pe'",
    ),
    (
        "two zones of one name linked to one VNet",
        lambda d: zones(d).update(
            {"PrivateLink.Blob.Core.Windows.Net": {"virtual_network_links": [{"virtual_network": "hub"}]}}
        ),
        "private_dns_zones.PrivateLink.Blob.Core.Windows.Net",
        "overlapping namespaces",
    ),
    (
        "link to a missing VNet",
        lambda d: zones(d)["corp.example"]["virtual_network_links"].append({"virtual_network": "hubb"}),
        "private_dns_zones.corp.example.virtual_network_links[1].virtual_network",
        "did you mean 'hub'",
    ),
    (
        "two links of one zone to one VNet",
        lambda d: zones(d)["privatelink.blob.core.windows.net"]["virtual_network_links"].append(
            {"virtual_network": "hub", "name": "again"}
        ),
        "virtual_network_links[1]",
        "already linked",
    ),
    (
        "two registration zones for one VNet",
        lambda d: zones(d).update(
            {"other.example": {"virtual_network_links": [{"virtual_network": "hub", "registration_enabled": True}]}}
        ),
        "registration_enabled",
        "exactly one registration zone",
    ),
    (
        "CNAME beside other data",
        lambda d: zones(d)["corp.example"]["records"].extend(["www 60 CNAME other.example.", 'www 60 TXT "x"']),
        "private_dns_zones.corp.example",
        "has a CNAME and other data",
    ),
    (
        "CNAME at the apex",
        lambda d: zones(d)["corp.example"]["records"].append("@ 60 CNAME other.example."),
        "private_dns_zones.corp.example",
        "apex",
    ),
    (
        "NS in a private zone",
        lambda d: zones(d)["corp.example"]["records"].append("sub 60 NS ns1.example."),
        "private_dns_zones.corp.example.records[1]",
        "Azure private DNS zones cannot delegate",
    ),
    (
        "DNAME in a private zone",
        lambda d: zones(d)["corp.example"]["records"].append("old 60 DNAME corp.example."),
        "private_dns_zones.corp.example.records[1]",
        "Azure private DNS zones do not support DNAME",
    ),
    (
        "CAA in a private zone",
        lambda d: zones(d)["corp.example"]["records"].append('@ 60 CAA 0 issue "ca.example"'),
        "private_dns_zones.corp.example.records[1]",
        "private DNS zones hold only",
    ),
    (
        "SOA in a private zone",
        lambda d: zones(d)["corp.example"]["records"].append("@ 60 SOA a. b. 1 2 3 4 5"),
        "private_dns_zones.corp.example",
        "Azure manages the SOA",
    ),
    (
        "bad rdata",
        lambda d: zones(d)["corp.example"]["records"].append("mx 60 MX mail.example."),
        "private_dns_zones.corp.example.records[1]",
        "'preference exchange'",
    ),
    (
        "unknown record type",
        lambda d: zones(d)["corp.example"]["records"].append("x 60 AA 10.0.0.1"),
        "private_dns_zones.corp.example.records[1]",
        "unknown record type",
    ),
    (
        "rule pointing at 168.63.129.16",
        lambda d: d["dns_forwarding_rulesets"]["rs"]["forwarding_rules"]["blob"].update(
            target_dns_servers=["168.63.129.16"]
        ),
        "target_dns_servers[0]",
        "cannot target 168.63.129.16",
    ),
    (
        "rule target that nobody models",
        lambda d: d["dns_forwarding_rulesets"]["rs"]["forwarding_rules"]["blob"].update(
            target_dns_servers=["10.9.9.9"]
        ),
        "target_dns_servers[0]",
        "not a modelled DNS server",
    ),
    (
        "more than 6 rule targets",
        lambda d: d["dns_forwarding_rulesets"]["rs"]["forwarding_rules"]["blob"].update(
            target_dns_servers=["10.0.0.4"] * 7
        ),
        "target_dns_servers",
        "at most 6",
    ),
    (
        "on-premises forwarder to 168.63.129.16",
        lambda d: d["on_premises"]["dc"].update(conditional_forwarders={"blob.core.windows.net": ["168.63.129.16"]}),
        "conditional_forwarders.blob.core.windows.net[0]",
        "only from inside a virtual network",
    ),
    (
        "two rulesets on one VNet",
        lambda d: d["dns_forwarding_rulesets"].update(
            rs2={"dns_resolver_outbound_endpoints": ["res/out"], "virtual_network_links": ["spoke"]}
        ),
        "dns_forwarding_rulesets.rs2.virtual_network_links[0]",
        "already linked to ruleset 'rs'",
    ),
    (
        "unknown outbound endpoint",
        lambda d: d["dns_forwarding_rulesets"]["rs"].update(dns_resolver_outbound_endpoints=["res/nope"]),
        "dns_resolver_outbound_endpoints[0]",
        "res/out",
    ),
    (
        "ruleset across regions",
        lambda d: vnets(d)["spoke"].update(region="westeurope"),
        "virtual_network_links[0]",
        "of its own region",
    ),
    (
        "two resolvers in one VNet",
        lambda d: d["dns_private_resolvers"].update(res2={"virtual_network": "hub"}),
        "dns_private_resolvers.res2.virtual_network",
        "one private resolver per virtual network",
    ),
    (
        "inbound endpoint outside its VNet",
        lambda d: d["dns_private_resolvers"]["res"]["inbound_endpoints"]["in"].update(private_ip_address="10.1.0.4"),
        "inbound_endpoints.in.private_ip_address",
        "outside virtual network 'hub'",
    ),
    (
        "custom DNS server nobody models",
        lambda d: vnets(d)["spoke"].update(dns_servers=["10.0.0.99"]),
        "virtual_networks.spoke.dns_servers[0]",
        "not a modelled DNS server",
    ),
    (
        "group id the service does not have",
        lambda d: d["private_endpoints"]["pe1"].update(group_id="blobb"),
        "private_endpoints.pe1",
        "blob",
    ),
    (
        "resource type unknown",
        lambda d: d["private_endpoints"]["pe1"]["resource"].update(type="Microsoft.Storage/storageAcounts"),
        "private_endpoints.pe1",
        "storageAccounts",
    ),
    (
        "zone group zone that does not exist",
        lambda d: d["private_endpoints"]["pe1"].update(private_dns_zone_group=["privatelink.file.core.windows.net"]),
        "private_dns_zone_group[0]",
        "unknown private DNS zone",
    ),
    (
        "zone group zone of another service",
        lambda d: d["private_endpoints"]["pe1"].update(private_dns_zone_group=["corp.example"]),
        "private_dns_zone_group[0]",
        "is not a zone of Microsoft.Storage/storageAccounts 'blob'",
    ),
    (
        "more than 5 zones in a zone group",
        lambda d: d["private_endpoints"]["pe1"].update(private_dns_zone_group=["a.example"] * 6),
        "private_dns_zone_group",
        "at most 5",
    ),
    (
        "endpoint with both a resource and an alias",
        lambda d: d["private_endpoints"]["pe1"].update(
            private_link_service_alias="svc.6b3f2a51-9d1e-4c2b-8f4a-0c7d5e9b1a23.eastus.azure.privatelinkservice"
        ),
        "private_endpoints.pe1",
        "exactly one of resource and private_link_service_alias",
    ),
    (
        "malformed Private Link Service alias",
        lambda d: d["private_endpoints"].update(
            pls={
                "virtual_network": "hub",
                "private_ip_addresses": ["10.0.1.9"],
                "private_link_service_alias": "not-an-alias",
            }
        ),
        "private_endpoints.pls.private_link_service_alias",
        "not a Private Link Service alias",
    ),
    (
        "wrong number of endpoint addresses",
        lambda d: d["private_endpoints"].update(
            acr={
                "virtual_network": "hub",
                "private_ip_addresses": ["10.0.1.5", "10.0.1.6", "10.0.1.7"],
                "resource": {"type": "Microsoft.ContainerRegistry/registries", "name": "r"},
                "group_id": "registry",
            }
        ),
        "private_endpoints.acr.private_ip_addresses",
        "3 addresses for 2 FQDNs",
    ),
    (
        "two NICs with one address",
        lambda d: (
            d["virtual_machines"]["vm1"].update(private_ip_address="10.0.1.4")
            or d["private_endpoints"]["pe1"].update(private_ip_addresses=["10.0.1.4"])
            or d["virtual_machines"].update(vm2={"virtual_network": "hub", "private_ip_address": "10.0.1.4"})
        ),
        "virtual_machines.vm2.private_ip_address",
        "already used by VM 'vm1'",
    ),
    (
        "NxDomainRedirect on a zone that is not privatelink",
        lambda d: zones(d)["corp.example"]["virtual_network_links"][0].update(resolution_policy="NxDomainRedirect"),
        "resolution_policy",
        "only to links of privatelink zones",
    ),
    (
        "bad resolution policy",
        lambda d: zones(d)["corp.example"]["virtual_network_links"][0].update(resolution_policy="Fallback"),
        "resolution_policy",
        "Default",
    ),
    (
        "reserved zone name",
        lambda d: zones(d).update({"core.windows.net": {}}),
        "private_dns_zones.core.windows.net",
        "reserves",
    ),
    ("single-label zone", lambda d: zones(d).update({"corp": {}}), "private_dns_zones.corp", "single label"),
    (
        "peering to nowhere",
        lambda d: vnets(d)["spoke"].update(peerings=["hubb"]),
        "peerings[0]",
        "unknown virtual network",
    ),
    (
        "subnet outside the VNet",
        lambda d: vnets(d)["hub"]["subnets"].update(x={"address_prefix": "10.5.0.0/24"}),
        "subnets.x.address_prefix",
        "outside the address space",
    ),
    ("unknown region", lambda d: d.update(region="mars-north"), "region", "unknown region"),
    ("unknown cloud", lambda d: d.update(cloud="AzureGermanCloud"), "cloud", "AzureCloud"),
    (
        "network name used twice",
        lambda d: d["on_premises"].update(hub={"address_space": ["172.20.0.0/16"]}),
        "on_premises.hub",
        "used by a virtual network too",
    ),
]


@pytest.mark.parametrize(("mutation", "path", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid(mutation, path: str, fragment: str) -> None:
    data = mutate(mutation)
    with pytest.raises(TopologyError) as info:
        load_topology_data(data)
    problems = info.value.problems
    assert any(fragment in str(p) and path in (p.path or "") for p in problems), "\n".join(map(str, problems))


def test_every_problem_is_reported_at_once() -> None:
    def two(d):
        vnets(d)["hub"].update(address_space=["10.0.0.0/33"])
        d["virtual_machines"]["vm1"].update(private_ip_address="nope")

    with pytest.raises(TopologyError) as info:
        load_topology_data(mutate(two))
    assert len(info.value.problems) >= 2


def test_file_and_line_in_messages(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        virtual_networks:
          hub:
            address_space: [10.0.0.0/16]
          spoke:
            address_space: [10.0.5.0/24]
        private_dns_zones:
          corp.example:
            virtual_network_links:
              - virtual_network: hubb
        """)
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    messages = [str(p) for p in info.value.problems]
    assert any(
        m.startswith(f"{path}:5: virtual_networks.spoke.address_space[0]: 10.0.5.0/24 overlaps") for m in messages
    ), messages
    assert any(
        m.startswith(
            f"{path}:9: private_dns_zones.corp.example.virtual_network_links[0].virtual_network: "
            "unknown virtual network 'hubb'"
        )
        for m in messages
    ), messages


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("virtual_networks:\n  hub:\n    address_space: [10.0.0.0/16\n")
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    assert str(info.value).startswith(f"{path}:")
    assert "YAML syntax" in str(info.value)


def test_duplicate_keys_are_errors() -> None:
    with pytest.raises(TopologyError, match="duplicate key 'hub'"):
        load_topology_text(
            "virtual_networks:\n  hub: {address_space: [10.0.0.0/16]}\n  hub: {address_space: [10.1.0.0/16]}\n"
        )


def test_missing_file() -> None:
    with pytest.raises(TopologyError, match="cannot read the topology"):
        load_topology("/nonexistent/topology.yaml")


def test_zone_file_errors_name_the_zone_file(tmp_path: Path) -> None:
    (tmp_path / "z.zone").write_text("$TTL 60\nwww IN A 10.0.0.300\n")
    data = {
        "virtual_networks": {"hub": {"address_space": ["10.0.0.0/16"]}},
        "private_dns_zones": {"z.example": {"zone_file": "z.zone"}},
    }
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(TopologyError) as info:
        load_topology(tmp_path / "t.yaml")
    assert any(p.file and p.file.endswith("z.zone") and p.line == 2 for p in info.value.problems), str(info.value)


def test_bundled_estate_loads_and_lists_its_files() -> None:
    loaded = load_topology(Path(__file__).resolve().parent.parent / "zones" / "topology.yaml")
    assert any(f.endswith("svc.contoso.internal.zone") for f in loaded.files)
