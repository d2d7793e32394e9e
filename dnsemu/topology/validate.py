"""Cross-reference checks: the rules Azure itself enforces on an estate.

Shapes and value types were checked by the pydantic models; here every
reference between resources is resolved and every rule that ARM would refuse
is reported, all at once, each with the file, line and field it concerns.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dnsemu.catalog import Catalog, CatalogError
from dnsemu.core import names
from dnsemu.core.records import PRIVATE_ZONE_TYPES, SUPPORTED_TYPES, RdataError, Record, RRType, make, type_name
from dnsemu.topology.errors import Problem, TopologyError
from dnsemu.topology.load import LoadedTopology, Loc, Source
from dnsemu.topology.model import AZURE_DNS_IP, RecordSet, Topology, parse_target
from dnsemu.topology.zonefile import ZoneEntry

PLS_ALIAS = re.compile(
    r"^[a-z0-9][a-z0-9-_.]*\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[a-z0-9]+\.azure\.privatelinkservice$",
    re.I,
)

MAX_RECORD_SETS_PER_ZONE = 25000
MAX_LINKS_PER_ZONE = 1000
MAX_REGISTRATION_LINKS_PER_ZONE = 100


class _Checker:
    def __init__(self, topology: Topology, source: Source) -> None:
        self.t = topology
        self.source = source
        self.problems: list[Problem] = []
        self.catalog = Catalog.load(topology.cloud)
        self.zone_records: dict[str, tuple[Record, ...]] = {}
        self.public_records: dict[str, tuple[Record, ...]] = {}
        self.files: list[str] = [source.file] if source.file else []
        # address -> (kind, name) of every modelled DNS server
        self.servers: dict[str, tuple[str, str]] = {}

    def err(self, loc: Loc, message: str, hint: str | None = None) -> None:
        self.problems.append(self.source.problem(loc, message, hint))

    # -- networks ---------------------------------------------------------------------------

    def networks(self) -> None:
        t = self.t
        spaces: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str, Loc]] = []
        for name in set(t.virtual_networks) & set(t.on_premises):
            self.err(
                ("on_premises", name),
                f"network name {name!r} is used by a virtual network too",
                "give every network a distinct name: names pick views in logs and metrics",
            )
        for section, nets in (("virtual_networks", t.virtual_networks), ("on_premises", t.on_premises)):
            for name, net in nets.items():
                for i, prefix in enumerate(net.address_space):
                    spaces.append((prefix, name, (section, name, "address_space", i)))
        spaces.sort(key=lambda s: (s[0].version, s[0].network_address, s[0].prefixlen))
        for i, (a, a_name, _a_loc) in enumerate(spaces):
            for b, b_name, b_loc in spaces[i + 1 :]:
                if b.version != a.version or b.network_address > a.broadcast_address:
                    break
                if a.overlaps(b):
                    same = a_name == b_name
                    self.err(
                        b_loc,
                        f"{b} overlaps {a} of {'the same network' if same else repr(a_name)}",
                        "address spaces of different networks must not overlap; "
                        "the source address must pick exactly one network",
                    )
        for name, vnet in t.virtual_networks.items():
            loc = ("virtual_networks", name)
            if vnet.region is not None and vnet.region.lower() not in self.catalog.regions:
                self.err(
                    (*loc, "region"),
                    f"unknown region {vnet.region!r}",
                    "use an Azure region name such as eastus or westeurope",
                )
            for sname, subnet in vnet.subnets.items():
                if not any(
                    subnet.address_prefix.version == s.version and subnet.address_prefix.subnet_of(s)
                    for s in vnet.address_space
                ):
                    self.err(
                        (*loc, "subnets", sname, "address_prefix"),
                        f"subnet {subnet.address_prefix} is outside the address space "
                        f"{', '.join(map(str, vnet.address_space))}",
                    )
            subs = sorted(
                vnet.subnets.items(),
                key=lambda kv: (kv[1].address_prefix.version, kv[1].address_prefix.network_address),
            )
            for (n1, s1), (n2, s2) in itertools.pairwise(subs):
                if s1.address_prefix.overlaps(s2.address_prefix):
                    self.err((*loc, "subnets", n2), f"subnet {n2!r} overlaps subnet {n1!r}")
            for i, peer in enumerate(vnet.peerings):
                if peer not in t.virtual_networks:
                    self.err(
                        (*loc, "peerings", i),
                        f"peering to unknown virtual network {peer!r}",
                        _choices(peer, t.virtual_networks),
                    )
                elif peer == name:
                    self.err((*loc, "peerings", i), "a virtual network cannot peer with itself")

    def vnet_ref(self, loc: Loc, name: str) -> bool:
        if name in self.t.virtual_networks:
            return True
        self.err(loc, f"unknown virtual network {name!r}", _choices(name, self.t.virtual_networks))
        return False

    def inside_vnet(self, loc: Loc, vnet_name: str, address: Any, subnet: str | None = None) -> None:
        vnet = self.t.virtual_networks[vnet_name]
        if not any(address in prefix for prefix in vnet.address_space if prefix.version == address.version):
            self.err(
                loc, f"{address} is outside virtual network {vnet_name!r} ({', '.join(map(str, vnet.address_space))})"
            )
            return
        if subnet is not None:
            if subnet not in vnet.subnets:
                self.err(
                    (*loc[:-1], "subnet"), f"unknown subnet {subnet!r} in {vnet_name!r}", _choices(subnet, vnet.subnets)
                )
            elif address not in vnet.subnets[subnet].address_prefix:
                self.err(loc, f"{address} is outside subnet {subnet!r} ({vnet.subnets[subnet].address_prefix})")

    # -- DNS servers and forwarding -----------------------------------------------------------

    def register_server(self, loc: Loc, address: str, kind: str, name: str) -> None:
        if address in self.servers and self.servers[address] != (kind, name):
            other = self.servers[address]
            self.err(loc, f"{address} is already the address of {other[0]} {other[1]!r}")
            return
        self.servers[address] = (kind, name)

    def dns_servers(self) -> None:
        t = self.t
        for rname, resolver in t.dns_private_resolvers.items():
            loc = ("dns_private_resolvers", rname)
            if not self.vnet_ref((*loc, "virtual_network"), resolver.virtual_network):
                continue
            for ename, endpoint in resolver.inbound_endpoints.items():
                eloc = (*loc, "inbound_endpoints", ename, "private_ip_address")
                self.inside_vnet(eloc, resolver.virtual_network, endpoint.private_ip_address, endpoint.subnet)
                self.register_server(eloc, str(endpoint.private_ip_address), "inbound endpoint", f"{rname}/{ename}")
            if len(set(resolver.outbound_endpoints)) != len(resolver.outbound_endpoints):
                self.err((*loc, "outbound_endpoints"), "outbound endpoint names must be unique")
        per_vnet: dict[str, list[str]] = defaultdict(list)
        for rname, resolver in t.dns_private_resolvers.items():
            per_vnet[resolver.virtual_network].append(rname)
        for vnet, resolvers in per_vnet.items():
            if len(resolvers) > 1:
                self.err(
                    ("dns_private_resolvers", resolvers[1], "virtual_network"),
                    f"virtual network {vnet!r} already has DNS private resolver {resolvers[0]!r}",
                    "Azure allows one private resolver per virtual network",
                )
        for sname, server in t.custom_dns_servers.items():
            loc = ("custom_dns_servers", sname)
            if self.vnet_ref((*loc, "virtual_network"), server.virtual_network):
                self.inside_vnet((*loc, "private_ip_address"), server.virtual_network, server.private_ip_address)
            self.register_server(
                (*loc, "private_ip_address"), str(server.private_ip_address), "custom DNS server", sname
            )
        for oname, site in t.on_premises.items():
            for i, address in enumerate(site.dns_servers):
                loc = ("on_premises", oname, "dns_servers", i)
                if not any(address in p for p in site.address_space if p.version == address.version):
                    self.err(loc, f"{address} is outside the site's address space")
                self.register_server(loc, str(address), "on-premises DNS server", oname)
        for xname, ext in t.external_dns_servers.items():
            address, _port = parse_target(ext.address)
            self.register_server(("external_dns_servers", xname, "address"), address, "external DNS server", xname)

    def target(self, loc: Loc, text: str, *, from_vnet: bool, in_ruleset: bool = False) -> None:
        address, _port = parse_target(text)
        if address == str(AZURE_DNS_IP):
            if in_ruleset:
                self.err(
                    loc,
                    "a forwarding rule cannot target 168.63.129.16",
                    "target a DNS private resolver inbound endpoint or a DNS server instead",
                )
            elif not from_vnet:
                self.err(
                    loc,
                    "168.63.129.16 is reachable only from inside a virtual network",
                    "forward to a DNS private resolver inbound endpoint or a DNS server in a VNet",
                )
            return
        if address not in self.servers:
            self.err(
                loc,
                f"{address} is not a modelled DNS server",
                "declare it as an inbound endpoint, a custom_dns_servers entry, an on-premises "
                "site's dns_servers, or under external_dns_servers",
            )

    def domain(self, loc: Loc, text: str) -> str | None:
        try:
            name = names.parse(text if text.endswith(".") else text + ".")
        except names.NameError_ as exc:
            self.err(loc, f"{text!r} is not a domain name: {exc}")
            return None
        if names.label_count(name) > 34:
            self.err(loc, f"{text!r} has more than 34 labels")
        return name

    def forwarding(self) -> None:
        t = self.t
        for vname, vnet in t.virtual_networks.items():
            for i, address in enumerate(vnet.dns_servers):
                loc = ("virtual_networks", vname, "dns_servers", i)
                if address != AZURE_DNS_IP and str(address) not in self.servers:
                    self.target(loc, str(address), from_vnet=True)
        for oname, site in t.on_premises.items():
            for domain, targets in site.conditional_forwarders.items():
                loc = ("on_premises", oname, "conditional_forwarders", domain)
                self.domain(loc, domain)
                for i, target in enumerate(targets):
                    self.target((*loc, i), target, from_vnet=False)
            if site.default_forwarding != "internet":
                for i, target in enumerate(site.default_forwarding):
                    self.target(("on_premises", oname, "default_forwarding", i), target, from_vnet=False)
        for sname, server in t.custom_dns_servers.items():
            for domain, targets in server.conditional_forwarders.items():
                loc = ("custom_dns_servers", sname, "conditional_forwarders", domain)
                self.domain(loc, domain)
                for i, target in enumerate(targets):
                    self.target((*loc, i), target, from_vnet=True)
            if server.default_forwarding not in ("azure", "internet"):
                for i, target in enumerate(server.default_forwarding):
                    self.target(("custom_dns_servers", sname, "default_forwarding", i), target, from_vnet=True)
        outbound = {f"{r}/{e}": res for r, res in t.dns_private_resolvers.items() for e in res.outbound_endpoints}
        linked: dict[str, str] = {}
        for rsname, ruleset in t.dns_forwarding_rulesets.items():
            loc = ("dns_forwarding_rulesets", rsname)
            regions = set()
            for i, ref in enumerate(ruleset.dns_resolver_outbound_endpoints):
                if ref not in outbound:
                    self.err(
                        (*loc, "dns_resolver_outbound_endpoints", i),
                        f"unknown outbound endpoint {ref!r}",
                        "write it as resolver/endpoint; known: " + (", ".join(sorted(outbound)) or "none"),
                    )
                else:
                    regions.add(self.vnet_region(outbound[ref].virtual_network))
            for i, vnet in enumerate(ruleset.virtual_network_links):
                vloc = (*loc, "virtual_network_links", i)
                if not self.vnet_ref(vloc, vnet):
                    continue
                if vnet in linked:
                    self.err(
                        vloc,
                        f"virtual network {vnet!r} is already linked to ruleset {linked[vnet]!r}",
                        "a virtual network can be linked to one forwarding ruleset",
                    )
                linked[vnet] = rsname
                if regions and self.vnet_region(vnet) not in regions:
                    self.err(
                        vloc,
                        f"virtual network {vnet!r} is in {self.vnet_region(vnet)}, the ruleset's "
                        f"resolver in {', '.join(sorted(regions))}",
                        "a ruleset links virtual networks of its own region only",
                    )
            seen: dict[str, str] = {}
            for rname, rule in ruleset.forwarding_rules.items():
                rloc = (*loc, "forwarding_rules", rname)
                domain = self.domain((*rloc, "domain_name"), rule.domain_name) if rule.domain_name != "." else "."
                if domain in seen:
                    self.err((*rloc, "domain_name"), f"rule {seen[domain]!r} already forwards {domain}")
                if domain:
                    seen[domain] = rname
                for i, target in enumerate(rule.target_dns_servers):
                    self.target((*rloc, "target_dns_servers", i), target, from_vnet=True, in_ruleset=True)

    def vnet_region(self, vnet: str) -> str:
        region = self.t.virtual_networks[vnet].region or self.t.region
        return region.lower()

    # -- zones and records ----------------------------------------------------------------------

    def zone_name(self, loc: Loc, text: str) -> str | None:
        name = self.domain(loc, text)
        if name is None:
            return None
        if names.label_count(name) < 2:
            self.err(loc, f"zone {text!r} has a single label", "Azure private DNS zones need at least two labels")
            return None
        return name

    def records(
        self, loc: Loc, zone: str, items: Iterable[str | RecordSet], zone_file: str | None, private: bool
    ) -> tuple[Record, ...]:
        out: list[Record] = []
        # where each record of ``out`` was written: its field path, or its zone file entry
        origins: list[Loc | ZoneEntry] = []
        for i, item in enumerate(items):
            iloc = (*loc, "records", i)
            try:
                if isinstance(item, RecordSet):
                    rtype = RRType.make(item.type)
                    owner = names.parse(item.name, zone) if item.name != "@" else zone
                    made = [make(owner, rtype, item.ttl, value) for value in item.values]
                else:
                    made = [_record_from_line(item, zone)]
                out.extend(made)
                origins.extend(iloc for _ in made)
            except (ValueError, RdataError, names.NameError_) as exc:
                self.err(
                    iloc, str(exc), "write 'name [ttl] TYPE value', relative to the zone, e.g. 'acct 10 A 10.0.1.4'"
                )
        if zone_file is not None:
            from dnsemu.topology.zonefile import load_zone_file

            path = Path(zone_file)
            if not path.is_absolute() and self.source.base_dir is not None:
                path = self.source.base_dir / path
            try:
                entries = load_zone_file(path, origin=zone, default_ttl=3600)
                out.extend(entry.record for entry in entries)
                origins.extend(entries)
                self.files.append(str(path))
            except TopologyError as exc:
                self.problems.extend(exc.problems)
            except OSError as exc:
                self.err((*loc, "zone_file"), f"cannot read {str(path)!r}: {exc.strerror}")

        def record_err(origin: Loc | ZoneEntry, message: str, hint: str | None = None) -> None:
            if isinstance(origin, ZoneEntry):
                where = f"record[{origin.record.name} {type_name(origin.record.rtype)}]"
                self.problems.append(Problem(message, origin.file, origin.line, where, hint))
            else:
                self.err(origin, message, hint)

        by_name: dict[str, set[int]] = defaultdict(set)
        first: dict[tuple[str, int], Loc | ZoneEntry] = {}  # (owner, type) -> where it was first written
        dnames: dict[str, set[object]] = defaultdict(set)
        for record, origin in zip(out, origins, strict=True):
            if not names.is_subdomain(record.name, zone):
                self.err(loc, f"{record.name} is not inside zone {zone}")
                continue
            what = f"{record.name} {type_name(record.rtype)}"
            if private and record.rtype == RRType.NS:
                record_err(
                    origin,
                    f"{what}: Azure private DNS zones cannot delegate (no NS records); they hold only "
                    + ", ".join(sorted(type_name(t) for t in PRIVATE_ZONE_TYPES)),
                    "make the child a private DNS zone of its own and link it to the same virtual networks",
                )
            elif private and record.rtype == RRType.DNAME:
                record_err(
                    origin,
                    f"{what}: Azure private DNS zones do not support DNAME; they hold only "
                    + ", ".join(sorted(type_name(t) for t in PRIVATE_ZONE_TYPES)),
                    "write a CNAME for each name, or put the DNAME in a public zone (public_dns.zones)",
                )
            elif private and record.rtype not in PRIVATE_ZONE_TYPES:
                record_err(
                    origin,
                    f"{what}: private DNS zones hold only "
                    + ", ".join(sorted(type_name(t) for t in PRIVATE_ZONE_TYPES)),
                )
            elif record.rtype not in SUPPORTED_TYPES:
                record_err(origin, f"{record.name}: type {type_name(record.rtype)} is not supported")
            if private and record.rtype == RRType.SOA:
                record_err(
                    origin,
                    f"{record.name} SOA: Azure manages the SOA of a private zone",
                    "leave the SOA out; dnsemu writes Azure's",
                )
            if not private and record.rtype in (RRType.NS, RRType.DNAME) and record.name.startswith("*."):
                section = "4.2" if record.rtype == RRType.NS else "4.4"
                record_err(
                    origin,
                    f"{what}: a wildcard name cannot hold {type_name(record.rtype)} "
                    f"(RFC 4592 §{section} leaves its meaning undefined)",
                    "name the delegated or redirected subtree explicitly",
                )
            if record.rtype == RRType.DNAME:
                dnames[record.name].add(record.rdata)
            by_name[record.name].add(record.rtype)
            first.setdefault((record.name, record.rtype), origin)
        for owner, types in by_name.items():
            if RRType.CNAME in types and len(types) > 1:
                self.err(
                    loc,
                    f"{owner} has a CNAME and other data ({', '.join(sorted(type_name(t) for t in types))})",
                    "a name with a CNAME can hold nothing else (RFC 1034 §3.6.2)",
                )
            if RRType.CNAME in types and owner == zone:
                self.err(loc, f"a CNAME cannot sit at the zone apex {zone}")
            if private:
                continue
            if len(dnames.get(owner, ())) > 1:
                record_err(
                    first[(owner, RRType.DNAME)],
                    f"{owner} has {len(dnames[owner])} DNAME records: an owner holds at most one (RFC 6672 §2.4)",
                    "keep one DNAME target for this name",
                )
            if RRType.DNAME in types and RRType.NS in types and owner != zone:
                record_err(
                    first[(owner, RRType.DNAME)],
                    f"{owner} has both DNAME and NS: only a zone apex may hold both (RFC 6672 §2.3)",
                    "either delegate the name (NS) or redirect what lies below it (DNAME)",
                )
        if len(by_name) > MAX_RECORD_SETS_PER_ZONE:
            self.err(loc, f"{len(by_name)} record sets is over Azure's {MAX_RECORD_SETS_PER_ZONE} per zone")
        return tuple(out)

    def private_zones(self) -> None:
        t = self.t
        canonical: dict[str, str] = {}
        reg_zone: dict[str, str] = {}
        for zname, zone in t.private_dns_zones.items():
            loc = ("private_dns_zones", zname)
            name = self.zone_name(loc, zname)
            if name is None:
                continue
            if name in self.catalog.reserved_zone_names:
                self.err(loc, f"{name} is a name Azure reserves and refuses as a private zone")
            if name in canonical:
                self.err(
                    loc,
                    f"zone {zname!r} is the same zone as {canonical[name]!r}",
                    "a virtual network cannot be linked to multiple zones with overlapping "
                    "namespaces; merge their records into one zone",
                )
                continue
            canonical[name] = zname
            self.zone_records[name] = self.records(loc, name, zone.records, zone.zone_file, private=True)
            linked: set[str] = set()
            link_names: set[str] = set()
            registrations = 0
            for i, link in enumerate(zone.virtual_network_links):
                lloc = (*loc, "virtual_network_links", i)
                if not self.vnet_ref((*lloc, "virtual_network"), link.virtual_network):
                    continue
                if link.virtual_network in linked:
                    self.err(
                        lloc,
                        f"zone {zname} is already linked to {link.virtual_network!r}",
                        "a zone has one link per virtual network",
                    )
                linked.add(link.virtual_network)
                lname = link.name or link.virtual_network
                if lname in link_names:
                    self.err((*lloc, "name"), f"link name {lname!r} is used twice in this zone")
                link_names.add(lname)
                if link.registration_enabled:
                    registrations += 1
                    if link.virtual_network in reg_zone:
                        self.err(
                            (*lloc, "registration_enabled"),
                            f"virtual network {link.virtual_network!r} already registers into "
                            f"{reg_zone[link.virtual_network]}",
                            "a virtual network can have exactly one registration zone",
                        )
                    reg_zone[link.virtual_network] = name
                if link.resolution_policy == "NxDomainRedirect" and not _is_privatelink(name):
                    self.err(
                        (*lloc, "resolution_policy"),
                        "NxDomainRedirect applies only to links of privatelink zones",
                        "use Default for this zone",
                    )
            if len(zone.virtual_network_links) > MAX_LINKS_PER_ZONE:
                self.err(loc, f"more than {MAX_LINKS_PER_ZONE} virtual network links")
            if registrations > MAX_REGISTRATION_LINKS_PER_ZONE:
                self.err(loc, f"more than {MAX_REGISTRATION_LINKS_PER_ZONE} registration links")

    def public_zones(self) -> None:
        locs: dict[str, Loc] = {}
        for zname, zone in self.t.public_dns.zones.items():
            loc = ("public_dns", "zones", zname)
            name = self.domain(loc, zname)
            if name is not None:
                locs[name] = loc
                self.public_records[name] = self.records(loc, name, zone.records, zone.zone_file, private=False)
        # A resolver follows a DNAME before it could reach a zone beneath its owner (RFC 6672 §2.4).
        dnames = {r.name: apex for apex, rs in self.public_records.items() for r in rs if r.rtype == RRType.DNAME}
        for apex, loc in locs.items():
            for owner in names.suffixes(apex):
                parent = dnames.get(owner)
                # the DNAME counts when its zone is the one that answers for its owner
                if parent is not None and parent != apex and not any(
                    z not in (parent, apex) and names.is_subdomain(owner, z) and names.is_subdomain(z, parent)
                    for z in locs
                ):
                    self.err(
                        loc,
                        f"public zone {apex} lies under the DNAME at {owner} in zone {parent}: "
                        "no resolver ever reaches it (RFC 6672 §2.4)",
                        "remove the DNAME, or the zone beneath it",
                    )
                    break

    # -- endpoints, machines, resources ---------------------------------------------------------------

    def endpoints(self) -> None:
        t = self.t
        ips: dict[tuple[str, str], str] = {}
        for pname, pe in t.private_endpoints.items():
            loc = ("private_endpoints", pname)
            if not self.vnet_ref((*loc, "virtual_network"), pe.virtual_network):
                continue
            for i, ip in enumerate(pe.private_ip_addresses):
                iloc = (*loc, "private_ip_addresses", i)
                self.inside_vnet(iloc, pe.virtual_network, ip, pe.subnet)
                key = (pe.virtual_network, str(ip))
                if key in ips and ips[key] != pname:
                    self.err(iloc, f"{ip} is already used by {ips[key]!r}")
                ips[key] = pname
            if (pe.resource is None) == (pe.private_link_service_alias is None):
                self.err(loc, "give exactly one of resource and private_link_service_alias")
                continue
            if pe.private_link_service_alias is not None:
                if not PLS_ALIAS.match(pe.private_link_service_alias):
                    self.err(
                        (*loc, "private_link_service_alias"),
                        f"{pe.private_link_service_alias!r} is not a Private Link Service alias",
                        "aliases read prefix.{guid}.region.azure.privatelinkservice",
                    )
                if pe.private_dns_zone_group:
                    self.err(
                        (*loc, "private_dns_zone_group"),
                        "a Private Link Service has no recommended private zone for a zone group",
                        "write the endpoint's records in a private zone of your own",
                    )
                continue
            assert pe.resource is not None
            if pe.group_id is None:
                self.err((*loc, "group_id"), f"required for a private endpoint to {pe.resource.type}")
                continue
            region = pe.resource.region or self.vnet_region(pe.virtual_network)
            try:
                endpoints = resource_endpoints(self.catalog, pe.resource, pe.group_id, pe.resource.name, region)
            except CatalogError as exc:
                self.err((*loc, "group_id" if "group" in str(exc) else "resource"), str(exc))
                continue
            if len(pe.private_ip_addresses) not in (1, len(endpoints)):
                self.err(
                    (*loc, "private_ip_addresses"),
                    f"{len(pe.private_ip_addresses)} addresses for {len(endpoints)} FQDNs",
                    "give one address, or one per FQDN in this order: " + ", ".join(e.private_fqdn for e in endpoints),
                )
            zones = {e.private_zone for e in endpoints}
            for i, zone_text in enumerate(pe.private_dns_zone_group):
                zloc = (*loc, "private_dns_zone_group", i)
                zone = self.domain(zloc, zone_text)
                if zone is None:
                    continue
                if zone not in self.zone_records and zone_text not in t.private_dns_zones:
                    self.err(zloc, f"unknown private DNS zone {zone_text!r}", _choices(zone_text, t.private_dns_zones))
                elif zone not in zones:
                    self.err(
                        zloc,
                        f"{zone} is not a zone of {pe.resource.type} '{pe.group_id}'",
                        "expected " + " or ".join(sorted(zones)),
                    )

    def machines(self) -> None:
        seen: dict[tuple[str, str], str] = {}
        for mname, vm in self.t.virtual_machines.items():
            loc = ("virtual_machines", mname)
            try:
                names.parse(mname + ".")
            except names.NameError_ as exc:
                self.err(loc, f"VM name {mname!r} cannot be a DNS label: {exc}")
            if not self.vnet_ref((*loc, "virtual_network"), vm.virtual_network):
                continue
            self.inside_vnet((*loc, "private_ip_address"), vm.virtual_network, vm.private_ip_address, vm.subnet)
            key = (vm.virtual_network, str(vm.private_ip_address))
            if key in seen:
                self.err((*loc, "private_ip_address"), f"{vm.private_ip_address} is already used by VM {seen[key]!r}")
            seen[key] = mname

    def resources(self) -> None:
        for rname, res in self.t.resources.items():
            loc = ("resources", rname)
            for i, group in enumerate(res.private_endpoint_groups):
                try:
                    resource_endpoints(self.catalog, res, group, res.name or rname, res.region or self.t.region)
                except CatalogError as exc:
                    self.err((*loc, "private_endpoint_groups", i), str(exc))
            if not res.private_endpoint_groups:
                try:
                    self.catalog.find(res.type, _first_group(self.catalog, res.type))
                except CatalogError as exc:
                    self.err((*loc, "type"), str(exc))

    def run(self) -> LoadedTopology:
        if self.t.region.lower() not in self.catalog.regions:
            self.err(("region",), f"unknown region {self.t.region!r}", "use an Azure region name such as eastus")
        self.networks()
        self.dns_servers()
        self.forwarding()
        self.private_zones()
        self.public_zones()
        self.endpoints()
        self.machines()
        self.resources()
        if self.problems:
            self.problems.sort(key=lambda p: (p.file or "", p.line or 0))
            raise TopologyError(self.problems)
        return LoadedTopology(self.t, self.source, self.zone_records, self.public_records, tuple(self.files))


def resource_endpoints(catalog: Catalog, resource, group_id: str, name: str, region: str):
    """The FQDN pairs a private endpoint for ``resource`` (a ResourceRef or Resource) creates."""
    return catalog.endpoints(
        resource.type, group_id, name.lower(), region, variant=resource.variant, **resource.placeholders()
    )


def _first_group(catalog: Catalog, resource_type: str) -> str:
    for service in catalog.services:
        if service.resource_type.lower() == resource_type.lower():
            return service.group_ids[0]
    return ""


def _is_privatelink(zone: str) -> bool:
    return zone.startswith("privatelink.") or ".privatelink." in zone or zone.startswith("privatelink-")


def _choices(value: str, known: Iterable[str]) -> str:
    import difflib

    known = list(known)
    close = difflib.get_close_matches(value, known, n=3)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "known: " + (", ".join(repr(k) for k in known) if known else "none declared")


def _record_from_line(line: str, zone: str) -> Record:
    """One master-file line, relative to ``zone``: ``name [ttl] [IN] TYPE rdata``."""
    from dnsemu.core.records import split_fields

    fields = split_fields(line)
    if len(fields) < 3:
        raise ValueError(f"{line!r}: expected 'name [ttl] TYPE value'")
    owner, rest = fields[0], fields[1:]
    ttl = 3600
    if rest and rest[0].isdigit():
        ttl = int(rest.pop(0))
    if rest and rest[0].upper() == "IN":
        rest.pop(0)
    if len(rest) < 2:
        raise ValueError(f"{line!r}: expected a type and a value after the name")
    rtype = RRType.make(rest[0])
    from dnsemu.core.records import parse_rdata

    owner_name = zone if owner == "@" else names.parse(owner, zone)
    return Record(owner_name, rtype, ttl, parse_rdata(rtype, rest[1:], zone))


def validate(topology: Topology, source: Source) -> LoadedTopology:
    return _Checker(topology, source).run()
