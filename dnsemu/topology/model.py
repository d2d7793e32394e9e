"""The topology a user writes, as pydantic models.

The vocabulary follows Azure's resource names (``virtual_networks``,
``private_dns_zones``, ``virtual_network_links``, ``private_endpoints``,
``dns_private_resolvers``, ``dns_forwarding_rulesets`` …) so that an estate can be
transcribed from the portal or from ARM without a glossary. These models check
shapes and values; cross-references between resources are checked by
:mod:`dnsemu.topology.validate`, and :mod:`dnsemu.core.compile` turns a valid
topology into lookup tables.

Every model forbids unknown keys: a typo is an error, never a silently ignored
setting. Every model is strict: YAML and JSON write integers, booleans and strings
natively, so ``ttl: true`` or ``ttl: "60"`` is a mistake to report, not a value to
convert (pydantic's lax mode would serve TTL 1 and 60), and ``registration_enabled:
"yes"`` is not a boolean. IP addresses and networks are the one kind of value
written as text and parsed: they take a string (or an ``ipaddress`` object from
Python callers), never an integer.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from dnsemu.dns.addresses import parse_hostport

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ip_from_text(kind: str, parse, instances: tuple[type, ...], example: str):
    """A before-validator: text is parsed, ``ipaddress`` objects pass, anything else is refused.

    Strict mode would refuse the text; lax mode would take an integer as an address.
    """

    def validate(value: object) -> object:
        if isinstance(value, instances):
            return value
        if not isinstance(value, str):
            raise PydanticCustomError(f"ip_{kind}_type", f"write the IP {kind} as text such as {example}")
        try:
            return parse(value.strip())
        except ValueError:
            raise PydanticCustomError(f"ip_{kind}", f"not a valid IPv4 or IPv6 {kind}") from None

    return BeforeValidator(validate)


IPNetwork = Annotated[
    _Network,
    _ip_from_text("network", ipaddress.ip_network, (ipaddress.IPv4Network, ipaddress.IPv6Network), "10.0.0.0/16"),
]
IPAddress = Annotated[
    _Address, _ip_from_text("address", ipaddress.ip_address, (ipaddress.IPv4Address, ipaddress.IPv6Address), "10.0.0.4")
]

#: A TTL in seconds, 0 to 2^31-1: RFC 2181 §8 caps TTLs at 2^31-1, and Azure accepts that whole range
#: on private DNS record sets, 0 included (hashicorp/terraform-provider-azurerm#23917, whose fix #23933
#: validates 0-2147483647 to match ARM). Tested in tests/test_strict_input.py.
MAX_TTL = 2**31 - 1
Ttl = Annotated[int, Field(ge=0, le=MAX_TTL)]

AZURE_DNS_IP = ipaddress.IPv4Address("168.63.129.16")

Cloud = Literal["AzureCloud", "AzureUSGovernment", "AzureChinaCloud"]
ResolutionPolicy = Literal["Default", "NxDomainRedirect"]
ConnectionState = Literal["Approved", "Pending", "Rejected", "Disconnected"]
RuleState = Literal["Enabled", "Disabled"]


class Model(BaseModel):
    # defer_build: a model's validator is built when it first validates, not when this module is imported
    # (``dnsemu serve`` restarting from the index cache validates none before its first answer: issue 18)
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, strict=True, defer_build=True)


def parse_target(text: str) -> tuple[str, int]:
    """``"10.0.0.4"``, ``"10.0.0.4:53"``, ``"[fd00::4]:5353"`` or ``"fd00::4"`` → (address, port 53 by default)."""
    return parse_hostport(text, default_port=53)


def _target_list(values: list[str]) -> list[str]:
    for value in values:
        parse_target(value)
    return values


Targets = Annotated[list[str], Field(min_length=1, max_length=6)]


class Subnet(Model):
    address_prefix: IPNetwork
    service_endpoints: list[str] = Field(
        default_factory=list,
        description="Service endpoint providers such as Microsoft.Storage: DNS stays public.",
    )


class VirtualNetwork(Model):
    address_space: Annotated[list[IPNetwork], Field(min_length=1)]
    region: str | None = None
    subnets: dict[str, Subnet] = Field(default_factory=dict)
    dns_servers: list[IPAddress] = Field(
        default_factory=list,
        description="Custom DNS servers; empty means Azure-provided DNS (168.63.129.16).",
    )
    peerings: list[str] = Field(default_factory=list)
    internal_domain_name_suffix: str | None = None


class _Forwarding(Model):
    """A DNS server that forwards by domain: the longest matching suffix wins, its first target is used."""

    conditional_forwarders: dict[str, Targets] = Field(default_factory=dict)

    @field_validator("conditional_forwarders")
    @classmethod
    def _targets(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for targets in value.values():
            _target_list(targets)
        return value


class RecordSet(Model):
    name: str
    type: str
    ttl: Ttl = 3600
    values: Annotated[list[str], Field(min_length=1, max_length=20)]

    @field_validator("values")
    @classmethod
    def _one_cname(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # Azure's CNAME record set has a single cnameRecord; two CNAMEs for a name are two answers where
        # a resolver expects one alias.
        if str(info.data.get("type", "")).upper() == "CNAME" and len(value) > 1:
            raise PydanticCustomError(
                "cname_values",
                "a CNAME record set holds one value, not {count} (RFC 2181 §10.1: a name has one canonical name)",
                {"count": len(value)},
            )
        return value


def _record_kind(value: object) -> str:
    return "RecordSet" if isinstance(value, (dict, RecordSet)) else "str"


#: A record: a master-file line relative to the zone, or a record set. A mapping is only ever a record
#: set, anything else only ever a line, so an error speaks of the one the user meant.
RecordEntry = Annotated[
    Annotated[str, Tag("str")] | Annotated[RecordSet, Tag("RecordSet")], Discriminator(_record_kind)
]


class HostedZone(Model):
    """A zone a DNS server holds itself (an AD-integrated zone on a domain controller, a BIND primary)."""

    records: list[RecordEntry] = Field(
        default_factory=list, description="Master-file lines relative to the zone, or record sets."
    )
    zone_file: str | None = Field(None, description="A master file inside the topology file's folder tree.")
    zone_text: str | None = Field(None, description="Master-file text, inline.")


class OnPremises(_Forwarding):
    address_space: Annotated[list[IPNetwork], Field(min_length=1)]
    dns_servers: list[IPAddress] = Field(
        default_factory=list,
        description="Addresses of the site's DNS servers (targets that forwarders can name).",
    )
    default_forwarding: Literal["internet"] | Targets = "internet"
    zones: dict[str, HostedZone] = Field(
        default_factory=dict, description="Zones the site's DNS server holds itself (AD-integrated zones)."
    )


class VirtualNetworkLink(Model):
    virtual_network: str
    name: str | None = None
    registration_enabled: bool = False
    resolution_policy: ResolutionPolicy = "Default"


class PrivateDnsZone(Model):
    records: list[RecordEntry] = Field(
        default_factory=list,
        description="Master-file lines relative to the zone ('acct 10 A 10.0.1.4') or record sets.",
    )
    zone_file: str | None = Field(None, description="A master file inside the topology file's folder tree.")
    zone_text: str | None = Field(None, description="Master-file text, inline (what the HTTP API takes).")
    virtual_network_links: list[VirtualNetworkLink] = Field(default_factory=list)


class ServiceDetails(Model):
    """What some services need besides a name to spell their FQDNs."""

    dns_prefix: str | None = Field(default=None, description="SQL Managed Instance DNS zone prefix.")
    partition_id: str | None = Field(default=None, description="Static Web Apps partition id.")
    variant: str | None = Field(
        default=None, description="For Microsoft.Cache/RedisEnterprise: 'Azure Managed Redis' or 'Redis Enterprise'."
    )

    def placeholders(self) -> dict[str, str]:
        out = {}
        if self.dns_prefix:
            out["dnsPrefix"] = self.dns_prefix
        if self.partition_id:
            out["partitionId"] = self.partition_id
        return out


class ResourceRef(ServiceDetails):
    type: str
    name: str
    region: str | None = None


class PrivateEndpoint(Model):
    virtual_network: str
    subnet: str | None = None
    private_ip_addresses: Annotated[list[IPAddress], Field(min_length=1)]
    resource: ResourceRef | None = None
    private_link_service_alias: str | None = None
    group_id: str | None = None
    connection_state: ConnectionState = "Approved"
    private_dns_zone_group: Annotated[list[str], Field(max_length=5)] = Field(default_factory=list)


class VirtualMachine(Model):
    virtual_network: str
    private_ip_address: IPAddress
    subnet: str | None = None
    ip_allocation: Literal["Dynamic", "Static"] = "Dynamic"


class InboundEndpoint(Model):
    private_ip_address: IPAddress
    subnet: str | None = None


class DnsPrivateResolver(Model):
    virtual_network: str
    inbound_endpoints: Annotated[dict[str, InboundEndpoint], Field(max_length=5)] = Field(default_factory=dict)
    outbound_endpoints: Annotated[list[str], Field(max_length=5)] = Field(default_factory=list)


class ForwardingRule(Model):
    domain_name: str
    target_dns_servers: Targets
    state: RuleState = "Enabled"

    @field_validator("target_dns_servers")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        return _target_list(value)


class DnsForwardingRuleset(Model):
    dns_resolver_outbound_endpoints: Annotated[list[str], Field(min_length=1, max_length=2)]
    virtual_network_links: list[str] = Field(default_factory=list)
    forwarding_rules: Annotated[dict[str, ForwardingRule], Field(max_length=1000)] = Field(default_factory=dict)


class CustomDnsServer(_Forwarding):
    """A DNS server the estate runs itself (a VM with BIND or Windows DNS), modelled by what it forwards."""

    virtual_network: str
    private_ip_address: IPAddress
    default_forwarding: Literal["azure", "internet"] | Targets = "azure"
    zones: dict[str, HostedZone] = Field(
        default_factory=dict, description="Zones the server holds itself (an AD-integrated zone on a DC)."
    )


class ExternalDnsServer(Model):
    """A DNS server outside the model; queries that reach it are forwarded over the wire."""

    address: str

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_target(value)
        return value


class Resource(ServiceDetails):
    """A PaaS resource the estate talks to without (or besides) its own private endpoints."""

    type: str
    name: str | None = Field(default=None, description="The resource name; defaults to the key.")
    region: str | None = None
    private_endpoint_groups: list[str] = Field(
        default_factory=list,
        description="Group ids for which someone else (another tenant) holds an Approved private endpoint.",
    )


class PublicZone(Model):
    records: list[RecordEntry] = Field(default_factory=list)
    zone_file: str | None = Field(None, description="A master file inside the topology file's folder tree.")
    zone_text: str | None = Field(None, description="Master-file text, inline.")


class PublicDns(Model):
    zones: dict[str, PublicZone] = Field(default_factory=dict)
    address_pool: IPNetwork = ipaddress.IPv4Network("203.0.113.0/24")
    ttl: Annotated[int, Field(ge=0, le=86400)] = 60
    unknown_service_names: Literal["forward", "nxdomain"] = "forward"


# -- Azure Firewall DNS proxy and Virtual WAN (facts §12) ----------------------------------------------

#: Azure Firewall takes up to 15 custom DNS servers (facts §12.1).
MAX_FIREWALL_DNS_SERVERS = 15


class VirtualHub(Model):
    """A Virtual WAN hub: a VNet Microsoft manages, so it never has zone links or resources of yours."""

    address_prefix: IPNetwork
    region: str | None = None
    virtual_network_connections: list[str] = Field(
        default_factory=list, description="VNets connected to the hub; informational, like peerings."
    )


class FirewallDnsSettings(Model):
    """``dnsSettings`` of the firewall (policy): the DNS proxy and the servers the firewall asks."""

    enable_proxy: bool = Field(False, description="Listen on port 53 of the private IP and forward (off by default).")
    servers: Annotated[list[str], Field(max_length=MAX_FIREWALL_DNS_SERVERS)] = Field(
        default_factory=list,
        description="Custom DNS servers (IP or IP:port); empty means Azure DNS from the firewall's network.",
    )
    emulate_cache: bool = Field(
        False, description="Cache answers as the proxy does: up to 1 hour, negative answers up to 30 minutes."
    )

    @field_validator("servers")
    @classmethod
    def _servers(cls, value: list[str]) -> list[str]:
        return _target_list(value)


class AzureFirewall(Model):
    """An Azure Firewall in a VNet (its ``AzureFirewallSubnet``) or in a secured Virtual WAN hub."""

    virtual_network: str | None = None
    virtual_hub: str | None = None
    private_ip_address: IPAddress
    dns_settings: FirewallDnsSettings = Field(default_factory=FirewallDnsSettings)


# -- AKS private clusters (facts §14.1) ------------------------------------------------------------------


class ManagedCluster(Model):
    """An AKS private cluster (``Microsoft.ContainerService/managedClusters``): its API server's names."""

    virtual_network: str
    private_ip_address: IPAddress = Field(description="The API server's private endpoint in the cluster VNet.")
    region: str | None = None
    dns_prefix: str | None = Field(None, description="dnsPrefix; defaults to the cluster name.")
    fqdn_subdomain: str | None = Field(None, description="fqdnSubdomain: replaces dns_prefix with a custom zone.")
    private_dns_zone: str = Field(
        "system", description="'system', 'none', or a privatelink.<region>.azmk8s.io zone of private_dns_zones."
    )
    enable_private_cluster_public_fqdn: bool = True
    private_fqdn: str | None = Field(None, description="privateFQDN as ARM reports it; derived when absent.")
    fqdn: str | None = Field(None, description="The public FQDN as ARM reports it; derived when absent.")


