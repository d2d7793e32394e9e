"""Answer one question from one source address, the way Azure DNS would.

``resolve(index, question, address)``:

1. the source address picks the network by longest prefix (a VNet, an on-premises
   site, or the internet);
2. the network's DNS path picks the view: Azure-provided DNS resolves inside the
   client's own VNet; custom DNS servers, resolver inbound endpoints, forwarding
   rulesets and conditional forwarders hand the query on, hop by hop. At Azure DNS
   in a VNet, a name inside a private zone linked to it is that zone's, and only
   other names meet the linked ruleset's rules (:mod:`dnsemu.core.precedence`,
   facts-2 §11.1);
3. inside a VNet view the chain of aliases is walked name by name: at each name the
   most specific private zone linked to the VNet answers if it contains the name
   (Azure intercepts the public alias chain there), else public DNS does;
4. a name missing from a linked zone is NXDOMAIN with the zone's SOA, unless the
   link's policy is NxDomainRedirect and the type is A, AAAA or CNAME: then the
   name is retried in public DNS;
5. public DNS is the internet as a recursive resolver sees it. The most specific
   public zone dnsemu models answers. A zone cut in it (an NS below its apex)
   sends every name at or below the cut to the child: when the child zone is
   modelled it is the more specific zone and answers by itself (its apex NS
   answers an NS query at the cut); when it is not, the name is outside the
   model and goes where every such name goes, the upstream forwarder (REFUSED
   without one). The parent's data at and below the cut is never answered. A
   DNAME answers a name below its owner with the DNAME and a synthesised CNAME
   (TTL of the DNAME, RFC 6672 §3.1), and the chain walks on from the new
   name, through the VNet's linked private zones too; a substitution longer
   than 255 octets is YXDOMAIN with the DNAME in the answer (RFC 6672 §2.2).

6. last, the DNS security policy linked to each VNet whose Azure DNS the query went
   through looks at the names of the answer's chain and may replace the answer
   (:mod:`dnsemu.core.policy`, facts-2 §10).

Pure: no I/O, no clock, no logging. Every step is recorded in the trace, unless the caller
asks for none (``trace=False``: a server answering a query nobody explains); then the answer
is the same, and the steps are not built at all on the common paths.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import zlib

from dnsemu.core.index import (
    REDIRECTABLE,
    AzureDns,
    Edge,
    External,
    Firewall,
    Forwarder,
    Hop,
    Index,
    Internet,
    Network,
    NetworkKind,
    Unreachable,
    View,
)
from dnsemu.core.policy import apply_policies
from dnsemu.core.precedence import chain_note, redirect_note, ruleset_step
from dnsemu.core.resolution import Forward, Outcome, ProxyCache, Resolution, Source, Step
from dnsemu.core.zone import Found, Zone, ZoneKind
from dnsemu.dns import names
from dnsemu.dns.records import Question, Record, RRType, type_name

__all__ = ["REDIRECTABLE", "resolve", "resolve_classified", "resolve_from"]

Address = str | ipaddress.IPv4Address | ipaddress.IPv6Address


class _Untraced(list):  # type: ignore[type-arg]
    """The trace of a resolution nobody will read: steps appended to it are dropped.

    The resolver tests for it before building the steps of its common paths; what it still
    needs to know from the path (the first emulated DNS proxy cache) is kept aside.
    """

    __slots__ = ("hosted", "proxy_cache")

    def __init__(self) -> None:
        super().__init__()
        self.proxy_cache: ProxyCache | None = None
        self.hosted = 0  # "hosted" steps: a server's CNAMEs followed (the chain limit counts them)

    def append(self, step: Step) -> None:
        code = step.code
        if code == "hosted":
            self.hosted += 1
        elif self.proxy_cache is None and code == "dns-proxy":
            for key, value in step.data:
                if key == "cache":
                    self.proxy_cache = value


def _hosted_steps(trace: list[Step]) -> int:
    if trace.__class__ is _Untraced:
        return trace.hosted  # type: ignore[attr-defined, no-any-return]
    return sum(1 for s in trace if s.code == "hosted")


def resolve(index: Index, question: Question, address: Address, *, trace: bool = True) -> Resolution:
    """The answer to ``question`` asked from ``address``, with the trace that explains it (unless ``trace``
    is false: the same answer, an empty trace)."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%", 1)[0])
    network, prefixlen = index.classify(address)
    return resolve_classified(index, network, prefixlen, question, address, trace=trace)


