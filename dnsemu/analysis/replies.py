"""Resolutions as plain data and short text: what ``diff`` and ``verify`` print.

A record is ``{"name", "type", "ttl", "data"}`` with the data in presentation
form, the same shape ``dnsemu capture`` writes for the records it receives, so
a captured answer and a modelled one read alike.
"""

from __future__ import annotations

from typing import Any

from dnsemu.core.resolution import Outcome, Resolution
from dnsemu.dns.records import Record, RRType, rdata_text, type_name

__all__ = ["record_json", "resolution_json", "short"]


def record_json(record: Record) -> dict[str, Any]:
    return {
        "name": record.name,
        "type": type_name(record.rtype),
        "ttl": record.ttl,
        "data": rdata_text(record.rtype, record.rdata),
    }


def resolution_json(result: Resolution) -> dict[str, Any]:
    forward = None
    if result.forward is not None:
        forward = {
            "name": result.forward.name,
            "type": type_name(result.forward.qtype),
            "via": result.forward.via,
            "targets": [f"[{a}]:{p}" if ":" in a else f"{a}:{p}" for a, p in result.forward.targets],
        }
    return {
        "rcode": result.rcode.name,
        "outcome": result.outcome.value,
        "answer_kind": result.source.value,
        "view": result.view,
        "answer": [record_json(r) for r in result.answer],
        "authority": [record_json(r) for r in result.authority],
        "forward": forward,
    }


def _records(records: tuple[Record, ...], ttl: bool) -> str:
    return ", ".join(
        f"{type_name(r.rtype)} {rdata_text(r.rtype, r.rdata)}" + (f" (TTL {r.ttl})" if ttl else "") for r in records
    )


def short(result: Resolution, *, ttl: bool = False) -> str:
    """One line: ``NOERROR: CNAME x., A 10.0.1.4``, ``NXDOMAIN (SOA zone.)``, ``forwarded: …``."""
    chain = _records(result.answer, ttl)
    if result.outcome is Outcome.FORWARD:
        assert result.forward is not None
        rest = f"{result.forward.name} {type_name(result.forward.qtype)} goes to {result.forward.via}"
        return f"forwarded: {chain}, then {rest}" if chain else f"forwarded: {rest}"
    soa = next((r.name for r in result.authority if r.rtype == RRType.SOA), None)
    tail = f" (SOA {soa})" if soa else ""
    if result.outcome is Outcome.ANSWER:
        return f"{result.rcode.name}: {chain}"
    if result.outcome is Outcome.NODATA:
        return f"NOERROR, no records{tail}" + (f" after {chain}" if chain else "")
    return f"{result.rcode.name}{tail}" + (f" after {chain}" if chain else "")
