"""``dnsemu check``: the mistakes people make with Azure private DNS, found before Azure does.

Each finding has a code, the subject it concerns, what goes wrong and the fix.
Most findings come from asking the core itself: every approved private endpoint
is resolved from every VNet that holds clients, and any that comes back public
is reported with the step of the trace that decided it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections import defaultdict
from dataclasses import dataclass

from dnsemu.analysis.lint_policy import precedence_findings, security_policy_findings
from dnsemu.catalog import Catalog
from dnsemu.core.index import AzureDns, Firewall, Index
from dnsemu.core.resolution import Outcome, Source
from dnsemu.core.resolver import resolve, resolve_from
from dnsemu.dns import names
from dnsemu.dns.records import Question, RRType
from dnsemu.topology.loaded import LoadedTopology
from dnsemu.topology.validate import resource_endpoints


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    subject: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.code} [{self.subject}]: {self.message}\n    fix: {self.fix}"


def _zone(text: str) -> str:
    return names.parse(text if text.endswith(".") else text + ".")


def check(loaded: LoadedTopology, index: Index) -> list[Finding]:
    t = loaded.topology
    catalog = Catalog.load(t.cloud)
    findings: list[Finding] = []
    links: dict[str, dict[str, str]] = defaultdict(dict)  # zone -> vnet -> policy
    for zname, zone in t.private_dns_zones.items():
        for link in zone.virtual_network_links:
            links[_zone(zname)][link.virtual_network] = link.resolution_policy

    # Clients: a VM in each VNet that has one, and every on-premises site.
    clients: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address] = {}
    for vm in t.virtual_machines.values():
        clients.setdefault(vm.virtual_network, vm.private_ip_address)
    for oname, site in t.on_premises.items():
        clients[oname] = site.address_space[0].network_address + 4

    # 1. Private endpoints that a client network resolves publicly, one finding per network and zone.
    public: dict[tuple[str, str], list[tuple[str, str, object]]] = defaultdict(list)
    for pname, pe in t.private_endpoints.items():
        if pe.resource is None or pe.group_id is None or pe.connection_state != "Approved":
            continue
        region = (pe.resource.region or t.virtual_networks[pe.virtual_network].region or t.region).lower()
        for endpoint in resource_endpoints(catalog, pe.resource, pe.group_id, pe.resource.name, region):
            for network, address in clients.items():
                result = resolve(index, Question(endpoint.public_fqdn, RRType.A), address)
                if result.source is not Source.PRIVATE:
                    public[(network, endpoint.private_zone)].append((pname, endpoint.public_fqdn, result))
    for (network, zone), misses in public.items():
        findings.append(_public_finding(t, network, zone, links, misses))

    # 2. On-premises forwarders for privatelink zones.
    for oname, site in t.on_premises.items():
        for domain in site.conditional_forwarders:
            zone = _zone(domain)
            if zone.startswith("privatelink."):
                public = catalog.public_zone_for(zone) or zone.removeprefix("privatelink.")
                findings.append(
                    Finding(
                        "privatelink-forwarder",
                        f"{oname}:{domain}",
                        f"site {oname!r} forwards {domain}, but clients ask for names in the public zone: the "
                        "query never matches this forwarder and resolves to the public address",
                        f"forward the public zone {public.rstrip('.')} to the inbound endpoint instead",
                    )
                )

    # 3. Two endpoints for one resource writing the same zone.
    writers: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for pname, pe in t.private_endpoints.items():
        if pe.resource is None:
            continue
        for zone in pe.private_dns_zone_group:
            writers[(pe.resource.type.lower(), pe.resource.name.lower(), _zone(zone))].append(pname)
    for (_rtype, rname, zone), pes in writers.items():
        if len(pes) > 1:
            findings.append(
                Finding(
                    "duplicate-endpoint",
                    f"{rname}@{zone.rstrip('.')}",
                    f"private endpoints {', '.join(pes)} write the same record into {zone.rstrip('.')}: the last one "
                    "overwrites the others' A record",
                    "keep one endpoint per resource and zone, or give each VNet its own zone (and link)",
                )
            )

    # 4. Linked privatelink zones that will deny other tenants' resources.
    for rkey, res in t.resources.items():
        rname = (res.name or rkey).lower()
        for group in res.private_endpoint_groups:
            for endpoint in resource_endpoints(catalog, res, group, rname, (res.region or t.region).lower()):
                for vnet, policy in links.get(endpoint.private_zone, {}).items():
                    if policy == "Default" and index.azure_dns[vnet].view.vnet == _resolves_in(index, vnet):
                        findings.append(
                            Finding(
                                "foreign-nxdomain",
                                f"{vnet}:{endpoint.public_fqdn.rstrip('.')}",
                                f"VNet {vnet!r} links {endpoint.private_zone.rstrip('.')} with the Default policy and "
                                f"the zone has no record for {rname}: {endpoint.public_fqdn.rstrip('.')} answers "
                                "NXDOMAIN there",
                                "set resolution_policy: NxDomainRedirect on the link, or add the resource's record",
                            )
                        )

    # 5. Custom DNS servers that bypass the VNet's own links.
    for vname, vnet in t.virtual_networks.items():
        if not vnet.dns_servers or str(vnet.dns_servers[0]) == "168.63.129.16":
            continue
        own = [z for z, vnets in links.items() if vname in vnets]
        entry = index.networks[vname].entry
        if own and not (isinstance(entry, AzureDns) and entry.view.vnet == vname):
            findings.append(
                Finding(
                    "custom-dns-bypass",
                    vname,
                    f"VNet {vname!r} uses custom DNS server {vnet.dns_servers[0]}, so its own links "
                    f"({', '.join(sorted(z.rstrip('.') for z in own))}) are never consulted",
                    "link the zones to the VNet where that DNS server resolves (or drop the unused links)",
                )
            )

    # 6. Rulesets that loop back into their own VNet.
    for vname in t.virtual_networks:
        hop = index.azure_dns[vname]
        for domain, edge in hop.rules.items():
            if edge.hop is hop:
                findings.append(
                    Finding(
                        "ruleset-loop",
                        f"{hop.ruleset}:{domain.rstrip('.') or '.'}",
                        f"ruleset {hop.ruleset!r} is linked to VNet {vname!r} and forwards "
                        f"{domain.rstrip('.') or '.'} to {edge.target}, which resolves in {vname!r} again: "
                        "DNS resolution loops",
                        "do not link a ruleset with rules to an inbound endpoint to that endpoint's VNet",
                    )
                )

    # 7. Private Link Service endpoints without a record.
    addresses = {
        r.rdata[0] for z in index.private_zones.values() for r in z.records() if r.rtype in (RRType.A, RRType.AAAA)
    }
    for pname, pe in t.private_endpoints.items():
        if pe.private_link_service_alias and not any(str(ip) in addresses for ip in pe.private_ip_addresses):
            findings.append(
                Finding(
                    "pls-no-record",
                    pname,
                    f"private endpoint {pname!r} reaches a Private Link Service, and no private zone has a record "
                    f"for {', '.join(map(str, pe.private_ip_addresses))}",
                    "write an A record for the service's name in a private zone linked to the client VNets",
                )
            )

    # 8. Connections that are not Approved yet.
    for pname, pe in t.private_endpoints.items():
        if pe.connection_state != "Approved" and pe.resource is not None:
            findings.append(
                Finding(
                    "connection-not-approved",
                    pname,
                    f"the connection of {pname!r} is {pe.connection_state}: public DNS has no privatelink alias "
                    f"for {pe.resource.name}, so every client gets the public address",
                    "approve the connection on the resource (or remove the endpoint)",
                )
            )

    findings += _firewall_findings(t, index)
    findings += _shared_record_findings(t, catalog)
    # 9. Rules shadowed by linked zones, and DNS security policies (facts-2 §10, §11.1).
    for raw in (*precedence_findings(loaded, index), *security_policy_findings(loaded, index)):
        findings.append(Finding(*raw))

    accepted = t.check.accept
    return [
        f
        for f in findings
        if not any(fnmatch.fnmatchcase(f.code, a) or fnmatch.fnmatchcase(f"{f.code}:{f.subject}", a) for a in accepted)
    ]


def _resolves_in(index: Index, vnet: str) -> str | None:
    """The VNet whose Azure DNS answers the VNet's clients (itself, unless custom DNS sends them elsewhere)."""
    entry = index.networks[vnet].entry
    if isinstance(entry, Firewall) and entry.proxy and len(entry.servers) == 1:
        entry = entry.servers[0].hop
    return entry.view.vnet if isinstance(entry, AzureDns) else None


