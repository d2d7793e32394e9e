"""The estate as a directed graph of DNS: what a drawing of it shows, without coordinates.

Nodes are the places a query can be (``vnet:hub``, ``inbound:hub-resolver/in1``,
``azure:hub`` for Azure-provided DNS inside the hub, ``firewall:fw-hub`` for an Azure
Firewall's DNS proxy, ``zone:privatelink.blob.core.windows.net.``, ``pe:pe-blob``,
``hosted:custom:dc1:ad.contoso.com.`` for a zone a DNS server holds itself, ``hub:vhub`` for
a Virtual WAN hub …) and edges are the ways it moves: a network asks its DNS server, a
server forwards a domain (or answers from a zone it holds), a firewall's DNS proxy passes
the query on to Azure DNS in its own network or to its DNS servers, an inbound endpoint
answers as Azure DNS in its VNet, Azure DNS consults its linked ruleset and zones (and
public DNS for the rest), a zone's record points at a private endpoint. A DNS security
policy (``policy:spoke-policy``) hangs off Azure DNS of each VNet it is linked to: it looks
at every answer given there.

The graph is read from the topology as written (forwarders, rules, links, zone groups)
and from the compiled index (the records each private zone really holds), and follows
the same rules as :mod:`dnsemu.core.compile`: a forwarder uses the first target of a
list, 168.63.129.16 means Azure DNS of the forwarding server's own VNet; a firewall
with no DNS servers asks Azure DNS in its own VNet (or virtual hub), facts §12.2.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from dnsemu.core.index import Index
from dnsemu.dns import names
from dnsemu.dns.records import RRType
from dnsemu.topology.loaded import LoadedTopology
from dnsemu.topology.model import AZURE_DNS_IP, Topology, parse_target


@dataclass(frozen=True, slots=True)
class Kind:
    column: int
    title: str  # what one node of this kind is
    css: str


#: Node kinds, in the order they are drawn (columns left to right, blocks top to bottom).
KINDS: dict[str, Kind] = {
    "site": Kind(0, "on-premises site", "site"),
    "vnet": Kind(0, "virtual network", "vnet"),
    "hub": Kind(0, "Virtual WAN hub", "hub"),
    "internet": Kind(0, "internet clients", "internet"),
    "onprem-dns": Kind(1, "on-premises DNS server", "onprem-dns"),
    "custom-dns": Kind(1, "custom DNS server", "custom-dns"),
    "firewall": Kind(1, "Azure Firewall DNS proxy", "firewall"),
    "inbound": Kind(2, "resolver inbound endpoint", "inbound"),
    "azure-dns": Kind(3, "Azure-provided DNS", "azure-dns"),
    "ruleset": Kind(4, "forwarding ruleset", "ruleset"),
    "policy": Kind(4, "DNS security policy", "policy"),
    "zone": Kind(5, "private DNS zone", "zone"),
    "hosted-zone": Kind(5, "zone a DNS server holds", "hosted-zone"),
    "public": Kind(5, "public DNS", "public"),
    "external": Kind(5, "external DNS server", "external"),
    "unreachable": Kind(5, "unreachable server", "unreachable"),
    "endpoint": Kind(6, "private endpoint", "endpoint"),
}

#: Column headings.
COLUMNS = (
    "Networks",
    "DNS servers",
    "Resolver inbound endpoints",
    "Azure-provided DNS",
    "Rulesets and security policies",
    "Zones and public DNS",
    "Private endpoints",
)

#: Edge kinds: what a query does along them.
EDGE_KINDS = {
    "dns": "asks its DNS server",
    "forward": "conditional forwarder",
    "proxy": "DNS proxy forwards",
    "holds": "zone it holds itself",
    "policy": "linked DNS security policy",
    "default": "everything else",
    "resolves-in": "answers as Azure DNS in its VNet",
    "ruleset": "linked forwarding ruleset",
    "rule": "forwarding rule",
    "rule-disabled": "disabled forwarding rule",
    "link": "virtual network link",
    "otherwise": "names no linked zone holds",
    "record": "record",
    "path": "step of the path",
}

MAX_DETAIL_LINES = 3
MAX_LABEL_ITEMS = 2


@dataclass(slots=True)
class Node:
    id: str
    kind: str
    label: str
    details: tuple[str, ...] = ()
    title: str = ""  # the full description (tooltip)
    count: int = 1  # > 1 for a collapsed node
    members: tuple[str, ...] = ()  # ids of the nodes a collapsed node stands for
    flags: tuple[str, ...] = ()  # extra classes: "unused", "pending", "collapsed"
    addresses: tuple[str, ...] = ()  # for endpoints: the IPs their records point at

    @property
    def lines(self) -> tuple[str, ...]:
        return (self.label, *self.details)


@dataclass(slots=True)
class Edge:
    id: str
    source: str
    target: str
    kind: str
    label: str = ""
    title: str = ""
    flags: tuple[str, ...] = ()  # "redirect", "registration", "missing"
    count: int = 1  # > 1 for edges merged by collapsing


@dataclass
class Graph:
    title: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[str, Edge] = field(default_factory=dict)

    def add_node(self, node: Node) -> Node:
        self.nodes.setdefault(node.id, node)
        return self.nodes[node.id]

    def add_edge(
        self, source: str, target: str, kind: str, label: str = "", title: str = "", flags: tuple[str, ...] = ()
    ) -> Edge:
        edge_id = f"{source}->{target}:{kind}"
        edge = self.edges.get(edge_id)
        if edge is None:
            edge = self.edges[edge_id] = Edge(edge_id, source, target, kind, label, title, flags)
        return edge

    def out_edges(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges.values() if e.source == node_id]

    def adjacency(self) -> dict[str, list[Edge]]:
        out: dict[str, list[Edge]] = defaultdict(list)
        for edge in self.edges.values():
            out[edge.source].append(edge)
        return out

    def reach(self, start: Iterable[str]) -> set[str]:
        """Every node a query can get to from ``start`` (included), following edges forward."""
        adjacency = self.adjacency()
        seen = set()
        stack = [s for s in start if s in self.nodes]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            stack.extend(e.target for e in adjacency.get(node, ()) if e.target not in seen)
        return seen

    def subgraph(self, keep: set[str], title: str | None = None) -> Graph:
        out = Graph(title or self.title)
        out.nodes = {k: v for k, v in self.nodes.items() if k in keep}
        out.edges = {k: e for k, e in self.edges.items() if e.source in keep and e.target in keep}
        return out


def _short_list(items: list[str], limit: int = MAX_LABEL_ITEMS) -> str:
    if len(items) <= limit:
        return "\n".join(items)
    return "\n".join([*items[:limit], f"+{len(items) - limit} more"])


def _details(items: Iterable[str], limit: int = MAX_DETAIL_LINES) -> tuple[str, ...]:
    items = list(items)
    if len(items) <= limit:
        return tuple(items)
    return (*items[: limit - 1], f"+{len(items) - limit + 1} more")


def _list_domains(t: Topology, name: str) -> list[str]:
    dlist = t.dns_resolver_domain_lists.get(name)
    return [d.rstrip(".") or "." for d in dlist.domains] if dlist is not None else []


def _fqdn(name: str) -> str:
    return names.parse(name if name.endswith(".") else name + ".")


def _show(name: str) -> str:
    """A domain name as people write it: without the trailing dot (the root stays '.')."""
    return name if name == "." else name.rstrip(".")


class _Targets:
    """Which node a forwarding target (``IP`` or ``IP:PORT``) is, as compile resolves it."""

    def __init__(self, t: Topology) -> None:
        self.by_address: dict[str, str] = {}
        for rname, resolver in t.dns_private_resolvers.items():
            for ename, endpoint in resolver.inbound_endpoints.items():
                self.by_address[str(endpoint.private_ip_address)] = f"inbound:{rname}/{ename}"
        for sname, server in t.custom_dns_servers.items():
            self.by_address[str(server.private_ip_address)] = f"custom:{sname}"
        for oname, site in t.on_premises.items():
            for address in site.dns_servers:
                self.by_address[str(address)] = f"onprem-dns:{oname}"
        for xname, ext in t.external_dns_servers.items():
            self.by_address[parse_target(ext.address)[0]] = f"external:{xname}"
        for fname, fw in t.azure_firewalls.items():
            self.by_address[str(fw.private_ip_address)] = f"firewall:{fname}"

    def node(self, text: str, from_vnet: str | None) -> str:
        address, _port = parse_target(text)
        if address == str(AZURE_DNS_IP):
            return f"azure:{from_vnet}" if from_vnet is not None else f"unreachable:{address}"
        return self.by_address.get(address, f"unreachable:{address}")


def build_graph(loaded: LoadedTopology, index: Index, title: str = "DNS estate") -> Graph:
    """The whole estate as a graph (see the module docstring)."""
    t = loaded.topology
    g = Graph(title)
    targets = _Targets(t)

    # -- networks ----------------------------------------------------------------------------------
    for oname, site in t.on_premises.items():
        g.add_node(
            Node(
                f"site:{oname}",
                "site",
                oname,
                _details([*map(str, site.address_space), "on-premises"]),
                f"on-premises site {oname!r}: {', '.join(map(str, site.address_space))}",
            )
        )
    for vname, vnet in t.virtual_networks.items():
        custom = vnet.dns_servers and vnet.dns_servers[0] != AZURE_DNS_IP
        dns = f"DNS {vnet.dns_servers[0]}" if custom else "Azure-provided DNS"
        region = vnet.region or t.region
        g.add_node(
            Node(
                f"vnet:{vname}",
                "vnet",
                vname,
                (*_details(map(str, vnet.address_space), MAX_DETAIL_LINES - 1), dns),
                f"virtual network {vname!r} in {region}: {', '.join(map(str, vnet.address_space))}; "
                + (f"custom DNS servers {', '.join(map(str, vnet.dns_servers))}" if custom else "Azure-provided DNS")
                + (f"; peered with {', '.join(vnet.peerings)}" if vnet.peerings else ""),
            )
        )
    for hname, hub in t.virtual_hubs.items():
        region = hub.region or t.region
        g.add_node(
            Node(
                f"hub:{hname}",
                "hub",
                hname,
                (str(hub.address_prefix), "Virtual WAN hub"),
                f"Virtual WAN hub {hname!r} in {region}: {hub.address_prefix}; Microsoft manages it, so no private "
                "zone can be linked to it"
                + (
                    f"; connected to {', '.join(hub.virtual_network_connections)}"
                    if hub.virtual_network_connections
                    else ""
                ),
            )
        )
    g.add_node(Node("internet", "internet", "internet", ("any other source",), "clients in no modelled network"))

    # -- DNS servers ---------------------------------------------------------------------------------
    for oname, site in t.on_premises.items():
        g.add_node(
            Node(
                f"onprem-dns:{oname}",
                "onprem-dns",
                f"{oname} DNS",
                _details(map(str, site.dns_servers)) or ("no address given",),
                f"the DNS server of on-premises site {oname!r}"
                + (f" ({', '.join(map(str, site.dns_servers))})" if site.dns_servers else ""),
            )
        )
    for sname, server in t.custom_dns_servers.items():
        g.add_node(
            Node(
                f"custom:{sname}",
                "custom-dns",
                sname,
                (str(server.private_ip_address), f"in {server.virtual_network}"),
                f"custom DNS server {sname!r} at {server.private_ip_address} in VNet {server.virtual_network!r}",
            )
        )
    for fname, fw in t.azure_firewalls.items():
        where = f"hub {fw.virtual_hub}" if fw.virtual_hub else f"{fw.virtual_network}"
        settings = fw.dns_settings
        state = "DNS proxy on" if settings.enable_proxy else "DNS proxy off"
        g.add_node(
            Node(
                f"firewall:{fname}",
                "firewall",
                fname,
                (str(fw.private_ip_address), f"in {where}", state),
                f"Azure Firewall {fname!r} at {fw.private_ip_address} in "
                + (f"virtual hub {fw.virtual_hub!r}" if fw.virtual_hub else f"VNet {fw.virtual_network!r}")
                + (
                    f": its DNS proxy forwards to {', '.join(settings.servers)}"
                    if settings.enable_proxy and settings.servers
                    else ": its DNS proxy forwards to Azure DNS in its own network (facts §12.2)"
                    if settings.enable_proxy
                    else ": DNS proxy off, nothing answers on port 53 (check: firewall-proxy-off)"
                ),
                flags=() if settings.enable_proxy else ("proxy-off",),
            )
        )
    for rname, resolver in t.dns_private_resolvers.items():
        for ename, endpoint in resolver.inbound_endpoints.items():
            g.add_node(
                Node(
                    f"inbound:{rname}/{ename}",
                    "inbound",
                    f"{rname}/{ename}",
                    (str(endpoint.private_ip_address), f"in {resolver.virtual_network}"),
                    f"inbound endpoint {ename!r} of DNS private resolver {rname!r} at "
                    f"{endpoint.private_ip_address} in VNet {resolver.virtual_network!r}",
                )
            )
    for xname, ext in t.external_dns_servers.items():
        g.add_node(
            Node(
                f"external:{xname}",
                "external",
                xname,
                (ext.address, "outside the model"),
                f"external DNS server {xname!r} at {ext.address}: queries that reach it are forwarded",
            )
        )
    g.add_node(Node("public", "public", "public DNS", ("the internet",), "public DNS, as the internet sees it"))

    def target(text: str, from_vnet: str | None) -> str:
        node = targets.node(text, from_vnet)
        if node.startswith("unreachable:"):
            address = node.split(":", 1)[1]
            why = (
                "168.63.129.16 answers only inside a VNet"
                if address == str(AZURE_DNS_IP)
                else "no modelled server has this address"
            )
            g.add_node(Node(node, "unreachable", address, ("unreachable",), why))
        return node

    # -- Azure-provided DNS of each VNet, rulesets, zones --------------------------------------------
    for vname in t.virtual_networks:
        g.add_node(
            Node(
                f"azure:{vname}",
                "azure-dns",
                vname,
                ("168.63.129.16",),
                f"Azure-provided DNS (168.63.129.16) inside VNet {vname!r}: its linked ruleset first, "
                "then its linked private zones, then public DNS",
            )
        )
    for hname in t.virtual_hubs:
        g.add_node(
            Node(
                f"azure:{hname}",
                "azure-dns",
                hname,
                ("168.63.129.16", "no zone links"),
                f"Azure-provided DNS (168.63.129.16) inside virtual hub {hname!r}: no private zone can be linked "
                "there, so every name resolves as public DNS has it (facts §12.4)",
            )
        )
    for rsname, ruleset in t.dns_forwarding_rulesets.items():
        enabled = sum(1 for r in ruleset.forwarding_rules.values() if r.state == "Enabled")
        g.add_node(
            Node(
                f"ruleset:{rsname}",
                "ruleset",
                rsname,
                (f"via {ruleset.dns_resolver_outbound_endpoints[0]}", f"{enabled} enabled rule(s)"),
                f"forwarding ruleset {rsname!r} on outbound endpoint(s) "
                f"{', '.join(ruleset.dns_resolver_outbound_endpoints)}",
            )
        )
    for pname, policy in t.dns_resolver_policies.items():
        rules = sorted(policy.dns_security_rules.items(), key=lambda kv: (kv[1].priority, kv[0]))
        lines = [
            f"{r.priority} {r.action.action_type} {', '.join(r.dns_resolver_domain_lists)}"
            + (" (disabled)" if r.dns_security_rule_state == "Disabled" else "")
            for _, r in rules
        ]
        described = []
        for rname, r in rules:
            domains = [d for name in r.dns_resolver_domain_lists for d in _list_domains(t, name)]
            described.append(
                f"{rname} (priority {r.priority}, {r.action.action_type}"
                + (", disabled" if r.dns_security_rule_state == "Disabled" else "")
                + f": {', '.join(domains[:5]) or 'no domains'}"
                + (f" and {len(domains) - 5} more" if len(domains) > 5 else "")
                + ")"
            )
        g.add_node(
            Node(
                f"policy:{pname}",
                "policy",
                pname,
                _details(lines) or ("no rules",),
                f"DNS security policy {pname!r} in {policy.region or t.region}: looks at every answer Azure DNS gives "
                "in the VNets linked to it; the first rule by priority whose domain lists hold a name of the answer "
                "decides" + (f"; rules: {'; '.join(described)}" if described else "; no rules"),
            )
        )
    zone_ids: dict[str, str] = {}
    for zname, _zone in t.private_dns_zones.items():
        canonical = _fqdn(zname)
        zone_ids[canonical] = f"zone:{canonical}"
        compiled = index.private_zones.get(canonical)
        count = len(compiled) - 1 if compiled is not None else 0  # without the SOA
        g.add_node(
            Node(
                f"zone:{canonical}",
                "zone",
                _show(zname),
                (f"{count} record(s)",),
                f"private DNS zone {_show(zname)} ({count} record(s) besides the SOA)",
            )
        )

    hosted: list[tuple[str, str]] = []  # (server node, hosted zone node)
    servers: list[tuple[str, str, str, dict]] = [
        *((f"custom:{n}", f"custom:{n}", n, s.zones) for n, s in t.custom_dns_servers.items()),
        *((f"onprem-dns:{n}", f"onprem:{n}", f"{n} DNS", s.zones) for n, s in t.on_premises.items()),
    ]
    for server_node, key, server_label, zones in servers:
        for zname in zones:
            canonical = _fqdn(zname)
            records = loaded.hosted_records.get((key, canonical), ())
            count = sum(1 for r in records if not (r.rtype == RRType.SOA and r.name == canonical))
            node_id = f"hosted:{server_node}:{canonical}"
            g.add_node(
                Node(
                    node_id,
                    "hosted-zone",
                    _show(zname),
                    (f"{count} record(s)", f"on {server_label}"),
                    f"zone {_show(zname)} held by {server_label} itself ({count} record(s) besides the SOA): it "
                    "answers its names with AA to the clients that ask it directly",
                )
            )
            hosted.append((server_node, node_id))

    # -- private endpoints ---------------------------------------------------------------------------
    endpoint_by_ip: dict[str, list[str]] = defaultdict(list)
    for pname, pe in t.private_endpoints.items():
        addresses = tuple(str(ip) for ip in pe.private_ip_addresses)
        if pe.resource is not None:
            what = f"{pe.resource.name} ({pe.group_id})"
            title = f"{pe.resource.type} {pe.resource.name!r}, group {pe.group_id}"
        else:
            alias = pe.private_link_service_alias or ""
            what = "Private Link Service"
            title = f"Private Link Service {alias}"
        flags = () if pe.connection_state == "Approved" else ("pending",)
        details = [", ".join(addresses), what]
        if flags:
            details.append(pe.connection_state)
        g.add_node(
            Node(
                f"pe:{pname}",
                "endpoint",
                pname,
                tuple(details),
                f"private endpoint {pname!r} in VNet {pe.virtual_network!r}: {title}; connection {pe.connection_state}",
                flags=flags,
                addresses=addresses,
            )
        )
        for address in addresses:
            endpoint_by_ip[address].append(f"pe:{pname}")

    # -- edges: who asks whom --------------------------------------------------------------------------
    for oname in t.on_premises:
        g.add_edge(f"site:{oname}", f"onprem-dns:{oname}", "dns", "", f"{oname} asks its own DNS server")
    for vname, vnet in t.virtual_networks.items():
        if vnet.dns_servers and vnet.dns_servers[0] != AZURE_DNS_IP:
            first = str(vnet.dns_servers[0])
            g.add_edge(f"vnet:{vname}", target(first, vname), "dns", first, f"{vname} uses custom DNS server {first}")
        else:
            g.add_edge(f"vnet:{vname}", f"azure:{vname}", "dns", "", f"{vname} uses Azure-provided DNS")
    for hname in t.virtual_hubs:
        g.add_edge(f"hub:{hname}", f"azure:{hname}", "dns", "", f"{hname} uses Azure-provided DNS")
    g.add_edge("internet", "public", "dns", "", "clients on the internet ask public DNS")
    for fname, fw in t.azure_firewalls.items():
        network = fw.virtual_network or fw.virtual_hub
        settings = fw.dns_settings
        if not settings.enable_proxy:
            continue
        if not settings.servers:
            g.add_edge(
                f"firewall:{fname}",
                f"azure:{network}",
                "proxy",
                "168.63.129.16",
                f"the DNS proxy of {fname} asks Azure DNS from its own network {network!r}: the zones linked there "
                "apply, not the client's (facts §12.2)",
            )
            continue
        for text in settings.servers:
            node = target(text, network)
            share = f"one of {len(settings.servers)}, picked per query" if len(settings.servers) > 1 else ""
            g.add_edge(
                f"firewall:{fname}",
                node,
                "proxy",
                "\n".join(x for x in (parse_target(text)[0], share) if x),
                f"the DNS proxy of {fname} forwards to {text}" + (f" ({share})" if share else ""),
            )
    for server_node, zone_node in hosted:
        g.add_edge(
            server_node,
            zone_node,
            "holds",
            "",
            f"{g.nodes[server_node].label} answers names in {g.nodes[zone_node].label} from this zone (unless a "
            "conditional forwarder for a longer name takes them)",
        )

    def forwarders(source: str, table: dict[str, list[str]], from_vnet: str | None) -> None:
        by_target: dict[str, list[str]] = defaultdict(list)
        for domain, servers in table.items():
            by_target[target(servers[0], from_vnet)].append(_show(_fqdn(domain)))
        for node, domains in by_target.items():
            g.add_edge(
                source,
                node,
                "forward",
                _short_list(domains),
                f"conditional forwarder(s) to {g.nodes[node].label}: {', '.join(domains)}",
            )

    for sname, server in t.custom_dns_servers.items():
        node = f"custom:{sname}"
        forwarders(node, server.conditional_forwarders, server.virtual_network)
        if server.default_forwarding == "azure":
            default = f"azure:{server.virtual_network}"
        elif server.default_forwarding == "internet":
            default = "public"
        else:
            default = target(server.default_forwarding[0], server.virtual_network)
        g.add_edge(node, default, "default", "everything else", f"{sname} sends everything else here")
    for oname, site in t.on_premises.items():
        node = f"onprem-dns:{oname}"
        forwarders(node, site.conditional_forwarders, None)
        default = "public" if site.default_forwarding == "internet" else target(site.default_forwarding[0], None)
        g.add_edge(node, default, "default", "everything else", f"the DNS server of {oname} sends everything else here")
    for rname, resolver in t.dns_private_resolvers.items():
        for ename in resolver.inbound_endpoints:
            g.add_edge(
                f"inbound:{rname}/{ename}",
                f"azure:{resolver.virtual_network}",
                "resolves-in",
                "",
                f"a query to {rname}/{ename} is answered by Azure DNS in VNet {resolver.virtual_network!r}",
            )

    # -- edges: what Azure DNS in each VNet consults ----------------------------------------------------
    for rsname, ruleset in t.dns_forwarding_rulesets.items():
        outbound_vnet = t.dns_private_resolvers[
            ruleset.dns_resolver_outbound_endpoints[0].split("/")[0]
        ].virtual_network
        for vname in ruleset.virtual_network_links:
            g.add_edge(f"azure:{vname}", f"ruleset:{rsname}", "ruleset", "", f"{rsname} is linked to VNet {vname!r}")
        rules: dict[tuple[str, str], list[str]] = defaultdict(list)
        for rule in ruleset.forwarding_rules.values():
            domain = "." if rule.domain_name.strip() == "." else _show(_fqdn(rule.domain_name))
            kind = "rule" if rule.state == "Enabled" else "rule-disabled"
            rules[(target(rule.target_dns_servers[0], outbound_vnet), kind)].append(domain)
        for (node, kind), domains in rules.items():
            g.add_edge(
                f"ruleset:{rsname}",
                node,
                kind,
                _short_list(domains) + (" (disabled)" if kind == "rule-disabled" else ""),
                f"{'disabled ' if kind == 'rule-disabled' else ''}rule(s) of {rsname} to "
                f"{g.nodes[node].label}: {', '.join(domains)}",
            )
    for zname, zone in t.private_dns_zones.items():
        zone_id = zone_ids[_fqdn(zname)]
        for link in zone.virtual_network_links:
            flags = []
            words = []
            if link.resolution_policy == "NxDomainRedirect":
                flags.append("redirect")
                words.append("NxDomainRedirect")
            if link.registration_enabled:
                flags.append("registration")
                words.append("autoregistration")
            g.add_edge(
                f"azure:{link.virtual_network}",
                zone_id,
                "link",
                "\n".join(words),
                f"link {link.name or link.virtual_network!r} of {_show(zname)} to VNet {link.virtual_network!r} "
                f"(resolution policy {link.resolution_policy}"
                + (", autoregistration" if link.registration_enabled else "")
                + ")",
                tuple(flags),
            )
    for vname in [*t.virtual_networks, *t.virtual_hubs]:
        g.add_edge(f"azure:{vname}", "public", "otherwise", "", "names no linked zone (and no rule) covers")
    for pname, policy in t.dns_resolver_policies.items():
        for link in policy.virtual_network_links:
            if f"azure:{link.virtual_network}" not in g.nodes:
                continue
            g.add_edge(
                f"azure:{link.virtual_network}",
                f"policy:{pname}",
                "policy",
                "",
                f"DNS security policy {pname!r} is linked to VNet {link.virtual_network!r}"
                + (f" (link {link.name!r})" if link.name else "")
                + ": it checks every answer Azure DNS gives there",
            )

    # -- edges: zones to private endpoints ------------------------------------------------------------------
    for canonical, zone_id in zone_ids.items():
        compiled = index.private_zones.get(canonical)
        if compiled is None or not endpoint_by_ip:
            continue
        pointed: dict[str, list[str]] = defaultdict(list)
        for record in compiled.records():
            if record.rtype in (RRType.A, RRType.AAAA):
                for pe in endpoint_by_ip.get(record.rdata[0], ()):
                    pointed[pe].append(f"{_show(record.name)} {record.rdata[0]}")
        for pe, records in pointed.items():
            addresses = sorted({r.rsplit(" ", 1)[1] for r in records})
            g.add_edge(zone_id, pe, "record", ", ".join(addresses), "records: " + "; ".join(records))
    for pname, pe in t.private_endpoints.items():
        for zname in pe.private_dns_zone_group:
            zone_id = zone_ids.get(_fqdn(zname))
            if zone_id is not None and f"{zone_id}->pe:{pname}:record" not in g.edges:
                g.add_edge(
                    zone_id,
                    f"pe:{pname}",
                    "record",
                    "no record",
                    f"{pname}'s zone group names {_show(zname)}, but the zone has no record with its address "
                    "(another endpoint overwrote it)",
                    ("missing",),
                )

    # -- Azure DNS nobody asks: keep it only when it has something to show ------------------------------
    asked = {e.target for e in g.edges.values()}
    consults = {e.source for e in g.edges.values() if e.kind in ("link", "ruleset", "policy")}
    dropped: set[str] = set()
    for vname in t.virtual_networks:
        node_id = f"azure:{vname}"
        if node_id in asked:
            continue
        if node_id in consults:
            node = g.nodes[node_id]
            node.flags = (*node.flags, "unused")
            node.title += f"; nobody asks it: {vname} uses custom DNS servers, so these links are never consulted"
        else:
            del g.nodes[node_id]
            dropped.add(node_id)
    if dropped:
        g.edges = {k: e for k, e in g.edges.items() if e.source not in dropped}
    return g


# -- reach and collapse --------------------------------------------------------------------------------


def source_node(index: Index, network_name: str | None) -> str:
    """The node a query starts from, for the network a source address belongs to."""
    if network_name is None:
        return "internet"
    network = index.networks.get(network_name)
    if network is None:
        return "internet"
    return {
        "vnet": f"vnet:{network.name}",
        "on_premises": f"site:{network.name}",
        "virtual_hub": f"hub:{network.name}",
    }.get(network.kind, "internet")


def reached_from(graph: Graph, start: str, title: str | None = None) -> Graph:
    """What a query from ``start`` can get to: the node, and every node along its edges."""
    return graph.subgraph(graph.reach([start]), title)


def collapse(graph: Graph) -> Graph:
    """Merge look-alikes into counted nodes, so that a large estate stays readable.

    - VNets whose DNS behaves the same (same DNS server, same ruleset, same zones with
      the same link settings, and whose Azure DNS no other server asks) become one node
      "N VNets", with one Azure DNS node;
    - private zones linked to the same VNets with the same settings become "N private zones";
    - private endpoints whose records sit in the same (collapsed) zones become "N private endpoints".
    """
    g = Graph(graph.title, dict(graph.nodes), dict(graph.edges))
    incoming: dict[str, list[Edge]] = defaultdict(list)
    outgoing: dict[str, list[Edge]] = defaultdict(list)
    for edge in g.edges.values():
        incoming[edge.target].append(edge)
        outgoing[edge.source].append(edge)

    def sig(edges: Iterable[Edge], end: str, skip: str = "") -> frozenset[tuple[str, ...]]:
        return frozenset((getattr(e, end), e.kind, e.label, *e.flags) for e in edges if getattr(e, end) != skip)

    # VNets and their Azure DNS
    groups: dict[tuple[object, ...], list[str]] = defaultdict(list)
    for node in graph.nodes.values():
        if node.kind != "vnet":
            continue
        azure = f"azure:{node.label}"
        if any(e.source != node.id for e in incoming.get(azure, ())):
            continue  # someone else asks this VNet's Azure DNS: it stays on its own
        key = (sig(outgoing[node.id], "target", azure), sig(outgoing.get(azure, ()), "target"), node.flags)
        groups[key].append(node.id)
    mapping: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        first = graph.nodes[members[0]]
        labels = [graph.nodes[m].label for m in members]
        vnet_id, azure_id = f"vnets:{first.label}", f"azures:{first.label}"
        spaces = sum(len(graph.nodes[m].details) - 1 for m in members)
        g.nodes[vnet_id] = Node(
            vnet_id,
            "vnet",
            f"{len(members)} VNets",
            (_sample(labels), *first.details[-1:]),
            f"{len(members)} virtual networks whose DNS behaves the same ({spaces} address space(s)): "
            + _long_list(labels),
            len(members),
            tuple(members),
            ("collapsed",),
        )
        for m in members:
            mapping[m] = vnet_id
            azure = f"azure:{graph.nodes[m].label}"
            if azure in graph.nodes:
                mapping[azure] = azure_id
        if f"azure:{first.label}" in graph.nodes:
            old = graph.nodes[f"azure:{first.label}"]
            g.nodes[azure_id] = Node(
                azure_id,
                "azure-dns",
                f"{len(members)} VNets",
                old.details,
                f"Azure-provided DNS inside each of {len(members)} VNets: " + _long_list(labels),
                len(members),
                tuple(f"azure:{label}" for label in labels),
                (*old.flags, "collapsed"),
            )
    g = _remap(g, mapping)

    # zones with the same links, then endpoints in the same zones
    for kind, word in (("zone", "private zones"), ("endpoint", "private endpoints")):
        incoming = defaultdict(list)
        for edge in g.edges.values():
            incoming[edge.target].append(edge)
        by_links: dict[frozenset[tuple[str, ...]], list[str]] = defaultdict(list)
        for node in g.nodes.values():
            if node.kind == kind and node.count == 1:
                by_links[frozenset((e.source, e.kind, *e.flags) for e in incoming.get(node.id, ()))].append(node.id)
        mapping = {}
        for members in by_links.values():
            if len(members) < 2:
                continue
            labels = [g.nodes[m].label for m in members]
            group_id = f"{kind}s:{members[0].split(':', 1)[1]}"
            addresses = tuple(a for m in members for a in g.nodes[m].addresses)
            g.nodes[group_id] = Node(
                group_id,
                kind,
                f"{len(members)} {word}",
                (_sample(labels),),
                f"{len(members)} {word}: " + _long_list(labels),
                len(members),
                tuple(members),
                ("collapsed",),
                addresses,
            )
            mapping.update({m: group_id for m in members})
        g = _remap(g, mapping)
    return g


def _remap(g: Graph, mapping: dict[str, str]) -> Graph:
    if not mapping:
        return g
    out = Graph(g.title)
    out.nodes = {k: v for k, v in g.nodes.items() if k not in mapping}
    merged: dict[str, list[Edge]] = defaultdict(list)
    for edge in g.edges.values():
        source, target = mapping.get(edge.source, edge.source), mapping.get(edge.target, edge.target)
        if source == target and edge.kind == "dns":
            continue
        merged[f"{source}->{target}:{edge.kind}"].append(replace(edge, source=source, target=target))
    for edge_id, edges in merged.items():
        first = edges[0]
        count = sum(e.count for e in edges)
        what = EDGE_KINDS.get(first.kind, first.kind)
        labels = list(dict.fromkeys(e.label for e in edges))
        label = labels[0] if len(labels) == 1 else f"{count} x {what}"
        flags = tuple(dict.fromkeys(f for e in edges for f in e.flags))
        if count == 1:
            title = first.title
        else:
            example = first.title if first.count == 1 else first.title.split(ONE_OF_THEM, 1)[-1]
            title = f"{count} x {what}{ONE_OF_THEM}{example}"
        out.edges[edge_id] = Edge(edge_id, first.source, first.target, first.kind, label, title, flags, count)
    return out


ONE_OF_THEM = "; one of them: "


def _sample(labels: list[str]) -> str:
    if len(labels) <= 2:
        return ", ".join(labels)
    return f"{labels[0]}, {labels[1]} … {labels[-1]}"


def _long_list(items: list[str], limit: int = 50) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
