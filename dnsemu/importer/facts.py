"""What each export says about one resource, in one vocabulary whatever the format.

Every source module (Resource Graph, ARM, az CLI, Terraform, the live import) turns
its rows into these facts; :mod:`dnsemu.importer.merge` merges the facts of one
resource ID from every source; :mod:`dnsemu.importer.build` turns the merged facts
into a topology. A field that a source does not know is ``None`` (so that another
source can fill it in), never a guessed default.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

from dnsemu.importer.common import Origin


@functools.cache
def has_name(kind: type) -> bool:
    """Whether facts of this kind carry the resource's name (a ``name`` field)."""
    return any(f.name == "name" for f in dataclasses.fields(kind))


@dataclass(frozen=True)
class Fact:
    id: str
    origin: Origin = field(compare=False)

    #: the ARM type this fact describes (lower case), for messages and the summary
    KIND = ""


@dataclass(frozen=True)
class SubnetInfo:
    name: str
    prefixes: tuple[str, ...]
    service_endpoints: tuple[str, ...] = ()


@dataclass(frozen=True)
class VNet(Fact):
    KIND = "microsoft.network/virtualnetworks"
    name: str | None = None
    location: str | None = None
    address_space: tuple[str, ...] | None = None
    subnets: tuple[SubnetInfo, ...] | None = None
    dns_servers: tuple[str, ...] | None = None
    #: remote VNet IDs of the peerings (with their state)
    peerings: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Subnet(Fact):
    """A subnet given as a resource of its own (``az network vnet subnet list``, ``azurerm_subnet``)."""

    KIND = "microsoft.network/virtualnetworks/subnets"
    vnet_id: str | None = None
    info: SubnetInfo | None = None


@dataclass(frozen=True)
class Peering(Fact):
    KIND = "microsoft.network/virtualnetworks/virtualnetworkpeerings"
    vnet_id: str | None = None
    remote_id: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class VNetDnsServers(Fact):
    """``azurerm_virtual_network_dns_servers``: overrides the VNet's DNS servers."""

    KIND = "azurerm_virtual_network_dns_servers"
    vnet_id: str | None = None
    dns_servers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class IpConfig:
    address: str | None
    subnet_id: str | None = None
    allocation: str | None = None
    primary: bool | None = None
    group_id: str | None = None
    member: str | None = None
    fqdns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Nic(Fact):
    KIND = "microsoft.network/networkinterfaces"
    name: str | None = None
    vm_id: str | None = None
    pe_id: str | None = None
    primary: bool | None = None
    ip_configs: tuple[IpConfig, ...] | None = None
    dns_servers: tuple[str, ...] | None = None
    internal_suffix: str | None = None


@dataclass(frozen=True)
class VirtualMachine(Fact):
    KIND = "microsoft.compute/virtualmachines"
    name: str | None = None
    #: (NIC ID, primary)
    nics: tuple[tuple[str, bool], ...] | None = None


@dataclass(frozen=True)
class Zone(Fact):
    KIND = "microsoft.network/privatednszones"
    name: str | None = None


@dataclass(frozen=True)
class ZoneLink(Fact):
    KIND = "microsoft.network/privatednszones/virtualnetworklinks"
    zone_id: str | None = None
    name: str | None = None
    vnet_id: str | None = None
    registration: bool | None = None
    policy: str | None = None


@dataclass(frozen=True)
class RecordSet(Fact):
    KIND = "microsoft.network/privatednszones/<type>"
    zone_id: str | None = None
    name: str | None = None  # relative, "@" for the apex
    rtype: str | None = None  # upper case: A, AAAA, CNAME, MX, PTR, SRV, TXT, SOA
    ttl: int | None = None
    #: presentation-form values ("10.0.1.4", "10 mail.contoso.com.", '"text"')
    values: tuple[str, ...] | None = None
    auto_registered: bool | None = None


@dataclass(frozen=True)
class Connection:
    target: str | None  # the target resource ID (or a Private Link Service alias)
    group_ids: tuple[str, ...] = ()
    status: str | None = None
    manual: bool | None = None
    alias: str | None = None


@dataclass(frozen=True)
class ZoneConfig:
    zone_id: str | None
    #: (fqdn, addresses) the group wrote
    record_sets: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class PrivateEndpoint(Fact):
    KIND = "microsoft.network/privateendpoints"
    name: str | None = None
    location: str | None = None
    subnet_id: str | None = None
    nic_ids: tuple[str, ...] | None = None
    connection: Connection | None = None
    #: customDnsConfigs: (fqdn, addresses)
    custom_dns: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    ip_configs: tuple[IpConfig, ...] | None = None


@dataclass(frozen=True)
class ZoneGroup(Fact):
    KIND = "microsoft.network/privateendpoints/privatednszonegroups"
    pe_id: str | None = None
    name: str | None = None
    configs: tuple[ZoneConfig, ...] | None = None


@dataclass(frozen=True)
class Resolver(Fact):
    KIND = "microsoft.network/dnsresolvers"
    name: str | None = None
    vnet_id: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class InboundEndpoint(Fact):
    KIND = "microsoft.network/dnsresolvers/inboundendpoints"
    resolver_id: str | None = None
    name: str | None = None
    #: (address, subnet ID)
    ip_configs: tuple[tuple[str, str | None], ...] | None = None