# -- Azure Firewall DNS proxy (facts §12) ------------------------------------------------------------------


def _firewall_fix(t, network: str, server: str, zone: str) -> str:
    """The fix for a VNet whose custom DNS server misses a zone, said for a firewall DNS proxy (§12.2, §12.4)."""
    name = next((n for n, f in t.azure_firewalls.items() if str(f.private_ip_address) == server), None)
    if name is None:
        return f"make the DNS server of {network!r} resolve in a VNet linked to {zone}"
    fw = t.azure_firewalls[name]
    if fw.dns_settings.servers:
        return f"make the DNS servers of Azure Firewall {name!r} resolve in a VNet linked to {zone}"
    if fw.virtual_hub is not None:
        return (
            f"Azure Firewall {name!r} asks Azure DNS in virtual hub {fw.virtual_hub!r}, which can have no zone links: "
            f"set its DNS servers to a DNS private resolver inbound endpoint in a DNS spoke VNet linked to {zone} "
            "(the virtual hub extension pattern)"
        )
    return (
        f"link {zone} to {fw.virtual_network!r}, where Azure Firewall {name!r} resolves (behind its DNS proxy the "
        f"zones linked to {network!r} do not apply)"
    )


def _firewall_findings(t, index: Index) -> list[Finding]:
    findings = []
    for fname, hop in index.firewalls.items():
        users = sorted(n for n, net in index.networks.items() if net.entry is hop)
        if not hop.proxy and users:
            findings.append(
                Finding(
                    "firewall-proxy-off",
                    fname,
                    f"{', '.join(repr(u) for u in users)} use{'s' if len(users) == 1 else ''} Azure Firewall "
                    f"{fname!r} ({t.azure_firewalls[fname].private_ip_address}) as DNS server, and its DNS proxy "
                    "is off: nothing answers there",
                    "enable the DNS proxy (dns_settings.enable_proxy), or point the VNets at another DNS server",
                )
            )
        if hop.proxy and len(hop.servers) > 1:
            findings += _servers_disagree(t, index, fname, hop)
    return findings


