"""The compiled topology: immutable lookup tables the resolver walks.

A query travels through *hops*, the DNS servers of the estate:

- :class:`AzureDns` — Azure-provided DNS (168.63.129.16, or a DNS private resolver
  inbound endpoint) answering from inside one VNet: the private zones linked to that
  VNet first, then the forwarding ruleset linked to it, then public DNS
  (:mod:`dnsemu.core.precedence`, facts-2 §11.1);
- :class:`Forwarder` — a DNS server that forwards by domain (an on-premises site's
  server, a custom DNS server VM), with conditional forwarders and a default, and
  zones it may hold itself (an AD-integrated zone on a domain controller);
- :class:`Firewall` — Azure Firewall's DNS proxy, forwarding to its DNS servers or to
  Azure DNS in the firewall's own network;
- :class:`Internet` — public DNS, as a resolver on the internet sees it;
- :class:`External` — a server outside the model: the query is forwarded on the wire;
- :class:`Unreachable` — a path that ends nowhere (answered SERVFAIL).

The graph of hops, the zones and the address classifier are built once by
:func:`dnsemu.core.compile.compile_topology` and never change afterwards; a reload
builds a new :class:`Index`.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from dnsemu.core.policy import SecurityPolicy
from dnsemu.core.resolution import ProxyCache, Source
from dnsemu.core.zone import Zone, ZoneKind
from dnsemu.dns.records import Record, RRType

#: the types a link with the NxDomainRedirect policy retries in public DNS when its zone lacks the name (§1.4)
REDIRECTABLE = frozenset({RRType.A, RRType.AAAA, RRType.CNAME})


@dataclass(frozen=True, slots=True)
class NegativePlan:
    """What Azure DNS inside one VNet answers for a name that the most specific linked zone lacks.

    NXDOMAIN with the zone's SOA (RFC 2308), labelled ``source``, unless the query's type is
    in ``redirected``: the link's NxDomainRedirect policy then retries the name in public DNS.
    Decided when the index is compiled; the resolver answers its negative answers from it, and
    a server may answer from it without resolving (:attr:`Index.negative`). Whether the zone
    lacks a name is the zone's to say: :meth:`Zone.lookup`, or :meth:`Zone.exists` when the zone
    has no wildcard (``zone.has_wildcards`` false).
    """

    apex: str
    zone: Zone = field(repr=False)
    #: :attr:`Source.NXDOMAIN_PRIVATE` for a private DNS zone, :attr:`Source.INTERNAL` for an Azure-provided one
    source: Source
    #: the zone's SOA with the negative TTL
    authority: tuple[Record, ...] = field(repr=False)
    #: query types retried in public DNS instead (NxDomainRedirect: A, AAAA, CNAME); empty for Default
    redirected: frozenset[int]

    @classmethod
    def of(cls, zone: Zone, redirects: bool) -> NegativePlan:
        source = Source.NXDOMAIN_PRIVATE if zone.kind is ZoneKind.PRIVATE else Source.INTERNAL
        return cls(zone.name, zone, source, zone.negative, REDIRECTABLE if redirects else frozenset())


@dataclass(frozen=True, slots=True)
class Link:
    """A private zone as one VNet sees it: the zone and the link's settings."""

    zone: Zone
    link: str
    policy: str = "Default"
    registration: bool = False
    #: what the VNet gets for a name the zone lacks (derived from the zone and ``policy``; not in the repr)
    negative: NegativePlan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "negative", NegativePlan.of(self.zone, self.redirects))

    @property
    def redirects(self) -> bool:
        return self.policy == "NxDomainRedirect"


@dataclass(frozen=True, slots=True)
class View:
    """What Azure DNS inside one VNet can see: the private zones linked to it.

    ``links`` also holds the VNet's Azure-provided zones (``internal.cloudapp.net``
    and reverse zones of private address space) with a Default policy.
    """

    name: str
    vnet: str
    links: Mapping[str, Link]
    max_labels: int


