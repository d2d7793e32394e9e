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
import os
import pickle
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dnsemu.analysis.diffscope import Comparer, Scope, source_key
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


class _Side:
    """One estate's answers to the current name: each (group key, type) resolved once, from the group's first source.

    The answer a client receives depends on its address only through what the resolver reads of
    its network (:func:`dnsemu.analysis.diffscope.source_key`; the address itself shows in the
    trace alone: the source step and a service endpoint's note), so one resolution per key
    stands for all its sources.
    """

    __slots__ = ("index", "resolved", "seen")

    def __init__(self, index: Index) -> None:
        self.index = index
        #: (key, type) -> (signature, resolution, the address it was asked from), for the current name
        self.seen: dict[tuple[Any, int], tuple[tuple[Any, ...], Resolution, Address]] = {}
        self.resolved = 0

    def answer(self, key: Any, address: Address, q: Question) -> tuple[tuple[Any, ...], Resolution, Address]:
        hit = self.seen.get((key, q.qtype))
        if hit is None:
            result = resolve(self.index, q, address)
            hit = self.seen[(key, q.qtype)] = (_signature(result), result, address)
            self.resolved += 1
        return hit


#: (question position, group position, type, and the two resolutions from the group's first source when
#: they were computed in this process)
_Found = tuple[int, int, int, Resolution | None, Resolution | None]
#: below this many (group, question) pairs to compare, one process does it all
PARALLEL_FROM = 20_000


def _compare(
    ib: Index, ia: Index, asked: Sequence[tuple[str, tuple[int, ...]]], jobs: Sequence[tuple[int, list[_Group]]],
    groups: Sequence[_Group], keep: bool,
) -> tuple[list[_Found], int, int]:
    """The (question, group, type) whose answers differ, for the questions of ``jobs``."""
    side_b, side_a = _Side(ib), _Side(ia)
    position = {id(g): n for n, g in enumerate(groups)}
    found: list[_Found] = []
    pairs = 0
    for i, asking in jobs:
        name, types = asked[i]
        side_b.seen.clear()
        side_a.seen.clear()
        for group in asking:
            first = group.members[0].address
            for qtype in types:
                pairs += 1
                q = Question(name, qtype)
                sb, rb, ab = side_b.answer(group.key_before, first, q)
                sa, ra, aa = side_a.answer(group.key_after, first, q)
                if sb == sa:
                    continue
                own = keep and ab == first and aa == first
                found.append((i, position[id(group)], qtype, rb if own else None, ra if own else None))
    return found, side_b.resolved + side_a.resolved, pairs


def _compare_all(
    ib: Index, ia: Index, asked: Sequence[tuple[str, tuple[int, ...]]], jobs: list[tuple[int, list[_Group]]],
    groups: Sequence[_Group], workers: int | None,
) -> tuple[list[_Found], tuple[int, int]]:
    """:func:`_compare` over every job, in question order; half of it in a forked process when it pays."""
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if sum(len(a) for _, a in jobs) < PARALLEL_FROM:
            workers = 1
    if workers < 2 or not hasattr(os, "fork") or len(jobs) < 2:
        found, resolved, pairs = _compare(ib, ia, asked, jobs, groups, keep=True)
        return found, (resolved, pairs)
    theirs, mine = jobs[1::2], jobs[0::2]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compare its half, send the positions back (no resolutions: they cost more to send)
        code = 0
        try:
            os.close(read)
            payload = pickle.dumps(_compare(ib, ia, asked, theirs, groups, keep=False), pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write, "wb") as out:
                out.write(payload)
        except BaseException:  # the parent sees a failed child and does the half itself
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    found, resolved, pairs = _compare(ib, ia, asked, mine, groups, keep=True)
    with os.fdopen(read, "rb") as inp:
        payload = inp.read()
    _, status = os.waitpid(pid, 0)
    if status == 0 and payload:
        other, more_resolved, more_pairs = pickle.loads(payload)
    else:
        other, more_resolved, more_pairs = _compare(ib, ia, asked, theirs, groups, keep=True)
    found += other
    found.sort(key=lambda f: (f[0], f[1], f[2]))
    return found, (resolved + more_resolved, pairs + more_pairs)


@dataclass
class _Group:
    """Sources that get the same answers in both estates, and the names whose answers may differ for them."""

    key_before: Any
    key_after: Any
    members: list[Source]
    scope: Scope | None = None  # None: every name


def _groups(before: Estate, after: Estate, who: Sequence[Source], prune: bool) -> list[_Group]:
    ib, ia = before[1], after[1]
    groups: dict[tuple[Any, Any], _Group] = {}
    networks: dict[tuple[Any, Any], tuple[Network | None, Network | None]] = {}
    for source in who:
        nb, na = ib.classify(source.address)[0], ia.classify(source.address)[0]
        if prune:
            kb, ka = source_key(ib, nb), source_key(ia, na)
        else:
            kb, ka = (nb.name if nb is not None else None), (na.name if na is not None else None)
        group = groups.get((kb, ka))
        if group is None:
            group = groups[(kb, ka)] = _Group(kb, ka, [])
            networks[(kb, ka)] = (nb, na)
        group.members.append(source)
    if prune:
        comparer = Comparer(ib, ia)
        for key, group in groups.items():
            group.scope = comparer.close(comparer.group_scope(*networks[key]))
    return list(groups.values())


def diff(
    before: Estate,
    after: Estate,
    *,
    asked: Sequence[tuple[str, tuple[int, ...]]] | None = None,
    who: Sequence[Source] | None = None,
    before_label: str = "before",
    after_label: str = "after",
    prune: bool = True,
    workers: int | None = None,
) -> DiffReport:
    """Every (source, name, type) whose answer differs between ``before`` and ``after``.

    Each question is resolved with the resolver itself (:func:`resolve`), once per group of
    sources that share what the resolver reads of their network, and only where the
    answers can differ (:mod:`dnsemu.analysis.diffscope`; ``prune=False`` asks every name
    from every pair of networks, by brute force). A question whose answers differ is
    resolved again from each source of the group, for the traces ``explain`` prints for it.

    ``workers``: processes that share the comparison (default: the CPUs this process may
    use, when there is enough to compare; 1: this process alone).
    """
    asked = tuple(asked) if asked is not None else questions(before, after)
    who = tuple(who) if who is not None else sources(before, after)
    groups = _groups(before, after, who, prune)
    # which groups ask each name: one pass over the names per distinct scope
    by_scope: dict[int, list[_Group]] = {}
    scopes: dict[int, Scope | None] = {}
    for group in groups:
        by_scope.setdefault(id(group.scope), []).append(group)
        scopes[id(group.scope)] = group.scope
    askers: list[list[_Group]] = [[] for _ in asked]
    for key, scope in scopes.items():
        members = by_scope[key]
        for i, (name, _) in enumerate(asked):
            if scope is None or scope.covers(name):
                askers[i].extend(members)
    jobs = [(i, asking) for i, asking in enumerate(askers) if asking]
    found, counts = _compare_all(before[1], after[1], asked, jobs, groups, workers)

    changes: list[Change] = []
    texts: dict[int, tuple[Any, str]] = {}
    for i, g, qtype, first_b, first_a in found:
        name = asked[i][0]
        q = Question(name, qtype)
        for n, source in enumerate(groups[g].members):
            if n == 0 and first_b is not None and first_a is not None:
                b, a = first_b, first_a
            else:
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
        counts[0],
        {"groups": len(groups), "compared": counts[1]},
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