def resolve_classified(
    index: Index,
    network: Network | None,
    prefixlen: int,
    question: Question,
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    trace: bool = True,
) -> Resolution:
    """:func:`resolve` for a source already classified (``index.classify(address)``), as a server caches it.

    The question's name is read the way dig reads a name on its command line: absolute whether or
    not it ends with a dot, and in any case (``www.Example.org`` is ``www.example.org.``); a name
    that is not a domain name (an empty label, a label over 63 octets, over 255 in all) raises
    :class:`~dnsemu.dns.names.NameError_`, a ``ValueError``. Without ``trace`` no steps are built
    (the server's miss path); the answer is the same.
    """
    question = _canonical(question)
    if not trace:
        untraced = _Untraced()
        if network is None:
            if index.options.unknown_sources == "refuse":
                return Resolution(Outcome.REFUSED, Source.REFUSED, "refused", network="unknown")
            network = index.internet
        result = resolve_from(index, network, question, untraced, address)
        if untraced.proxy_cache is not None:
            result = dataclasses.replace(result, proxy_cache=untraced.proxy_cache)
        return result
    steps: list[Step] = []
    if network is None:
        if index.options.unknown_sources == "refuse":
            steps.append(
                Step(
                    "source",
                    "{address} is in no modelled network, and unknown sources are refused",
                    (("address", address),),
                )
            )
            return Resolution(Outcome.REFUSED, Source.REFUSED, "refused", trace=tuple(steps), network="unknown")
        network = index.internet
        steps.append(
            Step(
                "source",
                "{address} is in no modelled network: it asks as a client on the internet",
                (("address", address),),
            )
        )
    else:
        steps.append(
            Step(
                "source",
                "{address} is in {kind} {network!r}",
                (
                    ("address", address),
                    ("kind", _KIND[network.kind]),
                    ("network", network.name),
                    ("prefix_length", prefixlen),
                ),
            )
        )
    result = resolve_from(index, network, question, steps, address)
    if index.firewalls:
        result = _with_proxy_cache(result)
    return result


_KIND = {
    NetworkKind.VNET: "virtual network",
    NetworkKind.VIRTUAL_HUB: "Virtual WAN hub",
    NetworkKind.ON_PREMISES: "on-premises site",
    NetworkKind.INTERNET: "the internet",
}


def resolve_from(
    index: Index,
    network: Network,
    question: Question,
    trace: list[Step],
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None,
    start: Hop | None = None,
) -> Resolution:
    """Follow the query from the network's DNS server (or from ``start``, a server already on its path),
    then apply the DNS security policies of the VNets whose Azure DNS it went through."""
    if start is None and trace.__class__ is not _Untraced:
        trace.append(Step("client-dns", "{network} {note}", (("network", network.name), ("note", network.entry_note))))
    contexts: list[tuple[str, str]] = []  # (VNet, how the query reached Azure DNS there), for security policies
    result = _hops(index, network, question, trace, address, contexts, start)
    if contexts and index.policies:
        result = apply_policies(index.policies, contexts, question.name, result)
        if result.trace and trace.__class__ is _Untraced:
            result = dataclasses.replace(result, trace=())  # the policy's own steps, which nobody reads
    return result


