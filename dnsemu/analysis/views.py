"""The estate as plain data: what ``GET /v1/topology``, ``GET /v1/explain`` and the fixture return.

JSON-ready dicts built from a compiled index; the HTTP API and :mod:`dnsemu.testing`
both serve them, so neither reaches into the other.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dnsemu.analysis.explain import as_json, question, source_address
from dnsemu.core.index import Index
from dnsemu.core.resolver import resolve
from dnsemu.dns.records import Record, rdata_text, type_name
from dnsemu.topology.changes import Change
from dnsemu.topology.loaded import LoadedTopology

__all__ = ["explain_json", "topology_json"]


def _record(record: Record) -> dict[str, Any]:
    return {"name": record.name, "type": type_name(record.rtype), "ttl": record.ttl,
            "data": rdata_text(record.rtype, record.rdata)}


def topology_json(index: Index, loaded: LoadedTopology | None, generation: int,
                  applied: list[Change] | None = None) -> dict[str, Any]:
    """The topology as compiled: networks, views with their linked zones, zones with records, counts."""
    networks = []
    for network in index.networks.values():
        azure = index.azure_dns.get(network.name)
        networks.append({
            "name": network.name,
            "kind": str(network.kind),
            "view": azure.view.name if azure is not None else None,
            "address_space": list(network.prefixes),
            "subnets": [{"name": n, "address_prefix": str(p), "service_endpoints": list(s)}
                        for n, p, s in network.subnets],
            "dns": network.entry_note,
        })
    views = []
    for view in index.views.values():
        views.append({
            "name": view.name,
            "virtual_network": view.vnet,
            "zones": [{"zone": zone, "kind": str(link.zone.kind), "link": link.link, "resolution_policy": link.policy,
                       "registration_enabled": link.registration} for zone, link in sorted(view.links.items())],
        })
    private = [{"name": name, "records": [_record(r) for r in zone.records()]}
               for name, zone in sorted(index.private_zones.items())]
    public = [{"name": name, "kind": str(zone.kind), "authoritative": zone.authoritative,
               "records": [_record(r) for r in zone.records()]}
              for name, zone in sorted(index.public.zones.items())]
    return {
        "generation": generation,
        "file": loaded.provenance.file if loaded is not None else None,
        "changes": [dataclasses.asdict(c) for c in applied or ()],
        "stats": dict(index.stats),
        "networks": networks,
        "views": views,
        "private_zones": private,
        "public_zones": public,
    }


def explain_json(index: Index, loaded: LoadedTopology, name: str, qtype: str, source: str) -> dict[str, Any]:
    """What ``dnsemu explain --json`` prints; ValueError (UnknownSource included) for a bad argument."""
    q = question(name, qtype)
    address = source_address(loaded.topology, index, source)
    return as_json(q, qtype, address, resolve(index, q, address))
