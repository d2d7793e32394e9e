"""Topology → Index: derive what Azure derives, then build the lookup tables.

Derived data, as Azure writes it:

- a private endpoint's DNS zone group writes an A (or AAAA) record, TTL 10, for each
  of the service's FQDNs into the group's zones (ACR's ``<registry>.<region>.data``,
  App Service's ``<app>.scm``, one record per zone for multi-zone services);
- public DNS gains ``name.<svc> CNAME name.privatelink.<svc>`` only while a private
  endpoint connection is Approved; the chain then runs to a per-cluster host and a
  public address (synthesised when the user declares no public records);
- autoregistration writes A records (TTL 10) for VMs in a registration VNet, and
  Azure-provided DNS answers ``<vm>.internal.cloudapp.net`` and PTR lookups inside
  the VM's own VNet.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable
from itertools import repeat
from operator import attrgetter

from dnsemu.catalog import Catalog, CatalogError, ResolvedEndpoint
from dnsemu.core.index import (
    AzureDns,
    Classifier,
    Edge,
    External,
    Firewall,
    Forwarder,
    Hop,
    Index,
    Internet,
    Link,
    NegativeTable,
    Network,
    NetworkKind,
    Options,
    PublicDns,
    Unreachable,
    View,
)
from dnsemu.core.policy import compile_policies
from dnsemu.core.resolution import ProxyCache
from dnsemu.core.zone import AZURE_PUBLIC_SOA, Zone, ZoneKind, soa_record
from dnsemu.dns import names
from dnsemu.dns.records import Record, RRType
from dnsemu.topology.clusters import cluster_names
from dnsemu.topology.loaded import LoadedTopology
from dnsemu.topology.model import AZURE_DNS_IP, Topology, parse_target
from dnsemu.topology.validate import resource_endpoints

ZONE_GROUP_TTL = 10
#: private zones of fewer records are always built at once (``compile_topology(defer_zones=True)``)
DEFER_MIN_RECORDS = 1000
AUTOREGISTRATION_TTL = 10
#: TTL of the API server record AKS writes [inference: zone-group-like records are 10 s, facts §1.5]
AKS_RECORD_TTL = 10

INTERNAL_SUFFIX = {
    "AzureCloud": "internal.cloudapp.net.",
    "AzureUSGovernment": "internal.usgovcloudapp.net.",
    "AzureChinaCloud": "internal.chinacloudapp.cn.",
}

_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")

#: RFC 6303 locally served reverse zones: no server on the internet answers for them.
LOCAL_REVERSE_ZONES = (
    "10.in-addr.arpa.",
    *(f"{n}.172.in-addr.arpa." for n in range(16, 32)),
    "168.192.in-addr.arpa.",
    "254.169.in-addr.arpa.",
    "d.f.ip6.arpa.",
    "8.e.f.ip6.arpa.",
    "9.e.f.ip6.arpa.",
    "a.e.f.ip6.arpa.",
    "b.e.f.ip6.arpa.",
)


_NAME = attrgetter("name")


def _local_soa(zone: str) -> Record:
    return soa_record(zone, (zone, ".", 0, 28800, 7200, 604800, 86400), ttl=10800)


def _address_record(name: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, ttl: int) -> Record:
    return Record(name, RRType.A if ip.version == 4 else RRType.AAAA, ttl, (str(ip),))


def _ptr_name(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return ip.reverse_pointer + "."


class _Compiler:
    def __init__(self, loaded: LoadedTopology, options: Options, defer_zones: bool = False) -> None:
        self.loaded = loaded
        self.defer_zones = defer_zones
        self.t: Topology = loaded.topology
        self.options = options
        self.catalog = Catalog.load(self.t.cloud)
        self.private_records: dict[str, list[Record]] = {z: list(r) for z, r in loaded.zone_records.items()}
        self.zone_names = {names.parse(z if z.endswith(".") else z + "."): z for z in self.t.private_dns_zones}
        self.public_records: dict[str, list[Record]] = defaultdict(list)
        self.public_notes: dict[str, str] = {}
        self.synth_zones: set[str] = set()
        self.registrations: dict[str, str] = {}  # vnet -> registration zone
        self.stats: dict[str, int] = defaultdict(int)
        #: (zone, VNet, link name) that AKS adds for its clusters
        self.cluster_links: list[tuple[str, str, str]] = []

    def region_of(self, vnet: str) -> str:
        return (self.t.virtual_networks[vnet].region or self.t.region).lower()

    # -- private endpoints -------------------------------------------------------------------------

    def endpoints(self) -> None:
        # zone -> private FQDN -> the zone group's record; the last endpoint to write a name wins
        written: dict[str, dict[str, Record]] = defaultdict(dict)
        approved: set[tuple[str, str, str]] = set()
        states: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        resources: dict[tuple[str, str], tuple[str, object]] = {}
        for pname, pe in self.t.private_endpoints.items():
            if pe.resource is None or pe.group_id is None:
                continue
            rtype, rname = pe.resource.type, pe.resource.name.lower()
            region = (pe.resource.region or self.region_of(pe.virtual_network)).lower()
            resources.setdefault((rtype.lower(), rname), (region, pe.resource))
            key = (rtype.lower(), rname, pe.group_id.lower())
            states[key].append(f"{pname} ({pe.connection_state})")
            if pe.connection_state == "Approved":
                approved.add(key)
            endpoints = resource_endpoints(self.catalog, pe.resource, pe.group_id, rname, region)
            group = {names.parse(z if z.endswith(".") else z + ".") for z in pe.private_dns_zone_group}
            for i, endpoint in enumerate(endpoints):
                ip = pe.private_ip_addresses[i if len(pe.private_ip_addresses) > 1 else 0]
                if endpoint.private_zone in group:
                    # a later endpoint for the same FQDN overwrites the record, as Azure does
                    names_written = written[endpoint.private_zone]
                    names_written.pop(endpoint.private_fqdn, None)
                    names_written[endpoint.private_fqdn] = _address_record(endpoint.private_fqdn, ip, ZONE_GROUP_TTL)
                    self.stats["zone_group_records"] += 1
            self.stats["private_endpoints"] += 1
        for zone, by_name in written.items():
            # a zone group's record replaces every record the zone had at that name
            kept = [r for r in self.private_records.get(zone, ()) if r.name not in by_name]
            self.private_records[zone] = kept + list(by_name.values())
        for rkey, res in self.t.resources.items():
            rname = (res.name or rkey).lower()
            resources.setdefault((res.type.lower(), rname), ((res.region or self.t.region).lower(), res))
            for group in res.private_endpoint_groups:
                approved.add((res.type.lower(), rname, group.lower()))
                states[(res.type.lower(), rname, group.lower())].append("another tenant's endpoint (Approved)")
        # Several group ids (and several resources, for global hosts) can share one public FQDN:
        # the chain carries the privatelink alias when any of them has an Approved connection.
        chains: dict[str, tuple[ResolvedEndpoint, bool, str, list[str], str, str]] = {}
        services_by_type: dict[str, list[object]] = defaultdict(list)  # in catalog order
        for service in self.catalog.services:
            services_by_type[service.resource_type.lower()].append(service)
        for (rtype, rname), (region, ref) in resources.items():
            for service in services_by_type.get(rtype, ()):
                if service.variant and ref.variant and service.variant.lower() != ref.variant.lower():
                    continue
                for group in service.group_ids:
                    key = (rtype, rname, group.lower())
                    try:
                        endpoints = self.catalog.endpoints(
                            service.resource_type,
                            group,
                            rname,
                            region,
                            variant=service.variant or None,
                            **ref.placeholders(),
                        )
                    except CatalogError:
                        continue  # a row that needs placeholders we cannot fill (dnsPrefix, partitionId)
                    for endpoint in endpoints:
                        aliased = key in approved or endpoint.always_privatelink
                        known = chains.get(endpoint.public_fqdn)
                        if known is None or (aliased and not known[1]):
                            chains[endpoint.public_fqdn] = (
                                endpoint,
                                aliased,
                                region,
                                states.get(key, []),
                                service.resource_type,
                                group,
                            )
        for endpoint, service in self.always_aliased():
            if endpoint.public_fqdn not in chains:
                chains[endpoint.public_fqdn] = (
                    endpoint, True, self.t.region.lower(), [], service.resource_type, service.group_ids[0]
                )
        for chain in chains.values():
            self.public_chain(*chain)

    def always_aliased(self):  # -> Iterator[tuple[ResolvedEndpoint, Service]]
        """Hosts public DNS always sends through a privatelink alias (Azure Monitor's, facts §14.6), for
        every private zone of theirs the estate declares, whether or not any resource of theirs is modelled:
        an empty linked zone then answers NXDOMAIN for them, as it does in Azure."""
        declared = set(self.zone_names)
        region = self.t.region.lower()
        for service in self.catalog.services:
            if not any(e.always_privatelink for e in service.endpoints):
                continue
            for group in service.group_ids:
                try:
                    variant = service.variant or None
                    one = self.catalog.endpoints(service.resource_type, group, "one", region, variant=variant)
                    two = self.catalog.endpoints(service.resource_type, group, "two", region, variant=variant)
                except CatalogError:
                    continue
                for a, b in zip(one, two, strict=True):
                    # only the hosts that are the same whatever the resource: the service's own shared names
                    if a.always_privatelink and a.public_fqdn == b.public_fqdn and a.private_zone in declared:
                        yield a, service

    def public_chain(
        self, endpoint: ResolvedEndpoint, approved: bool, region: str, states: list[str], rtype: str, group: str
    ) -> None:
        ttl = self.t.public_dns.ttl
        public, private = endpoint.public_fqdn, endpoint.private_fqdn
        cluster = endpoint.cluster or self.generic_cluster(public, region)
        cluster = cluster if cluster.endswith(".") else cluster + "."
        self.public_records[public].append(Record(public, RRType.CNAME, ttl, (private if approved else cluster,)))
        if endpoint.wildcard:  # the names below the host go the same way (Container Apps apps, facts §14.2)
            below = "*." + public
            self.public_records[below].append(Record(below, RRType.CNAME, ttl, (private if approved else cluster,)))
        if endpoint.always_privatelink:
            self.public_notes[public] = (
                f"{rtype} publishes the privatelink alias of {public} whether or not a private endpoint exists"
            )
        if approved:
            self.public_records[private].append(Record(private, RRType.CNAME, ttl, (cluster,)))
            self.synth_zones.add(names.parent(private))
        elif states:
            self.public_notes[public] = (
                f"{rtype} '{group}' has no Approved private endpoint connection "
                f"({', '.join(states)}): public DNS carries no privatelink alias"
            )
        if cluster not in self.public_records:
            self.public_records[cluster].append(Record(cluster, RRType.A, ttl, (self.public_address(cluster),)))
        self.synth_zones.add(names.parent(public))
        self.synth_zones.add(names.parent(cluster))

    def generic_cluster(self, public: str, region: str) -> str:
        """A public host in the cloud's own domain (a Government chain never ends in a commercial one)."""
        service = names.first_label(names.parent(public)) or "svc"
        digest = hashlib.sha256(f"{service}/{region}".encode()).hexdigest()[:4]
        return f"{service}-prod-{digest}.{region}.{self.catalog.public_cluster_domain}"

    def public_address(self, cluster: str) -> str:
        pool = self.t.public_dns.address_pool
        digest = int.from_bytes(hashlib.sha256(cluster.encode()).digest()[:8], "big")
        usable = pool.num_addresses - 2 if pool.version == 4 and pool.num_addresses > 2 else pool.num_addresses
        offset = digest % usable + (1 if pool.version == 4 and pool.num_addresses > 2 else 0)
        return str(pool.network_address + offset)

    # -- autoregistration and internal names ----------------------------------------------------------

    def registrations_and_internal(self) -> dict[str, list[Zone]]:
        for zname, zone in self.t.private_dns_zones.items():
            for link in zone.virtual_network_links:
                if link.registration_enabled:
                    self.registrations[link.virtual_network] = names.parse(
                        zname if zname.endswith(".") else zname + "."
                    )
        internal_suffix = INTERNAL_SUFFIX[self.t.cloud]
        per_vnet: dict[str, list[Record]] = defaultdict(list)
        reverse: dict[str, list[Record]] = defaultdict(list)
        for vm_name, vm in self.t.virtual_machines.items():
            label = vm_name.lower()
            vnet = vm.virtual_network
            ip = vm.private_ip_address
            fqdns = [f"{label}.{internal_suffix}"]
            suffix = self.t.virtual_networks[vnet].internal_domain_name_suffix
            if suffix:
                fqdns.append(names.parse(f"{label}.{suffix.rstrip('.')}."))
            for fqdn in fqdns:
                per_vnet[vnet].append(_address_record(fqdn, ip, AUTOREGISTRATION_TTL))
            zone = self.registrations.get(vnet)
            if zone is not None and vm.ip_allocation == "Dynamic":
                name = f"{label}.{zone}"
                existing = self.private_records.setdefault(zone, [])
                if not any(r.name == name for r in existing):  # a manual record set wins
                    existing.append(_address_record(name, ip, AUTOREGISTRATION_TTL))
                    self.stats["autoregistered_records"] += 1
                fqdns.append(name)
            for fqdn in fqdns:
                reverse[vnet].append(Record(_ptr_name(ip), RRType.PTR, AUTOREGISTRATION_TTL, (fqdn,)))
        zones: dict[str, list[Zone]] = {}
        for vnet_name, vnet in self.t.virtual_networks.items():
            zones[vnet_name] = _internal_zones(
                internal_suffix, vnet.address_space, per_vnet.get(vnet_name, ()), reverse.get(vnet_name, ())
            )
        return zones

    # -- zones ------------------------------------------------------------------------------------------

    def private_zones(self) -> dict[str, Zone]:
        out = {}
        for zone_name in self.zone_names:
            records = self.private_records.get(zone_name, [])
            if self.defer_zones and len(records) >= DEFER_MIN_RECORDS:
                out[zone_name] = _deferred_private_zone(zone_name, soa_record(zone_name), records)
            else:
                out[zone_name] = Zone(zone_name, soa_record(zone_name), records, kind="private")
            self.stats["records"] += len(records)
        self.stats["private_zones"] = len(out)
        return out

    def public_zones(self) -> dict[str, Zone]:
        zones: dict[str, Zone] = {}
        authoritative = self.t.public_dns.unknown_service_names == "nxdomain"
        user = dict(self.loaded.public_records)
        synthesized: dict[str, list[Record]] = defaultdict(list)
        apexes = sorted(self.synth_zones | set(user), key=lambda z: -z.count("."))
        apex_set = frozenset(apexes)
        for owner, records in self.public_records.items():
            # the most specific apex above the owner (every owner lies in one: its parent is an apex)
            apex = next(z for z in names.suffixes(owner) if z in apex_set)
            synthesized[apex].extend(records)
        for apex in apexes:
            records = list(synthesized.get(apex, ()))
            if apex in user:
                user_owners = {r.name for r in user[apex]}
                records = [r for r in records if r.name not in user_owners] + list(user[apex])
                soa = next((r for r in user[apex] if r.rtype == RRType.SOA and r.name == apex), None)
                soa = soa or soa_record(apex, AZURE_PUBLIC_SOA)
                records = [r for r in records if not (r.rtype == RRType.SOA and r.name == apex)]
                zones[apex] = Zone(apex, soa, records, kind="public", authoritative=True)
            else:
                zones[apex] = Zone(
                    apex, soa_record(apex, AZURE_PUBLIC_SOA), records, kind="public", authoritative=authoritative
                )
            self.stats["public_records"] += len(records)
        for zone in LOCAL_REVERSE_ZONES:
            zones.setdefault(zone, Zone(zone, _local_soa(zone), (), kind="local"))
        return zones

    # -- AKS private clusters (facts §14.1) -----------------------------------------------------------

    def managed_clusters(self) -> None:
        """The API server's names: a record in the system or custom zone, linked to the cluster VNet,
        and the public FQDN, an A record to the *private* address in public DNS."""
        for cname, cluster in self.t.managed_clusters.items():
            region = (cluster.region or self.region_of(cluster.virtual_network)).lower()
            derived = cluster_names(cname, cluster, region)
            ip = cluster.private_ip_address
            if derived.zone is not None and derived.private_fqdn is not None:
                if derived.zone not in self.zone_names:
                    self.zone_names[derived.zone] = derived.zone  # the system zone AKS creates
                records = self.private_records.setdefault(derived.zone, [])
                records[:] = [r for r in records if r.name != derived.private_fqdn]
                records.append(_address_record(derived.private_fqdn, ip, AKS_RECORD_TTL))
                self.cluster_links.append((derived.zone, cluster.virtual_network, f"aks-{cname}"))
            if derived.public_fqdn is not None:
                self.public_records[derived.public_fqdn].append(
                    _address_record(derived.public_fqdn, ip, self.t.public_dns.ttl)
                )
                apex = f"{region}.azmk8s.io."
                fqdn = derived.public_fqdn
                self.synth_zones.add(apex if names.is_subdomain(fqdn, apex) and fqdn != apex else names.parent(fqdn))
            self.stats["managed_clusters"] += 1

    # -- Azure Firewall DNS proxy (facts §12) -----------------------------------------------------------

    def firewall_hops(self, servers: dict[str, tuple[Hop, str]]) -> dict[str, Firewall]:
        """A hop per firewall, registered as the DNS server at its private IP (servers filled later)."""
        firewalls: dict[str, Firewall] = {}
        for fname, fw in self.t.azure_firewalls.items():
            network = fw.virtual_network or fw.virtual_hub
            assert network is not None
            settings = fw.dns_settings
            cache = ProxyCache(fname) if settings.emulate_cache and settings.enable_proxy else None
            hop = Firewall(f"Azure Firewall {fname!r}", fname, network, settings.enable_proxy, cache)
            firewalls[fname] = hop
            where = "virtual hub" if fw.virtual_hub else "VNet"
            servers[str(fw.private_ip_address)] = (hop, f"DNS proxy of Azure Firewall {fname!r} in {where} {network!r}")
        return firewalls

    # -- zones held by DNS servers ------------------------------------------------------------------------

    def hosted_zones(self, key: str, host: str) -> dict[str, Zone]:
        zones: dict[str, Zone] = {}
        for (server, apex), records in self.loaded.hosted_records.items():
            if server != key:
                continue
            soa = next((r for r in records if r.rtype == RRType.SOA and r.name == apex), None)
            if soa is None:
                mname = f"{host.lower()}.{apex}" if _HOST_LABEL.fullmatch(host.lower()) else f"ns1.{apex}"
                soa = soa_record(apex, (mname, f"hostmaster.{apex}", 1, 900, 600, 86400, 3600))
            rest = [r for r in records if not (r.rtype == RRType.SOA and r.name == apex)]
            zones[apex] = Zone(apex, soa, rest, kind="hosted")
            self.stats["hosted_zones"] += 1
        return zones

    # -- hops -------------------------------------------------------------------------------------------

    def build(self) -> Index:
        self.endpoints()
        self.managed_clusters()
        internal = self.registrations_and_internal()
        private = self.private_zones()
        public_zones = self.public_zones()
        public = PublicDns(public_zones, max(z.count(".") for z in public_zones), self.public_notes)
        internet_hop = Internet("public DNS (the internet)")

        linked: dict[str, dict[str, Link]] = defaultdict(dict)
        for zname, zone in self.t.private_dns_zones.items():
            canonical = names.parse(zname if zname.endswith(".") else zname + ".")
            for link in zone.virtual_network_links:
                linked[link.virtual_network][canonical] = Link(
                    private[canonical],
                    link.name or link.virtual_network,
                    link.resolution_policy,
                    link.registration_enabled,
                )
        for canonical, vnet, link_name in self.cluster_links:
            linked[vnet].setdefault(canonical, Link(private[canonical], link_name))
        views: dict[str, View] = {}
        for vnet_name in self.t.virtual_networks:
            links: dict[str, Link] = {z.name: Link(z, "Azure-provided") for z in internal[vnet_name]}
            links.update(linked.get(vnet_name, {}))
            views[vnet_name] = View(f"vnet:{vnet_name}", vnet_name, links, max(z.count(".") for z in links))

        for hub_name, hub in self.t.virtual_hubs.items():
            # a Virtual WAN hub is a VNet Microsoft manages: no zone is ever linked to it (facts §12.4)
            zones = _internal_zones(INTERNAL_SUFFIX[self.t.cloud], (hub.address_prefix,), ())
            links = {z.name: Link(z, "Azure-provided") for z in zones}
            views[hub_name] = View(f"hub:{hub_name}", hub_name, links, max(z.count(".") for z in links))

        azure: dict[str, AzureDns] = {
            v: AzureDns(f"Azure DNS in VNet {v!r}", views[v]) for v in self.t.virtual_networks
        }
        azure.update({h: AzureDns(f"Azure DNS in virtual hub {h!r}", views[h]) for h in self.t.virtual_hubs})
        servers: dict[str, tuple[Hop, str]] = {}
        for rname, resolver in self.t.dns_private_resolvers.items():
            for ename, endpoint in resolver.inbound_endpoints.items():
                servers[str(endpoint.private_ip_address)] = (
                    azure[resolver.virtual_network],
                    f"inbound endpoint {rname}/{ename} of VNet {resolver.virtual_network!r}",
                )
        forwarders: dict[str, Forwarder] = {}
        for sname, server in self.t.custom_dns_servers.items():
            hop = Forwarder(f"custom DNS server {sname!r}", "custom", sname)
            hop.zones = self.hosted_zones(f"custom:{sname}", sname)
            forwarders[sname] = hop
            servers[str(server.private_ip_address)] = (
                hop,
                f"custom DNS server {sname!r} in VNet {server.virtual_network!r}",
            )
        for oname, site in self.t.on_premises.items():
            hop = Forwarder(f"the DNS server of on-premises site {oname!r}", "on_premises", oname)
            hop.zones = self.hosted_zones(f"onprem:{oname}", "dns")
            forwarders[f"onprem:{oname}"] = hop
            for address in site.dns_servers:
                servers[str(address)] = (hop, f"DNS server of on-premises site {oname!r}")
        for xname, ext in self.t.external_dns_servers.items():
            address, port = parse_target(ext.address)
            servers[address] = (
                External(f"external DNS server {xname!r}", address, port),
                f"external DNS server {xname!r}",
            )

        firewalls = self.firewall_hops(servers)

        def target_hop(text: str, from_vnet: str | None) -> tuple[Hop, str]:
            address, _port = parse_target(text)
            if address == str(AZURE_DNS_IP):
                if from_vnet is None:
                    return Unreachable("168.63.129.16", "168.63.129.16 answers only inside a VNet"), "Azure DNS"
                return azure[from_vnet], f"Azure DNS (168.63.129.16) in VNet {from_vnet!r}"
            return servers[address]

        def add_forwarders(hop: Forwarder, table: dict[str, list[str]], from_vnet: str | None) -> None:
            for domain, targets in table.items():
                name = names.parse(domain if domain.endswith(".") else domain + ".")
                next_hop, desc = target_hop(targets[0], from_vnet)
                hop.forwarders[name] = Edge(name, targets[0], next_hop, f"conditional forwarder ({desc})")

        for sname, server in self.t.custom_dns_servers.items():
            hop = forwarders[sname]
            add_forwarders(hop, server.conditional_forwarders, server.virtual_network)
            if server.default_forwarding == "azure":
                hop.default, hop.default_target = (
                    azure[server.virtual_network],
                    f"Azure DNS (168.63.129.16) in VNet {server.virtual_network!r}",
                )
            elif server.default_forwarding == "internet":
                hop.default, hop.default_target = internet_hop, "the internet"
            else:
                hop.default, hop.default_target = target_hop(server.default_forwarding[0], server.virtual_network)
        for oname, site in self.t.on_premises.items():
            hop = forwarders[f"onprem:{oname}"]
            add_forwarders(hop, site.conditional_forwarders, None)
            if site.default_forwarding == "internet":
                hop.default, hop.default_target = internet_hop, "the internet"
            else:
                hop.default, hop.default_target = target_hop(site.default_forwarding[0], None)

        for fname, hop in firewalls.items():
            fw = self.t.azure_firewalls[fname]
            if fw.dns_settings.servers:
                edges = []
                for text in fw.dns_settings.servers:
                    next_hop, desc = target_hop(text, hop.network)
                    edges.append(Edge(".", text, next_hop, desc))
                hop.servers = tuple(edges)
            else:
                where = "virtual hub" if fw.virtual_hub else "VNet"
                hop.servers = (
                    Edge(
                        ".",
                        str(AZURE_DNS_IP),
                        azure[hop.network],
                        f"Azure DNS in the firewall's {where} {hop.network!r} (the zones linked to it apply, "
                        "not those of the client's VNet)",
                    ),
                )

        ignored = self.catalog.wildcard_ignored_domains
        disabled: dict[str, dict[str, str]] = defaultdict(dict)
        for rsname, ruleset in self.t.dns_forwarding_rulesets.items():
            outbound_vnet = self.t.dns_private_resolvers[
                ruleset.dns_resolver_outbound_endpoints[0].split("/")[0]
            ].virtual_network
            for vnet in ruleset.virtual_network_links:
                hop = azure[vnet]
                hop.ruleset = rsname
                hop.ignored_by_wildcard = ignored
                for rname, rule in ruleset.forwarding_rules.items():
                    domain = (
                        "."
                        if rule.domain_name.strip() == "."
                        else names.parse(rule.domain_name if rule.domain_name.endswith(".") else rule.domain_name + ".")
                    )
                    if rule.state != "Enabled":
                        disabled[rsname][domain] = rname  # ignored; traces name it
                        continue
                    next_hop, desc = target_hop(rule.target_dns_servers[0], outbound_vnet)
                    hop.rules[domain] = Edge(
                        domain, rule.target_dns_servers[0], next_hop, f"rule {rsname}/{rname} ({desc})"
                    )

        networks: dict[str, Network] = {}
        entries = []
        for vnet_name, vnet in self.t.virtual_networks.items():
            if not vnet.dns_servers or vnet.dns_servers[0] == AZURE_DNS_IP:
                entry: Hop = azure[vnet_name]
                note = "uses Azure-provided DNS (168.63.129.16)"
            else:
                entry, desc = target_hop(str(vnet.dns_servers[0]), vnet_name)
                note = f"uses custom DNS server {vnet.dns_servers[0]} ({desc})"
            subnets = tuple(
                (s, sub.address_prefix, tuple(sub.service_endpoints)) for s, sub in vnet.subnets.items()
            )
            network = Network(vnet_name, NetworkKind.VNET, entry, note, tuple(map(str, vnet.address_space)), subnets)
            networks[vnet_name] = network
            entries.extend((prefix, network) for prefix in vnet.address_space)
        for oname, site in self.t.on_premises.items():
            network = Network(
                oname,
                NetworkKind.ON_PREMISES,
                forwarders[f"onprem:{oname}"],
                "asks the site's own DNS server",
                tuple(map(str, site.address_space)),
            )
            networks[oname] = network
            entries.extend((prefix, network) for prefix in site.address_space)
        for hub_name, hub in self.t.virtual_hubs.items():
            network = Network(
                hub_name,
                NetworkKind.VIRTUAL_HUB,
                azure[hub_name],
                "uses Azure-provided DNS (168.63.129.16), without zone links: a hub cannot have them",
                (str(hub.address_prefix),),
            )
            networks[hub_name] = network
            entries.append((hub.address_prefix, network))
        internet = Network("internet", NetworkKind.INTERNET, internet_hop, "resolves through public DNS")

        policies = compile_policies(self.t)
        negative = {name: table for name, network in networks.items()
                    if (table := NegativeTable.of(network, policies, self.options)) is not None}

        self.stats["virtual_networks"] = len(self.t.virtual_networks)
        self.stats["on_premises"] = len(self.t.on_premises)
        self.stats["public_zones"] = len(public_zones)
        return Index(
            networks=networks,
            classifier=Classifier(entries),
            public=public,
            internet=internet,
            views=views,
            options=self.options,
            stats=dict(self.stats),
            private_zones=private,
            azure_dns=azure,
            firewalls=firewalls,
            disabled_rules={k: dict(v) for k, v in disabled.items()},
            reserved_names=self.catalog.wildcard_ignored_domains | self.catalog.reserved_zone_names,
            policies=policies,
            negative=negative,
            azure_provided=frozenset(
                v
                for v, vnet in self.t.virtual_networks.items()
                if not vnet.dns_servers or vnet.dns_servers[0] == AZURE_DNS_IP
            ),
            inbound_endpoints=frozenset(
                str(e.private_ip_address)
                for r in self.t.dns_private_resolvers.values()
                for e in r.inbound_endpoints.values()
            ),
            query_limits=(
                (self.t.azure_provided_dns.queries_per_second, self.t.azure_provided_dns.pending_queries)
                if self.t.azure_provided_dns.query_limits
                else None
            ),
        )


def _internal_zones(
    internal_suffix: str, address_space, records: Iterable[Record], reverse: Iterable[Record] = ()
) -> list[Zone]:
    """The Azure-provided zones of one network: ``internal.cloudapp.net`` and its reverse zones."""
    own = [Zone(internal_suffix, soa_record(internal_suffix), records, kind="internal")]
    reverse_zones = set(LOCAL_REVERSE_ZONES)
    for prefix in address_space:
        reverse_zones.add(_reverse_zone(prefix))
    by_zone: dict[str, list[Record]] = defaultdict(list)
    for record in reverse:
        zone = max((z for z in reverse_zones if names.is_subdomain(record.name, z)), key=len, default=None)
        if zone is not None:
            by_zone[zone].append(record)
    for zone in sorted(reverse_zones):
        own.append(Zone(zone, soa_record(zone), by_zone.get(zone, ()), kind="internal"))
    return own


def _reverse_zone(prefix: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """The reverse zone on a label boundary that contains the whole prefix."""
    if prefix.version == 4:
        octets = prefix.prefixlen // 8
        parts = str(prefix.network_address).split(".")[:octets]
        return ".".join(reversed(parts)) + ".in-addr.arpa." if parts else "in-addr.arpa."
    nibbles = prefix.prefixlen // 4
    digits = prefix.network_address.exploded.replace(":", "")[:nibbles]
    return ".".join(reversed(digits)) + ".ip6.arpa." if digits else "ip6.arpa."


def _deferred_private_zone(name: str, soa: Record, records: list[Record]) -> Zone:
    """A private zone whose record sets are made when first read (:meth:`Zone.deferred`), as
    ``Zone(name, soa, records, kind="private")`` would make them; whether it has a wildcard is known now."""

    def load() -> tuple[dict[str, dict[int, tuple[Record, ...]]], frozenset[str]]:
        zone = Zone(name, soa, records, kind=ZoneKind.PRIVATE)
        return zone.nodes, zone._names

    wildcards = any(map(str.startswith, map(_NAME, records), repeat("*.")))
    return Zone.deferred(name, soa, ZoneKind.PRIVATE, True, wildcards, load)


def compile_topology(loaded: LoadedTopology, options: Options | None = None, generation: int = 0, *,
                     defer_zones: bool = False) -> Index:
    """Build the immutable index for a topology that passed validation.

    With ``defer_zones``, the record sets of every private zone of at least :data:`DEFER_MIN_RECORDS`
    records are made when the zone is first read (or :meth:`Zone.materialize`), not now: the same
    zones, answering the same, sooner (``dnsemu serve``'s first start, which warms them once serving).
    """
    index = _Compiler(loaded, options or Options(), defer_zones).build()
    if generation:
        object.__setattr__(index, "generation", generation)
    return index