@dataclass(frozen=True)
class OutboundEndpoint(Fact):
    KIND = "microsoft.network/dnsresolvers/outboundendpoints"
    resolver_id: str | None = None
    name: str | None = None
    subnet_id: str | None = None


@dataclass(frozen=True)
class Ruleset(Fact):
    KIND = "microsoft.network/dnsforwardingrulesets"
    name: str | None = None
    outbound_ids: tuple[str, ...] | None = None
    location: str | None = None


@dataclass(frozen=True)
class Rule(Fact):
    KIND = "microsoft.network/dnsforwardingrulesets/forwardingrules"
    ruleset_id: str | None = None
    name: str | None = None
    domain: str | None = None
    #: (address, port)
    targets: tuple[tuple[str, int], ...] | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class RulesetLink(Fact):
    KIND = "microsoft.network/dnsforwardingrulesets/virtualnetworklinks"
    ruleset_id: str | None = None
    name: str | None = None
    vnet_id: str | None = None


@dataclass(frozen=True)
class LocalNetworkGateway(Fact):
    KIND = "microsoft.network/localnetworkgateways"
    name: str | None = None
    prefixes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PrivateLinkService(Fact):
    KIND = "microsoft.network/privatelinkservices"
    name: str | None = None
    alias: str | None = None


@dataclass(frozen=True)
class NotModelled(Fact):
    """A resource the import read and that dnsemu's model has no place for (yet)."""

    KIND = ""
    rtype: str | None = None
    reason: str | None = None


# -- Azure Firewall and its DNS proxy (facts §12.1, §12.3) ---------------------------------------------


@dataclass(frozen=True)
class Firewall(Fact):
    """``Microsoft.Network/azureFirewalls``: where it lives, its private IP, and where its DNS settings are."""

    KIND = "microsoft.network/azurefirewalls"
    name: str | None = None
    location: str | None = None
    #: the subnet of its IP configuration (a VNet firewall): AzureFirewallSubnet
    subnet_id: str | None = None
    #: a secured Virtual WAN hub's firewall
    hub_id: str | None = None
    private_ip: str | None = None
    policy_id: str | None = None
    #: a firewall with classic rules: ``additionalProperties`` Network.DNS.EnableProxy / Network.DNS.Servers
    classic_proxy: bool | None = None
    classic_servers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FirewallPolicy(Fact):
    """``Microsoft.Network/firewallPolicies``: ``dnsSettings`` (None: not set here, inherited from the base policy)."""

    KIND = "microsoft.network/firewallpolicies"
    name: str | None = None
    base_id: str | None = None
    has_dns: bool | None = None
    enable_proxy: bool | None = None
    servers: tuple[str, ...] | None = None


# -- Virtual WAN hubs (facts §12.4) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VirtualHub(Fact):
    KIND = "microsoft.network/virtualhubs"
    name: str | None = None
    location: str | None = None
    address_prefix: str | None = None
    #: remote VNet IDs of connections given inline (the older ``virtualNetworkConnections``)
    connections: tuple[str, ...] | None = None


@dataclass(frozen=True)
class HubConnection(Fact):
    KIND = "microsoft.network/virtualhubs/hubvirtualnetworkconnections"
    hub_id: str | None = None
    vnet_id: str | None = None


# -- AKS private clusters (facts §14.1) ---------------------------------------------------------------------


@dataclass(frozen=True)
class ManagedCluster(Fact):
    KIND = "microsoft.containerservice/managedclusters"
    name: str | None = None
    location: str | None = None
    private: bool | None = None
    #: ``system``, ``none`` or a private zone's resource ID, as ARM says it
    private_dns_zone: str | None = None
    public_fqdn_enabled: bool | None = None
    vnet_integration: bool | None = None
    dns_prefix: str | None = None
    fqdn_subdomain: str | None = None
    private_fqdn: str | None = None
    fqdn: str | None = None
    #: the agent pools' subnets (the first one names the cluster's VNet)
    subnet_ids: tuple[str, ...] | None = None


# -- DNS security policies (facts §10.2) ----------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityPolicy(Fact):
    KIND = "microsoft.network/dnsresolverpolicies"
    name: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class SecurityRule(Fact):
    KIND = "microsoft.network/dnsresolverpolicies/dnssecurityrules"
    policy_id: str | None = None
    name: str | None = None
    priority: int | None = None
    action: str | None = None
    block_response_code: str | None = None
    list_ids: tuple[str, ...] | None = None
    managed_lists: tuple[str, ...] | None = None
    enabled: bool | None = None
    no_chain: bool | None = None


@dataclass(frozen=True)
class PolicyLink(Fact):
    KIND = "microsoft.network/dnsresolverpolicies/virtualnetworklinks"
    policy_id: str | None = None
    name: str | None = None
    vnet_id: str | None = None


@dataclass(frozen=True)
class DomainList(Fact):
    KIND = "microsoft.network/dnsresolverdomainlists"
    name: str | None = None
    location: str | None = None
    domains: tuple[str, ...] | None = None
    #: a large list's blob (``domainsUrl``): its domains are not in the export
    domains_url: str | None = None