def _servers_disagree(t, index: Index, fname: str, hop: Firewall) -> list[Finding]:
    """Azure asks one of the firewall's servers at random (facts §12.1): they must answer alike."""
    catalog = Catalog.load(t.cloud)
    network = index.networks[hop.network]
    for pe in t.private_endpoints.values():
        if pe.resource is None or pe.group_id is None or pe.connection_state != "Approved":
            continue
        region = (pe.resource.region or t.virtual_networks[pe.virtual_network].region or t.region).lower()
        for endpoint in resource_endpoints(catalog, pe.resource, pe.group_id, pe.resource.name, region):
            q = Question(endpoint.public_fqdn, RRType.A)
            answers = {}
            for edge in hop.servers:
                result = resolve_from(index, network, q, [], None, start=edge.hop)
                answers[edge.target] = (result.outcome, tuple(r.rdata for r in result.answer[-1:]))
            if len(set(answers.values())) > 1:
                private = [s for s, a in answers.items() if a == answers[hop.servers[0].target]]
                return [
                    Finding(
                        "firewall-servers-disagree",
                        fname,
                        f"Azure Firewall {fname!r} asks one of its DNS servers at random, and they answer "
                        f"{endpoint.public_fqdn.rstrip('.')} differently ({', '.join(private)} against "
                        f"{', '.join(s for s in answers if s not in private)}): clients get one or the other",
                        "give the firewall only DNS servers that resolve the same way (the same resolver's inbound "
                        "endpoints, or forwarders to it)",
                    )
                ]
    return []


# -- records one endpoint writes for many (facts §14.5-14.7) ----------------------------------------------------


