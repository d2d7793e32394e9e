"""The imported topology as text: a YAML file with each entry's Azure resource ID in a
comment above it, and master files for the zones too large to list inline.

Written by hand rather than with ``yaml.dump``: comments have to sit beside the entries
they describe, and the same input must give the same bytes (keys in a fixed order,
scalars quoted by one rule). Short mappings and lists go in flow style
(``{address_prefix: 10.0.1.0/24}``), everything else in block style.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import yaml

from dnsemu.importer.build import Built, RecordEntry

_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./@:+-]*$")
_FLOW_WIDTH = 110
_resolver = yaml.resolver.Resolver()


@functools.lru_cache(maxsize=65536)
def scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if (
        _PLAIN.match(text)
        and not text.endswith(":")
        and _resolver.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"
    ):
        return text
    return json.dumps(text)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def _flow(value: Any) -> str | None:
    """The flow form of a small value (scalars, lists of scalars, flat mappings), or None."""
    if _is_scalar(value):
        return scalar(value)
    if isinstance(value, list):
        if not all(_is_scalar(v) for v in value):
            return None
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    parts = []
    for k, v in value.items():
        if isinstance(v, dict) or (isinstance(v, list) and not all(_is_scalar(x) for x in v)):
            return None
        parts.append(f"{scalar(k)}: {_flow(v)}")
    return "{" + ", ".join(parts) + "}"


def _clean(line: str) -> str:
    return " ".join(line.split())


class _Writer:
    def __init__(self, comments: dict[tuple[Any, ...], list[str]]) -> None:
        self.comments = comments
        self.lines: list[str] = []
        # paths that have comments below them cannot go in flow style
        self.commented_parents: set[tuple[Any, ...]] = set()
        for path in comments:
            for i in range(len(path)):
                self.commented_parents.add(path[:i])

    def note(self, path: tuple[Any, ...], indent: str) -> None:
        for line in self.comments.get(path, ()):
            self.lines.append(f"{indent}# {_clean(line)}")

    def value(self, key_text: str, value: Any, path: tuple[Any, ...], indent: str) -> None:
        """``key: value`` (key_text already includes the dash for list items)."""
        flow = None if path in self.commented_parents else _flow(value)
        if flow is not None and len(indent) + len(key_text) + len(flow) + 2 <= _FLOW_WIDTH:
            self.lines.append(f"{indent}{key_text}: {flow}" if key_text else f"{indent}{flow}")
            return
        if isinstance(value, dict):
            self.lines.append(f"{indent}{key_text}:")
            self.mapping(value, path, indent + "  ")
        elif isinstance(value, list):
            self.lines.append(f"{indent}{key_text}:")
            self.sequence(value, path, indent + "  ")
        else:
            self.lines.append(f"{indent}{key_text}: {scalar(value)}")

    def mapping(self, data: dict[str, Any], path: tuple[Any, ...], indent: str) -> None:
        for key, value in data.items():
            sub = (*path, key)
            self.note(sub, indent)
            self.value(scalar(key), value, sub, indent)

    def sequence(self, items: list[Any], path: tuple[Any, ...], indent: str) -> None:
        for i, item in enumerate(items):
            sub = (*path, i)
            self.note(sub, indent)
            flow = None if sub in self.commented_parents else _flow(item)
            if flow is not None:
                self.lines.append(f"{indent}- {flow}")
            elif isinstance(item, dict):
                first = True
                for key, value in item.items():
                    prefix = "- " if first else "  "
                    self.value(prefix + scalar(key), value, (*sub, key), indent)
                    first = False
            else:
                self.lines.append(f"{indent}-")
                self.sequence(item, sub, indent + "  ")


def record_line(entry: RecordEntry, value: str) -> str:
    return f"{entry.name} {entry.ttl} {entry.rtype} {value}"


def render_topology(built: Built, header: list[str], zone_files: dict[str, str]) -> str:
    """The topology YAML. ``zone_files`` maps a zone to the path (relative to the YAML file) of its master file."""
    data = built.data
    comments = dict(built.comments)
    for zone, entries in built.records.items():
        zone_data = data["private_dns_zones"].setdefault(zone, {})
        if zone in zone_files:
            zone_data["zone_file"] = zone_files[zone]
            continue
        lines = []
        for entry in entries:
            comments[("private_dns_zones", zone, "records", len(lines))] = [entry.id]
            lines.extend(record_line(entry, v) for v in entry.values)
        zone_data["records"] = lines
        # keep the keys in the reference's order: records, zone_file, virtual_network_links
        links = zone_data.pop("virtual_network_links", None)
        if links is not None:
            zone_data["virtual_network_links"] = links
    writer = _Writer(comments)
    out = [f"# {_clean(line)}" if line else "#" for line in header]
    first = True
    for key, value in data.items():
        if not first and isinstance(value, (dict, list)):
            writer.lines.append("")
        first = False
        if isinstance(value, dict) and not value:
            writer.lines.append(f"{scalar(key)}: {{}}")
            continue
        writer.note((key,), "")
        writer.value(scalar(key), value, (key,), "")
    return "\n".join([*out, "", *writer.lines]) + "\n"


def render_zone_file(zone: str, entries: list[RecordEntry]) -> str:
    lines = [
        f"; {zone}: {len(entries)} record set(s) imported by dnsemu import (records a zone group or",
        "; autoregistration writes are derived by dnsemu, not listed here)",
        f"$ORIGIN {zone}.",
    ]
    for entry in entries:
        lines.append(f"; {_clean(entry.id)}")
        for value in entry.values:
            lines.append(f"{entry.name}\t{entry.ttl}\tIN\t{entry.rtype}\t{value}")
    return "\n".join(lines) + "\n"