class CheckSettings(Model):
    accept: list[str] = Field(
        default_factory=list,
        description="Finding codes (or code:subject) that this estate has on purpose; `check` stays quiet on them.",
    )


# -- DNS security policy (DNS resolver policy) and Azure-provided DNS limits (facts-2 §10, §13) ------------------
#
# Azure's resource names, in the topology's snake_case: Microsoft.Network/dnsResolverPolicies with their
# dnsSecurityRules and virtualNetworkLinks, and the top-level Microsoft.Network/dnsResolverDomainLists.

SecurityAction = Literal["Allow", "Alert", "Block"]


class DnsSecurityRuleAction(Model):
    """``action`` of a security rule: ``actionType``, and the preview API's ``blockResponseCode``."""

    action_type: SecurityAction
    block_response_code: Literal["SERVFAIL"] | None = Field(
        default=None,
        description="2023-07-01-preview only: a Block answers SERVFAIL instead of GA's CNAME to "
        "blockpolicy.azuredns.invalid.",
    )


def _action(value: object) -> object:
    """``action: Block`` is short for ``action: {action_type: Block}``."""
    return {"action_type": value} if isinstance(value, str) else value


class DnsSecurityRule(Model):
    priority: Annotated[int, Field(ge=100, le=65000)]
    action: Annotated[DnsSecurityRuleAction, BeforeValidator(_action)]
    dns_resolver_domain_lists: Annotated[list[str], Field(min_length=1)]
    dns_security_rule_state: RuleState = "Enabled"
    disable_cname_chain_validation: bool = Field(
        default=False, description="2026-07-01-preview: match the queried name only, not the rest of the chain."
    )


