"""A sweep of a topology's questions: every owner name, an absent name under each, in several types, asked
from every network; two indexes that must answer alike are compared on it (:func:`reading`)."""

from __future__ import annotations

import ipaddress
from typing import Any

from dnsemu.dns.records import Question, RRType

QTYPES = (RRType.A, RRType.AAAA, RRType.CNAME, RRType.TXT, RRType.SOA, RRType.MX, RRType.SRV, RRType.ANY)


def sources(loaded: Any) -> list[str]:
    """An address in every network of the topology (VNets and on-premises sites), and one on the internet."""
    out = ["203.0.113.9"]
    topology = loaded.topology
    for group in (topology.virtual_networks, getattr(topology, "on_premises", None) or {}):
        for network in group.values():
            out.append(str(ipaddress.ip_network(str(network.address_space[0])).network_address + 4))
    return out


def questions(loaded: Any, index: Any) -> list[Question]:
    """Every owner name the topology and its compiled private zones hold, an absent name under each, in
    every type of :data:`QTYPES`."""
    owners: set[str] = set()
    for mapping in (loaded.zone_records, loaded.public_records, loaded.hosted_records):
        for records in mapping.values():
            owners.update(r.name for r in records)
    for zone in index.private_zones.values():
        owners.update(r.name for r in zone.records())
    owners |= {f"absent-{i}.{owner}" for i, owner in enumerate(sorted(owners))}
    return [Question(name, qtype) for name in sorted(owners) for qtype in QTYPES]


def reading(resolution: Any) -> tuple[Any, ...]:
    """What a resolution says: outcome, source, view, answer, authority, trace, network, AA."""
    return (resolution.outcome, resolution.source, resolution.view, resolution.answer, resolution.authority,
            resolution.trace_text(), resolution.network, resolution.authoritative)
