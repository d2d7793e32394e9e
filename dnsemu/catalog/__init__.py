"""The Azure private endpoint service catalog, shipped as data.

For each cloud, ``<cloud>.json`` beside this module lists every private link
resource type and group id (subresource) with the private DNS zone(s) Azure
recommends, the public zone(s) to forward to, and the host names a private
endpoint for a resource creates ("endpoints"): public DNS then holds
``public CNAME private`` and the private DNS zone group writes an A record for
``private`` into the private zone that contains it. Each file also carries the
cloud's region name -> region code table, the zone names Azure refuses as
private zones, the two-label Azure domains a forwarding ruleset's wildcard
rule ``.`` does not capture, and the domain of the cloud's Azure-assigned public
host names (where synthesised public chains end).

An endpoint entry may be marked ``shared`` (one record per region in a DNS space,
which every endpoint of the service overwrites), ``always_privatelink`` (public DNS
carries the privatelink alias with or without a private endpoint) or ``wildcard``
(every name below the public host resolves through it).

Templates keep the placeholders of the source tables (``{regionName}``,
``{regionCode}``, ``{region}``, ``{partitionId}``, ``{dnsPrefix}``,
``{subzone}``, ``{cachename}``, ``{workspaceName}``) plus ``{name}`` for the
resource. Endpoint entries whose record names could not be confirmed in a
source are flagged ``inferred``.

Everything here is pure: the data is read with :mod:`importlib.resources`,
nothing touches the network and nothing is logged. Every name handed out is
canonical (lower case, trailing dot); templates are canonical apart from the
placeholders.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

from dnsemu.dns import names
from dnsemu.text import excerpt

__all__ = [
    "CLOUDS",
    "PLACEHOLDERS",
    "Catalog",
    "CatalogError",
    "Endpoint",
    "ResolvedEndpoint",
    "Service",
]

CLOUDS = ("AzureCloud", "AzureUSGovernment", "AzureChinaCloud")

_FILES = {
    "AzureCloud": "azurecloud.json",
    "AzureUSGovernment": "azureusgovernment.json",
    "AzureChinaCloud": "azurechinacloud.json",
}

#: Every placeholder a template may use.
PLACEHOLDERS = frozenset(
    {
        "name",
        "regionName",
        "region",
        "regionCode",
        "partitionId",
        "dnsPrefix",
        "subzone",
        "cachename",
        "workspaceName",
    }
)
_REGION_PLACEHOLDERS = frozenset({"regionName", "region", "regionCode"})
#: Placeholders that default to the resource name when not given.
_NAME_ALIASES = ("cachename", "workspaceName")

_PH = re.compile(r"\{([A-Za-z]+)\}")


class CatalogError(ValueError):
    """Unknown cloud, resource type, group id, region or placeholder (or bad catalog data).

    The message names what was asked for and, where there are any, the close matches.
    """


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One host name pair a private endpoint creates (templates).

    ``group_ids`` restricts the entry to some of the row's group ids (empty: all of them),
    e.g. the ``-secondary`` host of a storage row only belongs to ``blob_secondary``.
    """

    public: str
    private: str
    cluster: str | None
    inferred: bool
    group_ids: tuple[str, ...] = ()
    #: one record per region (or globally) in a DNS space, whichever endpoint wrote it last (facts-2 §14.5-14.7)
    shared: bool = False
    #: public DNS carries the privatelink alias whether or not any private endpoint exists (facts-2 §14.6)
    always_privatelink: bool = False
    #: every name below the public host resolves through it too (Container Apps apps, facts-2 §14.2)
    wildcard: bool = False


@dataclass(frozen=True, slots=True)
class Service:
    """One row of the catalog: a resource type and its group id(s).

    ``variant`` tells rows apart that share resource type and group id (Azure Managed
    Redis and Azure Cache for Redis Enterprise); it is empty for every other row.
    """

    cloud: str
    category: str
    resource_type: str
    group_ids: tuple[str, ...]
    private_zones: tuple[str, ...]
    public_zones: tuple[str, ...]
    endpoints: tuple[Endpoint, ...]
    notes: str
    variant: str = ""