def _shared_record_findings(t, catalog: Catalog) -> list[Finding]:
    """A shared regional record: deleting the endpoint that wrote it breaks every resource that relies on it."""
    writers: dict[tuple[str, str], list[str]] = defaultdict(list)  # (zone, fqdn) -> endpoints writing it
    users: dict[tuple[str, str], set[str]] = defaultdict(set)  # (zone, service, region) -> resources there
    shared_of: dict[tuple[str, str], tuple[str, str]] = {}  # (zone, fqdn) -> (service, region)
    for pname, pe in t.private_endpoints.items():
        if pe.resource is None or pe.group_id is None:
            continue
        region = (pe.resource.region or t.virtual_networks[pe.virtual_network].region or t.region).lower()
        group = {_zone(z) for z in pe.private_dns_zone_group}
        service = pe.resource.type.lower()
        for endpoint in resource_endpoints(catalog, pe.resource, pe.group_id, pe.resource.name, region):
            if endpoint.private_zone not in group:
                continue
            users[(endpoint.private_zone, service, region)].add(pe.resource.name)
            if endpoint.shared:
                writers[(endpoint.private_zone, endpoint.private_fqdn)].append(pname)
                shared_of[(endpoint.private_zone, endpoint.private_fqdn)] = (service, region)
    findings = []
    for (zone, fqdn), pes in writers.items():
        service, region = shared_of[(zone, fqdn)]
        resources = sorted(users[(zone, service, region)])
        if len(pes) < 2 and len(resources) < 2:
            continue
        record = fqdn.rstrip(".")
        if len(pes) > 1:
            message = (
                f"private endpoints {', '.join(pes)} all write {record}, one record for the whole region: each "
                "overwrites the others', and deleting any of them removes it for every resource"
            )
        else:
            message = (
                f"{record} is one record for the whole region, written by {pes[0]} alone, and "
                f"{', '.join(resources)} rely on it: deleting {pes[0]} breaks them all"
            )
        findings.append(
            Finding(
                "shared-record",
                f"{record}",
                message,
                "keep one long-lived endpoint for the shared record (Databricks: one browser_authentication endpoint "
                "per region and DNS space; Azure Monitor: one AMPLS per DNS) and never delete it while others "
                "rely on it",
            )
        )
    return findings


def _public_finding(
    t, network: str, zone: str, links: dict[str, dict[str, str]], misses: list[tuple[str, str, object]]
) -> Finding:
    result = misses[0][2]
    decisive = next(
        (s.text for s in reversed(result.trace) if s.code in ("public", "private-nxdomain", "forward")),
        result.trace[-1].text if result.trace else "",
    )
    if result.outcome is Outcome.NXDOMAIN:
        what = "NXDOMAIN"
    elif result.outcome is Outcome.FORWARD:
        what = "an answer from the upstream forwarder"
    else:
        what = "the public address"
    fqdns = ", ".join(sorted({m[1].rstrip(".") for m in misses}))
    vnet = t.virtual_networks.get(network)
    if vnet is None:  # an on-premises site
        public_zone = Catalog.load(t.cloud).public_zone_for(zone) or zone.removeprefix("privatelink.")
        fix = (
            f"forward the public zone {public_zone.rstrip('.')} (not {zone.rstrip('.')}) to a DNS private "
            "resolver inbound endpoint in a VNet linked to it"
        )
    elif vnet.dns_servers and str(vnet.dns_servers[0]) != "168.63.129.16":
        fix = _firewall_fix(t, network, str(vnet.dns_servers[0]), zone.rstrip("."))
    else:
        linked_peers = [p for p in vnet.peerings if p in links.get(zone, {})]
        if linked_peers and network not in links.get(zone, {}):
            fix = (
                f"links do not follow peering: link {zone.rstrip('.')} to {network!r} too, or point "
                f"the DNS servers of {network!r} at the resolver in {linked_peers[0]!r}"
            )
        elif network not in links.get(zone, {}):
            fix = f"link {zone.rstrip('.')} to {network!r}, or send its queries to a resolver in a VNet linked to it"
        else:
            fix = "see `dnsemu explain` for the path the query takes"
    return Finding(
        "endpoint-resolves-public",
        f"{network}:{zone.rstrip('.')}",
        f"clients in {network!r} get {what} for {fqdns}: {decisive}",
        fix,
    )