class Hop:
    """A DNS server on the path of a query."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"


@dataclass(frozen=True, slots=True)
class Edge:
    """Where a forwarder sends a domain, and how the trace describes it."""

    domain: str
    target: str  # the address as written, e.g. "10.0.0.4:53"
    hop: Hop
    via: str  # "rule dns-rules/blob" or "conditional forwarder"


class AzureDns(Hop):
    __slots__ = ("ignored_by_wildcard", "rules", "ruleset", "view")

    def __init__(self, label: str, view: View) -> None:
        super().__init__(label)
        self.view = view
        self.ruleset: str | None = None
        self.rules: dict[str, Edge] = {}
        self.ignored_by_wildcard: frozenset[str] = frozenset()

    @property
    def answers_from_view(self) -> bool:
        """No forwarding rule to consult: every query is answered from :attr:`view`, linked zones first."""
        return not self.rules


class Forwarder(Hop):
    """A DNS server that forwards by domain; it may also hold zones of its own (``zones``, by apex)."""

    __slots__ = ("default", "default_target", "forwarders", "kind", "name", "zones")

    def __init__(self, label: str, kind: str, name: str = "") -> None:
        super().__init__(label)
        self.kind = kind
        self.name = name or label
        self.forwarders: dict[str, Edge] = {}
        self.default: Hop | None = None
        self.default_target = ""
        self.zones: dict[str, Zone] = {}


class Firewall(Hop):
    """Azure Firewall's DNS proxy (facts §12): it forwards every query to its DNS servers.

    ``servers`` are the firewall's own DNS servers as edges, in the order written; with none
    configured, the one edge is Azure DNS in the firewall's network (its links, its ruleset).
    ``proxy`` off means nothing listens on port 53; ``cache`` is set when the proxy's cache is
    emulated (by the server, which has a clock: the core has none).
    """

    __slots__ = ("cache", "name", "network", "proxy", "servers")

    def __init__(self, label: str, name: str, network: str, proxy: bool, cache: ProxyCache | None = None) -> None:
        super().__init__(label)
        self.name = name
        self.network = network
        self.proxy = proxy
        self.cache = cache
        self.servers: tuple[Edge, ...] = ()


class Internet(Hop):
    __slots__ = ()


class External(Hop):
    __slots__ = ("address", "port")

    def __init__(self, label: str, address: str, port: int) -> None:
        super().__init__(label)
        self.address = address
        self.port = port


class Unreachable(Hop):
    __slots__ = ("reason",)

    def __init__(self, label: str, reason: str) -> None:
        super().__init__(label)
        self.reason = reason


class NetworkKind(enum.StrEnum):
    """Where a query comes from; the kind decides which DNS path and which notes apply."""

    VNET = "vnet"
    ON_PREMISES = "on_premises"
    VIRTUAL_HUB = "virtual_hub"
    INTERNET = "internet"


@dataclass(frozen=True, slots=True)
class Network:
    """A VNet, a Virtual WAN hub or an on-premises site (or the internet): where a query comes from."""

    name: str
    kind: NetworkKind
    entry: Hop
    entry_note: str
    prefixes: tuple[str, ...] = ()
    #: (subnet name, prefix, service endpoint providers), parsed once, for trace notes
    subnets: tuple[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network, tuple[str, ...]], ...] = ()

    @property
    def view_key(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True, slots=True)
class NegativeTable:
    """The negative answers of a VNet whose queries its linked zones answer first, and nothing after.

    For such a VNet (Azure-provided DNS without a forwarding rule), a name under a linked zone
    that the zone lacks is answered by the plan of the zone with the longest apex holding the
    name, before anything else is consulted: what :func:`dnsemu.core.resolver.resolve` does
    first, as data, compiled with the index.

    A DNS security policy linked to the VNet looks at every answer afterwards (facts-2 §10.8):
    the table then carries it (:attr:`policy`), and a name it may match (:meth:`SecurityPolicy.covers`,
    for every name the answer involves) is for the resolver, which applies it. A name no rule
    covers goes out as the zone says, exactly as the resolver would leave it.
    """

    #: the view's label, as :attr:`~dnsemu.core.resolution.Resolution.view` carries it
    view: str
    #: zone apex -> plan, for every zone linked to the VNet (the root excluded)
    plans: Mapping[str, NegativePlan] = field(repr=False)
    #: the DNS security policy linked to the VNet, when it applies there (§10.7: same region); None: none
    policy: SecurityPolicy | None = field(default=None, repr=False)

    @classmethod
    def of(cls, network: Network, policies: Mapping[str, SecurityPolicy], options: Options) -> NegativeTable | None:
        """The table of ``network``; None when something else may decide its negative answers."""
        entry = network.entry
        if network.kind is not NetworkKind.VNET or not isinstance(entry, AzureDns) or not entry.answers_from_view \
                or options.max_hops < 1 or options.max_chain < 1:
            return None
        view = entry.view
        policy = policies.get(view.vnet)
        if policy is not None and not policy.applies:
            policy = None  # another region's policy decides nothing here (it only notes so in a trace)
        return cls(view.name, {apex: link.negative for apex, link in view.links.items() if apex != "."}, policy)


class Classifier:
    """Longest-prefix match from an address to the network that holds it."""

    __slots__ = ("_v4", "_v6")

    def __init__(self, entries: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Network]]) -> None:
        tables: dict[int, dict[int, dict[int, Network]]] = {4: {}, 6: {}}
        for prefix, network in entries:
            bits = prefix.max_prefixlen - prefix.prefixlen
            tables[prefix.version].setdefault(prefix.prefixlen, {})[int(prefix.network_address) >> bits] = network
        self._v4 = tuple((32 - plen, table) for plen, table in sorted(tables[4].items(), reverse=True))
        self._v6 = tuple((128 - plen, table) for plen, table in sorted(tables[6].items(), reverse=True))

    def classify(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[Network | None, int]:
        """The network holding ``address`` and the prefix length that matched (0 when none)."""
        value = int(address)
        if address.version == 4:
            tables, maxlen = self._v4, 32
        else:
            mapped = address.ipv4_mapped  # type: ignore[union-attr]
            if mapped is not None:
                return self.classify(mapped)
            tables, maxlen = self._v6, 128
        for shift, table in tables:
            network = table.get(value >> shift)
            if network is not None:
                return network, maxlen - shift
        return None, 0


@dataclass(frozen=True, slots=True)
class PublicDns:
    zones: Mapping[str, Zone]
    max_labels: int
    #: public name -> note for traces (pending connections, service endpoints)
    notes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Options:
    """Compile-time choices that shape answers (and so belong to the index)."""

    unknown_sources: str = "internet"  # "internet" | "refuse"
    #: CNAMEs (and DNAME substitutions) followed in one answer. Azure's cap is undocumented and real
    #: chains reach 8 and more: follow at least 16 (facts-2 §13, §16.7)
    max_chain: int = 16
    max_hops: int = 8


@dataclass(frozen=True)
class Index:
    networks: Mapping[str, Network]
    classifier: Classifier
    public: PublicDns
    internet: Network
    views: Mapping[str, View]
    options: Options
    #: counts for metrics and the API: zones, records, vnets, endpoints …
    stats: Mapping[str, int] = field(default_factory=dict)
    #: the compiled private zones by name (each zone once, whatever its links)
    private_zones: Mapping[str, Zone] = field(default_factory=dict)
    #: Azure-provided DNS of each VNet (what 168.63.129.16 answers there)
    azure_dns: Mapping[str, AzureDns] = field(default_factory=dict)
    #: Azure Firewalls by name (their DNS proxies)
    firewalls: Mapping[str, Firewall] = field(default_factory=dict)
    generation: int = 0
    # -- precedence notes, DNS security policies and Azure-provided DNS limits (facts-2 §10, §11, §13) --------
    #: ruleset -> domain -> name of a Disabled rule (ignored; named in traces)
    disabled_rules: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: names Azure reserves for its services (wildcard-ignored domains, reserved zone names), for trace notes
    reserved_names: frozenset[str] = frozenset()
    #: VNet -> the DNS security policy linked to it
    policies: Mapping[str, SecurityPolicy] = field(default_factory=dict)
    #: VNets whose clients ask 168.63.129.16 themselves (Azure-provided DNS, no custom DNS servers)
    azure_provided: frozenset[str] = frozenset()
    #: addresses of DNS private resolver inbound endpoints (never under the per-VM limits)
    inbound_endpoints: frozenset[str] = frozenset()
    #: (queries per second, pending queries) per VM when the topology emulates Azure DNS's limits; None: off
    query_limits: tuple[int, int] | None = None
    # -- end of the facts-2 §10/§11/§13 block ----------------------------------------------------------------
    #: network name -> its compiled negative answers (:meth:`NegativeTable.of`), for the VNets that have them
    negative: Mapping[str, NegativeTable] = field(default_factory=dict, repr=False)

    def classify(self, address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[Network | None, int]:
        if isinstance(address, str):
            address = ipaddress.ip_address(address.split("%", 1)[0])
        return self.classifier.classify(address)
