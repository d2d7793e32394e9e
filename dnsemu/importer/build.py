"""Merged facts → a topology (the data of a ``topology.yaml``), with every choice said out loud.

The result must load with dnsemu's loader, so every rule that
:mod:`dnsemu.topology.validate` enforces is checked here first, and what breaks one
(a link to a VNet the input lacks, a zone group naming a zone the input lacks, a second
resolver in one VNet, two VNets with overlapping address spaces…) is left out with a
finding naming the resource ID, never dropped silently.

What Azure derives is not written twice: a private endpoint's zone group writes the
endpoint's A records (dnsemu derives them from the endpoint, facts §15.4: "records from
the zone group are authoritative"), and autoregistration writes VM records; exported
record sets that say exactly that are left to the derivation, every other record set is
written out. When a zone's exported record differs from what the endpoint's zone group
would write, the zone's record wins (it is what Azure answers) and the zone leaves the
endpoint's group, with a finding.

Azure cannot tell what lies outside it: on-premises DNS servers, DNS servers in VNets
that the model knows only as addresses, resolvers on the internet. Each address that a
VNet or a forwarding rule points at and nothing in the input explains becomes a stub —
an on-premises site (named after the local network gateway whose address space holds
it, when the input has one), a custom DNS server in the VNet that holds it, or an
external DNS server — marked ``STUB`` in the output and listed in the summary.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dnsemu.catalog import Catalog, CatalogError, ResolvedEndpoint
from dnsemu.dns import names
from dnsemu.importer import facts as F
from dnsemu.importer.arm import Context
from dnsemu.importer.common import (
    id_key,
    id_name,
    id_resource_group,
    id_segment,
    id_subscription,
    id_type,
    normalize_region,
    resource_type_name,
    subnet_vnet_id,
)

AZURE_DNS = "168.63.129.16"
PLS_ALIAS = re.compile(
    r"^[a-z0-9][a-z0-9-_.]*\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[a-z0-9]+\.azure\.privatelinkservice$",
    re.I,
)
ZONE_GROUP_TTL = 10
STATES = {"approved": "Approved", "pending": "Pending", "rejected": "Rejected", "disconnected": "Disconnected"}
_PH = re.compile(r"\{([A-Za-z]+)\}")
_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SENTINEL = "dnsemu-import-name-0"


@dataclass(frozen=True)
class RecordEntry:
    id: str
    name: str  # relative to the zone, "@" for the apex
    rtype: str
    ttl: int
    values: tuple[str, ...]


@dataclass(frozen=True)
class Stub:
    path: tuple[str, ...]
    what: str


@dataclass
class Built:
    data: dict[str, Any]
    comments: dict[tuple[Any, ...], list[str]] = field(default_factory=dict)
    records: dict[str, list[RecordEntry]] = field(default_factory=dict)  # zone name -> explicit record sets
    stubs: list[Stub] = field(default_factory=list)
    not_modelled: dict[str, list[str]] = field(default_factory=dict)  # reason -> IDs
    counts: Counter[str] = field(default_factory=Counter)


@functools.lru_cache(maxsize=1024)
def _template_regex(template: str) -> re.Pattern[str]:
    out, seen, pos = [], set(), 0
    for m in _PH.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        ph = m.group(1)
        out.append(f"(?P={ph})" if ph in seen else f"(?P<{ph}>[a-z0-9_-]+)")
        seen.add(ph)
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: exactly the IPv4 texts ipaddress reads as four decimal octets (no leading zeros, nothing around them)
_DOTTED_QUAD = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}", re.ASCII)


@functools.lru_cache(maxsize=1 << 16)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address parsed once: an endpoint's is checked against its VNet and its subnet.

    The usual dotted quad is turned into its number here (ipaddress's own parser is most of
    the cost of checking 10,000 endpoints); any other text goes to ipaddress."""
    if type(text) is str and _DOTTED_QUAD.fullmatch(text):
        a, b, c, d = text.split(".")
        return ipaddress.IPv4Address((int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d))
    return ipaddress.ip_address(text)


def _fqdn(text: str) -> str:
    text = text.strip().lower()
    return text if text.endswith(".") else text + "."