class DnsResolverPolicyLink(Model):
    virtual_network: str
    name: str | None = None


def _policy_link(value: object) -> object:
    """A link is written as the VNet's name, or as ``{virtual_network, name}``."""
    return {"virtual_network": value} if isinstance(value, str) else value


class DnsResolverPolicy(Model):
    region: str | None = None
    dns_security_rules: dict[str, DnsSecurityRule] = Field(default_factory=dict)
    virtual_network_links: list[Annotated[DnsResolverPolicyLink, BeforeValidator(_policy_link)]] = Field(
        default_factory=list
    )


class DnsResolverDomainList(Model):
    region: str | None = None
    domains: list[str] = Field(default_factory=list)


class AzureProvidedDns(Model):
    """What 168.63.129.16 does besides resolving: its per-VM limits (facts-2 §13), emulated on request."""

    query_limits: bool = Field(
        default=False, description="Drop queries over the per-VM limits, as Azure does (off by default)."
    )
    queries_per_second: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    pending_queries: Annotated[int, Field(ge=1, le=1_000_000)] = 200

# -- end of the DNS security policy block ---------------------------------------------------------------------------


class Topology(Model):
    cloud: Cloud = "AzureCloud"
    region: str = "eastus"
    virtual_networks: dict[str, VirtualNetwork] = Field(default_factory=dict)
    on_premises: dict[str, OnPremises] = Field(default_factory=dict)
    private_dns_zones: dict[str, PrivateDnsZone] = Field(default_factory=dict)
    private_endpoints: dict[str, PrivateEndpoint] = Field(default_factory=dict)
    virtual_machines: dict[str, VirtualMachine] = Field(default_factory=dict)
    dns_private_resolvers: dict[str, DnsPrivateResolver] = Field(default_factory=dict)
    dns_forwarding_rulesets: dict[str, DnsForwardingRuleset] = Field(default_factory=dict)
    custom_dns_servers: dict[str, CustomDnsServer] = Field(default_factory=dict)
    external_dns_servers: dict[str, ExternalDnsServer] = Field(default_factory=dict)
    resources: dict[str, Resource] = Field(default_factory=dict)
    virtual_hubs: dict[str, VirtualHub] = Field(default_factory=dict)
    azure_firewalls: dict[str, AzureFirewall] = Field(default_factory=dict)
    managed_clusters: dict[str, ManagedCluster] = Field(default_factory=dict)
    public_dns: PublicDns = Field(default_factory=PublicDns)
    dns_resolver_policies: dict[str, DnsResolverPolicy] = Field(default_factory=dict)
    dns_resolver_domain_lists: dict[str, DnsResolverDomainList] = Field(default_factory=dict)
    azure_provided_dns: AzureProvidedDns = Field(default_factory=AzureProvidedDns)
    check: CheckSettings = Field(default_factory=CheckSettings)
