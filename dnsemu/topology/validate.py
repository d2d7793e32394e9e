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
from operator import attrgetter
from typing import Any

from dnsemu.catalog import Catalog, CatalogError
from dnsemu.dns import names
from dnsemu.dns.records import (
    PRIVATE_ZONE_TYPES,
    SUPPORTED_TYPES,
    RdataError,
    Record,
    RRType,
    make,
    rdata_text,
    type_name,
)
from dnsemu.text import excerpt
from dnsemu.topology.errors import Problem, TopologyError
from dnsemu.topology.files import FileProblem, confined
from dnsemu.topology.loaded import LoadedTopology, Loc, Provenance, format_loc
from dnsemu.topology.model import AZURE_DNS_IP, RecordSet, Topology, parse_target
from dnsemu.topology.validate_policy import check_policies
from dnsemu.topology.zonefile import ZoneEntry, ZoneRecords

PLS_ALIAS = re.compile(
    r"^[a-z0-9][a-z0-9-_.]*\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[a-z0-9]+\.azure\.privatelinkservice$",
    re.I,
)

MAX_RECORD_SETS_PER_ZONE = 25000
#: records in one record set of a private DNS zone (facts §3.2), the same bound as a record set's ``values``
MAX_RECORDS_PER_RECORD_SET = 20
MAX_LINKS_PER_ZONE = 1000
MAX_REGISTRATION_LINKS_PER_ZONE = 100


