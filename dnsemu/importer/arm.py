"""ARM-shaped resources → facts: ARM REST and ``az resource show`` JSON (nested ``properties``),
Resource Graph ``resources`` rows (the same shape, lower-case type), and az CLI output
(``properties`` flattened to the top level). Field paths per type: facts §15.4 and §15.5.

One extractor per resource type reads the fields the emulator needs through
:func:`~dnsemu.importer.common.get`, which accepts every one of those spellings. The
data keys a type has and no extractor reads are collected (``unread``) for the summary,
unless listed here as known to be irrelevant to DNS (provisioning state, GUIDs, …).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dnsemu.importer import facts as F
from dnsemu.importer.common import (
    ENVELOPE,
    Finding,
    Origin,
    get,
    get_bool,
    get_list,
    get_str,
    id_key,
    id_name,
    id_parent,
    id_type,
    ip_text,
    is_arm_id,
    lower_keys,
    network_text,
    valid_values,
)

#: Every type's data keys that carry nothing for DNS (lower case), beside those the extractor reads.
_COMMON_IGNORED = {"provisioningstate", "resourceguid", "etag", "name", "type", "id"}


@dataclass
class Context:
    """Collects what extraction notices: findings, and the data keys nobody read (type → key → IDs)."""

    findings: list[Finding] = field(default_factory=list)
    unread: dict[str, dict[str, list[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    #: resource ID key → what stands for it when Azure has given it no ID yet (a Terraform plan's address)
    planned: dict[str, str] = field(default_factory=dict)

    def finding(self, code: str, subject: str, message: str) -> None:
        self.findings.append(Finding(code, subject, message))

    def bad(self, origin: Origin, rid: str, where: str, message: str) -> None:
        self.findings.append(Finding("bad-value", rid, f"{origin.at(where)}: {message}"))


def _fact(kind: type[F.Fact], obj: Any, origin: Origin, rid: str, **fields: Any) -> F.Fact:
    """The fact of type ``kind`` about resource ``rid``, named as the resource (unless ``fields`` say)."""
    if "name" not in fields and F.has_name(kind):
        fields["name"] = get_str(obj, "name") or id_name(rid)
    return kind(rid, origin, **fields)


def _ids(obj: Any, path: str) -> tuple[str, ...]:
    out = []
    for item in get_list(obj, path):
        text = item if isinstance(item, str) else get_str(item, "id")
        if text:
            out.append(text)
    return tuple(out)


def _ips(ctx: Context, origin: Origin, rid: str, values: list[Any], where: str) -> tuple[str, ...]:
    return valid_values(values, ip_text, "an IP address", lambda i, m: ctx.bad(origin, rid, f"{where}[{i}]", m))


def _prefixes(ctx: Context, origin: Origin, rid: str, values: list[Any], where: str) -> tuple[str, ...]:
    return valid_values(values, network_text, "a CIDR prefix", lambda i, m: ctx.bad(origin, rid, f"{where}[{i}]", m))


def _subnet_info(ctx: Context, origin: Origin, rid: str, obj: Any, where: str) -> F.SubnetInfo | None:
    name = get_str(obj, "name") or (id_name(get_str(obj, "id") or "") or None)
    if not name:
        ctx.bad(origin, rid, where, "a subnet without a name; left out")
        return None
    raw = get_list(obj, "addressPrefixes") or get_list(obj, "addressPrefix")
    prefixes = _prefixes(ctx, origin, rid, raw, f"{where}.addressPrefix(es)")
    endpoints = []
    for item in get_list(obj, "serviceEndpoints"):
        service = item if isinstance(item, str) else get_str(item, "service")
        if service:
            endpoints.append(service)
    return F.SubnetInfo(name, prefixes, tuple(endpoints))


# -- extractors, one per type -----------------------------------------------------------------------


def _vnet(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    subnets = []
    for i, item in enumerate(get_list(obj, "subnets")):
        info = _subnet_info(ctx, origin, rid, item, f"subnets[{i}]")
        if info is not None:
            subnets.append(info)
    peerings = []
    for i, item in enumerate(get_list(obj, "virtualNetworkPeerings")):
        remote = get_str(item, "remoteVirtualNetwork.id")
        if remote is None:
            ctx.bad(origin, rid, f"virtualNetworkPeerings[{i}]", "a peering without remoteVirtualNetwork.id; left out")
            continue
        peerings.append((remote, get_str(item, "peeringState") or ""))
    has_space = get(obj, "addressSpace") is not None
    return F.VNet(
        rid,
        origin,
        name=get_str(obj, "name") or id_name(rid),
        location=get_str(obj, "location"),
        address_space=_prefixes(ctx, origin, rid, get_list(obj, "addressSpace.addressPrefixes"), "addressSpace")
        if has_space
        else None,
        subnets=tuple(subnets) if get(obj, "subnets") is not None else None,
        dns_servers=_ips(ctx, origin, rid, get_list(obj, "dhcpOptions.dnsServers"), "dhcpOptions.dnsServers")
        if get(obj, "dhcpOptions") is not None
        else None,
        peerings=tuple(peerings) if get(obj, "virtualNetworkPeerings") is not None else None,
    )


def _subnet(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    return F.Subnet(rid, origin, vnet_id=id_parent(rid), info=_subnet_info(ctx, origin, rid, obj, ""))


def _peering(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    remote = get_str(obj, "remoteVirtualNetwork.id")
    if remote is None:
        ctx.bad(origin, rid, "remoteVirtualNetwork.id", "missing")
    return F.Peering(rid, origin, vnet_id=id_parent(rid), remote_id=remote, state=get_str(obj, "peeringState"))


def _ip_config(ctx: Context, origin: Origin, rid: str, obj: Any, where: str) -> F.IpConfig:
    raw = get(obj, "privateIPAddress")
    address = ip_text(raw) if raw is not None else None
    if raw is not None and address is None:
        ctx.bad(origin, rid, f"{where}.privateIPAddress", f"{raw!r} is not an IP address")
    return F.IpConfig(
        address,
        subnet_id=get_str(obj, "subnet.id"),
        allocation=get_str(obj, "privateIPAllocationMethod"),
        primary=get_bool(obj, "primary"),
        group_id=get_str(obj, "privateLinkConnectionProperties.groupId") or get_str(obj, "groupId"),
        member=get_str(obj, "privateLinkConnectionProperties.requiredMemberName") or get_str(obj, "memberName"),
        fqdns=tuple(str(f) for f in get_list(obj, "privateLinkConnectionProperties.fqdns") if isinstance(f, str)),
    )


def _nic(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    configs = tuple(
        _ip_config(ctx, origin, rid, item, f"ipConfigurations[{i}]")
        for i, item in enumerate(get_list(obj, "ipConfigurations"))
    )
    return F.Nic(
        rid,
        origin,
        name=get_str(obj, "name") or id_name(rid),
        vm_id=get_str(obj, "virtualMachine.id"),
        pe_id=get_str(obj, "privateEndpoint.id"),
        primary=get_bool(obj, "primary"),
        ip_configs=configs if get(obj, "ipConfigurations") is not None else None,
        dns_servers=_ips(ctx, origin, rid, get_list(obj, "dnsSettings.dnsServers"), "dnsSettings.dnsServers")
        if get(obj, "dnsSettings") is not None
        else None,
        internal_suffix=get_str(obj, "dnsSettings.internalDomainNameSuffix"),
    )


def _vm(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    nics = []
    for item in get_list(obj, "networkProfile.networkInterfaces"):
        nid = get_str(item, "id")
        if nid:
            nics.append((nid, bool(get_bool(item, "primary"))))
    return _fact(F.VirtualMachine, obj, origin, rid,
        nics=tuple(nics) if get(obj, "networkProfile") is not None else None,
    )


def _zone(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    return F.Zone(rid, origin, name=(get_str(obj, "name") or id_name(rid)).lower().rstrip("."))


def _zone_link(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    vnet = get_str(obj, "virtualNetwork.id")
    if vnet is None:
        ctx.bad(origin, rid, "virtualNetwork.id", "missing: the link names no virtual network")
    return _fact(F.ZoneLink, obj, origin, rid,
        zone_id=id_parent(rid),
        vnet_id=vnet,
        registration=get_bool(obj, "registrationEnabled"),
        policy=get_str(obj, "resolutionPolicy"),
    )


def _absolute(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _quote_txt(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def record_values(ctx: Context, obj: Any, origin: Origin, rid: str, rtype: str) -> tuple[str, ...]:
    """Presentation-form values of a record set: ARM's per-type arrays, or Resource Graph's ``records[]``."""
    generic = get_list(obj, "records")
    arm_field = {
        "A": "aRecords",
        "AAAA": "aaaaRecords",
        "MX": "mxRecords",
        "PTR": "ptrRecords",
        "SRV": "srvRecords",
        "TXT": "txtRecords",
    }.get(rtype)
    items: list[Any] = get_list(obj, arm_field) if arm_field else []
    if rtype == "CNAME":
        cname = get(obj, "cnameRecord")
        items = [cname] if cname is not None else []
    if not items:
        items = generic
    out: list[str] = []
    for i, item in enumerate(items):
        where = f"{arm_field or 'records'}[{i}]" if items is not generic else f"records[{i}]"
        value: str | None = None
        if rtype == "A":
            value = ip_text(get(item, "ipv4Address"))
        elif rtype == "AAAA":
            value = ip_text(get(item, "ipv6Address"))
        elif rtype == "CNAME":
            target = get_str(item, "cname")
            value = _absolute(target) if target else None
        elif rtype == "PTR":
            target = get_str(item, "ptrdname")
            value = _absolute(target) if target else None
        elif rtype == "MX":
            pref, exchange = get(item, "preference"), get_str(item, "exchange")
            if isinstance(pref, int) and exchange:
                value = f"{pref} {_absolute(exchange)}"
        elif rtype == "SRV":
            nums = [get(item, k) for k in ("priority", "weight", "port")]
            target = get_str(item, "target")
            if all(isinstance(n, int) for n in nums) and target:
                value = f"{nums[0]} {nums[1]} {nums[2]} {_absolute(target)}"
        elif rtype == "TXT":
            strings = get_list(item, "value")
            if strings and all(isinstance(s, str) for s in strings):
                value = " ".join(_quote_txt(s) for s in strings)
        elif rtype == "SOA":
            return ()
        if value is None:
            ctx.bad(origin, rid, where, f"cannot read a {rtype} record from {item!r}; left out")
        else:
            out.append(value)
    return tuple(out)


def _record_set(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    rtype = (id_type(rid) or "").rsplit("/", 1)[-1].upper()
    ttl = get(obj, "ttl")
    if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0):
        ctx.bad(origin, rid, "ttl", f"{ttl!r} is not a TTL; 3600 used")
        ttl = None
    auto = get_bool(obj, "isAutoRegistered")
    if auto is None and get(obj, "virtualNetworkId") is not None:
        auto = True  # Resource Graph marks autoregistered records with the VNet they came from (§15.2)
    return _fact(F.RecordSet, obj, origin, rid,
        zone_id=id_parent(rid),
        name=id_name(rid),
        rtype=rtype,
        ttl=ttl,
        values=record_values(ctx, obj, origin, rid, rtype),
        auto_registered=auto,
    )


def connection_of(obj: Any) -> F.Connection | None:
    for path, manual in (("privateLinkServiceConnections", False), ("manualPrivateLinkServiceConnections", True)):
        for item in get_list(obj, path):
            return F.Connection(
                target=get_str(item, "privateLinkServiceId"),
                group_ids=tuple(str(g) for g in get_list(item, "groupIds") if isinstance(g, str)),
                status=get_str(item, "privateLinkServiceConnectionState.status"),
                manual=manual,
            )
    return None


def _pe(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    custom = []
    for i, item in enumerate(get_list(obj, "customDnsConfigs")):
        fqdn = get_str(item, "fqdn")
        if fqdn:
            custom.append((fqdn, _ips(ctx, origin, rid, get_list(item, "ipAddresses"), f"customDnsConfigs[{i}]")))
    configs = tuple(
        _ip_config(ctx, origin, rid, item, f"ipConfigurations[{i}]")
        for i, item in enumerate(get_list(obj, "ipConfigurations"))
    )
    has_connection = get(obj, "privateLinkServiceConnections") is not None or (
        get(obj, "manualPrivateLinkServiceConnections") is not None
    )
    return _fact(F.PrivateEndpoint, obj, origin, rid,
        location=get_str(obj, "location"),
        subnet_id=get_str(obj, "subnet.id"),
        nic_ids=_ids(obj, "networkInterfaces") if get(obj, "networkInterfaces") is not None else None,
        connection=connection_of(obj) if has_connection else None,
        custom_dns=tuple(custom) if get(obj, "customDnsConfigs") is not None else None,
        ip_configs=configs if get(obj, "ipConfigurations") is not None else None,
    )


def zone_configs(ctx: Context, obj: Any, origin: Origin, rid: str) -> tuple[F.ZoneConfig, ...]:
    out = []
    for i, item in enumerate(get_list(obj, "privateDnsZoneConfigs")):
        zone_id = get_str(item, "privateDnsZoneId")
        if zone_id is None:
            ctx.bad(
                origin, rid, f"privateDnsZoneConfigs[{i}].privateDnsZoneId", "missing; this zone config is left out"
            )
            continue
        sets = []
        for j, rs in enumerate(get_list(item, "recordSets")):
            fqdn = get_str(rs, "fqdn")
            if fqdn:
                where = f"privateDnsZoneConfigs[{i}].recordSets[{j}].ipAddresses"
                sets.append((fqdn, _ips(ctx, origin, rid, get_list(rs, "ipAddresses"), where)))
        out.append(F.ZoneConfig(zone_id, tuple(sets)))
    return tuple(out)


def _zone_group(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    return _fact(F.ZoneGroup, obj, origin, rid, pe_id=id_parent(rid), configs=zone_configs(ctx, obj, origin, rid))


def _resolver(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    return _fact(F.Resolver, obj, origin, rid,
        vnet_id=get_str(obj, "virtualNetwork.id"),
        location=get_str(obj, "location"),
    )


def _inbound(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    configs = []
    for i, item in enumerate(get_list(obj, "ipConfigurations")):
        raw = get(item, "privateIpAddress")
        ip = ip_text(raw)
        if ip is None:
            ctx.bad(origin, rid, f"ipConfigurations[{i}].privateIpAddress", f"{raw!r} is not an IP address")
            continue
        configs.append((ip, get_str(item, "subnet.id")))
    return _fact(F.InboundEndpoint, obj, origin, rid,
        resolver_id=id_parent(rid),
        ip_configs=tuple(configs) if get(obj, "ipConfigurations") is not None else None,
    )


def _outbound(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    return _fact(F.OutboundEndpoint, obj, origin, rid, resolver_id=id_parent(rid), subnet_id=get_str(obj, "subnet.id"))


def _ruleset(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    return _fact(F.Ruleset, obj, origin, rid,
        outbound_ids=_ids(obj, "dnsResolverOutboundEndpoints") if get(obj, "dnsResolverOutboundEndpoints") else None,
        location=get_str(obj, "location"),
    )


def _rule(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    targets = []
    for i, item in enumerate(get_list(obj, "targetDnsServers")):
        ip = ip_text(get(item, "ipAddress"))
        port = get(item, "port")
        port = 53 if port is None else port
        if ip is None or not isinstance(port, int) or not 0 < port < 65536:
            ctx.bad(origin, rid, f"targetDnsServers[{i}]", f"{item!r} is not an address and port; left out")
            continue
        targets.append((ip, port))
    state = get_str(obj, "forwardingRuleState")
    return _fact(F.Rule, obj, origin, rid,
        ruleset_id=id_parent(rid),
        domain=get_str(obj, "domainName"),
        targets=tuple(targets) if get(obj, "targetDnsServers") is not None else None,
        enabled=None if state is None else state.lower() == "enabled",
    )


def _ruleset_link(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    return _fact(F.RulesetLink, obj, origin, rid, ruleset_id=id_parent(rid), vnet_id=get_str(obj, "virtualNetwork.id"))


def _lng(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    raw = get_list(obj, "localNetworkAddressSpace.addressPrefixes")
    return _fact(F.LocalNetworkGateway, obj, origin, rid,
        prefixes=_prefixes(ctx, origin, rid, raw, "localNetworkAddressSpace.addressPrefixes"),
    )


def _pls(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    return F.PrivateLinkService(rid, origin, name=get_str(obj, "name") or id_name(rid), alias=get_str(obj, "alias"))


def _servers(ctx: Context, origin: Origin, rid: str, values: list[Any], where: str) -> tuple[str, ...]:
    """DNS server addresses, given as a list or as one comma-separated string (classic firewall rules)."""
    items: list[Any] = []
    for value in values:
        if isinstance(value, str):
            items.extend(part.strip() for part in value.split(",") if part.strip())
        else:
            items.append(value)
    return _ips(ctx, origin, rid, items, where)


def _firewall(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    subnet_id: str | None = None
    address: str | None = None
    for i, item in enumerate(get_list(obj, "ipConfigurations")):
        raw = get(item, "privateIPAddress")
        ip = ip_text(raw) if raw is not None else None
        if raw is not None and ip is None:
            ctx.bad(origin, rid, f"ipConfigurations[{i}].privateIPAddress", f"{raw!r} is not an IP address")
        if address is None and ip is not None:
            address, subnet_id = ip, get_str(item, "subnet.id")
    hub_raw = get(obj, "hubIPAddresses.privateIPAddress")
    if address is None and hub_raw is not None:
        address = ip_text(hub_raw)
        if address is None:
            ctx.bad(origin, rid, "hubIPAddresses.privateIPAddress", f"{hub_raw!r} is not an IP address")
    # classic rules keep the DNS settings in additionalProperties, under dotted keys (facts §12.3)
    extra = get(obj, "additionalProperties")
    extra = extra if isinstance(extra, dict) else {}
    proxy_text = extra.get("network.dns.enableproxy")
    servers_text = extra.get("network.dns.servers")
    return F.Firewall(
        rid,
        origin,
        name=get_str(obj, "name") or id_name(rid),
        location=get_str(obj, "location"),
        subnet_id=subnet_id,
        hub_id=get_str(obj, "virtualHub.id"),
        private_ip=address,
        policy_id=get_str(obj, "firewallPolicy.id"),
        classic_proxy=None if proxy_text is None else str(proxy_text).strip().lower() == "true",
        classic_servers=_servers(ctx, origin, rid, [servers_text], "additionalProperties.Network.DNS.Servers")
        if isinstance(servers_text, str)
        else None,
    )


def _firewall_policy(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    dns = get(obj, "dnsSettings")
    has_dns = isinstance(dns, dict)
    return _fact(F.FirewallPolicy, obj, origin, rid,
        base_id=get_str(obj, "basePolicy.id"),
        has_dns=has_dns,
        enable_proxy=get_bool(dns, "enableProxy") if has_dns else None,
        servers=_servers(ctx, origin, rid, get_list(dns, "servers"), "dnsSettings.servers") if has_dns else None,
    )


def _hub(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    raw = get(obj, "addressPrefix")
    prefix = network_text(raw)
    if raw is not None and prefix is None:
        ctx.bad(origin, rid, "addressPrefix", f"{raw!r} is not a CIDR prefix")
    inline = [get_str(c, "remoteVirtualNetwork.id") for c in get_list(obj, "virtualNetworkConnections")]
    return _fact(F.VirtualHub, obj, origin, rid,
        location=get_str(obj, "location"),
        address_prefix=prefix,
        connections=tuple(c for c in inline if c) if get(obj, "virtualNetworkConnections") is not None else None,
    )


def _hub_connection(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    vnet = get_str(obj, "remoteVirtualNetwork.id")
    if vnet is None:
        ctx.bad(origin, rid, "remoteVirtualNetwork.id", "missing: the connection names no virtual network")
    return F.HubConnection(rid, origin, hub_id=id_parent(rid), vnet_id=vnet)


def _cluster(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    subnets = []
    for item in get_list(obj, "agentPoolProfiles"):
        sid = get_str(item, "vnetSubnetID")
        if sid and sid not in subnets:
            subnets.append(sid)
    return _fact(F.ManagedCluster, obj, origin, rid,
        location=get_str(obj, "location"),
        private=get_bool(obj, "apiServerAccessProfile.enablePrivateCluster"),
        private_dns_zone=get_str(obj, "apiServerAccessProfile.privateDNSZone"),
        public_fqdn_enabled=get_bool(obj, "apiServerAccessProfile.enablePrivateClusterPublicFQDN"),
        vnet_integration=get_bool(obj, "apiServerAccessProfile.enableVnetIntegration"),
        dns_prefix=get_str(obj, "dnsPrefix"),
        fqdn_subdomain=get_str(obj, "fqdnSubdomain"),
        private_fqdn=get_str(obj, "privateFQDN"),
        fqdn=get_str(obj, "fqdn"),
        subnet_ids=tuple(subnets) if get(obj, "agentPoolProfiles") is not None else None,
    )


def _policy(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    return F.SecurityPolicy(rid, origin, name=get_str(obj, "name") or id_name(rid), location=get_str(obj, "location"))


def _security_rule(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    priority = get(obj, "priority")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
        ctx.bad(origin, rid, "priority", f"{priority!r} is not a priority")
        priority = None
    state = get_str(obj, "dnsSecurityRuleState")
    action = get(obj, "action")
    return _fact(F.SecurityRule, obj, origin, rid,
        policy_id=id_parent(rid),
        priority=priority,
        action=get_str(action, "actionType") if isinstance(action, dict) else get_str(obj, "action"),
        block_response_code=get_str(action, "blockResponseCode") if isinstance(action, dict) else None,
        list_ids=_ids(obj, "dnsResolverDomainLists") if get(obj, "dnsResolverDomainLists") is not None else None,
        managed_lists=tuple(str(x) for x in get_list(obj, "managedDomainLists") if isinstance(x, str)),
        enabled=None if state is None else state.lower() == "enabled",
        no_chain=get_bool(obj, "disableCnameChainValidation"),
    )


def _policy_link(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    vnet = get_str(obj, "virtualNetwork.id")
    if vnet is None:
        ctx.bad(origin, rid, "virtualNetwork.id", "missing: the link names no virtual network")
    return F.PolicyLink(rid, origin, policy_id=id_parent(rid), name=get_str(obj, "name") or id_name(rid), vnet_id=vnet)


def _domain_list(ctx: Context, obj: Any, origin: Origin, rid: str) -> F.Fact:
    domains = []
    for i, value in enumerate(get_list(obj, "domains")):
        if isinstance(value, str) and value.strip():
            domains.append(value.strip())
        else:
            ctx.bad(origin, rid, f"domains[{i}]", f"{value!r} is not a domain name; left out")
    return _fact(F.DomainList, obj, origin, rid,
        location=get_str(obj, "location"),
        domains=tuple(domains) if get(obj, "domains") is not None else None,
        domains_url=get_str(obj, "domainsUrl"),
    )


Extractor = Callable[[Context, Any, Origin, str], F.Fact]

_RECORD_TYPES = ("a", "aaaa", "cname", "mx", "ptr", "srv", "txt", "soa")

#: type → (extractor, data keys known to be irrelevant besides those it reads)
EXTRACTORS: dict[str, tuple[Extractor, frozenset[str]]] = {
    "microsoft.network/virtualnetworks": (
        _vnet,
        frozenset(
            {
                "addressspace",
                "dhcpoptions",
                "subnets",
                "virtualnetworkpeerings",
                "enableddosprotection",
                "enablevmprotection",
                "ddosprotectionplan",
                "bgpcommunities",
                "encryption",
                "flowtimeoutinminutes",
                "ipallocations",
                "privateendpointvnetpolicies",
                "flowlogs",
                "defaultpublicnatgateway",
            }
        ),
    ),
    "microsoft.network/virtualnetworks/subnets": (
        _subnet,
        frozenset(
            {
                "addressprefix",
                "addressprefixes",
                "serviceendpoints",
                "delegations",
                "networksecuritygroup",
                "routetable",
                "natgateway",
                "privateendpointnetworkpolicies",
                "privatelinkservicenetworkpolicies",
                "ipconfigurations",
                "privateendpoints",
                "serviceendpointpolicies",
                "purpose",
                "defaultoutboundaccess",
                "sharingscope",
                "resourcenavigationlinks",
                "serviceassociationlinks",
                "ipconfigurationprofiles",
                "applicationgatewayipconfigurations",
                "ipallocations",
                "ipamPoolPrefixAllocations".lower(),
            }
        ),
    ),
    "microsoft.network/virtualnetworks/virtualnetworkpeerings": (
        _peering,
        frozenset(
            {
                "remotevirtualnetwork",
                "peeringstate",
                "peeringsyncLevel".lower(),
                "allowvirtualnetworkaccess",
                "allowforwardedtraffic",
                "allowgatewaytransit",
                "useremotegateways",
                "remoteaddressspace",
                "remotevirtualnetworkaddressspace",
                "remotebgpcommunities",
                "doNotVerifyRemoteGateways".lower(),
                "peercompletevnets",
                "localsubnetnames",
                "remotesubnetnames",
                "enableonlyipv6peering",
                "localaddressspace",
                "localvirtualnetworkaddressspace",
                "remotevirtualnetworkencryption",
            }
        ),
    ),
    "microsoft.network/networkinterfaces": (
        _nic,
        frozenset(
            {
                "ipconfigurations",
                "dnssettings",
                "virtualmachine",
                "privateendpoint",
                "primary",
                "macaddress",
                "enableacceleratednetworking",
                "enableipforwarding",
                "networksecuritygroup",
                "hostedworkloads",
                "tapconfigurations",
                "nicType".lower(),
                "vnetencryptionsupported",
                "disabletcpstatetracking",
                "auxiliarymode",
                "auxiliarysku",
                "allowport25out",
                "defaultoutboundconnectivityenabled",
                "privatelinkservice",
                "migrationphase",
                "workloadtype",
                "dscpconfiguration",
            }
        ),
    ),
    "microsoft.compute/virtualmachines": (
        _vm,
        frozenset(
            {
                "networkprofile",
                "hardwareprofile",
                "storageprofile",
                "osprofile",
                "diagnosticsprofile",
                "vmid",
                "timecreated",
                "securityprofile",
                "availabilityset",
                "licensetype",
                "extensionsTimeBudget".lower(),
                "instanceview",
                "priority",
                "evictionpolicy",
                "billingprofile",
                "additionalcapabilities",
                "proximityplacementgroup",
                "virtualmachinescaleset",
                "host",
                "hostgroup",
                "userdata",
                "scheduledeventsprofile",
                "capacityreservation",
                "applicationprofile",
                "platformfaultdomain",
            }
        ),
    ),
    "microsoft.network/privatednszones": (
        _zone,
        frozenset(
            {
                "maxnumberofrecordsets",
                "maxnumberofvirtualnetworklinks",
                "maxnumberofvirtualnetworklinkswithregistration",
                "numberofrecordsets",
                "numberofvirtualnetworklinks",
                "numberofvirtualnetworklinkswithregistration",
                "internalid",
            }
        ),
    ),
    "microsoft.network/privatednszones/virtualnetworklinks": (
        _zone_link,
        frozenset({"virtualnetwork", "registrationenabled", "resolutionpolicy", "virtualnetworklinkstate"}),
    ),
    **{
        f"microsoft.network/privatednszones/{t}": (
            _record_set,
            frozenset(
                {
                    "ttl",
                    "fqdn",
                    "isautoregistered",
                    "metadata",
                    "records",
                    "arecords",
                    "aaaarecords",
                    "cnamerecord",
                    "mxrecords",
                    "ptrrecords",
                    "srvrecords",
                    "txtrecords",
                    "soarecord",
                    "virtualnetworkid",
                    "virtualnetworklinkname",
                    "recordtype",
                }
            ),
        )
        for t in _RECORD_TYPES
    },
    "microsoft.network/privateendpoints": (
        _pe,
        frozenset(
            {
                "subnet",
                "networkinterfaces",
                "privatelinkserviceconnections",
                "manualprivatelinkserviceconnections",
                "customdnsconfigs",
                "ipconfigurations",
                "customnetworkinterfacename",
                "applicationsecuritygroups",
                "ipversiontype",
            }
        ),
    ),
    "microsoft.network/privateendpoints/privatednszonegroups": (_zone_group, frozenset({"privatednszoneconfigs"})),
    "microsoft.network/dnsresolvers": (_resolver, frozenset({"virtualnetwork", "dnsresolverstate"})),
    "microsoft.network/dnsresolvers/inboundendpoints": (_inbound, frozenset({"ipconfigurations"})),
    "microsoft.network/dnsresolvers/outboundendpoints": (_outbound, frozenset({"subnet"})),
    "microsoft.network/dnsforwardingrulesets": (_ruleset, frozenset({"dnsresolveroutboundendpoints"})),
    "microsoft.network/dnsforwardingrulesets/forwardingrules": (
        _rule,
        frozenset({"domainname", "targetdnsservers", "forwardingrulestate", "metadata"}),
    ),
    "microsoft.network/dnsforwardingrulesets/virtualnetworklinks": (
        _ruleset_link,
        frozenset({"virtualnetwork", "metadata"}),
    ),
    "microsoft.network/localnetworkgateways": (
        _lng,
        frozenset({"localnetworkaddressspace", "gatewayipaddress", "bgpsettings", "fqdn"}),
    ),
    "microsoft.network/privatelinkservices": (
        _pls,
        frozenset(
            {
                "alias",
                "ipconfigurations",
                "loadbalancerfrontendipconfigurations",
                "networkinterfaces",
                "privateendpointconnections",
                "visibility",
                "autoapproval",
                "fqdns",
                "enableproxyprotocol",
                "destinationipaddress",
            }
        ),
    ),
    "microsoft.network/azurefirewalls": (
        _firewall,
        frozenset(
            {
                "ipconfigurations",
                "hubipaddresses",
                "virtualhub",
                "firewallpolicy",
                "additionalproperties",
                "sku",
                "threatintelmode",
                "applicationrulecollections",
                "networkrulecollections",
                "natrulecollections",
                "ipgroups",
                "managementipconfiguration",
                "autoscaleconfiguration",
            }
        ),
    ),
    "microsoft.network/firewallpolicies": (
        _firewall_policy,
        frozenset(
            {
                "dnssettings",
                "basepolicy",
                "firewalls",
                "childpolicies",
                "rulecollectiongroups",
                "threatintelmode",
                "threatintelwhitelist",
                "sku",
                "intrusiondetection",
                "transportsecurity",
                "explicitproxy",
                "snat",
                "sql",
                "insights",
                "size",
            }
        ),
    ),
    "microsoft.network/virtualhubs": (
        _hub,
        frozenset(
            {
                "addressprefix",
                "virtualnetworkconnections",
                "virtualwan",
                "azurefirewall",
                "sku",
                "routetable",
                "routingstate",
                "virtualrouterasn",
                "virtualrouterips",
                "virtualrouterautoscaleconfiguration",
                "hubroutingpreference",
                "vpngateway",
                "p2svpngateway",
                "expressroutegateway",
                "securityprovidername",
                "securitypartnerprovider",
                "allowbranchtobranchtraffic",
                "preferredroutinggateway",
                "bgpconnections",
                "ipconfigurations",
                "routemaps",
                "kind",
            }
        ),
    ),
    "microsoft.network/virtualhubs/hubvirtualnetworkconnections": (
        _hub_connection,
        frozenset(
            {
                "remotevirtualnetwork",
                "enableinternetsecurity",
                "routingconfiguration",
                "allowhubtoremotevnettransit",
                "allowremotevnettousehubvnetgateways",
            }
        ),
    ),
    "microsoft.containerservice/managedclusters": (
        _cluster,
        frozenset(
            {
                "apiserveraccessprofile",
                "agentpoolprofiles",
                "dnsprefix",
                "fqdnsubdomain",
                "privatefqdn",
                "fqdn",
                "azureportalfqdn",
                "kubernetesversion",
                "currentkubernetesversion",
                "noderesourcegroup",
                "networkprofile",
                "powerstate",
                "maxagentpools",
                "enablerbac",
                "aadprofile",
                "addonprofiles",
                "identityprofile",
                "linuxprofile",
                "windowsprofile",
                "serviceprincipalprofile",
                "autoscalerprofile",
                "autoupgradeprofile",
                "oidcissuerprofile",
                "securityprofile",
                "storageprofile",
                "workloadautoscalerprofile",
                "disablelocalaccounts",
                "supportplan",
                "nodeprovisioningprofile",
                "azuremonitorprofile",
                "metricsprofile",
                "ingressprofile",
                "servicemeshprofile",
                "upgradesettings",
                "podidentityprofile",
                "privatelinkresources",
                "publicnetworkaccess",
            }
        ),
    ),
    **{
        t: (_policy, frozenset())
        for t in ("microsoft.network/dnsresolverpolicies", "microsoft.network/dnssecuritypolicies")
    },
    "microsoft.network/dnsresolverpolicies/dnssecurityrules": (
        _security_rule,
        frozenset(
            {
                "priority",
                "action",
                "dnsresolverdomainlists",
                "manageddomainlists",
                "dnssecurityrulestate",
                "disablecnamechainvalidation",
            }
        ),
    ),
    **{
        t: (_policy_link, frozenset({"virtualnetwork"}))
        for t in (
            "microsoft.network/dnsresolverpolicies/virtualnetworklinks",
            "microsoft.network/dnssecuritypolicies/virtualnetworklinks",
        )
    },
    **{
        t: (_domain_list, frozenset({"domains", "domainsurl"}))
        for t in ("microsoft.network/dnsresolverdomainlists", "microsoft.network/dnssecuritypolicydomainlists")
    },
}

#: Types read and deliberately not modelled, with the reason the summary gives.
NOT_MODELLED = {
    "microsoft.network/virtualwans": "Virtual WAN: holds no DNS settings (its hubs are read)",
    "microsoft.network/firewallpolicies/rulecollectiongroups": (
        "firewall rules: they filter traffic, they do not change DNS answers"
    ),
    **{
        f"microsoft.network/dnszones/{t}": "public DNS zone record: public zones are not imported"
        for t in (*_RECORD_TYPES, "ns", "caa")
    },
    "microsoft.network/dnszones": "public DNS zone: public zones are not imported",
}


def resource_type(obj: Mapping[str, Any], rid: str) -> str:
    text = obj.get("type")
    if isinstance(text, str) and "/" in text:
        return text.lower()
    return id_type(rid) or ""


def extract(ctx: Context, obj: Any, origin: Origin, *, lowered: bool = False) -> F.Fact | None:
    """The fact one ARM-shaped object states, or None (with a finding) when it is not a resource.

    ``lowered``: the object's keys are lower case already (files are parsed so).
    """
    if not isinstance(obj, Mapping):
        ctx.finding("not-a-resource", origin.file, f"{origin}: expected an object, found {type(obj).__name__}")
        return None
    if not lowered:
        obj = lower_keys(obj)
    rid = get_str(obj, "id")
    if rid is None or not is_arm_id(rid):
        shown = f"id {rid!r}" if rid else "no id"
        ctx.finding("not-a-resource", origin.file, f"{origin}: {shown}: not an Azure resource; left out")
        return None
    rtype = resource_type(obj, rid)
    entry = EXTRACTORS.get(rtype)
    if entry is None:
        reason = NOT_MODELLED.get(rtype, "type not recognised by dnsemu import")
        return F.NotModelled(rid, origin, rtype=rtype, reason=reason)
    extractor, ignored = entry
    fact = extractor(ctx, obj, origin, rid)
    props = obj.get("properties")
    unread = (props.keys() if isinstance(props, dict) else set()) - ignored - _COMMON_IGNORED
    if "properties" not in obj:  # the az CLI's flattened shape: data keys sit beside the envelope
        unread = obj.keys() - ignored - _COMMON_IGNORED - ENVELOPE
    for key in unread:
        ctx.unread[rtype][key].append(rid)
    return fact


__all__ = ["EXTRACTORS", "NOT_MODELLED", "Context", "extract", "id_key", "record_values"]
