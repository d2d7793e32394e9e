"""``dnsemu diff``: which answers change between two estates, for whom, and where the two resolutions part.

Pure: two loaded and compiled estates in, a :class:`DiffReport` out.

What is asked (:func:`questions`): every name either estate knows —

* each private endpoint's FQDNs, public and private (``acct.blob.core.windows.net``,
  ``acct.privatelink.blob.core.windows.net``), and those of ``resources:`` (the
  groups another tenant holds, else the type's first group);
* every owner name in a private DNS zone (records written by hand, by zone
  groups and by autoregistration) and in a public zone the topology declares;
* every VM's Azure-provided names (``vm.internal.cloudapp.net``, the VNet's DNS
  suffix) and its reverse name;
* the names of ``--names`` files, with their own types.

Types: A, AAAA and CNAME for every name, plus each other type either estate
holds at that name (MX, SRV, TXT, PTR …); reverse names (``in-addr.arpa``,
``ip6.arpa``) are asked PTR only. Wildcard owners (``*.x``) are not asked
literally. Synthesised public names (a service's cluster host and its public
address) are not asked: they are placeholders, not names the estate knows.

Who asks (:func:`sources`): every VNet and on-premises site of either estate,
and the internet, each from one address as ``explain --from`` picks it (its
first VM, else the ``.4`` of its first address space); the same address is used
in both estates, so a network that disappears asks as whatever holds its address
now.

How it is compared: every question is resolved by the resolver itself, in
each estate, once per pair of networks a source is in (before, after) — the
answer depends on the source only through its network. Questions whose answers
differ are resolved again from each source, for the trace of each.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dnsemu.analysis.explain import UnknownSource, source_address
from dnsemu.analysis.namelist import NameEntry
from dnsemu.analysis.replies import resolution_json, short
from dnsemu.catalog import Catalog, CatalogError
from dnsemu.core.index import Index, Network
from dnsemu.core.resolution import Resolution
from dnsemu.core.resolver import resolve
from dnsemu.core.zone import Zone, ZoneKind
from dnsemu.dns import names
from dnsemu.dns.records import Question, RRType, type_name
from dnsemu.topology.loaded import LoadedTopology
from dnsemu.topology.validate import resource_endpoints

__all__ = ["DEFAULT_TYPES", "Change", "DiffReport", "Source", "as_json", "diff", "questions", "render", "sources"]

Estate = tuple[LoadedTopology, Index]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Asked for every name (reverse names: PTR only).
DEFAULT_TYPES = (int(RRType.A), int(RRType.AAAA), int(RRType.CNAME))
_REVERSE = ("in-addr.arpa.", "ip6.arpa.")
_NOT_ASKED = frozenset({RRType.SOA, RRType.NS})
FORMAT = "dnsemu-diff/1"


@dataclass(frozen=True, slots=True)
class Source:
    """Who asks: a label (a network's name, or what ``--from`` said), an address, its network on each side."""

    label: str
    address: Address
    network_before: str
    network_after: str


@dataclass(frozen=True, slots=True)
class Change:
    source: Source
    name: str
    qtype: int
    before: Resolution
    after: Resolution
    #: 1-based number of the first trace step that differs; None when every step reads alike (a TTL changed)
    step: int | None
    #: the text of that step on each side (None where that trace has no such step)
    text_before: str | None = None
    text_after: str | None = None

    @property
    def step_before(self) -> Any:
        return _step(self.before, self.step)

    @property
    def step_after(self) -> Any:
        return _step(self.after, self.step)


def _step(result: Resolution, number: int | None) -> Any:
    if number is None or number > len(result.trace):
        return None
    return result.trace[number - 1]


@dataclass(frozen=True)
class DiffReport:
    before: str
    after: str
    sources: tuple[Source, ...]
    questions: tuple[tuple[str, tuple[int, ...]], ...]
    changes: tuple[Change, ...]
    #: resolutions the comparison computed (both estates), against two per source and question for brute force
    resolved: int = 0
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def question_count(self) -> int:
        return sum(len(types) for _, types in self.questions)


# --------------------------------------------------------------------------- what to ask


def _zone_name(text: str) -> str:
    return names.parse(text if text.endswith(".") else text + ".")


def _is_reverse(name: str) -> bool:
    return any(name == r or name.endswith("." + r) for r in _REVERSE)


def known_names(estate: Estate) -> dict[str, set[int]]:
    """Every name the estate knows, with the types it holds there besides the defaults."""
    loaded, index = estate
    t = loaded.topology
    catalog = Catalog.load(t.cloud)
    out: dict[str, set[int]] = defaultdict(set)

    def endpoint_names(resource: Any, group: str, name: str, region: str) -> None:
        try:
            endpoints = resource_endpoints(catalog, resource, group, name, region)
        except CatalogError:
            return
        for endpoint in endpoints:
            out[endpoint.public_fqdn]
            out[endpoint.private_fqdn]

    for pe in t.private_endpoints.values():
        if pe.resource is not None and pe.group_id is not None:
            region = (pe.resource.region or t.virtual_networks[pe.virtual_network].region or t.region).lower()
            endpoint_names(pe.resource, pe.group_id, pe.resource.name, region)
    for key, res in t.resources.items():
        groups = list(res.private_endpoint_groups)
        if not groups:
            services = [s for s in catalog.services if s.resource_type.lower() == res.type.lower()]
            groups = [services[0].group_ids[0]] if services and services[0].group_ids else []
        for group in groups:
            endpoint_names(res, group, res.name or key, (res.region or t.region).lower())

    def zone_names(zone: Zone) -> None:
        for owner, node in zone.nodes.items():
            if owner.startswith("*."):
                continue
            types = {rtype for rtype in node if rtype not in _NOT_ASKED}
            if types or owner != zone.name:
                out[owner].update(types)

    for zone in index.private_zones.values():
        zone_names(zone)
    for apex in loaded.public_records:
        zone = index.public.zones.get(apex)
        if zone is not None:
            zone_names(zone)
    seen: set[int] = set()
    for view in index.views.values():
        for link in view.links.values():
            if link.zone.kind is ZoneKind.INTERNAL and id(link.zone) not in seen:
                seen.add(id(link.zone))
                zone_names(link.zone)
    return out


def questions(
    before: Estate, after: Estate, extra: Iterable[NameEntry] = ()
) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """(name, types) pairs to ask, in DNS order of the names (zone by zone)."""
    merged: dict[str, set[int]] = defaultdict(set)
    for estate in (before, after):
        for name, types in known_names(estate).items():
            merged[name].update(types)
    explicit: dict[str, list[int]] = {}
    for entry in extra:
        if entry.types:
            explicit.setdefault(entry.name, [])
            explicit[entry.name] += [t for t in entry.types if t not in explicit[entry.name]]
        else:
            merged[entry.name]
    out = []
    for name in sorted(set(merged) | set(explicit), key=_dns_order):
        if name in explicit and name not in merged:
            types = explicit[name]
        else:
            base = [int(RRType.PTR)] if _is_reverse(name) else list(DEFAULT_TYPES)
            extra_types = sorted(merged.get(name, ()), key=int)
            types = base + [t for t in extra_types if t not in base] + [t for t in explicit.get(name, ()) if
                                                                       t not in base and t not in extra_types]
        out.append((name, tuple(int(t) for t in types)))
    return tuple(out)


def _dns_order(name: str) -> tuple[str, ...]:
    return tuple(reversed(name.rstrip(".").split(".")))


# --------------------------------------------------------------------------- who asks


def _network_of(index: Index, address: Address) -> Network:
    network, _ = index.classify(address)
    return network if network is not None else index.internet


def sources(before: Estate, after: Estate, wanted: Sequence[str] | None = None) -> tuple[Source, ...]:
    """The sources to ask from: ``wanted`` (names or addresses), else every network of either estate."""
    labels: list[str] = []
    if wanted:
        labels = list(dict.fromkeys(wanted))
    else:
        for loaded, _ in (before, after):
            labels += [n for n in loaded.topology.virtual_networks if n not in labels]
        for loaded, _ in (before, after):
            labels += [n for n in loaded.topology.on_premises if n not in labels]
        labels.append("internet")
    out = []
    for label in labels:
        address = None
        problem: UnknownSource | None = None
        for loaded, index in (before, after):
            try:
                address = source_address(loaded.topology, index, label)
                break
            except UnknownSource as exc:
                problem = problem or exc
        if address is None:
            assert problem is not None
            raise UnknownSource(f"--from {label!r} is in neither estate: {problem}")
        out.append(
            Source(label, address, _network_of(before[1], address).name, _network_of(after[1], address).name)
        )
    return tuple(out)


# --------------------------------------------------------------------------- comparing


def _signature(result: Resolution) -> tuple[Any, ...]:
    """What a client receives: the rcode, the records, the AA flag, and what is left for a forwarder."""
    return (result.outcome, result.answer, result.authority, result.authoritative, result.forward)


def _network_key(index: Index, address: Address) -> str | None:
    network, _ = index.classify(address)
    return network.name if network is not None else None


class _Side:
    """One estate's answers: each (network, name, type) resolved once, from the first source in that network.

    The answer a client receives depends on its address only through the network the
    address is in (the address itself shows in the trace alone: the source step and a
    service endpoint's note), so one resolution per network stands for all its sources.
    """

    __slots__ = ("index", "resolved", "seen")

    def __init__(self, index: Index) -> None:
        self.index = index
        self.seen: dict[tuple[str | None, int], tuple[Any, ...]] = {}  # for the current name
        self.resolved = 0

    def signature(self, key: str | None, address: Address, q: Question) -> tuple[Any, ...]:
        hit = self.seen.get((key, q.qtype))
        if hit is None:
            hit = self.seen[(key, q.qtype)] = _signature(resolve(self.index, q, address))
            self.resolved += 1
        return hit


def diff(
    before: Estate,
    after: Estate,
    *,
    asked: Sequence[tuple[str, tuple[int, ...]]] | None = None,
    who: Sequence[Source] | None = None,
    before_label: str = "before",
    after_label: str = "after",
) -> DiffReport:
    """Every (source, name, type) whose answer differs between ``before`` and ``after``.

    Each question is resolved with the resolver itself (:func:`resolve`), once per pair
    of networks (the source's network before, and after); a question whose answers
    differ is resolved again from each source of the pair, for the traces ``explain``
    prints for it.
    """
    asked = tuple(asked) if asked is not None else questions(before, after)
    who = tuple(who) if who is not None else sources(before, after)
    side_b, side_a = _Side(before[1]), _Side(after[1])

    groups: dict[tuple[str | None, str | None], list[Source]] = {}
    for source in who:
        key = (_network_key(before[1], source.address), _network_key(after[1], source.address))
        groups.setdefault(key, []).append(source)

    changes: list[Change] = []
    texts: dict[int, tuple[Any, str]] = {}
    for name, types in asked:
        side_b.seen.clear()
        side_a.seen.clear()
        for (kb, ka), members in groups.items():
            first = members[0].address
            for qtype in types:
                q = Question(name, qtype)
                if side_b.signature(kb, first, q) == side_a.signature(ka, first, q):
                    continue
                for source in members:
                    b, a = resolve(before[1], q, source.address), resolve(after[1], q, source.address)
                    step = _parting_step(b, a, texts)
                    tb, ta = _step(b, step), _step(a, step)
                    changes.append(
                        Change(
                            source, name, qtype, b, a, step,
                            _text(tb, texts) if tb is not None else None,
                            _text(ta, texts) if ta is not None else None,
                        )
                    )

    order = {s.label: i for i, s in enumerate(who)}
    position = {name: i for i, (name, _) in enumerate(asked)}
    changes.sort(key=lambda c: (order[c.source.label], position[c.name], _type_order(c.qtype)))
    return DiffReport(
        before_label,
        after_label,
        who,
        asked,
        tuple(changes),
        side_b.resolved + side_a.resolved,
        {"groups": len(groups)},
    )


def _type_order(qtype: int) -> tuple[int, int]:
    return (DEFAULT_TYPES.index(qtype), 0) if qtype in DEFAULT_TYPES else (len(DEFAULT_TYPES), qtype)


def _text(step: Any, texts: dict[int, tuple[Any, str]]) -> str:
    hit = texts.get(id(step))
    if hit is None:
        hit = texts[id(step)] = (step, step.text)  # the step is kept, so its id stays its own
    return hit[1]


def _parting_step(before: Resolution, after: Resolution, texts: dict[int, tuple[Any, str]] | None = None) -> int | None:
    texts = {} if texts is None else texts
    for i, (sb, sa) in enumerate(zip(before.trace, after.trace, strict=False)):
        if sb is not sa and sb != sa and _text(sb, texts) != _text(sa, texts):
            return i + 1
    if len(before.trace) != len(after.trace):
        return min(len(before.trace), len(after.trace)) + 1
    return None


# --------------------------------------------------------------------------- output


def render(report: DiffReport) -> str:
    """The changes as text: one entry per question and change, with every source it applies to."""
    lines = [f"--- {report.before}", f"+++ {report.after}"]
    entries: dict[tuple[Any, ...], list[Change]] = {}
    position = {name: i for i, (name, _) in enumerate(report.questions)}
    for change in sorted(report.changes, key=lambda c: (position[c.name], _type_order(c.qtype))):
        before, after = short(change.before), short(change.after)
        if before == after:
            before, after = short(change.before, ttl=True), short(change.after, ttl=True)
        key = (change.name, change.qtype, before, after, change.text_before, change.text_after)
        entries.setdefault(key, []).append(change)
    for (name, qtype, before, after, step_b, step_a), changes in entries.items():
        by_step: dict[int | None, list[str]] = {}
        for change in changes:
            s = change.source
            label = s.label
            if s.network_before != s.network_after:
                label += f" (in {s.network_before} before, {s.network_after} after)"
            by_step.setdefault(change.step, []).append(label)
        who = "; ".join(
            ", ".join(labels) + (f" (step {step})" if step is not None else "") for step, labels in by_step.items()
        )
        lines += [f"{name} {type_name(qtype)}", f"  from {who}", f"  - {before}", f"  + {after}"]
        if step_b is None and step_a is None:
            lines.append("  every step of the two traces reads alike: the records differ in their TTLs")
        else:
            lines.append("  where the resolutions part:")
            lines.append(f"  - {step_b if step_b is not None else '(the resolution ended before this step)'}")
            lines.append(f"  + {step_a if step_a is not None else '(the resolution ended before this step)'}")
    sources_changed = len({c.source.label for c in report.changes})
    n = len(report.changes)
    lines.append("")
    lines.append(
        f"{n} answer{'s' if n != 1 else ''} change{'s' if n == 1 else ''}, for {sources_changed} of "
        f"{len(report.sources)} sources ({report.question_count} questions "
        f"about {len(report.questions)} names from each)"
        if n
        else f"no answer changes ({report.question_count} questions about {len(report.questions)} names "
        f"from each of {len(report.sources)} sources)"
    )
    return "\n".join(lines) + "\n"


def as_json(report: DiffReport) -> dict[str, Any]:
    """The report as plain data, in the documented ``dnsemu-diff/1`` format (docs/diff.md)."""
    changes = []
    for change in report.changes:
        s = change.source
        parts = None
        if change.step is not None:
            sb, sa = change.step_before, change.step_after
            parts = {
                "step": change.step,
                "before": sb.as_dict() if sb is not None else None,
                "after": sa.as_dict() if sa is not None else None,
            }
        changes.append(
            {
                "source": s.label,
                "address": str(s.address),
                "name": change.name,
                "type": type_name(change.qtype),
                "before": resolution_json(change.before),
                "after": resolution_json(change.after),
                "parts_at": parts,
            }
        )
    return {
        "format": FORMAT,
        "before": report.before,
        "after": report.after,
        "sources": [
            {
                "source": s.label,
                "address": str(s.address),
                "network_before": s.network_before,
                "network_after": s.network_after,
            }
            for s in report.sources
        ],
        "questions": [{"name": name, "types": [type_name(t) for t in types]} for name, types in report.questions],
        "changes": changes,
        "summary": {
            "changes": len(changes),
            "sources_changed": len({c.source.label for c in report.changes}),
            "sources": len(report.sources),
            "questions": report.question_count,
        },
    }