class _Checker:
    def __init__(self, topology: Topology, provenance: Provenance) -> None:
        self.t = topology
        self.provenance = provenance
        self.problems: list[Problem] = []
        self.catalog = Catalog.load(topology.cloud)
        self.zone_records: dict[str, tuple[Record, ...]] = {}
        self.public_records: dict[str, tuple[Record, ...]] = {}
        self.files: list[str] = [provenance.file] if provenance.file else []
        # address -> (kind, name) of every modelled DNS server
        self.servers: dict[str, tuple[str, str]] = {}
        #: (server key, zone) -> records of the zones DNS servers hold themselves
        self.hosted_records: dict[tuple[str, str], tuple[Record, ...]] = {}

    def err(self, loc: Loc, message: str, hint: str | None = None) -> None:
        self.problems.append(self.provenance.problem(loc, message, hint))

    # -- networks ---------------------------------------------------------------------------

    def networks(self) -> None:
        t = self.t
        spaces: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str, Loc]] = []
        for name in set(t.virtual_networks) & set(t.on_premises):
            self.err(
                ("on_premises", name),
                f"network name {excerpt(name)} is used by a virtual network too",
                "give every network a distinct name: names pick views in logs and metrics",
            )
        for section, nets in (("virtual_networks", t.virtual_networks), ("on_premises", t.on_premises)):
            for name, net in nets.items():
                for i, prefix in enumerate(net.address_space):
                    spaces.append((prefix, name, (section, name, "address_space", i)))
        for name, hub in t.virtual_hubs.items():
            spaces.append((hub.address_prefix, name, ("virtual_hubs", name, "address_prefix")))
            if name in t.virtual_networks or name in t.on_premises:
                self.err(("virtual_hubs", name), f"network name {excerpt(name)} is used by another network too",
                         "give every network a distinct name: names pick views in logs and metrics")
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
                    f"unknown region {excerpt(vnet.region)}",
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
                    self.err((*loc, "subnets", n2), f"subnet {excerpt(n2)} overlaps subnet {excerpt(n1)}")
            for i, peer in enumerate(vnet.peerings):
                if peer not in t.virtual_networks:
                    self.err(
                        (*loc, "peerings", i),
                        f"peering to unknown virtual network {excerpt(peer)}",
                        _choices(peer, t.virtual_networks),
                    )
                elif peer == name:
                    self.err((*loc, "peerings", i), "a virtual network cannot peer with itself")

    def vnet_ref(self, loc: Loc, name: str) -> bool:
        if name in self.t.virtual_networks:
            return True
        if name in self.t.virtual_hubs:
            what = _HUB_REFUSES.get(str(loc[0]), "resources of your own")
            self.err(
                loc,
                f"{excerpt(name)} is a Virtual WAN hub: Microsoft manages its network, so it cannot have {what}",
                "put them in a VNet connected to the hub (a DNS spoke: the virtual hub extension pattern)",
            )
            return False
        self.err(loc, f"unknown virtual network {excerpt(name)}", _choices(name, self.t.virtual_networks))
        return False

    def inside_vnet(self, loc: Loc, vnet_name: str, address: Any, subnet: str | None = None) -> None:
        vnet = self.t.virtual_networks[vnet_name]
        if not any(address in prefix for prefix in vnet.address_space if prefix.version == address.version):
            self.err(
                loc,
                f"{address} is outside virtual network {excerpt(vnet_name)} "
                f"({', '.join(map(str, vnet.address_space))})",
            )
            return
        if subnet is not None:
            if subnet not in vnet.subnets:
                self.err(
                    (*loc[:-1], "subnet"),
                    f"unknown subnet {excerpt(subnet)} in {excerpt(vnet_name)}",
                    _choices(subnet, vnet.subnets),
                )
            elif address not in vnet.subnets[subnet].address_prefix:
                self.err(loc, f"{address} is outside subnet {excerpt(subnet)} ({vnet.subnets[subnet].address_prefix})")

    # -- DNS servers and forwarding -----------------------------------------------------------

    def register_server(self, loc: Loc, address: str, kind: str, name: str) -> None:
        if address in self.servers and self.servers[address] != (kind, name):
            other = self.servers[address]
            self.err(loc, f"{address} is already the address of {other[0]} {excerpt(other[1])}")
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
                    f"virtual network {excerpt(vnet)} already has DNS private resolver {excerpt(resolvers[0])}",
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
            self.err(loc, f"{excerpt(text)} is not a domain name: {exc}")
            return None
        if names.label_count(name) > 34:
            self.err(loc, f"{excerpt(text)} has more than 34 labels")
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
                        f"unknown outbound endpoint {excerpt(ref)}",
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
                        f"virtual network {excerpt(vnet)} is already linked to ruleset {excerpt(linked[vnet])}",
                        "a virtual network can be linked to one forwarding ruleset",
                    )
                linked[vnet] = rsname
                if regions and self.vnet_region(vnet) not in regions:
                    self.err(
                        vloc,
                        f"virtual network {excerpt(vnet)} is in {self.vnet_region(vnet)}, the ruleset's "
                        f"resolver in {', '.join(sorted(regions))}",
                        "a ruleset links virtual networks of its own region only",
                    )
            seen: dict[str, str] = {}
            for rname, rule in ruleset.forwarding_rules.items():
                rloc = (*loc, "forwarding_rules", rname)
                domain = self.domain((*rloc, "domain_name"), rule.domain_name) if rule.domain_name != "." else "."
                if domain in seen:
                    self.err((*rloc, "domain_name"), f"rule {excerpt(seen[domain])} already forwards {domain}")
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
            self.err(loc, f"zone {excerpt(text)} has a single label",
                     "Azure private DNS zones need at least two labels")
            return None
        return name

    def report(self, where: _Where, message: str, hint: str | None = None) -> None:
        """A problem with one record: at its topology field, or at its zone file's line."""
        if isinstance(where, ZoneEntry):
            record = where.record
            self.problems.append(Problem(message, where.file, where.line,
                                         f"record[{record.name} {type_name(record.rtype)}]", hint))
            return
        loc, file, line, path = where
        if file is None:
            self.err(loc, message, hint)
        else:
            self.problems.append(Problem(message, file, line, path, hint))

    def records(
        self,
        loc: Loc,
        zone: str,
        items: Iterable[str | RecordSet],
        zone_file: str | None,
        private: bool,
        zone_text: str | None = None,
    ) -> tuple[Record, ...]:
        placed = _Placed()  # every record and where it was written
        for i, item in enumerate(items):
            iloc = (*loc, "records", i)
            where: _Where = (iloc, None, None, None)
            try:
                if isinstance(item, RecordSet):
                    rtype = RRType.make(item.type)
                    owner = names.parse(item.name, zone) if item.name != "@" else zone
                    for value in item.values:  # (the values before a bad one are placed, as they were)
                        placed.add(make(owner, rtype, item.ttl, value), where)
                else:
                    placed.add(_record_from_line(item, zone), where)
            except (ValueError, RdataError, names.NameError_) as exc:
                message, hint = str(exc), _LINE_HINT
                if isinstance(exc, _LineError):
                    message, hint = exc.args[0], exc.args[1]
                self.err(iloc, message, hint)
        # a record read from a master file is placed at its file and line: the entry says where
        if zone_file is not None:
            placed.add_file(self.zone_file(loc, zone, zone_file))
        if zone_text is not None:
            placed.add_file(self.zone_text(loc, zone, zone_text))
        recs = placed.records
        if private:
            counted = self.plain_zone(loc, zone, placed)
            if counted is not None:
                return counted
        plain = PRIVATE_ZONE_TYPES - {RRType.SOA, RRType.CNAME} if private else frozenset()
        below = "." + zone
        by_name: dict[str, set[int]] = defaultdict(set)
        cnames: dict[str, Record] = {}  # owner -> its CNAME
        conflicted: set[str] = set()  # owners already reported for a CNAME beside other data
        first: dict[tuple[str, int], int] = {}  # (owner, type) -> the record that first wrote it (its index)
        dnames: dict[str, set[object]] = defaultdict(set)
        plain_sets = 0  # record sets of the common records: counted, never looked up (not kept in `first`)
        cname = RRType.CNAME
        where_of = placed.where
        for i, record in enumerate(recs):
            owner = record.name
            rtype = record.rtype
            if rtype in plain and (owner == zone or (owner.endswith(below) and "\\" not in owner)):
                # the common record (A, TXT … inside the zone): nothing below applies but the bookkeeping
                types = by_name.get(owner)
                if types is None:  # a new name: one type, no conflict possible
                    by_name[owner] = {rtype}
                    plain_sets += 1
                    continue
                if rtype in types:
                    continue  # another record of a set already met (its conflicts were checked then)
                types.add(rtype)
                plain_sets += 1
                if cname in types and owner not in conflicted:
                    conflicted.add(owner)
                    self.report(
                        where_of(i),
                        f"{owner} has a CNAME and other data ({', '.join(sorted(type_name(t) for t in types))})",
                        "a name with a CNAME can hold nothing else (RFC 1034 §3.6.2)",
                    )
                continue
            if not names.is_subdomain(owner, zone):
                self.report(where_of(i), f"{owner} is not inside zone {zone}")
                continue
            what = f"{owner} {type_name(record.rtype)}"
            if private and record.rtype == RRType.NS:
                self.report(
                    where_of(i),
                    f"{what}: Azure private DNS zones cannot delegate (no NS records); they hold only "
                    + ", ".join(sorted(type_name(t) for t in PRIVATE_ZONE_TYPES)),
                    "make the child a private DNS zone of its own and link it to the same virtual networks",
                )
            elif private and record.rtype == RRType.DNAME:
                self.report(
                    where_of(i),
                    f"{what}: Azure private DNS zones do not support DNAME; they hold only "
                    + ", ".join(sorted(type_name(t) for t in PRIVATE_ZONE_TYPES)),
                    "write a CNAME for each name, or put the DNAME in a public zone (public_dns.zones)",
                )
            elif private and record.rtype not in PRIVATE_ZONE_TYPES:
                self.report(
                    where_of(i),
                    f"{what}: private DNS zones hold only "
                    + ", ".join(sorted(type_name(t) for t in PRIVATE_ZONE_TYPES)),
                )
            elif record.rtype not in SUPPORTED_TYPES:
                self.report(where_of(i), f"{owner}: type {type_name(record.rtype)} is not supported")
            if private and record.rtype == RRType.SOA:
                self.report(
                    where_of(i),
                    f"{owner} SOA: Azure manages the SOA of a private zone",
                    "leave the SOA out; dnsemu writes Azure's",
                )
            elif record.rtype == RRType.SOA and owner != zone:
                self.report(
                    where_of(i),
                    f"{owner} SOA: a zone's SOA sits at its apex {zone} (RFC 1035 §5.2; BIND refuses the zone too)",
                    "write the SOA at @, or make the name a zone of its own",
                )
            if not private and record.rtype in (RRType.NS, RRType.DNAME) and owner.startswith("*."):
                section = "4.2" if record.rtype == RRType.NS else "4.4"
                self.report(
                    where_of(i),
                    f"{what}: a wildcard name cannot hold {type_name(record.rtype)} "
                    f"(RFC 4592 §{section} leaves its meaning undefined)",
                    "name the delegated or redirected subtree explicitly",
                )
            if record.rtype == RRType.CNAME:
                if owner == zone:
                    self.report(where_of(i), f"a CNAME cannot sit at the zone apex {zone}")
                first_cname = cnames.setdefault(owner, record)
                if _target(first_cname) != _target(record):
                    # an RRset is a set: the same target twice is one record, another target is a second value
                    self.report(
                        where_of(i),
                        f"a CNAME record set holds one value: {owner} already has CNAME "
                        f"{rdata_text(first_cname.rtype, first_cname.rdata)}",
                        "RFC 2181 §10.1: a name has one canonical name; keep one of the targets",
                    )
            if record.rtype == RRType.DNAME:
                dnames[owner].add(record.rdata)
            by_name[owner].add(record.rtype)
            first.setdefault((owner, record.rtype), i)
            types = by_name[owner]
            if RRType.CNAME in types and len(types) > 1 and owner not in conflicted:
                conflicted.add(owner)
                self.report(
                    where_of(i),
                    f"{owner} has a CNAME and other data ({', '.join(sorted(type_name(t) for t in types))})",
                    "a name with a CNAME can hold nothing else (RFC 1034 §3.6.2)",
                )
        if not private:
            for owner, types in by_name.items():
                if len(dnames.get(owner, ())) > 1:
                    self.report(
                        where_of(first[(owner, RRType.DNAME)]),
                        f"{owner} has {len(dnames[owner])} DNAME records: an owner holds at most one (RFC 6672 §2.4)",
                        "keep one DNAME target for this name",
                    )
                if RRType.DNAME in types and RRType.NS in types and owner != zone:
                    self.report(
                        where_of(first[(owner, RRType.DNAME)]),
                        f"{owner} has both DNAME and NS: only a zone apex may hold both (RFC 6672 §2.3)",
                        "either delegate the name (NS) or redirect what lies below it (DNAME)",
                    )
        if private and len(recs) - len(first) - plain_sets >= MAX_RECORDS_PER_RECORD_SET:
            # (with fewer records than that beyond the first of each record set, none can be over the limit)
            self.record_set_sizes(placed)
        if len(by_name) > MAX_RECORD_SETS_PER_ZONE:
            self.err(loc, f"{len(by_name)} record sets is over Azure's {MAX_RECORD_SETS_PER_ZONE} per zone")
        return tuple(recs)

    def plain_zone(self, loc: Loc, zone: str, placed: _Placed) -> tuple[Record, ...] | None:
        """The common private zone, every record a plain one inside it (A, TXT … no CNAME nor SOA, an owner
        without escapes): what :meth:`records` would do with it, over the whole zone at once (its loop only
        counts such records); None for any other zone, which the loop then reads."""
        records = placed.records
        kinds = set(map(_RTYPE, records))
        if not kinds <= _PLAIN_PRIVATE:
            return None
        owners = list(map(_NAME, records))
        # every owner the apex or below it, none with an escape: in the owners joined by newlines (which no
        # canonical name holds), a backslash nowhere and the apex's suffix before every newline
        joined = "\n".join(owners) + "\n"
        if "\\" in joined or joined.count("." + zone + "\n") + owners.count(zone) != len(owners):
            return None
        distinct = set(owners)
        sets = len(distinct) if len(kinds) == 1 else len(set(zip(owners, map(_RTYPE, records), strict=True)))
        if len(records) - sets >= MAX_RECORDS_PER_RECORD_SET:
            self.record_set_sizes(placed)
        if len(distinct) > MAX_RECORD_SETS_PER_ZONE:
            self.err(loc, f"{len(distinct)} record sets is over Azure's {MAX_RECORD_SETS_PER_ZONE} per zone")
        return tuple(records)

    def record_set_sizes(self, placed: _Placed) -> None:
        """Azure's 20 records per record set, however the records were written (facts §3.2)."""
        values: dict[tuple[str, int], set[object]] = defaultdict(set)
        for i, record in enumerate(placed.records):
            rrset = values[(record.name, record.rtype)]
            if record.rdata in rrset:
                continue  # an RRset is a set: the same record twice is one record
            rrset.add(record.rdata)
            if len(rrset) == MAX_RECORDS_PER_RECORD_SET + 1:
                self.report(
                    placed.where(i),
                    f"{record.name} {type_name(record.rtype)}: more than {MAX_RECORDS_PER_RECORD_SET} records in one "
                    "record set, Azure's limit for a private DNS zone",
                    "spread the addresses over several names, or keep 20",
                )

    def zone_file(self, loc: Loc, zone: str, name: str) -> ZoneRecords | None:
        """The records of a master file named in the topology: inside its folder's tree, bounded."""
        from dnsemu.topology.zonefile import zone_file_records

        floc = (*loc, "zone_file")
        root = self.provenance.base_dir
        if root is None:
            self.err(floc, "zone_file needs a topology file: its path is relative to the file's folder",
                     "give the records inline (records or zone_text), or load the topology from a file")
            return None
        try:
            path = confined(name, root, root)
        except FileProblem as exc:
            self.err(floc, exc.message, exc.hint)
            return None
        try:
            entries = zone_file_records(path, origin=zone, default_ttl=3600, root=root,
                                        max_bytes=self.provenance.max_file_bytes, digests=self.provenance.digests)
        except TopologyError as exc:
            # the file is named here: a file that cannot be read is reported at this field
            for problem in exc.problems:
                if problem.file == path and problem.line is None:
                    self.err(floc, f"{excerpt(name)}: {problem.message}", problem.hint)
                else:
                    self.problems.append(problem)
            return None
        self.files.append(path)
        return entries

    def zone_text(self, loc: Loc, zone: str, text: str) -> ZoneRecords | None:
        """The records of inline master-file text (never ``$INCLUDE``: it opens no file)."""
        from dnsemu.topology.zonefile import zone_text_records

        tloc = (*loc, "zone_text")
        limit = self.provenance.max_file_bytes
        if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
            self.err(tloc, f"zone_text holds more than {limit} octets (max-file-bytes)",
                     "raise the max-file-bytes setting, or split the zone")
            return None
        label = (self.provenance.file + ": " if self.provenance.file else "") + format_loc(tloc)
        try:
            entries = zone_text_records(text, origin=zone, filename=label, default_ttl=3600)
        except TopologyError as exc:
            self.problems.extend(exc.problems)
            return None
        return entries

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
                    f"zone {excerpt(zname)} is the same zone as {excerpt(canonical[name])}",
                    "a virtual network cannot be linked to multiple zones with overlapping "
                    "namespaces; merge their records into one zone",
                )
                continue
            canonical[name] = zname
            self.zone_records[name] = self.records(loc, name, zone.records, zone.zone_file, private=True,
                                                   zone_text=zone.zone_text)
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
                        f"zone {zname} is already linked to {excerpt(link.virtual_network)}",
                        "a zone has one link per virtual network",
                    )
                linked.add(link.virtual_network)
                lname = link.name or link.virtual_network
                if lname in link_names:
                    self.err((*lloc, "name"), f"link name {excerpt(lname)} is used twice in this zone")
                link_names.add(lname)
                if link.registration_enabled:
                    registrations += 1
                    if link.virtual_network in reg_zone:
                        self.err(
                            (*lloc, "registration_enabled"),
                            f"virtual network {excerpt(link.virtual_network)} already registers into "
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
                self.public_records[name] = self.records(loc, name, zone.records, zone.zone_file, private=False,
                                                         zone_text=zone.zone_text)
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
                    self.err(iloc, f"{ip} is already used by {excerpt(ips[key])}")
                ips[key] = pname
            if (pe.resource is None) == (pe.private_link_service_alias is None):
                self.err(loc, "give exactly one of resource and private_link_service_alias")
                continue
            if pe.private_link_service_alias is not None:
                if not PLS_ALIAS.match(pe.private_link_service_alias):
                    self.err(
                        (*loc, "private_link_service_alias"),
                        f"{excerpt(pe.private_link_service_alias)} is not a Private Link Service alias",
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
                    self.err(zloc, f"unknown private DNS zone {excerpt(zone_text)}",
                             _choices(zone_text, t.private_dns_zones))
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
                self.err(loc, f"VM name {excerpt(mname)} cannot be a DNS label: {exc}")
            if not self.vnet_ref((*loc, "virtual_network"), vm.virtual_network):
                continue
            self.inside_vnet((*loc, "private_ip_address"), vm.virtual_network, vm.private_ip_address, vm.subnet)
            key = (vm.virtual_network, str(vm.private_ip_address))
            if key in seen:
                self.err((*loc, "private_ip_address"),
                         f"{vm.private_ip_address} is already used by VM {excerpt(seen[key])}")
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

    # -- Virtual WAN hubs and Azure Firewall DNS proxy (facts §12) ----------------------------------

    def hubs(self) -> None:
        for name, hub in self.t.virtual_hubs.items():
            loc = ("virtual_hubs", name)
            if hub.region is not None and hub.region.lower() not in self.catalog.regions:
                self.err((*loc, "region"), f"unknown region {excerpt(hub.region)}",
                         "use an Azure region name such as eastus or westeurope")
            for i, vnet in enumerate(hub.virtual_network_connections):
                self.vnet_ref((*loc, "virtual_network_connections", i), vnet)

    def firewalls(self) -> None:
        t = self.t
        for fname, fw in t.azure_firewalls.items():
            loc = ("azure_firewalls", fname)
            iloc = (*loc, "private_ip_address")
            if (fw.virtual_network is None) == (fw.virtual_hub is None):
                self.err(loc, "give exactly one of virtual_network and virtual_hub")
                continue
            if fw.virtual_hub is not None:
                hub = t.virtual_hubs.get(fw.virtual_hub)
                if hub is None:
                    self.err((*loc, "virtual_hub"), f"unknown virtual hub {excerpt(fw.virtual_hub)}",
                             _choices(fw.virtual_hub, t.virtual_hubs))
                    continue
                if fw.private_ip_address not in hub.address_prefix:
                    self.err(iloc, f"{fw.private_ip_address} is outside virtual hub {excerpt(fw.virtual_hub)} "
                                   f"({hub.address_prefix})")
            else:
                assert fw.virtual_network is not None
                if not self.vnet_ref((*loc, "virtual_network"), fw.virtual_network):
                    continue
                subnet = FIREWALL_SUBNET if FIREWALL_SUBNET in t.virtual_networks[fw.virtual_network].subnets else None
                self.inside_vnet(iloc, fw.virtual_network, fw.private_ip_address, subnet)
            self.register_server(iloc, str(fw.private_ip_address), "Azure Firewall", fname)

    def firewall_servers(self) -> None:
        """The servers a firewall asks: modelled, never itself, never in AzureFirewallSubnet (facts §12.1)."""
        for fname, fw in self.t.azure_firewalls.items():
            if (fw.virtual_network is None) == (fw.virtual_hub is None):
                continue
            vnet = self.t.virtual_networks.get(fw.virtual_network or "")
            subnet = vnet.subnets.get(FIREWALL_SUBNET) if vnet is not None else None
            for i, text in enumerate(fw.dns_settings.servers):
                sloc = ("azure_firewalls", fname, "dns_settings", "servers", i)
                address, _port = parse_target(text)
                if address == str(fw.private_ip_address):
                    self.err(sloc, "a firewall cannot use its own DNS proxy as its DNS server: queries would loop")
                    continue
                self.target(sloc, text, from_vnet=True)
                if subnet is not None and ipaddress.ip_address(address) in subnet.address_prefix:
                    self.err(sloc, f"{address} is inside {FIREWALL_SUBNET} ({subnet.address_prefix})",
                             "Azure Firewall's custom DNS servers cannot live in AzureFirewallSubnet")

    # -- zones that DNS servers hold themselves ----------------------------------------------------------

    def hosted_zones(self) -> None:
        t = self.t
        servers = [(("custom_dns_servers", n), f"custom:{n}", s) for n, s in t.custom_dns_servers.items()]
        servers += [(("on_premises", n), f"onprem:{n}", s) for n, s in t.on_premises.items()]
        for sloc, key, server in servers:
            forwarded = {}
            for domain in server.conditional_forwarders:
                with _quiet():
                    forwarded[names.parse(domain if domain.endswith(".") else domain + ".")] = domain
            seen: dict[str, str] = {}
            for zname, zone in server.zones.items():
                loc = (*sloc, "zones", zname)
                name = self.zone_name(loc, zname)
                if name is None:
                    continue
                if name in seen:
                    self.err(loc, f"zone {excerpt(zname)} is the same zone as {excerpt(seen[name])}")
                    continue
                seen[name] = zname
                if name in forwarded:
                    self.err(loc, f"{name} is both a zone of this server and a conditional forwarder",
                             "a DNS server either holds a zone or forwards it; remove one of the two")
                records = self.records(loc, name, zone.records, zone.zone_file, private=False,
                                       zone_text=zone.zone_text)
                for record in records:
                    if record.rtype == RRType.DNAME or (record.rtype == RRType.NS and record.name != name):
                        self.err(loc, f"{record.name} {type_name(record.rtype)}: dnsemu models a DNS server's own "
                                      "zone without delegations or DNAME",
                                 "make the child a zone of the server (or of another modelled server)")
                        break
                self.hosted_records[(key, name)] = records

    # -- AKS private clusters (facts §14.1) ---------------------------------------------------------------

    def managed_clusters(self) -> None:
        from dnsemu.topology.clusters import cluster_names, custom_zone_problem, mode, system_zone_problem

        t = self.t
        declared = {}
        for zname in t.private_dns_zones:
            with _quiet():
                declared[names.parse(zname if zname.endswith(".") else zname + ".")] = zname
        for cname, cluster in t.managed_clusters.items():
            loc = ("managed_clusters", cname)
            if not self.vnet_ref((*loc, "virtual_network"), cluster.virtual_network):
                continue
            self.inside_vnet((*loc, "private_ip_address"), cluster.virtual_network, cluster.private_ip_address)
            if cluster.region is not None and cluster.region.lower() not in self.catalog.regions:
                self.err((*loc, "region"), f"unknown region {excerpt(cluster.region)}",
                         "use an Azure region name such as eastus or westeurope")
                continue
            region = (cluster.region or self.vnet_region(cluster.virtual_network)).lower()
            how = mode(cluster.private_dns_zone)
            zloc = (*loc, "private_dns_zone")
            if how == "none" and not cluster.enable_private_cluster_public_fqdn:
                self.err(zloc, "private_dns_zone none needs the public FQDN: AKS does not support none with "
                               "enable_private_cluster_public_fqdn false",
                         "turn the public FQDN on, or let AKS create its system zone")
                continue
            if how == "none" and cluster.private_fqdn:
                self.err((*loc, "private_fqdn"), "a cluster with private_dns_zone none has no private FQDN")
                continue
            if cluster.fqdn_subdomain is not None and how != "custom":
                self.err((*loc, "fqdn_subdomain"), "fqdn_subdomain replaces dns_prefix with a custom private zone only",
                         "use dns_prefix, or name a custom zone in private_dns_zone")
                continue
            try:
                derived = cluster_names(cname, cluster, region)
            except names.NameError_ as exc:
                self.err(loc, f"the cluster's names cannot be DNS names: {exc}")
                continue
            if how == "custom":
                assert derived.zone is not None
                problem = custom_zone_problem(derived.zone, region)
                if problem is not None:
                    self.err(zloc, f"{excerpt(cluster.private_dns_zone)}: {problem}")
                    continue
                if derived.zone not in declared:
                    self.err(zloc, f"unknown private DNS zone {excerpt(cluster.private_dns_zone)}",
                             "declare the custom zone under private_dns_zones (AKS links it to the cluster VNet)")
                    continue
            if how == "system" and cluster.private_fqdn:
                assert derived.zone is not None
                problem = system_zone_problem(derived.zone, region)
                if problem is not None:
                    self.err((*loc, "private_fqdn"), f"{excerpt(cluster.private_fqdn)}: {problem}",
                             "write privateFQDN as ARM reports it: "
                             "<dnsprefix>-<hash>.<guid>.privatelink.<region>.azmk8s.io")
                    continue
            if derived.private_fqdn is not None and derived.zone is not None and (
                    not names.is_subdomain(derived.private_fqdn, derived.zone) or derived.private_fqdn == derived.zone):
                self.err((*loc, "private_fqdn"), f"{derived.private_fqdn} is not a name inside {derived.zone}")

    def run(self) -> LoadedTopology:
        if self.t.region.lower() not in self.catalog.regions:
            self.err(("region",), f"unknown region {excerpt(self.t.region)}", "use an Azure region name such as eastus")
        self.networks()
        self.hubs()
        self.dns_servers()
        self.firewalls()
        self.forwarding()
        self.firewall_servers()
        self.private_zones()
        self.public_zones()
        self.hosted_zones()
        self.endpoints()
        self.machines()
        self.resources()
        self.managed_clusters()
        check_policies(self)  # DNS security policies (facts-2 §10)
        if self.problems:
            self.problems.sort(key=lambda p: (p.file or "", p.line or 0))
            raise TopologyError(self.problems)
        return LoadedTopology(self.t, self.provenance, self.zone_records, self.public_records, tuple(self.files),
                              hosted_records=self.hosted_records)


#: the subnet Azure Firewall lives in (its custom DNS servers may not)
FIREWALL_SUBNET = "AzureFirewallSubnet"
#: what a Virtual WAN hub cannot have, by the section that tried (facts §12.4)
_HUB_REFUSES = {
    "private_dns_zones": "private DNS zone links",
    "dns_forwarding_rulesets": "forwarding ruleset links",
    "dns_private_resolvers": "a DNS private resolver of yours",
    "private_endpoints": "private endpoints of yours",
    "virtual_machines": "VMs of yours",
    "custom_dns_servers": "DNS servers of yours",
    "managed_clusters": "AKS clusters of yours",
    "azure_firewalls": "a firewall by virtual_network (name it with virtual_hub)",
}


class _quiet:
    """Ignore a name that does not parse: another check reports it with its field."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, tb) -> bool:
        return kind is not None and issubclass(kind, names.NameError_)


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


#: where one record was written: (topology field, zone file, line, record path in the zone file)
#: where a record was written: (field path, file, line, record path), or the master-file entry it came from
_Where = tuple[Loc, str | None, int | None, str | None] | ZoneEntry

_LINE_HINT = "write 'name [ttl] TYPE value', relative to the zone, e.g. 'acct 10 A 10.0.1.4'"
_NAME = attrgetter("name")
_RTYPE = attrgetter("rtype")
#: the types of a private zone's records that need nothing but counting (:meth:`_Checker.plain_zone`)
_PLAIN_PRIVATE = PRIVATE_ZONE_TYPES - {RRType.SOA, RRType.CNAME}


class _Placed:
    """The records of one zone in the order they were written, and where each was: an inline one at its
    topology field (a ``_Where`` each), a master file's by its :class:`ZoneRecords` (no object per record)."""

    __slots__ = ("_files", "_inline", "records")

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._inline: list[_Where] = []  # where the inline records (the first ones) were written
        self._files: list[tuple[int, ZoneRecords]] = []  # (index of its first record, a file's records)

    def add(self, record: Record, where: _Where) -> None:
        """An inline record (all of them come before any file's)."""
        assert not self._files
        self.records.append(record)
        self._inline.append(where)

    def add_file(self, records: ZoneRecords | None) -> None:
        if records:
            self._files.append((len(self.records), records))
            self.records += records.records

    def where(self, index: int) -> _Where:
        if index < len(self._inline):
            return self._inline[index]
        for first, records in reversed(self._files):
            if index >= first:
                return records.entry(index - first)
        raise IndexError(index)


class _LineError(ValueError):
    """A master-file line that cannot be read: ``args`` are (message, hint)."""


def _target(record: Record) -> str:
    """A CNAME's target as compared: names compare without regard to case (RFC 4343)."""
    return str(record.rdata[0]).lower()


def _record_from_line(line: str, zone: str) -> Record:
    """One master-file line, relative to ``zone``: ``name [ttl] [IN] TYPE rdata``."""
    from dnsemu.dns.records import split_fields

    fields = split_fields(line)
    if len(fields) < 3:
        raise ValueError(f"{excerpt(line)}: expected 'name [ttl] TYPE value'")
    owner, rest = fields[0], fields[1:]
    ttl = 3600
    if rest and rest[0].isascii() and rest[0].isdigit():
        from dnsemu.topology.zonefile import parse_ttl

        try:
            ttl = parse_ttl(rest.pop(0))
        except ValueError as exc:  # over 2^31-1 (RFC 2181 §8), Azure's bound too
            raise _LineError(*exc.args) from None
    if rest and rest[0].upper() == "IN":
        rest.pop(0)
    if len(rest) < 2:
        raise ValueError(f"{excerpt(line)}: expected a type and a value after the name")
    rtype = RRType.make(rest[0])
    from dnsemu.dns.records import parse_rdata

    owner_name = zone if owner == "@" else names.parse(owner, zone)
    return Record(owner_name, rtype, ttl, parse_rdata(rtype, rest[1:], zone))


def validate(topology: Topology, provenance: Provenance) -> LoadedTopology:
    return _Checker(topology, provenance).run()
