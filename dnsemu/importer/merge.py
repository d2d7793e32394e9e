"""Merging what several sources say about one resource, by resource ID (case-insensitive).

Resource Graph lacks zone groups, forwarding rules and ruleset links (facts §15.1);
Terraform lacks connection states; a CLI dump may hold what a Graph page holds too.
Facts with the same ID are merged field by field: a field one source does not know
(``None``) is taken from the other; equal values (lists compared as sets where order
means nothing) agree; different values are a ``conflict`` finding naming both files,
and the first source's value is kept (sources are read in sorted path order, so the
choice is stable). The same ID twice in one file is a ``duplicate-id`` finding.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dnsemu.importer import facts as F
from dnsemu.importer.arm import Context
from dnsemu.importer.common import id_key

#: Fields whose order carries meaning (the first DNS server is the one used).
_ORDERED = {"dns_servers"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _norm(value: Any) -> Any:
    """A value as compared: resource IDs are case-insensitive."""
    if isinstance(value, str) and value[:15].lower() == "/subscriptions/":
        return id_key(value)
    if isinstance(value, tuple):
        return tuple(_norm(v) for v in value)
    return value


def _merge_value(name: str, a: Any, b: Any) -> tuple[Any, bool]:
    """(merged, conflict)."""
    if a is None:
        return b, False
    if b is None or a == b or _norm(a) == _norm(b):
        return a, False
    if dataclasses.is_dataclass(a) and type(a) is type(b):
        merged = {}
        conflict = False
        for f in dataclasses.fields(a):
            value, bad = _merge_value(f.name, getattr(a, f.name), getattr(b, f.name))
            merged[f.name] = value
            conflict = conflict or bad
        return type(a)(**merged), conflict
    if (
        isinstance(a, tuple)
        and isinstance(b, tuple)
        and name not in _ORDERED
        and sorted(map(repr, _norm(a))) == sorted(map(repr, _norm(b)))
    ):
        return a, False
    return a, True


def merge(facts: list[F.Fact], ctx: Context) -> dict[str, F.Fact]:
    """ID key → merged fact, in first-seen order."""
    out: dict[str, F.Fact] = {}
    for fact in facts:
        key = id_key(fact.id)
        prev = out.get(key)
        if prev is None:
            out[key] = fact
            continue
        if prev.origin.file == fact.origin.file:
            ctx.finding(
                "duplicate-id",
                fact.id,
                f"{fact.origin.file}: the same resource ID at {prev.origin.path or '$'} and {fact.origin.path or '$'}",
            )
        if type(prev) is not type(fact):
            ctx.finding(
                "conflict",
                fact.id,
                f"{prev.origin} and {fact.origin} describe this ID as different kinds of resource; "
                f"{prev.origin.file}'s kept",
            )
            continue
        changes = {}
        for f in dataclasses.fields(prev):
            if f.name in ("id", "origin"):
                continue
            value, conflict = _merge_value(f.name, getattr(prev, f.name), getattr(fact, f.name))
            if conflict:
                ctx.finding(
                    "conflict",
                    prev.id,
                    f"{f.name} differs: {_short(getattr(prev, f.name))} in {prev.origin}, "
                    f"{_short(getattr(fact, f.name))} in {fact.origin}; the first is kept",
                )
            changes[f.name] = value
        out[key] = dataclasses.replace(prev, **changes)
    return out
