"""A compiled zone: record sets by owner name, and lookup per RFC 1034 §4.3.2 and RFC 4592.

Public zones also follow zone cuts and DNAME (RFC 6672), as the internet does:

* an NS record set below the apex is a delegation (RFC 1034 §4.2.1): the zone
  is not authoritative for the cut's name nor for anything below it, so a
  lookup there reports :attr:`Found.DELEGATION` with the NS record set, and
  whatever the zone holds below the cut (glue, stale data) is occluded and
  never answered. The one exception is DS at the cut itself, which belongs to
  the parent side (RFC 4035 §3.1.4.1): the parent answers it from its own data;
* a DNAME redirects the names strictly below its owner (RFC 6672 §2.3): a
  lookup there reports :attr:`Found.DNAME` with the DNAME record, and the
  resolver synthesises the CNAME. The owner itself is not redirected: its own
  record sets (the DNAME included) answer as usual. Data below a DNAME is
  occluded (RFC 6672 §2.4) like data below a cut;
* the highest cut or DNAME between the apex and the name decides: below it
  nothing of this zone is seen, not even another cut, DNAME or wildcard
  (RFC 1034 §4.3.2: the referral of step 3.b comes before the wildcard of 3.c).

Azure private DNS zones hold neither (validation refuses NS and DNAME there), and
:class:`Zone` only looks for cuts and DNAMEs in zones of kind ``"public"``. A zone
without them pays nothing for this on a lookup.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any

from dnsemu.dns import names
from dnsemu.dns.records import Record, RRType

#: Azure's SOA for every private DNS zone (owner TTL 3600; negative answers last min(3600, 10) s).
AZURE_PRIVATE_SOA = ("azureprivatedns.net.", "azureprivatedns-host.microsoft.com.", 1, 3600, 300, 2419200, 10)
#: The SOA Azure public DNS zones carry.
AZURE_PUBLIC_SOA = ("ns1-01.azure-dns.com.", "azuredns-hostmaster.microsoft.com.", 1, 3600, 300, 2419200, 300)


class Found(enum.Enum):
    RECORDS = "records"  # records of the asked type (or all, for ANY)
    CNAME = "cname"  # the name holds a CNAME: follow it
    NODATA = "nodata"  # the name exists without that type
    NXDOMAIN = "nxdomain"  # the name does not exist in the zone
    DELEGATION = "delegation"  # the name is at or below a zone cut: the NS record set of the cut
    DNAME = "dname"  # the name is below a DNAME owner: the DNAME record (RFC 6672)


class ZoneKind(enum.StrEnum):
    """What a zone is, which decides how an answer from it is labelled and what a miss in it means."""

    PRIVATE = "private"  # an Azure private DNS zone
    PUBLIC = "public"  # public DNS as dnsemu models it
    LOCAL = "local"  # a zone a resolver answers itself (RFC 6761/6303 names)
    HOSTED = "hosted"  # a zone a custom or on-premises DNS server holds
    INTERNAL = "internal"  # an Azure-provided zone of a VNet (internal.cloudapp.net, reverse zones)


class Zone:
    """Records of one zone, indexed for lookups that cost a dictionary probe or two.

    ``authoritative`` zones answer NXDOMAIN for names they lack; a non-authoritative
    zone (data dnsemu synthesised for a public service domain it does not own)
    reports the miss so that the resolver can hand the name to a forwarder.
    """

    __slots__ = (
        "_names", "_pending", "_redirects", "authoritative", "has_wildcards", "kind", "name", "negative", "nodes",
        "soa",
    )

    def __init__(
        self, name: str, soa: Record, records: Iterable[Record], *, kind: ZoneKind | str, authoritative: bool = True
    ) -> None:
        self._pending: Callable[[], tuple[dict[str, dict[int, tuple[Record, ...]]], frozenset[str]]] | None = None
        self.name = name
        self.soa = soa
        self.kind = ZoneKind(kind)
        self.authoritative = authoritative
        # one pass, record sets as tuples from the start: most names hold one record set of one record
        frozen: dict[str, dict[int, tuple[Record, ...]]] = {name: {RRType.SOA: (soa,)}}
        grown: set[tuple[str, int]] = set()  # record sets of more than one record
        for record in records:
            owner = record.name
            types = frozen.get(owner)
            if types is None:
                frozen[owner] = {record.rtype: (record,)}
                continue
            rtype = record.rtype
            rrset = types.get(rtype)
            if rrset is None:
                types[rtype] = (record,)
            elif all(r.rdata != record.rdata for r in rrset):
                types[rtype] = (*rrset, record)
                grown.add((owner, rtype))
        for owner, rtype in grown:
            rrset = frozen[owner][rtype]
            ttl = min(r.ttl for r in rrset)  # one TTL per RRset (RFC 2181 §5.2)
            frozen[owner][rtype] = tuple(r if r.ttl == ttl else r.with_ttl(ttl) for r in rrset)
        self.nodes = frozen
        # every owner and every empty non-terminal between an owner and the apex
        existing = set(frozen)
        root = names.ROOT
        parent = names.parent
        for owner in frozen:
            if owner in (name, root):
                continue
            # names.parent inlined for a name without escapes (a dot is a label boundary): a million owners
            ancestor = (owner[owner.find(".") + 1 :] or root) if "\\" not in owner else parent(owner)
            while ancestor not in existing:
                existing.add(ancestor)
                if ancestor in (name, root):
                    break
                ancestor = parent(ancestor)
        self._names = frozenset(existing)
        self.has_wildcards = any(map(str.startswith, frozen, repeat("*.")))
        # owners where a lookup leaves this zone's data: cuts (NS below the apex) and DNAMEs
        self._redirects = frozenset(
            owner
            for owner, types in frozen.items()
            if (RRType.NS in types and owner != name) or RRType.DNAME in types
        ) if kind == "public" else frozenset()
        self.negative = _negative(soa)

    @classmethod
    def deferred(cls, name: str, soa: Record, kind: ZoneKind | str, authoritative: bool, has_wildcards: bool,
                 load: Callable[[], tuple[dict[str, dict[int, tuple[Record, ...]]], frozenset[str]]] | None,
                 redirects: frozenset[str] = frozenset()) -> Zone:
        """A zone whose record sets and names are made by ``load()`` when first read, not now.

        The compiled-index cache hands out a million-record estate this way, and ``dnsemu serve``'s
        first build its large private zones: what an answer needs before a zone is read is its
        apex, SOA and flags (and a public zone's cuts and DNAMEs, ``redirects``); the record sets
        are made when a lookup first reaches the zone (:meth:`materialize` earlier, for whoever
        wants them all). ``load`` returns ``(nodes, names)`` as :meth:`__init__` would have made
        them from the same records (None: the caller sets them).
        """
        zone = cls.__new__(cls)
        zone._pending = load
        zone.name = name
        zone.soa = soa
        zone.kind = ZoneKind(kind)
        zone.authoritative = authoritative
        zone.has_wildcards = has_wildcards
        zone._redirects = redirects
        zone.negative = _negative(soa)
        return zone

    @property
    def pending(self) -> bool:
        """Whether the record sets are still to be made (a :meth:`deferred` zone not yet read)."""
        return self._pending is not None

    def materialize(self) -> None:
        """Make a :meth:`deferred` zone's record sets now (nothing for a zone that has them)."""
        load = self._pending
        if load is not None:
            self.nodes, self._names = load()
            self._pending = None

    def __getattr__(self, attr: str) -> object:
        # called only for a slot never set: the record sets of a deferred zone, on their first read
        if attr in _DEFERRED and self._pending is not None:
            self.materialize()
            return object.__getattribute__(self, attr)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        # record sets and names as __init__ made them (a deferred zone's once read): the same zone again
        self.materialize()
        return _restore_zone, (self.name, self.soa, self.kind, self.authoritative, self.has_wildcards,
                               self._redirects, self.nodes, self._names)

    def __repr__(self) -> str:
        return f"Zone({self.name!r}, {len(self.nodes)} names, {self.kind})"

    def __len__(self) -> int:
        return sum(len(rrset) for types in self.nodes.values() for rrset in types.values())

    def exists(self, name: str) -> bool:
        return name in self._names

    def lookup(self, name: str, qtype: int) -> tuple[Found, tuple[Record, ...]]:
        if self._redirects:
            redirect = self._redirect(name, qtype)
            if redirect is not None:
                return redirect
        node = self.nodes.get(name)
        if node is None:
            if name in self._names:
                return Found.NODATA, ()
            if not self.has_wildcards:
                return Found.NXDOMAIN, ()
            node = self._wildcard(name)
            if node is None:
                return Found.NXDOMAIN, ()
            node = {t: tuple(r.with_name(name) for r in rrset) for t, rrset in node.items()}
        records = node.get(qtype)
        if records is not None:
            return Found.RECORDS, records
        cname = node.get(RRType.CNAME)
        if cname is not None:
            return Found.CNAME, cname
        if qtype == RRType.ANY:
            return Found.RECORDS, tuple(r for rrset in node.values() for r in rrset)
        return Found.NODATA, ()

    def _redirect(self, name: str, qtype: int) -> tuple[Found, tuple[Record, ...]] | None:
        """The highest cut or DNAME on the way from the apex down to ``name``, if any."""
        hit = None
        for owner in names.suffixes(name):
            if owner in self._redirects:
                node = self.nodes[owner]
                ns = node.get(RRType.NS) if owner != self.name else None
                if ns is not None and not (owner == name and qtype == RRType.DS):
                    hit = (Found.DELEGATION, ns)
                elif RRType.DNAME in node and owner != name:
                    hit = (Found.DNAME, node[RRType.DNAME])
            if owner == self.name:
                break
        return hit

    def _wildcard(self, name: str) -> dict[int, tuple[Record, ...]] | None:
        # RFC 4592 §3.3.1: the closest encloser is the longest existing ancestor;
        # only its "*" child may answer, and only when the name itself does not exist.
        for ancestor in names.suffixes(names.parent(name)):
            if ancestor in self._names:
                return self.nodes.get("*." + ancestor)
            if ancestor == self.name:
                return None
        return None

    def records(self) -> Iterable[Record]:
        for types in self.nodes.values():
            for rrset in types.values():
                yield from rrset


#: the slots a deferred zone makes on their first read
_DEFERRED = frozenset({"nodes", "_names"})


def _restore_zone(name: str, soa: Record, kind: ZoneKind, authoritative: bool, has_wildcards: bool,
                  redirects: frozenset[str], nodes: dict[str, dict[int, tuple[Record, ...]]],
                  names_: frozenset[str]) -> Zone:
    zone = Zone.deferred(name, soa, kind, authoritative, has_wildcards, None, redirects)
    zone.nodes, zone._names = nodes, names_
    return zone


def _negative(soa: Record) -> tuple[Record]:
    """The SOA a zone puts in the authority section of its negative answers: TTL per RFC 2308 §5."""
    return (soa.with_ttl(min(soa.ttl, soa.rdata[6])),)


def soa_record(zone: str, rdata: tuple[object, ...] = AZURE_PRIVATE_SOA, ttl: int = 3600) -> Record:
    return Record(zone, RRType.SOA, ttl, rdata)