def _hops(
    index: Index,
    network: Network,
    question: Question,
    trace: list[Step],
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    contexts: list[tuple[str, str]],
    start: Hop | None = None,
) -> Resolution:
    """Hand the query from DNS server to DNS server until one answers it."""
    hop: Hop = start or network.entry
    seen: list[Hop] = []
    name = question.name
    context = "vnet" if network.name in index.azure_provided else "inbound endpoint"
    while True:
        if hop in seen or len(seen) >= index.options.max_hops:
            path = " → ".join(h.label for h in (*seen, hop))
            trace.append(Step("loop", "DNS resolution loops: {path}", (("path", path),)))
            return Resolution(Outcome.SERVFAIL, Source.ERROR, "loop", trace=tuple(trace), network=network.name)
        seen.append(hop)
        if isinstance(hop, AzureDns):
            contexts.append((hop.view.vnet, context))
            edge = ruleset_step(index, hop, name, trace)
            if edge is not None:
                hop, context = edge.hop, "inbound endpoint"  # rules cannot target 168.63.129.16
                continue
            return _walk(index, hop.view, question, trace, network, address)
        if isinstance(hop, Firewall):
            hop = _through_firewall(hop, name, trace)
            context = "firewall DNS proxy"  # the firewall's own address asks Azure DNS (inferred, facts-2 §10.7)
            continue
        if isinstance(hop, Forwarder):
            edge = _longest(hop.forwarders, name)
            if hop.zones:
                zone = _hosted_zone(hop, name, edge)
                if zone is not None:
                    asked = start is None and hop is network.entry  # the client asked this server itself
                    return _answer_hosted(index, hop, zone, question, trace, network, address, asked)
            if edge is not None:
                trace.append(
                    Step(
                        "forwarder",
                        "{server} forwards {domain} to {target} by {via}",
                        (("server", hop.label), ("domain", edge.domain), ("target", edge.target), ("via", edge.via)),
                    )
                )
                hop, target = edge.hop, edge.target
            else:
                trace.append(
                    Step(
                        "forwarder",
                        "{server} has no conditional forwarder for {name}: it sends it to {default}",
                        (("server", hop.label), ("name", name), ("default", hop.default_target)),
                    )
                )
                assert hop.default is not None
                hop, target = hop.default, hop.default_target
            context = "custom DNS server" if "168.63.129.16" in target else "inbound endpoint"
            continue
        if isinstance(hop, Internet):
            return _walk(index, None, question, trace, network, address)
        if isinstance(hop, External):
            trace.append(
                Step(
                    "forward",
                    "{server} at {address}:{port} is outside the model: the query is forwarded to it",
                    (("server", hop.label), ("address", hop.address), ("port", hop.port)),
                )
            )
            return Resolution(
                Outcome.FORWARD,
                Source.FORWARDED,
                f"external:{hop.address}",
                trace=tuple(trace),
                network=network.name,
                forward=Forward(name, question.qtype, ((hop.address, hop.port),), via=hop.label),
            )
        assert isinstance(hop, Unreachable)
        trace.append(Step("unreachable", "{reason}", (("reason", hop.reason),)))
        return Resolution(Outcome.SERVFAIL, Source.ERROR, "unreachable", trace=tuple(trace), network=network.name)


def _canonical(question: Question) -> Question:
    """``question`` with its name canonical (absolute, lower case): every lookup below relies on it."""
    name = question.name
    if name.endswith(".") and name.lower() == name:  # what the wire decoder hands over
        return question
    return dataclasses.replace(question, name=names.parse(name, names.ROOT))


def _lookup_suffix(table, name: str):
    """The value for the longest suffix of ``name`` (itself included) that ``table`` holds."""
    if "\\" in name:
        for suffix in names.suffixes(name):
            hit = table.get(suffix)
            if hit is not None:
                return hit
        return None
    hit = table.get(name)
    pos = name.find(".") + 1
    end = len(name)
    while hit is None and 0 < pos < end:  # find() gives -1, so pos 0, past the last dot: never loops
        hit = table.get(name[pos:])
        pos = name.find(".", pos) + 1
    if hit is None and name != ".":
        hit = table.get(".")
    return hit


def _longest(table: dict[str, Edge], name: str) -> Edge | None:
    return _lookup_suffix(table, name) if table else None


def _find_link(view: View, name: str):  # -> Link | None
    return _lookup_suffix(view.links, name)


def _find_public(index: Index, name: str) -> Zone | None:
    return _lookup_suffix(index.public.zones, name)