@dataclass(frozen=True, slots=True)
class ResolvedEndpoint:
    """An endpoint with every placeholder filled in; canonical names.

    ``private_zone`` is the row's private zone that contains ``private_fqdn`` (the
    longest one when several do); ``cluster`` the public host the chain ends at, if known.
    """

    public_fqdn: str
    private_fqdn: str
    private_zone: str
    cluster: str | None
    shared: bool = False
    always_privatelink: bool = False
    wildcard: bool = False


# ------------------------------------------------------------------------------------------
# helpers


def _close(word: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """Close matches of ``word`` among ``choices``, compared case-insensitively."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    hits = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.5)
    if not hits:
        # Prefix/substring matches catch e.g. "Microsoft.Storage" for the full type.
        low = word.lower()
        hits = [c for c in by_lower if low and (low in c or c in low)][:n]
    return [by_lower[h] for h in hits]


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    hits = _close(word, choices)
    if hits:
        return "; close matches: " + ", ".join(hits)
    return "; no close match"


def _placeholders(template: str) -> list[str]:
    return _PH.findall(template)


def _canon_template(text: str, where: str) -> str:
    """Lower-case a template outside its placeholders and make it absolute."""
    if not isinstance(text, str) or not text.strip():
        raise CatalogError(f"{where}: empty name template")
    parts = _PH.split(text.strip())
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            if part not in PLACEHOLDERS:
                raise CatalogError(f"{where}: unknown placeholder {{{part}}} in {excerpt(text)}")
            out.append("{" + part + "}")
        else:
            if "{" in part or "}" in part:
                raise CatalogError(f"{where}: stray brace in {excerpt(text)}")
            out.append(part.lower())
    result = "".join(out)
    return result if result.endswith(".") else result + "."


def _canon_name(text: str, what: str) -> str:
    """Canonical form of a concrete name (lower case, trailing dot)."""
    if not isinstance(text, str) or not text.strip():
        raise CatalogError(f"{what}: empty name")
    text = text.strip()
    try:
        return names.parse(text if text.endswith(".") else text + ".")
    except names.NameError_ as exc:
        raise CatalogError(f"{what}: {excerpt(text)} is not a valid DNS name ({exc})") from None


def _normalize_region(region: str) -> str:
    return "".join(region.split()).lower()


def _strip_privatelink(zone: str) -> str | None:
    """``zone`` without its ``privatelink`` / ``privatelink-*`` label, or None."""
    labels = zone[:-1].split(".")
    for i, label in enumerate(labels):
        if label == "privatelink" or label.startswith("privatelink-"):
            rest = labels[:i] + labels[i + 1 :]
            return ".".join(rest) + "." if rest else None
    return None


def _template_regex(template: str) -> re.Pattern[str]:
    """A regex matching concrete names of ``template``; placeholders match one label."""
    out = []
    seen: set[str] = set()
    pos = 0
    for m in _PH.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        ph = m.group(1)
        if ph in seen:
            out.append(f"(?P={ph})")
        else:
            out.append(f"(?P<{ph}>[a-z0-9_-]+)")
            seen.add(ph)
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))


def _parse_rows(cloud: str, raw_rows: list[dict[str, Any]]) -> list[tuple[Service, bool]]:
    rows: list[tuple[Service, bool]] = []
    for i, raw in enumerate(raw_rows):
        where = f"{cloud} row {i} ({raw.get('resource_type', '?')})"
        try:
            group_ids = tuple(raw["group_ids"])
            endpoints = []
            for e in raw.get("endpoints", []):
                eg = tuple(e.get("group_ids", ()))
                unknown = [g for g in eg if g not in group_ids]
                if unknown:
                    raise CatalogError(f"{where}: endpoint group ids {unknown} not in {group_ids}")
                cluster = e.get("cluster")
                endpoints.append(
                    Endpoint(
                        public=_canon_template(e["public"], where),
                        private=_canon_template(e["private"], where),
                        cluster=_canon_template(cluster, where) if cluster else None,
                        inferred=bool(e.get("inferred", False)),
                        group_ids=eg,
                        shared=bool(e.get("shared", False)),
                        always_privatelink=bool(e.get("always_privatelink", False)),
                        wildcard=bool(e.get("wildcard", False)),
                    )
                )
            service = Service(
                cloud=cloud,
                category=str(raw["category"]),
                resource_type=str(raw["resource_type"]),
                group_ids=group_ids,
                private_zones=tuple(_canon_template(z, where) for z in raw["private_zones"]),
                public_zones=tuple(_canon_template(z, where) for z in raw["public_zones"]),
                endpoints=tuple(endpoints),
                notes=str(raw.get("notes", "")),
                variant=str(raw.get("variant", "")),
            )
        except KeyError as exc:
            raise CatalogError(f"{where}: missing key {exc}") from None
        if not service.group_ids or not service.private_zones:
            raise CatalogError(f"{where}: needs group ids and private zones")
        rows.append((service, bool(raw.get("default", False))))
    return rows


# ------------------------------------------------------------------------------------------
# the catalog


@dataclass(frozen=True, slots=True, eq=False)
class Catalog:
    """The service catalog of one cloud. Build it with :meth:`Catalog.load`."""

    cloud: str
    services: tuple[Service, ...]
    regions: Mapping[str, str]
    reserved_zone_names: frozenset[str]
    wildcard_ignored_domains: frozenset[str]
    #: where synthesised public chains end: ``<service>-prod-<hash>.<region>.<domain>``, the cloud's own domain
    public_cluster_domain: str = "cloudapp.azure.com."
    _by_type: Mapping[str, tuple[Service, ...]] = field(repr=False, default_factory=dict)
    _zone_regex: tuple[tuple[Service, str, re.Pattern[str]], ...] = field(repr=False, default=())

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def load(cls, cloud: str = "AzureCloud") -> Catalog:
        """The catalog of ``cloud`` (one of :data:`CLOUDS`, any case); cached per cloud."""
        if not isinstance(cloud, str):
            raise CatalogError(f"cloud must be a string, not {type(cloud).__name__}")
        for known in CLOUDS:
            if known.lower() == cloud.strip().lower():
                return _load(known)
        raise CatalogError(f"unknown cloud {excerpt(cloud)}" + _did_you_mean(cloud, CLOUDS))

    @classmethod
    def _from_document(cls, cloud: str, doc: Mapping[str, Any]) -> Catalog:
        if doc.get("cloud") != cloud:
            raise CatalogError(f"catalog file for {cloud} says cloud={excerpt(doc.get('cloud'))}")
        rows = _parse_rows(cloud, list(doc.get("services", [])))
        by_type: dict[str, list[Service]] = {}
        for service, is_default in rows:
            bucket = by_type.setdefault(service.resource_type.lower(), [])
            if is_default:
                bucket.insert(0, service)
            else:
                bucket.append(service)
        regions = {
            _normalize_region(k): str(v).lower() for k, v in dict(doc.get("regions", {})).items()
        }
        zone_regex = tuple(
            (service, zone, _template_regex(zone))
            for service, _ in rows
            for zone in service.private_zones
        )
        return cls(
            cloud=cloud,
            services=tuple(service for service, _ in rows),
            regions=MappingProxyType(regions),
            reserved_zone_names=frozenset(
                _canon_name(n, f"{cloud} reserved zone name")
                for n in doc.get("reserved_zone_names", [])
            ),
            wildcard_ignored_domains=frozenset(
                _canon_name(n, f"{cloud} wildcard-ignored domain")
                for n in doc.get("wildcard_ignored_domains", [])
            ),
            public_cluster_domain=_canon_name(
                doc.get("public_cluster_domain", "cloudapp.azure.com"), f"{cloud} public cluster domain"
            ),
            _by_type=MappingProxyType({k: tuple(v) for k, v in by_type.items()}),
            _zone_regex=zone_regex,
        )

    # -- look-ups ----------------------------------------------------------------------------

    def find(self, resource_type: str, group_id: str, *, variant: str | None = None) -> Service:
        """The row for ``resource_type`` and ``group_id`` (both case-insensitive).

        Where two rows share both (Azure Managed Redis / Redis Enterprise), ``variant``
        picks one; without it the row marked as default in the data is returned.
        """
        candidates = self._by_type.get(resource_type.strip().lower())
        if candidates is None:
            raise CatalogError(
                f"unknown resource type {excerpt(resource_type)} in {self.cloud}"
                + _did_you_mean(resource_type, (s.resource_type for s in self.services))
            )
        gid = group_id.strip().lower()
        matching = [s for s in candidates if gid in (g.lower() for g in s.group_ids)]
        if not matching:
            valid = sorted({g for s in candidates for g in s.group_ids}, key=str.lower)
            hits = _close(group_id, valid)
            raise CatalogError(
                f"unknown group id {excerpt(group_id)} for {candidates[0].resource_type} in {self.cloud}"
                f" (valid: {', '.join(valid)})"
                + ("; close matches: " + ", ".join(hits) if hits else "")
            )
        if variant is None:
            return matching[0]
        for service in matching:
            if service.variant.lower() == variant.strip().lower():
                return service
        variants = [s.variant for s in matching if s.variant]
        raise CatalogError(
            f"unknown variant {excerpt(variant)} for {matching[0].resource_type}/{group_id}"
            + (_did_you_mean(variant, variants) if variants else "; this row has no variants")
        )

    def region_code(self, region: str) -> str:
        """The region code of a region name (``eastus`` -> ``eus``; spaces and case ignored)."""
        key = _normalize_region(region)
        try:
            return self.regions[key]
        except KeyError:
            raise CatalogError(
                f"unknown region {excerpt(region)} in {self.cloud}" + _did_you_mean(key, self.regions)
            ) from None

    # -- resolution --------------------------------------------------------------------------

    def _values(
        self, name: str | None, region: str | None, given: Mapping[str, str]
    ) -> dict[str, str]:
        unknown = [k for k in given if k not in PLACEHOLDERS]
        if unknown:
            msg = "; ".join(
                f"unknown placeholder {excerpt(k)}" + _did_you_mean(k, sorted(PLACEHOLDERS))
                for k in unknown
            )
            raise CatalogError(msg)
        values: dict[str, str] = {}
        if name is not None:
            if not isinstance(name, str) or not name.strip(" ."):
                raise CatalogError("resource name must be a non-empty string")
            values["name"] = name.strip().strip(".")
            for alias in _NAME_ALIASES:
                values[alias] = values["name"]
        if region is not None:
            key = _normalize_region(region)
            if not key:
                raise CatalogError("region must be a non-empty string")
            values["regionName"] = key
            values["region"] = key
            if key in self.regions:
                values["regionCode"] = self.regions[key]
        for k, v in given.items():
            if not isinstance(v, str) or not v.strip(" ."):
                raise CatalogError(f"placeholder {excerpt(k)} needs a non-empty string value")
            values[k] = v.strip().strip(".")
        return values

    def _missing_message(
        self, template: str, missing: list[str], region: str | None, service: Service | None
    ) -> str:
        where = f" ({service.resource_type})" if service else ""
        parts = []
        for ph in missing:
            if ph == "regionCode" and region is not None:
                parts.append(
                    f"placeholder {{regionCode}}: unknown region {excerpt(region)} in {self.cloud}"
                    + _did_you_mean(_normalize_region(region), self.regions)
                    + "; pass regionCode=... to use it anyway"
                )
            elif ph in _REGION_PLACEHOLDERS:
                parts.append(f"placeholder {{{ph}}} needs a region")
            elif ph == "name":
                parts.append("placeholder {name} needs a resource name")
            else:
                parts.append(f"placeholder {{{ph}}} needs {ph}=...")
        return f"cannot resolve {excerpt(template)}{where}: " + "; ".join(parts)

    def _fill(
        self,
        template: str,
        values: Mapping[str, str],
        region: str | None = None,
        service: Service | None = None,
    ) -> str:
        pieces = _PIECES.get(template)
        if pieces is None:
            pieces = _PIECES[template] = tuple(_PH.split(template))
        try:
            text = "".join(values[piece] if i % 2 else piece for i, piece in enumerate(pieces))
        except KeyError:
            missing = [ph for ph in dict.fromkeys(_placeholders(template)) if ph not in values]
            raise CatalogError(self._missing_message(template, missing, region, service)) from None
        if len(text) < 255 and _CANONICAL.fullmatch(text) and (len(text) <= 64 or _short_labels(text)):
            return text  # already what names.parse would return
        return _canon_name(text, f"resolving {excerpt(template)}")

    def endpoints(
        self,
        resource_type: str,
        group_id: str,
        name: str,
        region: str | None,
        *,
        variant: str | None = None,
        **placeholders: str,
    ) -> tuple[ResolvedEndpoint, ...]:
        """The host name pairs a private endpoint for resource ``name`` creates.

        ``region`` fills ``{regionName}``/``{region}`` and, through the region table,
        ``{regionCode}``; other placeholders come as keywords (``partitionId="2"``).
        ``{cachename}`` and ``{workspaceName}`` default to ``name``. Raises
        :class:`CatalogError` naming any placeholder that stays unresolved.
        """
        key = (resource_type, group_id, name, region, variant, tuple(sorted(placeholders.items())))
        cache = _ENDPOINTS.get(self.cloud) if self is _load(self.cloud) else None
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                return hit
        resolved = self._endpoints(resource_type, group_id, name, region, variant, placeholders)
        if cache is not None:
            if len(cache) >= _ENDPOINTS_MAX:
                cache.clear()
            cache[key] = resolved
        return resolved

    def _endpoints(
        self,
        resource_type: str,
        group_id: str,
        name: str,
        region: str | None,
        variant: str | None,
        placeholders: Mapping[str, str],
    ) -> tuple[ResolvedEndpoint, ...]:
        key = (self.cloud, resource_type, group_id, variant)
        service = _FOUND.get(key) if self is _load(self.cloud) else None
        if service is None:
            service = self.find(resource_type, group_id, variant=variant)
            if self is _load(self.cloud):
                _FOUND[key] = service
        values = self._values(name, region, placeholders)
        gid = group_id.strip().lower()
        resolved = []
        for endpoint in service.endpoints:
            if endpoint.group_ids and gid not in (g.lower() for g in endpoint.group_ids):
                continue
            public = self._fill(endpoint.public, values, region, service)
            private = self._fill(endpoint.private, values, region, service)
            cluster = (
                self._fill(endpoint.cluster, values, region, service) if endpoint.cluster else None
            )
            zone = self._containing_zone(service, private, values)
            if zone is None:
                raise CatalogError(
                    f"catalog data error: {private} lies in none of the private zones of"
                    f" {service.resource_type}/{group_id} ({', '.join(service.private_zones)})"
                )
            resolved.append(
                ResolvedEndpoint(
                    public, private, zone, cluster, endpoint.shared, endpoint.always_privatelink, endpoint.wildcard
                )
            )
        return tuple(resolved)

    def _containing_zone(
        self, service: Service, fqdn: str, values: Mapping[str, str]
    ) -> str | None:
        best: str | None = None
        for template in service.private_zones:
            if any(ph not in values for ph in _placeholders(template)):
                continue
            zone = self._fill(template, values)
            if names.is_subdomain(fqdn, zone) and (best is None or len(zone) > len(best)):
                best = zone
        return best

    def private_zone_names(self, region: str | None = None) -> frozenset[str]:
        """Every private zone name that can be resolved.

        Zones without placeholders always; zones that only need the region when ``region``
        is given. Zones needing per-resource values (``{partitionId}``, ``{dnsPrefix}``,
        ``{subzone}``) are left out.
        """
        values = self._values(None, region, {}) if region is not None else {}
        out: set[str] = set()
        for service in self.services:
            for template in service.private_zones:
                needed = set(_placeholders(template))
                if not needed:
                    out.add(template)
                elif region is not None and needed <= _REGION_PLACEHOLDERS:
                    out.add(self._fill(template, values, region, service))
        return frozenset(out)

    def public_zone_for(self, private_zone: str) -> str | None:
        """The public (forwarder) zone paired with a private zone of this catalog.

        ``privatelink.blob.core.windows.net.`` -> ``blob.core.windows.net.``. The answer is
        the name without its ``privatelink`` label when a row lists exactly that forwarder,
        else the closest listed forwarder above it (``privatelink.eastus.azurecontainerapps.io.``
        -> ``azurecontainerapps.io.``), else the stripped name itself (which covers the
        listed forwarders below it). None for a name that is no private zone of the catalog.
        """
        try:
            zone = _canon_name(private_zone, "private zone")
        except CatalogError:
            return None
        stripped = _strip_privatelink(zone)
        matched = False
        ancestors: set[str] = set()
        for service, _template, regex in self._zone_regex:
            m = regex.fullmatch(zone)
            if m is None:
                continue
            matched = True
            captured = {k: v for k, v in m.groupdict().items() if v is not None}
            if "regionName" in captured:
                captured.setdefault("region", captured["regionName"])
            if "region" in captured:
                captured.setdefault("regionName", captured["region"])
            if "regionName" in captured and captured["regionName"] in self.regions:
                captured.setdefault("regionCode", self.regions[captured["regionName"]])
            for public_template in service.public_zones:
                if any(ph not in captured for ph in _placeholders(public_template)):
                    continue
                public = self._fill(public_template, captured)
                if public == stripped:
                    return public
                if stripped is not None and names.is_subdomain(stripped, public):
                    ancestors.add(public)
        if not matched:
            return None
        if ancestors:
            return max(ancestors, key=len)
        return stripped


#: Rows found by the bundled catalogs: (cloud, resource type, group id, variant) as asked -> row.
_FOUND: dict[tuple[str, str, str, str | None], Service] = {}
#: Templates split at their placeholders (text, name, text, name, ..., text).
_PIECES: dict[str, tuple[str, ...]] = {}
#: A canonical name that needs no escapes: lower-case labels of plain characters, absolute.
_CANONICAL = re.compile(r"(?:[a-z0-9_*/-]+\.)+")


def _short_labels(text: str) -> bool:
    return all(len(label) <= 63 for label in text[:-1].split("."))


#: Endpoints resolved by the bundled catalogs, per cloud: validation, compilation and ``check``
#: ask for the same resources, and ``dnsemu diff`` compiles two estates that share most of them.
#: The values are immutable; the cache is emptied when it reaches its bound.
_ENDPOINTS: dict[str, dict[tuple[Any, ...], tuple[ResolvedEndpoint, ...]]] = {cloud: {} for cloud in CLOUDS}
_ENDPOINTS_MAX = 500_000


@functools.cache
def _load(cloud: str) -> Catalog:
    text = resources.files(__name__).joinpath(_FILES[cloud]).read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"catalog file {_FILES[cloud]} is not valid JSON: {exc}") from None
    return Catalog._from_document(cloud, doc)
