"""Which questions can be answered differently by two compiled estates, proven from what differs between them.

:func:`dnsemu.analysis.diff.diff` asks every name either estate knows from every
network. Most of those answers cannot change: this module says which can, so that
the comparison resolves only those, with the real resolver, and still finds every
changed answer. Two prunings, each sound by construction:

**Sources that share their inputs** (:func:`source_key`). The resolver reads a
source's network through three things only: the hop the network's clients ask
first (``Network.entry``), whether the network asks Azure DNS itself (its name in
``Index.azure_provided``, which says how the query reached Azure DNS, for the DNS
security policies) and its kind (a trace note). Its name and prefixes reach the
trace alone. Networks equal in those three (the spokes whose custom DNS is the
same inbound endpoint) get the same answer to every question, so one of them is
asked for all. Should :class:`~dnsemu.core.index.Network` grow a field, the key
falls back to the network's name (one group per network, as before).

**Names whose answers can differ** (:class:`Comparer`). For one group of
sources (an entry hop in each estate), the graphs of DNS servers reachable from
the two entries are walked side by side: the same kind of hop, with the same
settings, at the same place. Each difference is turned into the names whose
resolution can meet it, as a :class:`Scope` of exact names and whole subtrees:

* a linked zone, a forwarding rule, a conditional forwarder, a zone a DNS server
  holds, a public zone, a domain the wildcard rule leaves alone, a Disabled rule:
  found, missing or different at domain ``d`` — the subtree of ``d`` (those are the
  only names whose lookup in that table can meet ``d``);
* inside a zone that both estates hold (:func:`zone_scope`): an owner whose
  record sets differ — its subtree (a delegation, DNAME or new name there changes
  what is below it; a wildcard ``*.p``: the subtree of ``p``), and every ancestor
  up to the apex: exactly that name, or its whole subtree when the ancestor
  exists in one estate only (an empty non-terminal appearing moves the closest
  encloser of its other descendants, RFC 4592); anything else of the zone (SOA,
  kind, authority) — the whole zone;
* anything else — another kind of hop, other settings of a hop, another DNS
  security policy in a VNet on the way, other options, a field this module does
  not know (the compiled classes grew one) — every name.

Then the alias chains: a name whose CNAME (or a wildcard's, or a DNAME above it)
leads into the scope is in the scope (:meth:`Comparer.close`), to a fixed point
over the CNAME and DNAME records of every zone of both estates.

Outside the scope, the two resolutions of a question walk hops that are the same
in both estates, read the same entries of the same tables, look up the same
names in zones whose records there are the same, and follow the same aliases: so
the answer, the authority section, the flags and what is left for a forwarder are
the same. ``tests/test_diff_scope.py`` checks the pruned comparison against the
brute-force one over every (network, name, type) for many generated changes.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from dnsemu.core.index import (
    AzureDns,
    Edge,
    External,
    Firewall,
    Forwarder,
    Hop,
    Index,
    Internet,
    Link,
    Network,
    PublicDns,
    Unreachable,
    View,
)
from dnsemu.core.zone import Zone
from dnsemu.dns import names
from dnsemu.dns.records import RRType

__all__ = ["Comparer", "Scope", "source_key", "zone_scope"]

ROOT = names.ROOT


def _attributes(cls: type) -> frozenset[str]:
    if dataclasses.is_dataclass(cls):
        return frozenset(f.name for f in dataclasses.fields(cls))
    out: set[str] = set()
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        out.update((slots,) if isinstance(slots, str) else slots)
    return frozenset(out)


# What this module compares, per class. A class that has more (or other) attributes than
# listed here is not understood: any difference involving it puts every name in scope.
_HOPS: dict[type, frozenset[str]] = {
    AzureDns: frozenset({"label", "view", "ruleset", "rules", "ignored_by_wildcard"}),
    Forwarder: frozenset({"label", "kind", "name", "forwarders", "default", "default_target", "zones"}),
    Firewall: frozenset({"label", "name", "network", "proxy", "cache", "servers"}),
    Internet: frozenset({"label"}),
    External: frozenset({"label", "address", "port"}),
    Unreachable: frozenset({"label", "reason"}),
}
_KNOWN = {
    View: frozenset({"name", "vnet", "links", "max_labels"}),
    # negative: derived from zone and policy (NegativePlan.of), both compared
    Link: frozenset({"zone", "link", "policy", "registration", "negative"}),
    Edge: frozenset({"domain", "target", "hop", "via"}),
    PublicDns: frozenset({"zones", "max_labels", "notes"}),
    Network: frozenset({"name", "kind", "entry", "entry_note", "prefixes", "subnets"}),
    # _pending: how a deferred zone (the index cache's) makes its nodes and names, read here through them
    Zone: frozenset(
        {"_names", "_pending", "_redirects", "authoritative", "has_wildcards", "kind", "name", "negative", "nodes",
         "soa"}
    ),
}
#: Index fields the resolver does not read (server-side settings and counters), or reads only
#: through the hops (compared on the walk), or through the sources (the classifier).
_INDEX_WALKED = frozenset(
    {"networks", "classifier", "views", "private_zones", "azure_dns", "firewalls", "internet", "policies",
     "azure_provided"}
)
#: (negative: the server's precompiled answers, derived from the networks, views and policies walked)
_INDEX_UNREAD = frozenset({"stats", "generation", "inbound_endpoints", "query_limits", "negative"})
_INDEX_SCOPED = frozenset({"public", "options", "disabled_rules", "reserved_names"})


def _understood() -> bool:
    known = {**_HOPS, **_KNOWN}
    return all(_attributes(cls) == attrs for cls, attrs in known.items())


_UNDERSTOOD = _understood()
_INDEX_FIELDS = frozenset(f.name for f in dataclasses.fields(Index))


class Scope:
    """Names whose answers may differ: exact names, whole subtrees, or every name."""

    __slots__ = ("everything", "exact", "subtrees")

    def __init__(self) -> None:
        self.everything = False
        self.exact: set[str] = set()
        self.subtrees: set[str] = set()

    def all(self) -> None:
        self.everything = True

    def subtree(self, name: str) -> None:
        if name == ROOT:
            self.everything = True
        else:
            self.subtrees.add(name)

    def update(self, other: Scope) -> None:
        self.everything = self.everything or other.everything
        self.exact |= other.exact
        self.subtrees |= other.subtrees

    def covers(self, name: str) -> bool:
        if self.everything or name in self.exact:
            return True
        subtrees = self.subtrees
        if not subtrees:
            return False
        return any(suffix in subtrees for suffix in names.suffixes(name))

    def copy(self) -> Scope:
        out = Scope()
        out.update(self)
        return out

    def key(self) -> tuple[bool, frozenset[str], frozenset[str]]:
        return (self.everything, frozenset(self.exact), frozenset(self.subtrees))

    def __repr__(self) -> str:
        if self.everything:
            return "Scope(everything)"
        return f"Scope({len(self.exact)} names, {len(self.subtrees)} subtrees)"


def source_key(index: Index, network: Network | None) -> tuple[Any, ...]:
    """What the resolver reads of a source's network: sources with equal keys get equal answers.

    ``network`` is what ``index.classify`` gave for the source's address (``None``: no
    modelled network, which asks as the internet or is refused, per the options).
    """
    if network is None:
        if index.options.unknown_sources == "refuse":
            return ("refused",)
        network = index.internet
    if _attributes(Network) != _KNOWN[Network]:
        return ("network", network.name, network.kind)
    return ("entry", id(network.entry), network.name in index.azure_provided, network.kind)


def zone_scope(before: Zone, after: Zone) -> Scope:
    """The names whose lookup can differ between two versions of a zone (see the module's docstring)."""
    scope = Scope()
    if (
        type(before) is not Zone
        or type(after) is not Zone
        or not _UNDERSTOOD
        or before.name != after.name
        or before.kind != after.kind
        or before.authoritative != after.authoritative
        or before.soa != after.soa
        or before.negative != after.negative
    ):
        scope.subtree(before.name)
        scope.subtree(after.name)
        return scope
    apex = before.name
    nb, na = before.nodes, after.nodes
    changed = [o for o, node in nb.items() if na.get(o) != node]
    changed += [o for o in na if o not in nb]
    for owner in changed:
        if owner.startswith("*."):
            scope.subtree(names.parent(owner))
        else:
            scope.subtree(owner)
        if owner == apex:
            continue
        ancestor = names.parent(owner)
        while True:
            if before.exists(ancestor) != after.exists(ancestor):
                scope.subtree(ancestor)
            else:
                scope.exact.add(ancestor)
            if ancestor in (apex, ROOT):
                break
            ancestor = names.parent(ancestor)
    return scope


class Comparer:
    """The scope of each group of sources, between two compiled estates."""

    def __init__(self, before: Index, after: Index) -> None:
        self.before, self.after = before, after
        self._zones: dict[tuple[int, int], Scope] = {}
        self._seen_zones: dict[int, Zone] = {}
        self._aliases: _Aliases | None = None
        self._closed: dict[tuple[bool, frozenset[str], frozenset[str]], Scope] = {}
        self.base = self._global()

    # -- what every source shares ------------------------------------------------------------------

    def _global(self) -> Scope:
        scope = Scope()
        b, a = self.before, self.after
        if not _UNDERSTOOD or set(_INDEX_FIELDS) != _INDEX_WALKED | _INDEX_UNREAD | _INDEX_SCOPED:
            # a field this module does not know: compared as a whole, and any difference is everything
            for name in sorted(_INDEX_FIELDS - _INDEX_WALKED - _INDEX_UNREAD - _INDEX_SCOPED):
                if getattr(b, name) != getattr(a, name):
                    scope.all()
            if not _UNDERSTOOD:
                scope.all()
        if b.options != a.options:
            scope.all()
        self._table(scope, b.public.zones, a.public.zones, self._zone_into)
        for zone in (*b.public.zones.values(), *a.public.zones.values()):
            self._seen_zones[id(zone)] = zone
        for name in set(b.public.notes) | set(a.public.notes):
            if b.public.notes.get(name) != a.public.notes.get(name):
                scope.exact.add(name)
        for name in b.reserved_names ^ a.reserved_names:
            scope.subtree(name)
        for ruleset in set(b.disabled_rules) | set(a.disabled_rules):
            tb, ta = b.disabled_rules.get(ruleset, {}), a.disabled_rules.get(ruleset, {})
            for domain in set(tb) | set(ta):
                if tb.get(domain) != ta.get(domain):
                    scope.subtree(domain)
        return scope

    # -- one group of sources ----------------------------------------------------------------------

    def group_scope(self, before: Network | None, after: Network | None) -> Scope:
        """The names whose answers may differ for a source in ``before`` (this estate) and ``after`` (the other)."""
        scope = self.base.copy()
        b, a = self.before, self.after
        if before is None:
            before = None if b.options.unknown_sources == "refuse" else b.internet
        if after is None:
            after = None if a.options.unknown_sources == "refuse" else a.internet
        if before is None or after is None:
            if before is not after:
                scope.all()
            return scope  # refused on both sides: REFUSED both times
        if (
            before.kind != after.kind
            or (before.name in b.azure_provided) != (after.name in a.azure_provided)
            or _attributes(Network) != _KNOWN[Network]
        ):
            scope.all()
            return scope
        self._walk(before.entry, after.entry, scope)
        return scope

    def _walk(self, first_b: Hop, first_a: Hop, scope: Scope) -> None:
        pairs: dict[int, int] = {}
        partners: dict[int, int] = {}
        stack = [(first_b, first_a)]
        while stack and not scope.everything:
            hb, ha = stack.pop()
            if pairs.get(id(hb)) == id(ha):
                continue
            if id(hb) in pairs or id(ha) in partners:
                scope.all()  # one hop paired with two others: the loop check could tell them apart
                return
            pairs[id(hb)], partners[id(ha)] = id(ha), id(hb)
            kind = type(hb)
            if kind is not type(ha) or kind not in _HOPS or hb.label != ha.label:
                scope.all()
                return
            if kind is AzureDns:
                self._azure(hb, ha, scope, stack)
            elif kind is Forwarder:
                self._forwarder(hb, ha, scope, stack)
            elif kind is Firewall:
                if (hb.name, hb.network, hb.proxy, hb.cache) != (ha.name, ha.network, ha.proxy, ha.cache) or len(
                    hb.servers
                ) != len(ha.servers):
                    scope.all()
                    return
                for eb, ea in zip(hb.servers, ha.servers, strict=True):
                    if (eb.domain, eb.target, eb.via) != (ea.domain, ea.target, ea.via):
                        scope.all()
                        return
                    stack.append((eb.hop, ea.hop))
            elif kind is External:
                if (hb.address, hb.port) != (ha.address, ha.port):
                    scope.all()
            elif kind is Unreachable and hb.reason != ha.reason:
                scope.all()
            # Internet: public DNS, compared once for every source (:meth:`_global`)

    def _azure(self, hb: AzureDns, ha: AzureDns, scope: Scope, stack: list[tuple[Hop, Hop]]) -> None:
        vb, va = hb.view, ha.view
        if type(vb) is not View or type(va) is not View or vb.vnet != va.vnet or vb.name != va.name:
            scope.all()
            return
        if self.before.policies.get(vb.vnet) != self.after.policies.get(va.vnet):
            scope.all()  # a DNS security policy looks at every answer that went through this VNet
            return
        self._table(scope, vb.links, va.links, self._link_into)
        rules_b = hb.rules if hb.ruleset is not None else {}
        rules_a = ha.rules if ha.ruleset is not None else {}
        if hb.ruleset != ha.ruleset:
            for domain in set(rules_b) | set(rules_a):
                scope.subtree(domain)
        else:
            self._edges(scope, rules_b, rules_a, stack)
        if rules_b or rules_a:
            for domain in hb.ignored_by_wildcard ^ ha.ignored_by_wildcard:
                scope.subtree(domain)

    def _forwarder(self, hb: Forwarder, ha: Forwarder, scope: Scope, stack: list[tuple[Hop, Hop]]) -> None:
        if (hb.kind, hb.name, hb.default_target) != (ha.kind, ha.name, ha.default_target) or (
            (hb.default is None) != (ha.default is None)
        ):
            scope.all()
            return
        self._edges(scope, hb.forwarders, ha.forwarders, stack)
        self._table(scope, hb.zones, ha.zones, self._zone_into)
        if hb.default is not None and ha.default is not None:
            stack.append((hb.default, ha.default))

    def _edges(
        self, scope: Scope, before: dict[str, Edge], after: dict[str, Edge], stack: list[tuple[Hop, Hop]]
    ) -> None:
        for domain in set(before) | set(after):
            eb, ea = before.get(domain), after.get(domain)
            if eb is None or ea is None or (eb.domain, eb.target, eb.via) != (ea.domain, ea.target, ea.via):
                scope.subtree(domain)
            else:
                stack.append((eb.hop, ea.hop))

    @staticmethod
    def _table(scope: Scope, before: Any, after: Any, into: Any) -> None:
        """Entries keyed by domain (matched by longest suffix): a missing one is its subtree, a present one compared."""
        for domain in set(before) | set(after):
            xb, xa = before.get(domain), after.get(domain)
            if xb is None or xa is None:
                scope.subtree(domain)
            else:
                into(scope, domain, xb, xa)

    def _link_into(self, scope: Scope, domain: str, lb: Link, la: Link) -> None:
        if type(lb) is not Link or type(la) is not Link or (lb.link, lb.policy, lb.registration) != (
            la.link, la.policy, la.registration
        ):
            scope.subtree(domain)
            return
        self._zone_into(scope, domain, lb.zone, la.zone)

    def _zone_into(self, scope: Scope, domain: str, zb: Zone, za: Zone) -> None:
        key = (id(zb), id(za))
        hit = self._zones.get(key)
        if hit is None:
            hit = self._zones[key] = zone_scope(zb, za)
            self._seen_zones[id(zb)] = zb
            self._seen_zones[id(za)] = za
        if hit.exact or hit.subtrees or hit.everything:
            scope.update(hit)
            if domain not in (zb.name, za.name):
                scope.subtree(domain)

    # -- alias chains ------------------------------------------------------------------------------

    def close(self, scope: Scope) -> Scope:
        """``scope`` with every name whose alias chain can lead into it (CNAME, wildcard CNAME, DNAME)."""
        if scope.everything:
            return scope
        key = scope.key()
        hit = self._closed.get(key)
        if hit is None:
            if self._aliases is None:
                self._aliases = _Aliases(self._zones_everywhere())
            hit = self._closed[key] = self._aliases.close(scope)
        return hit

    def _zones_everywhere(self) -> Iterator[Zone]:
        """Every zone either estate holds (the aliases of a zone never walked cannot lead anywhere, but cost little)."""
        seen = dict(self._seen_zones)
        for index in (self.before, self.after):
            for zone in index.private_zones.values():
                seen.setdefault(id(zone), zone)
            for zone in index.public.zones.values():
                seen.setdefault(id(zone), zone)
            for view in index.views.values():
                for link in view.links.values():
                    seen.setdefault(id(link.zone), link.zone)
            hops: list[Hop] = [n.entry for n in index.networks.values()] + [index.internet.entry]
            hops += list(index.azure_dns.values())
            visited: set[int] = set()
            while hops:
                hop = hops.pop()
                if id(hop) in visited:
                    continue
                visited.add(id(hop))
                if isinstance(hop, Forwarder):
                    for zone in hop.zones.values():
                        seen.setdefault(id(zone), zone)
                    hops += [e.hop for e in hop.forwarders.values()]
                    if hop.default is not None:
                        hops.append(hop.default)
                elif isinstance(hop, AzureDns):
                    hops += [e.hop for e in hop.rules.values()]
                elif isinstance(hop, Firewall):
                    hops += [e.hop for e in hop.servers]
        return iter(seen.values())


class _Aliases:
    """The CNAME and DNAME records of a set of zones, indexed by target for :meth:`close`."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        #: target -> owners whose CNAME leads there (a wildcard owner stands for the subtree of its parent)
        self.exact: dict[str, set[str]] = defaultdict(set)
        #: every suffix of a target -> owners whose CNAME or DNAME target lies at or below it
        self.below: dict[str, set[str]] = defaultdict(set)
        #: DNAME target -> owners
        self.dname: dict[str, set[str]] = defaultdict(set)
        for zone in zones:
            for owner, node in zone.nodes.items():
                for rtype in (RRType.CNAME, RRType.DNAME):
                    for record in node.get(rtype, ()):
                        target = record.rdata[0]
                        if not isinstance(target, str):
                            continue
                        if rtype == RRType.DNAME:
                            self.dname[target].add(owner)
                            owner_key = "DNAME " + owner
                        else:
                            self.exact[target].add(owner)
                            owner_key = owner
                        for suffix in names.suffixes(target):
                            self.below[suffix].add(owner_key)

    def close(self, scope: Scope) -> Scope:
        out = scope.copy()
        work: list[tuple[bool, str]] = [(False, n) for n in scope.exact] + [(True, s) for s in scope.subtrees]
        while work and not out.everything:
            is_subtree, name = work.pop()
            owners: set[str] = set()
            owners |= self.exact.get(name, set())
            if is_subtree:
                owners |= self.below.get(name, set())
            # a DNAME whose target is at or above the name maps names below its owner onto it
            for suffix in names.suffixes(name):
                for owner in self.dname.get(suffix, ()):
                    owners.add("DNAME " + owner)
            for owner in owners:
                if owner.startswith("DNAME "):
                    owner = owner[6:]
                    if owner not in out.subtrees:
                        out.subtree(owner)
                        work.append((True, owner))
                elif owner.startswith("*."):
                    parent = names.parent(owner)
                    if parent not in out.subtrees:
                        out.subtree(parent)
                        work.append((True, parent))
                elif owner not in out.exact and not out.covers(owner):
                    out.exact.add(owner)
                    work.append((False, owner))
        return out