def _walk(
    index: Index,
    view: View | None,
    question: Question,
    trace: list[Step],
    network: Network,
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
) -> Resolution:
    """Follow the alias chain from the question's name inside one view (``None`` = public DNS)."""
    qtype = question.qtype
    view_name = view.name if view is not None else "internet"
    tracing = trace.__class__ is not _Untraced
    if tracing:
        trace.append(
            Step(
                "view",
                "resolving {name} {type} in {view}",
                (("name", question.name), ("type", qtype), ("view", _view_words(view))),
            )
        )
    answer: list[Record] = []
    name = question.name
    visited = {name}
    fell_back = False

    def done(outcome: Outcome, src: Source, authority: tuple[Record, ...] = ()) -> Resolution:
        if src is Source.PUBLIC and fell_back:
            src = Source.FALLBACK
        if src is Source.PUBLIC and tracing and network.kind is NetworkKind.VNET and address is not None:
            _service_endpoint_note(network, address, trace)
        return Resolution(outcome, src, view_name, tuple(answer), authority, tuple(trace), network.name)

    for _ in range(index.options.max_chain + 1):  # the question's name, then one name per CNAME followed
        link = _find_link(view, name) if view is not None else None
        if tracing and view is not None and name != question.name:
            note = chain_note(index, view, name)
            if note is not None:
                trace.append(note)
        if link is not None:
            zone = link.zone
            found, records = zone.lookup(name, qtype)
            private = Source.PRIVATE if zone.kind is ZoneKind.PRIVATE else Source.INTERNAL
            if found is Found.RECORDS and not tracing:
                answer.extend(records)
                return done(Outcome.ANSWER, private)
            where = (("name", name), ("zone", zone.name), ("link", link.link), ("policy", link.policy))
            if found is Found.RECORDS:
                answer.extend(records)
                trace.append(
                    Step(
                        "private",
                        "{name}: {kind} zone {zone} answers {type} {values}",
                        (*where, ("kind", _zone_kind(zone)), ("type", records[0].rtype), ("values", records)),
                    )
                )
                return done(Outcome.ANSWER, private)
            if found is Found.CNAME:
                trace.append(
                    Step(
                        "private",
                        "{name}: {kind} zone {zone} holds CNAME {target}",
                        (*where, ("kind", _zone_kind(zone)), ("target", records[0].rdata[0])),
                    )
                )
                name = _chase(records, answer, visited)
                if name is None:
                    return _loop(trace, view_name, network, answer)
                continue
            if found is Found.NODATA:
                trace.append(
                    Step(
                        "private-nodata",
                        "{name}: {kind} zone {zone} has the name but no {type} record: NODATA",
                        (*where, ("kind", _zone_kind(zone)), ("type", qtype)),
                    )
                )
                return done(Outcome.NODATA, private, zone.negative)
            negative = link.negative  # the plan a server may answer from without resolving (Index.negative)
            if qtype in negative.redirected:
                trace.append(
                    Step(
                        "fallback",
                        "{name}: not in linked zone {zone}; link {link!r} is NxDomainRedirect, "
                        "so Azure DNS retries the name in public DNS",
                        where,
                    )
                )
                note = redirect_note(index, view, name) if tracing else None
                if note is not None:
                    trace.append(note)
                fell_back = True
            else:
                why = (
                    "the link's policy is Default"
                    if not link.redirects
                    else f"NxDomainRedirect covers A, AAAA and CNAME only, not {type_name(qtype)}"
                )
                trace.append(
                    Step(
                        "private-nxdomain",
                        "{name}: not in {kind} zone {zone} linked to the VNet ({why}): NXDOMAIN",
                        (*where, ("kind", _zone_kind(zone)), ("why", why)),
                    )
                )
                return done(Outcome.NXDOMAIN, negative.source, negative.authority)
        # public DNS
        zone = _find_public(index, name)
        note = index.public.notes.get(name)
        if note is not None:
            trace.append(Step("note", "{note}", (("note", note),)))
        if zone is None:
            trace.append(
                Step(
                    "forward",
                    "{name} is outside every zone dnsemu knows: it goes to the upstream forwarder",
                    (("name", name),),
                )
            )
            return _forward(view_name, answer, trace, network, name, qtype)
        found, records = zone.lookup(name, qtype)
        if found is Found.RECORDS and not tracing:
            answer.extend(records)
            return done(Outcome.ANSWER, Source.PUBLIC)
        where = (("name", name), ("zone", zone.name))
        if found is Found.RECORDS:
            answer.extend(records)
            trace.append(
                Step(
                    "public",
                    "{name}: public DNS answers {type} {values}",
                    (*where, ("type", records[0].rtype), ("values", records)),
                )
            )
            return done(Outcome.ANSWER, Source.PUBLIC)
        if found is Found.CNAME:
            trace.append(
                Step("public", "{name}: public DNS holds CNAME {target}", (*where, ("target", records[0].rdata[0])))
            )
            name = _chase(records, answer, visited)
            if name is None:
                return _loop(trace, view_name, network, answer)
            continue
        if found is Found.NODATA:
            trace.append(
                Step("public-nodata", "{name}: public DNS has no {type} record: NODATA", (*where, ("type", qtype)))
            )
            return done(Outcome.NODATA, Source.PUBLIC, zone.negative)
        if found is Found.DNAME:
            dname = records[0]
            owner, target = dname.name, dname.rdata[0]
            try:
                new_name = names.replace_suffix(name, owner, target)
            except names.NameError_:
                answer.append(dname)
                trace.append(
                    Step(
                        "dname",
                        "{name}: DNAME at {owner} (to {target}) would make a name over 255 octets: "
                        "YXDOMAIN (RFC 6672 §2.2)",
                        (*where, ("owner", owner), ("target", target)),
                    )
                )
                return done(Outcome.YXDOMAIN, Source.PUBLIC)
            cname = Record(name, RRType.CNAME, dname.ttl, (new_name,))
            trace.append(
                Step(
                    "dname",
                    "{name}: DNAME at {owner} synthesised CNAME {cname}",
                    (*where, ("owner", owner), ("target", target), ("cname", new_name)),
                )
            )
            answer.append(dname)
            if qtype == RRType.CNAME:
                answer.append(cname)
                return done(Outcome.ANSWER, Source.PUBLIC)
            name = _chase((cname,), answer, visited)
            if name is None:
                return _loop(trace, view_name, network, answer)
            continue
        if found is Found.DELEGATION:
            trace.append(
                Step(
                    "delegation",
                    "{name}: delegated at {cut} by public zone {zone} (NS {servers}); dnsemu models no zone "
                    "there, so the name is outside its model: it goes to the upstream forwarder",
                    (*where, ("cut", records[0].name), ("servers", records)),
                )
            )
            return _forward(view_name, answer, trace, network, name, qtype)
        if zone.authoritative:
            trace.append(Step("public-nxdomain", "{name}: no such name in public zone {zone}: NXDOMAIN", where))
            return done(Outcome.NXDOMAIN, Source.PUBLIC, zone.negative)
        trace.append(
            Step("forward", "{name}: dnsemu has no data for it in {zone}: it goes to the upstream forwarder", where)
        )
        return _forward(view_name, answer, trace, network, name, qtype)
    trace.append(
        Step(
            "chain",
            "the CNAME chain is longer than {limit} CNAMEs: dnsemu stops there (Azure's own cap is undocumented; "
            "facts-2 §13)",
            (("limit", index.options.max_chain),),
        )
    )
    return Resolution(Outcome.SERVFAIL, Source.ERROR, view_name, tuple(answer), (), tuple(trace), network.name)