def _target_text(ip: str, port: int) -> str:
    if port == 53:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class Builder:
    def __init__(self, merged: dict[str, F.Fact], ctx: Context, cloud: str = "AzureCloud") -> None:
        self.ctx = ctx
        self.cloud = cloud
        self.catalog = Catalog.load(cloud)
        self.by_kind: dict[type, list[F.Fact]] = defaultdict(list)
        for key in sorted(merged):
            self.by_kind[type(merged[key])].append(merged[key])
        self.out = Built({})
        # resolved names
        self.vnet_names: dict[str, str] = {}
        self.vnets: dict[str, dict[str, Any]] = {}  # name -> data
        self.vnet_nets: list[tuple[Any, str]] = []  # (network, vnet name)
        self.subnets: dict[str, tuple[str, str]] = {}  # subnet key -> (vnet name, subnet name)
        self.zone_names: dict[str, str] = {}  # zone key -> zone name
        self.zone_data: dict[str, dict[str, Any]] = {}
        self.zone_keys_known: set[str] = set()
        self.vm_ips: dict[str, str] = {}  # ip -> VM name
        self.nic_by_key: dict[str, F.Nic] = {}
        self.registration: dict[str, str] = {}  # vnet name -> zone name
        self.covered: dict[tuple[str, str], tuple[str, str, str]] = {}  # (zone, fqdn) -> (address, type, PE id)
        self.endpoints_out: dict[str, dict[str, Any]] = {}
        self.servers: dict[str, str] = {}  # modelled DNS server address -> what
        self.regions: dict[str, str] = {}
        self._shapes: dict[tuple, tuple] = {}
        self._regexes: dict[tuple[str, str], list[re.Pattern[str]]] = {}
        self._subnet_nets: dict[tuple[str, str], Any] = {}
        self.hub_names: dict[str, str] = {}  # hub key -> hub name
        self.hub_nets: list[tuple[Any, str]] = []  # (prefix, hub name)
        self.cluster_fqdns: dict[str, str] = {}  # a private cluster's privateFQDN -> cluster ID
        self.system_zones: dict[str, str] = {}  # system zone name -> cluster ID
        self.cluster_records: set[str] = set()  # private FQDNs whose record AKS writes (dnsemu derives it)
        self.cluster_pe_ips: dict[str, str] = {}  # cluster key -> address of a private endpoint to it

    # -- helpers ----------------------------------------------------------------------------------------

    def finding(self, code: str, subject: str, message: str) -> None:
        self.ctx.finding(code, subject, message)

    def comment(self, path: tuple[Any, ...], rid: str, *more: str) -> None:
        planned = self.ctx.planned.get(id_key(rid))
        lines = [f"{rid}  (terraform: {planned})" if planned else rid, *more]
        self.out.comments.setdefault(path, []).extend(lines)

    def of(self, kind: type) -> list[Any]:
        return self.by_kind.get(kind, [])

    def children(
        self, parents: list[Any], orphan: str, *kinds: tuple[type, str]
    ) -> list[dict[str, list[Any]]]:
        """For each (kind, field naming the parent's ID): the facts of that kind by their parent's ID key.

        One whose parent is not among ``parents`` is a finding: it ``orphan`` (the message), and is left out.
        """
        known = {id_key(p.id) for p in parents}
        out: list[dict[str, list[Any]]] = []
        for kind, field_name in kinds:
            grouped: dict[str, list[Any]] = defaultdict(list)
            for child in self.of(kind):
                grouped[id_key(getattr(child, field_name) or "")].append(child)
            out.append(grouped)
        for grouped in out:
            for key, items in grouped.items():
                if key not in known:
                    for child in items:
                        self.finding("missing-reference", child.id, f"{orphan} that is not in the input; left out")
        return out

    def unique_names(self, items: Iterable[tuple[str, str]], what: str) -> dict[str, str]:
        """ID → a name unique among ``items`` ((ID, Azure name) pairs): the Azure name, or with its resource group."""
        items = list(items)
        count = Counter(n.lower() for _, n in items)
        out: dict[str, str] = {}
        taken: set[str] = set()
        for rid, name in items:
            chosen = name
            if count[name.lower()] > 1:
                rg = (id_resource_group(rid) or "").lower()
                chosen = f"{name}-{rg}" if rg else name
                if chosen.lower() in taken:
                    chosen = f"{chosen}-{(id_subscription(rid) or '')[:8]}"
                n = 2
                base = chosen
                while chosen.lower() in taken:
                    chosen, n = f"{base}-{n}", n + 1
                self.finding(
                    "renamed",
                    rid,
                    f"{len([1 for _, x in items if x.lower() == name.lower()])} {what}s are named "
                    f"{name!r}: this one is {chosen!r} in the topology",
                )
            taken.add(chosen.lower())
            out[id_key(rid)] = chosen
        return out

    def vnet_of(self, rid: str | None, subject: str, what: str) -> str | None:
        if rid is None:
            self.finding("missing-reference", subject, f"{what} names no virtual network; left out")
            return None
        name = self.vnet_names.get(id_key(rid))
        if name is None:
            self.finding(
                "missing-reference",
                subject,
                f"{what} refers to virtual network {rid}, which is not in the input; left out",
            )
        return name

    def subnet_of(self, subnet_id: str | None) -> tuple[str, str] | None:
        return self.subnets.get(id_key(subnet_id)) if subnet_id else None

    def in_vnet(self, vnet: str, ip: str) -> bool:
        addr = _address(ip)
        return any(addr in net for net in self.vnets[vnet]["_nets"])

    def in_subnet(self, vnet: str, subnet: str | None, ip: str) -> bool:
        if subnet is None:
            return True
        key = (vnet, subnet)
        net = self._subnet_nets.get(key)
        if net is None:
            prefix = self.vnets[vnet].get("subnets", {}).get(subnet, {}).get("address_prefix")
            if prefix is None:
                return True
            net = self._subnet_nets[key] = ipaddress.ip_network(prefix)
        return _address(ip) in net

    # -- virtual networks -----------------------------------------------------------------------------

    def build_vnets(self) -> None:
        subnets_by_vnet: dict[str, list[F.Subnet]] = defaultdict(list)
        for s in self.of(F.Subnet):
            if s.vnet_id and s.info:
                subnets_by_vnet[id_key(s.vnet_id)].append(s)
        peerings_by_vnet: dict[str, list[F.Peering]] = defaultdict(list)
        for p in self.of(F.Peering):
            if p.vnet_id:
                peerings_by_vnet[id_key(p.vnet_id)].append(p)
        dns_override = {id_key(d.vnet_id): d for d in self.of(F.VNetDnsServers) if d.vnet_id}
        known = {id_key(v.id) for v in self.of(F.VNet)}
        for key in list(subnets_by_vnet) + list(peerings_by_vnet) + list(dns_override):
            if key not in known:
                child = (subnets_by_vnet.get(key) or peerings_by_vnet.get(key) or [dns_override.get(key)])[0]
                self.finding(
                    "missing-reference", child.id, "belongs to a virtual network that is not in the input; left out"
                )
                known.add(key)
        candidates = []
        for v in self.of(F.VNet):
            if not v.address_space:
                self.finding("skipped", v.id, "virtual network without an address space in the input; left out")
                continue
            candidates.append(v)
        names_ = self.unique_names(((v.id, v.name or id_name(v.id)) for v in candidates), "virtual network")
        taken: list[tuple[Any, str]] = []
        for v in sorted(candidates, key=lambda v: names_[id_key(v.id)].lower()):
            name = names_[id_key(v.id)]
            nets = [ipaddress.ip_network(p) for p in v.address_space or ()]
            clash = next(((n, other) for n in nets for net, other in taken if n.overlaps(net)), None)
            if clash:
                self.finding(
                    "overlapping-address-space",
                    v.id,
                    f"{clash[0]} overlaps virtual network {clash[1]!r}: dnsemu picks a network by source address, "
                    "so it holds one of two overlapping networks; this one is left out (import it on its own)",
                )
                continue
            taken.extend((n, name) for n in nets)
            self.vnet_names[id_key(v.id)] = name
            data: dict[str, Any] = {"address_space": list(v.address_space or ())}
            region = normalize_region(v.location)
            if region and region not in self.catalog.regions:
                self.finding("unknown-region", v.id, f"region {v.location!r} is not in dnsemu's region table; left out")
                region = None
            if region:
                self.regions[name] = region
            subnets: dict[str, Any] = {}
            infos = [(f"{v.id}/subnets/{s.name}", s) for s in v.subnets or ()]
            infos += [(s.id, s.info) for s in subnets_by_vnet.get(id_key(v.id), []) if s.info]
            for sid, info in infos:
                if info.name in subnets:
                    continue
                if not info.prefixes:
                    self.finding("skipped", sid, "subnet without an address prefix; left out")
                    continue
                prefix = ipaddress.ip_network(info.prefixes[0])
                if len(info.prefixes) > 1:
                    self.finding(
                        "subnet-prefixes",
                        sid,
                        f"{len(info.prefixes)} address prefixes; dnsemu's subnet holds one: {prefix} kept",
                    )
                if not any(prefix.version == n.version and prefix.subnet_of(n) for n in nets):
                    self.finding("skipped", sid, f"subnet {prefix} lies outside the address space; left out")
                    continue
                if any(prefix.overlaps(ipaddress.ip_network(s["address_prefix"])) for s in subnets.values()):
                    self.finding("skipped", sid, f"subnet {prefix} overlaps another subnet; left out")
                    continue
                entry: dict[str, Any] = {"address_prefix": str(prefix)}
                if info.service_endpoints:
                    entry["service_endpoints"] = sorted(set(info.service_endpoints))
                subnets[info.name] = entry
                self.subnets[id_key(sid)] = (name, info.name)
            if subnets:
                data["subnets"] = dict(sorted(subnets.items()))
            dns = v.dns_servers
            override = dns_override.get(id_key(v.id))
            if override is not None and override.dns_servers is not None:
                dns = override.dns_servers
            if dns:
                data["dns_servers"] = list(dns)
            peers = [(remote, state) for remote, state in v.peerings or ()]
            peers += [(p.remote_id, p.state or "") for p in peerings_by_vnet.get(id_key(v.id), []) if p.remote_id]
            data["_peers"] = peers
            data["_nets"] = nets
            data["_id"] = v.id
            self.vnets[name] = data
            self.comment(("virtual_networks", name), v.id)
        for name, data in self.vnets.items():
            peers = []
            for remote, _state in data.pop("_peers"):
                other = self.vnet_names.get(id_key(remote))
                if other is None:
                    self.finding(
                        "missing-reference",
                        data["_id"],
                        f"peering to virtual network {remote}, which is not in the input; left out",
                    )
                elif other != name and other not in peers:
                    peers.append(other)
            if peers:
                data["peerings"] = sorted(peers)
        for name in self.vnets:
            for net in self.vnets[name]["_nets"]:
                self.vnet_nets.append((net, name))

    # -- zones, links ------------------------------------------------------------------------------------

    def zone_name_of(self, zone_id: str) -> str:
        return (id_segment(zone_id, "privateDnsZones") or id_name(zone_id)).lower().rstrip(".")

    def build_zones(self) -> None:
        zones: dict[str, str] = {}  # key -> id
        names_given: dict[str, str] = {}
        for z in self.of(F.Zone):
            zones[id_key(z.id)] = z.id
            names_given[id_key(z.id)] = z.name or self.zone_name_of(z.id)
        links_by_zone: dict[str, list[F.ZoneLink]] = defaultdict(list)
        for link in self.of(F.ZoneLink):
            if link.zone_id:
                links_by_zone[id_key(link.zone_id)].append(link)
                zones.setdefault(id_key(link.zone_id), link.zone_id)
        for rs in self.of(F.RecordSet):
            if rs.zone_id:
                zones.setdefault(id_key(rs.zone_id), rs.zone_id)
        self.zone_keys_known = set(zones)
        by_name: dict[str, list[str]] = defaultdict(list)
        for key, zid in zones.items():
            by_name[names_given.get(key) or self.zone_name_of(zid)].append(key)
        for zname in sorted(by_name):
            keys = sorted(by_name[zname], key=lambda k: (-len(links_by_zone.get(k, [])), k))
            try:
                canonical = names.parse(zname + ".")
            except names.NameError_ as exc:
                self.finding("skipped", zones[keys[0]], f"zone name {zname!r} is not a domain name ({exc}); left out")
                continue
            if names.label_count(canonical) < 2 or canonical in self.catalog.reserved_zone_names:
                self.finding("skipped", zones[keys[0]], f"zone {zname!r} is a name Azure refuses; left out")
                continue
            for other in keys[1:]:
                self.finding(
                    "duplicate-zone",
                    zones[other],
                    f"another private zone is named {zname} ({zones[keys[0]]}); dnsemu holds one zone per name, so "
                    "this one, its links and records are left out (import its subscription on its own)",
                )
            key = keys[0]
            self.zone_names[key] = zname
            data: dict[str, Any] = {}
            links = []
            seen_vnets: set[str] = set()
            for link in sorted(links_by_zone.get(key, []), key=lambda item: id_key(item.id)):
                vnet = self.vnet_of(link.vnet_id, link.id, "zone link")
                if vnet is None:
                    continue
                if vnet in seen_vnets:
                    self.finding("skipped", link.id, f"zone {zname} already has a link to {vnet!r}; left out")
                    continue
                seen_vnets.add(vnet)
                entry: dict[str, Any] = {"virtual_network": vnet}
                if link.name and link.name != vnet:
                    entry["name"] = link.name
                if link.registration:
                    if vnet in self.registration:
                        self.finding(
                            "registration",
                            link.id,
                            f"{vnet!r} already registers into {self.registration[vnet]}; registration left off here",
                        )
                    else:
                        entry["registration_enabled"] = True
                        self.registration[vnet] = zname
                policy = (link.policy or "Default").strip()
                if policy.lower() == "nxdomainredirect":
                    if zname.startswith("privatelink.") or ".privatelink." in zname:
                        entry["resolution_policy"] = "NxDomainRedirect"
                    else:
                        self.finding(
                            "resolution-policy",
                            link.id,
                            "NxDomainRedirect on a zone that is no privatelink zone: Default used",
                        )
                elif policy.lower() != "default":
                    self.finding("resolution-policy", link.id, f"unknown resolution policy {policy!r}: Default used")
                self.comment(("private_dns_zones", zname, "virtual_network_links", len(links)), link.id)
                links.append(entry)
            if links:
                data["virtual_network_links"] = links
            self.zone_data[zname] = data
            self.comment(("private_dns_zones", zname), zones[key])

    # -- machines ----------------------------------------------------------------------------------------

    def build_vms(self) -> None:
        for nic in self.of(F.Nic):
            self.nic_by_key[id_key(nic.id)] = nic
        vm_nics: dict[str, list[tuple[F.Nic, bool]]] = defaultdict(list)
        vm_ids: dict[str, str] = {}
        for vm in self.of(F.VirtualMachine):
            vm_ids[id_key(vm.id)] = vm.id
            for nic_id, primary in vm.nics or ():
                nic = self.nic_by_key.get(id_key(nic_id))
                if nic is None:
                    continue
                vm_nics[id_key(vm.id)].append((nic, primary))
        for nic in self.of(F.Nic):
            if nic.vm_id:
                vm_ids.setdefault(id_key(nic.vm_id), nic.vm_id)
                if all(n is not nic for n, _ in vm_nics[id_key(nic.vm_id)]):
                    vm_nics[id_key(nic.vm_id)].append((nic, bool(nic.primary)))
        vm_names = {id_key(v.id): v.name for v in self.of(F.VirtualMachine) if v.name}
        out: dict[str, Any] = {}
        suffixes: dict[str, set[str]] = defaultdict(set)
        for key in sorted(vm_ids):
            rid = vm_ids[key]
            name = vm_names.get(key) or id_name(rid)
            nics = sorted(vm_nics.get(key, []), key=lambda p: (not p[1], not p[0].primary, id_key(p[0].id)))
            configs = [(nic, c) for nic, _ in nics for c in nic.ip_configs or () if c.address]
            if not configs:
                self.finding("skipped", rid, "virtual machine without a private address in the input; left out")
                continue
            configs.sort(key=lambda nc: (nc[0] is not nics[0][0], not nc[1].primary))
            nic, config = configs[0]
            where = self.subnet_of(config.subnet_id)
            if where is None:
                vnet_id = subnet_vnet_id(config.subnet_id) if config.subnet_id else None
                self.vnet_of(vnet_id, rid, "virtual machine's NIC")
                continue
            vnet, subnet = where
            try:
                names.parse(name.lower() + ".")
                if "." in name:
                    raise names.NameError_("a dot")
            except names.NameError_ as exc:
                self.finding("skipped", rid, f"VM name {name!r} cannot be a DNS label ({exc}); left out")
                continue
            if name in out:
                self.finding("skipped", rid, f"another virtual machine is named {name!r}; left out")
                continue
            if not self.in_subnet(vnet, subnet, config.address):
                self.finding("skipped", rid, f"{config.address} lies outside subnet {subnet!r}; left out")
                continue
            if len(configs) > 1:
                others = ", ".join(c.address for _, c in configs[1:] if c.address)
                self.finding(
                    "vm-addresses", rid, f"dnsemu models a VM's primary address {config.address}; not {others}"
                )
            entry: dict[str, Any] = {"virtual_network": vnet, "private_ip_address": config.address, "subnet": subnet}
            if (config.allocation or "").lower() == "static":
                entry["ip_allocation"] = "Static"
            out[name] = entry
            self.vm_ips[config.address] = name
            if nic.internal_suffix:
                suffixes[vnet].add(nic.internal_suffix.rstrip("."))
            if nic.dns_servers:
                self.finding(
                    "nic-dns-servers",
                    nic.id,
                    f"NIC-level DNS servers {', '.join(nic.dns_servers)} are not modelled: "
                    "the VM resolves as its VNet does",
                )
            self.comment(("virtual_machines", name), rid if key in vm_names else nic.id)
        for vnet, values in suffixes.items():
            if len(values) == 1:
                self.vnets[vnet]["internal_domain_name_suffix"] = next(iter(values))
        if out:
            self.out.data["virtual_machines"] = dict(sorted(out.items()))
        for nic in self.of(F.Nic):
            if not nic.vm_id and not nic.pe_id and not any(nic in [n for n, _ in v] for v in vm_nics.values()):
                self.out.not_modelled.setdefault(
                    "network interface of neither a VM nor a private endpoint in the input", []
                ).append(nic.id)

    # -- DNS private resolvers and rulesets ----------------------------------------------------------

    def build_resolvers(self) -> dict[str, str]:
        """Resolvers; returns outbound endpoint key → ``resolver/endpoint``."""
        resolvers = self.of(F.Resolver)
        inbound_by, outbound_by = self.children(
            resolvers,
            "belongs to a DNS private resolver",
            (F.InboundEndpoint, "resolver_id"),
            (F.OutboundEndpoint, "resolver_id"),
        )
        names_ = self.unique_names(((r.id, r.name or id_name(r.id)) for r in resolvers), "DNS private resolver")
        per_vnet: dict[str, str] = {}
        outbound_refs: dict[str, str] = {}
        out: dict[str, Any] = {}
        for r in resolvers:
            name = names_[id_key(r.id)]
            vnet = self.vnet_of(r.vnet_id, r.id, "DNS private resolver")
            if vnet is None:
                continue
            if vnet in per_vnet:
                self.finding("skipped", r.id, f"{vnet!r} already has DNS private resolver {per_vnet[vnet]!r}; left out")
                continue
            per_vnet[vnet] = name
            entry: dict[str, Any] = {"virtual_network": vnet}
            inbound: dict[str, Any] = {}
            for e in sorted(inbound_by.get(id_key(r.id), []), key=lambda e: id_key(e.id)):
                if not e.ip_configs:
                    self.finding("skipped", e.id, "inbound endpoint without an address in the input; left out")
                    continue
                ip, subnet_id = e.ip_configs[0]
                where = self.subnet_of(subnet_id)
                if not self.in_vnet(vnet, ip) or (where is not None and where[0] != vnet):
                    self.finding("skipped", e.id, f"{ip} lies outside {vnet!r}; left out")
                    continue
                if ip in self.servers:
                    self.finding("skipped", e.id, f"{ip} is already {self.servers[ip]}; left out")
                    continue
                if len(inbound) == 5:
                    self.finding("skipped", e.id, "a resolver has at most 5 inbound endpoints; left out")
                    continue
                ep: dict[str, Any] = {"private_ip_address": ip}
                if where is not None and self.in_subnet(vnet, where[1], ip):
                    ep["subnet"] = where[1]
                ename = e.name or id_name(e.id)
                inbound[ename] = ep
                self.servers[ip] = f"inbound endpoint {name}/{ename}"
                self.comment(("dns_private_resolvers", name, "inbound_endpoints", ename), e.id)
            outbound = []
            for e in sorted(outbound_by.get(id_key(r.id), []), key=lambda e: id_key(e.id)):
                ename = e.name or id_name(e.id)
                if len(outbound) == 5:
                    self.finding("skipped", e.id, "a resolver has at most 5 outbound endpoints; left out")
                    continue
                self.comment(("dns_private_resolvers", name, "outbound_endpoints", len(outbound)), e.id)
                outbound.append(ename)
                outbound_refs[id_key(e.id)] = f"{name}/{ename}"
            if inbound:
                entry["inbound_endpoints"] = inbound
            if outbound:
                entry["outbound_endpoints"] = outbound
            out[name] = entry
            self.comment(("dns_private_resolvers", name), r.id)
        if out:
            self.out.data["dns_private_resolvers"] = dict(sorted(out.items()))
        return outbound_refs

    def build_rulesets(self, outbound_refs: dict[str, str]) -> list[tuple[str, int, str, str]]:
        """Rulesets; returns the rule targets (address, port, rule path, rule ID) for stub detection."""
        rulesets = self.of(F.Ruleset)
        rules_by, links_by = self.children(
            rulesets, "belongs to a forwarding ruleset", (F.Rule, "ruleset_id"), (F.RulesetLink, "ruleset_id")
        )
        names_ = self.unique_names(((r.id, r.name or id_name(r.id)) for r in rulesets), "forwarding ruleset")
        linked: dict[str, str] = {}
        targets: list[tuple[str, int, str, str]] = []
        out: dict[str, Any] = {}
        for rs in rulesets:
            name = names_[id_key(rs.id)]
            refs = []
            for oid in rs.outbound_ids or ():
                ref = outbound_refs.get(id_key(oid))
                if ref is None:
                    self.finding(
                        "missing-reference", rs.id, f"outbound endpoint {oid} is not in the input (or was left out)"
                    )
                elif ref not in refs:
                    refs.append(ref)
            if not refs:
                self.finding("skipped", rs.id, "forwarding ruleset without a known outbound endpoint; left out")
                continue
            if len(refs) > 2:
                self.finding("skipped", rs.id, f"more than 2 outbound endpoints; {', '.join(refs[2:])} left out")
                refs = refs[:2]
            resolver_vnet = self.out.data["dns_private_resolvers"][refs[0].split("/")[0]]["virtual_network"]
            region = self.regions.get(resolver_vnet)
            entry: dict[str, Any] = {"dns_resolver_outbound_endpoints": refs}
            vlinks = []
            for link in sorted(links_by.get(id_key(rs.id), []), key=lambda item: id_key(item.id)):
                vnet = self.vnet_of(link.vnet_id, link.id, "ruleset link")
                if vnet is None:
                    continue
                if vnet in linked:
                    self.finding(
                        "skipped", link.id, f"{vnet!r} is already linked to ruleset {linked[vnet]!r}; left out"
                    )
                    continue
                if region and self.regions.get(vnet) and self.regions[vnet] != region:
                    self.finding(
                        "skipped", link.id, f"{vnet!r} is in another region than the ruleset's resolver; left out"
                    )
                    continue
                linked[vnet] = name
                self.comment(("dns_forwarding_rulesets", name, "virtual_network_links", len(vlinks)), link.id)
                vlinks.append(vnet)
            if vlinks:
                entry["virtual_network_links"] = vlinks
            rules: dict[str, Any] = {}
            domains: dict[str, str] = {}
            for rule in sorted(rules_by.get(id_key(rs.id), []), key=lambda item: id_key(item.id)):
                rname = rule.name or id_name(rule.id)
                if not rule.domain:
                    self.finding("skipped", rule.id, "forwarding rule without a domain name; left out")
                    continue
                domain = rule.domain.strip()
                if domain != ".":
                    try:
                        canonical = names.parse(domain if domain.endswith(".") else domain + ".")
                    except names.NameError_ as exc:
                        self.finding("skipped", rule.id, f"{domain!r} is not a domain name ({exc}); left out")
                        continue
                else:
                    canonical = "."
                if canonical in domains:
                    self.finding("skipped", rule.id, f"rule {domains[canonical]!r} already forwards {domain}; left out")
                    continue
                texts = []
                for ip, port in rule.targets or ():
                    if ip == AZURE_DNS:
                        self.finding(
                            "bad-value",
                            rule.id,
                            "a rule cannot target 168.63.129.16 (Azure refuses it); target left out",
                        )
                        continue
                    texts.append(_target_text(ip, port))
                    targets.append((ip, port, f"dns_forwarding_rulesets.{name}.forwarding_rules.{rname}", rule.id))
                if not texts:
                    self.finding("skipped", rule.id, "forwarding rule without a usable target; left out")
                    continue
                if len(texts) > 6:
                    self.finding("bad-value", rule.id, f"more than 6 targets; {', '.join(texts[6:])} left out")
                    texts = texts[:6]
                domains[canonical] = rname
                r_entry: dict[str, Any] = {"domain_name": domain, "target_dns_servers": texts}
                if rule.enabled is False:
                    r_entry["state"] = "Disabled"
                rules[rname] = r_entry
                self.comment(("dns_forwarding_rulesets", name, "forwarding_rules", rname), rule.id)
            if rules:
                entry["forwarding_rules"] = rules
            out[name] = entry
            self.comment(("dns_forwarding_rulesets", name), rs.id)
        if out:
            self.out.data["dns_forwarding_rulesets"] = dict(sorted(out.items()))
        return targets

    # -- private endpoints -----------------------------------------------------------------------------

    def service_endpoints(
        self, rtype: str, group: str, name: str, observed: dict[str, str], default_region: str | None
    ) -> tuple[Any, str | None, dict[str, str]]:
        """(catalog endpoints, region to write or None, placeholders) for a target resource."""
        gid = group.lower()
        regexes = self._regexes.get((rtype.lower(), gid))
        if regexes is None:
            service = self.catalog.find(rtype, group)
            regexes = self._regexes[(rtype.lower(), gid)] = [
                _template_regex(template)
                for endpoint in service.endpoints
                if not endpoint.group_ids or gid in (g.lower() for g in endpoint.group_ids)
                for template in (endpoint.public, endpoint.private)
            ]
        captured: dict[str, str] = {}
        lname = name.lower()
        for regex in regexes:
            for fqdn in observed:
                m = regex.fullmatch(fqdn)
                if m:
                    groups = m.groupdict()
                    if groups.get("name", lname) == lname:
                        captured.update({k: v for k, v in groups.items() if v})
        region = captured.get("regionName") or captured.get("region")
        if region is None and "regionCode" in captured:
            region = next((r for r, c in self.catalog.regions.items() if c == captured["regionCode"]), None)
        placeholders = {k: captured[k] for k in ("dnsPrefix", "partitionId") if k in captured}
        chosen = region or default_region
        endpoints = self._endpoints(rtype, group, name.lower(), chosen, tuple(sorted(placeholders.items())))
        return endpoints, (region if region and region != default_region else None), placeholders

    def _endpoints(self, rtype: str, group: str, name: str, region: str, placeholders: tuple) -> tuple:
        """The catalog's endpoints for a resource; worked out once per service and region, then
        only the name changes (the catalog itself spells them when the name is no plain label)."""
        if not _LABEL.match(name):
            return self.catalog.endpoints(rtype, group, name, region, **dict(placeholders))
        key = (rtype.lower(), group.lower(), region, placeholders)
        shape = self._shapes.get(key)
        if shape is None:
            shape = self.catalog.endpoints(rtype, group, _SENTINEL, region, **dict(placeholders))
            self._shapes[key] = shape
        return tuple(
            ResolvedEndpoint(
                e.public_fqdn.replace(_SENTINEL, name),
                e.private_fqdn.replace(_SENTINEL, name),
                e.private_zone.replace(_SENTINEL, name),
                e.cluster.replace(_SENTINEL, name) if e.cluster else None,
            )
            for e in shape
        )

    def build_endpoints(self) -> None:
        pes = self.of(F.PrivateEndpoint)
        (groups_by_pe,) = self.children(pes, "zone group of a private endpoint", (F.ZoneGroup, "pe_id"))
        nics_by_pe: dict[str, list[F.Nic]] = defaultdict(list)
        for nic in self.of(F.Nic):
            if nic.pe_id:
                nics_by_pe[id_key(nic.pe_id)].append(nic)
        pls_alias = {id_key(p.id): p.alias for p in self.of(F.PrivateLinkService) if p.alias}
        names_ = self.unique_names(((p.id, p.name or id_name(p.id)) for p in pes), "private endpoint")
        used_ips: dict[tuple[str, str], str] = {}
        out: dict[str, Any] = {}
        for pe in pes:
            name = names_[id_key(pe.id)]
            where = self.subnet_of(pe.subnet_id)
            if where is None:
                vnet_id = subnet_vnet_id(pe.subnet_id) if pe.subnet_id else None
                if self.vnet_of(vnet_id, pe.id, "private endpoint's subnet") is not None:
                    self.finding("missing-reference", pe.id, f"subnet {pe.subnet_id} is not in the input; left out")
                continue
            vnet, subnet = where
            conn = pe.connection
            if conn is None or (conn.target is None and conn.alias is None):
                self.finding(
                    "skipped",
                    pe.id,
                    "private endpoint without a private link service connection in the input; left out",
                )
                continue
            # addresses, and which FQDN each serves
            observed: dict[str, str] = {}
            addresses: list[str] = []
            nics = [self.nic_by_key[id_key(n)] for n in pe.nic_ids or () if id_key(n) in self.nic_by_key]
            nics += [n for n in nics_by_pe.get(id_key(pe.id), []) if n not in nics]
            for nic in nics:
                for c in sorted(nic.ip_configs or (), key=lambda c: not c.primary):
                    if c.address:
                        addresses.append(c.address)
                        for f in c.fqdns:
                            observed.setdefault(_fqdn(f), c.address)
            for c in pe.ip_configs or ():
                if c.address:
                    addresses.append(c.address)
            for fqdn, ips in pe.custom_dns or ():
                if ips:
                    observed.setdefault(_fqdn(fqdn), ips[0])
                    addresses.extend(ips)
            zone_groups = sorted(groups_by_pe.get(id_key(pe.id), []), key=lambda g: id_key(g.id))
            for g in zone_groups:
                for cfg in g.configs or ():
                    for fqdn, ips in cfg.record_sets:
                        if ips:
                            observed.setdefault(_fqdn(fqdn), ips[0])
                            addresses.extend(ips)
            distinct = list(dict.fromkeys(addresses))
            if not distinct:
                self.finding(
                    "skipped", pe.id, "private endpoint without an address in the input (add its NIC); left out"
                )
                continue
            entry: dict[str, Any] = {"virtual_network": vnet, "subnet": subnet}
            target_type = id_type(conn.target) if conn.target and conn.target.startswith("/") else None
            if (
                target_type == "microsoft.containerservice/managedclusters"
                and conn.target
                and any(id_key(c.id) == id_key(conn.target) for c in self.of(F.ManagedCluster))
            ):
                # an AKS private cluster's API server endpoint: the cluster's entry holds its address
                self.cluster_pe_ips[id_key(conn.target)] = distinct[0]
                continue
            status = STATES.get((conn.status or "").lower())
            if conn.status and status is None:
                self.finding(
                    "connection-state",
                    pe.id,
                    f"connection state {conn.status!r} is not one dnsemu knows: Disconnected used",
                )
                status = "Disconnected"
            if status is None:
                status = "Pending" if conn.manual else "Approved"
                if conn.manual:
                    self.finding(
                        "connection-state",
                        pe.id,
                        "the input does not say whether the manual connection was approved: Pending assumed "
                        "(az network private-endpoint show tells)",
                    )
            comments = []
            if target_type == "microsoft.network/privatelinkservices" or (
                conn.alias or (conn.target and PLS_ALIAS.match(conn.target))
            ):
                alias = conn.alias or (conn.target if conn.target and PLS_ALIAS.match(conn.target) else None)
                alias = alias or pls_alias.get(id_key(conn.target or ""))
                if alias is None or not PLS_ALIAS.match(alias):
                    region = self.regions.get(vnet) or "eastus"
                    pls_name = re.sub(r"[^a-z0-9-]", "-", id_name(conn.target or name).lower()) or "pls"
                    alias = f"{pls_name}.00000000-0000-0000-0000-000000000000.{region}.azure.privatelinkservice"
                    self.out.stubs.append(
                        Stub(
                            ("private_endpoints", name, "private_link_service_alias"),
                            f"the alias of Private Link Service {conn.target} (the input lacks the service)",
                        )
                    )
                    comments.append("STUB: private_link_service_alias — the alias of the service this endpoint reaches")
                ips = distinct[:1]
                entry["private_ip_addresses"] = ips
                entry["private_link_service_alias"] = alias
                if zone_groups:
                    self.finding(
                        "skipped",
                        zone_groups[0].id,
                        "a zone group on an endpoint to a Private Link Service: dnsemu derives no records from it; the "
                        "zone's own records are kept",
                    )
                endpoints_ = []
            else:
                parsed = resource_type_name(conn.target or "")
                group = conn.group_ids[0] if conn.group_ids else None
                if parsed is None or group is None:
                    self.finding("skipped", pe.id, "connection without a target resource ID and group id; left out")
                    continue
                rtype, rname = parsed
                default_region = self.regions.get(vnet)
                try:
                    endpoints_, region, placeholders = self.service_endpoints(
                        rtype, group, rname, observed, default_region or "eastus"
                    )
                except CatalogError as exc:
                    self.finding(
                        "unknown-service",
                        pe.id,
                        f"{exc}: the endpoint is left out and its zone records are kept as records",
                    )
                    continue
                ips = []
                for e in endpoints_:
                    ip = observed.get(e.public_fqdn) or observed.get(e.private_fqdn)
                    if ip is None and len(distinct) == 1:
                        ip = distinct[0]
                    ips.append(ip)
                if any(ip is None for ip in ips):
                    if len(distinct) == len(endpoints_):
                        self.finding(
                            "endpoint-addresses",
                            pe.id,
                            "the input does not say which address serves which FQDN: NIC order assumed",
                        )
                        ips = distinct
                    else:
                        self.finding(
                            "skipped",
                            pe.id,
                            f"{len(distinct)} addresses for {len(endpoints_)} FQDNs and no FQDN per address in the "
                            "input (add the NIC); left out",
                        )
                        continue
                ip_list = [ips[0]] if len(set(ips)) == 1 else ips
                entry["private_ip_addresses"] = ip_list
                resource: dict[str, Any] = {"type": rtype, "name": rname}
                if region:
                    resource["region"] = region
                if "dnsPrefix" in placeholders:
                    resource["dns_prefix"] = placeholders["dnsPrefix"]
                if "partitionId" in placeholders:
                    resource["partition_id"] = placeholders["partitionId"]
                entry["resource"] = resource
                entry["group_id"] = group
            bad = next((ip for ip in entry["private_ip_addresses"] if not self.in_vnet(vnet, ip)), None)
            bad = bad or next(
                (ip for ip in entry["private_ip_addresses"] if not self.in_subnet(vnet, subnet, ip)), None
            )
            if bad:
                self.finding("skipped", pe.id, f"{bad} lies outside subnet {subnet!r} of {vnet!r}; left out")
                continue
            clash = next(
                ((ip, used_ips[(vnet, ip)]) for ip in entry["private_ip_addresses"] if (vnet, ip) in used_ips), None
            )
            if clash:
                self.finding("skipped", pe.id, f"{clash[0]} is already the address of endpoint {clash[1]!r}; left out")
                continue
            for ip in entry["private_ip_addresses"]:
                used_ips[(vnet, ip)] = name
            if status != "Approved":
                entry["connection_state"] = status
            # the zone group: zones of this service the input has
            group_zones: list[str] = []
            service_zones = {e.private_zone for e in endpoints_}
            for g in zone_groups:
                comments.append(f"zone group: {g.id}")
                for cfg in g.configs or ():
                    zkey = id_key(cfg.zone_id or "")
                    zname = self.zone_names.get(zkey)
                    if zname is None:
                        missing = "is not in the input" if zkey not in self.zone_keys_known else "was left out"
                        self.finding(
                            "zone-group-missing-zone",
                            g.id,
                            f"names private zone {cfg.zone_id}, which {missing}: that zone is left out of the group",
                        )
                        continue
                    if not endpoints_:
                        continue
                    if zname + "." not in service_zones:
                        self.finding(
                            "zone-group-zone",
                            g.id,
                            f"{zname} is not a zone of {entry['resource']['type']} '{entry['group_id']}' in dnsemu's "
                            "catalog: left out of the group, its records are kept as records",
                        )
                        continue
                    if zname not in group_zones:
                        group_zones.append(zname)
            if len(group_zones) > 5:
                self.finding(
                    "zone-group-zone",
                    pe.id,
                    f"more than 5 zones in the zone group; {', '.join(group_zones[5:])} left out",
                )
                group_zones = group_zones[:5]
            for i, e in enumerate(endpoints_):
                zname = e.private_zone.rstrip(".")
                if zname in group_zones:
                    ip = entry["private_ip_addresses"][i if len(entry["private_ip_addresses"]) > 1 else 0]
                    self.covered[(zname, e.private_fqdn)] = (ip, "AAAA" if ":" in ip else "A", pe.id)
            if group_zones:
                entry["private_dns_zone_group"] = group_zones
            entry["_id"] = pe.id
            out[name] = entry
            self.comment(("private_endpoints", name), pe.id, *comments)
        self.endpoints_out = out

    # -- records -----------------------------------------------------------------------------------------

    def build_records(self) -> None:
        vm_auto: dict[tuple[str, str], str] = {}
        for vm_name, vm in (self.out.data.get("virtual_machines") or {}).items():
            zone = self.registration.get(vm["virtual_network"])
            if zone and vm.get("ip_allocation", "Dynamic") == "Dynamic":
                vm_auto[(zone, f"{vm_name.lower()}.{zone}.")] = vm["private_ip_address"]
        items = []
        for rs in self.of(F.RecordSet):
            zname = self.zone_names.get(id_key(rs.zone_id or ""))
            if zname is None or (rs.rtype or "").upper() == "SOA":
                continue  # the zone was left out (with a finding), or Azure's own SOA (dnsemu writes it)
            rel = rs.name or "@"
            fqdn = f"{zname}." if rel == "@" else f"{rel.lower()}.{zname}."
            ttl = rs.ttl if rs.ttl is not None else 3600
            items.append((rs, zname, rel, fqdn, (rs.rtype or "").upper(), ttl, tuple(rs.values or ())))
        # A zone whose records differ from what an endpoint's zone group writes leaves that group.
        drift: dict[tuple[str, str], str] = {}
        for _rs, zname, _rel, fqdn, rtype, ttl, values in items:
            covered = self.covered.get((zname, fqdn))
            if covered is None:
                continue
            ip, ctype, pe_id = covered
            if (rtype, values, ttl) != (ctype, (ip,), ZONE_GROUP_TTL):
                drift.setdefault(
                    (pe_id, zname),
                    f"the zone holds {rtype} {' '.join(values)} (TTL {ttl}) at {fqdn.rstrip('.')}, not what the zone "
                    f"group writes ({ctype} {ip}, TTL {ZONE_GROUP_TTL})",
                )
        for (pe_id, zname), message in sorted(drift.items()):
            self.finding(
                "zone-group-drift",
                pe_id,
                f"{message}: the zone's records are kept as exported and {zname} leaves this endpoint's zone group",
            )
            for entry in self.endpoints_out.values():
                if id_key(entry["_id"]) == id_key(pe_id) and zname in entry.get("private_dns_zone_group", []):
                    entry["private_dns_zone_group"].remove(zname)
                    if not entry["private_dns_zone_group"]:
                        del entry["private_dns_zone_group"]
            for key, (_ip, _t, owner) in list(self.covered.items()):
                if key[0] == zname and owner == pe_id:
                    del self.covered[key]
        per_zone: dict[str, list[RecordEntry]] = defaultdict(list)
        for rs, zname, rel, fqdn, rtype, ttl, values in items:
            if not values:
                self.finding("skipped", rs.id, "record set without records; left out")
                continue
            if (zname, fqdn) in self.covered:
                continue  # the endpoint's zone group writes exactly this
            if fqdn in self.cluster_records and rtype in ("A", "AAAA"):
                continue  # AKS writes its API server's record (dnsemu derives it from the cluster)
            if (zname, fqdn) in vm_auto and rtype == "A" and values == (vm_auto[(zname, fqdn)],):
                continue  # autoregistration writes exactly this
            if len(values) > 20:
                self.finding("bad-value", rs.id, f"{len(values)} records in one set; Azure holds 20: the first 20 kept")
                values = values[:20]
            per_zone[zname].append(RecordEntry(rs.id, rel, rtype, ttl, values))
        self.out.records = {
            zname: sorted(entries, key=lambda e: (e.name != "@", e.name.lower(), e.rtype))
            for zname, entries in per_zone.items()
        }

    # -- Virtual WAN hubs (facts §12.4) ----------------------------------------------------------------

    def build_hubs(self) -> None:
        hubs = self.of(F.VirtualHub)
        (conns_by_hub,) = self.children(hubs, "belongs to a virtual hub", (F.HubConnection, "hub_id"))
        names_ = self.unique_names(((h.id, h.name or id_name(h.id)) for h in hubs), "virtual hub")
        out: dict[str, Any] = {}
        for h in hubs:
            name = names_[id_key(h.id)]
            if name in self.vnets:
                name = f"{name}-hub"
            if h.address_prefix is None:
                self.finding("skipped", h.id, "virtual hub without an address prefix in the input; left out")
                continue
            net = ipaddress.ip_network(h.address_prefix)
            clash = next(
                (other for other_net, other in [*self.vnet_nets, *self.hub_nets] if net.overlaps(other_net)), None
            )
            if clash is not None:
                self.finding(
                    "overlapping-address-space",
                    h.id,
                    f"{net} overlaps {clash!r}: dnsemu picks a network by source address; this hub is left out",
                )
                continue
            entry: dict[str, Any] = {"address_prefix": str(net)}
            region = normalize_region(h.location)
            if region and region not in self.catalog.regions:
                self.finding("unknown-region", h.id, f"region {h.location!r} is not in dnsemu's region table; left out")
                region = None
            if region:
                entry["_region"] = region
            connected: list[str] = []
            remotes = [(h.id, r) for r in h.connections or ()]
            remotes += [(c.id, c.vnet_id) for c in conns_by_hub.get(id_key(h.id), [])]
            for subject, remote in remotes:
                vnet = self.vnet_of(remote, subject, "virtual hub connection")
                if vnet is not None and vnet not in connected:
                    connected.append(vnet)
            if connected:
                entry["virtual_network_connections"] = sorted(connected)
            out[name] = entry
            self.hub_names[id_key(h.id)] = name
            self.hub_nets.append((net, name))
            self.comment(("virtual_hubs", name), h.id)
        if out:
            self.out.data["virtual_hubs"] = dict(sorted(out.items()))

    # -- Azure Firewall and its DNS proxy (facts §12.1, §12.3) ----------------------------------------

    def firewall_dns(self, fw: F.Firewall, name: str) -> tuple[bool, tuple[str, ...], list[str]]:
        """(DNS proxy on, DNS servers, comment lines): from the firewall policy (a child's dnsSettings win over
        its base policy's), or from a classic firewall's additionalProperties."""
        if fw.policy_id is None:
            servers = fw.classic_servers or ()
            return bool(fw.classic_proxy), servers, []
        policies = {id_key(p.id): p for p in self.of(F.FirewallPolicy)}
        pid: str | None = fw.policy_id
        seen: set[str] = set()
        inherited = False
        while pid is not None and id_key(pid) not in seen:
            seen.add(id_key(pid))
            policy = policies.get(id_key(pid))
            if policy is None:
                self.finding(
                    "missing-reference",
                    fw.id,
                    f"firewall policy {pid} is not in the input: its DNS settings are unknown; the DNS proxy is "
                    "taken as off (Azure's default)",
                )
                self.out.stubs.append(
                    Stub(
                        ("azure_firewalls", name, "dns_settings"),
                        f"the DNS settings of firewall policy {id_name(pid)} (not in the input)",
                    )
                )
                return False, (), [f"STUB: dns_settings — firewall policy {pid} is not in the input"]
            if policy.has_dns:
                how = "inherited from base policy" if inherited else "from firewall policy"
                return bool(policy.enable_proxy), policy.servers or (), [f"DNS settings {how} {policy.id}"]
            pid, inherited = policy.base_id, True
        return False, (), ["no DNS settings in its firewall policy: DNS proxy off (Azure's default)"]

    def build_firewalls(self) -> list[tuple[str, int, str, str]]:
        """Firewalls; returns the DNS servers they name (address, port, path, firewall ID) for stub detection."""
        firewalls = self.of(F.Firewall)
        names_ = self.unique_names(((f.id, f.name or id_name(f.id)) for f in firewalls), "Azure Firewall")
        targets: list[tuple[str, int, str, str]] = []
        out: dict[str, Any] = {}
        for fw in firewalls:
            name = names_[id_key(fw.id)]
            ip = fw.private_ip
            if ip is None:
                self.finding("skipped", fw.id, "Azure Firewall without a private IP address in the input; left out")
                continue
            entry: dict[str, Any] = {}
            if fw.hub_id is not None:
                hub = self.hub_names.get(id_key(fw.hub_id))
                if hub is None:
                    self.finding(
                        "missing-reference",
                        fw.id,
                        f"the firewall's virtual hub {fw.hub_id} is not in the input (or was left out); left out",
                    )
                    continue
                prefix = ipaddress.ip_network(self.out.data["virtual_hubs"][hub]["address_prefix"])
                if ipaddress.ip_address(ip) not in prefix:
                    self.finding("skipped", fw.id, f"{ip} lies outside virtual hub {hub!r} ({prefix}); left out")
                    continue
                entry["virtual_hub"] = hub
            else:
                where = self.subnet_of(fw.subnet_id)
                vnet = where[0] if where is not None else None
                if vnet is None:
                    vnet_id = subnet_vnet_id(fw.subnet_id) if fw.subnet_id else None
                    vnet = self.vnet_of(vnet_id, fw.id, "Azure Firewall's subnet")
                    if vnet is None:
                        continue
                declared = "AzureFirewallSubnet" in self.vnets[vnet].get("subnets", {})
                if not self.in_vnet(vnet, ip) or (declared and not self.in_subnet(vnet, "AzureFirewallSubnet", ip)):
                    self.finding("skipped", fw.id, f"{ip} lies outside the AzureFirewallSubnet of {vnet!r}; left out")
                    continue
                entry["virtual_network"] = vnet
            if ip in self.servers:
                self.finding("skipped", fw.id, f"{ip} is already {self.servers[ip]}; left out")
                continue
            entry["private_ip_address"] = ip
            proxy, servers, notes = self.firewall_dns(fw, name)
            servers = tuple(s for s in servers if s != ip)
            if len(servers) > 15:
                self.finding("bad-value", fw.id, f"more than 15 DNS servers; {', '.join(servers[15:])} left out")
                servers = servers[:15]
            dns: dict[str, Any] = {"enable_proxy": proxy}
            if servers:
                dns["servers"] = list(servers)
                for server in servers:
                    targets.append((server, 53, f"azure_firewalls.{name}.dns_settings.servers", fw.id))
            entry["dns_settings"] = dns
            self.servers[ip] = f"Azure Firewall {name}"
            out[name] = entry
            self.comment(("azure_firewalls", name), fw.id, *notes)
        if out:
            self.out.data["azure_firewalls"] = dict(sorted(out.items()))
        return targets

    # -- AKS private clusters (facts §14.1) -----------------------------------------------------------

    def scan_clusters(self) -> None:
        """What AKS derives for each private cluster in the input, known before zones and records are built:
        the system zone it creates (named by ``privateFQDN``) and the API server's record."""
        for c in self.of(F.ManagedCluster):
            if not c.private or not c.private_fqdn:
                continue
            fqdn = _fqdn(c.private_fqdn)
            self.cluster_fqdns[fqdn] = c.id
            if (c.private_dns_zone or "system").strip().lower() == "system":
                self.system_zones[fqdn.split(".", 1)[1].rstrip(".")] = c.id

    def cluster_address(self, c: F.ManagedCluster) -> str | None:
        """The API server's private address: the record of its private FQDN in the input's zones, or the
        address of a private endpoint whose connection names the cluster."""
        if c.private_fqdn:
            fqdn = _fqdn(c.private_fqdn)
            for rs in self.of(F.RecordSet):
                zname = self.zone_names.get(id_key(rs.zone_id or ""))
                if zname is None or (rs.rtype or "").upper() not in ("A", "AAAA") or not rs.values:
                    continue
                rel = rs.name or "@"
                if (f"{zname}." if rel == "@" else f"{rel.lower()}.{zname}.") == fqdn:
                    return rs.values[0]
        return self.cluster_pe_ips.get(id_key(c.id))

    def build_clusters(self) -> None:
        clusters = self.of(F.ManagedCluster)
        names_ = self.unique_names(((c.id, c.name or id_name(c.id)) for c in clusters), "AKS cluster")
        out: dict[str, Any] = {}
        for c in clusters:
            name = names_[id_key(c.id)]
            if not c.private:
                self.out.not_modelled.setdefault(
                    "microsoft.containerservice/managedclusters: AKS cluster with a public API server: its FQDN is "
                    "public DNS that dnsemu does not model",
                    [],
                ).append(c.id)
                continue
            if c.vnet_integration:
                self.finding(
                    "skipped",
                    c.id,
                    "API Server VNet Integration (private.<region>.azmk8s.io) is not modelled; the cluster is left out",
                )
                continue
            subnet_id = (c.subnet_ids or (None,))[0]
            where = self.subnet_of(subnet_id)
            if where is None:
                vnet_id = subnet_vnet_id(subnet_id) if subnet_id else None
                if vnet_id is None:
                    self.finding(
                        "skipped",
                        c.id,
                        "no agent pool names a subnet (vnetSubnetID): the cluster's VNet is unknown; left out",
                    )
                    continue
                if self.vnet_of(vnet_id, c.id, "AKS cluster's agent pool subnet") is None:
                    continue
                self.finding("missing-reference", c.id, f"subnet {subnet_id} is not in the input; left out")
                continue
            vnet, subnet = where
            zone_setting = (c.private_dns_zone or "system").strip()
            entry: dict[str, Any] = {"virtual_network": vnet}
            if zone_setting.lower() in ("system", "none"):
                mode = zone_setting.lower()
            else:
                zname = self.zone_names.get(id_key(zone_setting)) if zone_setting.startswith("/") else None
                if zname is None:
                    self.finding(
                        "missing-reference",
                        c.id,
                        f"its private DNS zone {zone_setting} is not in the input (or was left out); left out",
                    )
                    continue
                mode = zname
            if mode == "none" and c.public_fqdn_enabled is False:
                self.finding("skipped", c.id, "private DNS zone none without the public FQDN: AKS refuses it; left out")
                continue
            ip = self.cluster_address(c)
            comments: list[str] = []
            if ip is None or not self.in_vnet(vnet, ip):
                prefix = ipaddress.ip_network(self.vnets[vnet]["subnets"][subnet]["address_prefix"])
                ip = str(prefix.network_address + 4) if prefix.num_addresses > 8 else str(prefix.network_address)
                comments.append(
                    "STUB: private_ip_address — the input has no record of the API server's private FQDN and no "
                    "private endpoint to the cluster: fill in its address"
                )
                self.out.stubs.append(
                    Stub(
                        ("managed_clusters", name, "private_ip_address"),
                        f"the API server address of AKS cluster {name}",
                    )
                )
            entry["private_ip_address"] = ip
            region = normalize_region(c.location)
            if region and region in self.catalog.regions and region != self.regions.get(vnet):
                entry["region"] = region
            if c.fqdn_subdomain and mode not in ("system", "none"):
                entry["fqdn_subdomain"] = c.fqdn_subdomain
            elif c.dns_prefix:
                entry["dns_prefix"] = c.dns_prefix
            entry["private_dns_zone"] = mode
            if c.public_fqdn_enabled is not None:
                entry["enable_private_cluster_public_fqdn"] = c.public_fqdn_enabled
            if c.private_fqdn and mode != "none":
                entry["private_fqdn"] = _fqdn(c.private_fqdn).rstrip(".")
                self.cluster_records.add(_fqdn(c.private_fqdn))
            if c.fqdn and c.public_fqdn_enabled is not False:
                entry["fqdn"] = _fqdn(c.fqdn).rstrip(".")
            if mode == "system" and c.private_fqdn:
                # AKS links its system zone to the cluster VNet itself: only the links of others are written
                zname = _fqdn(c.private_fqdn).split(".", 1)[1].rstrip(".")
                zone = self.zone_data.get(zname)
                if zone is not None:
                    links = [link for link in zone.get("virtual_network_links", []) if link["virtual_network"] != vnet]
                    if links:
                        zone["virtual_network_links"] = links
                    else:
                        zone.pop("virtual_network_links", None)
            out[name] = entry
            self.comment(("managed_clusters", name), c.id, *comments)
        if out:
            self.out.data["managed_clusters"] = dict(sorted(out.items()))

    # -- DNS security policies (facts §10) ----------------------------------------------------------------

    def build_policies(self) -> None:
        lists = self.of(F.DomainList)
        list_names = self.unique_names(((d.id, d.name or id_name(d.id)) for d in lists), "domain list")
        list_regions: dict[str, str | None] = {}
        lists_out: dict[str, Any] = {}
        for dl in lists:
            name = list_names[id_key(dl.id)]
            domains: list[str] = []
            seen: set[str] = set()
            for text in dl.domains or ():
                entry_text = text.strip()
                if entry_text.startswith("*."):
                    self.finding(
                        "bad-value",
                        dl.id,
                        f"domain {text!r}: dnsemu takes no '*.' prefix; {entry_text[2:]} (which covers every name "
                        "below it) is written",
                    )
                    entry_text = entry_text[2:]
                if entry_text == ".":
                    canonical = "."
                else:
                    try:
                        canonical = names.parse(entry_text if entry_text.endswith(".") else entry_text + ".")
                    except names.NameError_ as exc:
                        self.finding("bad-value", dl.id, f"domain {text!r} is not a domain name ({exc}); left out")
                        continue
                if canonical not in seen:
                    seen.add(canonical)
                    domains.append(entry_text.rstrip(".") if entry_text != "." else ".")
            comments = []
            if not domains and (dl.domains_url or dl.domains is None):
                where = f" ({dl.domains_url})" if dl.domains_url else ""
                self.finding(
                    "domain-list-content",
                    dl.id,
                    f"the export holds none of the list's domains{where}: a large list is kept in a blob "
                    "(az dns-resolver domain-list bulk --action Download fetches it); written empty",
                )
                self.out.stubs.append(
                    Stub(("dns_resolver_domain_lists", name, "domains"), f"the domains of domain list {name}")
                )
                comments.append("STUB: domains — not in the export (a large list): fill them in")
            entry: dict[str, Any] = {"domains": domains}
            region = normalize_region(dl.location)
            list_regions[id_key(dl.id)] = region
            if region:
                entry["_region"] = region
            lists_out[name] = entry
            self.comment(("dns_resolver_domain_lists", name), dl.id, *comments)

        policies = self.of(F.SecurityPolicy)
        rules_by, links_by = self.children(
            policies, "belongs to a DNS security policy", (F.SecurityRule, "policy_id"), (F.PolicyLink, "policy_id")
        )
        names_ = self.unique_names(((p.id, p.name or id_name(p.id)) for p in policies), "DNS security policy")
        linked: dict[str, str] = {}
        out: dict[str, Any] = {}
        for p in policies:
            name = names_[id_key(p.id)]
            region = normalize_region(p.location)
            entry: dict[str, Any] = {"_region": region} if region else {}
            rules: dict[str, Any] = {}
            for rule in sorted(rules_by.get(id_key(p.id), []), key=lambda r: id_key(r.id)):
                rname = rule.name or id_name(rule.id)
                action = {"allow": "Allow", "alert": "Alert", "block": "Block"}.get((rule.action or "").lower())
                if action is None or rule.priority is None or not 100 <= rule.priority <= 65000:
                    what = "action" if action is None else "priority"
                    self.finding("skipped", rule.id, f"security rule without a usable {what} in the input; left out")
                    continue
                refs: list[str] = []
                for lid in rule.list_ids or ():
                    lname = list_names.get(id_key(lid))
                    if lname is None:
                        self.finding(
                            "missing-reference", rule.id, f"domain list {lid} is not in the input; left out of the rule"
                        )
                    elif region and list_regions.get(id_key(lid)) and list_regions[id_key(lid)] != region:
                        self.finding(
                            "skipped", rule.id, f"domain list {lname!r} is in another region; left out of the rule"
                        )
                    elif lname not in refs:
                        refs.append(lname)
                for managed in rule.managed_lists or ():
                    self.finding(
                        "managed-domain-list",
                        rule.id,
                        f"uses Microsoft's managed domain list {managed}: dnsemu holds no copy of it; left out of the "
                        "rule",
                    )
                if not refs:
                    self.finding("skipped", rule.id, "security rule without a domain list dnsemu holds; left out")
                    continue
                if len(rules) == 100:
                    self.finding("skipped", rule.id, "a policy holds at most 100 security rules; left out")
                    continue
                code = (rule.block_response_code or "").upper()
                r_entry: dict[str, Any] = {
                    "priority": rule.priority,
                    "action": {"action_type": action, "block_response_code": "SERVFAIL"}
                    if action == "Block" and code == "SERVFAIL"
                    else action,
                    "dns_resolver_domain_lists": refs,
                }
                if rule.enabled is False:
                    r_entry["dns_security_rule_state"] = "Disabled"
                if rule.no_chain:
                    r_entry["disable_cname_chain_validation"] = True
                rules[rname] = r_entry
                self.comment(("dns_resolver_policies", name, "dns_security_rules", rname), rule.id)
            if rules:
                entry["dns_security_rules"] = rules
            vlinks: list[Any] = []
            for link in sorted(links_by.get(id_key(p.id), []), key=lambda item: id_key(item.id)):
                vnet = self.vnet_of(link.vnet_id, link.id, "DNS security policy link")
                if vnet is None:
                    continue
                if vnet in linked:
                    self.finding(
                        "skipped",
                        link.id,
                        f"{vnet!r} is already linked to DNS security policy {linked[vnet]!r} (a VNet links one); "
                        "left out",
                    )
                    continue
                linked[vnet] = name
                self.comment(("dns_resolver_policies", name, "virtual_network_links", len(vlinks)), link.id)
                lname = link.name or vnet
                vlinks.append(vnet if lname == vnet else {"virtual_network": vnet, "name": lname})
            if vlinks:
                entry["virtual_network_links"] = vlinks
            out[name] = entry
            self.comment(("dns_resolver_policies", name), p.id)
        if lists_out:
            self.out.data["dns_resolver_domain_lists"] = dict(sorted(lists_out.items()))
        if out:
            self.out.data["dns_resolver_policies"] = dict(sorted(out.items()))

    def drop_server(self, user: str, ip: str) -> None:
        """Take ``ip`` out of the list at ``user`` (``virtual_networks.X.dns_servers``, a rule's targets, a
        firewall's servers): an address nothing can answer at."""
        if user.startswith("virtual_networks."):
            name = user[len("virtual_networks.") : -len(".dns_servers")]
            servers = self.vnets[name].get("dns_servers", [])
            if ip in servers:
                servers.remove(ip)
            if not servers:
                self.vnets[name].pop("dns_servers", None)
        elif user.startswith("azure_firewalls."):
            name = user[len("azure_firewalls.") : -len(".dns_settings.servers")]
            dns = self.out.data["azure_firewalls"][name]["dns_settings"]
            dns["servers"] = [s for s in dns.get("servers", []) if s != ip]
            if not dns["servers"]:
                del dns["servers"]
        elif user.startswith("dns_forwarding_rulesets."):
            head, rname = user[len("dns_forwarding_rulesets.") :].rsplit(".forwarding_rules.", 1)
            rules = self.out.data["dns_forwarding_rulesets"][head]["forwarding_rules"]
            rule = rules[rname]
            rule["target_dns_servers"] = [
                t for t in rule["target_dns_servers"] if t.rsplit(":", 1)[0].strip("[]") != ip and t != ip
            ]
            if not rule["target_dns_servers"]:
                del rules[rname]

    # -- DNS servers nothing in the input explains: stubs --------------------------------------------

    def build_sites_and_stubs(self, server_refs: list[tuple[str, int, str, str]]) -> None:
        sites: dict[str, dict[str, Any]] = {}
        site_nets: list[tuple[Any, str]] = []
        lngs = self.of(F.LocalNetworkGateway)
        names_ = self.unique_names(((g.id, g.name or id_name(g.id)) for g in lngs), "local network gateway")
        for g in lngs:
            name = names_[id_key(g.id)]
            if name in self.vnets:
                name = f"{name}-site"
            nets = [ipaddress.ip_network(p) for p in g.prefixes or ()]
            if not nets:
                self.finding(
                    "skipped", g.id, "local network gateway without an address space (BGP only?): no site made"
                )
                continue
            clash = next(
                (
                    (n, other)
                    for n in nets
                    for net, other in [*self.vnet_nets, *self.hub_nets, *site_nets]
                    if n.version == net.version and n.overlaps(net)
                ),
                None,
            )
            if clash:
                self.finding(
                    "overlapping-address-space",
                    g.id,
                    f"{clash[0]} overlaps {clash[1]!r}: no site made for this gateway",
                )
                continue
            site_nets.extend((n, name) for n in nets)
            sites[name] = {"address_space": [str(n) for n in nets], "dns_servers": [], "_id": g.id}
            self.comment(
                ("on_premises", name),
                g.id,
                "STUB: an on-premises site from its local network gateway. Azure cannot see its DNS: fill in",
                "conditional_forwarders and default_forwarding as its DNS servers do them.",
            )
            self.out.stubs.append(
                Stub(
                    ("on_premises", name),
                    f"the DNS of the site behind local network gateway {g.name}: its "
                    "dns_servers, conditional_forwarders and default_forwarding",
                )
            )
        refs: list[tuple[str, int, str, str]] = []
        for vname, data in self.vnets.items():
            for ip in data.get("dns_servers", []):
                refs.append((ip, 53, f"virtual_networks.{vname}.dns_servers", data["_id"]))
        refs += server_refs
        custom: dict[str, dict[str, Any]] = {}
        external: dict[str, dict[str, Any]] = {}
        stub_users: dict[str, list[str]] = defaultdict(list)
        for ip, port, user, rid in refs:
            if ip == AZURE_DNS:
                continue
            stub_users[ip].append(user)
            if ip in self.servers:
                continue
            addr = ipaddress.ip_address(ip)
            hub = next((n for net, n in self.hub_nets if addr in net), None)
            if hub is not None:
                # only a firewall listens in a Virtual WAN hub (facts §12.4): nothing the input has answers here
                self.finding(
                    "missing-reference",
                    rid,
                    f"{user} names {ip}, inside virtual hub {hub!r}, where the input has no firewall; left out",
                )
                self.drop_server(user, ip)
                continue
            vnet = next((n for net, n in self.vnet_nets if addr in net), None)
            site = next((n for net, n in site_nets if addr in net), None)
            if vnet is not None:
                name = self.vm_ips.get(ip) or "dns-" + re.sub(r"[.:]", "-", ip)
                custom[name] = {"virtual_network": vnet, "private_ip_address": ip, "default_forwarding": "azure"}
                self.servers[ip] = f"custom DNS server {name}"
                self.comment(
                    ("custom_dns_servers", name),
                    f"{ip} in {vnet}",
                    "STUB: a DNS server in a VNet that the input knows only by address (a VM, a firewall's DNS",
                    "proxy, an appliance). Modelled as forwarding everything to Azure DNS in its VNet: fill in",
                    "its conditional_forwarders and default_forwarding.",
                )
                self.out.stubs.append(
                    Stub(("custom_dns_servers", name), f"what the DNS server at {ip} in {vnet!r} forwards where")
                )
            elif site is not None:
                sites[site]["dns_servers"].append(ip)
                self.servers[ip] = f"DNS server of site {site}"
            elif addr.is_private:
                name = "onprem-" + re.sub(r"[.:]", "-", ip)
                prefix = ipaddress.ip_network(f"{ip}/{addr.max_prefixlen}")
                sites[name] = {"address_space": [str(prefix)], "dns_servers": [ip]}
                site_nets.append((prefix, name))
                self.servers[ip] = f"DNS server of site {name}"
                self.comment(
                    ("on_premises", name),
                    f"{ip} (no Azure resource)",
                    "STUB: a private address outside every VNet and local network gateway: an on-premises DNS",
                    "server, presumably. Fill in the site's address_space, conditional_forwarders and",
                    "default_forwarding (or add its local network gateway to the input).",
                )
                self.out.stubs.append(
                    Stub(
                        ("on_premises", name),
                        f"the on-premises site of DNS server {ip}: its address space and forwarding",
                    )
                )
            else:
                name = "external-" + re.sub(r"[.:]", "-", ip)
                external[name] = {"address": _target_text(ip, port)}
                self.servers[ip] = f"external DNS server {name}"
                self.comment(
                    ("external_dns_servers", name),
                    f"{ip} (no Azure resource)",
                    "STUB: a public address: a DNS server outside the model. dnsemu serve forwards to it on the",
                    "wire (or answers REFUSED without forwarding); describe it as a site if you know its forwarders.",
                )
                self.out.stubs.append(
                    Stub(("external_dns_servers", name), f"whether {ip} is the DNS server you expect")
                )
        for stub in self.out.stubs:
            if stub.path[0] in ("on_premises", "custom_dns_servers", "external_dns_servers"):
                address = {
                    "on_premises": lambda n: ", ".join(sites.get(n, {}).get("dns_servers", [])),
                    "custom_dns_servers": lambda n: custom.get(n, {}).get("private_ip_address", ""),
                    "external_dns_servers": lambda n: external.get(n, {}).get("address", "").split(":")[0],
                }[stub.path[0]](stub.path[1])
                users = sorted({u for a in address.split(", ") if a for u in stub_users.get(a, [])})
                if users:
                    self.out.stubs[self.out.stubs.index(stub)] = Stub(
                        stub.path, f"{stub.what} (used by {', '.join(users)})"
                    )
        for site in sites.values():
            site.pop("_id", None)
            if not site["dns_servers"]:
                del site["dns_servers"]
        if sites:
            self.out.data["on_premises"] = dict(sorted(sites.items()))
        if custom:
            self.out.data["custom_dns_servers"] = dict(sorted(custom.items()))
        if external:
            self.out.data["external_dns_servers"] = dict(sorted(external.items()))

    # -- everything ------------------------------------------------------------------------------------

    def build(self) -> Built:
        self.build_vnets()
        self.build_hubs()
        self.scan_clusters()
        self.build_zones()
        self.build_vms()
        outbound = self.build_resolvers()
        server_refs = self.build_rulesets(outbound)
        server_refs += self.build_firewalls()
        self.build_endpoints()
        self.build_clusters()
        self.build_records()
        self.build_policies()
        self.build_sites_and_stubs(server_refs)
        for zname in self.system_zones:
            # a system zone AKS creates and links to the cluster VNet: written only for others' links or records
            zone = self.zone_data.get(zname)
            if zone is not None and not zone.get("virtual_network_links") and zname not in self.out.records:
                del self.zone_data[zname]
        for nm in self.of(F.NotModelled):
            self.out.not_modelled.setdefault(f"{nm.rtype}: {nm.reason}", []).append(nm.id)
        regions = Counter(self.regions.values())
        top = min(regions.items(), key=lambda kv: (-kv[1], kv[0]))[0] if regions else "eastus"
        data: dict[str, Any] = {"cloud": self.cloud, "region": top}
        vnets = {}
        for name in sorted(self.vnets):
            v = {k: val for k, val in self.vnets[name].items() if not k.startswith("_")}
            if self.regions.get(name) and self.regions[name] != top:
                v = {"address_space": v.pop("address_space"), "region": self.regions[name], **v}
            vnets[name] = v
        data["virtual_networks"] = vnets

        def regional(section: str) -> dict[str, Any]:
            """A section's entries with ``region`` written where it is not the top-level one."""
            out = {}
            for name, entry in self.out.data[section].items():
                region = entry.pop("_region", None)
                out[name] = {**entry, "region": region} if region and region != top else entry
            return out

        for section in ("on_premises", "virtual_hubs", "azure_firewalls"):
            if section in self.out.data:
                data[section] = regional(section) if section == "virtual_hubs" else self.out.data[section]
        zones = {}
        for zname in sorted(self.zone_data):
            zones[zname] = self.zone_data[zname]
        data["private_dns_zones"] = zones
        endpoints = {}
        for name in sorted(self.endpoints_out):
            entry = {k: v for k, v in self.endpoints_out[name].items() if not k.startswith("_")}
            endpoints[name] = entry
        data["private_endpoints"] = endpoints
        for section in (
            "managed_clusters",
            "virtual_machines",
            "dns_private_resolvers",
            "dns_forwarding_rulesets",
            "custom_dns_servers",
            "external_dns_servers",
        ):
            if section in self.out.data:
                data[section] = self.out.data[section]
        for section in ("dns_resolver_domain_lists", "dns_resolver_policies"):
            if section in self.out.data:
                data[section] = regional(section)
        self.out.data = data
        c = self.out.counts
        c["virtual networks"] = len(vnets)
        c["private zones"] = len(zones)
        c["records"] = sum(len(v) for v in self.out.records.values())
        c["private endpoints"] = len(endpoints)
        c["virtual machines"] = len(data.get("virtual_machines", {}))
        c["resolvers"] = len(data.get("dns_private_resolvers", {}))
        c["rulesets"] = len(data.get("dns_forwarding_rulesets", {}))
        for what, section in (
            ("firewalls", "azure_firewalls"),
            ("virtual hubs", "virtual_hubs"),
            ("AKS clusters", "managed_clusters"),
            ("DNS security policies", "dns_resolver_policies"),
        ):
            if data.get(section):
                c[what] = len(data[section])
        return self.out


def build(merged: dict[str, F.Fact], ctx: Context, cloud: str = "AzureCloud") -> Built:
    return Builder(merged, ctx, cloud).build()
