"""The names of an AKS private cluster's API server, as AKS derives them (facts §14.1).

``properties.apiServerAccessProfile.privateDNSZone`` picks the mode:

- ``system`` (the default): AKS creates the zone ``<guid>.privatelink.<region>.azmk8s.io``,
  links it to the cluster's VNet only and writes the API server's A record there;
- a custom zone (``privatelink.<region>.azmk8s.io`` or ``<subzone>.privatelink.<region>.azmk8s.io``,
  subzone at most 32 characters): AKS writes the record into that zone and links it to the
  cluster's VNet too;
- ``none``: no private zone; the public FQDN (required then) is the only name.

``privateFQDN`` reads ``<dnsprefix>-<hash>.<guid>.privatelink.<region>.azmk8s.io``; with the
public FQDN on, ``fqdn`` is published in Azure public DNS as an A record to the API server's
*private* address. The ``<hash>`` and ``<guid>`` labels are Azure's random values: dnsemu derives
stable ones from the cluster name (or takes ``private_fqdn`` / ``fqdn`` as ARM reports them).
The public FQDN's ``hcp`` label is the one public clusters use [inference: the facts give no
spelling for a private cluster's public FQDN].

Pure: names in, names out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dnsemu.dns import names

__all__ = ["MAX_SUBZONE", "ClusterNames", "cluster_names", "custom_zone_problem", "mode", "system_zone_problem"]

#: AKS refuses a custom subzone label longer than this (facts §14.1).
MAX_SUBZONE = 32
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,52}[a-z0-9])?")
_ZONE = re.compile(r"^(?:(?P<subzone>[^.]+)\.)?privatelink\.(?P<region>[^.]+)\.azmk8s\.io\.$")


@dataclass(frozen=True, slots=True)
class ClusterNames:
    """Canonical names of one cluster: ``zone`` and ``private_fqdn`` are None in mode ``none``."""

    mode: str  # "system" | "custom" | "none"
    zone: str | None
    private_fqdn: str | None
    public_fqdn: str | None
    region: str


def mode(private_dns_zone: str) -> str:
    """``system``, ``none`` or ``custom`` for the value of ``private_dns_zone`` (case-insensitive keywords)."""
    word = private_dns_zone.strip().lower()
    return word if word in ("system", "none") else "custom"


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _fqdn(text: str) -> str:
    return names.parse(text if text.endswith(".") else text + ".")


def custom_zone_problem(zone: str, region: str) -> str | None:
    """Why ``zone`` (canonical) cannot be an AKS custom private zone for ``region``; None when it can."""
    match = _ZONE.match(zone)
    if match is None:
        return (
            "an AKS custom private DNS zone is named privatelink.<region>.azmk8s.io or "
            "<subzone>.privatelink.<region>.azmk8s.io"
        )
    if match["region"] != region:
        return f"the zone is for region {match['region']}, the cluster is in {region}"
    if match["subzone"] is not None and len(match["subzone"]) > MAX_SUBZONE:
        return f"the subzone label is over {MAX_SUBZONE} characters"
    return None


def cluster_names(cluster_name: str, cluster, region: str) -> ClusterNames:
    """The names of ``cluster`` (a :class:`~dnsemu.topology.model.ManagedCluster`) in ``region``.

    Raises :class:`~dnsemu.dns.names.NameError_` for a label that is no DNS label.
    """
    region = region.lower()
    how = mode(cluster.private_dns_zone)
    label = (
        (cluster.fqdn_subdomain if how == "custom" and cluster.fqdn_subdomain else None)
        or cluster.dns_prefix
        or cluster_name
    ).lower()
    if not _HOST_LABEL.fullmatch(label):
        raise names.NameError_(f"{label!r} is not a host label (letters, digits and inner hyphens)")
    host = f"{label}-{_digest(cluster_name.lower(), region, 'hash')[:8]}"
    zone: str | None = None
    private: str | None = None
    if how == "system":
        if cluster.private_fqdn:
            private = _fqdn(cluster.private_fqdn)
            zone = names.parent(private)
        else:
            h = _digest(cluster_name.lower(), region, "guid")
            guid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
            zone = f"{guid}.privatelink.{region}.azmk8s.io."
            private = f"{host}.{zone}"
    elif how == "custom":
        zone = _fqdn(cluster.private_dns_zone)
        private = _fqdn(cluster.private_fqdn) if cluster.private_fqdn else f"{host}.{zone}"
    public = None
    if cluster.enable_private_cluster_public_fqdn:
        public = _fqdn(cluster.fqdn) if cluster.fqdn else f"{host}.hcp.{region}.azmk8s.io."
    return ClusterNames(how, zone, private, public, region)


def system_zone_problem(zone: str, region: str) -> str | None:
    """Why ``zone`` cannot be an AKS system zone (``<guid>.privatelink.<region>.azmk8s.io``); None when it can."""
    match = _ZONE.match(zone)
    if match is None or match["subzone"] is None:
        return "a system zone is named <guid>.privatelink.<region>.azmk8s.io"
    if match["region"] != region:
        return f"the zone is for region {match['region']}, the cluster is in {region}"
    return None