def _forward(
    view_name: str, answer: list[Record], trace: list[Step], network: Network, name: str, qtype: int
) -> Resolution:
    """The chain so far, and the name it reached, for the upstream forwarder."""
    return Resolution(
        Outcome.FORWARD,
        Source.FORWARDED,
        view_name,
        tuple(answer),
        (),
        tuple(trace),
        network.name,
        Forward(name, qtype),
    )


def _chase(cname: tuple[Record, ...], answer: list[Record], visited: set[str]) -> str | None:
    """Add the CNAME to the answer and return its target, or None when the chain loops back."""
    answer.extend(cname)
    target = cname[0].rdata[0]
    if target in visited:
        return None
    visited.add(target)
    return target


def _view_words(view: View | None) -> str:
    if view is None:
        return "public DNS"
    return f"virtual hub {view.vnet!r}" if view.name.startswith("hub:") else f"VNet {view.vnet!r}"


def _zone_kind(zone: Zone) -> str:
    return "private" if zone.kind is ZoneKind.PRIVATE else "Azure-provided"


def _loop(trace: list[Step], view_name: str, network: Network, answer: list[Record]) -> Resolution:
    trace.append(Step("loop", "the CNAME chain loops back to {name}", (("name", answer[-1].rdata[0]),)))
    return Resolution(Outcome.SERVFAIL, Source.ERROR, view_name, tuple(answer), (), tuple(trace), network.name)


def _service_endpoint_note(
    network: Network, address: ipaddress.IPv4Address | ipaddress.IPv6Address, trace: list[Step]
) -> None:
    for subnet, prefix, providers in network.subnets:
        if providers and address in prefix:
            trace.append(
                Step(
                    "service-endpoint",
                    "subnet {subnet!r} has service endpoints ({providers}): DNS is unchanged and "
                    "answers the public address; traffic reaches it over the Azure backbone",
                    (("subnet", subnet), ("providers", ", ".join(providers))),
                )
            )
            return


# -- Azure Firewall DNS proxy (facts §12) ----------------------------------------------------------------


