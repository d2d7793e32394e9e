"""Run-time changes to a loaded topology, for test suites that create endpoints as they go.

A change is a small value (:class:`Change`) applied to the topology's data as
written; the result is validated exactly like a file load, so a change that Azure
would refuse is refused here with the same message. :class:`ChangeSet` keeps the
file's data and the ordered list of accepted changes: a reload of the file
re-applies them, ``reset()`` drops them.

Pure: no I/O beyond what loading the topology's own master files needs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dnsemu.dns import names
from dnsemu.text import clip, excerpt
from dnsemu.topology.errors import Problem, TopologyError
from dnsemu.topology.load import load_topology_data
from dnsemu.topology.loaded import LoadedTopology, Provenance


class ChangeError(TopologyError):
    """A change that cannot apply (nothing to remove, unknown zone) or that leaves an invalid topology."""


def _canonical(zone: str) -> str:
    return names.parse(zone if zone.endswith(".") else zone + ".")


def _find_zone(section: dict[str, Any], zone: str, what: str) -> str:
    """The key under which ``zone`` is written (zone names compare case-insensitively, with or without a dot)."""
    try:
        want = _canonical(zone)
    except ValueError:  # not a DNS name (a label over 63 octets, an empty label ...): no zone is named so
        raise ChangeError(Problem(f"no {what} named {excerpt(zone)}: not a DNS name", path=clip(zone))) from None
    for key in section:
        if _canonical(key) == want:
            return key
    raise ChangeError(Problem(f"no {what} named {excerpt(zone)}", path=clip(zone)))


def _record_key(record: dict[str, Any] | str) -> tuple[str, str]:
    if isinstance(record, str):
        parts = record.split()
        # name [ttl] [IN] TYPE value
        rest = [p for p in parts[1:] if not p.isdigit() and p.upper() != "IN"]
        return parts[0].lower(), (rest[0].upper() if rest else "")
    return str(record.get("name", "")).lower(), str(record.get("type", "")).upper()


@dataclass(frozen=True)
class Change:
    """One operation, described by data (it goes into logs and the API's replies as such)."""

    op: str
    target: str
    body: dict[str, Any] = field(default_factory=dict)

    def apply(self, data: dict[str, Any]) -> None:
        _OPS[self.op](self, data)


def _put_endpoint(change: Change, data: dict[str, Any]) -> None:
    data.setdefault("private_endpoints", {})[change.target] = change.body


def _delete_endpoint(change: Change, data: dict[str, Any]) -> None:
    endpoints = data.get("private_endpoints") or {}
    if change.target not in endpoints:
        raise ChangeError(Problem(f"no private endpoint named {excerpt(change.target)}", path="private_endpoints"))
    del endpoints[change.target]


def _put_zone(change: Change, data: dict[str, Any]) -> None:
    zones = data.setdefault("private_dns_zones", {})
    try:
        key = _find_zone(zones, change.target, "private DNS zone")
    except ChangeError:
        key = change.target
    zones[key] = change.body


def _delete_zone(change: Change, data: dict[str, Any]) -> None:
    zones = data.get("private_dns_zones") or {}
    del zones[_find_zone(zones, change.target, "private DNS zone")]


def _records_of(data: dict[str, Any], section: str, zone: str, create: bool = False) -> list[Any]:
    if section == "private":
        zones = data.setdefault("private_dns_zones", {})
        kind = "private DNS zone"
    else:
        zones = data.setdefault("public_dns", {}).setdefault("zones", {})
        kind = "public zone"
    try:
        key = _find_zone(zones, zone, kind)
    except ChangeError:
        if not create:
            raise
        key = zone
        zones[key] = {}
    if zones[key] is None:
        zones[key] = {}
    return zones[key].setdefault("records", [])


def _add_record(change: Change, data: dict[str, Any]) -> None:
    section = change.body["section"]
    records = _records_of(data, section, change.target, create=section == "public")
    record = change.body["record"]
    name, rtype = _record_key(record)
    if change.body.get("replace", True) and isinstance(record, dict):
        # a record set is replaced as a whole, as ARM's PUT on a record set does
        records[:] = [r for r in records if _record_key(r) != (name, rtype)]
    records.append(record)


def _delete_record(change: Change, data: dict[str, Any]) -> None:
    section = change.body["section"]
    records = _records_of(data, section, change.target)
    name, rtype = str(change.body["name"]).lower(), str(change.body.get("type") or "").upper()
    keep = [r for r in records if not (_record_key(r)[0] == name and (not rtype or _record_key(r)[1] == rtype))]
    if len(keep) == len(records):
        raise ChangeError(Problem(f"no record {clip(name)} {clip(rtype or '')} in {clip(change.target)}".rstrip(),
                                  path=clip(change.target)))
    records[:] = keep


def _put_link(change: Change, data: dict[str, Any]) -> None:
    zones = data.setdefault("private_dns_zones", {})
    key = _find_zone(zones, change.target, "private DNS zone")
    zone = zones[key] if zones[key] is not None else {}
    zones[key] = zone
    links = zone.setdefault("virtual_network_links", [])
    vnet = change.body["virtual_network"]
    links[:] = [link for link in links if link.get("virtual_network") != vnet]
    links.append(change.body)


def _delete_link(change: Change, data: dict[str, Any]) -> None:
    zones = data.get("private_dns_zones") or {}
    key = _find_zone(zones, change.target, "private DNS zone")
    links = (zones[key] or {}).get("virtual_network_links", [])
    vnet = change.body["virtual_network"]
    keep = [link for link in links if link.get("virtual_network") != vnet]
    if len(keep) == len(links):
        raise ChangeError(Problem(f"zone {clip(change.target)} has no link to {excerpt(vnet)}",
                                  path=clip(change.target)))
    links[:] = keep


_OPS: dict[str, Callable[[Change, dict[str, Any]], None]] = {
    "put_private_endpoint": _put_endpoint,
    "delete_private_endpoint": _delete_endpoint,
    "put_private_dns_zone": _put_zone,
    "delete_private_dns_zone": _delete_zone,
    "add_record": _add_record,
    "delete_record": _delete_record,
    "put_virtual_network_link": _put_link,
    "delete_virtual_network_link": _delete_link,
}


# -- constructors: the vocabulary the API and the fixture speak ---------------------------------------


def put_private_endpoint(name: str, spec: dict[str, Any]) -> Change:
    return Change("put_private_endpoint", name, dict(spec))


def delete_private_endpoint(name: str) -> Change:
    return Change("delete_private_endpoint", name)


def put_private_dns_zone(zone: str, spec: dict[str, Any] | None = None) -> Change:
    return Change("put_private_dns_zone", zone, dict(spec or {}))


def delete_private_dns_zone(zone: str) -> Change:
    return Change("delete_private_dns_zone", zone)


def add_record(zone: str, record: dict[str, Any] | str, *, public: bool = False) -> Change:
    """A record set (``{"name", "type", "ttl", "values"}``, replacing the set) or a master-file line."""
    return Change("add_record", zone, {"section": "public" if public else "private", "record": record})


def delete_record(zone: str, name: str, rtype: str | None = None, *, public: bool = False) -> Change:
    return Change("delete_record", zone, {"section": "public" if public else "private", "name": name, "type": rtype})


def put_virtual_network_link(
    zone: str,
    vnet: str,
    *,
    registration_enabled: bool = False,
    resolution_policy: str = "Default",
    name: str | None = None,
) -> Change:
    body: dict[str, Any] = {
        "virtual_network": vnet,
        "registration_enabled": registration_enabled,
        "resolution_policy": resolution_policy,
    }
    if name:
        body["name"] = name
    return Change("put_virtual_network_link", zone, body)


def delete_virtual_network_link(zone: str, vnet: str) -> Change:
    return Change("delete_virtual_network_link", zone, {"virtual_network": vnet})


class ChangeSet:
    """The file's data plus the accepted changes, and the topology they make together."""

    def __init__(self, base: LoadedTopology) -> None:
        self.base = base
        self.changes: list[Change] = []
        self.current = base

    def _build(self, changes: list[Change]) -> LoadedTopology:
        data = copy.deepcopy(dict(self.base.data))
        for change in changes:
            try:
                change.apply(data)
            except KeyError as exc:
                raise ChangeError(Problem(f"{change.op}: missing field {clip(exc)}",
                                          path=clip(change.target))) from None
            except (TypeError, AttributeError) as exc:
                raise ChangeError(Problem(f"{change.op}: malformed change: {clip(exc, 120)}",
                                          path=clip(change.target))) from None
        provenance = self.base.provenance
        try:
            loaded = load_topology_data(data, Provenance(file=None, lines={}, base_dir=provenance.base_dir,
                                                     max_file_bytes=provenance.max_file_bytes))
        except TopologyError as exc:
            raise ChangeError(exc.problems) from None
        # keep reload watching on the original files
        import dataclasses

        return dataclasses.replace(loaded, provenance=provenance, files=self.base.files)

    def apply(self, change: Change) -> LoadedTopology:
        """Validate and accept ``change``; raise :class:`ChangeError` and change nothing when it does not hold."""
        candidate = self._build([*self.changes, change])
        self.changes.append(change)
        self.current = candidate
        return candidate

    def reset(self) -> LoadedTopology:
        self.changes.clear()
        self.current = self.base
        return self.base

    def rebase(self, base: LoadedTopology) -> LoadedTopology:
        """A reloaded file: keep the changes when they still hold on it, else raise and keep everything as it was."""
        previous = self.base
        self.base = base
        try:
            self.current = self._build(self.changes) if self.changes else base
        except ChangeError:
            self.base = previous
            raise
        return self.current