def _through_firewall(hop: Firewall, name: str, trace: list[Step]) -> Hop:
    """The server the firewall's DNS proxy hands ``name`` to (or a dead end when the proxy is off)."""
    if not hop.proxy:
        trace.append(
            Step(
                "dns-proxy",
                "{firewall} has DNS proxy off: nothing listens on port 53 of its private IP, the query times out",
                (("firewall", hop.label),),
            )
        )
        return Unreachable(hop.label, "no DNS server answers there (answered SERVFAIL)")
    servers = hop.servers
    if len(servers) == 1:
        edge = servers[0]
        how = "forwards it to {target}, {via}"
    else:
        # Azure picks one server at random per query (facts §12.1); dnsemu picks by a hash of the
        # name, so that answers repeat and servers that disagree show up as names that differ.
        edge = servers[zlib.crc32(name.lower().encode()) % len(servers)]
        how = (
            "forwards it to {target}, {via}: one of its {count} DNS servers, picked by a hash of the name "
            "(Azure picks at random per query)"
        )
    data: tuple = (("firewall", hop.label), ("network", hop.network), ("target", edge.target), ("via", edge.via),
                   ("count", len(servers)))
    if hop.cache is not None:
        data += (("cache", hop.cache),)
        how += "; its cache holds answers up to {positive} s, negative ones up to {negative} s"
        data += (("positive", hop.cache.positive), ("negative", hop.cache.negative))
    trace.append(Step("dns-proxy", "{firewall} (DNS proxy) " + how, data))
    return edge.hop


def _with_proxy_cache(result: Resolution) -> Resolution:
    """``result`` with the first emulated proxy cache its trace passed through."""
    for step in result.trace:
        if step.code == "dns-proxy":
            for key, value in step.data:
                if key == "cache":
                    return dataclasses.replace(result, proxy_cache=value)
    return result


# -- zones held by custom and on-premises DNS servers ------------------------------------------------------


def _hosted_zone(hop: Forwarder, name: str, edge: Edge | None) -> Zone | None:
    """The server's own zone for ``name``, unless a more specific conditional forwarder takes the name."""
    zone = _lookup_suffix(hop.zones, name)
    if zone is None or (edge is not None and edge.domain != "." and len(edge.domain) > len(zone.name)):
        return None
    return zone


def _answer_hosted(
    index: Index,
    hop: Forwarder,
    zone: Zone,
    question: Question,
    trace: list[Step],
    network: Network,
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    first: bool,
) -> Resolution:
    """The answer of a DNS server from a zone it holds; a CNAME out of the zone is resolved by the server."""
    qtype = question.qtype
    view = f"server:{hop.name}"
    answer: list[Record] = []
    name = question.name
    visited = {name}
    # AA: the client asked this server itself, and the first name is the server's own data
    authoritative = first
    while True:
        found, records = zone.lookup(name, qtype)
        where = (("server", hop.label), ("name", name), ("zone", zone.name))
        if found is Found.RECORDS:
            answer.extend(records)
            trace.append(
                Step(
                    "hosted",
                    "{name}: {server} holds zone {zone} and answers {type} {values}",
                    (*where, ("type", records[0].rtype), ("values", records)),
                )
            )
            return Resolution(Outcome.ANSWER, Source.HOSTED, view, tuple(answer), (), tuple(trace), network.name,
                              authoritative=authoritative)
        if found is Found.NODATA:
            trace.append(Step("hosted", "{name}: {server} holds zone {zone}, without {type} there: NODATA",
                              (*where, ("type", qtype))))
            return Resolution(Outcome.NODATA, Source.HOSTED, view, tuple(answer), zone.negative, tuple(trace),
                              network.name, authoritative=authoritative)
        if found is not Found.CNAME:
            trace.append(Step("hosted", "{name}: {server} holds zone {zone}, which has no such name: NXDOMAIN", where))
            return Resolution(Outcome.NXDOMAIN, Source.HOSTED, view, tuple(answer), zone.negative, tuple(trace),
                              network.name, authoritative=authoritative)
        target = records[0].rdata[0]
        trace.append(Step("hosted", "{name}: {server} holds zone {zone} with CNAME {target}",
                          (*where, ("target", target))))
        answer.extend(records)
        if target in visited:
            return _loop(trace, view, network, answer)
        visited.add(target)
        if _hosted_steps(trace) > index.options.max_chain:
            trace.append(Step("chain", "the CNAME chain is longer than {limit} CNAMEs",
                              (("limit", index.options.max_chain),)))
            return Resolution(Outcome.SERVFAIL, Source.ERROR, view, tuple(answer), (), tuple(trace), network.name)
        name = target
        inside = _hosted_zone(hop, name, _longest(hop.forwarders, name))
        if inside is zone:
            continue
        # the target lies outside this zone: the server resolves it as it resolves any name
        rest = resolve_from(index, network, Question(name, qtype), trace, address, start=hop)
        return dataclasses.replace(rest, answer=(*answer, *rest.answer), authoritative=False)
